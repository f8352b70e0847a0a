//! `lineage query`, `stack`, `export` and the hunt library, through the real binary: every
//! hunt returns its known rows (on `samples/`, and on the shared corpus when present), a
//! dataset answers exactly like the logs it was exported from, and bad queries, bad datasets
//! and occupied export folders fail cleanly.
#![cfg(feature = "tables")]

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::{bin, corpus, repo};

/// Run lineage with `args`; returns (exit code, stdout, stderr).
fn lineage(args: &[&str]) -> (Option<i32>, String, String) {
    let out = bin().args(args).output().expect("run lineage");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn jsonl(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The rows of a hunt over `source` (paths, or `--dataset DIR`).
fn hunt(source: &[&str], name: &str) -> Vec<Value> {
    let mut args = vec!["query"];
    args.extend_from_slice(source);
    args.extend_from_slice(&["--hunt", name, "--format", "jsonl", "--quiet"]);
    let (code, out, err) = lineage(&args);
    assert!(
        matches!(code, Some(0) | Some(3)),
        "{name}: exit {code:?}: {err}"
    );
    jsonl(&out)
}

fn samples() -> String {
    repo().join("samples").display().to_string()
}

/// A row where every (key, value) of `want` matches (strings compare exactly, numbers by
/// value).
fn has_row(rows: &[Value], want: &[(&str, Value)]) -> bool {
    rows.iter()
        .any(|r| want.iter().all(|(k, v)| r.get(*k) == Some(v)))
}

#[track_caller]
fn assert_row(rows: &[Value], want: &[(&str, Value)]) {
    assert!(
        has_row(rows, want),
        "no row with {want:?} among {} rows; first: {:?}",
        rows.len(),
        rows.iter().take(5).collect::<Vec<_>>()
    );
}

fn s(v: &str) -> Value {
    Value::String(v.into())
}

#[test]
fn hunts_return_their_known_rows_on_the_samples() {
    let src = samples();
    let src = [src.as_str()];
    // PsExec's service binary in C:\Windows, started by services.exe (APTSimulator).
    let rows = hunt(&src, "services_children_outside_system32");
    assert_row(
        &rows,
        &[
            ("host", s("DESKTOP-TMKU40H")),
            ("start", s("2022-03-10T19:57:43.685Z")),
            ("image", s(r"C:\Windows\PSEXESVC.EXE")),
        ],
    );
    assert!(rows.iter().all(|r| !r["image"]
        .as_str()
        .unwrap_or("")
        .to_lowercase()
        .starts_with(r"c:\windows\system32\")));
    // The masquerading svchost in C:\Users\Public (CASES.md #5, record 371).
    let rows = hunt(&src, "user_writable_images");
    assert_row(
        &rows,
        &[
            ("start", s("2022-03-10T20:27:06.934Z")),
            ("image", s(r"C:\Users\Public\svchost.exe")),
            ("parent", s("cmd.exe")),
        ],
    );
    let rows = hunt(&src, "rare_core_command_lines");
    assert_row(
        &rows,
        &[
            ("program", s("svchost.exe")),
            ("command_shape", s(r#""c:\users\public\svchost.exe""#)),
            ("hosts", Value::from(1)),
        ],
    );
    let rows = hunt(&src, "stack_images");
    assert_row(
        &rows,
        &[
            ("image_path", s(r"c:\users\public\svchost.exe")),
            ("processes", Value::from(1)),
        ],
    );
    // APTSimulator's cmd.exe runs whoami, net, systeminfo, ... one after the other.
    let rows = hunt(&src, "recon_burst");
    assert_row(
        &rows,
        &[
            ("parent", s("cmd.exe")),
            ("parent_pid", Value::from(7796)),
            ("tools", Value::from(7)),
        ],
    );
    // GoogleUpdate /svc (a service) starting its installer from Program Files.
    let rows = hunt(&src, "grandchildren_of_services_outside_system32");
    assert_row(
        &rows,
        &[
            ("start", s("2022-03-10T19:55:44.191Z")),
            ("parent", s("googleupdate.exe")),
        ],
    );
    // Sysmon logged children of PID 932 (its GUID dates it inside the boot) but never 932.
    let rows = hunt(&src, "missing_parent_in_captured_boot");
    assert_row(
        &rows,
        &[
            ("start", s("2022-03-10T19:56:38.631Z")),
            ("parent_pid", Value::from(932)),
            ("parent_origin", s("missing_event")),
        ],
    );
    let rows = hunt(&src, "encoded_powershell");
    assert_row(
        &rows,
        &[
            ("start", s("2022-03-10T20:10:46.374Z")),
            ("parent", s("cmd.exe")),
        ],
    );
    let rows = hunt(&src, "findings_by_rule");
    assert_row(
        &rows,
        &[("rule", s("path.core")), ("findings", Value::from(1))],
    );
    let rows = hunt(&src, "stack_parent_child");
    assert_row(
        &rows,
        &[
            ("parent", s("cmd.exe")),
            ("child", s("svchost.exe")),
            ("hosts", Value::from(1)),
        ],
    );
    // Rarest first: the counts never fall down the list.
    let hosts: Vec<u64> = rows.iter().filter_map(|r| r["hosts"].as_u64()).collect();
    assert!(hosts.windows(2).all(|w| w[0] <= w[1]), "{hosts:?}");
    let rows = hunt(&src, "stack_command_shapes");
    assert!(rows.iter().any(|r| r["command_shape"]
        .as_str()
        .is_some_and(|c| c.contains(r"c:\users\<user>\downloads\"))));
    assert!(
        hunt(&src, "log_cleared").is_empty(),
        "the samples clear no log"
    );
    assert!(hunt(&src, "office_browser_to_shell").is_empty());
}

/// Export `paths` to a fresh dataset under `dir`.
fn export(paths: &[&str], dir: &Path) {
    let mut args = vec!["export"];
    args.extend_from_slice(paths);
    let d = dir.display().to_string();
    args.extend_from_slice(&["-o", &d, "--quiet"]);
    let (code, _, err) = lineage(&args);
    assert!(matches!(code, Some(0) | Some(3)), "export: {code:?} {err}");
    assert!(dir.join("dataset.json").is_file());
}

#[test]
fn a_dataset_answers_like_the_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = tmp.path().join("ds");
    export(&[&samples()], &ds);
    let d = ds.display().to_string();
    for h in lineage::tables::hunts::HUNTS {
        let from_logs = hunt(&[&samples()], h.name);
        let from_dataset = hunt(&["--dataset", &d], h.name);
        assert_eq!(
            from_logs, from_dataset,
            "{}: logs and dataset differ",
            h.name
        );
    }
    // Every table is there, with the row counts of the manifest.
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(ds.join("dataset.json")).unwrap()).unwrap();
    for t in ["processes", "boots", "findings", "events"] {
        let sql = format!("SELECT COUNT(*) AS n FROM {t}");
        let (code, out, err) = lineage(&["query", "--dataset", &d, "--sql", &sql, "-f", "jsonl"]);
        assert_eq!(code, Some(0), "{err}");
        assert_eq!(jsonl(&out)[0]["n"], manifest["tables"][t]["rows"], "{t}");
    }
    // Joins across tables: each finding's process is in the processes table.
    let (code, out, err) = lineage(&[
        "query",
        "--dataset",
        &d,
        "--sql",
        "SELECT f.rule, p.image FROM findings f JOIN processes p ON f.process_key = p.process_key",
        "-f",
        "jsonl",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let joined = jsonl(&out);
    assert_eq!(
        joined.len() as u64,
        manifest["tables"]["findings"]["rows"].as_u64().unwrap()
    );
    assert!(has_row(
        &joined,
        &[
            ("rule", s("path.core")),
            ("image", s(r"C:\Users\Public\svchost.exe"))
        ]
    ));
}

#[test]
fn output_formats_times_and_csv_cells() {
    let tmp = tempfile::tempdir().unwrap();
    let sql = "SELECT host, start, command_line FROM processes WHERE pid = 7796";
    let csv = tmp.path().join("r.csv");
    let pq = tmp.path().join("r.parquet");
    for out in [&csv, &pq] {
        let o = out.display().to_string();
        let (code, _, err) = lineage(&["query", &samples(), "--sql", sql, "-o", &o, "-q"]);
        assert_eq!(code, Some(0), "{err}");
    }
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("host,start,command_line\n"), "{text}");
    assert!(
        text.contains("DESKTOP-TMKU40H,2022-03-10T19:57:22.297Z,"),
        "RFC 3339 UTC times with milliseconds: {text}"
    );
    use polars::prelude::*;
    let df = ParquetReader::new(std::fs::File::open(&pq).unwrap())
        .finish()
        .unwrap();
    assert!(matches!(
        df.column("start").unwrap().dtype(),
        DataType::Datetime(TimeUnit::Milliseconds, _)
    ));
    // A formula built by the query itself is neutralised in CSV, kept with --csv-raw.
    let formula = "SELECT '=1+1' AS f FROM processes LIMIT 1";
    let (_, out, _) = lineage(&["query", &samples(), "--sql", formula, "-f", "csv", "-q"]);
    assert_eq!(out, "f\n'=1+1\n");
    let (_, out, _) = lineage(&[
        "query",
        &samples(),
        "--sql",
        formula,
        "-f",
        "csv",
        "-q",
        "--csv-raw",
    ]);
    assert_eq!(out, "f\n=1+1\n");
    // The table for a person: a header, a rule, rows, and the count.
    let (code, out, err) = lineage(&["query", &samples(), "--sql", sql, "-f", "table", "-q"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.ends_with("(1 row)\n"), "{out}");
}

#[test]
fn stack_ranks_rarest_first_and_limits() {
    let (code, out, err) = lineage(&[
        "stack",
        &samples(),
        "--by",
        "image",
        "--limit",
        "3",
        "-f",
        "jsonl",
        "-q",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let rows = jsonl(&out);
    assert_eq!(rows.len(), 3);
    let (_, out, _) = lineage(&[
        "stack",
        &samples(),
        "--by",
        "pair",
        "--limit",
        "0",
        "-f",
        "jsonl",
        "-q",
    ]);
    let all = jsonl(&out);
    assert!(all.len() > 50, "{}", all.len());
    // Rarest first: (hosts, boots, processes) never falls down the list.
    let key =
        |r: &Value| ["hosts", "boots", "processes"].map(|k| r[k].as_u64().unwrap_or(u64::MAX));
    assert!(all.windows(2).all(|w| key(&w[0]) <= key(&w[1])));
    assert!(key(all.last().unwrap())[2] > 1);
}

#[test]
fn bad_queries_datasets_and_targets_fail_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (
            vec![
                "query".into(),
                samples(),
                "--sql".into(),
                "SELEKT 1 FROM processes".into(),
            ],
            2,
            "query failed",
        ),
        (
            vec!["query".into(), samples(), "--sql".into(), "SELECT 1".into()],
            2,
            "names none of the tables",
        ),
        (
            vec!["query".into(), samples(), "--hunt".into(), "nope".into()],
            2,
            "no hunt called",
        ),
        (
            vec![
                "query".into(),
                "--dataset".into(),
                tmp.path().display().to_string(),
                "--hunt".into(),
                "recon_burst".into(),
            ],
            2,
            "not a lineage dataset",
        ),
        (
            vec![
                "query".into(),
                samples(),
                "--file".into(),
                "/nonexistent/x.sql".into(),
            ],
            2,
            "x.sql",
        ),
        (vec!["query".into(), samples()], 2, "required"),
    ];
    for (mut args, want, says) in cases {
        args.push("--quiet".into());
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = lineage(&a);
        assert_eq!(code, Some(want), "{a:?}: {err}");
        assert!(out.is_empty(), "{a:?}: wrote {out}");
        assert!(err.contains(says), "{a:?}: {err}");
        if !err.contains("Usage:") {
            assert_eq!(err.trim_end().lines().count(), 1, "{a:?}: {err}");
        }
    }
    // A failed query leaves an existing output file as it was, from logs and from a dataset.
    let kept = tmp.path().join("kept.csv");
    let ds = tmp.path().join("ds");
    export(&[&samples()], &ds);
    for source in [
        vec![samples()],
        vec!["--dataset".into(), ds.display().to_string()],
    ] {
        std::fs::write(&kept, "previous").unwrap();
        let mut a: Vec<String> = vec!["query".into()];
        a.extend(source);
        a.extend(["--sql", "SELECT nope FROM processes", "-q", "-o"].map(String::from));
        a.push(kept.display().to_string());
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let (code, _, err) = lineage(&a);
        assert_eq!(code, Some(2), "{a:?}: {err}");
        assert_eq!(std::fs::read_to_string(&kept).unwrap(), "previous", "{a:?}");
    }
    // An occupied folder is refused before reading, and left as it was.
    let occupied = tmp.path().join("occupied");
    std::fs::create_dir(&occupied).unwrap();
    std::fs::write(occupied.join("keep.txt"), "mine").unwrap();
    let o = occupied.display().to_string();
    let (code, _, err) = lineage(&["export", &samples(), "-o", &o, "-q"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--force"), "{err}");
    assert_eq!(
        std::fs::read_to_string(occupied.join("keep.txt")).unwrap(),
        "mine"
    );
    // With --force it is replaced whole, and nothing temporary is left beside it.
    let (code, _, err) = lineage(&["export", &samples(), "-o", &o, "-q", "--force"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!occupied.join("keep.txt").exists());
    assert!(occupied.join("dataset.json").is_file());
    let leftovers: Vec<PathBuf> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".lineage"))
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Every hunt over the whole corpus: seconds, its known rows, and the same answer from the
/// logs and from a dataset.
#[test]
fn every_hunt_runs_on_the_whole_corpus_in_seconds() {
    let Some(corpus) = corpus() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let ds = tmp.path().join("corpus");
    let c = corpus.display().to_string();
    let t = Instant::now();
    export(&[&c], &ds);
    eprintln!("export of the corpus: {:.1} s", t.elapsed().as_secs_f64());
    let d = ds.display().to_string();
    let mut rows = std::collections::HashMap::new();
    for h in lineage::tables::hunts::HUNTS {
        let t = Instant::now();
        let r = hunt(&["--dataset", &d], h.name);
        let took = t.elapsed();
        eprintln!(
            "{}: {} rows in {:.2} s",
            h.name,
            r.len(),
            took.as_secs_f64()
        );
        assert!(took < Duration::from_secs(20), "{} took {took:?}", h.name);
        rows.insert(h.name, r);
    }
    // From the logs directly, one hunt: the same rows.
    assert_eq!(
        hunt(&[&c], "office_browser_to_shell"),
        rows["office_browser_to_shell"]
    );

    // lsass.exe cloned by lsass.exe (RdrLeakDiag, CASES.md #2): one host, one process.
    assert_row(
        &rows["stack_parent_child"],
        &[
            ("parent", s("lsass.exe")),
            ("child", s("lsass.exe")),
            ("hosts", Value::from(1)),
            ("processes", Value::from(1)),
        ],
    );
    // PPLdump starting services.exe with a dump file argument (CASES.md #1).
    assert!(rows["rare_core_command_lines"]
        .iter()
        .any(|r| r["program"] == "services.exe"
            && r["command_shape"]
                .as_str()
                .is_some_and(|c| c.contains("lsass.dmp"))));
    // The masqueraded svchost run as `.\svchost.exe` from Downloads (CASES.md #7).
    assert_row(
        &rows["rare_core_command_lines"],
        &[
            ("program", s("svchost.exe")),
            ("command_shape", s(r".\svchost.exe")),
        ],
    );
    // The fake WINWORD.exe whose descendants run cmd.exe (CASES.md #9's sample).
    assert_row(
        &rows["office_browser_to_shell"],
        &[
            ("host", s("MSEDGEWIN10")),
            ("start", s("2020-10-17T11:43:49.217Z")),
            ("image_name", s("cmd.exe")),
        ],
    );
    // Internet Explorer starting mshta.
    assert_row(
        &rows["office_browser_to_shell"],
        &[("host", s("IEWIN7")), ("image_name", s("mshta.exe"))],
    );
    // PowerShell with an encoded command, and an IEX download cradle.
    assert_row(
        &rows["encoded_powershell"],
        &[
            ("host", s("swachchhanda")),
            ("start", s("2025-12-15T11:40:20.663Z")),
        ],
    );
    assert!(rows["encoded_powershell"]
        .iter()
        .any(|r| r["host"] == "IE10Win7"
            && r["command_line"]
                .as_str()
                .is_some_and(|c| c.contains("DownloadString"))));
    // A Security log cleared by the domain administrator.
    assert_row(
        &rows["log_cleared"],
        &[
            ("host", s("DC2016.dfir.lab")),
            ("time", s("2019-09-30T01:58:27.225Z")),
            ("detail", s(r"cleared by DFIR\Administrator")),
        ],
    );
    // Findings stacked: the lsass clone is one finding on one host.
    assert_row(
        &rows["findings_by_rule"],
        &[("rule", s("parent.lsass")), ("hosts", Value::from(1))],
    );
}
