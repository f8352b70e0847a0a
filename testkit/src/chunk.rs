//! One 64 KiB chunk being filled: its bytes, its string and template tables, and the header
//! fields and checksums Windows writes when the chunk is complete.

use crate::binxml::{Encoder, Instance};
use crate::error::WriteError;
use std::collections::HashMap;

pub const CHUNK_SIZE: usize = 65536;
pub const CHUNK_HEADER: usize = 512;
const STRING_BUCKETS: usize = 64;
const TEMPLATE_BUCKETS: usize = 32;
const RECORD_MAGIC: [u8; 4] = [0x2a, 0x2a, 0, 0];

/// The chunk's name and template tables. Each bucket holds the offset of the newest entry,
/// and each entry links to the previous head (its "next" field), as in Windows' chunks.
#[derive(Debug)]
pub struct Tables {
    names: HashMap<String, u32>,
    templates: HashMap<[u8; 16], u32>,
    string_heads: [u32; STRING_BUCKETS],
    template_heads: [u32; TEMPLATE_BUCKETS],
    /// Changes made by the record being encoded, undone if it does not fit.
    journal: Vec<Change>,
}

#[derive(Debug)]
enum Change {
    Name(String, usize, u32),
    Template([u8; 16], usize, u32),
}

impl Default for Tables {
    fn default() -> Self {
        Tables {
            names: HashMap::new(),
            templates: HashMap::new(),
            string_heads: [0; STRING_BUCKETS],
            template_heads: [0; TEMPLATE_BUCKETS],
            journal: Vec::new(),
        }
    }
}

impl Tables {
    pub fn name(&self, name: &str) -> Option<u32> {
        self.names.get(name).copied()
    }

    pub fn template(&self, guid: &[u8; 16]) -> Option<u32> {
        self.templates.get(guid).copied()
    }

    /// Registers a name written inline at `offset`; returns the previous bucket head, which
    /// the inline name stores as its "next" link.
    pub fn add_name(&mut self, name: &str, hash: u16, offset: u32) -> u32 {
        let bucket = usize::from(hash) % STRING_BUCKETS;
        let prev = std::mem::replace(&mut self.string_heads[bucket], offset);
        self.names.insert(name.to_string(), offset);
        self.journal
            .push(Change::Name(name.to_string(), bucket, prev));
        prev
    }

    /// Registers a template defined at `offset`. Which function Windows uses to pick the
    /// bucket is not documented (nothing reads it: readers follow the inline offsets); the
    /// template id modulo 32 is used.
    pub fn add_template(&mut self, guid: [u8; 16], id: u32, offset: u32) -> u32 {
        let bucket = (id as usize) % TEMPLATE_BUCKETS;
        let prev = std::mem::replace(&mut self.template_heads[bucket], offset);
        self.templates.insert(guid, offset);
        self.journal.push(Change::Template(guid, bucket, prev));
        prev
    }

    fn rollback(&mut self) {
        while let Some(change) = self.journal.pop() {
            match change {
                Change::Name(name, bucket, prev) => {
                    self.names.remove(&name);
                    self.string_heads[bucket] = prev;
                }
                Change::Template(guid, bucket, prev) => {
                    self.templates.remove(&guid);
                    self.template_heads[bucket] = prev;
                }
            }
        }
    }
}

/// A record to write: when it was written (the record header's FILETIME, Windows' own
/// `TimeCreated`) and its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub filetime: u64,
    pub event: Instance,
}

/// A chunk under construction. `data` holds the header area followed by the records so far,
/// so its length is the next record's chunk offset.
pub struct Chunk {
    data: Vec<u8>,
    tables: Tables,
    first_id: u64,
    last_id: u64,
    last_offset: u32,
}

