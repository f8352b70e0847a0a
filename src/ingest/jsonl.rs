//! `evtx_dump -o jsonl` output: one `{"Event":{...}}` object per line.
//!
//! The JSON rendering loses some of what XML says, so this reader undoes evtx's conventions to
//! give the record the XML reader would give for the same event (XML is the reference):
//!
//! - named `Data` become members keyed by their name; a run of one name becomes an array, and a
//!   later repeat of a name gets a `_1`, `_2`... suffix, which is taken off again;
//! - unnamed `Data` become one `"Data":{"#text":[...]}` member (or a single `#text` string);
//! - numbers and booleans are bare JSON values, written back as the decimal text XML shows;
//! - an empty element is `null`, which is empty text;
//! - other `EventData` children (`Binary`, `ComplexData` with its attributes) are dropped, as
//!   the XML reader keeps only `Data`;
//! - characters XML cannot hold stay raw in JSON, and are mapped to `_` as XML has them.
//!
//! Lines are parsed by serde straight into the few fields a record needs; `EventData` and
//! `UserData` are walked in document order as they are parsed, never built into a tree.

use super::xml::{IssueCap, Progress, SystemText, MAX_FIELDS};
use super::{RawRecord, ReadError, RecordSink, MAX_EVENT_BYTES};
use crate::issues::{Issue, IssueKind};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

/// Buffer size of the line reader.
const BLOCK: usize = 64 * 1024;

/// Read a JSON-lines export, delivering one record per line to `sink` with its 1-based line
/// number as the offset. `Err` only when the file cannot be opened or read.
pub fn read_jsonl(
    path: &Path,
    file: &Arc<str>,
    sink: &mut dyn RecordSink,
) -> Result<(), ReadError> {
    let io_err = |source| ReadError::Io {
        file: file.to_string(),
        source,
    };
    let handle = File::open(path).map_err(io_err)?;
    read_jsonl_from(BufReader::with_capacity(BLOCK, handle), file, sink).map_err(io_err)
}

/// The reader behind [`read_jsonl`], over any buffered source (tests and the fuzz targets feed
/// it slices).
pub fn read_jsonl_from<R: BufRead>(
    mut source: R,
    file: &Arc<str>,
    sink: &mut dyn RecordSink,
) -> io::Result<()> {
    let mut line = Vec::new();
    let mut line_no = 0_u64;
    let mut consumed = 0_u64;
    let mut progress = Progress::default();
    let sink = &mut IssueCap::new(sink);
    loop {
        let (read, fits) = read_bounded_line(&mut source, &mut line, MAX_EVENT_BYTES)?;
        if read == 0 {
            break;
        }
        consumed += read as u64;
        line_no += 1;
        let issue =
            |detail: String| Issue::new(IssueKind::MalformedJson, file, detail).at_offset(line_no);
        if !fits {
            sink.issue(issue(format!(
                "line {line_no} longer than {MAX_EVENT_BYTES} bytes; skipped"
            )));
        } else {
            let text = if line_no == 1 {
                line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&line)
            } else {
                &line
            };
            deliver(text, line_no, &issue, sink);
        }
        progress.update(consumed, sink);
    }
    progress.finish(consumed, sink);
    sink.finish(IssueKind::MalformedJson, file);
    Ok(())
}

/// Parse one line and hand the result to the sink; blank lines are not records.
fn deliver(text: &[u8], line_no: u64, issue: &dyn Fn(String) -> Issue, sink: &mut dyn RecordSink) {
    if text.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    match serde_json::from_slice::<LineJson>(text) {
        Ok(line) => {
            let mut problems = Vec::new();
            let record = line.event.into_record(&mut problems);
            for problem in problems {
                sink.issue(issue(format!("line {line_no}: {problem}")));
            }
            if sink.wants(record.provider_name.as_deref(), record.event_id) {
                sink.record(record, line_no);
            } else {
                sink.skipped();
            }
        }
        Err(e) => sink.issue(issue(format!("line {line_no} is not an event: {e}"))),
    }
}

