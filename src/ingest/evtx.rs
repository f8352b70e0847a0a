//! The EVTX reader: the only module that touches the `evtx` crate.
//!
//! A file is read as ranges of whole 64 KiB chunks, so one large file can be split across
//! threads and memory stays at one chunk per thread whatever the file size. Each chunk is
//! checked byte by byte (see [`super::integrity`]), parsed by the evtx crate, and each record is
//! decoded by [`super::binxml`] from its substitution values; a record of a shape that module
//! does not handle is rendered to XML by the evtx crate and read by the XML reader instead.

use super::binxml::{ChunkDecoder, SharedTemplates};
use super::integrity::{check_chunk, walk_records, ChunkInfo, ChunkVerdict, FileFlags};
use super::{ReadError, RecordSink};
use crate::issues::{Issue, IssueKind};
use evtx::{EvtxChunkData, ParserSettings};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

/// Size of the EVTX file header block.
pub const FILE_HEADER_SIZE: u64 = 4096;
/// Size of one chunk.
pub const CHUNK_SIZE: u64 = 65536;

/// Counters a reader keeps beside what it sends to the sink.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EvtxCounters {
    /// Records rendered by the evtx crate because the fast path could not read them.
    pub rendered: u64,
}

/// What one chunk showed, for the checks that need the whole file (zeroed runs, duplicates).
#[derive(Debug, Clone)]
pub struct ChunkSummary {
    pub chunk_no: u64,
    pub verdict: ChunkVerdict,
    pub info: Option<ChunkInfo>,
    /// (record id, file offset) of every record read from the chunk, in chunk order.
    pub ids: Vec<(u64, u64)>,
}

/// How many whole chunks the file holds after its header, from its size.
pub fn whole_chunks(file_len: u64) -> u64 {
    file_len.saturating_sub(FILE_HEADER_SIZE) / CHUNK_SIZE
}

thread_local! {
    /// The templates a thread compiled, kept from one unit of work to the next.
    static SHARED_TEMPLATES: std::cell::RefCell<SharedTemplates> =
        std::cell::RefCell::new(SharedTemplates::default());
}

/// Read chunks `range` of the EVTX file at `path`.
///
/// `chunks` receives a [`ChunkSummary`] per chunk for the whole-file checks. `flags` are the
/// file header's (NO_CRC32 turns checksum checks off). Damage is reported to the sink as
/// issues; only a failure to open or read the file is an error.
pub fn read_chunks(
    path: &Path,
    file: &Arc<str>,
    range: Range<u64>,
    flags: FileFlags,
    sink: &mut dyn RecordSink,
    chunks: &mut Vec<ChunkSummary>,
) -> Result<EvtxCounters, ReadError> {
    let io = |source| ReadError::Io {
        file: file.to_string(),
        source,
    };
    let mut f = File::open(path).map_err(io)?;
    let mut counters = EvtxCounters::default();
    let mut buf = vec![0u8; CHUNK_SIZE as usize];
    // Templates compiled by earlier units on this thread, of this file or another: a reused
    // template is checked byte for byte against the chunk (see `SharedTemplates`), so which
    // file compiled it does not matter, and a unit no longer starts with every template of
    // its log to compile again (a compile costs about as much as decoding a hundred records).
    let mut shared = SHARED_TEMPLATES.with(|t| std::mem::take(&mut *t.borrow_mut()));
    // Chunks are read in order, so one seek to the first is enough (a seek per chunk was a
    // system call per 64 KiB for nothing).
    f.seek(SeekFrom::Start(FILE_HEADER_SIZE + range.start * CHUNK_SIZE))
        .map_err(io)?;
    for chunk_no in range {
        if let Err(e) = f.read_exact(&mut buf) {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                break; // the file shrank under us; the size check reports truncation
            }
            return Err(io(e));
        }
        sink.progress(CHUNK_SIZE);
        chunks.push(read_chunk_shared(
            &buf,
            chunk_no,
            file,
            flags,
            sink,
            &mut counters,
            &mut shared,
        ));
    }
    SHARED_TEMPLATES.with(|t| *t.borrow_mut() = shared);
    Ok(counters)
}

/// Check and read one 64 KiB chunk held in memory (`chunk_no` locates it in the file): the
/// byte-level checks, then its records. The step [`read_chunks`] repeats for each chunk it
/// reads from disk; public so a chunk can be read without a file (the fuzz targets).
pub fn read_chunk(
    buf: &[u8],
    chunk_no: u64,
    file: &Arc<str>,
    flags: FileFlags,
    sink: &mut dyn RecordSink,
    counters: &mut EvtxCounters,
) -> ChunkSummary {
    let mut shared = SharedTemplates::default();
    read_chunk_shared(buf, chunk_no, file, flags, sink, counters, &mut shared)
}

