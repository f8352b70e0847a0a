//! Byte-level EVTX integrity checks, independent of the `evtx` crate.
//!
//! The EVTX reader owns the I/O: it hands this module the file header block first and then
//! one 64 KiB chunk at a time. The checks find damage that the `evtx` crate skips silently
//! (all-zero chunks, truncated tails, duplicated chunks) or reports without context, and they
//! locate every problem by chunk number and file offset, so an incident responder can tell
//! which evidence may be missing and where to look with a hex editor.
//!
//! Layout (MS-EVEN6, libevtx notes), all integers little-endian:
//!
//! - File header block, 4096 bytes: magic `ElfFile\0` (0), first and last chunk number
//!   (8, 16), next record id (24), header size 128 (32), minor and major version (36, 38),
//!   header block size 4096 (40), chunk count (42), flags (120: 1 dirty, 2 full, 4 no CRC32),
//!   CRC32 of bytes 0..120 (124).
//! - Chunk, 65536 bytes, starting at 4096 + n * 65536: magic `ElfChnk\0` (0), first and last
//!   record number (8, 16), first and last record id (24, 32), header size (40), offset of the
//!   last record (44), free-space offset (48), CRC32 of the records 512..free-space (52),
//!   chunk flags (120, 4 = no CRC32), CRC32 of header bytes 0..120 and 128..512 (124).
//! - Record, 8-byte aligned from chunk offset 512: magic `**\0\0`, size (u32), record id
//!   (u64), written time (FILETIME, u64), Binary XML, and a copy of the size in its last four
//!   bytes.
//!
//! # Zeroed chunks
//!
//! A preallocated log that was never filled ends in chunks of zero bytes; that is not damage.
//! A zeroed chunk that is followed by a chunk holding data is damage: something wiped it, or
//! a volume shadow copy never had its blocks, and the records it held are gone. Which case
//! applies is only known once the following chunks are seen, so [`check_chunk`] returns
//! [`ChunkVerdict::Zeroed`] without an issue and [`ZeroedChunks`] decides: it reports a run
//! of zeroed chunks as one [`IssueKind::ZeroedChunk`] when a non-zero chunk follows it, and
//! [`ZeroedChunks::finish`] returns the trailing run, which is not reported.
//!
//! Nothing here trusts a value read from the file: every read is bounds-checked, arithmetic
//! on file values is checked or saturating, every loop advances by at least 8 bytes within a
//! 64 KiB chunk, and memory is bounded (see [`DuplicateIds`]).

use crate::issues::{Issue, IssueKind};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// Size of the file header block; the first chunk starts here.
pub const FILE_HEADER_BLOCK: u64 = 4096;
/// Size of one chunk.
pub const CHUNK_SIZE: u64 = 65536;
/// Size of one chunk, as a length.
pub const CHUNK_LEN: usize = 65536;
/// Size of a chunk header; records start here.
pub const CHUNK_HEADER_LEN: usize = 512;
/// Bytes of the file header that hold fields (the rest of the block is padding).
const FILE_HEADER_FIELDS: usize = 128;
const FILE_MAGIC: [u8; 8] = *b"ElfFile\0";
const CHUNK_MAGIC: [u8; 8] = *b"ElfChnk\0";
const RECORD_MAGIC: [u8; 4] = *b"**\0\0";
/// Magic, size, id, time and the trailing size copy: the smallest possible record.
const MIN_RECORD_LEN: usize = 28;
/// Chunk flag: the chunk stores no CRC32s.
const CHUNK_NO_CRC32: u32 = 0x4;
/// Broken record spans listed per chunk; more are counted in one summary issue, so a hostile
/// chunk cannot produce thousands of issues.
const MAX_WALK_ISSUES: usize = 16;
/// Id spans [`DuplicateIds`] remembers (about 40 bytes each, so at most ~80 MB).
const MAX_ID_SPANS: usize = 1 << 21;
/// Chunk id ranges [`DuplicateIds`] remembers; a 4 GiB file has 65535 chunks.
const MAX_CHUNK_RANGES: usize = 1 << 20;

/// `N` bytes at `at`, or `None` when they are not all inside `bytes`.
fn array<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn le_u16(bytes: &[u8], at: usize) -> Option<u16> {
    array(bytes, at).map(u16::from_le_bytes)
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    array(bytes, at).map(u32::from_le_bytes)
}

fn le_u64(bytes: &[u8], at: usize) -> Option<u64> {
    array(bytes, at).map(u64::from_le_bytes)
}

/// Bytes as space-separated hex, for quoting a bad magic.
fn hex_bytes(bytes: &[u8]) -> String {
    let parts: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    parts.join(" ")
}

/// File offset of chunk `chunk_no`, or `None` if it does not fit in a `u64`.
pub fn chunk_offset(chunk_no: u64) -> Option<u64> {
    chunk_no
        .checked_mul(CHUNK_SIZE)?
        .checked_add(FILE_HEADER_BLOCK)
}

/// "chunk 3 at offset 0x34000", the prefix of every chunk-level detail.
fn chunk_label(chunk_no: u64, file_offset: u64) -> String {
    format!("chunk {chunk_no} at offset {file_offset:#x}")
}

/// Like [`chunk_label`], computing the offset from the chunk number.
fn chunk_label_of(chunk_no: u64) -> String {
    match chunk_offset(chunk_no) {
        Some(offset) => chunk_label(chunk_no, offset),
        None => format!("chunk {chunk_no}"),
    }
}

/// The file header's flags word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileFlags(pub u32);

impl FileFlags {
    pub const DIRTY: u32 = 0x1;
    pub const FULL: u32 = 0x2;
    pub const NO_CRC32: u32 = 0x4;

    /// The log was open for writing when copied: the header's counts may be stale, and
    /// chunks beyond its chunk count are normal.
    pub fn dirty(self) -> bool {
        self.0 & Self::DIRTY != 0
    }

    /// The log reached its maximum size.
    pub fn full(self) -> bool {
        self.0 & Self::FULL != 0
    }

    /// The writer stored no CRC32s, so none are checked.
    pub fn no_crc32(self) -> bool {
        self.0 & Self::NO_CRC32 != 0
    }
}

/// What the file header says, plus how the file's size relates to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHeaderInfo {
    pub first_chunk_number: u64,
    pub last_chunk_number: u64,
    pub next_record_id: u64,
    pub header_size: u32,
    pub minor_version: u16,
    pub major_version: u16,
    pub header_block_size: u16,
    /// Chunk count as the header states it; stale in dirty files.
    pub chunk_count: u16,
    pub flags: FileFlags,
    /// CRC32 stored at offset 124.
    pub stored_checksum: u32,
    /// CRC32 of bytes 0..120 as read.
    pub computed_checksum: u32,
    /// The stored CRC32 matches, or the `NO_CRC32` flag says there is none.
    pub checksum_ok: bool,
    /// Whole 64 KiB chunks the file holds after the header block.
    pub whole_chunks: u64,
    /// Bytes of a partial chunk at the end of the file (0 when the size is regular).
    pub trailing_bytes: u64,
    /// Whole chunks beyond the header's chunk count: normal for a log copied while in use
    /// (DIRTY), not damage. These chunks must still be read.
    pub chunks_beyond_header: u64,
}

/// Checks the file header and the file's size.
///
/// `bytes` is the start of the file, the first 4096 bytes or all of it if shorter;
/// `file_len` the file's full size. Returns `None` when the header cannot be read at all
/// (empty, legacy `.evt`, wrong magic, cut inside its fields). Issues: a wrong magic or
/// implausible fields ([`IssueKind::BadFileHeader`], one issue listing every problem), and a
/// size that is not 4096 + k * 65536 or holds fewer whole chunks than the header counts
/// ([`IssueKind::Truncated`]).
pub fn check_file_header(
    bytes: &[u8],
    file_len: u64,
    file: &Arc<str>,
) -> (Option<FileHeaderInfo>, Vec<Issue>) {
    let head = bytes.get(..FILE_HEADER_BLOCK as usize).unwrap_or(bytes);
    if let Some(issue) = file_magic_issue(head, file_len, file) {
        return (None, vec![issue]);
    }
    let Some(mut info) = parse_file_header(head) else {
        let detail = format!(
            "file header: only {} bytes of it are present (file size {file_len}); its fields \
             need {FILE_HEADER_FIELDS}",
            head.len()
        );
        return (
            None,
            vec![Issue::new(IssueKind::Truncated, file, detail).at_offset(0)],
        );
    };
    let mut issues: Vec<Issue> = header_field_issue(&info, file).into_iter().collect();
    issues.extend(layout_issues(&mut info, file_len, file));
    (Some(info), issues)
}

/// An issue when the file does not start with the EVTX magic.
fn file_magic_issue(head: &[u8], file_len: u64, file: &Arc<str>) -> Option<Issue> {
    if file_len == 0 || head.is_empty() {
        let issue = Issue::new(IssueKind::Unsupported, file, "empty file: no EVTX header");
        return Some(issue.at_offset(0));
    }
    if head.get(4..8) == Some(b"LfLe".as_slice()) {
        let detail = "legacy Windows .evt log (magic LfLe at offset 4), not EVTX";
        return Some(Issue::new(IssueKind::Unsupported, file, detail).at_offset(0));
    }
    let seen = head.get(..FILE_MAGIC.len()).unwrap_or(head);
    if seen == FILE_MAGIC.as_slice() {
        return None;
    }
    let issue = if FILE_MAGIC.starts_with(seen) {
        let detail = format!("file is {file_len} bytes: it ends inside the EVTX magic");
        Issue::new(IssueKind::Truncated, file, detail)
    } else {
        let detail = format!(
            "file header magic is {} instead of ElfFile\\0 (45 6c 66 46 69 6c 65 00)",
            hex_bytes(seen)
        );
        Issue::new(IssueKind::BadFileHeader, file, detail)
    };
    Some(issue.at_offset(0))
}

/// Reads the header fields; `None` when fewer than 128 bytes are present.
fn parse_file_header(head: &[u8]) -> Option<FileHeaderInfo> {
    let flags = FileFlags(le_u32(head, 120)?);
    let stored_checksum = le_u32(head, 124)?;
    let computed_checksum = crc32fast::hash(head.get(..120)?);
    Some(FileHeaderInfo {
        first_chunk_number: le_u64(head, 8)?,
        last_chunk_number: le_u64(head, 16)?,
        next_record_id: le_u64(head, 24)?,
        header_size: le_u32(head, 32)?,
        minor_version: le_u16(head, 36)?,
        major_version: le_u16(head, 38)?,
        header_block_size: le_u16(head, 40)?,
        chunk_count: le_u16(head, 42)?,
        flags,
        stored_checksum,
        computed_checksum,
        checksum_ok: flags.no_crc32() || stored_checksum == computed_checksum,
        whole_chunks: 0,
        trailing_bytes: 0,
        chunks_beyond_header: 0,
    })
}

/// One issue listing every implausible header field, or `None`. Readers still find chunks
/// at their fixed offsets, so a bad header is reported but does not stop reading.
fn header_field_issue(info: &FileHeaderInfo, file: &Arc<str>) -> Option<Issue> {
    let mut problems = Vec::new();
    if !info.checksum_ok {
        problems.push(format!(
            "checksum {:#010x}, computed {:#010x}",
            info.stored_checksum, info.computed_checksum
        ));
    }
    if info.header_size != FILE_HEADER_FIELDS as u32 {
        problems.push(format!("header size {} (expected 128)", info.header_size));
    }
    if info.major_version != 3 || !(1..=2).contains(&info.minor_version) {
        problems.push(format!(
            "version {}.{} (expected 3.1 or 3.2)",
            info.major_version, info.minor_version
        ));
    }
    if u64::from(info.header_block_size) != FILE_HEADER_BLOCK {
        problems.push(format!(
            "header block size {} (expected 4096)",
            info.header_block_size
        ));
    }
    let count = u64::from(info.chunk_count);
    if count > 0 && (info.first_chunk_number >= count || info.last_chunk_number >= count) {
        problems.push(format!(
            "first/last chunk number {}/{} outside the {count} chunks it counts",
            info.first_chunk_number, info.last_chunk_number
        ));
    }
    if problems.is_empty() {
        return None;
    }
    let detail = format!("file header: {}", problems.join("; "));
    Some(Issue::new(IssueKind::BadFileHeader, file, detail).at_offset(0))
}

