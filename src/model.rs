//! Typed events: what the rest of the pipeline works with once a record's text is dropped.
//!
//! Field names are the JSONL schema (snake_case, documented in `docs/events.md`); absent fields
//! are omitted rather than written as null, because "not logged" is the common case and keeps
//! lines short.

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use std::sync::Arc;

/// Which log a typed event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Sysmon,
    Security,
    System,
}

/// The kinds of event, as selected by `--kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Process,
    Exit,
    Marker,
    Sighting,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Process => "process",
            EventKind::Exit => "exit",
            EventKind::Marker => "marker",
            EventKind::Sighting => "sighting",
        }
    }
}

/// One typed event with its provenance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub kind: EventKind,
    /// `Computer` as logged (grouping of renamed hosts happens in lineage).
    pub host: String,
    /// When it happened: Sysmon's `UtcTime` where there is one, else the logged time.
    #[serde(serialize_with = "ser_time")]
    pub time: DateTime<Utc>,
    /// `TimeCreated`: when the event log wrote it.
    #[serde(serialize_with = "ser_time")]
    pub logged: DateTime<Utc>,
    pub source: Source,
    /// Channel and provider are shared: a log's records name a handful of each, and ten
    /// million copies of `Microsoft-Windows-Sysmon/Operational` were ten million allocations
    /// to make and to free.
    pub channel: Arc<str>,
    pub provider: Arc<str>,
    pub event_id: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u8>,
    pub record_id: u64,
    pub file: Arc<str>,
    /// Byte offset of the record in an EVTX or XML file; line number in a JSONL file.
    pub offset: u64,
    #[serde(flatten)]
    pub body: Body,
}

/// The kind-specific part of an event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Body {
    Process(Box<ProcessStart>),
    Exit(ProcessExit),
    Marker(Marker),
    Sighting(ProcessSighting),
}

/// Sysmon 1 or Security 4688.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProcessStart {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_file_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command_line: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_directory: Option<String>,
    /// The new process's account: Sysmon `User`; 4688 `TargetDomainName\TargetUserName` when
    /// logged (version 2), else the creator's `SubjectDomainName\SubjectUserName`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logon_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integrity_level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hashes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_pid: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_guid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_command_line: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_user: Option<String>,
    /// 4688: the creator's account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_user_sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_logon_id: Option<String>,
    /// 4688 version 2: the new process's account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_user_sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_logon_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_elevation_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mandatory_label: Option<String>,
}

/// Sysmon 5 or Security 4689.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProcessExit {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// 4689 `Status` (exit code), as logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<String>,
}

/// A Sysmon record that names a process without being its start or end (a pipe created or
/// connected, a connection, a DNS query: see `extract::sighting`): "this process existed, with
/// this image, at this time". It is the only trace of a process whose start was not logged
/// (Sysmon 1 filtered out or not collected), which is how a renamed service binary can run
/// unseen by the rules that read starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProcessSighting {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// What the process was doing, quoted from the log: the pipe name (17, 18), the
    /// destination `ip:port` (3), the query name (22).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What a boot, shutdown, clock or logging marker says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkerKind {
    /// Kernel-General 12: the OS started (carries the start time).
    OsStarted,
    /// Kernel-General 13: the OS is shutting down.
    OsShutdown,
    /// EventLog 6005 / Security 4608: the event log service (and so the OS) started.
    LogStarted,
    /// EventLog 6006 / Security 4609: clean shutdown of the event log service.
    LogStopped,
    /// EventLog 6008: the previous shutdown was unexpected.
    UnexpectedShutdown,
    /// EventLog 6009: OS version banner written at boot.
    BootBanner,
    /// EventLog 6013: system uptime.
    Uptime,
    /// Kernel-Power 41: rebooted without a clean shutdown.
    DirtyReboot,
    /// User32 1074: a process or user asked for shutdown/restart.
    ShutdownRequested,
    /// Security 4616: the system time was changed.
    TimeChanged,
    /// Security 1100: the event logging service shut down.
    LoggingShutdown,
    /// Security 1102 / System 104: a log was cleared.
    LogCleared,
    /// Sysmon 4: the Sysmon service state changed.
    SysmonState,
    /// Sysmon 16: the Sysmon configuration changed.
    SysmonConfig,
}

impl MarkerKind {
    /// Every kind, in declaration order (for tests, fuzzing and generators).
    pub const ALL: [MarkerKind; 14] = [
        MarkerKind::OsStarted,
        MarkerKind::OsShutdown,
        MarkerKind::LogStarted,
        MarkerKind::LogStopped,
        MarkerKind::UnexpectedShutdown,
        MarkerKind::BootBanner,
        MarkerKind::Uptime,
        MarkerKind::DirtyReboot,
        MarkerKind::ShutdownRequested,
        MarkerKind::TimeChanged,
        MarkerKind::LoggingShutdown,
        MarkerKind::LogCleared,
        MarkerKind::SysmonState,
        MarkerKind::SysmonConfig,
    ];
}

/// A marker event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Marker {
    pub marker: MarkerKind,
    /// Kernel-General 12 `StartTime`; 4616 `NewTime`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_time"
    )]
    pub new_time: Option<DateTime<Utc>>,
    /// 4616 `PreviousTime`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_time"
    )]
    pub previous_time: Option<DateTime<Utc>>,
    /// EventLog 6013 uptime in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uptime_seconds: Option<u64>,
    /// A short human detail (who cleared a log, which process asked for shutdown, Sysmon
    /// state), quoted from the log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Times everywhere are UTC, RFC 3339, milliseconds.
fn ser_time<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::time::format_rfc3339_ms(t))
}

fn ser_opt_time<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => ser_time(t, s),
        None => s.serialize_none(),
    }
}

impl Event {
    /// The deterministic output order: host, time, record id, file.
    pub fn sort_key(&self) -> (&str, DateTime<Utc>, u64, &str, u64) {
        (
            &self.host,
            self.time,
            self.record_id,
            &self.file,
            self.offset,
        )
    }
}
