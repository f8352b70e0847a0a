use lineage::extract::{Extractor, Filter};
use lineage::ingest::evtx::{read_chunks, whole_chunks};
use std::sync::Arc;
fn main() {
    let mut total = (0u64, 0u64, 0u64);
    let mut by: std::collections::BTreeMap<String, u64> = Default::default();
    for path in std::env::args().skip(1) {
        let Ok(m) = std::fs::metadata(&path) else { continue }; let len = m.len();
        let file: Arc<str> = Arc::from(path.as_str());
        let filter = Filter::default();
        let mut ex = Extractor::new(file.clone(), &filter);
        let mut ids = Vec::new();
        let Ok(c) = read_chunks(path.as_ref(), &file, 0..whole_chunks(len), &mut ex, &mut ids) else { continue };
        for (k,v) in &c.fallback_reasons { *by.entry(k.to_string()).or_default() += v; } total.0 += c.fast; total.1 += c.rendered; total.2 += ex.tally.records;
        for (k, v) in &ex.tally.events { *by.entry(format!("{:?}", k)).or_default() += v; }
        if std::env::var("SHOW").is_ok() { for e in ex.events.iter().take(3) { println!("{}", serde_json::to_string(e).unwrap()); } }
        let g=|s: lineage::model::Source, id: u32| ex.tally.events.get(&(s,id)).copied().unwrap_or(0);
        use lineage::model::Source::*;
        println!("FILE\t{}\t{}\t{}\t{}\t{}\t{}", path, ex.tally.records, g(Sysmon,1), g(Sysmon,5), g(Security,4688), g(Security,4689));
        if std::env::var("ISSUES").is_ok() { for i in ex.issues.iter().take(5) { println!("ISSUE {:?}", i); } }
    }
    println!("fast {} rendered {} records {}", total.0, total.1, total.2);
    println!("{:?}", by);
}
