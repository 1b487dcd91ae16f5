//! Zeek `http.log` (TSV or JSON lines; the header machinery is in [`super::zeek`]): one
//! [`HttpRequest`] per line, from `host`, `uri`, `method` and `user_agent`. A request
//! without a `Host` header (HTTP/1.0) or a reply Zeek saw without its request still says
//! who talked to whom, so it is kept, with an empty host or URI.
//!
//! ```text
//! #fields ts uid id.orig_h id.orig_p id.resp_h id.resp_p trans_depth method host uri referrer version user_agent ...
//! 1357002000.1 C1 10.0.0.5 49152 198.51.100.7 80 1 POST Gate.Example.net:8080 /gate.php - 1.1 Mozilla/4.0 ...
//!   -> HttpRequest { host: "gate.example.net", uri: "/gate.php", method: Some("POST"), .. }
//! ```

use vedette_model::{HttpRequest, Observation};

use super::values;
use super::zeek::{self, Record, ZeekKind};
use crate::Batch;

pub(crate) fn probe(head: &[u8]) -> bool {
    zeek::probe(head, "http", &["id.orig_h", "uri", "trans_depth"])
}

/// `http.log` as a [`ZeekKind`].
pub(crate) enum Http {}

pub(crate) type ZeekHttp = zeek::ZeekLog<Http>;

const TS: usize = 0;
const ORIG_H: usize = 1;
const ORIG_P: usize = 2;
const RESP_H: usize = 3;
const RESP_P: usize = 4;
const HOST: usize = 5;
const URI: usize = 6;
const METHOD: usize = 7;
const USER_AGENT: usize = 8;

impl ZeekKind for Http {
    const FIELDS: &'static [&'static str] =
        &["ts", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "host", "uri", "method", "user_agent"];
    const REQUIRED: &'static [usize] = &[TS, ORIG_H, RESP_H, HOST, URI];
    const DEFAULT_FIELDS: &'static [&'static str] = &[
        "ts",
        "uid",
        "id.orig_h",
        "id.orig_p",
        "id.resp_h",
        "id.resp_p",
        "trans_depth",
        "method",
        "host",
        "uri",
        "referrer",
        "version",
        "user_agent",
        "origin",
        "request_body_len",
        "response_body_len",
        "status_code",
        "status_msg",
        "info_code",
        "info_msg",
        "tags",
        "username",
        "password",
        "proxied",
        "orig_fuids",
        "orig_filenames",
        "orig_mime_types",
        "resp_fuids",
        "resp_filenames",
        "resp_mime_types",
    ];

    fn read<R: Record>(r: &R, out: &mut Batch) -> Result<bool, String> {
        out.observations.push(Observation::Http(HttpRequest {
            time_us: zeek::time(r, TS)?,
            src: zeek::ip(r, ORIG_H, "id.orig_h")?,
            src_port: zeek::port(r, ORIG_P, "id.orig_p")?,
            dst: zeek::ip(r, RESP_H, "id.resp_h")?,
            dst_port: zeek::port(r, RESP_P, "id.resp_p")?,
            host: r.get(HOST).map_or_else(|| "".into(), |h| values::host(&h)),
            uri: r.get(URI).map_or_else(|| "".into(), |u| u.into()),
            method: r.get(METHOD).map(|m| m.into()),
            user_agent: r.get(USER_AGENT).map(|u| u.into()),
        }));
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use vedette_model::Observation;

    use crate::formats::decode_all;
    use crate::Catalogue;

    #[test]
    fn escaped_user_agent_and_port_in_host() {
        let log = b"#separator \\x09\n#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tmethod\thost\turi\tuser_agent\n1357002000.5\t10.0.0.5\t49152\t198.51.100.7\t8080\tGET\tGate.Example.net:8080\t/gate.php?id=1\tMozilla/4.0\\x09(x)\n";
        let out = decode_all(Catalogue::builtin().get("zeek-http").unwrap(), "http.log", log);
        let Observation::Http(h) = &out.observations[0] else { panic!("{:?}", out.rejected) };
        assert_eq!(&*h.host, "gate.example.net");
        assert_eq!(&*h.uri, "/gate.php?id=1");
        assert_eq!(h.user_agent.as_deref(), Some("Mozilla/4.0\t(x)"));
        assert_eq!(h.dst_port, 8080);
    }
}
