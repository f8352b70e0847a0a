//! A host's log folder: one EVTX file per channel, written in order, with log clears.

use crate::error::WriteError;
use crate::events::Channel;
use crate::host::{Pending, PendingItem};
use crate::writer::EvtxWriter;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

type FileWriter = EvtxWriter<BufWriter<File>>;

/// The record id a tagged event got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaggedRecord {
    pub tag: u32,
    pub channel: Channel,
    pub record_id: u64,
}

/// Writers for the channels of one host folder.
pub struct LogSet {
    dir: PathBuf,
    writers: BTreeMap<Channel, FileWriter>,
    /// Records written per channel (since the last clear).
    pub counts: BTreeMap<Channel, u64>,
    pub tagged: Vec<TaggedRecord>,
}

impl LogSet {
    /// Creates `dir` and one empty log per channel in `channels`.
    pub fn create(dir: &Path, channels: &[Channel]) -> Result<LogSet, WriteError> {
        std::fs::create_dir_all(dir).map_err(|source| WriteError::File {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut writers = BTreeMap::new();
        for &c in channels {
            writers.insert(c, EvtxWriter::create(&dir.join(c.file_name()))?);
        }
        Ok(LogSet {
            dir: dir.to_path_buf(),
            writers,
            counts: BTreeMap::new(),
            tagged: Vec::new(),
        })
    }

    /// Writes queued events in order; events for a channel without a log are dropped (the
    /// host does not keep that log).
    pub fn write(&mut self, items: &[Pending]) -> Result<(), WriteError> {
        for p in items {
            match &p.item {
                PendingItem::Event(e) => {
                    let Some(w) = self.writers.get_mut(&e.channel) else {
                        continue;
                    };
                    let id = w.append(&e.record)?;
                    *self.counts.entry(e.channel).or_default() += 1;
                    if let Some(tag) = p.tag {
                        let channel = e.channel;
                        self.tagged.push(TaggedRecord {
                            tag,
                            channel,
                            record_id: id,
                        });
                    }
                }
                PendingItem::Clear(c) => self.clear(*c)?,
            }
        }
        Ok(())
    }

    /// Starts the channel's file over; record ids go on from where they were, as Windows'.
    fn clear(&mut self, channel: Channel) -> Result<(), WriteError> {
        let Some(old) = self.writers.remove(&channel) else {
            return Ok(());
        };
        let next = old.next_record_id();
        drop(old.finish()?);
        let path = self.dir.join(channel.file_name());
        let file = File::create(&path).map_err(|source| WriteError::File { path, source })?;
        let w = EvtxWriter::new(BufWriter::with_capacity(1 << 20, file), next)?;
        self.writers.insert(channel, w);
        self.counts.insert(channel, 0);
        Ok(())
    }

    /// Finishes every file (headers, last chunks).
    pub fn finish(self) -> Result<(), WriteError> {
        for (_, w) in self.writers {
            w.finish()?;
        }
        Ok(())
    }
}
