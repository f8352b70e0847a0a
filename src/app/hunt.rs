//! `lineage query`, `lineage stack`, `lineage export` and `lineage hunts`: the rebuilt
//! history as tables, from logs or from a dataset written earlier.

use super::ReadConfig;
use super::{finish_read, input_status, open_outputs, output_status, read_all, Collected};
use crate::baseline::{self, rules::Baseline};
use crate::cli::{
    ExportArgs, QueryArgs, QueryFormat, ResultArgs, StackArgs, StackBy, TableFormat, TableSource,
};
use crate::exit::ExitCode;
use crate::extract::Filter;
use crate::lineage::{self, HostHistory};
use crate::model::Event;
use crate::report::output::{Destination, OutputFile};
use crate::report::sanitize::for_terminal;
use crate::tables::{boots, dataset, events, findings, hunts, output, processes, sql};
use polars::prelude::{DataFrame, IntoLazy, LazyFrame, PolarsError};
use std::io::IsTerminal;
use std::path::Path;

/// Print a one-line error (log text and paths escaped) and give `code`.
fn fail(code: ExitCode, msg: &str) -> ExitCode {
    let one_line = msg.trim().replace('\n', "; ");
    eprintln!("lineage: {}", for_terminal(&one_line));
    code
}

/// The rules for the `findings` table; a bad rule file is a usage error.
fn load_rules(paths: &[std::path::PathBuf]) -> Result<Baseline, ExitCode> {
    Baseline::load(paths).map_err(|e| fail(ExitCode::Usage, &e.to_string()))
}

/// What reading and rebuilding gave: the frames asked for, and the reading's record.
struct Built {
    tables: Vec<(&'static str, DataFrame)>,
    collected: Collected,
}

/// Read the logs, rebuild the history, and build the tables in `wanted` (all hosts).
fn build_from_logs(
    read: &ReadConfig,
    rules: &Baseline,
    wanted: &[&str],
) -> Result<Built, ExitCode> {
    let mut collected = read_all(read, false)?;
    let events = std::mem::take(&mut collected.events);
    // The events table needs the host names lineage assigns, and lineage consumes the
    // events: keep a copy only when a query asks for that table.
    let kept: Option<Vec<Event>> = wanted.contains(&"events").then(|| events.clone());
    let history = lineage::build(events);
    let hosts: Vec<&HostHistory> = history.hosts.iter().collect();
    let mut tables = Vec::new();
    let polars_err = |e: PolarsError| fail(ExitCode::Internal, &format!("building tables: {e}"));
    for name in sql::TABLES.into_iter().filter(|t| wanted.contains(t)) {
        let df = match name {
            "processes" => processes::processes_frame(&hosts),
            "boots" => boots::boots_frame(&hosts),
            "findings" => findings::findings_frame(&baseline::scan(&history, rules)),
            _ => events::events_frame(
                kept.as_deref().unwrap_or_default(),
                &events::host_names(&history),
            ),
        }
        .map_err(polars_err)?;
        tables.push((name, df));
    }
    // The process ends soon: freeing the history piece by piece is wasted time.
    std::mem::forget(history);
    Ok(Built { tables, collected })
}

/// An empty frame with a table's columns (for a dataset table with no rows).
fn empty_table(name: &str) -> Result<DataFrame, PolarsError> {
    match name {
        "processes" => processes::processes_frame(&[]),
        "boots" => boots::boots_frame(&[]),
        "findings" => findings::findings_frame(&[]),
        _ => events::events_frame(&[], &Default::default()),
    }
}

/// The result's format: the flag, else the extension of `-o`, else table on a terminal and
/// JSON lines otherwise.
fn result_format(r: &ResultArgs) -> Result<QueryFormat, ExitCode> {
    if let Some(f) = r.format {
        return Ok(f);
    }
    match &r.output {
        Some(p) => {
            let ext = p
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            match ext.as_deref() {
                Some("parquet" | "pq") => Ok(QueryFormat::Parquet),
                Some("csv") => Ok(QueryFormat::Csv),
                Some("jsonl" | "ndjson") => Ok(QueryFormat::Jsonl),
                Some("txt") => Ok(QueryFormat::Table),
                _ => Err(fail(
                    ExitCode::Usage,
                    &format!(
                        "cannot tell the format of {}: use a .parquet, .csv, .jsonl or .txt name or --format",
                        p.display()
                    ),
                )),
            }
        }
        None if std::io::stdout().is_terminal() => Ok(QueryFormat::Table),
        None => Ok(QueryFormat::Jsonl),
    }
}

/// Run `sql` over the tables of `source` and write the result: shared by query and stack.
fn run_sql(source: TableSource, sql_text: &str, result: &ResultArgs, limit: usize) -> ExitCode {
    let format = match result_format(result) {
        Ok(f) => f,
        Err(code) => return code,
    };
    if format == QueryFormat::Parquet && result.output.is_none() && std::io::stdout().is_terminal()
    {
        return fail(
            ExitCode::Usage,
            "not writing Parquet to a terminal: use -o FILE.parquet or a pipe",
        );
    }
    let wanted = sql::referenced(sql_text);
    if wanted.is_empty() {
        return fail(
            ExitCode::Usage,
            "the query names none of the tables processes, boots, findings, events",
        );
    }
    let dest = Destination::from_arg(result.output.as_deref());
    let query = Query {
        sql: sql_text,
        format,
        neutralise_csv: !result.csv_raw,
        limit,
    };
    match &source.dataset {
        Some(dir) => query_dataset(dir, &dest, &wanted, &query),
        None => query_logs(source, &dest, &wanted, &query),
    }
}

/// A query and how its result is written.
struct Query<'a> {
    sql: &'a str,
    format: QueryFormat,
    neutralise_csv: bool,
    /// Keep at most this many rows (0: all).
    limit: usize,
}

