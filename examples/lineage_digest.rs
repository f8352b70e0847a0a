//! A full text dump of rebuilt histories, to show that a change to the lineage code (a speed-up,
//! a refactor) leaves every result exactly as it was: run it before and after, compare digests
//! (`| sha256sum`), and `diff` the dumps when they differ.
//!
//! ```text
//! cargo run --release --no-default-features --example lineage_digest -- synth | sha256sum
//! cargo run --release --no-default-features --example lineage_digest -- corpus ../shared/corpus | sha256sum
//! ```
//!
//! `synth` rebuilds generated histories (Sysmon only, 4688 v1 and v2, both logs, no exits, tiny
//! PID pools, events shuffled and duplicated); `corpus DIR` rebuilds every EVTX file under DIR
//! on its own and then all of them together; `hostile` rebuilds thousands of small random event
//! sets whose identities collide on purpose (host names in several cases, GUIDs in both cases and
//! malformed, repeated record ids, the same record in two files, clocks at the ends of time). Every field of the result is written through its
//! public API or its serde form, so the dump does not depend on how the types store their data.

use chrono::{DateTime, Duration, Utc};
use lineage::app::{collect, ReadConfig};
use lineage::extract::Filter;
use lineage::lineage::synth::{generate, SynthConfig};
use lineage::lineage::{build, History, ParentLink, Process};
use lineage::model::{
    Body, Event, EventKind, Marker, MarkerKind, ProcessExit, ProcessStart, Source,
};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match args.first().map(String::as_str) {
        Some("synth") => synth(&mut out)?,
        Some("hostile") => hostile(&mut out)?,
        Some("corpus") => {
            let dir = args.get(1).map_or("../shared/corpus", String::as_str);
            corpus(&mut out, &PathBuf::from(dir))?;
        }
        _ => anyhow::bail!("usage: lineage_digest synth | hostile | corpus DIR"),
    }
    out.flush()?;
    Ok(())
}

fn synth(out: &mut impl Write) -> anyhow::Result<()> {
    let mut configs = Vec::new();
    for (seed, pool) in [(1, 16), (2, 64), (3, 256)] {
        for (sysmon, security) in [
            (true, None),
            (false, Some(1)),
            (false, Some(2)),
            (true, Some(2)),
        ] {
            for log_exits in [true, false] {
                configs.push(SynthConfig {
                    seed,
                    hosts: 3,
                    boots_per_host: 3,
                    processes_per_boot: 300,
                    pid_pool: pool,
                    exit_chance: 0.7,
                    sysmon,
                    security,
                    log_exits,
                });
            }
        }
    }
    // The benchmark's shape (a large PID pool, many processes per boot), both logs.
    configs.push(SynthConfig {
        seed: 42,
        hosts: 20,
        boots_per_host: 10,
        processes_per_boot: 1000,
        pid_pool: 4096,
        exit_chance: 0.8,
        sysmon: true,
        security: Some(2),
        log_exits: true,
    });
    for cfg in &configs {
        writeln!(out, "== {cfg:?}")?;
        let (events, _) = generate(cfg);
        dump(out, &build(events.clone()))?;
        // Shuffled and duplicated: the result must be the same, and the dump shows it.
        let mut twice = shuffled(events.clone(), cfg.seed);
        twice.extend(shuffled(events, cfg.seed + 7));
        writeln!(out, "== shuffled and duplicated")?;
        dump(out, &build(twice))?;
    }
    Ok(())
}

fn shuffled(mut v: Vec<Event>, seed: u64) -> Vec<Event> {
    let mut x = seed | 1;
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
    v
}

fn corpus(out: &mut impl Write, dir: &std::path::Path) -> anyhow::Result<()> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build()?;
    let mut files: Vec<PathBuf> = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let p = entry?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("evtx"))
            {
                files.push(p);
            }
        }
    }
    files.sort();
    let read = |paths: Vec<PathBuf>| -> anyhow::Result<Vec<Event>> {
        let cfg = ReadConfig {
            paths,
            threads: 2,
            follow_links: false,
            progress: false,
            summary: false,
            filter: Filter::default(),
            issues: None,
        };
        Ok(collect(&cfg, false, &pool)
            .map_err(anyhow::Error::msg)?
            .events)
    };
    for f in &files {
        writeln!(out, "== {}", f.display())?;
        dump(out, &build(read(vec![f.clone()])?))?;
    }
    writeln!(out, "== all {} files together", files.len())?;
    dump(out, &build(read(files)?))?;
    Ok(())
}

