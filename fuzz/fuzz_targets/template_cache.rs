//! The template cache against a fresh decoder: the input is two 64 KiB chunks (padded or cut)
//! after a flag byte. The first warms a cache of compiled templates; the second is then read
//! with that cache and with a fresh one, and both reads must give the same records, issues and
//! counters. Seeded with consecutive chunks of real logs, which share templates written at
//! other offsets, so mutations of the second chunk probe when a kept template may be reused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lineage::ingest::binxml::SharedTemplates;
use lineage::ingest::evtx::{read_chunk, read_chunk_shared, EvtxCounters, CHUNK_SIZE};
use lineage::ingest::integrity::FileFlags;
use lineage::ingest::KeepAll;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let Some((&flag, rest)) = data.split_first() else {
        return;
    };
    let size = CHUNK_SIZE as usize;
    let mut first = rest
        .get(..size.min(rest.len()))
        .unwrap_or_default()
        .to_vec();
    first.resize(size, 0);
    let mut second = rest.get(size..).unwrap_or_default().to_vec();
    second.resize(size, 0);
    let flags = FileFlags(if flag & 1 == 1 {
        FileFlags::NO_CRC32
    } else {
        0
    });
    let file: Arc<str> = Arc::from("fuzz.evtx");
    let mut shared = SharedTemplates::default();
    let mut counters = EvtxCounters::default();
    let mut sink = KeepAll::default();
    read_chunk_shared(
        &first,
        0,
        &file,
        flags,
        &mut sink,
        &mut counters,
        &mut shared,
    );

    let mut warm = KeepAll::default();
    let mut warm_counters = EvtxCounters::default();
    let warm_ids = read_chunk_shared(
        &second,
        1,
        &file,
        flags,
        &mut warm,
        &mut warm_counters,
        &mut shared,
    )
    .ids;
    let mut cold = KeepAll::default();
    let mut cold_counters = EvtxCounters::default();
    let cold_ids = read_chunk(&second, 1, &file, flags, &mut cold, &mut cold_counters).ids;
    assert_eq!(warm.records, cold.records);
    assert_eq!(warm.issues, cold.issues);
    assert_eq!(warm.skipped, cold.skipped);
    assert_eq!(warm_counters, cold_counters);
    assert_eq!(warm_ids, cold_ids);
});
