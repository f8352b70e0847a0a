//! Records -> typed events: which records matter, from which log they truly come, and what
//! their fields mean.
//!
//! A record is used as Sysmon or Security only when both its channel and its provider GUID say
//! so (`../shared/BASELINE.md`); a record that claims one without the other is counted as a
//! mismatch and dropped, never used silently.

pub mod fields;
mod marker;
mod process;
pub mod sighting;

use crate::ingest::{RawRecord, RecordSink};
use crate::issues::{Issue, IssueKind};
use crate::model::{Event, EventKind, Source};
use crate::report::events::JsonLines;
use chrono::{DateTime, Utc};
use fields::{Fields, OddFields};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const SYSMON_PROVIDER: &str = "Microsoft-Windows-Sysmon";
pub const SYSMON_GUID: &str = "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}";
pub const SYSMON_CHANNEL: &str = "Microsoft-Windows-Sysmon/Operational";
pub const SECURITY_PROVIDER: &str = "Microsoft-Windows-Security-Auditing";
pub const SECURITY_GUID: &str = "{54849625-5478-4994-a5ba-3e3b0328c30d}";
pub const SECURITY_CHANNEL: &str = "Security";
/// The event-log service's own provider (1100, 1102 in Security; 104 in System).
pub const EVENTLOG_PROVIDER: &str = "Microsoft-Windows-Eventlog";
pub const EVENTLOG_GUID: &str = "{fc65ddd8-d6ef-4962-83d5-6e5cfe9ce148}";

/// Which events to keep; applied as events are built so memory holds only what is kept.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Kinds to keep; empty keeps all.
    pub kinds: Vec<EventKind>,
    /// Keep only this `Computer` (case-insensitive).
    pub host: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl Filter {
    fn keeps(&self, e: &Event) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&e.kind))
            && self
                .host
                .as_ref()
                .is_none_or(|h| h.eq_ignore_ascii_case(&e.host))
            && self.from.is_none_or(|f| e.time >= f)
            && self.to.is_none_or(|t| e.time <= t)
    }
}

/// What one extraction pass saw, merged across threads for the run summary.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Records read (decoded or skipped).
    pub records: u64,
    /// Records decoded in full because they might matter.
    pub decoded: u64,
    /// Typed events built (before `--host/--from/--to/--kind`).
    pub events: BTreeMap<(Source, u32), u64>,
    /// Events kept after the filter.
    pub kept: u64,
    /// Present but unreadable fields, by name.
    pub odd_fields: OddFields,
    /// Records that claimed Sysmon/Security without matching channel and GUID.
    pub mismatches: u64,
    /// Process records with no usable time (dropped).
    pub untimed: u64,
}

impl Tally {
    pub fn merge(&mut self, other: Tally) {
        self.records += other.records;
        self.decoded += other.decoded;
        for (k, v) in other.events {
            *self.events.entry(k).or_default() += v;
        }
        self.kept += other.kept;
        for (k, v) in other.odd_fields {
            *self.odd_fields.entry(k).or_default() += v;
        }
        self.mismatches += other.mismatches;
        self.untimed += other.untimed;
    }
}

/// The extraction stage as a [`RecordSink`]: readers push records in, typed events and issues
/// collect here.
pub struct Extractor<'f> {
    file: Arc<str>,
    filter: &'f Filter,
    pub events: Vec<Event>,
    /// When set, kept events are written here as JSON lines the moment they are built, and
    /// `events` stays empty: the event's strings are freed while still in cache, and the
    /// allocator hands the same blocks to the next record.
    pub lines: Option<JsonLines>,
    pub issues: Vec<Issue>,
    pub tally: Tally,
    /// Where consumed bytes are reported for the progress bar (hidden when not a terminal).
    pub progress_bar: Option<indicatif::ProgressBar>,
    /// Channel and provider names seen so far, shared by the events that repeat them.
    channels: SharedTexts,
    providers: SharedTexts,
}

/// One shared copy of each name of a work unit (a file names a handful of channels and
/// providers), the last one used checked first, then the first few by comparison (logs
/// interleave two or three; hashing cost more than comparing), then by hash.
#[derive(Default)]
struct SharedTexts {
    last: Option<Arc<str>>,
    first: Vec<Arc<str>>,
    seen: std::collections::HashSet<Arc<str>>,
}

