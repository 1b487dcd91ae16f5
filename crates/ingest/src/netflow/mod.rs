//! NetFlow v5, v9 (RFC 3954) and IPFIX (RFC 7011) export datagrams decoded into [`Flow`]s.
//!
//! A [`NetflowDecoder`] is fed one UDP datagram at a time with the address it came from.
//! It keeps what the protocols make a collector keep: the templates each exporter
//! announced (scoped by exporter, observation domain / source id and template id) and
//! each stream's sequence numbers, which tell how much never arrived ([`NetflowStats`]).
//!
//! Templates are compiled when they arrive into a plan of fixed offsets for the few values
//! Vedette reads — addresses, ports, protocol, octets, packets, start and end times — so a
//! data record is read with a handful of loads: no allocation and no lookup per record
//! (the template is looked up once per data set). Counters may use reduced-size encoding
//! (1 to 8 bytes); IPFIX enterprise-specific and variable-length fields are skipped over;
//! options templates are learned and their records skipped, except for the exporter's
//! boot time (systemInitTimeMilliseconds), which uptime-relative times need.
//!
//! Every byte is untrusted. A datagram that lies about its own structure (a short header,
//! a count or length that runs past the end, a set shorter than its header, a malformed
//! template) is refused whole with a [`DatagramError`] saying what and at which byte, and
//! counted by reason; data sets whose template is unknown are counted and dropped;
//! templates and streams are capped ([`NetflowLimits`]), so memory stays bounded whatever
//! arrives.
//!
//! What a [`Flow`] holds: NetFlow records are one direction of a conversation, so the
//! octets go to `bytes_out` and `bytes_in` is 0 — unless the exporter sends RFC 5103
//! biflows (reverse elements, enterprise 29305), whose reverse octets fill `bytes_in` and
//! whose reverse packets add to `packets`. ICMP type and code follow Zeek's convention
//! (type in `src_port`, code in `dst_port`). Times: v5 and v9 First/Last are read
//! against the header's sysUptime and export time (v9's header has whole seconds only, so
//! its flows can be up to a second early); IPFIX absolute times are exact.
//!
//! ```
//! use vedette_ingest::netflow::{NetflowDecoder, NetflowLimits};
//!
//! // A NetFlow v5 datagram: 24-byte header, one 48-byte record.
//! let mut datagram = vec![0, 5, 0, 1];                       // version 5, count 1
//! datagram.extend(60_000u32.to_be_bytes());                  // sysUptime: 60 s
//! datagram.extend(1_700_000_000u32.to_be_bytes());           // export time (s)
//! datagram.extend(0u32.to_be_bytes());                       // nanoseconds
//! datagram.extend([0; 8]);                                   // sequence, engine, sampling
//! datagram.extend([192, 0, 2, 10, 203, 0, 113, 10, 0, 0, 0, 0, 0, 0, 0, 0]); // src, dst, nexthop, ifaces
//! datagram.extend(5u32.to_be_bytes());                       // packets
//! datagram.extend(320u32.to_be_bytes());                     // octets
//! datagram.extend(50_000u32.to_be_bytes());                  // first: 10 s before export
//! datagram.extend(50_081u32.to_be_bytes());                  // last
//! datagram.extend([0x9c, 0x40, 0x01, 0xbb, 0, 0x1b, 6, 0]);  // ports 40000 -> 443, flags, TCP
//! datagram.extend([0; 8]);                                   // AS numbers, masks
//!
//! let mut decoder = NetflowDecoder::new(NetflowLimits::default());
//! let mut flows = Vec::new();
//! let exporter = "192.0.2.1:41350".parse().unwrap();
//! assert_eq!(decoder.decode(exporter, &datagram, 0, &mut flows), Ok(1));
//! assert_eq!(flows[0].dst_port, 443);
//! assert_eq!(flows[0].start_us, 1_699_999_990_000_000);
//! assert_eq!((flows[0].duration_us, flows[0].bytes_out), (81_000, 320));
//!
//! let error = decoder.decode(exporter, &datagram[..60], 0, &mut flows).unwrap_err();
//! assert_eq!(error.to_string(), "v5 header at byte 0: count 1 needs 72 bytes, the datagram has 60");
//! assert_eq!(decoder.stats().rejected.bad_length, 1);
//! ```

mod ipfix;
mod seq;
mod template;
#[doc(hidden)]
pub mod testing;
mod v5;
mod v9;

use std::fmt;
use std::net::SocketAddr;

use vedette_model::Flow;

