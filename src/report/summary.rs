//! The run summary on stderr: files, records, events by kind, problems by kind. Log-derived
//! text in it (file names, issue details) is escaped for the terminal.

use super::sanitize::for_terminal;
use crate::app::Collected;
use crate::issues::IssueKind;
use crate::model::Source;
use std::collections::BTreeMap;

/// How many individual problems are listed before they are only counted.
const MAX_LISTED: usize = 20;

/// Print problems (always) and the summary (unless quiet).
pub fn print(c: &Collected, full: bool) {
    let damage: Vec<_> = c.issues.iter().filter(|i| i.kind.is_damage()).collect();
    for i in damage.iter().take(if full { MAX_LISTED } else { 0 }) {
        let at = match (i.chunk, i.offset) {
            (Some(ch), Some(off)) => format!(" chunk {ch} offset {off:#x}"),
            (None, Some(off)) => format!(" offset {off}"),
            _ => String::new(),
        };
        eprintln!(
            "warning: {}{at}: {}: {}",
            for_terminal(&i.file),
            i.kind,
            for_terminal(&i.detail)
        );
    }
    if full && damage.len() > MAX_LISTED {
        eprintln!(
            "warning: ... and {} more problems",
            damage.len() - MAX_LISTED
        );
    }
    let skipped: Vec<_> = c
        .issues
        .iter()
        .filter(|i| i.kind == IssueKind::Unsupported)
        .collect();
    for i in skipped.iter().take(if full { MAX_LISTED } else { 0 }) {
        eprintln!(
            "note: skipped {}: {}",
            for_terminal(&i.file),
            for_terminal(&i.detail)
        );
    }
    if !full {
        if !damage.is_empty() {
            let files: std::collections::BTreeSet<_> = damage.iter().map(|i| &i.file).collect();
            eprintln!(
                "warning: {} problems in {} files (run without --quiet for details)",
                damage.len(),
                files.len()
            );
        }
        return;
    }
    eprintln!("{}", render(c));
}

/// The summary text.
pub fn render(c: &Collected) -> String {
    let t = &c.tally;
    let mut by_kind: BTreeMap<&str, u64> = BTreeMap::new();
    for ((source, id), n) in &t.events {
        let name = match (source, id) {
            (Source::Sysmon, 1) => "sysmon 1 (process start)",
            (Source::Sysmon, 5) => "sysmon 5 (process end)",
            (Source::Security, 4688) => "security 4688 (process start)",
            (Source::Security, 4689) => "security 4689 (process end)",
            (Source::Sysmon, id) if crate::extract::sighting::is_sighting(*id) => {
                "sysmon 3/17/18/22 (process sighted)"
            }
            _ => "markers (boot, shutdown, clock, log)",
        };
        *by_kind.entry(name).or_default() += n;
    }
    let mut problems: BTreeMap<String, u64> = BTreeMap::new();
    let (mut skipped, mut mismatched) = (0, 0);
    for i in &c.issues {
        match i.kind {
            IssueKind::Unsupported => skipped += 1,
            IssueKind::SourceMismatch => mismatched += 1,
            k => *problems.entry(k.to_string()).or_default() += 1,
        }
    }
    let mut s = format!(
        "summary: {} files, {:.1} MB, {} records read, {} decoded, {} events kept",
        c.files,
        c.bytes as f64 / 1e6,
        t.records,
        t.decoded,
        t.kept
    );
    if c.rendered > 0 {
        s.push_str(&format!(
            "\n  records of unusual shape read through the evtx renderer: {}",
            c.rendered
        ));
    }
    for (k, n) in by_kind {
        s.push_str(&format!("\n  {k}: {n}"));
    }
    if !t.odd_fields.is_empty() {
        let odd: Vec<String> = t
            .odd_fields
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        s.push_str(&format!(
            "\n  unreadable fields (set to none): {}",
            for_terminal(&odd.join(", "))
        ));
    }
    if problems.is_empty() {
        s.push_str("\n  problems: none");
    } else {
        let p: Vec<String> = problems.iter().map(|(k, n)| format!("{k} {n}")).collect();
        s.push_str(&format!("\n  problems: {}", p.join(", ")));
    }
    if skipped > 0 {
        s.push_str(&format!("\n  skipped (not event logs): {skipped}"));
    }
    if mismatched > 0 {
        s.push_str(&format!(
            "\n  records claiming Sysmon/Security with the wrong channel or GUID (not used): {mismatched}"
        ));
    }
    s
}
