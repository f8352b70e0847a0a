//! One pass over the whole input, for what grouping and ordering need to know of each event.
//!
//! On ten million events a pass costs a cache miss or two per event (the event, and the texts
//! it points to), more than the work it does; so all that can be learned in one pass is: each
//! event's name, channel and file as numbers, when each name was used, and the Sysmon machine
//! ids each name logged.

use super::guid_machine;
use crate::model::{Body, Event};
use chrono::{DateTime, Utc};
use foldhash::{HashMap, HashSet, HashSetExt};
use std::sync::Arc;

/// What the pass learned. Names, channels and files are numbered in the order of their texts
/// (names without case), so comparing numbers compares texts.
pub struct Scan {
    /// Per event, the number of its `Computer` name (names differing only in case are one).
    pub name_of: Vec<u32>,
    pub names: usize,
    /// Per event, the number of its channel.
    pub channel_of: Vec<u32>,
    /// Per event, the number of its file; and the file paths, by number.
    pub file_of: Vec<u32>,
    pub files: Vec<Box<str>>,
    /// Per name: its earliest (logged time, record id) and its latest logged time.
    pub first_use: Vec<(DateTime<Utc>, u64)>,
    pub last_use: Vec<DateTime<Utc>>,
    /// (Sysmon machine id, name) pairs from ProcessGuids. A machine id is eight hex digits, so
    /// as a number it compares as its lower-case text does.
    pub machines: HashSet<(u32, usize)>,
}

/// Scan `events` once.
pub fn scan(events: &[Event]) -> Scan {
    let mut names = Names::default();
    let mut channels = Numbering::default();
    let mut files = Numbering::default();
    let (mut name_of, mut channel_of, mut file_of) = (
        Vec::with_capacity(events.len()),
        Vec::with_capacity(events.len()),
        Vec::with_capacity(events.len()),
    );
    // By name, in order of first appearance (renumbered at the end).
    let mut first_seen: Vec<(DateTime<Utc>, u64)> = Vec::new();
    let mut last_seen: Vec<DateTime<Utc>> = Vec::new();
    let mut machines = HashSet::new();
    let mut last_machine = None;
    for e in events {
        let n = names.number(&e.host);
        name_of.push(n);
        channel_of.push(channels.number(&e.channel));
        file_of.push(files.number(&e.file));
        let first = (e.logged, e.record_id);
        match (
            first_seen.get_mut(n as usize),
            last_seen.get_mut(n as usize),
        ) {
            (Some(f), Some(l)) => {
                *f = (*f).min(first);
                *l = (*l).max(e.logged);
            }
            _ => {
                first_seen.push(first);
                last_seen.push(e.logged);
            }
        }
        if let Body::Process(p) = &e.body {
            let machine = p.guid.as_deref().and_then(guid_machine);
            if let Some(m) = machine.and_then(|m| u32::from_str_radix(m, 16).ok()) {
                // Neighbours usually repeat the pair: skip the set then.
                let pair = (m, n as usize);
                if last_machine != Some(pair) {
                    machines.insert(pair);
                    last_machine = Some(pair);
                }
            }
        }
    }
    let name_rank = ranks(&names.keys);
    let mut first_use = first_seen.clone();
    let mut last_use = last_seen.clone();
    for (id, &r) in name_rank.iter().enumerate() {
        first_use[r as usize] = first_seen[id];
        last_use[r as usize] = last_seen[id];
    }
    renumber(&mut name_of, &name_rank);
    renumber(&mut channel_of, &ranks(&channels.texts));
    let file_rank = ranks(&files.texts);
    renumber(&mut file_of, &file_rank);
    let mut paths: Vec<Box<str>> = vec![Box::from(""); files.texts.len()];
    for (id, path) in files.texts.iter().enumerate() {
        paths[file_rank[id] as usize] = Box::from(&**path);
    }
    Scan {
        name_of,
        names: names.keys.len(),
        channel_of,
        file_of,
        files: paths,
        first_use,
        last_use,
        machines: machines
            .into_iter()
            .map(|(m, id)| (m, name_rank[id] as usize))
            .collect(),
    }
}

/// Names numbered as they come, without case.
#[derive(Default)]
struct Names<'a> {
    ids: HashMap<String, u32>,
    /// The lower-case names, by number.
    keys: Vec<String>,
    lower: String,
    last: Option<(&'a str, u32)>,
}

impl<'a> Names<'a> {
    fn number(&mut self, name: &'a str) -> u32 {
        if let Some((last, id)) = self.last {
            if last == name {
                return id;
            }
        }
        self.lower.clear();
        self.lower.push_str(name);
        self.lower.make_ascii_lowercase();
        let id = match self.ids.get(self.lower.as_str()) {
            Some(&id) => id,
            None => {
                let id = self.keys.len() as u32;
                self.ids.insert(self.lower.clone(), id);
                self.keys.push(self.lower.clone());
                id
            }
        };
        self.last = Some((name, id));
        id
    }
}

/// Shared texts numbered as they come. Events of one log share one `Arc` for each, so a
/// pointer check answers most events without reading the text.
#[derive(Default)]
struct Numbering<'a> {
    ids: HashMap<&'a str, u32>,
    texts: Vec<&'a str>,
    last: Option<(&'a Arc<str>, u32)>,
}

impl<'a> Numbering<'a> {
    fn number(&mut self, text: &'a Arc<str>) -> u32 {
        if let Some((last, id)) = self.last {
            if Arc::ptr_eq(last, text) {
                return id;
            }
        }
        let texts = &mut self.texts;
        let id = *self.ids.entry(&**text).or_insert_with(|| {
            texts.push(&**text);
            (texts.len() - 1) as u32
        });
        self.last = Some((text, id));
        id
    }
}

/// The place of each text in byte order, by its number.
fn ranks<S: AsRef<str>>(texts: &[S]) -> Vec<u32> {
    let mut by_text: Vec<usize> = (0..texts.len()).collect();
    by_text.sort_unstable_by(|&a, &b| texts[a].as_ref().cmp(texts[b].as_ref()));
    let mut rank = vec![0u32; texts.len()];
    for (r, &id) in by_text.iter().enumerate() {
        rank[id] = r as u32;
    }
    rank
}

fn renumber(numbers: &mut [u32], rank: &[u32]) {
    for n in numbers {
        *n = rank[*n as usize];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_follow_byte_order() {
        assert_eq!(ranks(&["b", "a", "C"]), [2, 1, 0]);
    }
}
