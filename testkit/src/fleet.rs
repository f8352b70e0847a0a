//! A fleet of hosts with weeks of realistic history, for benchmarks and accuracy checks:
//! boots (some quick reboots, a few crashes), service restarts, console and RDP sessions,
//! user programs and their children, background system work, PID reuse, and a few planted
//! anomalies listed in a ground-truth file.
//!
//! Layout of the output directory: `logs/HOST/*.evtx` (one folder per host; run `lineage`
//! on `logs/`), `ground_truth.jsonl` (one line per planted anomaly) and, on request, a
//! truth-parents file (one line per process with its true parent).

mod activity;
mod anomaly;
mod json;

use crate::error::{ModelError, WriteError};
use crate::host::{Host, SecurityVersion, Sources};
use crate::logset::LogSet;
use crate::rng::Rng;
use crate::scenario::channels;
use chrono::{DateTime, Duration, Utc};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

pub use anomaly::{AnomalyKind, Needs, Planted};

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetConfig {
    pub hosts: u32,
    pub days: u32,
    pub seed: u64,
    /// Process starts per host and day, on average (user programs and background work).
    pub procs_per_day: u32,
    /// When the history begins (UTC).
    pub start: DateTime<Utc>,
    /// How many anomalies to plant across the fleet.
    pub anomalies: u32,
    /// Worker threads (hosts are independent; the output does not depend on this).
    pub threads: usize,
    /// What every host logs; `None` mixes them as described in `docs/testkit.md`. Accuracy
    /// checks set it so every process is in both Sysmon and Security.
    pub sources: Option<Sources>,
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            hosts: 10,
            days: 7,
            seed: 1,
            procs_per_day: 600,
            start: DateTime::from_timestamp(1_709_251_200, 0).unwrap_or(DateTime::UNIX_EPOCH),
            anomalies: 12,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            sources: None,
        }
    }
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("host {host}: {source}")]
    Model { host: String, source: ModelError },
}

/// What was generated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetSummary {
    pub hosts: u32,
    pub records: u64,
    pub bytes: u64,
    pub processes: u64,
    pub anomalies: Vec<Planted>,
}

