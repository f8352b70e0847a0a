//! Writers for typed events: JSONL (lossless), CSV (lossless but formula-safe) and a table for
//! people (every log-derived string escaped for the terminal).

use super::csv::CsvWriter;
use super::json;
use super::sanitize::for_terminal;
use crate::model::{Body, Event, Marker};
use crate::time::format_rfc3339_ms;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::io::{self, Write};
use std::ops::Range;
use std::sync::Arc;

/// Where one event's JSON line is, with the key it sorts by.
///
/// The worker that built the event writes it at once into its unit's buffer (see
/// [`JsonLines`]) and keeps only this: the events of a large log take less memory while they
/// wait for the sort, and serialising runs on all threads.
#[derive(Debug)]
pub struct JsonLine {
    /// The event's (host, time, record id, file, offset): the order of [`Event::sort_key`].
    pub key: (Arc<str>, DateTime<Utc>, u64, Arc<str>, u64),
    /// Which buffer holds the line, once the units' buffers are merged (see [`JsonLines`]).
    pub buf: usize,
    /// The line's bytes (with its newline) in that buffer.
    pub span: Range<usize>,
    /// The ranks of the host and file names among all lines' (see [`sort_lines`]).
    ranks: (u32, u32),
}

/// Sort lines by their key. Host and file names are first replaced by their rank among the
/// distinct names, so the sort compares numbers, not strings; ranks follow the names' order, so
/// the result is the same.
pub fn sort_lines(lines: &mut [JsonLine]) {
    use rayon::slice::ParallelSliceMut;
    fn ranks<'a>(names: impl Iterator<Item = &'a Arc<str>>) -> HashMap<Arc<str>, u32> {
        let mut distinct: HashMap<Arc<str>, u32> = HashMap::new();
        let mut last: Option<&Arc<str>> = None;
        for n in names {
            // Lines of one unit share their file's and hosts' names: no hashing for a repeat.
            if last.is_some_and(|l| Arc::ptr_eq(l, n)) {
                continue;
            }
            last = Some(n);
            if !distinct.contains_key(&**n) {
                distinct.insert(Arc::clone(n), 0);
            }
        }
        let mut sorted: Vec<Arc<str>> = distinct.keys().cloned().collect();
        sorted.sort_unstable();
        for (rank, n) in sorted.iter().enumerate() {
            if let Some(r) = distinct.get_mut(n) {
                *r = u32::try_from(rank).unwrap_or(u32::MAX);
            }
        }
        distinct
    }
    let hosts = ranks(lines.iter().map(|l| &l.key.0));
    let files = ranks(lines.iter().map(|l| &l.key.3));
    type Ranked = (Arc<str>, Arc<str>, (u32, u32));
    let mut last: Option<Ranked> = None;
    for l in lines.iter_mut() {
        let ranks = match &last {
            Some((h, f, r)) if Arc::ptr_eq(h, &l.key.0) && Arc::ptr_eq(f, &l.key.3) => *r,
            _ => {
                let host = hosts.get(&l.key.0).copied().unwrap_or_default();
                let file = files.get(&l.key.3).copied().unwrap_or_default();
                last = Some((Arc::clone(&l.key.0), Arc::clone(&l.key.3), (host, file)));
                (host, file)
            }
        };
        l.ranks = ranks;
    }
    lines.par_sort_unstable_by_key(|l| (l.ranks.0, l.key.1, l.key.2, l.ranks.1, l.key.4));
}

/// The JSON lines of a unit of work: one buffer for all their text, and each line's key.
#[derive(Debug, Default)]
pub struct JsonLines {
    pub buf: Vec<u8>,
    pub lines: Vec<JsonLine>,
    /// Host names seen, shared by the keys: a log repeats a few host names many times.
    hosts: HashSet<Arc<str>>,
}

impl JsonLines {
    /// Write `e` as a line and keep its key.
    pub fn push(&mut self, e: &Event) {
        let start = self.buf.len();
        json::write_event(&mut self.buf, e);
        self.buf.push(b'\n');
        let host = match self.hosts.get(e.host.as_str()) {
            Some(h) => Arc::clone(h),
            None => {
                let h: Arc<str> = Arc::from(e.host.as_str());
                self.hosts.insert(Arc::clone(&h));
                h
            }
        };
        self.lines.push(JsonLine {
            key: (host, e.time, e.record_id, Arc::clone(&e.file), e.offset),
            buf: 0,
            span: start..self.buf.len(),
            ranks: (0, 0),
        });
    }
}

/// Write JSON lines in the order given; `bufs` are the buffers their `buf` fields name.
pub fn write_json_lines(w: &mut dyn Write, bufs: &[Vec<u8>], lines: &[JsonLine]) -> io::Result<()> {
    for l in lines {
        let text = bufs.get(l.buf).and_then(|b| b.get(l.span.clone()));
        w.write_all(text.unwrap_or_default())?;
    }
    Ok(())
}

/// The CSV columns, in order. Stable: new columns are only ever appended.
pub const CSV_COLUMNS: &[&str] = &[
    "kind",
    "host",
    "time",
    "logged",
    "source",
    "channel",
    "provider",
    "event_id",
    "record_id",
    "file",
    "offset",
    "pid",
    "guid",
    "image",
    "original_file_name",
    "command_line",
    "current_directory",
    "user",
    "user_sid",
    "logon_id",
    "session",
    "integrity_level",
    "hashes",
    "parent_pid",
    "parent_guid",
    "parent_image",
    "parent_command_line",
    "parent_user",
    "subject_user",
    "subject_user_sid",
    "target_user",
    "target_user_sid",
    "token_elevation_type",
    "mandatory_label",
    "exit_status",
    "marker",
    "new_time",
    "previous_time",
    "uptime_seconds",
    "detail",
];

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

