//! BinXML templates and typed substitution values, encoded the way the Windows event-log
//! service writes them into a chunk.
//!
//! A record is a `TemplateInstance`: the template definition (element names, `Data Name=`
//! attributes, literal text such as `Computer`) is written inline the first time a chunk uses
//! it and referenced by offset afterwards; names are written inline once per chunk and
//! referenced afterwards, through the chunk's 64-bucket string table. Values follow as an array
//! of (size, type) descriptors and their bytes. Layout facts: MS-EVEN6 and the records in
//! `../shared/corpus` (see `docs/testkit.md`).

use crate::chunk::Tables;
use crate::error::WriteError;
use std::sync::Arc;

/// Value type codes (MS-EVEN6 2.2.19).
pub mod vt {
    pub const NULL: u8 = 0x00;
    pub const STRING: u8 = 0x01;
    pub const UINT8: u8 = 0x04;
    pub const UINT16: u8 = 0x06;
    pub const UINT32: u8 = 0x08;
    pub const UINT64: u8 = 0x0a;
    pub const BOOL: u8 = 0x0d;
    pub const BINARY: u8 = 0x0e;
    pub const GUID: u8 = 0x0f;
    pub const SIZE_T: u8 = 0x10;
    pub const FILETIME: u8 = 0x11;
    pub const SID: u8 = 0x13;
    pub const HEX32: u8 = 0x14;
    pub const HEX64: u8 = 0x15;
    pub const BINXML: u8 = 0x21;
    pub const STRING_ARRAY: u8 = 0x81;
}

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
    pub const MORE: u8 = 0x40;
}

/// A node of a template definition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Node {
    Element(Element),
    /// Literal text (a `Value` token of type string).
    Text(String),
    /// A substitution: the record's value `index`, declared with type `ty`. Optional
    /// substitutions vanish (with their attribute) when the value is null.
    Sub {
        index: u16,
        ty: u8,
        optional: bool,
    },
}

/// An element with attributes (each a literal or a substitution) and children.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, Node)>,
    pub children: Vec<Node>,
}

impl Element {
    pub fn new(name: &str) -> Self {
        Element {
            name: name.to_string(),
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }

    /// Adds an attribute (builder style).
    pub fn attr(mut self, name: &str, value: Node) -> Self {
        self.attrs.push((name.to_string(), value));
        self
    }

    /// Adds a child node (builder style).
    pub fn child(mut self, node: Node) -> Self {
        self.children.push(node);
        self
    }

    /// Adds an element child holding only an optional substitution.
    pub fn opt(self, name: &str, index: u16, ty: u8) -> Self {
        self.child(Node::Element(
            Element::new(name).child(Node::opt(index, ty)),
        ))
    }

    /// Windows' "dependency identifier": the index of the optional substitution that is the
    /// element's direct content, or 0xFFFF. Readers ignore it; it is written for fidelity.
    fn dependency(&self) -> u16 {
        self.children
            .iter()
            .find_map(|c| match c {
                Node::Sub {
                    index,
                    optional: true,
                    ..
                } => Some(*index),
                _ => None,
            })
            .unwrap_or(0xffff)
    }
}

impl Node {
    pub fn opt(index: u16, ty: u8) -> Node {
        Node::Sub {
            index,
            ty,
            optional: true,
        }
    }

    pub fn sub(index: u16, ty: u8) -> Node {
        Node::Sub {
            index,
            ty,
            optional: false,
        }
    }

    pub fn text(s: &str) -> Node {
        Node::Text(s.to_string())
    }
}

/// A template definition: its root element and the GUID that identifies it in a chunk.
#[derive(Debug, PartialEq, Eq)]
pub struct Template {
    pub guid: [u8; 16],
    pub root: Element,
}

impl Template {
    /// Windows derives the GUID from the template's content; we hash the content likewise, so
    /// equal templates share an id and different ones (another `Computer`) do not.
    pub fn new(root: Element) -> Arc<Template> {
        let text = format!("{root:?}");
        let a = fnv1a64(text.as_bytes(), 0xcbf2_9ce4_8422_2325);
        let b = fnv1a64(text.as_bytes(), 0x8422_2325_cbf2_9ce4);
        let mut guid = [0u8; 16];
        guid[..8].copy_from_slice(&a.to_le_bytes());
        guid[8..].copy_from_slice(&b.to_le_bytes());
        Arc::new(Template { guid, root })
    }

