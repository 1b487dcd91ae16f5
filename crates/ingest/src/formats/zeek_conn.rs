//! Zeek `conn.log`, in its TSV layout (`#separator`, `#fields` and `#types` header lines,
//! `-` for unset, `(empty)` for empty) or as JSON lines with dotted keys. Columns are found
//! by name, so logs with or without the newer `ip_proto` column, or with extra policy
//! columns, read the same. Lines before any `#fields` header use Zeek's default layout.
//!
//! ```text
//! #fields ts          uid id.orig_h id.orig_p id.resp_h     id.resp_p proto duration orig_bytes resp_bytes ...
//! 1357002000.25       C1  10.0.0.1  5000      192.0.2.1     443       tcp   1.5      100        200        ...
//!   -> Flow { start_us: 1357002000250000, src: 10.0.0.1:5000, dst: 192.0.2.1:443, tcp, out 100, in 200, .. }
//! ```

use vedette_model::{Flow, Transport};

use super::values;
use super::zeek::{self, Record, ZeekKind};
use crate::Batch;

pub(crate) fn probe(head: &[u8]) -> bool {
    zeek::probe(head, "conn", &["id.orig_h", "conn_state"])
}

/// `conn.log` as a [`ZeekKind`]: one [`Flow`] per line.
pub(crate) enum Conn {}

pub(crate) type ZeekConn = zeek::ZeekLog<Conn>;

const TS: usize = 0;
const ORIG_H: usize = 1;
const ORIG_P: usize = 2;
const RESP_H: usize = 3;
const RESP_P: usize = 4;
const PROTO: usize = 5;
const DURATION: usize = 6;
const ORIG_BYTES: usize = 7;
const RESP_BYTES: usize = 8;
const ORIG_PKTS: usize = 9;
const RESP_PKTS: usize = 10;

impl ZeekKind for Conn {
    const FIELDS: &'static [&'static str] = &[
        "ts",
        "id.orig_h",
        "id.orig_p",
        "id.resp_h",
        "id.resp_p",
        "proto",
        "duration",
        "orig_bytes",
        "resp_bytes",
        "orig_pkts",
        "resp_pkts",
    ];
    const REQUIRED: &'static [usize] = &[TS, ORIG_H, RESP_H];
    const DEFAULT_FIELDS: &'static [&'static str] = &[
        "ts",
        "uid",
        "id.orig_h",
        "id.orig_p",
        "id.resp_h",
        "id.resp_p",
        "proto",
        "service",
        "duration",
        "orig_bytes",
        "resp_bytes",
        "conn_state",
        "local_orig",
        "local_resp",
        "missed_bytes",
        "history",
        "orig_pkts",
        "orig_ip_bytes",
        "resp_pkts",
        "resp_ip_bytes",
        "tunnel_parents",
    ];

    fn read<R: Record>(r: &R, out: &mut Batch) -> Result<bool, String> {
        let number = |slot: usize, name: &str| values::count(name, r.value(slot).as_deref());
        out.flows.push(Flow {
            start_us: zeek::time(r, TS)?,
            duration_us: match r.value(DURATION) {
                Some(d) => values::duration_micros(&d).ok_or_else(|| format!("duration: {d:?} is not a number"))?,
                None => 0,
            },
            src: zeek::ip(r, ORIG_H, "id.orig_h")?,
            src_port: zeek::port(r, ORIG_P, "id.orig_p")?,
            dst: zeek::ip(r, RESP_H, "id.resp_h")?,
            dst_port: zeek::port(r, RESP_P, "id.resp_p")?,
            transport: match r.get(PROTO) {
                Some(p) => Transport::from_name(&p).ok_or_else(|| format!("proto: {p:?} is not a protocol"))?,
                None => Transport(0),
            },
            bytes_out: number(ORIG_BYTES, "orig_bytes")?,
            bytes_in: number(RESP_BYTES, "resp_bytes")?,
            packets: number(ORIG_PKTS, "orig_pkts")?.saturating_add(number(RESP_PKTS, "resp_pkts")?),
        });
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use crate::formats::decode_all;
    use crate::Catalogue;

    fn decode(bytes: &[u8]) -> crate::Batch {
        let catalogue = Catalogue::builtin();
        decode_all(catalogue.get("zeek-conn").unwrap(), "conn.log", bytes)
    }

    #[test]
    fn tsv_with_ip_proto_column_and_bad_line() {
        let log = b"#separator \\x09\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tduration\torig_bytes\tresp_bytes\tconn_state\tip_proto\n1357380000.250000\tC1\t10.0.0.1\t5000\t192.0.2.1\t443\ttcp\t1.5\t100\t200\tSF\t6\n1357380001\tC2\t10.0.0.1\t5000\n";
        let out = decode(log);
        assert_eq!(out.flows.len(), 1);
        let f = out.flows[0];
        assert_eq!(f.start_us, 1_357_380_000_250_000);
        assert_eq!(f.duration_us, 1_500_000);
        assert_eq!(f.bytes(), 300);
        assert_eq!(out.rejected[0].line, 4);
        assert_eq!(out.rejected[0].reason, "expected 12 columns, found 4");
    }

    #[test]
    fn json_lines() {
        let out = decode(br#"{"ts":1357380000.5,"uid":"C","id.orig_h":"10.0.0.1","id.orig_p":1,"id.resp_h":"2001:db8::1","id.resp_p":53,"proto":"udp","conn_state":"SF"}"#);
        assert_eq!(out.flows.len(), 1, "{:?}", out.rejected);
        assert_eq!(out.flows[0].dst.to_string(), "2001:db8::1");
    }
}