/// [`read_chunk`] reusing templates compiled for earlier chunks (of this file or another;
/// see [`SharedTemplates`]). Public for the tests that compare it with [`read_chunk`].
pub fn read_chunk_shared(
    buf: &[u8],
    chunk_no: u64,
    file: &Arc<str>,
    flags: FileFlags,
    sink: &mut dyn RecordSink,
    counters: &mut EvtxCounters,
    shared: &mut SharedTemplates,
) -> ChunkSummary {
    let offset = FILE_HEADER_SIZE.saturating_add(chunk_no.saturating_mul(CHUNK_SIZE));
    let (verdict, info, issues) = check_chunk(buf, chunk_no, offset, file, flags);
    for issue in issues {
        sink.issue(issue);
    }
    let mut summary = ChunkSummary {
        chunk_no,
        verdict,
        info,
        ids: Vec::new(),
    };
    // A zeroed chunk holds nothing. A chunk whose magic was wiped may still hold intact
    // records (the evtx crate skips such chunks whole): they are walked and read like any
    // other, and the damage stays reported.
    if verdict != ChunkVerdict::Zeroed {
        let ctx = ChunkCtx {
            bad_magic: verdict == ChunkVerdict::BadMagic,
            chunk_no,
            offset,
            file,
        };
        read_one_chunk(buf, &ctx, sink, &mut summary.ids, counters, shared);
    }
    summary
}

/// Read a whole EVTX file held in memory with the same steps as the CLI: the file header and
/// size checks, every whole chunk, then the whole-file checks (zeroed runs, duplicate ids).
/// The CLI reads from disk in chunk ranges spread over threads instead; this is for inputs
/// already in memory (the fuzz targets, tests). Everything found goes to `sink`.
pub fn read_evtx_bytes(bytes: &[u8], file: &Arc<str>, sink: &mut dyn RecordSink) -> EvtxCounters {
    let size = bytes.len() as u64;
    let head = bytes.get(..FILE_HEADER_SIZE as usize).unwrap_or(bytes);
    let (info, found) = super::integrity::check_file_header(head, size, file);
    for issue in found {
        sink.issue(issue);
    }
    let flags = info.map(|i| i.flags).unwrap_or_default();
    let mut counters = EvtxCounters::default();
    let mut chunks = Vec::new();
    let mut shared = SharedTemplates::default();
    let body = bytes.get(FILE_HEADER_SIZE as usize..).unwrap_or_default();
    for (chunk_no, buf) in (0u64..).zip(body.chunks_exact(CHUNK_SIZE as usize)) {
        sink.progress(CHUNK_SIZE);
        chunks.push(read_chunk_shared(
            buf,
            chunk_no,
            file,
            flags,
            sink,
            &mut counters,
            &mut shared,
        ));
    }
    for issue in super::filecheck::finish_file(file, chunks) {
        sink.issue(issue);
    }
    counters
}

/// Where a chunk is, for locating what goes wrong in it.
struct ChunkCtx<'a> {
    /// The chunk lost its magic: its records are still read, but an empty walk says nothing.
    bad_magic: bool,
    chunk_no: u64,
    offset: u64,
    file: &'a Arc<str>,
}

/// Size of a record header: magic, size, record id, written time.
const RECORD_HEADER: usize = 24;