/// Fills the size-derived fields of `info` and reports truncation: a partial chunk at the
/// end, or fewer whole chunks than the header counts. More chunks than it counts is normal.
fn layout_issues(info: &mut FileHeaderInfo, file_len: u64, file: &Arc<str>) -> Vec<Issue> {
    let Some(body) = file_len.checked_sub(FILE_HEADER_BLOCK) else {
        let detail = format!(
            "file is {file_len} bytes, shorter than the 4096-byte file header block; it holds \
             no chunks"
        );
        return vec![Issue::new(IssueKind::Truncated, file, detail).at_offset(0)];
    };
    let whole = body / CHUNK_SIZE;
    let trailing = body % CHUNK_SIZE;
    let count = u64::from(info.chunk_count);
    info.whole_chunks = whole;
    info.trailing_bytes = trailing;
    info.chunks_beyond_header = whole.saturating_sub(count);
    let mut issues = Vec::new();
    if trailing != 0 {
        let at = file_len.saturating_sub(trailing);
        let detail = format!(
            "file is {file_len} bytes, not 4096 + a multiple of 65536: the last {trailing} \
             bytes (from offset {at:#x}) are a partial chunk {whole} after {whole} whole chunks"
        );
        let issue = Issue::new(IssueKind::Truncated, file, detail);
        issues.push(issue.at_chunk(whole).at_offset(at));
    }
    if whole < count {
        let detail = format!(
            "file header counts {count} chunks but the file holds only {whole} whole chunks: \
             chunks {whole}..={} are missing",
            count.saturating_sub(1)
        );
        issues.push(Issue::new(IssueKind::Truncated, file, detail).at_offset(file_len));
    }
    issues
}

/// The overall state of one chunk; the issues say more. When several problems apply, the
/// verdict is the first in this order: `Short`, `Zeroed`, `BadMagic`, `HeaderChecksum`,
/// `BadHeader`, `DataChecksum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChunkVerdict {
    /// Magic and checksums (unless the writer stored none) are right.
    Ok,
    /// Every byte is zero: unused space, or a wiped chunk (see [`ZeroedChunks`]).
    Zeroed,
    /// Fewer than 65536 bytes and not all zero: the file ends inside it.
    Short,
    /// Not `ElfChnk\0`: nothing in it can be located. No [`ChunkInfo`].
    BadMagic,
    /// The header CRC32 does not match: its record ids and offsets cannot be trusted.
    HeaderChecksum,
    /// The header's CRC32 matches (or is absent) but its values are impossible, such as a
    /// free-space offset outside the chunk.
    BadHeader,
    /// The records' CRC32 does not match: at least one record was altered or overwritten.
    DataChecksum,
}

impl ChunkVerdict {
    /// True when [`walk_records`] may still find records in the chunk: all but a zeroed one.
    /// Walking a chunk with a bad magic or a partial tail recovers the ids of records the
    /// `evtx` crate cannot read, so the report can name what was lost.
    pub fn may_hold_records(self) -> bool {
        self != ChunkVerdict::Zeroed
    }
}

/// The chunk header's values and what the checksums said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkInfo {
    pub first_record_number: u64,
    pub last_record_number: u64,
    pub first_record_id: u64,
    pub last_record_id: u64,
    pub header_size: u32,
    /// Offset within the chunk of the last record.
    pub last_record_offset: u32,
    /// Offset within the chunk where the records end.
    pub free_space_offset: u32,
    /// Records CRC32 as stored at offset 52.
    pub data_checksum: u32,
    /// Header CRC32 as stored at offset 124.
    pub header_checksum: u32,
    /// Chunk flags at offset 120.
    pub flags: u32,
    /// `None` when not checked because the file or the chunk says it stores no CRC32.
    pub header_checksum_ok: Option<bool>,
    /// `None` when not checked (no CRC32s, or the free-space offset is unusable).
    pub data_checksum_ok: Option<bool>,
}

impl ChunkInfo {
    /// The header values are trustworthy: its CRC32 matched or none is stored.
    pub fn header_trusted(&self) -> bool {
        self.header_checksum_ok != Some(false)
    }

    /// The records area 512..free-space offset, when that offset is inside the chunk.
    pub fn records_area(&self) -> Option<Range<usize>> {
        records_area(self.free_space_offset)
    }
}

fn records_area(free_space_offset: u32) -> Option<Range<usize>> {
    let end = usize::try_from(free_space_offset).ok()?;
    (CHUNK_HEADER_LEN..=CHUNK_LEN)
        .contains(&end)
        .then_some(CHUNK_HEADER_LEN..end)
}

/// Checks one chunk: zeroed, magic, header CRC32, records CRC32, header values.
///
/// `bytes` should be the 65536 bytes of chunk `chunk_no`, found at `file_offset`; only the
/// first 65536 are looked at. A shorter buffer is the file's partial tail: it gets a
/// [`IssueKind::Truncated`] issue, which repeats what [`check_file_header`] said, so readers
/// that report that need not pass the tail here. CRC32s are skipped when `header_flags` or
/// the chunk's own flags say `NO_CRC32`. A zeroed chunk gets no issue; see [`ZeroedChunks`].
pub fn check_chunk(
    bytes: &[u8],
    chunk_no: u64,
    file_offset: u64,
    file: &Arc<str>,
    header_flags: FileFlags,
) -> (ChunkVerdict, Option<ChunkInfo>, Vec<Issue>) {
    let label = chunk_label(chunk_no, file_offset);
    let at = |kind, detail: String| {
        Issue::new(kind, file, detail)
            .at_chunk(chunk_no)
            .at_offset(file_offset)
    };
    let Some(chunk) = bytes.get(..CHUNK_LEN) else {
        let (verdict, detail) = short_chunk(bytes, &label);
        return (verdict, None, vec![at(IssueKind::Truncated, detail)]);
    };
    if chunk.iter().all(|&b| b == 0) {
        return (ChunkVerdict::Zeroed, None, Vec::new());
    }
    let Some(mut info) = parse_chunk_header(chunk) else {
        return (ChunkVerdict::Short, None, Vec::new());
    };
    if chunk.get(..CHUNK_MAGIC.len()) != Some(CHUNK_MAGIC.as_slice()) {
        let detail = bad_magic_detail(chunk, &label);
        return (
            ChunkVerdict::BadMagic,
            None,
            vec![at(IssueKind::BadChunkMagic, detail)],
        );
    }
    let skip_crc = header_flags.no_crc32() || info.flags & CHUNK_NO_CRC32 != 0;
    let mut found = Vec::new();
    if !skip_crc {
        found.extend(header_checksum_problem(chunk, &mut info, &label));
    }
    if info.header_trusted() {
        found.extend(header_value_problem(chunk, &info, &label));
    }
    if !skip_crc {
        found.extend(data_checksum_problem(chunk, &mut info, &label));
    }
    let verdict = found.first().map_or(ChunkVerdict::Ok, |p| p.0);
    let issues = found
        .into_iter()
        .map(|(_, kind, detail)| at(kind, detail))
        .collect();
    (verdict, Some(info), issues)
}

/// Verdict and detail for a buffer shorter than a chunk: the file ends inside it.
fn short_chunk(bytes: &[u8], label: &str) -> (ChunkVerdict, String) {
    let verdict = if bytes.iter().all(|&b| b == 0) {
        ChunkVerdict::Zeroed
    } else {
        ChunkVerdict::Short
    };
    let detail = format!(
        "{label}: only {} of 65536 bytes present; the file ends inside this chunk",
        bytes.len()
    );
    (verdict, detail)
}

/// A problem found in a chunk: the verdict it implies, the issue kind, the detail.
type ChunkProblem = (ChunkVerdict, IssueKind, String);

/// Reads the chunk header fields (without judging them).
fn parse_chunk_header(chunk: &[u8]) -> Option<ChunkInfo> {
    Some(ChunkInfo {
        first_record_number: le_u64(chunk, 8)?,
        last_record_number: le_u64(chunk, 16)?,
        first_record_id: le_u64(chunk, 24)?,
        last_record_id: le_u64(chunk, 32)?,
        header_size: le_u32(chunk, 40)?,
        last_record_offset: le_u32(chunk, 44)?,
        free_space_offset: le_u32(chunk, 48)?,
        data_checksum: le_u32(chunk, 52)?,
        flags: le_u32(chunk, 120)?,
        header_checksum: le_u32(chunk, 124)?,
        header_checksum_ok: None,
        data_checksum_ok: None,
    })
}

/// Record magics at 8-byte aligned offsets after the chunk header. Tells a damaged chunk
/// (records inside, now lost) from space that never held a chunk (leftover disk data).
fn record_signatures(chunk: &[u8]) -> usize {
    chunk
        .get(CHUNK_HEADER_LEN..)
        .unwrap_or_default()
        .chunks_exact(8)
        .filter(|word| word.starts_with(&RECORD_MAGIC))
        .count()
}

fn bad_magic_detail(chunk: &[u8], label: &str) -> String {
    let magic = chunk.get(..CHUNK_MAGIC.len()).unwrap_or_default();
    let inside = match record_signatures(chunk) {
        0 => "no record signature inside: likely space that never held a chunk, with \
              leftover data"
            .to_string(),
        n => format!(
            "{n} record signatures inside: a damaged chunk; its intact records are still read"
        ),
    };
    format!(
        "{label}: magic is {} instead of ElfChnk\\0; {inside}",
        hex_bytes(magic)
    )
}

/// CRC32 of header bytes 0..120 and 128..512, as the header stores it.
fn chunk_header_crc(chunk: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(chunk.get(..120).unwrap_or_default());
    hasher.update(chunk.get(128..CHUNK_HEADER_LEN).unwrap_or_default());
    hasher.finalize()
}

fn header_checksum_problem(
    chunk: &[u8],
    info: &mut ChunkInfo,
    label: &str,
) -> Option<ChunkProblem> {
    let computed = chunk_header_crc(chunk);
    let ok = computed == info.header_checksum;
    info.header_checksum_ok = Some(ok);
    (!ok).then(|| {
        let detail = format!(
            "{label}: header checksum {:#010x}, computed {computed:#010x}; its record ids and \
             offsets cannot be trusted",
            info.header_checksum
        );
        (
            ChunkVerdict::HeaderChecksum,
            IssueKind::ChunkHeaderChecksum,
            detail,
        )
    })
}

/// Most records one chunk can hold: its records area filled with the smallest records.
const MAX_RECORDS_PER_CHUNK: u64 = ((CHUNK_LEN - CHUNK_HEADER_LEN) / MIN_RECORD_LEN) as u64;
/// The chunk header size Windows writes (and every reader assumes).
const CHUNK_HEADER_FIELDS: u32 = 128;
/// Where the string table (64 offsets) and then the template table (32 offsets) sit.
const TABLES: Range<usize> = 128..CHUNK_HEADER_LEN;

