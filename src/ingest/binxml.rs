//! Reading event records straight from their BinXML template substitution values.
//!
//! Records written by the Windows event-log service are a `TemplateInstance`: a template
//! definition (the XML skeleton with element names, `Data Name="..."` attributes and literal
//! text such as `Computer`) plus an array of typed substitution values. Rendering every record
//! to XML or JSON and parsing it back costs about four times a filtered read
//! (`../shared/PERFORMANCE.md`), so this module compiles each template definition once per chunk
//! into a list of [`Op`]s and evaluates it against each record's values: System fields first,
//! then, only for records the caller wants, the nested `EventData` fragment.
//!
//! The format facts come from MS-EVEN6 (BinXML tokens, value types, inline names). Anything
//! this module does not understand is a [`Unsupported`] answer, and the caller falls back to
//! the evtx crate's renderer, so an odd record is slower, never lost.

mod system;

use super::raw::RawRecord;
use chrono::{DateTime, Utc};
use foldhash::{HashMap, HashMapExt};
use std::cell::RefCell;
use std::rc::Rc;

/// Why the fast path gave up on a record; the caller renders it the slow way instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsupported(pub &'static str);

type Res<T> = Result<T, Unsupported>;

/// Nested BinXML fragments deeper than this are treated as hostile.
const MAX_NESTING: usize = 4;
/// Template definitions with more operations than this are treated as hostile.
const MAX_OPS: usize = 4096;
/// Element nesting deeper than this inside one template is treated as hostile.
const MAX_ELEMENT_DEPTH: usize = 64;

mod token {
    pub const EOF: u8 = 0x00;
    pub const OPEN_START: u8 = 0x01;
    pub const CLOSE_START: u8 = 0x02;
    pub const CLOSE_EMPTY: u8 = 0x03;
    pub const END_ELEMENT: u8 = 0x04;
    pub const VALUE: u8 = 0x05;
    pub const ATTRIBUTE: u8 = 0x06;
    pub const TEMPLATE_INSTANCE: u8 = 0x0c;
    pub const NORMAL_SUB: u8 = 0x0d;
    pub const OPTIONAL_SUB: u8 = 0x0e;
    pub const FRAGMENT_HEADER: u8 = 0x0f;
    /// Set on a token when more attributes (or an attribute list) follow.
    pub const MORE: u8 = 0x40;
}

/// The element and attribute names the builder acts on, recognised once per template so
/// evaluation compares small enums rather than strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    Event,
    System,
    Provider,
    TimeCreated,
    EventId,
    Version,
    Channel,
    Computer,
    EventRecordId,
    EventData,
    UserData,
    Data,
    NameAttr,
    GuidAttr,
    SystemTimeAttr,
    Other,
}

impl Known {
    fn of(s: &str) -> Known {
        match s {
            "Event" => Known::Event,
            "System" => Known::System,
            "Provider" => Known::Provider,
            "TimeCreated" => Known::TimeCreated,
            "EventID" => Known::EventId,
            "Version" => Known::Version,
            "Channel" => Known::Channel,
            "Computer" => Known::Computer,
            "EventRecordID" => Known::EventRecordId,
            "EventData" => Known::EventData,
            "UserData" => Known::UserData,
            "Data" => Known::Data,
            "Name" => Known::NameAttr,
            "Guid" => Known::GuidAttr,
            "SystemTime" => Known::SystemTimeAttr,
            _ => Known::Other,
        }
    }
}

/// One step of a compiled template definition.
#[derive(Debug, Clone, PartialEq)]
enum Op {
    Open(Rc<str>, Known),
    Attr(Known),
    CloseStart,
    CloseEmpty,
    End,
    Text(Rc<str>),
    /// A substitution: value index, and whether it is optional (an empty optional value
    /// removes its element, as Windows and evtx render it).
    Sub(u16, bool),
}

/// A compiled template definition.
#[derive(Debug)]
struct Template {
    ops: Vec<Op>,
    /// For the usual `EventData` template, nothing but `<Data Name="literal">%n</Data>`
    /// elements: (name, value index, optional) per `Data`, read without the element walk.
    data_list: Option<Vec<(Rc<str>, u16, bool)>>,
    /// For evaluation as a record's outer template: per operation, whether it opens an element
    /// under `System` that nothing reads (`Level`, `Task`, `Keywords`, `Execution`, ...), with
    /// where the element ends and the substitutions inside it. Empty when there is none.
    skips: Vec<Option<Skip>>,
    /// For a [`Template::data_list`]: which of its entries a sink reads, per list of names it
    /// asked for (see [`ChunkDecoder::record_only`]), worked out at the first record.
    masks: RefCell<Vec<(FieldNames, Rc<[bool]>)>>,
    /// For evaluation as a record's outer template: `System` read without the element walk,
    /// when its shape allows (see [`system::Plan`]).
    system: Option<system::Plan>,
}

/// The data fields a sink reads from a record; the others need not be rendered.
pub type FieldNames = &'static [&'static str];

/// For a provider name and event id, the data fields the caller reads (`None`: all).
pub type OnlyFields<'f> = dyn Fn(Option<&str>, Option<u32>) -> Option<FieldNames> + 'f;

/// An element of the outer template whose evaluation has no effect on the record (see
/// [`Template::skips`]), unless one of its substitutions is a nested fragment.
#[derive(Debug)]
struct Skip {
    /// The operation after the element's end.
    end: usize,
    subs: Vec<u16>,
}

impl Template {
    fn new(ops: Vec<Op>) -> Template {
        let data_list = data_list(&ops);
        let skips = skips(&ops);
        let system = system::Plan::new(&ops, &skips);
        Template {
            ops,
            data_list,
            skips,
            masks: RefCell::new(Vec::new()),
            system,
        }
    }

    /// Per entry of the data list, whether its name is in `only`.
    fn mask(&self, only: FieldNames) -> Rc<[bool]> {
        let mut masks = self.masks.borrow_mut();
        if let Some((_, m)) = masks.iter().find(|(o, _)| std::ptr::eq(*o, only)) {
            return Rc::clone(m);
        }
        let list = self.data_list.as_deref().unwrap_or_default();
        let m: Rc<[bool]> = list
            .iter()
            .map(|(name, _, _)| only.contains(&&**name))
            .collect();
        masks.push((only, Rc::clone(&m)));
        m
    }
}

/// [`Template::skips`]: the contexts are those the builder gives the elements when the
/// template is evaluated from an empty stack of open elements, as a record's outer template is.
fn skips(ops: &[Op]) -> Vec<Option<Skip>> {
    let mut out: Vec<Option<Skip>> = Vec::new();
    let mut stack: Vec<Ctx> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Open(_, kind) => {
                let depth = stack.len();
                let parent = stack.last().copied();
                let ctx = parent.unwrap_or(Ctx::Other).child(depth, *kind);
                if parent == Some(Ctx::System) && ctx == Ctx::Other {
                    if let Some(skip) = element_end(ops, i) {
                        if out.is_empty() {
                            out.resize_with(ops.len(), || None);
                        }
                        if let Some(slot) = out.get_mut(i) {
                            *slot = Some(skip);
                        }
                    }
                }
                stack.push(ctx);
            }
            Op::CloseEmpty | Op::End => {
                stack.pop();
            }
            _ => {}
        }
    }
    out
}

/// Where the element opened at `open` ends, and the substitutions inside it.
fn element_end(ops: &[Op], open: usize) -> Option<Skip> {
    let mut depth = 0usize;
    let mut subs = Vec::new();
    for (j, op) in ops.iter().enumerate().skip(open) {
        match op {
            Op::Open(..) => depth += 1,
            Op::CloseEmpty | Op::End => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(Skip { end: j + 1, subs });
                }
            }
            Op::Sub(index, _) => subs.push(*index),
            _ => {}
        }
    }
    None
}

/// The `Data` list of a template that is exactly `<EventData>` followed by
/// `<Data Name="literal">%n</Data>` elements, one substitution each; `None` for any other shape.
fn data_list(ops: &[Op]) -> Option<Vec<(Rc<str>, u16, bool)>> {
    let [Op::Open(_, Known::EventData), Op::CloseStart, body @ .., Op::End] = ops else {
        return None;
    };
    let groups = body.chunks_exact(6);
    if !groups.remainder().is_empty() {
        return None;
    }
    groups
        .map(|g| match g {
            [Op::Open(_, Known::Data), Op::Attr(Known::NameAttr), Op::Text(name), Op::CloseStart, Op::Sub(i, optional), Op::End] => {
                Some((Rc::clone(name), *i, *optional))
            }
            _ => None,
        })
        .collect()
}

