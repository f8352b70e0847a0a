//! Parent links.
//!
//! In order of preference:
//! 1. **`guid`**: Sysmon's ParentProcessGuid equals a process's ProcessGuid. Exact.
//! 2. **`pid_time_name` / `pid_time`**: among the host's processes in the same boot with the
//!    parent PID that started at or before the child and had not exited, the latest one
//!    (Windows never gives one PID to two live processes, so older holders must have exited).
//!    When the child logs its parent's name (4688 v2 ParentProcessName, Sysmon ParentImage),
//!    the name must agree. High confidence when that holder is the only candidate and exits are
//!    logged (so "had not exited" means something) or the name agrees; medium otherwise.
//! 3. **`pid_placeholder`**: no logged process fits; the child links to a placeholder built
//!    from its parent fields (one per boot, PID and name).
//!
//! Explicit non-links: `ambiguous` (two holders started at the same instant, or the name fits
//! an older holder but not the latest), `not_logged` (no parent fields), `self_parent`.
//! A Sysmon parent GUID with no logged process becomes a placeholder dated by the GUID's
//! embedded time: before the first event of that log on this host means "started before
//! logging began", after it means "its start event is missing".

use super::boots::Segmented;
use super::guid::GuidKey;
use super::instances::Ids;
use super::pids::PidChains;
use super::{Confidence, EndReason, LinkMethod, Origin, ParentLink, ProcIdx, Process, Stats};
use crate::model::{Event, ProcessStart, Source};
use chrono::{DateTime, Utc};
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

/// When each log begins on this host: the earliest event of each source.
pub type Coverage = std::collections::HashMap<Source, DateTime<Utc>>;

/// The coverage of one host's events.
pub fn coverage(events: &[Event]) -> Coverage {
    const SOURCES: [Source; 3] = [Source::Sysmon, Source::Security, Source::System];
    let mut earliest: [Option<DateTime<Utc>>; 3] = [None; 3];
    for e in events {
        let slot = SOURCES.iter().position(|s| *s == e.source);
        if let Some(t) = slot.and_then(|i| earliest.get_mut(i)) {
            *t = Some(t.map_or(e.time, |t| t.min(e.time)));
        }
    }
    SOURCES
        .into_iter()
        .zip(earliest)
        .filter_map(|(s, t)| Some((s, t?)))
        .collect()
}

/// Link every logged process to its parent, appending placeholders as needed. `ids[i]` are
/// the identifiers of `procs[i]` (see [`Ids`]).
pub fn link(
    procs: &mut Vec<Process>,
    ids: &[Ids],
    seg: &Segmented,
    coverage: &Coverage,
    stats: &mut Stats,
) {
    let logged = procs.len();
    let index = Index::new(procs, ids);
    let mut placeholders = Placeholders::default();
    for c in 0..logged {
        let Some(child_ids) = ids.get(c) else { break };
        let link = decide(
            c,
            child_ids,
            procs,
            &index,
            seg,
            coverage,
            &mut placeholders,
        );
        count(&link, stats);
        if let Some(p) = procs.get_mut(c) {
            p.parent = link;
        }
    }
    stats.placeholders += placeholders.made.len() as u64;
    procs.extend(placeholders.made);
}

fn count(link: &ParentLink, stats: &mut Stats) {
    match link {
        ParentLink::Linked { method, .. } => match method {
            LinkMethod::Guid => stats.links_guid += 1,
            LinkMethod::PidTime => stats.links_pid_time += 1,
            LinkMethod::PidTimeName => stats.links_pid_time_name += 1,
            LinkMethod::PidPlaceholder => stats.links_pid_placeholder += 1,
        },
        ParentLink::Ambiguous { .. } => stats.ambiguous_parents += 1,
        ParentLink::NotLogged | ParentLink::SelfParent | ParentLink::CycleCut => {
            stats.unknown_parents += 1
        }
    }
}

/// Lookups over the logged processes.
struct Index {
    by_guid: HashMap<GuidKey, ProcIdx>,
    /// (boot, pid) -> processes; `procs` is sorted by (boot, start), so newest first is
    /// latest start first.
    by_pid: PidChains,
    /// (boot, source) pairs for which some exit was logged.
    exits_logged: HashSet<(usize, Source)>,
}

impl Index {
    fn new(procs: &[Process], ids: &[Ids]) -> Self {
        let mut by_guid = HashMap::with_capacity(procs.len());
        let mut by_pid = PidChains::with_capacity(procs.len());
        let mut exits_logged = HashSet::new();
        let mut last_exit = None;
        for (i, (p, id)) in procs.iter().zip(ids).enumerate() {
            if let Some(g) = &id.guid {
                by_guid.entry(g.clone()).or_insert(i);
            }
            by_pid.push(p.boot, id.pid);
            // Neighbours share boot and source: insert only when they change.
            let exit = p.exit.as_ref().map(|x| (p.boot, x.source));
            if exit.is_some() && exit != last_exit {
                exits_logged.extend(exit);
                last_exit = exit;
            }
        }
        Index {
            by_guid,
            by_pid,
            exits_logged,
        }
    }
}