impl SharedTexts {
    /// How many names are compared before hashing.
    const COMPARED: usize = 8;

    fn share(&mut self, text: Option<String>) -> Arc<str> {
        let text = text.unwrap_or_default();
        if let Some(last) = self.last.as_ref().filter(|l| ***l == *text) {
            return Arc::clone(last);
        }
        if let Some(near) = self.first.iter().find(|n| ***n == *text) {
            let near = Arc::clone(near);
            self.last = Some(Arc::clone(&near));
            return near;
        }
        let shared = match self.seen.get(text.as_str()) {
            Some(s) => Arc::clone(s),
            None => {
                let s: Arc<str> = Arc::from(text);
                self.seen.insert(Arc::clone(&s));
                if self.first.len() < Self::COMPARED {
                    self.first.push(Arc::clone(&s));
                }
                s
            }
        };
        self.last = Some(Arc::clone(&shared));
        shared
    }
}

impl<'f> Extractor<'f> {
    pub fn new(file: Arc<str>, filter: &'f Filter) -> Self {
        Extractor {
            file,
            filter,
            events: Vec::new(),
            lines: None,
            issues: Vec::new(),
            tally: Tally::default(),
            progress_bar: None,
            channels: SharedTexts::default(),
            providers: SharedTexts::default(),
        }
    }

    fn mismatch(&mut self, rec: &RawRecord, offset: u64, claimed: &str) {
        self.tally.mismatches += 1;
        let detail = format!(
            "event {} claims {claimed} but channel is {:?} and provider GUID is {:?}; not used",
            rec.event_id.unwrap_or_default(),
            rec.channel.as_deref().unwrap_or(""),
            rec.provider_guid.as_deref().unwrap_or("")
        );
        self.issues
            .push(Issue::new(IssueKind::SourceMismatch, &self.file, detail).at_offset(offset));
    }

    fn build(&mut self, rec: &mut RawRecord, offset: u64) -> Option<Event> {
        let id = rec.event_id?;
        let source = match classify(rec) {
            Class::Use(s) => s,
            Class::Ignore => return None,
            Class::Mismatch(claimed) => {
                self.mismatch(rec, offset, claimed);
                return None;
            }
        };
        let mut f = Fields {
            rec,
            odd: &mut self.tally.odd_fields,
            cursor: 0,
        };
        let (kind, body, time) = match (source, id) {
            (Source::Sysmon, 1) | (Source::Security, 4688) => {
                let (p, t) = process::start(source, &mut f);
                (
                    EventKind::Process,
                    crate::model::Body::Process(Box::new(p)),
                    t,
                )
            }
            (Source::Sysmon, 5) | (Source::Security, 4689) => {
                let (p, t) = process::exit(source, &mut f);
                (EventKind::Exit, crate::model::Body::Exit(p), t)
            }
            (Source::Sysmon, id) if sighting::is_sighting(id) => {
                let (s, t) = sighting::sighting(id, &mut f);
                (EventKind::Sighting, crate::model::Body::Sighting(s), t)
            }
            _ => (
                EventKind::Marker,
                crate::model::Body::Marker(marker::marker(source, id, &mut f)?),
                None,
            ),
        };
        let logged = match rec.time_created {
            Some(t) => t,
            None => {
                self.tally.untimed += 1;
                return None;
            }
        };
        *self.tally.events.entry((source, id)).or_default() += 1;
        Some(Event {
            kind,
            host: rec.computer.take().unwrap_or_default(),
            time: time.unwrap_or(logged),
            logged,
            source,
            channel: self.channels.share(rec.channel.take()),
            provider: self.providers.share(rec.provider_name.take()),
            event_id: id,
            version: rec.version,
            record_id: rec.record_id.unwrap_or_default(),
            file: Arc::clone(&self.file),
            offset,
            body,
        })
    }
}

