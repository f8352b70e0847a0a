//! Boot sessions of one host.
//!
//! Clocks jump (by days and years in real logs) and quick reboots follow each other within a
//! minute, so boots are not found by time windows. Two steps:
//!
//! 1. **Per file, in record-id order**, the events are cut into segments. A segment is opened
//!    by a boot anchor whose slot the current segment already holds (a second master smss, a
//!    second Kernel-General 12, a second 4608...), by any anchor after a shutdown marker, or by
//!    any anchor after events that had no anchor (the log began inside an earlier boot). A
//!    Sysmon smss child whose ParentProcessGuid names a master smss other than the segment's
//!    opens a segment too, unless the segment has no master yet and that master's GUID time is
//!    before everything in it (the log began inside that very boot: an RDP session's smss).
//! 2. **Per host**, segments from different files are matched into one boot when their start
//!    estimates are within [`MATCH_TOLERANCE_S`], nearest pairs first, at most one segment per
//!    file per boot. Segments with no anchor join the boot whose span holds their first event,
//!    or stand alone as a boot whose start was not captured.

use super::{BootBasis, BootEnd, BootSession, NoteKind, Provenance, TimelineNote};
use crate::model::{Body, Event, MarkerKind, ProcessStart};
use chrono::{DateTime, Duration, Utc};
use foldhash::{HashMap, HashMapExt};
use std::sync::Arc;

/// Segments of two files whose start estimates differ by at most this are one boot. 4608 and
/// 6005 are logged up to a few minutes after the kernel starts.
pub const MATCH_TOLERANCE_S: i64 = 300;

/// An unanchored segment joins a boot only if the boot was seen within this many hours
/// before the segment's first event.
const MAX_UNSEEN_GAP_H: i64 = 24;

/// A backward time step in record order larger than this becomes a `clock_went_back` note.
const CLOCK_BACK_NOTE_S: i64 = 60;

/// The boots of one host and the boot of every event.
#[derive(Debug, Default)]
pub struct Segmented {
    pub boots: Vec<BootSession>,
    /// For each event of the host (same order), the index of its boot.
    pub event_boot: Vec<usize>,
}

/// The creation of smss.exe or Registry by the System process (PID 4): the start of a boot.
pub fn is_master_smss(p: &ProcessStart) -> bool {
    // The parent first: it is read for every process anyway (see `Segment::push`), the image
    // only for the few the kernel started.
    let by_system = p.parent_pid == Some(4)
        || p.parent_image
            .as_deref()
            .is_some_and(|i| super::image_name(i).eq_ignore_ascii_case("System"));
    let kernel_child =
        |name: &str| name.eq_ignore_ascii_case("smss.exe") || name.eq_ignore_ascii_case("Registry");
    by_system
        && p.image
            .as_deref()
            .map(super::image_name)
            .is_some_and(kernel_child)
}

/// What an event says about the start of a boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    KernelStart,
    MasterSmss,
    MasterRegistry,
    BootBanner,
    LogStarted,
}

#[derive(Debug, Clone)]
struct Anchor {
    slot: Slot,
    basis: BootBasis,
    estimate: DateTime<Utc>,
    event: usize,
}

#[derive(Debug, Default)]
struct Segment {
    file: Arc<str>,
    anchors: Vec<Anchor>,
    /// The master smss GUID this segment's processes hang from, when known.
    master_guid: Option<String>,
    /// GUIDs of the smss.exe processes logged in this segment: an smss.exe started by one of
    /// them (a session smss starting another, as a stuck or rogue session manager does) stays
    /// in this boot instead of opening one dated by its parent.
    smss_guids: Vec<String>,
    guid_anchor: Option<(DateTime<Utc>, usize)>,
    events: Vec<usize>,
    closed_at: Option<usize>,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    /// The earliest start embedded in a Sysmon GUID its events name (their own or their
    /// parent's): a process of this boot was alive then, so the boot started before it.
    earliest_guid: Option<DateTime<Utc>>,
    /// The earliest GUID time of a services/wininit/smss parent named by its events.
    core_guid: Option<(DateTime<Utc>, usize)>,
}

