//! Every reader must turn the same event into the same `RawRecord`, or the extractor would see
//! a different history depending on how the logs were exported. This renders real EVTX files
//! from the corpus with the reference parser (`evtx_dump -o xml` and `-o jsonl`), reads each
//! rendering with its reader and compares the record sequences. XML is the reference, since the
//! EVTX reader renders values as evtx's XML does; a third reader joins by adding a line to
//! `readings`. The EVTX reader itself (template substitution values, falling back to evtx's
//! renderer) is the third reading.
//!
//! The corpus and `evtx_dump` are not part of the repository, so the tests skip (with a
//! message) when either is missing.

use lineage::ingest::evtx::{read_chunks, whole_chunks};
use lineage::ingest::integrity::FileFlags;
use lineage::ingest::jsonl::read_jsonl;
use lineage::ingest::xml::{read_xml, windows_text};
use lineage::ingest::{RawRecord, ReadError, RecordSink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

type Reader = fn(&Path, &Arc<str>, &mut dyn RecordSink) -> Result<(), ReadError>;

use lineage::ingest::KeepAll as Collect;

/// Read `path` with `reader`; the renderings of intact files must raise no issue.
fn read_all(reader: Reader, path: &Path) -> Vec<RawRecord> {
    let file: Arc<str> = Arc::from(path.display().to_string());
    let mut sink = Collect::default();
    if let Err(e) = reader(path, &file, &mut sink) {
        panic!("{}: {e}", path.display());
    }
    assert!(
        sink.issues.is_empty(),
        "{}: {:?}",
        path.display(),
        sink.issues.first()
    );
    sink.records.into_iter().map(|(r, _)| r).collect()
}

fn read_all_xml(path: &Path) -> Vec<RawRecord> {
    read_all(read_xml, path)
}

fn read_all_jsonl(path: &Path) -> Vec<RawRecord> {
    read_all(read_jsonl, path)
}

/// The EVTX file itself, through the substitution-value fast path (the sink wants every
/// record, so every record is decoded, not only process records).
fn read_all_evtx(path: &Path) -> Vec<RawRecord> {
    let file: Arc<str> = Arc::from(path.display().to_string());
    let len = std::fs::metadata(path).map_or(0, |m| m.len());
    let mut sink = Collect::default();
    let mut chunks = Vec::new();
    let flags = FileFlags::default();
    read_chunks(
        path,
        &file,
        0..whole_chunks(len),
        flags,
        &mut sink,
        &mut chunks,
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // Damaged corpus files report their damage here; the records read must still agree.
    sink.records.into_iter().map(|(r, _)| r).collect()
}

/// XML cannot carry most control characters: Windows and evtx write them as `_`. The EVTX
/// and JSONL readers keep them as logged, so readings are compared through the same mapping.
fn as_xml_can_carry(mut records: Vec<RawRecord>) -> Vec<RawRecord> {
    let map = |s: &mut String| {
        let mapped = windows_text(s);
        *s = mapped;
    };
    for r in &mut records {
        for (k, v) in &mut r.data {
            *k = std::rc::Rc::from(windows_text(k));
            map(v);
        }
        for s in [&mut r.provider_name, &mut r.channel, &mut r.computer]
            .into_iter()
            .flatten()
        {
            map(s);
        }
    }
    records
}

/// The corpus: `../shared/corpus` beside the checkout, one level further up for a git
/// worktree, or `LINEAGE_CORPUS`.
fn corpus_dir() -> Option<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        std::env::var_os("LINEAGE_CORPUS").map(PathBuf::from),
        Some(manifest.join("../shared/corpus")),
        Some(manifest.join("../../shared/corpus")),
    ];
    candidates.into_iter().flatten().find(|dir| dir.is_dir())
}

