#!/usr/bin/env python3
"""Build a large, valid EVTX file for benchmarks out of real corpus chunks.

Usage:
    python3 benches/make_big_evtx.py --size-mb 260 -o /tmp/big.evtx [--corpus DIR] [--seed N]
                                     [--sysmon-share 0.5] [--min-fill 0.9] [--verify]

Why this way: the public corpus has no single log larger than a few MiB, but speed has to be
measured on a few hundred MB of realistic data. Real logs are made of 64 KiB chunks that are
self-contained (each carries its own string and template tables), so whole chunks copied from
real Sysmon and Security logs and laid end to end behind a fresh file header form a valid file
whose records look exactly like real ones.

Method:
1. Walk the corpus (sorted, so the result only depends on the corpus and the seed) and keep every
   chunk that is intact: magic `ElfChnk\\0`, both CRC32s valid, and a record walk from offset 512
   that lands exactly on the chunk's free-space offset, with consecutive record ids that match the
   chunk header. Only chunks at least `--min-fill` full are kept, because a big real log is made of
   full chunks (a one-chunk sample file often holds a handful of records and much empty space).
   The channel of a file comes from the corpus CATALOG.md `channel` column when there is one,
   otherwise from the file name (`...sysmon...`, `Security.evtx`, `host_security.evtx`).
2. Pick chunks: `--sysmon-share` of them from the Sysmon pool, the rest from the Security pool.
   Each pool is used in shuffled passes (every distinct chunk once per pass) so repeats are spread
   evenly; the merged list is shuffled. All randomness comes from `--seed`.
3. Renumber: records get consecutive ids 1..N across the whole file (in each record header at +8,
   and in the chunk header's first/last record number and id fields), because a reader that sees
   the same id twice rightly reports duplicated chunks as damage. Both chunk CRC32s are then
   recomputed and a fresh 4096-byte file header (version 3.1, flags 0) is written in front.

Caveat: the `EventRecordID` rendered in each event (e.g. by `evtx_dump -o jsonl`) comes from the
record's BinXML substitution values, which this script does not touch: it still holds the id the
record had in its source log, so it repeats across the file and disagrees with the record header
id. Timestamps are also the originals, so records are not in time order. Chunk slack (bytes after
the free-space offset) is copied as is.

Layout references: MS-EVEN6 and the libevtx format notes (file header, chunk header, record).
Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass, field

# --- EVTX layout -----------------------------------------------------------------------------
FILE_MAGIC = b"ElfFile\0"
FILE_HEADER_SIZE = 128  # the used part of the header block
FILE_HEADER_BLOCK = 4096  # chunks start after this
CHUNK_MAGIC = b"ElfChnk\0"
CHUNK_SIZE = 0x10000
CHUNK_HEADER_SIZE = 512  # header (128) + string offsets (64 x u32) + template offsets (32 x u32)
RECORD_MAGIC = b"**\0\0"
# magic (4) + size (4) + id (8) + FILETIME (8) + trailing size copy (4); BinXML comes on top.
RECORD_MIN_SIZE = 28
MAX_CHUNKS = 0xFFFF  # the file header's chunk count is a u16

# Chunk header fields (offsets inside the chunk).
CH_FIRST_NUM, CH_LAST_NUM, CH_FIRST_ID, CH_LAST_ID = 8, 16, 24, 32
CH_HEADER_SIZE = 40
CH_LAST_RECORD_OFFSET = 44
CH_FREE_SPACE_OFFSET = 48
CH_DATA_CRC = 52  # CRC32 of bytes 512..free_space_offset (the records)
CH_HEADER_CRC = 124  # CRC32 of bytes 0..120 and 128..512

SYSMON, SECURITY = "sysmon", "security"
CATALOG_CHANNELS = {"Microsoft-Windows-Sysmon/Operational": SYSMON, "Security": SECURITY}
# Every chunk holding a record of the channel holds this UTF-16LE text (in the record's values or
# in the template defined in that chunk): a cheap guard against a mislabelled file.
CHANNEL_TEXT = {
    SYSMON: "Microsoft-Windows-Sysmon/Operational".encode("utf-16-le"),
    SECURITY: "Security".encode("utf-16-le"),
}


def u32(b: bytes | bytearray, off: int) -> int:
    return struct.unpack_from("<I", b, off)[0]


def u64(b: bytes | bytearray, off: int) -> int:
    return struct.unpack_from("<Q", b, off)[0]


def chunk_header_crc(chunk: bytes | bytearray) -> int:
    # The 4 bytes at 120..124 (chunk flags) are not covered, nor the CRC itself.
    return zlib.crc32(chunk[128:CHUNK_HEADER_SIZE], zlib.crc32(chunk[0:120]))


def check_chunk(chunk: bytes) -> tuple[list[int] | None, str]:
    """Return (record offsets, "") for an intact chunk, or (None, reason)."""
    if chunk[:8] != CHUNK_MAGIC:
        # Mostly the all-zero preallocated chunks at the end of a log: not damage, just empty.
        return None, "no chunk magic (empty or damaged)"
    if u32(chunk, CH_HEADER_SIZE) != 128:
        return None, "chunk header size is not 128"
    if chunk_header_crc(chunk) != u32(chunk, CH_HEADER_CRC):
        return None, "bad header CRC32"
    free = u32(chunk, CH_FREE_SPACE_OFFSET)
    if not CHUNK_HEADER_SIZE < free <= CHUNK_SIZE:
        return None, "free-space offset out of range"
    if zlib.crc32(chunk[CHUNK_HEADER_SIZE:free]) != u32(chunk, CH_DATA_CRC):
        return None, "bad records CRC32"
    # Walk the records: each must be framed by its magic and its trailing size copy, and the
    # walk must end exactly at the free-space offset, so that no byte between is unaccounted.
    offsets: list[int] = []
    off = CHUNK_HEADER_SIZE
    expect_id = u64(chunk, CH_FIRST_ID)
    while off < free:
        if chunk[off:off + 4] != RECORD_MAGIC:
            return None, "record magic missing"
        size = u32(chunk, off + 4)
        if size < RECORD_MIN_SIZE or off + size > free or u32(chunk, off + size - 4) != size:
            return None, "record size broken"
        if u64(chunk, off + 8) != expect_id:
            return None, "record ids not consecutive"
        offsets.append(off)
        expect_id += 1
        off += size
    if not offsets or off != free:
        return None, "record walk does not end at the free-space offset"
    if u64(chunk, CH_LAST_ID) != expect_id - 1 or u32(chunk, CH_LAST_RECORD_OFFSET) != offsets[-1]:
        return None, "chunk header disagrees with its records"
    return offsets, ""


def renumber(chunk: bytearray, offsets: list[int], first_id: int) -> int:
    """Give the chunk's records ids first_id.. and fix both CRC32s; return the next id."""
    for i, off in enumerate(offsets):
        struct.pack_into("<Q", chunk, off + 8, first_id + i)
    last_id = first_id + len(offsets) - 1
    # Record *numbers* (log-relative) and record *ids* are equal in a log that was never
    # cleared; a fresh file is such a log.
    struct.pack_into("<QQQQ", chunk, CH_FIRST_NUM, first_id, last_id, first_id, last_id)
    free = u32(chunk, CH_FREE_SPACE_OFFSET)
    struct.pack_into("<I", chunk, CH_DATA_CRC, zlib.crc32(chunk[CHUNK_HEADER_SIZE:free]))
    # The header CRC covers the data CRC just written, so it comes last.
    struct.pack_into("<I", chunk, CH_HEADER_CRC, chunk_header_crc(chunk))
    return last_id + 1


