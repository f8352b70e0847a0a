//! Output injection: real EVTX files (written by the testkit) whose command lines, images,
//! users, directories and `Computer` names hold terminal escapes, line controls, bidi and
//! zero-width characters, spreadsheet formulas, markup and `../` paths, read through every
//! output. Nothing may act: terminal-facing text (table, tree, stderr) carries none of those
//! characters raw, CSV cells cannot start a formula (unless `--csv-raw`), JSON lines are valid
//! and give back the exact text, and no file is created from log text.

mod support;

use chrono::{DateTime, Duration, TimeZone, Utc};
use lineage_testkit::events::ProcessCreate;
use lineage_testkit::values::Guid;
use lineage_testkit::{Channel, EventFactory, EvtxWriter, Header};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use support::hostile::{acts_on_terminal, COMPUTERS, STRINGS};
use support::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 8, 0, 0).unwrap()
}

/// A Sysmon 1 with every free-text field set to `text`, on the machine whose ProcessGuid
/// prefix is `machine` (distinct machines have distinct prefixes, or lineage rightly takes
/// them for one renamed machine and their identical processes for duplicates).
fn start(
    machine: u32,
    pid: u32,
    parent_pid: u32,
    at: DateTime<Utc>,
    text: &str,
    image: &str,
) -> ProcessCreate {
    let secs = u32::try_from(at.timestamp()).unwrap();
    ProcessCreate {
        utc_time: at,
        guid: Guid::sysmon(machine, secs, pid as u16, 0x300),
        pid,
        image: image.to_string(),
        file_version: text.to_string(),
        description: text.to_string(),
        product: text.to_string(),
        company: text.to_string(),
        original_file_name: text.to_string(),
        command_line: text.to_string(),
        current_directory: text.to_string(),
        user: format!("CORP\\{text}"),
        logon_guid: Guid([0; 16]),
        logon_id: 0x3e7,
        session: 1,
        integrity: "High".into(),
        hashes: text.to_string(),
        parent_guid: Guid::sysmon(machine, secs, 1, 0x300),
        parent_pid,
        parent_image: text.to_string(),
        parent_command_line: text.to_string(),
        parent_user: text.to_string(),
    }
}

/// The input folder: one Sysmon log with a boot marker per host, a parent, and one child per
/// hostile string whose image and every text field hold it; the same on every hostile
/// `Computer`. Returns the work directory (inputs under `logs/`).
fn write_logs(root: &Path) -> PathBuf {
    let logs = root.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let mut sysmon = EvtxWriter::create(&logs.join(Channel::Sysmon.file_name())).unwrap();
    let mut system = EvtxWriter::create(&logs.join(Channel::System.file_name())).unwrap();
    let hosts = std::iter::once("WIN10-A").chain(COMPUTERS.iter().map(|c| c.1));
    for (machine, host) in (0x747f3d96u32..).zip(hosts) {
        let f = EventFactory::new(host);
        let h = |at| Header {
            time: at,
            process_id: 4,
            thread_id: 8,
        };
        system
            .append(&f.kernel_boot(&h(t0()), t0()).record)
            .unwrap();
        let parent = start(
            machine,
            1000,
            4,
            t0() + Duration::seconds(1),
            "parent",
            "C:\\p.exe",
        );
        let ev = f.sysmon_process_create(&h(parent.utc_time), &parent);
        sysmon.append(&ev.record).unwrap();
        for (i, (_, text)) in STRINGS.iter().enumerate() {
            let i = u32::try_from(i).unwrap();
            let at = t0() + Duration::seconds(10 + i64::from(i));
            let mut p = start(machine, 2000 + 4 * i, 1000, at, text, text);
            p.parent_guid = parent.guid;
            p.parent_image = parent.image.clone();
            sysmon
                .append(&f.sysmon_process_create(&h(at), &p).record)
                .unwrap();
        }
    }
    sysmon.finish().unwrap();
    system.finish().unwrap();
    // A JSON-lines export whose broken lines quote hostile text, so issue details (the
    // `--issues` file and the warnings on stderr) carry it too.
    let mut broken = String::new();
    for (_, text) in STRINGS.iter().chain(COMPUTERS) {
        broken.push_str(&format!("{{\"Event\": {{\"System\": \"{text}\"\n"));
    }
    std::fs::write(logs.join("broken.jsonl"), broken).unwrap();
    logs
}

/// Panics naming the attack when `text`, meant for a terminal, holds a raw character that
/// acts on one. Line ends (`\n`) between lines are the output's own.
fn assert_terminal_safe(what: &str, text: &str) {
    for (n, line) in text.split('\n').enumerate() {
        if let Some(c) = line.chars().find(|&c| acts_on_terminal(c)) {
            panic!("{what}: line {n} holds raw {c:?}: {line:?}");
        }
    }
}

