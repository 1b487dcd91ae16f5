//! UDP datagrams out of a packet capture: classic pcap (either byte order, microsecond or
//! nanosecond timestamps) and pcapng (section, interface, enhanced, simple and obsolete
//! packet blocks, with each interface's link type and timestamp resolution).
//!
//! The reader streams from any [`Read`] through a block buffer of its own (256 KiB, or one
//! record if a record is longer), so a capture of many gigabytes costs no more than a
//! small one; records are read in place in that buffer, with no copy per datagram. Link
//! types: Ethernet (with 802.1Q and QinQ tags), raw IP (101, 12, 14, 228, 229), Linux
//! cooked (SLL, SLL2), BSD null and loopback. IPv4 fragments are skipped and counted
//! (export datagrams are not reassembled), as are packets cut short by the snapshot
//! length and anything that is not UDP. A capture that ends in the middle of a record
//! stops with [`PcapError::Truncated`] and the offset of that record; what came before
//! was yielded.
//!
//! ```
//! use vedette_ingest::pcap::PcapReader;
//! use vedette_ingest::netflow::testing::PcapWriter;
//!
//! let mut w = PcapWriter::new(Vec::new()).unwrap();
//! w.udp(1_700_000_000_000_001, "192.0.2.1:41350".parse().unwrap(), "192.0.2.2:2055".parse().unwrap(), b"hi")
//!     .unwrap();
//! let bytes = w.into_inner();
//!
//! let mut reader = PcapReader::new(&bytes[..]).unwrap();
//! let d = reader.next_datagram().unwrap().unwrap();
//! assert_eq!((d.ts_us, d.dst.port(), d.payload), (1_700_000_000_000_001, 2055, &b"hi"[..]));
//! assert!(reader.next_datagram().unwrap().is_none());
//! ```

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::Range;
use std::path::Path;

/// A record or block longer than this is taken as corruption rather than allocated.
const MAX_RECORD: usize = 16 << 20;

/// One UDP datagram found in a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// Capture time, microseconds since the Unix epoch.
    pub ts_us: i64,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub payload: &'a [u8],
}

/// What the reader passed over.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PcapStats {
    /// Packet records read (every link type).
    pub packets: u64,
    /// UDP datagrams yielded.
    pub datagrams: u64,
    /// Packets that are not UDP over IPv4/IPv6 (ARP, TCP, ICMP…).
    pub not_udp: u64,
    /// IPv4 or IPv6 fragments (first or not), skipped.
    pub fragments: u64,
    /// Packets cut short by the capture's snapshot length (or whose IP/UDP lengths claim
    /// more than is there), skipped.
    pub truncated: u64,
    /// Packets on an interface whose link type is not read.
    pub unsupported_link: u64,
    /// pcapng blocks of other kinds (statistics, name resolution, custom…), skipped.
    pub other_blocks: u64,
}

/// Why a capture could not be read further.
#[derive(Debug)]
pub enum PcapError {
    Io(io::Error),
    /// The first four bytes are not a pcap or pcapng magic number.
    NotPcap {
        magic: [u8; 4],
    },
    /// The file ends inside the record or block that starts at `offset`.
    Truncated {
        offset: u64,
        what: &'static str,
    },
    /// A record or block whose own fields are impossible.
    Malformed {
        offset: u64,
        detail: String,
    },
}

impl fmt::Display for PcapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PcapError::Io(e) => write!(f, "reading the capture: {e}"),
            PcapError::NotPcap { magic } => write!(f, "not a pcap or pcapng file (starts with {magic:02x?})"),
            PcapError::Truncated { offset, what } => write!(f, "capture ends inside the {what} at byte {offset}"),
            PcapError::Malformed { offset, detail } => write!(f, "byte {offset}: {detail}"),
        }
    }
}

impl std::error::Error for PcapError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PcapError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for PcapError {
    fn from(e: io::Error) -> Self {
        PcapError::Io(e)
    }
}

