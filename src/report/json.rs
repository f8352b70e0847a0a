//! The JSONL event writer: the text `serde_json` writes for an [`Event`], byte for byte, written
//! by hand.
//!
//! Every kept event is written once, and on a process-dense log serde's generic path (a map
//! serialiser for the flattened body, a byte-at-a-time escaper, a growing `Vec` per line) was a
//! fifth of the run. Here strings that need no escaping (nearly all) are copied in one piece,
//! numbers are written digit by digit, and all lines of a work unit go into one buffer.
//! `tests` below check the output against `serde_json` on ordinary and hostile values.

use crate::model::{Body, Event, EventKind, MarkerKind, Source};
use crate::time::{push_rfc3339_ms, TimeWriter};
use chrono::{DateTime, Utc};

/// Append `e` as one JSON object (no newline), exactly as `serde_json::to_writer(e)` would.
pub fn write_event(out: &mut Vec<u8>, e: &Event) {
    write_head(out, &Head::of(e));
    write_body(out, &e.body);
}

/// The fields every event has, in the order they are written: everything but the body.
///
/// Kept JSON lines (see `report::events::JsonLines`) hold only the body's text and write the
/// head when they are written out, from their sort key and a few bytes: the head is about a
/// third of a line's text, and the text is what the global sort keeps in memory.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a> {
    pub kind: EventKind,
    pub host: &'a str,
    pub time: &'a DateTime<Utc>,
    pub logged: &'a DateTime<Utc>,
    pub source: Source,
    pub channel: &'a str,
    pub provider: &'a str,
    pub event_id: u32,
    pub version: Option<u8>,
    pub record_id: u64,
    pub file: &'a str,
    pub offset: u64,
}

impl<'a> Head<'a> {
    pub fn of(e: &'a Event) -> Self {
        Head {
            kind: e.kind,
            host: &e.host,
            time: &e.time,
            logged: &e.logged,
            source: e.source,
            channel: &e.channel,
            provider: &e.provider,
            event_id: e.event_id,
            version: e.version,
            record_id: e.record_id,
            file: &e.file,
            offset: e.offset,
        }
    }
}

/// Open an event's object and write its head; [`write_body`] finishes it.
///
/// Written in the parts below, so a writer of many lines can write the parts that repeat
/// (kind, the shape's fields, host, file) once and copy them (`report::events`).
pub fn write_head(out: &mut Vec<u8>, h: &Head<'_>) {
    head_start(out, h.kind);
    push_json_str(out, h.host);
    head_times(out, h.time, h.logged, &mut TimeWriter::default());
    head_shape(out, h.source, h.channel, h.provider, h.event_id, h.version);
    push_u64(out, h.record_id);
    head_file(out, h.file);
    push_u64(out, h.offset);
}

/// The head up to the host's value: `{"kind":"process","host":`.
pub fn head_start(out: &mut Vec<u8>, kind: EventKind) {
    let mut o = Obj::new(out);
    o.str("kind", kind_str(kind));
    o.key("host");
}

/// `,"time":"...","logged":"..."`: after the host, before [`head_shape`].
pub fn head_times(
    out: &mut Vec<u8>,
    time: &DateTime<Utc>,
    logged: &DateTime<Utc>,
    times: &mut TimeWriter,
) {
    out.extend_from_slice(b",\"time\":\"");
    let start = out.len();
    times.push(out, time);
    let end = out.len();
    out.extend_from_slice(b"\",\"logged\":\"");
    // The same second and millisecond print the same (a leap second's milliseconds count
    // from 1,000): nearly always, as Security events have no other time and Sysmon's
    // `UtcTime` is its logged time cut to the millisecond.
    let same_text = logged.timestamp() == time.timestamp()
        && logged.timestamp_subsec_millis() == time.timestamp_subsec_millis();
    if same_text {
        out.extend_from_within(start..end);
    } else {
        times.push(out, logged);
    }
    out.push(b'"');
}

