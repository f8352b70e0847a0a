//! How well parents rebuilt from Security 4688 alone match the truth that Sysmon's GUID links
//! give, on hosts that log both (a generated fleet: the public corpus has no process in both).
//!
//! Shared by `tests/accuracy_4688.rs` and `examples/accuracy_4688.rs` (included by path), so
//! the fast test and the large measurement in `docs/lineage.md` score the same way.
//!
//! A process start is identified in either log by its PID and start time (within
//! [`TOLERANCE_MS`]); host folders are scored one at a time, so the host is implied. The
//! truth reads the Sysmon log alone: each Sysmon 1's ParentProcessGuid names the parent's
//! Sysmon 1, hence the parent's PID and start. The rebuild reads the Security log alone,
//! keeping 4688 and 4689 only (or 4688 only: exits are often not audited), and runs
//! `lineage::lineage::build`. Every 4688 start then gets one verdict:
//!
//! - `right`: linked to the true parent; or, when the true parent's start is in neither log
//!   (the System process, PID 4), to a placeholder with its PID;
//! - `wrong`: linked to another logged process, or to a placeholder whose PID is not the true
//!   parent's;
//! - `ambiguous`: lineage declared several candidates and chose none;
//! - `missing`: a placeholder or no parent, although the true parent's start is in the log.
//!
//! Every verdict other than `right` gets a [`Cause`] read from the logs, so a test can
//! require that each one is explained.

#![allow(dead_code)]

use chrono::{DateTime, Duration, Utc};
use lineage::app::{collect, ReadConfig};
use lineage::extract::Filter;
use lineage::lineage::{build, Origin, ParentLink, Process};
use lineage::model::{Body, Event, Source};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

pub const SYSMON_FILE: &str = "Microsoft-Windows-Sysmon%4Operational.evtx";
pub const SECURITY_FILE: &str = "Security.evtx";

/// Two records are the same process start when their PIDs agree and their start times are
/// this close (the generator writes the same instant in both logs; real Sysmon lags 4688 by
/// milliseconds, and lineage merges the two within 1 s).
pub const TOLERANCE_MS: i64 = 1000;

/// Reads one EVTX file into typed events.
pub fn read(file: &Path, pool: &rayon::ThreadPool) -> Result<Vec<Event>, String> {
    let cfg = ReadConfig {
        paths: vec![file.to_path_buf()],
        threads: pool.current_num_threads(),
        follow_links: false,
        progress: false,
        summary: false,
        filter: Filter::default(),
        issues: None,
    };
    let c = collect(&cfg, false, pool)?;
    match c.issues.first() {
        Some(i) => Err(format!("{}: {i:?}", file.display())),
        None => Ok(c.events),
    }
}

/// What the Security log keeps of a host's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    /// 4689 logged (exits are often not audited).
    pub exits: bool,
    /// 4688 records lost per thousand, picked by record id (a log that overflowed or was
    /// partly cleared): the same records whatever else changes.
    pub lost_per_mille: u64,
}

impl Variant {
    /// Complete logs with and without 4689, then the same with 1 % of the 4688s lost.
    pub const ALL: [Variant; 4] = [
        Variant {
            exits: true,
            lost_per_mille: 0,
        },
        Variant {
            exits: false,
            lost_per_mille: 0,
        },
        Variant {
            exits: true,
            lost_per_mille: 10,
        },
        Variant {
            exits: false,
            lost_per_mille: 10,
        },
    ];

    pub fn label(self) -> String {
        let mut s = String::from(if self.exits {
            "4688 + 4689"
        } else {
            "4688 only"
        });
        if self.lost_per_mille > 0 {
            let _ = write!(
                s,
                ", {:.1} % of 4688 lost",
                self.lost_per_mille as f64 / 10.0
            );
        }
        s
    }