/// Impossible values in a header whose checksum passed (or is absent).
///
/// A header can be consistent with its checksum and still lie: a forged or rewritten chunk
/// gets a fresh CRC32. Every value here is one Windows never writes, so the chunk is reported
/// rather than read on trust.
fn header_value_problem(chunk: &[u8], info: &ChunkInfo, label: &str) -> Option<ChunkProblem> {
    let mut problems = Vec::new();
    let fso = info.free_space_offset;
    if info.header_size != CHUNK_HEADER_FIELDS {
        problems.push(format!(
            "header size {} is not {CHUNK_HEADER_FIELDS}",
            info.header_size
        ));
    }
    let holds_records = records_area(fso).is_some_and(|a| a.end > a.start);
    if holds_records {
        // Record numbers and ids count from 1, and one chunk cannot span more of them than
        // it has room for records.
        for (what, first, last) in [
            ("number", info.first_record_number, info.last_record_number),
            ("id", info.first_record_id, info.last_record_id),
        ] {
            if first == 0 {
                problems.push(format!("first record {what} is 0 (they start at 1)"));
            } else if first <= last && last - first >= MAX_RECORDS_PER_CHUNK {
                problems.push(format!(
                    "record {what}s {first}..={last} are more than a chunk can hold \
                     ({MAX_RECORDS_PER_CHUNK})"
                ));
            }
        }
        // String and template table entries point at names and templates inside the
        // records; 0 is an empty bucket.
        let tables = chunk.get(TABLES).unwrap_or_default();
        let outside = (TABLES.start..)
            .step_by(4)
            .zip(tables.chunks_exact(4))
            .filter_map(|(at, b)| Some((at, u32::from_le_bytes(b.try_into().ok()?))))
            .find(|&(_, off)| off != 0 && !(CHUNK_HEADER_LEN as u32..fso).contains(&off));
        if let Some((at, off)) = outside {
            let table = if at < 384 { "string" } else { "template" };
            problems.push(format!(
                "{table} table entry at header offset {at} points at {off:#x}, outside the \
                 records area 0x200..{fso:#x}"
            ));
        }
    }
    if records_area(fso).is_none() {
        problems.push(format!(
            "free-space offset {fso:#x} is outside 0x200..=0x10000, so its records cannot be \
             delimited"
        ));
    } else if fso as usize > CHUNK_HEADER_LEN {
        let last = info.last_record_offset;
        if (last as usize) < CHUNK_HEADER_LEN || last >= fso {
            problems.push(format!(
                "last record offset {last:#x} is outside the records area 0x200..{fso:#x}"
            ));
        }
    }
    if info.first_record_id > info.last_record_id {
        problems.push(format!(
            "first record id {} is after last record id {}",
            info.first_record_id, info.last_record_id
        ));
    }
    if info.first_record_number > info.last_record_number {
        problems.push(format!(
            "first record number {} is after last record number {}",
            info.first_record_number, info.last_record_number
        ));
    }
    if problems.is_empty() {
        return None;
    }
    let detail = format!("{label}: chunk header {}", problems.join("; "));
    Some((ChunkVerdict::BadHeader, IssueKind::UnreadableChunk, detail))
}

fn data_checksum_problem(chunk: &[u8], info: &mut ChunkInfo, label: &str) -> Option<ChunkProblem> {
    let area = info.records_area()?;
    let end = area.end;
    let computed = crc32fast::hash(chunk.get(area)?);
    let ok = computed == info.data_checksum;
    info.data_checksum_ok = Some(ok);
    (!ok).then(|| {
        let detail = format!(
            "{label}: records checksum {:#010x}, computed {computed:#010x} over \
             0x200..{end:#x}; at least one record was altered or overwritten",
            info.data_checksum
        );
        (
            ChunkVerdict::DataChecksum,
            IssueKind::ChunkDataChecksum,
            detail,
        )
    })
}

/// One record header that passed the walk's checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordSpan {
    pub record_id: u64,
    /// Offset within the chunk.
    pub offset: u32,
    pub size: u32,
    /// Written time, as a raw FILETIME.
    pub written: u64,
}

/// The result of [`walk_records`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordWalk {
    /// Sane records in chunk order.
    pub records: Vec<RecordSpan>,
    /// One [`IssueKind::RecordDecode`] per broken span (at most 16, then one summary).
    pub issues: Vec<Issue>,
    /// Bytes of the records area skipped while resynchronising.
    pub skipped_bytes: u64,
    /// Offset within the chunk where the walk stopped: the free-space offset, or the end of
    /// the buffer when that offset is unusable.
    pub end: usize,
}

/// Why a record header was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecordProblem {
    BadMagic([u8; 4]),
    Cut { left: usize },
    Size { size: u32, left: usize },
    SizeCopy { size: u32, copy: u32 },
}

impl fmt::Display for RecordProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RecordProblem::BadMagic(magic) => {
                write!(f, "magic {} is not 2a 2a 00 00", hex_bytes(&magic))
            }
            RecordProblem::Cut { left } => write!(
                f,
                "only {left} bytes remain before the end of the records area, too few for a \
                 record"
            ),
            RecordProblem::Size { size, left } => write!(
                f,
                "size {size} is out of bounds: a record needs {MIN_RECORD_LEN} bytes and only \
                 {left} are left in the records area"
            ),
            RecordProblem::SizeCopy { size, copy } => {
                write!(f, "size {size} but the copy at its end says {copy}")
            }
        }
    }
}

/// Walks the record headers of a chunk from offset 512 to its free-space offset.
///
/// It checks what can be checked without decoding Binary XML: magic, size within the records
/// area, and the size copy at the record's end. A broken record is reported and the walk
/// resynchronises on the next 8-byte aligned offset where a sane record starts, so later
/// records are still found. The reader uses this to cross-check what the `evtx` crate
/// decoded and to count records in damaged chunks. When the chunk magic is wrong or the
/// free-space offset is outside the buffer, the walk goes to the end of the buffer.
pub fn walk_records(chunk: &[u8], chunk_no: u64, file_offset: u64, file: &Arc<str>) -> RecordWalk {
    let chunk = chunk.get(..CHUNK_LEN).unwrap_or(chunk);
    let has_magic = chunk.get(..CHUNK_MAGIC.len()) == Some(CHUNK_MAGIC.as_slice());
    let limit = le_u32(chunk, 48)
        .filter(|_| has_magic)
        .and_then(|fso| usize::try_from(fso).ok())
        .filter(|fso| (CHUNK_HEADER_LEN..=chunk.len()).contains(fso))
        .unwrap_or(chunk.len());
    let area = chunk.get(..limit).unwrap_or(chunk);
    let mut walk = RecordWalk {
        end: limit,
        ..RecordWalk::default()
    };
    let mut broken = 0usize;
    let mut pos = CHUNK_HEADER_LEN;
    while pos < area.len() {
        match parse_record(area, pos) {
            Ok(span) => {
                walk.records.push(span);
                pos = pos.saturating_add(span.size as usize);
            }
            Err(problem) => {
                // A record whose size copy alone disagrees is still handed on (the evtx crate
                // reads such records too); it is reported, and the walk resynchronises.
                if let RecordProblem::SizeCopy { .. } = problem {
                    if let Some(span) = suspect_span(area, pos) {
                        walk.records.push(span);
                    }
                }
                let next = resync(area, pos);
                let resume = next.unwrap_or(area.len());
                let skipped = resume.saturating_sub(pos) as u64;
                walk.skipped_bytes = walk.skipped_bytes.saturating_add(skipped);
                broken = broken.saturating_add(1);
                if broken <= MAX_WALK_ISSUES {
                    let broken_span = BrokenSpan {
                        pos,
                        next,
                        end: area.len(),
                        problem,
                    };
                    walk.issues
                        .push(broken_span.issue(chunk_no, file_offset, file));
                }
                match next {
                    Some(next) => pos = next,
                    None => break,
                }
            }
        }
    }
    if broken > MAX_WALK_ISSUES {
        let more = broken.saturating_sub(MAX_WALK_ISSUES);
        let detail = format!(
            "{}: {more} more broken record spans not listed",
            chunk_label(chunk_no, file_offset)
        );
        let issue = Issue::new(IssueKind::RecordDecode, file, detail);
        walk.issues
            .push(issue.at_chunk(chunk_no).at_offset(file_offset));
    }
    walk
}

/// A span of the records area that holds no sane record.
struct BrokenSpan {
    pos: usize,
    next: Option<usize>,
    end: usize,
    problem: RecordProblem,
}

impl BrokenSpan {
    fn issue(&self, chunk_no: u64, file_offset: u64, file: &Arc<str>) -> Issue {
        let record_at = file_offset.saturating_add(self.pos as u64);
        let resume = self.next.unwrap_or(self.end);
        let skipped = resume.saturating_sub(self.pos);
        let then = match self.next {
            Some(next) => format!("skipped {skipped} bytes to the next record at {next:#x}"),
            None => format!(
                "no intact record follows before the end of the records area at {:#x} \
                 ({skipped} bytes skipped)",
                self.end
            ),
        };
        let detail = format!(
            "{}: record at chunk offset {:#x} (file offset {record_at:#x}): {}; {then}",
            chunk_label(chunk_no, file_offset),
            self.pos,
            self.problem
        );
        Issue::new(IssueKind::RecordDecode, file, detail)
            .at_chunk(chunk_no)
            .at_offset(record_at)
    }
}

/// The record header at `pos`, if sane within `area` (the chunk cut at its free space).
fn parse_record(area: &[u8], pos: usize) -> Result<RecordSpan, RecordProblem> {
    let left = area.len().saturating_sub(pos);
    let magic: [u8; 4] = array(area, pos).ok_or(RecordProblem::Cut { left })?;
    if magic != RECORD_MAGIC {
        return Err(RecordProblem::BadMagic(magic));
    }
    if left < MIN_RECORD_LEN {
        return Err(RecordProblem::Cut { left });
    }
    let size = le_u32(area, pos.saturating_add(4)).ok_or(RecordProblem::Cut { left })?;
    let size_len = usize::try_from(size).unwrap_or(usize::MAX);
    if !(MIN_RECORD_LEN..=left).contains(&size_len) {
        return Err(RecordProblem::Size { size, left });
    }
    let copy_at = pos.saturating_add(size_len).saturating_sub(4);
    let copy = le_u32(area, copy_at).ok_or(RecordProblem::Size { size, left })?;
    if copy != size {
        return Err(RecordProblem::SizeCopy { size, copy });
    }
    Ok(RecordSpan {
        record_id: le_u64(area, pos.saturating_add(8)).ok_or(RecordProblem::Cut { left })?,
        offset: u32::try_from(pos).unwrap_or(u32::MAX),
        size,
        written: le_u64(area, pos.saturating_add(16)).ok_or(RecordProblem::Cut { left })?,
    })
}

/// The span of a record whose header is sane but whose size copy is not.
fn suspect_span(area: &[u8], pos: usize) -> Option<RecordSpan> {
    Some(RecordSpan {
        record_id: le_u64(area, pos.checked_add(8)?)?,
        offset: u32::try_from(pos).ok()?,
        size: le_u32(area, pos.checked_add(4)?)?,
        written: le_u64(area, pos.checked_add(16)?)?,
    })
}

/// The next 8-byte aligned offset after `pos` where a sane record starts. Requiring a sane
/// record, not just its magic, makes one broken span one issue.
fn resync(area: &[u8], pos: usize) -> Option<usize> {
    let start = (pos / 8).checked_add(1)?.checked_mul(8)?;
    (start..area.len())
        .step_by(8)
        .find(|&at| parse_record(area, at).is_ok())
}

/// Decides which zeroed chunks are damage. Feed it every chunk's verdict in file order; it
/// reports a run of zeroed chunks once a chunk holding data follows it. See the module docs.
#[derive(Debug, Clone, Default)]
pub struct ZeroedChunks {
    /// First chunk number and length of the current run of zeroed chunks.
    run: Option<(u64, u64)>,
}

impl ZeroedChunks {
    /// Notes chunk `chunk_no`'s verdict. Returns a [`IssueKind::ZeroedChunk`] issue for the
    /// run of zeroed chunks just before it when this chunk is not zeroed.
    pub fn chunk(
        &mut self,
        chunk_no: u64,
        verdict: ChunkVerdict,
        file: &Arc<str>,
    ) -> Option<Issue> {
        if verdict == ChunkVerdict::Zeroed {
            match &mut self.run {
                Some((_, count)) => *count = count.saturating_add(1),
                None => self.run = Some((chunk_no, 1)),
            }
            return None;
        }
        let (first, count) = self.run.take()?;
        let last = first.saturating_add(count.saturating_sub(1));
        let offset = chunk_offset(first).unwrap_or(u64::MAX);
        let detail = if count == 1 {
            format!(
                "{} is all zero bytes although chunk {chunk_no} after it holds data: whatever \
                 records it held are lost",
                chunk_label(first, offset)
            )
        } else {
            format!(
                "chunks {first}..={last} ({count} chunks from offset {offset:#x}) are all zero \
                 bytes although chunk {chunk_no} after them holds data: whatever records they \
                 held are lost"
            )
        };
        let issue = Issue::new(IssueKind::ZeroedChunk, file, detail);
        Some(issue.at_chunk(first).at_offset(offset))
    }

    /// The number of zeroed chunks at the end of the file: unused preallocated space, not
    /// damage, so not reported.
    pub fn finish(self) -> u64 {
        self.run.map_or(0, |(_, count)| count)
    }
}

/// A run of consecutive record ids first seen in one chunk.
#[derive(Debug, Clone, Copy)]
struct IdSpan {
    end: u64,
    chunk: u64,
}

/// Duplicates found in the chunk being fed, reported as one issue when it ends.
#[derive(Debug, Clone)]
struct PendingDuplicates {
    chunk: u64,
    first_id: u64,
    first_offset: u64,
    earlier_chunk: u64,
    count: u64,
    min_id: u64,
    max_id: u64,
}

