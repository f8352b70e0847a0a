//! Records written without a template (a plain BinXML element stream with literal values, as
//! Windows writes some Security, Defender and System events) are read by the fast decoder,
//! not handed to the evtx crate, and read exactly as the evtx crate renders them.

mod support;

use lineage::ingest::evtx::read_evtx_bytes;
use lineage::ingest::xml::read_xml_from;
use lineage::ingest::{KeepAll, RawRecord};
use std::sync::Arc;
use support::repo;

fn by_id(sink: KeepAll) -> Vec<RawRecord> {
    let mut records: Vec<RawRecord> = sink.records.into_iter().map(|(r, _)| r).collect();
    records.sort_by_key(|r| r.record_id);
    records
}

#[test]
fn records_without_a_template_are_decoded_and_read_as_evtx_renders_them() {
    let path = repo().join("tests/data/raw_records/security_4656_raw_records.evtx");
    let bytes = std::fs::read(&path).expect("fixture");
    // Every one of its 29 records starts with an element, not a template instance: walk the
    // record headers of its one chunk (magic, size; the BinXML after 24 bytes, behind a
    // 4-byte fragment header).
    let (mut at, mut raw) = (4096 + 512, 0);
    while bytes.get(at..at + 4) == Some(&b"**\0\0"[..]) {
        let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes")) as usize;
        raw += usize::from(bytes[at + 24] == 0x0f && bytes[at + 28] & 0x0f == 0x01);
        at += size;
    }
    assert_eq!(raw, 29);

    let file: Arc<str> = Arc::from("raw.evtx");
    let mut fast = KeepAll::default();
    let counters = read_evtx_bytes(&bytes, &file, &mut fast);
    assert_eq!(
        counters.rendered, 0,
        "every record read without the evtx crate"
    );
    assert!(fast.issues.is_empty(), "{:?}", fast.issues);

    let mut xml = String::new();
    let mut parser = evtx::EvtxParser::from_buffer(bytes.clone()).expect("evtx parses it");
    for record in parser.records() {
        xml.push_str(&record.expect("evtx renders every record").data);
        xml.push('\n');
    }
    let mut rendered = KeepAll::default();
    read_xml_from(xml.as_bytes(), &file, &mut rendered).expect("XML reads back");

    let (fast, rendered) = (by_id(fast), by_id(rendered));
    assert_eq!(fast.len(), 29, "records in the file");
    assert_eq!(fast.len(), rendered.len());
    for (a, b) in fast.iter().zip(&rendered) {
        assert_eq!(a, b);
    }
    // System and EventData came through: the 4656 (handle requested) records' fields too.
    assert!(fast
        .iter()
        .all(|r| r.provider_name.is_some() && r.computer.is_some()));
    let handles: Vec<&RawRecord> = fast.iter().filter(|r| r.event_id == Some(4656)).collect();
    assert!(!handles.is_empty());
    assert!(
        handles.iter().all(|r| r.field("ObjectServer").is_some()),
        "{handles:?}"
    );
}