/// From after the times to the record id's value:
/// `,"source":...,"channel":...,"provider":...,"event_id":N,"version":N,"record_id":`.
pub fn head_shape(
    out: &mut Vec<u8>,
    source: Source,
    channel: &str,
    provider: &str,
    event_id: u32,
    version: Option<u8>,
) {
    let mut o = Obj { out, first: false };
    o.str("source", source_str(source));
    o.str("channel", channel);
    o.str("provider", provider);
    o.num("event_id", u64::from(event_id));
    if let Some(v) = version {
        o.num("version", u64::from(v));
    }
    o.key("record_id");
}

/// From after the record id to the offset's value: `,"file":"...","offset":`.
pub fn head_file(out: &mut Vec<u8>, file: &str) {
    let mut o = Obj { out, first: false };
    o.str("file", file);
    o.key("offset");
}

/// The body's fields (each after a comma: the head always comes first) and the closing brace.
pub fn write_body(out: &mut Vec<u8>, body: &Body) {
    let mut o = Obj { out, first: false };
    match body {
        Body::Process(p) => {
            o.opt_num("pid", p.pid);
            o.opt_str("guid", &p.guid);
            o.opt_str("image", &p.image);
            o.opt_str("original_file_name", &p.original_file_name);
            o.opt_str("command_line", &p.command_line);
            o.opt_str("current_directory", &p.current_directory);
            o.opt_str("user", &p.user);
            o.opt_str("user_sid", &p.user_sid);
            o.opt_str("logon_id", &p.logon_id);
            o.opt_num("session", p.session.map(u64::from));
            o.opt_str("integrity_level", &p.integrity_level);
            o.opt_str("hashes", &p.hashes);
            o.opt_num("parent_pid", p.parent_pid);
            o.opt_str("parent_guid", &p.parent_guid);
            o.opt_str("parent_image", &p.parent_image);
            o.opt_str("parent_command_line", &p.parent_command_line);
            o.opt_str("parent_user", &p.parent_user);
            o.opt_str("subject_user", &p.subject_user);
            o.opt_str("subject_user_sid", &p.subject_user_sid);
            o.opt_str("subject_logon_id", &p.subject_logon_id);
            o.opt_str("target_user", &p.target_user);
            o.opt_str("target_user_sid", &p.target_user_sid);
            o.opt_str("target_logon_id", &p.target_logon_id);
            o.opt_str("token_elevation_type", &p.token_elevation_type);
            o.opt_str("mandatory_label", &p.mandatory_label);
        }
        Body::Exit(x) => {
            o.opt_num("pid", x.pid);
            o.opt_str("guid", &x.guid);
            o.opt_str("image", &x.image);
            o.opt_str("user", &x.user);
            o.opt_str("exit_status", &x.exit_status);
        }
        Body::Marker(m) => {
            o.str("marker", marker_str(m.marker));
            if let Some(t) = &m.new_time {
                o.time("new_time", t);
            }
            if let Some(t) = &m.previous_time {
                o.time("previous_time", t);
            }
            o.opt_num("uptime_seconds", m.uptime_seconds);
            o.opt_str("detail", &m.detail);
        }
        Body::Sighting(s) => {
            o.opt_num("pid", s.pid);
            o.opt_str("guid", &s.guid);
            o.opt_str("image", &s.image);
            o.opt_str("user", &s.user);
            o.opt_str("detail", &s.detail);
        }
    }
    o.end();
}

/// The serde names (`rename_all = "snake_case"`) of the enums an event carries.
fn kind_str(k: EventKind) -> &'static str {
    k.as_str()
}

fn source_str(s: Source) -> &'static str {
    match s {
        Source::Sysmon => "sysmon",
        Source::Security => "security",
        Source::System => "system",
    }
}