    /// The Security events the rebuild sees: 4688 (less the lost ones), and 4689 if logged.
    pub fn security_subset(self, events: &[Event]) -> Vec<Event> {
        events
            .iter()
            .filter(|e| e.source == Source::Security)
            .filter(|e| match e.event_id {
                4688 => mix(e.record_id) % 1000 >= self.lost_per_mille,
                4689 => self.exits,
                _ => false,
            })
            .cloned()
            .collect()
    }
}

/// splitmix64's finaliser: record ids spread evenly over 0..1000.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One process start in the Sysmon log.
#[derive(Debug, Clone)]
pub struct TrueStart {
    pub pid: u64,
    pub time: DateTime<Utc>,
    pub image: String,
    pub parent: TrueParent,
    /// Sysmon 5 of the same GUID.
    pub exit: Option<DateTime<Utc>>,
}

/// A start's real parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrueParent {
    /// Index into [`Truth::starts`].
    Logged(usize),
    /// Its ProcessGuid has no Sysmon 1 (the System process; a parent older than the log).
    Unlogged { pid: u64 },
}

/// Every process start of one host with its parent, from Sysmon's GUID links.
#[derive(Debug, Default)]
pub struct Truth {
    pub host: String,
    pub starts: Vec<TrueStart>,
    by_pid: HashMap<u64, Vec<usize>>,
}

impl Truth {
    pub fn from_sysmon(events: &[Event]) -> Truth {
        let mut truth = Truth::default();
        let mut by_guid: HashMap<String, usize> = HashMap::new();
        let mut parents: Vec<(Option<String>, u64)> = Vec::new();
        for e in events.iter().filter(|e| e.source == Source::Sysmon) {
            match &e.body {
                Body::Process(p) if e.event_id == 1 => {
                    let (Some(pid), Some(guid)) = (p.pid, p.guid.as_deref()) else {
                        continue;
                    };
                    truth.host.clone_from(&e.host);
                    by_guid.insert(guid.to_ascii_lowercase(), truth.starts.len());
                    parents.push((
                        p.parent_guid.as_deref().map(str::to_ascii_lowercase),
                        p.parent_pid.unwrap_or(0),
                    ));
                    truth.starts.push(TrueStart {
                        pid,
                        time: e.time,
                        image: p.image.clone().unwrap_or_default(),
                        parent: TrueParent::Unlogged { pid: 0 },
                        exit: None,
                    });
                }
                _ => {}
            }
        }
        for e in events.iter().filter(|e| e.event_id == 5) {
            if let Body::Exit(x) = &e.body {
                let i = x.guid.as_deref().map(str::to_ascii_lowercase);
                if let Some(&i) = i.as_ref().and_then(|g| by_guid.get(g)) {
                    truth.starts[i].exit = Some(e.time);
                }
            }
        }
        for (i, (guid, pid)) in parents.into_iter().enumerate() {
            truth.starts[i].parent = match guid.as_ref().and_then(|g| by_guid.get(g)) {
                Some(&p) => TrueParent::Logged(p),
                None => TrueParent::Unlogged { pid },
            };
            truth.by_pid.entry(truth.starts[i].pid).or_default().push(i);
        }
        truth
    }

    /// The start with this PID nearest to `t`, within the tolerance.
    pub fn find(&self, pid: u64, t: DateTime<Utc>) -> Option<usize> {
        let tol = Duration::milliseconds(TOLERANCE_MS);
        self.by_pid
            .get(&pid)?
            .iter()
            .copied()
            .filter(|&i| (self.starts[i].time - t).abs() <= tol)
            .min_by_key(|&i| (self.starts[i].time - t).abs())
    }

    fn describe(&self, i: usize) -> String {
        let s = &self.starts[i];
        let exit = s.exit.map_or("-".to_string(), |x| stamp(&x));
        format!(
            "pid {} {} started {} exited {exit}",
            s.pid,
            image_name(&s.image),
            stamp(&s.time)
        )
    }
}

