//! The `boots` table: one row per boot session of each host, with how its start was
//! established and whether the logs cover it, so a hunt can tell "missing from the logs"
//! from "missing from the machine".

use super::{ms, static_col, text_col, text_col_all, time_col};
use crate::lineage::{BootEnd, HostHistory, NoteKind};
use polars::prelude::*;

/// The boots of these hosts.
pub fn boots_frame(hosts: &[&HostHistory]) -> PolarsResult<DataFrame> {
    let mut host = Vec::new();
    let mut boot_key = Vec::new();
    let mut boot = Vec::new();
    let mut start = Vec::new();
    let mut basis = Vec::new();
    let mut captured = Vec::new();
    let mut processes_captured = Vec::new();
    let mut first_seen = Vec::new();
    let mut last_seen = Vec::new();
    let mut end = Vec::new();
    let mut end_reason = Vec::new();
    let mut processes = Vec::new();
    let mut log_cleared = Vec::new();
    let mut clock_changed = Vec::new();
    let mut evidence = Vec::new();
    for h in hosts {
        let mut counts = vec![0u32; h.boots.len()];
        for p in &h.processes {
            if let Some(c) = counts.get_mut(p.boot) {
                *c += 1;
            }
        }
        for (i, b) in h.boots.iter().enumerate() {
            let noted = |kinds: &[NoteKind]| {
                h.notes
                    .iter()
                    .any(|n| n.boot == i && kinds.contains(&n.kind))
            };
            host.push(h.name.clone());
            boot_key.push(format!("{}#{}", h.name, b.number));
            boot.push(b.number as u32);
            start.push(b.start.as_ref().map(ms));
            basis.push(b.basis.as_str());
            captured.push(b.captured);
            processes_captured.push(b.processes_captured);
            first_seen.push(Some(ms(&b.first_seen)));
            last_seen.push(Some(ms(&b.last_seen)));
            end.push(b.end.as_ref().map(ms));
            end_reason.push(match b.end_reason {
                BootEnd::Shutdown => "shutdown",
                BootEnd::NextBoot => "next_boot",
                BootEnd::LogsEnd => "logs_end",
            });
            processes.push(counts.get(i).copied().unwrap_or(0));
            log_cleared.push(noted(&[NoteKind::LogCleared]));
            clock_changed.push(noted(&[NoteKind::TimeChanged, NoteKind::ClockWentBack]));
            evidence.push(Some(
                b.evidence
                    .iter()
                    .map(|e| format!("{}:{}", e.event_id, e.record_id))
                    .collect::<Vec<_>>()
                    .join(";"),
            ));
        }
    }
    DataFrame::new_infer_height(vec![
        text_col_all("host", host),
        text_col_all("boot_key", boot_key),
        Column::new("boot".into(), boot),
        time_col("start", start),
        static_col("basis", basis),
        Column::new("captured".into(), captured),
        Column::new("processes_captured".into(), processes_captured),
        time_col("first_seen", first_seen),
        time_col("last_seen", last_seen),
        time_col("end", end),
        static_col("end_reason", end_reason),
        Column::new("processes".into(), processes),
        Column::new("log_cleared".into(), log_cleared),
        Column::new("clock_changed".into(), clock_changed),
        text_col("evidence", evidence),
    ])
}
