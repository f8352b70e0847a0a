//! Damaged copies of real logs: truncated at random offsets, chunks zeroed, bytes flipped, a
//! chunk duplicated. The binary runs under a memory limit and a time limit; it must finish,
//! exit 0 or 3 (never panic), and report the damage that was done.

mod support;

use proptest::prelude::*;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

const HEADER: usize = 4096;
const CHUNK: usize = 65536;
/// Virtual memory limit for one run (KiB): far above what a 1 MB file needs, far below a leak.
const MEMORY_LIMIT_KIB: u64 = 2 * 1024 * 1024;
const TIME_LIMIT: Duration = Duration::from_secs(60);

fn seed() -> Vec<u8> {
    std::fs::read(repo().join("samples/APTSimulatorVM/System.evtx")).expect("sample")
}

#[derive(Debug, Clone)]
enum Damage {
    Truncate(usize),
    ZeroChunk(usize),
    FlipByte { chunk: usize, at: usize },
    DuplicateChunk(usize),
}

impl Damage {
    fn apply(&self, mut b: Vec<u8>) -> Vec<u8> {
        match *self {
            Damage::Truncate(len) => b.truncate(len),
            Damage::ZeroChunk(c) => b[HEADER + c * CHUNK..HEADER + (c + 1) * CHUNK].fill(0),
            Damage::FlipByte { chunk, at } => b[HEADER + chunk * CHUNK + at] ^= 0x5a,
            Damage::DuplicateChunk(c) => {
                let src = b[HEADER + c * CHUNK..HEADER + (c + 1) * CHUNK].to_vec();
                b[HEADER + (c + 1) * CHUNK..HEADER + (c + 2) * CHUNK].copy_from_slice(&src);
            }
        }
        b
    }

    /// Issue kinds of which at least one must be reported.
    fn expected(&self) -> &'static [&'static str] {
        match self {
            Damage::Truncate(_) => &["truncated"],
            Damage::ZeroChunk(_) => &["zeroed_chunk"],
            Damage::FlipByte { .. } => &[
                "chunk_data_checksum",
                "chunk_header_checksum",
                "bad_chunk_magic",
                "unreadable_chunk",
            ],
            Damage::DuplicateChunk(_) => &["duplicate_record_id"],
        }
    }
}

/// Chunks of the seed that hold records: the leading ones with a chunk magic (the rest of the
/// file is preallocated zeros, where zeroing or duplicating loses nothing).
fn used_chunks(b: &[u8]) -> usize {
    (0..(b.len() - HEADER) / CHUNK)
        .take_while(|c| b[HEADER + c * CHUNK..].starts_with(b"ElfChnk\0"))
        .count()
}

fn damage() -> impl Strategy<Value = Damage> {
    let bytes = seed();
    let n = used_chunks(&bytes);
    let whole = (bytes.len() - HEADER) / CHUNK;
    prop_oneof![
        // Cut anywhere except exactly on a chunk boundary (that is a valid, shorter file).
        (HEADER + 1..HEADER + whole * CHUNK)
            .prop_filter("not on a boundary", |o| (o - HEADER) % CHUNK != 0)
            .prop_map(Damage::Truncate),
        (0..n - 1).prop_map(Damage::ZeroChunk),
        // Bytes 0..8 are the magic, 512.. the records: anything in the chunk's checked areas.
        (0..n - 1, prop_oneof![0usize..120, 128usize..4096])
            .prop_map(|(chunk, at)| { Damage::FlipByte { chunk, at } }),
        (0..n - 1).prop_map(Damage::DuplicateChunk),
    ]
}

/// Run the binary on `file` under the memory and time limits.
fn run_limited(file: &std::path::Path, issues: &std::path::Path) -> (Option<i32>, String) {
    let script = format!(
        "ulimit -v {MEMORY_LIMIT_KIB}; exec \"$0\" events \"$1\" -f jsonl -o /dev/null --issues \"$2\" -q"
    );
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_lineage"))
        .arg(file)
        .arg(issues)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut err = String::new();
            if let Some(mut s) = child.stderr.take() {
                let _ = s.read_to_string(&mut err);
            }
            return (status.code(), err);
        }
        if start.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            panic!("lineage hung on {}", file.display());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn damaged_copies_never_panic_and_damage_is_reported(d in damage()) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("damaged.evtx");
        let issues = dir.path().join("issues.jsonl");
        std::fs::write(&file, d.apply(seed())).unwrap();
        let (code, stderr) = run_limited(&file, &issues);
        prop_assert!(matches!(code, Some(0) | Some(3)), "{d:?}: exit {code:?}: {stderr}");
        let kinds: Vec<String> = read_jsonl(&issues)
            .iter()
            .map(|i| i["kind"].as_str().unwrap_or("").to_string())
            .collect();
        prop_assert!(
            d.expected().iter().any(|k| kinds.iter().any(|x| x == k)),
            "{d:?}: expected one of {:?}, got {kinds:?}", d.expected()
        );
        prop_assert_eq!(code, Some(3), "damage must set exit status 3");
    }
}
