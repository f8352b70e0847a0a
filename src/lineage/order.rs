//! The canonical order of the input, found without moving events while sorting.
//!
//! `build` must give the same result whatever order its events come in, so they are first put
//! in one order: host name (without case), channel, record id, event id, logged time, file,
//! offset, and input order for what is still tied. An event is a few hundred bytes and ten
//! million of them are gigabytes, so sorting them in place would move gigabytes per pass and a
//! stable sort would need half as much again for scratch space. Instead, small keys are sorted
//! (one host name at a time, so the keys of only one name exist at once) and each event is then
//! moved once, by [`arrange`], straight to its final place.

use crate::model::Event;
use chrono::{DateTime, Utc};
use foldhash::{HashMap, HashMapExt};
use std::sync::Arc;

/// A position in the input. Events are counted in `u32`: 2^32 events would need terabytes of
/// memory before they got here, and half-size positions keep the order vectors small.
pub type Pos = u32;

/// The input in canonical order, duplicates left out.
pub struct Canonical {
    /// Positions of the kept events, name by name.
    pub order: Vec<Pos>,
    /// `order[name_start[n]..name_start[n + 1]]` are the events of name `n`.
    pub name_start: Vec<usize>,
    /// Per input event, its file's number; files are numbered in path order.
    pub file_of: Vec<u32>,
    /// The file paths, by number.
    pub files: Vec<Box<str>>,
}

impl Canonical {
    /// The kept events of name `n`, in canonical order.
    pub fn of_name(&self, n: usize) -> &[Pos] {
        let (from, to) = (self.name_start[n], self.name_start[n + 1]);
        &self.order[from..to]
    }
}

/// Sort key of one event within its host name; fields compare in this order.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    channel: u32,
    record_id: u64,
    event_id: u32,
    logged: DateTime<Utc>,
    file: u32,
    offset: u64,
    position: Pos,
}

/// The canonical order of `events`, whose names are numbered (in name order) by `name_of`.
/// Adjacent events that are one record read twice are left out but for the first
/// (`same_record` says when).
pub fn canonical(
    events: &[Event],
    name_of: &[u32],
    names: usize,
    same_record: impl Fn(&Event, &Event) -> bool,
) -> Canonical {
    let (file_of, files) = number_files(events);
    let channels = rank_texts(events.iter().map(|e| e.channel.as_str()));
    let (mut order, name_start) = bucket_sort(events.len(), |p| name_of[p as usize], names);
    let mut keys: Vec<Key> = Vec::new();
    let mut channel = RankCache::new(&channels);
    let mut kept = 0;
    let mut kept_start = Vec::with_capacity(names + 1);
    for n in 0..names {
        kept_start.push(kept);
        keys.clear();
        for &p in &order[name_start[n]..name_start[n + 1]] {
            let e = &events[p as usize];
            keys.push(Key {
                channel: channel.rank(&e.channel),
                record_id: e.record_id,
                event_id: e.event_id,
                logged: e.logged,
                file: file_of[p as usize],
                offset: e.offset,
                position: p,
            });
        }
        keys.sort();
        // Keep an event unless it repeats the last one kept (the positions written so far
        // never overtake the ones still to read: `kept` <= the bucket's start).
        let mut last: Option<Pos> = None;
        for k in &keys {
            let e = &events[k.position as usize];
            if last.is_some_and(|l| same_record(&events[l as usize], e)) {
                continue;
            }
            order[kept] = k.position;
            kept += 1;
            last = Some(k.position);
        }
    }
    kept_start.push(kept);
    order.truncate(kept);
    Canonical {
        order,
        name_start: kept_start,
        file_of,
        files,
    }
}

/// Counting sort of the positions `0..count` by `bucket_of`: the positions bucket after
/// bucket (in increasing order within each), and where each bucket starts (one more entry: the
/// end).
pub fn bucket_sort(
    count: usize,
    bucket_of: impl Fn(Pos) -> u32,
    buckets: usize,
) -> (Vec<Pos>, Vec<usize>) {
    let mut start = vec![0usize; buckets + 1];
    for p in 0..count as Pos {
        start[bucket_of(p) as usize + 1] += 1;
    }
    for i in 1..start.len() {
        start[i] += start[i - 1];
    }
    let mut fill = start.clone();
    let mut sorted: Vec<Pos> = vec![0; count];
    for p in 0..count as Pos {
        let b = bucket_of(p) as usize;
        sorted[fill[b]] = p;
        fill[b] += 1;
    }
    (sorted, start)
}