/// A bounds-checked little-endian reader over a chunk. Positions are chunk-relative because
/// BinXML name and template offsets are.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(data: &'a [u8], pos: usize) -> Self {
        Cursor { data, pos }
    }
    fn bytes(&mut self, n: usize) -> Res<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(Unsupported("offset overflow"))?;
        let out = self
            .data
            .get(self.pos..end)
            .ok_or(Unsupported("read past end of chunk"))?;
        self.pos = end;
        Ok(out)
    }
    fn u8(&mut self) -> Res<u8> {
        Ok(self.bytes(1)?[0])
    }
    fn u16(&mut self) -> Res<u16> {
        let b = self.bytes(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Res<u32> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

fn le_u64(b: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(..8)?.try_into().ok()?))
}

/// Decode UTF-16LE, replacing unpaired surrogates, and drop trailing NULs as Windows pads
/// strings with them.
fn utf16(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() / 2);
    utf16_into(bytes, &mut s, &mut Vec::new());
    s
}

/// Append decoded UTF-16LE to `out`. Almost all log text is ASCII: four code units at a time
/// are checked with one mask and narrowed into `scratch`, which is appended in one copy;
/// anything else goes through the standard decoder.
fn utf16_into(bytes: &[u8], out: &mut String, scratch: &mut Vec<u8>) {
    let mut len = bytes.len() / 2;
    while len > 0 && bytes.get(2 * len - 2..2 * len) == Some(&[0, 0]) {
        len -= 1;
    }
    let body = &bytes[..2 * len];
    if narrow_ascii(body, scratch) {
        if let Ok(ascii) = std::str::from_utf8(scratch) {
            out.push_str(ascii);
            return;
        }
    }
    let units = body
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]));
    let start = out.len();
    out.reserve(len);
    out.extend(char::decode_utf16(units).map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER)));
    while out.len() > start && out.ends_with('\0') {
        out.pop();
    }
}

/// Narrow UTF-16LE to bytes into `scratch` if every code unit is ASCII; `false` otherwise.
fn narrow_ascii(body: &[u8], scratch: &mut Vec<u8>) -> bool {
    const HIGH: u64 = 0xff80_ff80_ff80_ff80;
    scratch.clear();
    scratch.reserve(body.len() / 2);
    let mut words = body.chunks_exact(8);
    for w in words.by_ref() {
        let v = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        if v & HIGH != 0 {
            return false;
        }
        scratch.extend_from_slice(&[w[0], w[2], w[4], w[6]]);
    }
    for c in words.remainder().chunks_exact(2) {
        if c[1] != 0 || c[0] >= 0x80 {
            return false;
        }
        scratch.push(c[0]);
    }
    true
}

/// Per-chunk caches: names and compiled templates by chunk offset.
pub struct ChunkDecoder<'a> {
    data: &'a [u8],
    names: HashMap<u32, Rc<str>>,
    templates: HashMap<u32, Rc<Template>>,
    /// Boxed, so taking it out for a record moves a pointer, not the whole builder.
    builder: Option<Box<Builder>>,
    /// Value arrays kept for reuse: every record has one or two template instances.
    spare: Vec<Vec<Value<'a>>>,
    /// Templates compiled in earlier chunks of the same unit of work.
    shared: SharedTemplates,
    /// While a template compiles: the bytes it reads outside its own body (names stored
    /// elsewhere in the chunk), as (offset, length).
    outside: Vec<(usize, usize)>,
    /// While a template compiles: its name references, as (chunk offset of the reference,
    /// chunk offset it names).
    refs: Vec<(usize, usize)>,
}

/// Compiled templates kept across chunks: the EVTX reader keeps one per thread, across the
/// units of work and files that thread reads.
///
/// A log repeats the same few templates in every chunk, and compiling them again (names
/// decoded from UTF-16, operations built) was about a tenth of a run. A template compiled in
/// an earlier chunk is reused when compiling this one could only give the same result:
///
/// - at the same chunk offset: its body has the same bytes, and so has every byte it read
///   outside the body (names shared with earlier templates);
/// - elsewhere: its body has the same bytes except the name references (chunk offsets of
///   element and attribute names); a reference into the body names the same place relative
///   to it, and a reference out of it (a name shared with an earlier template, at another
///   offset in every chunk) names a name with the same characters.
///
/// Windows writes a template where a chunk first uses it, so the same template sits at a
/// different offset in nearly every chunk: matching by offset and bytes found it again for
/// under half the chunks of a real Security log.
#[derive(Default, Clone)]
pub struct SharedTemplates {
    by_key: HashMap<u64, Vec<SharedTemplate>>,
    /// Template bytes kept, bounded so a hostile file cannot grow the cache without limit.
    bytes: usize,
    reuse: TemplateReuse,
}

/// How often [`SharedTemplates`] saved a compile, for tests and measurements.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TemplateReuse {
    /// Reused at the same chunk offset as where it was compiled.
    pub in_place: u64,
    /// Reused at another offset (name references moved with it).
    pub moved: u64,
    /// Compiled, no reusable template being kept.
    pub compiled: u64,
}

/// What one thread's kept templates may hold at most: their bytes, operations and references.
/// The three sample logs' 121 templates take about 360 KB.
pub const MAX_SHARED_BYTES: usize = 4 << 20;

#[derive(Clone)]
struct SharedTemplate {
    at: usize,
    body: Box<[u8]>,
    /// The name references in the body, in order: (offset in the body, what it names).
    refs: Vec<(usize, NameRef)>,
    /// Whether the body can be matched at another offset: false when compiling it read past
    /// its end or a name straddles its end (rare shapes, matched only where they were).
    movable: bool,
    /// Bytes read outside the body: (offset, the bytes).
    outside: Vec<(usize, Box<[u8]>)>,
    template: Rc<Template>,
}

/// Where a name reference of a template body points.
#[derive(Debug, Clone)]
enum NameRef {
    /// Into the body, this many bytes from its start.
    Inside(usize),
    /// Out of the body, to a name with these UTF-16 characters.
    Outside(Box<[u8]>),
}

/// The UTF-16 characters of the name stored at chunk offset `at`, read as
/// [`ChunkDecoder::name`] reads them (next-name offset, hash, length, characters, NUL).
fn name_chars(data: &[u8], at: usize) -> Option<&[u8]> {
    let count = data.get(at.checked_add(6)?..at.checked_add(8)?)?;
    let len = usize::from(u16::from_le_bytes([count[0], count[1]])) * 2;
    let start = at.checked_add(8)?;
    data.get(start..start.checked_add(len)?.checked_add(2)?)?;
    data.get(start..start + len)
}

impl SharedTemplate {
    /// Whether compiling `body`, at chunk offset `at` of a chunk holding `data`, gives this
    /// template.
    fn matches(&self, at: usize, body: &[u8], data: &[u8]) -> bool {
        if self.body.len() != body.len() {
            return false;
        }
        if at != self.at {
            return self.movable && self.moved_body_matches(at, body, data);
        }
        *self.body == *body
            && self.outside.iter().all(|(o, bytes)| {
                o.checked_add(bytes.len())
                    .and_then(|e| data.get(*o..e))
                    .is_some_and(|b| b == &**bytes)
            })
    }

    /// [`SharedTemplate::matches`] for a body at another offset: the bytes between name
    /// references are equal, and each reference names the same place in the body or a name
    /// with the same characters out of it.
    fn moved_body_matches(&self, at: usize, body: &[u8], data: &[u8]) -> bool {
        let end = at.saturating_add(body.len());
        let mut done = 0;
        for (pos, target) in &self.refs {
            let pos = *pos;
            let Some(field) = pos
                .checked_add(4)
                .filter(|_| pos >= done)
                .and_then(|e| body.get(pos..e))
            else {
                return false;
            };
            if body.get(done..pos) != self.body.get(done..pos) {
                return false;
            }
            let offset = u32::from_le_bytes([field[0], field[1], field[2], field[3]]) as usize;
            let same = match target {
                NameRef::Inside(rel) => at.checked_add(*rel) == Some(offset),
                // A name out of this body: one inside it would be read as part of it (or as
                // an inline name), not as the name it was.
                NameRef::Outside(chars) => {
                    (offset < at || offset > end)
                        && name_chars(data, offset).is_some_and(|c| c == &**chars)
                }
            };
            if !same {
                return false;
            }
            done = pos + 4;
        }
        body.get(done..) == self.body.get(done..)
    }
}

