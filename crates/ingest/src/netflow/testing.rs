//! Synthetic NetFlow v9 and IPFIX export datagrams and a pcap writer: what the tests,
//! the benchmark and the side-by-side with nfdump feed the decoder. The templates are
//! softflowd's (IPv4 1024 and IPv6 2048; IPFIX with millisecond times as with
//! `softflowd -A milli`). Not a stable API.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use vedette_model::{Flow, Transport};

/// Which protocol an [`Exporter`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    V9,
    Ipfix,
}

/// A NetFlow v9 or IPFIX exporting process: templates, sequence numbers, boot time.
#[derive(Debug, Clone)]
pub struct Exporter {
    protocol: Protocol,
    domain: u32,
    boot_us: i64,
    template_every: u64,
    messages: u64,
    records: u32,
}

// (id, length) of softflowd 1.1.0's templates, after the addresses (and the times, which
// differ between v9 and IPFIX).
const COMMON: [(u16, u16); 12] =
    [(1, 4), (2, 4), (10, 4), (14, 4), (61, 1), (136, 1), (7, 2), (11, 2), (4, 1), (6, 1), (60, 1), (5, 1)];
const V4_TEMPLATE: u16 = 1024;
const V6_TEMPLATE: u16 = 2048;

impl Exporter {
    /// `boot_us`: the exporter's boot time, against which v9 uptimes count.
    pub fn new(protocol: Protocol, domain: u32, boot_us: i64) -> Self {
        Exporter { protocol, domain, boot_us, template_every: 16, messages: 0, records: 0 }
    }

    /// Sends the templates every `n` messages (and in the first); default 16.
    pub fn template_every(mut self, n: u64) -> Self {
        self.template_every = n.max(1);
        self
    }

    fn fields(&self, v6: bool) -> Vec<(u16, u16)> {
        let mut f = if v6 { vec![(27, 16), (28, 16)] } else { vec![(8, 4), (12, 4)] };
        match self.protocol {
            Protocol::V9 => f.extend([(22, 4), (21, 4)]),
            Protocol::Ipfix => f.extend([(152, 8), (153, 8)]),
        }
        f.extend(COMMON);
        f
    }

    /// The length of one data record of the IPv4 template.
    pub fn record_len(&self) -> usize {
        self.fields(false).iter().map(|&(_, l)| usize::from(l)).sum()
    }

    /// One export datagram carrying `flows` (one data set per run of the same address
    /// family), with the template set first when it is due.
    pub fn datagram(&mut self, flows: &[Flow], export_us: i64) -> Vec<u8> {
        let mut d = Vec::with_capacity(64 + flows.len() * 80);
        let uptime_ms = ((export_us - self.boot_us) / 1000) as u32;
        let mut count: u16 = 0;
        match self.protocol {
            Protocol::V9 => {
                d.extend([0, 9, 0, 0]);
                d.extend(uptime_ms.to_be_bytes());
                d.extend(((export_us / 1_000_000) as u32).to_be_bytes());
                d.extend((self.messages as u32).to_be_bytes());
                d.extend(self.domain.to_be_bytes());
            }
            Protocol::Ipfix => {
                d.extend([0, 10, 0, 0]);
                d.extend(((export_us / 1_000_000) as u32).to_be_bytes());
                d.extend(self.records.to_be_bytes());
                d.extend(self.domain.to_be_bytes());
            }
        }
        if self.messages % self.template_every == 0 {
            let set_id: u16 = if self.protocol == Protocol::V9 { 0 } else { 2 };
            let start = begin_set(&mut d, set_id);
            for (id, v6) in [(V4_TEMPLATE, false), (V6_TEMPLATE, true)] {
                let fields = self.fields(v6);
                d.extend(id.to_be_bytes());
                d.extend((fields.len() as u16).to_be_bytes());
                for (f, l) in fields {
                    d.extend(f.to_be_bytes());
                    d.extend(l.to_be_bytes());
                }
                count += 1;
            }
            end_set(&mut d, start);
        }
        let mut rest = flows;
        while let Some(first) = rest.first() {
            let v6 = first.src.is_ipv6();
            let run = rest.iter().take_while(|f| f.src.is_ipv6() == v6).count();
            let start = begin_set(&mut d, if v6 { V6_TEMPLATE } else { V4_TEMPLATE });
            for f in &rest[..run] {
                self.record(&mut d, f);
                count = count.wrapping_add(1);
            }
            end_set(&mut d, start);
            self.records = self.records.wrapping_add(run as u32);
            rest = &rest[run..];
        }
        match self.protocol {
            Protocol::V9 => d[2..4].copy_from_slice(&count.to_be_bytes()),
            Protocol::Ipfix => {
                let len = d.len() as u16;
                d[2..4].copy_from_slice(&len.to_be_bytes());
            }
        }
        self.messages += 1;
        d
    }