/// Read one line into `line` (without its `\n` or `\r\n`). Returns the bytes consumed (0 at
/// the end of the input) and whether the line fit in `max` bytes; a longer line is consumed
/// without being kept.
fn read_bounded_line<R: BufRead>(
    source: &mut R,
    line: &mut Vec<u8>,
    max: usize,
) -> io::Result<(usize, bool)> {
    line.clear();
    let mut consumed = 0;
    let mut fits = true;
    loop {
        let available = match source.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            break;
        }
        let newline = available.iter().position(|&b| b == b'\n');
        let content = available
            .get(..newline.unwrap_or(available.len()))
            .unwrap_or_default();
        if fits && line.len() + content.len() <= max.saturating_add(1) {
            line.extend_from_slice(content);
        } else {
            fits = false;
            line.clear();
        }
        let used = newline.map_or(available.len(), |i| i + 1);
        source.consume(used);
        consumed += used;
        if newline.is_some() {
            break;
        }
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    // One byte over was allowed in for a `\r`; without one the line is too long after all.
    let fits = fits && line.len() <= max;
    if !fits {
        line.clear();
    }
    Ok((consumed, fits))
}

// ---------------------------------------------------------------------------------------------
// The serde model: only what a RawRecord needs; everything else is skipped as `IgnoredAny`.
// ---------------------------------------------------------------------------------------------

/// The `visit_*` methods for JSON scalars: each value becomes the text XML shows for it and is
/// passed to the visitor's own `scalar` method.
macro_rules! scalar_visits {
    () => {
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(self.scalar(v.to_owned()))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(self.scalar(v.to_string()))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(self.scalar(v.to_string()))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(self.scalar(v.to_string()))
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(self.scalar(v.to_string()))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(self.scalar(String::new()))
        }
    };
}

#[derive(Deserialize)]
struct LineJson {
    #[serde(rename = "Event")]
    event: EventJson,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EventJson {
    #[serde(rename = "System")]
    system: Option<SystemJson>,
    /// `null` for `<EventData></EventData>`, which still wins over `UserData`; hence `present`.
    #[serde(rename = "EventData", deserialize_with = "present")]
    event_data: Option<EventDataJson>,
    #[serde(rename = "UserData", deserialize_with = "present")]
    user_data: Option<UserDataJson>,
}

/// An element that is there, even as `null`, is `Some`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

impl EventJson {
    fn into_record(self, problems: &mut Vec<String>) -> RawRecord {
        let data = match (self.event_data, self.user_data) {
            (Some(event_data), _) => event_data.0,
            (None, Some(user_data)) => user_data.0,
            (None, None) => Vec::new(),
        };
        let s = self.system.unwrap_or_default();
        let system = SystemText {
            provider_name: s.provider.attr("Name"),
            provider_guid: s.provider.attr("Guid"),
            event_id: s.event_id.text(),
            version: s.version.text(),
            channel: s.channel.text(),
            computer: s.computer.text(),
            record_id: s.record_id.text(),
            system_time: s.time_created.attr("SystemTime"),
        };
        system.into_record(data, problems)
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SystemJson {
    #[serde(rename = "Provider")]
    provider: Elem,
    #[serde(rename = "EventID")]
    event_id: Elem,
    #[serde(rename = "Version")]
    version: Elem,
    #[serde(rename = "Channel")]
    channel: Elem,
    #[serde(rename = "Computer")]
    computer: Elem,
    #[serde(rename = "EventRecordID")]
    record_id: Elem,
    #[serde(rename = "TimeCreated")]
    time_created: Elem,
}

/// A System child: a bare value, or `{"#attributes":{...},"#text":...}`.
#[derive(Default)]
struct Elem {
    present: bool,
    text: Option<String>,
    attrs: Vec<(String, String)>,
}

impl Elem {
    /// The element's text as XML would show it: absent is `None`, empty or `null` is `""`.
    fn text(&self) -> Option<String> {
        self.present.then(|| self.text.clone().unwrap_or_default())
    }

    fn attr(&self, name: &str) -> Option<String> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }
}

impl<'de> Deserialize<'de> for Elem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ElemVisitor)
    }
}

struct ElemVisitor;

impl<'de> Visitor<'de> for ElemVisitor {
    type Value = Elem;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an element value or object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Elem, A::Error> {
        let mut elem = Elem {
            present: true,
            ..Elem::default()
        };
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "#attributes" => elem.attrs = map.next_value::<Attrs>()?.0,
                "#text" => elem.text = Some(map.next_value::<TextList>()?.0.concat()),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(elem)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Elem, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Elem {
            present: true,
            ..Elem::default()
        })
    }

    scalar_visits!();
}

