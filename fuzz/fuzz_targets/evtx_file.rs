//! A whole EVTX file: header and size checks, every chunk (integrity checks, the fast BinXML
//! decoder, the evtx crate's fallback), the whole-file checks, and extraction into events.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lineage::extract::{Extractor, Filter};
use lineage::ingest::evtx::read_evtx_bytes;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let file: Arc<str> = Arc::from("fuzz.evtx");
    let filter = Filter::default();
    let mut sink = Extractor::new(Arc::clone(&file), &filter);
    read_evtx_bytes(data, &file, &mut sink);
});
