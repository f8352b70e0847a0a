//! The acceptance test of the synthetic fleet: `lineage scan` finds exactly the planted
//! anomalies of a generated fleet.
//!
//! A small fleet (six hosts, three days, two of every anomaly kind, fixed seed) is generated
//! into a temporary folder and the real binary scans it. Then:
//!
//! - every anomaly of `ground_truth.jsonl` is found, on its host, at its logged start time,
//!   citing its own Sysmon 1 / Security 4688 records, by exactly the rules the truth lists
//!   (a rule that stops firing, or starts firing on top, fails the test);
//! - nothing else is raised, at any severity. The background (boots, quick reboots,
//!   crashes, logons, RDP sessions, user programs, service restarts, clock corrections, PID
//!   reuse, hosts logging Sysmon + 4688 v2, 4688 v2 only or 4688 v1 only) is what Windows
//!   does and must stay clean. Low and info findings get no allowance: none is raised today,
//!   and a new one is either a generator that is not realistic (fix the generator) or a rule
//!   that is wrong (fix the rule), both worth a failing test;
//! - the plants cover a spread of rules: wrong parent, path, look-alike, original file name,
//!   once-per-boot instances, late start, accounts, session, command line, children of core
//!   processes, processes that must exit.
//!
//! About two seconds in release mode (generation ~0.5 s, scan ~1 s).

mod support;

use lineage_testkit::fleet::{generate, AnomalyKind, FleetConfig};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use support::*;