/// The chunk being fed repeats an earlier chunk's id range; its per-record duplicates are
/// already covered by the chunk-level issue.
#[derive(Debug, Clone, Copy)]
struct RepeatedChunk {
    chunk: u64,
    first_id: u64,
    last_id: u64,
}

/// Finds record ids that appear more than once in a file, as [`IssueKind::DuplicateRecordId`].
///
/// Issues are per chunk, not per record: a whole chunk that repeats an earlier one (same
/// first and last record id) is one issue from [`DuplicateIds::begin_chunk`] naming both
/// chunks, and other duplicates in one chunk are collected into one issue returned when the
/// chunk ends ([`DuplicateIds::end_chunk`], or the first [`DuplicateIds::see`] of another
/// chunk).
///
/// Memory: ids are stored as spans of consecutive ids per chunk, so a normal file (ids
/// consecutive within a chunk) costs one span per chunk. A hostile file with scattered ids
/// costs one span per id; after 2^21 spans (~80 MB) new ids are no longer remembered, though
/// repeats of remembered ones are still found, and [`DuplicateIds::saturated`] says so. A
/// file that needs more (tens of millions of records) is not a real log.
#[derive(Debug, Clone)]
pub struct DuplicateIds {
    file: Arc<str>,
    spans: BTreeMap<u64, IdSpan>,
    chunk_ranges: HashMap<(u64, u64), u64>,
    current_chunk: Option<u64>,
    pending: Option<PendingDuplicates>,
    repeated: Option<RepeatedChunk>,
    max_spans: usize,
    saturated: bool,
    duplicates: u64,
}

impl DuplicateIds {
    pub fn new(file: &Arc<str>) -> Self {
        Self::with_max_spans(file, MAX_ID_SPANS)
    }

    /// Like [`DuplicateIds::new`] with a different span cap (tests use a small one).
    pub fn with_max_spans(file: &Arc<str>, max_spans: usize) -> Self {
        DuplicateIds {
            file: Arc::clone(file),
            spans: BTreeMap::new(),
            chunk_ranges: HashMap::new(),
            current_chunk: None,
            pending: None,
            repeated: None,
            max_spans,
            saturated: false,
            duplicates: 0,
        }
    }

    /// Records seen again so far, including those in repeated chunks.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// True when the span cap was reached and some ids were not remembered.
    pub fn saturated(&self) -> bool {
        self.saturated
    }

    /// Starts chunk `chunk_no`: ends the previous chunk (its issue, if any, comes first) and,
    /// when the header is trustworthy and the chunk holds records, reports a chunk whose
    /// first and last record ids equal an earlier chunk's.
    pub fn begin_chunk(&mut self, chunk_no: u64, info: Option<&ChunkInfo>) -> Vec<Issue> {
        let mut issues = Vec::new();
        if self.current_chunk != Some(chunk_no) {
            issues.extend(self.end_chunk());
            self.current_chunk = Some(chunk_no);
        }
        let usable = info.filter(|i| {
            i.header_trusted()
                && i.first_record_id <= i.last_record_id
                && i.free_space_offset as usize > CHUNK_HEADER_LEN
        });
        let Some(info) = usable else { return issues };
        let key = (info.first_record_id, info.last_record_id);
        match self.chunk_ranges.get(&key) {
            Some(&earlier) if earlier != chunk_no => {
                self.repeated = Some(RepeatedChunk {
                    chunk: chunk_no,
                    first_id: key.0,
                    last_id: key.1,
                });
                issues.push(self.repeated_chunk_issue(chunk_no, earlier, key));
            }
            Some(_) => {}
            None if self.chunk_ranges.len() < MAX_CHUNK_RANGES => {
                self.chunk_ranges.insert(key, chunk_no);
            }
            None => self.saturated = true,
        }
        issues
    }

    fn repeated_chunk_issue(&self, chunk_no: u64, earlier: u64, key: (u64, u64)) -> Issue {
        let offset = chunk_offset(chunk_no).unwrap_or(u64::MAX);
        let detail = format!(
            "{} repeats chunk {earlier}: both hold record ids {}..={}; the copy adds no events",
            chunk_label(chunk_no, offset),
            key.0,
            key.1
        );
        Issue::new(IssueKind::DuplicateRecordId, &self.file, detail)
            .at_chunk(chunk_no)
            .at_offset(offset)
    }

    /// Notes record `record_id` of chunk `chunk_no`, found at file offset `offset`. Returns
    /// the previous chunk's duplicate issue when this is the first record of a new chunk.
    pub fn see(&mut self, record_id: u64, chunk_no: u64, offset: u64) -> Option<Issue> {
        let ended = if self.current_chunk != Some(chunk_no) {
            let ended = self.end_chunk();
            self.current_chunk = Some(chunk_no);
            ended
        } else {
            None
        };
        match self.earlier_chunk_of(record_id) {
            Some(earlier) => {
                self.duplicates = self.duplicates.saturating_add(1);
                if !self.in_repeated_chunk(record_id, chunk_no) {
                    self.note_duplicate(record_id, chunk_no, offset, earlier);
                }
            }
            None => self.remember(record_id, chunk_no),
        }
        ended
    }

    /// Ends the current chunk: returns its collected duplicate issue, if any. Call it after
    /// a chunk's last record and at the end of the file.
    pub fn end_chunk(&mut self) -> Option<Issue> {
        self.repeated = None;
        let pending = self.pending.take()?;
        let label = chunk_label_of(pending.chunk);
        let earlier = if pending.earlier_chunk == pending.chunk {
            "earlier in this chunk".to_string()
        } else {
            format!("in chunk {}", pending.earlier_chunk)
        };
        let detail = if pending.count == 1 {
            format!(
                "{label}: record id {} (at offset {:#x}) already appeared {earlier}",
                pending.first_id, pending.first_offset
            )
        } else {
            format!(
                "{label}: record id {} (at offset {:#x}) already appeared {earlier}; {} record \
                 ids in this chunk, between {} and {}, are duplicates",
                pending.first_id,
                pending.first_offset,
                pending.count,
                pending.min_id,
                pending.max_id
            )
        };
        let issue = Issue::new(IssueKind::DuplicateRecordId, &self.file, detail);
        Some(
            issue
                .at_chunk(pending.chunk)
                .at_offset(pending.first_offset),
        )
    }

    fn in_repeated_chunk(&self, record_id: u64, chunk_no: u64) -> bool {
        self.repeated
            .is_some_and(|r| r.chunk == chunk_no && (r.first_id..=r.last_id).contains(&record_id))
    }

    fn note_duplicate(&mut self, record_id: u64, chunk_no: u64, offset: u64, earlier: u64) {
        match &mut self.pending {
            Some(p) => {
                p.count = p.count.saturating_add(1);
                p.min_id = p.min_id.min(record_id);
                p.max_id = p.max_id.max(record_id);
            }
            None => {
                self.pending = Some(PendingDuplicates {
                    chunk: chunk_no,
                    first_id: record_id,
                    first_offset: offset,
                    earlier_chunk: earlier,
                    count: 1,
                    min_id: record_id,
                    max_id: record_id,
                });
            }
        }
    }

    /// The chunk where `record_id` was first seen, if it was.
    fn earlier_chunk_of(&self, record_id: u64) -> Option<u64> {
        let (_, span) = self.spans.range(..=record_id).next_back()?;
        (record_id <= span.end).then_some(span.chunk)
    }

    /// Adds an id not seen before, extending or merging the neighbouring spans of the same
    /// chunk when it is consecutive with them.
    fn remember(&mut self, record_id: u64, chunk: u64) {
        let below = self
            .spans
            .range(..record_id)
            .next_back()
            .filter(|(_, s)| s.chunk == chunk && s.end.checked_add(1) == Some(record_id))
            .map(|(&start, _)| start);
        let above = record_id.checked_add(1).and_then(|next| {
            let span = self.spans.get(&next).filter(|s| s.chunk == chunk)?;
            Some((next, span.end))
        });
        match (below, above) {
            (Some(start), Some((next, end))) => {
                self.spans.remove(&next);
                if let Some(span) = self.spans.get_mut(&start) {
                    span.end = end;
                }
            }
            (Some(start), None) => {
                if let Some(span) = self.spans.get_mut(&start) {
                    span.end = record_id;
                }
            }
            (None, Some((next, end))) => {
                self.spans.remove(&next);
                self.spans.insert(record_id, IdSpan { end, chunk });
            }
            (None, None) if self.spans.len() < self.max_spans => {
                let span = IdSpan {
                    end: record_id,
                    chunk,
                };
                self.spans.insert(record_id, span);
            }
            (None, None) => self.saturated = true,
        }
    }

    /// Feeds the ids `first..=last`, in order, of chunk `chunk_no` (already begun) at once, when
    /// that is the same as feeding them one by one with [`DuplicateIds::see`] and none of them
    /// was seen before: the common case, a chunk of consecutive new ids, costs one lookup
    /// instead of a few per record. Returns `false`, having changed nothing, otherwise.
    pub fn see_new_run(&mut self, first: u64, last: u64, chunk_no: u64) -> bool {
        if first > last || self.current_chunk != Some(chunk_no) {
            return false;
        }
        // The span starting nearest below `last` is the only one that could hold an id of the
        // run, or (ending at `first - 1`) be extended by it.
        if let Some((_, span)) = self.spans.range(..=last).next_back() {
            let holds = span.end >= first;
            let extended = span.chunk == chunk_no && span.end.checked_add(1) == Some(first);
            if holds || extended {
                return false;
            }
        }
        let above = last.checked_add(1).and_then(|n| self.spans.get(&n));
        if above.is_some_and(|s| s.chunk == chunk_no) {
            return false;
        }
        if self.spans.len() < self.max_spans {
            self.spans.insert(
                first,
                IdSpan {
                    end: last,
                    chunk: chunk_no,
                },
            );
        } else {
            self.saturated = true;
        }
        true
    }
}

/// Everything [`FileChecker::chunk`] found in one chunk.
#[derive(Debug, Clone)]
pub struct ChunkReport {
    pub verdict: ChunkVerdict,
    pub info: Option<ChunkInfo>,
    /// The record walk, for every chunk but a zeroed one. Its issues are not copied
    /// into `issues`: the reader decides whether they add to its own decode errors.
    pub walk: Option<RecordWalk>,
    /// Chunk-level issues: checksums, magic, a zeroed run ending here, duplicate ids.
    pub issues: Vec<Issue>,
}

/// What [`FileChecker::finish`] returns.
#[derive(Debug, Clone, Default)]
pub struct FileEnd {
    /// Issues only known at the end (duplicates in the last chunk).
    pub issues: Vec<Issue>,
    /// Zeroed chunks at the end of the file: unused space, not damage.
    pub trailing_zeroed_chunks: u64,
    /// Records whose id appeared earlier in the file.
    pub duplicate_records: u64,
    /// The duplicate tracker hit its memory cap.
    pub duplicate_tracking_saturated: bool,
}

/// Runs every check over a file fed chunk by chunk in file order: [`check_chunk`],
/// [`ZeroedChunks`], [`walk_records`] and [`DuplicateIds`].
#[derive(Debug, Clone)]
pub struct FileChecker {
    file: Arc<str>,
    flags: FileFlags,
    zeroed: ZeroedChunks,
    duplicates: DuplicateIds,
}

impl FileChecker {
    /// `header` is what [`check_file_header`] returned; without one, CRC32s are checked.
    pub fn new(file: &Arc<str>, header: Option<&FileHeaderInfo>) -> Self {
        FileChecker {
            file: Arc::clone(file),
            flags: header.map_or(FileFlags::default(), |h| h.flags),
            zeroed: ZeroedChunks::default(),
            duplicates: DuplicateIds::new(file),
        }
    }

