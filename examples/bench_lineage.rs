//! Benchmark of the lineage stage alone: generate N process starts (Sysmon 1 with exits, PID
//! reuse, reboots) in memory, then time `lineage::build`. Prints the wall and CPU time of each
//! phase and the process's peak memory after each (Linux: `/proc/self`), so the build's own
//! share of the peak shows apart from the generated input. Run it under `/usr/bin/time -v` for
//! the whole process's figures.
//!
//! `cargo run --release --no-default-features --example bench_lineage -- [PROCESSES] [--security-v1] [--hosts=N]`
//!
//! The processes are spread over 100 hosts (10 boots each) unless `--hosts` says otherwise:
//! fewer hosts make each host as large as a bigger run's, for profiling at a smaller size.

use lineage::lineage::synth::{generate, SynthConfig};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let total: usize = args
        .iter()
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let v1 = args.iter().any(|a| a == "--security-v1");
    let hosts: usize = args
        .iter()
        .find_map(|a| a.strip_prefix("--hosts=")?.parse().ok())
        .unwrap_or(100)
        .max(1);
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
    let (t, cpu) = (Instant::now(), cpu_seconds());
    let (events, truth) = generate(&cfg);
    let starts = events
        .iter()
        .filter(|e| e.event_id == 1 || e.event_id == 4688)
        .count();
    let generated = events.len();
    println!(
        "generated {generated} events ({starts} process starts, {} processes) in {:.2} s wall, {:.2} s CPU; peak RSS {:.0} MB",
        truth.len(),
        t.elapsed().as_secs_f64(),
        cpu_seconds() - cpu,
        peak_rss_mb()
    );
    // The truth is not needed: free it before timing, and have the allocator tidy up its
    // millions of small freed blocks now (a large request makes glibc consolidate them),
    // not inside the timed build.
    drop(truth);
    drop(std::hint::black_box(Vec::<u8>::with_capacity(1 << 16)));
    let rss_before = rss_mb();
    let (t, cpu) = (Instant::now(), cpu_seconds());
    let h = lineage::lineage::build(events);
    let secs = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    let procs: usize = h.hosts.iter().map(|x| x.processes.len()).sum();
    let boots: usize = h.hosts.iter().map(|x| x.boots.len()).sum();
    println!(
        "lineage::build: {secs:.2} s, {:.0} process events/s; {} hosts, {boots} boots, {procs} processes; links guid {}, placeholders {}",
        starts as f64 / secs,
        h.hosts.len(),
        h.stats.links_guid + h.stats.links_pid_time + h.stats.links_pid_time_name,
        h.stats.placeholders
    );
    println!(
        "lineage::build CPU: {cpu:.2} s, {:.2} us per process event, {:.2} us per event; RSS {rss_before:.0} MB before, {:.0} MB after, peak {:.0} MB",
        cpu * 1e6 / starts as f64,
        cpu * 1e6 / generated as f64,
        rss_mb(),
        peak_rss_mb()
    );
    // The OS reclaims the memory at exit.
    std::mem::forget(h);
}

/// CPU time of this process so far (user + system), from `/proc/self/stat`; 0 elsewhere.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name; Linux
    // counts them in USER_HZ, 100 per second.
    (ticks(11) + ticks(12)) / 100.0
}

/// `VmHWM` (peak resident memory) or `VmRSS` from `/proc/self/status`, in MB; 0 elsewhere.
fn status_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn peak_rss_mb() -> f64 {
    status_mb("VmHWM:")
}

fn rss_mb() -> f64 {
    status_mb("VmRSS:")
}