/// What lineage concluded about one 4688 start's parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// Linked to the true parent.
    Right,
    /// The true parent's start is not in the log (the System process; a lost 4688) and the
    /// link is to a placeholder with its PID: the right answer given the log.
    Placeholder,
    /// Linked to another logged process, or to a placeholder with another PID.
    Wrong,
    /// Several candidates declared, none chosen.
    Ambiguous,
    /// A placeholder or no parent, although the true parent's start is in the log.
    Missing,
}

impl Verdict {
    pub const ALL: [Verdict; 5] = [
        Verdict::Right,
        Verdict::Placeholder,
        Verdict::Wrong,
        Verdict::Ambiguous,
        Verdict::Missing,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Right => "right",
            Verdict::Placeholder => "placeholder",
            Verdict::Wrong => "wrong",
            Verdict::Ambiguous => "ambiguous",
            Verdict::Missing => "missing",
        }
    }
}

/// Why a parent was not found, read from the logs the rebuild saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cause {
    /// The true parent's start is not among the 4688s (and no placeholder could be right).
    ParentNotInLog,
    /// The true parent's 4688 is timed after its child's (the clock went back between them).
    ParentLoggedAfterChild,
    /// The true parent's 4689 is timed before its child's 4688 (clock went back).
    ParentExitLoggedBeforeChild,
    /// The true parent was put in another boot than its child.
    ParentInOtherBoot,
    /// Two holders of the parent PID start at the same logged instant.
    SameInstant,
    /// None of the above: a lineage bug or a generator bug, to be looked at.
    Unexplained,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::ParentNotInLog => "parent_not_in_log",
            Cause::ParentLoggedAfterChild => "parent_logged_after_child",
            Cause::ParentExitLoggedBeforeChild => "parent_exit_logged_before_child",
            Cause::ParentInOtherBoot => "parent_in_other_boot",
            Cause::SameInstant => "same_instant",
            Cause::Unexplained => "unexplained",
        }
    }
}

/// One 4688 start whose parent was not rebuilt right.
#[derive(Debug, Clone)]
pub struct Case {
    pub host: String,
    pub verdict: Verdict,
    pub cause: Cause,
    pub link: &'static str,
    pub text: String,
}

/// Counts for one configuration, summed over hosts.
#[derive(Debug, Default, Clone)]
pub struct Score {
    pub hosts: u64,
    /// 4688 starts scored.
    pub starts: u64,
    /// 4688 starts with no Sysmon 1 (the logs disagree: should be none).
    pub unmatched: u64,
    /// (link state, confidence) -> count per verdict, in [`Verdict::ALL`] order.
    pub rows: BTreeMap<(&'static str, &'static str), [u64; 5]>,
    pub cases: Vec<Case>,
}

impl Score {
    pub fn total(&self, v: Verdict) -> u64 {
        let k = Verdict::ALL.iter().position(|&x| x == v).unwrap_or(0);
        self.rows.values().map(|r| r[k]).sum()
    }

    pub fn causes(&self) -> BTreeMap<(Verdict, Cause), u64> {
        let mut out = BTreeMap::new();
        for c in &self.cases {
            *out.entry((c.verdict, c.cause)).or_insert(0) += 1;
        }
        out
    }

    pub fn add(&mut self, other: Score) {
        self.hosts += other.hosts;
        self.starts += other.starts;
        self.unmatched += other.unmatched;
        for (k, v) in other.rows {
            let row = self.rows.entry(k).or_insert([0; 5]);
            for (a, b) in row.iter_mut().zip(v) {
                *a += b;
            }
        }
        self.cases.extend(other.cases);
    }