impl Segment {
    fn new(file: &Arc<str>) -> Self {
        Segment {
            file: Arc::clone(file),
            ..Default::default()
        }
    }
    fn has_starter(&self) -> bool {
        !self.anchors.is_empty() || self.guid_anchor.is_some()
    }
    fn push(&mut self, idx: usize, e: &Event) {
        let t = e.time;
        if let Body::Process(p) = &e.body {
            let smss = p
                .image
                .as_deref()
                .is_some_and(|i| super::image_name(i).eq_ignore_ascii_case("smss.exe"));
            if let (true, Some(g)) = (smss, p.guid.as_deref()) {
                self.smss_guids.push(g.to_string());
            }
            let core_parent = p.parent_image.as_deref().is_some_and(|i| {
                let n = super::image_name(i);
                ["services.exe", "wininit.exe", "smss.exe"]
                    .iter()
                    .any(|c| n.eq_ignore_ascii_case(c))
            });
            // Only times the clock of the moment agrees with (not after the event).
            let agreed = |g: Option<&str>| {
                g.and_then(super::guid_time)
                    .filter(|gt| *gt <= t + Duration::seconds(2))
            };
            let parent_time = agreed(p.parent_guid.as_deref());
            if let Some(gt) = parent_time.filter(|_| core_parent) {
                if self.core_guid.is_none_or(|(c, _)| gt < c) {
                    self.core_guid = Some((gt, idx));
                }
            }
            for gt in [agreed(p.guid.as_deref()), parent_time]
                .into_iter()
                .flatten()
            {
                self.earliest_guid = min_opt(self.earliest_guid, Some(gt));
            }
        }
        self.events.push(idx);
        self.first = Some(self.first.map_or(t, |f| f.min(t)));
        self.last = Some(self.last.map_or(t, |l| l.max(t)));
    }
    /// The best start estimate and how it was established.
    fn estimate(&self) -> Option<(DateTime<Utc>, BootBasis)> {
        let from_anchor = self
            .anchors
            .iter()
            .min_by_key(|a| (a.basis, a.estimate))
            .map(|a| (a.estimate, a.basis));
        let from_guid = self.guid_anchor.map(|(t, _)| (t, BootBasis::SmssGuidTime));
        let best = match (from_anchor, from_guid) {
            (Some(a), Some(g)) => Some(if a.1 <= g.1 { a } else { g }),
            (a, g) => a.or(g),
        };
        best.or(self.core_guid.map(|(t, _)| (t, BootBasis::CoreGuidTime)))
    }
    fn processes_captured(&self) -> bool {
        self.guid_anchor.is_some()
            || self
                .anchors
                .iter()
                .any(|a| matches!(a.slot, Slot::MasterSmss | Slot::MasterRegistry))
    }
}

fn anchor_of(e: &Event, idx: usize) -> Option<Anchor> {
    let (slot, basis, estimate) = match &e.body {
        Body::Process(p) if is_master_smss(p) => {
            let registry = p
                .image
                .as_deref()
                .is_some_and(|i| super::image_name(i).eq_ignore_ascii_case("Registry"));
            let slot = if registry {
                Slot::MasterRegistry
            } else {
                Slot::MasterSmss
            };
            (slot, BootBasis::MasterSmss, e.time)
        }
        Body::Marker(m) => match m.marker {
            MarkerKind::OsStarted => (
                Slot::KernelStart,
                BootBasis::KernelStart,
                m.new_time.unwrap_or(e.time),
            ),
            MarkerKind::LogStarted => (Slot::LogStarted, BootBasis::LogStarted, e.time),
            MarkerKind::BootBanner => (Slot::BootBanner, BootBasis::LogStarted, e.time),
            _ => return None,
        },
        _ => return None,
    };
    Some(Anchor {
        slot,
        basis,
        estimate,
        event: idx,
    })
}

