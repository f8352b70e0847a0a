//! The generator is deterministic for a seed, whatever the thread count.

use lineage_testkit::fleet::{generate, FleetConfig};
use std::path::Path;

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir)
                    .expect("prefix")
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, std::fs::read(&p).expect("read")));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn same_seed_same_bytes_whatever_the_threads() {
    let cfg = FleetConfig {
        hosts: 5,
        days: 2,
        procs_per_day: 100,
        anomalies: 9,
        ..FleetConfig::default()
    };
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    let truth_a = a.path().join("parents.jsonl");
    let sa = generate(
        &FleetConfig {
            threads: 1,
            ..cfg.clone()
        },
        a.path(),
        Some(&truth_a),
    )
    .expect("generate");
    let truth_b = b.path().join("parents.jsonl");
    let sb =
        generate(&FleetConfig { threads: 3, ..cfg }, b.path(), Some(&truth_b)).expect("generate");
    assert_eq!(sa, sb);
    assert_eq!(sa.anomalies.len(), 9);
    assert!(sa.anomalies.iter().all(|x| !x.records.is_empty()));
    assert_eq!(files(a.path()), files(b.path()));
    let parents = std::fs::read_to_string(&truth_a).expect("truth");
    assert_eq!(parents.lines().count() as u64, sa.processes);
}
