//! Templates compiled for one chunk are reused for later chunks, of the same log or another,
//! when compiling them again could only give the same result (`binxml::SharedTemplates`).
//! These tests read chunks with a cache warmed by other chunks and with a fresh one, and
//! require the same records, issues and counters: on the sample logs as they are, and with
//! bytes flipped in the part of a chunk where its templates and names are written, so a reuse
//! that should not happen shows up as a difference.

mod support;

use lineage::ingest::binxml::SharedTemplates;
use lineage::ingest::evtx::{read_chunk, read_chunk_shared, EvtxCounters, CHUNK_SIZE};
use lineage::ingest::integrity::FileFlags;
use lineage::ingest::KeepAll;
use proptest::prelude::*;
use std::sync::{Arc, OnceLock};
use support::repo;

const HEADER: usize = 4096;
const CHUNK: usize = CHUNK_SIZE as usize;

/// The whole chunks of the three sample logs, in file order.
fn sample_chunks() -> &'static [Vec<u8>] {
    static CHUNKS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    CHUNKS.get_or_init(|| {
        let dir = repo().join("samples/APTSimulatorVM");
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .expect("samples")
            .map(|e| e.expect("entry").path())
            .collect();
        names.sort();
        let mut chunks = Vec::new();
        for path in names {
            let bytes = std::fs::read(&path).expect("sample");
            let body = bytes.get(HEADER..).unwrap_or_default();
            chunks.extend(body.chunks_exact(CHUNK).map(<[u8]>::to_vec));
        }
        assert!(chunks.len() > 100, "{} chunks", chunks.len());
        chunks
    })
}

/// What reading one chunk gave.
#[derive(Debug, PartialEq)]
struct Read {
    records: Vec<(lineage::ingest::RawRecord, u64)>,
    issues: Vec<lineage::issues::Issue>,
    skipped: u64,
    counters: EvtxCounters,
    ids: Vec<(u64, u64)>,
}

fn read(chunk: &[u8], chunk_no: u64, shared: Option<&mut SharedTemplates>) -> Read {
    let file: Arc<str> = Arc::from("sample.evtx");
    let mut sink = KeepAll::default();
    let mut counters = EvtxCounters::default();
    let flags = FileFlags::default();
    let summary = match shared {
        Some(shared) => read_chunk_shared(
            chunk,
            chunk_no,
            &file,
            flags,
            &mut sink,
            &mut counters,
            shared,
        ),
        None => read_chunk(chunk, chunk_no, &file, flags, &mut sink, &mut counters),
    };
    Read {
        records: sink.records,
        issues: sink.issues,
        skipped: sink.skipped,
        counters,
        ids: summary.ids,
    }
}

#[test]
fn a_warm_cache_reads_every_sample_chunk_as_a_fresh_one_does() {
    let chunks = sample_chunks();
    let mut shared = SharedTemplates::default();
    let mut records = 0;
    for (no, chunk) in chunks.iter().enumerate() {
        let warm = read(chunk, no as u64, Some(&mut shared));
        let cold = read(chunk, no as u64, None);
        assert_eq!(warm, cold, "chunk {no}");
        records += warm.records.len();
    }
    let reuse = shared.reuse();
    let kept = shared.kept_bytes();
    println!(
        "{} chunks, {records} records, {reuse:?}, {kept} bytes kept",
        chunks.len()
    );
    assert!(kept > 0 && kept <= lineage::ingest::binxml::MAX_SHARED_BYTES);
    assert!(records > 5_000, "{records} records");
    // Windows writes a template where a chunk first uses it, so half the reuses are of
    // templates that moved (199 of 398 on these logs); what is still compiled is mostly the
    // first use of a template in the run (121 over three logs of many event types).
    assert!(reuse.moved * 3 > reuse.in_place, "{reuse:?}");
    assert!(
        reuse.compiled * 2 < reuse.moved + reuse.in_place,
        "{reuse:?}"
    );
}

/// The first chunk of each sample log after its first (so the cache holds that log's
/// templates, compiled at other offsets), by index into [`sample_chunks`].
fn second_chunks() -> Vec<usize> {
    let chunks = sample_chunks();
    // Chunk 0 of a log is the one whose header's first record number is 1.
    let firsts: Vec<usize> = (0..chunks.len())
        .filter(|&i| chunks[i].get(8..16) == Some(&1u64.to_le_bytes()[..]))
        .collect();
    assert_eq!(firsts.len(), 3, "{firsts:?}");
    firsts.iter().map(|&i| i + 1).collect()
}

