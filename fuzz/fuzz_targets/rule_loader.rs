//! The rule loader (`--baseline FILE.toml`): any text is a rule file or a typed error naming
//! the file and line, never a panic. Rules that load are then run over a small history so a
//! hostile parameter (an empty pattern, a huge max_seconds) cannot panic a check either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lineage::baseline::rules::{parse, Baseline};
use lineage::lineage::synth::{generate, SynthConfig};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = parse("fuzz.toml", text) {
        let msg = e.to_string();
        assert!(msg.starts_with("fuzz.toml"), "{msg}");
        return;
    }
    let dir = std::env::temp_dir().join(format!("lineage-fuzz-rules-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join("rules.toml");
    if std::fs::write(&file, text).is_err() {
        return;
    }
    let Ok(baseline) = Baseline::load(&[file]) else {
        return;
    };
    let (events, _) = generate(&SynthConfig {
        hosts: 1,
        boots_per_host: 1,
        processes_per_boot: 20,
        ..Default::default()
    });
    let _ = lineage::baseline::scan(&lineage::lineage::build(events), &baseline);
});
