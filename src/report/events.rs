//! Writers for typed events: JSONL (lossless), CSV (lossless but formula-safe) and a table for
//! people (every log-derived string escaped for the terminal).

use super::csv::CsvWriter;
use super::json;
use super::sanitize::for_terminal;
use crate::model::{Body, Event, EventKind, Marker, Source};
use crate::time::{format_rfc3339_ms, TimeWriter};
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
    /// The line's kept bytes in that buffer: `start..start + len` (see [`JsonLines`]).
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

/// The parts of an event's head that its [`JsonLine`] key does not hold and that repeat from
/// event to event (a unit of work sees a handful of them).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HeadShape {
    kind: EventKind,
    source: Source,
    channel: Arc<str>,
    provider: Arc<str>,
    event_id: u32,
    version: Option<u8>,
}

impl HeadShape {
    fn of(e: &Event) -> Self {
        HeadShape {
            kind: e.kind,
            source: e.source,
            channel: Arc::clone(&e.channel),
            provider: Arc::clone(&e.provider),
            event_id: e.event_id,
            version: e.version,
        }
    }

    /// The same as `e`'s: the extractor shares channel and provider, so a pointer comparison
    /// nearly always decides.
    fn matches(&self, e: &Event) -> bool {
        self.kind == e.kind
            && self.source == e.source
            && self.event_id == e.event_id
            && self.version == e.version
            && (Arc::ptr_eq(&self.channel, &e.channel) || self.channel == e.channel)
            && (Arc::ptr_eq(&self.provider, &e.provider) || self.provider == e.provider)
    }
}

/// Bytes kept before each line's body: the index of its [`HeadShape`] (u32), then the logged
/// time as seconds (i64) and nanoseconds (u32) since 1970, all little-endian.
const PREFIX: usize = 16;

/// The JSON lines of a unit of work: one buffer for all their text, and each line's key.
///
/// A line is kept as [`PREFIX`] bytes and the JSON of its body (`,"pid":...}` and the
/// newline); its head (`{"kind":...,"offset":...`, about a third of a line) is written when the
/// line is written out, from the key, the prefix and the unit's shapes. The global sort must
/// hold every kept line at once, so this is a third less memory to fault in and read back.
#[derive(Debug, Default)]
pub struct JsonLines {
    pub buf: Vec<u8>,
    pub lines: Vec<JsonLine>,
    /// Host names seen, in order of first sight; lines name them by index.
    hosts: Vec<Box<str>>,
    host_index: HashMap<Box<str>, u32>,
    /// Head shapes seen, in order of first sight; prefixes name them by index.
    shapes: Vec<HeadShape>,
    shape_index: HashMap<HeadShape, u32>,
    last_shape: u32,
}