fn dump(out: &mut impl Write, h: &History) -> anyhow::Result<()> {
    writeln!(out, "stats {}", serde_json::to_string(&h.stats)?)?;
    for host in &h.hosts {
        writeln!(out, "host {:?} aliases {:?}", host.name, host.aliases)?;
        for j in &host.joined_by {
            writeln!(out, " joined {j}")?;
        }
        for b in &host.boots {
            writeln!(out, " boot {}", serde_json::to_string(b)?)?;
        }
        for n in &host.notes {
            writeln!(out, " note {}", serde_json::to_string(n)?)?;
        }
        for (i, p) in host.processes.iter().enumerate() {
            dump_process(out, i, p)?;
        }
    }
    Ok(())
}

fn dump_process(out: &mut impl Write, i: usize, p: &Process) -> anyhow::Result<()> {
    let link = match &p.parent {
        ParentLink::Linked {
            parent,
            method,
            confidence,
        } => format!("{} {parent} {}", method.as_str(), confidence.as_str()),
        ParentLink::Ambiguous { candidates } => format!("ambiguous {candidates:?}"),
        other => other.state().to_string(),
    };
    writeln!(
        out,
        " p{i} boot {} start {:?} end {:?} {} {} depth {} link {link}",
        p.boot,
        p.start,
        p.end,
        p.end_reason.as_str(),
        p.origin.as_str(),
        p.depth
    )?;
    writeln!(out, "  info {}", serde_json::to_string(&*p.info)?)?;
    writeln!(out, "  sources {}", serde_json::to_string(&p.sources)?)?;
    writeln!(out, "  exit {}", serde_json::to_string(&p.exit)?)?;
    // Only where a sighting named the process, so histories without sightings digest as
    // before.
    if let Some(s) = &p.seen {
        writeln!(
            out,
            "  seen {:?} {}",
            s.time,
            serde_json::to_string(&s.record)?
        )?;
    }
    Ok(())
}

/// xorshift64: fixed, dependency-free randomness for the hostile sets.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<T: Copy>(&mut self, pool: &[T]) -> T {
        pool[(self.next() % pool.len() as u64) as usize]
    }
    fn maybe<T: Copy>(&mut self, pool: &[T]) -> Option<T> {
        (self.next() % 4 != 0).then(|| self.pick(pool))
    }
}

const HOSTS: [&str; 6] = ["WIN10-A", "win10-a", "WIN10-A.corp.local", "SRV", "srv", ""];
const FILES: [&str; 4] = [
    "a/Security.evtx",
    "a/Sysmon.evtx",
    "b/System.evtx",
    "copy.evtx",
];
const CHANNELS: [&str; 3] = ["Security", "Microsoft-Windows-Sysmon/Operational", "System"];
const IMAGES: [&str; 10] = [
    "System",
    r"C:\Windows\System32\smss.exe",
    r"\SystemRoot\System32\smss.exe",
    "Registry",
    r"C:\Windows\System32\wininit.exe",
    r"C:\Windows\System32\services.exe",
    r"C:\WINDOWS\system32\svchost.exe",
    r"C:\Windows\System32\cmd.exe",
    r"C:\Users\Public\lsass.exe",
    "-",
];
const GUIDS: [&str; 9] = [
    "{00000000-0000-0000-0000-000000000000}",
    "{747f3d96-b75f-5ea4-0100-000000000300}",
    "{747F3D96-B75F-5EA4-0100-000000000300}",
    "{747f3d96-b760-5ea4-0200-000000000300}",
    "{747f3d96-ffff-ffff-0300-000000000300}",
    "{747f3d96-0000-0000-0400-000000000300}",
    "{11111111-b75f-5ea4-0100-000000000300}",
    "747f3d96-b75f-5ea4-0100-000000000300",
    "not-a-guid",
];
const PIDS: [u64; 7] = [0, 4, 8, 12, 1234, 0xffff_fffc, u64::MAX];
const MARKERS: [MarkerKind; 14] = MarkerKind::ALL;