use seq::{Counting, MessageCount, Outcome, StreamKey, Streams};
use template::{CompileError, FieldSpec, Learned, Plan, TemplateCache, TemplateKey, TimeBase};

/// The export protocols read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    V5,
    V9,
    Ipfix,
}

impl Version {
    /// The header's version number.
    pub fn number(self) -> u16 {
        match self {
            Version::V5 => 5,
            Version::V9 => 9,
            Version::Ipfix => 10,
        }
    }

    fn set_word(self) -> &'static str {
        match self {
            Version::V9 => "flowset",
            _ => "set",
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Version::V5 => "v5",
            Version::V9 => "v9",
            Version::Ipfix => "IPFIX",
        })
    }
}

/// Caps on what untrusted exporters can make the decoder keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetflowLimits {
    /// Templates kept in all (data and options).
    pub max_templates: usize,
    /// Templates kept per exporter address (any port, any domain).
    pub max_templates_per_exporter: usize,
    /// A template declaring more fields than this is refused (counted, not an error).
    pub max_template_fields: usize,
    /// Streams (exporter, domain) whose sequence numbers and boot time are tracked.
    pub max_streams: usize,
    /// When a table is full, entries not refreshed for this long (µs of the `received_us`
    /// clock) make room; younger ones are never dropped.
    pub idle_us: i64,
}

impl Default for NetflowLimits {
    fn default() -> Self {
        NetflowLimits {
            max_templates: 4096,
            max_templates_per_exporter: 1024,
            max_template_fields: 512,
            max_streams: 4096,
            idle_us: 2 * 3600 * 1_000_000,
        }
    }
}

/// Datagrams and flows of one protocol version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VersionStats {
    /// Datagrams accepted.
    pub datagrams: u64,
    pub flows: u64,
}

/// Datagrams refused, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rejections {
    /// Shorter than the header of its version (or than a version field).
    pub short_header: u64,
    pub unknown_version: u64,
    /// A count or length field that runs past the end of the datagram, set or record.
    pub bad_length: u64,
    /// A set or flowset shorter than its own header.
    pub bad_set: u64,
    /// A malformed template or options template record.
    pub bad_template: u64,
}

impl Rejections {
    pub fn total(&self) -> u64 {
        self.short_header + self.unknown_version + self.bad_length + self.bad_set + self.bad_template
    }
}

/// What the decoder has seen so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetflowStats {
    /// Datagrams offered, accepted or not.
    pub datagrams: u64,
    /// Flows produced.
    pub flows: u64,
    pub v5: VersionStats,
    pub v9: VersionStats,
    pub ipfix: VersionStats,
    pub rejected: Rejections,
    /// Data sets dropped because their template was unknown (not yet received, withdrawn
    /// or refused), and their bytes: the records inside cannot be counted.
    pub sets_without_template: u64,
    pub bytes_without_template: u64,
    /// Records of options templates, read (for the exporter's boot time) and skipped.
    pub options_records: u64,
    /// Data records whose template names no address (MPLS or layer-2 flows): no flow.
    pub records_without_address: u64,
    /// Sets with a reserved id (v9 2–255, IPFIX 0, 1, 4–255), skipped.
    pub reserved_sets: u64,
    /// Templates (data and options) learned for the first time, re-sent unchanged or
    /// changed, withdrawn, refused for want of room or for too many fields, and dropped
    /// after `idle_us` to make room.
    pub templates_learned: u64,
    pub templates_refreshed: u64,
    pub templates_withdrawn: u64,
    pub templates_refused: u64,
    pub templates_evicted: u64,
    /// Sequence numbers that jumped forward, and by how much in all: v5 and IPFIX count
    /// records, v9 counts export packets.
    pub sequence_gaps: u64,
    pub lost_records: u64,
    pub lost_packets: u64,
    /// Sequence numbers that went back: an exporter restart or a reordered datagram.
    pub sequence_resets: u64,
}

/// Why a datagram was refused, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatagramError {
    /// `None` when the version itself could not be read or is unknown.
    pub version: Option<Version>,
    /// Byte offset, in the datagram, of the header, set or template record at fault.
    pub offset: usize,
    pub kind: DatagramErrorKind,
}