impl Chunk {
    pub fn new() -> Chunk {
        let mut data = Vec::with_capacity(CHUNK_SIZE);
        data.resize(CHUNK_HEADER, 0);
        Chunk {
            data,
            tables: Tables::default(),
            first_id: 0,
            last_id: 0,
            last_offset: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.data.len() == CHUNK_HEADER
    }

    /// Appends a record with id `id`. `Ok(false)` when it does not fit (the chunk is
    /// unchanged); the caller starts a new chunk and tries again.
    pub fn try_append(&mut self, id: u64, rec: &Record) -> Result<bool, WriteError> {
        let start = self.data.len();
        self.tables.journal.clear();
        let result = self.encode(id, rec);
        let fits = self.data.len() <= CHUNK_SIZE;
        if result.is_err() || !fits {
            self.data.truncate(start);
            self.tables.rollback();
            return result.map(|_| false);
        }
        if self.first_id == 0 {
            self.first_id = id;
        }
        self.last_id = id;
        self.last_offset = start as u32;
        Ok(true)
    }

    /// Record header, BinXML, zero padding to a multiple of 8, and the size copy.
    fn encode(&mut self, id: u64, rec: &Record) -> Result<(), WriteError> {
        let start = self.data.len();
        self.data.extend_from_slice(&RECORD_MAGIC);
        self.data.extend_from_slice(&[0; 4]);
        self.data.extend_from_slice(&id.to_le_bytes());
        self.data.extend_from_slice(&rec.filetime.to_le_bytes());
        let mut enc = Encoder {
            buf: &mut self.data,
            tables: &mut self.tables,
            record_id: id,
        };
        enc.fragment(&rec.event)?;
        let unpadded = self.data.len() - start + 4;
        let size = unpadded.div_ceil(8) * 8;
        self.data.resize(start + size - 4, 0);
        let size32 = u32::try_from(size).map_err(|_| WriteError::ChunkOverflow)?;
        self.data.extend_from_slice(&size32.to_le_bytes());
        self.data[start + 4..start + 8].copy_from_slice(&size32.to_le_bytes());
        Ok(())
    }

    /// The finished 64 KiB chunk: header fields, tables, checksums, zeroed free space.
    pub fn finish(mut self) -> Vec<u8> {
        let free = self.data.len() as u32;
        self.data.resize(CHUNK_SIZE, 0);
        let d = &mut self.data;
        d[0..8].copy_from_slice(b"ElfChnk\0");
        // Record numbers equal record ids in a log that was never cleared mid-chunk.
        for (at, v) in [(8, self.first_id), (16, self.last_id)] {
            d[at..at + 8].copy_from_slice(&v.to_le_bytes());
        }
        for (at, v) in [(24, self.first_id), (32, self.last_id)] {
            d[at..at + 8].copy_from_slice(&v.to_le_bytes());
        }
        d[40..44].copy_from_slice(&128u32.to_le_bytes());
        d[44..48].copy_from_slice(&self.last_offset.to_le_bytes());
        d[48..52].copy_from_slice(&free.to_le_bytes());
        let records_crc = crc32fast::hash(&d[CHUNK_HEADER..free as usize]);
        d[52..56].copy_from_slice(&records_crc.to_le_bytes());
        // Chunk flags: Windows' closed chunks carry 1.
        d[120..124].copy_from_slice(&1u32.to_le_bytes());
        for (i, v) in self.tables.string_heads.iter().enumerate() {
            d[128 + 4 * i..132 + 4 * i].copy_from_slice(&v.to_le_bytes());
        }
        for (i, v) in self.tables.template_heads.iter().enumerate() {
            d[384 + 4 * i..388 + 4 * i].copy_from_slice(&v.to_le_bytes());
        }
        let mut h = crc32fast::Hasher::new();
        h.update(&d[0..120]);
        h.update(&d[128..CHUNK_HEADER]);
        d[124..128].copy_from_slice(&h.finalize().to_le_bytes());
        self.data
    }
}

impl Default for Chunk {
    fn default() -> Self {
        Chunk::new()
    }
}