impl SharedTemplates {
    /// The cache key: the body's size and the definition's GUID (templates differ in one or
    /// the other nearly always), hashed by foldhash. A key only picks candidates; each is
    /// checked byte by byte by [`SharedTemplate::matches`].
    fn key(size: usize, guid: &[u8]) -> u64 {
        use std::hash::BuildHasher;
        foldhash::fast::FixedState::with_seed(0).hash_one((size, guid))
    }

    /// How often templates were reused and compiled so far.
    pub fn reuse(&self) -> TemplateReuse {
        self.reuse
    }

    /// What the kept templates hold, as counted against [`MAX_SHARED_BYTES`].
    pub fn kept_bytes(&self) -> usize {
        self.bytes
    }

    fn find(&mut self, key: u64, at: usize, body: &[u8], data: &[u8]) -> Option<Rc<Template>> {
        let found = self
            .by_key
            .get(&key)
            .and_then(|ts| ts.iter().find(|t| t.matches(at, body, data)));
        match found {
            Some(t) if t.at == at => self.reuse.in_place += 1,
            Some(_) => self.reuse.moved += 1,
            None => self.reuse.compiled += 1,
        }
        found.map(|t| Rc::clone(&t.template))
    }

    /// Keep a compiled template. When the kept bytes would pass [`MAX_SHARED_BYTES`], the
    /// cache starts over: the templates of the log being read are compiled again once, and a
    /// hostile file that makes endless templates cannot grow it.
    fn keep(&mut self, key: u64, t: SharedTemplate) {
        let names = |r: &(usize, NameRef)| match &r.1 {
            NameRef::Outside(chars) => chars.len(),
            NameRef::Inside(_) => 0,
        };
        // What keeping it holds: its bytes, its compiled operations and references (names
        // the operations share are counted with the references' characters), and the two
        // structures themselves, so a flood of tiny templates is bounded too.
        let size = std::mem::size_of::<SharedTemplate>()
            + std::mem::size_of::<Template>()
            + t.body.len()
            + t.outside.iter().map(|(_, b)| b.len()).sum::<usize>()
            + t.refs.iter().map(names).sum::<usize>()
            + t.refs.len() * std::mem::size_of::<(usize, NameRef)>()
            + t.template.ops.len() * std::mem::size_of::<Op>();
        if size > MAX_SHARED_BYTES {
            return;
        }
        if self.bytes.saturating_add(size) > MAX_SHARED_BYTES {
            self.by_key.clear();
            self.bytes = 0;
        }
        self.bytes += size;
        self.by_key.entry(key).or_default().push(t);
    }
}

