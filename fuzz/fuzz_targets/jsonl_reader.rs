//! The `evtx_dump -o jsonl` reader (bounded line reader, serde walk of EventData) and
//! extraction.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lineage::extract::{Extractor, Filter};
use lineage::ingest::jsonl::read_jsonl_from;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let file: Arc<str> = Arc::from("fuzz.jsonl");
    let filter = Filter::default();
    let mut sink = Extractor::new(Arc::clone(&file), &filter);
    let _ = read_jsonl_from(data, &file, &mut sink);
});
