//! XML event exports: `wevtutil qe /f:xml` (events with no root), Event Viewer "Save as XML"
//! (an `<Events>` root, often UTF-16) and `evtx_dump -o xml` (`Record N` lines and a repeated
//! XML declaration before every event).
//!
//! The file is not parsed as one document, because a hostile or truncated export must cost one
//! event, not the rest of the file. A byte scanner cuts the stream into `<Event>...</Event>`
//! pieces (never holding more than [`MAX_EVENT_BYTES`] of one), and quick-xml parses each piece
//! on its own. A broken piece is reported and the scanner is already at the next `<Event`.
//!
//! This module also holds the rules that turn rendered text into a [`RawRecord`] (numbers,
//! GUIDs, times, the characters XML cannot carry), because evtx's XML rendering is the
//! reference every reader must agree with; the JSON-lines reader reuses them.

use super::{normalize_guid, RawRecord, ReadError, RecordSink, MAX_EVENT_BYTES};
use crate::issues::{Issue, IssueKind};
use chrono::{DateTime, Utc};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

/// How much the scanner asks the input for at a time.
const BLOCK: usize = 64 * 1024;
/// Progress is reported in steps this large, so a sink is not called for every event.
pub(crate) const PROGRESS_STEP: u64 = 1024 * 1024;
/// Deepest element nesting accepted inside one event; real events nest fewer than 20 levels.
const MAX_DEPTH: usize = 256;
/// Most data fields one record may carry. Real events have at most a few hundred; without a
/// cap, 16 MiB of `<Data/>` would become millions of pairs, far more memory than the input.
pub(crate) const MAX_FIELDS: usize = 16 * 1024;
/// Longest tag name the scanner looks at to decide whether a `<` starts or ends an `Event`.
const MAX_NAME_LOOKAHEAD: usize = 128;

/// Read an XML export, delivering every `<Event>` to `sink`. `Err` only when the file cannot be
/// opened or read; malformed events become [`IssueKind::MalformedXml`] issues.
pub fn read_xml(path: &Path, file: &Arc<str>, sink: &mut dyn RecordSink) -> Result<(), ReadError> {
    let io_err = |source| ReadError::Io {
        file: file.to_string(),
        source,
    };
    let handle = File::open(path).map_err(io_err)?;
    read_xml_from(handle, file, sink).map_err(io_err)
}

/// The reader behind [`read_xml`], over any byte source (tests and the fuzz targets feed it
/// slices).
pub fn read_xml_from<R: Read>(
    source: R,
    file: &Arc<str>,
    sink: &mut dyn RecordSink,
) -> io::Result<()> {
    let mut scanner = Scanner::new(Input::detect(source)?);
    let mut progress = Progress::default();
    let sink = &mut IssueCap::new(sink);
    while let Some(found) = scanner.next_event()? {
        progress.update(scanner.input.file_pos(), sink);
        match found {
            Found::Oversize { offset } => sink.issue(
                Issue::new(
                    IssueKind::MalformedXml,
                    file,
                    format!("event longer than {MAX_EVENT_BYTES} bytes; skipped"),
                )
                .at_offset(offset),
            ),
            Found::Event { offset, len } => {
                let bytes = scanner.live().get(..len).unwrap_or_default();
                deliver(bytes, offset, file, sink);
            }
        }
    }
    progress.finish(scanner.input.file_pos(), sink);
    sink.finish(IssueKind::MalformedXml, file);
    Ok(())
}

/// Issues one file may report one by one. A hostile file can hold millions of tiny broken
/// events; past this many, the rest are only counted, so that the run summary stays small.
pub(crate) const MAX_ISSUES_PER_FILE: usize = 1000;

/// Passes everything on to the real sink, except issues past [`MAX_ISSUES_PER_FILE`], which
/// `finish` reports as one.
pub(crate) struct IssueCap<'a> {
    sink: &'a mut dyn RecordSink,
    reported: usize,
    held_back: u64,
    first_held_back: Option<u64>,
}

impl<'a> IssueCap<'a> {
    pub(crate) fn new(sink: &'a mut dyn RecordSink) -> Self {
        IssueCap {
            sink,
            reported: 0,
            held_back: 0,
            first_held_back: None,
        }
    }

    pub(crate) fn finish(&mut self, kind: IssueKind, file: &Arc<str>) {
        if self.held_back > 0 {
            let detail = format!("{} more problems in this file not listed", self.held_back);
            let mut issue = Issue::new(kind, file, detail);
            issue.offset = self.first_held_back;
            self.sink.issue(issue);
            self.held_back = 0;
        }
    }
}

impl RecordSink for IssueCap<'_> {
    fn wants(&self, provider_name: Option<&str>, event_id: Option<u32>) -> bool {
        self.sink.wants(provider_name, event_id)
    }
    fn record(&mut self, record: RawRecord, offset: u64) {
        self.sink.record(record, offset);
    }
    fn skipped(&mut self) {
        self.sink.skipped();
    }
    fn issue(&mut self, issue: Issue) {
        if self.reported < MAX_ISSUES_PER_FILE {
            self.reported += 1;
            self.sink.issue(issue);
        } else {
            if self.held_back == 0 {
                self.first_held_back = issue.offset;
            }
            self.held_back += 1;
        }
    }
    fn progress(&mut self, bytes: u64) {
        self.sink.progress(bytes);
    }
}

/// Reports consumed bytes to the sink in [`PROGRESS_STEP`]s and the rest at the end.
#[derive(Default)]
pub(crate) struct Progress {
    reported: u64,
}

impl Progress {
    pub(crate) fn update(&mut self, pos: u64, sink: &mut dyn RecordSink) {
        if pos.saturating_sub(self.reported) >= PROGRESS_STEP {
            self.finish(pos, sink);
        }
    }

    pub(crate) fn finish(&mut self, pos: u64, sink: &mut dyn RecordSink) {
        if pos > self.reported {
            sink.progress(pos - self.reported);
            self.reported = pos;
        }
    }
}

/// Parse one event rendered by the evtx crate (the EVTX reader's fallback for records its fast
/// path does not handle), with the same rules as an exported event. Field-level problems are
/// returned beside the record.
pub(crate) fn parse_rendered(xml: &str) -> Result<(RawRecord, Vec<String>), String> {
    let parsed = parse_event(xml.as_bytes())?;
    let mut problems = Vec::new();
    let record = parsed.into_record(&mut problems);
    Ok((record, problems))
}