fn is_shutdown(e: &Event) -> bool {
    matches!(&e.body, Body::Marker(m) if matches!(
        m.marker,
        MarkerKind::OsShutdown | MarkerKind::LogStopped | MarkerKind::LoggingShutdown
    ))
}

/// Markers written while a machine shuts down: they stay with the boot that is ending.
fn is_shutdown_phase(e: &Event) -> bool {
    is_shutdown(e)
        || matches!(&e.body, Body::Marker(m) if m.marker == MarkerKind::ShutdownRequested)
}

/// A Sysmon smss.exe started by smss.exe: (the master's GUID, the time it embeds).
fn smss_child_master(e: &Event) -> Option<(&str, DateTime<Utc>)> {
    let Body::Process(p) = &e.body else {
        return None;
    };
    let is_smss =
        |i: Option<&str>| i.is_some_and(|i| super::image_name(i).eq_ignore_ascii_case("smss.exe"));
    if !is_smss(p.parent_image.as_deref()) || !is_smss(p.image.as_deref()) {
        return None;
    }
    let g = p.parent_guid.as_deref()?;
    Some((g, super::guid_time(g)?))
}

/// A shutdown marker dated before the current segment's boot started: the previous boot's.
fn is_late_shutdown(e: &Event, segs: &[Segment]) -> bool {
    let Some(cur) = segs.last() else { return false };
    is_shutdown(e)
        && segs.len() >= 2
        && cur
            .anchors
            .iter()
            .map(|a| a.estimate)
            .min()
            .is_some_and(|start| e.time < start)
}

/// Cut one file's events (indices into `events`, in record order) into segments.
fn segment_file(file: &Arc<str>, order: &[usize], events: &[Event]) -> Vec<Segment> {
    let mut segs = vec![Segment::new(file)];
    for &idx in order {
        let e = &events[idx];
        let cur_closed = segs.last().is_some_and(|s| s.closed_at.is_some());
        if let Some(a) = anchor_of(e, idx) {
            let open_new = segs.last().is_some_and(|s| {
                s.closed_at.is_some()
                    || s.anchors.iter().any(|x| x.slot == a.slot)
                    || (!s.has_starter() && !s.events.is_empty())
            });
            if open_new {
                segs.push(Segment::new(file));
            }
            if let Some(s) = segs.last_mut() {
                if a.slot == Slot::MasterSmss {
                    if let Body::Process(p) = &e.body {
                        s.master_guid = s.master_guid.take().or_else(|| p.guid.clone());
                    }
                }
                s.anchors.push(a);
            }
        } else if let Some((g, t)) = smss_child_master(e) {
            // A master that "started" after its child was dated by a clock that was changed
            // since (a local-time RTC at boot): its GUID time proves nothing.
            let trusted = t <= e.time + Duration::seconds(2);
            let open_new = segs.last().is_some_and(|s| {
                let parent_here = s.smss_guids.iter().any(|x| x.eq_ignore_ascii_case(g));
                match &s.master_guid {
                    Some(m) => !m.eq_ignore_ascii_case(g) && !parent_here,
                    None => {
                        s.closed_at.is_some()
                            || (!parent_here && trusted && s.first.is_some_and(|f| t > f))
                    }
                }
            });
            if open_new {
                segs.push(Segment::new(file));
            }
            if let Some(s) = segs.last_mut() {
                if s.master_guid.is_none() {
                    s.master_guid = Some(g.to_string());
                    s.guid_anchor = trusted.then_some((t, idx));
                }
            }
        } else if is_late_shutdown(e, &segs) {
            // Kernel-General 13 of the previous boot is written after the next boot's first
            // EventLog records: it belongs to (and closes) the segment before.
            let n = segs.len();
            if let Some(prev) = segs.get_mut(n.wrapping_sub(2)) {
                prev.push(idx, e);
                prev.closed_at.get_or_insert(idx);
                continue;
            }
        } else if cur_closed && !is_shutdown_phase(e) {
            segs.push(Segment::new(file));
        }
        if let Some(s) = segs.last_mut() {
            s.push(idx, e);
            if is_shutdown(e) && s.closed_at.is_none() {
                s.closed_at = Some(idx);
            }
        }
    }
    segs.retain(|s| !s.events.is_empty());
    segs
}

