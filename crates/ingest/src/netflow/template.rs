//! Templates compiled into plans, and the bounded cache that holds them.
//!
//! A template is read once and turned into a [`Plan`]: for each value Vedette needs
//! (addresses, ports, protocol, counters, times) the byte offset and length inside a data
//! record. Reading a record is then a handful of fixed-offset loads, with no per-field
//! loop and no lookup; the template itself is looked up once per data set.

use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use vedette_model::{Flow, Transport};

use vedette_model::fast_hash::FastMap;

/// A field length that announces a variable-length field (IPFIX, RFC 7011 §7).
pub(crate) const VARIABLE: u16 = 0xFFFF;

/// The private enterprise number of RFC 5103's reverse (biflow) information elements.
const REVERSE_PEN: u32 = 29305;

/// Seconds between the NTP era (1900) and the Unix epoch, for `dateTimeMicroseconds` and
/// `dateTimeNanoseconds`, which are NTP timestamps.
const NTP_UNIX_OFFSET_S: i64 = 2_208_988_800;

/// A field as a template declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FieldSpec {
    pub id: u16,
    /// Private enterprise number; 0 for the IANA elements.
    pub pen: u32,
    /// Length in bytes, or [`VARIABLE`].
    pub len: u16,
}

/// Where one value sits in a record; `len == 0` means the template lacks it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Slot {
    pub off: u16,
    pub len: u16,
}

// Indexes into the slot array. An array rather than named fields so a variable-length
// template can fill it by walking its fields (`walk` maps each field to a slot number).
const SRC4: usize = 0;
const DST4: usize = 1;
const SRC6: usize = 2;
const DST6: usize = 3;
const SRC_PORT: usize = 4;
const DST_PORT: usize = 5;
const PROTO: usize = 6;
const OCTETS: usize = 7;
const PACKETS: usize = 8;
const REV_OCTETS: usize = 9;
const REV_PACKETS: usize = 10;
const ICMP_TYPE_CODE: usize = 11;
const ICMP_TYPE: usize = 12;
const ICMP_CODE: usize = 13;
const START: usize = 14;
const END: usize = 15;
const DURATION: usize = 16;
const SYS_INIT: usize = 17;
const SLOTS: usize = 18;
/// "This field fills no slot", in `walk`.
const NO_SLOT: u8 = u8::MAX;

type Slots = [Slot; SLOTS];

/// How a time field counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum TimeKind {
    #[default]
    Absent,
    /// Milliseconds of system uptime (v5/v9 First/Last, IPFIX 21/22).
    Uptime,
    Seconds,
    Millis,
    /// NTP timestamp (IPFIX `dateTimeMicroseconds`).
    NtpMicros,
    /// NTP timestamp (IPFIX `dateTimeNanoseconds`), kept to the microsecond.
    NtpNanos,
    /// Microseconds before the message's export time (IPFIX 158/159).
    DeltaMicros,
}

/// Which address family a template's records carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Addresses {
    None,
    V4,
    V6,
    /// Both families declared (some exporters send one template for all); the record's
    /// non-zero IPv4 pair wins, else the IPv6 pair.
    Both,
}

/// Why a template could not be compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CompileError {
    /// Every field has length 0: records would be empty and a data set would never end.
    EmptyRecord,
    /// The fixed part alone is longer than any set can be.
    RecordTooLong(usize),
}

/// A compiled template.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub options: bool,
    /// Record length when every field is fixed-length, else 0.
    pub fixed_len: usize,
    /// The shortest possible record (a variable-length field takes at least its length
    /// byte); never 0, so walking a set always advances.
    pub min_len: usize,
    slots: Slots,
    addresses: Addresses,
    start: TimeKind,
    end: TimeKind,
    /// Flow duration field (161 ms or 162 µs), a fallback when one end time is missing.
    duration_micros: bool,
    /// Variable-length templates only: each field's length and the slot it fills.
    walk: Box<[(u16, u8)]>,
    /// The slots as 8-byte loads, for [`Plan::read_fixed`].
    wide: [Wide; SLOTS],
    icmp: Icmp,
    /// Whether the template has the common layout's lengths (see [`common_len`]): then
    /// [`Plan::read_fixed`] reads those fields with lengths known when compiling Vedette.
    common: bool,
}

/// Rank of a field for a slot (lower wins) and its time kind, or `None` if Vedette does
/// not read it.
fn classify(spec: &FieldSpec) -> Option<(usize, u8, TimeKind)> {
    use TimeKind::*;
    let t = |slot, rank, kind| Some((slot, rank, kind));
    let n = |slot, rank| Some((slot, rank, Absent));
    if spec.pen == REVERSE_PEN {
        return match spec.id {
            1 => n(REV_OCTETS, 0),
            85 => n(REV_OCTETS, 1),
            2 => n(REV_PACKETS, 0),
            86 => n(REV_PACKETS, 1),
            _ => None,
        };
    }
    if spec.pen != 0 {
        return None;
    }
    match spec.id {
        8 => n(SRC4, 0),
        12 => n(DST4, 0),
        27 => n(SRC6, 0),
        28 => n(DST6, 0),
        7 => n(SRC_PORT, 0),
        11 => n(DST_PORT, 0),
        4 => n(PROTO, 0),
        // octetDeltaCount, then the total, then v9's OUT_BYTES for egress-only exporters.
        1 => n(OCTETS, 0),
        85 => n(OCTETS, 1),
        23 => n(OCTETS, 2),
        2 => n(PACKETS, 0),
        86 => n(PACKETS, 1),
        24 => n(PACKETS, 2),
        32 | 139 => n(ICMP_TYPE_CODE, 0),
        176 | 178 => n(ICMP_TYPE, 0),
        177 | 179 => n(ICMP_CODE, 0),
        // The most precise clock the template offers wins.
        156 => t(START, 0, NtpNanos),
        154 => t(START, 1, NtpMicros),
        152 => t(START, 2, Millis),
        150 => t(START, 3, Seconds),
        158 => t(START, 4, DeltaMicros),
        22 => t(START, 5, Uptime),
        157 => t(END, 0, NtpNanos),
        155 => t(END, 1, NtpMicros),
        153 => t(END, 2, Millis),
        151 => t(END, 3, Seconds),
        159 => t(END, 4, DeltaMicros),
        21 => t(END, 5, Uptime),
        // flowDurationMicroseconds / Milliseconds; only the unit is kept from the kind.
        162 => t(DURATION, 0, DeltaMicros),
        161 => t(DURATION, 1, Millis),
        160 => n(SYS_INIT, 0),
        _ => None,
    }
}

