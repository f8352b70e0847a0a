//! Processes known only from sightings.
//!
//! A sighting (Sysmon 3, 17, 18, 22: see `extract::sighting`) says "the process with this
//! ProcessGuid ran this image at this time". For a process whose start is logged it adds
//! nothing and is left out. For one whose start is not in the logs it is the only record of
//! its image: a renamed service binary whose Sysmon 1 the configuration filtered out still
//! creates its pipes. Such a process becomes, or names, a placeholder:
//!
//! - a placeholder parent already built from a child's `ParentProcessGuid` is **enriched**:
//!   the sighting fills the image (and PID, user) the child did not log, and becomes its
//!   [`Seen`] record;
//! - otherwise a placeholder is **made**, dated by the start time its GUID embeds (unless
//!   that time is after the sighting: a clock corrected since), with no parent;
//! - the System process (PID 4) names its boot's kernel placeholder, which a 4688 child may
//!   have named by PID alone (no GUID to match).
//!
//! Sightings are grouped by GUID and image (one group per distinct image, so a forged record
//! cannot hide a second image behind a first); the earliest of a group (time, record id,
//! file, offset) stands for it, so the result does not depend on input order. A GUID whose
//! sightings name two images gives the second its own placeholder. A sighting without a
//! usable GUID cannot be tied to a process and is left out.

use super::boots::Segmented;
use super::guid::GuidKey;
use super::instances::{take_provenance, Ids};
use super::links::Coverage;
use super::{EndReason, Origin, ParentLink, Process, Provenance, Seen, Stats};
use crate::model::{Body, Event, ProcessExit, ProcessSighting, ProcessStart, Source};
use chrono::{DateTime, Duration, Utc};
use foldhash::{HashMap, HashMapExt, HashSet};
use std::collections::hash_map::Entry;

/// The earliest sighting of one (GUID, image) of a process whose start was not logged.
#[derive(Debug)]
pub struct Sighted {
    boot: usize,
    time: DateTime<Utc>,
    key: GuidKey,
    guid: String,
    info: ProcessSighting,
    record: Provenance,
    offset: u64,
}

impl Sighted {
    /// The order that picks a group's representative and the order placeholders are made in.
    fn rank(&self) -> (DateTime<Utc>, u64, &str, u64) {
        (
            self.time,
            self.record.record_id,
            &self.record.file,
            self.offset,
        )
    }
}

/// The sightings of processes whose start is not logged, one per (GUID, image), in a stable
/// order. Their events are consumed (the fields move out) like the starts in
/// [`super::instances::build`].
pub fn collect(events: &mut [Event], seg: &Segmented, ids: &[Ids]) -> Vec<Sighted> {
    // Built at the first sighting: most hosts of a Security-only or Sysmon 1-only log have
    // none, and this set is as large as the host's processes.
    let mut logged: Option<HashSet<&GuidKey>> = None;
    let mut groups: HashMap<(GuidKey, String), Sighted> = HashMap::new();
    for (i, e) in events.iter_mut().enumerate() {
        let Body::Sighting(s) = &e.body else { continue };
        let Some(key) = s.guid.as_deref().and_then(GuidKey::live) else {
            continue;
        };
        let logged =
            logged.get_or_insert_with(|| ids.iter().filter_map(|i| i.guid.as_ref()).collect());
        if logged.contains(&key) {
            continue;
        }
        let image = s
            .image
            .as_deref()
            .map(super::normalised_path)
            .unwrap_or_default();
        let (time, offset) = (e.time, e.offset);
        let Body::Sighting(info) =
            std::mem::replace(&mut e.body, Body::Exit(ProcessExit::default()))
        else {
            continue;
        };
        let sighted = Sighted {
            boot: seg.event_boot.get(i).copied().unwrap_or(0),
            time,
            key: key.clone(),
            guid: info.guid.clone().unwrap_or_default(),
            info,
            record: take_provenance(e),
            offset,
        };
        match groups.entry((key, image)) {
            Entry::Occupied(mut o) => {
                if sighted.rank() < o.get().rank() {
                    o.insert(sighted);
                }
            }
            Entry::Vacant(v) => {
                v.insert(sighted);
            }
        }
    }
    let mut out: Vec<Sighted> = groups.into_values().collect();
    out.sort_by(|a, b| a.rank().cmp(&b.rank()));
    out
}

