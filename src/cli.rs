//! The command line, as clap sees it. Raw flags are resolved once into an immutable
//! [`crate::app::EventsConfig`] so nothing downstream reads flags.

use crate::model::EventKind;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "lineage",
    version,
    about = "Rebuild Windows process lineage from archived event logs (EVTX, XML, JSONL)",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read logs into typed process, exit and boot-marker events.
    Events(EventsArgs),
    /// Show each host's boots as indented process trees.
    Tree(TreeArgs),
    /// Write the process table (one row per process instance) as Parquet, CSV or JSONL.
    Processes(ProcessesArgs),
    /// Check every process against the core-process baseline and report deviations.
    Scan(ScanArgs),
    /// List the baseline rules in effect.
    Rules(RulesArgs),
    /// Run SQL (or a hunt from the library) over the processes, boots, findings and events
    /// tables.
    Query(QueryArgs),
    /// Rank parent -> child pairs, command-line shapes or image paths by how many hosts and
    /// boots show them, rarest first.
    Stack(StackArgs),
    /// Write the processes, boots, findings and events tables as a Parquet dataset,
    /// partitioned by host, for `query --dataset`.
    Export(ExportArgs),
    /// List the hunts of the library (`query --hunt NAME`).
    Hunts,
}

/// The logs to read, shared by every command that reads logs.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// EVTX files, XML or JSON-lines exports, or directories of them (searched recursively).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub read: ReadOpts,
}

/// How to read logs (the options of [`InputArgs`] besides the paths).
#[derive(Debug, Args)]
pub struct ReadOpts {
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    /// Follow symbolic links found inside directories.
    #[arg(long)]
    pub follow_links: bool,
    /// No progress bar and no summary on stderr (problems still set the exit status).
    #[arg(long, short)]
    pub quiet: bool,
    /// Also write every input problem (damage, unreadable files, mismatches) as JSON lines to
    /// FILE, written atomically.
    #[arg(long, value_name = "FILE")]
    pub issues: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EventsFormat {
    /// Aligned columns for a person; log text is escaped.
    Table,
    /// One JSON object per line; lossless.
    Jsonl,
    /// RFC 4180 CSV; formula-like cells are neutralised unless --csv-raw.
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    Process,
    Exit,
    Marker,
    /// Sysmon 3, 17, 18, 22: a process seen acting (see docs/events.md).
    Sighting,
}

impl From<KindArg> for EventKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Process => EventKind::Process,
            KindArg::Exit => EventKind::Exit,
            KindArg::Marker => EventKind::Marker,
            KindArg::Sighting => EventKind::Sighting,
        }
    }
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output format (default: table on a terminal, jsonl otherwise).
    #[arg(long, short, value_enum)]
    pub format: Option<EventsFormat>,
    /// Keep only these kinds (repeat or comma-separate).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub kind: Vec<KindArg>,
    /// Keep only events whose Computer is H (case-insensitive).
    #[arg(long, value_name = "H")]
    pub host: Option<String>,
    /// Keep events at or after T (UTC unless an offset is given; e.g. 2021-04-22T22:09).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Keep events at or before T.
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    /// Write to FILE (atomically: a temporary name, renamed when complete) instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Do not neutralise CSV cells that start like spreadsheet formulas.
    #[arg(long)]
    pub csv_raw: bool,
}