#[derive(Debug, Clone, Copy)]
struct Interface {
    link: u16,
    /// Timestamp units per second as a power: `Some(n)` for 10^-n, `None`+`pow2` for 2^-n.
    resolution: Resolution,
    offset_s: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resolution {
    Decimal(u8),
    Binary(u8),
}

impl Resolution {
    fn to_micros(self, units: u64) -> i64 {
        match self {
            Resolution::Decimal(6) => units as i64,
            Resolution::Decimal(n) if n > 6 => (units / 10u64.saturating_pow(u32::from(n - 6))) as i64,
            Resolution::Decimal(n) => (units as i64).saturating_mul(10i64.pow(u32::from(6 - n))),
            Resolution::Binary(n) => ((u128::from(units) * 1_000_000) >> n.min(127)) as i64,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Classic { big_endian: bool, nanos: bool, link: u16 },
    Ng { big_endian: bool },
}

/// A packet read into the reader's buffer: its time, link type and bytes (a range of
/// the block buffer).
struct Packet {
    ts_us: i64,
    link: u16,
    start: usize,
    end: usize,
}

enum Next {
    Packet(Packet),
    /// A block that holds no packet (interface description, statistics…).
    Other,
    End,
}

/// Reads the UDP datagrams of a pcap or pcapng capture, one at a time.
pub struct PcapReader<R> {
    input: Blocks<R>,
    format: Format,
    interfaces: Vec<Interface>,
    /// Byte offset of the next record in the file.
    offset: u64,
    done: bool,
    stats: PcapStats,
}

impl PcapReader<File> {
    /// Opens a capture file (the reader buffers it itself).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, PcapError> {
        PcapReader::new(File::open(path)?)
    }
}

/// Bytes asked of the input at a time: a few hundred datagrams per read, small enough
/// that they are still in the cache when the decoder reads them.
const BLOCK: usize = 256 << 10;

/// The input read in large blocks into one buffer, whose bytes the reader hands out in
/// place: one `read` per block instead of one per record, and no copy of each record
/// out of a second buffer (a `BufReader`'s) into the reader's own.
struct Blocks<R> {
    input: R,
    buf: Vec<u8>,
    /// The unread bytes are `buf[pos..end]`.
    pos: usize,
    end: usize,
}

impl<R: Read> Blocks<R> {
    fn new(input: R) -> Self {
        Blocks { input, buf: Vec::new(), pos: 0, end: 0 }
    }

    /// The next `n` bytes, as a range of `buf` valid until the next call; shorter only
    /// where the input ends.
    #[inline]
    fn take(&mut self, n: usize) -> io::Result<Range<usize>> {
        if self.end - self.pos < n {
            self.refill(n)?;
        }
        let start = self.pos;
        self.pos += n.min(self.end - start);
        Ok(start..self.pos)
    }

    /// Copies the next bytes into `out`; how many there were (fewer where the input ends).
    fn read_into(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let r = self.take(out.len())?;
        let n = r.len();
        out[..n].copy_from_slice(&self.buf[r]);
        Ok(n)
    }