    /// Checks chunk `chunk_no` (its 65536 bytes).
    pub fn chunk(&mut self, chunk_no: u64, bytes: &[u8]) -> ChunkReport {
        let offset = chunk_offset(chunk_no).unwrap_or(u64::MAX);
        let (verdict, info, mut issues) =
            check_chunk(bytes, chunk_no, offset, &self.file, self.flags);
        if let Some(zeroed) = self.zeroed.chunk(chunk_no, verdict, &self.file) {
            issues.insert(0, zeroed);
        }
        if !verdict.may_hold_records() {
            return ChunkReport {
                verdict,
                info,
                walk: None,
                issues,
            };
        }
        issues.extend(self.duplicates.begin_chunk(chunk_no, info.as_ref()));
        let walk = walk_records(bytes, chunk_no, offset, &self.file);
        for record in &walk.records {
            let at = offset.saturating_add(u64::from(record.offset));
            issues.extend(self.duplicates.see(record.record_id, chunk_no, at));
        }
        issues.extend(self.duplicates.end_chunk());
        ChunkReport {
            verdict,
            info,
            walk: Some(walk),
            issues,
        }
    }

    /// Ends the file.
    pub fn finish(mut self) -> FileEnd {
        let issues = self.duplicates.end_chunk().into_iter().collect();
        FileEnd {
            issues,
            trailing_zeroed_chunks: self.zeroed.finish(),
            duplicate_records: self.duplicates.duplicates(),
            duplicate_tracking_saturated: self.duplicates.saturated(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;
    use std::path::{Path, PathBuf};

    const RECORD_LEN: usize = 40;

    fn name() -> Arc<str> {
        Arc::from("test.evtx")
    }

    fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
        buf[at..at + bytes.len()].copy_from_slice(bytes);
    }

    fn file_header(chunk_count: u16, flags: u32) -> Vec<u8> {
        let mut h = vec![0u8; 4096];
        put(&mut h, 0, b"ElfFile\0");
        put(
            &mut h,
            16,
            &u64::from(chunk_count.saturating_sub(1)).to_le_bytes(),
        );
        put(&mut h, 24, &1000u64.to_le_bytes());
        put(&mut h, 32, &128u32.to_le_bytes());
        put(&mut h, 36, &2u16.to_le_bytes());
        put(&mut h, 38, &3u16.to_le_bytes());
        put(&mut h, 40, &4096u16.to_le_bytes());
        put(&mut h, 42, &chunk_count.to_le_bytes());
        put(&mut h, 120, &flags.to_le_bytes());
        fix_file_crc(&mut h);
        h
    }

    fn fix_file_crc(h: &mut [u8]) {
        let crc = crc32fast::hash(&h[..120]);
        put(h, 124, &crc.to_le_bytes());
    }

    /// A chunk holding `n` records of 40 bytes with ids `first_id..first_id + n`.
    fn chunk(first_id: u64, n: u64) -> Vec<u8> {
        let mut c = vec![0u8; CHUNK_LEN];
        put(&mut c, 0, b"ElfChnk\0");
        let last_id = first_id + n.max(1) - 1;
        for (at, value) in [(8, 1), (16, n.max(1)), (24, first_id), (32, last_id)] {
            put(&mut c, at, &value.to_le_bytes());
        }
        let fso = CHUNK_HEADER_LEN + RECORD_LEN * n as usize;
        let last = fso.saturating_sub(RECORD_LEN).max(CHUNK_HEADER_LEN);
        put(&mut c, 40, &128u32.to_le_bytes());
        put(&mut c, 44, &(last as u32).to_le_bytes());
        put(&mut c, 48, &(fso as u32).to_le_bytes());
        for i in 0..n {
            let at = CHUNK_HEADER_LEN + RECORD_LEN * i as usize;
            put(&mut c, at, b"**\0\0");
            put(&mut c, at + 4, &(RECORD_LEN as u32).to_le_bytes());
            put(&mut c, at + 8, &(first_id + i).to_le_bytes());
            put(&mut c, at + 16, &0x01d6_0000_0000_0000u64.to_le_bytes());
            put(&mut c, at + 24, &[0x0f, 0x01, 0x01, 0x00, 0xaa, 0xbb]);
            put(
                &mut c,
                at + RECORD_LEN - 4,
                &(RECORD_LEN as u32).to_le_bytes(),
            );
        }
        fix_chunk_crcs(&mut c);
        c
    }

    fn fix_chunk_crcs(c: &mut [u8]) {
        let fso = u32::from_le_bytes(c[48..52].try_into().unwrap()) as usize;
        if (CHUNK_HEADER_LEN..=CHUNK_LEN).contains(&fso) {
            let crc = crc32fast::hash(&c[CHUNK_HEADER_LEN..fso]);
            put(c, 52, &crc.to_le_bytes());
        }
        let crc = chunk_header_crc(c);
        put(c, 124, &crc.to_le_bytes());
    }

    fn evtx(chunk_count: u16, flags: u32, chunks: &[Vec<u8>]) -> Vec<u8> {
        let mut bytes = file_header(chunk_count, flags);
        for c in chunks {
            bytes.extend_from_slice(c);
        }
        bytes
    }

    fn kinds(issues: &[Issue]) -> Vec<IssueKind> {
        issues.iter().map(|i| i.kind).collect()
    }

    fn check(c: &[u8]) -> (ChunkVerdict, Option<ChunkInfo>, Vec<Issue>) {
        check_chunk(c, 3, 0x31000, &name(), FileFlags::default())
    }

    // ---- file header ----

    #[test]
    fn clean_file_header() {
        let bytes = evtx(2, FileFlags::DIRTY, &[chunk(1, 3), chunk(4, 3)]);
        let (info, issues) = check_file_header(&bytes, bytes.len() as u64, &name());
        let info = info.unwrap();
        assert!(issues.is_empty(), "{issues:?}");
        assert!(info.checksum_ok && info.flags.dirty() && !info.flags.full());
        assert_eq!(
            (info.chunk_count, info.whole_chunks, info.trailing_bytes),
            (2, 2, 0)
        );
        assert_eq!(
            (info.major_version, info.minor_version, info.header_size),
            (3, 2, 128)
        );
        assert_eq!(info.next_record_id, 1000);
    }

    #[test]
    fn wrong_magic_legacy_and_empty() {
        let mut junk = file_header(1, 0);
        put(&mut junk, 0, b"MZ\x90\0\x03\0\0\0");
        let (info, issues) = check_file_header(&junk, 69632, &name());
        assert!(info.is_none());
        assert_eq!(kinds(&issues), [IssueKind::BadFileHeader]);
        assert!(
            issues[0].detail.contains("4d 5a 90 00"),
            "{}",
            issues[0].detail
        );

        let legacy = b"\x30\0\0\0LfLe\x01\0\0\0\x01\0\0\0";
        let (_, issues) = check_file_header(legacy, 65536, &name());
        assert_eq!(kinds(&issues), [IssueKind::Unsupported]);

        let (info, issues) = check_file_header(&[], 0, &name());
        assert!(info.is_none());
        assert_eq!(kinds(&issues), [IssueKind::Unsupported]);

        let (_, issues) = check_file_header(b"ElfF", 4, &name());
        assert_eq!(kinds(&issues), [IssueKind::Truncated]);
    }

    #[test]
    fn header_cut_inside_its_fields() {
        let header = file_header(1, 0);
        let (info, issues) = check_file_header(&header[..100], 100, &name());
        assert!(info.is_none());
        assert_eq!(kinds(&issues), [IssueKind::Truncated]);
        // Fields complete but no room for the header block: no chunks at all.
        let (info, issues) = check_file_header(&header[..1000], 1000, &name());
        assert_eq!(info.unwrap().whole_chunks, 0);
        assert_eq!(kinds(&issues), [IssueKind::Truncated]);
        assert!(issues[0].detail.contains("shorter than the 4096-byte"));
    }

    #[test]
    fn header_checksum_mismatch_and_no_crc32() {
        let mut h = file_header(1, 0);
        put(&mut h, 24, &1001u64.to_le_bytes());
        let (info, issues) = check_file_header(&h, 4096 + 65536, &name());
        assert!(!info.unwrap().checksum_ok);
        assert_eq!(kinds(&issues), [IssueKind::BadFileHeader]);
        assert!(issues[0].detail.starts_with("file header: checksum 0x"));
        assert_eq!(issues[0].offset, Some(0));

        let mut h = file_header(1, FileFlags::NO_CRC32);
        put(&mut h, 124, &0u32.to_le_bytes());
        let (info, issues) = check_file_header(&h, 4096 + 65536, &name());
        let info = info.unwrap();
        assert!(info.flags.no_crc32() && info.checksum_ok);
        assert!(issues.is_empty(), "{issues:?}");
    }

    #[test]
    fn implausible_header_values_are_one_issue() {
        let mut h = file_header(2, 0);
        put(&mut h, 32, &0u32.to_le_bytes());
        put(&mut h, 38, &4u16.to_le_bytes());
        put(&mut h, 40, &u16::MAX.to_le_bytes());
        put(&mut h, 8, &u64::MAX.to_le_bytes());
        fix_file_crc(&mut h);
        let (info, issues) = check_file_header(&h, 4096 + 2 * 65536, &name());
        assert!(info.is_some());
        assert_eq!(kinds(&issues), [IssueKind::BadFileHeader]);
        let detail = &issues[0].detail;
        for part in [
            "header size 0",
            "version 4.2",
            "block size 65535",
            "first/last chunk",
        ] {
            assert!(detail.contains(part), "{part} missing from {detail}");
        }
    }

    #[test]
    fn partial_tail_and_missing_chunks_are_truncation() {
        let h = file_header(4, 0);
        let len = 4096 + 2 * 65536 + 1000;
        let (info, issues) = check_file_header(&h, len, &name());
        let info = info.unwrap();
        assert_eq!((info.whole_chunks, info.trailing_bytes), (2, 1000));
        assert_eq!(kinds(&issues), [IssueKind::Truncated, IssueKind::Truncated]);
        assert_eq!(issues[0].chunk, Some(2));
        assert_eq!(issues[0].offset, Some(4096 + 2 * 65536));
        assert!(issues[0].detail.contains("the last 1000 bytes"));
        assert!(issues[1]
            .detail
            .contains("counts 4 chunks but the file holds only 2"));
    }

    #[test]
    fn more_chunks_than_counted_is_not_damage() {
        let h = file_header(1, FileFlags::DIRTY);
        let (info, issues) = check_file_header(&h, 4096 + 9 * 65536, &name());
        assert!(issues.is_empty());
        assert_eq!(info.unwrap().chunks_beyond_header, 8);
    }

    #[test]
    fn hostile_header_values_do_not_panic() {
        let mut h = file_header(u16::MAX, u32::MAX);
        for at in [8, 16, 24] {
            put(&mut h, at, &u64::MAX.to_le_bytes());
        }
        for len in [0, 1, 127, 128, 4095, 4096, u64::MAX] {
            let _ = check_file_header(&h, len, &name());
        }
        let (info, _) = check_file_header(&h, u64::MAX, &name());
        assert_eq!(info.unwrap().whole_chunks, (u64::MAX - 4096) / 65536);
    }

    // ---- chunks ----

    #[test]
    fn clean_chunk() {
        let (verdict, info, issues) = check(&chunk(100, 5));
        assert_eq!(verdict, ChunkVerdict::Ok);
        assert!(issues.is_empty(), "{issues:?}");
        let info = info.unwrap();
        assert_eq!((info.first_record_id, info.last_record_id), (100, 104));
        assert_eq!(info.free_space_offset as usize, 512 + 5 * RECORD_LEN);
        assert_eq!(info.header_checksum_ok, Some(true));
        assert_eq!(info.data_checksum_ok, Some(true));
    }

    #[test]
    fn zeroed_chunk_has_no_issue() {
        let (verdict, info, issues) = check(&vec![0u8; CHUNK_LEN]);
        assert_eq!(verdict, ChunkVerdict::Zeroed);
        assert!(info.is_none() && issues.is_empty());
    }

    #[test]
    fn bad_magic_says_whether_records_are_inside() {
        let mut c = chunk(1, 5);
        put(&mut c, 0, &[0; 8]);
        let (verdict, info, issues) = check(&c);
        assert_eq!(verdict, ChunkVerdict::BadMagic);
        assert!(info.is_none());
        assert_eq!(kinds(&issues), [IssueKind::BadChunkMagic]);
        let issue = &issues[0];
        assert_eq!((issue.chunk, issue.offset), (Some(3), Some(0x31000)));
        assert!(issue
            .detail
            .starts_with("chunk 3 at offset 0x31000: magic is 00 00"));
        assert!(
            issue.detail.contains("5 record signatures inside"),
            "{}",
            issue.detail
        );

        let garbage: Vec<u8> = (0..CHUNK_LEN).map(|i| (i % 251) as u8 | 1).collect();
        let (verdict, _, issues) = check(&garbage);
        assert_eq!(verdict, ChunkVerdict::BadMagic);
        assert!(issues[0].detail.contains("no record signature"));
    }

    #[test]
    fn header_checksum_mismatch() {
        let mut c = chunk(1, 5);
        let stored = u32::from_le_bytes(c[124..128].try_into().unwrap());
        c[300] ^= 0x40; // the common string offsets are covered by the CRC32
        let (verdict, info, issues) = check(&c);
        assert_eq!(verdict, ChunkVerdict::HeaderChecksum);
        assert_eq!(info.unwrap().header_checksum_ok, Some(false));
        assert_eq!(kinds(&issues), [IssueKind::ChunkHeaderChecksum]);
        let expected =
            format!("chunk 3 at offset 0x31000: header checksum {stored:#010x}, computed 0x");
        assert!(
            issues[0].detail.starts_with(&expected),
            "{}",
            issues[0].detail
        );
    }

    #[test]
    fn bytes_120_to_128_are_outside_the_header_checksum() {
        let mut c = chunk(1, 5);
        c[121] ^= 0x10;
        let (verdict, _, _) = check(&c);
        assert_eq!(verdict, ChunkVerdict::Ok);
    }

    #[test]
    fn data_checksum_mismatch() {
        let mut c = chunk(1, 5);
        c[512 + RECORD_LEN + 26] ^= 1;
        let (verdict, info, issues) = check(&c);
        assert_eq!(verdict, ChunkVerdict::DataChecksum);
        assert_eq!(info.unwrap().data_checksum_ok, Some(false));
        assert_eq!(kinds(&issues), [IssueKind::ChunkDataChecksum]);
        assert!(issues[0].detail.contains("records checksum 0x"));
        assert!(issues[0]
            .detail
            .contains(&format!("over 0x200..{:#x}", 512 + 5 * RECORD_LEN)));
        // Bytes after the free-space offset are not covered.
        let mut c = chunk(1, 5);
        c[CHUNK_LEN - 1] = 7;
        assert_eq!(check(&c).0, ChunkVerdict::Ok);
    }

    #[test]
    fn both_checksums_bad_reports_both() {
        let mut c = chunk(1, 5);
        c[300] ^= 1;
        c[600] ^= 1;
        let (verdict, _, issues) = check(&c);
        assert_eq!(verdict, ChunkVerdict::HeaderChecksum);
        assert_eq!(
            kinds(&issues),
            [IssueKind::ChunkHeaderChecksum, IssueKind::ChunkDataChecksum]
        );
    }

    #[test]
    fn no_crc32_skips_checksums() {
        let mut c = chunk(1, 5);
        put(&mut c, 52, &0u32.to_le_bytes());
        put(&mut c, 124, &0u32.to_le_bytes());
        let flags = FileFlags(FileFlags::NO_CRC32);
        let (verdict, info, issues) = check_chunk(&c, 0, 4096, &name(), flags);
        assert_eq!(verdict, ChunkVerdict::Ok);
        assert!(issues.is_empty());
        let info = info.unwrap();
        assert_eq!(
            (info.header_checksum_ok, info.data_checksum_ok),
            (None, None)
        );
        // The chunk's own flag says the same.
        put(&mut c, 120, &CHUNK_NO_CRC32.to_le_bytes());
        assert_eq!(check(&c).0, ChunkVerdict::Ok);
        // Without either, both mismatch.
        put(&mut c, 120, &0u32.to_le_bytes());
        assert_eq!(check(&c).0, ChunkVerdict::HeaderChecksum);
    }

    #[test]
    fn free_space_offset_out_of_bounds() {
        for fso in [0u32, 511, 65537, u32::MAX] {
            let mut c = chunk(1, 5);
            put(&mut c, 48, &fso.to_le_bytes());
            fix_chunk_crcs(&mut c);
            let (verdict, info, issues) = check(&c);
            assert_eq!(verdict, ChunkVerdict::BadHeader, "fso {fso}");
            assert_eq!(info.unwrap().data_checksum_ok, None);
            assert_eq!(kinds(&issues), [IssueKind::UnreadableChunk]);
            assert!(issues[0]
                .detail
                .contains(&format!("free-space offset {fso:#x}")));
            // The walk still finds the records, going to the end of the buffer.
            let walk = walk_records(&c, 3, 0x31000, &name());
            assert_eq!(walk.records.len(), 5);
            assert_eq!(walk.end, CHUNK_LEN);
        }
    }

    #[test]
    fn impossible_header_values() {
        let mut c = chunk(1, 5);
        put(&mut c, 24, &50u64.to_le_bytes());
        put(&mut c, 44, &u32::MAX.to_le_bytes());
        fix_chunk_crcs(&mut c);
        let (verdict, _, issues) = check(&c);
        assert_eq!(verdict, ChunkVerdict::BadHeader);
        assert_eq!(kinds(&issues), [IssueKind::UnreadableChunk]);
        assert!(issues[0]
            .detail
            .contains("first record id 50 is after last record id 5"));
        assert!(issues[0].detail.contains("last record offset 0xffffffff"));
    }

    #[test]
    fn short_and_long_buffers() {
        let c = chunk(1, 5);
        let (verdict, info, issues) = check(&c[..1000]);
        assert_eq!(verdict, ChunkVerdict::Short);
        assert!(info.is_none());
        assert_eq!(kinds(&issues), [IssueKind::Truncated]);
        assert!(issues[0].detail.contains("only 1000 of 65536 bytes"));
        assert_eq!(check(&[0u8; 4096]).0, ChunkVerdict::Zeroed);
        assert_eq!(check(&[]).0, ChunkVerdict::Zeroed);
        let mut long = c.clone();
        long.extend_from_slice(&[0xff; 100]);
        assert_eq!(check(&long).0, ChunkVerdict::Ok);
        assert_eq!(walk_records(&long, 0, 4096, &name()).records.len(), 5);
        assert!(walk_records(&c[..100], 0, 4096, &name()).records.is_empty());
    }

    // ---- record walk ----

    #[test]
    fn walk_clean_chunk() {
        let walk = walk_records(&chunk(7, 4), 0, 4096, &name());
        assert!(walk.issues.is_empty());
        let ids: Vec<u64> = walk.records.iter().map(|r| r.record_id).collect();
        assert_eq!(ids, [7, 8, 9, 10]);
        assert_eq!(walk.records[1].offset as usize, 512 + RECORD_LEN);
        assert_eq!(walk.records[1].size as usize, RECORD_LEN);
        assert_eq!(walk.records[1].written, 0x01d6_0000_0000_0000);
        assert_eq!(walk.end, 512 + 4 * RECORD_LEN);
        assert_eq!(walk.skipped_bytes, 0);
    }

    /// Damage done to a chunk at a record's offset.
    type Damage = fn(&mut [u8], usize);

    /// Breaks record 2 of a 6-record chunk with `damage` and walks it.
    fn walk_broken(damage: impl Fn(&mut [u8], usize)) -> RecordWalk {
        let mut c = chunk(1, 6);
        damage(&mut c, 512 + 2 * RECORD_LEN);
        walk_records(&c, 3, 0x31000, &name())
    }

    #[test]
    fn walk_resyncs_after_broken_records() {
        let cases: [(&str, Damage); 4] = [
            ("magic 00 2a 00 00", |c, at| c[at] = 0),
            ("size 0 is out of bounds: a record needs 28", |c, at| {
                put(c, at + 4, &0u32.to_le_bytes())
            }),
            ("size 4294967295 is out of bounds", |c, at| {
                put(c, at + 4, &u32::MAX.to_le_bytes())
            }),
            ("size 40 but the copy at its end says 41", |c, at| {
                put(c, at + RECORD_LEN - 4, &41u32.to_le_bytes())
            }),
        ];
        for (expected, damage) in cases {
            let walk = walk_broken(damage);
            let ids: Vec<u64> = walk.records.iter().map(|r| r.record_id).collect();
            // A record whose size copy alone is wrong is still handed on, as evtx reads it.
            if expected.contains("copy") {
                assert_eq!(ids, [1, 2, 3, 4, 5, 6], "{expected}");
            } else {
                assert_eq!(ids, [1, 2, 4, 5, 6], "{expected}");
            }
            assert_eq!(kinds(&walk.issues), [IssueKind::RecordDecode]);
            let issue = &walk.issues[0];
            assert_eq!(issue.offset, Some(0x31000 + 512 + 2 * RECORD_LEN as u64));
            assert!(issue.detail.contains(expected), "{}", issue.detail);
            assert!(issue
                .detail
                .contains("skipped 40 bytes to the next record at 0x278"));
            assert_eq!(walk.skipped_bytes, 40);
        }
    }

    #[test]
    fn walk_skips_a_zeroed_span_as_one_issue() {
        let mut c = chunk(1, 8);
        c[512 + RECORD_LEN..512 + 5 * RECORD_LEN].fill(0);
        let walk = walk_records(&c, 0, 4096, &name());
        let ids: Vec<u64> = walk.records.iter().map(|r| r.record_id).collect();
        assert_eq!(ids, [1, 6, 7, 8]);
        assert_eq!(walk.issues.len(), 1);
        assert_eq!(walk.skipped_bytes, 4 * RECORD_LEN as u64);
    }

    #[test]
    fn walk_reports_a_cut_tail_and_a_lost_end() {
        let mut c = chunk(1, 3);
        put(
            &mut c,
            48,
            &((512 + 3 * RECORD_LEN + 16) as u32).to_le_bytes(),
        );
        put(&mut c, 512 + 3 * RECORD_LEN, b"**\0\0");
        let walk = walk_records(&c, 0, 4096, &name());
        assert_eq!(walk.records.len(), 3);
        assert_eq!(walk.issues.len(), 1);
        assert!(walk.issues[0].detail.contains("only 16 bytes remain"));
        assert!(walk.issues[0].detail.contains("no intact record follows"));
    }

    #[test]
    fn hostile_walk_is_capped() {
        let mut c = vec![0u8; CHUNK_LEN];
        put(&mut c, 0, b"ElfChnk\0");
        put(&mut c, 48, &(CHUNK_LEN as u32).to_le_bytes());
        for (i, at) in (512..CHUNK_LEN).step_by(48).enumerate() {
            // A sane record every other slot, a broken one in between.
            let size: u32 = if i % 2 == 0 { 48 } else { 0xffff_fff0 };
            put(&mut c, at, b"**\0\0");
            put(&mut c, at + 4, &size.to_le_bytes());
            if at + 48 <= CHUNK_LEN {
                put(&mut c, at + 44, &size.to_le_bytes());
            }
        }
        let walk = walk_records(&c, 0, 4096, &name());
        assert_eq!(walk.issues.len(), MAX_WALK_ISSUES + 1);
        assert!(walk.issues[MAX_WALK_ISSUES]
            .detail
            .contains("more broken record spans"));
        assert!(walk.records.len() > 600);
        let all_magic: Vec<u8> = b"**\0\0".iter().copied().cycle().take(CHUNK_LEN).collect();
        let walk = walk_records(&all_magic, 0, 4096, &name());
        // At most the first span is handed on as a suspect record; nothing sane follows.
        assert!(walk.records.len() <= 1 && walk.issues.len() == 1);
    }

    // ---- zeroed runs ----

    #[test]
    fn zeroed_run_in_the_middle_is_damage_trailing_is_not() {
        use ChunkVerdict::*;
        let file = name();
        let mut zeroed = ZeroedChunks::default();
        let verdicts = [
            Ok,
            Zeroed,
            Zeroed,
            Zeroed,
            DataChecksum,
            Zeroed,
            Ok,
            Zeroed,
            Zeroed,
        ];
        let issues: Vec<Issue> = verdicts
            .iter()
            .enumerate()
            .filter_map(|(n, &v)| zeroed.chunk(n as u64, v, &file))
            .collect();
        assert_eq!(
            kinds(&issues),
            [IssueKind::ZeroedChunk, IssueKind::ZeroedChunk]
        );
        assert_eq!(
            (issues[0].chunk, issues[0].offset),
            (Some(1), Some(0x11000))
        );
        assert!(issues[0]
            .detail
            .starts_with("chunks 1..=3 (3 chunks from offset 0x11000)"));
        assert!(issues[0].detail.contains("chunk 4 after them holds data"));
        assert!(issues[1]
            .detail
            .starts_with("chunk 5 at offset 0x51000 is all zero bytes"));
        assert_eq!(zeroed.finish(), 2);
    }

    // ---- duplicate ids ----

    #[test]
    fn duplicate_ids_are_one_issue_per_chunk() {
        let mut dups = DuplicateIds::new(&name());
        for id in 1..=10 {
            assert!(dups.see(id, 0, 4096 + id * 40).is_none());
        }
        assert!(dups.see(11, 1, 0x11200).is_none());
        for id in [3, 4, 5] {
            assert!(dups.see(id, 1, 0x11200 + id * 40).is_none());
        }
        let issue = dups.see(20, 2, 0x21200).expect("chunk 1 ends");
        assert_eq!(issue.kind, IssueKind::DuplicateRecordId);
        assert_eq!((issue.chunk, issue.offset), (Some(1), Some(0x11200 + 120)));
        assert!(issue.detail.starts_with("chunk 1 at offset 0x11000: record id 3 (at offset 0x11278) already appeared in chunk 0; 3 record ids"), "{}", issue.detail);
        assert!(dups.see(20, 2, 0x21300).is_none());
        let issue = dups.end_chunk().expect("chunk 2 repeats its own id");
        assert!(issue
            .detail
            .contains("already appeared earlier in this chunk"));
        assert_eq!(dups.duplicates(), 4);
        assert!(dups.end_chunk().is_none());
    }

    #[test]
    fn repeated_chunk_is_one_issue_naming_both() {
        let file = name();
        let mut checker = FileChecker::new(&file, None);
        let (a, b) = (chunk(100, 20), chunk(120, 20));
        assert!(checker.chunk(0, &a).issues.is_empty());
        assert!(checker.chunk(1, &b).issues.is_empty());
        let report = checker.chunk(2, &a);
        assert_eq!(kinds(&report.issues), [IssueKind::DuplicateRecordId]);
        let detail = &report.issues[0].detail;
        assert_eq!(report.issues[0].chunk, Some(2));
        assert!(
            detail.starts_with(
                "chunk 2 at offset 0x21000 repeats chunk 0: both hold record ids 100..=119"
            ),
            "{detail}"
        );
        let end = checker.finish();
        assert!(end.issues.is_empty());
        assert_eq!(end.duplicate_records, 20);
    }

    #[test]
    fn id_spans_merge_and_saturate() {
        let mut dups = DuplicateIds::with_max_spans(&name(), 3);
        for id in [5, 3, 4, 7, 6, 0, u64::MAX, u64::MAX - 1] {
            assert!(dups.see(id, 0, 0).is_none());
        }
        assert_eq!(dups.spans.len(), 3, "{:?}", dups.spans);
        assert!(!dups.saturated());
        assert!(dups.see(100, 0, 0).is_none());
        assert!(dups.saturated());
        // Remembered ids are still found; a different chunk does not extend a span.
        dups.see(u64::MAX, 1, 0);
        dups.see(8, 1, 0);
        assert_eq!(dups.duplicates(), 1);
        assert!(dups.end_chunk().is_some());
    }

    #[test]
    fn file_checker_end_to_end() {
        let file = name();
        let zero = vec![0u8; CHUNK_LEN];
        let chunks = [chunk(1, 10), zero.clone(), chunk(21, 10), zero];
        let bytes = evtx(4, 0, &chunks);
        let (header, issues) = check_file_header(&bytes, bytes.len() as u64, &file);
        assert!(issues.is_empty());
        let mut checker = FileChecker::new(&file, header.as_ref());
        let mut all = Vec::new();
        for (n, c) in bytes[4096..].chunks_exact(CHUNK_LEN).enumerate() {
            all.extend(checker.chunk(n as u64, c).issues);
        }
        assert_eq!(kinds(&all), [IssueKind::ZeroedChunk]);
        assert_eq!(all[0].chunk, Some(1));
        assert_eq!(checker.finish().trailing_zeroed_chunks, 1);
    }

    // ---- properties ----

    /// A chunk-sized buffer from a short random pattern, with the magic and a chosen
    /// free-space offset, and record magics sprinkled in.
    fn hostile_chunk(pattern: &[u8], fso: u32, len: usize, magic_every: usize) -> Vec<u8> {
        let mut c: Vec<u8> = pattern.iter().copied().cycle().take(len).collect();
        if c.len() < len {
            c.resize(len, 0);
        }
        if len >= 52 {
            put(&mut c, 0, b"ElfChnk\0");
            put(&mut c, 48, &fso.to_le_bytes());
        }
        for at in (512..len.saturating_sub(4)).step_by(magic_every.max(8) / 8 * 8) {
            put(&mut c, at, b"**\0\0");
        }
        c
    }

    proptest! {
        #[test]
        fn file_header_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300), len in any::<u64>(), magic in any::<bool>()) {
            let mut bytes = bytes;
            if magic && bytes.len() >= 8 {
                put(&mut bytes, 0, b"ElfFile\0");
            }
            let (info, _) = check_file_header(&bytes, len, &name());
            if let Some(info) = info {
                prop_assert!(info.trailing_bytes < CHUNK_SIZE);
            }
        }

        #[test]
        fn chunk_checks_never_panic(
            pattern in prop::collection::vec(any::<u8>(), 1..600),
            fso in prop_oneof![any::<u32>(), 0u32..70000],
            len in prop_oneof![Just(CHUNK_LEN), 0usize..70000],
            magic_every in 8usize..4096,
        ) {
            let c = hostile_chunk(&pattern, fso, len, magic_every);
            let file = name();
            let _ = check_chunk(&c, u64::MAX, u64::MAX, &file, FileFlags(u32::MAX));
            let _ = check_chunk(&c, 0, 4096, &file, FileFlags::default());
            let walk = walk_records(&c, 0, 4096, &file);
            prop_assert!(walk.issues.len() <= MAX_WALK_ISSUES + 1);
            for r in &walk.records {
                prop_assert!(r.offset as usize + r.size as usize <= walk.end);
            }
            let mut checker = FileChecker::new(&file, None);
            let _ = checker.chunk(0, &c);
            let _ = checker.chunk(u64::MAX, &c);
            let _ = checker.finish();
        }

        #[test]
        fn a_new_run_at_once_is_the_same_as_id_by_id(
            chunks in prop::collection::vec((0u64..120, 0u64..12, any::<bool>()), 0..40),
            cap in 1usize..12,
        ) {
            let mut fast = DuplicateIds::with_max_spans(&name(), cap);
            let mut slow = DuplicateIds::with_max_spans(&name(), cap);
            let (mut fast_issues, mut slow_issues) = (Vec::new(), Vec::new());
            for (chunk_no, &(start, len, gap)) in chunks.iter().enumerate() {
                let chunk_no = chunk_no as u64 % 5; // chunk numbers repeat too
                let ids: Vec<u64> = (0..len).map(|i| start + i + u64::from(gap && i > 2)).collect();
                fast_issues.extend(fast.begin_chunk(chunk_no, None));
                slow_issues.extend(slow.begin_chunk(chunk_no, None));
                let consecutive = ids.windows(2).all(|w| w[0] + 1 == w[1]);
                let run = match (ids.first(), ids.last()) {
                    (Some(&f), Some(&l)) if consecutive => fast.see_new_run(f, l, chunk_no),
                    _ => false,
                };
                if !run {
                    for &id in &ids {
                        fast_issues.extend(fast.see(id, chunk_no, id * 8));
                    }
                }
                for &id in &ids {
                    slow_issues.extend(slow.see(id, chunk_no, id * 8));
                }
                fast_issues.extend(fast.end_chunk());
                slow_issues.extend(slow.end_chunk());
            }
            let spans = |d: &DuplicateIds| -> Vec<(u64, u64, u64)> {
                d.spans.iter().map(|(&s, span)| (s, span.end, span.chunk)).collect()
            };
            prop_assert_eq!(spans(&fast), spans(&slow));
            prop_assert_eq!(fast.duplicates(), slow.duplicates());
            prop_assert_eq!(fast.saturated(), slow.saturated());
            prop_assert_eq!(format!("{fast_issues:?}"), format!("{slow_issues:?}"));
        }

        #[test]
        fn duplicate_count_matches_a_set(seen in prop::collection::vec((0u64..200, 0u64..4), 0..400)) {
            let mut dups = DuplicateIds::new(&name());
            let mut set = HashSet::new();
            let mut expected = 0u64;
            for (id, chunk) in seen {
                if !set.insert(id) {
                    expected += 1;
                }
                let _ = dups.see(id, chunk, 0);
            }
            prop_assert_eq!(dups.duplicates(), expected);
            let mut end = 0u64;
            for (&start, span) in &dups.spans {
                prop_assert!(start >= end && span.end >= start);
                end = span.end + 1;
            }
        }
    }