/// Parse one event's bytes and hand the result to the sink.
fn deliver(bytes: &[u8], offset: u64, file: &Arc<str>, sink: &mut dyn RecordSink) {
    let issue =
        |detail: String| Issue::new(IssueKind::MalformedXml, file, detail).at_offset(offset);
    match parse_event(bytes) {
        Ok(parsed) => {
            let mut problems = Vec::new();
            let record = parsed.into_record(&mut problems);
            for problem in problems {
                sink.issue(issue(problem));
            }
            if sink.wants(record.provider_name.as_deref(), record.event_id) {
                sink.record(record, offset);
            } else {
                sink.skipped();
            }
        }
        Err(why) => sink.issue(issue(format!("malformed event skipped: {why}"))),
    }
}

// ---------------------------------------------------------------------------------------------
// Shared rendering rules (also used by the JSON-lines reader).
// ---------------------------------------------------------------------------------------------

/// The System fields as rendered text, before they are parsed. Both text readers fill this, so
/// that they parse numbers, GUIDs and times by the same rules. `None` means the element or
/// attribute was absent; an empty element is `Some("")`.
#[derive(Debug, Default)]
pub(crate) struct SystemText {
    pub(crate) provider_name: Option<String>,
    pub(crate) provider_guid: Option<String>,
    pub(crate) event_id: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) channel: Option<String>,
    pub(crate) computer: Option<String>,
    pub(crate) record_id: Option<String>,
    pub(crate) system_time: Option<String>,
}

impl SystemText {
    /// Parse the fields. A value that is present but does not parse becomes `None` and a line
    /// in `problems`: the rest of the record is still worth having, but the loss is reported.
    pub(crate) fn into_record(
        self,
        data: Vec<(Rc<str>, String)>,
        problems: &mut Vec<String>,
    ) -> RawRecord {
        let provider_guid = checked(self.provider_guid, "Provider Guid", problems, |t| {
            normalize_guid(t)
        });
        RawRecord {
            provider_name: self.provider_name,
            provider_guid,
            event_id: checked(self.event_id, "EventID", problems, |t| t.parse().ok()),
            version: checked(self.version, "Version", problems, |t| t.parse().ok()),
            channel: self.channel,
            computer: self.computer,
            record_id: checked(self.record_id, "EventRecordID", problems, |t| {
                t.parse().ok()
            }),
            time_created: checked(self.system_time, "SystemTime", problems, parse_system_time),
            data,
        }
    }
}

/// Parse a present, non-blank value; blank text is an empty element (no value, no problem).
fn checked<T>(
    text: Option<String>,
    what: &str,
    problems: &mut Vec<String>,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Option<T> {
    let text = text?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return None;
    }
    let parsed = parse(trimmed);
    if parsed.is_none() {
        problems.push(format!(
            "{what} {} does not parse; left empty",
            quote(trimmed)
        ));
    }
    parsed
}

/// Quote input in a diagnostic: escaped and bounded, since it comes from a hostile file.
pub(crate) fn quote(text: &str) -> String {
    const MAX_CHARS: usize = 64;
    let mut short: String = text.chars().take(MAX_CHARS).collect();
    if text.chars().nth(MAX_CHARS).is_some() {
        short.push_str("...");
    }
    format!("{short:?}")
}

/// `TimeCreated/@SystemTime` as UTC. Windows writes 7 or 9 fractional digits and a `Z`; other
/// tools write offsets. Precision is cut to 100 ns, what a FILETIME holds, so that a time read
/// from text compares equal to the same time read from the binary record.
pub(crate) fn parse_system_time(text: &str) -> Option<DateTime<Utc>> {
    let time = DateTime::parse_from_rfc3339(text.trim())
        .ok()?
        .with_timezone(&Utc);
    let extra = chrono::TimeDelta::nanoseconds(i64::from(time.timestamp_subsec_nanos() % 100));
    time.checked_sub_signed(extra)
}

/// Text as evtx's XML renders it: characters XML cannot hold (C0 controls other than tab, LF
/// and CR; U+FFFE; U+FFFF) become `_`, as Windows writes them. The EVTX and JSON-lines readers
/// keep such characters as logged (JSONL output is lossless; terminals get escaping at output),
/// so comparisons between an XML rendering and the other readers apply this to both sides.
pub fn windows_text(text: &str) -> String {
    if text.contains(not_xml_char) {
        let safe = |c| if not_xml_char(c) { '_' } else { c };
        text.chars().map(safe).collect()
    } else {
        text.to_owned()
    }
}

fn not_xml_char(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}'
    )
}

// ---------------------------------------------------------------------------------------------
// Parsing one event.
// ---------------------------------------------------------------------------------------------

/// What one `<Event>` yielded, before its System text is parsed.
#[derive(Debug, Default)]
struct Parsed {
    system: SystemText,
    /// `Some` once an `EventData` element was seen, even an empty one: it then wins over
    /// `UserData`.
    event_data: Option<Vec<(Rc<str>, String)>>,
    user_data: Vec<(Rc<str>, String)>,
}

impl Parsed {
    fn into_record(self, problems: &mut Vec<String>) -> RawRecord {
        let data = self.event_data.unwrap_or(self.user_data);
        self.system.into_record(data, problems)
    }
}

/// Where an open element sits, which decides what its text and attributes mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Event,
    System,
    Field(SysField),
    EventData,
    Data,
    UserData,
    UserElem,
    Other,
}

/// System children whose text is a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SysField {
    EventId,
    Version,
    Channel,
    Computer,
    RecordId,
}

#[derive(Debug)]
struct Frame {
    ctx: Ctx,
    /// For `Data` and `UserData` leaves: the name the value is reported under.
    label: String,
    /// No child element seen yet (only meaningful for `UserElem`).
    leaf: bool,
}

/// Builds a [`Parsed`] from quick-xml events.
#[derive(Debug, Default)]
struct Builder {
    parsed: Parsed,
    stack: Vec<Frame>,
    /// Text of the element being captured: a System field, a `Data` (with its descendants'
    /// text) or a `UserData` element until it turns out to have children.
    text: String,
    /// Depth (stack length) of the element whose text is being captured.
    capture: Option<usize>,
}

/// Parse one event cut out by the scanner. `Err` carries why it is structurally broken.
fn parse_event(bytes: &[u8]) -> Result<Parsed, String> {
    let mut reader = Reader::from_reader(bytes);
    let config = reader.config_mut();
    config.trim_text(false);
    config.check_end_names = true;
    config.expand_empty_elements = false;
    let mut builder = Builder::default();
    loop {
        let event = reader.read_event().map_err(|e| e.to_string())?;
        let done = match event {
            Event::Start(e) => builder.open(&e).map(|()| false)?,
            Event::Empty(e) => {
                builder.open(&e)?;
                builder.close()?
            }
            Event::End(_) => builder.close()?,
            Event::Text(t) => {
                let raw = String::from_utf8_lossy(&t);
                let text = quick_xml::escape::unescape(&raw).unwrap_or(Cow::Borrowed(&raw));
                builder.add_text(&text);
                false
            }
            Event::CData(t) => {
                builder.add_text(&String::from_utf8_lossy(&t));
                false
            }
            Event::Eof => return Err("the event ends before </Event>".to_owned()),
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => false,
        };
        if done {
            return Ok(builder.parsed);
        }
    }
}