/// Whether a field of this length can fill this slot.
fn fits(slot: usize, len: u16) -> bool {
    match slot {
        SRC4 | DST4 => len == 4,
        SRC6 | DST6 => len == 16,
        _ => (1..=8).contains(&len),
    }
}

impl Plan {
    /// Compiles a template's fields. `options` marks an options template: its records are
    /// learned (systemInitTimeMilliseconds) and skipped, never turned into flows.
    pub fn compile(fields: &[FieldSpec], options: bool) -> Result<Plan, CompileError> {
        let mut slots = Slots::default();
        let mut ranks = [u8::MAX; SLOTS];
        let mut kinds = [TimeKind::Absent; SLOTS];
        let mut walk = Vec::with_capacity(fields.len());
        let mut off = 0usize;
        let mut variable = false;
        let mut min_len = 0usize;
        for spec in fields {
            let mut slot_no = NO_SLOT;
            if let Some((slot, rank, kind)) = classify(spec) {
                if spec.len != VARIABLE && fits(slot, spec.len) && rank < ranks[slot] {
                    ranks[slot] = rank;
                    kinds[slot] = kind;
                    // The offset only matters for fixed-length templates; a variable one
                    // recomputes it per record from `walk`.
                    slots[slot] = Slot { off: u16::try_from(off).unwrap_or(0), len: spec.len };
                    slot_no = slot as u8;
                }
            }
            walk.push((spec.len, slot_no));
            if spec.len == VARIABLE {
                variable = true;
                min_len += 1;
            } else {
                off += usize::from(spec.len);
                min_len += usize::from(spec.len);
            }
        }
        // A record has to fit in a set: 65535 bytes less the set header.
        if min_len > usize::from(u16::MAX) - 4 {
            return Err(CompileError::RecordTooLong(min_len));
        }
        if min_len == 0 {
            return Err(CompileError::EmptyRecord);
        }
        // A slot keeps only its best field (the first of equals, as in the fixed layout):
        // drop the other marks from the walk table.
        let mut claimed = [false; SLOTS];
        for (entry, spec) in walk.iter_mut().zip(fields) {
            let slot = usize::from(entry.1);
            if entry.1 != NO_SLOT {
                let best = classify(spec).is_some_and(|(_, rank, _)| rank == ranks[slot]);
                if best && !claimed[slot] {
                    claimed[slot] = true;
                } else {
                    entry.1 = NO_SLOT;
                }
            }
        }
        let has = |s: usize| slots[s].len != 0;
        let addresses = match (has(SRC4) || has(DST4), has(SRC6) || has(DST6)) {
            (false, false) => Addresses::None,
            (true, false) => Addresses::V4,
            (false, true) => Addresses::V6,
            (true, true) => Addresses::Both,
        };
        let icmp = if has(SRC_PORT) || has(DST_PORT) {
            Icmp::Ports
        } else if has(ICMP_TYPE_CODE) {
            Icmp::TypeCode
        } else if has(ICMP_TYPE) || has(ICMP_CODE) {
            Icmp::Split
        } else {
            Icmp::Ports
        };
        let len = |s: usize| slots[s].len;
        let times = match (kinds[START], kinds[END]) {
            (TimeKind::Millis, TimeKind::Millis) => Some(T_MILLIS),
            (TimeKind::Uptime, TimeKind::Uptime) => Some(T_UPTIME),
            _ => None,
        };
        let common = icmp == Icmp::Ports
            && len(REV_OCTETS) == 0
            && len(REV_PACKETS) == 0
            && match addresses {
                Addresses::V4 => len(SRC4) == 4 && len(DST4) == 4,
                Addresses::V6 => len(SRC6) == 16 && len(DST6) == 16,
                _ => false,
            }
            && times.is_some_and(|t| {
                [SRC_PORT, DST_PORT, PROTO, OCTETS, PACKETS, START, END]
                    .iter()
                    .all(|&s| usize::from(len(s)) == common_len(s, t))
            });
        Ok(Plan {
            wide: slots.map(Wide::of),
            icmp,
            common,
            options,
            fixed_len: if variable { 0 } else { min_len },
            min_len,
            slots,
            addresses,
            start: kinds[START],
            end: kinds[END],
            duration_micros: kinds[DURATION] == TimeKind::DeltaMicros,
            walk: if variable { walk.into_boxed_slice() } else { Box::default() },
        })
    }

    /// Whether this plan's records give flows (an options template's never do, nor does a
    /// template without addresses).
    pub fn gives_flows(&self) -> bool {
        !self.options && self.addresses != Addresses::None
    }

    /// Fixed-length templates: the slot offsets, the same for every record.
    pub fn fixed_slots(&self) -> &Slots {
        &self.slots
    }

    /// Variable-length templates: the length of the record at the start of `body` and
    /// where its values sit, or `None` if the record runs past the end of `body`.
    pub fn walk_record(&self, body: &[u8]) -> Option<(usize, Slots)> {
        let mut slots = self.slots;
        let mut pos = 0usize;
        for &(len, slot) in self.walk.iter() {
            let len = if len == VARIABLE {
                let first = *body.get(pos)?;
                if first < 255 {
                    pos += 1;
                    usize::from(first)
                } else {
                    let b = body.get(pos + 1..pos + 3)?;
                    pos += 3;
                    usize::from(u16::from_be_bytes([b[0], b[1]]))
                }
            } else {
                usize::from(len)
            };
            if slot != NO_SLOT {
                // Records are inside a set, so offsets fit in 16 bits.
                slots[usize::from(slot)].off = u16::try_from(pos).ok()?;
            }
            pos = pos.checked_add(len)?;
            if pos > body.len() {
                return None;
            }
        }
        Some((pos, slots))
    }

