//! One [`Process`] per real process.
//!
//! A process logged by both Sysmon (1) and Security (4688) is one instance when host, boot,
//! PID and image agree and the two starts are within [`MERGE_TOLERANCE_MS`]; Sysmon's fields
//! win and 4688 fills what Sysmon lacks (token elevation, mandatory label, creator account).
//! Sysmon events with the same ProcessGuid are one process (a record seen in two copies of a
//! log). Exits end the latest matching instance alive at the exit: by GUID for Sysmon 5, by
//! boot, PID and image for 4689.

use super::boots::Segmented;
use super::guid::GuidKey;
use super::order::{self, Pos};
use super::pids::PidChains;
use super::{EndReason, Origin, Process, Provenance, Stats};
use crate::model::{Body, Event, ProcessExit, ProcessStart, Source};
use chrono::{DateTime, Utc};
use foldhash::{HashMap, HashMapExt};
use std::sync::Arc;

/// Sysmon's UtcTime and the 4688 TimeCreated of one start differ by a few milliseconds; a
/// second is generous and still far below how fast Windows reuses a PID.
pub const MERGE_TOLERANCE_MS: i64 = 1000;

/// An exit logged by both Sysmon 5 and 4689 is one exit when this close.
const EXIT_TOLERANCE_MS: i64 = 1000;

/// A process's identifiers, read from its start event once (GUIDs as keys). They are kept
/// beside the processes (`ids[i]` is `procs[i]`'s) so that parent links find parents without
/// reading every process's texts again.
#[derive(Debug, Clone, Default)]
pub struct Ids {
    pub pid: Option<u64>,
    pub parent_pid: Option<u64>,
    /// `None` also for the null GUID (see [`GuidKey::live`]).
    pub guid: Option<GuidKey>,
    pub parent_guid: Option<GuidKey>,
}

impl Ids {
    fn of(info: &ProcessStart) -> Self {
        Ids {
            pid: info.pid,
            parent_pid: info.parent_pid,
            guid: info.guid.as_deref().and_then(GuidKey::live),
            parent_guid: info.parent_guid.as_deref().and_then(GuidKey::live),
        }
    }
}

/// Build the processes of one host (sorted by boot, start, pid) and their identifiers. The
/// events are consumed: each process takes its start event's fields and `Computer` text
/// (moved, not copied), and what is left behind is only fit to be dropped.
pub fn build(events: &mut [Event], seg: &Segmented, stats: &mut Stats) -> (Vec<Process>, Vec<Ids>) {
    // Sysmon first so 4688 merges into it; then by time so merges pick the nearest. Keys are
    // sorted, not events; the position settles ties as a stable sort would.
    let mut starts: Vec<(usize, bool, DateTime<Utc>, u64, usize)> = Vec::new();
    let mut exits: Vec<(DateTime<Utc>, u64, usize)> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let boot = seg.event_boot.get(i).copied().unwrap_or(0);
        match e.body {
            Body::Process(_) => {
                starts.push((boot, e.source != Source::Sysmon, e.time, e.record_id, i));
            }
            Body::Exit(_) => exits.push((e.time, e.record_id, i)),
            Body::Marker(_) | Body::Sighting(_) => {}
        }
    }
    starts.sort();
    exits.sort();
    let mut b = Builder::with_capacity(starts.len());
    for (boot, _, _, _, i) in starts {
        if let Some(e) = events.get_mut(i) {
            b.add_start(boot, e, stats);
        }
    }
    for (_, _, i) in exits {
        let boot = seg.event_boot.get(i).copied().unwrap_or(0);
        let Some(e) = events.get_mut(i) else { continue };
        if !b.apply_exit(boot, e) {
            stats.unmatched_exits += 1;
        }
    }
    let Builder {
        mut procs, mut ids, ..
    } = b;
    for p in &mut procs {
        if p.exit.is_none() {
            let boot_end = seg.boots.get(p.boot).and_then(|b| b.end);
            match boot_end.filter(|e| p.start.is_none_or(|s| s <= *e)) {
                Some(end) => {
                    p.end = Some(end);
                    p.end_reason = EndReason::BootEnded;
                }
                None => p.end_reason = EndReason::Running,
            }
        }
    }
    // Sort keys, then move each process once; creation order is nearly this order already.
    let mut keys: Vec<_> = procs
        .iter()
        .zip(&ids)
        .enumerate()
        .map(|(i, (p, id))| (p.boot, p.start, id.pid, i as Pos))
        .collect();
    keys.sort();
    let layout: Vec<Pos> = keys.into_iter().map(|k| k.3).collect();
    order::arrange(&mut procs, &layout);
    order::arrange(&mut ids, &layout);
    (procs, ids)
}

/// Where a consumed event came from; its `Computer` text moves, not copied.
pub(super) fn take_provenance(e: &mut Event) -> Provenance {
    Provenance {
        source: e.source,
        event_id: e.event_id,
        file: Arc::clone(&e.file),
        record_id: e.record_id,
        computer: std::mem::take(&mut e.host),
    }
}

/// The processes of one host as they are built, and the lookups that find them.
struct Builder {
    procs: Vec<Process>,
    ids: Vec<Ids>,
    by_guid: HashMap<GuidKey, usize>,
    by_pid: PidChains,
}

impl Builder {
    fn with_capacity(n: usize) -> Self {
        Builder {
            procs: Vec::with_capacity(n),
            ids: Vec::with_capacity(n),
            by_guid: HashMap::with_capacity(n),
            by_pid: PidChains::with_capacity(n),
        }
    }

