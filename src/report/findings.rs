//! Findings as text (what a responder reads first), JSON lines, CSV or one JSON document.
//!
//! The text report groups findings by host and boot, most severe first within a boot, and
//! says for each: when (UTC, and how long after boot), what rule, what process with its
//! ancestry, why, which records to open, and what the data could and could not show. All log
//! text is escaped for the terminal.

use super::csv::CsvWriter;
use super::sanitize::for_terminal;
use crate::baseline::rules::Severity;
use crate::baseline::{human, Finding};
use crate::lineage::History;
use crate::time::format_rfc3339_ms;
use std::collections::BTreeMap;
use std::io::{self, Write};

/// The text report.
pub fn text(
    out: &mut dyn Write,
    findings: &[Finding],
    h: &History,
    rules: usize,
) -> io::Result<()> {
    let mut by_sev: BTreeMap<std::cmp::Reverse<Severity>, usize> = BTreeMap::new();
    for f in findings {
        *by_sev.entry(std::cmp::Reverse(f.severity)).or_default() += 1;
    }
    let counts: Vec<String> = by_sev.iter().map(|(s, n)| format!("{n} {}", s.0)).collect();
    let boots: usize = h.hosts.iter().map(|x| x.boots.len()).sum();
    let procs: usize = h.hosts.iter().map(|x| x.processes.len()).sum();
    writeln!(
        out,
        "lineage scan: {} finding{}{} | {} host{}, {boots} boots, {procs} processes, {rules} rules",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" },
        if counts.is_empty() {
            String::new()
        } else {
            format!(" ({})", counts.join(", "))
        },
        h.hosts.len(),
        if h.hosts.len() == 1 { "" } else { "s" },
    )?;
    let mut groups: BTreeMap<(&str, usize), Vec<&Finding>> = BTreeMap::new();
    for f in findings {
        groups.entry((&f.host, f.boot)).or_default().push(f);
    }
    let mut last_host = "";
    for ((host, boot), mut list) in groups {
        if host != last_host {
            writeln!(out)?;
            writeln!(out, "== host {}", for_terminal(host))?;
            if let Some(hh) = h.hosts.iter().find(|x| x.name == host) {
                let others: Vec<&str> = hh
                    .aliases
                    .iter()
                    .filter(|a| *a != host)
                    .map(String::as_str)
                    .collect();
                if !others.is_empty() {
                    writeln!(
                        out,
                        "   also logged as {}",
                        for_terminal(&others.join(", "))
                    )?;
                }
            }
            last_host = host;
        }
        writeln!(out, "{}", boot_line(h, host, boot))?;
        list.sort_by(|a, b| {
            (std::cmp::Reverse(a.severity), a.time).cmp(&(std::cmp::Reverse(b.severity), b.time))
        });
        for f in list {
            write_one(out, f)?;
        }
    }
    Ok(())
}

fn boot_line(h: &History, host: &str, boot: usize) -> String {
    let b = h
        .hosts
        .iter()
        .find(|x| x.name == host)
        .and_then(|x| x.boots.iter().find(|b| b.number == boot));
    match b {
        Some(b) => match b.start {
            Some(t) => format!(
                "-- boot {boot}: started {} ({})",
                format_rfc3339_ms(&t),
                b.basis.as_str()
            ),
            None => format!(
                "-- boot {boot}: start not in the logs (logs begin {})",
                format_rfc3339_ms(&b.first_seen)
            ),
        },
        None => format!("-- boot {boot}"),
    }
}

