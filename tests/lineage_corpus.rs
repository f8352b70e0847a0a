//! Lineage on the real boot captures of `../shared/corpus/CASES.md` (skipped with a message
//! when the corpus is absent) and on `samples/`.

mod support;

use lineage::lineage::{build, BootBasis, History, HostHistory, Origin};
use std::path::{Path, PathBuf};

fn history(paths: &[PathBuf]) -> History {
    let c = support::collect_events(paths, 2);
    build(c.events)
}

fn win10(corpus: &Path, rest: &str) -> PathBuf {
    corpus
        .join("AndrewRathbun+DFIRArtifactMuseum/Windows/EventLogs/Win10")
        .join(rest)
}

fn starts(h: &HostHistory) -> Vec<String> {
    h.boots
        .iter()
        .map(|b| {
            b.start
                .map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string())
                .unwrap_or_default()
        })
        .collect()
}

fn ancestry(h: &HostHistory, i: usize) -> String {
    lineage::lineage::forest::ancestry_text(&h.processes, i, 64)
}

#[test]
fn belkasoft_security_has_24_boots_of_one_renamed_host() {
    let Some(corpus) = support::corpus() else {
        return;
    };
    let dir = "BelkasoftCTF_InsiderThreat/BelkasoftCTF_InsiderThreat";
    let h = history(&[win10(&corpus, &format!("{dir}/Security.evtx"))]);
    assert_eq!(h.hosts.len(), 1, "one machine under three names");
    let host = &h.hosts[0];
    assert_eq!(host.name, "DESKTOP-23PS6ES.praivacymatrix.com");
    assert_eq!(host.aliases.len(), 3, "{:?}", host.aliases);
    assert_eq!(host.boots.len(), 24, "{:#?}", starts(host));
    let s = starts(host);
    // The four reboots within four minutes are four boots, each from its master smss.
    for t in [
        "2020-08-07T20:00:49",
        "2020-08-07T20:01:46",
        "2020-08-07T20:03:40",
        "2020-08-07T20:04:57",
    ] {
        let b = host.boots.iter().find(|b| {
            b.start
                .is_some_and(|s| s.format("%Y-%m-%dT%H:%M:%S").to_string() == t)
        });
        let b = b.unwrap_or_else(|| panic!("no boot at {t}: {s:?}"));
        assert_eq!(b.basis, BootBasis::MasterSmss);
        assert!(b.processes_captured);
    }
    // The clock went back by 318 days inside this log: the note is kept.
    assert!(host
        .notes
        .iter()
        .any(|n| n.kind == lineage::lineage::NoteKind::ClockWentBack));
    // Each boot's core chain: wininit and services hang from the session-0 smss child.
    let services: Vec<usize> = (0..host.processes.len())
        .filter(|&i| {
            host.processes[i]
                .name()
                .eq_ignore_ascii_case("services.exe")
        })
        .collect();
    assert_eq!(services.len(), 24);
    for i in services {
        assert_eq!(
            ancestry(host, i),
            "System > smss.exe > smss.exe > wininit.exe"
        );
    }
}

#[test]
fn belkasoft_system_log_matches_the_security_boots() {
    let Some(corpus) = support::corpus() else {
        return;
    };
    let dir = "BelkasoftCTF_InsiderThreat/BelkasoftCTF_InsiderThreat";
    let h = history(&[
        win10(&corpus, &format!("{dir}/Security.evtx")),
        win10(&corpus, &format!("{dir}/System.evtx")),
    ]);
    assert_eq!(h.hosts.len(), 1);
    let host = &h.hosts[0];
    let with_kernel = host
        .boots
        .iter()
        .filter(|b| b.basis == BootBasis::KernelStart)
        .count();
    assert!(
        with_kernel >= 20,
        "Kernel-General 12 dates most boots: {with_kernel}"
    );
    // Every boot of the Security log is one boot here too (dated by its Kernel-General 12 or
    // master smss). Known limit: on 2021-02-10, where this log's clock jumps, one System
    // segment holding only a 6005 stays a boot of its own (see docs/lineage.md).
    let security_only = history(&[win10(&corpus, &format!("{dir}/Security.evtx"))]);
    for b in &security_only.hosts[0].boots {
        let t = b.start.unwrap();
        assert!(
            host.boots
                .iter()
                .any(|x| x.start.is_some_and(|s| (s - t).num_seconds().abs() <= 10)),
            "security boot {t} missing"
        );
    }
    assert!(host.boots.len() <= 25, "{:#?}", starts(host));
}