/// `evtx_dump` from PATH, or from `~/.cargo/bin`.
fn evtx_dump() -> Option<PathBuf> {
    let runs = |program: &Path| {
        Command::new(program)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let home = std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo/bin/evtx_dump"));
    [Some(PathBuf::from("evtx_dump")), home]
        .into_iter()
        .flatten()
        .find(|p| runs(p))
}

/// Real logs covering the shapes that differ between the renderings: Security, System (with
/// unnamed EventLog 6008/6013 data and `Qualifiers`), Sysmon, repeated names (4648's two
/// `LogonGuid`, Ntfs runs), `ComplexData`, deep `UserData` (CAPI2), `RenderingInfo`,
/// `ProcessingErrorData`, values stored as strings, and an empty `Provider`.
fn corpus_files(corpus: &Path) -> Vec<PathBuf> {
    const FILES: &[&str] = &[
        "sbousseaden+EVTX-ATTACK-SAMPLES/Credential Access/ppl_bypass_ppldump_knowdll_hijack_sysmon_security.evtx",
        "sbousseaden+EVTX-ATTACK-SAMPLES/AutomatedTestingTools/PanacheSysmon_vs_AtomicRedTeam01.evtx",
        "sbousseaden+EVTX-ATTACK-SAMPLES/Privilege Escalation/Sysmon_UACME_64.evtx",
        "Velocidex+velociraptor/artifacts/testdata/files/RDPAuth_Security.evtx",
        "Velocidex+velociraptor/artifacts/testdata/files/RDPAuth_System.evtx",
        "omerbenamram+evtx/samples/security.evtx",
        "omerbenamram+evtx/samples/system.evtx",
        "omerbenamram+evtx/samples/sysmon.evtx",
        "omerbenamram+evtx/samples/Security_with_size_t.evtx",
        "omerbenamram+evtx/samples/E_ShadowCopy6_windows_system32_winevt_logs_Microsoft-Windows-CAPI2%4Operational.evtx",
        "omerbenamram+evtx/samples/E_Windows_system32_winevt_logs_Microsoft-Windows-Shell-Core%4Operational.evtx",
        "omerbenamram+evtx/samples/Microsoft-Windows-LanguagePackSetup%4Operational.evtx",
        "log2timeline+plaso/test_data/evtx/System.evtx",
        "AndrewRathbun+DFIRArtifactMuseum/Windows/EventLogs/Win10/BelkasoftCTF_InsiderThreat/BelkasoftCTF_InsiderThreat/Security.evtx",
        "AndrewRathbun+DFIRArtifactMuseum/Windows/EventLogs/Win10/BelkasoftCTF_InsiderThreat/BelkasoftCTF_InsiderThreat/System.evtx",
        "AndrewRathbun+DFIRArtifactMuseum/Windows/EventLogs/Win10/APTSimulatorVM/APTSimulatorVM_EventLogs/Security.evtx",
        "AndrewRathbun+DFIRArtifactMuseum/Windows/EventLogs/Win10/APTSimulatorVM/APTSimulatorVM_EventLogs/Microsoft-Windows-Sysmon%4Operational.evtx",
        "AndrewRathbun+DFIRArtifactMuseum/Windows/EventLogs/Win10/APTSimulatorVM/APTSimulatorVM_EventLogs/Microsoft-Windows-Ntfs%4Operational.evtx",
        "Yamato-Security+hayabusa-evtx/samples/kernel_processor_power_complexdata.evtx",
        "mdecrevoisier+EVTX-to-MITRE-Attack/Antivirus/ID1116-1117-Defender threat detected.evtx",
    ];
    FILES.iter().map(|f| corpus.join(f)).collect()
}

/// Render `evtx` with `evtx_dump -o format` into `out`.
fn render(dump: &Path, evtx: &Path, format: &str, out: &Path) -> PathBuf {
    let target = std::fs::File::create(out).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    let status = Command::new(dump)
        .args(["-t", "1", "-o", format])
        .arg(evtx)
        .stdout(target)
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("running {}: {e}", dump.display()));
    assert!(
        status.success(),
        "evtx_dump -o {format} {} failed",
        evtx.display()
    );
    out.to_path_buf()
}

/// Assert every reading equals the first (the reference), naming the first record that
/// differs.
fn assert_same(evtx: &Path, readings: &[(&str, Vec<RawRecord>)]) {
    let Some(((reference_name, reference), others)) = readings.split_first() else {
        return;
    };
    assert!(!reference.is_empty(), "{}: no records", evtx.display());
    for (name, records) in others {
        let differs = reference.iter().zip(records).position(|(a, b)| a != b);
        if let Some(i) = differs {
            panic!(
                "{}: record {i} differs\n  {reference_name}: {:?}\n  {name}: {:?}",
                evtx.display(),
                reference.get(i),
                records.get(i)
            );
        }
        assert_eq!(
            reference.len(),
            records.len(),
            "{}: {reference_name} and {name} read different numbers of records",
            evtx.display()
        );
    }
}

