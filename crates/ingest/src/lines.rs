/// Cuts a stream of bytes into lines, numbering them from 1, across chunk boundaries.
///
/// The last line may lack its newline; `\r\n` endings and a UTF-8 byte-order mark on the
/// first line are removed, so CRLF files and files saved by spreadsheet tools read the
/// same as plain ones.
#[derive(Debug, Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
    next_line: u64,
}

impl LineSplitter {
    pub fn new() -> LineSplitter {
        LineSplitter { pending: Vec::new(), next_line: 1 }
    }

    /// Whether nothing is held: no partial line waits for the next chunk.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Calls `each(line_number, line)` for every complete line in `chunk`.
    pub fn push(&mut self, chunk: &[u8], mut each: impl FnMut(u64, &[u8])) {
        let mut rest = chunk;
        if !self.pending.is_empty() {
            match rest.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.pending.extend_from_slice(&rest[..i]);
                    rest = &rest[i + 1..];
                    let line = std::mem::take(&mut self.pending);
                    self.emit(&line, &mut each);
                }
                None => {
                    self.pending.extend_from_slice(rest);
                    return;
                }
            }
        }
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            self.emit(&rest[..i], &mut each);
            rest = &rest[i + 1..];
        }
        self.pending.extend_from_slice(rest);
    }

    /// Flushes a final line that had no newline.
    pub fn finish(&mut self, mut each: impl FnMut(u64, &[u8])) {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.emit(&line, &mut each);
        }
    }

    fn emit(&mut self, line: &[u8], each: &mut impl FnMut(u64, &[u8])) {
        let number = self.next_line.max(1);
        self.next_line = number + 1;
        let mut line = line.strip_suffix(b"\r").unwrap_or(line);
        if number == 1 {
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        each(number, line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> Vec<(u64, Vec<u8>)> {
        let mut s = LineSplitter::new();
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, |n, l| out.push((n, l.to_vec())));
        }
        s.finish(|n, l| out.push((n, l.to_vec())));
        out
    }

    #[test]
    fn lines_survive_chunk_boundaries_crlf_and_bom() {
        let out = split(&[b"\xEF\xBB\xBFa,b\r\nc,", b"d\r", b"\ne", b"f"]);
        assert_eq!(out, vec![(1, b"a,b".to_vec()), (2, b"c,d".to_vec()), (3, b"ef".to_vec())]);
    }

    proptest::proptest! {
        #[test]
        fn chunking_never_changes_the_lines(data: Vec<u8>, cut in 0usize..64) {
            let whole = split(&[&data]);
            let cut = cut.min(data.len());
            let parts = split(&[&data[..cut], &data[cut..]]);
            proptest::prop_assert_eq!(whole, parts);
        }
    }
}
