//! Events -> a process forest per host and boot.
//!
//! The stages, each in its own module, run in this order:
//! 1. [`hosts`]: group events per machine, joining the names one machine had over time;
//! 2. [`boots`]: cut each host's history into boot sessions, per log file in record-id order
//!    (clocks jump; record ids do not), then match the pieces of one boot across files;
//! 3. [`instances`]: one process per real process (Sysmon 1 and 4688 of the same start merged),
//!    with lifetimes from Sysmon 5 / 4689 or the end of the boot;
//! 4. [`links`]: each process's parent, with the method and confidence of the link, and
//!    placeholder parents for parents whose own start was never logged; [`sightings`] then
//!    names such placeholders from Sysmon records that show them running, or adds one for a
//!    process that was seen running but whose start and children were never logged;
//! 5. [`forest`]: depths and ancestry, computed without recursion; links that would close a
//!    cycle are cut and say so.
//!
//! The result is plain data ([`History`]): `report` and `tables` only read it.
//!
//! Built for 10^7 events (`docs/lineage.md`, "Scale"): one `scan` of the input, small keys
//! sorted instead of events (`order`), GUIDs as numbers ([`guid`]), PID chains (`pids`), and
//! each host's events consumed in place so that the input shrinks as the result grows.

pub mod boots;
pub mod forest;
pub mod guid;
pub mod hosts;
pub mod instances;
pub mod links;
pub(crate) mod order;
mod pids;
mod scan;
pub mod sightings;
#[doc(hidden)]
pub mod synth;

use crate::model::{Event, ProcessStart, Source};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Arc;

/// Index of a process in its host's [`HostHistory::processes`].
pub type ProcIdx = usize;

/// Everything rebuilt from a set of logs.
#[derive(Debug, Default)]
pub struct History {
    pub hosts: Vec<HostHistory>,
    pub stats: Stats,
}

/// Counts a reader of the result should know about (printed in the run summary).
#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    /// Sysmon 1 and 4688 events of the same process start, merged into one instance.
    pub merged_starts: u64,
    /// The same record read twice (the same file given twice, or a copy of it).
    pub duplicate_events: u64,
    /// Exit events with no process to end (the process started before logging began).
    pub unmatched_exits: u64,
    /// Placeholders: parents built from their children's parent fields, and processes known
    /// only from sightings.
    pub placeholders: u64,
    /// Placeholders a sighting named or made (see [`sightings`]).
    pub sighted: u64,
    /// Parent links by method.
    pub links_guid: u64,
    pub links_pid_time: u64,
    pub links_pid_time_name: u64,
    pub links_pid_placeholder: u64,
    pub ambiguous_parents: u64,
    pub unknown_parents: u64,
    /// Links removed because they closed a cycle (forged or reused identifiers).
    pub cycles_cut: u64,
}

/// One machine's history.
#[derive(Debug)]
pub struct HostHistory {
    /// The name shown: the last name the machine used in its logs.
    pub name: String,
    /// Every `Computer` name seen for it, in the order they were first used.
    pub aliases: Vec<String>,
    /// Why names were joined (empty for a host with one name).
    pub joined_by: Vec<String>,
    pub boots: Vec<BootSession>,
    /// Sorted by (boot, start, pid); placeholders included.
    pub processes: Vec<Process>,
    /// Clock changes, log clears and other markers that bear on trusting the timeline.
    pub notes: Vec<TimelineNote>,
}

/// Something on a host's timeline that changes how the history should be read.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineNote {
    pub kind: NoteKind,
    #[serde(serialize_with = "crate::lineage::ser_time")]
    pub time: DateTime<Utc>,
    /// Index into the host's boots.
    pub boot: usize,
    pub record: Provenance,
    pub detail: Option<String>,
}

/// What a timeline note is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    /// Security 4616: the system time was set.
    TimeChanged,
    /// In record order, a log's time went back by more than a minute.
    ClockWentBack,
    /// Security 1102 / System 104.
    LogCleared,
    /// EventLog 6008 / Kernel-Power 41: the previous boot ended without a clean shutdown.
    UncleanShutdown,
    /// Sysmon 16: its configuration changed (what is logged may change).
    SysmonConfigChanged,
    /// Sysmon 4: the Sysmon service state changed (stopped means a gap).
    SysmonStateChanged,
}

