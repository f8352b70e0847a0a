//! `lineage scan` and `lineage rules`.

use super::{finish_read, input_status, open_outputs, output_status, read_all, ReadConfig};
use crate::baseline::rules::Baseline;
use crate::baseline::{self, Finding};
use crate::cli::{RulesArgs, RulesFormat, ScanArgs, ScanFormat};
use crate::exit::ExitCode;
use crate::extract::Filter;
use crate::lineage;
use crate::report::output::{is_broken_pipe, Destination, OutputFile};
use crate::report::{findings, rules as rules_report, tree};
use std::io::IsTerminal;

/// `lineage scan`.
pub fn run_scan(a: ScanArgs) -> ExitCode {
    // Rules first: a bad rule file is a usage error before any reading.
    let base = match Baseline::load(&a.baseline) {
        Ok(b) => b,
        Err(e) => {
            eprintln!(
                "lineage: {}",
                crate::report::sanitize::for_terminal(&e.to_string())
            );
            return ExitCode::Usage;
        }
    };
    let to_terminal = a.output.is_none() && std::io::stdout().is_terminal();
    let format = a.format.unwrap_or(if to_terminal {
        ScanFormat::Text
    } else {
        ScanFormat::Jsonl
    });
    let read = ReadConfig::from_input(a.input, Filter::default());
    let (mut out, issues_out) =
        match open_outputs(&Destination::from_arg(a.output.as_deref()), &read) {
            Ok(o) => o,
            Err(code) => return code,
        };
    let mut collected = match read_all(&read, false) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let history = lineage::build(std::mem::take(&mut collected.events));
    let mut found = baseline::scan(&history, &base);
    found.retain(|f| {
        f.severity >= a.min_severity
            && a.from.is_none_or(|t| f.time >= t)
            && a.to.is_none_or(|t| f.time <= t)
            && a.host.as_deref().is_none_or(|h| {
                history
                    .hosts
                    .iter()
                    .find(|x| x.name == f.host)
                    .is_some_and(|x| tree::host_matches(x, h))
            })
    });
    let mut status = input_status(&collected);
    if found.iter().any(|f| f.severity >= a.fail_on) {
        status = status.merge(ExitCode::Findings);
    }
    let rules = base.enabled().count();
    let written =
        write(&mut out, format, &found, &history, rules, !a.csv_raw).and_then(|_| out.commit());
    status = status.merge(output_status(written));
    status = status.merge(finish_read(issues_out, &collected, read.summary));
    if read.summary {
        eprintln!(
            "scan: {} findings at or above {} ({} rules); exit status decided by --fail-on {}",
            found.len(),
            a.min_severity,
            rules,
            a.fail_on
        );
    }
    std::mem::forget((history, collected));
    status
}

fn write(
    out: &mut OutputFile,
    format: ScanFormat,
    found: &[Finding],
    history: &lineage::History,
    rules: usize,
    neutralise: bool,
) -> std::io::Result<()> {
    let w = out.writer();
    match format {
        ScanFormat::Text => findings::text(w, found, history, rules),
        ScanFormat::Jsonl => findings::jsonl(w, found),
        ScanFormat::Json => findings::json(w, found),
        ScanFormat::Csv => findings::csv(w, found, neutralise),
    }
}

/// `lineage rules`.
pub fn run_rules(a: RulesArgs) -> ExitCode {
    let base = match Baseline::load(&a.baseline) {
        Ok(b) => b,
        Err(e) => {
            eprintln!(
                "lineage: {}",
                crate::report::sanitize::for_terminal(&e.to_string())
            );
            return ExitCode::Usage;
        }
    };
    let mut stdout = std::io::stdout().lock();
    let written = match a.format {
        RulesFormat::Text => rules_report::text(&mut stdout, &base),
        RulesFormat::Markdown => rules_report::markdown(&mut stdout, &base),
    };
    match written {
        Err(e) if !is_broken_pipe(&e) => {
            eprintln!("lineage: cannot write output: {e}");
            ExitCode::Io
        }
        _ => ExitCode::Success,
    }
}