    /// The systemInitTimeMilliseconds of an options record, in microseconds.
    pub fn system_init_us(&self, rec: &[u8], slots: &Slots) -> Option<i64> {
        let s = slots[SYS_INIT];
        (s.len != 0).then(|| i64::try_from(uint(rec, s)).unwrap_or(0).saturating_mul(1000))
    }

    /// The flow a data record describes (the general path: any layout, slots given per
    /// record), or `None` if the template names no address.
    #[inline]
    pub fn flow(&self, rec: &[u8], slots: &Slots, time: &TimeBase) -> Option<Flow> {
        let (src, dst) = match self.addresses {
            Addresses::V4 => (IpAddr::V4(v4(rec, slots[SRC4])), IpAddr::V4(v4(rec, slots[DST4]))),
            Addresses::V6 => (IpAddr::V6(v6(rec, slots[SRC6])), IpAddr::V6(v6(rec, slots[DST6]))),
            Addresses::Both => {
                let (s4, d4) = (v4(rec, slots[SRC4]), v4(rec, slots[DST4]));
                if s4.is_unspecified() && d4.is_unspecified() {
                    (IpAddr::V6(v6(rec, slots[SRC6])), IpAddr::V6(v6(rec, slots[DST6])))
                } else {
                    (IpAddr::V4(s4), IpAddr::V4(d4))
                }
            }
            Addresses::None => return None,
        };
        let get = |slot: usize| uint(rec, slots[slot]);
        let (start_us, duration_us) = self.times(get(START), get(END), get(DURATION), time);
        Some(build::<true>(self.icmp, src, dst, get, start_us, duration_us))
    }

    /// Whether [`Plan::read_fixed`] can read this template's records.
    pub fn fast(&self) -> bool {
        self.fixed_len != 0 && self.fixed_len + 8 <= FAST_MAX && self.gives_flows()
    }

    /// Reads every record of a data set of a fixed-length template (see [`Plan::fast`])
    /// into `out`; returns the record count. The bytes after the last whole record are
    /// padding.
    ///
    /// The hot path. Each value is one unaligned 8-byte big-endian load, shifted and
    /// masked to the field's length (so reduced-size fields cost the same, with no branch
    /// on the length), and the address family, the time encoding and the presence of
    /// reverse counters are fixed once per set by monomorphisation, so the loop has no
    /// per-field dispatch.
    pub fn read_fixed(&self, body: &[u8], time: &TimeBase, out: &mut Vec<Flow>) -> usize {
        const V4: u8 = 0;
        const V6: u8 = 1;
        const BOTH: u8 = 2;
        let header_uptime = time.header_uptime && self.start == TimeKind::Uptime && self.end == TimeKind::Uptime;
        let millis = self.start == TimeKind::Millis && self.end == TimeKind::Millis;
        let t = if header_uptime {
            T_UPTIME
        } else if millis {
            T_MILLIS
        } else {
            T_ANY
        };
        let a = match self.addresses {
            Addresses::V4 => V4,
            Addresses::V6 => V6,
            _ => BOTH,
        };
        // Biflow (reverse) counters are rare: without them, two loads a record fewer.
        let rev = self.slots[REV_OCTETS].len != 0 || self.slots[REV_PACKETS].len != 0;
        // The common layout in a small window: most exporters' records.
        let common = self.common && t != T_ANY && self.fixed_len <= 128;
        match (a, t, rev) {
            (V4, T_UPTIME, false) if common => self.sized_loop::<V4, T_UPTIME, false, true>(body, time, out),
            (V4, T_MILLIS, false) if common => self.sized_loop::<V4, T_MILLIS, false, true>(body, time, out),
            (V6, T_UPTIME, false) if common => self.sized_loop::<V6, T_UPTIME, false, true>(body, time, out),
            (V6, T_MILLIS, false) if common => self.sized_loop::<V6, T_MILLIS, false, true>(body, time, out),
            (V4, T_UPTIME, false) => self.sized_loop::<V4, T_UPTIME, false, false>(body, time, out),
            (V4, T_MILLIS, false) => self.sized_loop::<V4, T_MILLIS, false, false>(body, time, out),
            (V6, T_UPTIME, false) => self.sized_loop::<V6, T_UPTIME, false, false>(body, time, out),
            (V6, T_MILLIS, false) => self.sized_loop::<V6, T_MILLIS, false, false>(body, time, out),
            (V4, T_UPTIME, _) => self.sized_loop::<V4, T_UPTIME, true, false>(body, time, out),
            (V4, T_MILLIS, _) => self.sized_loop::<V4, T_MILLIS, true, false>(body, time, out),
            (V4, _, _) => self.sized_loop::<V4, T_ANY, true, false>(body, time, out),
            (V6, T_UPTIME, _) => self.sized_loop::<V6, T_UPTIME, true, false>(body, time, out),
            (V6, T_MILLIS, _) => self.sized_loop::<V6, T_MILLIS, true, false>(body, time, out),
            (V6, _, _) => self.sized_loop::<V6, T_ANY, true, false>(body, time, out),
            _ => self.sized_loop::<BOTH, T_ANY, true, false>(body, time, out),
        }
    }