impl NoteKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoteKind::TimeChanged => "time_changed",
            NoteKind::ClockWentBack => "clock_went_back",
            NoteKind::LogCleared => "log_cleared",
            NoteKind::UncleanShutdown => "unclean_shutdown",
            NoteKind::SysmonConfigChanged => "sysmon_config_changed",
            NoteKind::SysmonStateChanged => "sysmon_state_changed",
        }
    }
}

/// How a boot's start time was established, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BootBasis {
    /// Kernel-General 12 carries the kernel's start time.
    KernelStart,
    /// The creation of smss.exe (or Registry) by System, PID 4.
    MasterSmss,
    /// The master smss was not logged, but a child's ParentProcessGuid dates it.
    SmssGuidTime,
    /// Nothing of the boot's start was logged, but an event names services.exe, wininit.exe
    /// or smss.exe as its parent, and that parent's GUID dates it (they start seconds after
    /// boot).
    CoreGuidTime,
    /// Security 4608 / EventLog 6005: the log service started (the boot was before this).
    LogStarted,
    /// EventLog 6013 uptime subtracted from its time.
    Uptime,
    /// No start evidence: the logs begin in the middle of this boot.
    NotCaptured,
}

impl BootBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            BootBasis::KernelStart => "kernel_start",
            BootBasis::MasterSmss => "master_smss",
            BootBasis::SmssGuidTime => "smss_guid_time",
            BootBasis::CoreGuidTime => "core_guid_time",
            BootBasis::LogStarted => "log_started",
            BootBasis::Uptime => "uptime",
            BootBasis::NotCaptured => "not_captured",
        }
    }
}

/// Why a boot ends where it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BootEnd {
    /// A shutdown marker (Kernel-General 13, 6006, 4609, 1100).
    Shutdown,
    /// The next boot started without a logged shutdown.
    NextBoot,
    /// The logs end during this boot.
    LogsEnd,
}

/// One boot of one host.
#[derive(Debug, Clone, Serialize)]
pub struct BootSession {
    /// 1-based, in start order (what `--boot N` selects).
    pub number: usize,
    /// The best estimate of the boot's start; `None` when the logs begin inside the boot.
    #[serde(serialize_with = "crate::lineage::ser_opt_time")]
    pub start: Option<DateTime<Utc>>,
    pub basis: BootBasis,
    /// Some log recorded the boot itself (a start marker or the boot's first processes).
    pub captured: bool,
    /// The boot's first processes (the master smss, or its children dated by its GUID) are
    /// in the logs, so a core process's parent can be expected among them.
    pub processes_captured: bool,
    /// First and last event of the boot in the logs.
    #[serde(serialize_with = "crate::lineage::ser_time")]
    pub first_seen: DateTime<Utc>,
    #[serde(serialize_with = "crate::lineage::ser_time")]
    pub last_seen: DateTime<Utc>,
    #[serde(serialize_with = "crate::lineage::ser_opt_time")]
    pub end: Option<DateTime<Utc>>,
    pub end_reason: BootEnd,
    /// The boot and shutdown markers that make up this boot, with their records.
    pub evidence: Vec<Provenance>,
}

impl BootSession {
    /// The time to measure "seconds since boot" from.
    pub fn reference_time(&self) -> DateTime<Utc> {
        self.start.unwrap_or(self.first_seen)
    }
}

/// Where a fact came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provenance {
    pub source: Source,
    pub event_id: u32,
    pub file: Arc<str>,
    pub record_id: u64,
    /// The `Computer` name on the record.
    pub computer: String,
}

impl Provenance {
    pub fn of(e: &Event) -> Self {
        Provenance {
            source: e.source,
            event_id: e.event_id,
            file: Arc::clone(&e.file),
            record_id: e.record_id,
            computer: e.host.clone(),
        }
    }