    /// Moves the unread bytes to the front and reads until `n` are there or the input
    /// ends; a read asks for as much as the buffer holds, so most records need none.
    #[cold]
    fn refill(&mut self, n: usize) -> io::Result<()> {
        self.buf.copy_within(self.pos..self.end, 0);
        (self.end, self.pos) = (self.end - self.pos, 0);
        let want = n.max(BLOCK);
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        while self.end < n {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => break,
                Ok(got) => self.end += got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

fn u16_at(b: &[u8], at: usize, be: bool) -> u16 {
    let x = [b[at], b[at + 1]];
    if be {
        u16::from_be_bytes(x)
    } else {
        u16::from_le_bytes(x)
    }
}

fn u32_at(b: &[u8], at: usize, be: bool) -> u32 {
    let x = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if be {
        u32::from_be_bytes(x)
    } else {
        u32::from_le_bytes(x)
    }
}

impl<R: Read> PcapReader<R> {
    /// Reads the file header (classic) or the first section header block (pcapng).
    pub fn new(input: R) -> Result<Self, PcapError> {
        let mut input = Blocks::new(input);
        let mut magic = [0u8; 4];
        let got = input.read_into(&mut magic)?;
        if got < 4 {
            return Err(PcapError::Truncated { offset: 0, what: "file header" });
        }
        let mut reader = PcapReader {
            input,
            format: Format::Ng { big_endian: false },
            interfaces: Vec::new(),
            offset: 0,
            done: false,
            stats: PcapStats::default(),
        };
        let classic = |big_endian, nanos| Format::Classic { big_endian, nanos, link: 0 };
        reader.format = match u32::from_le_bytes(magic) {
            0xa1b2_c3d4 => classic(false, false),
            0xd4c3_b2a1 => classic(true, false),
            0xa1b2_3c4d => classic(false, true),
            0x4d3c_b2a1 => classic(true, true),
            0x0a0d_0d0a => {
                reader.section_header(magic)?;
                return Ok(reader);
            }
            _ => return Err(PcapError::NotPcap { magic }),
        };
        let mut rest = [0u8; 20];
        if reader.input.read_into(&mut rest)? < 20 {
            return Err(PcapError::Truncated { offset: 0, what: "file header" });
        }
        if let Format::Classic { big_endian, ref mut link, .. } = reader.format {
            // The link type shares its 32 bits with FCS flags in the top bits.
            *link = (u32_at(&rest, 16, big_endian) & 0xFFFF) as u16;
        }
        reader.offset = 24;
        Ok(reader)
    }

    pub fn stats(&self) -> &PcapStats {
        &self.stats
    }

    /// The next UDP datagram, `None` at the end of the capture. After an error every
    /// later call returns `None`.
    pub fn next_datagram(&mut self) -> Result<Option<Datagram<'_>>, PcapError> {
        loop {
            if self.done {
                return Ok(None);
            }
            let p = match self.next_packet() {
                Ok(Next::Packet(p)) => p,
                Ok(Next::Other) => continue,
                Ok(Next::End) => {
                    self.done = true;
                    return Ok(None);
                }
                Err(e) => {
                    self.done = true;
                    return Err(e);
                }
            };
            let frame = &self.input.buf[p.start..p.end];
            if let Some((src, dst, payload)) = udp_in_frame(p.link, frame, &mut self.stats) {
                self.stats.datagrams += 1;
                let payload = &self.input.buf[p.start + payload.start..p.start + payload.end];
                return Ok(Some(Datagram { ts_us: p.ts_us, src, dst, payload }));
            }
        }
    }

    /// Reads the next record or block into `buf`.
    fn next_packet(&mut self) -> Result<Next, PcapError> {
        match self.format {
            Format::Classic { big_endian, nanos, link } => {
                let at = self.offset;
                let mut head = [0u8; 16];
                match self.input.read_into(&mut head)? {
                    0 => return Ok(Next::End),
                    16 => {}
                    _ => return Err(PcapError::Truncated { offset: at, what: "record header" }),
                }
                let secs = i64::from(u32_at(&head, 0, big_endian));
                let frac = i64::from(u32_at(&head, 4, big_endian));
                let caplen = u32_at(&head, 8, big_endian) as usize;
                if caplen > MAX_RECORD {
                    return Err(PcapError::Malformed {
                        offset: at,
                        detail: format!("record claims {caplen} captured bytes"),
                    });
                }
                let record = self.input.take(caplen)?;
                if record.len() < caplen {
                    return Err(PcapError::Truncated { offset: at, what: "packet record" });
                }
                self.offset += 16 + caplen as u64;
                self.stats.packets += 1;
                let ts_us = secs * 1_000_000 + if nanos { frac / 1000 } else { frac };
                Ok(Next::Packet(Packet { ts_us, link, start: record.start, end: record.end }))
            }
            Format::Ng { .. } => self.block(),
        }
    }

    /// A pcapng block.
    fn block(&mut self) -> Result<Next, PcapError> {
        let at = self.offset;
        let mut head = [0u8; 8];
        match self.input.read_into(&mut head)? {
            0 => return Ok(Next::End),
            8 => {}
            _ => return Err(PcapError::Truncated { offset: at, what: "block header" }),
        }
        if head[..4] == [0x0a, 0x0d, 0x0d, 0x0a] {
            // A new section: its own byte order and interfaces.
            self.section_header_with(head)?;
            return Ok(Next::Other);
        }
        let Format::Ng { big_endian: be } = self.format else { return Ok(Next::End) };
        let kind = u32_at(&head, 0, be);
        let (base, body) = self.block_body(at, u32_at(&head, 4, be))?;
        let b = &self.input.buf[base..base + body];
        let malformed = |detail: &str| PcapError::Malformed { offset: at, detail: detail.to_string() };
        match kind {
            1 => {
                if body < 8 {
                    return Err(malformed("interface description block shorter than its fields"));
                }
                let mut iface = Interface { link: u16_at(b, 0, be), resolution: Resolution::Decimal(6), offset_s: 0 };
                for (code, value) in options(&b[8..], be) {
                    match (code, value) {
                        (9, [r, ..]) => {
                            iface.resolution =
                                if r & 0x80 != 0 { Resolution::Binary(r & 0x7f) } else { Resolution::Decimal(*r) };
                        }
                        (14, v) if v.len() >= 8 => {
                            let x = [v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]];
                            iface.offset_s = if be { i64::from_be_bytes(x) } else { i64::from_le_bytes(x) };
                        }
                        _ => {}
                    }
                }
                self.interfaces.push(iface);
                Ok(Next::Other)
            }
            6 | 2 => {
                // Enhanced packet block; 2 is the obsolete packet block (16-bit interface).
                if body < 20 {
                    return Err(malformed("packet block shorter than its fields"));
                }
                let iface_no = if kind == 6 { u32_at(b, 0, be) as usize } else { usize::from(u16_at(b, 0, be)) };
                let units = u64::from(u32_at(b, 4, be)) << 32 | u64::from(u32_at(b, 8, be));
                let caplen = u32_at(b, 12, be) as usize;
                if caplen > body - 20 {
                    return Err(malformed("packet block's captured length runs past the block"));
                }
                let Some(iface) = self.interfaces.get(iface_no).copied() else {
                    return Err(malformed("packet block names an interface not described"));
                };
                self.stats.packets += 1;
                let ts = iface.resolution.to_micros(units).saturating_add(iface.offset_s.saturating_mul(1_000_000));
                Ok(Next::Packet(Packet { ts_us: ts, link: iface.link, start: base + 20, end: base + 20 + caplen }))
            }
            3 => {
                // Simple packet block: interface 0, no timestamp.
                if body < 4 {
                    return Err(malformed("simple packet block shorter than its fields"));
                }
                let Some(iface) = self.interfaces.first().copied() else {
                    return Err(malformed("simple packet block before any interface description"));
                };
                let caplen = (u32_at(b, 0, be) as usize).min(body - 4);
                self.stats.packets += 1;
                Ok(Next::Packet(Packet { ts_us: 0, link: iface.link, start: base + 4, end: base + 4 + caplen }))
            }
            _ => {
                self.stats.other_blocks += 1;
                Ok(Next::Other)
            }
        }
    }

    /// Reads a block's body (after type and length) and its trailing length; returns
    /// where the body starts in the block buffer, and its length.
    fn block_body(&mut self, at: u64, total: u32) -> Result<(usize, usize), PcapError> {
        let total = total as usize;
        if total < 12 || total % 4 != 0 || total > MAX_RECORD {
            return Err(PcapError::Malformed { offset: at, detail: format!("block length {total}") });
        }
        let body = self.input.take(total - 8)?;
        if body.len() < total - 8 {
            return Err(PcapError::Truncated { offset: at, what: "block" });
        }
        self.offset += total as u64;
        Ok((body.start, total - 12))
    }

    fn section_header(&mut self, magic: [u8; 4]) -> Result<(), PcapError> {
        let mut len = [0u8; 4];
        if self.input.read_into(&mut len)? < 4 {
            return Err(PcapError::Truncated { offset: self.offset, what: "section header block" });
        }
        let mut head = [0u8; 8];
        head[..4].copy_from_slice(&magic);
        head[4..].copy_from_slice(&len);
        self.section_header_with(head)
    }

    /// A section header block whose type and length are in `head`: the byte-order magic
    /// that follows decides how the length reads.
    fn section_header_with(&mut self, head: [u8; 8]) -> Result<(), PcapError> {
        let at = self.offset;
        let mut bom = [0u8; 4];
        if self.input.read_into(&mut bom)? < 4 {
            return Err(PcapError::Truncated { offset: at, what: "section header block" });
        }
        let be = match u32::from_le_bytes(bom) {
            0x1a2b_3c4d => false,
            0x4d3c_2b1a => true,
            _ => {
                return Err(PcapError::Malformed {
                    offset: at,
                    detail: format!("section header byte-order magic {bom:02x?}"),
                })
            }
        };
        let total = u32_at(&head, 4, be) as usize;
        if total < 28 || total % 4 != 0 || total > MAX_RECORD {
            return Err(PcapError::Malformed { offset: at, detail: format!("section header block length {total}") });
        }
        if self.input.take(total - 12)?.len() < total - 12 {
            return Err(PcapError::Truncated { offset: at, what: "section header block" });
        }
        self.offset += total as u64;
        self.format = Format::Ng { big_endian: be };
        self.interfaces.clear();
        Ok(())
    }
}

/// pcapng options: (code, value) until `opt_endofopt` or the end.
fn options(mut b: &[u8], be: bool) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if b.len() < 4 {
            return None;
        }
        let code = u16_at(b, 0, be);
        let len = usize::from(u16_at(b, 2, be));
        if code == 0 || 4 + len > b.len() {
            return None;
        }
        let value = &b[4..4 + len];
        b = &b[(4 + len.next_multiple_of(4)).min(b.len())..];
        Some((code, value))
    })
}