impl ElemVisitor {
    fn scalar(self, text: String) -> Elem {
        Elem {
            present: true,
            text: Some(text),
            attrs: Vec::new(),
        }
    }
}

/// A scalar as text.
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number, boolean or null")
            }
            scalar_visits!();
        }
        impl V {
            fn scalar(self, text: String) -> Text {
                Text(text)
            }
        }
        d.deserialize_any(V)
    }
}

/// `#text`: a scalar, or the array evtx writes for a run of unnamed `Data`.
struct TextList(Vec<String>);

impl<'de> Deserialize<'de> for TextList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TextList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("text or an array of text")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TextList, A::Error> {
                Ok(TextList(bounded_texts(&mut seq)?))
            }
            scalar_visits!();
        }
        impl V {
            fn scalar(self, text: String) -> TextList {
                TextList(vec![text])
            }
        }
        d.deserialize_any(V)
    }
}

/// `#attributes`, in order.
struct Attrs(Vec<(String, String)>);

impl<'de> Deserialize<'de> for Attrs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Attrs;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an attribute object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attrs, A::Error> {
                let mut attrs = Vec::new();
                while let Some((name, Text(value))) = map.next_entry::<String, Text>()? {
                    attrs.push((name, value));
                }
                Ok(Attrs(attrs))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Attrs, E> {
                Ok(Attrs(Vec::new()))
            }
        }
        d.deserialize_any(V)
    }
}

/// The items of a JSON array of scalars, refusing more than [`MAX_FIELDS`] before they are all
/// held (see there).
fn bounded_texts<'de, A: SeqAccess<'de>>(seq: &mut A) -> Result<Vec<String>, A::Error> {
    let mut items = Vec::new();
    while let Some(Text(t)) = seq.next_element()? {
        items.push(t);
        check_fields(items.len())?;
    }
    Ok(items)
}