/// A substitution value, borrowed from the chunk.
#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    Null,
    Str(&'a [u8]),
    Unsigned(u64),
    Signed(i64),
    /// A BOOL as stored (Windows writes 32-bit values; evtx shows 0/1 as false/true and any
    /// other value as its number).
    Bool(u32),
    Guid(&'a [u8]),
    FileTime(u64),
    Sid(&'a [u8]),
    Hex32(u32),
    Hex64(u64),
    /// A nested fragment and its chunk offset.
    BinXml(&'a [u8], usize),
    Other,
}

impl<'a> ChunkDecoder<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self::with_shared(data, SharedTemplates::default())
    }

    /// A decoder that reuses templates compiled for earlier chunks (see [`SharedTemplates`]);
    /// [`ChunkDecoder::into_shared`] gives them back, with this chunk's, for the next chunk.
    pub fn with_shared(data: &'a [u8], shared: SharedTemplates) -> Self {
        ChunkDecoder {
            data,
            names: HashMap::new(),
            templates: HashMap::new(),
            builder: Some(Box::default()),
            spare: Vec::new(),
            shared,
            outside: Vec::new(),
            refs: Vec::new(),
        }
    }

    pub fn into_shared(self) -> SharedTemplates {
        self.shared
    }

    /// Read a name at `offset`; when the name is stored inline (offset == where the cursor is),
    /// the cursor moves past it.
    fn name(&mut self, cur: &mut Cursor<'a>) -> Res<Rc<str>> {
        let field = cur.pos;
        let offset = cur.u32()?;
        self.refs.push((field, offset as usize));
        let inline = offset as usize == cur.pos;
        let mut at = Cursor::new(self.data, offset as usize);
        let _next = at.u32()?;
        let _hash = at.u16()?;
        let chars = at.u16()? as usize;
        let raw = at.bytes(chars * 2)?;
        let _nul = at.u16()?;
        if inline {
            cur.pos = at.pos;
        }
        self.outside
            .push((offset as usize, at.pos - offset as usize));
        if let Some(n) = self.names.get(&offset) {
            return Ok(Rc::clone(n));
        }
        let name: Rc<str> = Rc::from(utf16(raw));
        self.names.insert(offset, Rc::clone(&name));
        Ok(name)
    }

    /// The operations of the BinXML token stream at `start..end` (a template definition's
    /// body, or a record written without a template), and where reading it stopped. An element
    /// start carries a dependency id only inside a template definition (MS-EVEN6).
    fn compile_ops(
        &mut self,
        start: usize,
        end: usize,
        in_template: bool,
    ) -> Res<(Vec<Op>, usize)> {
        let mut cur = Cursor::new(self.data, start);
        let mut ops = Vec::new();
        let mut depth = 0usize;
        while cur.pos < end {
            let tok = cur.u8()?;
            match tok & !token::MORE {
                token::EOF => break,
                token::FRAGMENT_HEADER => {
                    cur.bytes(3)?;
                }
                token::OPEN_START => {
                    if in_template {
                        let _dependency = cur.u16()?;
                    }
                    let _size = cur.u32()?;
                    let name = self.name(&mut cur)?;
                    let kind = Known::of(&name);
                    ops.push(Op::Open(name, kind));
                    if tok & token::MORE != 0 {
                        let _attr_list_size = cur.u32()?;
                    }
                    depth += 1;
                    if depth > MAX_ELEMENT_DEPTH {
                        return Err(Unsupported("elements nested too deep"));
                    }
                }
                token::CLOSE_START => ops.push(Op::CloseStart),
                token::CLOSE_EMPTY => {
                    ops.push(Op::CloseEmpty);
                    depth = depth.saturating_sub(1);
                }
                token::END_ELEMENT => {
                    ops.push(Op::End);
                    depth = depth.saturating_sub(1);
                }
                token::ATTRIBUTE => ops.push(Op::Attr(Known::of(&self.name(&mut cur)?))),
                token::VALUE => {
                    if cur.u8()? != 0x01 {
                        return Err(Unsupported("non-string literal in template"));
                    }
                    let chars = cur.u16()? as usize;
                    ops.push(Op::Text(Rc::from(utf16(cur.bytes(chars * 2)?))));
                }
                token::NORMAL_SUB | token::OPTIONAL_SUB => {
                    let index = cur.u16()?;
                    let _ty = cur.u8()?;
                    ops.push(Op::Sub(index, tok & !token::MORE == token::OPTIONAL_SUB));
                }
                _ => return Err(Unsupported("token not handled in template")),
            }
            if ops.len() > MAX_OPS {
                return Err(Unsupported("template too large"));
            }
        }
        Ok((ops, cur.pos))
    }

    /// Compile the template definition at chunk offset `def`, whose fragment is `size` bytes.
    fn compile(&mut self, def: u32, body_start: usize, size: usize) -> Res<Rc<Template>> {
        if let Some(t) = self.templates.get(&def) {
            return Ok(Rc::clone(t));
        }
        let end = body_start
            .checked_add(size)
            .filter(|&e| e <= self.data.len())
            .ok_or(Unsupported("template past end of chunk"))?;
        let data: &'a [u8] = self.data;
        let body = data
            .get(body_start..end)
            .ok_or(Unsupported("template past end of chunk"))?;
        // The definition's GUID sits just before its size and body (see `instance`).
        let guid = body_start
            .checked_sub(20)
            .and_then(|g| data.get(g..g + 16))
            .unwrap_or_default();
        let key = SharedTemplates::key(size, guid);
        if let Some(t) = self.shared.find(key, body_start, body, data) {
            self.templates.insert(def, Rc::clone(&t));
            return Ok(t);
        }
        self.outside.clear();
        self.refs.clear();
        let (ops, read_to) = self.compile_ops(body_start, end, true)?;
        let t = Rc::new(Template::new(ops));
        self.templates.insert(def, Rc::clone(&t));
        // What was read past the body's end, and names outside the body, must match for a
        // later chunk to reuse the template.
        let read_past_end = read_to > end;
        if read_past_end {
            self.outside.push((end, read_to - end));
        }
        let straddles = |&(o, len): &(usize, usize)| o < end && o.saturating_add(len) > end;
        let refs: Option<Vec<(usize, NameRef)>> = self
            .refs
            .iter()
            .map(|&(field, target)| {
                let to = if (body_start..end).contains(&target) {
                    NameRef::Inside(target - body_start)
                } else {
                    NameRef::Outside(Box::from(name_chars(data, target)?))
                };
                Some((field.checked_sub(body_start)?, to))
            })
            .collect();
        let movable = !read_past_end
            && !self.outside.iter().any(straddles)
            && self.refs.iter().all(|&(f, _)| f.saturating_add(4) <= end)
            && refs.is_some();
        let refs = refs.unwrap_or_default();
        let outside = self
            .outside
            .iter()
            .filter(|&&(o, len)| o < body_start || o.saturating_add(len) > end)
            .filter_map(|&(o, len)| Some((o, Box::from(data.get(o..o.checked_add(len)?)?))))
            .collect::<Vec<(usize, Box<[u8]>)>>();
        let complete = outside.len()
            == self
                .outside
                .iter()
                .filter(|&&(o, len)| o < body_start || o.saturating_add(len) > end)
                .count();
        if complete {
            self.shared.keep(
                key,
                SharedTemplate {
                    at: body_start,
                    body: Box::from(body),
                    refs,
                    movable,
                    outside,
                    template: Rc::clone(&t),
                },
            );
        }
        Ok(t)
    }

    /// Parse a `TemplateInstance` (the cursor is just past its token byte): the template,
    /// compiled, and its substitution values.
    fn instance(&mut self, cur: &mut Cursor<'a>, values: &mut Vec<Value<'a>>) -> Res<Rc<Template>> {
        let _unknown = cur.u8()?;
        let _template_id = cur.u32()?;
        let def = cur.u32()?;
        let template = if def as usize == cur.pos {
            let _next = cur.u32()?;
            let _guid = cur.bytes(16)?;
            let size = cur.u32()? as usize;
            let body = cur.pos;
            let t = self.compile(def, body, size)?;
            cur.bytes(size)?;
            t
        } else {
            let mut at = Cursor::new(self.data, def as usize);
            let _next = at.u32()?;
            let _guid = at.bytes(16)?;
            let size = at.u32()? as usize;
            self.compile(def, at.pos, size)?
        };
        let count = cur.u32()? as usize;
        if count > MAX_OPS {
            return Err(Unsupported("too many substitution values"));
        }
        // Descriptors (size u16, type u8, padding) are read in place, not collected.
        let descriptors = cur.bytes(count * 4)?;
        values.clear();
        values.reserve(count);
        for d in descriptors.chunks_exact(4) {
            let size = usize::from(u16::from_le_bytes([d[0], d[1]]));
            let at = cur.pos;
            let bytes = cur.bytes(size)?;
            values.push(decode_value(d[2], bytes, at)?);
        }
        Ok(template)
    }

    /// Decode the record whose BinXML stream is at `offset..offset+size` in the chunk.
    ///
    /// `wants` sees the provider name and event id before the data fields are decoded; when it
    /// says no, `Ok(None)` is returned and the record costs only its System values.
    pub fn record(
        &mut self,
        offset: usize,
        size: usize,
        wants: &dyn Fn(Option<&str>, Option<u32>) -> bool,
    ) -> Res<Option<RawRecord>> {
        self.record_only(offset, size, wants, &|_, _| None)
    }

    /// [`ChunkDecoder::record`], where `only` names, for the provider name and event id, the
    /// data fields the caller reads (`None`: all). The others are left out of the record when
    /// its `EventData` is a plain `Data` list; they are still checked, so a value the fast path
    /// cannot render sends the record to the renderer as before.
    pub fn record_only(
        &mut self,
        offset: usize,
        size: usize,
        wants: &dyn Fn(Option<&str>, Option<u32>) -> bool,
        only: &OnlyFields<'_>,
    ) -> Res<Option<RawRecord>> {
        let end = offset
            .checked_add(size)
            .filter(|&e| e <= self.data.len())
            .ok_or(Unsupported("record past end of chunk"))?;
        let data: &'a [u8] = self.data;
        let mut values = self.spare.pop().unwrap_or_default();
        let template = if self.is_template_instance(offset) {
            let mut cur = Cursor::new(&data[..end], offset);
            self.fragment(&mut cur, &mut values)?
        } else {
            values.clear();
            Rc::new(self.raw_template(offset, end)?)
        };
        let mut builder = self.builder.take().unwrap_or_default();
        let result = self.evaluate(&template, &values, &mut builder, wants, only);
        self.builder = Some(builder);
        self.spare.push(values);
        result
    }

    /// Whether the fragment at `offset` is (a header and) a template instance, as
    /// [`ChunkDecoder::fragment`] reads it.
    fn is_template_instance(&self, offset: usize) -> bool {
        let at = |i: usize| {
            offset
                .checked_add(i)
                .and_then(|o| self.data.get(o))
                .copied()
        };
        match at(0) {
            Some(token::FRAGMENT_HEADER) => at(4) == Some(token::TEMPLATE_INSTANCE),
            first => first == Some(token::TEMPLATE_INSTANCE),
        }
    }

    /// A record written without a template: some events (Security 4907 and 4799, Defender's,
    /// many System events) come as a plain element stream with their values as literal text.
    /// It is compiled like a template body and evaluated with no values to substitute, so
    /// `wants` still decides after `System` (these had all gone to the evtx crate, which builds
    /// every record of the chunk: an eighth of a run over the corpus). A stream with
    /// substitutions, typed literals, or anything it reads past the record is left to the
    /// renderer.
    fn raw_template(&mut self, offset: usize, end: usize) -> Res<Template> {
        self.outside.clear();
        self.refs.clear();
        let (ops, read_to) = self.compile_ops(offset, end, false)?;
        if read_to > end {
            return Err(Unsupported("record read past its end"));
        }
        if ops.iter().any(|op| matches!(op, Op::Sub(..))) {
            return Err(Unsupported("substitution outside a template"));
        }
        Ok(Template::new(ops))
    }

    /// Evaluate a record's outer template: System first, then, if wanted, the rest and the
    /// nested fragments.
    fn evaluate(
        &mut self,
        template: &Template,
        values: &[Value<'a>],
        builder: &mut Builder,
        wants: &dyn Fn(Option<&str>, Option<u32>) -> bool,
        only: &OnlyFields<'_>,
    ) -> Res<Option<RawRecord>> {
        builder.reset();
        builder.pause_after_system = true;
        let mut deferred = Vec::new();
        let planned = match &template.system {
            Some(plan) => plan.run(values, builder)?,
            None => None,
        };
        let paused = match planned {
            Some(next) => Some(next),
            None => {
                // No plan, or a nested fragment inside System: the walk does it all.
                builder.reset();
                builder.pause_after_system = true;
                eval(template, values, builder, &mut deferred, 0, true)?
            }
        };
        if !wants(builder.provider_name(), builder.rec.event_id) {
            return Ok(None);
        }
        if let Some(next) = paused {
            eval(template, values, builder, &mut deferred, next, true)?;
        }
        let only = only(builder.provider_name(), builder.rec.event_id);
        self.expand(builder, deferred, 1, only)?;
        Ok(Some(builder.finish()))
    }

    /// A fragment must be (header +) one template instance; other shapes are rare enough to
    /// leave to the renderer.
    fn fragment(&mut self, cur: &mut Cursor<'a>, values: &mut Vec<Value<'a>>) -> Res<Rc<Template>> {
        let mut tok = cur.u8()?;
        if tok == token::FRAGMENT_HEADER {
            cur.bytes(3)?;
            tok = cur.u8()?;
        }
        if tok != token::TEMPLATE_INSTANCE {
            return Err(Unsupported("fragment is not a template instance"));
        }
        self.instance(cur, values)
    }

    /// Evaluate nested fragments (usually `EventData`) in the element context where their
    /// substitution stood.
    fn expand(
        &mut self,
        builder: &mut Builder,
        deferred: Vec<Deferred>,
        depth: usize,
        only: Option<FieldNames>,
    ) -> Res<()> {
        if depth > MAX_NESTING && !deferred.is_empty() {
            return Err(Unsupported("fragments nested too deep"));
        }
        for d in deferred {
            let end = d.offset.checked_add(d.len).ok_or(Unsupported("overflow"))?;
            let data: &'a [u8] = self.data;
            let window = data.get(..end).ok_or(Unsupported("fragment past end"))?;
            let mut cur = Cursor::new(window, d.offset);
            let mut values = self.spare.pop().unwrap_or_default();
            let template = self.fragment(&mut cur, &mut values)?;
            // `EventData` right under `Event`, as Windows writes it: the Data list is read
            // directly. The element walk below gives the same fields, more slowly.
            let under_event = d.frames.last().map(|f| f.ctx) == Some(Ctx::Event);
            if let (true, Some(list)) = (under_event, &template.data_list) {
                let mask = only.map(|o| template.mask(o));
                if builder.data_list(list, mask.as_deref(), &values)? {
                    self.spare.push(values);
                    continue;
                }
            }
            let saved = std::mem::replace(&mut builder.frames, d.frames);
            let mut inner = Vec::new();
            eval(&template, &values, builder, &mut inner, 0, false)?;
            self.spare.push(values);
            self.expand(builder, inner, depth + 1, only)?;
            builder.frames = saved;
        }
        Ok(())
    }
}

/// A nested fragment whose evaluation waits until the caller says it wants the record.
struct Deferred {
    offset: usize,
    len: usize,
    /// The open elements where the fragment's substitution stood.
    frames: Vec<Frame>,
}

/// Inlined into the loop over a record's values (about 23 per record): as a call, with its
/// result moved through memory, it cost about as much as the rest of that loop.
#[inline(always)]
fn decode_value(ty: u8, b: &[u8], chunk_offset: usize) -> Res<Value<'_>> {
    let n = |len: usize| {
        b.get(..len)
            .ok_or(Unsupported("value shorter than its type"))
    };
    Ok(match ty {
        0x00 => Value::Null,
        0x01 => Value::Str(b),
        0x03 => Value::Signed(i64::from(n(1)?[0] as i8)),
        0x04 => Value::Unsigned(u64::from(n(1)?[0])),
        0x05 => Value::Signed(i64::from(i16::from_le_bytes([n(2)?[0], n(2)?[1]]))),
        0x06 => Value::Unsigned(u64::from(u16::from_le_bytes([n(2)?[0], n(2)?[1]]))),
        0x07 => Value::Signed(i64::from(i32::from_le_bytes(arr4(n(4)?)))),
        0x08 => Value::Unsigned(u64::from(u32::from_le_bytes(arr4(n(4)?)))),
        0x09 => Value::Signed(le_u64(b).ok_or(Unsupported("short i64"))? as i64),
        0x0a => Value::Unsigned(le_u64(b).ok_or(Unsupported("short u64"))?),
        0x0d => Value::Bool(u32::from_le_bytes(arr4(n(4)?))),
        0x0f => Value::Guid(n(16)?),
        0x11 => Value::FileTime(le_u64(b).ok_or(Unsupported("short filetime"))?),
        0x13 => Value::Sid(b),
        0x14 => Value::Hex32(u32::from_le_bytes(arr4(n(4)?))),
        0x15 => Value::Hex64(le_u64(b).ok_or(Unsupported("short hex64"))?),
        0x21 => Value::BinXml(b, chunk_offset),
        _ => Value::Other,
    })
}

/// What counts as "no value" for an optional substitution.
fn is_empty(v: &Value<'_>) -> bool {
    match v {
        Value::Null => true,
        Value::Str(b) | Value::BinXml(b, _) => b.is_empty(),
        _ => false,
    }
}

fn arr4(b: &[u8]) -> [u8; 4] {
    [b[0], b[1], b[2], b[3]]
}

/// Render a value the way the evtx crate's XML output does, so all readers agree.
fn render(v: &Value<'_>) -> Res<String> {
    let mut s = String::new();
    render_into(v, &mut s, &mut Vec::new())?;
    Ok(s)
}

/// Append a value's text to `out` without an allocation of its own where possible.
fn render_into(v: &Value<'_>, out: &mut String, scratch: &mut Vec<u8>) -> Res<()> {
    use std::fmt::Write;
    let w = |r: std::fmt::Result| r.map_err(|_| Unsupported("format"));
    match *v {
        Value::Null => {}
        Value::Str(b) => utf16_into(b, out, scratch),
        Value::Unsigned(u) => push_decimal(out, u),
        Value::Signed(i) => w(write!(out, "{i}"))?,
        Value::Bool(0) => out.push_str("false"),
        Value::Bool(1) => out.push_str("true"),
        Value::Bool(n) => push_decimal(out, u64::from(n)),
        Value::Guid(g) => push_guid(out, g).ok_or(Unsupported("bad guid"))?,
        Value::FileTime(ft) => {
            out.push_str(&render_filetime(ft).ok_or(Unsupported("filetime out of range"))?)
        }
        Value::Sid(b) => push_sid(out, b).ok_or(Unsupported("bad sid"))?,
        Value::Hex32(h) => push_hex(out, u64::from(h)),
        Value::Hex64(h) => push_hex(out, h),
        Value::BinXml(..) | Value::Other => return Err(Unsupported("value type")),
    }
    Ok(())
}

/// Fail exactly when [`render_into`] would, without rendering.
fn check_renders(v: &Value<'_>) -> Res<()> {
    match *v {
        Value::Guid(g) if g.len() < 16 => Err(Unsupported("bad guid")),
        Value::FileTime(ft) if filetime(ft).is_none() => Err(Unsupported("filetime out of range")),
        Value::Sid(b) if !sid_renders(b) => Err(Unsupported("bad sid")),
        Value::BinXml(..) | Value::Other => Err(Unsupported("value type")),
        _ => Ok(()),
    }
}

/// Whether [`render_sid`] renders `b`: a header of 8 bytes and 4 per sub-authority.
fn sid_renders(b: &[u8]) -> bool {
    b.get(1)
        .is_some_and(|&count| b.len() >= 8 && (b.len() - 8) / 4 >= usize::from(count))
}

/// About how many bytes a value's text takes, so its `String` is allocated once.
fn text_len_hint(v: &Value<'_>) -> usize {
    match v {
        Value::Str(b) => b.len() / 2,
        Value::Guid(_) => 38,
        Value::FileTime(_) => 28,
        Value::Sid(b) => 16 + b.len() * 3,
        Value::Null | Value::BinXml(..) | Value::Other => 0,
        _ => 20,
    }
}

/// A GUID as `{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}`, lowercase (the first three groups are
/// little-endian).
fn render_guid(g: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(38);
    push_guid(&mut out, g)?;
    Some(out)
}

/// Append [`render_guid`]'s text to `out`. GUIDs are in every Sysmon record: the 38 bytes are
/// filled in a stack array and appended in one copy (a `push` per digit cost about 600
/// instructions per GUID), and straight into the value's own `String`, with no `String` of
/// its own.
fn push_guid(out: &mut String, g: &[u8]) -> Option<()> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    /// (byte of the GUID, where its two digits go in the text), in text order.
    const PLACES: [(usize, usize); 16] = [
        (3, 1),
        (2, 3),
        (1, 5),
        (0, 7),
        (5, 10),
        (4, 12),
        (7, 15),
        (6, 17),
        (8, 20),
        (9, 22),
        (10, 25),
        (11, 27),
        (12, 29),
        (13, 31),
        (14, 33),
        (15, 35),
    ];
    let g: &[u8; 16] = g.get(..16)?.try_into().ok()?;
    let mut text = *b"{00000000-0000-0000-0000-000000000000}";
    // Constant places in fixed-size arrays: the loop unrolls with no bounds checks.
    for (from, to) in PLACES {
        text[to] = HEX[usize::from(g[from] >> 4)];
        text[to + 1] = HEX[usize::from(g[from] & 0xf)];
    }
    out.push_str(std::str::from_utf8(&text).ok()?);
    Some(())
}

