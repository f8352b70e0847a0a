//! Every file the writer produces must read back through the reference parser (`evtx_dump`,
//! evtx 0.15.1) with zero errors and the same values. Skips with a message when
//! `evtx_dump` is absent.

use chrono::{DateTime, Utc};
use lineage_testkit::events::{
    Account, DirtyReboot, NewProcess, NewProcessV2, PipeEvent, ProcessCreate, ProcessExit,
    ProcessTerminate, ShutdownRequest, TimeChange,
};
use lineage_testkit::values::{Guid, Sid};
use lineage_testkit::*;
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::process::Command;

fn evtx_dump() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/evtx_dump"));
    let on_path = Command::new("evtx_dump").arg("--version").output().is_ok();
    match (on_path, home) {
        (true, _) => Some(PathBuf::from("evtx_dump")),
        (false, Some(h)) if h.is_file() => Some(h),
        _ => {
            eprintln!("skipping: evtx_dump is absent (cargo install evtx --version 0.15.1)");
            None
        }
    }
}

/// `evtx_dump -o jsonl FILE`: asserts success and an empty stderr, returns the records.
fn dump(tool: &Path, file: &Path) -> Vec<Json> {
    let out = Command::new(tool)
        .args(["-o", "jsonl"])
        .arg(file)
        .output()
        .expect("run evtx_dump");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: {err}", file.display());
    assert!(err.trim().is_empty(), "{}: {err}", file.display());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    text.lines()
        .map(|l| serde_json::from_str::<Json>(l).expect("JSON line")["Event"].clone())
        .collect()
}

/// A JSON scalar as text (evtx_dump writes numbers for integer values).
fn text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

/// `EventID` is a number, or `{"#attributes": {"Qualifiers": ..}, "#text": id}`.
fn event_id(e: &Json) -> u64 {
    let id = &e["System"]["EventID"];
    id.as_u64().or_else(|| id["#text"].as_u64()).unwrap_or(0)
}

fn t(s: &str) -> DateTime<Utc> {
    s.parse().expect("time")
}

fn account(sid: &str, name: &str, domain: &str, logon: u64) -> Account {
    Account {
        sid: Sid::parse(sid).expect("sid"),
        name: name.into(),
        domain: domain.into(),
        logon_id: logon,
    }
}

fn sample_create() -> ProcessCreate {
    ProcessCreate {
        utc_time: t("2024-03-01T10:00:00.250Z"),
        guid: Guid::sysmon(0x747f3d96, 0x65e1a760, 0x0318, 3),
        pid: 4321,
        image: "C:\\Windows\\System32\\cmd.exe".into(),
        file_version: "10.0.19041.1 (WinBuild.160101.0800)".into(),
        description: "Windows Command Processor".into(),
        product: "Microsoft® Windows® Operating System".into(),
        company: "Microsoft Corporation".into(),
        original_file_name: "Cmd.Exe".into(),
        command_line: "cmd.exe /c \"whoami & echo <ünïcode> 😀\"".into(),
        current_directory: "C:\\Users\\alice\\".into(),
        user: "WIN10-A\\alice".into(),
        logon_guid: Guid::parse("{747f3d96-a000-65e1-1234-560000000000}").expect("guid"),
        logon_id: 0x1f2e3d,
        session: 1,
        integrity: "Medium".into(),
        hashes: "SHA256=00112233".into(),
        parent_guid: Guid::sysmon(0x747f3d96, 0x65e1a700, 0x0300, 3),
        parent_pid: 3960,
        parent_image: "C:\\Windows\\explorer.exe".into(),
        parent_command_line: String::new(),
        parent_user: "WIN10-A\\alice".into(),
    }
}

