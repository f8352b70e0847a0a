//! Bug found by the forged mutators of `tests/mutations.rs`: a chunk header rewritten with a
//! fresh CRC32 was read on trust when its header size was not 128, its first record id or
//! number was 0, its id range was wider than a chunk can hold (last id u64::MAX), or a string
//! or template table entry pointed outside the records. Each is a value Windows never
//! writes; each is now an `unreadable_chunk` issue.

mod support;

use lineage::ingest::integrity::{check_chunk, FileFlags};
use lineage::issues::IssueKind;
use std::sync::Arc;
use support::repo;

fn chunk() -> Vec<u8> {
    let b = std::fs::read(repo().join("samples/APTSimulatorVM/System.evtx")).expect("sample");
    b[4096 + 65536..4096 + 2 * 65536].to_vec()
}

/// Sets `bytes` at `at` and recomputes the header CRC32, as a forger would.
fn forge(mut c: Vec<u8>, at: usize, bytes: &[u8]) -> Vec<u8> {
    c[at..at + bytes.len()].copy_from_slice(bytes);
    let mut h = crc32fast::Hasher::new();
    h.update(&c[..120]);
    h.update(&c[128..512]);
    let crc = h.finalize();
    c[124..128].copy_from_slice(&crc.to_le_bytes());
    c
}

fn kinds(c: &[u8]) -> Vec<IssueKind> {
    let file: Arc<str> = Arc::from("forged.evtx");
    let (_, _, issues) = check_chunk(c, 1, 4096 + 65536, &file, FileFlags::default());
    issues.into_iter().map(|i| i.kind).collect()
}

#[test]
fn the_untouched_chunk_is_clean() {
    assert_eq!(kinds(&chunk()), vec![]);
}

#[test]
fn forged_header_size_is_reported() {
    for size in [0u32, 0x200, u32::MAX] {
        let c = forge(chunk(), 40, &size.to_le_bytes());
        assert_eq!(kinds(&c), vec![IssueKind::UnreadableChunk], "size {size}");
    }
}

#[test]
fn forged_record_ids_and_numbers_of_zero_or_u64_max_are_reported() {
    for at in [8, 24] {
        let c = forge(chunk(), at, &0u64.to_le_bytes());
        assert_eq!(
            kinds(&c),
            vec![IssueKind::UnreadableChunk],
            "first at {at} = 0"
        );
    }
    for at in [16, 32] {
        let c = forge(chunk(), at, &u64::MAX.to_le_bytes());
        assert_eq!(
            kinds(&c),
            vec![IssueKind::UnreadableChunk],
            "last at {at} = max"
        );
    }
}

#[test]
fn forged_string_and_template_offsets_out_of_range_are_reported() {
    for at in [128, 128 + 4 * 63, 384, 508] {
        for off in [0xfffeu32, 0x1_0000, u32::MAX] {
            let c = forge(chunk(), at, &off.to_le_bytes());
            assert_eq!(
                kinds(&c),
                vec![IssueKind::UnreadableChunk],
                "{at}: {off:#x}"
            );
        }
    }
}