/// One host's events file by file (in path order), each file's in record order: by record id
/// and offset, ties in the order of `events`. Boots are cut, and clock steps found, in this
/// order, because record ids do not jump when clocks do.
pub struct RecordOrder {
    files: Vec<(Arc<str>, Vec<usize>)>,
}

/// The record order of one host's events.
pub fn record_order(events: &[Event]) -> RecordOrder {
    let mut ids: HashMap<&str, usize> = HashMap::new();
    let mut files: Vec<(Arc<str>, Vec<usize>)> = Vec::new();
    // Events of one file usually share one `Arc`: a pointer check spares hashing the path.
    let mut last: Option<(&Arc<str>, usize)> = None;
    for (i, e) in events.iter().enumerate() {
        let id = match last {
            Some((f, id)) if Arc::ptr_eq(f, &e.file) => id,
            _ => *ids.entry(&e.file).or_insert_with(|| {
                files.push((Arc::clone(&e.file), Vec::new()));
                files.len() - 1
            }),
        };
        last = Some((&e.file, id));
        if let Some((_, list)) = files.get_mut(id) {
            list.push(i);
        }
    }
    files.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut keys: Vec<(u64, u64, usize)> = Vec::new();
    for (_, order) in &mut files {
        keys.clear();
        keys.extend(
            order
                .iter()
                .map(|&i| (events[i].record_id, events[i].offset, i)),
        );
        // Mostly in order already (a host's events come sorted by channel, then record id):
        // the stable sort merges the ordered runs instead of sorting from scratch.
        keys.sort();
        order.clear();
        order.extend(keys.iter().map(|&(_, _, i)| i));
    }
    RecordOrder { files }
}

/// Boot sessions of one host's events.
pub fn sessions(events: &[Event], order: &RecordOrder) -> Segmented {
    let segs = all_segments(events, order);
    let clusters = match_segments(&segs);
    let mut out = Segmented {
        boots: Vec::with_capacity(clusters.len()),
        event_boot: vec![0; events.len()],
    };
    let mut ordered: Vec<(DateTime<Utc>, BootSession, Vec<usize>)> = clusters
        .into_iter()
        .map(|members| {
            let boot = describe(&members, &segs, events);
            (boot.reference_time(), boot, members)
        })
        .collect();
    ordered.sort_by_key(|(t, b, _)| (*t, b.first_seen));
    for (n, (_, mut boot, members)) in ordered.into_iter().enumerate() {
        boot.number = n + 1;
        for m in members {
            if let Some(seg) = segs.get(m) {
                for &i in &seg.events {
                    if let Some(slot) = out.event_boot.get_mut(i) {
                        *slot = n;
                    }
                }
            }
        }
        out.boots.push(boot);
    }
    set_ends(&mut out.boots);
    out
}

fn all_segments(events: &[Event], order: &RecordOrder) -> Vec<Segment> {
    let mut segs = Vec::new();
    for (file, in_file) in &order.files {
        segs.extend(segment_file(file, in_file, events));
    }
    segs
}

