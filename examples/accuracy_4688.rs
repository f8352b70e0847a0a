//! How accurately `lineage` rebuilds parents from Security 4688 alone, scored against the
//! truth of Sysmon's GUID links, on generated fleets whose hosts log both (the numbers in
//! `docs/lineage.md`, "Accuracy"):
//!
//! ```sh
//! cargo run --release --no-default-features --example accuracy_4688 -- --hosts 20 --days 14 --seed 1
//! ```
//!
//! Generates one fleet logging Sysmon + 4688 v2 and one logging Sysmon + 4688 v1 (same seed,
//! so the same histories), scores each with and without 4689, complete and with 1 % of the
//! 4688s lost, and prints the tables and the first cases that are not right. `--logs DIR` scores an existing fleet instead (host folders without
//! both logs are skipped). The scoring is `tests/support/accuracy.rs`.

#[path = "../tests/support/accuracy.rs"]
mod accuracy;

use accuracy::{score_fleet, Score, Variant};
use clap::Parser;
use lineage_testkit::fleet::{generate, FleetConfig};
use lineage_testkit::host::Sources;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(about = "Score parents rebuilt from Security 4688 against Sysmon's GUID links")]
struct Args {
    #[arg(long, default_value_t = 20)]
    hosts: u32,
    #[arg(long, default_value_t = 14)]
    days: u32,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, default_value_t = 600)]
    procs_per_day: u32,
    /// Score this fleet's `logs/` folder instead of generating.
    #[arg(long)]
    logs: Option<PathBuf>,
    /// Keep the generated fleets here (`v2/`, `v1/`) instead of a temporary folder.
    #[arg(long)]
    keep: Option<PathBuf>,
    /// Cases listed per table (all of them are counted).
    #[arg(long, default_value_t = 20)]
    cases: usize,
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(a.threads)
        .build()?;
    if let Some(logs) = &a.logs {
        let (scores, skipped) = score(logs, &pool)?;
        println!(
            "{} ({skipped} host folders without both logs skipped)",
            logs.display()
        );
        for (s, v) in scores.iter().zip(Variant::ALL) {
            print(s, &v.label(), a.cases);
        }
        return Ok(());
    }
    let tmp = tempfile::tempdir()?;
    let root = a.keep.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    for (name, sources) in [("v2", "sysmon,security-v2"), ("v1", "sysmon,security-v1")] {
        let dir = root.join(name);
        let cfg = FleetConfig {
            hosts: a.hosts,
            days: a.days,
            seed: a.seed,
            procs_per_day: a.procs_per_day,
            threads: a.threads,
            sources: Some(sources.parse::<Sources>().map_err(anyhow::Error::msg)?),
            ..FleetConfig::default()
        };
        let started = Instant::now();
        let s = generate(&cfg, &dir, None)?;
        println!(
            "\n## Sysmon + 4688 {name}: --hosts {} --days {} --seed {} --procs-per-day {}: {} \
             processes, {} records, {:.0} MB (generated in {:.1} s)",
            a.hosts,
            a.days,
            a.seed,
            a.procs_per_day,
            s.processes,
            s.records,
            s.bytes as f64 / 1e6,
            started.elapsed().as_secs_f64()
        );
        let started = Instant::now();
        let (scores, _) = score(&dir.join("logs"), &pool)?;
        for (s, v) in scores.iter().zip(Variant::ALL) {
            print(s, &format!("{name}: {}", v.label()), a.cases);
        }
        println!("(scored in {:.1} s)", started.elapsed().as_secs_f64());
        if a.keep.is_none() {
            std::fs::remove_dir_all(&dir)?;
        }
    }
    Ok(())
}

fn score(logs: &Path, pool: &rayon::ThreadPool) -> anyhow::Result<(Vec<Score>, u64)> {
    score_fleet(logs, &Variant::ALL, pool).map_err(anyhow::Error::msg)
}

fn print(s: &Score, title: &str, cases: usize) {
    println!("\n{}", s.table(title));
    for c in s.cases.iter().take(cases) {
        println!(
            "  {} {} ({}): {}",
            c.verdict.as_str(),
            c.cause.as_str(),
            c.link,
            c.text
        );
    }
    if s.cases.len() > cases {
        println!("  ... {} more", s.cases.len() - cases);
    }
}