    /// The table printed by the example and quoted in `docs/lineage.md`.
    pub fn table(&self, title: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{title}: {} hosts, {} 4688 starts ({} without a Sysmon 1)\n",
            self.hosts, self.starts, self.unmatched
        );
        let head: Vec<&str> = Verdict::ALL.iter().map(|v| v.as_str()).collect();
        let _ = writeln!(
            s,
            "| link | confidence | starts | {} |\n|---|---|---:|{}",
            head.join(" | "),
            "---:|".repeat(head.len())
        );
        let mut line = |link: &str, conf: &str, r: &[String]| {
            let _ = writeln!(s, "| {link} | {conf} | {} |", r.join(" | "));
        };
        let cells = |r: &[u64; 5]| {
            let n: u64 = r.iter().sum();
            std::iter::once(n.to_string())
                .chain(r.iter().map(u64::to_string))
                .collect::<Vec<_>>()
        };
        for ((link, conf), r) in &self.rows {
            line(link, conf, &cells(r));
        }
        let all = Verdict::ALL.map(|v| self.total(v));
        let n = all.iter().sum::<u64>().max(1);
        let pct = std::iter::once(String::new()).chain(
            all.iter()
                .map(|&x| format!("{:.3} %", 100.0 * x as f64 / n as f64)),
        );
        line("**all**", "", &cells(&all));
        line("", "", &pct.collect::<Vec<_>>());
        for ((v, c), n) in self.causes() {
            let _ = writeln!(s, "\n{} because {}: {n}", v.as_str(), c.as_str());
        }
        s
    }
}

/// Scores one host: `truth` from its Sysmon log, `security` the events the rebuild sees.
pub fn score_host(truth: &Truth, security: Vec<Event>) -> Score {
    let history = build(security);
    let mut score = Score {
        hosts: 1,
        ..Score::default()
    };
    for host in &history.hosts {
        let procs = &host.processes;
        let truth_of: Vec<Option<usize>> = procs.iter().map(|p| match_truth(truth, p)).collect();
        let rebuilt_of: HashMap<usize, usize> = truth_of
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.map(|t| (t, i)))
            .collect();
        let ctx = Ctx {
            truth,
            procs,
            truth_of: &truth_of,
            rebuilt_of: &rebuilt_of,
        };
        for (i, p) in procs.iter().enumerate() {
            if !p.sources.iter().any(|s| s.event_id == 4688) {
                continue;
            }
            score.starts += 1;
            let Some(t) = truth_of[i] else {
                score.unmatched += 1;
                continue;
            };
            let verdict = ctx.verdict(p, t);
            let conf = p.parent.confidence().map_or("-", |c| c.as_str());
            let row = score.rows.entry((p.parent.state(), conf)).or_insert([0; 5]);
            row[Verdict::ALL.iter().position(|&v| v == verdict).unwrap_or(0)] += 1;
            if !matches!(verdict, Verdict::Right | Verdict::Placeholder) {
                score.cases.push(ctx.case(&host.name, p, t, verdict));
            }
        }
    }
    score
}

/// A logged process's start in the truth.
fn match_truth(truth: &Truth, p: &Process) -> Option<usize> {
    if p.origin != Origin::Logged {
        return None;
    }
    truth.find(p.info.pid?, p.start?)
}

struct Ctx<'a> {
    truth: &'a Truth,
    procs: &'a [Process],
    /// Rebuilt process -> truth start.
    truth_of: &'a [Option<usize>],
    /// Truth start -> rebuilt process.
    rebuilt_of: &'a HashMap<usize, usize>,
}