    fn add_start(&mut self, boot: usize, e: &mut Event, stats: &mut Stats) {
        let Body::Process(_) = &e.body else { return };
        let time = e.time;
        let prov = take_provenance(e);
        // The event is left with an empty body, to be dropped with the rest.
        let empty = Body::Exit(ProcessExit::default());
        let Body::Process(info) = std::mem::replace(&mut e.body, empty) else {
            return;
        };
        let ids = Ids::of(&info);
        if let Some(&i) = ids.guid.as_ref().and_then(|g| self.by_guid.get(g)) {
            if let Some(p) = self.procs.get_mut(i) {
                p.sources.push(prov);
                stats.merged_starts += 1;
                return;
            }
        }
        if prov.source == Source::Security {
            if let Some(i) = find_twin(boot, time, &info, &self.procs, &self.by_pid) {
                if let (Some(p), Some(twin)) = (self.procs.get_mut(i), self.ids.get_mut(i)) {
                    fill_missing(&mut p.info, *info);
                    // The PIDs may have been filled in.
                    (twin.pid, twin.parent_pid) = (p.info.pid, p.info.parent_pid);
                    p.sources.push(prov);
                    stats.merged_starts += 1;
                    return;
                }
            }
        }
        let idx = self.procs.len();
        if let Some(g) = &ids.guid {
            self.by_guid.insert(g.clone(), idx);
        }
        self.by_pid.push(boot, ids.pid);
        self.ids.push(ids);
        self.procs.push(Process {
            boot,
            start: Some(time),
            end: None,
            end_reason: EndReason::Running,
            origin: Origin::Logged,
            info,
            sources: vec![prov],
            exit: None,
            parent: super::ParentLink::NotLogged,
            depth: 0,
            seen: None,
        });
    }

    /// End the process an exit event describes. False when none matches.
    fn apply_exit(&mut self, boot: usize, e: &mut Event) -> bool {
        let Body::Exit(x) = &e.body else { return false };
        let by_g = x
            .guid
            .as_deref()
            .and_then(GuidKey::live)
            .and_then(|g| self.by_guid.get(&g).copied());
        let procs = &self.procs;
        let target = by_g.or_else(|| {
            let start_of = |i: usize| procs.get(i).and_then(|p| p.start);
            // The latest start that fits; of equal starts, the one created last (the first
            // seen, newest first).
            self.by_pid
                .newest_first(boot, x.pid?)
                .filter(|&i| {
                    procs.get(i).is_some_and(|p| {
                        started_before_exit(p, e)
                            && exit_open_or_twin(p, e.time)
                            && match (x.image.as_deref(), p.info.image.as_deref()) {
                                (Some(a), Some(b)) => super::same_image(a, b),
                                _ => true,
                            }
                    })
                })
                .reduce(|best, i| {
                    if start_of(i) > start_of(best) {
                        i
                    } else {
                        best
                    }
                })
        });
        let Some(p) = target.and_then(|i| self.procs.get_mut(i)) else {
            return false;
        };
        if p.exit.is_some() {
            // The other log's record of the same exit.
            return true;
        }
        p.end = Some(e.time);
        p.end_reason = EndReason::Exited;
        p.exit = Some(take_provenance(e));
        true
    }
}

/// The Sysmon-logged instance of the process a 4688 describes, if any.
fn find_twin(
    boot: usize,
    time: DateTime<Utc>,
    info: &ProcessStart,
    procs: &[Process],
    by_pid: &PidChains,
) -> Option<usize> {
    let pid = info.pid?;
    let image = info.image.as_deref()?;
    // The first one created that fits: the last that fits, newest first.
    by_pid
        .newest_first(boot, pid)
        .filter(|&i| {
            procs.get(i).is_some_and(|p| {
                p.sources.iter().all(|s| s.source == Source::Sysmon)
                    && p.start
                        .is_some_and(|s| (s - time).num_milliseconds().abs() <= MERGE_TOLERANCE_MS)
                    && p.info
                        .image
                        .as_deref()
                        .is_some_and(|i| super::same_image(i, image))
            })
        })
        .last()
}

/// Complete Sysmon's fields with what only 4688 has.
fn fill_missing(into: &mut ProcessStart, from: ProcessStart) {
    macro_rules! fill {
        ($($f:ident),*) => { $( if into.$f.is_none() { into.$f = from.$f; } )* };
    }
    fill!(
        pid,
        image,
        command_line,
        user,
        user_sid,
        logon_id,
        parent_pid,
        parent_image,
        subject_user,
        subject_user_sid,
        subject_logon_id,
        target_user,
        target_user_sid,
        target_logon_id,
        token_elevation_type,
        mandatory_label
    );
}

/// The process had started when the exit `e` was logged: it started earlier, or at the same
/// instant and its start record comes first in the log that has both. Without the record
/// order, a process that took a PID in the very tick its previous holder exited would take
/// that exit too, and the previous holder would stay "running" and be found as a parent.
/// Starts and exits at one instant in different logs keep the benefit of the doubt.
fn started_before_exit(p: &Process, e: &Event) -> bool {
    match p.start {
        Some(s) if s < e.time => true,
        Some(s) if s == e.time => p
            .sources
            .iter()
            .find_map(|src| src.written_before(&e.file, e.record_id))
            .unwrap_or(true),
        _ => false,
    }
}

/// Not yet exited, or exited so close to `t` that this is the other log's record of it.
fn exit_open_or_twin(p: &Process, t: DateTime<Utc>) -> bool {
    match (p.exit.as_ref(), p.end) {
        (None, _) => true,
        (Some(_), Some(end)) => (end - t).num_milliseconds().abs() <= EXIT_TOLERANCE_MS,
        (Some(_), None) => false,
    }
}