/// Append `v` in decimal, as `{v}` formats it, without the formatting machinery (process ids
/// and session numbers are in every process record).
fn push_decimal(out: &mut String, mut v: u64) {
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
    push_ascii(out, &digits[at..]);
}

/// Append `v` as `0x{v:x}` formats it (logon ids and Security's process ids).
fn push_hex(out: &mut String, mut v: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 18];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = HEX[(v & 0xf) as usize];
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    at -= 2;
    digits[at] = b'0';
    digits[at + 1] = b'x';
    push_ascii(out, &digits[at..]);
}

/// Append bytes this module produced as ASCII.
fn push_ascii(out: &mut String, ascii: &[u8]) {
    out.push_str(std::str::from_utf8(ascii).unwrap_or_default());
}

#[cfg(test)]
fn render_sid(b: &[u8]) -> Option<String> {
    let mut s = String::new();
    push_sid(&mut s, b)?;
    Some(s)
}

/// Append a SID as `S-1-5-21-...`; nothing when it does not render (checked first, so a bad
/// SID leaves `out` as it was).
fn push_sid(out: &mut String, b: &[u8]) -> Option<()> {
    if !sid_renders(b) {
        return None;
    }
    let revision = *b.first()?;
    let count = *b.get(1)? as usize;
    let auth = b.get(2..8)?;
    let authority = auth.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
    out.reserve(16 + count * 11);
    out.push_str("S-");
    push_decimal(out, u64::from(revision));
    out.push('-');
    push_decimal(out, authority);
    let subs = b.get(8..8 + count * 4)?;
    for sub in subs.chunks_exact(4) {
        out.push('-');
        push_decimal(
            out,
            u64::from(u32::from_le_bytes([sub[0], sub[1], sub[2], sub[3]])),
        );
    }
    Some(())
}