/// What is wrong with a datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatagramErrorKind {
    /// The datagram ends before the header does.
    ShortHeader {
        len: usize,
        need: usize,
    },
    UnknownVersion(u16),
    /// v5: the record count needs more bytes than the datagram has.
    CountPastEnd {
        count: u16,
        need: usize,
        len: usize,
    },
    /// IPFIX: the message length field disagrees with the datagram.
    MessageLength {
        length: u16,
        len: usize,
    },
    /// A set length smaller than the set header.
    SetTooShort {
        set_id: u16,
        length: u16,
    },
    /// A set length that runs past the end of the message.
    SetPastEnd {
        set_id: u16,
        length: u16,
        left: usize,
    },
    /// A template record cut off by the end of its set.
    TemplateTruncated {
        template_id: u16,
        fields: u16,
    },
    /// A template id below 256 (those are set ids).
    TemplateIdReserved {
        template_id: u16,
    },
    /// An options template whose scope count is 0 or larger than its field count, or
    /// whose scope/option lengths are not whole field specifiers (v9).
    BadScope {
        template_id: u16,
        scope: u16,
        fields: u16,
    },
    /// Every field of the template has length 0.
    EmptyRecord {
        template_id: u16,
    },
    /// The template's records could not fit in any set.
    RecordTooLong {
        template_id: u16,
        len: usize,
    },
    /// A variable-length record (at byte `record`) runs past the end of its set.
    RecordPastEnd {
        template_id: u16,
        record: usize,
    },
}

impl DatagramError {
    fn new(version: Version, offset: usize, kind: DatagramErrorKind) -> Self {
        DatagramError { version: Some(version), offset, kind }
    }
}

impl fmt::Display for DatagramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DatagramErrorKind::*;
        let at = self.offset;
        let v = match self.version {
            Some(v) => v,
            None => {
                return match &self.kind {
                    ShortHeader { len, .. } => {
                        write!(f, "datagram of {len} bytes is too short to hold a NetFlow version")
                    }
                    UnknownVersion(n) => write!(f, "header at byte {at}: unknown version {n} (expected 5, 9 or 10)"),
                    other => write!(f, "byte {at}: {other:?}"),
                };
            }
        };
        let set = v.set_word();
        match &self.kind {
            ShortHeader { len, need } => {
                write!(f, "{v} header at byte {at}: the datagram has {len} bytes, the header needs {need}")
            }
            UnknownVersion(n) => write!(f, "{v} header at byte {at}: unknown version {n}"),
            CountPastEnd { count, need, len } => {
                write!(f, "{v} header at byte {at}: count {count} needs {need} bytes, the datagram has {len}")
            }
            MessageLength { length, len } => write!(
                f,
                "{v} header at byte {at}: message length {length} does not fit the datagram ({len} bytes; \
                 the header alone is 16)"
            ),
            SetTooShort { set_id, length } => {
                write!(f, "{v} {set} {set_id} at byte {at}: length {length} is shorter than a {set} header")
            }
            SetPastEnd { set_id, length, left } => write!(
                f,
                "{v} {set} {set_id} at byte {at}: length {length} runs past the end of the message ({left} bytes left)"
            ),
            TemplateTruncated { template_id, fields } => {
                write!(f, "{v} template {template_id} at byte {at}: {fields} fields run past the end of its {set}")
            }
            TemplateIdReserved { template_id } => {
                write!(f, "{v} template at byte {at}: template id {template_id} is below 256")
            }
            BadScope { template_id, scope, fields } => {
                write!(f, "{v} options template {template_id} at byte {at}: scope {scope} does not fit {fields} fields")
            }
            EmptyRecord { template_id } => {
                write!(f, "{v} template {template_id} at byte {at}: every field has length 0")
            }
            RecordTooLong { template_id, len } => {
                write!(f, "{v} template {template_id} at byte {at}: records of {len} bytes cannot fit in a {set}")
            }
            RecordPastEnd { template_id, record } => write!(
                f,
                "{v} data {set} at byte {at}: the record of template {template_id} at byte {record} runs past its end"
            ),
        }
    }
}

impl std::error::Error for DatagramError {}

/// A NetFlow v5 / v9 / IPFIX collector's decoding state: templates, sequence numbers,
/// counters. One per input (it is not shared between threads); see the module docs.
pub struct NetflowDecoder {
    limits: NetflowLimits,
    templates: TemplateCache,
    streams: Streams,
    stats: NetflowStats,
}

impl NetflowDecoder {
    pub fn new(limits: NetflowLimits) -> Self {
        NetflowDecoder {
            templates: TemplateCache::new(limits.max_templates, limits.max_templates_per_exporter, limits.idle_us),
            streams: Streams::new(limits.max_streams, limits.idle_us),
            stats: NetflowStats::default(),
            limits,
        }
    }

