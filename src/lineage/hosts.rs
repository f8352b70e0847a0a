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
use super::scan::{self, Scan};
use super::Stats;
use crate::model::{Body, Event, MarkerKind};
use foldhash::{HashSet, HashSetExt};
use std::collections::{BTreeMap, BTreeSet};

/// One machine's names.
#[derive(Debug)]
pub struct Host {
    pub name: String,
    pub aliases: Vec<String>,
    pub joined_by: Vec<String>,
}

/// All hosts, their events in one buffer: host after host, each in canonical order.
pub struct Grouped {
    events: Vec<Event>,
    /// Each host and how many events it has.
    hosts: Vec<(Host, usize)>,
}

impl Grouped {
    /// Hand each host and its events to `build`, the last host first, and return the results
    /// in host order. `build` may take the events' parts it keeps; what is left of them is
    /// dropped when it returns, and the buffer's unused end is handed back at once. The input
    /// can be most of the machine's memory: this way it shrinks while the output grows, instead
    /// of both being held until the end.
    pub fn build_each<R>(mut self, mut build: impl FnMut(Host, &mut [Event]) -> R) -> Vec<R> {
        let mut out = Vec::with_capacity(self.hosts.len());
        while let Some((host, len)) = self.hosts.pop() {
            let from = self.events.len().saturating_sub(len);
            out.push(build(host, self.events.get_mut(from..).unwrap_or_default()));
            self.events.truncate(from);
            self.events.shrink_to_fit();
        }
        out.reverse();
        out
    }
}

/// Group events per machine; duplicate records (the same file read twice) are dropped.
pub fn group(mut events: Vec<Event>, stats: &mut Stats) -> Grouped {
    let scan = scan::scan(&events);
    let canon = order::canonical(&events, &scan, same_record);
    stats.duplicate_events += (events.len() - canon.order.len()) as u64;

    let mut uf = UnionFind::new(scan.names);
    let mut reasons: Vec<(usize, usize, String)> = Vec::new();
    let (renames, mut apart) = file_evidence(&events, &scan, &canon);
    let (machine_links, machine_apart) = machine_id_evidence(&scan);
    apart.extend(machine_apart);
    for (a, b, why) in renames.into_iter().chain(machine_links) {
        if uf.join_unless_apart(a, b, &apart) {
            reasons.push((a, b, why));
        }
    }
    let (hosts, layout) = assemble(&events, &scan, &canon, &mut uf, reasons);
    drop((scan, canon));
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

/// The spelling shown for name `n`: its first in canonical order.
fn display(n: usize, events: &[Event], canon: &Canonical) -> String {
    canon
        .of_name(n)
        .first()
        .map(|&p| events[p as usize].host.clone())
        .unwrap_or_default()
}

type Evidence = Vec<(usize, usize, String)>;

/// Renames seen inside single files, and name pairs proven to be different machines.
fn file_evidence(
    events: &[Event],
    scan: &Scan,
    canon: &Canonical,
) -> (Evidence, HashSet<(usize, usize)>) {
    // Each file's events, as indices into the canonical order; one file at a time, sorted by
    // record.
    let file_of = |ci: Pos| scan.file_of[canon.order[ci as usize] as usize];
    let (by_file, file_start) = order::bucket_sort(canon.order.len(), file_of, scan.files.len());
    let mut renames = Vec::new();
    let mut apart = HashSet::new();
    let mut in_file: Vec<(u64, u64, Pos)> = Vec::new();
    for (f, file) in scan.files.iter().enumerate() {
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
            let n = scan.name_of[p as usize] as usize;
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
        Body::Exit(_) | Body::Sighting(_) => false,
    }
}

/// Names that share a Sysmon machine id (joined), and names whose machine ids are all
/// different (two machines, kept apart even if a file seems to show a rename).
fn machine_id_evidence(scan: &Scan) -> (Evidence, HashSet<(usize, usize)>) {
    let mut by_machine: BTreeMap<u32, BTreeSet<usize>> = BTreeMap::new();
    let mut by_name: BTreeMap<usize, BTreeSet<u32>> = BTreeMap::new();
    for &(m, n) in &scan.machines {
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
    scan: &Scan,
    canon: &Canonical,
    uf: &mut UnionFind,
    reasons: Evidence,
) -> (Vec<(Host, usize)>, Vec<Pos>) {
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for n in 0..scan.names {
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
        members.sort_by_key(|&n| scan.first_use[n]);
        let latest = members.iter().max_by_key(|&&n| scan.last_use[n]);
        let mut host = Host {
            name: latest.map_or_else(String::new, |&n| display(n, events, canon)),
            aliases: members.iter().map(|&n| display(n, events, canon)).collect(),
            joined_by: Vec::new(),
        };
        for (a, b, why) in &reasons {
            if uf.find(*a) == root {
                host.joined_by.push(format!(
                    "{} = {}: {why}",
                    display(*a, events, canon),
                    display(*b, events, canon)
                ));
            }
        }
        hosts.push((host, layout.len() - before));
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
