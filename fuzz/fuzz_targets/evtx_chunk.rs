//! One chunk: the input is padded or cut to 64 KiB, so every execution reaches the chunk
//! checks, the record walk and the decoders (a whole-file input mostly exercises the header).
//! The first byte picks the file flags (CRC32 checks on or off), so mutations past the
//! checksums are also decoded rather than only reported.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lineage::extract::{Extractor, Filter};
use lineage::ingest::evtx::{read_chunk, EvtxCounters, CHUNK_SIZE};
use lineage::ingest::integrity::FileFlags;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let Some((&flag, rest)) = data.split_first() else {
        return;
    };
    let mut chunk = rest.to_vec();
    chunk.resize(CHUNK_SIZE as usize, 0);
    let flags = FileFlags(if flag & 1 == 1 {
        FileFlags::NO_CRC32
    } else {
        0
    });
    let file: Arc<str> = Arc::from("fuzz.evtx");
    let filter = Filter::default();
    let mut sink = Extractor::new(Arc::clone(&file), &filter);
    let mut counters = EvtxCounters::default();
    read_chunk(&chunk, 0, &file, flags, &mut sink, &mut counters);
});
