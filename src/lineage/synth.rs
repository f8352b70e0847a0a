//! Synthetic process histories with a known truth, for property tests, accuracy measurement
//! and benchmarks (not used by the command line).
//!
//! A history is a set of hosts, each with boots: System -> smss -> smss child -> csrss and
//! wininit -> services and lsass -> svchost..., then random processes started by random live
//! processes. PIDs come from a small pool (multiples of 4) and are reused as soon as they are
//! free, as Windows does; no two live processes share a PID. Every start becomes a Sysmon 1
//! and/or 4688 event, exits become Sysmon 5 / 4689 when logged, and boots get Kernel-General
//! 12 and 4608 markers.

use crate::model::{Body, Event, EventKind, Marker, MarkerKind, ProcessExit, ProcessStart, Source};
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    pub seed: u64,
    pub hosts: usize,
    pub boots_per_host: usize,
    /// Random processes per boot, after the core ones.
    pub processes_per_boot: usize,
    /// Size of the PID pool (PIDs 4*1 .. 4*pool): small pools force reuse.
    pub pid_pool: u64,
    /// Chance (0..=1) that a random process exits before the boot ends.
    pub exit_chance: f64,
    pub sysmon: bool,
    /// Security 4688 version: None (not logged), Some(1) (no parent name) or Some(2).
    pub security: Option<u8>,
    /// Log exits (Sysmon 5 / 4689).
    pub log_exits: bool,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            seed: 1,
            hosts: 1,
            boots_per_host: 2,
            processes_per_boot: 50,
            pid_pool: 64,
            exit_chance: 0.6,
            sysmon: true,
            security: Some(2),
            log_exits: true,
        }
    }
}

/// The truth about one generated process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrueProcess {
    pub host: String,
    pub boot: usize,
    pub pid: u64,
    pub start: DateTime<Utc>,
    pub image: String,
    pub guid: String,
    /// The parent's GUID (`None` for the master smss, whose parent is System).
    pub parent_guid: Option<String>,
}

/// Small deterministic generator (SplitMix64): no dependency, same output everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

struct Live {
    idx: usize,
    pid: u64,
    exits_at: Option<DateTime<Utc>>,
}

struct Gen<'a> {
    cfg: &'a SynthConfig,
    rng: Rng,
    events: Vec<Event>,
    truth: Vec<TrueProcess>,
    record: [u64; 3],
    files: [Arc<str>; 3],
    /// Channel and provider names by source (as `record` and `files`), shared as a reader
    /// shares them.
    channels: [Arc<str>; 3],
    providers: [Arc<str>; 3],
}

/// Each host's logs are in its own files, as collected from a fleet.
fn host_files(host: &str) -> [Arc<str>; 3] {
    [
        Arc::from(format!("synthetic/{host}/Sysmon.evtx")),
        Arc::from(format!("synthetic/{host}/Security.evtx")),
        Arc::from(format!("synthetic/{host}/System.evtx")),
    ]
}

const USER_PROGRAMS: &[&str] = &[
    r"C:\Windows\System32\cmd.exe",
    r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
    r"C:\Windows\System32\conhost.exe",
    r"C:\Program Files\App\app.exe",
    r"C:\Windows\System32\rundll32.exe",
    r"C:\Windows\System32\taskhostw.exe",
    r"C:\Windows\System32\svchost.exe",
];

/// Generate events (in an arbitrary but fixed order) and the truth.
pub fn generate(cfg: &SynthConfig) -> (Vec<Event>, Vec<TrueProcess>) {
    let mut g = Gen {
        cfg,
        rng: Rng(cfg.seed),
        events: Vec::new(),
        truth: Vec::new(),
        record: [0; 3],
        files: host_files("none"),
        channels: SOURCES.map(|s| Arc::from(channel(s))),
        providers: SOURCES.map(|s| Arc::from(provider(s))),
    };
    for h in 0..cfg.hosts {
        let host = format!("HOST-{h:04}");
        g.files = host_files(&host);
        g.record = [0; 3];
        let machine = format!("{:08x}", g.rng.next() as u32 | 1);
        let mut t = DateTime::from_timestamp(1_600_000_000 + 86_400 * h as i64, 0)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        for boot in 0..cfg.boots_per_host {
            t = g.boot(&host, &machine, boot, t) + Duration::seconds(30);
        }
    }
    (g.events, g.truth)
}