    /// [`Plan::fixed_loop`] with the smallest window that holds a record.
    #[inline(always)]
    fn sized_loop<const ADDR: u8, const TIME: u8, const REV: bool, const COMMON: bool>(
        &self,
        body: &[u8],
        time: &TimeBase,
        out: &mut Vec<Flow>,
    ) -> usize {
        // softflowd's records are 42–74 bytes; the two small windows cover them and leave
        // fewer records to the padded copy at the end of a set.
        match self.fixed_len {
            0..=64 => self.fixed_loop::<ADDR, TIME, REV, COMMON, 64, { 64 + WINDOW_SLACK }>(body, time, out),
            65..=128 => self.fixed_loop::<ADDR, TIME, REV, COMMON, 128, { 128 + WINDOW_SLACK }>(body, time, out),
            // (Never the common layout: `read_fixed` keeps it to 128 bytes.)
            _ => self.fixed_loop::<ADDR, TIME, REV, false, FAST_MAX, { FAST_MAX + WINDOW_SLACK }>(body, time, out),
        }
    }

    /// Reads the records through windows of `S = W + WINDOW_SLACK` bytes: the record
    /// (at most `W` bytes) and what follows it. Each offset is masked to `W - 1` (which
    /// leaves it unchanged, as every field lies inside the record), so the compiler sees
    /// that every load stays inside the window: no bounds check per value.
    #[inline(always)]
    fn fixed_loop<
        const ADDR: u8,
        const TIME: u8,
        const REV: bool,
        const COMMON: bool,
        const W: usize,
        const S: usize,
    >(
        &self,
        body: &[u8],
        time: &TimeBase,
        out: &mut Vec<Flow>,
    ) -> usize {
        const { assert!(W.is_power_of_two() && S == W + WINDOW_SLACK) };
        let len = self.fixed_len;
        // A record is read in place while the set has a whole window from its start, and
        // the last few, which lack it, copied into a zero-padded window first.
        let n = body.len() / len;
        let in_place = if body.len() >= S { ((body.len() - S) / len + 1).min(n) } else { 0 };
        let w = &self.wide;
        let read = |rec: &[u8; S]| {
            let get = |slot: usize| match common_len(slot, TIME) {
                // A length known here: a load shifted by a constant, no mask.
                len @ 1.. if COMMON => load_exact::<W, S>(rec, w[slot].off, len),
                _ => load::<W, S>(rec, w[slot]),
            };
            let v6 = |slot: usize| window_v6::<W, S>(rec, self.slots[slot]);
            let (src, dst) = match ADDR {
                0 => (IpAddr::V4(Ipv4Addr::from(get(SRC4) as u32)), IpAddr::V4(Ipv4Addr::from(get(DST4) as u32))),
                1 => (IpAddr::V6(v6(SRC6)), IpAddr::V6(v6(DST6))),
                _ => {
                    let (s4, d4) = (get(SRC4) as u32, get(DST4) as u32);
                    if s4 == 0 && d4 == 0 {
                        (IpAddr::V6(v6(SRC6)), IpAddr::V6(v6(DST6)))
                    } else {
                        (IpAddr::V4(Ipv4Addr::from(s4)), IpAddr::V4(Ipv4Addr::from(d4)))
                    }
                }
            };
            let (first, last) = (get(START), get(END));
            let (start_us, duration_us) = match TIME {
                T_UPTIME => {
                    let (s, e) = (time.uptime_us(first as u32), time.uptime_us(last as u32));
                    (s, u64::try_from(e - s).unwrap_or(0))
                }
                T_MILLIS => {
                    let (s, e) = (millis_us(first), millis_us(last));
                    (s, u64::try_from(e.saturating_sub(s)).unwrap_or(0))
                }
                _ => self.times(first, last, get(DURATION), time),
            };
            // The common layout has ports (no ICMP type/code fields): a constant here.
            let icmp = if COMMON { Icmp::Ports } else { self.icmp };
            build::<REV>(icmp, src, dst, get, start_us, duration_us)
        };
        out.reserve(n);
        // The set's last `S` bytes (or all of a shorter set) and zeros after them: the
        // windows of the records that lack one in place. One copy of a constant length
        // per set, rather than one memcpy call per record.
        let mut pad = [[0u8; S]; 2];
        let base = match body.last_chunk::<S>() {
            Some(tail) => {
                pad[0] = *tail;
                body.len() - S
            }
            None => {
                pad.as_flattened_mut()[..body.len()].copy_from_slice(body);
                0
            }
        };
        let pad = pad.as_flattened();
        // A counted range: `extend` writes each flow with no capacity check. (Every
        // window is there; the fallbacks are never taken.)
        let window = |from: &'_ [u8], at: usize| from.get(at..).and_then(<[u8]>::first_chunk).map(read);
        let zero = [0u8; S];
        out.extend((0..in_place).map(|i| window(body, i * len).unwrap_or_else(|| read(&zero))));
        out.extend((in_place..n).map(|i| window(pad, i * len - base).unwrap_or_else(|| read(&zero))));
        n
    }

    /// Start (µs since the epoch) and duration from a record's raw time values.
    #[inline]
    fn times(&self, first: u64, last: u64, duration: u64, time: &TimeBase) -> (i64, u64) {
        let duration = if self.duration_micros { duration } else { duration.saturating_mul(1000) };
        // Uptime-relative times with no known boot time (IPFIX 21/22 without
        // systemInitTimeMilliseconds): the span is still known, so the flow is placed
        // as ending at the export time.
        if self.start == TimeKind::Uptime && self.end == TimeKind::Uptime && !time.uptime_known() {
            let span = last.saturating_sub(first).saturating_mul(1000);
            return (time.export_us.saturating_sub(i64::try_from(span).unwrap_or(i64::MAX)), span);
        }
        let start = time.at(self.start, first);
        let end = time.at(self.end, last);
        match (start, end) {
            (Some(s), Some(e)) => (s, u64::try_from(e.saturating_sub(s)).unwrap_or(0)),
            (Some(s), None) => (s, duration),
            (None, Some(e)) => (e.saturating_sub(i64::try_from(duration).unwrap_or(i64::MAX)), duration),
            (None, None) => (time.export_us, duration),
        }
    }
}

