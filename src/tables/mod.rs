//! The only module that uses polars: the rebuilt history as tables, and their files.
//!
//! `processes` has one row per process instance (placeholders included, marked by `origin`).
//! Rows refer to each other by `process_key` (`HOST#N`, unique in one run): `parent_key` is
//! the parent's key, so SQL can join a process to its parent. Parquet keeps typed columns
//! (times as UTC millisecond timestamps); CSV and JSONL get times as RFC 3339 text with
//! milliseconds, and CSV cells that a spreadsheet would run as formulas are neutralised.

use crate::cli::TableFormat;
use crate::lineage::{forest, HostHistory, Process};
use crate::report::csv::neutralise;
use crate::time::format_rfc3339_ms;
use chrono::{DateTime, Utc};
use polars::prelude::*;
use std::io::{self, Write};

/// Ancestry strings keep at most this many names (with `...` in front when deeper).
pub const ANCESTRY_LIMIT: usize = 64;

/// How times and text go into the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cells {
    /// Typed timestamps, text as logged (Parquet, SQL).
    Typed,
    /// Times as RFC 3339 text; `neutralise` CSV formula cells.
    Text { neutralise: bool },
}

/// Column builders, one vector per column.
#[derive(Default)]
struct Rows {
    host: Vec<String>,
    computer: Vec<Option<String>>,
    process_key: Vec<String>,
    boot: Vec<u32>,
    boot_start: Vec<Option<i64>>,
    boot_basis: Vec<&'static str>,
    start: Vec<Option<i64>>,
    end: Vec<Option<i64>>,
    end_reason: Vec<&'static str>,
    seconds_since_boot: Vec<Option<f64>>,
    pid: Vec<Option<u64>>,
    guid: Vec<Option<String>>,
    image: Vec<Option<String>>,
    original_file_name: Vec<Option<String>>,
    command_line: Vec<Option<String>>,
    current_directory: Vec<Option<String>>,
    user: Vec<Option<String>>,
    user_sid: Vec<Option<String>>,
    logon_id: Vec<Option<String>>,
    session: Vec<Option<u32>>,
    integrity_level: Vec<Option<String>>,
    token_elevation_type: Vec<Option<String>>,
    mandatory_label: Vec<Option<String>>,
    hashes: Vec<Option<String>>,
    origin: Vec<&'static str>,
    parent_key: Vec<Option<String>>,
    parent_pid: Vec<Option<u64>>,
    parent_guid: Vec<Option<String>>,
    parent_image: Vec<Option<String>>,
    parent_command_line: Vec<Option<String>>,
    link: Vec<&'static str>,
    link_confidence: Vec<Option<&'static str>>,
    depth: Vec<u32>,
    ancestry: Vec<String>,
    sources: Vec<String>,
    event_ids: Vec<String>,
    record_ids: Vec<String>,
    files: Vec<String>,
    exit_record_id: Vec<Option<u64>>,
}

