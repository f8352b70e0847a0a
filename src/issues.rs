//! Non-fatal problems found while reading input. They are values, collected into the run
//! summary and the exit status; nothing deep in the pipeline prints.

use serde::Serialize;
use std::fmt;
use std::sync::Arc;

/// What went wrong. The variants are stable names used in the summary and in JSON output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueKind {
    /// The file could not be opened or read.
    Unreadable,
    /// Not a format we read (legacy `.evt`, binary junk, empty file).
    Unsupported,
    /// EVTX file header has a bad magic, checksum or impossible values.
    BadFileHeader,
    /// File size is not header + whole chunks, or it holds fewer chunks than the header says.
    Truncated,
    /// A chunk that is all zero bytes.
    ZeroedChunk,
    /// A chunk whose header magic is not `ElfChnk\0`.
    BadChunkMagic,
    /// A chunk whose header CRC32 does not match.
    ChunkHeaderChecksum,
    /// A chunk whose records' CRC32 does not match.
    ChunkDataChecksum,
    /// The evtx crate could not parse a chunk (string or template tables).
    UnreadableChunk,
    /// One record could not be decoded; the rest of the chunk is still read.
    RecordDecode,
    /// The same EventRecordID appears more than once in one file (e.g. a duplicated chunk).
    DuplicateRecordId,
    /// A malformed XML event in an XML export.
    MalformedXml,
    /// A malformed line in a JSON-lines export.
    MalformedJson,
    /// A record whose event id looks like Sysmon/Security but whose channel or provider GUID
    /// does not match; it is not used.
    SourceMismatch,
}

impl IssueKind {
    /// True when the problem means some input may have been lost (drives the exit status).
    /// A file that is not an event log at all (a README in an evidence folder) is skipped with
    /// a note, and a record from the wrong source is counted: neither loses log data.
    pub fn is_damage(self) -> bool {
        !matches!(self, IssueKind::SourceMismatch | IssueKind::Unsupported)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IssueKind::Unreadable => "unreadable",
            IssueKind::Unsupported => "unsupported",
            IssueKind::BadFileHeader => "bad_file_header",
            IssueKind::Truncated => "truncated",
            IssueKind::ZeroedChunk => "zeroed_chunk",
            IssueKind::BadChunkMagic => "bad_chunk_magic",
            IssueKind::ChunkHeaderChecksum => "chunk_header_checksum",
            IssueKind::ChunkDataChecksum => "chunk_data_checksum",
            IssueKind::UnreadableChunk => "unreadable_chunk",
            IssueKind::RecordDecode => "record_decode",
            IssueKind::DuplicateRecordId => "duplicate_record_id",
            IssueKind::MalformedXml => "malformed_xml",
            IssueKind::MalformedJson => "malformed_json",
            IssueKind::SourceMismatch => "source_mismatch",
        }
    }
}

impl fmt::Display for IssueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem, located as precisely as the input allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    pub kind: IssueKind,
    /// The input file, as given or discovered.
    pub file: Arc<str>,
    /// Chunk number (EVTX) counted from 0, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk: Option<u64>,
    /// Byte offset in the file (EVTX) or line number (JSONL, XML), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// What was seen, in a sentence; may quote input, so it is sanitised before printing.
    pub detail: String,
}

impl Issue {
    pub fn new(kind: IssueKind, file: &Arc<str>, detail: impl Into<String>) -> Self {
        Issue {
            kind,
            file: Arc::clone(file),
            chunk: None,
            offset: None,
            detail: detail.into(),
        }
    }

    pub fn at_chunk(mut self, chunk: u64) -> Self {
        self.chunk = Some(chunk);
        self
    }

    pub fn at_offset(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }
}