fn csv_row(e: &Event) -> Vec<String> {
    let mut row = vec![
        e.kind.as_str().to_string(),
        e.host.clone(),
        format_rfc3339_ms(&e.time),
        format_rfc3339_ms(&e.logged),
        format!("{:?}", e.source).to_lowercase(),
        e.channel.to_string(),
        e.provider.to_string(),
        e.event_id.to_string(),
        e.record_id.to_string(),
        e.file.to_string(),
        e.offset.to_string(),
    ];
    let mut rest = vec![String::new(); CSV_COLUMNS.len() - row.len()];
    match &e.body {
        Body::Process(p) => {
            let vals = [
                opt(&p.pid),
                opt(&p.guid),
                opt(&p.image),
                opt(&p.original_file_name),
                opt(&p.command_line),
                opt(&p.current_directory),
                opt(&p.user),
                opt(&p.user_sid),
                opt(&p.logon_id),
                opt(&p.session),
                opt(&p.integrity_level),
                opt(&p.hashes),
                opt(&p.parent_pid),
                opt(&p.parent_guid),
                opt(&p.parent_image),
                opt(&p.parent_command_line),
                opt(&p.parent_user),
                opt(&p.subject_user),
                opt(&p.subject_user_sid),
                opt(&p.target_user),
                opt(&p.target_user_sid),
                opt(&p.token_elevation_type),
                opt(&p.mandatory_label),
            ];
            for (slot, v) in rest.iter_mut().zip(vals) {
                *slot = v;
            }
        }
        Body::Exit(x) => {
            rest[0] = opt(&x.pid);
            rest[1] = opt(&x.guid);
            rest[2] = opt(&x.image);
            rest[6] = opt(&x.user);
            rest[23] = opt(&x.exit_status);
        }
        Body::Marker(m) => {
            rest[24] = marker_name(m);
            rest[25] = m
                .new_time
                .as_ref()
                .map(format_rfc3339_ms)
                .unwrap_or_default();
            rest[26] = m
                .previous_time
                .as_ref()
                .map(format_rfc3339_ms)
                .unwrap_or_default();
            rest[27] = opt(&m.uptime_seconds);
            rest[28] = opt(&m.detail);
        }
    }
    row.append(&mut rest);
    row
}

fn marker_name(m: &Marker) -> String {
    json::marker_str(m.marker).to_string()
}

/// CSV with a header row.
pub fn csv(w: &mut dyn Write, events: &[Event], neutralise: bool) -> io::Result<()> {
    let mut out = CsvWriter::new(w, neutralise);
    out.write_record(CSV_COLUMNS)?;
    for e in events {
        let row = csv_row(e);
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        out.write_record(&cells)?;
    }
    out.flush()
}

/// A table for reading on a terminal: time, host, source:event id, pid, parent pid, what, and
/// the command line or detail.
pub fn table(w: &mut dyn Write, events: &[Event]) -> io::Result<()> {
    let host_w = events
        .iter()
        .map(|e| for_terminal(&e.host).chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 40);
    writeln!(
        w,
        "{:<24}  {:<host_w$}  {:<14}  {:>6}  {:>6}  {:<40}  DETAIL",
        "TIME (UTC)", "HOST", "EVENT", "PID", "PPID", "IMAGE / MARKER"
    )?;
    for e in events {
        let event = format!("{}:{}", source_tag(e), e.event_id);
        let (pid, ppid, what, detail) = match &e.body {
            Body::Process(p) => (
                opt(&p.pid),
                opt(&p.parent_pid),
                p.image.clone().unwrap_or_default(),
                p.command_line.clone().unwrap_or_default(),
            ),
            Body::Exit(x) => (
                opt(&x.pid),
                String::new(),
                x.image.clone().unwrap_or_default(),
                "exited".into(),
            ),
            Body::Marker(m) => (
                String::new(),
                String::new(),
                marker_name(m),
                marker_detail(m),
            ),
        };
        writeln!(
            w,
            "{:<24}  {:<host_w$}  {:<14}  {:>6}  {:>6}  {:<40}  {}",
            format_rfc3339_ms(&e.time),
            for_terminal(&e.host),
            event,
            pid,
            ppid,
            for_terminal(&what),
            for_terminal(&detail)
        )?;
    }
    Ok(())
}

fn source_tag(e: &Event) -> &'static str {
    match e.source {
        crate::model::Source::Sysmon => "sysmon",
        crate::model::Source::Security => "security",
        crate::model::Source::System => "system",
    }
}

fn marker_detail(m: &Marker) -> String {
    let mut parts = Vec::new();
    if let Some(t) = &m.new_time {
        parts.push(format!("time {}", format_rfc3339_ms(t)));
    }
    if let Some(t) = &m.previous_time {
        parts.push(format!("was {}", format_rfc3339_ms(t)));
    }
    if let Some(s) = m.uptime_seconds {
        parts.push(format!("uptime {s} s"));
    }
    if let Some(d) = &m.detail {
        parts.push(d.clone());
    }
    parts.join("; ")
}