def file_header(chunk_count: int, next_record_id: int) -> bytes:
    head = bytearray(FILE_HEADER_BLOCK)
    head[0:8] = FILE_MAGIC
    struct.pack_into(
        "<QQQIHHHH", head, 8,
        0,                  # first (oldest) chunk number
        chunk_count - 1,    # last (current) chunk number
        next_record_id,     # next record id the service would write
        FILE_HEADER_SIZE,   # header size
        1, 3,               # minor, major version: 3.1
        FILE_HEADER_BLOCK,  # header block size
        chunk_count,
    )
    struct.pack_into("<I", head, 120, 0)  # flags: not dirty, not full, CRCs present
    struct.pack_into("<I", head, 124, zlib.crc32(head[:120]))
    return bytes(head)


# --- finding chunks in the corpus --------------------------------------------------------------
def read_catalog(corpus: str) -> dict[str, tuple[str, str]]:
    """Map absolute path -> (channel, err column) from the corpus CATALOG.md, if present.

    Its tables list paths relative to `corpus/<section name>`, one section per source repository.
    """
    path = os.path.join(corpus, "CATALOG.md")
    out: dict[str, tuple[str, str]] = {}
    if not os.path.isfile(path):
        return out
    section = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("## "):
                section = line[3:].strip()
                continue
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            # columns: file | KiB | records | err | channel | ...
            if section is None or len(cells) < 5 or cells[0] in ("file", "") or cells[0].startswith("---"):
                continue
            out[os.path.normpath(os.path.join(corpus, section, cells[0]))] = (cells[4], cells[3])
    return out