/// Time encodings [`Plan::read_fixed`] specialises for: v5/v9 uptimes against the
/// header, IPFIX milliseconds (softflowd's), anything else.
const T_UPTIME: u8 = 0;
const T_MILLIS: u8 = 1;
const T_ANY: u8 = 2;

/// Records up to this long, plus 8 bytes of slack, take the fast path.
const FAST_MAX: usize = 512;

/// Where a record keeps ICMP type and code, when it has no port fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Icmp {
    /// Ports (or nothing): read as they are.
    Ports,
    /// One `type << 8 | code` field (v9 ICMP_TYPE, IPFIX icmpTypeCodeIPv4/IPv6).
    TypeCode,
    /// Separate type and code fields.
    Split,
}

/// A slot as an 8-byte big-endian load at `off`, shifted right and masked to the
/// field's 1 to 8 bytes; an absent slot has mask 0 and reads 0.
#[derive(Debug, Clone, Copy, Default)]
struct Wide {
    off: u16,
    shift: u8,
    mask: u64,
}

impl Wide {
    fn of(slot: Slot) -> Wide {
        match slot.len {
            len @ 1..=8 => Wide {
                off: slot.off,
                shift: (8 - len as u8) * 8,
                mask: if len == 8 { u64::MAX } else { (1u64 << (8 * len)) - 1 },
            },
            _ => Wide::default(),
        }
    }
}

/// Bytes a window holds beyond its record: the widest load (an IPv6 address) that starts
/// on the record's last byte stays inside.
const WINDOW_SLACK: usize = 16;

/// Reads a [`Wide`] slot from a window of [`Plan::fixed_loop`].
#[inline(always)]
fn load<const W: usize, const S: usize>(rec: &[u8; S], w: Wide) -> u64 {
    let at = usize::from(w.off) & (W - 1);
    match rec[at..].first_chunk::<8>() {
        Some(b) => (u64::from_be_bytes(*b) >> w.shift) & w.mask,
        None => 0,
    }
}

/// Reads a field of `len` bytes (1 to 8, a constant once inlined) at `off` from a window
/// of [`Plan::fixed_loop`].
#[inline(always)]
fn load_exact<const W: usize, const S: usize>(rec: &[u8; S], off: u16, len: usize) -> u64 {
    let at = usize::from(off) & (W - 1);
    match rec[at..].first_chunk::<8>() {
        Some(b) => u64::from_be_bytes(*b) >> (64 - 8 * len),
        None => 0,
    }
}

/// The common layout: the lengths most exporters give the fields Vedette reads
/// (softflowd's IPFIX and v9 templates, Cisco's v9): 2-byte ports, 1-byte protocol,
/// 4-byte octet and packet counters, 8-byte millisecond or 4-byte uptime times (by
/// `time`, a `T_` constant). Each slot's length, or 0 for a slot outside it.
const fn common_len(slot: usize, time: u8) -> usize {
    match slot {
        SRC_PORT | DST_PORT => 2,
        PROTO => 1,
        SRC4 | DST4 | OCTETS | PACKETS => 4,
        START | END if time == T_MILLIS => 8,
        START | END if time == T_UPTIME => 4,
        _ => 0,
    }
}

/// Reads an IPv6 address slot from a window of [`Plan::fixed_loop`], as [`v6`] does.
#[inline(always)]
fn window_v6<const W: usize, const S: usize>(rec: &[u8; S], s: Slot) -> Ipv6Addr {
    let at = usize::from(s.off) & (W - 1);
    match rec[at..].first_chunk::<16>() {
        Some(b) if s.len == 16 => Ipv6Addr::from(*b),
        _ => Ipv6Addr::UNSPECIFIED,
    }
}

/// The fields every path reads the same way: protocol, ports, counters. `REV`: the
/// template may have reverse counters (else they are 0 and not read).
#[inline(always)]
fn build<const REV: bool>(
    icmp: Icmp,
    src: IpAddr,
    dst: IpAddr,
    get: impl Fn(usize) -> u64,
    start_us: i64,
    duration_us: u64,
) -> Flow {
    let proto = get(PROTO) as u8;
    let (mut src_port, mut dst_port) = (get(SRC_PORT) as u16, get(DST_PORT) as u16);
    match icmp {
        Icmp::Ports => {}
        // ICMP templates carry type and code instead of ports.
        Icmp::TypeCode => dst_port = get(ICMP_TYPE_CODE) as u16,
        Icmp::Split => dst_port = (get(ICMP_TYPE) as u16) << 8 | (get(ICMP_CODE) as u16 & 0xff),
    }
    icmp_ports(proto, &mut src_port, &mut dst_port);
    let (bytes_in, rev_packets) = if REV { (get(REV_OCTETS), get(REV_PACKETS)) } else { (0, 0) };
    Flow {
        start_us,
        duration_us,
        src,
        src_port,
        dst,
        dst_port,
        transport: Transport(proto),
        bytes_out: get(OCTETS),
        bytes_in,
        packets: get(PACKETS).saturating_add(rev_packets),
    }
}

/// Zeek's convention for ICMP, which the rest of Vedette reads: type in the source port,
/// code in the destination port. NetFlow exporters put `type << 8 | code` in the
/// destination port (v5, Cisco v9, softflowd's ICMP_TYPE).
#[inline]
pub(crate) fn icmp_ports(proto: u8, src_port: &mut u16, dst_port: &mut u16) {
    if (proto == 1 || proto == 58) && *src_port == 0 {
        *src_port = *dst_port >> 8;
        *dst_port &= 0xff;
    }
}

/// What a message header says about time, for turning record times into microseconds
/// since the Unix epoch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeBase {
    /// Export time of the message.
    pub export_us: i64,
    /// v5/v9: the header's sysUptime (ms), against which First/Last are read.
    pub uptime_ms: u32,
    /// v5/v9: uptimes are read against the header; IPFIX: against `init_us`.
    pub header_uptime: bool,
    /// IPFIX: the exporter's boot time (systemInitTimeMilliseconds), when it sent one.
    pub init_us: Option<i64>,
}

