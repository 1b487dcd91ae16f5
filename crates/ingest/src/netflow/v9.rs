//! NetFlow v9 (RFC 3954): a 20-byte header, then flowsets — 0 templates, 1 options
//! templates, 256 and up data records.
//!
//! The header's count is not trusted (exporters disagree on whether it counts templates:
//! softflowd counts flow records only); the flowsets are read to the end of the datagram.

use std::net::SocketAddr;

use vedette_model::Flow;

use super::seq::{Counting, MessageCount, StreamKey};
use super::template::{FieldSpec, TemplateKey, TimeBase};
use super::{be16, be32, check_sets, sets, DatagramError, DatagramErrorKind, NetflowDecoder, Version};

const HEADER: usize = 20;

pub(super) fn decode(
    dec: &mut NetflowDecoder,
    exporter: SocketAddr,
    d: &[u8],
    received_us: i64,
    out: &mut Vec<Flow>,
) -> Result<usize, DatagramError> {
    if d.len() < HEADER {
        return Err(DatagramError::new(Version::V9, 0, DatagramErrorKind::ShortHeader { len: d.len(), need: HEADER }));
    }
    let sequence = be32(d, 12);
    let source_id = be32(d, 16);
    check_sets(Version::V9, d, HEADER)?;
    let mut time = TimeBase {
        export_us: i64::from(be32(d, 8)) * 1_000_000,
        uptime_ms: be32(d, 4),
        header_uptime: true,
        init_us: None,
    };
    let before = out.len();
    let mut records = Some(0u32);
    for (at, set_id, body) in sets(d, HEADER) {
        match set_id {
            0 => templates(dec, exporter, source_id, body, at, received_us)?,
            1 => options_templates(dec, exporter, source_id, body, at, received_us)?,
            2..=255 => dec.stats.reserved_sets += 1,
            id => {
                let key = TemplateKey { exporter, ipfix: false, domain: source_id, id };
                let (n, _) = dec.data_set(key, body, Version::V9, at, &mut time, out)?;
                records = records.zip(n).map(|(a, b)| a.saturating_add(b));
            }
        }
    }
    let flows = out.len() - before;
    let key = StreamKey { exporter, version: 9, domain: source_id };
    let msg = MessageCount { seq: sequence, records, flows: u32::try_from(flows).unwrap_or(u32::MAX) };
    dec.sequence(key, Counting::Packets, received_us, msg, None);
    Ok(flows)
}

/// Whether what is left of a set is padding (RFC 3954 §5.2: zeros to a 4-byte boundary;
/// some exporters pad more).
fn padding(rest: &[u8], min: usize) -> bool {
    rest.len() < min || rest.iter().all(|&b| b == 0)
}

fn templates(
    dec: &mut NetflowDecoder,
    exporter: SocketAddr,
    domain: u32,
    body: &[u8],
    set_at: usize,
    now_us: i64,
) -> Result<(), DatagramError> {
    let mut pos = 0;
    let mut fields = Vec::new();
    while !padding(&body[pos..], 4) {
        let rest = &body[pos..];
        let at = set_at + 4 + pos;
        let template_id = be16(rest, 0);
        let count = be16(rest, 2);
        if template_id < 256 {
            return Err(DatagramError::new(Version::V9, at, DatagramErrorKind::TemplateIdReserved { template_id }));
        }
        let len = 4 + 4 * usize::from(count);
        let Some(raw) = rest.get(..len) else {
            return Err(DatagramError::new(
                Version::V9,
                at,
                DatagramErrorKind::TemplateTruncated { template_id, fields: count },
            ));
        };
        fields.clear();
        fields.extend(raw[4..].chunks_exact(4).map(|f| FieldSpec { id: be16(f, 0), pen: 0, len: be16(f, 2) }));
        let key = TemplateKey { exporter, ipfix: false, domain, id: template_id };
        dec.learn(key, raw, &fields, false, now_us, (Version::V9, at))?;
        pos += len;
    }
    Ok(())
}

fn options_templates(
    dec: &mut NetflowDecoder,
    exporter: SocketAddr,
    domain: u32,
    body: &[u8],
    set_at: usize,
    now_us: i64,
) -> Result<(), DatagramError> {
    let mut pos = 0;
    let mut fields = Vec::new();
    while !padding(&body[pos..], 6) {
        let rest = &body[pos..];
        let at = set_at + 4 + pos;
        let template_id = be16(rest, 0);
        let (scope_len, option_len) = (be16(rest, 2), be16(rest, 4));
        if template_id < 256 {
            return Err(DatagramError::new(Version::V9, at, DatagramErrorKind::TemplateIdReserved { template_id }));
        }
        let count = (usize::from(scope_len) + usize::from(option_len)) / 4;
        if scope_len % 4 != 0 || option_len % 4 != 0 {
            return Err(DatagramError::new(
                Version::V9,
                at,
                DatagramErrorKind::BadScope { template_id, scope: scope_len / 4, fields: count as u16 },
            ));
        }
        let len = 6 + usize::from(scope_len) + usize::from(option_len);
        let Some(raw) = rest.get(..len) else {
            return Err(DatagramError::new(
                Version::V9,
                at,
                DatagramErrorKind::TemplateTruncated { template_id, fields: count as u16 },
            ));
        };
        let scopes = usize::from(scope_len) / 4;
        fields.clear();
        fields.extend(raw[6..].chunks_exact(4).enumerate().map(|(i, f)| FieldSpec {
            // v9 scope types (system, interface, line card…) are not information
            // elements: keep their length, not their meaning.
            id: if i < scopes { 0 } else { be16(f, 0) },
            pen: 0,
            len: be16(f, 2),
        }));
        let key = TemplateKey { exporter, ipfix: false, domain, id: template_id };
        dec.learn(key, raw, &fields, true, now_us, (Version::V9, at))?;
        pos += len;
    }
    Ok(())
}