def channel_from_name(path: str) -> str | None:
    stem = os.path.splitext(os.path.basename(path))[0].lower()
    if "sysmon" in stem:
        return SYSMON
    # "Security.evtx", "dc01_security.evtx", but not "Microsoft-Windows-Security-Mitigations%4...".
    if not stem.startswith("microsoft-windows-") and "security" in re.split(r"[^a-z0-9]+", stem):
        return SECURITY
    return None


@dataclass
class Chunk:
    data: bytes
    offsets: list[int]
    source: str  # path#chunk-index, for the summary


@dataclass
class Pools:
    chunks: dict[str, list[Chunk]] = field(default_factory=lambda: {SYSMON: [], SECURITY: []})
    files: dict[str, set[str]] = field(default_factory=lambda: {SYSMON: set(), SECURITY: set()})
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + n


def collect(corpus: str, min_fill: float) -> Pools:
    catalog = read_catalog(corpus)
    pools = Pools()
    seen: set[bytes] = set()  # the same log is sometimes published by several repositories
    paths = []
    for root, dirs, files in os.walk(corpus):
        dirs.sort()
        paths += [os.path.join(root, n) for n in sorted(files) if n.lower().endswith(".evtx")]
    for path in paths:
        key = os.path.normpath(path)
        if key in catalog:
            channel_name, err = catalog[key]
            channel = CATALOG_CHANNELS.get(channel_name)
            # "N err": the reference parser could not decode some records of this file; a chunk
            # can pass its CRCs and still be one of them, so leave the whole file out.
            if channel and re.search(r"\d+ err", err):
                pools.skip("file has records the reference parser cannot decode (CATALOG.md)")
                continue
        else:
            channel = channel_from_name(path)
        if channel is None:
            continue
        with open(path, "rb") as f:
            data = f.read()
        if data[:8] != FILE_MAGIC:
            pools.skip("not an EVTX file")
            continue
        used = False
        # Chunks sit at fixed offsets; ignore the header's chunk count, which is stale in dirty
        # logs, and any partial chunk at the end of a truncated file.
        for index, start in enumerate(range(FILE_HEADER_BLOCK, len(data) - CHUNK_SIZE + 1, CHUNK_SIZE)):
            chunk = data[start:start + CHUNK_SIZE]
            offsets, reason = check_chunk(chunk)
            if offsets is None:
                pools.skip(reason)
                continue
            if u32(chunk, CH_FREE_SPACE_OFFSET) < min_fill * CHUNK_SIZE:
                pools.skip(f"less than {min_fill:.0%} full (--min-fill)")
                continue
            if CHANNEL_TEXT[channel] not in chunk:
                pools.skip("channel name not found in chunk")
                continue
            digest = hashlib.sha256(chunk).digest()
            if digest in seen:
                pools.skip("same chunk already taken from another file")
                continue
            seen.add(digest)
            pools.chunks[channel].append(Chunk(chunk, offsets, f"{os.path.relpath(path, corpus)}#{index}"))
            used = True
        if used:
            pools.files[channel].add(path)
    return pools