fn parse_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    crate::time::parse_user_time(s).map_err(|e| e.to_string())
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which_boot").args(["boot", "at"])))]
#[command(group(clap::ArgGroup::new("which_process").args(["pid", "guid"])))]
#[command(group(clap::ArgGroup::new("direction").args(["ancestors", "descendants"])))]
pub struct TreeArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Only this host (its current name or any earlier name).
    #[arg(long, value_name = "H")]
    pub host: Option<String>,
    /// Only boot N of each host (1 = earliest; numbers are shown in the output).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub boot: Option<u32>,
    /// Only the boot running at T (UTC unless an offset is given).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub at: Option<chrono::DateTime<chrono::Utc>>,
    /// Only the process(es) with this PID (decimal, or hex with 0x), with their ancestors and
    /// descendants.
    #[arg(long, value_name = "P", value_parser = parse_pid)]
    pub pid: Option<u64>,
    /// Only the process with this Sysmon ProcessGuid.
    #[arg(long, value_name = "G")]
    pub guid: Option<String>,
    /// With --pid/--guid: show only the chain of ancestors.
    #[arg(long)]
    pub ancestors: bool,
    /// With --pid/--guid: show only the process and what it started.
    #[arg(long)]
    pub descendants: bool,
    /// Show at most N levels below each root (or below the selected process).
    #[arg(long, value_name = "N")]
    pub depth: Option<u32>,
    /// Write to FILE (atomically) instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ProcessesArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output file; the format follows its extension (.parquet, .csv, .jsonl) unless --format
    /// is given.
    #[arg(long, short, value_name = "FILE", required = true)]
    pub output: PathBuf,
    /// Output format (default: from the extension of -o).
    #[arg(long, short, value_enum)]
    pub format: Option<TableFormat>,
    /// Only this host (its current name or any earlier name).
    #[arg(long, value_name = "H")]
    pub host: Option<String>,
    /// Do not neutralise CSV cells that start like spreadsheet formulas.
    #[arg(long)]
    pub csv_raw: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TableFormat {
    /// Apache Parquet, typed columns (times as UTC milliseconds).
    Parquet,
    /// RFC 4180 CSV; formula-like cells are neutralised unless --csv-raw.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

fn parse_pid(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => t.parse(),
    };
    parsed.map_err(|_| format!("not a process id: {s:?} (decimal, or hex with 0x)"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScanFormat {
    /// The report for a person, grouped by host and boot; log text is escaped.
    Text,
    /// One JSON object per finding.
    Jsonl,
    /// One row per finding; formula-like cells are neutralised unless --csv-raw.
    Csv,
    /// One JSON document with all findings.
    Json,
}

fn parse_severity(s: &str) -> Result<crate::baseline::rules::Severity, String> {
    s.parse()
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output format (default: text on a terminal, jsonl otherwise).
    #[arg(long, short, value_enum)]
    pub format: Option<ScanFormat>,
    /// Write to FILE (atomically) instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Report only findings at or above this severity (info, low, medium, high, critical).
    #[arg(long, value_name = "L", default_value = "info", value_parser = parse_severity)]
    pub min_severity: crate::baseline::rules::Severity,
    /// Exit with 1 when a finding reaches this severity.
    #[arg(long, value_name = "L", default_value = "medium", value_parser = parse_severity)]
    pub fail_on: crate::baseline::rules::Severity,
    /// Only this host (its current name or any earlier name).
    #[arg(long, value_name = "H")]
    pub host: Option<String>,
    /// Only findings at or after T (UTC unless an offset is given).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Only findings at or before T.
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    /// Extra rule files or folders of them (TOML): new rules are added, same ids replace the
    /// defaults, [[allow]] entries allowlist findings. Repeatable.
    #[arg(long, value_name = "PATH")]
    pub baseline: Vec<PathBuf>,
    /// Do not neutralise CSV cells that start like spreadsheet formulas.
    #[arg(long)]
    pub csv_raw: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RulesFormat {
    Text,
    /// The Markdown of docs/rules.md.
    Markdown,
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    /// Extra rule files or folders, as for `scan --baseline`.
    #[arg(long, value_name = "PATH")]
    pub baseline: Vec<PathBuf>,
    #[arg(long, short, value_enum, default_value = "text")]
    pub format: RulesFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QueryFormat {
    /// Aligned columns for a person; log text is escaped and long cells cut.
    Table,
    /// RFC 4180 CSV; formula-like cells are neutralised unless --csv-raw.
    Csv,
    /// One JSON object per row; lossless.
    Jsonl,
    /// Apache Parquet, typed columns.
    Parquet,
}

/// Where the tables of `query` and `stack` come from: logs, or a dataset.
#[derive(Debug, Args)]
pub struct TableSource {
    /// EVTX files, XML or JSON-lines exports, or directories of them (searched recursively).
    #[arg(
        value_name = "PATH",
        required_unless_present = "dataset",
        conflicts_with = "dataset"
    )]
    pub paths: Vec<PathBuf>,
    /// Query a Parquet dataset written by `lineage export` instead of reading logs.
    #[arg(long, value_name = "DIR")]
    pub dataset: Option<PathBuf>,
    /// Extra rule files or folders for the `findings` table, as for `scan --baseline`
    /// (ignored with --dataset: its findings were computed at export).
    #[arg(long, value_name = "PATH", conflicts_with = "dataset")]
    pub baseline: Vec<PathBuf>,
    #[command(flatten)]
    pub read: ReadOpts,
}

/// Where a result goes and how.
#[derive(Debug, Args)]
pub struct ResultArgs {
    /// Output format (default: from the extension of -o; else table on a terminal, jsonl
    /// otherwise).
    #[arg(long, short, value_enum)]
    pub format: Option<QueryFormat>,
    /// Write to FILE (atomically) instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Do not neutralise CSV cells that start like spreadsheet formulas.
    #[arg(long)]
    pub csv_raw: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["sql", "file", "hunt"])))]
pub struct QueryArgs {
    #[command(flatten)]
    pub source: TableSource,
    /// The query (polars SQL) over the tables processes, boots, findings and events.
    #[arg(long, value_name = "SQL")]
    pub sql: Option<String>,
    /// Read the query from FILE (e.g. queries/hunts/stack_parent_child.sql).
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Run a hunt of the library by name (`lineage hunts` lists them).
    #[arg(long, value_name = "NAME")]
    pub hunt: Option<String>,
    #[command(flatten)]
    pub result: ResultArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StackBy {
    /// (parent image name, child image name) pairs.
    Pair,
    /// Command-line shapes per program (numbers, GUIDs, user names, blobs replaced).
    Command,
    /// Normalised image paths.
    Image,
}

#[derive(Debug, Args)]
pub struct StackArgs {
    #[command(flatten)]
    pub source: TableSource,
    /// What to stack.
    #[arg(long, value_enum, default_value = "pair")]
    pub by: StackBy,
    /// Show the N rarest rows (0: all).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: usize,
    #[command(flatten)]
    pub result: ResultArgs,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// The dataset folder to write (built beside it under a temporary name, then renamed).
    #[arg(long, short, value_name = "DIR", required = true)]
    pub output: PathBuf,
    /// Replace DIR if it already holds something.
    #[arg(long)]
    pub force: bool,
    /// Extra rule files or folders for the `findings` table, as for `scan --baseline`.
    #[arg(long, value_name = "PATH")]
    pub baseline: Vec<PathBuf>,
}