/// One of each event type, with the EventData fields we expect back.
fn every_kind(f: &EventFactory) -> Vec<(Event, Vec<(&'static str, String)>)> {
    let h = Header {
        time: t("2024-03-01T10:00:00.3001234Z"),
        process_id: 2468,
        thread_id: 1357,
    };
    let alice = account("S-1-5-21-1-2-3-1001", "alice", "WIN10-A", 0x1f2e3d);
    let system = account("S-1-5-18", "WIN10-A$", "WORKGROUP", 0x3e7);
    let p = sample_create();
    let v1 = NewProcess {
        subject: alice.clone(),
        pid: 4321,
        image: p.image.clone(),
        elevation: "%%1938".into(),
        creator_pid: 3960,
        command_line: p.command_line.clone(),
        v2: None,
    };
    let mut v2 = v1.clone();
    v2.v2 = Some(NewProcessV2 {
        target: system.clone(),
        parent_image: p.parent_image.clone(),
        mandatory_label: Sid::parse("S-1-16-8192").expect("sid"),
    });
    let exit = ProcessExit {
        subject: alice.clone(),
        status: 0xc000013a,
        pid: 4321,
        image: p.image.clone(),
    };
    let term = ProcessTerminate {
        utc_time: p.utc_time,
        guid: p.guid,
        pid: 4321,
        image: p.image.clone(),
        user: p.user.clone(),
    };
    let start = t("2024-03-01T08:00:00Z");
    let s = |v: &str| v.to_string();
    vec![
        (f.sysmon_process_create(&h, &p), sysmon1_fields(&p)),
        (
            f.sysmon_process_terminate(&h, &term),
            vec![
                ("ProcessId", s("4321")),
                ("ProcessGuid", p.guid.to_braced()),
            ],
        ),
        (
            f.sysmon_state(&h, "Started", "13.33", "4.81"),
            vec![("State", s("Started")), ("SchemaVersion", s("4.81"))],
        ),
        (
            f.sysmon_config(&h, "C:\\cfg.xml", "SHA256=AB"),
            vec![("Configuration", s("C:\\cfg.xml"))],
        ),
        (
            f.security_process_create(&h, &v1),
            vec![
                ("NewProcessId", s("0x10e1")),
                ("ProcessId", s("0xf78")),
                ("SubjectUserSid", s("S-1-5-21-1-2-3-1001")),
                ("SubjectLogonId", s("0x1f2e3d")),
                ("CommandLine", p.command_line.clone()),
            ],
        ),
        (
            f.security_process_create(&h, &v2),
            vec![
                ("TargetUserSid", s("S-1-5-18")),
                ("TargetUserName", s("WIN10-A$")),
                ("ParentProcessName", p.parent_image.clone()),
                ("MandatoryLabel", s("S-1-16-8192")),
            ],
        ),
        (
            f.security_process_exit(&h, &exit),
            vec![("Status", s("0xc000013a")), ("ProcessId", s("0x10e1"))],
        ),
        (f.security_startup(&h), vec![]),
        (f.security_shutdown(&h), vec![]),
        (f.eventlog_service_shutdown(&h), vec![]),
        (f.security_log_cleared(&h, &alice), vec![]),
        (
            f.kernel_boot(&h, start),
            vec![("StartTime", s("2024-03-01T08:00:00.0000000Z"))],
        ),
        (
            f.kernel_shutdown(&h, start),
            vec![("StopTime", s("2024-03-01T08:00:00.0000000Z"))],
        ),
        (f.eventlog_started(&h), vec![]),
        (f.eventlog_stopped(&h), vec![]),
        (f.unexpected_shutdown(&h, start), vec![]),
        (f.uptime(&h, 86400), vec![]),
        (
            f.security_time_changed(&h, &time_change()),
            time_change_fields(),
        ),
        (f.system_log_cleared(&h, &alice, "System"), vec![]),
        (f.dirty_reboot(&h, &bugcheck()), bugcheck_fields()),
        (
            f.shutdown_requested(&h, &restart_request()),
            restart_request_fields(),
        ),
        (
            f.sysmon_pipe(&h, &pipe(true)),
            vec![
                ("EventType", s("CreatePipe")),
                ("UtcTime", s("2024-03-01 10:00:00.250")),
                ("ProcessGuid", p.guid.to_braced()),
                ("ProcessId", s("4321")),
                ("PipeName", s("\\svchost-WIN10-A-8116-stdin")),
                ("Image", s("C:\\Windows\\svchost.exe")),
            ],
        ),
        (
            f.sysmon_pipe(&h, &pipe(false)),
            vec![("EventType", s("ConnectPipe")), ("ProcessId", s("4321"))],
        ),
    ]
}

/// A renamed PsExec service in `C:\Windows` creating (or connecting to) its stdin pipe.
fn pipe(created: bool) -> PipeEvent {
    let p = sample_create();
    PipeEvent {
        created,
        utc_time: p.utc_time,
        guid: p.guid,
        pid: p.pid,
        pipe_name: "\\svchost-WIN10-A-8116-stdin".into(),
        image: "C:\\Windows\\svchost.exe".into(),
    }
}

/// The Windows Time service setting the clock back 250 ms (Security 4616).
fn time_change() -> TimeChange {
    TimeChange {
        subject: account("S-1-5-19", "LOCAL SERVICE", "NT AUTHORITY", 0x3e5),
        previous: t("2024-03-01T10:00:00.5501234Z"),
        new: t("2024-03-01T10:00:00.3001234Z"),
        pid: 0x660,
        image: "C:\\Windows\\System32\\svchost.exe".into(),
    }
}

fn time_change_fields() -> Vec<(&'static str, String)> {
    vec![
        ("SubjectUserSid", "S-1-5-19".into()),
        ("SubjectUserName", "LOCAL SERVICE".into()),
        ("SubjectLogonId", "0x3e5".into()),
        ("PreviousTime", "2024-03-01T10:00:00.5501234Z".into()),
        ("NewTime", "2024-03-01T10:00:00.3001234Z".into()),
        ("ProcessId", "0x660".into()),
        ("ProcessName", "C:\\Windows\\System32\\svchost.exe".into()),
    ]
}

/// A bugcheck 0x133 (DPC_WATCHDOG_VIOLATION) before the reboot (Kernel-Power 41).
fn bugcheck() -> DirtyReboot {
    DirtyReboot {
        bugcheck_code: 0x133,
        bugcheck_parameters: [1, 0x1e00, 0xfffff8024d2fb320, 0],
        power_button_timestamp: 133_541_000_000_000_000,
        checkpoint: 41,
        system_sleep_transitions_to_on: 3,
        bugcheck_info_from_efi: true,
        ..DirtyReboot::default()
    }
}

fn bugcheck_fields() -> Vec<(&'static str, String)> {
    let s = |v: &str| v.to_string();
    vec![
        ("BugcheckCode", s("307")),
        ("BugcheckParameter1", s("0x1")),
        ("BugcheckParameter2", s("0x1e00")),
        ("BugcheckParameter3", s("0xfffff8024d2fb320")),
        ("BugcheckParameter4", s("0x0")),
        ("SleepInProgress", s("0")),
        ("PowerButtonTimestamp", s("133541000000000000")),
        ("BootAppStatus", s("0")),
        ("Checkpoint", s("41")),
        ("ConnectedStandbyInProgress", s("false")),
        ("SystemSleepTransitionsToOn", s("3")),
        ("CsEntryScenarioInstanceId", s("0")),
        ("BugcheckInfoFromEFI", s("true")),
        ("CheckpointStatus", s("0")),
    ]
}

/// A person restarting from the Start menu (User32 1074).
fn restart_request() -> ShutdownRequest {
    ShutdownRequest {
        process: "C:\\Windows\\System32\\RuntimeBroker.exe (WIN10-A)".into(),
        reason: "Other (Unplanned)".into(),
        reason_code: 0,
        action: "restart".into(),
        comment: String::new(),
        user: "WIN10-A\\alice".into(),
        user_sid: Sid::parse("S-1-5-21-1-2-3-1001").expect("sid"),
    }
}

fn restart_request_fields() -> Vec<(&'static str, String)> {
    let s = |v: &str| v.to_string();
    vec![
        (
            "param1",
            s("C:\\Windows\\System32\\RuntimeBroker.exe (WIN10-A)"),
        ),
        ("param2", s("WIN10-A")),
        ("param3", s("Other (Unplanned)")),
        ("param4", s("0x0")),
        ("param5", s("restart")),
        ("param6", s("")),
        ("param7", s("WIN10-A\\alice")),
    ]
}

fn sysmon1_fields(p: &ProcessCreate) -> Vec<(&'static str, String)> {
    vec![
        ("RuleName", "-".into()),
        ("UtcTime", "2024-03-01 10:00:00.250".into()),
        (
            "ProcessGuid",
            "{747f3d96-a760-65e1-1803-000000000300}".into(),
        ),
        ("ProcessId", "4321".into()),
        ("Image", p.image.clone()),
        ("OriginalFileName", "Cmd.Exe".into()),
        ("CommandLine", p.command_line.clone()),
        ("User", p.user.clone()),
        ("LogonGuid", "{747f3d96-a000-65e1-1234-560000000000}".into()),
        ("LogonId", "0x1f2e3d".into()),
        ("TerminalSessionId", "1".into()),
        ("IntegrityLevel", "Medium".into()),
        ("ParentProcessGuid", p.parent_guid.to_braced()),
        ("ParentProcessId", "3960".into()),
        ("ParentImage", p.parent_image.clone()),
        ("ParentCommandLine", String::new()),
        ("ParentUser", p.user.clone()),
    ]
}

fn check_system(e: &Json, expected: &Event, id: u64) {
    let sys = &e["System"];
    assert_eq!(sys["EventRecordID"], id);
    assert_eq!(text(&sys["Channel"]), expected.channel.name());
    assert_eq!(text(&sys["Computer"]), "WIN10-A");
    let time = &sys["TimeCreated"]["#attributes"]["SystemTime"];
    assert_eq!(text(time), "2024-03-01T10:00:00.3001234Z");
    let exec = &sys["Execution"]["#attributes"];
    assert_eq!(
        (exec["ProcessID"].clone(), exec["ThreadID"].clone()),
        (2468.into(), 1357.into())
    );
}

#[test]
fn every_event_type_reads_back_with_its_values() {
    let Some(tool) = evtx_dump() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("all.evtx");
    let f = EventFactory::new("WIN10-A");
    let kinds = every_kind(&f);
    let mut w = EvtxWriter::create(&path).expect("create");
    for (e, _) in &kinds {
        w.append(&e.record).expect("append");
    }
    w.finish().expect("finish");
    let read = dump(&tool, &path);
    assert_eq!(read.len(), kinds.len());
    for (i, (got, (want, fields))) in read.iter().zip(&kinds).enumerate() {
        check_system(got, want, i as u64 + 1);
        for (name, value) in fields {
            assert_eq!(
                &text(&got["EventData"][name]),
                value,
                "record {} {name}",
                i + 1
            );
        }
    }
    let provider = |i: usize| text(&read[i]["System"]["Provider"]["#attributes"]["Guid"]);
    assert_eq!(provider(0), "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}");
    assert_eq!(provider(4), "{54849625-5478-4994-a5ba-3e3b0328c30d}");
    assert_eq!(read[4]["System"]["Version"], 1);
    assert_eq!(read[5]["System"]["Version"], 2);
    assert!(read[4]["EventData"].get("TargetUserSid").is_none());
    let cleared = &read[10]["UserData"]["LogFileCleared"];
    assert_eq!(text(&cleared["SubjectUserName"]), "alice");
    let uptime = &read[16]["EventData"]["Data"]["#text"];
    assert_eq!(text(&uptime[4]), "86400");
    check_new_markers(&read);
    // Sysmon 17/18 as in the corpus: version 1, task = event id.
    for (i, id) in [(21, 17), (22, 18)] {
        assert_eq!(event_id(&read[i]), id);
        assert_eq!(read[i]["System"]["Version"], 1);
        assert_eq!(read[i]["System"]["Task"], id);
        assert_eq!(text(&read[i]["EventData"]["RuleName"]), "");
    }
}

/// The System values of 4616, 104, 41 and 1074 are the ones Windows writes (records of
/// `../shared/corpus`: APTSimulatorVM and BelkasoftCTF Security/System, the mdecrevoisier
/// log-clearing sample).
fn check_new_markers(read: &[Json]) {
    let sys = |i: usize| &read[i]["System"];
    let provider = |i: usize, attr: &str| text(&sys(i)["Provider"]["#attributes"][attr]);
    let user = |i: usize| text(&sys(i)["Security"]["#attributes"]["UserID"]);
    // (record, event id, version, level, task, keywords, provider, provider GUID, UserID)
    let expected = [
        (
            17,
            4616,
            1,
            0,
            12288,
            "0x8020000000000000",
            "Microsoft-Windows-Security-Auditing",
            "{54849625-5478-4994-a5ba-3e3b0328c30d}",
            "",
        ),
        (
            18,
            104,
            0,
            4,
            104,
            "0x8000000000000000",
            "Microsoft-Windows-Eventlog",
            "{fc65ddd8-d6ef-4962-83d5-6e5cfe9ce148}",
            "S-1-5-21-1-2-3-1001",
        ),
        (
            19,
            41,
            6,
            1,
            63,
            "0x8000400000000002",
            "Microsoft-Windows-Kernel-Power",
            "{331c3b3a-2005-44c2-ac5e-77220c37d6b4}",
            "S-1-5-18",
        ),
        (
            20,
            1074,
            0,
            4,
            0,
            "0x8080000000000000",
            "User32",
            "{b0aa8734-56f7-41cc-b2f4-de228e98b946}",
            "S-1-5-21-1-2-3-1001",
        ),
    ];
    for (i, id, version, level, task, keywords, name, guid, sid) in expected {
        assert_eq!(event_id(&read[i]), id, "record {}", i + 1);
        assert_eq!(sys(i)["Version"], version, "{id}");
        assert_eq!(sys(i)["Level"], level, "{id}");
        assert_eq!(sys(i)["Task"], task, "{id}");
        assert_eq!(text(&sys(i)["Keywords"]), keywords, "{id}");
        assert_eq!(provider(i, "Name"), name, "{id}");
        assert_eq!(provider(i, "Guid"), guid, "{id}");
        assert_eq!(user(i), sid, "{id}");
    }
    assert_eq!(text(&sys(18)["Channel"]), "System");
    let cleared = &read[18]["UserData"]["LogFileCleared"];
    assert_eq!(text(&cleared["SubjectUserName"]), "alice");
    assert_eq!(text(&cleared["SubjectDomainName"]), "WIN10-A");
    assert_eq!(text(&cleared["Channel"]), "System");
    assert_eq!(text(&cleared["BackupPath"]), "");
    assert_eq!(provider(20, "EventSourceName"), "User32");
    assert_eq!(sys(20)["EventID"]["#attributes"]["Qualifiers"], 32768);
}

#[test]
fn many_chunks_read_back_in_order() {
    let Some(tool) = evtx_dump() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.evtx");
    let f = EventFactory::new("WIN10-A");
    let mut w = EvtxWriter::create(&path).expect("create");
    let mut p = sample_create();
    let h = Header {
        time: t("2024-03-01T10:00:00Z"),
        process_id: 1,
        thread_id: 2,
    };
    for i in 0..3000u32 {
        p.pid = 4 * i;
        p.command_line = "x".repeat((i % 700) as usize);
        w.append(&f.sysmon_process_create(&h, &p).record)
            .expect("append");
    }
    w.finish().expect("finish");
    let len = std::fs::metadata(&path).expect("meta").len();
    assert!(len > 4096 + 20 * 65536, "{len} bytes: several chunks");
    let read = dump(&tool, &path);
    assert_eq!(read.len(), 3000);
    for (i, e) in read.iter().enumerate() {
        assert_eq!(e["System"]["EventRecordID"], i as u64 + 1);
        assert_eq!(e["EventData"]["ProcessId"], 4 * i as u64);
    }
}

#[test]
fn records_larger_than_a_chunk_are_rejected_and_the_log_goes_on() {
    let f = EventFactory::new("WIN10-A");
    let h = Header {
        time: t("2024-03-01T10:00:00Z"),
        process_id: 1,
        thread_id: 2,
    };
    let mut p = sample_create();
    let mut w = EvtxWriter::new(std::io::Cursor::new(Vec::new()), 1).expect("writer");
    p.command_line = "y".repeat(40_000);
    assert!(matches!(
        w.append(&f.sysmon_process_create(&h, &p).record),
        Err(WriteError::ValueTooLarge { .. })
    ));
    // Each value and the EventData fragment fit their 16-bit sizes; the record does not fit
    // the 65024 bytes a chunk has for records.
    p.command_line = "y".repeat(20_000);
    p.parent_command_line = "z".repeat(11_400);
    assert!(matches!(
        w.append(&f.sysmon_process_create(&h, &p).record),
        Err(WriteError::RecordTooLarge { .. })
    ));
    let ok = sample_create();
    assert_eq!(
        w.append(&f.sysmon_process_create(&h, &ok).record)
            .expect("ok"),
        1
    );
    let bytes = w.finish().expect("finish").into_inner();
    assert_eq!(bytes.len(), 4096 + 65536);
}

const SCENARIO: &str = r#"
host WIN10-A
sources sysmon,security-v2
boot 2024-03-01T08:00:00Z
+1m  logon WIN10-A\alice
+2h  cmd.exe pid 4321 <- explorer.exe cmd "cmd.exe /c whoami"
+2h  lsass.exe <- cmd.exe image C:\Users\Public\lsass.exe user WIN10-A\alice
+10m rdp CORP\bob
+1h  logoff CORP\bob
+3h  exit cmd.exe status 0xc000013a
+1h  clock -2h
+4h  shutdown
boot +10m
+1h  crash
boot +5m
+1m  logon WIN10-A\alice
+1m  notepad.exe pid 4321 <- explorer.exe
"#;

/// The scenario's files read back completely; every process start is there with its pid,
/// GUID (start seconds inside) and true parent, in Sysmon and in Security.
#[test]
fn scenario_files_read_back_with_every_process_and_parent() {
    let Some(tool) = evtx_dump() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let sc = Scenario::parse(SCENARIO).expect("parse");
    let written = sc.write(dir.path()).expect("write");
    let mut by_channel = std::collections::BTreeMap::new();
    for c in Channel::ALL {
        let records = dump(&tool, &dir.path().join(c.file_name()));
        assert_eq!(
            Some(&(records.len() as u64)),
            written.counts.get(&c),
            "{c:?}"
        );
        by_channel.insert(c, records);
    }
    let sysmon = &by_channel[&Channel::Sysmon];
    let creates: Vec<&Json> = sysmon
        .iter()
        .filter(|e| e["System"]["EventID"] == 1)
        .collect();
    assert_eq!(creates.len(), written.processes.len());
    for (e, p) in creates.iter().zip(&written.processes) {
        let d = &e["EventData"];
        assert_eq!(d["ProcessId"], p.pid);
        assert_eq!(text(&d["ProcessGuid"]), p.guid.to_braced());
        assert_eq!(text(&d["Image"]), p.image);
        assert_eq!(d["ParentProcessId"], p.parent_pid);
        assert_eq!(text(&d["ParentProcessGuid"]), p.parent_guid.to_braced());
    }
    assert_eq!(
        creates
            .iter()
            .filter(|e| e["EventData"]["ProcessId"] == 4321)
            .count(),
        2
    );
    let fake = creates
        .iter()
        .find(|e| text(&e["EventData"]["Image"]) == "C:\\Users\\Public\\lsass.exe")
        .expect("planted lsass");
    assert_eq!(
        text(&fake["EventData"]["ParentImage"]),
        "C:\\Windows\\System32\\cmd.exe"
    );
    assert_eq!(text(&fake["EventData"]["User"]), "WIN10-A\\alice");
    check_guid_seconds(creates[0]);
    check_security(&by_channel[&Channel::Security]);
    check_system_log(&by_channel[&Channel::System]);
}

/// The GUID's 2nd and 3rd fields, read as a little-endian u32, are the start's Unix seconds.
fn check_guid_seconds(e: &Json) {
    let guid = text(&e["EventData"]["ProcessGuid"]);
    let parts: Vec<&str> = guid.trim_matches(['{', '}']).split('-').collect();
    let secs = u32::from_str_radix(&format!("{}{}", parts[2], parts[1]), 16).expect("hex");
    let utc = text(&e["EventData"]["UtcTime"]);
    let start = chrono::NaiveDateTime::parse_from_str(&utc, "%Y-%m-%d %H:%M:%S%.3f").expect("t");
    assert_eq!(i64::from(secs), start.and_utc().timestamp());
}

fn check_security(records: &[Json]) {
    let ids: Vec<u64> = records.iter().map(event_id).collect();
    // The log was never cleared: the first boot's 4608 is there, and the shutdown markers.
    for id in [4608, 4609, 1100, 4688, 4689] {
        assert!(ids.contains(&id), "{id} missing");
    }
    let cmd = records
        .iter()
        .find(|e| e["EventData"]["NewProcessId"] == "0x10e1")
        .expect("4688 for pid 4321");
    assert_eq!(cmd["System"]["Version"], 2);
    assert_eq!(
        text(&cmd["EventData"]["ParentProcessName"]),
        "C:\\Windows\\explorer.exe"
    );
    let exit = records
        .iter()
        .find(|e| e["System"]["EventID"] == 4689 && e["EventData"]["ProcessId"] == "0x10e1")
        .expect("4689 for pid 4321");
    assert_eq!(text(&exit["EventData"]["Status"]), "0xc000013a");
}

fn check_system_log(records: &[Json]) {
    let ids: Vec<u64> = records.iter().map(event_id).collect();
    assert_eq!(ids.iter().filter(|&&i| i == 12).count(), 3, "three boots");
    assert_eq!(ids.iter().filter(|&&i| i == 6008).count(), 1, "one crash");
    assert_eq!(
        ids.iter().filter(|&&i| i == 13).count(),
        1,
        "one clean shutdown"
    );
}
