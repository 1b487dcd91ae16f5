use std::net::IpAddr;

/// The transport protocol of a flow (IANA protocol number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transport(pub u8);

impl Transport {
    pub const ICMP: Transport = Transport(1);
    pub const TCP: Transport = Transport(6);
    pub const UDP: Transport = Transport(17);

    /// The name Zeek and IntelMQ use (`tcp`, `udp`, `icmp`), else the number.
    pub fn name(self) -> std::borrow::Cow<'static, str> {
        match self.0 {
            1 => "icmp".into(),
            6 => "tcp".into(),
            17 => "udp".into(),
            58 => "icmp6".into(),
            n => n.to_string().into(),
        }
    }

    pub fn from_name(name: &str) -> Option<Transport> {
        match name.trim().to_ascii_lowercase().as_str() {
            "tcp" => Some(Transport::TCP),
            "udp" => Some(Transport::UDP),
            "icmp" => Some(Transport::ICMP),
            "icmp6" | "ipv6-icmp" => Some(Transport(58)),
            "unknown_transport" => Some(Transport(0)),
            other => other.parse().ok().map(Transport),
        }
    }
}

/// One connection seen in telemetry (a NetFlow record, a Zeek conn.log line, an EVE flow).
///
/// Telemetry is far too large to store record by record, so a flow is a small `Copy`
/// value with no heap data: it streams through detection and leaves findings and counters
/// behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    /// Start of the connection, microseconds since the Unix epoch (UTC).
    pub start_us: i64,
    pub duration_us: u64,
    pub src: IpAddr,
    pub src_port: u16,
    pub dst: IpAddr,
    pub dst_port: u16,
    pub transport: Transport,
    /// Payload bytes sent by the originator and by the responder.
    pub bytes_out: u64,
    pub bytes_in: u64,
    pub packets: u64,
}

impl Flow {
    pub fn bytes(&self) -> u64 {
        self.bytes_out.saturating_add(self.bytes_in)
    }
}