/// A FILETIME as evtx renders it: RFC 3339 with all seven 100 ns digits.
fn render_filetime(ft: u64) -> Option<String> {
    use chrono::{Datelike, Timelike};
    let t = filetime(ft)?;
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        ft % 10_000_000
    ))
}

/// Windows FILETIME (100 ns since 1601) to UTC.
pub fn filetime(ft: u64) -> Option<DateTime<Utc>> {
    const EPOCH_DIFF_SECS: i64 = 11_644_473_600;
    let secs = i64::try_from(ft / 10_000_000).ok()? - EPOCH_DIFF_SECS;
    let nanos = u32::try_from((ft % 10_000_000) * 100).ok()?;
    DateTime::from_timestamp(secs, nanos)
}

/// Where an open element sits, decided once when it opens so that values of elements nobody
/// reads are never rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Event,
    System,
    Provider,
    TimeCreated,
    EventId,
    Version,
    Channel,
    Computer,
    RecordId,
    EventData,
    Data,
    UserData,
    /// An element somewhere inside `UserData`: its text is kept if it turns out to be a leaf.
    UserDataInner,
    Other,
}

impl Ctx {
    fn child(self, depth: usize, name: Known) -> Ctx {
        match (self, name) {
            (_, Known::Event) if depth == 0 => Ctx::Event,
            (Ctx::Event, Known::System) => Ctx::System,
            (Ctx::Event, Known::EventData) => Ctx::EventData,
            (Ctx::Event, Known::UserData) => Ctx::UserData,
            (Ctx::System, Known::Provider) => Ctx::Provider,
            (Ctx::System, Known::TimeCreated) => Ctx::TimeCreated,
            (Ctx::System, Known::EventId) => Ctx::EventId,
            (Ctx::System, Known::Version) => Ctx::Version,
            (Ctx::System, Known::Channel) => Ctx::Channel,
            (Ctx::System, Known::Computer) => Ctx::Computer,
            (Ctx::System, Known::EventRecordId) => Ctx::RecordId,
            (Ctx::EventData, Known::Data) => Ctx::Data,
            (Ctx::UserData | Ctx::UserDataInner, _) => Ctx::UserDataInner,
            _ => Ctx::Other,
        }
    }

    /// Whether the element's text is read.
    fn captures(self) -> bool {
        matches!(
            self,
            Ctx::EventId
                | Ctx::Version
                | Ctx::Channel
                | Ctx::Computer
                | Ctx::RecordId
                | Ctx::Data
                | Ctx::UserDataInner
        )
    }
}

/// One open element.
#[derive(Debug, Clone)]
struct Frame {
    ctx: Ctx,
    name: Rc<str>,
    has_child: bool,
    /// Had content other than empty optional substitutions.
    had_content: bool,
    /// Had an empty optional substitution: with no other content, the element is not rendered.
    optional_empty: bool,
}

/// Builds a [`RawRecord`] from element/attribute/text events, with the same rules as the XML
/// reader: System fields by name, `EventData/Data` by `Name`, `UserData` leaves.
///
/// One builder serves every record of a chunk: its buffers keep their capacity, and the
/// System text of records nobody wants is never copied into a `RawRecord`.
#[derive(Default)]
struct Builder {
    rec: RawRecord,
    frames: Vec<Frame>,
    attr: Option<Known>,
    /// Text gathered for the innermost open element that captures text.
    text: String,
    data_name: Option<Rc<str>>,
    scratch: Vec<u8>,
    /// System text kept in reusable buffers until the record is known to be wanted.
    provider: TextSlot,
    provider_guid: Option<[u8; 16]>,
    channel: TextSlot,
    computer: TextSlot,
    /// Stop evaluating the outer template once `System` closes, so the caller can decide.
    pause_after_system: bool,
    /// The last text decoded for the provider name, channel and computer: every record has
    /// them, and they rarely change from one record to the next.
    provider_memo: Utf16Memo,
    channel_memo: Utf16Memo,
    computer_memo: Utf16Memo,
}

/// The last UTF-16 string decoded at one place, with its text: the same bytes again are not
/// decoded again.
#[derive(Default)]
struct Utf16Memo {
    raw: Vec<u8>,
    text: String,
}

impl Utf16Memo {
    /// Append the text of `v` to `out`, as [`render_into`] does.
    fn render_into(&mut self, v: &Value<'_>, out: &mut String, scratch: &mut Vec<u8>) -> Res<()> {
        let Value::Str(b) = *v else {
            return render_into(v, out, scratch);
        };
        if self.raw == b {
            out.push_str(&self.text);
            return Ok(());
        }
        let start = out.len();
        utf16_into(b, out, scratch);
        self.raw.clear();
        self.raw.extend_from_slice(b);
        self.text.clear();
        self.text.push_str(out.get(start..).unwrap_or_default());
        Ok(())
    }
}

/// A reusable text buffer that remembers whether it was set for the current record.
#[derive(Default)]
struct TextSlot {
    text: String,
    set: bool,
}

impl TextSlot {
    fn clear(&mut self) {
        self.text.clear();
        self.set = false;
    }
    fn set(&mut self, text: &str) {
        self.text.clear();
        self.text.push_str(text);
        self.set = true;
    }
    fn get(&self) -> Option<&str> {
        self.set.then_some(self.text.as_str())
    }
}

impl Builder {
    /// Forget the previous record, keeping the buffers.
    fn reset(&mut self) {
        self.rec = RawRecord::default();
        self.frames.clear();
        self.attr = None;
        self.text.clear();
        self.data_name = None;
        for slot in [&mut self.provider, &mut self.channel, &mut self.computer] {
            slot.clear();
        }
        self.provider_guid = None;
        self.pause_after_system = false;
    }

    /// The provider name seen so far (empty buffers count as absent only if never set).
    fn provider_name(&self) -> Option<&str> {
        self.provider.get()
    }

    fn ctx(&self) -> Ctx {
        self.frames.last().map_or(Ctx::Other, |f| f.ctx)
    }

    fn open(&mut self, name: &Rc<str>, kind: Known) -> Res<()> {
        let depth = self.frames.len();
        if depth >= MAX_ELEMENT_DEPTH {
            return Err(Unsupported("elements nested too deep"));
        }
        let parent = self.frames.last_mut();
        let ctx = match parent {
            Some(p) => {
                p.has_child = true;
                p.ctx.child(depth, kind)
            }
            None => Ctx::Other.child(0, kind),
        };
        self.frames.push(Frame {
            ctx,
            name: Rc::clone(name),
            has_child: false,
            had_content: false,
            optional_empty: false,
        });
        self.text.clear();
        self.data_name = None;
        Ok(())
    }

    fn value(&mut self, v: &Value<'_>) -> Res<()> {
        if let Some(attr) = self.attr {
            return self.attribute(attr, v);
        }
        let Some(f) = self.frames.last_mut() else {
            return Ok(());
        };
        f.had_content = true;
        let ctx = f.ctx;
        self.content_value(ctx, v)
    }

    /// A value in the content of an element of context `ctx`.
    fn content_value(&mut self, ctx: Ctx, v: &Value<'_>) -> Res<()> {
        // Numbers in System are taken as numbers, not rendered and parsed back.
        match (ctx, *v) {
            (Ctx::EventId, Value::Unsigned(n)) => self.rec.event_id = u32::try_from(n).ok(),
            (Ctx::Version, Value::Unsigned(n)) => self.rec.version = u8::try_from(n).ok(),
            (Ctx::RecordId, Value::Unsigned(n)) => self.rec.record_id = Some(n),
            (Ctx::Channel, _) => {
                let memo = &mut self.channel_memo;
                memo.render_into(v, &mut self.text, &mut self.scratch)?
            }
            (Ctx::Computer, _) => {
                let memo = &mut self.computer_memo;
                memo.render_into(v, &mut self.text, &mut self.scratch)?
            }
            (ctx, _) if ctx.captures() => render_into(v, &mut self.text, &mut self.scratch)?,
            _ => {}
        }
        Ok(())
    }

