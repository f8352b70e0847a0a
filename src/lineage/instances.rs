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
use crate::model::{Body, Event, ProcessStart, Source};
use chrono::{DateTime, Utc};
use foldhash::{HashMap, HashMapExt};

/// Sysmon's UtcTime and the 4688 TimeCreated of one start differ by a few milliseconds; a
/// second is generous and still far below how fast Windows reuses a PID.
pub const MERGE_TOLERANCE_MS: i64 = 1000;

/// An exit logged by both Sysmon 5 and 4689 is one exit when this close.
const EXIT_TOLERANCE_MS: i64 = 1000;

/// Build the processes of one host (sorted by boot, start, pid), consuming its events.
pub fn build(events: Vec<Event>, seg: &Segmented, stats: &mut Stats) -> Vec<Process> {
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
            Body::Marker(_) => {}
        }
    }
    starts.sort();
    exits.sort();
    let boot_of: Vec<usize> = exits
        .iter()
        .map(|&(_, _, i)| seg.event_boot.get(i).copied().unwrap_or(0))
        .collect();
    // Each event is taken out of its slot once, in the order above.
    let mut slots: Vec<Option<Event>> = events.into_iter().map(Some).collect();
    let mut procs: Vec<Process> = Vec::with_capacity(starts.len());
    let mut by_guid: HashMap<GuidKey, usize> = HashMap::with_capacity(starts.len());
    let mut by_pid = PidChains::with_capacity(starts.len());
    for (boot, _, _, _, i) in starts {
        if let Some(e) = slots.get_mut(i).and_then(Option::take) {
            add_start(boot, e, &mut procs, &mut by_guid, &mut by_pid, stats);
        }
    }
    for ((_, _, i), boot) in exits.into_iter().zip(boot_of) {
        let Some(e) = slots.get_mut(i).and_then(Option::take) else {
            continue;
        };
        if !apply_exit(boot, e, &mut procs, &by_guid, &by_pid) {
            stats.unmatched_exits += 1;
        }
    }
    drop(slots);
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
        .enumerate()
        .map(|(i, p)| (p.boot, p.start, p.info.pid, i as Pos))
        .collect();
    keys.sort();
    let layout: Vec<Pos> = keys.into_iter().map(|k| k.3).collect();
    order::arrange(&mut procs, &layout);
    procs
}

/// Where an event came from, taking the event apart (its `Computer` text moves, not copied).
fn provenance(e: Event) -> (Provenance, DateTime<Utc>, Body) {
    let prov = Provenance {
        source: e.source,
        event_id: e.event_id,
        file: e.file,
        record_id: e.record_id,
        computer: e.host,
    };
    (prov, e.time, e.body)
}

fn add_start(
    boot: usize,
    e: Event,
    procs: &mut Vec<Process>,
    by_guid: &mut HashMap<GuidKey, usize>,
    by_pid: &mut PidChains,
    stats: &mut Stats,
) {
    let (prov, time, body) = provenance(e);
    let Body::Process(info) = body else { return };
    let guid = info.guid.as_deref().and_then(GuidKey::live);
    if let Some(&i) = guid.as_ref().and_then(|g| by_guid.get(g)) {
        if let Some(p) = procs.get_mut(i) {
            p.sources.push(prov);
            stats.merged_starts += 1;
            return;
        }
    }
    if prov.source == Source::Security {
        if let Some(i) = find_twin(boot, time, &info, procs, by_pid) {
            if let Some(p) = procs.get_mut(i) {
                fill_missing(&mut p.info, *info);
                p.sources.push(prov);
                stats.merged_starts += 1;
                return;
            }
        }
    }
    let idx = procs.len();
    if let Some(g) = guid {
        by_guid.insert(g, idx);
    }
    by_pid.push(boot, info.pid);
    procs.push(Process {
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
    });
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

/// End the process an exit event describes. False when none matches.
fn apply_exit(
    boot: usize,
    e: Event,
    procs: &mut [Process],
    by_guid: &HashMap<GuidKey, usize>,
    by_pid: &PidChains,
) -> bool {
    let Body::Exit(x) = &e.body else { return false };
    let by_g = x
        .guid
        .as_deref()
        .and_then(GuidKey::live)
        .and_then(|g| by_guid.get(&g).copied());
    let target = by_g.or_else(|| {
        let start_of = |i: usize| procs.get(i).and_then(|p| p.start);
        // The latest start that fits; of equal starts, the one created last (the first seen,
        // newest first).
        by_pid
            .newest_first(boot, x.pid?)
            .filter(|&i| {
                procs.get(i).is_some_and(|p| {
                    p.start.is_some_and(|s| s <= e.time)
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
    let Some(p) = target.and_then(|i| procs.get_mut(i)) else {
        return false;
    };
    if p.exit.is_some() {
        // The other log's record of the same exit.
        return true;
    }
    let (prov, time, _) = provenance(e);
    p.end = Some(time);
    p.end_reason = EndReason::Exited;
    p.exit = Some(prov);
    true
}

/// Not yet exited, or exited so close to `t` that this is the other log's record of it.
fn exit_open_or_twin(p: &Process, t: DateTime<Utc>) -> bool {
    match (p.exit.as_ref(), p.end) {
        (None, _) => true,
        (Some(_), Some(end)) => (end - t).num_milliseconds().abs() <= EXIT_TOLERANCE_MS,
        (Some(_), None) => false,
    }
}