/// Placeholders made so far, shared by siblings.
#[derive(Default)]
struct Placeholders {
    made: Vec<Process>,
    first_index: usize,
    by_guid: HashMap<GuidKey, ProcIdx>,
    by_pid_name: HashMap<(usize, u64, String), ProcIdx>,
}

#[allow(clippy::too_many_arguments)]
fn decide(
    c: ProcIdx,
    ids: &Ids,
    procs: &[Process],
    index: &Index,
    seg: &Segmented,
    coverage: &Coverage,
    ph: &mut Placeholders,
) -> ParentLink {
    let Some(child) = procs.get(c) else {
        return ParentLink::NotLogged;
    };
    ph.first_index = procs.len();
    if let Some(key) = &ids.parent_guid {
        // Keys are equal exactly when the texts are, ignoring case.
        if ids.guid.as_ref() == Some(key) {
            return ParentLink::SelfParent;
        }
        if let Some(&p) = index.by_guid.get(key) {
            return linked(p, LinkMethod::Guid, Confidence::High);
        }
        // The parent may be logged by Security only (no GUID there): the PID, the name and
        // the time must all agree.
        if let Some(ppid) = ids.parent_pid.filter(|&p| p != 0) {
            if let link @ ParentLink::Linked {
                method: LinkMethod::PidTimeName,
                ..
            } = by_pid(c, child, ppid, procs, index, seg, ph, false)
            {
                return link;
            }
        }
        let pg = child.info.parent_guid.as_deref().unwrap_or_default();
        let p = ph.for_guid(pg, key.clone(), child, coverage);
        return linked(p, LinkMethod::Guid, Confidence::High);
    }
    let Some(ppid) = ids.parent_pid.filter(|&p| p != 0) else {
        return ParentLink::NotLogged;
    };
    if ppid == ids.pid.unwrap_or(u64::MAX) && child.info.parent_image.is_none() {
        return ParentLink::SelfParent;
    }
    by_pid(c, child, ppid, procs, index, seg, ph, true)
}

fn linked(parent: ProcIdx, method: LinkMethod, confidence: Confidence) -> ParentLink {
    ParentLink::Linked {
        parent,
        method,
        confidence,
    }
}

/// The holder `p` of a PID had exited when `child`, started at `cs`, was created: its exit
/// is earlier, or at the same instant but written before the child's start in the log that
/// has both (a parent cannot exit before creating its child, so an exit logged first is an
/// older holder's, and the child's real parent is a newer holder, logged or not).
fn exited_before(p: &Process, child: &Process, cs: DateTime<Utc>) -> bool {
    if p.end_reason != EndReason::Exited {
        return false;
    }
    match (p.end, &p.exit) {
        (Some(e), _) if e < cs => true,
        (Some(e), Some(x)) if e == cs => child
            .sources
            .iter()
            .find_map(|s| x.written_before(&s.file, s.record_id))
            .unwrap_or(false),
        _ => false,
    }
}

/// A name the child logged for its parent, if it is a real one.
fn logged_parent_name(info: &ProcessStart) -> Option<&str> {
    info.parent_image
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty() && *n != "-" && *n != "?")
}

/// The link by PID and time; without `make_placeholder`, "no logged process fits" is
/// `NotLogged` and nothing is created.
#[allow(clippy::too_many_arguments)]
fn by_pid(
    c: ProcIdx,
    child: &Process,
    ppid: u64,
    procs: &[Process],
    index: &Index,
    seg: &Segmented,
    ph: &mut Placeholders,
    make_placeholder: bool,
) -> ParentLink {
    let name = logged_parent_name(&child.info);
    let start = child.start;
    // Live holders of the PID at the child's start, latest first (of equal starts, the
    // earlier in `procs` first).
    let mut holders: Vec<ProcIdx> = index
        .by_pid
        .newest_first(child.boot, ppid)
        .filter(|&i| i != c)
        .filter(|&i| {
            procs.get(i).is_some_and(|p| match (p.start, start) {
                (Some(ps), Some(cs)) => ps <= cs && !exited_before(p, child, cs),
                _ => false,
            })
        })
        .collect();
    holders.reverse();
    holders.sort_by_key(|&i| std::cmp::Reverse(procs.get(i).and_then(|p| p.start)));
    let Some(&latest) = holders.first() else {
        if !make_placeholder {
            return ParentLink::NotLogged;
        }
        return ParentLink::Linked {
            parent: ph.for_pid(child, ppid, seg),
            method: LinkMethod::PidPlaceholder,
            confidence: if name.is_some() || ppid == 4 {
                Confidence::Medium
            } else {
                Confidence::Low
            },
        };
    };
    let start_of = |i: ProcIdx| procs.get(i).and_then(|p| p.start);
    if holders.len() > 1 && start_of(holders[0]) == start_of(holders[1]) {
        return ParentLink::Ambiguous {
            candidates: holders.iter().copied().take(8).collect(),
        };
    }
    let name_fits = |i: ProcIdx| {
        name.is_some_and(|n| {
            procs
                .get(i)
                .and_then(|p| p.info.image.as_deref())
                .is_some_and(|img| super::same_image(n, img))
        })
    };
    match name {
        Some(_) if name_fits(latest) => linked(latest, LinkMethod::PidTimeName, Confidence::High),
        Some(_) => match holders.iter().copied().find(|&i| name_fits(i)) {
            Some(older) => ParentLink::Ambiguous {
                candidates: vec![latest, older],
            },
            None if !make_placeholder => ParentLink::NotLogged,
            None => ParentLink::Linked {
                parent: ph.for_pid(child, ppid, seg),
                method: LinkMethod::PidPlaceholder,
                confidence: Confidence::Medium,
            },
        },
        None => {
            let exits_logged = child
                .sources
                .iter()
                .any(|s| index.exits_logged.contains(&(child.boot, s.source)));
            let confidence = if holders.len() == 1 && exits_logged {
                Confidence::High
            } else {
                Confidence::Medium
            };
            linked(latest, LinkMethod::PidTime, confidence)
        }
    }
}