    fn record(&self, d: &mut Vec<u8>, f: &Flow) {
        for ip in [f.src, f.dst] {
            match ip {
                IpAddr::V4(a) => d.extend(a.octets()),
                IpAddr::V6(a) => d.extend(a.octets()),
            }
        }
        let end_us = f.start_us + f.duration_us as i64;
        match self.protocol {
            Protocol::V9 => {
                let up = |t: i64| ((t - self.boot_us) / 1000) as u32;
                d.extend(up(f.start_us).to_be_bytes());
                d.extend(up(end_us).to_be_bytes());
            }
            Protocol::Ipfix => {
                d.extend(((f.start_us / 1000) as u64).to_be_bytes());
                d.extend(((end_us / 1000) as u64).to_be_bytes());
            }
        }
        d.extend((f.bytes_out as u32).to_be_bytes());
        d.extend((f.packets as u32).to_be_bytes());
        d.extend([0; 8]); // interfaces
        d.extend([0, 3]); // direction, end reason
        d.extend(f.src_port.to_be_bytes());
        d.extend(f.dst_port.to_be_bytes());
        d.extend([f.transport.0, 0x1b, if f.src.is_ipv6() { 6 } else { 4 }, 0]);
    }
}

fn begin_set(d: &mut Vec<u8>, id: u16) -> usize {
    let start = d.len();
    d.extend(id.to_be_bytes());
    d.extend([0, 0]);
    start
}

fn end_set(d: &mut [u8], start: usize) {
    let len = (d.len() - start) as u16;
    d[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
}

/// `n` made-up flows from a fixed seed: IPv4 (one in a hundred IPv6), TCP and UDP,
/// starting a millisecond apart from `start_us`, times whole milliseconds (what v9 and
/// IPFIX with milliseconds carry), counters that fit 32 bits.
pub fn synthetic_flows(n: usize, seed: u64, start_us: i64) -> Vec<Flow> {
    let mut x = seed | 1;
    let mut next = move || {
        // xorshift64*: deterministic, no dependency.
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    (0..n)
        .map(|i| {
            let r = next();
            let v6 = r % 100 == 0;
            let (src, dst) = if v6 {
                (
                    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, (r >> 8) as u16)),
                    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, (r >> 24) as u16)),
                )
            } else {
                (
                    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (r >> 8) as u32 & 0x00ff_ffff)),
                    IpAddr::V4(Ipv4Addr::from(0xcb00_7100 | (r >> 40) as u32 & 0xff)),
                )
            };
            let r2 = next();
            Flow {
                start_us: start_us + i as i64 * 1000,
                duration_us: (r2 % 60_000) * 1000,
                src,
                src_port: 1024 + (r2 >> 16) as u16 % 60000,
                dst,
                dst_port: [443, 80, 53, 8080][(r2 >> 40) as usize % 4],
                transport: if r2 >> 50 & 1 == 0 { Transport::TCP } else { Transport::UDP },
                bytes_out: 40 + (r2 >> 20) % 100_000,
                bytes_in: 0,
                packets: 1 + (r2 >> 8) % 100,
            }
        })
        .collect()
}

/// Writes a classic pcap (microseconds, little-endian, Ethernet) of UDP datagrams, as
/// a capture of export traffic would hold them.
pub struct PcapWriter<W: Write> {
    out: W,
    ip_id: u16,
}

impl<W: Write> PcapWriter<W> {
    pub fn new(mut out: W) -> io::Result<Self> {
        out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&[0; 8])?; // time zone, accuracy
        out.write_all(&262_144u32.to_le_bytes())?;
        out.write_all(&1u32.to_le_bytes())?; // Ethernet
        Ok(PcapWriter { out, ip_id: 0 })
    }

    /// One UDP datagram from `src` to `dst` (both IPv4 or both IPv6).
    pub fn udp(&mut self, ts_us: i64, src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> io::Result<()> {
        let mut frame = Vec::with_capacity(62 + payload.len());
        frame.extend([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
        let udp_len = (8 + payload.len()) as u16;
        match (src.ip(), dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                frame.extend([0x08, 0x00]);
                let mut ip = [0u8; 20];
                ip[0] = 0x45;
                ip[2..4].copy_from_slice(&(20 + udp_len).to_be_bytes());
                ip[4..6].copy_from_slice(&self.ip_id.to_be_bytes());
                self.ip_id = self.ip_id.wrapping_add(1);
                ip[6] = 0x40; // don't fragment
                ip[8] = 64;
                ip[9] = 17;
                ip[12..16].copy_from_slice(&s.octets());
                ip[16..20].copy_from_slice(&d.octets());
                let sum = checksum(&ip);
                ip[10..12].copy_from_slice(&sum.to_be_bytes());
                frame.extend(ip);
            }
            (s, d) => {
                let v6 = |a: IpAddr| match a {
                    IpAddr::V6(a) => a,
                    IpAddr::V4(a) => a.to_ipv6_mapped(),
                };
                frame.extend([0x86, 0xdd]);
                frame.extend([0x60, 0, 0, 0]);
                frame.extend(udp_len.to_be_bytes());
                frame.extend([17, 64]);
                frame.extend(v6(s).octets());
                frame.extend(v6(d).octets());
            }
        }
        frame.extend(src.port().to_be_bytes());
        frame.extend(dst.port().to_be_bytes());
        frame.extend(udp_len.to_be_bytes());
        frame.extend([0, 0]); // no UDP checksum
        frame.extend(payload);
        let secs = ts_us.div_euclid(1_000_000) as u32;
        let micros = ts_us.rem_euclid(1_000_000) as u32;
        self.out.write_all(&secs.to_le_bytes())?;
        self.out.write_all(&micros.to_le_bytes())?;
        self.out.write_all(&(frame.len() as u32).to_le_bytes())?;
        self.out.write_all(&(frame.len() as u32).to_le_bytes())?;
        self.out.write_all(&frame)
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = b.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
