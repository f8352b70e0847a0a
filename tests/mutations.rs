//! Damaged copies of real logs: truncated at random offsets, chunks zeroed, bytes flipped, a
//! chunk duplicated, a record header corrupted, chunk header fields set to extremes (record
//! numbers and ids 0 / u64::MAX, the free-space and last-record offsets beyond the chunk,
//! string and template table offsets out of range, the header size). The binary runs under a
//! memory limit and a time limit; it must finish, exit 0 or 3 (never panic), and report the
//! damage that was done. Header and record mutations come twice: as a random write would
//! leave them (the checksum no longer matches) and forged, with the checksum recomputed, so
//! the value checks themselves must catch them. Every damaged copy is also rebuilt into
//! process lineage and rendered as a tree (`lineage tree`), which must not panic either.

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
    FlipByte {
        chunk: usize,
        at: usize,
    },
    DuplicateChunk(usize),
    /// A field of the `record`-th record header of `chunk`; `forged` recomputes the chunk's
    /// records checksum afterwards.
    RecordHeader {
        chunk: usize,
        record: usize,
        field: RecordField,
        forged: bool,
    },
    /// A chunk header field set to an extreme; `forged` recomputes the header checksum.
    ChunkHeader {
        chunk: usize,
        field: HeaderField,
        extreme: usize,
        forged: bool,
    },
}

/// Record header fields: magic (0), size (4), record id (8), and the size copy at its end.
#[derive(Debug, Clone, Copy)]
enum RecordField {
    Magic,
    SizeZero,
    SizeBeyondChunk,
    SizeOneWordLonger,
    SizeCopy,
}

/// Chunk header fields, with their offset and width.
#[derive(Debug, Clone, Copy)]
enum HeaderField {
    FirstRecordNumber,
    LastRecordNumber,
    FirstRecordId,
    LastRecordId,
    HeaderSize,
    LastRecordOffset,
    FreeSpaceOffset,
    /// One of the 64 string table offsets (bytes 128..384).
    StringOffset(usize),
    /// One of the 32 template table offsets (bytes 384..512).
    TemplateOffset(usize),
}

impl HeaderField {
    fn at(self) -> usize {
        match self {
            HeaderField::FirstRecordNumber => 8,
            HeaderField::LastRecordNumber => 16,
            HeaderField::FirstRecordId => 24,
            HeaderField::LastRecordId => 32,
            HeaderField::HeaderSize => 40,
            HeaderField::LastRecordOffset => 44,
            HeaderField::FreeSpaceOffset => 48,
            HeaderField::StringOffset(i) => 128 + 4 * (i % 64),
            HeaderField::TemplateOffset(i) => 384 + 4 * (i % 32),
        }
    }

    /// The extremes each field is set to: values no real chunk holds in that field.
    fn extremes(self) -> &'static [u64] {
        match self {
            HeaderField::FirstRecordNumber
            | HeaderField::LastRecordNumber
            | HeaderField::FirstRecordId
            | HeaderField::LastRecordId => &[0, u64::MAX],
            HeaderField::HeaderSize => &[0, 0x200, u32::MAX as u64],
            HeaderField::LastRecordOffset => &[0, 0x1_0000, u32::MAX as u64],
            HeaderField::FreeSpaceOffset => &[0, 0x1_0001, u32::MAX as u64],
            HeaderField::StringOffset(_) | HeaderField::TemplateOffset(_) => {
                &[0x1_0000, 0xfffe, u32::MAX as u64]
            }
        }
    }

    fn wide(self) -> bool {
        self.at() < 40
    }
}

/// CRC32 of chunk header bytes 0..120 and 128..512, stored at 124.
fn forge_header_crc(chunk: &mut [u8]) {
    let mut h = crc32fast::Hasher::new();
    h.update(&chunk[..120]);
    h.update(&chunk[128..512]);
    let crc = h.finalize();
    chunk[124..128].copy_from_slice(&crc.to_le_bytes());
}

/// CRC32 of the records area 512..free-space offset, stored at 52 (a header field, so the
/// header checksum is recomputed after it).
fn forge_data_crc(chunk: &mut [u8]) {
    let free = u32::from_le_bytes(chunk[48..52].try_into().unwrap()) as usize;
    let crc = crc32fast::hash(&chunk[512..free.clamp(512, CHUNK)]);
    chunk[52..56].copy_from_slice(&crc.to_le_bytes());
    forge_header_crc(chunk);
}

