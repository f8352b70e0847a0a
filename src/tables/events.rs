//! The `events` table: one row per typed event as read (process starts, exits, markers,
//! sightings),
//! before any lineage reasoning, for hunts that need the raw record (who cleared a log, what
//! a 4688 said before it was merged with its Sysmon twin).
//!
//! `host` is the machine the lineage stage assigned the record's `Computer` name to (renamed
//! machines appear under their last name, as in every other table); `computer` is the name
//! on the record.

use super::{ms, static_col, text_col, text_col_all, time_col};
use crate::lineage::{image_name, History};
use crate::model::{Body, Event, Source};
use polars::prelude::*;
use std::collections::HashMap;

/// Which host each `Computer` name belongs to, after lineage joined renamed machines. A
/// name two machines share maps to the first (hosts are in a stable order).
pub fn host_names(history: &History) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for h in &history.hosts {
        for alias in h.aliases.iter().chain(std::iter::once(&h.name)) {
            map.entry(alias.clone()).or_insert_with(|| h.name.clone());
        }
    }
    map
}

/// Optional text of any string-like field.
fn o<S: AsRef<str>>(v: &Option<S>) -> Option<String> {
    v.as_ref().map(|s| s.as_ref().to_owned())
}

/// Column vectors, one per field; a field an event kind lacks is null.
#[derive(Default)]
struct Rows {
    host: Vec<String>,
    computer: Vec<String>,
    kind: Vec<&'static str>,
    time: Vec<Option<i64>>,
    logged: Vec<Option<i64>>,
    source: Vec<&'static str>,
    channel: Vec<String>,
    provider: Vec<String>,
    event_id: Vec<u32>,
    version: Vec<Option<u32>>,
    record_id: Vec<u64>,
    file: Vec<String>,
    offset: Vec<u64>,
    pid: Vec<Option<u64>>,
    guid: Vec<Option<String>>,
    image: Vec<Option<String>>,
    image_name: Vec<Option<String>>,
    original_file_name: Vec<Option<String>>,
    command_line: Vec<Option<String>>,
    current_directory: Vec<Option<String>>,
    user: Vec<Option<String>>,
    user_sid: Vec<Option<String>>,
    logon_id: Vec<Option<String>>,
    session: Vec<Option<u32>>,
    integrity_level: Vec<Option<String>>,
    hashes: Vec<Option<String>>,
    parent_pid: Vec<Option<u64>>,
    parent_guid: Vec<Option<String>>,
    parent_image: Vec<Option<String>>,
    parent_command_line: Vec<Option<String>>,
    parent_user: Vec<Option<String>>,
    subject_user: Vec<Option<String>>,
    subject_user_sid: Vec<Option<String>>,
    subject_logon_id: Vec<Option<String>>,
    target_user: Vec<Option<String>>,
    target_user_sid: Vec<Option<String>>,
    target_logon_id: Vec<Option<String>>,
    token_elevation_type: Vec<Option<String>>,
    mandatory_label: Vec<Option<String>>,
    exit_status: Vec<Option<String>>,
    marker: Vec<Option<&'static str>>,
    new_time: Vec<Option<i64>>,
    previous_time: Vec<Option<i64>>,
    uptime_seconds: Vec<Option<u64>>,
    detail: Vec<Option<String>>,
}