impl JsonLines {
    /// Write `e`'s body and prefix, and keep its key.
    pub fn push(&mut self, e: &Event) {
        let start = self.buf.len();
        let shape = self.shape(e);
        self.buf.extend_from_slice(&shape.to_le_bytes());
        self.buf
            .extend_from_slice(&e.logged.timestamp().to_le_bytes());
        self.buf
            .extend_from_slice(&e.logged.timestamp_subsec_nanos().to_le_bytes());
        json::write_body(&mut self.buf, &e.body);
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

    /// The index of `e`'s head shape in this unit's list: the last one, then the first few
    /// by comparison (a log alternates between a handful; hashing two names cost more than
    /// the rest of the line's bookkeeping), then by hash (a hostile log can make many).
    fn shape(&mut self, e: &Event) -> u32 {
        const SCANNED: usize = 16;
        let last = self.last_shape;
        if self.shapes.get(last as usize).is_some_and(|s| s.matches(e)) {
            return last;
        }
        let near = self.shapes.iter().take(SCANNED).position(|s| s.matches(e));
        if let Some(i) = near.and_then(|i| u32::try_from(i).ok()) {
            self.last_shape = i;
            return i;
        }
        let shape = HeadShape::of(e);
        let i = match self.shape_index.get(&shape) {
            Some(&i) => i,
            None => {
                let i = u32::try_from(self.shapes.len()).unwrap_or(u32::MAX);
                self.shapes.push(shape.clone());
                self.shape_index.insert(shape, i);
                i
            }
        };
        self.last_shape = i;
        i
    }
}

/// The kept text of all units once merged: each unit's buffer and the text of its head
/// shapes (indexed by a line's `buf`), and the text of the host and file names by rank.
///
/// The parts of a head that repeat are rendered once here (see [`json::write_head`]'s
/// parts), and copied into each line: rendering the head field by field was about 2,800
/// instructions a line, a tenth of a process-dense run.
#[derive(Debug, Default)]
pub struct KeptText {
    bufs: Vec<Vec<u8>>,
    /// Per unit, per shape: the head up to the host ([`json::head_start`]) and from the
    /// times to the record id ([`json::head_shape`]).
    shapes: Vec<Vec<(Vec<u8>, Vec<u8>)>>,
    /// The host names as JSON strings, by rank.
    hosts: Vec<Vec<u8>>,
    /// From the record id to the offset ([`json::head_file`]), by file rank.
    files: Vec<Vec<u8>>,
}

impl HeadShape {
    /// The text of this shape's two parts of a head.
    fn text(&self) -> (Vec<u8>, Vec<u8>) {
        let mut start = Vec::new();
        json::head_start(&mut start, self.kind);
        let mut shape = Vec::new();
        json::head_shape(
            &mut shape,
            self.source,
            &self.channel,
            &self.provider,
            self.event_id,
            self.version,
        );
        (start, shape)
    }
}

/// Merge the lines of units read from files named `file`, in the given order, into one list
/// whose host and file numbers are ranks among all the names, and the units' kept text.
pub fn merge_lines(units: Vec<(Arc<str>, JsonLines)>) -> (Vec<JsonLine>, KeptText) {
    fn sorted<'a, T: AsRef<str> + ?Sized + 'a>(names: impl Iterator<Item = &'a T>) -> Vec<&'a str> {
        let mut sorted: Vec<&str> = names.map(AsRef::as_ref).collect();
        sorted.sort_unstable();
        sorted.dedup();
        sorted
    }
    fn ranks<'a>(sorted: &[&'a str]) -> HashMap<&'a str, u32> {
        (0u32..).zip(sorted).map(|(rank, &n)| (n, rank)).collect()
    }
    let host_names = sorted(units.iter().flat_map(|(_, u)| u.hosts.iter()));
    let file_names = sorted(units.iter().map(|(f, _)| f));
    let (hosts, files) = (ranks(&host_names), ranks(&file_names));
    let total = units.iter().map(|(_, u)| u.lines.len()).sum();
    let mut lines = Vec::with_capacity(total);
    for (buf, (file, unit)) in (0u32..).zip(&units) {
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
    }
    let json_str = |name: &str| {
        let mut text = Vec::new();
        json::push_json_str(&mut text, name);
        text
    };
    let file_text = |name: &str| {
        let mut text = Vec::new();
        json::head_file(&mut text, name);
        text
    };
    let mut kept = KeptText {
        hosts: host_names.into_iter().map(json_str).collect(),
        files: file_names.into_iter().map(file_text).collect(),
        ..Default::default()
    };
    for (_, unit) in units {
        kept.bufs.push(unit.buf);
        kept.shapes
            .push(unit.shapes.iter().map(HeadShape::text).collect());
    }
    (lines, kept)
}

/// Write JSON lines in the order given, each as its head (see [`JsonLines`]) and kept body.
///
/// Lines are put together in reused buffers and written a block of lines at a time (a block
/// at least as large as the output's own buffer is passed through instead of copied). With a
/// pool of more than one thread, windows of blocks are put together in parallel and written
/// in order: the writing was most of what is left once every worker has read its share (about
/// 15 % of a 2-thread run over a process-dense log), and a window holds at most two blocks
/// per thread.
pub fn write_json_lines(
    w: &mut dyn Write,
    kept: &KeptText,
    lines: &[JsonLine],
    pool: Option<&rayon::ThreadPool>,
) -> io::Result<()> {
    use rayon::prelude::*;
    /// Lines per block put together by one thread (about 1 MB of a process-dense log, and
    /// at least the output's own buffer for most logs).
    const LINES: usize = 1024;
    let pool = pool.filter(|p| p.current_num_threads() > 1);
    let mut blocks: Vec<Vec<u8>> =
        vec![Vec::new(); pool.map_or(1, |p| 2 * p.current_num_threads())];
    let render = |(out, block): (&mut Vec<u8>, &[JsonLine])| {
        out.clear();
        let mut times = TimeWriter::default();
        for l in block {
            write_line(out, kept, l, &mut times);
        }
    };
    for window in lines.chunks(LINES * blocks.len()) {
        match pool {
            Some(pool) => pool.install(|| {
                blocks
                    .par_iter_mut()
                    .zip(window.par_chunks(LINES))
                    .for_each(render)
            }),
            None => blocks.iter_mut().zip(window.chunks(LINES)).for_each(render),
        }
        for out in &blocks[..window.len().div_ceil(LINES)] {
            w.write_all(out)?;
        }
    }
    Ok(())
}