/// Number each event's file in path order. Events of one file usually share one `Arc`, so a
/// pointer check answers most events without hashing the path.
fn number_files(events: &[Event]) -> (Vec<u32>, Vec<Box<str>>) {
    let ranks = rank_texts(events.iter().map(|e| &*e.file));
    let mut file_of = Vec::with_capacity(events.len());
    let mut last: Option<(&Arc<str>, u32)> = None;
    for e in events {
        let r = match last {
            Some((f, r)) if Arc::ptr_eq(f, &e.file) => r,
            _ => ranks.get(&*e.file).copied().unwrap_or(0),
        };
        last = Some((&e.file, r));
        file_of.push(r);
    }
    let mut files: Vec<(&str, u32)> = ranks.into_iter().collect();
    files.sort_unstable_by_key(|&(_, r)| r);
    (
        file_of,
        files.into_iter().map(|(f, _)| Box::from(f)).collect(),
    )
}

/// Numbers for the distinct texts, in byte order: comparing numbers compares the texts.
pub fn rank_texts<'a>(texts: impl Iterator<Item = &'a str>) -> HashMap<&'a str, u32> {
    let mut seen: HashMap<&str, u32> = HashMap::new();
    let mut last: Option<&str> = None;
    for t in texts {
        if last != Some(t) {
            seen.entry(t).or_insert(0);
            last = Some(t);
        }
    }
    let mut distinct: Vec<&str> = seen.keys().copied().collect();
    distinct.sort_unstable();
    for (r, t) in distinct.into_iter().enumerate() {
        seen.insert(t, r as u32);
    }
    seen
}

/// Rank lookups for a run of events, remembering the last answer (neighbours usually share
/// their text).
struct RankCache<'r, 'a> {
    ranks: &'r HashMap<&'a str, u32>,
    last: Option<(&'a str, u32)>,
}

impl<'r, 'a> RankCache<'r, 'a> {
    fn new(ranks: &'r HashMap<&'a str, u32>) -> Self {
        RankCache { ranks, last: None }
    }
    fn rank(&mut self, text: &'a str) -> u32 {
        match self.last {
            Some((t, r)) if t == text => r,
            _ => {
                let r = self.ranks.get(text).copied().unwrap_or(0);
                self.last = Some((text, r));
                r
            }
        }
    }
}

/// Reorder `items` in place so that item `i` is the one that was at `layout[i]`, and drop the
/// items `layout` leaves out. Each swap puts at least one item in its final place, so every
/// item moves at most twice and no second vector of items is ever allocated.
///
/// `layout` must name distinct positions of `items` (it is built from them, never from input).
pub fn arrange<T>(items: &mut Vec<T>, layout: &[Pos]) {
    const UNPLACED: Pos = Pos::MAX;
    let mut dest: Vec<Pos> = vec![UNPLACED; items.len()];
    for (i, &from) in layout.iter().enumerate() {
        dest[from as usize] = i as Pos;
    }
    // Left-out items go after the kept ones, to be truncated away.
    let unplaced = dest.iter_mut().filter(|d| **d == UNPLACED);
    for (next, d) in (layout.len() as Pos..).zip(unplaced) {
        *d = next;
    }
    for i in 0..items.len() {
        loop {
            let d = dest[i] as usize;
            if d == i {
                break;
            }
            items.swap(i, d);
            dest.swap(i, d);
        }
    }
    items.truncate(layout.len());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrange_moves_items_to_their_layout_and_drops_the_rest() {
        let mut v: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        arrange(&mut v, &[4, 0, 2]);
        assert_eq!(v, ["e", "a", "c"]);
        let mut w: Vec<u8> = (0..100).collect();
        let layout: Vec<Pos> = (0..100).rev().step_by(3).collect();
        arrange(&mut w, &layout);
        let want: Vec<u8> = (0..100).rev().step_by(3).collect();
        assert_eq!(w, want);
    }

    #[test]
    fn ranks_follow_byte_order() {
        let r = rank_texts(["b", "a", "b", "C"].into_iter());
        assert_eq!((r["C"], r["a"], r["b"]), (0, 1, 2));
    }
}
