//! An EVTX file writer: the 4 KiB file header, then 64 KiB chunks filled with records.

use crate::chunk::{Chunk, Record, CHUNK_HEADER, CHUNK_SIZE};
use crate::error::WriteError;
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

const FILE_HEADER_BLOCK: usize = 4096;
const MAX_CHUNKS: u64 = 0xffff;

/// Writes records in order into chunks, numbering them from `first_record_id` (1 for a new
/// log). The file header is written last, by [`EvtxWriter::finish`], when the chunk count
/// and next record id are known; a file that was not finished has a zeroed header.
pub struct EvtxWriter<W: Write + Seek> {
    out: W,
    chunk: Chunk,
    chunks_written: u64,
    next_id: u64,
    poisoned: bool,
}

impl EvtxWriter<BufWriter<File>> {
    /// Creates (or truncates) `path`.
    pub fn create(path: &Path) -> Result<Self, WriteError> {
        let file = File::create(path).map_err(|source| WriteError::File {
            path: path.to_path_buf(),
            source,
        })?;
        EvtxWriter::new(BufWriter::with_capacity(1 << 20, file), 1)
    }
}

impl<W: Write + Seek> EvtxWriter<W> {
    /// Starts a log in `out`; its first record gets id `first_record_id`.
    pub fn new(mut out: W, first_record_id: u64) -> Result<Self, WriteError> {
        out.write_all(&[0u8; FILE_HEADER_BLOCK])?;
        Ok(EvtxWriter {
            out,
            chunk: Chunk::new(),
            chunks_written: 0,
            next_id: first_record_id.max(1),
            poisoned: false,
        })
    }

    /// The id the next record will get.
    pub fn next_record_id(&self) -> u64 {
        self.next_id
    }

    /// Appends a record and returns its id. A record that does not fit in an empty chunk is
    /// rejected with [`WriteError::RecordTooLarge`] and the log stays usable.
    pub fn append(&mut self, rec: &Record) -> Result<u64, WriteError> {
        if self.poisoned {
            return Err(WriteError::Poisoned);
        }
        let id = self.next_id;
        if !self.chunk.try_append(id, rec)? {
            if self.chunk.is_empty() {
                let max = CHUNK_SIZE - CHUNK_HEADER;
                return Err(WriteError::RecordTooLarge { id, max });
            }
            self.flush_chunk()?;
            if !self.chunk.try_append(id, rec)? {
                let max = CHUNK_SIZE - CHUNK_HEADER;
                return Err(WriteError::RecordTooLarge { id, max });
            }
        }
        self.next_id += 1;
        Ok(id)
    }

    fn flush_chunk(&mut self) -> Result<(), WriteError> {
        if self.chunks_written >= MAX_CHUNKS {
            return Err(WriteError::FileFull);
        }
        let full = std::mem::take(&mut self.chunk).finish();
        if let Err(e) = self.out.write_all(&full) {
            self.poisoned = true;
            return Err(e.into());
        }
        self.chunks_written += 1;
        Ok(())
    }

    /// Writes the last chunk and the file header (version 3.1, clean, CRC32), and returns
    /// the output.
    pub fn finish(mut self) -> Result<W, WriteError> {
        if self.poisoned {
            return Err(WriteError::Poisoned);
        }
        if !self.chunk.is_empty() || self.chunks_written == 0 {
            self.flush_chunk()?;
        }
        let header = file_header(self.chunks_written, self.next_id);
        self.out.seek(SeekFrom::Start(0))?;
        self.out.write_all(&header)?;
        self.out.seek(SeekFrom::End(0))?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// The 128 header fields of the 4 KiB file header block.
fn file_header(chunks: u64, next_id: u64) -> [u8; 128] {
    let mut h = [0u8; 128];
    h[0..8].copy_from_slice(b"ElfFile\0");
    h[8..16].copy_from_slice(&0u64.to_le_bytes());
    h[16..24].copy_from_slice(&chunks.saturating_sub(1).to_le_bytes());
    h[24..32].copy_from_slice(&next_id.to_le_bytes());
    h[32..36].copy_from_slice(&128u32.to_le_bytes());
    h[36..38].copy_from_slice(&1u16.to_le_bytes());
    h[38..40].copy_from_slice(&3u16.to_le_bytes());
    h[40..42].copy_from_slice(&4096u16.to_le_bytes());
    let count = u16::try_from(chunks).unwrap_or(u16::MAX);
    h[42..44].copy_from_slice(&count.to_le_bytes());
    let crc = crc32fast::hash(&h[0..120]);
    h[124..128].copy_from_slice(&crc.to_le_bytes());
    h
}