    /// Decodes one export datagram from `exporter`, appending its flows to `out`;
    /// returns how many. `received_us` is the arrival time (µs since the Unix epoch, or
    /// any steady clock): it only ages templates and streams.
    ///
    /// A refused datagram adds no flow (`out` is left as it was) and no sequence mark;
    /// templates read from it before the fault stay learned, as they were complete.
    pub fn decode(
        &mut self,
        exporter: SocketAddr,
        datagram: &[u8],
        received_us: i64,
        out: &mut Vec<Flow>,
    ) -> Result<usize, DatagramError> {
        self.stats.datagrams += 1;
        let before = out.len();
        let result = match datagram {
            [0, 5, ..] => v5::decode(self, exporter, datagram, received_us, out).map(|n| (Version::V5, n)),
            [0, 9, ..] => v9::decode(self, exporter, datagram, received_us, out).map(|n| (Version::V9, n)),
            [0, 10, ..] => ipfix::decode(self, exporter, datagram, received_us, out).map(|n| (Version::Ipfix, n)),
            [a, b, ..] => Err(DatagramError {
                version: None,
                offset: 0,
                kind: DatagramErrorKind::UnknownVersion(u16::from_be_bytes([*a, *b])),
            }),
            _ => Err(DatagramError {
                version: None,
                offset: 0,
                kind: DatagramErrorKind::ShortHeader { len: datagram.len(), need: 2 },
            }),
        };
        match result {
            Ok((version, n)) => {
                let per = match version {
                    Version::V5 => &mut self.stats.v5,
                    Version::V9 => &mut self.stats.v9,
                    Version::Ipfix => &mut self.stats.ipfix,
                };
                per.datagrams += 1;
                per.flows += n as u64;
                self.stats.flows += n as u64;
                Ok(n)
            }
            Err(e) => {
                out.truncate(before);
                let r = &mut self.stats.rejected;
                use DatagramErrorKind::*;
                match e.kind {
                    ShortHeader { .. } => r.short_header += 1,
                    UnknownVersion(_) => r.unknown_version += 1,
                    CountPastEnd { .. } | MessageLength { .. } | SetPastEnd { .. } | RecordPastEnd { .. } => {
                        r.bad_length += 1
                    }
                    SetTooShort { .. } => r.bad_set += 1,
                    TemplateTruncated { .. }
                    | TemplateIdReserved { .. }
                    | BadScope { .. }
                    | EmptyRecord { .. }
                    | RecordTooLong { .. } => r.bad_template += 1,
                }
                Err(e)
            }
        }
    }

    pub fn stats(&self) -> &NetflowStats {
        &self.stats
    }

    /// Templates held now (data and options, all exporters).
    pub fn templates(&self) -> usize {
        self.templates.len()
    }

    pub fn limits(&self) -> &NetflowLimits {
        &self.limits
    }

    /// Offers a template to the cache and counts what happened to it.
    fn learn(
        &mut self,
        key: TemplateKey,
        raw: &[u8],
        fields: &[FieldSpec],
        options: bool,
        now_us: i64,
        (version, offset): (Version, usize),
    ) -> Result<(), DatagramError> {
        if fields.len() > self.limits.max_template_fields {
            self.stats.templates_refused += 1;
            return Ok(());
        }
        let learned = self.templates.learn(key, raw, now_us, || Plan::compile(fields, options)).map_err(|e| {
            let template_id = key.id;
            DatagramError::new(
                version,
                offset,
                match e {
                    CompileError::EmptyRecord => DatagramErrorKind::EmptyRecord { template_id },
                    CompileError::RecordTooLong(len) => DatagramErrorKind::RecordTooLong { template_id, len },
                },
            )
        })?;
        match learned {
            Learned::New => self.stats.templates_learned += 1,
            Learned::Refreshed => self.stats.templates_refreshed += 1,
            Learned::Refused => self.stats.templates_refused += 1,
        }
        self.stats.templates_evicted = self.templates.evicted;
        Ok(())
    }

    /// Records a message's sequence number.
    fn sequence(&mut self, key: StreamKey, counting: Counting, now_us: i64, msg: MessageCount, init_us: Option<i64>) {
        match self.streams.observe(key, counting, now_us, msg, init_us) {
            Outcome::Gap(n) => {
                self.stats.sequence_gaps += 1;
                match counting {
                    Counting::Packets => self.stats.lost_packets += u64::from(n),
                    Counting::Records => self.stats.lost_records += u64::from(n),
                }
            }
            Outcome::Reset => self.stats.sequence_resets += 1,
            Outcome::First | Outcome::InOrder | Outcome::Untracked => {}
        }
    }