#[test]
fn rdp_sessions_attach_to_the_running_boot() {
    let Some(corpus) = support::corpus() else {
        return;
    };
    let f =
        corpus.join("sbousseaden+EVTX-ATTACK-SAMPLES/Command and Control/DE_sysmon-3-rdp-tun.evtx");
    let h = history(&[f]);
    assert_eq!(h.hosts.len(), 1);
    let host = &h.hosts[0];
    assert_eq!(host.boots.len(), 1, "{:#?}", host.boots);
    let boot = &host.boots[0];
    assert!(
        !boot.processes_captured,
        "the boot itself was before the log"
    );
    let winlogons: Vec<usize> = (0..host.processes.len())
        .filter(|&i| {
            let p = &host.processes[i];
            p.origin == Origin::Logged && p.name().eq_ignore_ascii_case("winlogon.exe")
        })
        .collect();
    assert!(!winlogons.is_empty());
    for i in winlogons {
        let p = &host.processes[i];
        assert_eq!(p.boot, 0);
        assert!(
            ancestry(host, i).ends_with("smss.exe > smss.exe"),
            "{}",
            ancestry(host, i)
        );
    }
}

#[test]
fn windows7_sysmon_boots_are_dated_by_the_smss_guid() {
    let Some(corpus) = support::corpus() else {
        return;
    };
    let f = corpus.join(
        "sbousseaden+EVTX-ATTACK-SAMPLES/Persistence/persistence_sysmon_11_13_1_shime_appfix.evtx",
    );
    let h = history(&[f]);
    assert_eq!(h.hosts.len(), 1);
    let host = &h.hosts[0];
    let dated: Vec<_> = host
        .boots
        .iter()
        .filter(|b| b.basis == BootBasis::SmssGuidTime)
        .collect();
    assert_eq!(dated.len(), 2, "{:#?}", host.boots);
    // The master smss is a placeholder dated by its GUID, started in a captured boot.
    let masters: Vec<_> = host
        .processes
        .iter()
        .filter(|p| p.origin != Origin::Logged && p.name().eq_ignore_ascii_case("smss.exe"))
        .collect();
    assert_eq!(masters.len(), 2);
    // The RDP session at 20:58:28 stays in the first boot.
    let rdp = host
        .processes
        .iter()
        .find(|p| {
            p.name().eq_ignore_ascii_case("winlogon.exe")
                && p.start
                    .is_some_and(|t| t.format("%H:%M").to_string() == "20:58")
        })
        .expect("RDP winlogon");
    let boot = &host.boots[rdp.boot];
    // Dated by the master smss GUID (20:35:19, the process clock; the log wrote the boot's
    // records at 20:41 after the clock was corrected).
    assert!(
        boot.start
            .is_some_and(|t| t.format("%H:%M:%S").to_string() == "20:35:19"),
        "{boot:#?}"
    );
}

#[test]
fn a_full_audit_dc_boot_rebuilds_to_explorer() {
    let Some(corpus) = support::corpus() else {
        return;
    };
    let f = corpus.join("Velocidex+velociraptor/artifacts/testdata/files/RDPAuth_Security.evtx");
    let h = history(&[f]);
    let host = h
        .hosts
        .iter()
        .find(|h| h.name == "dc.windomain.local")
        .expect("dc");
    let boot = host
        .boots
        .iter()
        .position(|b| b.basis == BootBasis::MasterSmss)
        .expect("captured boot");
    let find = |name: &str| {
        (0..host.processes.len())
            .find(|&i| {
                host.processes[i].boot == boot
                    && host.processes[i].name().eq_ignore_ascii_case(name)
            })
            .unwrap_or_else(|| panic!("{name}"))
    };
    assert_eq!(
        ancestry(host, find("svchost.exe")),
        "System > smss.exe > smss.exe > wininit.exe > services.exe"
    );
    assert_eq!(
        ancestry(host, find("lsass.exe")),
        "System > smss.exe > smss.exe > wininit.exe"
    );
    let explorer = ancestry(host, find("explorer.exe"));
    assert!(
        explorer.ends_with("winlogon.exe > userinit.exe"),
        "{explorer}"
    );
}