fn hostile(out: &mut impl Write) -> anyhow::Result<()> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for n in 0..3000 {
        let len = 1 + rng.next() % if n % 10 == 0 { 600 } else { 60 };
        let mut events: Vec<Event> = (0..len).map(|_| hostile_event(&mut rng)).collect();
        // Some records read twice, from the same file or from a copy.
        for _ in 0..rng.next() % 4 {
            let i = (rng.next() % events.len() as u64) as usize;
            let mut copy = events[i].clone();
            if rng.next() % 2 == 0 {
                copy.file = Arc::from("copy.evtx");
            }
            events.push(copy);
        }
        writeln!(out, "== hostile {n}")?;
        dump(out, &build(events))?;
    }
    Ok(())
}

fn hostile_event(rng: &mut Rng) -> Event {
    let base = DateTime::from_timestamp(1_588_000_000, 0).unwrap_or_default();
    let time = match rng.next() % 20 {
        0 => DateTime::<Utc>::MIN_UTC,
        1 => base + Duration::days(400),
        _ => base + Duration::milliseconds((rng.next() % 600_000) as i64),
    };
    let logged = if rng.next() % 8 == 0 {
        base + Duration::seconds((rng.next() % 600) as i64)
    } else {
        time
    };
    let sysmon = rng.next() % 2 == 0;
    let (kind, source, event_id, body) = match rng.next() % 10 {
        0..=5 => {
            let guid = |rng: &mut Rng| {
                if sysmon {
                    rng.maybe(&GUIDS).map(str::to_string)
                } else {
                    None
                }
            };
            let info = ProcessStart {
                pid: rng.maybe(&PIDS),
                guid: guid(rng),
                image: rng.maybe(&IMAGES).map(str::to_string),
                command_line: rng.maybe(&["a", "b"]).map(str::to_string),
                user: rng.maybe(&["NT AUTHORITY\\SYSTEM"]).map(str::to_string),
                parent_pid: rng.maybe(&PIDS),
                parent_guid: guid(rng),
                parent_image: rng.maybe(&IMAGES).map(str::to_string),
                subject_user: rng.maybe(&["CORP\\admin"]).map(str::to_string),
                token_elevation_type: rng.maybe(&["%%1936"]).map(str::to_string),
                ..ProcessStart::default()
            };
            let (s, id) = if sysmon {
                (Source::Sysmon, 1)
            } else {
                (Source::Security, 4688)
            };
            (EventKind::Process, s, id, Body::Process(Box::new(info)))
        }
        6..=7 => {
            let x = ProcessExit {
                pid: rng.maybe(&PIDS),
                guid: if sysmon {
                    rng.maybe(&GUIDS).map(str::to_string)
                } else {
                    None
                },
                image: rng.maybe(&IMAGES).map(str::to_string),
                ..ProcessExit::default()
            };
            let (s, id) = if sysmon {
                (Source::Sysmon, 5)
            } else {
                (Source::Security, 4689)
            };
            (EventKind::Exit, s, id, Body::Exit(x))
        }
        _ => {
            let m = Marker {
                marker: rng.pick(&MARKERS),
                new_time: (rng.next() % 2 == 0)
                    .then(|| base + Duration::seconds((rng.next() % 900) as i64 - 300)),
                previous_time: None,
                uptime_seconds: None,
                detail: rng.maybe(&["cleared by admin"]).map(str::to_string),
            };
            (EventKind::Marker, Source::System, 12, Body::Marker(m))
        }
    };
    Event {
        kind,
        host: rng.pick(&HOSTS).to_string(),
        time,
        logged,
        source,
        channel: Arc::from(rng.pick(&CHANNELS)),
        provider: Arc::from(""),
        event_id,
        version: None,
        record_id: rng.next() % 40,
        file: Arc::from(rng.pick(&FILES)),
        offset: rng.next() % 3,
        body,
    }
}