/// Group segments into boots (each a list of segment indices).
fn match_segments(segs: &[Segment]) -> Vec<Vec<usize>> {
    let est: Vec<Option<DateTime<Utc>>> = segs.iter().map(|s| s.estimate().map(|e| e.0)).collect();
    let mut cluster_of: Vec<usize> = (0..segs.len()).collect();
    let mut members: Vec<Vec<usize>> = (0..segs.len()).map(|i| vec![i]).collect();
    let anchored: Vec<usize> = (0..segs.len()).filter(|&i| est[i].is_some()).collect();
    let mut pairs: Vec<(i64, usize, usize)> = Vec::new();
    for (k, &i) in anchored.iter().enumerate() {
        for &j in &anchored[k + 1..] {
            if let (Some(a), Some(b)) = (est[i], est[j]) {
                let d = (a - b).num_milliseconds().abs();
                if segs[i].file != segs[j].file && d <= MATCH_TOLERANCE_S * 1000 {
                    pairs.push((d, i, j));
                }
            }
        }
    }
    pairs.sort_unstable();
    for (_, i, j) in pairs {
        let (ci, cj) = (cluster_of[i], cluster_of[j]);
        if ci == cj {
            continue;
        }
        let shares_file = members[ci]
            .iter()
            .any(|&a| members[cj].iter().any(|&b| segs[a].file == segs[b].file));
        if shares_file {
            continue;
        }
        let moved = std::mem::take(&mut members[cj]);
        for &m in &moved {
            cluster_of[m] = ci;
        }
        members[ci].extend(moved);
    }
    attach_unanchored(segs, &est, &mut members, &mut cluster_of);
    members.into_iter().filter(|m| !m.is_empty()).collect()
}

/// Segments without an anchor join the anchored boot whose span holds their first event.
fn attach_unanchored(
    segs: &[Segment],
    est: &[Option<DateTime<Utc>>],
    members: &mut [Vec<usize>],
    cluster_of: &mut [usize],
) {
    // Cluster starts, earliest estimate of each anchored cluster, sorted.
    let mut starts: Vec<(DateTime<Utc>, usize)> = Vec::new();
    let mut last_seen: Vec<Option<DateTime<Utc>>> = vec![None; members.len()];
    for (c, m) in members.iter().enumerate() {
        if let Some(t) = m.iter().filter_map(|&i| est[i]).min() {
            starts.push((t, c));
        }
        last_seen[c] = m.iter().filter_map(|&i| segs[i].last).max();
    }
    starts.sort();
    for i in 0..segs.len() {
        if est[i].is_some() {
            continue;
        }
        let Some(first) = min_opt(segs[i].first, segs[i].earliest_guid) else {
            continue;
        };
        let pos = starts.partition_point(|(t, _)| *t <= first);
        let Some(&(_, c)) = pos.checked_sub(1).and_then(|p| starts.get(p)) else {
            continue;
        };
        // The boot must not have ended (in this file) before the segment: a shutdown in the
        // same file followed by unanchored events means a boot nobody logged the start of.
        let same_file_closed = members[c]
            .iter()
            .any(|&m| segs[m].file == segs[i].file && segs[m].closed_at.is_some());
        // Nothing seen of the boot for a day before the segment: without evidence that it
        // is the same boot (a reboot could be unlogged), it stays a boot of its own.
        let gap = last_seen[c].is_some_and(|l| first > l + Duration::hours(MAX_UNSEEN_GAP_H));
        if same_file_closed || gap {
            continue;
        }
        let old = cluster_of[i];
        members[old].retain(|&m| m != i);
        members[c].push(i);
        cluster_of[i] = c;
    }
}