/// Warm a cache with every sample chunk but `skip`.
fn warmed(skip: usize) -> SharedTemplates {
    let mut shared = SharedTemplates::default();
    for (i, c) in sample_chunks().iter().enumerate() {
        if i != skip {
            read(c, i as u64, Some(&mut shared));
        }
    }
    shared
}

/// Every byte of the first 4 KiB of records of a chunk, changed in turn: that is where the
/// chunk's first records define their templates and names (element names, name references,
/// substitution tokens, the `Data Name` literals). A template compiled elsewhere must never
/// be taken for a changed one.
#[test]
fn every_byte_of_a_chunks_templates_changed_in_turn_reads_alike_with_and_without_the_cache() {
    let chunks = sample_chunks();
    let mut differed = 0;
    for no in second_chunks() {
        let base = warmed(no);
        let intact = read(&chunks[no], no as u64, None).records;
        for at in 512..4096 {
            for x in [0x01u8, 0x10] {
                let mut damaged = chunks[no].clone();
                damaged[at] ^= x;
                let mut shared = base.clone();
                let warm = read(&damaged, no as u64, Some(&mut shared));
                let cold = read(&damaged, no as u64, None);
                assert_eq!(warm, cold, "chunk {no}, byte {at} ^ {x:#x}");
                differed += usize::from(cold.records != intact);
            }
        }
    }
    // Most of these changes change what is read: the comparison is not between two empties.
    assert!(differed > 2_000, "{differed} changes made a difference");
}

/// Every name of a log renamed in one chunk (a character changed, the length kept, in every
/// place the name is written): the templates that use it, their own copy of it or one an
/// earlier template of the chunk wrote, are compiled again.
#[test]
fn a_renamed_name_is_never_taken_for_the_old_one() {
    let chunks = sample_chunks();
    for no in second_chunks() {
        let base = warmed(no);
        for name in [
            "Name",
            "Data",
            "EventID",
            "Provider",
            "ProcessId",
            "SubjectUserName",
        ] {
            let from: Vec<u8> = name.encode_utf16().flat_map(u16::to_le_bytes).collect();
            let mut to = from.clone();
            to[0] ^= 0x20; // the first letter's case
            let mut renamed = chunks[no].clone();
            let mut count = 0;
            let mut at = 512;
            while let Some(i) = renamed[at..].windows(from.len()).position(|w| w == from) {
                renamed[at + i..at + i + from.len()].copy_from_slice(&to);
                at += i + from.len();
                count += 1;
            }
            if count == 0 {
                continue;
            }
            let mut shared = base.clone();
            let warm = read(&renamed, no as u64, Some(&mut shared));
            let cold = read(&renamed, no as u64, None);
            assert_eq!(warm, cold, "chunk {no}, {name} renamed");
        }
    }
}

/// Bytes to flip in the records area of a chunk: where its first records are, which carry
/// the template definitions and names, more often than anywhere else.
fn flips() -> impl Strategy<Value = Vec<(usize, u8)>> {
    let at = prop_oneof![3 => 512usize..4096, 1 => 512usize..CHUNK];
    prop::collection::vec((at, 1u8..=255), 1..4)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A chunk with flipped bytes, read after the chunks before it warmed the cache, gives
    /// exactly what it gives read alone: a changed name, a moved reference or a changed
    /// body is never taken for the template compiled before.
    #[test]
    fn a_damaged_chunk_is_read_alike_with_and_without_the_cache(
        pick in 1usize..1000,
        flips in flips(),
    ) {
        let chunks = sample_chunks();
        let no = pick % chunks.len();
        let mut shared = SharedTemplates::default();
        // Warm with the chunks before it and a few of another log.
        for (i, c) in chunks.iter().enumerate().take(no).skip(no.saturating_sub(8)) {
            read(c, i as u64, Some(&mut shared));
        }
        for (i, c) in chunks.iter().enumerate().rev().take(4) {
            read(c, i as u64, Some(&mut shared));
        }
        let mut damaged = chunks[no].clone();
        for (at, x) in flips {
            damaged[at] ^= x;
        }
        let warm = read(&damaged, no as u64, Some(&mut shared));
        let cold = read(&damaged, no as u64, None);
        prop_assert_eq!(warm, cold);
    }
}