    fn attribute(&mut self, attr: Known, v: &Value<'_>) -> Res<()> {
        self.attribute_at(self.ctx(), attr, v)
    }

    /// An attribute value of an element of context `ctx`.
    fn attribute_at(&mut self, ctx: Ctx, attr: Known, v: &Value<'_>) -> Res<()> {
        match (ctx, attr) {
            (Ctx::Provider, Known::NameAttr) => {
                self.provider.clear();
                let memo = &mut self.provider_memo;
                memo.render_into(v, &mut self.provider.text, &mut self.scratch)?;
                self.provider.set = true;
            }
            (Ctx::Provider, Known::GuidAttr) => match *v {
                Value::Guid(g) => self.provider_guid = g.try_into().ok(),
                _ => self.rec.provider_guid = super::raw::normalize_guid(&render(v)?),
            },
            (Ctx::TimeCreated, Known::SystemTimeAttr) => {
                self.rec.time_created = match *v {
                    Value::FileTime(ft) => filetime(ft),
                    _ => return Err(Unsupported("TimeCreated is not a FILETIME")),
                }
            }
            (Ctx::Data, Known::NameAttr) => self.data_name = Some(Rc::from(render(v)?)),
            _ => {}
        }
        Ok(())
    }

    fn close(&mut self) {
        let Some(f) = self.frames.pop() else { return };
        if f.optional_empty && !f.had_content && !f.has_child {
            self.data_name = None;
            self.text.clear();
            return;
        }
        if !f.ctx.captures() {
            return;
        }
        self.close_captured(f.ctx);
        if !matches!(f.ctx, Ctx::Data | Ctx::UserDataInner) {
            return;
        }
        let text = std::mem::take(&mut self.text);
        match f.ctx {
            Ctx::Data => {
                let name = self.data_name.take().unwrap_or_else(|| Rc::from(""));
                if self.rec.data.capacity() == 0 {
                    self.rec.data.reserve(32);
                }
                self.rec.data.push((name, text));
            }
            Ctx::UserDataInner if !f.has_child => self.rec.data.push((f.name, text)),
            _ => {}
        }
    }

    /// Take the text gathered for a System element of context `ctx` as it closes.
    fn close_captured(&mut self, ctx: Ctx) {
        match ctx {
            // Text only when the value was not a number already taken as one.
            Ctx::EventId if !self.text.is_empty() => {
                self.rec.event_id = self.text.trim().parse().ok()
            }
            Ctx::Version if !self.text.is_empty() => {
                self.rec.version = self.text.trim().parse().ok()
            }
            Ctx::RecordId if !self.text.is_empty() => {
                self.rec.record_id = self.text.trim().parse().ok()
            }
            Ctx::Channel => self.channel.set(&self.text),
            Ctx::Computer => self.computer.set(&self.text),
            _ => {}
        }
    }

