//! A Sysmon log of named-pipe activity only (events 17 and 18), for measuring what sightings
//! cost a scan: `cargo run --release -p lineage-testkit --example pipe_flood -- [RECORDS]
//! [PROCESSES] [FILE]` writes RECORDS pipe events (default 500,000) from PROCESSES distinct
//! processes (default 200) whose starts are not in the log, one minute apart per process, and
//! prints the file's size. Real logs look like this when the Sysmon configuration filters
//! process creation but keeps pipe or network events.

use lineage_testkit::events::PipeEvent;
use lineage_testkit::values::Guid;
use lineage_testkit::{EventFactory, EvtxWriter, Header};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let records: u64 = args.get(1).map_or(Ok(500_000), |s| s.parse())?;
    let processes: u64 = args.get(2).map_or(Ok(200), |s| s.parse())?;
    let path = args.get(3).map_or("/tmp/pipe_flood.evtx", String::as_str);
    let processes = processes.max(1);
    let f = EventFactory::new("WIN10-PIPES");
    let start: chrono::DateTime<chrono::Utc> = "2024-03-01T10:00:00Z".parse()?;
    let mut w = EvtxWriter::create(std::path::Path::new(path))?;
    for n in 0..records {
        let proc_no = n % processes;
        let time =
            start + chrono::Duration::milliseconds((n / processes * 60_000 + proc_no) as i64);
        let h = Header {
            time,
            process_id: 2468,
            thread_id: 1357,
        };
        // Each process: its own GUID (started an hour before the log), PID and image.
        let counter = u16::try_from(proc_no % 60_000)?;
        let p = PipeEvent {
            created: n % 3 == 0,
            utc_time: time,
            guid: Guid::sysmon(0x747f_3d96, 0x65e1_9950, counter + 1, 3),
            pid: 1000 + 4 * u32::try_from(proc_no)?,
            pipe_name: format!("\\PSHost.{n}.{proc_no}.DefaultAppDomain.powershell"),
            image: format!("C:\\Program Files\\Agent\\agent{proc_no}.exe"),
        };
        w.append(&f.sysmon_pipe(&h, &p).record)?;
    }
    w.finish()?;
    let bytes = std::fs::metadata(path)?.len();
    println!("{records} pipe records from {processes} processes: {path}, {bytes} bytes");
    Ok(())
}
