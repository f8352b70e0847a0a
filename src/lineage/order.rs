//! The canonical order of the input, found without moving events while sorting.
//!
//! `build` must give the same result whatever order its events come in, so they are first put
//! in one order: host name (without case), channel, record id, event id, logged time, file,
//! offset, and input order for what is still tied. An event is a few hundred bytes and ten
//! million of them are gigabytes, so sorting them in place would move gigabytes per pass and a
//! stable sort would need half as much again for scratch space. Instead, small keys are sorted
//! (one host name at a time, so the keys of only one name exist at once) and each event is then
//! moved once, by [`arrange`], straight to its final place.

use super::scan::Scan;
use crate::model::Event;
use chrono::{DateTime, Utc};

/// A position in the input. Events are counted in `u32`: 2^32 events would need terabytes of
/// memory before they got here, and half-size positions keep the order vectors small.
pub type Pos = u32;

/// The input in canonical order, duplicates left out.
pub struct Canonical {
    /// Positions of the kept events, name by name.
    pub order: Vec<Pos>,
    /// `order[name_start[n]..name_start[n + 1]]` are the events of name `n`.
    pub name_start: Vec<usize>,
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

/// The canonical order of `events`, whose names, channels and files `scan` numbered.
/// Adjacent events that are one record read twice are left out but for the first
/// (`same_record` says when).
pub fn canonical(
    events: &[Event],
    scan: &Scan,
    same_record: impl Fn(&Event, &Event) -> bool,
) -> Canonical {
    let (mut order, name_start) =
        bucket_sort(events.len(), |p| scan.name_of[p as usize], scan.names);
    let mut keys: Vec<Key> = Vec::new();
    let mut kept = 0;
    let mut kept_start = Vec::with_capacity(scan.names + 1);
    for n in 0..scan.names {
        kept_start.push(kept);
        keys.clear();
        for &p in &order[name_start[n]..name_start[n + 1]] {
            let e = &events[p as usize];
            keys.push(Key {
                channel: scan.channel_of[p as usize],
                record_id: e.record_id,
                event_id: e.event_id,
                logged: e.logged,
                file: scan.file_of[p as usize],
                offset: e.offset,
                position: p,
            });
        }
        // Mostly sorted runs already (input usually comes in order per log): a stable sort
        // merges them (the position settles ties, so it is stable either way).
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
}