    /// Whether this record was written before the record `record_id` of `file`: `None` when
    /// they are in different files, whose record numbers do not compare. Where two events
    /// have the same time (a PID freed and taken again within one clock tick), their order in
    /// the log they share is the only evidence of which came first.
    pub fn written_before(&self, file: &str, record_id: u64) -> Option<bool> {
        (*self.file == *file).then_some(self.record_id < record_id)
    }
}

/// Whether a process was logged or inferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Its own start event is in the logs.
    Logged,
    /// Built from a child's parent fields; its start was never logged because it started
    /// before the logs begin.
    BeforeLogging,
    /// Built from a child's parent fields; it started while the logs were recording, so its
    /// start event is missing (not audited, dropped, or cleared).
    MissingEvent,
    /// Built from a child's parent fields; when it started cannot be told.
    Unseen,
    /// The kernel's System process (PID 4), which has no start event by nature.
    Kernel,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Logged => "logged",
            Origin::BeforeLogging => "before_logging",
            Origin::MissingEvent => "missing_event",
            Origin::Unseen => "unseen",
            Origin::Kernel => "kernel",
        }
    }
    pub fn is_placeholder(self) -> bool {
        self != Origin::Logged
    }
}

/// How a parent link was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkMethod {
    /// Sysmon ParentProcessGuid equals the parent's ProcessGuid.
    Guid,
    /// The only process with the parent PID alive at the child's start in the same boot.
    PidTime,
    /// As `PidTime`, and the logged parent name agrees.
    PidTimeName,
    /// No logged process matches: linked to a placeholder built from the parent fields.
    PidPlaceholder,
}

impl LinkMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkMethod::Guid => "guid",
            LinkMethod::PidTime => "pid_time",
            LinkMethod::PidTimeName => "pid_time_name",
            LinkMethod::PidPlaceholder => "pid_placeholder",
        }
    }
}

/// How far a link can be trusted. See `docs/lineage.md` for what each level means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

/// A process's parent, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParentLink {
    Linked {
        parent: ProcIdx,
        method: LinkMethod,
        confidence: Confidence,
    },
    /// Several logged processes fit and nothing tells them apart.
    Ambiguous { candidates: Vec<ProcIdx> },
    /// The event names no parent (Sysmon `ParentImage: -` with no PID or GUID), or this is a
    /// root by nature (System).
    NotLogged,
    /// The event names itself as its parent (forged or corrupt data).
    SelfParent,
    /// The link was cut because following it would loop.
    CycleCut,
}

impl ParentLink {
    pub fn parent(&self) -> Option<ProcIdx> {
        match self {
            ParentLink::Linked { parent, .. } => Some(*parent),
            _ => None,
        }
    }
    /// The state as one word, for tables.
    pub fn state(&self) -> &'static str {
        match self {
            ParentLink::Linked { method, .. } => method.as_str(),
            ParentLink::Ambiguous { .. } => "ambiguous",
            ParentLink::NotLogged => "not_logged",
            ParentLink::SelfParent => "self_parent",
            ParentLink::CycleCut => "cycle_cut",
        }
    }
    pub fn confidence(&self) -> Option<Confidence> {
        match self {
            ParentLink::Linked { confidence, .. } => Some(*confidence),
            _ => None,
        }
    }
}

/// Why a process's lifetime ends where it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// Sysmon 5 or 4689.
    Exited,
    /// No exit logged; the boot ended.
    BootEnded,
    /// No exit logged and the logs end during the boot: still running when logging stopped.
    Running,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Exited => "exited",
            EndReason::BootEnded => "boot_ended",
            EndReason::Running => "running",
        }
    }
}

/// One real process.
#[derive(Debug, Clone)]
pub struct Process {
    /// Index into the host's boots.
    pub boot: usize,
    /// Creation time (Sysmon UtcTime, else the 4688 time); for placeholders the time embedded
    /// in the ProcessGuid, else `None`.
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub end_reason: EndReason,
    pub origin: Origin,
    /// The logged fields (Sysmon's when both logs have the process, completed from 4688).
    pub info: Box<ProcessStart>,
    /// The start events (one per log that recorded it).
    pub sources: Vec<Provenance>,
    pub exit: Option<Provenance>,
    pub parent: ParentLink,
    /// Links from the root of its tree (0 for a root).
    pub depth: u32,
    /// For a process whose start was not logged: the first record that shows it running
    /// (a Sysmon sighting, see [`sightings`]). Boxed: nearly every process has none.
    pub seen: Option<Box<Seen>>,
}

