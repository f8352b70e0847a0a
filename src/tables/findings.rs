//! The `findings` table: one row per baseline finding, keyed to its process
//! (`process_key`) and boot (`boot_key`) so a hunt can join findings to the history.

use super::{ms, static_col, text_col, text_col_all, time_col};
use crate::baseline::Finding;
use polars::prelude::*;

/// The findings, in the order given (the scan sorts them by host, boot, time, rule).
pub fn findings_frame(found: &[Finding]) -> PolarsResult<DataFrame> {
    let texts = |f: &dyn Fn(&Finding) -> Option<String>| -> Vec<Option<String>> {
        found.iter().map(f).collect()
    };
    let all = |f: &dyn Fn(&Finding) -> String| -> Vec<String> { found.iter().map(f).collect() };
    let evidence = |f: &Finding| {
        f.evidence
            .iter()
            .map(|e| format!("{}:{}:{}", e.channel, e.event_id, e.record_id))
            .collect::<Vec<_>>()
            .join(";")
    };
    DataFrame::new_infer_height(vec![
        text_col_all("host", all(&|f| f.host.clone())),
        text_col_all("process_key", all(&|f| format!("{}#{}", f.host, f.process))),
        text_col_all("boot_key", all(&|f| format!("{}#{}", f.host, f.boot))),
        Column::new(
            "boot".into(),
            found.iter().map(|f| f.boot as u32).collect::<Vec<_>>(),
        ),
        time_col(
            "boot_start",
            found
                .iter()
                .map(|f| f.boot_start.as_ref().map(ms))
                .collect(),
        ),
        time_col("time", found.iter().map(|f| Some(ms(&f.time))).collect()),
        Column::new(
            "since_boot_s".into(),
            found.iter().map(|f| f.since_boot_s).collect::<Vec<_>>(),
        ),
        text_col_all("rule", all(&|f| f.rule.clone())),
        static_col(
            "severity",
            found.iter().map(|f| f.severity.as_str()).collect(),
        ),
        Column::new(
            "severity_rank".into(),
            found
                .iter()
                .map(|f| u32::from(f.severity as u8))
                .collect::<Vec<_>>(),
        ),
        text_col_all("title", all(&|f| f.title.clone())),
        text_col_all("technique", all(&|f| f.technique.clone())),
        text_col("image", texts(&|f| f.image.clone())),
        Column::new(
            "pid".into(),
            found.iter().map(|f| f.pid).collect::<Vec<_>>(),
        ),
        text_col("guid", texts(&|f| f.guid.clone())),
        text_col("user", texts(&|f| f.user.clone())),
        text_col("command_line", texts(&|f| f.command_line.clone())),
        text_col("parent_image", texts(&|f| f.parent_image.clone())),
        Column::new(
            "parent_pid".into(),
            found.iter().map(|f| f.parent_pid).collect::<Vec<_>>(),
        ),
        static_col("parent_link", found.iter().map(|f| f.parent_link).collect()),
        text_col_all("ancestry", all(&|f| f.ancestry.clone())),
        text_col_all("explanation", all(&|f| f.explanation.clone())),
        text_col_all("evidence", all(&evidence)),
        Column::new(
            "record_id".into(),
            found.iter().map(|f| f.record_id).collect::<Vec<_>>(),
        ),
        text_col_all("file", all(&|f| f.file.clone())),
        Column::new(
            "boot_start_captured".into(),
            found
                .iter()
                .map(|f| f.coverage.boot_start_captured)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "parent_logged".into(),
            found
                .iter()
                .map(|f| f.coverage.parent_logged)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "log_cleared_in_boot".into(),
            found
                .iter()
                .map(|f| f.coverage.log_cleared_in_boot)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "clock_changed_in_boot".into(),
            found
                .iter()
                .map(|f| f.coverage.clock_changed_in_boot)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "start_logged".into(),
            found
                .iter()
                .map(|f| f.coverage.start_logged)
                .collect::<Vec<_>>(),
        ),
    ])
}