def draw(pool: list[Chunk], k: int, rng: random.Random) -> list[Chunk]:
    """k chunks from pool, in shuffled passes so every chunk is used about equally often."""
    out: list[Chunk] = []
    while len(out) < k:
        order = pool[:]
        rng.shuffle(order)
        out += order[: k - len(out)]
    return out


# --- verification with the reference parser -----------------------------------------------------
def find_evtx_dump() -> str | None:
    for cand in (os.environ.get("EVTX_DUMP"), shutil.which("evtx_dump"),
                 os.path.expanduser("~/.cargo/bin/evtx_dump")):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def verify(path: str, expect_records: int) -> bool:
    exe = find_evtx_dump()
    if exe is None:
        print("verify: evtx_dump not found (set EVTX_DUMP or install evtx 0.15.1)", file=sys.stderr)
        return False
    # --validate-checksums makes evtx_dump drop any chunk whose CRC32s are wrong, so a record
    # count equal to ours proves the CRCs as well as the record framing.
    cmd = [exe, "--validate-checksums", "-o", "jsonl", path]
    print("verify: " + " ".join(cmd), flush=True)
    env = dict(os.environ, RUST_BACKTRACE="0")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    lines = sysmon1 = sec4688 = bad_json = 0
    assert proc.stdout is not None and proc.stderr is not None
    for line in proc.stdout:
        lines += 1
        try:
            system = json.loads(line)["Event"]["System"]
        except (ValueError, KeyError, TypeError):
            bad_json += 1
            continue
        eid = system.get("EventID")
        if isinstance(eid, dict):  # {"#attributes": {"Qualifiers": ..}, "#text": 4688}
            eid = eid.get("#text")
        channel = system.get("Channel")
        if eid == 1 and channel == "Microsoft-Windows-Sysmon/Operational":
            sysmon1 += 1
        elif eid == 4688 and channel == "Security":
            sec4688 += 1
    stderr = proc.stderr.read().decode("utf-8", "replace")
    rc = proc.wait()
    ok = rc == 0 and not stderr.strip() and lines == expect_records and bad_json == 0
    print(f"verify: evtx_dump exit {rc}, {lines:,} records (expected {expect_records:,}), "
          f"stderr {'empty' if not stderr.strip() else 'NOT empty'}, {bad_json} unparsable lines")
    if lines:
        print(f"verify: Sysmon EID 1: {sysmon1:,} ({sysmon1 / lines:.1%}), Security 4688: {sec4688:,} "
              f"({sec4688 / lines:.1%}), together {(sysmon1 + sec4688) / lines:.1%} of records")
    if stderr.strip():
        print(stderr[:2000], file=sys.stderr)
    print("verify: " + ("OK" if ok else "FAILED"))
    return ok


