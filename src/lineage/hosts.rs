//! Which events belong to which machine.
//!
//! A machine can log under several `Computer` names: the setup name, the name it was given,
//! then the domain FQDN. Splitting it would cut boots and parent links in two, and merging two
//! machines would invent links between them. So names are joined only on evidence:
//!
//! - **Rename inside one log file.** In record-id order the file holds all of name A's events,
//!   then all of name B's, never alternating, and B's first event is a boot event (a rename
//!   takes effect at a restart: Registry/smss created by PID 4, Kernel-General 12, EventLog
//!   6005/6009, Security 4608, Sysmon service start).
//! - **Sysmon machine id.** The first field of a Sysmon ProcessGuid is constant per machine;
//!   names whose ProcessGuids share it are one machine.
//! - Names differing only in case are one name (Windows names are case-insensitive).
//!
//! Two names whose events alternate inside one file are two machines (a forwarded or merged
//! log) and are never joined, whatever other evidence says.

use super::order::{self, Canonical, Pos};
use super::{guid_machine, Stats};
use crate::model::{Body, Event, MarkerKind};
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::collections::{BTreeMap, BTreeSet};

/// The events of one machine.
#[derive(Debug)]
pub struct HostEvents {
    pub name: String,
    pub aliases: Vec<String>,
    pub joined_by: Vec<String>,
    pub events: Vec<Event>,
}

/// All hosts, their events in one buffer: host after host, each in canonical order.
pub struct Grouped {
    events: Vec<Event>,
    hosts: Vec<HostPlan>,
}

/// A host before its events are taken out of the shared buffer.
struct HostPlan {
    name: String,
    aliases: Vec<String>,
    joined_by: Vec<String>,
    len: usize,
}

impl Grouped {
    /// The last host, its events taken out of the shared buffer. The buffer's unused end is
    /// handed back at once: the input can be most of the machine's memory, and this way it
    /// shrinks while the output grows instead of both being held until the end.
    pub fn pop(&mut self) -> Option<HostEvents> {
        let host = self.hosts.pop()?;
        let from = self.events.len().saturating_sub(host.len);
        let events = self.events.split_off(from);
        self.events.shrink_to_fit();
        Some(HostEvents {
            name: host.name,
            aliases: host.aliases,
            joined_by: host.joined_by,
            events,
        })
    }
    pub fn len(&self) -> usize {
        self.hosts.len()
    }
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }
}

/// Group events per machine; duplicate records (the same file read twice) are dropped.
pub fn group(mut events: Vec<Event>, stats: &mut Stats) -> Grouped {
    let names = Names::number(&events);
    let canon = order::canonical(&events, &names.of_event, names.count, same_record);
    stats.duplicate_events += (events.len() - canon.order.len()) as u64;

    let mut uf = UnionFind::new(names.count);
    let mut reasons: Vec<(usize, usize, String)> = Vec::new();
    let (renames, mut apart) = file_evidence(&events, &names, &canon);
    let (machine_links, machine_apart) = machine_id_evidence(&events, &names);
    apart.extend(machine_apart);
    for (a, b, why) in renames.into_iter().chain(machine_links) {
        if uf.join_unless_apart(a, b, &apart) {
            reasons.push((a, b, why));
        }
    }
    let (hosts, layout) = assemble(&events, &names, &canon, &mut uf, reasons);
    drop((names, canon));
    order::arrange(&mut events, &layout);
    Grouped { events, hosts }
}

/// The same log record, possibly read from two copies of one file.
fn same_record(a: &Event, b: &Event) -> bool {
    a.record_id == b.record_id
        && a.event_id == b.event_id
        && a.logged == b.logged
        && a.channel == b.channel
        && a.host.eq_ignore_ascii_case(&b.host)
        && a.body == b.body
}

/// The `Computer` names, compared without case (Windows names are case-insensitive).
struct Names {
    /// Per event, the number of its name. Names are numbered in case-insensitive order, which
    /// is the order they first appear in canonical order.
    of_event: Vec<u32>,
    count: usize,
}