impl TimeBase {
    fn uptime_known(&self) -> bool {
        self.header_uptime || self.init_us.is_some()
    }

    /// A v5/v9 uptime (ms) as a time: sysUptime wraps every 49.7 days, and the
    /// difference read as signed 32 bits survives a wrap between the flow's start and the
    /// export, and a flow stamped a little after the header (clock jitter) too.
    #[inline(always)]
    fn uptime_us(&self, t: u32) -> i64 {
        self.export_us.saturating_sub(i64::from(self.uptime_ms.wrapping_sub(t) as i32) * 1000)
    }

    #[inline]
    fn at(&self, kind: TimeKind, raw: u64) -> Option<i64> {
        let signed = || i64::try_from(raw).unwrap_or(i64::MAX);
        match kind {
            TimeKind::Absent => None,
            TimeKind::Millis => Some(millis_us(raw)),
            TimeKind::Uptime => {
                if self.header_uptime {
                    Some(self.uptime_us(raw as u32))
                } else {
                    self.init_us.map(|init| init.saturating_add(signed().saturating_mul(1000)))
                }
            }
            TimeKind::Seconds => Some(signed().saturating_mul(1_000_000)),
            TimeKind::NtpMicros | TimeKind::NtpNanos => {
                let secs = (raw >> 32) as i64 - NTP_UNIX_OFFSET_S;
                let frac_us = ((raw & 0xFFFF_FFFF) * 1_000_000) >> 32;
                Some(secs * 1_000_000 + frac_us as i64)
            }
            TimeKind::DeltaMicros => Some(self.export_us.saturating_sub(signed())),
        }
    }
}

/// Milliseconds since the epoch as microseconds, saturating (the raw value is untrusted).
/// Written as one comparison rather than a checked conversion and a saturating multiply:
/// the same values, fewer instructions on the hot path, and a result the compiler knows
/// is never negative (so a difference of two needs no overflow check).
#[inline(always)]
fn millis_us(raw: u64) -> i64 {
    const LIMIT: u64 = i64::MAX as u64 / 1000;
    if raw <= LIMIT {
        raw as i64 * 1000
    } else {
        i64::MAX
    }
}

/// A big-endian unsigned integer of 1 to 8 bytes (reduced-size encoding, RFC 7011 §6.2);
/// 0 for an absent slot.
#[inline(always)]
fn uint(rec: &[u8], s: Slot) -> u64 {
    let off = usize::from(s.off);
    let Some(b) = rec.get(off..off + usize::from(s.len)) else { return 0 };
    match *b {
        [] => 0,
        [a] => u64::from(a),
        [a, b] => u64::from(u16::from_be_bytes([a, b])),
        [a, b, c, d] => u64::from(u32::from_be_bytes([a, b, c, d])),
        [a, b, c, d, e, f, g, h] => u64::from_be_bytes([a, b, c, d, e, f, g, h]),
        _ => b.iter().fold(0u64, |n, &x| n << 8 | u64::from(x)),
    }
}

#[inline(always)]
fn v4(rec: &[u8], s: Slot) -> Ipv4Addr {
    let off = usize::from(s.off);
    match rec.get(off..off + 4) {
        Some(&[a, b, c, d]) if s.len == 4 => Ipv4Addr::new(a, b, c, d),
        _ => Ipv4Addr::UNSPECIFIED,
    }
}

#[inline(always)]
fn v6(rec: &[u8], s: Slot) -> Ipv6Addr {
    let off = usize::from(s.off);
    match rec.get(off..off + 16).and_then(|b| <[u8; 16]>::try_from(b).ok()) {
        Some(b) if s.len == 16 => Ipv6Addr::from(b),
        _ => Ipv6Addr::UNSPECIFIED,
    }
}

/// Which template a data set refers to: templates are scoped by exporter (address and
/// port), protocol (a v9 and an IPFIX exporter may both use id 1024) and observation
/// domain / source id (RFC 7011 §8, RFC 3954 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TemplateKey {
    pub exporter: SocketAddr,
    pub ipfix: bool,
    pub domain: u32,
    pub id: u16,
}

/// Looked up once per data set: hashed as two or three words (`exporter_words`) rather than
/// field by field as the derived hash does (seven words for an IPv4 exporter).
impl Hash for TemplateKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(u64::from(self.domain) << 32 | u64::from(self.id) << 16 | u64::from(self.ipfix));
        exporter_words(&self.exporter, state);
    }
}

/// An exporter's address and port as hash words: what `TemplateKey` and the sequence
/// tables' `StreamKey` hash instead of the derived `SocketAddr` hash. Equal addresses give
/// equal words (IPv6 flow info and scope id, which take part in equality, are left out:
/// that only makes such keys share a hash).
#[inline]
pub(crate) fn exporter_words<H: Hasher>(exporter: &SocketAddr, state: &mut H) {
    match exporter {
        SocketAddr::V4(a) => state.write_u64(u64::from(a.port()) << 32 | u64::from(a.ip().to_bits())),
        SocketAddr::V6(a) => {
            state.write_u128(a.ip().to_bits());
            state.write_u64(1 << 48 | u64::from(a.port()));
        }
    }
}

struct Entry {
    /// Shared with [`TemplateCache::recent`].
    plan: Arc<Plan>,
    /// The template record as received, to recognise a refresh without recompiling.
    raw: Box<[u8]>,
    refreshed_us: i64,
}

/// What happened to a template offered to the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Learned {
    New,
    Refreshed,
    Refused,
}

