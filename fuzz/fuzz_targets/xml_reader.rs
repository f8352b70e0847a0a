//! The XML export reader (event scanner, quick-xml per event, UTF-16 detection) and extraction.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lineage::extract::{Extractor, Filter};
use lineage::ingest::xml::read_xml_from;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let file: Arc<str> = Arc::from("fuzz.xml");
    let filter = Filter::default();
    let mut sink = Extractor::new(Arc::clone(&file), &filter);
    let _ = read_xml_from(data, &file, &mut sink);
});