impl Rows {
    fn push(&mut self, e: &Event, host: &str) {
        self.host.push(host.to_owned());
        self.computer.push(e.host.clone());
        self.kind.push(e.kind.as_str());
        self.time.push(Some(ms(&e.time)));
        self.logged.push(Some(ms(&e.logged)));
        self.source.push(match e.source {
            Source::Sysmon => "sysmon",
            Source::Security => "security",
            Source::System => "system",
        });
        self.channel.push(e.channel.to_string());
        self.provider.push(e.provider.to_string());
        self.event_id.push(e.event_id);
        self.version.push(e.version.map(u32::from));
        self.record_id.push(e.record_id);
        self.file.push(e.file.to_string());
        self.offset.push(e.offset);
        let (mut p, mut x, mut m, mut v) = (None, None, None, None);
        match &e.body {
            Body::Process(s) => p = Some(s.as_ref()),
            Body::Exit(s) => x = Some(s),
            Body::Marker(s) => m = Some(s),
            Body::Sighting(s) => v = Some(s),
        }
        let image = p
            .map(|s| o(&s.image))
            .or(x.map(|s| o(&s.image)))
            .or(v.map(|s| o(&s.image)))
            .flatten();
        self.pid.push(
            p.map(|s| s.pid)
                .or(x.map(|s| s.pid))
                .or(v.map(|s| s.pid))
                .flatten(),
        );
        self.guid.push(
            p.map(|s| o(&s.guid))
                .or(x.map(|s| o(&s.guid)))
                .or(v.map(|s| o(&s.guid)))
                .flatten(),
        );
        self.image_name.push(
            image
                .as_deref()
                .map(|i| image_name(i).to_lowercase())
                .filter(|n| !n.is_empty()),
        );
        self.image.push(image);
        self.user.push(
            p.map(|s| o(&s.user))
                .or(x.map(|s| o(&s.user)))
                .or(v.map(|s| o(&s.user)))
                .flatten(),
        );
        self.original_file_name
            .push(p.and_then(|s| o(&s.original_file_name)));
        self.command_line.push(p.and_then(|s| o(&s.command_line)));
        self.current_directory
            .push(p.and_then(|s| o(&s.current_directory)));
        self.user_sid.push(p.and_then(|s| o(&s.user_sid)));
        self.logon_id.push(p.and_then(|s| o(&s.logon_id)));
        self.session.push(p.and_then(|s| s.session));
        self.integrity_level
            .push(p.and_then(|s| o(&s.integrity_level)));
        self.hashes.push(p.and_then(|s| o(&s.hashes)));
        self.parent_pid.push(p.and_then(|s| s.parent_pid));
        self.parent_guid.push(p.and_then(|s| o(&s.parent_guid)));
        self.parent_image.push(p.and_then(|s| o(&s.parent_image)));
        self.parent_command_line
            .push(p.and_then(|s| o(&s.parent_command_line)));
        self.parent_user.push(p.and_then(|s| o(&s.parent_user)));
        self.subject_user.push(p.and_then(|s| o(&s.subject_user)));
        self.subject_user_sid
            .push(p.and_then(|s| o(&s.subject_user_sid)));
        self.subject_logon_id
            .push(p.and_then(|s| o(&s.subject_logon_id)));
        self.target_user.push(p.and_then(|s| o(&s.target_user)));
        self.target_user_sid
            .push(p.and_then(|s| o(&s.target_user_sid)));
        self.target_logon_id
            .push(p.and_then(|s| o(&s.target_logon_id)));
        self.token_elevation_type
            .push(p.and_then(|s| o(&s.token_elevation_type)));
        self.mandatory_label
            .push(p.and_then(|s| o(&s.mandatory_label)));
        self.exit_status.push(x.and_then(|s| o(&s.exit_status)));
        self.marker
            .push(m.map(|s| crate::report::json::marker_str(s.marker)));
        self.new_time
            .push(m.and_then(|s| s.new_time.as_ref().map(ms)));
        self.previous_time
            .push(m.and_then(|s| s.previous_time.as_ref().map(ms)));
        self.uptime_seconds.push(m.and_then(|s| s.uptime_seconds));
        self.detail.push(
            m.and_then(|s| o(&s.detail))
                .or(v.and_then(|s| o(&s.detail))),
        );
    }
}

/// The events, in the order given; `host_of` maps a `Computer` name to its host.
pub fn events_frame(
    events: &[Event],
    host_of: &HashMap<String, String>,
) -> PolarsResult<DataFrame> {
    let mut r = Rows::default();
    for e in events {
        let host = host_of.get(&e.host).map_or(e.host.as_str(), String::as_str);
        r.push(e, host);
    }
    DataFrame::new_infer_height(vec![
        text_col_all("host", r.host),
        text_col_all("computer", r.computer),
        static_col("kind", r.kind),
        time_col("time", r.time),
        time_col("logged", r.logged),
        static_col("source", r.source),
        text_col_all("channel", r.channel),
        text_col_all("provider", r.provider),
        Column::new("event_id".into(), r.event_id),
        Column::new("version".into(), r.version),
        Column::new("record_id".into(), r.record_id),
        text_col_all("file", r.file),
        Column::new("offset".into(), r.offset),
        Column::new("pid".into(), r.pid),
        text_col("guid", r.guid),
        text_col("image", r.image),
        text_col("image_name", r.image_name),
        text_col("original_file_name", r.original_file_name),
        text_col("command_line", r.command_line),
        text_col("current_directory", r.current_directory),
        text_col("user", r.user),
        text_col("user_sid", r.user_sid),
        text_col("logon_id", r.logon_id),
        Column::new("session".into(), r.session),
        text_col("integrity_level", r.integrity_level),
        text_col("hashes", r.hashes),
        Column::new("parent_pid".into(), r.parent_pid),
        text_col("parent_guid", r.parent_guid),
        text_col("parent_image", r.parent_image),
        text_col("parent_command_line", r.parent_command_line),
        text_col("parent_user", r.parent_user),
        text_col("subject_user", r.subject_user),
        text_col("subject_user_sid", r.subject_user_sid),
        text_col("subject_logon_id", r.subject_logon_id),
        text_col("target_user", r.target_user),
        text_col("target_user_sid", r.target_user_sid),
        text_col("target_logon_id", r.target_logon_id),
        text_col("token_elevation_type", r.token_elevation_type),
        text_col("mandatory_label", r.mandatory_label),
        text_col("exit_status", r.exit_status),
        Column::new("marker".into(), r.marker),
        time_col("new_time", r.new_time),
        time_col("previous_time", r.previous_time),
        Column::new("uptime_seconds".into(), r.uptime_seconds),
        text_col("detail", r.detail),
    ])
}