impl Names {
    fn number(events: &[Event]) -> Self {
        let mut ids: HashMap<String, u32> = HashMap::new();
        let mut keys: Vec<String> = Vec::new();
        let mut of_event = Vec::with_capacity(events.len());
        let mut lower = String::new();
        let mut last: Option<(&str, u32)> = None;
        for e in events {
            let id = match last {
                Some((name, id)) if name == e.host => id,
                _ => {
                    lower.clear();
                    lower.push_str(&e.host);
                    lower.make_ascii_lowercase();
                    match ids.get(lower.as_str()) {
                        Some(&id) => id,
                        None => {
                            let id = keys.len() as u32;
                            ids.insert(lower.clone(), id);
                            keys.push(lower.clone());
                            id
                        }
                    }
                }
            };
            last = Some((&e.host, id));
            of_event.push(id);
        }
        let mut by_key: Vec<u32> = (0..keys.len() as u32).collect();
        by_key.sort_unstable_by(|&a, &b| keys[a as usize].cmp(&keys[b as usize]));
        let mut rank = vec![0u32; keys.len()];
        for (r, &id) in by_key.iter().enumerate() {
            rank[id as usize] = r as u32;
        }
        for n in &mut of_event {
            *n = rank[*n as usize];
        }
        Names {
            of_event,
            count: keys.len(),
        }
    }
    fn of_position(&self, position: Pos) -> usize {
        self.of_event[position as usize] as usize
    }
    /// The spelling shown for name `n`: its first in canonical order.
    fn display(&self, n: usize, events: &[Event], canon: &Canonical) -> String {
        canon
            .of_name(n)
            .first()
            .map(|&p| events[p as usize].host.clone())
            .unwrap_or_default()
    }
}

type Evidence = Vec<(usize, usize, String)>;

/// Renames seen inside single files, and name pairs proven to be different machines.
fn file_evidence(
    events: &[Event],
    names: &Names,
    canon: &Canonical,
) -> (Evidence, HashSet<(usize, usize)>) {
    // Each file's events, as indices into the canonical order; one file at a time, sorted by
    // record.
    let file_of = |ci: Pos| canon.file_of[canon.order[ci as usize] as usize];
    let (by_file, file_start) = order::bucket_sort(canon.order.len(), file_of, canon.files.len());
    let mut renames = Vec::new();
    let mut apart = HashSet::new();
    let mut in_file: Vec<(u64, u64, Pos)> = Vec::new();
    for (f, file) in canon.files.iter().enumerate() {
        in_file.clear();
        for &ci in &by_file[file_start[f]..file_start[f + 1]] {
            let e = &events[canon.order[ci as usize] as usize];
            in_file.push((e.record_id, e.offset, ci));
        }
        in_file.sort(); // Mostly sorted runs already: see `boots::record_order`.
                        // Runs of one name in record order.
        let mut runs: Vec<(usize, Pos)> = Vec::new();
        for &(_, _, ci) in &in_file {
            let p = canon.order[ci as usize];
            let n = names.of_position(p);
            if runs.last().is_none_or(|(last, _)| *last != n) {
                runs.push((n, p));
            }
        }
        let distinct: BTreeSet<usize> = runs.iter().map(|(n, _)| *n).collect();
        if distinct.len() == runs.len() {
            for pair in runs.windows(2) {
                let ((a, _), (b, first_b)) = (pair[0], pair[1]);
                if is_boot_event(&events[first_b as usize]) {
                    renames.push((a, b, format!("renamed at a restart in {file}")));
                }
            }
        } else {
            for &a in &distinct {
                for &b in &distinct {
                    if a < b {
                        apart.insert((a, b));
                    }
                }
            }
        }
    }
    (renames, apart)
}

/// The first events a machine writes when it starts.
fn is_boot_event(e: &Event) -> bool {
    match &e.body {
        Body::Marker(m) => matches!(
            m.marker,
            MarkerKind::OsStarted
                | MarkerKind::LogStarted
                | MarkerKind::BootBanner
                | MarkerKind::UnexpectedShutdown
                | MarkerKind::DirtyReboot
                | MarkerKind::SysmonState
        ),
        Body::Process(p) => super::boots::is_master_smss(p),
        Body::Exit(_) => false,
    }
}