pub fn marker_str(m: MarkerKind) -> &'static str {
    match m {
        MarkerKind::OsStarted => "os_started",
        MarkerKind::OsShutdown => "os_shutdown",
        MarkerKind::LogStarted => "log_started",
        MarkerKind::LogStopped => "log_stopped",
        MarkerKind::UnexpectedShutdown => "unexpected_shutdown",
        MarkerKind::BootBanner => "boot_banner",
        MarkerKind::Uptime => "uptime",
        MarkerKind::DirtyReboot => "dirty_reboot",
        MarkerKind::ShutdownRequested => "shutdown_requested",
        MarkerKind::TimeChanged => "time_changed",
        MarkerKind::LoggingShutdown => "logging_shutdown",
        MarkerKind::LogCleared => "log_cleared",
        MarkerKind::SysmonState => "sysmon_state",
        MarkerKind::SysmonConfig => "sysmon_config",
    }
}

/// An object being written: the separator before each key.
struct Obj<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Obj<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Obj { out, first: true }
    }

    /// Keys are the schema's own snake_case names: no escaping needed.
    fn key(&mut self, k: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        push_json_str(self.out, v);
    }

    fn opt_str(&mut self, k: &str, v: &Option<String>) {
        if let Some(v) = v {
            self.str(k, v);
        }
    }

    fn num(&mut self, k: &str, v: u64) {
        self.key(k);
        push_u64(self.out, v);
    }

    fn opt_num(&mut self, k: &str, v: Option<u64>) {
        if let Some(v) = v {
            self.num(k, v);
        }
    }

    fn time(&mut self, k: &str, t: &DateTime<Utc>) {
        self.key(k);
        self.out.push(b'"');
        push_rfc3339_ms(self.out, t);
        self.out.push(b'"');
    }

    fn end(self) {
        self.out.push(b'}');
    }
}

/// A decimal number.
pub fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// A JSON string with serde_json's escaping: `"`, `\` and control characters below 0x20
/// (`\b \t \n \f \r` by name, the rest as `\u00xx`); everything else, DEL and non-ASCII
/// included, as is. Runs of plain bytes are copied in one piece.
pub fn push_json_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while let Some(&first) = bytes.get(i) {
        // Eight bytes at a time: past them when there is nothing to escape, else straight to
        // the first byte that needs it (Windows paths have a backslash every few bytes). The
        // lowest bit of the mask is exact, so that byte is escaped without a second look.
        if let Some(w) = bytes.get(i..i + 8) {
            let m = escape_mask(u64::from_le_bytes([
                w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7],
            ]));
            if m == 0 {
                i += 8;
                continue;
            }
            i += (m.trailing_zeros() / 8) as usize;
        } else if first >= 0x20 && first != b'"' && first != b'\\' {
            i += 1;
            continue;
        }
        let Some(&b) = bytes.get(i) else { break };
        out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        i += 1;
        start = i;
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x09 => out.extend_from_slice(b"\\t"),
            0x0a => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            0x0d => out.extend_from_slice(b"\\r"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
        }
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
    out.push(b'"');
}

