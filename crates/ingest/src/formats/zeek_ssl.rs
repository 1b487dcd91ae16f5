//! Zeek `ssl.log` (TSV or JSON lines; the header machinery is in [`super::zeek`]): one
//! [`TlsHello`] per line. `server_name` is the SNI; `ja3` is the column the `ja3` Zeek
//! package adds. Zeek's `cert_chain_fps` holds the chain's fingerprints in the hash
//! `X509::hash_function` names — SHA-256 unless set to SHA-1 — so the first one is taken
//! as the certificate's SHA-1 only when it has 40 hex digits; `cert_chain_fuids` (older
//! Zeek) holds file IDs, not hashes, and is not read.
//!
//! ```text
//! #fields ts uid id.orig_h id.orig_p id.resp_h id.resp_p version cipher curve server_name ... cert_chain_fps ... ja3 ja3s
//! 1357002000.1 C1 10.0.0.5 49152 198.51.100.7 443 TLSv12 ... Update.Example.net ... 3b5074b1b5d032e5620f69f9f700ff0e ...
//!   -> TlsHello { sni: Some("update.example.net"), ja3: Some("3b5074b1b5d032e5620f69f9f700ff0e"), cert_sha1: None, .. }
//! ```

use vedette_model::{normalise_name, Observation, TlsHello};

use super::values;
use super::zeek::{self, Record, ZeekKind};
use crate::Batch;

pub(crate) fn probe(head: &[u8]) -> bool {
    zeek::probe(head, "ssl", &["id.orig_h", "server_name", "cipher"])
}

/// `ssl.log` as a [`ZeekKind`].
pub(crate) enum Ssl {}

pub(crate) type ZeekSsl = zeek::ZeekLog<Ssl>;

const TS: usize = 0;
const ORIG_H: usize = 1;
const ORIG_P: usize = 2;
const RESP_H: usize = 3;
const RESP_P: usize = 4;
const SERVER_NAME: usize = 5;
const JA3: usize = 6;
const CERT_CHAIN_FPS: usize = 7;

impl ZeekKind for Ssl {
    const FIELDS: &'static [&'static str] =
        &["ts", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "server_name", "ja3", "cert_chain_fps"];
    const REQUIRED: &'static [usize] = &[TS, ORIG_H, RESP_H, SERVER_NAME];
    const DEFAULT_FIELDS: &'static [&'static str] = &[
        "ts",
        "uid",
        "id.orig_h",
        "id.orig_p",
        "id.resp_h",
        "id.resp_p",
        "version",
        "cipher",
        "curve",
        "server_name",
        "resumed",
        "last_alert",
        "next_protocol",
        "established",
        "ssl_history",
        "cert_chain_fps",
        "client_cert_chain_fps",
        "sni_matches_cert",
    ];

    fn read<R: Record>(r: &R, out: &mut Batch) -> Result<bool, String> {
        let (time_us, src, src_port) =
            (zeek::time(r, TS)?, zeek::ip(r, ORIG_H, "id.orig_h")?, zeek::port(r, ORIG_P, "id.orig_p")?);
        let (dst, dst_port) = (zeek::ip(r, RESP_H, "id.resp_h")?, zeek::port(r, RESP_P, "id.resp_p")?);
        let ja3 = match r.get(JA3) {
            Some(j) => Some(values::hex_digest(&j, 32).ok_or_else(|| format!("ja3: {j:?} is not an MD5 hash"))?),
            None => None,
        };
        let mut first_fingerprint = None;
        r.each(CERT_CHAIN_FPS, &mut |fp| {
            if first_fingerprint.is_none() {
                first_fingerprint = Some(values::hex_digest(fp, 40));
            }
        });
        out.observations.push(Observation::Tls(TlsHello {
            time_us,
            src,
            src_port,
            dst,
            dst_port,
            sni: r.get(SERVER_NAME).map(|s| normalise_name(&s)),
            ja3,
            cert_sha1: first_fingerprint.flatten(),
        }));
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use vedette_model::Observation;

    use crate::formats::decode_all;
    use crate::Catalogue;

    fn decode(bytes: &[u8]) -> crate::Batch {
        decode_all(Catalogue::builtin().get("zeek-ssl").unwrap(), "ssl.log", bytes)
    }

    #[test]
    fn sha1_fingerprints_are_kept_sha256_are_not() {
        let log = b"#separator \\x09\n#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tserver_name\tcert_chain_fps\tja3\n\
1357002000.5\t10.0.0.5\t49152\t198.51.100.7\t443\tUpdate.Example.net\t9086A43BF5CF1B2E4EF79796F9DEBAB96635863F,a580247a25324adf4add5af648de4ac5798030df\t3B5074B1B5D032E5620F69F9F700FF0E\n\
1357002001.5\t10.0.0.5\t49153\t198.51.100.7\t443\t-\ta580247a25324adf4add5af648de4ac5798030dfd622f26a5f2280d7528ae244\t-\n";
        let out = decode(log);
        assert!(out.rejected.is_empty(), "{:?}", out.rejected);
        let Observation::Tls(t) = &out.observations[0] else { panic!() };
        assert_eq!(t.sni.as_deref(), Some("update.example.net"));
        assert_eq!(t.cert_sha1.as_deref(), Some("9086a43bf5cf1b2e4ef79796f9debab96635863f"));
        assert_eq!(t.ja3.as_deref(), Some("3b5074b1b5d032e5620f69f9f700ff0e"));
        let Observation::Tls(t) = &out.observations[1] else { panic!() };
        assert_eq!((t.sni.as_deref(), t.cert_sha1.as_deref(), t.ja3.as_deref()), (None, None, None));
    }

    #[test]
    fn a_bad_ja3_is_refused_by_name() {
        let out = decode(br#"{"ts":1357002000.5,"id.orig_h":"10.0.0.5","id.resp_h":"198.51.100.7","server_name":"a.example","cipher":"x","ja3":"nope"}"#);
        assert_eq!(out.rejected[0].reason, "ja3: \"nope\" is not an MD5 hash");
    }
}