/// The query over a dataset written by `lineage export`.
fn query_dataset(dir: &Path, dest: &Destination, wanted: &[&'static str], q: &Query) -> ExitCode {
    let mut out = match OutputFile::create(dest) {
        Ok(o) => o,
        Err(e) => return fail(ExitCode::Io, &format!("cannot write output: {e}")),
    };
    let frames = match dataset_tables(dir, wanted) {
        Ok(f) => f,
        Err(code) => return code,
    };
    match finish_query(&mut out, frames, q) {
        ExitCode::Success => output_status(out.commit()),
        failed => failed,
    }
}

/// The query over tables rebuilt from logs now.
fn query_logs(
    source: TableSource,
    dest: &Destination,
    wanted: &[&'static str],
    q: &Query,
) -> ExitCode {
    let rules = match load_rules(&source.baseline) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let read = ReadConfig::from_parts(source.paths, source.read, Filter::default());
    let (mut out, issues_out) = match open_outputs(dest, &read) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let built = match build_from_logs(&read, &rules, wanted) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let frames = built
        .tables
        .iter()
        .map(|(n, df)| (*n, df.clone().lazy()))
        .collect::<Vec<_>>();
    let mut status = input_status(&built.collected);
    // A failed query commits nothing: the destination keeps what it had.
    status = status.merge(match finish_query(&mut out, frames, q) {
        ExitCode::Success => output_status(out.commit()),
        failed => failed,
    });
    status = status.merge(finish_read(issues_out, &built.collected, read.summary));
    std::mem::forget(built);
    status
}

/// Run the query and write its result; a query error is a usage error (the SQL is the
/// user's), and nothing is committed.
fn finish_query(out: &mut OutputFile, frames: Vec<(&str, LazyFrame)>, q: &Query) -> ExitCode {
    let mut df = match sql::run(frames, q.sql) {
        Ok(df) => df,
        Err(e) => return fail(ExitCode::Usage, &format!("query failed: {e}")),
    };
    if q.limit > 0 && df.height() > q.limit {
        df = df.head(Some(q.limit));
    }
    let file_format = match q.format {
        QueryFormat::Table => None,
        QueryFormat::Csv => Some(TableFormat::Csv),
        QueryFormat::Jsonl => Some(TableFormat::Jsonl),
        QueryFormat::Parquet => Some(TableFormat::Parquet),
    };
    let w = out.writer();
    let written = match file_format {
        None => output::table(w, &df),
        Some(f) => output::write_frame(w, &mut df, f, q.neutralise_csv),
    };
    output_status(written)
}

/// The tables of a dataset that the query names.
fn dataset_tables(
    dir: &Path,
    wanted: &[&'static str],
) -> Result<Vec<(&'static str, LazyFrame)>, ExitCode> {
    dataset::open(dir).map_err(|e| fail(ExitCode::Usage, &e.to_string()))?;
    wanted
        .iter()
        .map(|&t| {
            let empty = empty_table(t).map_err(|e| fail(ExitCode::Internal, &e.to_string()))?;
            dataset::scan(dir, t, empty)
                .map(|lf| (t, lf))
                .map_err(|e| fail(ExitCode::Io, &e.to_string()))
        })
        .collect()
}

/// `lineage query`.
pub fn run_query(a: QueryArgs) -> ExitCode {
    let text = if let Some(s) = a.sql {
        s
    } else if let Some(name) = &a.hunt {
        match hunts::find(name) {
            Some(h) => h.sql.to_string(),
            None => {
                let names: Vec<&str> = hunts::HUNTS.iter().map(|h| h.name).collect();
                return fail(
                    ExitCode::Usage,
                    &format!(
                        "no hunt called {name:?}; the library has: {}",
                        names.join(", ")
                    ),
                );
            }
        }
    } else if let Some(path) = &a.file {
        match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => return fail(ExitCode::Usage, &format!("{}: {e}", path.display())),
        }
    } else {
        return fail(ExitCode::Usage, "give --sql, --file or --hunt");
    };
    run_sql(a.source, &text, &a.result, 0)
}

/// `lineage stack`: the stacking hunts, rarest first, cut to `--limit` rows.
pub fn run_stack(a: StackArgs) -> ExitCode {
    let name = match a.by {
        StackBy::Pair => "stack_parent_child",
        StackBy::Command => "stack_command_shapes",
        StackBy::Image => "stack_images",
    };
    let Some(h) = hunts::find(name) else {
        return fail(ExitCode::Internal, &format!("hunt {name} is not embedded"));
    };
    run_sql(a.source, h.sql, &a.result, a.limit)
}

/// `lineage hunts`: the library, one block per hunt.
pub fn run_hunts() -> ExitCode {
    let mut text = String::new();
    for h in hunts::HUNTS {
        text.push_str(&format!(
            "{}\n  {}\n  technique: {}\n  noise: {}\n\n",
            h.name,
            h.title(),
            h.technique(),
            h.noise()
        ));
    }
    let mut stdout = std::io::stdout().lock();
    output_status(std::io::Write::write_all(&mut stdout, text.as_bytes()))
}

/// `lineage export`.
pub fn run_export(a: ExportArgs) -> ExitCode {
    let rules = match load_rules(&a.baseline) {
        Ok(r) => r,
        Err(code) => return code,
    };
    // A target that would be refused is refused before minutes of reading.
    if let Err(e) = dataset::check_target(&a.output, a.force) {
        return fail(ExitCode::Usage, &e.to_string());
    }
    let read = ReadConfig::from_input(a.input, Filter::default());
    let issues_out = match &read.issues {
        Some(p) => match OutputFile::create(&Destination::File(p.clone())) {
            Ok(o) => Some(o),
            Err(e) => return fail(ExitCode::Io, &format!("cannot write output: {e}")),
        },
        None => None,
    };
    let mut collected = match read_all(&read, false) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let events = std::mem::take(&mut collected.events);
    let mut status = input_status(&collected);
    let names = {
        // Lineage consumes the events; the events table is written per host afterwards from a
        // copy sorted by host, so memory peaks at twice the events, not more.
        let kept = events.clone();
        let history = lineage::build(events);
        let written = write_dataset(&a.output, &history, &rules, kept);
        let names = written.as_ref().ok().map(|n| n.len());
        match written {
            Ok(_) => {}
            Err(e) => {
                status = status.merge(fail(ExitCode::Io, &format!("cannot write dataset: {e}")))
            }
        }
        std::mem::forget(history);
        names
    };
    status = status.merge(finish_read(issues_out, &collected, read.summary));
    if let (Some(n), true) = (names, read.summary) {
        eprintln!(
            "export: {} hosts written to {}",
            n,
            for_terminal(&a.output.display().to_string())
        );
    }
    std::mem::forget(collected);
    status
}

/// Every table, one Parquet file per host and table; the dataset appears complete or not at
/// all.
fn write_dataset(
    dir: &Path,
    history: &lineage::History,
    rules: &Baseline,
    mut events: Vec<Event>,
) -> Result<Vec<String>, dataset::DatasetError> {
    let mut w = dataset::Writer::create(dir)?;
    let host_of = events::host_names(history);
    let found = baseline::scan(history, rules);
    // Events grouped by host, in the order hosts are listed.
    let index: std::collections::HashMap<&str, usize> = history
        .hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (h.name.as_str(), i))
        .collect();
    let host_index = |e: &Event| {
        host_of
            .get(&e.host)
            .and_then(|n| index.get(n.as_str()))
            .copied()
            .unwrap_or(usize::MAX)
    };
    events.sort_by_cached_key(host_index);
    let mut rest: &[Event] = &events;
    let mut names: Vec<String> = Vec::new();
    for (i, h) in history.hosts.iter().enumerate() {
        let one = [h];
        w.part(
            "processes",
            &h.name,
            i,
            &mut processes::processes_frame(&one)?,
        )?;
        w.part("boots", &h.name, i, &mut boots::boots_frame(&one)?)?;
        // Findings name their host; two machines sharing a name get them once, with the first.
        let mine: Vec<_> = if names.contains(&h.name) {
            Vec::new()
        } else {
            found.iter().filter(|f| f.host == h.name).cloned().collect()
        };
        w.part(
            "findings",
            &h.name,
            i,
            &mut findings::findings_frame(&mine)?,
        )?;
        let n = rest.iter().take_while(|e| host_index(e) == i).count();
        let (head, tail) = rest.split_at(n);
        w.part(
            "events",
            &h.name,
            i,
            &mut events::events_frame(head, &host_of)?,
        )?;
        rest = tail;
        names.push(h.name.clone());
    }
    // Events of no known host (none expected: every event belongs to a host).
    if !rest.is_empty() {
        w.part(
            "events",
            "unassigned",
            history.hosts.len(),
            &mut events::events_frame(rest, &host_of)?,
        )?;
    }
    w.commit(&names)?;
    Ok(names)
}