/// Read one chunk's records: walk the record headers, decode each record from its
/// substitution values, and hand the few the fast path cannot read to the evtx crate.
///
/// The evtx crate parses the chunk only when some record needs it: building its per-record
/// tree for every record cost more than everything else together (profiled on a 260 MB file).
fn read_one_chunk(
    bytes: &[u8],
    ctx: &ChunkCtx<'_>,
    sink: &mut dyn RecordSink,
    ids: &mut Vec<(u64, u64)>,
    counters: &mut EvtxCounters,
    shared: &mut SharedTemplates,
) {
    let walk = walk_records(bytes, ctx.chunk_no, ctx.offset, ctx.file);
    // In a chunk whose magic is gone and which holds no record at all, the walk's complaints
    // only repeat the chunk's own issue.
    if !(ctx.bad_magic && walk.records.is_empty()) {
        for issue in walk.issues {
            sink.issue(issue);
        }
    }
    let mut decoder = ChunkDecoder::with_shared(bytes, std::mem::take(shared));
    let mut fallback: Vec<(u64, u64, &'static str)> = Vec::new();
    for span in &walk.records {
        let at = ctx.offset + u64::from(span.offset);
        ids.push((span.record_id, at));
        let start = span.offset as usize + RECORD_HEADER;
        let len = (span.size as usize).saturating_sub(RECORD_HEADER + 4);
        let wants = |p: Option<&str>, id: Option<u32>| sink.wants(p, id);
        let only = |p: Option<&str>, id: Option<u32>| sink.fields(p, id);
        match decoder.record_only(start, len, &wants, &only) {
            Ok(Some(raw)) => sink.record(raw, at),
            Ok(None) => sink.skipped(),
            Err(why) => fallback.push((span.record_id, at, why.0)),
        }
    }
    *shared = decoder.into_shared();
    if !fallback.is_empty() {
        render_with_evtx(bytes, ctx, &fallback, sink, counters);
    }
}

/// Render the records the fast path gave up on with the evtx crate, and read them back with
/// the XML reader's event parser. A record evtx cannot render either is a `record_decode`
/// issue; the rest of the chunk is unaffected.
fn render_with_evtx(
    bytes: &[u8],
    ctx: &ChunkCtx<'_>,
    wanted: &[(u64, u64, &'static str)],
    sink: &mut dyn RecordSink,
    counters: &mut EvtxCounters,
) {
    let (chunk_no, file) = (ctx.chunk_no, ctx.file);
    let fail = |sink: &mut dyn RecordSink, at: u64, detail: String| {
        sink.issue(
            Issue::new(IssueKind::RecordDecode, file, detail)
                .at_chunk(chunk_no)
                .at_offset(at),
        )
    };
    let parsed = EvtxChunkData::new(bytes.to_vec(), false).map_err(|e| e.to_string());
    let mut data = match parsed {
        Ok(d) => d,
        Err(e) => {
            for &(id, at, _) in wanted {
                fail(
                    sink,
                    at,
                    format!("record {id}: chunk unreadable by evtx: {e}"),
                );
            }
            return;
        }
    };
    // Made here, not per file: only the rare chunk with a record the fast path cannot read
    // gets this far.
    let settings = Arc::new(ParserSettings::default().num_threads(1));
    let mut chunk = match data.parse(settings) {
        Ok(c) => c,
        Err(e) => {
            for &(id, at, _) in wanted {
                fail(
                    sink,
                    at,
                    format!("record {id}: chunk tables unreadable by evtx: {e}"),
                );
            }
            return;
        }
    };
    let mut pending: Vec<(u64, u64, &'static str)> = wanted.to_vec();
    for record in chunk.iter() {
        let Ok(record) = record else { continue };
        let Some(i) = pending.iter().position(|w| w.0 == record.event_record_id) else {
            continue;
        };
        let (id, at, why) = pending.swap_remove(i);
        match record.into_xml() {
            Ok(xml) => {
                counters.rendered += 1;
                deliver_rendered(&xml.data, at, file, chunk_no, sink);
            }
            Err(e) => fail(
                sink,
                at,
                format!("record {id} ({why}) could not be rendered: {e}"),
            ),
        }
        // The evtx crate builds every record it yields: stop once the wanted ones are done.
        if pending.is_empty() {
            break;
        }
    }
    for (id, at, why) in pending {
        fail(
            sink,
            at,
            format!("record {id} could not be decoded ({why}) nor rendered"),
        );
    }
}

/// Read a record the evtx crate rendered to XML with the XML reader's event parser.
fn deliver_rendered(xml: &str, at: u64, file: &Arc<str>, chunk_no: u64, sink: &mut dyn RecordSink) {
    match super::xml::parse_rendered(xml) {
        Ok((raw, problems)) => {
            for p in problems {
                sink.issue(
                    Issue::new(
                        IssueKind::RecordDecode,
                        file,
                        format!("rendered record: {p}"),
                    )
                    .at_chunk(chunk_no)
                    .at_offset(at),
                );
            }
            if sink.wants(raw.provider_name.as_deref(), raw.event_id) {
                sink.record(raw, at)
            } else {
                sink.skipped()
            }
        }
        Err(e) => sink.issue(
            Issue::new(
                IssueKind::RecordDecode,
                file,
                format!("rendered record: {e}"),
            )
            .at_chunk(chunk_no)
            .at_offset(at),
        ),
    }
}