    /// Reads one data set (v9 or IPFIX) with its template; returns its record count
    /// (`None` if the template is unknown) and the flows it gave.
    fn data_set(
        &mut self,
        key: TemplateKey,
        body: &[u8],
        version: Version,
        offset: usize,
        time: &mut TimeBase,
        out: &mut Vec<Flow>,
    ) -> Result<(Option<u32>, u32), DatagramError> {
        let Some(plan) = self.templates.get(&key) else {
            self.stats.sets_without_template += 1;
            self.stats.bytes_without_template += body.len() as u64;
            return Ok((None, 0));
        };
        let stats = &mut self.stats;
        let flows_before = out.len();
        let mut records = 0usize;
        if plan.fast() {
            // The common case: every record the same length, the same offsets.
            records = plan.read_fixed(body, time, out);
        } else if plan.fixed_len != 0 {
            // Fixed-length records too long for the fast path, or giving no flow. The
            // bytes after the last whole record are padding.
            let recs = body.chunks_exact(plan.fixed_len);
            records = recs.len();
            if plan.gives_flows() {
                out.reserve(records);
                let slots = plan.fixed_slots();
                for rec in recs {
                    if let Some(flow) = plan.flow(rec, slots, time) {
                        out.push(flow);
                    }
                }
            } else if plan.options {
                for rec in recs {
                    if let Some(init) = plan.system_init_us(rec, plan.fixed_slots()) {
                        time.init_us = Some(init);
                    }
                }
            }
        } else {
            let mut pos = 0usize;
            // Padding is shorter than the shortest record (RFC 7011 §3.3.1).
            while body.len() - pos >= plan.min_len {
                let rest = &body[pos..];
                let Some((len, slots)) = plan.walk_record(rest) else {
                    return Err(DatagramError::new(
                        version,
                        offset,
                        DatagramErrorKind::RecordPastEnd { template_id: key.id, record: offset + 4 + pos },
                    ));
                };
                let rec = &rest[..len];
                records += 1;
                if plan.gives_flows() {
                    if let Some(flow) = plan.flow(rec, &slots, time) {
                        out.push(flow);
                    }
                } else if let Some(init) = plan.system_init_us(rec, &slots) {
                    time.init_us = Some(init);
                }
                pos += len;
            }
        }
        if plan.options {
            stats.options_records += records as u64;
        } else if !plan.gives_flows() {
            stats.records_without_address += records as u64;
        }
        let records = u32::try_from(records).unwrap_or(u32::MAX);
        Ok((Some(records), (out.len() - flows_before) as u32))
    }
}

/// The set chain of a v9 or IPFIX message, checked before anything in it is used, so a
/// datagram whose lengths lie teaches nothing: each set is at least its header long and
/// ends inside the message. Returns nothing; the caller walks the chain again.
fn check_sets(version: Version, msg: &[u8], first: usize) -> Result<(), DatagramError> {
    let mut pos = first;
    while msg.len() - pos >= 4 {
        let set_id = u16::from_be_bytes([msg[pos], msg[pos + 1]]);
        let length = u16::from_be_bytes([msg[pos + 2], msg[pos + 3]]);
        if length < 4 {
            return Err(DatagramError::new(version, pos, DatagramErrorKind::SetTooShort { set_id, length }));
        }
        let left = msg.len() - pos;
        if usize::from(length) > left {
            return Err(DatagramError::new(version, pos, DatagramErrorKind::SetPastEnd { set_id, length, left }));
        }
        pos += usize::from(length);
    }
    Ok(())
}

/// The sets of a checked message: (offset, set id, body).
fn sets(msg: &[u8], first: usize) -> impl Iterator<Item = (usize, u16, &[u8])> {
    let mut pos = first;
    std::iter::from_fn(move || {
        let head = msg.get(pos..pos + 4)?;
        let set_id = u16::from_be_bytes([head[0], head[1]]);
        let length = usize::from(u16::from_be_bytes([head[2], head[3]]));
        // `check_sets` has vouched for the lengths; stop rather than loop if it had not.
        let body = msg.get(pos + 4..pos + length.max(4))?;
        let at = pos;
        pos += length.max(4);
        Some((at, set_id, body))
    })
}

fn be16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(&[x, y]) => u16::from_be_bytes([x, y]),
        _ => 0,
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(&[w, x, y, z]) => u32::from_be_bytes([w, x, y, z]),
        _ => 0,
    }
}