impl Builder {
    /// An element starts: decide its context from its parent's and its own local name.
    fn open(&mut self, e: &BytesStart) -> Result<(), String> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(format!("elements nested deeper than {MAX_DEPTH}"));
        }
        check_attrs(e)?;
        let name = e.local_name();
        let parent = self.stack.last().map(|f| f.ctx);
        let mut label = String::new();
        let ctx = match (parent, name.as_ref()) {
            (None, _) => Ctx::Event,
            (Some(Ctx::Event), b"System") => Ctx::System,
            (Some(Ctx::Event), b"EventData") => {
                self.parsed.event_data.get_or_insert_with(Vec::new);
                Ctx::EventData
            }
            (Some(Ctx::Event), b"UserData") => Ctx::UserData,
            (Some(Ctx::System), b"Provider") => {
                let system = &mut self.parsed.system;
                first(&mut system.provider_name, attr(e, b"Name")?);
                first(&mut system.provider_guid, attr(e, b"Guid")?);
                Ctx::Other
            }
            (Some(Ctx::System), b"TimeCreated") => {
                first(&mut self.parsed.system.system_time, attr(e, b"SystemTime")?);
                Ctx::Other
            }
            (Some(Ctx::System), field) => match sys_field(field) {
                Some(f) => Ctx::Field(f),
                None => Ctx::Other,
            },
            (Some(Ctx::EventData), b"Data") => {
                label = attr(e, b"Name")?.unwrap_or_default();
                Ctx::Data
            }
            (Some(Ctx::UserData | Ctx::UserElem), local) => {
                label = user_label(e, local)?;
                Ctx::UserElem
            }
            _ => Ctx::Other,
        };
        if let Some(parent) = self.stack.last_mut() {
            parent.leaf = false;
        }
        self.stack.push(Frame {
            ctx,
            label,
            leaf: true,
        });
        if matches!(ctx, Ctx::Field(_) | Ctx::Data | Ctx::UserElem) {
            self.text.clear();
            self.capture = Some(self.stack.len());
        }
        Ok(())
    }

    /// An element ends; returns whether it was the `Event` itself.
    fn close(&mut self) -> Result<bool, String> {
        let depth = self.stack.len();
        let Some(frame) = self.stack.pop() else {
            return Ok(true);
        };
        if self.capture == Some(depth) {
            self.capture = None;
            let text = std::mem::take(&mut self.text);
            let system = &mut self.parsed.system;
            match frame.ctx {
                Ctx::Field(SysField::EventId) => first(&mut system.event_id, Some(text)),
                Ctx::Field(SysField::Version) => first(&mut system.version, Some(text)),
                Ctx::Field(SysField::Channel) => first(&mut system.channel, Some(text)),
                Ctx::Field(SysField::Computer) => first(&mut system.computer, Some(text)),
                Ctx::Field(SysField::RecordId) => first(&mut system.record_id, Some(text)),
                Ctx::Data => {
                    let value = (Rc::from(windows_text(&frame.label)), windows_text(&text));
                    self.parsed
                        .event_data
                        .get_or_insert_with(Vec::new)
                        .push(value);
                }
                Ctx::UserElem if frame.leaf => {
                    let value = (Rc::from(windows_text(&frame.label)), windows_text(&text));
                    self.parsed.user_data.push(value);
                }
                _ => {}
            }
            let fields = self.parsed.user_data.len();
            if self
                .parsed
                .event_data
                .as_ref()
                .map_or(fields, Vec::len)
                .max(fields)
                > MAX_FIELDS
            {
                return Err(format!("more than {MAX_FIELDS} data fields"));
            }
        }
        Ok(self.stack.is_empty())
    }

    fn add_text(&mut self, text: &str) {
        if self.capture.is_some() {
            self.text.push_str(text);
        }
    }
}

/// Keep the first occurrence of a field: JSON renderings keep the first under the plain name
/// (repeats get a `_1` suffix), so this is what every reader agrees on.
fn first(slot: &mut Option<String>, value: Option<String>) {
    if slot.is_none() {
        *slot = value;
    }
}

fn sys_field(name: &[u8]) -> Option<SysField> {
    Some(match name {
        b"EventID" => SysField::EventId,
        b"Version" => SysField::Version,
        b"Channel" => SysField::Channel,
        b"Computer" => SysField::Computer,
        b"EventRecordID" => SysField::RecordId,
        _ => return None,
    })
}

/// A `UserData` element is reported under its local name, except a `Data` element with a
/// `Name`, which is reported under that name as in `EventData` (evtx's JSON does the same for
/// `Data` directly under `UserData`, so this keeps the renderings equal).
fn user_label(e: &BytesStart, local: &[u8]) -> Result<String, String> {
    let named = if local == b"Data" {
        attr(e, b"Name")?
    } else {
        None
    };
    Ok(named.unwrap_or_else(|| String::from_utf8_lossy(local).into_owned()))
}

/// The unescaped value of the attribute with local name `wanted`. Every attribute is checked,
/// so that a broken one makes the event malformed rather than silently dropping a field.
fn attr(e: &BytesStart, wanted: &[u8]) -> Result<Option<String>, String> {
    let mut found = None;
    for a in e.attributes() {
        let a = a.map_err(|err| err.to_string())?;
        if found.is_none() && a.key.local_name().as_ref() == wanted {
            let raw = String::from_utf8_lossy(&a.value);
            let value = quick_xml::escape::unescape(&raw).unwrap_or(Cow::Borrowed(&raw));
            found = Some(value.into_owned());
        }
    }
    Ok(found)
}

fn check_attrs(e: &BytesStart) -> Result<(), String> {
    attr(e, b"").map(|_| ())
}

// ---------------------------------------------------------------------------------------------
// Input decoding: UTF-8 as is, UTF-16 transcoded on the fly.
// ---------------------------------------------------------------------------------------------

/// The file as UTF-8, with the means to map a position in that text back to a file offset.
enum Input<R: Read> {
    Utf8 {
        src: io::Chain<Cursor<Vec<u8>>, R>,
        /// Bytes of a UTF-8 BOM skipped before the text.
        skipped: u64,
        read: u64,
    },
    Utf16(Box<Utf16Decoder<io::Chain<Cursor<Vec<u8>>, R>>>),
}

