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

use super::{guid_machine, Stats};
use crate::model::{Body, Event, MarkerKind};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// The events of one machine.
#[derive(Debug)]
pub struct HostEvents {
    pub name: String,
    pub aliases: Vec<String>,
    pub joined_by: Vec<String>,
    pub events: Vec<Event>,
}

/// Group events per machine; duplicate records (the same file read twice) are dropped.
pub fn group(mut events: Vec<Event>, stats: &mut Stats) -> Vec<HostEvents> {
    sort_canonical(&mut events);
    let before = events.len();
    events.dedup_by(|b, a| same_record(a, b));
    stats.duplicate_events += (before - events.len()) as u64;

    let mut names = Names::default();
    for e in &events {
        names.intern(&e.host);
    }
    let mut uf = UnionFind::new(names.display.len());
    let mut reasons: Vec<(usize, usize, String)> = Vec::new();
    let (renames, mut apart) = file_evidence(&events, &names);
    let (machine_links, machine_apart) = machine_id_evidence(&events, &names);
    apart.extend(machine_apart);
    for (a, b, why) in renames.into_iter().chain(machine_links) {
        if uf.join_unless_apart(a, b, &apart) {
            reasons.push((a, b, why));
        }
    }
    assemble(events, &names, &mut uf, reasons)
}

/// Order that makes duplicates adjacent and the output independent of input order.
fn sort_canonical(events: &mut [Event]) {
    events.sort_by(|a, b| {
        cmp_ignore_case(&a.host, &b.host).then_with(|| {
            (
                &a.channel,
                a.record_id,
                a.event_id,
                a.logged,
                &a.file,
                a.offset,
            )
                .cmp(&(
                    &b.channel,
                    b.record_id,
                    b.event_id,
                    b.logged,
                    &b.file,
                    b.offset,
                ))
        })
    });
}

/// ASCII case-insensitive order without allocating (Computer names are compared this way).
pub fn cmp_ignore_case(a: &str, b: &str) -> std::cmp::Ordering {
    a.bytes()
        .map(|c| c.to_ascii_lowercase())
        .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
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

/// Case-insensitive name table; the first spelling seen is kept for display.
#[derive(Default)]
struct Names {
    index: HashMap<String, usize>,
    display: Vec<String>,
}

impl Names {
    fn intern(&mut self, name: &str) -> usize {
        let key = name.to_ascii_lowercase();
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        self.display.push(name.to_string());
        self.index.insert(key, self.display.len() - 1);
        self.display.len() - 1
    }
    fn get(&self, name: &str) -> usize {
        // Every event's name was interned first.
        self.index
            .get(&name.to_ascii_lowercase())
            .copied()
            .unwrap_or(0)
    }
}

type Evidence = Vec<(usize, usize, String)>;

/// Renames seen inside single files, and name pairs proven to be different machines.
fn file_evidence(events: &[Event], names: &Names) -> (Evidence, HashSet<(usize, usize)>) {
    let mut per_file: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
    for e in events {
        per_file.entry(&e.file).or_default().push(e);
    }
    let mut renames = Vec::new();
    let mut apart = HashSet::new();
    for (file, mut evs) in per_file {
        evs.sort_by_key(|e| (e.record_id, e.offset));
        // Runs of one name in record order.
        let mut runs: Vec<(usize, &Event)> = Vec::new();
        for e in &evs {
            let n = names.get(&e.host);
            if runs.last().is_none_or(|(last, _)| *last != n) {
                runs.push((n, e));
            }
        }
        let distinct: BTreeSet<usize> = runs.iter().map(|(n, _)| *n).collect();
        if distinct.len() == runs.len() {
            for pair in runs.windows(2) {
                let ((a, _), (b, first_b)) = (pair[0], pair[1]);
                if is_boot_event(first_b) {
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
    let mut by_machine: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    let mut by_name: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    for e in events {
        if let Body::Process(p) = &e.body {
            if let Some(m) = p.guid.as_deref().and_then(guid_machine) {
                let m = m.to_ascii_lowercase();
                let n = names.get(&e.host);
                by_machine.entry(m.clone()).or_default().insert(n);
                by_name.entry(n).or_default().insert(m);
            }
        }
    }
    let mut out = Vec::new();
    for (machine, set) in by_machine {
        let mut it = set.into_iter();
        if let Some(first) = it.next() {
            for other in it {
                out.push((
                    first,
                    other,
                    format!("same Sysmon machine id {machine} in ProcessGuid"),
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

/// Build the hosts: events per group, display name = the name of the last event in time.
fn assemble(
    events: Vec<Event>,
    names: &Names,
    uf: &mut UnionFind,
    reasons: Evidence,
) -> Vec<HostEvents> {
    let mut groups: BTreeMap<usize, HostEvents> = BTreeMap::new();
    let mut first_use: HashMap<usize, (chrono::DateTime<chrono::Utc>, u64)> = HashMap::new();
    let mut last_use: HashMap<usize, chrono::DateTime<chrono::Utc>> = HashMap::new();
    for e in &events {
        let n = names.get(&e.host);
        let f = first_use.entry(n).or_insert((e.logged, e.record_id));
        *f = (*f).min((e.logged, e.record_id));
        let l = last_use.entry(n).or_insert(e.logged);
        *l = (*l).max(e.logged);
    }
    for e in events {
        let n = names.get(&e.host);
        let root = uf.find(n);
        groups
            .entry(root)
            .or_insert_with(|| HostEvents {
                name: String::new(),
                aliases: Vec::new(),
                joined_by: Vec::new(),
                events: Vec::new(),
            })
            .events
            .push(e);
    }
    for (root, host) in groups.iter_mut() {
        let mut members: Vec<usize> = (0..names.display.len())
            .filter(|&n| uf.find(n) == *root && first_use.contains_key(&n))
            .collect();
        members.sort_by_key(|n| first_use.get(n).copied());
        host.aliases = members.iter().map(|&n| names.display[n].clone()).collect();
        let latest = members.iter().max_by_key(|n| last_use.get(n).copied());
        host.name = latest.map_or_else(String::new, |&n| names.display[n].clone());
        for (a, b, why) in &reasons {
            if uf.find(*a) == *root {
                host.joined_by.push(format!(
                    "{} = {}: {why}",
                    names.display[*a], names.display[*b]
                ));
            }
        }
    }
    groups.into_values().collect()
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
