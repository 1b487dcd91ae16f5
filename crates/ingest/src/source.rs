//! Sources: how a feed's bytes arrive. Today local files, plain or gzip-compressed —
//! recognised by their first bytes, not their name, since providers serve `.csv` files
//! gzipped and `.gz` files plain. A zip archive is one clear error, not garbage rows.
//!
//! ```no_run
//! use std::io::Read;
//!
//! let mut input = vedette_ingest::open_source(std::path::Path::new("ipblocklist.csv.gz")).unwrap();
//! let mut text = String::new();
//! input.read_to_string(&mut text).unwrap();
//! ```

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

/// Opens a feed file for reading, decompressing gzip (one or more members) on the fly.
pub fn open_source(path: &Path) -> io::Result<Box<dyn Read + Send>> {
    let mut reader = BufReader::with_capacity(1 << 20, File::open(path)?);
    let head = reader.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        return Ok(Box::new(flate2::bufread::MultiGzDecoder::new(reader)));
    }
    if head.starts_with(b"PK\x03\x04") {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "a zip archive, not a feed file: unpack it and read the files inside",
        ));
    }
    Ok(Box::new(reader))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::open_source;

    fn temp(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("vedette-source-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn gzip_is_recognised_by_its_bytes_and_zip_is_refused() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"198.51.100.1\n").unwrap();
        let path = temp("list.txt", &gz.finish().unwrap());
        let mut text = String::new();
        open_source(&path).unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text, "198.51.100.1\n");
        let plain = temp("plain.txt", b"198.51.100.2\n");
        text.clear();
        open_source(&plain).unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text, "198.51.100.2\n");
        let zip = temp("a.zip", b"PK\x03\x04rest");
        let err = open_source(&zip).err().unwrap().to_string();
        assert!(err.contains("zip archive"), "{err}");
        for p in [path, plain, zip] {
            let _ = std::fs::remove_file(p);
        }
    }
}