impl<R: Read> Input<R> {
    /// Sniff the encoding from a BOM, or from `<` as a UTF-16 code unit (exports without BOM).
    fn detect(mut source: R) -> io::Result<Self> {
        let mut head = [0_u8; 4];
        let mut got = 0;
        while let Some(rest) = head.get_mut(got..).filter(|r| !r.is_empty()) {
            match source.read(rest) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let head = head.get(..got).unwrap_or_default();
        let (skip, utf16) = match head {
            [0xEF, 0xBB, 0xBF, ..] => (3, None),
            [0xFF, 0xFE, ..] => (2, Some(false)),
            [0xFE, 0xFF, ..] => (2, Some(true)),
            [b'<', 0, ..] => (0, Some(false)),
            [0, b'<', ..] => (0, Some(true)),
            _ => (0, None),
        };
        let rest = head.get(skip..).unwrap_or_default().to_vec();
        let src = Cursor::new(rest).chain(source);
        let skipped = skip as u64;
        Ok(match utf16 {
            None => Input::Utf8 {
                src,
                skipped,
                read: 0,
            },
            Some(big_endian) => Input::Utf16(Box::new(Utf16Decoder::new(src, big_endian, skipped))),
        })
    }

    /// Bytes of the file consumed so far.
    fn file_pos(&self) -> u64 {
        match self {
            Input::Utf8 { skipped, read, .. } => skipped + read,
            Input::Utf16(d) => d.state.file_pos,
        }
    }

    /// File offset of the text byte at `text_pos`.
    fn file_offset(&self, text_pos: u64) -> u64 {
        match self {
            Input::Utf8 { skipped, .. } => skipped + text_pos,
            Input::Utf16(d) => d.file_offset(text_pos),
        }
    }
}

impl<R: Read> Read for Input<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self {
            Input::Utf8 { src, read, .. } => {
                let n = src.read(out)?;
                *read += n as u64;
                Ok(n)
            }
            Input::Utf16(d) => d.read(out),
        }
    }
}

/// Text bytes whose file offsets the UTF-16 decoder remembers. The scanner asks for an offset
/// as soon as it finds an `<Event`, which is at most a scanner block, a decoder block and a tag
/// name behind the newest decoded byte.
const OFFSET_RING: usize = 256 * 1024;
/// Raw bytes the UTF-16 decoder reads at a time.
const UTF16_BLOCK: usize = 16 * 1024;

/// UTF-16 to UTF-8 as a `Read`, so the rest of the reader only ever sees UTF-8. Unpaired
/// surrogates and a trailing odd byte become U+FFFD instead of failing the file.
struct Utf16Decoder<R> {
    inner: R,
    raw: Vec<u8>,
    state: Utf16State,
    done: bool,
}

struct Utf16State {
    big_endian: bool,
    /// File offset of the next raw byte.
    file_pos: u64,
    odd: Option<u8>,
    /// A high surrogate waiting for its pair, with its file offset.
    high: Option<(u16, u64)>,
    out: Vec<u8>,
    out_pos: usize,
    /// Text bytes produced so far (including those still in `out`).
    produced: u64,
    /// File offset of each of the last [`OFFSET_RING`] text bytes, indexed by position modulo
    /// the ring size.
    offsets: Vec<u64>,
}

impl<R: Read> Utf16Decoder<R> {
    fn new(inner: R, big_endian: bool, file_pos: u64) -> Self {
        Utf16Decoder {
            inner,
            raw: vec![0; UTF16_BLOCK],
            state: Utf16State {
                big_endian,
                file_pos,
                odd: None,
                high: None,
                out: Vec::with_capacity(UTF16_BLOCK * 2),
                out_pos: 0,
                produced: 0,
                offsets: vec![0; OFFSET_RING],
            },
            done: false,
        }
    }

    fn file_offset(&self, text_pos: u64) -> u64 {
        let s = &self.state;
        let ring = OFFSET_RING as u64;
        if text_pos < s.produced && s.produced - text_pos <= ring {
            let slot = usize::try_from(text_pos % ring).unwrap_or(0);
            s.offsets.get(slot).copied().unwrap_or(s.file_pos)
        } else {
            s.file_pos
        }
    }
}

impl<R: Read> Read for Utf16Decoder<R> {
    fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        while self.state.out_pos >= self.state.out.len() {
            self.state.out.clear();
            self.state.out_pos = 0;
            if self.done {
                return Ok(0);
            }
            let n = read_retrying(&mut self.inner, &mut self.raw)?;
            match self.raw.get(..n) {
                Some(raw) if n > 0 => self.state.decode(raw),
                _ => {
                    self.state.finish();
                    self.done = true;
                }
            }
        }
        let pending = self.state.out.get(self.state.out_pos..).unwrap_or_default();
        let n = pending.len().min(dst.len());
        if let (Some(to), Some(from)) = (dst.get_mut(..n), pending.get(..n)) {
            to.copy_from_slice(from);
        }
        self.state.out_pos += n;
        Ok(n)
    }
}

impl Utf16State {
    fn decode(&mut self, raw: &[u8]) {
        for &byte in raw {
            match self.odd.take() {
                None => self.odd = Some(byte),
                Some(lead) => {
                    let pair = [lead, byte];
                    let unit = if self.big_endian {
                        u16::from_be_bytes(pair)
                    } else {
                        u16::from_le_bytes(pair)
                    };
                    self.unit(unit, self.file_pos.saturating_sub(1));
                }
            }
            self.file_pos += 1;
        }
    }

    fn unit(&mut self, unit: u16, at: u64) {
        match unit {
            0xD800..=0xDBFF => {
                if let Some((_, lone)) = self.high.replace((unit, at)) {
                    self.emit(char::REPLACEMENT_CHARACTER, lone);
                }
            }
            0xDC00..=0xDFFF => match self.high.take() {
                Some((high, high_at)) => {
                    let code =
                        0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(unit) - 0xDC00);
                    self.emit(
                        char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER),
                        high_at,
                    );
                }
                None => self.emit(char::REPLACEMENT_CHARACTER, at),
            },
            _ => {
                if let Some((_, lone)) = self.high.take() {
                    self.emit(char::REPLACEMENT_CHARACTER, lone);
                }
                let c = char::from_u32(u32::from(unit)).unwrap_or(char::REPLACEMENT_CHARACTER);
                self.emit(c, at);
            }
        }
    }

    fn finish(&mut self) {
        if let Some((_, lone)) = self.high.take() {
            self.emit(char::REPLACEMENT_CHARACTER, lone);
        }
        if self.odd.take().is_some() {
            self.emit(char::REPLACEMENT_CHARACTER, self.file_pos.saturating_sub(1));
        }
    }

    fn emit(&mut self, c: char, at: u64) {
        let mut utf8 = [0_u8; 4];
        for &b in c.encode_utf8(&mut utf8).as_bytes() {
            let slot = usize::try_from(self.produced % OFFSET_RING as u64).unwrap_or(0);
            if let Some(entry) = self.offsets.get_mut(slot) {
                *entry = at;
            }
            self.out.push(b);
            self.produced += 1;
        }
    }
}