/// Names that share a Sysmon machine id (joined), and names whose machine ids are all
/// different (two machines, kept apart even if a file seems to show a rename).
fn machine_id_evidence(events: &[Event], names: &Names) -> (Evidence, HashSet<(usize, usize)>) {
    // (machine id, name) pairs. A machine id is eight hex digits, so as a number it compares
    // as its lower-case text does.
    let mut pairs: HashSet<(u32, usize)> = HashSet::new();
    let mut last = None;
    for (i, e) in events.iter().enumerate() {
        if let Body::Process(p) = &e.body {
            let machine = p.guid.as_deref().and_then(guid_machine);
            if let Some(m) = machine.and_then(|m| u32::from_str_radix(m, 16).ok()) {
                let pair = (m, names.of_position(i as Pos));
                if last != Some(pair) {
                    pairs.insert(pair);
                    last = Some(pair);
                }
            }
        }
    }
    let mut by_machine: BTreeMap<u32, BTreeSet<usize>> = BTreeMap::new();
    let mut by_name: BTreeMap<usize, BTreeSet<u32>> = BTreeMap::new();
    for (m, n) in pairs {
        by_machine.entry(m).or_default().insert(n);
        by_name.entry(n).or_default().insert(m);
    }
    let mut out = Vec::new();
    for (machine, set) in by_machine {
        let mut it = set.into_iter();
        if let Some(first) = it.next() {
            for other in it {
                out.push((
                    first,
                    other,
                    format!("same Sysmon machine id {machine:08x} in ProcessGuid"),
                ));
            }
        }
    }
    let mut apart = HashSet::new();
    for (a, ma) in &by_name {
        for (b, mb) in by_name.range(a + 1..) {
            if ma.is_disjoint(mb) {
                apart.insert((*a, *b));
            }
        }
    }
    (out, apart)
}

/// The hosts (display name = the name of the last event in time) and the final layout of the
/// events: host after host, each host's names in name order, each name in canonical order
/// (which is the canonical order of the host's events, names being its first key).
fn assemble(
    events: &[Event],
    names: &Names,
    canon: &Canonical,
    uf: &mut UnionFind,
    reasons: Evidence,
) -> (Vec<HostPlan>, Vec<Pos>) {
    type Time = chrono::DateTime<chrono::Utc>;
    let mut first_use: Vec<Option<(Time, u64)>> = vec![None; names.count];
    let mut last_use: Vec<Option<Time>> = vec![None; names.count];
    for (i, e) in events.iter().enumerate() {
        let n = names.of_position(i as Pos);
        let f = first_use[n].get_or_insert((e.logged, e.record_id));
        *f = (*f).min((e.logged, e.record_id));
        let l = last_use[n].get_or_insert(e.logged);
        *l = (*l).max(e.logged);
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for n in 0..names.count {
        groups.entry(uf.find(n)).or_default().push(n);
    }
    let mut hosts = Vec::with_capacity(groups.len());
    let mut layout: Vec<Pos> = Vec::with_capacity(canon.order.len());
    for (root, group) in groups {
        let before = layout.len();
        for &n in &group {
            layout.extend_from_slice(canon.of_name(n));
        }
        let mut members = group;
        members.sort_by_key(|&n| first_use[n]);
        let latest = members.iter().max_by_key(|&&n| last_use[n]);
        let mut host = HostPlan {
            name: latest.map_or_else(String::new, |&n| names.display(n, events, canon)),
            aliases: members
                .iter()
                .map(|&n| names.display(n, events, canon))
                .collect(),
            joined_by: Vec::new(),
            len: layout.len() - before,
        };
        for (a, b, why) in &reasons {
            if uf.find(*a) == root {
                host.joined_by.push(format!(
                    "{} = {}: {why}",
                    names.display(*a, events, canon),
                    names.display(*b, events, canon)
                ));
            }
        }
        hosts.push(host);
    }
    (hosts, layout)
}

/// Union-find over name indices, refusing joins that would put two proven-different machines
/// in one group.
struct UnionFind {
    parent: Vec<usize>,
    members: Vec<Vec<usize>>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        UnionFind {
            parent: (0..n).collect(),
            members: (0..n).map(|i| vec![i]).collect(),
        }
    }
    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            let up = self.parent[self.parent[x]];
            self.parent[x] = up;
            x = up;
        }
        x
    }
    /// Join a and b unless a pair across the two groups was seen apart. True if joined now.
    fn join_unless_apart(&mut self, a: usize, b: usize, apart: &HashSet<(usize, usize)>) -> bool {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return false;
        }
        let conflict = self.members[ra].iter().any(|&x| {
            self.members[rb]
                .iter()
                .any(|&y| apart.contains(&(x.min(y), x.max(y))))
        });
        if conflict {
            return false;
        }
        let moved = std::mem::take(&mut self.members[rb]);
        self.members[ra].extend(moved);
        self.parent[rb] = ra;
        true
    }
}