/// One host's identity and logging setup, decided from the seed.
#[derive(Debug, Clone)]
pub(crate) struct HostPlan {
    pub index: u32,
    pub name: String,
    pub server: bool,
    pub sources: Sources,
    pub users: Vec<String>,
    /// Days (0-based) and kinds of the anomalies planted on this host.
    pub anomalies: Vec<(u32, AnomalyKind)>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> FleetError + '_ {
    move |source| FleetError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Generates the fleet into `out`; with `truth_parents`, also writes every process's true
/// parent there. Deterministic for a configuration.
pub fn generate(
    cfg: &FleetConfig,
    out: &Path,
    truth_parents: Option<&Path>,
) -> Result<FleetSummary, FleetError> {
    let plans = plan_fleet(cfg);
    let tmp = out.join(".truth-parents");
    std::fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<HostResult, FleetError>>>> =
        Mutex::new((0..plans.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..cfg.threads.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(plan) = plans.get(i) else { break };
                let r = run_host(cfg, plan, out, &tmp);
                if let Ok(mut slots) = results.lock() {
                    slots[i] = Some(r);
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_default();
    let summary = collect(results, out, &tmp, truth_parents)?;
    std::fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
    Ok(summary)
}

/// Names, sources, users and anomaly placement for every host.
fn plan_fleet(cfg: &FleetConfig) -> Vec<HostPlan> {
    let mut rng = Rng::new(cfg.seed);
    let mut plans: Vec<HostPlan> = (0..cfg.hosts)
        .map(|i| {
            let server = rng.chance(0.2);
            let name = format!("{}-{:04}", if server { "SRV" } else { "WKS" }, i + 1);
            let sources = match rng.range(0, 10) {
                0..=4 => Sources::default(),
                5..=7 => Sources {
                    sysmon: false,
                    security: Some(SecurityVersion::V2),
                },
                _ => Sources {
                    sysmon: false,
                    security: Some(SecurityVersion::V1),
                },
            };
            // Drawn either way, so forcing the sources changes nothing else.
            let sources = cfg.sources.unwrap_or(sources);
            let users = (0..rng.range(1, 3))
                .map(|_| format!("CORP\\user{:04}", rng.range(1, 5000)))
                .collect();
            HostPlan {
                index: i,
                name,
                server,
                sources,
                users,
                anomalies: Vec::new(),
            }
        })
        .collect();
    for k in 0..cfg.anomalies {
        let kind = AnomalyKind::ALL[k as usize % AnomalyKind::ALL.len()];
        let host = pick_host(&mut rng, &plans, kind.needs());
        let day = rng.range(0, u64::from(cfg.days)) as u32;
        if let Some(p) = plans.get_mut(host) {
            p.anomalies.push((day, kind));
        }
    }
    plans
}

/// A random host that logs what an anomaly needs to be seen; any host when none does (the
/// ground truth then lists no rule for it).
fn pick_host(rng: &mut Rng, plans: &[HostPlan], needs: Needs) -> usize {
    let fits = |p: &HostPlan| match needs {
        Needs::Nothing => true,
        Needs::OwnAccount => p.sources.sysmon || p.sources.security == Some(SecurityVersion::V2),
        Needs::Sysmon => p.sources.sysmon,
        Needs::Workstation => !p.server,
    };
    let candidates: Vec<usize> = (0..plans.len()).filter(|&i| fits(&plans[i])).collect();
    let pool = if candidates.is_empty() {
        (0..plans.len()).collect()
    } else {
        candidates
    };
    let i = rng.range(0, pool.len() as u64) as usize;
    pool.get(i).copied().unwrap_or(0)
}

struct HostResult {
    records: u64,
    processes: u64,
    planted: Vec<Planted>,
}

/// Simulates one host day by day, writing its logs as it goes.
fn run_host(
    cfg: &FleetConfig,
    plan: &HostPlan,
    out: &Path,
    tmp: &Path,
) -> Result<HostResult, FleetError> {
    let model = |source| FleetError::Model {
        host: plan.name.clone(),
        source,
    };
    let mut host = Host::new(&plan.name, plan.sources, cfg.seed);
    host.record_truth();
    let dir = out.join("logs").join(&plan.name);
    let mut logs = LogSet::create(&dir, &channels(plan.sources))?;
    let truth_path = tmp.join(format!("{:06}.jsonl", plan.index));
    let file = std::fs::File::create(&truth_path).map_err(io_err(&truth_path))?;
    let mut truth = std::io::BufWriter::new(file);
    let mut sim = activity::Simulation::new(cfg, plan);
    let mut processes = 0;
    for day in 0..cfg.days {
        let until = sim.day(&mut host, day).map_err(model)?;
        logs.write(&host.drain(Some(until)))?;
        for t in host.take_truth() {
            processes += 1;
            json::truth_line(&mut truth, &plan.name, &t).map_err(io_err(&truth_path))?;
        }
    }
    logs.write(&host.drain(None))?;
    truth.flush().map_err(io_err(&truth_path))?;
    let records = logs.counts.values().sum();
    let planted = sim.finish(&logs.tagged);
    logs.finish()?;
    Ok(HostResult {
        records,
        processes,
        planted,
    })
}

/// Gathers per-host results in host order and writes the truth files.
fn collect(
    results: Vec<Option<Result<HostResult, FleetError>>>,
    out: &Path,
    tmp: &Path,
    truth_parents: Option<&Path>,
) -> Result<FleetSummary, FleetError> {
    let mut summary = FleetSummary::default();
    for r in results.into_iter().flatten() {
        let r = r?;
        summary.hosts += 1;
        summary.records += r.records;
        summary.processes += r.processes;
        summary.anomalies.extend(r.planted);
    }
    let gt = out.join("ground_truth.jsonl");
    let mut f = std::fs::File::create(&gt).map_err(io_err(&gt))?;
    for a in &summary.anomalies {
        f.write_all(json::planted_line(a).as_bytes())
            .map_err(io_err(&gt))?;
    }
    if let Some(path) = truth_parents {
        concat_truth(tmp, path)?;
    }
    summary.bytes = dir_size(&out.join("logs"));
    Ok(summary)
}

fn concat_truth(tmp: &Path, path: &Path) -> Result<(), FleetError> {
    let mut parts: Vec<PathBuf> = std::fs::read_dir(tmp)
        .map_err(io_err(tmp))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    parts.sort();
    let file = std::fs::File::create(path).map_err(io_err(path))?;
    let mut out = std::io::BufWriter::new(file);
    for p in parts {
        let mut input = std::fs::File::open(&p).map_err(io_err(&p))?;
        std::io::copy(&mut input, &mut out).map_err(io_err(path))?;
    }
    out.flush().map_err(io_err(path))
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

pub(crate) fn minutes(n: u64) -> Duration {
    Duration::minutes(n as i64)
}