/// Name the placeholders `procs[logged..]` from sightings, and make placeholders for the
/// processes only sightings show.
pub fn attach(
    procs: &mut Vec<Process>,
    logged: usize,
    sighted: Vec<Sighted>,
    coverage: &Coverage,
    stats: &mut Stats,
) {
    if sighted.is_empty() {
        return;
    }
    // Placeholders by GUID; a GUID named by one placeholder takes at most one sighting. The
    // System process of a boot is one placeholder, whether a child named it by PID 4 (4688,
    // no GUID) or by GUID: the first kernel placeholder of each boot.
    let mut by_guid: HashMap<GuidKey, usize> = HashMap::new();
    let mut kernel_of_boot: HashMap<usize, usize> = HashMap::new();
    for (i, p) in procs.iter().enumerate().skip(logged) {
        if let Some(k) = p.info.guid.as_deref().and_then(GuidKey::live) {
            by_guid.entry(k).or_insert(i);
        }
        if p.origin == Origin::Kernel {
            kernel_of_boot.entry(p.boot).or_insert(i);
        }
    }
    for s in sighted {
        let kernel = if is_kernel(&s.info) {
            kernel_of_boot.get(&s.boot).copied()
        } else {
            None
        };
        if let Some(i) = kernel.or_else(|| by_guid.get(&s.key).copied()) {
            if let Some(p) = procs.get_mut(i) {
                if p.seen.is_none() && fits(&p.info, &s.info) {
                    enrich(p, s);
                    stats.sighted += 1;
                    continue;
                }
            }
        }
        let i = procs.len();
        by_guid.entry(s.key.clone()).or_insert(i);
        procs.push(made(s, coverage));
        stats.placeholders += 1;
        stats.sighted += 1;
    }
}

/// The sighting is of the process the placeholder stands for: the child named no image for
/// it, or the same one.
fn fits(p: &ProcessStart, s: &ProcessSighting) -> bool {
    match (p.image.as_deref(), s.image.as_deref()) {
        (Some(a), Some(b)) => super::same_image(a, b),
        _ => true,
    }
}

fn enrich(p: &mut Process, s: Sighted) {
    let info = &mut p.info;
    if info.image.is_none() {
        info.image = s.info.image;
    }
    if info.pid.is_none() {
        info.pid = s.info.pid;
    }
    if info.user.is_none() {
        info.user = s.info.user;
    }
    p.seen = Some(Box::new(Seen {
        time: s.time,
        record: s.record,
    }));
}

/// The kernel's System process (PID 4, image `System`).
fn is_kernel(s: &ProcessSighting) -> bool {
    s.pid == Some(4)
        && s.image
            .as_deref()
            .is_some_and(|i| i.trim().eq_ignore_ascii_case("System"))
}

/// A placeholder for a process only a sighting shows.
fn made(s: Sighted, coverage: &Coverage) -> Process {
    // A start "after" the sighting was dated by a clock that was corrected since: no date.
    let start = super::guid_time(&s.guid).filter(|t| *t <= s.time + Duration::seconds(2));
    let origin = if is_kernel(&s.info) {
        Origin::Kernel
    } else {
        match (start, coverage.get(&Source::Sysmon)) {
            (Some(t), Some(began)) if t < *began => Origin::BeforeLogging,
            (Some(_), Some(_)) => Origin::MissingEvent,
            _ => Origin::Unseen,
        }
    };
    let info = ProcessStart {
        pid: s.info.pid,
        guid: Some(s.guid),
        image: s.info.image,
        user: s.info.user,
        ..Default::default()
    };
    Process {
        boot: s.boot,
        start,
        end: None,
        end_reason: EndReason::Running,
        origin,
        info: Box::new(info),
        sources: Vec::new(),
        exit: None,
        parent: ParentLink::NotLogged,
        depth: 0,
        seen: Some(Box::new(Seen {
            time: s.time,
            record: s.record,
        })),
    }
}

#[cfg(test)]
mod tests {
    use crate::lineage::{build, History, Origin};
    use crate::model::{Body, Event, EventKind, ProcessSighting, ProcessStart, Source};
    use chrono::{DateTime, Duration, Utc};
    use std::sync::Arc;