/// Templates by key, bounded in total and per exporter address, so a flood of templates
/// (or of spoofed exporters) costs at most the configured memory. When full, templates
/// not refreshed for `idle_us` are dropped (at most one sweep a second); if none is that
/// old, the new template is refused and counted.
pub(crate) struct TemplateCache {
    map: FastMap<TemplateKey, Entry>,
    per_exporter: FastMap<IpAddr, usize>,
    max_total: usize,
    max_per_exporter: usize,
    idle_us: i64,
    last_sweep_us: Option<i64>,
    pub evicted: u64,
    /// The last two templates looked up, most recent first: a datagram's data sets
    /// mostly use the templates of the datagram before (softflowd's: one for IPv4, one
    /// for IPv6), so most lookups compare a key or two instead of hashing it. Emptied
    /// whenever a template is recompiled or dropped.
    recent: [Option<(TemplateKey, Arc<Plan>)>; 2],
}

impl TemplateCache {
    pub fn new(max_total: usize, max_per_exporter: usize, idle_us: i64) -> Self {
        TemplateCache {
            map: FastMap::default(),
            per_exporter: FastMap::default(),
            max_total,
            max_per_exporter,
            idle_us,
            last_sweep_us: None,
            evicted: 0,
            recent: [None, None],
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    #[inline]
    pub fn get(&mut self, key: &TemplateKey) -> Option<&Plan> {
        match &self.recent {
            [Some((k, _)), _] if k == key => {}
            [_, Some((k, _))] if k == key => self.recent.swap(0, 1),
            _ => {
                let plan = Arc::clone(&self.map.get(key)?.plan);
                self.recent = [Some((*key, plan)), self.recent[0].take()];
            }
        }
        self.recent[0].as_ref().map(|(_, plan)| &**plan)
    }

    /// Learns (or refreshes) a template from its raw record bytes; `compile` is only
    /// called when the template is new or changed.
    pub fn learn(
        &mut self,
        key: TemplateKey,
        raw: &[u8],
        now_us: i64,
        compile: impl FnOnce() -> Result<Plan, CompileError>,
    ) -> Result<Learned, CompileError> {
        if let Some(entry) = self.map.get_mut(&key) {
            if *entry.raw != *raw {
                entry.plan = Arc::new(compile()?);
                entry.raw = raw.into();
                self.recent = [None, None];
            }
            entry.refreshed_us = now_us;
            return Ok(Learned::Refreshed);
        }
        let plan = compile()?;
        let ip = key.exporter.ip();
        let mut room =
            self.map.len() < self.max_total && self.per_exporter.get(&ip).copied().unwrap_or(0) < self.max_per_exporter;
        if !room && self.last_sweep_us.is_none_or(|t| now_us.saturating_sub(t) >= 1_000_000) {
            self.last_sweep_us = Some(now_us);
            self.sweep(now_us);
            room = self.map.len() < self.max_total
                && self.per_exporter.get(&ip).copied().unwrap_or(0) < self.max_per_exporter;
        }
        if !room {
            return Ok(Learned::Refused);
        }
        *self.per_exporter.entry(ip).or_insert(0) += 1;
        self.map.insert(key, Entry { plan: Arc::new(plan), raw: raw.into(), refreshed_us: now_us });
        Ok(Learned::New)
    }

    fn sweep(&mut self, now_us: i64) {
        self.recent = [None, None];
        let idle = self.idle_us;
        let per_exporter = &mut self.per_exporter;
        let before = self.map.len();
        self.map.retain(|key, e| {
            let keep = now_us.saturating_sub(e.refreshed_us) < idle;
            if !keep {
                if let Some(n) = per_exporter.get_mut(&key.exporter.ip()) {
                    *n = n.saturating_sub(1);
                }
            }
            keep
        });
        per_exporter.retain(|_, n| *n > 0);
        self.evicted += (before - self.map.len()) as u64;
    }

    /// Withdraws one template; whether it was known.
    pub fn withdraw(&mut self, key: &TemplateKey) -> bool {
        if self.map.remove(key).is_none() {
            return false;
        }
        self.recent = [None, None];
        let ip = key.exporter.ip();
        if let Some(n) = self.per_exporter.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_exporter.remove(&ip);
            }
        }
        true
    }