/// Runs lineage in `cwd` (so a path taken from log text would land in the work tree) and
/// returns (exit code, stdout, stderr).
fn lineage_in(cwd: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = bin().current_dir(cwd).args(args).output().expect("run");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every file and directory under `root`, relative.
fn tree_of(root: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            out.insert(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out
}

/// A minimal RFC 4180 reader: records of fields, quoted fields may hold CR, LF and `""`.
/// Every record of a parsed CSV has the header's width (no CR/LF split one) and no cell
/// would run as a spreadsheet formula. Only the table tests use it.
#[cfg(feature = "tables")]
fn assert_csv_safe(rows: &[Vec<String>]) {
    for row in &rows[1..] {
        assert_eq!(row.len(), rows[0].len(), "a CR/LF split a record: {row:?}");
        for cell in row {
            assert!(
                !lineage::report::csv::starts_like_formula(cell),
                "live formula cell {cell:?}"
            );
        }
    }
}

fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

struct Work {
    _dir: tempfile::TempDir,
    /// Where lineage runs and writes; `logs/` inside holds the inputs.
    cwd: PathBuf,
}

fn work() -> Work {
    let dir = tempfile::tempdir().unwrap();
    // Deep enough that `../../../` from the work directory stays inside the temp dir.
    let cwd = dir.path().join("a/b/c/work");
    std::fs::create_dir_all(&cwd).unwrap();
    write_logs(&cwd);
    Work { _dir: dir, cwd }
}

impl Work {
    fn root(&self) -> &Path {
        self._dir.path()
    }
}

#[test]
fn terminal_outputs_carry_no_raw_escape_bidi_zero_width_or_line_control() {
    let w = work();
    let (code, table, stderr) = lineage_in(&w.cwd, &["events", "logs", "-f", "table"]);
    assert_eq!(code, Some(3), "the broken JSON lines are damage: {stderr}");
    assert_terminal_safe("events table", &table);
    assert_terminal_safe("events stderr", &stderr);
    // Every hostile command line is there, escaped: none was dropped.
    assert!(table.contains("invoice\\u{202e}fdp.exe"), "{table}");
    assert!(table.contains("\\x1b]0;pwned title\\x07after"), "{table}");
    assert!(stderr.contains("warning:"), "{stderr}");

    let (code, tree, stderr) = lineage_in(&w.cwd, &["tree", "logs"]);
    assert_eq!(code, Some(3), "{stderr}");
    assert_terminal_safe("tree", &tree);
    assert_terminal_safe("tree stderr", &stderr);
    for (attack, host) in COMPUTERS {
        let shown = lineage::report::sanitize::for_terminal(host).into_owned();
        assert!(
            tree.contains(&shown),
            "{attack}: host {shown} not in the tree"
        );
    }
    assert!(tree.contains("svc\\u{200b}host.exe"), "{tree}");

    // Focused views and a host filter print the same text through other paths.
    let (_, focused, stderr) = lineage_in(
        &w.cwd,
        &[
            "tree",
            "logs",
            "--host",
            "WIN10-A",
            "--pid",
            "1000",
            "--descendants",
            "-q",
        ],
    );
    assert_terminal_safe("tree --pid", &focused);
    assert_terminal_safe("tree --pid stderr", &stderr);
    assert!(
        focused.contains("benign.exe\\rmalicious overwrite"),
        "{focused}"
    );
}

#[test]
fn events_jsonl_is_valid_json_and_gives_back_every_hostile_text_exactly() {
    let w = work();
    let (code, _, stderr) = lineage_in(&w.cwd, &["events", "logs", "-f", "jsonl", "-o", "e.jsonl"]);
    assert_eq!(code, Some(3), "{stderr}");
    assert_terminal_safe("events -o stderr", &stderr);
    let text = std::fs::read_to_string(w.cwd.join("e.jsonl")).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    let values = |key: &str| -> BTreeSet<String> {
        events
            .iter()
            .filter_map(|e| e[key].as_str().map(str::to_string))
            .collect()
    };
    let (cmds, images, hosts, users) = (
        values("command_line"),
        values("image"),
        values("host"),
        values("user"),
    );
    for (attack, s) in STRINGS {
        assert!(cmds.contains(*s), "{attack}: command line not lossless");
        assert!(images.contains(*s), "{attack}: image not lossless");
        assert!(users.contains(&format!("CORP\\{s}")), "{attack}: user");
    }
    for (attack, host) in COMPUTERS {
        assert!(hosts.contains(*host), "{attack}: Computer not lossless");
    }
    // Per host: the parent and every hostile child.
    let starts = events.iter().filter(|e| e["kind"] == "process").count();
    assert_eq!(starts, (COMPUTERS.len() + 1) * (STRINGS.len() + 1));
}

#[test]
fn csv_cells_never_start_a_formula_unless_csv_raw() {
    let w = work();
    let (code, _, stderr) = lineage_in(&w.cwd, &["events", "logs", "-f", "csv", "-o", "e.csv"]);
    assert_eq!(code, Some(3), "{stderr}");
    let rows = parse_csv(&std::fs::read_to_string(w.cwd.join("e.csv")).unwrap());
    let header = &rows[0];
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let mut cells = 0;
    for row in &rows[1..] {
        assert_eq!(row.len(), header.len(), "a CR/LF split a record: {row:?}");
        for cell in row {
            assert!(
                !lineage::report::csv::starts_like_formula(cell),
                "live formula cell {cell:?}"
            );
            cells += 1;
        }
    }
    assert!(cells > 0);
    let cmds: BTreeSet<&str> = rows[1..]
        .iter()
        .map(|r| r[col("command_line")].as_str())
        .collect();
    for (attack, s) in STRINGS {
        let want = lineage::report::csv::neutralise(s);
        assert!(
            cmds.contains(want.as_ref()),
            "{attack}: {want:?} not in the CSV"
        );
    }
    let hosts: BTreeSet<&str> = rows[1..].iter().map(|r| r[col("host")].as_str()).collect();
    assert!(hosts.contains("'=HOST()"), "{hosts:?}");

    // --csv-raw: the exact text, formulas included (the user asked for it).
    let (_, _, _) = lineage_in(
        &w.cwd,
        &[
            "events",
            "logs",
            "-f",
            "csv",
            "--csv-raw",
            "-o",
            "raw.csv",
            "-q",
        ],
    );
    let rows = parse_csv(&std::fs::read_to_string(w.cwd.join("raw.csv")).unwrap());
    let cmds: BTreeSet<&str> = rows[1..]
        .iter()
        .map(|r| r[col("command_line")].as_str())
        .collect();
    for (attack, s) in STRINGS {
        assert!(cmds.contains(s), "{attack}: --csv-raw must keep {s:?}");
    }
}

#[test]
fn the_issues_file_is_valid_json_and_quotes_hostile_details_exactly() {
    let w = work();
    let (code, _, stderr) = lineage_in(
        &w.cwd,
        &[
            "events",
            "logs",
            "-o",
            "/dev/null",
            "--issues",
            "issues.jsonl",
        ],
    );
    assert_eq!(code, Some(3), "{stderr}");
    assert_terminal_safe("stderr with issues", &stderr);
    let text = std::fs::read_to_string(w.cwd.join("issues.jsonl")).unwrap();
    let issues: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("every issue line is JSON"))
        .collect();
    assert!(
        issues.iter().any(|i| i["kind"] == "malformed_json"),
        "{issues:?}"
    );
    for line in text.lines() {
        assert!(!line.contains(['\u{1b}', '\r']), "raw control in {line:?}");
    }
}

/// Outputs are written to a temporary file beside the destination and renamed over it
/// (`report::output`); the temporary name is `.<destination name>.<random>.tmp`, from the
/// command line only. Runs happen three levels below the temp dir root, so a path built from
/// a `../../../` in log text would land inside the tree this test lists.
#[test]
fn no_file_is_created_from_log_text() {
    let w = work();
    let before = tree_of(w.root());
    let runs: &[&[&str]] = &[
        &[
            "events",
            "logs",
            "-f",
            "jsonl",
            "-o",
            "out/e.jsonl",
            "--issues",
            "out/i.jsonl",
        ],
        &["events", "logs", "-f", "csv", "-o", "out/e.csv"],
        &["events", "logs", "-f", "table", "-o", "out/e.txt"],
        &["tree", "logs", "-o", "out/t.txt"],
    ];
    std::fs::create_dir(w.cwd.join("out")).unwrap();
    for args in runs {
        let (code, _, stderr) = lineage_in(&w.cwd, args);
        assert!(matches!(code, Some(0 | 3)), "{args:?}: {stderr}");
    }
    let after = tree_of(w.root());
    let added: BTreeSet<&String> = after.difference(&before).collect();
    let prefix = "a/b/c/work/out";
    let expected: BTreeSet<String> = ["", "/e.jsonl", "/i.jsonl", "/e.csv", "/e.txt", "/t.txt"]
        .iter()
        .map(|s| format!("{prefix}{s}"))
        .collect();
    assert_eq!(
        added,
        expected.iter().collect(),
        "only the named outputs may appear: no temporary file left, no name from log text, \
         nothing written up the tree by a `../` in an image or command line"
    );
}

#[cfg(feature = "tables")]
mod tables {
    use super::*;

    /// Query results on the terminal and in CSV, and the dataset's folder names: the hostile
    /// text is escaped, neutralised, or percent-encoded, and JSON lines keep it exactly.
    #[test]
    fn query_results_and_dataset_folders_are_safe() {
        let w = work();
        let sql = "SELECT host, computer, image, command_line, ancestry FROM processes";
        let (code, out, err) = lineage_in(&w.cwd, &["query", "logs", "--sql", sql, "-f", "table"]);
        assert_eq!(code, Some(3), "{err}");
        assert_terminal_safe("query table", &out);
        assert_terminal_safe("query stderr", &err);
        let (_, out, _) = lineage_in(&w.cwd, &["query", "logs", "--sql", sql, "-f", "csv", "-q"]);
        let rows = parse_csv(&out);
        assert!(rows.len() > STRINGS.len(), "{}", rows.len());
        assert_csv_safe(&rows);
        let (code, _, err) = lineage_in(&w.cwd, &["export", "logs", "-o", "ds", "-q"]);
        assert_eq!(code, Some(3), "{err}");
        let root = w.cwd.join("ds");
        let mut stack = vec![root.clone()];
        let mut folders = 0;
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                let name = p
                    .file_name()
                    .unwrap()
                    .to_str()
                    .expect("UTF-8 name")
                    .to_string();
                assert!(
                    name.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-%=~".contains(&b)),
                    "unsafe folder or file name {name:?}"
                );
                assert!(name != "." && name != "..");
                if p.is_dir() {
                    folders += 1;
                    stack.push(p);
                }
            }
        }
        assert!(folders > COMPUTERS.len(), "{folders} folders");
        assert!(!w.cwd.join("HOST-TRAVERSAL").exists());
        let (code, out, err) = lineage_in(
            &w.cwd,
            &[
                "query",
                "--dataset",
                "ds",
                "--sql",
                "SELECT DISTINCT computer FROM events",
                "-f",
                "jsonl",
            ],
        );
        assert_eq!(code, Some(0), "{err}");
        let names: BTreeSet<String> = out
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON"))
            .filter_map(|v| v["computer"].as_str().map(str::to_string))
            .collect();
        for (attack, h) in COMPUTERS {
            assert!(
                names.contains(*h),
                "{attack}: dataset not lossless: {names:?}"
            );
        }
    }

    #[test]
    fn processes_csv_neutralises_formulas_and_jsonl_is_lossless() {
        let w = work();
        let (code, _, stderr) = lineage_in(&w.cwd, &["processes", "logs", "-o", "p.csv"]);
        assert_eq!(code, Some(3), "{stderr}");
        assert_terminal_safe("processes stderr", &stderr);
        let rows = parse_csv(&std::fs::read_to_string(w.cwd.join("p.csv")).unwrap());
        assert_csv_safe(&rows);
        let (_, _, _) = lineage_in(
            &w.cwd,
            &["processes", "logs", "-o", "raw.csv", "--csv-raw", "-q"],
        );
        let raw = parse_csv(&std::fs::read_to_string(w.cwd.join("raw.csv")).unwrap());
        let cmd = raw[0].iter().position(|h| h == "command_line").unwrap();
        let cmds: BTreeSet<&str> = raw[1..].iter().map(|r| r[cmd].as_str()).collect();
        for (attack, s) in STRINGS {
            assert!(cmds.contains(s), "{attack}: --csv-raw must keep {s:?}");
        }

        let (_, _, _) = lineage_in(&w.cwd, &["processes", "logs", "-o", "p.jsonl", "-q"]);
        let text = std::fs::read_to_string(w.cwd.join("p.jsonl")).unwrap();
        let rows: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON"))
            .collect();
        let cmds: BTreeSet<&str> = rows
            .iter()
            .filter_map(|r| r["command_line"].as_str())
            .collect();
        // A machine's rows carry its last name in `host` and the name on each record in
        // `computer`: every hostile name must be in one of them, byte for byte.
        let hosts: BTreeSet<&str> = rows
            .iter()
            .flat_map(|r| [r["host"].as_str(), r["computer"].as_str()])
            .flatten()
            .collect();
        for (attack, s) in STRINGS {
            assert!(cmds.contains(s), "{attack}: processes jsonl not lossless");
        }
        for (attack, h) in COMPUTERS {
            assert!(hosts.contains(h), "{attack}: host not lossless");
        }
    }

    #[test]
    fn processes_parquet_keeps_hostile_text_exactly() {
        use polars::prelude::*;
        let w = work();
        let (code, _, stderr) = lineage_in(&w.cwd, &["processes", "logs", "-o", "p.parquet"]);
        assert_eq!(code, Some(3), "{stderr}");
        let file = std::fs::File::open(w.cwd.join("p.parquet")).unwrap();
        let df = ParquetReader::new(file).finish().unwrap();
        let col = df.column("command_line").unwrap().str().unwrap();
        let cmds: BTreeSet<&str> = col.iter().flatten().collect();
        for (attack, s) in STRINGS {
            assert!(cmds.contains(s), "{attack}: parquet not lossless");
        }
    }
}
