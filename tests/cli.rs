//! The binary as a user meets it: arguments, errors, exit codes, atomic output, and hostile log
//! text that must not act on the terminal or the spreadsheet.

mod support;

use support::*;

const HOSTILE: &str = "tests/data/hostile.jsonl";

fn hostile() -> String {
    repo().join(HOSTILE).to_string_lossy().into_owned()
}

#[test]
fn no_arguments_is_a_usage_error() {
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!out.stderr.is_empty());
}

#[test]
fn a_missing_input_is_one_clear_line_and_exit_2() {
    let out = run(&["events", "/nonexistent/Security.evtx"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("/nonexistent/Security.evtx: no such file or directory"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_bad_time_is_a_usage_error_naming_the_accepted_forms() {
    let out = run(&["events", &hostile(), "--from", "yesterday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("yesterday"));
}

#[test]
fn an_unwritable_output_exits_4_and_leaves_nothing() {
    let out = run(&[
        "events",
        &hostile(),
        "-o",
        "/nonexistent-dir/out.jsonl",
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent-dir"));
    assert!(!std::path::Path::new("/nonexistent-dir/out.jsonl").exists());
}

#[test]
fn output_files_are_complete_and_no_temporary_file_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.csv");
    let out = run(&[
        "events",
        &hostile(),
        "-f",
        "csv",
        "-o",
        dest.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["out.csv"]);
    assert!(std::fs::read_to_string(&dest)
        .unwrap()
        .starts_with("kind,host,time"));
}

#[test]
fn terminal_output_never_carries_raw_control_or_bidi_characters() {
    let out = run(&["events", &hostile(), "-f", "table"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    for s in [&text, &err] {
        assert!(!s.contains('\u{1b}'), "raw ESC reached the terminal: {s:?}");
        assert!(
            !s.contains('\u{7}') && !s.contains('\r'),
            "raw BEL/CR: {s:?}"
        );
        assert!(
            !s.contains('\u{202e}') && !s.contains('\u{200b}'),
            "raw bidi/zero-width: {s:?}"
        );
    }
    assert!(
        text.contains("\\x1b]0;pwned"),
        "escape is shown, not acted on: {text}"
    );
    assert!(text.contains("\\u{202e}"), "{text}");
    // One event is one line: the CR/LF inside the command line did not break the table.
    assert_eq!(text.lines().count(), 2, "{text}");
}

#[test]
fn csv_cells_that_look_like_formulas_are_neutralised_unless_raw() {
    let safe = String::from_utf8(run(&["events", &hostile(), "-f", "csv"]).stdout).unwrap();
    assert!(safe.contains(",'=cmd|' /C calc'!A0,"), "{safe}");
    assert!(safe.contains(",'@SUM(1),"), "{safe}");
    assert!(safe.contains("'+1-1"), "{safe}");
    let raw =
        String::from_utf8(run(&["events", &hostile(), "-f", "csv", "--csv-raw"]).stdout).unwrap();
    assert!(raw.contains(",@SUM(1),"), "{raw}");
}

#[test]
fn jsonl_is_lossless_and_forged_sources_are_not_used() {
    let out = run(&["events", &hostile(), "-f", "jsonl"]);
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "the record with the wrong provider GUID is not used"
    );
    let cmd = lines[0]["command_line"].as_str().unwrap();
    assert!(cmd.starts_with("\u{1b}]0;pwned\u{7}\u{1b}[31mred\rfake line\n="));
    assert_eq!(lines[0]["host"], "HOST\u{1b}[2J\u{202e}evil");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("wrong channel or GUID (not used): 1"), "{err}");
}

#[test]
fn filters_select_kind_host_and_time() {
    let samples = repo().join("samples");
    let s = samples.to_str().unwrap();
    let count = |extra: &[&str]| {
        let mut args = vec!["events", s, "-f", "jsonl", "-q"];
        args.extend_from_slice(extra);
        String::from_utf8(run(&args).stdout)
            .unwrap()
            .lines()
            .count()
    };
    let all = count(&[]);
    let process = count(&["--kind", "process"]);
    let markers = count(&["--kind", "marker"]);
    let exits = count(&["--kind", "exit"]);
    assert_eq!(process + markers + exits, all);
    assert_eq!(process, 681 + 34);
    // The machine was renamed during setup: two Computer names in one log.
    let renamed = count(&["--host", "desktop-tmku40h"]);
    let setup_name = count(&["--host", "WIN-C89CFTIHC0I"]);
    assert!(renamed > 0 && setup_name > 0, "host match ignores case");
    assert_eq!(renamed + setup_name, all);
    assert_eq!(count(&["--host", "other"]), 0);
    let late = count(&["--from", "2022-03-10T20:00", "--kind", "process"]);
    assert!(late > 0 && late < process);
    assert_eq!(count(&["--to", "2000-01-01"]), 0);
}