impl Gen<'_> {
    /// One boot; returns the time it ended.
    fn boot(&mut self, host: &str, machine: &str, boot: usize, t0: DateTime<Utc>) -> DateTime<Utc> {
        let mut live: Vec<Live> = Vec::new();
        let mut t = t0;
        self.marker(host, Source::System, 12, MarkerKind::OsStarted, t, Some(t));
        let step = |t: &mut DateTime<Utc>, ms: i64| *t += Duration::milliseconds(ms);
        step(&mut t, 900);
        let smss = self.start(
            host,
            machine,
            boot,
            None,
            r"C:\Windows\System32\smss.exe",
            t,
            &mut live,
        );
        let core = |g: &mut Self,
                    t: &mut DateTime<Utc>,
                    parent: usize,
                    image: &str,
                    live: &mut Vec<Live>| {
            step(t, 150);
            g.start(host, machine, boot, Some(parent), image, *t, live)
        };
        let child = core(
            self,
            &mut t,
            smss,
            r"C:\Windows\System32\smss.exe",
            &mut live,
        );
        core(
            self,
            &mut t,
            child,
            r"C:\Windows\System32\csrss.exe",
            &mut live,
        );
        let wininit = core(
            self,
            &mut t,
            child,
            r"C:\Windows\System32\wininit.exe",
            &mut live,
        );
        let services = core(
            self,
            &mut t,
            wininit,
            r"C:\Windows\System32\services.exe",
            &mut live,
        );
        core(
            self,
            &mut t,
            wininit,
            r"C:\Windows\System32\lsass.exe",
            &mut live,
        );
        self.marker(
            host,
            Source::Security,
            4608,
            MarkerKind::LogStarted,
            t,
            None,
        );
        if let Some(l) = live.iter_mut().find(|l| l.idx == child) {
            l.exits_at = Some(t + Duration::seconds(2));
        }
        for _ in 0..4 {
            core(
                self,
                &mut t,
                services,
                r"C:\Windows\System32\svchost.exe",
                &mut live,
            );
        }
        for _ in 0..self.cfg.processes_per_boot {
            step(&mut t, 1 + self.rng.below(4000) as i64);
            self.retire(host, boot, t, &mut live);
            let parent = live[self.rng.below(live.len() as u64) as usize].idx;
            let image = USER_PROGRAMS[self.rng.below(USER_PROGRAMS.len() as u64) as usize];
            let Some(p) = self.try_start(host, machine, boot, Some(parent), image, t, &mut live)
            else {
                continue;
            };
            if self.rng.chance(self.cfg.exit_chance) {
                let life = 1 + self.rng.below(60_000) as i64;
                if let Some(l) = live.iter_mut().find(|l| l.idx == p) {
                    l.exits_at = Some(t + Duration::milliseconds(life));
                }
            }
        }
        step(&mut t, 5000);
        self.marker(
            host,
            Source::Security,
            1100,
            MarkerKind::LoggingShutdown,
            t,
            None,
        );
        t
    }

    /// Exit processes whose time has come (their PIDs become free).
    fn retire(&mut self, host: &str, boot: usize, t: DateTime<Utc>, live: &mut Vec<Live>) {
        let due: Vec<(usize, DateTime<Utc>)> = live
            .iter()
            .filter_map(|l| l.exits_at.filter(|e| *e <= t).map(|e| (l.idx, e)))
            .collect();
        for (idx, at) in due {
            self.exit_process(host, boot, idx, at, live);
        }
    }

    fn exit_process(
        &mut self,
        host: &str,
        _boot: usize,
        idx: usize,
        at: DateTime<Utc>,
        live: &mut Vec<Live>,
    ) {
        live.retain(|l| l.idx != idx);
        if !self.cfg.log_exits {
            return;
        }
        let Some(tp) = self.truth.get(idx).cloned() else {
            return;
        };
        if self.cfg.sysmon {
            let body = Body::Exit(ProcessExit {
                pid: Some(tp.pid),
                guid: Some(tp.guid.clone()),
                image: Some(tp.image.clone()),
                ..Default::default()
            });
            self.push(host, Source::Sysmon, 5, at, body);
        }
        if self.cfg.security.is_some() {
            let body = Body::Exit(ProcessExit {
                pid: Some(tp.pid),
                image: Some(tp.image.clone()),
                ..Default::default()
            });
            self.push(host, Source::Security, 4689, at, body);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn start(
        &mut self,
        host: &str,
        machine: &str,
        boot: usize,
        parent: Option<usize>,
        image: &str,
        t: DateTime<Utc>,
        live: &mut Vec<Live>,
    ) -> usize {
        self.try_start(host, machine, boot, parent, image, t, live)
            .unwrap_or(usize::MAX)
    }

    /// Start a process with a free PID; `None` when the pool is exhausted.
    #[allow(clippy::too_many_arguments)]
    fn try_start(
        &mut self,
        host: &str,
        machine: &str,
        boot: usize,
        parent: Option<usize>,
        image: &str,
        t: DateTime<Utc>,
        live: &mut Vec<Live>,
    ) -> Option<usize> {
        let pool = self.cfg.pid_pool.max(16);
        let pid = (0..pool)
            .map(|_| 4 * (2 + self.rng.below(pool)))
            .find(|pid| live.iter().all(|l| l.pid != *pid))?;
        let secs = t.timestamp() as u32;
        let guid = format!(
            "{{{machine}-{:04x}-{:04x}-{:04x}-{:012x}}}",
            secs & 0xffff,
            secs >> 16,
            self.rng.below(0x10000),
            self.rng.below(1 << 48)
        );
        let ptruth = parent.and_then(|p| self.truth.get(p).cloned());
        let idx = self.truth.len();
        self.truth.push(TrueProcess {
            host: host.to_string(),
            boot,
            pid,
            start: t,
            image: image.to_string(),
            guid: guid.clone(),
            parent_guid: ptruth.as_ref().map(|p| p.guid.clone()),
        });
        live.push(Live {
            idx,
            pid,
            exits_at: None,
        });
        let (ppid, pimage) = match &ptruth {
            Some(p) => (p.pid, p.image.clone()),
            None => (4, "System".to_string()),
        };
        if self.cfg.sysmon {
            let info = ProcessStart {
                pid: Some(pid),
                guid: Some(guid.clone()),
                image: Some(image.to_string()),
                command_line: Some(format!("{image} --n {idx}")),
                user: Some("NT AUTHORITY\\SYSTEM".to_string()),
                parent_pid: Some(ppid),
                parent_guid: ptruth.as_ref().map(|p| p.guid.clone()),
                parent_image: Some(pimage.clone()),
                ..Default::default()
            };
            self.push(host, Source::Sysmon, 1, t, Body::Process(Box::new(info)));
        }
        if let Some(version) = self.cfg.security {
            let info = ProcessStart {
                pid: Some(pid),
                image: Some(image.to_string()),
                command_line: Some(format!("{image} --n {idx}")),
                parent_pid: Some(ppid),
                parent_image: (version >= 2 && ptruth.is_some()).then_some(pimage),
                ..Default::default()
            };
            self.push(
                host,
                Source::Security,
                4688,
                t,
                Body::Process(Box::new(info)),
            );
        }
        Some(idx)
    }

    fn marker(
        &mut self,
        host: &str,
        source: Source,
        id: u32,
        kind: MarkerKind,
        t: DateTime<Utc>,
        new_time: Option<DateTime<Utc>>,
    ) {
        let body = Body::Marker(Marker {
            marker: kind,
            new_time,
            previous_time: None,
            uptime_seconds: None,
            detail: None,
        });
        self.push(host, source, id, t, body);
    }

    fn push(&mut self, host: &str, source: Source, event_id: u32, t: DateTime<Utc>, body: Body) {
        let slot = match source {
            Source::Sysmon => 0,
            Source::Security => 1,
            Source::System => 2,
        };
        self.record[slot] += 1;
        let kind = match &body {
            Body::Process(_) => EventKind::Process,
            Body::Exit(_) => EventKind::Exit,
            Body::Marker(_) => EventKind::Marker,
            Body::Sighting(_) => EventKind::Sighting,
        };
        self.events.push(Event {
            kind,
            host: host.to_string(),
            time: t,
            logged: t,
            source,
            channel: Arc::clone(&self.channels[slot]),
            provider: Arc::clone(&self.providers[slot]),
            event_id,
            version: None,
            record_id: self.record[slot],
            file: Arc::clone(&self.files[slot]),
            offset: 0,
            body,
        });
    }
}

/// The sources in the order of `Gen::record`, `files`, `channels` and `providers`.
const SOURCES: [Source; 3] = [Source::Sysmon, Source::Security, Source::System];

fn channel(s: Source) -> &'static str {
    match s {
        Source::Sysmon => "Microsoft-Windows-Sysmon/Operational",
        Source::Security => "Security",
        Source::System => "System",
    }
}

fn provider(s: Source) -> &'static str {
    match s {
        Source::Sysmon => "Microsoft-Windows-Sysmon",
        Source::Security => "Microsoft-Windows-Security-Auditing",
        Source::System => "Microsoft-Windows-Kernel-General",
    }
}
