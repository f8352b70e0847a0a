//! `lineage tree` and `lineage processes`: read, rebuild the lineage, write.

use super::{finish_read, input_status, open_outputs, output_status, read_all, ReadConfig};
use crate::cli::{ProcessesArgs, TableFormat, TreeArgs};
use crate::exit::ExitCode;
use crate::extract::Filter;
use crate::lineage::{self, History};
use crate::report::output::Destination;
use crate::report::tree::{self, TreeOptions};
use std::path::Path;

/// Read every input and rebuild the history. Host filtering happens after hosts are joined,
/// so `--host OLDNAME` still finds the machine under its later names.
fn rebuild(read: &ReadConfig) -> Result<(History, super::Collected), ExitCode> {
    let mut collected = read_all(read, false)?;
    let events = std::mem::take(&mut collected.events);
    Ok((lineage::build(events), collected))
}

/// `lineage tree`.
pub fn run_tree(a: TreeArgs) -> ExitCode {
    let read = ReadConfig::from_input(a.input, Filter::default());
    let opts = TreeOptions {
        host: a.host,
        boot: a.boot.map(|n| n as usize),
        at: a.at,
        pid: a.pid,
        guid: a.guid,
        ancestors: a.ancestors,
        descendants: a.descendants,
        depth: a.depth,
    };
    let (mut out, issues_out) =
        match open_outputs(&Destination::from_arg(a.output.as_deref()), &read) {
            Ok(o) => o,
            Err(code) => return code,
        };
    let (history, collected) = match rebuild(&read) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let mut status = input_status(&collected);
    let written = tree::write(out.writer(), &history.hosts, &opts);
    let shown = written.as_ref().map_or(0, |n| *n);
    status = status.merge(output_status(written.and_then(|_| out.commit())));
    status = status.merge(finish_read(issues_out, &collected, read.summary));
    print_lineage_summary(&history, read.summary);
    if shown == 0 {
        eprintln!("lineage: nothing matches the selection (no host, boot or process shown)");
    }
    std::mem::forget((history, collected));
    status
}

/// `lineage processes`.
pub fn run_processes(a: ProcessesArgs) -> ExitCode {
    let format = match a.format.or_else(|| format_from_extension(&a.output)) {
        Some(f) => f,
        None => {
            eprintln!(
                "lineage: cannot tell the format of {}: use a .parquet, .csv or .jsonl name or --format",
                crate::report::sanitize::for_terminal(&a.output.display().to_string())
            );
            return ExitCode::Usage;
        }
    };
    let read = ReadConfig::from_input(a.input, Filter::default());
    let (mut out, issues_out) = match open_outputs(&Destination::File(a.output.clone()), &read) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let (history, collected) = match rebuild(&read) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let mut status = input_status(&collected);
    let hosts: Vec<&lineage::HostHistory> = history
        .hosts
        .iter()
        .filter(|h| a.host.as_deref().is_none_or(|w| tree::host_matches(h, w)))
        .collect();
    let written = write_table(&mut out, &hosts, format, !a.csv_raw).and_then(|_| out.commit());
    status = status.merge(output_status(written));
    status = status.merge(finish_read(issues_out, &collected, read.summary));
    print_lineage_summary(&history, read.summary);
    std::mem::forget((history, collected));
    status
}

#[cfg(feature = "tables")]
fn write_table(
    out: &mut crate::report::output::OutputFile,
    hosts: &[&lineage::HostHistory],
    format: TableFormat,
    neutralise_csv: bool,
) -> std::io::Result<()> {
    crate::tables::write_processes(out.writer(), hosts, format, neutralise_csv)
}

/// Built without polars (`--no-default-features`): the table cannot be written.
#[cfg(not(feature = "tables"))]
fn write_table(
    _out: &mut crate::report::output::OutputFile,
    _hosts: &[&lineage::HostHistory],
    _format: TableFormat,
    _neutralise_csv: bool,
) -> std::io::Result<()> {
    Err(std::io::Error::other(
        "this build has no table support (built without the `tables` feature)",
    ))
}

fn format_from_extension(p: &Path) -> Option<TableFormat> {
    let ext = p.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "parquet" | "pq" => Some(TableFormat::Parquet),
        "csv" => Some(TableFormat::Csv),
        "jsonl" | "ndjson" => Some(TableFormat::Jsonl),
        _ => None,
    }
}

/// Hosts, boots, processes and how their parents were found.
fn print_lineage_summary(h: &History, full: bool) {
    if !full {
        return;
    }
    let boots: usize = h.hosts.iter().map(|x| x.boots.len()).sum();
    let procs: usize = h.hosts.iter().map(|x| x.processes.len()).sum();
    let s = &h.stats;
    eprintln!(
        "lineage: {} hosts, {boots} boots, {procs} processes ({} placeholders, {} named by sightings); parents: guid {}, pid_time_name {}, pid_time {}, pid_placeholder {}, ambiguous {}, unknown {}; sysmon+4688 merged {}, duplicate records {}, unmatched exits {}, cycles cut {}",
        h.hosts.len(),
        s.placeholders,
        s.sighted,
        s.links_guid,
        s.links_pid_time_name,
        s.links_pid_time,
        s.links_pid_placeholder,
        s.ambiguous_parents,
        s.unknown_parents,
        s.merged_starts,
        s.duplicate_events,
        s.unmatched_exits,
        s.cycles_cut
    );
}
