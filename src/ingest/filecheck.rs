//! Whole-file EVTX checks around the chunk reader: the header and size before reading, and
//! after reading, what only the whole file shows (runs of zeroed chunks followed by data,
//! duplicated record ids and chunks). The byte-level rules live in [`super::integrity`].

use super::evtx::{whole_chunks, ChunkSummary};
use super::integrity::{check_file_header, DuplicateIds, FileFlags, ZeroedChunks};
use crate::discover::Input;
use crate::issues::{Issue, IssueKind};
use std::sync::Arc;

/// Check the file header and size; returns how many whole chunks to read and the header
/// flags the chunk checks need.
pub fn check_file(input: &Input, issues: &mut Vec<Issue>) -> (u64, FileFlags) {
    match read_head(&input.path) {
        Ok(bytes) => {
            let (info, found) = check_file_header(&bytes, input.size, &input.name);
            issues.extend(found);
            let flags = info.map(|i| i.flags).unwrap_or_default();
            (whole_chunks(input.size), flags)
        }
        Err(e) => {
            issues.push(Issue::new(
                IssueKind::Unreadable,
                &input.name,
                format!("cannot read header: {e}"),
            ));
            (0, FileFlags::default())
        }
    }
}

fn read_head(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::with_capacity(4096);
    std::fs::File::open(path)?
        .take(4096)
        .read_to_end(&mut buf)?;
    Ok(buf)
}

/// Run the whole-file checks over one file's chunk summaries, in chunk order.
pub fn finish_file(file: &Arc<str>, mut chunks: Vec<ChunkSummary>) -> Vec<Issue> {
    chunks.sort_by_key(|c| c.chunk_no);
    let mut zeroed = ZeroedChunks::default();
    let mut dups = DuplicateIds::new(file);
    let mut out = Vec::new();
    for c in &chunks {
        out.extend(zeroed.chunk(c.chunk_no, c.verdict, file));
        out.extend(dups.begin_chunk(c.chunk_no, c.info.as_ref()));
        let consecutive = c
            .ids
            .windows(2)
            .all(|w| w[0].0.checked_add(1) == Some(w[1].0));
        let run = match (c.ids.first(), c.ids.last()) {
            (Some(&(first, _)), Some(&(last, _))) if consecutive => Some((first, last)),
            _ => None,
        };
        if !run.is_some_and(|(first, last)| dups.see_new_run(first, last, c.chunk_no)) {
            for &(id, offset) in &c.ids {
                out.extend(dups.see(id, c.chunk_no, offset));
            }
        }
        out.extend(dups.end_chunk());
    }
    // Zeroed chunks at the end are unused preallocated space, not damage.
    let _trailing = zeroed.finish();
    out
}
