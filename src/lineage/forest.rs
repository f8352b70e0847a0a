//! The process forest: final order, depths, cycle cutting, ancestry.
//!
//! Forged or reused identifiers can make links loop (A's parent is B, B's parent is A), and a
//! hostile log can hold a chain a million processes deep. Everything here walks parent links
//! with loops and explicit stacks, never recursion, and every walk is bounded.

use super::order::{self, Pos};
use super::{ParentLink, ProcIdx, Process, Stats};

/// Sort the processes (boot, start, pid; placeholders of unknown start first), cut cycles and
/// set depths.
pub fn finish(procs: &mut Vec<Process>, stats: &mut Stats) {
    reorder(procs);
    cut_cycles_and_set_depths(procs, stats);
}

fn reorder(procs: &mut Vec<Process>) {
    // Sort small keys (the index settles ties), then move each process once. The processes
    // are in this order already but for the placeholders at the end, which the stable sort
    // finds and merges in.
    let mut keys: Vec<_> = procs
        .iter()
        .enumerate()
        .map(|(i, p)| (p.boot, p.start, p.info.pid, first_record(p), i))
        .collect();
    keys.sort();
    let layout: Vec<Pos> = keys.iter().map(|k| k.4 as Pos).collect();
    drop(keys);
    let mut new_index = vec![0; procs.len()];
    for (new, &old) in layout.iter().enumerate() {
        new_index[old as usize] = new;
    }
    order::arrange(procs, &layout);
    for p in procs.iter_mut() {
        remap(&mut p.parent, &new_index);
    }
}

fn first_record(p: &Process) -> Option<(&str, u64)> {
    p.sources.first().map(|s| (&*s.file, s.record_id))
}

fn remap(link: &mut ParentLink, new_index: &[usize]) {
    match link {
        ParentLink::Linked { parent, .. } => {
            if let Some(&n) = new_index.get(*parent) {
                *parent = n;
            }
        }
        ParentLink::Ambiguous { candidates } => {
            for c in candidates.iter_mut() {
                if let Some(&n) = new_index.get(*c) {
                    *c = n;
                }
            }
        }
        _ => {}
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    New,
    OnPath,
    Done,
}

/// Depth of every process; a link that closes a loop is replaced by [`ParentLink::CycleCut`].
fn cut_cycles_and_set_depths(procs: &mut [Process], stats: &mut Stats) {
    let n = procs.len();
    let mut mark = vec![Mark::New; n];
    let mut path: Vec<ProcIdx> = Vec::new();
    for start in 0..n {
        if mark[start] != Mark::New {
            continue;
        }
        path.clear();
        let mut x = start;
        // Walk up until a root, a finished node, or a node already on this path (a loop).
        let base_depth = loop {
            mark[x] = Mark::OnPath;
            path.push(x);
            match procs[x].parent.parent().filter(|&p| p < n) {
                None => break None,
                Some(p) => match mark[p] {
                    Mark::Done => break Some(procs[p].depth.saturating_add(1)),
                    Mark::OnPath => {
                        procs[p].parent = ParentLink::CycleCut;
                        stats.cycles_cut += 1;
                        break Some(1);
                    }
                    Mark::New => x = p,
                },
            }
        };
        // Assign depths from the top of the path down to `start`.
        let mut next = base_depth;
        for &node in path.iter().rev() {
            let d = match (&procs[node].parent, next) {
                (ParentLink::CycleCut, _) | (_, None) => 0,
                (_, Some(d)) => d,
            };
            procs[node].depth = d;
            mark[node] = Mark::Done;
            next = Some(d.saturating_add(1));
        }
    }
}

/// The ancestors of `idx`, nearest first, at most `limit` of them.
pub fn ancestors(procs: &[Process], idx: ProcIdx, limit: usize) -> Vec<ProcIdx> {
    let mut out = Vec::new();
    let mut x = idx;
    while out.len() < limit {
        let Some(cur) = procs.get(x) else { break };
        match cur
            .parent
            .parent()
            .and_then(|p| procs.get(p).map(|pp| (p, pp)))
        {
            // Depth falls by one at each step once cycles are cut: this cannot loop.
            Some((p, pp)) if pp.depth < cur.depth => {
                out.push(p);
                x = p;
            }
            _ => break,
        }
    }
    out
}

/// `System > smss.exe > smss.exe > wininit.exe`: the names from the root down to the parent.
/// Chains deeper than `limit` keep both ends with `> ... >` between.
pub fn ancestry_text(procs: &[Process], idx: ProcIdx, limit: usize) -> String {
    let depth = procs.get(idx).map_or(0, |p| p.depth as usize);
    let mut chain = ancestors(procs, idx, limit.min(depth));
    chain.reverse();
    let mut names: Vec<&str> = chain
        .iter()
        .filter_map(|&i| procs.get(i))
        .map(Process::name)
        .collect();
    if depth > chain.len() {
        names.insert(0, "...");
    }
    names.join(" > ")
}

/// Children of every process, in start order (the vectors index into `procs`).
pub fn children(procs: &[Process]) -> Vec<Vec<ProcIdx>> {
    let mut out = vec![Vec::new(); procs.len()];
    for (i, p) in procs.iter().enumerate() {
        if let Some(parent) = p.parent.parent() {
            if let Some(list) = out.get_mut(parent) {
                list.push(i);
            }
        }
    }
    out
}
