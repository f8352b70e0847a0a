//! Reading input files into [`RawRecord`]s: EVTX (the only place that touches the `evtx`
//! crate), XML exports and `evtx_dump` JSON lines.
//!
//! Every reader pushes into a [`RecordSink`]: records it decoded, records it skipped cheaply,
//! problems it met, and bytes it consumed (for the progress bar). A reader returns `Err` only
//! when the file as a whole cannot be read; everything smaller is an [`Issue`] and the reader
//! goes on.

pub mod binxml;
pub mod evtx;
pub mod filecheck;
pub mod integrity;
pub mod jsonl;
pub mod raw;
pub mod xml;

pub use raw::{normalize_guid, RawRecord};

use crate::issues::Issue;

/// Longest single XML event or JSON line accepted; a longer one is reported and skipped, so a
/// hostile export cannot make the reader hold gigabytes.
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// Where readers deliver what they find. Implemented by the extraction stage.
pub trait RecordSink {
    /// Asked by readers that can tell provider and event id before decoding the data fields
    /// (the EVTX fast path): `false` means the record is counted as read and skipped.
    fn wants(&self, _provider_name: Option<&str>, _event_id: Option<u32>) -> bool {
        true
    }
    /// The data fields the sink reads from a record of this provider and event id, when it
    /// reads only some (`None`: all, or not known). A reader may leave the others out of the
    /// record it delivers; readers that cannot tell before decoding deliver them all.
    fn fields(
        &self,
        _provider_name: Option<&str>,
        _event_id: Option<u32>,
    ) -> Option<binxml::FieldNames> {
        None
    }
    /// A decoded record. `offset` is the record's byte offset in the file (EVTX, XML) or its
    /// 1-based line number (JSON lines).
    fn record(&mut self, record: RawRecord, offset: u64);
    /// A record that was read but not decoded because `wants` said no.
    fn skipped(&mut self) {}
    /// A problem; the reader continues after it.
    fn issue(&mut self, issue: Issue);
    /// `bytes` more of the file were consumed.
    fn progress(&mut self, _bytes: u64) {}
}

/// A whole-file failure: the file could not be opened or read at all.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
}

/// A sink that keeps everything it is given, in order: records with their offsets, issues,
/// skipped records and bytes read. For tests, and for callers that want every record of a
/// small file.
#[derive(Debug, Default)]
pub struct KeepAll {
    pub records: Vec<(RawRecord, u64)>,
    pub issues: Vec<Issue>,
    pub skipped: u64,
    pub progress: u64,
    /// Say no to every record, so a reader's skipping path can be exercised.
    pub refuse: bool,
}

impl RecordSink for KeepAll {
    fn wants(&self, _provider: Option<&str>, _event_id: Option<u32>) -> bool {
        !self.refuse
    }
    fn record(&mut self, record: RawRecord, offset: u64) {
        self.records.push((record, offset));
    }
    fn skipped(&mut self) {
        self.skipped += 1;
    }
    fn issue(&mut self, issue: Issue) {
        self.issues.push(issue);
    }
    fn progress(&mut self, bytes: u64) {
        self.progress += bytes;
    }
}
