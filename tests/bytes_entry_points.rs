//! The in-memory entry points the fuzz targets use read exactly what the CLI's file readers
//! read: `read_evtx_bytes` against `check_file_header` + `read_chunks` + `finish_file`, on
//! clean and damaged files, and the XML / JSONL readers over slices against their files.

mod support;

use lineage::ingest::evtx::{read_chunks, read_evtx_bytes, whole_chunks};
use lineage::ingest::filecheck::finish_file;
use lineage::ingest::integrity::check_file_header;
use lineage::ingest::{jsonl, xml, KeepAll};
use std::path::Path;
use std::sync::Arc;
use support::repo;

/// Records (id, offset) and sorted issues from the file path, as `lineage events` reads it.
fn from_disk(path: &Path, file: &Arc<str>) -> KeepAll {
    let bytes = std::fs::read(path).unwrap();
    let mut sink = KeepAll::default();
    let (info, issues) = check_file_header(&bytes, bytes.len() as u64, file);
    sink.issues.extend(issues);
    let flags = info.map(|i| i.flags).unwrap_or_default();
    let mut chunks = Vec::new();
    let range = 0..whole_chunks(bytes.len() as u64);
    read_chunks(path, file, range, flags, &mut sink, &mut chunks).unwrap();
    sink.issues.extend(finish_file(file, chunks));
    sink
}

fn key(s: &KeepAll) -> (Vec<(Option<u64>, u64)>, Vec<String>) {
    let records = s.records.iter().map(|(r, o)| (r.record_id, *o)).collect();
    let mut issues: Vec<String> = s.issues.iter().map(|i| format!("{i:?}")).collect();
    issues.sort();
    (records, issues)
}

#[test]
fn read_evtx_bytes_matches_the_file_reader_on_clean_and_damaged_files() {
    for name in [
        "samples/APTSimulatorVM/System.evtx",
        "tests/data/damaged/sample_with_a_bad_chunk_magic.evtx",
        "tests/data/damaged/sysmon_8_unreadable_chunks.evtx",
    ] {
        let path = repo().join(name);
        let file: Arc<str> = Arc::from(name);
        let disk = from_disk(&path, &file);
        let mut mem = KeepAll::default();
        read_evtx_bytes(&std::fs::read(&path).unwrap(), &file, &mut mem);
        assert!(!mem.records.is_empty(), "{name}");
        assert_eq!(key(&mem), key(&disk), "{name}");
    }
}

#[test]
fn the_export_readers_read_slices_as_they_read_files() {
    let file: Arc<str> = Arc::from("x");
    let path = repo().join("tests/data/saved_utf16.xml");
    let (mut a, mut b) = (KeepAll::default(), KeepAll::default());
    xml::read_xml(&path, &file, &mut a).unwrap();
    xml::read_xml_from(std::fs::read(&path).unwrap().as_slice(), &file, &mut b).unwrap();
    assert!(!a.records.is_empty());
    assert_eq!(key(&a), key(&b));
    let path = repo().join("tests/data/hostile.jsonl");
    let (mut a, mut b) = (KeepAll::default(), KeepAll::default());
    jsonl::read_jsonl(&path, &file, &mut a).unwrap();
    jsonl::read_jsonl_from(std::fs::read(&path).unwrap().as_slice(), &file, &mut b).unwrap();
    assert_eq!(key(&a), key(&b));
}
