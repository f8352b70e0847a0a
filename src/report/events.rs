//! Writers for typed events: JSONL (lossless), CSV (lossless but formula-safe) and a table for
//! people (every log-derived string escaped for the terminal).

use super::csv::CsvWriter;
use super::json;
use super::sanitize::for_terminal;
use crate::model::{Body, Event, Marker};
use crate::time::format_rfc3339_ms;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::Arc;

/// Where one event's JSON line is, with the key it sorts by: 56 bytes per kept event.
///
/// The worker that built the event writes it at once into its unit's buffer (see
/// [`JsonLines`]) and keeps only this: the events of a large log take less memory while they
/// wait for the sort, and serialising runs on all threads. Host and file are numbers: within a
/// unit, the index of the host in the unit's list; once the units are merged (see
/// [`merge_lines`]), the ranks of host and file name among all the names, so comparing them
/// orders lines as comparing the names would.
#[derive(Debug, Clone, Copy)]
pub struct JsonLine {
    time: DateTime<Utc>,
    record_id: u64,
    offset: u64,
    host: u32,
    file: u32,
    /// Which buffer holds the line, once the units' buffers are merged.
    buf: u32,
    /// The line's bytes (with its newline) in that buffer: `start..start + len`.
    len: u32,
    start: u64,
}

impl JsonLine {
    /// The order of [`Event::sort_key`]: (host, time, record id, file, offset).
    fn sort_key(&self) -> (u32, DateTime<Utc>, u64, u32, u64) {
        (self.host, self.time, self.record_id, self.file, self.offset)
    }
}

/// Sort merged lines (see [`merge_lines`]) by their key.
pub fn sort_lines(lines: &mut [JsonLine]) {
    use rayon::slice::ParallelSliceMut;
    lines.par_sort_unstable_by_key(JsonLine::sort_key);
}

/// The JSON lines of a unit of work: one buffer for all their text, and each line's key.
#[derive(Debug, Default)]
pub struct JsonLines {
    pub buf: Vec<u8>,
    pub lines: Vec<JsonLine>,
    /// Host names seen, in order of first sight; lines name them by index.
    hosts: Vec<Box<str>>,
    host_index: HashMap<Box<str>, u32>,
}

impl JsonLines {
    /// Write `e` as a line and keep its key.
    pub fn push(&mut self, e: &Event) {
        let start = self.buf.len();
        json::write_event(&mut self.buf, e);
        self.buf.push(b'\n');
        let host = self.host(&e.host);
        // A line longer than 4 GiB cannot be built from one record (a record is at most a
        // 64 KiB chunk or a 16 MiB export event); saturating keeps this total anyway.
        let len = u32::try_from(self.buf.len() - start).unwrap_or(u32::MAX);
        self.lines.push(JsonLine {
            time: e.time,
            record_id: e.record_id,
            offset: e.offset,
            host,
            file: 0,
            buf: 0,
            len,
            start: start as u64,
        });
    }

    /// The index of `host` in this unit's list. A log repeats one host for long runs of
    /// records: the last line's host is checked before hashing.
    fn host(&mut self, host: &str) -> u32 {
        if let Some(last) = self.lines.last() {
            let i = last.host;
            if self.hosts.get(i as usize).is_some_and(|h| **h == *host) {
                return i;
            }
        }
        if let Some(&i) = self.host_index.get(host) {
            return i;
        }
        let i = u32::try_from(self.hosts.len()).unwrap_or(u32::MAX);
        self.hosts.push(host.into());
        self.host_index.insert(host.into(), i);
        i
    }
}

/// Merge the lines of units read from files named `file`, in the given order, into one list
/// whose host and file numbers are ranks among all the names, and the units' buffers.
pub fn merge_lines(units: Vec<(Arc<str>, JsonLines)>) -> (Vec<JsonLine>, Vec<Vec<u8>>) {
    fn ranks<'a>(names: impl Iterator<Item = &'a str>) -> HashMap<&'a str, u32> {
        let mut sorted: Vec<&str> = names.collect();
        sorted.sort_unstable();
        sorted.dedup();
        sorted
            .into_iter()
            .enumerate()
            .map(|(rank, n)| (n, u32::try_from(rank).unwrap_or(u32::MAX)))
            .collect()
    }
    let hosts = ranks(units.iter().flat_map(|(_, u)| u.hosts.iter().map(|h| &**h)));
    let files = ranks(units.iter().map(|(f, _)| &**f));
    let total = units.iter().map(|(_, u)| u.lines.len()).sum();
    let mut lines = Vec::with_capacity(total);
    let mut bufs = Vec::with_capacity(units.len());
    for (file, unit) in &units {
        let buf = u32::try_from(bufs.len()).unwrap_or(u32::MAX);
        let file = files.get(&**file).copied().unwrap_or_default();
        let host_rank: Vec<u32> = unit
            .hosts
            .iter()
            .map(|h| hosts.get(&**h).copied().unwrap_or_default())
            .collect();
        lines.extend(unit.lines.iter().map(|l| JsonLine {
            host: host_rank.get(l.host as usize).copied().unwrap_or_default(),
            file,
            buf,
            ..*l
        }));
        bufs.push(Vec::new());
    }
    for ((_, unit), slot) in units.into_iter().zip(bufs.iter_mut()) {
        *slot = unit.buf;
    }
    (lines, bufs)
}

/// Write JSON lines in the order given; `bufs` are the buffers their `buf` fields name.
pub fn write_json_lines(w: &mut dyn Write, bufs: &[Vec<u8>], lines: &[JsonLine]) -> io::Result<()> {
    for l in lines {
        let text = bufs.get(l.buf as usize).and_then(|b| {
            let start = usize::try_from(l.start).ok()?;
            b.get(start..start.checked_add(l.len as usize)?)
        });
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
        Body::Sighting(s) => {
            rest[0] = opt(&s.pid);
            rest[1] = opt(&s.guid);
            rest[2] = opt(&s.image);
            rest[6] = opt(&s.user);
            rest[28] = opt(&s.detail);
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
            Body::Sighting(s) => (
                opt(&s.pid),
                String::new(),
                s.image.clone().unwrap_or_default(),
                s.detail.clone().unwrap_or_default(),
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
