//! Benchmark of the lineage stage alone: generate N process starts (Sysmon 1 with exits, PID
//! reuse, reboots) in memory, then time `lineage::build`. Peak memory: run it under
//! `/usr/bin/time -v`.
//!
//! `cargo run --release --example bench_lineage -- [PROCESSES] [--security-v1]`

use lineage::lineage::synth::{generate, SynthConfig};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let total: usize = args
        .iter()
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let v1 = args.iter().any(|a| a == "--security-v1");
    let hosts = 100;
    let boots = 10;
    let cfg = SynthConfig {
        seed: 42,
        hosts,
        boots_per_host: boots,
        processes_per_boot: (total / (hosts * boots)).max(1),
        pid_pool: 4096,
        exit_chance: 0.8,
        sysmon: !v1,
        security: v1.then_some(1),
        log_exits: true,
    };
    let t = Instant::now();
    let (events, truth) = generate(&cfg);
    let starts = events
        .iter()
        .filter(|e| e.event_id == 1 || e.event_id == 4688)
        .count();
    println!(
        "generated {} events ({} process starts, {} processes) in {:.2} s",
        events.len(),
        starts,
        truth.len(),
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let h = lineage::lineage::build(events);
    let secs = t.elapsed().as_secs_f64();
    let procs: usize = h.hosts.iter().map(|x| x.processes.len()).sum();
    let boots: usize = h.hosts.iter().map(|x| x.boots.len()).sum();
    println!(
        "lineage::build: {secs:.2} s, {:.0} process events/s; {} hosts, {boots} boots, {procs} processes; links guid {}, placeholders {}",
        starts as f64 / secs,
        h.hosts.len(),
        h.stats.links_guid + h.stats.links_pid_time + h.stats.links_pid_time_name,
        h.stats.placeholders
    );
    // The OS reclaims the memory at exit.
    std::mem::forget(h);
}
