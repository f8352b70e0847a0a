//! Golden counts for the embedded samples and the damaged test files: these run on every
//! clone, without the shared corpus.

mod support;

use support::*;

fn summary_number(stderr: &str, label: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("summary:"))
        .unwrap_or("");
    line.split(", ")
        .find_map(|part| part.strip_suffix(label).map(str::trim))
        .and_then(|n| n.rsplit(' ').next().and_then(|n| n.parse().ok()))
        .unwrap_or_else(|| panic!("no {label:?} in summary: {stderr}"))
}

#[test]
fn samples_have_their_golden_counts_and_no_problems() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("e.jsonl");
    let out = run(&[
        "events",
        repo().join("samples").to_str().unwrap(),
        "-f",
        "jsonl",
        "-o",
        events.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("problems: none"), "{stderr}");
    assert_eq!(summary_number(&stderr, "records read"), 5337 + 831 + 1402);
    let counts = count_by_file(&read_jsonl(&events));
    let total = |k: &str| -> u64 {
        counts
            .iter()
            .filter(|((_, key), _)| key == k)
            .map(|(_, n)| n)
            .sum()
    };
    assert_eq!(total("sysmon:1"), 681);
    assert_eq!(total("sysmon:5"), 719);
    assert_eq!(total("security:4688"), 34);
    assert_eq!(total("security:4689"), 0);
    assert_eq!(total("security:4608"), 3, "three boots in Security");
    assert!(total("system:12") >= 3, "Kernel-General 12 per boot");
}

#[test]
fn damaged_files_are_read_around_the_damage_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("e.jsonl");
    let issues = dir.path().join("i.jsonl");
    let out = run(&[
        "events",
        repo().join("tests/data/damaged").to_str().unwrap(),
        "-f",
        "jsonl",
        "-o",
        events.to_str().unwrap(),
        "--issues",
        issues.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "damaged input exits 3: {stderr}"
    );
    let counts = count_by_file(&read_jsonl(&events));
    let sysmon = repo().join("tests/data/damaged/sysmon_8_unreadable_chunks.evtx");
    let key = (sysmon.to_string_lossy().to_string(), "sysmon:1".to_string());
    assert_eq!(
        counts.get(&key),
        Some(&227),
        "every Sysmon 1 outside the bad chunks"
    );
    let issues = read_jsonl(&issues);
    let of = |file: &str, kind: &str| {
        issues
            .iter()
            .filter(|i| i["file"].as_str().unwrap_or("").ends_with(file) && i["kind"] == kind)
            .count()
    };
    assert_eq!(of("sysmon_8_unreadable_chunks.evtx", "bad_chunk_magic"), 8);
    assert_eq!(
        of("sample_with_a_bad_chunk_magic.evtx", "bad_chunk_magic"),
        2
    );
    assert_eq!(
        of("sample_with_a_bad_chunk_magic.evtx", "chunk_data_checksum"),
        3
    );
    assert!(of("sample_with_a_bad_chunk_magic.evtx", "zeroed_chunk") >= 1);
    for i in &issues {
        assert!(
            i["offset"].is_u64(),
            "every EVTX issue names an offset: {i}"
        );
    }
    assert!(stderr.contains("warning:"), "problems are listed on stderr");
}

#[test]
fn records_in_chunks_whose_magic_was_wiped_are_still_read() {
    // evtx_dump reads 301 records of this file and skips chunks 6 and 10 whole; their 15 + 67
    // records are intact apart from the chunk magic, and chunks 1-5 are zeroed.
    let file = repo().join("tests/data/damaged/sample_with_a_bad_chunk_magic.evtx");
    let out = run(&[
        "events",
        file.to_str().unwrap(),
        "-f",
        "jsonl",
        "-o",
        "/dev/null",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    // 301 + 82, and one record whose size copy alone is broken (evtx counts it as an error).
    assert_eq!(
        summary_number(&stderr, "records read"),
        301 + 15 + 67 + 1,
        "{stderr}"
    );
}
