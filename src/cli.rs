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
}

/// Options shared by every command that reads logs.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// EVTX files, XML or JSON-lines exports, or directories of them (searched recursively).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
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
}

impl From<KindArg> for EventKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Process => EventKind::Process,
            KindArg::Exit => EventKind::Exit,
            KindArg::Marker => EventKind::Marker,
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
