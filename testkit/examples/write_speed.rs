//! Measures the writer alone: `cargo run --release -p lineage-testkit --example write_speed
//! -- [MB] [FILE]` writes about MB megabytes of Sysmon 1 records and prints MB/s.

use lineage_testkit::events::ProcessCreate;
use lineage_testkit::values::Guid;
use lineage_testkit::{EventFactory, EvtxWriter, Header};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let mb: u64 = args.get(1).map_or(Ok(512), |s| s.parse())?;
    let path = args.get(2).map_or("/tmp/write_speed.evtx", String::as_str);
    let f = EventFactory::new("WIN10-BENCH");
    let time = "2024-03-01T10:00:00Z".parse()?;
    let h = Header {
        time,
        process_id: 2468,
        thread_id: 1357,
    };
    let mut p = sample(time);
    let mut w = EvtxWriter::create(std::path::Path::new(path))?;
    let started = Instant::now();
    let mut n = 0u64;
    while n * 1400 < mb << 20 {
        p.pid = 4 * (n % 16000) as u32;
        let e = f.sysmon_process_create(&h, &p);
        w.append(&e.record)?;
        n += 1;
    }
    w.finish()?;
    let secs = started.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(path)?.len() as f64;
    println!(
        "{n} records, {:.0} MB in {secs:.2} s: {:.0} MB/s, {:.0} records/s",
        bytes / 1e6,
        bytes / 1e6 / secs,
        n as f64 / secs
    );
    Ok(())
}

fn sample(time: chrono::DateTime<chrono::Utc>) -> ProcessCreate {
    ProcessCreate {
        utc_time: time,
        guid: Guid::sysmon(0x747f3d96, 0x65e1a760, 0x0318, 3),
        pid: 0,
        image: "C:\\Windows\\System32\\svchost.exe".into(),
        file_version: "10.0.19041.1 (WinBuild.160101.0800)".into(),
        description: "Host Process for Windows Services".into(),
        product: "Microsoft® Windows® Operating System".into(),
        company: "Microsoft Corporation".into(),
        original_file_name: "svchost.exe".into(),
        command_line: "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule".into(),
        current_directory: "C:\\Windows\\system32\\".into(),
        user: "NT AUTHORITY\\SYSTEM".into(),
        logon_guid: Guid::sysmon(0x747f3d96, 0x65e1a000, 0, 0),
        logon_id: 0x3e7,
        session: 0,
        integrity: "System".into(),
        hashes: "SHA256=25589AA961B9562905DC9F14990C3A8A93B994D59EE822B3659CD927FEEB71A4".into(),
        parent_guid: Guid::sysmon(0x747f3d96, 0x65e1a000, 0x0b00, 3),
        parent_pid: 776,
        parent_image: "C:\\Windows\\System32\\services.exe".into(),
        parent_command_line: "C:\\Windows\\system32\\services.exe".into(),
        parent_user: "NT AUTHORITY\\SYSTEM".into(),
    }
}