    // ---- corpus ----

    /// The shared corpus, next to the checkout (or next to the worktree folder).
    fn corpus_dir() -> Option<PathBuf> {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        ["../shared/corpus", "../../shared/corpus"]
            .iter()
            .map(|rel| manifest.join(rel))
            .find(|dir| dir.is_dir())
    }

    fn corpus_file(rel: &str) -> Option<Vec<u8>> {
        let Some(dir) = corpus_dir() else {
            println!(
                "skipping: corpus not found next to {}",
                env!("CARGO_MANIFEST_DIR")
            );
            return None;
        };
        Some(std::fs::read(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}")))
    }

    /// Everything the checks say about one file, read as the EVTX reader would.
    struct Scan {
        header: Option<FileHeaderInfo>,
        header_issues: Vec<Issue>,
        verdicts: Vec<ChunkVerdict>,
        reports: Vec<ChunkReport>,
        issues: Vec<Issue>,
        end: FileEnd,
    }

    impl Scan {
        fn chunks(&self, verdict: ChunkVerdict) -> Vec<u64> {
            let found = self.verdicts.iter().enumerate();
            found
                .filter(|(_, &v)| v == verdict)
                .map(|(n, _)| n as u64)
                .collect()
        }

        fn all_issues(&self) -> Vec<&Issue> {
            self.header_issues.iter().chain(&self.issues).collect()
        }

        fn issue_kinds(&self) -> Vec<IssueKind> {
            self.all_issues().iter().map(|i| i.kind).collect()
        }

        fn walk_issues(&self) -> usize {
            self.reports
                .iter()
                .filter_map(|r| r.walk.as_ref())
                .map(|w| w.issues.len())
                .sum()
        }

        fn records(&self) -> usize {
            self.reports
                .iter()
                .filter_map(|r| r.walk.as_ref())
                .map(|w| w.records.len())
                .sum()
        }
    }

    fn scan(bytes: &[u8], name: &str) -> Scan {
        let file: Arc<str> = Arc::from(name);
        let (header, header_issues) = check_file_header(bytes, bytes.len() as u64, &file);
        let mut checker = FileChecker::new(&file, header.as_ref());
        let body = bytes.get(4096..).unwrap_or_default();
        let mut scan = Scan {
            header,
            header_issues,
            verdicts: Vec::new(),
            reports: Vec::new(),
            issues: Vec::new(),
            end: FileEnd::default(),
        };
        for (n, c) in body.chunks_exact(CHUNK_LEN).enumerate() {
            let report = checker.chunk(n as u64, c);
            scan.verdicts.push(report.verdict);
            scan.issues.extend(report.issues.iter().cloned());
            scan.reports.push(report);
        }
        scan.end = checker.finish();
        scan.issues.extend(scan.end.issues.iter().cloned());
        scan
    }

    fn scan_corpus(rel: &str) -> Option<Scan> {
        corpus_file(rel).map(|bytes| scan(&bytes, rel))
    }

    const SAMPLES: &str = "omerbenamram+evtx/samples/";

    #[test]
    fn corpus_bad_chunk_magic() {
        let Some(s) = scan_corpus(&format!("{SAMPLES}sample_with_a_bad_chunk_magic.evtx")) else {
            return;
        };
        use ChunkVerdict::*;
        assert_eq!(s.chunks(BadMagic), [6, 10]);
        assert_eq!(s.chunks(DataChecksum), [0, 7, 9]);
        assert_eq!(s.chunks(Ok), [8]);
        assert_eq!(s.chunks(Zeroed), [1, 2, 3, 4, 5, 11, 12, 13, 14, 15]);
        for issue in s
            .issues
            .iter()
            .filter(|i| i.kind == IssueKind::BadChunkMagic)
        {
            assert!(
                issue.detail.contains("record signatures inside"),
                "{}",
                issue.detail
            );
        }
        // Chunks 1..=5 are zeroed before data; 11..=15 are unused space at the end.
        let zeroed: Vec<_> = s
            .issues
            .iter()
            .filter(|i| i.kind == IssueKind::ZeroedChunk)
            .collect();
        assert_eq!(zeroed.len(), 1);
        assert_eq!(zeroed[0].chunk, Some(1));
        assert!(zeroed[0].detail.starts_with("chunks 1..=5"));
        assert_eq!(s.end.trailing_zeroed_chunks, 5);
        assert!(s.header_issues.is_empty());
        assert!(s.walk_issues() >= 3);
    }

    #[test]
    fn corpus_sysmon_has_eight_chunks_of_leftover_data() {
        let Some(s) = scan_corpus(&format!("{SAMPLES}sysmon.evtx")) else {
            return;
        };
        assert_eq!(
            s.chunks(ChunkVerdict::BadMagic),
            (9..=16).collect::<Vec<_>>()
        );
        assert_eq!(s.chunks(ChunkVerdict::Ok), (0..=8).collect::<Vec<_>>());
        for issue in s.issues.iter() {
            assert_eq!(issue.kind, IssueKind::BadChunkMagic);
            assert!(
                issue.detail.contains("no record signature inside"),
                "{}",
                issue.detail
            );
        }
        let header = s.header.as_ref().unwrap();
        assert!(header.flags.dirty());
        assert_eq!((header.chunk_count, header.chunks_beyond_header), (1, 16));
        assert!(s.header_issues.is_empty());
        assert_eq!(s.records(), 358);
    }

    /// Files with bad record CRC32s and nothing else: (file, chunks with a bad CRC32).
    #[test]
    fn corpus_bad_data_checksums() {
        let cases: [(&str, &[u64]); 3] = [
            (
                "2-vss_0-Microsoft-Windows-RemoteDesktopServices-RdpCoreTS%4Operational.evtx",
                &[0, 13],
            ),
            (
                "Microsoft-Windows-LanguagePackSetup%4Operational.evtx",
                &[0],
            ),
            ("sample-with-zero-data-size-event.evtx", &[0]),
        ];
        for (file, bad) in cases {
            let Some(s) = scan_corpus(&format!("{SAMPLES}{file}")) else {
                return;
            };
            assert_eq!(s.chunks(ChunkVerdict::DataChecksum), bad, "{file}");
            let expected = vec![IssueKind::ChunkDataChecksum; bad.len()];
            assert_eq!(s.issue_kinds(), expected, "{file}");
            // The walk pins down the broken record in each damaged chunk.
            assert!(s.walk_issues() >= bad.len(), "{file}");
        }
    }

    #[test]
    fn corpus_bad_header_checksum() {
        let Some(s) = scan_corpus(&format!("{SAMPLES}security_bad_string_cache.evtx")) else {
            return;
        };
        assert_eq!(s.chunks(ChunkVerdict::HeaderChecksum), [0]);
        assert_eq!(s.issue_kinds(), [IssueKind::ChunkHeaderChecksum]);
        let info = s.reports[0].info.as_ref().unwrap();
        assert_eq!(info.data_checksum_ok, Some(true));
        assert_eq!(s.records(), 2261);
        assert_eq!(s.end.trailing_zeroed_chunks, 7);
    }

    #[test]
    fn corpus_truncated_files() {
        for file in ["RDPAuth_Security.evtx", "RDPAuth_System.evtx"] {
            let rel = format!("Velocidex+velociraptor/artifacts/testdata/files/{file}");
            let Some(s) = scan_corpus(&rel) else { return };
            assert_eq!(s.issue_kinds(), [IssueKind::Truncated], "{file}");
            assert_eq!(s.header.as_ref().unwrap().trailing_bytes, 4096, "{file}");
            assert!(s.header_issues[0].detail.contains("the last 4096 bytes"));
            assert_eq!(s.walk_issues(), 0);
        }
    }

    #[test]
    fn corpus_no_crc32() {
        let Some(s) = scan_corpus(&format!("{SAMPLES}Application_no_crc32.evtx")) else {
            return;
        };
        let header = s.header.as_ref().unwrap();
        assert!(header.flags.no_crc32() && header.checksum_ok);
        assert_eq!(header.stored_checksum, 0);
        assert!(s.all_issues().is_empty());
        assert_eq!(s.verdicts, [ChunkVerdict::Ok]);
        assert_eq!(s.reports[0].info.as_ref().unwrap().header_checksum_ok, None);
        assert_eq!(s.records(), 17);
    }

    #[test]
    fn corpus_clean_files() {
        let cases = [
            (format!("{SAMPLES}security.evtx"), 2261),
            ("sbousseaden+EVTX-ATTACK-SAMPLES/Credential Access/ppl_bypass_ppldump_knowdll_hijack_sysmon_security.evtx".to_string(), 20),
        ];
        for (file, records) in cases {
            let Some(s) = scan_corpus(&file) else { return };
            assert!(s.all_issues().is_empty(), "{file}: {:?}", s.all_issues());
            assert_eq!(s.walk_issues(), 0, "{file}");
            assert_eq!(s.records(), records, "{file}");
        }
    }

    #[test]
    fn corpus_vss_copy_with_zeroed_chunks_before_data() {
        let Some(s) = scan_corpus(&format!("{SAMPLES}2-vss_7-System.evtx")) else {
            return;
        };
        assert_eq!(s.issue_kinds(), [IssueKind::ZeroedChunk]);
        assert_eq!(s.issues[0].chunk, Some(10));
        assert!(s.issues[0].detail.starts_with("chunks 10..=11"));
    }

    #[test]
    fn corpus_legacy_evt_is_unsupported() {
        let Some(bytes) = corpus_file("log2timeline+plaso/test_data/SysEvent.Evt") else {
            return;
        };
        let (info, issues) = check_file_header(&bytes, bytes.len() as u64, &name());
        assert!(info.is_none());
        assert_eq!(kinds(&issues), [IssueKind::Unsupported]);
    }

    fn evtx_files(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                evtx_files(&path, out);
            } else if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("evtx"))
            {
                out.push(path);
            }
        }
    }

    /// Every corpus file: no panic, and files not known to be damaged report nothing; in
    /// intact chunks the walk finds exactly the records the header counts.
    #[test]
    fn corpus_sweep() {
        let Some(dir) = corpus_dir() else {
            println!("skipping: corpus not found");
            return;
        };
        let damaged = [
            "sample_with_a_bad_chunk_magic.evtx",
            "sysmon.evtx",
            "2-vss_0-Microsoft-Windows-RemoteDesktopServices-RdpCoreTS%4Operational.evtx",
            "security_bad_string_cache.evtx",
            "Microsoft-Windows-LanguagePackSetup%4Operational.evtx",
            "sample-with-zero-data-size-event.evtx",
            "RDPAuth_Security.evtx",
            "RDPAuth_System.evtx",
            "2-vss_7-System.evtx",
        ];
        let mut files = Vec::new();
        evtx_files(&dir, &mut files);
        assert!(files.len() > 500, "{} files", files.len());
        for path in files {
            let bytes = std::fs::read(&path).unwrap();
            let s = scan(&bytes, &path.to_string_lossy());
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if damaged.contains(&name.as_str()) {
                assert!(!s.all_issues().is_empty(), "{name}");
                continue;
            }
            assert!(s.all_issues().is_empty(), "{name}: {:?}", s.all_issues());
            assert_eq!(s.walk_issues(), 0, "{name}");
            for report in &s.reports {
                let (Some(info), Some(walk)) = (&report.info, &report.walk) else {
                    continue;
                };
                if info.free_space_offset as usize > CHUNK_HEADER_LEN {
                    let expected = info.last_record_id - info.first_record_id + 1;
                    assert_eq!(walk.records.len() as u64, expected, "{name}");
                }
            }
        }
    }

    // ---- corpus mutations ----

    fn security() -> Option<Vec<u8>> {
        corpus_file(&format!("{SAMPLES}security.evtx"))
    }

    fn chunk_range(n: usize) -> std::ops::Range<usize> {
        let start = 4096 + n * CHUNK_LEN;
        start..start + CHUNK_LEN
    }

    fn damage_kinds(s: &Scan) -> Vec<(IssueKind, Option<u64>)> {
        s.all_issues().iter().map(|i| (i.kind, i.chunk)).collect()
    }

    #[test]
    fn mutated_zeroed_middle_chunk() {
        let Some(mut bytes) = security() else { return };
        bytes[chunk_range(10)].fill(0);
        let s = scan(&bytes, "zeroed");
        assert_eq!(damage_kinds(&s), [(IssueKind::ZeroedChunk, Some(10))]);
        assert!(s.issues[0]
            .detail
            .starts_with("chunk 10 at offset 0xa1000 is all zero bytes"));
    }

    #[test]
    fn mutated_record_byte_and_header_byte() {
        let Some(mut bytes) = security() else { return };
        let first = scan(&bytes, "clean").reports[3]
            .walk
            .as_ref()
            .unwrap()
            .records[0];
        let at = chunk_range(3).start + first.offset as usize + 40;
        bytes[at] ^= 0x20;
        bytes[chunk_range(5).start + 9] ^= 0x01; // first record number
        let s = scan(&bytes, "flipped");
        assert_eq!(
            damage_kinds(&s),
            [
                (IssueKind::ChunkDataChecksum, Some(3)),
                (IssueKind::ChunkHeaderChecksum, Some(5))
            ]
        );
        // A size copy that no longer matches is also found by the walk.
        let end = chunk_range(3).start + (first.offset + first.size) as usize;
        bytes[end - 4] ^= 0x08;
        let s = scan(&bytes, "size copy");
        assert_eq!(s.reports[3].walk.as_ref().unwrap().issues.len(), 1);
    }

    #[test]
    fn mutated_duplicated_chunk() {
        let Some(mut bytes) = security() else { return };
        let copy = bytes[chunk_range(4)].to_vec();
        bytes[chunk_range(5)].copy_from_slice(&copy);
        let s = scan(&bytes, "duplicated");
        assert_eq!(damage_kinds(&s), [(IssueKind::DuplicateRecordId, Some(5))]);
        assert!(s.issues[0]
            .detail
            .starts_with("chunk 5 at offset 0x51000 repeats chunk 4"));
        assert!(s.end.duplicate_records > 80);
    }

    #[test]
    fn bad_magic_and_partial_chunks_are_walked() {
        let file = name();
        let mut c = chunk(50, 10);
        c[..8].fill(0);
        put(&mut c, 48, &600u32.to_le_bytes());
        let mut checker = FileChecker::new(&file, None);
        let report = checker.chunk(0, &c);
        assert_eq!(report.verdict, ChunkVerdict::BadMagic);
        assert_eq!(report.walk.unwrap().records.len(), 10);
        let partial = &chunk(60, 10)[..512 + 4 * RECORD_LEN + 7];
        let report = checker.chunk(1, partial);
        assert_eq!(report.verdict, ChunkVerdict::Short);
        assert_eq!(kinds(&report.issues), [IssueKind::Truncated]);
        let walk = report.walk.unwrap();
        assert_eq!(walk.records.len(), 4);
        assert_eq!(walk.issues.len(), 1);
    }

    #[test]
    fn mutated_truncated_mid_chunk() {
        let Some(mut bytes) = security() else { return };
        bytes.truncate(4096 + 20 * CHUNK_LEN + 8000);
        let s = scan(&bytes, "truncated");
        assert_eq!(
            damage_kinds(&s),
            [
                (IssueKind::Truncated, Some(20)),
                (IssueKind::Truncated, None)
            ]
        );
        assert!(s.header_issues[1]
            .detail
            .contains("counts 26 chunks but the file holds only 20"));
        // The records complete in the partial chunk can still be located.
        let file: Arc<str> = Arc::from("truncated");
        let mut checker = FileChecker::new(&file, s.header.as_ref());
        let report = checker.chunk(20, &bytes[4096 + 20 * CHUNK_LEN..]);
        assert_eq!(report.verdict, ChunkVerdict::Short);
        assert!(!report.walk.unwrap().records.is_empty());
    }
}