/// Append one kept line, head and body. A line whose parts cannot be found (which merging
/// never produces) is left out rather than written half.
fn write_line(
    out: &mut Vec<u8>,
    kept: &KeptText,
    l: &JsonLine,
    times: &mut TimeWriter,
) -> Option<()> {
    let buf = kept.bufs.get(l.buf as usize)?;
    let start = usize::try_from(l.start).ok()?;
    let text = buf.get(start..start.checked_add(l.len as usize)?)?;
    let (prefix, body) = text.split_at_checked(PREFIX)?;
    let u32_at = |at: usize| Some(u32::from_le_bytes(prefix.get(at..at + 4)?.try_into().ok()?));
    let secs = i64::from_le_bytes(prefix.get(4..12)?.try_into().ok()?);
    let logged = DateTime::from_timestamp(secs, u32_at(12)?)?;
    let (head_start, head_shape) = kept.shapes.get(l.buf as usize)?.get(u32_at(0)? as usize)?;
    let host = kept.hosts.get(l.host as usize)?;
    let file = kept.files.get(l.file as usize)?;
    // The same bytes as `json::write_head`, from its parts.
    out.extend_from_slice(head_start);
    out.extend_from_slice(host);
    json::head_times(out, &l.time, &logged, times);
    out.extend_from_slice(head_shape);
    json::push_u64(out, l.record_id);
    out.extend_from_slice(file);
    json::push_u64(out, l.offset);
    out.extend_from_slice(body);
    Some(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MarkerKind, ProcessExit, ProcessSighting, ProcessStart};

    fn event(host: &str, secs: i64, leap: bool, body: Body) -> Event {
        let nanos = if leap { 1_500_000_000 } else { 123_456_789 };
        let logged = DateTime::from_timestamp(secs, nanos);
        assert!(logged.is_some(), "{secs} {nanos}");
        let logged = logged.unwrap_or_default();
        let (kind, source, channel, provider, event_id, version) = match &body {
            Body::Process(_) => (EventKind::Process, Source::Sysmon, "S/O", "S", 1, Some(5)),
            Body::Exit(_) => (
                EventKind::Exit,
                Source::Security,
                "Security",
                "A",
                4689,
                None,
            ),
            Body::Marker(_) => (
                EventKind::Marker,
                Source::System,
                "System",
                "K",
                12,
                Some(0),
            ),
            Body::Sighting(_) => (EventKind::Sighting, Source::Sysmon, "S/O", "S", 17, Some(1)),
        };
        Event {
            kind,
            host: host.into(),
            time: DateTime::from_timestamp(secs - 1, 0).unwrap_or_default(),
            logged,
            source,
            channel: channel.into(),
            provider: provider.into(),
            event_id,
            version,
            record_id: secs as u64,
            file: Arc::from("unused"),
            offset: 7,
            body,
        }
    }

    /// Kept lines, merged, sorted and written with their heads, are exactly the lines
    /// `write_event` writes for the events in the same order: whatever the units, hosts,
    /// files and head shapes (more of them than the short scan covers).
    #[test]
    fn kept_lines_write_the_same_bytes_as_whole_events() {
        let mut units = Vec::new();
        let mut all = Vec::new();
        for (u, file) in ["b.evtx", "a \"x\".evtx", "b.evtx"].into_iter().enumerate() {
            let mut lines = JsonLines::default();
            for i in 0..1500i64 {
                let body = match i % 4 {
                    0 => Body::Process(Box::new(ProcessStart {
                        pid: Some(i as u64),
                        image: Some("C:\\x \"y\"".into()),
                        ..Default::default()
                    })),
                    1 => Body::Exit(ProcessExit::default()),
                    2 => Body::Sighting(ProcessSighting {
                        pid: Some(i as u64),
                        image: Some("C:\\Windows\\svchost.exe".into()),
                        detail: Some("\\PSEXESVC \u{1b}[31m".into()),
                        ..Default::default()
                    }),
                    _ => Body::Marker(crate::model::Marker {
                        marker: MarkerKind::ALL[i as usize % MarkerKind::ALL.len()],
                        new_time: None,
                        previous_time: None,
                        uptime_seconds: Some(3),
                        detail: None,
                    }),
                };
                let host = ["h2", "h1", "H\n3"][(i as usize + u) % 3];
                let mut e = event(host, 1_600_000_020 + i * 60 + 59, i == 7, body);
                e.version = (i >= 20).then_some(i as u8); // many shapes
                e.file = Arc::from(file);
                e.offset = (u * 1000) as u64 + i as u64;
                lines.push(&e);
                all.push(e);
            }
            units.push((Arc::from(file), lines));
        }
        let (mut lines, kept) = merge_lines(units);
        sort_lines(&mut lines);
        all.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        let mut expected = Vec::new();
        for e in &all {
            json::write_event(&mut expected, e);
            expected.push(b'\n');
        }
        // Alone, and put together by pools of 2 and 3 threads (in windows of blocks).
        let pools: Vec<rayon::ThreadPool> = [2, 3]
            .into_iter()
            .filter_map(|n| rayon::ThreadPoolBuilder::new().num_threads(n).build().ok())
            .collect();
        assert_eq!(pools.len(), 2);
        for pool in [None, Some(&pools[0]), Some(&pools[1])] {
            let mut written = Vec::new();
            write_json_lines(&mut written, &kept, &lines, pool).unwrap_or_default();
            assert_eq!(
                String::from_utf8_lossy(&written),
                String::from_utf8_lossy(&expected)
            );
        }
    }
}
