//! Helpers shared by the integration tests: run the real binary, find the corpus.
#![allow(dead_code)]

pub mod hostile;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lineage"))
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shared corpus beside the clone, or `None` with a message (so a user's clone passes).
pub fn corpus() -> Option<PathBuf> {
    let p = repo().join("../shared/corpus");
    if p.join("CATALOG.md").is_file() {
        Some(p)
    } else {
        eprintln!("skipping: ../shared/corpus is absent (corpus tests need the shared corpus)");
        None
    }
}

/// Reads logs the way the commands do (library call, no progress, no summary), with `threads`
/// workers. Panics on a usage or IO error: the tests only pass paths they made or checked.
pub fn collect_events(paths: &[PathBuf], threads: usize) -> lineage::app::Collected {
    let cfg = lineage::app::ReadConfig {
        paths: paths.to_vec(),
        threads,
        follow_links: false,
        progress: false,
        summary: false,
        filter: lineage::extract::Filter::default(),
        issues: None,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    lineage::app::collect(&cfg, false, &pool).expect("read the logs")
}

pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run lineage")
}

/// Parse a JSON-lines file into values.
pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("valid JSON line"))
        .collect()
}

/// Count events by (file, "source:event_id").
pub fn count_by_file(events: &[serde_json::Value]) -> BTreeMap<(String, String), u64> {
    let mut out = BTreeMap::new();
    for e in events {
        let file = e["file"].as_str().unwrap_or_default().to_string();
        let key = format!("{}:{}", e["source"].as_str().unwrap_or(""), e["event_id"]);
        *out.entry((file, key)).or_default() += 1;
    }
    out
}

/// One row of the corpus catalog.
#[derive(Debug, Clone)]
pub struct CatalogRow {
    pub path: PathBuf,
    pub records: u64,
    pub err: String,
    pub s1: u64,
    pub s5: u64,
    pub p4688: u64,
    pub p4689: u64,
}

/// Parse `CATALOG.md`: sections name the folder, rows the file and its counts.
pub fn catalog(corpus: &Path) -> Vec<CatalogRow> {
    let text = std::fs::read_to_string(corpus.join("CATALOG.md")).expect("catalog");
    let mut section = None;
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(s) = line.strip_prefix("## ") {
            section = Some(s.trim().to_string());
            continue;
        }
        let Some(sec) = &section else { continue };
        if !line.starts_with("| ") || line.starts_with("| file") {
            continue;
        }
        let c: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        if c.len() < 9 {
            continue;
        }
        let n = |s: &str| s.parse::<u64>().unwrap_or(0);
        rows.push(CatalogRow {
            path: corpus.join(sec).join(c[0]),
            records: n(c[2]),
            err: c[3].to_string(),
            s1: n(c[5]),
            s5: n(c[6]),
            p4688: n(c[7]),
            p4689: n(c[8]),
        });
    }
    rows
}