fn check_fields<E: de::Error>(count: usize) -> Result<(), E> {
    if count > MAX_FIELDS {
        return Err(E::custom(format_args!(
            "more than {MAX_FIELDS} data fields"
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// EventData.
// ---------------------------------------------------------------------------------------------

/// `EventData` as (Name, text) pairs in document order.
struct EventDataJson(Vec<(Rc<str>, String)>);

/// One `EventData` member's value.
enum Member {
    /// A named `Data` (or `Binary`) value.
    Scalar(String),
    /// A run of `Data` sharing one name.
    Run(Vec<String>),
    /// An object: unnamed `Data` (`{"#text":...}`) or another element, e.g. `ComplexData`.
    Object {
        has_attrs: bool,
        text: Option<Vec<String>>,
    },
}

impl<'de> Deserialize<'de> for Member {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Member;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an EventData member")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Member, A::Error> {
                Ok(Member::Run(bounded_texts(&mut seq)?))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Member, A::Error> {
                let (mut has_attrs, mut text) = (false, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "#text" => text = Some(map.next_value::<TextList>()?.0),
                        other => {
                            has_attrs |= other == "#attributes";
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Member::Object { has_attrs, text })
            }
            scalar_visits!();
        }
        impl V {
            fn scalar(self, text: String) -> Member {
                Member::Scalar(text)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for EventDataJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EventDataJson;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an EventData object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EventDataJson, A::Error> {
                let mut data = Vec::new();
                let mut names = NameCounts::default();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "#attributes" || key == "#text" {
                        map.next_value::<IgnoredAny>()?;
                    } else {
                        let member = map.next_value::<Member>()?;
                        add_member(key, member, &mut names, &mut data);
                        check_fields(data.len())?;
                    }
                }
                Ok(EventDataJson(data))
            }
            scalar_visits!();
        }
        impl V {
            /// Text directly in EventData, or an empty element: no Data.
            fn scalar(self, _text: String) -> EventDataJson {
                EventDataJson(Vec::new())
            }
        }
        d.deserialize_any(V)
    }
}

/// Turn one `EventData` member back into the `Data` elements XML has for it.
fn add_member(
    key: String,
    member: Member,
    names: &mut NameCounts,
    data: &mut Vec<(Rc<str>, String)>,
) {
    match member {
        Member::Object {
            text: Some(items), ..
        } if key == "Data" => data.extend(items.into_iter().map(|t| (Rc::from(""), t))),
        // `Binary` is its own element in XML, not a Data; so are elements with attributes
        // left over once evtx moved `Name` into the key (`ComplexData`).
        Member::Scalar(_) if key == "Binary" => {}
        Member::Object {
            has_attrs: true, ..
        } => {}
        Member::Scalar(value) => {
            let name = names.resolve(key, 1);
            data.push((Rc::from(name), value));
        }
        Member::Run(items) => {
            let name: Rc<str> = Rc::from(names.resolve(key, items.len()));
            data.extend(items.into_iter().map(|t| (name.clone(), t)));
        }
        Member::Object { text, .. } => {
            let name = names.resolve(key, 1);
            data.push((Rc::from(name), text.map(|t| t.concat()).unwrap_or_default()));
        }
    }
}

/// Undoes evtx's numbering of repeated names: the second `LogonGuid` of a 4648 event is
/// written `LogonGuid_1`. A key `base_N` is taken as `base` only when `base` came earlier in
/// the same object at least N times, so a real name such as `Param_1` is left alone unless a
/// `Param` precedes it.
#[derive(Default)]
struct NameCounts(HashMap<String, usize>);

impl NameCounts {
    /// The element name behind `key`, counting `items` more elements of that name.
    fn resolve(&mut self, key: String, items: usize) -> String {
        let name = match split_suffix(&key) {
            Some((base, n)) if n <= self.0.get(base).copied().unwrap_or(0) => base.to_owned(),
            _ => key,
        };
        *self.0.entry(name.clone()).or_default() += items.max(1);
        name
    }
}

/// `("base", N)` for a key `base_N`, N a positive decimal without leading zeros.
fn split_suffix(key: &str) -> Option<(&str, usize)> {
    let (base, digits) = key.rsplit_once('_')?;
    let valid = !base.is_empty()
        && !digits.starts_with('0')
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit());
    valid
        .then(|| digits.parse().ok().map(|n| (base, n)))
        .flatten()
}

// ---------------------------------------------------------------------------------------------
// UserData.
// ---------------------------------------------------------------------------------------------

/// `UserData`'s leaf elements as (name, text) in document order, as the XML reader gives them.
struct UserDataJson(Vec<(Rc<str>, String)>);

impl<'de> Deserialize<'de> for UserDataJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = Vec::new();
        d.deserialize_any(Children { out: &mut out })?;
        Ok(UserDataJson(out))
    }
}

/// Walks an object's child elements, each with [`Element`], skipping the container's own
/// attributes and text.
struct Children<'a> {
    out: &'a mut Vec<(Rc<str>, String)>,
}

impl<'de> Visitor<'de> for Children<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("UserData")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut names = NameCounts::default();
        while let Some(key) = map.next_key::<String>()? {
            if key == "#attributes" || key == "#text" {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let name = local_name(names.resolve(key, 1));
            map.next_value_seed(Element {
                name: &name,
                out: &mut *self.out,
            })?;
            check_fields(self.out.len())?;
        }
        Ok(())
    }

    scalar_visits!();
}

impl Children<'_> {
    /// Text directly in UserData, or an empty element: no leaves.
    fn scalar(self, _text: String) {}
}

/// One element named `name`: a leaf adds (name, text) to `out`; otherwise its children do.
struct Element<'a> {
    name: &'a str,
    out: &'a mut Vec<(Rc<str>, String)>,
}

impl<'de> DeserializeSeed<'de> for Element<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Element<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a UserData element")
    }

    /// Several elements of one name, as evtx writes a run of `Data`.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(Element {
                name: self.name,
                out: &mut *self.out,
            })?
            .is_some()
        {
            check_fields(self.out.len())?;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (mut label, mut text, mut children) = (None, Vec::new(), false);
        let mut names = NameCounts::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "#attributes" => {
                    let attrs = map.next_value::<Attrs>()?.0;
                    if self.name == "Data" {
                        label = attrs.into_iter().find(|(n, _)| n == "Name").map(|(_, v)| v);
                    }
                }
                "#text" => text = map.next_value::<TextList>()?.0,
                _ => {
                    children = true;
                    let name = local_name(names.resolve(key, 1));
                    map.next_value_seed(Element {
                        name: &name,
                        out: &mut *self.out,
                    })?;
                    check_fields(self.out.len())?;
                }
            }
        }
        if !children {
            let label: Rc<str> = Rc::from(label.as_deref().unwrap_or(self.name));
            if text.is_empty() {
                self.out.push((label, String::new()));
            } else {
                self.out
                    .extend(text.into_iter().map(|t| (label.clone(), t)));
            }
        }
        check_fields(self.out.len())
    }

    scalar_visits!();
}