/// A record showing a process alive, with its image, when its start is not in the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// When it was seen: the record's `UtcTime`.
    pub time: DateTime<Utc>,
    pub record: Provenance,
}

impl Process {
    /// The image's file name, as logged (`C:\Windows\System32\smss.exe` -> `smss.exe`).
    pub fn name(&self) -> &str {
        self.info.image.as_deref().map(image_name).unwrap_or("?")
    }
    /// Alive at `t`: started at or before it and not yet ended.
    pub fn alive_at(&self, t: DateTime<Utc>) -> bool {
        self.start.is_none_or(|s| s <= t) && self.end.is_none_or(|e| e >= t)
    }
}

/// The last path component of a Windows image path.
pub fn image_name(path: &str) -> &str {
    // Byte searches: the separators are ASCII, so every cut is on a character boundary.
    let is_separator = |b: &u8| matches!(b, b'\\' | b'/');
    let trailing = path.bytes().rev().take_while(is_separator).count();
    let path = path.get(..path.len() - trailing).unwrap_or(path);
    match path.bytes().rposition(|b| is_separator(&b)) {
        Some(i) => path.get(i + 1..).unwrap_or(path),
        None => path,
    }
}

/// Two logged image names (full paths or bare names) name the same executable.
pub fn same_image(a: &str, b: &str) -> bool {
    let (na, nb) = (image_name(a), image_name(b));
    if !na.eq_ignore_ascii_case(nb) {
        return false;
    }
    // Both full paths: they must agree (after `\??\`, `\SystemRoot\` style prefixes).
    let (fa, fb) = (a.contains('\\'), b.contains('\\'));
    !(fa && fb) || crate::lineage::normalised_path(a) == crate::lineage::normalised_path(b)
}

