//! Hand-made exports in the two shapes Windows itself writes, which the corpus (all EVTX) does
//! not have: `wevtutil qe /f:xml` (events with no root) and Event Viewer "Save as XML" (UTF-16
//! with a BOM, an `<Events>` root and `RenderingInfo`).

use chrono::{DateTime, Utc};
use lineage::ingest::xml::read_xml;
use lineage::ingest::RawRecord;
use std::path::Path;
use std::sync::Arc;

use lineage::ingest::KeepAll as Collect;

fn read_fixture(name: &str) -> Collect {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    let file: Arc<str> = Arc::from(name);
    let mut sink = Collect::default();
    if let Err(e) = read_xml(&path, &file, &mut sink) {
        panic!("{name}: {e}");
    }
    assert!(sink.issues.is_empty(), "{name}: {:?}", sink.issues);
    let size = std::fs::metadata(&path)
        .map(|m| m.len())
        .unwrap_or_default();
    assert_eq!(sink.progress, size, "{name}: progress must cover the file");
    sink
}

fn time(text: &str) -> Option<DateTime<Utc>> {
    text.parse().ok()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(std::rc::Rc<str>, String)> {
    items
        .iter()
        .map(|(n, v)| (std::rc::Rc::from(*n), v.to_string()))
        .collect()
}

#[test]
fn wevtutil_concatenation() {
    let got = read_fixture("wevtutil_concat.xml");
    let ids: Vec<_> = got
        .records
        .iter()
        .map(|(r, _)| (r.event_id, r.record_id))
        .collect();
    assert_eq!(
        ids,
        vec![
            (Some(4688), Some(10501)),
            (Some(1), Some(77)),
            (Some(6013), Some(3001)),
            (Some(1102), Some(10502)),
        ]
    );
    // One event per line: each offset is just past the previous line.
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/wevtutil_concat.xml"),
    )
    .unwrap_or_default();
    let starts: Vec<u64> = text
        .match_indices("<Event ")
        .map(|(i, _)| i as u64)
        .collect();
    let offsets: Vec<u64> = got.records.iter().map(|(_, o)| *o).collect();
    assert_eq!(offsets, starts);

    let records: Vec<RawRecord> = got.records.into_iter().map(|(r, _)| r).collect();
    let [security, sysmon, system, cleared] = records.as_slice() else {
        panic!("expected four records");
    };
    assert_eq!(
        security.provider_guid.as_deref(),
        Some("{54849625-5478-4994-a5ba-3e3b0328c30d}")
    );
    assert_eq!(security.version, Some(2));
    assert_eq!(security.time_created, time("2023-03-01T08:15:02.4471234Z"));
    assert_eq!(
        security.field("ParentProcessName"),
        Some("C:\\Windows\\System32\\wininit.exe")
    );
    assert_eq!(security.field("CommandLine"), Some(""));
    assert_eq!(
        sysmon.channel.as_deref(),
        Some("Microsoft-Windows-Sysmon/Operational")
    );
    assert_eq!(
        sysmon.field("CommandLine"),
        Some("cmd.exe /c \"echo <hello> & exit\"")
    );
    assert_eq!(sysmon.time_created, time("2023-03-01T08:15:03.0000001Z"));
    assert_eq!(
        system.positional().collect::<Vec<_>>(),
        vec!["", "", "", "", "52", "60", "0 W. Europe Standard Time"]
    );
    assert_eq!(system.provider_guid, None);
    assert_eq!(
        cleared.data,
        pairs(&[
            ("SubjectUserSid", "S-1-5-21-1111-2222-3333-1001"),
            ("SubjectUserName", "mallory"),
            ("SubjectDomainName", "CORP"),
            ("SubjectLogonId", "0x1febb0"),
        ])
    );
}

#[test]
fn saved_as_xml_utf16_with_events_root() {
    let got = read_fixture("saved_utf16.xml");
    let records: Vec<RawRecord> = got.records.iter().map(|(r, _)| r.clone()).collect();
    let [logon, boot] = records.as_slice() else {
        panic!("expected two records, got {}", records.len());
    };
    assert_eq!(logon.event_id, Some(4624));
    assert_eq!(logon.computer.as_deref(), Some("PC-ZO\u{cb}"));
    assert_eq!(logon.time_created, time("2022-11-05T17:42:10.3917029Z"));
    assert_eq!(
        logon.data,
        pairs(&[
            ("SubjectUserSid", "S-1-5-18"),
            ("TargetUserName", "Zo\u{eb}"),
            ("TargetDomainName", "PC-ZO\u{cb}"),
            ("LogonType", "10"),
            ("IpAddress", "203.0.113.7"),
            ("IpPort", "0"),
        ])
    );
    assert_eq!(
        boot.provider_name.as_deref(),
        Some("Microsoft-Windows-Kernel-General")
    );
    assert_eq!(
        boot.provider_guid.as_deref(),
        Some("{a68ca8b7-004f-d7b6-a698-07e2de0f1f5d}")
    );
    assert_eq!((boot.event_id, boot.record_id), (Some(12), Some(5120)));
    assert_eq!(
        boot.field("StartTime"),
        Some("2022-11-05T06:01:01.9999999Z")
    );
    // Offsets are in the file's own bytes: after the BOM, two per UTF-16 code unit.
    let first = got.records.first().map(|(_, o)| *o);
    let before_first = "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\r\n<Events>\r\n";
    assert_eq!(first, Some(2 + 2 * before_first.len() as u64));
}