fn ms(t: &DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

impl Rows {
    fn push(&mut self, host: &HostHistory, i: usize, p: &Process) {
        let boot = host.boots.get(p.boot);
        let key = |j: usize| format!("{}#{j}", host.name);
        self.host.push(host.name.clone());
        self.computer
            .push(p.sources.first().map(|s| s.computer.clone()));
        self.process_key.push(key(i));
        self.boot.push(boot.map_or(0, |b| b.number as u32));
        self.boot_start
            .push(boot.and_then(|b| b.start).as_ref().map(ms));
        self.boot_basis.push(boot.map_or("", |b| b.basis.as_str()));
        self.start.push(p.start.as_ref().map(ms));
        self.end.push(p.end.as_ref().map(ms));
        self.end_reason.push(p.end_reason.as_str());
        self.seconds_since_boot.push(match (p.start, boot) {
            (Some(s), Some(b)) => Some((s - b.reference_time()).num_milliseconds() as f64 / 1000.0),
            _ => None,
        });
        let info = &p.info;
        self.pid.push(info.pid);
        self.guid.push(info.guid.clone());
        self.image.push(info.image.clone());
        self.original_file_name
            .push(info.original_file_name.clone());
        self.command_line.push(info.command_line.clone());
        self.current_directory.push(info.current_directory.clone());
        self.user.push(info.user.clone());
        self.user_sid.push(info.user_sid.clone());
        self.logon_id.push(info.logon_id.clone());
        self.session.push(info.session);
        self.integrity_level.push(info.integrity_level.clone());
        self.token_elevation_type
            .push(info.token_elevation_type.clone());
        self.mandatory_label.push(info.mandatory_label.clone());
        self.hashes.push(info.hashes.clone());
        self.origin.push(p.origin.as_str());
        self.parent_key.push(p.parent.parent().map(key));
        self.parent_pid.push(info.parent_pid);
        self.parent_guid.push(info.parent_guid.clone());
        self.parent_image.push(info.parent_image.clone());
        self.parent_command_line
            .push(info.parent_command_line.clone());
        self.link.push(p.parent.state());
        self.link_confidence
            .push(p.parent.confidence().map(|c| c.as_str()));
        self.depth.push(p.depth);
        self.ancestry
            .push(forest::ancestry_text(&host.processes, i, ANCESTRY_LIMIT));
        let join = |f: &dyn Fn(&crate::lineage::Provenance) -> String| {
            p.sources.iter().map(f).collect::<Vec<_>>().join(";")
        };
        self.sources
            .push(join(&|s| format!("{:?}", s.source).to_lowercase()));
        self.event_ids.push(join(&|s| s.event_id.to_string()));
        self.record_ids.push(join(&|s| s.record_id.to_string()));
        self.files.push(join(&|s| s.file.to_string()));
        self.exit_record_id
            .push(p.exit.as_ref().map(|x| x.record_id));
    }
}

/// The process table of these hosts.
pub fn processes_frame(hosts: &[&HostHistory], cells: Cells) -> PolarsResult<DataFrame> {
    let mut r = Rows::default();
    for h in hosts {
        for (i, p) in h.processes.iter().enumerate() {
            r.push(h, i, p);
        }
    }
    let cols = vec![
        text_col("host", r.host.into_iter().map(Some).collect(), cells),
        text_col("computer", r.computer, cells),
        text_col(
            "process_key",
            r.process_key.into_iter().map(Some).collect(),
            cells,
        ),
        Column::new("boot".into(), r.boot),
        time_col("boot_start", r.boot_start, cells)?,
        static_col("boot_basis", r.boot_basis),
        time_col("start", r.start, cells)?,
        time_col("end", r.end, cells)?,
        static_col("end_reason", r.end_reason),
        Column::new("seconds_since_boot".into(), r.seconds_since_boot),
        Column::new("pid".into(), r.pid),
        text_col("guid", r.guid, cells),
        text_col("image", r.image, cells),
        text_col("original_file_name", r.original_file_name, cells),
        text_col("command_line", r.command_line, cells),
        text_col("current_directory", r.current_directory, cells),
        text_col("user", r.user, cells),
        text_col("user_sid", r.user_sid, cells),
        text_col("logon_id", r.logon_id, cells),
        Column::new("session".into(), r.session),
        text_col("integrity_level", r.integrity_level, cells),
        text_col("token_elevation_type", r.token_elevation_type, cells),
        text_col("mandatory_label", r.mandatory_label, cells),
        text_col("hashes", r.hashes, cells),
        static_col("origin", r.origin),
        text_col("parent_key", r.parent_key, cells),
        Column::new("parent_pid".into(), r.parent_pid),
        text_col("parent_guid", r.parent_guid, cells),
        text_col("parent_image", r.parent_image, cells),
        text_col("parent_command_line", r.parent_command_line, cells),
        static_col("link", r.link),
        Column::new("link_confidence".into(), r.link_confidence),
        Column::new("depth".into(), r.depth),
        text_col(
            "ancestry",
            r.ancestry.into_iter().map(Some).collect(),
            cells,
        ),
        text_col("sources", r.sources.into_iter().map(Some).collect(), cells),
        text_col(
            "event_ids",
            r.event_ids.into_iter().map(Some).collect(),
            cells,
        ),
        text_col(
            "record_ids",
            r.record_ids.into_iter().map(Some).collect(),
            cells,
        ),
        text_col("files", r.files.into_iter().map(Some).collect(), cells),
        Column::new("exit_record_id".into(), r.exit_record_id),
    ];
    DataFrame::new_infer_height(cols)
}

fn static_col(name: &str, v: Vec<&'static str>) -> Column {
    Column::new(name.into(), v)
}

/// A text column; for CSV, formula-like cells are neutralised.
fn text_col(name: &str, v: Vec<Option<String>>, cells: Cells) -> Column {
    let v = match cells {
        Cells::Text { neutralise: true } => v
            .into_iter()
            .map(|c| c.map(|s| neutralise(&s).into_owned()))
            .collect(),
        _ => v,
    };
    Column::new(name.into(), v)
}

/// A time column: UTC millisecond timestamps, or RFC 3339 text.
fn time_col(name: &str, v: Vec<Option<i64>>, cells: Cells) -> PolarsResult<Column> {
    Ok(match cells {
        Cells::Typed => Int64Chunked::from_iter_options(name.into(), v.into_iter())
            .into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
            .into_series()
            .into(),
        Cells::Text { .. } => {
            let text: Vec<Option<String>> = v
                .into_iter()
                .map(|t| {
                    t.and_then(DateTime::from_timestamp_millis)
                        .map(|t| format_rfc3339_ms(&t))
                })
                .collect();
            Column::new(name.into(), text)
        }
    })
}

/// Write the process table of `hosts` in `format`.
pub fn write_processes(
    out: &mut dyn Write,
    hosts: &[&HostHistory],
    format: TableFormat,
    neutralise_csv: bool,
) -> io::Result<()> {
    let cells = match format {
        TableFormat::Parquet => Cells::Typed,
        TableFormat::Csv => Cells::Text {
            neutralise: neutralise_csv,
        },
        TableFormat::Jsonl => Cells::Text { neutralise: false },
    };
    let mut df = processes_frame(hosts, cells).map_err(to_io)?;
    write_frame(out, &mut df, format)
}

/// Write a frame as Parquet (zstd), CSV with a header, or JSON lines.
pub fn write_frame(out: &mut dyn Write, df: &mut DataFrame, format: TableFormat) -> io::Result<()> {
    match format {
        TableFormat::Parquet => ParquetWriter::new(out)
            .with_compression(ParquetCompression::Zstd(None))
            .finish(df)
            .map(|_| ())
            .map_err(to_io),
        TableFormat::Csv => CsvWriter::new(out)
            .include_header(true)
            .finish(df)
            .map_err(to_io),
        TableFormat::Jsonl => JsonWriter::new(out)
            .with_json_format(JsonFormat::JsonLines)
            .finish(df)
            .map_err(to_io),
    }
}

fn to_io(e: PolarsError) -> io::Error {
    match e {
        PolarsError::IO { error, .. } => io::Error::new(error.kind(), error.to_string()),
        other => io::Error::other(other.to_string()),
    }
}