impl Placeholders {
    /// The placeholder for a parent known by its Sysmon GUID.
    fn for_guid(
        &mut self,
        guid: &str,
        key: GuidKey,
        child: &Process,
        coverage: &Coverage,
    ) -> ProcIdx {
        if let Some(&i) = self.by_guid.get(&key) {
            return i;
        }
        // A parent "started" after its child was dated by a clock changed since: no date.
        let start = super::guid_time(guid).filter(|t| {
            child
                .start
                .is_none_or(|c| *t <= c + chrono::Duration::seconds(2))
        });
        let logging_began = child
            .sources
            .iter()
            .filter_map(|s| coverage.get(&s.source))
            .min()
            .copied();
        let origin = if is_kernel(&child.info) {
            Origin::Kernel
        } else {
            match (start, logging_began) {
                (Some(s), Some(b)) if s < b => Origin::BeforeLogging,
                (Some(_), Some(_)) => Origin::MissingEvent,
                _ => Origin::Unseen,
            }
        };
        let i = self.push(child, start, origin, Some(guid.to_string()));
        self.by_guid.insert(key, i);
        i
    }

    /// The placeholder for a parent known only by PID (and maybe name), in the child's boot.
    fn for_pid(&mut self, child: &Process, ppid: u64, seg: &Segmented) -> ProcIdx {
        let name = logged_parent_name(&child.info)
            .map(|n| super::image_name(n).to_ascii_lowercase())
            .unwrap_or_default();
        let key = (child.boot, ppid, name);
        if let Some(&i) = self.by_pid_name.get(&key) {
            return i;
        }
        let boot = seg.boots.get(child.boot);
        let origin = if ppid == 4 || is_kernel(&child.info) {
            Origin::Kernel
        } else if boot.is_some_and(|b| b.processes_captured) {
            Origin::MissingEvent
        } else {
            Origin::Unseen
        };
        let start = if origin == Origin::Kernel {
            boot.and_then(|b| b.start)
        } else {
            None
        };
        let i = self.push(child, start, origin, None);
        self.by_pid_name.insert(key, i);
        i
    }

    fn push(
        &mut self,
        child: &Process,
        start: Option<DateTime<Utc>>,
        origin: Origin,
        guid: Option<String>,
    ) -> ProcIdx {
        let c = &child.info;
        let kernel = origin == Origin::Kernel;
        let info = ProcessStart {
            pid: c.parent_pid,
            guid,
            image: logged_parent_name(c)
                .map(str::to_string)
                .or_else(|| kernel.then(|| "System".to_string())),
            command_line: c.parent_command_line.clone(),
            user: c.parent_user.clone().or_else(|| {
                (child.sources.iter().any(|s| s.source == Source::Security))
                    .then(|| c.subject_user.clone())
                    .flatten()
            }),
            ..Default::default()
        };
        self.made.push(Process {
            boot: child.boot,
            start,
            end: None,
            end_reason: EndReason::Running,
            origin,
            info: Box::new(info),
            sources: Vec::new(),
            exit: None,
            parent: ParentLink::NotLogged,
            depth: 0,
            seen: None,
        });
        self.first_index + self.made.len() - 1
    }
}

/// The parent is the kernel's System process.
fn is_kernel(c: &ProcessStart) -> bool {
    c.parent_pid == Some(4)
        || c.parent_image
            .as_deref()
            .is_some_and(|i| i.trim().eq_ignore_ascii_case("System"))
}