impl Element<'_> {
    fn scalar(self, text: String) {
        self.out.push((Rc::from(self.name), text));
    }
}

/// An element name without its namespace prefix, as the XML reader matches local names.
fn local_name(name: String) -> String {
    match name.rsplit_once(':') {
        Some((_, local)) => local.to_owned(),
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::ingest::KeepAll as Collect;

    fn read(bytes: &[u8]) -> Collect {
        let mut sink = Collect::default();
        let file: Arc<str> = Arc::from("test.jsonl");
        read_jsonl_from(bytes, &file, &mut sink).expect("in-memory input cannot fail");
        assert_eq!(
            sink.progress,
            bytes.len() as u64,
            "progress must add up to the input"
        );
        sink
    }

    fn first(bytes: &[u8]) -> RawRecord {
        read(bytes)
            .records
            .into_iter()
            .next()
            .map(|(r, _)| r)
            .unwrap_or_default()
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(Rc<str>, String)> {
        items
            .iter()
            .map(|(n, v)| (Rc::from(*n), v.to_string()))
            .collect()
    }

    /// EventLog 6008 as `evtx_dump -o jsonl` writes it.
    const UNEXPECTED_SHUTDOWN: &str = r##"{"Event":{"#attributes":{"xmlns":"http://schemas.microsoft.com/win/2004/08/events/event"},"System":{"Provider":{"#attributes":{"Name":"EventLog"}},"EventID":{"#attributes":{"Qualifiers":32768},"#text":6008},"Level":2,"Task":0,"Keywords":"0x80000000000000","TimeCreated":{"#attributes":{"SystemTime":"2021-02-12T12:33:39.5142631Z"}},"EventRecordID":15538,"Channel":"System","Computer":"dc.windomain.local","Security":null},"EventData":{"Data":{"#text":["10:02:11","2/12/2021","","",""]},"Binary":"E5070200"}}}"##;

    #[test]
    fn system_fields_and_unnamed_data() {
        let got = read(UNEXPECTED_SHUTDOWN.as_bytes());
        assert!(got.issues.is_empty(), "{:?}", got.issues);
        let (rec, line) = got.records.into_iter().next().unwrap_or_default();
        assert_eq!(line, 1);
        assert_eq!(rec.provider_name.as_deref(), Some("EventLog"));
        assert_eq!(rec.provider_guid, None);
        assert_eq!(
            (rec.event_id, rec.version, rec.record_id),
            (Some(6008), None, Some(15538))
        );
        assert_eq!(rec.channel.as_deref(), Some("System"));
        assert_eq!(rec.computer.as_deref(), Some("dc.windomain.local"));
        assert_eq!(
            rec.time_created,
            "2021-02-12T12:33:39.5142631Z".parse().ok()
        );
        assert_eq!(
            rec.positional().collect::<Vec<_>>(),
            vec!["10:02:11", "2/12/2021", "", "", ""]
        );
    }

    #[test]
    fn named_data_numbers_booleans_nulls_runs_and_repeats() {
        let line = r##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Security-Auditing","Guid":"{54849625-5478-4994-A5BA-3E3B0328C30D}"}},"EventID":"4648","Version":"0","EventRecordID":"4","Channel":null},"EventData":{"#attributes":{"Name":"ignored"},"LogonGuid":"{0}","Count":-3,"Big":18446744073709551615,"Flag":true,"Empty":null,"Tab":"a\u0001b\tc\uffff","IoCount":[1,2],"Other":"x","LogonGuid_1":"{1}","IoCount_1":3,"Param_1":"kept","ComplexData":{"#attributes":{"Name":"IdleState"},"#text":"01"},"Binary":null}}}"##;
        let rec = first(line.as_bytes());
        assert_eq!(
            rec.provider_guid.as_deref(),
            Some("{54849625-5478-4994-a5ba-3e3b0328c30d}")
        );
        assert_eq!(
            (rec.event_id, rec.version, rec.record_id),
            (Some(4648), Some(0), Some(4))
        );
        assert_eq!(rec.channel.as_deref(), Some(""));
        assert_eq!(rec.computer, None);
        let want = pairs(&[
            ("LogonGuid", "{0}"),
            ("Count", "-3"),
            ("Big", "18446744073709551615"),
            ("Flag", "true"),
            ("Empty", ""),
            ("Tab", "a\u{1}b\tc\u{ffff}"),
            ("IoCount", "1"),
            ("IoCount", "2"),
            ("Other", "x"),
            ("LogonGuid", "{1}"),
            ("IoCount", "3"),
            ("Param_1", "kept"),
        ]);
        assert_eq!(rec.data, want);
    }

    #[test]
    fn single_unnamed_data_and_null_event_data() {
        let line = r##"{"Event":{"System":{"EventID":3},"EventData":{"Data":{"#text":"@2010005"}},"UserData":{"X":{"Y":1}}}}"##;
        assert_eq!(first(line.as_bytes()).data, pairs(&[("", "@2010005")]));
        // `<EventData></EventData>` is null in JSON and still hides UserData.
        let line =
            r##"{"Event":{"System":{"EventID":3},"EventData":null,"UserData":{"X":{"Y":1}}}}"##;
        assert!(first(line.as_bytes()).data.is_empty());
    }

    #[test]
    fn user_data_leaves_in_document_order() {
        let line = r##"{"Event":{"System":{"EventID":1102},"UserData":{"LogFileCleared":{"#attributes":{"xmlns":"http://manifests.microsoft.com/win/2004/08/windows/eventlog"},"SubjectUserSid":"S-1-5-21-1","Inner":{"A":1,"B":null},"Data":{"#attributes":{"Name":"Named"},"#text":"v"},"Certificate":{"#attributes":{"fileRef":"a.cer"}},"Certificate_1":{"#attributes":{"fileRef":"b.cer"}},"ns:Pref":"p","SubjectUserName":"bob"}}}}"##;
        let want = pairs(&[
            ("SubjectUserSid", "S-1-5-21-1"),
            ("A", "1"),
            ("B", ""),
            ("Named", "v"),
            ("Certificate", ""),
            ("Certificate", ""),
            ("Pref", "p"),
            ("SubjectUserName", "bob"),
        ]);
        assert_eq!(first(line.as_bytes()).data, want);
    }

    #[test]
    fn bad_lines_are_reported_by_line_number_and_reading_goes_on() {
        let text = format!(
            "\u{feff}{UNEXPECTED_SHUTDOWN}\r\n\r\n   \nnot json\n{{\"NoEvent\":1}}\n{{\"Event\":{{\"System\":{{\"EventID\":\"abc\"}}}}}}\n{UNEXPECTED_SHUTDOWN}"
        );
        let got = read(text.as_bytes());
        let lines: Vec<u64> = got.records.iter().map(|(_, l)| *l).collect();
        assert_eq!(lines, vec![1, 6, 7]);
        assert_eq!(got.records.get(1).map(|(r, _)| r.event_id), Some(None));
        let issues: Vec<_> = got.issues.iter().map(|i| (i.kind, i.offset)).collect();
        let bad = IssueKind::MalformedJson;
        assert_eq!(issues, vec![(bad, Some(4)), (bad, Some(5)), (bad, Some(6))]);
    }

    #[test]
    fn oversize_line_is_skipped_without_losing_the_next() {
        let long = format!(
            "{{\"Event\":{{\"x\":\"{}\"}}}}",
            "A".repeat(MAX_EVENT_BYTES)
        );
        let text = format!("{long}\n{UNEXPECTED_SHUTDOWN}\n{long}");
        let got = read(text.as_bytes());
        let lines: Vec<u64> = got.records.iter().map(|(_, l)| *l).collect();
        assert_eq!(lines, vec![2]);
        let issues: Vec<_> = got.issues.iter().map(|i| i.offset).collect();
        assert_eq!(issues, vec![Some(1), Some(3)]);
    }

    #[test]
    fn bounded_line_reader_limits_exactly() {
        let mut line = Vec::new();
        let mut src = &b"abcd\r\nabcde\nabc"[..];
        let mut results = Vec::new();
        loop {
            let (n, fits) = read_bounded_line(&mut src, &mut line, 4).unwrap_or_default();
            if n == 0 {
                break;
            }
            results.push((n, fits, line.clone()));
        }
        assert_eq!(
            results,
            vec![
                (6, true, b"abcd".to_vec()),
                (6, false, Vec::new()),
                (3, true, b"abc".to_vec())
            ]
        );
    }

    #[test]
    fn same_record_as_the_xml_rendering() {
        let xml = "<Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\"><System><Provider Name=\"EventLog\"/><EventID Qualifiers=\"32768\">6008</EventID><Level>2</Level><TimeCreated SystemTime=\"2021-02-12T12:33:39.5142631Z\"/><EventRecordID>15538</EventRecordID><Channel>System</Channel><Computer>dc.windomain.local</Computer><Security/></System><EventData><Data>10:02:11</Data><Data>2/12/2021</Data><Data></Data><Data></Data><Data></Data><Binary>E5070200</Binary></EventData></Event>";
        let mut sink = Collect::default();
        let file: Arc<str> = Arc::from("t");
        crate::ingest::xml::read_xml_from(xml.as_bytes(), &file, &mut sink).expect("in memory");
        let from_xml: Vec<RawRecord> = sink.records.into_iter().map(|(r, _)| r).collect();
        assert_eq!(from_xml, vec![first(UNEXPECTED_SHUTDOWN.as_bytes())]);
    }

    #[test]
    fn issues_past_the_cap_are_summed_up() {
        let cap = crate::ingest::xml::MAX_ISSUES_PER_FILE;
        let text = format!("{}{UNEXPECTED_SHUTDOWN}", "x\n".repeat(cap + 20));
        let got = read(text.as_bytes());
        assert_eq!(got.records.len(), 1);
        assert_eq!(got.issues.len(), cap + 1);
        let last = got.issues.last().cloned();
        assert_eq!(last.as_ref().and_then(|i| i.offset), Some(cap as u64 + 1));
        assert!(last.is_some_and(|i| i.detail.starts_with("20 more")));
    }

    #[test]
    fn too_many_fields_is_malformed() {
        let items = |n: usize| vec!["\"\""; n].join(",");
        let keys = |n: usize| {
            (0..n)
                .map(|i| format!("\"k{i}\":1"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let lines = [
            format!(
                "{{\"Event\":{{\"EventData\":{{\"Data\":{{\"#text\":[{}]}}}}}}}}",
                items(MAX_FIELDS + 1)
            ),
            format!(
                "{{\"Event\":{{\"EventData\":{{{}}}}}}}",
                keys(MAX_FIELDS + 1)
            ),
            format!(
                "{{\"Event\":{{\"UserData\":{{\"X\":{{{}}}}}}}}}",
                keys(MAX_FIELDS + 1)
            ),
            format!(
                "{{\"Event\":{{\"UserData\":{{\"X\":[{}]}}}}}}",
                items(MAX_FIELDS + 1)
            ),
        ];
        for line in &lines {
            let got = read(line.as_bytes());
            assert_eq!(
                (got.records.len(), got.issues.len()),
                (0, 1),
                "{:?}",
                line.get(..60)
            );
        }
        let enough = format!("{{\"Event\":{{\"EventData\":{{{}}}}}}}", keys(MAX_FIELDS));
        assert_eq!(first(enough.as_bytes()).data.len(), MAX_FIELDS);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let got = read(&bytes);
            prop_assert!(got.records.len() <= bytes.len());
        }

        #[test]
        fn damaged_lines_never_panic(cut in 0..UNEXPECTED_SHUTDOWN.len(), flip in 0..UNEXPECTED_SHUTDOWN.len(), byte in any::<u8>()) {
            let mut bytes = UNEXPECTED_SHUTDOWN.as_bytes().to_vec();
            if let Some(b) = bytes.get_mut(flip) {
                *b = byte;
            }
            bytes.truncate(cut);
            let got = read(&bytes);
            prop_assert!(got.records.len() <= 1);
        }

        #[test]
        fn deep_nesting_is_an_error_not_a_crash(depth in 100_usize..5000) {
            let line = format!("{{\"Event\":{{\"UserData\":{}1{}}}}}", "{\"a\":".repeat(depth), "}".repeat(depth));
            let got = read(line.as_bytes());
            prop_assert!(got.records.len() + got.issues.len() == 1);
        }
    }
}