impl RecordSink for Extractor<'_> {
    /// Only records that can become a kept event are decoded: `--kind marker` never pays for
    /// the EventData of process records.
    fn wants(&self, provider: Option<&str>, event_id: Option<u32>) -> bool {
        candidate_kind(provider, event_id)
            .is_some_and(|k| self.filter.kinds.is_empty() || self.filter.kinds.contains(&k))
    }

    /// Process records and sightings are read by name: fields nobody reads (Sysmon's
    /// `RuleName`, `Description`, `LogonGuid`, ...) need not be rendered.
    fn fields(
        &self,
        provider: Option<&str>,
        event_id: Option<u32>,
    ) -> Option<crate::ingest::binxml::FieldNames> {
        let (p, id) = (provider?, event_id?);
        process::fields(p, id).or_else(|| sighting::fields(p, id))
    }

    fn record(&mut self, mut rec: RawRecord, offset: u64) {
        self.tally.records += 1;
        if !is_candidate(rec.provider_name.as_deref(), rec.event_id) {
            return;
        }
        self.tally.decoded += 1;
        if let Some(event) = self.build(&mut rec, offset) {
            if self.filter.keeps(&event) {
                self.tally.kept += 1;
                match &mut self.lines {
                    Some(lines) => lines.push(&event),
                    None => self.events.push(event),
                }
            }
        }
    }

    fn skipped(&mut self) {
        self.tally.records += 1;
    }

    fn issue(&mut self, issue: Issue) {
        self.issues.push(issue);
    }

    fn progress(&mut self, bytes: u64) {
        if let Some(bar) = &self.progress_bar {
            bar.inc(bytes);
        }
    }
}

/// The (provider, event id) pairs worth decoding. Provider names are what a reader can see
/// before decoding the data; the channel/GUID check comes after.
pub fn is_candidate(provider: Option<&str>, event_id: Option<u32>) -> bool {
    candidate_kind(provider, event_id).is_some()
}

/// The kind of event a (provider, event id) pair would become, if any.
pub fn candidate_kind(provider: Option<&str>, event_id: Option<u32>) -> Option<EventKind> {
    let (Some(p), Some(id)) = (provider, event_id) else {
        return None;
    };
    let marker = match (p, id) {
        (SYSMON_PROVIDER, 1) | (SECURITY_PROVIDER, 4688) => return Some(EventKind::Process),
        (SYSMON_PROVIDER, 5) | (SECURITY_PROVIDER, 4689) => return Some(EventKind::Exit),
        (SYSMON_PROVIDER, id) if sighting::is_sighting(id) => return Some(EventKind::Sighting),
        (SYSMON_PROVIDER, id) => matches!(id, 4 | 16),
        (SECURITY_PROVIDER, id) => matches!(id, 4608 | 4609 | 4616),
        (EVENTLOG_PROVIDER, id) => matches!(id, 104 | 1100 | 1102),
        ("Microsoft-Windows-Kernel-General", id) => matches!(id, 12 | 13),
        ("EventLog", id) => matches!(id, 6005 | 6006 | 6008 | 6009 | 6013),
        ("Microsoft-Windows-Kernel-Power", id) => id == 41,
        ("User32", id) => id == 1074,
        _ => false,
    };
    marker.then_some(EventKind::Marker)
}

enum Class {
    Use(Source),
    Ignore,
    Mismatch(&'static str),
}

/// Decide the true source of a candidate record from channel and provider GUID together.
fn classify(rec: &RawRecord) -> Class {
    let channel = rec.channel.as_deref().unwrap_or("");
    let guid = rec.provider_guid.as_deref().unwrap_or("");
    let provider = rec.provider_name.as_deref().unwrap_or("");
    let id = rec.event_id.unwrap_or_default();
    let check = |want_channel: &str, want_guid: &str, source, claimed| {
        if channel == want_channel && guid == want_guid {
            Class::Use(source)
        } else {
            Class::Mismatch(claimed)
        }
    };
    match provider {
        SYSMON_PROVIDER => check(SYSMON_CHANNEL, SYSMON_GUID, Source::Sysmon, "Sysmon"),
        SECURITY_PROVIDER => check(
            SECURITY_CHANNEL,
            SECURITY_GUID,
            Source::Security,
            "Security",
        ),
        EVENTLOG_PROVIDER if id == 104 => match channel {
            "System" => Class::Use(Source::System),
            _ => Class::Mismatch("System"),
        },
        EVENTLOG_PROVIDER => check(
            SECURITY_CHANNEL,
            EVENTLOG_GUID,
            Source::Security,
            "Security",
        ),
        _ if channel == "System" => Class::Use(Source::System),
        _ => Class::Ignore,
    }
}