/// A mask whose lowest set bit is the high bit of the first of the eight bytes (in string
/// order) that is below 0x20, `"` or `\\`; zero when there is none. Bits above the lowest may
/// be false alarms (a borrow runs on past the first match); only the lowest is used.
fn escape_mask(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte is below n (n <= 0x80) when subtracting n borrows into its high bit while the
    // byte's own high bit was clear; a byte equal to c is a zero byte of w ^ (c * ONES). No
    // borrow comes from the bytes before the first match, so its bit is exact.
    let below = |w: u64, n: u64| w.wrapping_sub(n * ONES) & !w & HIGH;
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    below(w, 0x20) | zero(w ^ (u64::from(b'"') * ONES)) | zero(w ^ (u64::from(b'\\') * ONES))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `escape_mask` is zero exactly when no byte needs escaping, else its lowest bit is in
    /// the first byte that does.
    fn check_mask(w: [u8; 8]) {
        let first = w.iter().position(|&c| c < 0x20 || c == b'"' || c == b'\\');
        let m = escape_mask(u64::from_le_bytes(w));
        assert_eq!(
            (m != 0).then(|| (m.trailing_zeros() / 8) as usize),
            first,
            "{w:?}"
        );
    }
    use crate::model::{Marker, ProcessExit, ProcessSighting, ProcessStart};
    use std::sync::Arc;

    /// `head_times` writes both times as the formatter does, whether it copies the first
    /// (same second and millisecond, leap seconds too) or writes the second.
    #[test]
    fn head_times_copies_only_what_prints_the_same() {
        let base = 1_619_129_365;
        let pairs = [
            (time(base, 389_000_000), time(base, 389_000_000)),
            (time(base, 389_000_000), time(base, 389_633_400)),
            (time(base, 389_999_999), time(base, 390_000_000)),
            (time(base, 999_000_000), time(base + 1, 999_000_000)),
            (time(base, 999_999_999), time(base, 1_999_999_999)),
            (time(base, 1_500_000_000), time(base, 1_500_900_000)),
            (time(base, 500_000_000), time(base, 1_500_000_000)),
            (time(base + 86_400, 1_000_000), time(base, 1_000_000)),
        ];
        let mut times = TimeWriter::default();
        for (t, logged) in pairs {
            for (a, b) in [(t, logged), (logged, t)] {
                let mut out = Vec::new();
                head_times(&mut out, &a, &b, &mut times);
                let mut want = b",\"time\":\"".to_vec();
                push_rfc3339_ms(&mut want, &a);
                want.extend_from_slice(b"\",\"logged\":\"");
                push_rfc3339_ms(&mut want, &b);
                want.push(b'"');
                assert_eq!(
                    String::from_utf8_lossy(&out),
                    String::from_utf8_lossy(&want)
                );
            }
        }
    }

    fn time(s: i64, ns: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(s, ns).unwrap_or_default()
    }

    fn base(body: Body) -> Event {
        Event {
            kind: EventKind::Process,
            host: "WS-01.corp\u{202e}\"x\\".into(),
            time: time(1_619_129_365, 389_633_400),
            logged: time(1_619_129_365, 999_999_999),
            source: Source::Sysmon,
            channel: "Microsoft-Windows-Sysmon/Operational".into(),
            provider: "p\u{0}\u{1f}\u{7f}\u{8}\u{9}\u{a}\u{c}\u{d}é日".into(),
            event_id: u32::MAX,
            version: Some(5),
            record_id: u64::MAX,
            file: Arc::from("dir/a \"b\".evtx"),
            offset: 0,
            body,
        }
    }

    fn same_as_serde(e: &Event) {
        let mut mine = Vec::new();
        write_event(&mut mine, e);
        let theirs = serde_json::to_vec(e).unwrap_or_default();
        assert_eq!(
            String::from_utf8_lossy(&mine),
            String::from_utf8_lossy(&theirs)
        );
    }

    #[test]
    fn events_are_written_as_serde_json_writes_them() {
        let full = ProcessStart {
            pid: Some(0),
            guid: Some("{5770385f-c22a-43e0-bf4c-06f5698ffbd9}".into()),
            image: Some("C:\\Windows\\cmd.exe".into()),
            original_file_name: Some(String::new()),
            command_line: Some("cmd /c \"echo\ttab\r\n\"".into()),
            current_directory: Some("C:\\".into()),
            user: Some("NT AUTHORITY\\SYSTEM".into()),
            user_sid: Some("S-1-5-18".into()),
            logon_id: Some("0x3e7".into()),
            session: Some(u32::MAX),
            integrity_level: Some("System".into()),
            hashes: Some("SHA256=00".into()),
            parent_pid: Some(1234567890123),
            parent_guid: Some("{x}".into()),
            parent_image: Some("p".into()),
            parent_command_line: Some("pc".into()),
            parent_user: Some("pu".into()),
            subject_user: Some("su".into()),
            subject_user_sid: Some("ss".into()),
            subject_logon_id: Some("sl".into()),
            target_user: Some("tu".into()),
            target_user_sid: Some("ts".into()),
            target_logon_id: Some("tl".into()),
            token_elevation_type: Some("%%1936".into()),
            mandatory_label: Some("S-1-16-16384".into()),
        };
        same_as_serde(&base(Body::Process(Box::new(full))));
        let mut e = base(Body::Process(Box::default()));
        e.version = None;
        e.time = time(-62_167_219_200 - 86_400, 0); // year -1: the long form
        same_as_serde(&e);
        let mut e = base(Body::Exit(ProcessExit {
            pid: Some(4),
            exit_status: Some("0x0".into()),
            ..Default::default()
        }));
        e.kind = EventKind::Exit;
        e.source = Source::Security;
        same_as_serde(&e);
        same_as_serde(&base(Body::Exit(ProcessExit::default())));
        for (i, kind) in MarkerKind::ALL.into_iter().enumerate() {
            let some = i % 2 == 0;
            let mut e = base(Body::Marker(Marker {
                marker: kind,
                new_time: some.then(|| time(0, 1_000_000)),
                previous_time: some.then(|| time(253_402_300_800, 0)), // year 10000
                uptime_seconds: some.then_some(u64::from(u32::MAX) + 1),
                detail: some.then(|| "by \\\\DC\\admin".into()),
            }));
            e.kind = EventKind::Marker;
            e.source = Source::System;
            same_as_serde(&e);
        }
        let mut e = base(Body::Sighting(ProcessSighting {
            pid: Some(1120),
            guid: Some("{747f3d96-96a8-5f70-0000-0010c0f02d00}".into()),
            image: Some("C:\\Windows\\svchost.exe".into()),
            user: Some("NT AUTHORITY\\SYSTEM".into()),
            detail: Some("\\svchost-\u{1b}[31m\u{202e}".into()),
        }));
        e.kind = EventKind::Sighting;
        e.event_id = 17;
        same_as_serde(&e);
        same_as_serde(&base(Body::Sighting(ProcessSighting::default())));
    }

    #[test]
    fn every_byte_escapes_as_serde_json_escapes_it() {
        let all: String = (0u32..0x250).filter_map(char::from_u32).collect();
        let long = "C:\\Windows\\System32\\cmd.exe /c \"echo 日本\" \u{1}\u{7f}é ".repeat(9);
        for s in [
            all.as_str(),
            "",
            "plain",
            "\"",
            "\\",
            "a\u{0}",
            long.as_str(),
            "abcdefgh\n",
        ] {
            let mut mine = Vec::new();
            push_json_str(&mut mine, s);
            assert_eq!(mine, serde_json::to_vec(s).unwrap_or_default(), "{s:?}");
        }
        for b in 0u8..=255 {
            for fill in [b'a', 0x7f, 0x80, 0xff, b'!', b'#', b'[', b']'] {
                for at in 0..8 {
                    let mut w = [fill; 8];
                    w[at] = b;
                    check_mask(w);
                }
            }
        }
        // Two bytes of interest in one word: the mask points at the first.
        let some = [0u8, 0x1f, 0x20, b'"', b'\\', b'a', 0x7f, 0x80, 0xff];
        for &x in &some {
            for &y in &some {
                for at in 0..8 {
                    for at2 in at + 1..8 {
                        let mut w = [b'a'; 8];
                        w[at] = x;
                        w[at2] = y;
                        check_mask(w);
                    }
                }
            }
        }
        for v in [0u64, 9, 10, 99, 100, 12345, u64::MAX] {
            let mut mine = Vec::new();
            push_u64(&mut mine, v);
            assert_eq!(mine, v.to_string().into_bytes());
        }
    }
}
