//! Lineage over arbitrary event sequences, then the tree rendered to memory.
//!
//! Events are decoded from the input with `arbitrary`, drawing every identity from a tiny
//! pool so that collisions are the rule: hosts that differ only in case or domain, PIDs from
//! a handful (reuse, a process its own parent), GUIDs that repeat and point at themselves,
//! the null GUID, times that go backwards or sit at the ends of what a FILETIME can hold, and
//! boot, shutdown, crash and clock markers anywhere in the sequence, and sightings (Sysmon
//! 3/17/18/22) of processes whose start may or may not be there. The baseline then scans the
//! history, so the rules' reading of placeholders (sighted or named by a child) runs too.
#![no_main]

use arbitrary::Arbitrary;
use chrono::{DateTime, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use lineage::baseline::rules::Baseline;
use lineage::model::{
    Body, Event, EventKind, Marker, MarkerKind, ProcessExit, ProcessSighting, ProcessStart, Source,
};
use lineage::report::tree::{write, TreeOptions};
use std::sync::Arc;

const HOSTS: [&str; 5] = ["WIN10-A", "win10-a", "WIN10-A.corp.local", "SRV", ""];
const IMAGES: [&str; 12] = [
    "System",
    "C:\\Windows\\System32\\smss.exe",
    "C:\\Windows\\System32\\csrss.exe",
    "C:\\Windows\\System32\\wininit.exe",
    "C:\\Windows\\System32\\winlogon.exe",
    "C:\\Windows\\System32\\services.exe",
    "C:\\Windows\\System32\\lsass.exe",
    "C:\\Windows\\System32\\svchost.exe",
    "C:\\Windows\\System32\\cmd.exe",
    "C:\\Users\\Public\\lsass.exe",
    "",
    "\\",
];
const PIDS: [u64; 6] = [0, 4, 8, 1234, 0xffff_fffc, u64::MAX];
const MARKERS: [MarkerKind; 14] = MarkerKind::ALL;

/// A GUID from a small pool: Sysmon-shaped ones (whose middle fields carry a start time),
/// the null GUID, and text that is no GUID at all.
fn guid(n: u8) -> Option<String> {
    match n % 8 {
        0 => None,
        1 => Some("{00000000-0000-0000-0000-000000000000}".into()),
        2 => Some("{747f3d96-b75f-5ea4-0100-000000000300}".into()),
        3 => Some("{747f3d96-b75f-5ea4-0200-000000000300}".into()),
        4 => Some("{747f3d96-ffff-ffff-0300-000000000300}".into()),
        5 => Some("{747f3d96-0000-0000-0400-000000000300}".into()),
        6 => Some("not-a-guid".into()),
        _ => Some("{11111111-b75f-5ea4-0100-000000000300}".into()),
    }
}

/// A time near a base, or at the ends of the FILETIME range.
fn time(t: Time) -> DateTime<Utc> {
    let base = Utc.with_ymd_and_hms(2024, 3, 1, 8, 0, 0).single();
    let at = match t {
        Time::Near(s) => {
            base.and_then(|b| b.checked_add_signed(chrono::Duration::seconds(s.into())))
        }
        Time::Far(s) => base
            .and_then(|b| b.checked_add_signed(chrono::Duration::seconds(i64::from(s) * 86_400))),
        Time::FiletimeMin => Utc.with_ymd_and_hms(1601, 1, 1, 0, 0, 0).single(),
        Time::FiletimeMax => Utc.with_ymd_and_hms(60056, 5, 28, 5, 36, 10).single(),
    };
    at.unwrap_or_default()
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Time {
    Near(i16),
    Far(i32),
    FiletimeMin,
    FiletimeMax,
}

#[derive(Arbitrary, Debug)]
enum What {
    Start {
        pid: u8,
        guid: u8,
        image: u8,
        parent_pid: u8,
        parent_guid: u8,
        parent_image: u8,
        user: bool,
    },
    Exit {
        pid: u8,
        guid: u8,
        image: u8,
    },
    Mark {
        marker: u8,
        new_time: Option<Time>,
        uptime: Option<u32>,
    },
    Seen {
        pid: u8,
        guid: u8,
        image: u8,
    },
}

#[derive(Arbitrary, Debug)]
struct Ev {
    host: u8,
    time: Time,
    logged: Option<Time>,
    sysmon: bool,
    record_id: u8,
    what: What,
}

#[derive(Arbitrary, Debug)]
struct Input {
    events: Vec<Ev>,
    pid: Option<u8>,
    guid: Option<u8>,
    ancestors: bool,
    descendants: bool,
    depth: Option<u8>,
    boot: Option<u8>,
}

fn pick<T: Copy>(pool: &[T], n: u8) -> T {
    pool[usize::from(n) % pool.len()]
}

fn event(e: &Ev) -> Event {
    let (kind, source, event_id, body) = match e.what {
        What::Start {
            pid,
            guid: g,
            image,
            parent_pid,
            parent_guid,
            parent_image,
            user,
        } => {
            let body = Body::Process(Box::new(ProcessStart {
                pid: Some(pick(&PIDS, pid)),
                guid: if e.sysmon { guid(g) } else { None },
                image: Some(pick(&IMAGES, image).to_string()),
                parent_pid: Some(pick(&PIDS, parent_pid)),
                parent_guid: if e.sysmon { guid(parent_guid) } else { None },
                parent_image: Some(pick(&IMAGES, parent_image).to_string()),
                user: user.then(|| "NT AUTHORITY\\SYSTEM".to_string()),
                ..ProcessStart::default()
            }));
            let (s, id) = if e.sysmon {
                (Source::Sysmon, 1)
            } else {
                (Source::Security, 4688)
            };
            (EventKind::Process, s, id, body)
        }
        What::Exit {
            pid,
            guid: g,
            image,
        } => {
            let body = Body::Exit(ProcessExit {
                pid: Some(pick(&PIDS, pid)),
                guid: if e.sysmon { guid(g) } else { None },
                image: Some(pick(&IMAGES, image).to_string()),
                ..ProcessExit::default()
            });
            let (s, id) = if e.sysmon {
                (Source::Sysmon, 5)
            } else {
                (Source::Security, 4689)
            };
            (EventKind::Exit, s, id, body)
        }
        What::Mark {
            marker,
            new_time,
            uptime,
        } => {
            let body = Body::Marker(Marker {
                marker: pick(&MARKERS, marker),
                new_time: new_time.map(time),
                previous_time: None,
                uptime_seconds: uptime.map(u64::from),
                detail: None,
            });
            (EventKind::Marker, Source::System, 12, body)
        }
        What::Seen {
            pid,
            guid: g,
            image,
        } => {
            let body = Body::Sighting(ProcessSighting {
                pid: Some(pick(&PIDS, pid)),
                guid: guid(g),
                image: Some(pick(&IMAGES, image).to_string()),
                ..ProcessSighting::default()
            });
            (EventKind::Sighting, Source::Sysmon, 17, body)
        }
    };
    let t = time(e.time);
    Event {
        kind,
        host: pick(&HOSTS, e.host).to_string(),
        time: t,
        logged: e.logged.map(time).unwrap_or(t),
        source,
        channel: Arc::from(""),
        provider: Arc::from(""),
        event_id,
        version: None,
        record_id: u64::from(e.record_id),
        file: Arc::from("fuzz.evtx"),
        offset: 0,
        body,
    }
}

fuzz_target!(|input: Input| {
    let mut events: Vec<Event> = input.events.iter().map(event).collect();
    // The readers hand lineage sorted events; sort as `collect` does.
    events.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    let history = lineage::lineage::build(events);
    let mut out = Vec::new();
    let _ = write(&mut out, &history.hosts, &TreeOptions::default());
    let focused = TreeOptions {
        pid: input.pid.map(|p| pick(&PIDS, p)),
        guid: input.guid.and_then(guid),
        ancestors: input.ancestors,
        descendants: input.descendants,
        depth: input.depth.map(u32::from),
        boot: input.boot.map(usize::from),
        ..TreeOptions::default()
    };
    out.clear();
    let _ = write(&mut out, &history.hosts, &focused);
    if let Some(rules) = RULES.get_or_init(|| Baseline::defaults().ok()) {
        let _ = lineage::baseline::scan(&history, rules);
    }
});

/// The default rules, loaded once.
static RULES: std::sync::OnceLock<Option<Baseline>> = std::sync::OnceLock::new();