/// Records the EVTX reader read that the reference parser did not (in damaged chunks).
static RECOVERED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The EVTX reader must read every record the reference rendering holds, identically; in
/// damaged chunks it may read more (records the evtx crate gives up on), never fewer. Returns
/// how many more.
fn assert_contains(evtx: &Path, reference: &[RawRecord], direct: &[RawRecord]) -> usize {
    let mut extra = 0;
    let mut it = direct.iter().peekable();
    for want in reference {
        loop {
            match it.next() {
                Some(got) if got == want => break,
                Some(got) if got.record_id < want.record_id => extra += 1,
                got => panic!(
                    "{}: record {:?} differs or is missing\n  xml:  {want:?}\n  evtx: {got:?}",
                    evtx.display(),
                    want.record_id
                ),
            }
        }
    }
    extra + it.count()
}

/// Render and compare `files`; returns the number of records compared.
fn compare(files: &[PathBuf], dump: &Path) -> usize {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let mut total = 0;
    for (i, evtx) in files.iter().enumerate() {
        let xml = render(dump, evtx, "xml", &tmp.path().join(format!("{i}.xml")));
        let jsonl = render(dump, evtx, "jsonl", &tmp.path().join(format!("{i}.jsonl")));
        let readings = [
            ("xml", read_all_xml(&xml)),
            ("jsonl", as_xml_can_carry(read_all_jsonl(&jsonl))),
        ];
        let readings = readings.map(|(name, mut r)| {
            // evtx_dump starts at the oldest chunk of a wrapped log; lineage reads file order.
            r.sort_by_key(|r| r.record_id);
            (name, r)
        });
        assert_same(evtx, &readings);
        let mut direct = as_xml_can_carry(read_all_evtx(evtx));
        direct.sort_by_key(|r| r.record_id);
        let recovered = assert_contains(evtx, &readings[0].1, &direct);
        RECOVERED.fetch_add(recovered, std::sync::atomic::Ordering::Relaxed);
        let count = readings.first().map_or(0, |(_, r)| r.len());
        println!("{count:>6} records  {}", evtx.display());
        total += count;
    }
    total
}

fn setup() -> Option<(PathBuf, PathBuf)> {
    let Some(corpus) = corpus_dir() else {
        println!("skipped: corpus not found (../shared/corpus or LINEAGE_CORPUS)");
        return None;
    };
    let Some(dump) = evtx_dump() else {
        println!("skipped: evtx_dump not on PATH nor in ~/.cargo/bin");
        return None;
    };
    Some((corpus, dump))
}

#[test]
fn xml_and_jsonl_renderings_read_the_same() {
    let Some((corpus, dump)) = setup() else {
        return;
    };
    let files = corpus_files(&corpus);
    for f in &files {
        assert!(f.is_file(), "corpus file missing: {}", f.display());
    }
    let total = compare(&files, &dump);
    let recovered = RECOVERED.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "{total} records compared in {} files; {recovered} more recovered from damaged chunks",
        files.len()
    );
}

/// Every EVTX file in the corpus (about 83,000 records, ~10 s in release). Files evtx_dump
/// cannot render at all are left out.
#[test]
fn whole_corpus_reads_the_same() {
    let Some((corpus, dump)) = setup() else {
        return;
    };
    let mut files = Vec::new();
    let mut dirs = vec![corpus];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for path in entries.flatten().map(|e| e.path()) {
            if path.is_dir() {
                dirs.push(path);
            } else if path
                .extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("evtx"))
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files.retain(|f| renders(&dump, f));
    let total = compare(&files, &dump);
    let recovered = RECOVERED.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "{total} records compared in {} files; {recovered} more recovered from damaged chunks",
        files.len()
    );
}

/// Whether evtx_dump renders at least one record of `evtx` and exits cleanly.
fn renders(dump: &Path, evtx: &Path) -> bool {
    Command::new(dump)
        .args(["-t", "1", "-o", "jsonl"])
        .arg(evtx)
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
}