    const PARENT: &str = "{747f3d96-96a8-5f70-0000-0010c0f02d00}";
    const CHILD: &str = "{747f3d96-96b0-5f70-0000-0010c0f02d01}";
    const ALONE: &str = "{747f3d96-96b0-5f70-0000-0010c0f02d02}";

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(0x5F70_96A8, 0).unwrap() + Duration::seconds(s)
    }

    fn event(record: u64, at: i64, body: Body) -> Event {
        let kind = match body {
            Body::Process(_) => EventKind::Process,
            _ => EventKind::Sighting,
        };
        Event {
            kind,
            host: "WIN10".into(),
            time: t(at),
            logged: t(at),
            source: Source::Sysmon,
            channel: Arc::from("Microsoft-Windows-Sysmon/Operational"),
            provider: Arc::from("Microsoft-Windows-Sysmon"),
            event_id: if kind == EventKind::Process { 1 } else { 17 },
            version: Some(1),
            record_id: record,
            file: Arc::from("sysmon.evtx"),
            offset: record * 100,
            body,
        }
    }

    fn seen(record: u64, at: i64, guid: &str, image: &str) -> Event {
        let s = ProcessSighting {
            pid: Some(1120),
            guid: Some(guid.into()),
            image: Some(image.into()),
            user: None,
            detail: Some("\\svchost".into()),
        };
        event(record, at, Body::Sighting(s))
    }

    fn events() -> Vec<Event> {
        let child = ProcessStart {
            pid: Some(2000),
            guid: Some(CHILD.into()),
            image: Some(r"C:\Windows\System32\cmd.exe".into()),
            parent_pid: Some(1120),
            parent_guid: Some(PARENT.into()),
            ..Default::default()
        };
        vec![
            seen(10, 1, PARENT, r"C:\Windows\svchost.exe"),
            seen(11, 2, PARENT, r"C:\Windows\svchost.exe"),
            event(12, 8, Body::Process(Box::new(child))),
            seen(13, 9, CHILD, r"C:\Windows\cmd.exe"),
            seen(14, 10, PARENT, r"C:\Temp\other.exe"),
            seen(15, 11, ALONE, r"C:\Windows\lsass.exe"),
        ]
    }

    /// Every process as (guid, image, origin, seen record), in order.
    fn digest(h: &History) -> Vec<(String, String, Origin, Option<u64>)> {
        h.hosts
            .iter()
            .flat_map(|x| &x.processes)
            .map(|p| {
                (
                    p.info.guid.clone().unwrap_or_default(),
                    p.info.image.clone().unwrap_or_default(),
                    p.origin,
                    p.seen.as_ref().map(|s| s.record.record_id),
                )
            })
            .collect()
    }

    #[test]
    fn sightings_name_or_make_placeholders_whatever_the_order_and_copies() {
        let want = digest(&build(events()));
        // The child (logged), its parent named by the earliest sighting (10), a second image
        // under the parent's GUID (14), and a process seen alone (15); the child's own
        // sighting (13) adds nothing.
        let seen_records: Vec<Option<u64>> = want.iter().map(|d| d.3).collect();
        assert_eq!(want.len(), 4, "{want:#?}");
        assert_eq!(seen_records.iter().flatten().count(), 3, "{want:#?}");
        assert!(want.iter().any(|d| d.0 == CHILD && d.3.is_none()));
        assert!(want.iter().any(|d| d.0 == PARENT && d.3 == Some(10)));
        assert!(want.iter().any(|d| d.0 == PARENT && d.3 == Some(14)));
        assert!(want.iter().any(|d| d.0 == ALONE && d.3 == Some(15)));
        let mut reversed = events();
        reversed.reverse();
        assert_eq!(digest(&build(reversed)), want);
        let mut twice = events();
        twice.extend(events());
        twice.rotate_left(3);
        assert_eq!(digest(&build(twice)), want);
    }

    #[test]
    fn a_sighting_without_a_usable_guid_is_not_used() {
        let mut e = events();
        for x in &mut e {
            if let Body::Sighting(s) = &mut x.body {
                s.guid = Some("{00000000-0000-0000-0000-000000000000}".into());
            }
        }
        e.push(seen(16, 12, "not a guid", r"C:\x\svchost.exe"));
        let h = build(e);
        let d = digest(&h);
        assert!(
            d.iter().all(|x| x.3.is_none() || x.0 == "not a guid"),
            "{d:#?}"
        );
        assert_eq!(h.stats.sighted, u64::from(d.iter().any(|x| x.3.is_some())));
    }

    #[test]
    fn the_system_process_is_one_placeholder_per_boot() {
        let child = ProcessStart {
            pid: Some(300),
            guid: Some(CHILD.into()),
            image: Some(r"C:\Windows\System32\smss.exe".into()),
            parent_pid: Some(4),
            ..Default::default()
        };
        let mut system = seen(13, 9, ALONE, "System");
        if let Body::Sighting(s) = &mut system.body {
            s.pid = Some(4);
        }
        let h = build(vec![event(12, 8, Body::Process(Box::new(child))), system]);
        let kernels: Vec<_> = h.hosts[0]
            .processes
            .iter()
            .filter(|p| p.origin == Origin::Kernel)
            .collect();
        assert_eq!(kernels.len(), 1, "{:#?}", digest(&h));
        assert_eq!(
            kernels[0].seen.as_ref().map(|s| s.record.record_id),
            Some(13)
        );
    }
}