    /// The id a `TemplateInstance` carries: the GUID's first four bytes, as Windows writes.
    pub fn id(&self) -> u32 {
        u32::from_le_bytes([self.guid[0], self.guid[1], self.guid[2], self.guid[3]])
    }
}

fn fnv1a64(bytes: &[u8], seed: u64) -> u64 {
    bytes.iter().fold(seed, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A typed substitution value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    /// UTF-16 text without a terminator (System strings, `UserData` fields).
    Str(String),
    /// UTF-16 text with its NUL terminator counted in the size, as Sysmon and
    /// Security-Auditing write `EventData` values.
    StrZ(String),
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    Hex32(u32),
    Hex64(u64),
    /// A Win32 BOOL: four bytes, 0 or 1 (Kernel-Power's `ConnectedStandbyInProgress`).
    Bool(bool),
    /// GUID in its on-disk byte order.
    Guid([u8; 16]),
    /// 100 ns intervals since 1601-01-01 UTC.
    FileTime(u64),
    /// Binary SID (see [`crate::values::Sid`]).
    Sid(Vec<u8>),
    Binary(Vec<u8>),
    /// NUL-terminated UTF-16 strings back to back (classic providers' insertion strings).
    StrArray(Vec<String>),
    /// A nested BinXML fragment holding another template instance (`EventData`, `UserData`).
    Xml(Box<Instance>),
    /// Replaced by the writer with the record id it assigns (`EventRecordID`, UInt64).
    RecordId,
}

/// A template and the values for its substitutions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub template: Arc<Template>,
    pub values: Vec<Value>,
}

/// Appends little-endian bytes and back-patches sizes; `base` is the chunk offset of
/// `buf[0]`, so inline definitions know their own chunk offsets.
pub struct Encoder<'a> {
    pub buf: &'a mut Vec<u8>,
    pub tables: &'a mut Tables,
    pub record_id: u64,
}

