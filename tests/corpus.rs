//! The whole public corpus: process counts equal the reference catalog, damaged files report
//! the damage their names describe, and nothing panics. Skips when `../shared` is absent.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use support::*;

#[test]
fn corpus_counts_and_damage_match_the_catalog() {
    let Some(corpus) = corpus() else { return };
    let rows = catalog(&corpus);
    assert!(rows.len() > 500, "catalog parsed: {} rows", rows.len());
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let issues = dir.path().join("issues.jsonl");
    let out = run(&[
        "events",
        corpus.to_str().unwrap(),
        "--kind",
        "process,exit",
        "--format",
        "jsonl",
        "--quiet",
        "-o",
        events.to_str().unwrap(),
        "--issues",
        issues.to_str().unwrap(),
    ]);
    // The corpus holds damaged files: "done, but some input was damaged".
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let counts = count_by_file(&read_jsonl(&events));
    let get = |f: &str, k: &str| {
        counts
            .get(&(f.to_string(), k.to_string()))
            .copied()
            .unwrap_or(0)
    };
    let mut mismatches = Vec::new();
    for r in &rows {
        let f = r.path.to_string_lossy();
        let got = (
            get(&f, "sysmon:1"),
            get(&f, "sysmon:5"),
            get(&f, "security:4688"),
            get(&f, "security:4689"),
        );
        if got != (r.s1, r.s5, r.p4688, r.p4689) {
            mismatches.push(format!(
                "{f}: catalog {:?} got {got:?}",
                (r.s1, r.s5, r.p4688, r.p4689)
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "count mismatches:\n{}",
        mismatches.join("\n")
    );

    let mut kinds: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for i in read_jsonl(&issues) {
        kinds
            .entry(i["file"].as_str().unwrap_or_default().to_string())
            .or_default()
            .insert(i["kind"].as_str().unwrap_or_default().to_string());
    }
    let damage_of = |f: &str| -> BTreeSet<String> {
        kinds
            .get(f)
            .map(|s| {
                s.iter()
                    .filter(|k| *k != "source_mismatch")
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut problems = Vec::new();
    for r in &rows {
        let f = r.path.to_string_lossy().to_string();
        let found = damage_of(&f);
        let mut expect: Vec<&[&str]> = Vec::new();
        if r.err.contains("odd-size") {
            expect.push(&["truncated"]);
        }
        if r.err.contains("unreadable") {
            expect.push(&["bad_chunk_magic", "unreadable_chunk"]);
        }
        if r.err.contains("badCRC") {
            expect.push(&["chunk_data_checksum", "chunk_header_checksum"]);
        }
        if r.err.contains(" err") {
            expect.push(&["record_decode", "bad_chunk_magic", "unreadable_chunk"]);
        }
        if r.err.contains("NOT-EVTX") {
            expect.push(&["unsupported"]);
        }
        for any_of in &expect {
            if !any_of.iter().any(|k| found.contains(*k)) {
                problems.push(format!(
                    "{f}: catalog says {:?}, expected one of {any_of:?}, found {found:?}",
                    r.err
                ));
            }
        }
        // Files the reference parser reads cleanly must report nothing, except the one where
        // it silently skips zeroed chunks in the middle of the file.
        let known_extra = f.ends_with("2-vss_7-System.evtx");
        if expect.is_empty() && !found.is_empty() && !known_extra {
            problems.push(format!(
                "{f}: clean in the catalog ({}), but lineage reports {found:?}",
                r.err
            ));
        }
        if known_extra {
            assert!(
                found.contains("zeroed_chunk"),
                "{f}: zeroed chunks 10-11 before data"
            );
        }
    }
    assert!(
        problems.is_empty(),
        "damage reports:\n{}",
        problems.join("\n")
    );
}

#[test]
fn output_does_not_depend_on_the_thread_count() {
    let Some(corpus) = corpus() else { return };
    let dir = corpus.join("AndrewRathbun+DFIRArtifactMuseum");
    let one = run(&[
        "events",
        dir.to_str().unwrap(),
        "--format",
        "jsonl",
        "--threads",
        "1",
        "-q",
    ]);
    let two = run(&[
        "events",
        dir.to_str().unwrap(),
        "--format",
        "jsonl",
        "--threads",
        "2",
        "-q",
    ]);
    assert!(!one.stdout.is_empty());
    assert!(one.stdout == two.stdout, "thread count changed the output");
}