fn write_one(out: &mut dyn Write, f: &Finding) -> io::Result<()> {
    let when = match f.since_boot_s {
        Some(s) => format!("{} (boot +{})", format_rfc3339_ms(&f.time), human(s as i64)),
        None => format_rfc3339_ms(&f.time),
    };
    writeln!(out)?;
    writeln!(
        out,
        "  {:<8} {when}  {}  [{} {}]",
        f.severity.as_str().to_uppercase(),
        for_terminal(&f.title),
        for_terminal(&f.rule),
        for_terminal(&f.technique)
    )?;
    let pid = f.pid.map_or_else(String::new, |p| format!("  pid {p}"));
    let user = f
        .user
        .as_deref()
        .map_or_else(String::new, |u| format!("  user {}", for_terminal(u)));
    writeln!(
        out,
        "           {}{pid}{user}",
        for_terminal(f.image.as_deref().unwrap_or("?"))
    )?;
    if let Some(c) = &f.command_line {
        writeln!(
            out,
            "           command line: {}",
            for_terminal(&shorten(c, 200))
        )?;
    }
    writeln!(
        out,
        "           ancestry: {}  (parent link: {})",
        for_terminal(&f.ancestry),
        f.parent_link
    )?;
    writeln!(out, "           why: {}", for_terminal(&f.explanation))?;
    for e in &f.evidence {
        writeln!(
            out,
            "           evidence: {} {} record {} in {}",
            e.channel,
            e.event_id,
            e.record_id,
            for_terminal(&e.file)
        )?;
    }
    let c = &f.coverage;
    let mut gaps = Vec::new();
    if !c.boot_start_captured {
        gaps.push("boot start not in the logs");
    }
    if !c.start_logged {
        gaps.push("its own start not logged (the evidence names its image)");
    }
    if !c.parent_logged {
        gaps.push("parent's own start not logged");
    }
    if c.log_cleared_in_boot {
        gaps.push("a log was cleared in this boot");
    }
    if c.clock_changed_in_boot {
        gaps.push("the clock changed in this boot");
    }
    if !gaps.is_empty() {
        writeln!(out, "           coverage: {}", gaps.join("; "))?;
    }
    Ok(())
}

fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((at, _)) => format!("{}...", s.get(..at).unwrap_or(s)),
    }
}

/// One JSON object per finding.
pub fn jsonl(out: &mut dyn Write, findings: &[Finding]) -> io::Result<()> {
    for f in findings {
        serde_json::to_writer(&mut *out, f)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// One JSON document: `{"findings": [...]}`.
pub fn json(out: &mut dyn Write, findings: &[Finding]) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &serde_json::json!({ "findings": findings }))?;
    out.write_all(b"\n")
}

/// The CSV columns.
pub const CSV_COLUMNS: &[&str] = &[
    "severity",
    "rule",
    "host",
    "boot",
    "time",
    "since_boot_s",
    "image",
    "pid",
    "user",
    "command_line",
    "parent_image",
    "parent_link",
    "ancestry",
    "explanation",
    "record_id",
    "file",
    "technique",
    "title",
];

/// CSV, one row per finding; formula-like cells neutralised unless `raw`.
pub fn csv(out: &mut dyn Write, findings: &[Finding], neutralise: bool) -> io::Result<()> {
    let mut w = CsvWriter::new(out, neutralise);
    w.write_record(CSV_COLUMNS)?;
    for f in findings {
        let time = format_rfc3339_ms(&f.time);
        let since = f
            .since_boot_s
            .map(|s| format!("{s:.3}"))
            .unwrap_or_default();
        let boot = f.boot.to_string();
        let pid = f.pid.map(|p| p.to_string()).unwrap_or_default();
        let rid = f.record_id.to_string();
        w.write_record(&[
            f.severity.as_str(),
            &f.rule,
            &f.host,
            &boot,
            &time,
            &since,
            f.image.as_deref().unwrap_or(""),
            &pid,
            f.user.as_deref().unwrap_or(""),
            f.command_line.as_deref().unwrap_or(""),
            f.parent_image.as_deref().unwrap_or(""),
            f.parent_link,
            &f.ancestry,
            &f.explanation,
            &rid,
            &f.file,
            &f.technique,
            &f.title,
        ])?;
    }
    w.flush()
}
