//! IPFIX (RFC 7011): a 16-byte message header, then sets — 2 templates, 3 options
//! templates, 256 and up data records. Field specifiers may carry an enterprise number
//! (high bit of the id) and a variable length (65535, then a 1- or 3-byte length in each
//! record); a template record with no fields withdraws the template (RFC 7011 §8.1).

use std::net::SocketAddr;

use vedette_model::Flow;

use super::seq::{Counting, MessageCount, StreamKey};
use super::template::{FieldSpec, TemplateKey, TimeBase};
use super::{be16, be32, check_sets, sets, DatagramError, DatagramErrorKind, NetflowDecoder, Version};

const HEADER: usize = 16;
const TEMPLATE_SET: u16 = 2;
const OPTIONS_SET: u16 = 3;

pub(super) fn decode(
    dec: &mut NetflowDecoder,
    exporter: SocketAddr,
    d: &[u8],
    received_us: i64,
    out: &mut Vec<Flow>,
) -> Result<usize, DatagramError> {
    if d.len() < HEADER {
        return Err(DatagramError::new(
            Version::Ipfix,
            0,
            DatagramErrorKind::ShortHeader { len: d.len(), need: HEADER },
        ));
    }
    let length = be16(d, 2);
    if usize::from(length) < HEADER || usize::from(length) > d.len() {
        return Err(DatagramError::new(Version::Ipfix, 0, DatagramErrorKind::MessageLength { length, len: d.len() }));
    }
    // Over UDP a datagram is one message; bytes after it are not read.
    let msg = &d[..usize::from(length)];
    let sequence = be32(msg, 8);
    let domain = be32(msg, 12);
    check_sets(Version::Ipfix, msg, HEADER)?;
    let stream = StreamKey { exporter, version: 10, domain };
    let mut time = TimeBase {
        export_us: i64::from(be32(msg, 4)) * 1_000_000,
        uptime_ms: 0,
        header_uptime: false,
        init_us: dec.streams.init_us(&stream),
    };
    let before = out.len();
    let mut records = Some(0u32);
    // "Withdraw all" scans the cache: once per message and kind, however often a message
    // repeats it.
    let mut withdrew_all = [false; 2];
    for (at, set_id, body) in sets(msg, HEADER) {
        match set_id {
            TEMPLATE_SET | OPTIONS_SET => {
                let options = set_id == OPTIONS_SET;
                let done = &mut withdrew_all[usize::from(options)];
                templates(dec, Scope { exporter, domain, now_us: received_us }, body, at, options, done)?
            }
            0..=255 => dec.stats.reserved_sets += 1,
            id => {
                let key = TemplateKey { exporter, ipfix: true, domain, id };
                let (n, _) = dec.data_set(key, body, Version::Ipfix, at, &mut time, out)?;
                records = records.zip(n).map(|(a, b)| a.saturating_add(b));
            }
        }
    }
    let flows = out.len() - before;
    let msg = MessageCount { seq: sequence, records, flows: u32::try_from(flows).unwrap_or(u32::MAX) };
    dec.sequence(stream, Counting::Records, received_us, msg, time.init_us);
    Ok(flows)
}

/// Whose templates a set holds, and when they arrived.
struct Scope {
    exporter: SocketAddr,
    domain: u32,
    now_us: i64,
}

/// A template set (2) or an options template set (3).
fn templates(
    dec: &mut NetflowDecoder,
    Scope { exporter, domain, now_us }: Scope,
    body: &[u8],
    set_at: usize,
    options: bool,
    withdrew_all: &mut bool,
) -> Result<(), DatagramError> {
    let set_id = if options { OPTIONS_SET } else { TEMPLATE_SET };
    let head = if options { 6 } else { 4 };
    let mut pos = 0;
    let mut fields = Vec::new();
    // What is left after the last record is padding: shorter than a record header, or zeros.
    while body.len() - pos >= 4 && !body[pos..].iter().all(|&b| b == 0) {
        let rest = &body[pos..];
        let at = set_at + 4 + pos;
        let template_id = be16(rest, 0);
        let count = be16(rest, 2);
        if count == 0 {
            // A withdrawal: this template, or (id = the set id) all of this kind.
            if template_id == set_id {
                if !*withdrew_all {
                    *withdrew_all = true;
                    dec.stats.templates_withdrawn += dec.templates.withdraw_all(exporter, true, domain, options) as u64;
                }
            } else if template_id < 256 {
                return Err(DatagramError::new(
                    Version::Ipfix,
                    at,
                    DatagramErrorKind::TemplateIdReserved { template_id },
                ));
            } else if dec.templates.withdraw(&TemplateKey { exporter, ipfix: true, domain, id: template_id }) {
                dec.stats.templates_withdrawn += 1;
            }
            pos += 4;
            continue;
        }
        if template_id < 256 {
            return Err(DatagramError::new(Version::Ipfix, at, DatagramErrorKind::TemplateIdReserved { template_id }));
        }
        let truncated = || {
            DatagramError::new(Version::Ipfix, at, DatagramErrorKind::TemplateTruncated { template_id, fields: count })
        };
        if rest.len() < head {
            return Err(truncated());
        }
        if options {
            let scope = be16(rest, 4);
            if scope == 0 || scope > count {
                return Err(DatagramError::new(
                    Version::Ipfix,
                    at,
                    DatagramErrorKind::BadScope { template_id, scope, fields: count },
                ));
            }
        }
        let mut p = head;
        fields.clear();
        for _ in 0..count {
            let spec = rest.get(p..p + 4).ok_or_else(truncated)?;
            let (raw_id, len) = (be16(spec, 0), be16(spec, 2));
            p += 4;
            let pen = if raw_id & 0x8000 != 0 {
                let pen = be32(rest.get(p..p + 4).ok_or_else(truncated)?, 0);
                p += 4;
                pen
            } else {
                0
            };
            fields.push(FieldSpec { id: raw_id & 0x7FFF, pen, len });
        }
        let key = TemplateKey { exporter, ipfix: true, domain, id: template_id };
        dec.learn(key, &rest[..p], &fields, options, now_us, (Version::Ipfix, at))?;
        pos += p;
    }
    Ok(())
}
