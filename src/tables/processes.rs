//! The `processes` table: one row per process instance (placeholders included, marked by
//! `origin`). `parent_key` is the parent's `process_key`, so SQL can join a process to its
//! parent; `boot_key` joins it to its boot.

use super::{ms, static_col, text_col, text_col_all, time_col, to_io, write_frame};
use crate::cli::TableFormat;
use crate::lineage::{forest, image_name, HostHistory, Process};
use polars::prelude::*;
use std::io::{self, Write};

/// Ancestry strings keep at most this many names (with `...` in front when deeper).
pub const ANCESTRY_LIMIT: usize = 64;

/// Column builders, one vector per column.
#[derive(Default)]
struct Rows {
    host: Vec<String>,
    computer: Vec<Option<String>>,
    process_key: Vec<String>,
    boot_key: Vec<String>,
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
    image_name: Vec<Option<String>>,
    image_path: Vec<Option<String>>,
    original_file_name: Vec<Option<String>>,
    command_line: Vec<Option<String>>,
    command_shape: Vec<Option<String>>,
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
    parent_image_name: Vec<Option<String>>,
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
    seen_time: Vec<Option<i64>>,
    seen_event_id: Vec<Option<u32>>,
    seen_record_id: Vec<Option<u64>>,
    seen_file: Vec<Option<String>>,
}

impl Rows {
    fn push(&mut self, host: &HostHistory, i: usize, p: &Process) {
        let boot = host.boots.get(p.boot);
        let key = |j: usize| format!("{}#{j}", host.name);
        self.host.push(host.name.clone());
        self.computer
            .push(p.sources.first().map(|s| s.computer.clone()));
        self.process_key.push(key(i));
        self.boot_key
            .push(format!("{}#{}", host.name, boot.map_or(0, |b| b.number)));
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
        self.image_name.push(lower_name(info.image.as_deref()));
        self.image_path
            .push(info.image.as_deref().map(crate::lineage::normalised_path));
        self.original_file_name
            .push(info.original_file_name.clone());
        self.command_line.push(info.command_line.clone());
        self.command_shape.push(
            info.command_line
                .as_deref()
                .map(super::shape::command_shape),
        );
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
        self.parent_image_name
            .push(lower_name(info.parent_image.as_deref()));
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
        let seen = p.seen.as_deref();
        self.seen_time.push(seen.map(|s| ms(&s.time)));
        self.seen_event_id.push(seen.map(|s| s.record.event_id));
        self.seen_record_id.push(seen.map(|s| s.record.record_id));
        self.seen_file.push(seen.map(|s| s.record.file.to_string()));
    }
}

/// The process table of these hosts.
pub fn processes_frame(hosts: &[&HostHistory]) -> PolarsResult<DataFrame> {
    let mut r = Rows::default();
    for h in hosts {
        for (i, p) in h.processes.iter().enumerate() {
            r.push(h, i, p);
        }
    }
    let cols = vec![
        text_col_all("host", r.host),
        text_col("computer", r.computer),
        text_col_all("process_key", r.process_key),
        text_col_all("boot_key", r.boot_key),
        Column::new("boot".into(), r.boot),
        time_col("boot_start", r.boot_start),
        static_col("boot_basis", r.boot_basis),
        time_col("start", r.start),
        time_col("end", r.end),
        static_col("end_reason", r.end_reason),
        Column::new("seconds_since_boot".into(), r.seconds_since_boot),
        Column::new("pid".into(), r.pid),
        text_col("guid", r.guid),
        text_col("image", r.image),
        text_col("image_name", r.image_name),
        text_col("image_path", r.image_path),
        text_col("original_file_name", r.original_file_name),
        text_col("command_line", r.command_line),
        text_col("command_shape", r.command_shape),
        text_col("current_directory", r.current_directory),
        text_col("user", r.user),
        text_col("user_sid", r.user_sid),
        text_col("logon_id", r.logon_id),
        Column::new("session".into(), r.session),
        text_col("integrity_level", r.integrity_level),
        text_col("token_elevation_type", r.token_elevation_type),
        text_col("mandatory_label", r.mandatory_label),
        text_col("hashes", r.hashes),
        static_col("origin", r.origin),
        text_col("parent_key", r.parent_key),
        Column::new("parent_pid".into(), r.parent_pid),
        text_col("parent_guid", r.parent_guid),
        text_col("parent_image", r.parent_image),
        text_col("parent_image_name", r.parent_image_name),
        text_col("parent_command_line", r.parent_command_line),
        static_col("link", r.link),
        Column::new("link_confidence".into(), r.link_confidence),
        Column::new("depth".into(), r.depth),
        text_col_all("ancestry", r.ancestry),
        text_col_all("sources", r.sources),
        text_col_all("event_ids", r.event_ids),
        text_col_all("record_ids", r.record_ids),
        text_col_all("files", r.files),
        Column::new("exit_record_id".into(), r.exit_record_id),
        time_col("seen_time", r.seen_time),
        Column::new("seen_event_id".into(), r.seen_event_id),
        Column::new("seen_record_id".into(), r.seen_record_id),
        text_col("seen_file", r.seen_file),
    ];
    DataFrame::new_infer_height(cols)
}

/// Write the process table of `hosts` in `format`.
pub fn write_processes(
    out: &mut dyn Write,
    hosts: &[&HostHistory],
    format: TableFormat,
    neutralise_csv: bool,
) -> io::Result<()> {
    let mut df = processes_frame(hosts).map_err(to_io)?;
    write_frame(out, &mut df, format, neutralise_csv)
}

/// The lower-case file name of an image path: what hunts group and compare by.
fn lower_name(image: Option<&str>) -> Option<String> {
    image
        .map(|i| image_name(i).to_lowercase())
        .filter(|n| !n.is_empty())
}
