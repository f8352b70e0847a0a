//! Whole-file EVTX checks around the chunk reader: the header and size before reading, and
//! after reading, what only the whole file shows (duplicated record ids, zeroed chunks that
//! are damage rather than unused preallocated space).

use super::evtx::whole_chunks;
use crate::discover::Input;
use crate::issues::{Issue, IssueKind};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Check the file header and size; returns how many whole chunks to read.
pub fn check_file(input: &Input, issues: &mut Vec<Issue>) -> u64 {
    let head = read_head(&input.path);
    match head {
        Ok(bytes) => {
            let (_, found) = super::integrity::check_file_header(&bytes, input.size, &input.name);
            issues.extend(found);
        }
        Err(e) => issues.push(Issue::new(
            IssueKind::Unreadable,
            &input.name,
            format!("cannot read header: {e}"),
        )),
    }
    whole_chunks(input.size)
}

fn read_head(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::with_capacity(4096);
    std::fs::File::open(path)?.take(4096).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Post-read checks for one file: duplicate record ids, and zeroed chunks after the last
/// chunk that held records (preallocated space, not damage) are dropped from the issues.
pub fn finish_file(file: &Arc<str>, mut ids: Vec<(u64, u64)>, issues: Vec<Issue>) -> Vec<Issue> {
    let last_used = ids.iter().map(|&(_, c)| c).max();
    let mut out: Vec<Issue> = issues
        .into_iter()
        .filter(|i| {
            !(i.kind == IssueKind::ZeroedChunk
                && i.chunk.is_some_and(|c| last_used.is_none_or(|l| c > l)))
        })
        .collect();
    ids.sort_unstable();
    let mut reported: BTreeSet<(u64, u64)> = BTreeSet::new();
    let mut dup_records = 0u64;
    for w in ids.windows(2) {
        let ((id_a, chunk_a), (id_b, chunk_b)) = (w[0], w[1]);
        if id_a == id_b {
            dup_records += 1;
            reported.insert((chunk_a.min(chunk_b), chunk_a.max(chunk_b)));
        }
    }
    for (a, b) in &reported {
        let detail = if a == b {
            format!("chunk {a} holds the same record id more than once")
        } else {
            format!("chunk {b} repeats record ids already read in chunk {a}")
        };
        out.push(
            Issue::new(IssueKind::DuplicateRecordId, file, detail)
                .at_chunk(*b)
                .at_offset(super::evtx::FILE_HEADER_SIZE + b * super::evtx::CHUNK_SIZE),
        );
    }
    if dup_records > 0 {
        if let Some(first) = out
            .iter_mut()
            .find(|i| i.kind == IssueKind::DuplicateRecordId)
        {
            first.detail.push_str(&format!(
                " ({dup_records} duplicated records in the file in all)"
            ));
        }
    }
    out
}
