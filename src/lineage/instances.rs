//! One [`Process`] per real process.
//!
//! A process logged by both Sysmon (1) and Security (4688) is one instance when host, boot,
//! PID and image agree and the two starts are within [`MERGE_TOLERANCE_MS`]; Sysmon's fields
//! win and 4688 fills what Sysmon lacks (token elevation, mandatory label, creator account).
//! Sysmon events with the same ProcessGuid are one process (a record seen in two copies of a
//! log). Exits end the latest matching instance alive at the exit: by GUID for Sysmon 5, by
//! boot, PID and image for 4689.

use super::boots::Segmented;
use super::{EndReason, Origin, Process, Provenance, Stats};
use crate::model::{Body, Event, ProcessStart, Source};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// Sysmon's UtcTime and the 4688 TimeCreated of one start differ by a few milliseconds; a
/// second is generous and still far below how fast Windows reuses a PID.
pub const MERGE_TOLERANCE_MS: i64 = 1000;

/// An exit logged by both Sysmon 5 and 4689 is one exit when this close.
const EXIT_TOLERANCE_MS: i64 = 1000;

/// Build the processes of one host (sorted by boot, start, pid), consuming its events.
pub fn build(events: Vec<Event>, seg: &Segmented, stats: &mut Stats) -> Vec<Process> {
    let mut starts: Vec<(usize, Event)> = Vec::new();
    let mut exits: Vec<(usize, Event)> = Vec::new();
    for (i, e) in events.into_iter().enumerate() {
        let boot = seg.event_boot.get(i).copied().unwrap_or(0);
        match e.body {
            Body::Process(_) => starts.push((boot, e)),
            Body::Exit(_) => exits.push((boot, e)),
            Body::Marker(_) => {}
        }
    }
    // Sysmon first so 4688 merges into it; then by time so merges pick the nearest.
    starts.sort_by(|(ba, a), (bb, b)| {
        (ba, a.source != Source::Sysmon, a.time, a.record_id).cmp(&(
            bb,
            b.source != Source::Sysmon,
            b.time,
            b.record_id,
        ))
    });
    let mut procs: Vec<Process> = Vec::with_capacity(starts.len());
    let mut by_guid: HashMap<String, usize> = HashMap::new();
    let mut by_pid: HashMap<(usize, u64), Vec<usize>> = HashMap::new();
    for (boot, e) in starts {
        add_start(boot, e, &mut procs, &mut by_guid, &mut by_pid, stats);
    }
    exits.sort_by_key(|(_, e)| (e.time, e.record_id));
    for (boot, e) in exits {
        if !apply_exit(boot, &e, &mut procs, &by_guid, &by_pid) {
            stats.unmatched_exits += 1;
        }
    }
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
    procs.sort_by_key(|p| (p.boot, p.start, p.info.pid));
    procs
}

fn add_start(
    boot: usize,
    e: Event,
    procs: &mut Vec<Process>,
    by_guid: &mut HashMap<String, usize>,
    by_pid: &mut HashMap<(usize, u64), Vec<usize>>,
    stats: &mut Stats,
) {
    let prov = Provenance::of(&e);
    let time = e.time;
    let source = e.source;
    let Body::Process(info) = e.body else { return };
    if let Some(g) = info.guid.as_deref().filter(|g| !super::is_null_guid(g)) {
        if let Some(&i) = by_guid.get(&g.to_ascii_lowercase()) {
            if let Some(p) = procs.get_mut(i) {
                p.sources.push(prov);
                stats.merged_starts += 1;
                return;
            }
        }
    }
    if source == Source::Security {
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
    if let Some(g) = info.guid.as_deref().filter(|g| !super::is_null_guid(g)) {
        by_guid.insert(g.to_ascii_lowercase(), idx);
    }
    if let Some(pid) = info.pid {
        by_pid.entry((boot, pid)).or_default().push(idx);
    }
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
    by_pid: &HashMap<(usize, u64), Vec<usize>>,
) -> Option<usize> {
    let pid = info.pid?;
    let image = info.image.as_deref()?;
    by_pid.get(&(boot, pid))?.iter().copied().find(|&i| {
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
    e: &Event,
    procs: &mut [Process],
    by_guid: &HashMap<String, usize>,
    by_pid: &HashMap<(usize, u64), Vec<usize>>,
) -> bool {
    let Body::Exit(x) = &e.body else { return false };
    let by_g = x
        .guid
        .as_deref()
        .filter(|g| !super::is_null_guid(g))
        .and_then(|g| by_guid.get(&g.to_ascii_lowercase()).copied());
    let target = by_g.or_else(|| {
        let list = by_pid.get(&(boot, x.pid?))?;
        list.iter()
            .copied()
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
            .max_by_key(|&i| procs.get(i).and_then(|p| p.start))
    });
    let Some(p) = target.and_then(|i| procs.get_mut(i)) else {
        return false;
    };
    if p.exit.is_some() {
        // The other log's record of the same exit.
        return true;
    }
    p.end = Some(e.time);
    p.end_reason = EndReason::Exited;
    p.exit = Some(Provenance::of(e));
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