fn read_retrying(src: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match src.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Scanning: cutting the text into events.
// ---------------------------------------------------------------------------------------------

/// What the scanner found next.
#[derive(Debug, PartialEq, Eq)]
enum Found {
    /// An event's bytes are the first `len` of `scanner.live()`; `offset` is the file offset of
    /// its `<`.
    Event { offset: u64, len: usize },
    /// An event longer than [`MAX_EVENT_BYTES`], dropped unread.
    Oversize { offset: u64 },
}

/// What a `<` in the text starts, as far as cutting events is concerned.
#[derive(Debug, PartialEq, Eq)]
enum Tag {
    /// Too few bytes buffered to tell.
    NeedMore,
    Comment,
    CData,
    EventStart,
    /// `</Event>`, this many bytes long.
    EventEnd(usize),
    Other,
}

/// Finds events in the text without parsing it, so that a broken event (an unclosed quote, a
/// missing end tag) cannot swallow the events after it.
struct Scanner<R: Read> {
    input: Input<R>,
    /// Text read and not yet compacted away; the live part starts at `head`.
    buf: Vec<u8>,
    /// Start of the live text, which begins with the open event's `<`. Dropping text only
    /// moves `head`; `fill` compacts, so events do not each cost a copy of the buffer.
    head: usize,
    /// Text position of the live text's first byte.
    base: u64,
    /// Next position to scan, relative to `head`.
    pos: usize,
    eof: bool,
    /// File offset of the event being cut, if one is open.
    event: Option<u64>,
    /// Inside a comment or CDATA section: the bytes that end it.
    skipping: Option<&'static [u8]>,
    /// Bytes of the previous result still at the front of `buf`.
    handed_out: usize,
}

impl<R: Read> Scanner<R> {
    fn new(input: Input<R>) -> Self {
        Scanner {
            input,
            buf: Vec::with_capacity(BLOCK * 2),
            head: 0,
            base: 0,
            pos: 0,
            eof: false,
            event: None,
            skipping: None,
            handed_out: 0,
        }
    }

    /// The next event or oversize event, or `None` at the end of the input.
    fn next_event(&mut self) -> io::Result<Option<Found>> {
        let handed_out = std::mem::take(&mut self.handed_out);
        self.drop_front(handed_out);
        loop {
            if let Some(offset) = self.event {
                if self.pos > MAX_EVENT_BYTES {
                    return Ok(Some(self.oversize(offset)));
                }
            }
            if let Some(end) = self.skipping {
                self.skip_to(end)?;
                if self.skipping.is_some() && self.eof {
                    return Ok(self.at_eof());
                }
                continue;
            }
            let next_lt = self
                .live()
                .get(self.pos..)
                .and_then(|s| s.iter().position(|&b| b == b'<'));
            let Some(at) = next_lt.map(|i| self.pos + i) else {
                self.pos = self.live().len();
                if !self.fill()? {
                    return Ok(self.at_eof());
                }
                continue;
            };
            let tag = classify(self.live().get(at..).unwrap_or_default(), self.eof);
            if let Some(found) = self.on_tag(tag, at)? {
                return Ok(Some(found));
            }
        }
    }

    /// Act on the tag at `at`; `Some` when an event (or oversize event) is complete.
    fn on_tag(&mut self, tag: Tag, at: usize) -> io::Result<Option<Found>> {
        match tag {
            Tag::NeedMore => {
                self.pos = at;
                if !self.fill()? {
                    // Classified again with `eof` set, which always decides.
                    return Ok(None);
                }
            }
            Tag::Comment => {
                self.skipping = Some(b"-->");
                self.pos = at + 4;
            }
            Tag::CData => {
                self.skipping = Some(b"]]>");
                self.pos = at + 9;
            }
            Tag::Other => self.pos = at + 1,
            Tag::EventEnd(len) => {
                self.pos = at + len;
                if let Some(offset) = self.event.take() {
                    if self.pos > MAX_EVENT_BYTES {
                        return Ok(Some(self.oversize(offset)));
                    }
                    self.handed_out = self.pos;
                    return Ok(Some(Found::Event {
                        offset,
                        len: self.pos,
                    }));
                }
            }
            Tag::EventStart => {
                let offset = self.input.file_offset(self.base + at as u64);
                self.pos = at + 1;
                // An event still open here lacks its end tag; the parser decides whether what
                // it has is an event (`<Event/>`) or a truncated one.
                if let Some(previous) = self.event.replace(offset) {
                    self.handed_out = at;
                    return Ok(Some(Found::Event {
                        offset: previous,
                        len: at,
                    }));
                }
                self.drop_front(at);
            }
        }
        Ok(None)
    }

    /// Advance past the end of a comment or CDATA section, reading more as needed.
    fn skip_to(&mut self, end: &'static [u8]) -> io::Result<()> {
        let live_len = self.live().len();
        let rest = self.live().get(self.pos..).unwrap_or_default();
        match rest.windows(end.len()).position(|w| w == end) {
            Some(i) => {
                self.pos += i + end.len();
                self.skipping = None;
            }
            None => {
                // Keep the last bytes, which may be the start of `end`.
                let keep = end.len().saturating_sub(1).min(rest.len());
                self.pos = live_len.saturating_sub(keep);
                self.fill()?;
            }
        }
        Ok(())
    }

    /// Drop the event being cut; the scanner goes on looking for the next `<Event`.
    fn oversize(&mut self, offset: u64) -> Found {
        self.event = None;
        self.skipping = None;
        self.handed_out = self.pos;
        Found::Oversize { offset }
    }

    /// The input ended: an open event is handed out as it is, for the parser to judge.
    fn at_eof(&mut self) -> Option<Found> {
        self.skipping = None;
        let offset = self.event.take()?;
        self.handed_out = self.live().len();
        Some(Found::Event {
            offset,
            len: self.handed_out,
        })
    }

    /// Read more text; `false` at the end of the input. Outside an event, scanned text is
    /// dropped first, so junk between events is never held.
    fn fill(&mut self) -> io::Result<bool> {
        if self.event.is_none() {
            self.drop_front(self.pos);
        }
        if self.eof {
            return Ok(false);
        }
        self.buf.drain(..self.head.min(self.buf.len()));
        self.head = 0;
        let old = self.buf.len();
        self.buf.resize(old + BLOCK, 0);
        let n = match self.buf.get_mut(old..) {
            Some(space) => read_retrying(&mut self.input, space),
            None => Ok(0),
        };
        let n = n.inspect_err(|_| self.buf.truncate(old))?;
        self.buf.truncate(old + n);
        self.eof = n == 0;
        Ok(n > 0)
    }

    /// The text not yet dropped; an open event starts at its first byte.
    fn live(&self) -> &[u8] {
        self.buf.get(self.head..).unwrap_or_default()
    }

    fn drop_front(&mut self, n: usize) {
        let n = n.min(self.live().len());
        self.head += n;
        self.base += n as u64;
        self.pos = self.pos.saturating_sub(n);
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Whether `name` (possibly `prefix:Event`) is an `Event` element name.
fn is_event_name(name: &[u8]) -> bool {
    let local = match name.iter().rposition(|&b| b == b':') {
        Some(i) => name.get(i + 1..).unwrap_or_default(),
        None => name,
    };
    local == b"Event"
}

/// Decide what the `<` at the start of `b` opens. With `eof` set there is no more text, so the
/// answer is never `NeedMore`.
fn classify(b: &[u8], eof: bool) -> Tag {
    let rest = b.get(1..).unwrap_or_default();
    for (open, tag) in [(&b"!--"[..], Tag::Comment), (&b"![CDATA["[..], Tag::CData)] {
        if rest.starts_with(open) {
            return tag;
        }
        if open.starts_with(rest) && !eof {
            return Tag::NeedMore;
        }
    }
    let closing = rest.first() == Some(&b'/');
    let name_at = if closing { 2 } else { 1 };
    let tail = b.get(name_at..).unwrap_or_default();
    let window = tail.get(..MAX_NAME_LOOKAHEAD).unwrap_or(tail);
    let delimiter = |c: &u8| is_space(*c) || matches!(c, b'>' | b'/' | b'<' | b'=' | b'"' | b'\'');
    let Some(name_len) = window.iter().position(delimiter) else {
        // A file cut right after `<Event` lost an event, which is worth reporting.
        return if eof && !closing && is_event_name(window) {
            Tag::EventStart
        } else if eof || window.len() >= MAX_NAME_LOOKAHEAD {
            Tag::Other
        } else {
            Tag::NeedMore
        };
    };
    let name = tail.get(..name_len).unwrap_or_default();
    if !is_event_name(name) {
        return Tag::Other;
    }
    let after = tail.get(name_len..).unwrap_or_default();
    if !closing {
        let starts = matches!(after.first(), Some(c) if is_space(*c) || matches!(c, b'>' | b'/'));
        return if starts { Tag::EventStart } else { Tag::Other };
    }
    let after = after.get(..MAX_NAME_LOOKAHEAD).unwrap_or(after);
    match after.iter().position(|&c| !is_space(c)) {
        Some(i) if after.get(i) == Some(&b'>') => Tag::EventEnd(name_at + name_len + i + 1),
        Some(_) => Tag::Other,
        None if eof || after.len() >= MAX_NAME_LOOKAHEAD => Tag::Other,
        None => Tag::NeedMore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::ingest::KeepAll as Collect;

    fn read(bytes: &[u8]) -> Collect {
        let mut sink = Collect::default();
        let file: Arc<str> = Arc::from("test.xml");
        read_xml_from(bytes, &file, &mut sink).expect("in-memory input cannot fail");
        assert_eq!(
            sink.progress,
            bytes.len() as u64,
            "progress must add up to the input"
        );
        sink
    }

    fn records(bytes: &[u8]) -> Vec<RawRecord> {
        read(bytes).records.into_iter().map(|(r, _)| r).collect()
    }

    fn time(text: &str) -> Option<DateTime<Utc>> {
        Some(text.parse().expect("test time"))
    }

    /// A Sysmon event as `wevtutil qe /f:xml` writes it: single quotes, no whitespace.
    const WEVTUTIL_EVENT: &str = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Sysmon' Guid='{5770385F-C22A-43E0-BF4C-06F5698FFBD9}'/><EventID>1</EventID><Version>5</Version><Level>4</Level><Task>1</Task><Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime='2019-07-19T14:42:10.1234567Z'/><EventRecordID>42</EventRecordID><Correlation/><Execution ProcessID='1' ThreadID='2'/><Channel>Microsoft-Windows-Sysmon/Operational</Channel><Computer>host.example</Computer><Security UserID='S-1-5-18'/></System><EventData><Data Name='Image'>C:\\Windows\\System32\\cmd.exe</Data><Data Name='ParentImage'>C:\\Windows\\explorer.exe</Data></EventData><RenderingInfo Culture='en-US'><Message>Process Create</Message><Keywords><Keyword>x</Keyword></Keywords></RenderingInfo></Event>";

    fn sysmon_record(record_id: u64) -> RawRecord {
        RawRecord {
            provider_name: Some("Microsoft-Windows-Sysmon".into()),
            provider_guid: Some("{5770385f-c22a-43e0-bf4c-06f5698ffbd9}".into()),
            event_id: Some(1),
            version: Some(5),
            channel: Some("Microsoft-Windows-Sysmon/Operational".into()),
            computer: Some("host.example".into()),
            record_id: Some(record_id),
            time_created: time("2019-07-19T14:42:10.1234567Z"),
            data: vec![
                ("Image".into(), "C:\\Windows\\System32\\cmd.exe".into()),
                ("ParentImage".into(), "C:\\Windows\\explorer.exe".into()),
            ],
        }
    }

    fn utf16le(text: &str, bom: bool) -> Vec<u8> {
        let mut out = if bom { vec![0xFF, 0xFE] } else { Vec::new() };
        out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        out
    }

    #[test]
    fn wevtutil_concatenation_without_root() {
        let second = WEVTUTIL_EVENT.replace("<EventRecordID>42<", "<EventRecordID>43<");
        let text = format!("{WEVTUTIL_EVENT}{second}\r\n");
        let got = read(text.as_bytes());
        assert!(got.issues.is_empty(), "{:?}", got.issues);
        let offsets: Vec<u64> = got.records.iter().map(|(_, o)| *o).collect();
        assert_eq!(offsets, vec![0, WEVTUTIL_EVENT.len() as u64]);
        let recs: Vec<RawRecord> = got.records.into_iter().map(|(r, _)| r).collect();
        assert_eq!(recs, vec![sysmon_record(42), sysmon_record(43)]);
    }

    #[test]
    fn evtx_dump_records_with_repeated_declarations() {
        let text = "Record 1\n<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\">\n  <System>\n    <Provider Name=\"EventLog\"/>\n    <EventID Qualifiers=\"32768\">6013</EventID>\n    <TimeCreated SystemTime=\"2015-06-23T06:00:48.0000000Z\"/>\n    <EventRecordID>7</EventRecordID>\n    <Channel>System</Channel>\n    <Computer>PC</Computer>\n    <Security/>\n  </System>\n  <EventData>\n    <Data></Data>\n    <Data>60</Data>\n    <Data>1 W. Europe</Data>\n    <Binary>00</Binary>\n  </EventData>\n</Event>\n\nRecord 2\n<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\">\n  <System>\n    <EventRecordID>8</EventRecordID>\n  </System>\n</Event>\n";
        let got = read(text.as_bytes());
        assert!(got.issues.is_empty(), "{:?}", got.issues);
        let first_event = text.find("<Event").unwrap_or_default() as u64;
        let (first, offset) = got.records.first().cloned().unwrap_or_default();
        assert_eq!(offset, first_event);
        assert_eq!(first.event_id, Some(6013));
        assert_eq!(first.version, None);
        assert_eq!(first.provider_guid, None);
        assert_eq!(
            first.positional().collect::<Vec<_>>(),
            vec!["", "60", "1 W. Europe"]
        );
        assert_eq!(got.records.len(), 2);
        assert_eq!(got.records.get(1).map(|(r, _)| r.record_id), Some(Some(8)));
    }

    const SAVED: &str = "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\r\n<Events><Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Sch\u{e9}ma \u{1F600}'/><EventID>4688</EventID><EventRecordID>1</EventRecordID></System><EventData><Data Name='NewProcessName'>C:\\T\u{e9}st\\a.exe</Data></EventData></Event><Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><EventID>4689</EventID><EventRecordID>2</EventRecordID></System></Event></Events>";

    #[test]
    fn saved_as_xml_in_utf16le_with_bom() {
        let bytes = utf16le(SAVED, true);
        let got = read(&bytes);
        assert!(got.issues.is_empty(), "{:?}", got.issues);
        let ids: Vec<_> = got.records.iter().map(|(r, _)| r.event_id).collect();
        assert_eq!(ids, vec![Some(4688), Some(4689)]);
        let first = got
            .records
            .first()
            .map(|(r, _)| r.clone())
            .unwrap_or_default();
        assert_eq!(
            first.provider_name.as_deref(),
            Some("Sch\u{e9}ma \u{1F600}")
        );
        assert_eq!(first.field("NewProcessName"), Some("C:\\T\u{e9}st\\a.exe"));
        // Offsets are file offsets of the `<`, in UTF-16 code units after the BOM.
        let expected: Vec<u64> = SAVED
            .match_indices("<Event ")
            .map(|(i, _)| 2 + 2 * SAVED.get(..i).unwrap_or_default().encode_utf16().count() as u64)
            .collect();
        let offsets: Vec<u64> = got.records.iter().map(|(_, o)| *o).collect();
        assert_eq!(offsets, expected);
    }

    #[test]
    fn utf16be_utf8_bom_and_bomless_utf16_read_the_same() {
        let reference = records(SAVED.as_bytes());
        assert_eq!(reference.len(), 2);
        let mut be = vec![0xFE, 0xFF];
        be.extend(SAVED.encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(records(&be), reference);
        assert_eq!(records(&utf16le(SAVED, false)), reference);
        let mut utf8_bom = b"\xEF\xBB\xBF".to_vec();
        utf8_bom.extend_from_slice(SAVED.as_bytes());
        let got = read(&utf8_bom);
        assert_eq!(
            got.records.first().map(|(_, o)| *o),
            SAVED.find("<Event ").map(|i| i as u64 + 3)
        );
    }

    #[test]
    fn malformed_event_is_reported_and_the_next_one_read() {
        let broken = [
            "<Event><System><EventID>1</EventID></System>", // no end tag
            "<Event><System><EventID>1</EventID></Sys></Event>", // mismatched end
            "<Event><System><Provider Name=\"x/></System></Event>", // unclosed quote
            "<Event><System><Provider Name='a' Name='b'/></System></Event>", // duplicate attribute
            "<Event><System><EventID>1</EventID></System></Event", // cut end tag
        ];
        for bad in broken {
            let text = format!("{bad}\n{WEVTUTIL_EVENT}");
            let got = read(text.as_bytes());
            assert_eq!(got.issues.len(), 1, "{bad}: {:?}", got.issues);
            let issue = got.issues.first().cloned();
            assert_eq!(
                issue.as_ref().map(|i| i.kind),
                Some(IssueKind::MalformedXml)
            );
            assert_eq!(issue.and_then(|i| i.offset), Some(0), "{bad}");
            let recs: Vec<_> = got.records.iter().map(|(r, o)| (r.clone(), *o)).collect();
            assert_eq!(
                recs,
                vec![(sysmon_record(42), bad.len() as u64 + 1)],
                "{bad}"
            );
        }
    }

    #[test]
    fn oversize_event_is_skipped_without_losing_the_next() {
        let filler = "A".repeat(MAX_EVENT_BYTES);
        let text = format!(
            "<Event><EventData><Data Name='x'>{filler}</Data></EventData></Event>{WEVTUTIL_EVENT}"
        );
        let got = read(text.as_bytes());
        assert_eq!(got.issues.len(), 1);
        assert_eq!(got.issues.first().and_then(|i| i.offset), Some(0));
        let offsets: Vec<u64> = got.records.iter().map(|(_, o)| *o).collect();
        assert_eq!(offsets, vec![(text.len() - WEVTUTIL_EVENT.len()) as u64]);
        // An unterminated giant at the end is dropped as well, not buffered whole.
        let text = format!("{WEVTUTIL_EVENT}<Event><Data>{filler}{filler}");
        let got = read(text.as_bytes());
        assert_eq!((got.records.len(), got.issues.len()), (1, 1));
    }

    #[test]
    fn entities_cdata_and_control_characters_are_decoded() {
        let text = "<Event><System><Computer>a&amp;b</Computer></System><EventData><Data Name='q&quot;&apos;'>&lt;x&gt; &#x41;&#66; <![CDATA[<raw&amp;>]]> &#1;</Data><Data Name='Empty'/><Data Name='unknown'>&bogus;</Data></EventData></Event>";
        let recs = records(text.as_bytes());
        let rec = recs.first().cloned().unwrap_or_default();
        assert_eq!(rec.computer.as_deref(), Some("a&b"));
        assert_eq!(
            rec.data,
            vec![
                ("q\"'".into(), "<x> AB <raw&amp;> _".into()),
                ("Empty".into(), String::new()),
                ("unknown".into(), "&bogus;".into()),
            ]
        );
    }

    #[test]
    fn user_data_leaves_in_document_order() {
        let text = "<Event><System><EventID>1102</EventID></System><UserData><LogFileCleared xmlns='http://manifests.microsoft.com/win/2004/08/windows/eventlog'><SubjectUserSid>S-1-5-21-1</SubjectUserSid><Inner><A>1</A><B/></Inner><Data Name='Named'>v</Data><Data>u</Data><SubjectUserName>bob</SubjectUserName></LogFileCleared></UserData></Event>";
        let rec = records(text.as_bytes())
            .first()
            .cloned()
            .unwrap_or_default();
        let want: Vec<(Rc<str>, String)> = [
            ("SubjectUserSid", "S-1-5-21-1"),
            ("A", "1"),
            ("B", ""),
            ("Named", "v"),
            ("Data", "u"),
            ("SubjectUserName", "bob"),
        ]
        .iter()
        .map(|(n, v)| (Rc::from(*n), v.to_string()))
        .collect();
        assert_eq!(rec.data, want);
        // EventData, even empty, wins over UserData.
        let both = "<Event><EventData/><UserData><X><Y>1</Y></X></UserData></Event>";
        assert_eq!(
            records(both.as_bytes()).first().map(|r| r.data.len()),
            Some(0)
        );
    }

    #[test]
    fn bad_fields_become_none_with_an_issue() {
        let text = "<Event><System><Provider Name='P' Guid='not-a-guid'/><EventID Qualifiers='x'>abc</EventID><Version>300</Version><TimeCreated SystemTime='yesterday'/><EventRecordID></EventRecordID><Channel/></System></Event>";
        let got = read(text.as_bytes());
        let rec = got
            .records
            .first()
            .map(|(r, _)| r.clone())
            .unwrap_or_default();
        assert_eq!(rec.provider_name.as_deref(), Some("P"));
        assert_eq!(
            (rec.provider_guid, rec.event_id, rec.version),
            (None, None, None)
        );
        assert_eq!((rec.time_created, rec.record_id), (None, None));
        assert_eq!(rec.channel.as_deref(), Some(""));
        // Guid, EventID, Version, SystemTime; the empty EventRecordID is no problem.
        assert_eq!(got.issues.len(), 4, "{:?}", got.issues);
        assert!(got
            .issues
            .iter()
            .all(|i| i.kind == IssueKind::MalformedXml && i.offset == Some(0)));
    }

    #[test]
    fn system_time_offsets_and_precision() {
        assert_eq!(
            parse_system_time("2021-01-01T01:00:00.1234567+01:00"),
            time("2021-01-01T00:00:00.1234567Z")
        );
        assert_eq!(
            parse_system_time("2021-06-10T14:12:46.041829099Z"),
            time("2021-06-10T14:12:46.0418290Z")
        );
        assert_eq!(
            parse_system_time("2021-06-10T14:12:46Z"),
            time("2021-06-10T14:12:46Z")
        );
        assert_eq!(parse_system_time("2021-06-10T14:12:46"), None);
    }

    #[test]
    fn namespace_prefixes_and_comments_are_ignored() {
        let text = "<e:Events xmlns:e='urn:x'><e:Event xmlns:e='urn:x'><!-- </Event> --><e:System><e:EventID>5</e:EventID></e:System><e:EventData><e:Data e:Name='n'>v<!--c--></e:Data></e:EventData></e:Event></e:Events>";
        let got = read(text.as_bytes());
        assert!(got.issues.is_empty(), "{:?}", got.issues);
        let rec = got
            .records
            .first()
            .map(|(r, _)| r.clone())
            .unwrap_or_default();
        assert_eq!((rec.event_id, rec.field("n")), (Some(5), Some("v")));
    }

    #[test]
    fn byte_at_a_time_input_reads_the_same() {
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                match (self.0.split_first(), out.first_mut()) {
                    (Some((b, rest)), Some(slot)) => {
                        *slot = *b;
                        self.0 = rest;
                        Ok(1)
                    }
                    _ => Ok(0),
                }
            }
        }
        for bytes in [
            utf16le(SAVED, true),
            format!("x<!-- a -->{WEVTUTIL_EVENT}<Ev").into_bytes(),
        ] {
            let mut sink = Collect::default();
            let file: Arc<str> = Arc::from("t");
            read_xml_from(Trickle(&bytes), &file, &mut sink).expect("in memory");
            let whole = read(&bytes);
            assert_eq!(sink.records, whole.records);
            assert_eq!(sink.issues, whole.issues);
        }
    }

    #[test]
    fn unwanted_records_are_counted_as_skipped() {
        let mut sink = Collect {
            refuse: true,
            ..Collect::default()
        };
        let file: Arc<str> = Arc::from("t");
        read_xml_from(WEVTUTIL_EVENT.as_bytes(), &file, &mut sink).expect("in memory");
        assert_eq!((sink.records.len(), sink.skipped), (0, 1));
    }

    #[test]
    fn junk_and_empty_input_yield_nothing() {
        for junk in [
            &b""[..],
            b"\xFF\xFE",
            b"<",
            b"<Event",
            b"</Event>",
            b"Record 1\n<?xml?>",
            b"<!--",
        ] {
            let got = read(junk);
            assert!(got.records.is_empty(), "{junk:?}");
        }
        assert_eq!(read(b"<Event").issues.len(), 1);
    }

    #[test]
    fn issues_past_the_cap_are_summed_up() {
        let text = format!(
            "{}{WEVTUTIL_EVENT}",
            "<Event>".repeat(MAX_ISSUES_PER_FILE + 500)
        );
        let got = read(text.as_bytes());
        assert_eq!(got.records.len(), 1);
        assert_eq!(got.issues.len(), MAX_ISSUES_PER_FILE + 1);
        let last = got.issues.last().cloned();
        assert_eq!(last.as_ref().map(|i| i.kind), Some(IssueKind::MalformedXml));
        assert_eq!(
            last.as_ref().and_then(|i| i.offset),
            Some(7 * MAX_ISSUES_PER_FILE as u64)
        );
        assert!(last.is_some_and(|i| i.detail.starts_with("500 more")));
    }

    #[test]
    fn too_many_fields_or_too_deep_is_malformed() {
        let many = format!(
            "<Event><EventData>{}</EventData></Event>",
            "<Data/>".repeat(MAX_FIELDS + 1)
        );
        let deep = format!(
            "<Event><UserData>{}{}</UserData></Event>",
            "<a>".repeat(MAX_DEPTH),
            "</a>".repeat(MAX_DEPTH)
        );
        for text in [many, deep] {
            let got = read(format!("{text}{WEVTUTIL_EVENT}").as_bytes());
            assert_eq!((got.records.len(), got.issues.len()), (1, 1));
        }
        let enough = format!(
            "<Event><EventData>{}</EventData></Event>",
            "<Data/>".repeat(MAX_FIELDS)
        );
        assert_eq!(
            records(enough.as_bytes()).first().map(|r| r.data.len()),
            Some(MAX_FIELDS)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let got = read(&bytes);
            prop_assert!(got.records.len() <= bytes.len());
        }

        #[test]
        fn damaged_exports_never_panic(cut in 0..WEVTUTIL_EVENT.len() * 2, flip in 0..WEVTUTIL_EVENT.len() * 2, byte in any::<u8>()) {
            let mut bytes = format!("{WEVTUTIL_EVENT}{WEVTUTIL_EVENT}").into_bytes();
            if let Some(b) = bytes.get_mut(flip) {
                *b = byte;
            }
            bytes.truncate(cut);
            let got = read(&bytes);
            prop_assert!(got.records.len() <= 2);
        }
    }
}