#[test]
fn renamed_win10_hosts_are_one_host_each() {
    let Some(corpus) = support::corpus() else {
        return;
    };
    let rathbun = history(&[win10(
        &corpus,
        "RathbunVM/RathbunVM_W10EventLogs/Security.evtx",
    )]);
    assert_eq!(rathbun.hosts.len(), 1);
    assert_eq!(
        rathbun.hosts[0].boots.len(),
        4,
        "{:#?}",
        starts(&rathbun.hosts[0])
    );
    let apt = history(&[win10(
        &corpus,
        "APTSimulatorVM/APTSimulatorVM_EventLogs/Security.evtx",
    )]);
    assert_eq!(apt.hosts.len(), 1);
    assert_eq!(apt.hosts[0].name, "DESKTOP-TMKU40H");
    assert_eq!(apt.hosts[0].boots.len(), 3, "{:#?}", starts(&apt.hosts[0]));
}

/// The embedded samples: Sysmon, Security and System of one machine, read together.
#[test]
fn samples_rebuild_one_host_with_its_boots() {
    let h = history(&[support::repo().join("samples")]);
    assert_eq!(
        h.hosts.len(),
        1,
        "{:?}",
        h.hosts.iter().map(|x| &x.aliases).collect::<Vec<_>>()
    );
    let host = &h.hosts[0];
    assert_eq!(host.name, "DESKTOP-TMKU40H");
    assert_eq!(host.boots.len(), 3, "{:#?}", starts(host));
    // Sysmon was installed hours into the last boot (by record order; the clock was set back
    // three hours before it): its processes belong to that boot, found by the start times in
    // their parents' GUIDs, and their services.exe parent is the one Security logged at boot.
    let sysmon_boot = host
        .processes
        .iter()
        .find(|p| p.sources.iter().any(|s| s.event_id == 1))
        .map(|p| p.boot)
        .unwrap();
    assert_eq!(
        host.boots[sysmon_boot]
            .start
            .map(|t| t.format("%H:%M").to_string()),
        Some("16:35".to_string())
    );
    let via_services = (0..host.processes.len())
        .filter(|&i| {
            let p = &host.processes[i];
            p.sources.iter().any(|s| s.event_id == 1) && p.name() == "svchost.exe"
        })
        .filter(|&i| ancestry(host, i).ends_with("wininit.exe > services.exe"))
        .count();
    assert!(
        via_services > 0,
        "Sysmon svchost linked to the Security services.exe"
    );
    // Reading the samples twice changes nothing.
    let twice = history(&[
        support::repo().join("samples"),
        support::repo().join("samples"),
    ]);
    assert_eq!(twice.hosts[0].processes.len(), host.processes.len());
    assert_eq!(twice.hosts[0].boots.len(), host.boots.len());
}

/// `lineage processes` writes the table in each format (polars builds only).
#[cfg(feature = "tables")]
#[test]
fn processes_table_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let samples = support::repo().join("samples");
    for ext in ["csv", "jsonl", "parquet"] {
        let out = dir.path().join(format!("p.{ext}"));
        let run = support::run(&[
            "processes",
            "-q",
            samples.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert!(
            run.status.success(),
            "{ext}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert!(std::fs::metadata(&out).unwrap().len() > 1000, "{ext}");
    }
    let csv = std::fs::read_to_string(dir.path().join("p.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    for col in [
        "host",
        "boot",
        "start",
        "seconds_since_boot",
        "pid",
        "image",
        "link",
        "ancestry",
        "parent_key",
    ] {
        assert!(header.split(',').any(|c| c == col), "{col} in {header}");
    }
    let rows = support::read_jsonl(&dir.path().join("p.jsonl"));
    assert!(rows.len() > 700, "{}", rows.len());
    assert!(rows.iter().all(|r| r["host"] == "DESKTOP-TMKU40H"));
}