/// The UDP datagram inside a link-layer frame: addresses and the payload's range.
fn udp_in_frame(
    link: u16,
    frame: &[u8],
    stats: &mut PcapStats,
) -> Option<(SocketAddr, SocketAddr, std::ops::Range<usize>)> {
    let (ip_at, ethertype) = match link {
        1 => {
            let mut at = 12;
            let mut ethertype = be16(frame, at)?;
            // 802.1Q, 802.1ad (QinQ) and the old 0x9100 tag: four bytes each.
            let mut tags = 0;
            while matches!(ethertype, 0x8100 | 0x88a8 | 0x9100) && tags < 8 {
                at += 4;
                tags += 1;
                ethertype = be16(frame, at)?;
            }
            (at + 2, Some(ethertype))
        }
        113 => (16, Some(be16(frame, 14)?)),
        276 => (20, Some(be16(frame, 0)?)),
        // BSD null / loopback: a 4-byte address family, in either byte order and with
        // per-OS values for IPv6, so the IP version nibble decides.
        0 | 108 => (4, None),
        101 | 12 | 14 | 228 | 229 => (0, None),
        _ => {
            stats.unsupported_link += 1;
            return None;
        }
    };
    let ip = frame.get(ip_at..).unwrap_or(&[]);
    let version = match ethertype {
        Some(0x0800) => 4,
        Some(0x86dd) => 6,
        Some(_) => {
            stats.not_udp += 1;
            return None;
        }
        None => ip.first().map_or(0, |b| b >> 4),
    };
    let (src, dst, udp_at, udp_end) = match version {
        4 => ipv4(ip, stats)?,
        6 => ipv6(ip, stats)?,
        _ => {
            stats.not_udp += 1;
            return None;
        }
    };
    let udp = ip.get(udp_at..udp_end).unwrap_or(&[]);
    if udp.len() < 8 {
        stats.truncated += 1;
        return None;
    }
    let udp_len = usize::from(be16(udp, 4)?);
    if udp_len < 8 || udp_len > udp.len() {
        stats.truncated += 1;
        return None;
    }
    let (sport, dport) = (be16(udp, 0)?, be16(udp, 2)?);
    let base = ip_at + udp_at;
    Some((SocketAddr::new(src, sport), SocketAddr::new(dst, dport), base + 8..base + udp_len))
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// An IPv4 packet carrying UDP: addresses and the UDP header's range in `ip`.
fn ipv4(ip: &[u8], stats: &mut PcapStats) -> Option<(IpAddr, IpAddr, usize, usize)> {
    if ip.len() < 20 {
        stats.truncated += 1;
        return None;
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(be16(ip, 2)?);
    if ihl < 20 || total < ihl {
        stats.not_udp += 1;
        return None;
    }
    if total > ip.len() {
        stats.truncated += 1;
        return None;
    }
    if ip[9] != 17 {
        stats.not_udp += 1;
        return None;
    }
    let frag = be16(ip, 6)?;
    // More-fragments set or a non-zero offset: part of a datagram, not one.
    if frag & 0x3fff != 0 {
        stats.fragments += 1;
        return None;
    }
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    Some((IpAddr::V4(src), IpAddr::V4(dst), ihl, total))
}

/// An IPv6 packet carrying UDP, after any hop-by-hop, routing, destination options or
/// authentication headers.
fn ipv6(ip: &[u8], stats: &mut PcapStats) -> Option<(IpAddr, IpAddr, usize, usize)> {
    if ip.len() < 40 {
        stats.truncated += 1;
        return None;
    }
    let end = 40 + usize::from(be16(ip, 4)?);
    if end > ip.len() {
        stats.truncated += 1;
        return None;
    }
    let addr =
        |at: usize| -> Option<Ipv6Addr> { Some(Ipv6Addr::from(<[u8; 16]>::try_from(ip.get(at..at + 16)?).ok()?)) };
    let (src, dst) = (addr(8)?, addr(24)?);
    let mut next = ip[6];
    let mut at = 40;
    for _ in 0..8 {
        match next {
            17 => return Some((IpAddr::V6(src), IpAddr::V6(dst), at, end)),
            0 | 43 | 60 => {
                next = *ip.get(at)?;
                at += (usize::from(*ip.get(at + 1)?) + 1) * 8;
            }
            51 => {
                next = *ip.get(at)?;
                at += (usize::from(*ip.get(at + 1)?) + 2) * 4;
            }
            44 => {
                stats.fragments += 1;
                return None;
            }
            _ => break,
        }
        if at > end {
            stats.truncated += 1;
            return None;
        }
    }
    stats.not_udp += 1;
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netflow::testing::PcapWriter;

    fn one_datagram() -> Vec<u8> {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.udp(5_000_001, "10.0.0.1:1000".parse().unwrap(), "10.0.0.2:2055".parse().unwrap(), b"abc").unwrap();
        w.udp(6_000_000, "[2001:db8::1]:1000".parse().unwrap(), "[2001:db8::2]:4739".parse().unwrap(), b"de").unwrap();
        w.into_inner()
    }

    type Read = (Vec<(i64, SocketAddr, Vec<u8>)>, Option<PcapError>, PcapStats);

    /// Hands out 1 to 7 bytes per read: records straddle every refill of the block buffer.
    struct Trickle<'a>(&'a [u8], usize);

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            self.1 = self.1 % 7 + 1;
            let n = self.1.min(out.len()).min(self.0.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    /// Every datagram, the error and the counts, read at once and read a few bytes at a
    /// time: both must agree.
    fn all(bytes: &[u8]) -> Read {
        let whole = read_all(bytes);
        let trickled = read_all(Trickle(bytes, 0));
        assert_eq!(whole.0, trickled.0);
        assert_eq!(whole.1.as_ref().map(ToString::to_string), trickled.1.as_ref().map(ToString::to_string));
        assert_eq!(whole.2, trickled.2);
        whole
    }

    fn read_all(bytes: impl std::io::Read) -> Read {
        let mut r = match PcapReader::new(bytes) {
            Ok(r) => r,
            Err(e) => return (Vec::new(), Some(e), PcapStats::default()),
        };
        let mut got = Vec::new();
        loop {
            match r.next_datagram() {
                Ok(Some(d)) => got.push((d.ts_us, d.dst, d.payload.to_vec())),
                Ok(None) => return (got, None, *r.stats()),
                Err(e) => return (got, Some(e), *r.stats()),
            }
        }
    }

    #[test]
    fn classic_both_families() {
        let (got, err, stats) = all(&one_datagram());
        assert!(err.is_none());
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], (5_000_001, "10.0.0.2:2055".parse().unwrap(), b"abc".to_vec()));
        assert_eq!(got[1].1, "[2001:db8::2]:4739".parse().unwrap());
        assert_eq!(stats.datagrams, 2);
    }

    #[test]
    fn big_endian_nanoseconds() {
        let le = one_datagram();
        // Rewrite as big-endian with nanosecond timestamps.
        let mut be = Vec::new();
        be.extend(0xa1b2_3c4du32.to_be_bytes());
        be.extend(2u16.to_be_bytes());
        be.extend(4u16.to_be_bytes());
        be.extend([0; 8]);
        be.extend(65535u32.to_be_bytes());
        be.extend(1u32.to_be_bytes());
        let mut at = 24;
        while at < le.len() {
            let f = |i: usize| u32::from_le_bytes(le[at + i..at + i + 4].try_into().unwrap());
            let (secs, micros, caplen, len) = (f(0), f(4), f(8), f(12));
            be.extend(secs.to_be_bytes());
            be.extend((micros * 1000 + 999).to_be_bytes());
            be.extend(caplen.to_be_bytes());
            be.extend(len.to_be_bytes());
            be.extend(&le[at + 16..at + 16 + caplen as usize]);
            at += 16 + caplen as usize;
        }
        let (got, err, _) = all(&be);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(got[0].0, 5_000_001);
        assert_eq!(got.len(), 2);
    }

    /// Many records of every size, over several of the reader's blocks, and one record
    /// (not UDP) longer than a block.
    #[test]
    fn records_across_blocks() {
        let (from, to) = ("10.0.0.1:1000".parse().unwrap(), "10.0.0.2:2055".parse().unwrap());
        let mut want = Vec::new();
        let mut halves = [PcapWriter::new(Vec::new()).unwrap(), PcapWriter::new(Vec::new()).unwrap()];
        for i in 0..2_000usize {
            let payload: Vec<u8> = (0..i * 37 % 1_500).map(|j| (i + j) as u8).collect();
            halves[i / 1_000].udp(i as i64, from, to, &payload).unwrap();
            want.push((i as i64, to, payload));
        }
        let [first, second] = halves.map(|w| w.into_inner());
        let big = BLOCK + 1_234;
        let mut bytes = first;
        for field in [0, 0, big as u32, big as u32] {
            bytes.extend(field.to_le_bytes());
        }
        bytes.resize(bytes.len() + big, 0);
        bytes.extend(&second[24..]);
        assert!(bytes.len() > 4 * BLOCK);
        let (got, err, stats) = all(&bytes);
        assert!(err.is_none(), "{err:?}");
        assert_eq!((stats.packets, stats.datagrams, stats.not_udp), (2_001, 2_000, 1));
        assert!(got == want);
    }

    #[test]
    fn truncated_capture_keeps_what_was_read() {
        let bytes = one_datagram();
        let (got, err, _) = all(&bytes[..bytes.len() - 3]);
        assert_eq!(got.len(), 1);
        let err = err.unwrap();
        assert!(matches!(err, PcapError::Truncated { what: "packet record", .. }), "{err}");
        // The second record starts after the file header and the first record.
        let first = 24 + 16 + 14 + 20 + 8 + 3;
        assert_eq!(err.to_string(), format!("capture ends inside the packet record at byte {first}"));
    }

    #[test]
    fn not_a_capture() {
        let (_, err, _) = all(b"GET / HTTP/1.1\r\n");
        assert!(matches!(err, Some(PcapError::NotPcap { .. })));
        let (_, err, _) = all(b"\xd4\xc3");
        assert!(matches!(err, Some(PcapError::Truncated { .. })));
    }

    /// One frame per link type, built by hand: the same UDP datagram behind each header.
    #[test]
    fn link_types() {
        let ipv4_udp = {
            let mut ip = vec![0x45, 0, 0, 31, 0, 1, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2];
            ip.extend([0x04, 0xd2, 0x07, 0x07, 0, 11, 0, 0, b'x', b'y', b'z']);
            ip
        };
        let eth = |tags: &[u16]| {
            let mut f = vec![0u8; 12];
            for t in tags {
                f.extend(t.to_be_bytes());
                f.extend([0, 7]);
            }
            f.extend([0x08, 0x00]);
            f.extend(&ipv4_udp);
            f
        };
        let mut sll = vec![0u8; 14];
        sll.extend([0x08, 0x00]);
        sll.extend(&ipv4_udp);
        let mut sll2 = vec![0x08, 0x00];
        sll2.extend([0u8; 18]);
        sll2.extend(&ipv4_udp);
        let mut null = 2u32.to_le_bytes().to_vec();
        null.extend(&ipv4_udp);
        let cases: Vec<(u16, Vec<u8>)> = vec![
            (1, eth(&[])),
            (1, eth(&[0x8100])),
            (1, eth(&[0x88a8, 0x8100])),
            (101, ipv4_udp.clone()),
            (12, ipv4_udp.clone()),
            (14, ipv4_udp.clone()),
            (113, sll),
            (276, sll2),
            (0, null),
        ];
        for (link, frame) in cases {
            let mut stats = PcapStats::default();
            let (src, dst, range) = udp_in_frame(link, &frame, &mut stats).unwrap_or_else(|| panic!("link {link}"));
            assert_eq!(src, "192.0.2.1:1234".parse().unwrap(), "link {link}");
            assert_eq!(dst.port(), 1799);
            assert_eq!(&frame[range], b"xyz", "link {link}");
        }
        // Fragments are skipped and counted: a first fragment (MF) and a later one.
        for frag in [[0x20, 0x00], [0x00, 0x10]] {
            let mut ip = ipv4_udp.clone();
            ip[6..8].copy_from_slice(&frag);
            let mut stats = PcapStats::default();
            assert!(udp_in_frame(101, &ip, &mut stats).is_none());
            assert_eq!(stats.fragments, 1);
        }
        // Cut short by the snapshot length.
        let mut stats = PcapStats::default();
        assert!(udp_in_frame(101, &ipv4_udp[..29], &mut stats).is_none());
        assert_eq!(stats.truncated, 1);
    }

    /// pcapng, block by block: a big-endian section (raw IP, nanosecond timestamps, a
    /// statistics block to skip, an enhanced packet block), then a little-endian section
    /// (Ethernet, binary 2^-10 s resolution, a one-second offset, a simple packet block).
    #[test]
    fn pcapng_sections_interfaces_resolutions() {
        fn block(be: bool, kind: u32, body: &[u8]) -> Vec<u8> {
            let w = |x: u32| if be { x.to_be_bytes() } else { x.to_le_bytes() };
            let padded = body.len().next_multiple_of(4);
            let total = (12 + padded) as u32;
            let mut b = [w(kind), w(total)].concat();
            b.extend(body);
            b.resize(8 + padded, 0);
            b.extend(w(total));
            b
        }
        let ip = {
            let mut ip = vec![0x45, 0, 0, 31, 0, 1, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2];
            ip.extend([0x04, 0xd2, 0x07, 0x07, 0, 11, 0, 0, b'x', b'y', b'z']);
            ip
        };
        let mut f = Vec::new();
        // Section 1, big-endian.
        let shb = [0x1a2b_3c4du32.to_be_bytes().as_slice(), &[0, 1, 0, 0], &[0xff; 8]].concat();
        f.extend(block(true, 0x0a0d_0d0a, &shb));
        let idb = [[0, 101, 0, 0].as_slice(), &0u32.to_be_bytes(), &[0, 9, 0, 1, 9, 0, 0, 0], &[0, 0, 0, 0]].concat();
        f.extend(block(true, 1, &idb));
        f.extend(block(true, 5, &[0; 12]));
        let ns: u64 = 1_700_000_000_123_456_789;
        let epb = [
            0u32.to_be_bytes().as_slice(),
            &((ns >> 32) as u32).to_be_bytes(),
            &(ns as u32).to_be_bytes(),
            &(ip.len() as u32).to_be_bytes(),
            &(ip.len() as u32).to_be_bytes(),
            &ip,
        ]
        .concat();
        f.extend(block(true, 6, &epb));
        // Section 2, little-endian, Ethernet.
        let shb = [0x1a2b_3c4du32.to_le_bytes().as_slice(), &[1, 0, 0, 0], &[0xff; 8]].concat();
        f.extend(block(false, 0x0a0d_0d0a, &shb));
        let opts =
            [[9, 0, 1, 0, 0x8a, 0, 0, 0].as_slice(), &[14, 0, 8, 0], &1i64.to_le_bytes(), &[0, 0, 0, 0]].concat();
        let idb = [[1, 0, 0, 0].as_slice(), &0u32.to_le_bytes(), &opts].concat();
        f.extend(block(false, 1, &idb));
        let frame = [[0u8; 12].as_slice(), &[0x08, 0x00], &ip].concat();
        let units: u64 = 3 << 10; // three seconds in 2^-10 s
        let epb = [
            0u32.to_le_bytes().as_slice(),
            &((units >> 32) as u32).to_le_bytes(),
            &(units as u32).to_le_bytes(),
            &(frame.len() as u32).to_le_bytes(),
            &(frame.len() as u32).to_le_bytes(),
            &frame,
        ]
        .concat();
        f.extend(block(false, 6, &epb));
        let spb = [(frame.len() as u32).to_le_bytes().as_slice(), &frame].concat();
        f.extend(block(false, 3, &spb));
        let (got, err, stats) = all(&f);
        assert!(err.is_none(), "{err:?}");
        let times: Vec<i64> = got.iter().map(|g| g.0).collect();
        assert_eq!(times, [1_700_000_000_123_456, 4_000_000, 0]);
        assert!(got.iter().all(|g| g.2 == b"xyz"));
        assert_eq!((stats.packets, stats.other_blocks), (3, 1));
        // The same file cut inside its last block.
        let (got, err, _) = all(&f[..f.len() - 5]);
        assert_eq!(got.len(), 2);
        assert!(matches!(err, Some(PcapError::Truncated { what: "block", .. })), "{err:?}");
    }

    #[test]
    fn ipv6_extension_headers() {
        let mut ip = vec![0x60, 0, 0, 0, 0, 19, 0, 64]; // next header: hop-by-hop
        ip.extend([0x20, 0x01, 0x0d, 0xb8].iter().chain([0u8; 11].iter()).chain([1u8].iter()));
        ip.extend([0x20, 0x01, 0x0d, 0xb8].iter().chain([0u8; 11].iter()).chain([2u8].iter()));
        ip.extend([17, 0, 0, 0, 0, 0, 0, 0]); // hop-by-hop: next UDP, 8 bytes
        ip.extend([0x04, 0xd2, 0x07, 0x07, 0, 11, 0, 0, b'x', b'y', b'z']);
        let mut stats = PcapStats::default();
        let (_, dst, range) = udp_in_frame(101, &ip, &mut stats).unwrap();
        assert_eq!(dst, "[2001:db8::2]:1799".parse().unwrap());
        assert_eq!(&ip[range], b"xyz");
    }
}