    /// Withdraws every data template (or every options template) of one exporter's
    /// observation domain (IPFIX "all templates" withdrawal); how many went.
    pub fn withdraw_all(&mut self, exporter: SocketAddr, ipfix: bool, domain: u32, options: bool) -> usize {
        let doomed: Vec<TemplateKey> = self
            .map
            .iter()
            .filter(|(k, e)| {
                k.exporter == exporter && k.ipfix == ipfix && k.domain == domain && e.plan.options == options
            })
            .map(|(k, _)| *k)
            .collect();
        for key in &doomed {
            self.withdraw(key);
        }
        doomed.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(id: u16, len: u16) -> FieldSpec {
        FieldSpec { id, pen: 0, len }
    }

    fn base() -> TimeBase {
        TimeBase { export_us: 1_700_000_000_000_000, uptime_ms: 10_000, header_uptime: true, init_us: None }
    }

    #[test]
    fn fixed_plan_reads_reduced_size_counters() {
        // src, dst, 2-byte octets, 1-byte packets, ports, proto.
        let fields = [spec(8, 4), spec(12, 4), spec(1, 2), spec(2, 1), spec(7, 2), spec(11, 2), spec(4, 1)];
        let plan = Plan::compile(&fields, false).unwrap();
        assert_eq!(plan.fixed_len, 16);
        let rec = [192, 0, 2, 1, 198, 51, 100, 2, 0x01, 0x02, 7, 0x9c, 0x40, 0x01, 0xbb, 6];
        let f = plan.flow(&rec, plan.fixed_slots(), &base()).unwrap();
        assert_eq!(f.src, "192.0.2.1".parse::<IpAddr>().unwrap());
        assert_eq!((f.bytes_out, f.packets, f.src_port, f.dst_port, f.transport), (258, 7, 40000, 443, Transport::TCP));
        assert_eq!(f.start_us, base().export_us, "no time fields: the export time");
    }

    #[test]
    fn all_zero_length_fields_are_refused() {
        assert_eq!(Plan::compile(&[spec(8, 0), spec(1, 0)], false).unwrap_err(), CompileError::EmptyRecord);
        assert_eq!(Plan::compile(&[], false).unwrap_err(), CompileError::EmptyRecord);
    }

    #[test]
    fn wrong_length_address_is_ignored() {
        let plan = Plan::compile(&[spec(8, 16), spec(1, 4)], false).unwrap();
        assert!(!plan.gives_flows());
    }

    #[test]
    fn uptime_survives_a_wrap() {
        let t = TimeBase { uptime_ms: 5, ..base() };
        // First switched 10 ms before the counter wrapped, export 5 ms after it.
        assert_eq!(t.at(TimeKind::Uptime, u64::from(u32::MAX - 9)), Some(t.export_us - 15_000));
    }

    #[test]
    fn ntp_timestamps() {
        let raw = ((1_700_000_000u64 + NTP_UNIX_OFFSET_S as u64) << 32) | (1u64 << 31);
        assert_eq!(base().at(TimeKind::NtpMicros, raw), Some(1_700_000_000_500_000));
    }

    /// A data set read by [`Plan::read_fixed`] (the record count and flows) and by the
    /// general reader, record by record.
    fn fast_and_general(plan: &Plan, bytes: &[u8], time: &TimeBase) -> (usize, Vec<Flow>, Vec<Flow>) {
        let mut fast = Vec::new();
        let n = plan.read_fixed(bytes, time, &mut fast);
        let general =
            bytes.chunks_exact(plan.fixed_len).filter_map(|rec| plan.flow(rec, plan.fixed_slots(), time)).collect();
        (n, fast, general)
    }

    proptest::proptest! {
        /// The fast fixed-layout reader and the general one agree on any template made of
        /// the fields Vedette reads (any length, reduced or not) and any record bytes.
        #[test]
        fn fast_path_equals_general_path(
            picks in proptest::collection::vec((0usize..40, 0u16..10), 1..24),
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000),
            header_uptime: bool,
        ) {
            const IDS: [u16; 40] = [8, 12, 27, 28, 7, 11, 4, 1, 85, 23, 2, 86, 24, 32, 139, 176, 177, 156, 154, 152,
                150, 158, 22, 157, 155, 153, 151, 159, 21, 162, 161, 160, 5, 6, 10, 14, 61, 136, 60, 300];
            let fields: Vec<FieldSpec> = picks
                .iter()
                .map(|&(i, l)| {
                    let len = match IDS[i] { 8 | 12 if l < 5 => 4, 27 | 28 if l < 5 => 16, _ => l };
                    FieldSpec { id: IDS[i], pen: if l == 9 { REVERSE_PEN } else { 0 }, len }
                })
                .collect();
            let Ok(plan) = Plan::compile(&fields, false) else { return Ok(()) };
            if !plan.fast() {
                return Ok(());
            }
            let time = TimeBase { header_uptime, init_us: (!header_uptime).then_some(5_000_000), ..base() };
            let (n, fast, general) = fast_and_general(&plan, &bytes, &time);
            proptest::prop_assert_eq!(n, bytes.len() / plan.fixed_len);
            proptest::prop_assert_eq!(fast, general);
        }
    }

    /// A template in the common layout (softflowd's and Cisco's lengths) in any order, other
    /// fields between, and whether its times are IPFIX milliseconds (else v9 uptimes).
    fn common_template() -> impl proptest::strategy::Strategy<Value = (Vec<FieldSpec>, bool)> {
        use proptest::prelude::*;
        const OTHER: [u16; 8] = [5, 6, 10, 14, 61, 136, 60, 300];
        (any::<bool>(), any::<bool>(), proptest::collection::vec((0usize..8, 1u16..=8), 0..12)).prop_flat_map(
            |(v6, millis, extra)| {
                let mut fields = vec![spec(7, 2), spec(11, 2), spec(4, 1), spec(1, 4), spec(2, 4)];
                fields.extend(if v6 { [spec(27, 16), spec(28, 16)] } else { [spec(8, 4), spec(12, 4)] });
                fields.extend(if millis { [spec(152, 8), spec(153, 8)] } else { [spec(22, 4), spec(21, 4)] });
                fields.extend(extra.iter().map(|&(i, len)| spec(OTHER[i], len)));
                (Just(fields).prop_shuffle(), Just(millis))
            },
        )
    }

    proptest::proptest! {
        /// The common layout, which `read_fixed` reads with constant lengths: the same flows
        /// as the general reader, whatever the record bytes.
        #[test]
        fn common_layout_equals_general_path(
            (fields, millis) in common_template(),
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000),
        ) {
            let plan = Plan::compile(&fields, false).unwrap();
            proptest::prop_assert!(plan.common && plan.fast());
            // v9's uptimes are read against the header; IPFIX's milliseconds stand alone.
            let time = TimeBase { header_uptime: !millis, ..base() };
            let (n, fast, general) = fast_and_general(&plan, &bytes, &time);
            proptest::prop_assert_eq!(n, bytes.len() / plan.fixed_len);
            proptest::prop_assert_eq!(fast, general);
        }
    }

    #[test]
    fn variable_length_walk() {
        let fields = [spec(8, 4), spec(82, VARIABLE), spec(12, 4)];
        let plan = Plan::compile(&fields, false).unwrap();
        assert_eq!((plan.fixed_len, plan.min_len), (0, 9));
        let rec = [10, 0, 0, 1, 3, b'e', b't', b'h', 10, 0, 0, 2, 0xEE];
        let (len, slots) = plan.walk_record(&rec).unwrap();
        assert_eq!(len, 12);
        let f = plan.flow(&rec[..len], &slots, &base()).unwrap();
        assert_eq!(f.dst, "10.0.0.2".parse::<IpAddr>().unwrap());
        // A three-byte length that runs past the record.
        assert!(plan.walk_record(&[10, 0, 0, 1, 255, 0xFF, 0xFF, 0]).is_none());
    }
}