/// A Windows path in one comparable spelling: lower case, `\??\` and `\\?\` dropped,
/// `\SystemRoot\` and `%SystemRoot%` as `c:\windows`, `\Device\HarddiskVolumeN\` as `c:\`.
pub fn normalised_path(p: &str) -> String {
    let mut s = p.trim().trim_matches('"').to_ascii_lowercase();
    for prefix in [r"\??\", r"\\?\"] {
        if let Some(rest) = s.strip_prefix(prefix) {
            s = rest.to_string();
        }
    }
    for (from, to) in [
        (r"\systemroot\", r"c:\windows\"),
        (r"%systemroot%\", r"c:\windows\"),
        (r"%windir%\", r"c:\windows\"),
    ] {
        if let Some(rest) = s.strip_prefix(from) {
            s = format!("{to}{rest}");
        }
    }
    if let Some(rest) = s.strip_prefix(r"\device\harddiskvolume") {
        if let Some(i) = rest.find('\\') {
            if rest[..i].bytes().all(|b| b.is_ascii_digit()) {
                s = format!(r"c:\{}", &rest[i + 1..]);
            }
        }
    }
    s
}

/// The time embedded in a Sysmon ProcessGuid: its second and third fields, read as one
/// little-endian 32-bit number, are Unix seconds (`{747f3d96-b75f-5ea4-...}` -> 0x5EA4B75F).
pub fn guid_time(guid: &str) -> Option<DateTime<Utc>> {
    let secs = match guid::parse(guid) {
        // The usual form (nearly every GUID): the fields sit at fixed places in its number.
        Some(n) => guid::embedded_seconds(n),
        None => {
            let g = guid.trim_matches(['{', '}']);
            let mut parts = g.split('-');
            let _machine = parts.next()?;
            let low = u16::from_str_radix(parts.next()?, 16).ok()?;
            let high = u16::from_str_radix(parts.next()?, 16).ok()?;
            (u32::from(high) << 16) | u32::from(low)
        }
    };
    if secs == 0 {
        return None;
    }
    DateTime::from_timestamp(i64::from(secs), 0)
}

/// The first field of a Sysmon ProcessGuid, constant per machine.
pub fn guid_machine(guid: &str) -> Option<&str> {
    let g = guid.trim_start_matches('{');
    let field = g.split('-').next()?;
    (field.len() == 8 && field.bytes().all(|b| b.is_ascii_hexdigit()) && field != "00000000")
        .then_some(field)
}

/// A GUID that stands for "none" (all zeros), which Sysmon writes for unknown parents.
pub fn is_null_guid(guid: &str) -> bool {
    guid.bytes().all(|b| matches!(b, b'0' | b'-' | b'{' | b'}'))
}

/// Build the whole history from typed events (any order; duplicates are dropped).
pub fn build(events: Vec<Event>) -> History {
    let mut stats = Stats::default();
    let grouped = hosts::group(events, &mut stats);
    let mut out = grouped.build_each(|host, events| build_host(host, events, &mut stats));
    out.sort_by_key(|h| h.name.to_lowercase());
    History { hosts: out, stats }
}

/// One host's history; its events are consumed (see [`instances::build`]).
fn build_host(host: hosts::Host, events: &mut [Event], stats: &mut Stats) -> HostHistory {
    let files = boots::record_order(events);
    let segmented = boots::sessions(events, &files);
    let notes = boots::notes(events, &files, &segmented);
    let coverage = links::coverage(events);
    let (mut processes, ids) = instances::build(events, &segmented, stats);
    let sighted = sightings::collect(events, &segmented, &ids);
    let logged = processes.len();
    links::link(&mut processes, &ids, &segmented, &coverage, stats);
    sightings::attach(&mut processes, logged, sighted, &coverage, stats);
    forest::finish(&mut processes, stats);
    HostHistory {
        name: host.name,
        aliases: host.aliases,
        joined_by: host.joined_by,
        boots: segmented.boots,
        processes,
        notes,
    }
}

pub(crate) fn ser_time<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::time::format_rfc3339_ms(t))
}

pub(crate) fn ser_opt_time<S: serde::Serializer>(
    t: &Option<DateTime<Utc>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => ser_time(t, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_time_reads_the_embedded_start() {
        let t = guid_time("{747f3d96-b75f-5ea4-0000-0010a1b2c3d4}").unwrap();
        assert_eq!(t.timestamp(), 0x5EA4_B75F);
        assert_eq!(
            guid_machine("{747f3d96-b75f-5ea4-0000-0010a1b2c3d4}"),
            Some("747f3d96")
        );
        assert!(guid_time("{00000000-0000-0000-0000-000000000000}").is_none());
        assert!(guid_time("garbage").is_none());
        assert!(is_null_guid("{00000000-0000-0000-0000-000000000000}"));
    }

    #[test]
    fn paths_compare_in_one_spelling() {
        assert!(same_image(
            r"\SystemRoot\System32\smss.exe",
            r"C:\Windows\System32\smss.exe"
        ));
        assert!(same_image(
            r"\??\C:\Windows\system32\autochk.exe",
            r"C:\Windows\System32\autochk.exe"
        ));
        assert!(same_image("smss.exe", r"C:\Windows\System32\SMSS.EXE"));
        assert!(!same_image(
            r"C:\Users\Public\svchost.exe",
            r"C:\Windows\System32\svchost.exe"
        ));
        assert_eq!(
            normalised_path(r"\Device\HarddiskVolume3\Windows\System32\cmd.exe"),
            r"c:\windows\system32\cmd.exe"
        );
        assert_eq!(image_name(r"C:\a\b.exe"), "b.exe");
        assert_eq!(image_name("System"), "System");
        assert_eq!(image_name(r"C:\a\b.exe\\/"), "b.exe");
        assert_eq!(image_name(r"C:/a/é.exe"), "é.exe");
        assert_eq!(image_name(r"\\"), "");
        assert_eq!(image_name(""), "");
    }
}