impl Ctx<'_> {
    fn verdict(&self, p: &Process, t: usize) -> Verdict {
        let true_parent = self.truth.starts[t].parent;
        match &p.parent {
            ParentLink::Linked { parent, .. } => {
                let Some(q) = self.procs.get(*parent) else {
                    return Verdict::Wrong;
                };
                if q.origin == Origin::Logged {
                    return match (self.truth_of[*parent], true_parent) {
                        (Some(a), TrueParent::Logged(b)) if a == b => Verdict::Right,
                        _ => Verdict::Wrong,
                    };
                }
                match true_parent {
                    TrueParent::Unlogged { pid } if q.info.pid == Some(pid) => Verdict::Placeholder,
                    TrueParent::Logged(b) if !self.rebuilt_of.contains_key(&b) => {
                        let pid = self.truth.starts[b].pid;
                        if q.info.pid == Some(pid) {
                            Verdict::Placeholder
                        } else {
                            Verdict::Wrong
                        }
                    }
                    TrueParent::Logged(_) => Verdict::Missing,
                    TrueParent::Unlogged { .. } => Verdict::Wrong,
                }
            }
            ParentLink::Ambiguous { .. } => Verdict::Ambiguous,
            _ => Verdict::Missing,
        }
    }

    fn case(&self, host: &str, p: &Process, t: usize, verdict: Verdict) -> Case {
        let truth = self.truth;
        let true_parent = match truth.starts[t].parent {
            TrueParent::Logged(b) => truth.describe(b),
            TrueParent::Unlogged { pid } => format!("pid {pid}, not in Sysmon"),
        };
        let rebuilt = match &p.parent {
            ParentLink::Linked { parent, .. } => self.procs.get(*parent).map_or_else(
                || "?".to_string(),
                |q| {
                    format!(
                        "{} pid {} {} started {}",
                        q.origin.as_str(),
                        q.info.pid.unwrap_or(0),
                        q.name(),
                        q.start.map_or("-".to_string(), |s| stamp(&s))
                    )
                },
            ),
            ParentLink::Ambiguous { candidates } => format!("{} candidates", candidates.len()),
            other => other.state().to_string(),
        };
        Case {
            host: host.to_string(),
            verdict,
            cause: self.cause(p, t),
            link: p.parent.state(),
            text: format!(
                "{host}: {} (boot {}); true parent {true_parent}; rebuilt {rebuilt}",
                truth.describe(t),
                p.boot
            ),
        }
    }

    fn cause(&self, p: &Process, t: usize) -> Cause {
        let TrueParent::Logged(b) = self.truth.starts[t].parent else {
            return Cause::ParentNotInLog;
        };
        let Some(q) = self.rebuilt_of.get(&b).and_then(|&q| self.procs.get(q)) else {
            return Cause::ParentNotInLog;
        };
        let (Some(qs), Some(cs)) = (q.start, p.start) else {
            return Cause::Unexplained;
        };
        if qs > cs {
            return Cause::ParentLoggedAfterChild;
        }
        if q.exit.is_some() && q.end.is_some_and(|e| e < cs) {
            return Cause::ParentExitLoggedBeforeChild;
        }
        if q.boot != p.boot {
            return Cause::ParentInOtherBoot;
        }
        if let ParentLink::Ambiguous { candidates } = &p.parent {
            let starts: Vec<_> = candidates
                .iter()
                .filter_map(|&c| self.procs.get(c).and_then(|c| c.start))
                .collect();
            if starts.windows(2).any(|w| w[0] == w[1]) {
                return Cause::SameInstant;
            }
        }
        Cause::Unexplained
    }
}

fn stamp(t: &DateTime<Utc>) -> String {
    lineage::time::format_rfc3339_ms(t)
}

fn image_name(path: &str) -> &str {
    lineage::lineage::image_name(path)
}

/// Scores every host folder under `logs` that holds both a Sysmon and a Security log, once
/// per variant; folders missing either are skipped and counted in the second value.
pub fn score_fleet(
    logs: &Path,
    variants: &[Variant],
    pool: &rayon::ThreadPool,
) -> Result<(Vec<Score>, u64), String> {
    let mut dirs: Vec<_> = std::fs::read_dir(logs)
        .map_err(|e| format!("{}: {e}", logs.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut scores = vec![Score::default(); variants.len()];
    let mut skipped = 0;
    for dir in dirs {
        let (sysmon, security) = (dir.join(SYSMON_FILE), dir.join(SECURITY_FILE));
        if !sysmon.is_file() || !security.is_file() {
            skipped += 1;
            continue;
        }
        let truth = Truth::from_sysmon(&read(&sysmon, pool)?);
        let security = read(&security, pool)?;
        for (score, v) in scores.iter_mut().zip(variants) {
            score.add(score_host(&truth, v.security_subset(&security)));
        }
    }
    Ok((scores, skipped))
}
