//! Logs written by `lineage-testkit` read through `lineage events` exactly: every record
//! kept, the right kinds and fields, and no integrity problem reported.

mod support;

use lineage_testkit::fleet::{generate, FleetConfig};
use lineage_testkit::{Channel, Scenario};
use support::*;

const SCENARIO: &str = r#"
host WIN10-A
sources sysmon,security-v2
boot 2024-03-01T08:00:00Z
+1m  logon WIN10-A\alice
+2h  cmd.exe pid 4321 <- explorer.exe cmd "cmd.exe /c whoami"
+2h  lsass.exe <- cmd.exe image C:\Users\Public\lsass.exe
+10m rdp CORP\bob
+3h  exit cmd.exe
+4h  shutdown
boot +10m
"#;

/// Runs `lineage events DIR --format jsonl` and returns the events and stderr.
fn events(dir: &std::path::Path) -> (Vec<serde_json::Value>, String) {
    let out_file = dir.join("events.jsonl");
    let out = run(&[
        "events",
        &dir.join("logs").to_string_lossy(),
        "--format",
        "jsonl",
        "-o",
        &out_file.to_string_lossy(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    (read_jsonl(&out_file), stderr)
}

#[test]
fn a_scenario_reads_back_with_every_process_and_no_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sc = Scenario::parse(SCENARIO).expect("parse");
    let written = sc.write(&dir.path().join("logs")).expect("write");
    let (events, stderr) = events(dir.path());
    assert!(stderr.contains("problems: none"), "{stderr}");
    let total: u64 = written.counts.values().sum();
    assert_eq!(events.len() as u64, total);
    let starts = |source: &str| {
        events
            .iter()
            .filter(|e| e["kind"] == "process" && e["source"] == source)
            .count()
    };
    assert_eq!(starts("sysmon"), written.processes.len());
    assert_eq!(starts("security"), written.processes.len());
    let markers = events.iter().filter(|e| e["kind"] == "marker").count();
    assert!(markers >= 8, "{markers} markers");
    let cmd: Vec<_> = events.iter().filter(|e| e["pid"] == 4321).collect();
    assert_eq!(cmd.len(), 4, "start and exit in Sysmon and Security");
    let sysmon = cmd
        .iter()
        .find(|e| e["source"] == "sysmon" && e["kind"] == "process");
    let sysmon = sysmon.expect("sysmon start");
    assert_eq!(sysmon["user"], "WIN10-A\\alice");
    assert_eq!(sysmon["parent_image"], "C:\\Windows\\explorer.exe");
    assert_eq!(sysmon["command_line"], "cmd.exe /c whoami");
    let fake = events
        .iter()
        .find(|e| e["image"] == "C:\\Users\\Public\\lsass.exe" && e["source"] == "security")
        .expect("4688 of the planted lsass");
    assert_eq!(fake["parent_pid"], 4321);
    assert_eq!(fake["parent_image"], "C:\\Windows\\System32\\cmd.exe");
}

#[test]
fn a_generated_fleet_reads_back_whole_and_its_anomalies_are_where_the_truth_says() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = FleetConfig {
        hosts: 4,
        days: 3,
        procs_per_day: 150,
        anomalies: 9,
        ..FleetConfig::default()
    };
    let summary = generate(&cfg, dir.path(), None).expect("generate");
    let (events, stderr) = events(dir.path());
    assert!(stderr.contains("problems: none"), "{stderr}");
    assert_eq!(events.len() as u64, summary.records);
    for a in &summary.anomalies {
        for (channel, id) in &a.records {
            let source = match channel {
                Channel::Sysmon => "sysmon",
                _ => "security",
            };
            let found = events.iter().find(|e| {
                e["host"] == a.host.as_str() && e["source"] == source && e["record_id"] == *id
            });
            let e = found.unwrap_or_else(|| panic!("{a:?}: record {id} not found"));
            assert_eq!(e["pid"], a.pid, "{a:?}");
            assert_eq!(e["image"], a.image.as_str(), "{a:?}");
        }
    }
}