/// One planted anomaly as `ground_truth.jsonl` lists it.
#[derive(Debug)]
struct Truth {
    host: String,
    time: String,
    kind: String,
    image: String,
    pid: u64,
    rules: BTreeSet<String>,
    /// (channel, record id) of its Sysmon 1 / Security 4688.
    records: BTreeSet<(String, u64)>,
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn truth_of(v: &Value) -> Truth {
    let list = |key: &str| v[key].as_array().cloned().unwrap_or_default();
    Truth {
        host: text(&v["host"]),
        time: text(&v["time"]),
        kind: text(&v["kind"]),
        image: text(&v["image"]),
        pid: v["pid"].as_u64().unwrap_or_default(),
        rules: list("rules").iter().map(text).collect(),
        records: list("records")
            .iter()
            .map(|r| (text(&r["channel"]), r["record_id"].as_u64().unwrap_or(0)))
            .collect(),
    }
}

/// The (channel, record id) pairs a finding cites.
fn evidence(f: &Value) -> BTreeSet<(String, u64)> {
    f["evidence"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| (text(&e["channel"]), e["record_id"].as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

fn line(f: &Value) -> String {
    format!(
        "{} {} {} {} pid {} record {} {} | {}",
        text(&f["severity"]),
        text(&f["rule"]),
        text(&f["host"]),
        text(&f["time"]),
        f["pid"],
        f["record_id"],
        text(&f["ancestry"]),
        text(&f["explanation"])
    )
}

/// The rules the plants must exercise between them.
const COVERED: &[&str] = &[
    "parent.lsass",
    "parent.svchost",
    "path.core",
    "name.lookalike",
    "name.original",
    "user.core-system",
    "user.svchost",
    "session.zero",
    "instances.once-per-boot",
    "start.late",
    "exit.smss-child",
    "exit.userinit",
    "cmdline.svchost-k",
    "child.lsass",
    "child.shell-of-core",
];

#[test]
fn scan_finds_exactly_the_planted_anomalies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = FleetConfig {
        hosts: 6,
        days: 3,
        seed: 11,
        procs_per_day: 250,
        anomalies: 2 * AnomalyKind::ALL.len() as u32,
        threads: 2,
        ..FleetConfig::default()
    };
    let summary = generate(&cfg, dir.path(), None).expect("generate");
    let out = dir.path().join("scan.jsonl");
    let run = run(&[
        "scan",
        &dir.path().join("logs").to_string_lossy(),
        "--format",
        "jsonl",
        "--min-severity",
        "info",
        "--threads",
        "2",
        "-o",
        &out.to_string_lossy(),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(
        run.status.code(),
        Some(1),
        "findings reach medium: {stderr}"
    );
    assert!(stderr.contains("problems: none"), "{stderr}");
    let findings = read_jsonl(&out);
    let truth: Vec<Truth> = read_jsonl(&dir.path().join("ground_truth.jsonl"))
        .iter()
        .map(truth_of)
        .collect();
    assert_eq!(truth.len(), summary.anomalies.len());

    let kinds: BTreeSet<&str> = truth.iter().map(|t| t.kind.as_str()).collect();
    for k in AnomalyKind::ALL {
        assert!(kinds.contains(k.name()), "no {} planted", k.name());
    }
    let exercised: BTreeSet<&str> = truth
        .iter()
        .flat_map(|t| t.rules.iter().map(String::as_str))
        .collect();
    for rule in COVERED {
        assert!(exercised.contains(rule), "no plant exercises {rule}");
    }

    let mut explained = vec![false; findings.len()];
    for t in &truth {
        assert!(!t.rules.is_empty(), "{t:?}: invisible in this host's logs");
        let mut fired = BTreeSet::new();
        for (i, f) in findings.iter().enumerate() {
            if text(&f["host"]) != t.host || evidence(f).is_disjoint(&t.records) {
                continue;
            }
            explained[i] = true;
            fired.insert(text(&f["rule"]));
            assert_eq!(text(&f["time"]), t.time, "{t:?}\n{}", line(f));
            assert_eq!(f["pid"].as_u64(), Some(t.pid), "{t:?}\n{}", line(f));
            assert_eq!(text(&f["image"]), t.image, "{t:?}\n{}", line(f));
            let first = (text(&f["evidence"][0]["channel"]), f["record_id"].as_u64());
            assert!(
                t.records.contains(&(first.0, first.1.unwrap_or(0))),
                "{t:?}: the finding's record is not the start's\n{}",
                line(f)
            );
        }
        assert_eq!(fired, t.rules, "{} on {} at {}", t.kind, t.host, t.time);
    }

    let unexplained: Vec<String> = findings
        .iter()
        .zip(&explained)
        .filter(|(_, &e)| !e)
        .map(|(f, _)| line(f))
        .collect();
    let mut by_rule: BTreeMap<String, usize> = BTreeMap::new();
    for f in &findings {
        *by_rule.entry(text(&f["rule"])).or_default() += 1;
    }
    assert!(
        unexplained.is_empty(),
        "{} findings on the background (must be none at any severity):\n{}",
        unexplained.len(),
        unexplained.join("\n")
    );
    eprintln!(
        "{} planted, {} findings, all explained: {by_rule:?}",
        truth.len(),
        findings.len()
    );
}

/// Found by the fleet test (seed 20, before the generator started every planted session
/// smss.exe from the master): on a Sysmon + Security host, an smss.exe started by a
/// per-session smss.exe that never exited made lineage open a second boot dated by the
/// parent's GUID time, so the Sysmon records went to a phantom boot, every later process was
/// counted twice (two name.lookalike findings for one scvhost.exe) and neither rogue smss.exe
/// was reported by exit.smss-child. An smss.exe whose parent is an smss.exe logged in the
/// same boot now stays in that boot (`lineage/boots.rs`, `Segment::smss_guids`).
#[test]
fn a_nested_smss_child_does_not_split_the_boot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    lineage_testkit::Scenario::parse(
        r#"
host WIN10-A
sources sysmon,security-v2
boot 2024-03-01T08:00:00Z
+1m  logon WIN10-A\alice
+1h  smss.exe pid 3000 <- smss.exe cmd "\SystemRoot\System32\smss.exe 000000f4 00000084" session 9
+1h  smss.exe pid 3100 <- 3000 cmd "\SystemRoot\System32\smss.exe 000000fc 00000084" session 10
+1h  scvhost.exe pid 3200 <- services.exe
+1h  notepad.exe <- explorer.exe
+1h  exit notepad.exe
"#,
    )
    .expect("parse")
    .write(&logs)
    .expect("write");
    let out = dir.path().join("scan.jsonl");
    let run = run(&[
        "scan",
        &logs.to_string_lossy(),
        "--format",
        "jsonl",
        "-o",
        &out.to_string_lossy(),
    ]);
    assert_eq!(run.status.code(), Some(1));
    let found: Vec<(String, u64)> = read_jsonl(&out)
        .iter()
        .map(|f| (text(&f["rule"]), f["pid"].as_u64().unwrap_or(0)))
        .collect();
    let want = [
        ("exit.smss-child".to_string(), 3000),
        ("exit.smss-child".to_string(), 3100),
        // smss.exe <- smss.exe <- smss.exe: a session manager started by a session's.
        ("grandparent.smss-child".to_string(), 3100),
        ("name.lookalike".to_string(), 3200),
    ];
    assert_eq!(found, want);
}
