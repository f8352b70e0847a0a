//! JSON lines for the truth files, written by hand (the testkit has no serde dependency).

use super::Planted;
use crate::host::TruthProcess;
use chrono::{DateTime, SecondsFormat, Utc};
use std::io::Write;

/// A JSON string literal.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn time(t: DateTime<Utc>) -> String {
    string(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// `{"host","pid","guid","image","start","parent_pid","parent_guid","parent_start","boot"}`.
pub fn truth_line(w: &mut impl Write, host: &str, t: &TruthProcess) -> std::io::Result<()> {
    writeln!(
        w,
        "{{\"host\":{},\"pid\":{},\"guid\":{},\"image\":{},\"start\":{},\"parent_pid\":{},\
         \"parent_guid\":{},\"parent_start\":{},\"boot\":{}}}",
        string(host),
        t.pid,
        string(&t.guid.to_braced()),
        string(&t.image),
        time(t.start),
        t.parent_pid,
        string(&t.parent_guid.to_braced()),
        time(t.parent_start),
        t.boot
    )
}

/// `{"host","time","kind","rules":[..],"image","pid","guid","parent_pid","parent_image",
/// "records":[..]}`.
pub fn planted_line(p: &Planted) -> String {
    let records: Vec<String> = p
        .records
        .iter()
        .map(|(c, id)| format!("{{\"channel\":{},\"record_id\":{id}}}", string(c.name())))
        .collect();
    let rules: Vec<String> = p.rules.iter().map(|r| string(r)).collect();
    format!(
        "{{\"host\":{},\"time\":{},\"kind\":{},\"rules\":[{}],\"image\":{},\"pid\":{},\
         \"guid\":{},\"parent_pid\":{},\"parent_image\":{},\"records\":[{}]}}\n",
        string(&p.host),
        time(p.time),
        string(p.kind.name()),
        rules.join(","),
        string(&p.image),
        p.pid,
        string(&p.guid.to_braced()),
        p.parent_pid,
        string(&p.parent_image),
        records.join(",")
    )
}