    /// Add the fields of a [`Template::data_list`] as the element walk would: an empty
    /// optional value removes its `Data`; every other value is rendered. `false`, with nothing
    /// added, when a value is a nested fragment (left to the walk).
    ///
    /// With a `mask`, only the entries it marks are added; the others are only checked to be
    /// renderable, so the record fails (and goes to the renderer) exactly when it would have.
    fn data_list(
        &mut self,
        list: &[(Rc<str>, u16, bool)],
        mask: Option<&[bool]>,
        values: &[Value<'_>],
    ) -> Res<bool> {
        let value = |i: u16| values.get(usize::from(i)).copied().unwrap_or(Value::Null);
        if list
            .iter()
            .any(|&(_, i, _)| matches!(value(i), Value::BinXml(..)))
        {
            return Ok(false);
        }
        // Sized to the list: a block the allocator's per-thread cache can hand back for the
        // next record (a larger one took its slow path every record).
        self.rec.data.reserve(list.len());
        for (at, (name, i, optional)) in list.iter().enumerate() {
            let v = value(*i);
            if *optional && is_empty(&v) {
                continue;
            }
            if mask.is_some_and(|m| m.get(at) != Some(&true)) {
                check_renders(&v)?;
                continue;
            }
            let mut text = String::with_capacity(text_len_hint(&v));
            render_into(&v, &mut text, &mut self.scratch)?;
            self.rec.data.push((Rc::clone(name), text));
        }
        self.text.clear();
        self.data_name = None;
        Ok(true)
    }

    /// The record, with the System text copied out of the reusable buffers.
    fn finish(&mut self) -> RawRecord {
        let mut rec = std::mem::take(&mut self.rec);
        rec.provider_name = self.provider.get().map(str::to_string);
        if let Some(g) = self.provider_guid {
            rec.provider_guid = render_guid(&g);
        }
        rec.channel = self.channel.get().map(str::to_string);
        rec.computer = self.computer.get().map(str::to_string);
        rec
    }
}

/// Run a compiled template against its values from operation `from`, deferring nested
/// fragments. Returns where to resume when it paused after `System` (see
/// [`Builder::pause_after_system`]), `None` when the template is done.
fn eval<'a>(
    t: &Template,
    values: &[Value<'a>],
    b: &mut Builder,
    deferred: &mut Vec<Deferred>,
    from: usize,
    outer: bool,
) -> Res<Option<usize>> {
    let skips: &[Option<Skip>] = if outer { &t.skips } else { &[] };
    let mut i = from;
    while let Some(op) = t.ops.get(i) {
        i += 1;
        if let Some(Some(skip)) = skips.get(i - 1) {
            // An element nothing reads: skipped, with the traces its evaluation would leave,
            // unless a substitution in it is a nested fragment (deferred by the walk).
            let nested = skip.subs.iter().any(|&s| {
                matches!(values.get(usize::from(s)), Some(Value::BinXml(b, _)) if !b.is_empty())
            });
            if !nested {
                if let Some(parent) = b.frames.last_mut() {
                    parent.has_child = true;
                }
                b.attr = None;
                b.text.clear();
                b.data_name = None;
                i = skip.end;
                continue;
            }
        }
        match op {
            Op::Open(name, kind) => b.open(name, *kind)?,
            Op::Attr(name) => b.attr = Some(*name),
            Op::CloseStart => b.attr = None,
            Op::CloseEmpty | Op::End => {
                b.attr = None;
                let closing_system = b.ctx() == Ctx::System;
                b.close();
                if closing_system && b.pause_after_system {
                    b.pause_after_system = false;
                    return Ok(Some(i));
                }
            }
            // Literal attribute values (e.g. `Data Name="UtcTime"`) arrive as text.
            Op::Text(text) => match b.attr {
                Some(attr) => literal_attribute(b, attr, text),
                None => {
                    if let Some(f) = b.frames.last_mut() {
                        f.had_content = true;
                        if f.ctx.captures() {
                            b.text.push_str(text);
                        }
                    }
                }
            },
            Op::Sub(index, optional) => {
                let v = values.get(*index as usize).copied().unwrap_or(Value::Null);
                if *optional && is_empty(&v) {
                    if b.attr.is_none() {
                        if let Some(f) = b.frames.last_mut() {
                            f.optional_empty = true;
                        }
                    }
                    continue;
                }
                match v {
                    Value::BinXml(bytes, offset) if !bytes.is_empty() => deferred.push(Deferred {
                        offset,
                        len: bytes.len(),
                        frames: b.frames.clone(),
                    }),
                    Value::BinXml(..) => {}
                    other => b.value(&other)?,
                }
            }
        }
    }
    Ok(None)
}

fn literal_attribute(b: &mut Builder, attr: Known, text: &Rc<str>) {
    literal_attribute_at(b, b.ctx(), attr, text);
}

/// A literal attribute value of an element of context `ctx`.
fn literal_attribute_at(b: &mut Builder, ctx: Ctx, attr: Known, text: &Rc<str>) {
    match (ctx, attr) {
        (Ctx::Data, Known::NameAttr) => b.data_name = Some(Rc::clone(text)),
        (Ctx::Provider, Known::NameAttr) => b.provider.set(text),
        (Ctx::Provider, Known::GuidAttr) => b.rec.provider_guid = super::raw::normalize_guid(text),
        (Ctx::TimeCreated, Known::SystemTimeAttr) => {
            b.rec.time_created = crate::time::parse_event_time(text)
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sid_and_guid_render_like_windows() {
        let sid = [1u8, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0];
        assert_eq!(render_sid(&sid).as_deref(), Some("S-1-5-18"));
        let g = [
            95u8, 56, 112, 87, 42, 194, 224, 67, 191, 76, 6, 245, 105, 143, 251, 217,
        ];
        assert_eq!(
            render_guid(&g).as_deref(),
            Some("{5770385f-c22a-43e0-bf4c-06f5698ffbd9}")
        );
    }

    #[test]
    fn utf16_decoding_takes_the_ascii_path_and_the_slow_path_alike() {
        let enc = |t: &str| {
            t.encode_utf16()
                .flat_map(|u| u.to_le_bytes())
                .collect::<Vec<u8>>()
        };
        for text in [
            "",
            "a",
            "abc",
            "abcd",
            "abcdefghi",
            "C:\\Windows\\é.exe",
            "日本語x",
            "\u{202e}exe",
        ] {
            let mut bytes = enc(text);
            bytes.extend_from_slice(&[0, 0, 0, 0]);
            assert_eq!(utf16(&bytes), text, "{text:?}");
        }
        // An odd trailing byte and a lone surrogate neither panic nor vanish silently.
        assert_eq!(utf16(&[b'a', 0, b'b']), "a");
        assert_eq!(utf16(&[0x00, 0xd8, b'a', 0]), "\u{fffd}a");
    }

    #[test]
    fn values_left_out_fail_exactly_when_rendering_would() {
        let sids: [&[u8]; 6] = [
            &[],
            &[1],
            &[1, 1, 0, 0, 0, 0, 0],
            &[1, 1, 0, 0, 0, 0, 0, 5],
            &[1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0],
            &[1, 2, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0, 1, 2, 3],
        ];
        let mut values: Vec<Value<'_>> = sids.iter().map(|s| Value::Sid(s)).collect();
        values.extend([
            Value::Null,
            Value::Str(&[b'a', 0, 0xff]),
            Value::Guid(&[0; 16]),
            Value::Guid(&[0; 15]),
            Value::FileTime(0),
            Value::FileTime(u64::MAX),
            Value::Bool(7),
            Value::Hex64(u64::MAX),
            Value::BinXml(&[1], 0),
            Value::Other,
        ]);
        for v in values {
            let rendered = render_into(&v, &mut String::new(), &mut Vec::new());
            assert_eq!(check_renders(&v), rendered.map(|_| ()), "{v:?}");
        }
    }

    #[test]
    fn numbers_render_as_the_formatter_does() {
        for v in [0, 1, 9, 10, 99, 4294967295, 1 << 40, u64::MAX - 1, u64::MAX] {
            let (mut dec, mut hex) = (String::from("x"), String::from("x"));
            push_decimal(&mut dec, v);
            push_hex(&mut hex, v);
            assert_eq!(dec, format!("x{v}"));
            assert_eq!(hex, format!("x0x{v:x}"));
        }
        let sid = [
            1u8, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 1, 2, 3, 4, 255, 255, 255, 255,
        ];
        let sid = [&sid[..], &[0xe9, 3, 0, 0, 0, 0, 0, 0]].concat();
        assert_eq!(
            render_sid(&sid).as_deref(),
            Some("S-1-5-21-67305985-4294967295-1001-0")
        );
    }

    #[test]
    fn short_and_hostile_sids_do_not_panic() {
        assert_eq!(render_sid(&[]), None);
        assert_eq!(render_sid(&[1, 255, 0, 0, 0, 0, 0, 5]), None);
    }

    #[test]
    fn filetime_converts_and_rejects_out_of_range() {
        let t = filetime(132_636_029_653_896_334).map(|t| t.to_rfc3339());
        assert_eq!(t.as_deref(), Some("2021-04-22T22:09:25.389633400+00:00"));
        assert!(filetime(u64::MAX).is_some() || filetime(u64::MAX).is_none());
    }

    /// A name as a chunk stores it: next-name offset, hash, length, UTF-16, NUL.
    fn stored_name(text: &str) -> Vec<u8> {
        let units: Vec<u16> = text.encode_utf16().collect();
        let mut b = vec![0u8; 6];
        b.extend_from_slice(&(units.len() as u16).to_le_bytes());
        b.extend(units.iter().flat_map(|u| u.to_le_bytes()));
        b.extend_from_slice(&[0, 0]);
        b
    }

    /// The body of the templates below: 48 bytes whose bytes 4..8 refer to a name inside it
    /// (`inside`), bytes 10..14 to a name out of it (`outside`); a stored `Data` follows at
    /// 14, where an inline name would be.
    fn body(inside: u32, outside: u32) -> Vec<u8> {
        let mut body = vec![0xaau8; 48];
        body[4..8].copy_from_slice(&inside.to_le_bytes());
        body[10..14].copy_from_slice(&outside.to_le_bytes());
        let stored = stored_name("Data");
        body[14..14 + stored.len()].copy_from_slice(&stored);
        body
    }

    /// A kept template compiled at chunk offset 100, its inner reference 8 bytes into its
    /// body, its outer one to `Data` stored at offset 40.
    fn kept(movable: bool) -> SharedTemplate {
        SharedTemplate {
            at: 100,
            body: body(108, 40).into(),
            refs: vec![
                (4, NameRef::Inside(8)),
                (10, NameRef::Outside(Box::from(&stored_name("Data")[8..16]))),
            ],
            movable,
            outside: Vec::new(),
            template: Rc::new(Template::new(Vec::new())),
        }
    }

    /// A chunk with the body at `at` referring to `inside` and `outside`, and a name `name`
    /// stored at `name_at`.
    fn chunk(at: usize, inside: u32, outside: u32, name_at: usize, name: &str) -> Vec<u8> {
        let mut data = vec![0x55u8; 400];
        let stored = stored_name(name);
        data[name_at..name_at + stored.len()].copy_from_slice(&stored);
        data[at..at + 48].copy_from_slice(&body(inside, outside));
        data
    }

    #[test]
    fn a_kept_template_is_taken_elsewhere_only_when_its_references_name_the_same() {
        let t = kept(true);
        let check = |data: &[u8], at: usize| t.matches(at, &data[at..at + 48], data);
        // Moved to 300, its own name moved with it, `Data` at another offset: the same.
        assert!(check(&chunk(300, 308, 60, 60, "Data"), 300));
        // ...but not when the inner reference kept its old value or points elsewhere.
        assert!(!check(&chunk(300, 108, 60, 60, "Data"), 300));
        assert!(!check(&chunk(300, 310, 60, 60, "Data"), 300));
        // ...nor when the outer name reads differently, or is cut off by the chunk's end.
        assert!(!check(&chunk(300, 308, 60, 60, "Date"), 300));
        assert!(!check(&chunk(300, 308, 60, 60, "DataX"), 300));
        assert!(!check(&chunk(300, 308, 396, 60, "Data"), 300));
        // ...nor when the outer reference points into the body: right behind itself it would
        // be read as an inline name, and the bytes after it skipped.
        assert!(!check(&chunk(300, 308, 314, 60, "Data"), 300));
        // ...nor when another byte of the body differs.
        let mut other = chunk(300, 308, 60, 60, "Data");
        other[345] = 0;
        assert!(!check(&other, 300));
        // A template that cannot move is taken only where it was compiled.
        let fixed = kept(false);
        let data = chunk(300, 308, 60, 60, "Data");
        assert!(!fixed.matches(300, &data[300..348], &data));
        let home = chunk(100, 108, 40, 40, "Data");
        assert!(fixed.matches(100, &home[100..148], &home));
    }

    #[test]
    fn a_flood_of_templates_keeps_the_cache_within_its_bound() {
        let mut shared = SharedTemplates::default();
        for key in 0..200_000u64 {
            shared.keep(key, kept(true));
            assert!(shared.kept_bytes() <= MAX_SHARED_BYTES);
        }
        let held: usize = shared.by_key.values().map(Vec::len).sum();
        assert!(
            held > 1_000 && held * 150 <= MAX_SHARED_BYTES,
            "{held} held"
        );
    }

    #[test]
    fn references_out_of_order_are_never_matched() {
        let mut t = kept(true);
        t.refs.swap(0, 1);
        let data = chunk(300, 308, 60, 60, "Data");
        assert!(!t.matches(300, &data[300..348], &data));
    }

    #[test]
    fn garbage_records_are_unsupported_not_panics() {
        let data = vec![0x0fu8, 1, 1, 0, 0x0c, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        let mut d = ChunkDecoder::new(&data);
        assert!(d.record(0, data.len(), &|_, _| true).is_err());
        assert!(d.record(5, 1000, &|_, _| true).is_err());
        assert!(d.record(usize::MAX, 10, &|_, _| true).is_err());
    }
}