# --- main ---------------------------------------------------------------------------------------
def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    # The corpus sits beside the clone (../shared/corpus), or two levels up from a worktree.
    candidates = [os.path.join(here, "..", *[".."] * up, "shared", "corpus") for up in (1, 2)]
    default_corpus = next((os.path.normpath(c) for c in candidates if os.path.isdir(c)),
                          os.path.normpath(candidates[0]))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mb", type=float, required=True,
                    help="target size in MB (10^6 bytes); rounded down to whole 64 KiB chunks")
    ap.add_argument("-o", "--output", required=True, help="file to write (replaced atomically)")
    ap.add_argument("--corpus", default=default_corpus, help=f"corpus directory (default {default_corpus})")
    ap.add_argument("--seed", type=int, default=1, help="random seed for chunk choice and order (default 1)")
    ap.add_argument("--sysmon-share", type=float, default=0.5,
                    help="fraction of chunks taken from Sysmon logs, the rest from Security (default 0.5)")
    ap.add_argument("--min-fill", type=float, default=0.9,
                    help="keep only chunks whose records fill at least this fraction of 64 KiB (default 0.9)")
    ap.add_argument("--verify", action="store_true",
                    help="run evtx_dump on the result: no errors, same record count; count Sysmon 1 / 4688")
    args = ap.parse_args()

    if not os.path.isdir(args.corpus):
        ap.error(f"corpus directory not found: {args.corpus}")
    if not 0.0 <= args.sysmon_share <= 1.0 or not 0.0 <= args.min_fill <= 1.0:
        ap.error("--sysmon-share and --min-fill must be between 0 and 1")
    n_chunks = (int(args.size_mb * 1_000_000) - FILE_HEADER_BLOCK) // CHUNK_SIZE
    if not 1 <= n_chunks <= MAX_CHUNKS:
        ap.error(f"--size-mb gives {n_chunks} chunks; an EVTX file holds 1 to {MAX_CHUNKS}")

    pools = collect(args.corpus, args.min_fill)
    n_sysmon = round(n_chunks * args.sysmon_share)
    want = {SYSMON: n_sysmon, SECURITY: n_chunks - n_sysmon}
    for ch, k in want.items():
        if k and not pools.chunks[ch]:
            print(f"error: no usable {ch} chunks in {args.corpus} (try a lower --min-fill, "
                  f"or --sysmon-share 0/1)", file=sys.stderr)
            return 1

    rng = random.Random(args.seed)
    picked = [(ch, c) for ch in (SYSMON, SECURITY) for c in draw(pools.chunks[ch], want[ch], rng)]
    rng.shuffle(picked)
    total_records = sum(len(c.offsets) for _, c in picked)

    out_dir = os.path.dirname(os.path.abspath(args.output))
    tmp = os.path.join(out_dir, f".{os.path.basename(args.output)}.{os.getpid()}.tmp")
    next_id = 1
    records = {SYSMON: 0, SECURITY: 0}
    try:
        with open(tmp, "wb") as f:
            f.write(file_header(n_chunks, total_records + 1))
            for ch, c in picked:
                chunk = bytearray(c.data)
                next_id = renumber(chunk, c.offsets, next_id)
                records[ch] += len(c.offsets)
                f.write(chunk)
        os.replace(tmp, args.output)  # readers never see a half-written file
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    assert next_id == total_records + 1

    size = os.path.getsize(args.output)
    print(f"wrote {args.output}: {size:,} bytes ({size / 1e6:.1f} MB), {n_chunks:,} chunks, "
          f"{total_records:,} records (ids 1..{total_records:,}), seed {args.seed}")
    for ch, label in ((SYSMON, "Sysmon"), (SECURITY, "Security")):
        distinct = len(pools.chunks[ch])
        print(f"  {label:9} {want[ch]:6,} chunks ({want[ch] / n_chunks:6.1%}), {records[ch]:9,} records "
              f"({records[ch] / max(total_records, 1):6.1%}); from {distinct} distinct chunks in "
              f"{len(pools.files[ch])} files, {want[ch] / max(distinct, 1):.1f} uses per distinct chunk")
    print("  corpus chunks left out: " + (", ".join(f"{n} {r}" for r, n in sorted(pools.skipped.items()))
                                         or "none"))
    print("  note: rendered EventRecordID values are the source logs' ids (not renumbered); "
          "record header ids are 1..N")
    if args.verify and not verify(args.output, total_records):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