/// The boot described by a cluster of segments (number and end are set later).
fn describe(members: &[usize], segs: &[Segment], events: &[Event]) -> BootSession {
    let mut best: Option<(DateTime<Utc>, BootBasis)> = None;
    let mut evidence = Vec::new();
    let mut first: Option<DateTime<Utc>> = None;
    let mut last: Option<DateTime<Utc>> = None;
    let mut shutdown: Option<DateTime<Utc>> = None;
    let mut processes_captured = false;
    for &m in members {
        let Some(s) = segs.get(m) else { continue };
        if let Some(e) = s.estimate() {
            if best.is_none_or(|b| (e.1, e.0) < (b.1, b.0)) {
                best = Some(e);
            }
        }
        processes_captured |= s.processes_captured();
        first = min_opt(first, s.first);
        last = max_opt(last, s.last);
        let anchor_events = s.anchors.iter().map(|a| a.event);
        let guid_event = s.guid_anchor.or(s.core_guid).map(|(_, i)| i);
        for i in anchor_events.chain(guid_event).chain(s.closed_at) {
            if let Some(e) = events.get(i) {
                evidence.push(Provenance::of(e));
            }
        }
        if let Some(e) = s.closed_at.and_then(|i| events.get(i)) {
            shutdown = min_opt(shutdown, Some(e.time));
        }
    }
    let first_seen = first.unwrap_or(DateTime::<Utc>::MIN_UTC);
    let (start, basis) = match best {
        Some((t, b)) => (Some(t), b),
        None => (None, BootBasis::NotCaptured),
    };
    // A shutdown dated before the boot started was dated by a clock set back since: it
    // still closes the boot in record order, but its time is no end.
    let shutdown = shutdown.filter(|s| *s >= start.unwrap_or(first_seen));
    evidence.sort_by(|a, b| (&a.file, a.record_id).cmp(&(&b.file, b.record_id)));
    BootSession {
        number: 0,
        start,
        basis,
        captured: start.is_some(),
        processes_captured,
        first_seen,
        last_seen: last.unwrap_or(first_seen),
        end: shutdown,
        end_reason: if shutdown.is_some() {
            BootEnd::Shutdown
        } else {
            BootEnd::LogsEnd
        },
        evidence,
    }
}

/// A boot with no shutdown marker ends when the next one starts.
fn set_ends(boots: &mut [BootSession]) {
    for i in 0..boots.len() {
        if boots[i].end.is_some() {
            continue;
        }
        let last_seen = boots[i].last_seen;
        let next_start = boots.get(i + 1).and_then(|n| n.start);
        // With clocks set back, the next boot by time can start before this one's last event:
        // then its start is no end for this boot.
        if let Some(t) = next_start.filter(|t| *t >= last_seen) {
            boots[i].end = Some(t);
            boots[i].end_reason = BootEnd::NextBoot;
        }
    }
}

fn min_opt(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

fn max_opt(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

/// Clock changes, log clears, unclean shutdowns and Sysmon changes, and backward clock steps
/// seen in record order.
pub fn notes(events: &[Event], order: &RecordOrder, seg: &Segmented) -> Vec<TimelineNote> {
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let Body::Marker(m) = &e.body else { continue };
        let kind = match m.marker {
            MarkerKind::TimeChanged => NoteKind::TimeChanged,
            MarkerKind::LogCleared => NoteKind::LogCleared,
            MarkerKind::UnexpectedShutdown | MarkerKind::DirtyReboot => NoteKind::UncleanShutdown,
            MarkerKind::SysmonConfig => NoteKind::SysmonConfigChanged,
            MarkerKind::SysmonState => NoteKind::SysmonStateChanged,
            _ => continue,
        };
        out.push(TimelineNote {
            kind,
            time: e.time,
            boot: seg.event_boot.get(i).copied().unwrap_or(0),
            record: Provenance::of(e),
            detail: m.detail.clone(),
        });
    }
    clock_steps(events, order, seg, &mut out);
    out.sort_by_key(|n| (n.boot, n.time, n.kind));
    out
}

fn clock_steps(
    events: &[Event],
    order: &RecordOrder,
    seg: &Segmented,
    out: &mut Vec<TimelineNote>,
) {
    for (_, in_file) in &order.files {
        for w in in_file.windows(2) {
            let (a, b) = (&events[w[0]], &events[w[1]]);
            let back = a.logged - b.logged;
            if back > Duration::seconds(CLOCK_BACK_NOTE_S) {
                out.push(TimelineNote {
                    kind: NoteKind::ClockWentBack,
                    time: b.logged,
                    boot: seg.event_boot.get(w[1]).copied().unwrap_or(0),
                    record: Provenance::of(b),
                    detail: Some(format!(
                        "record {} logged {}, {} s before record {} ({})",
                        b.record_id,
                        crate::time::format_rfc3339_ms(&b.logged),
                        back.num_seconds(),
                        a.record_id,
                        crate::time::format_rfc3339_ms(&a.logged)
                    )),
                });
            }
        }
    }
}
