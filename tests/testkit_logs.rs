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

const MARKERS: &str = r#"
host WIN10-A
sources sysmon,security-v2
boot 2024-03-01T08:00:00Z
+1m   logon WIN10-A\alice
+1h   clock -250ms by svchost.exe
+1h   clear system by CORP\admin
+1h   restart by WIN10-A\alice
+1h   crash
boot +5m
+1h   clear sysmon by WIN10-A\alice
+1h   shutdown by update
"#;

/// The boot, clock and log markers the testkit writes (4616, 104, Kernel-Power 41, User32
/// 1074 among them) read back through `lineage events --kind marker` as the right markers
/// with their details, through the fast decoder.
#[test]
fn scenario_markers_read_back_as_the_right_markers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let written = Scenario::parse(MARKERS)
        .expect("parse")
        .write(&dir.path().join("logs"))
        .expect("write");
    assert!(written.counts[&Channel::System] > 0);
    let out_file = dir.path().join("markers.jsonl");
    let out = run(&[
        "events",
        &dir.path().join("logs").to_string_lossy(),
        "--kind",
        "marker",
        "--format",
        "jsonl",
        "-o",
        &out_file.to_string_lossy(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("problems: none"), "{stderr}");
    let markers = read_jsonl(&out_file);
    let of = |id: u64| -> Vec<&serde_json::Value> {
        markers.iter().filter(|m| m["event_id"] == id).collect()
    };
    let one = |id: u64| {
        let all = of(id);
        assert_eq!(all.len(), 1, "event {id}: {all:?}");
        all[0].clone()
    };

    let clock = one(4616);
    assert_eq!(clock["marker"], "time_changed");
    assert_eq!(clock["source"], "security");
    assert_eq!(clock["detail"], "C:\\Windows\\System32\\svchost.exe");
    let t = |v: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_default()).expect("time")
    };
    let step = t(&clock["previous_time"]) - t(&clock["new_time"]);
    assert_eq!(step.num_milliseconds(), 250);
    assert_eq!(
        clock["new_time"], clock["time"],
        "logged with the new clock"
    );

    let clears = of(104);
    assert_eq!(clears.len(), 2, "{clears:?}");
    assert!(clears.iter().all(|m| m["marker"] == "log_cleared"));
    // The System log's own clear is the first record of its new file.
    assert_eq!(clears[0]["detail"], "System cleared by CORP\\admin");
    let first_system = markers
        .iter()
        .filter(|m| m["source"] == "system")
        .filter_map(|m| m["record_id"].as_u64())
        .min();
    assert_eq!(clears[0]["record_id"].as_u64(), first_system);
    assert_eq!(
        clears[1]["detail"],
        "Microsoft-Windows-Sysmon/Operational cleared by WIN10-A\\alice"
    );

    let requests = of(1074);
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(requests.iter().all(|m| m["marker"] == "shutdown_requested"));
    assert_eq!(
        requests[0]["detail"],
        "restart; C:\\Windows\\System32\\RuntimeBroker.exe (WIN10-A); WIN10-A\\alice; \
         Other (Unplanned)"
    );
    assert_eq!(
        requests[1]["detail"],
        "power off; C:\\Windows\\system32\\svchost.exe (WIN10-A); NT AUTHORITY\\SYSTEM; \
         Operating System: Service pack (Planned)"
    );

    // The fast decoder hands EventLog's insertion-string arrays (6008, 6013) to the evtx
    // renderer; the new markers need no such help.
    let rendered = stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("records of unusual shape read through the evtx renderer: ")
        })
        .map_or(0, |n| n.parse::<usize>().unwrap_or(usize::MAX));
    assert_eq!(rendered, of(6008).len() + of(6013).len(), "{stderr}");

    let crash = one(41);
    assert_eq!(crash["marker"], "dirty_reboot");
    assert_eq!(crash["source"], "system");
    assert_eq!(one(6008)["marker"], "unexpected_shutdown");
    // The first boot's markers went with the System clear: the restart's boot and the one
    // after the crash remain; two clean shutdowns (4609 and 6006 each).
    assert_eq!(of(12).len(), 2);
    assert_eq!(of(4609).len() + of(6006).len(), 4);
}
