//! Generates a fleet of synthetic Windows hosts with weeks of history, as EVTX files, for
//! benchmarks and accuracy checks (see docs/testkit.md):
//!
//! ```sh
//! cargo run --release --example generate -- --hosts 50 --days 30 --seed 1 -o DIR
//! ```
//!
//! Output: `DIR/logs/HOST/*.evtx`, `DIR/ground_truth.jsonl` (planted anomalies), and with
//! `--truth-parents FILE` every process's true parent. Never commit generated output.

use clap::Parser;
use lineage_testkit::fleet::{generate, AnomalyKind, FleetConfig};
use lineage_testkit::host::Sources;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(about = "Generate a synthetic fleet of Windows event logs")]
struct Args {
    /// Number of hosts.
    #[arg(long, default_value_t = 10)]
    hosts: u32,
    /// Days of history per host.
    #[arg(long, default_value_t = 7)]
    days: u32,
    /// Seed: the same seed gives the same files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Process starts per host and day, on average.
    #[arg(long, default_value_t = 600)]
    procs_per_day: u32,
    /// Anomalies planted across the fleet (default: one per five hosts, at least one of each
    /// kind).
    #[arg(long)]
    anomalies: Option<u32>,
    /// First day of the history (RFC 3339).
    #[arg(long, default_value = "2024-03-01T00:00:00Z")]
    start: String,
    /// Also write every process's true parent (JSON lines) to this file.
    #[arg(long)]
    truth_parents: Option<PathBuf>,
    /// What every host logs (`sysmon,security-v2`, `security-v1`, ...); by default half log
    /// Sysmon + Security v2, 30 % Security v2 only, 20 % Security v1 only.
    #[arg(long)]
    sources: Option<Sources>,
    /// Worker threads (the output does not depend on it).
    #[arg(long)]
    threads: Option<usize>,
    /// Output directory.
    #[arg(short = 'o', long)]
    out: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let start = chrono::DateTime::parse_from_rfc3339(&a.start)?.with_timezone(&chrono::Utc);
    let mut cfg = FleetConfig {
        hosts: a.hosts,
        days: a.days,
        seed: a.seed,
        procs_per_day: a.procs_per_day,
        start,
        anomalies: a
            .anomalies
            .unwrap_or((a.hosts / 5).max(AnomalyKind::ALL.len() as u32)),
        sources: a.sources,
        ..FleetConfig::default()
    };
    if let Some(t) = a.threads {
        cfg.threads = t;
    }
    let started = Instant::now();
    let s = generate(&cfg, &a.out, a.truth_parents.as_deref())?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{} hosts, {} processes, {} records, {:.1} MB in {secs:.1} s ({:.0} MB/s); {} anomalies \
         in {}",
        s.hosts,
        s.processes,
        s.records,
        s.bytes as f64 / 1e6,
        s.bytes as f64 / 1e6 / secs.max(1e-9),
        s.anomalies.len(),
        a.out.join("ground_truth.jsonl").display()
    );
    Ok(())
}