/// Offsets within the chunk of its first records (walking the size fields).
fn record_offsets(chunk: &[u8], max: usize) -> Vec<usize> {
    let free = u32::from_le_bytes(chunk[48..52].try_into().unwrap()) as usize;
    let mut out = Vec::new();
    let mut at = 512;
    while at + 24 <= free.min(CHUNK) && chunk[at..].starts_with(b"**\0\0") && out.len() < max {
        out.push(at);
        let size = u32::from_le_bytes(chunk[at + 4..at + 8].try_into().unwrap()) as usize;
        at += size.max(8);
    }
    out
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
            Damage::RecordHeader {
                chunk,
                record,
                field,
                forged,
            } => {
                let c = &mut b[HEADER + chunk * CHUNK..HEADER + (chunk + 1) * CHUNK];
                let offsets = record_offsets(c, 64);
                let at = offsets[record % offsets.len()];
                let size = u32::from_le_bytes(c[at + 4..at + 8].try_into().unwrap());
                let mut put =
                    |off: usize, v: u32| c[off..off + 4].copy_from_slice(&v.to_le_bytes());
                match field {
                    RecordField::Magic => put(at, 0x2a2a_2a2a),
                    RecordField::SizeZero => put(at + 4, 0),
                    RecordField::SizeBeyondChunk => put(at + 4, 0x1_0000),
                    RecordField::SizeOneWordLonger => put(at + 4, size + 8),
                    RecordField::SizeCopy => put(at + size as usize - 4, size ^ 0x10),
                }
                if forged {
                    forge_data_crc(c);
                }
            }
            Damage::ChunkHeader {
                chunk,
                field,
                extreme,
                forged,
            } => {
                let c = &mut b[HEADER + chunk * CHUNK..HEADER + (chunk + 1) * CHUNK];
                let extremes = field.extremes();
                let v = extremes[extreme % extremes.len()];
                let at = field.at();
                if field.wide() {
                    c[at..at + 8].copy_from_slice(&v.to_le_bytes());
                } else {
                    c[at..at + 4].copy_from_slice(&(v as u32).to_le_bytes());
                }
                if forged {
                    forge_header_crc(c);
                }
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
            Damage::RecordHeader { forged: false, .. } => &["chunk_data_checksum"],
            Damage::RecordHeader { forged: true, .. } => &["record_decode"],
            Damage::ChunkHeader { forged: false, .. } => &["chunk_header_checksum"],
            Damage::ChunkHeader { forged: true, .. } => &["unreadable_chunk"],
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
        (0..n, 0usize..64, record_field(), any::<bool>()).prop_map(
            |(chunk, record, field, forged)| Damage::RecordHeader {
                chunk,
                record,
                field,
                forged
            }
        ),
        (0..n, header_field(), 0usize..3, any::<bool>()).prop_map(
            |(chunk, field, extreme, forged)| Damage::ChunkHeader {
                chunk,
                field,
                extreme,
                forged
            }
        ),
    ]
}

fn record_field() -> impl Strategy<Value = RecordField> {
    prop_oneof![
        Just(RecordField::Magic),
        Just(RecordField::SizeZero),
        Just(RecordField::SizeBeyondChunk),
        Just(RecordField::SizeOneWordLonger),
        Just(RecordField::SizeCopy),
    ]
}

fn header_field() -> impl Strategy<Value = HeaderField> {
    prop_oneof![
        Just(HeaderField::FirstRecordNumber),
        Just(HeaderField::LastRecordNumber),
        Just(HeaderField::FirstRecordId),
        Just(HeaderField::LastRecordId),
        Just(HeaderField::HeaderSize),
        Just(HeaderField::LastRecordOffset),
        Just(HeaderField::FreeSpaceOffset),
        (0usize..64).prop_map(HeaderField::StringOffset),
        (0usize..32).prop_map(HeaderField::TemplateOffset),
    ]
}

/// Run the binary with `args` under the memory and time limits.
fn run_limited(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let script = format!("ulimit -v {MEMORY_LIMIT_KIB}; exec \"$0\" \"$@\"");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_lineage"))
        .args(args)
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
            panic!("lineage hung: {args:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn damaged_copies_never_panic_and_damage_is_reported(d in damage()) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("damaged.evtx");
        let issues = dir.path().join("issues.jsonl");
        std::fs::write(&file, d.apply(seed())).unwrap();
        let os = |s: &'static str| std::ffi::OsStr::new(s);
        let (code, stderr) = run_limited(&[
            os("events"),
            file.as_os_str(),
            os("-f"),
            os("jsonl"),
            os("-o"),
            os("/dev/null"),
            os("--issues"),
            issues.as_os_str(),
            os("-q"),
        ]);
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
        // What was read of the damaged file, rebuilt into lineage and drawn as a tree.
        let (code, stderr) = run_limited(&[os("tree"), file.as_os_str(), os("-q")]);
        prop_assert!(matches!(code, Some(0) | Some(3)), "tree on {d:?}: exit {code:?}: {stderr}");
    }
}