impl Encoder<'_> {
    fn pos(&self) -> Result<u32, WriteError> {
        u32::try_from(self.buf.len()).map_err(|_| WriteError::ChunkOverflow)
    }

    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn utf16(&mut self, s: &str) {
        for unit in s.encode_utf16() {
            self.u16(unit);
        }
    }

    /// Reserves a u32 to patch later with the byte count written after it.
    fn reserve_u32(&mut self) -> usize {
        let at = self.buf.len();
        self.u32(0);
        at
    }

    fn patch_len_since(&mut self, at: usize) -> Result<(), WriteError> {
        let len = self.buf.len() - at - 4;
        let len = u32::try_from(len).map_err(|_| WriteError::ChunkOverflow)?;
        self.buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
        Ok(())
    }

    /// A BinXML fragment holding one template instance.
    pub fn fragment(&mut self, inst: &Instance) -> Result<(), WriteError> {
        self.buf
            .extend_from_slice(&[token::FRAGMENT_HEADER, 1, 1, 0]);
        self.instance(inst)
    }

    fn instance(&mut self, inst: &Instance) -> Result<(), WriteError> {
        let t = &inst.template;
        self.u8(token::TEMPLATE_INSTANCE);
        self.u8(1);
        self.u32(t.id());
        let here = self.pos()? + 4;
        match self.tables.template(&t.guid) {
            Some(offset) => self.u32(offset),
            None => {
                self.u32(here);
                self.template_definition(t, here)?;
            }
        }
        self.values(&inst.values)
    }

    fn template_definition(&mut self, t: &Template, at: u32) -> Result<(), WriteError> {
        let next = self.tables.add_template(t.guid, t.id(), at);
        self.u32(next);
        self.buf.extend_from_slice(&t.guid);
        let size_at = self.reserve_u32();
        self.buf
            .extend_from_slice(&[token::FRAGMENT_HEADER, 1, 1, 0]);
        self.element(&t.root)?;
        self.u8(token::EOF);
        self.patch_len_since(size_at)
    }

    fn element(&mut self, e: &Element) -> Result<(), WriteError> {
        let has_attrs = !e.attrs.is_empty();
        let open = token::OPEN_START | if has_attrs { token::MORE } else { 0 };
        self.u8(open);
        self.u16(e.dependency());
        let size_at = self.reserve_u32();
        self.name(&e.name)?;
        if has_attrs {
            let attrs_at = self.reserve_u32();
            for (i, (name, value)) in e.attrs.iter().enumerate() {
                let more = if i + 1 < e.attrs.len() {
                    token::MORE
                } else {
                    0
                };
                self.u8(token::ATTRIBUTE | more);
                self.name(name)?;
                self.node(value)?;
            }
            self.patch_len_since(attrs_at)?;
        }
        if e.children.is_empty() {
            self.u8(token::CLOSE_EMPTY);
        } else {
            self.u8(token::CLOSE_START);
            for c in &e.children {
                self.node(c)?;
            }
            self.u8(token::END_ELEMENT);
        }
        self.patch_len_since(size_at)
    }

    fn node(&mut self, n: &Node) -> Result<(), WriteError> {
        match n {
            Node::Element(e) => self.element(e)?,
            Node::Text(s) => {
                let len = utf16_len(s)?;
                self.u8(token::VALUE);
                self.u8(vt::STRING);
                self.u16(len);
                self.utf16(s);
            }
            Node::Sub {
                index,
                ty,
                optional,
            } => {
                let tok = if *optional {
                    token::OPTIONAL_SUB
                } else {
                    token::NORMAL_SUB
                };
                self.u8(tok);
                self.u16(*index);
                self.u8(*ty);
            }
        }
        Ok(())
    }

    /// A name reference: inline (next-in-bucket, hash, length, UTF-16, NUL) the first time
    /// the chunk sees the name, its offset afterwards.
    fn name(&mut self, name: &str) -> Result<(), WriteError> {
        if let Some(offset) = self.tables.name(name) {
            self.u32(offset);
            return Ok(());
        }
        let len = utf16_len(name)?;
        let at = self.pos()? + 4;
        self.u32(at);
        let hash = name_hash(name);
        let next = self.tables.add_name(name, hash, at);
        self.u32(next);
        self.u16(hash);
        self.u16(len);
        self.utf16(name);
        self.u16(0);
        Ok(())
    }

    /// The value array: count, (size, type) descriptors, then the bytes. Sizes are patched
    /// once each value is written, since nested fragments only know theirs afterwards.
    fn values(&mut self, values: &[Value]) -> Result<(), WriteError> {
        let count = u32::try_from(values.len()).map_err(|_| WriteError::ChunkOverflow)?;
        self.u32(count);
        let desc_at = self.buf.len();
        self.buf.resize(desc_at + 4 * values.len(), 0);
        for (i, v) in values.iter().enumerate() {
            let start = self.buf.len();
            let ty = self.value(v)?;
            let size =
                u16::try_from(self.buf.len() - start).map_err(|_| WriteError::ValueTooLarge {
                    index: i,
                    size: self.buf.len() - start,
                })?;
            let d = desc_at + 4 * i;
            self.buf[d..d + 2].copy_from_slice(&size.to_le_bytes());
            self.buf[d + 2] = ty;
        }
        Ok(())
    }

    /// Writes one value's bytes and returns its type code.
    fn value(&mut self, v: &Value) -> Result<u8, WriteError> {
        Ok(match v {
            Value::Null => vt::NULL,
            Value::Str(s) => {
                self.utf16(s);
                vt::STRING
            }
            Value::StrZ(s) => {
                self.utf16(s);
                self.u16(0);
                vt::STRING
            }
            Value::U8(n) => {
                self.u8(*n);
                vt::UINT8
            }
            Value::U16(n) => {
                self.u16(*n);
                vt::UINT16
            }
            Value::U32(n) => {
                self.u32(*n);
                vt::UINT32
            }
            Value::U64(n) => {
                self.u64(*n);
                vt::UINT64
            }
            Value::RecordId => {
                self.u64(self.record_id);
                vt::UINT64
            }
            Value::Hex32(n) => {
                self.u32(*n);
                vt::HEX32
            }
            Value::Hex64(n) => {
                self.u64(*n);
                vt::HEX64
            }
            Value::Bool(b) => {
                self.u32(u32::from(*b));
                vt::BOOL
            }
            Value::Guid(g) => {
                self.buf.extend_from_slice(g);
                vt::GUID
            }
            Value::FileTime(t) => {
                self.u64(*t);
                vt::FILETIME
            }
            Value::Sid(b) => {
                self.buf.extend_from_slice(b);
                vt::SID
            }
            Value::Binary(b) => {
                self.buf.extend_from_slice(b);
                vt::BINARY
            }
            Value::StrArray(items) => {
                for s in items {
                    self.utf16(s);
                    self.u16(0);
                }
                vt::STRING_ARRAY
            }
            Value::Xml(inst) => {
                self.fragment(inst)?;
                vt::BINXML
            }
        })
    }
}

fn utf16_len(s: &str) -> Result<u16, WriteError> {
    let n = s.encode_utf16().count();
    u16::try_from(n).map_err(|_| WriteError::NameTooLong(n))
}

/// The hash Windows stores with each name: `h = h * 65599 + unit` over the UTF-16 units,
/// low 16 bits (checked against real chunks: `Event` = 0x0cba, `System` = 0x546f). The
/// string table bucket is this value modulo 64.
pub fn name_hash(name: &str) -> u16 {
    let h = name.encode_utf16().fold(0u32, |h, u| {
        h.wrapping_mul(65599).wrapping_add(u32::from(u))
    });
    (h & 0xffff) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_hashes_match_windows_chunks() {
        assert_eq!(name_hash("Event"), 0x0cba);
        assert_eq!(name_hash("System"), 0x546f);
        assert_eq!(name_hash("Provider"), 0x7bf1);
        assert_eq!(name_hash("Data"), 0x6f8a);
    }
}
