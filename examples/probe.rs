use evtx::{EvtxParser, ParserSettings};
use std::sync::Arc;
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let mut p = EvtxParser::from_path(&path).unwrap();
    let settings = Arc::new(ParserSettings::default());
    let mut n = 0;
    for chunk in p.chunks() {
        let mut chunk = match chunk { Ok(c) => c, Err(e) => { println!("chunk err {e}"); continue } };
        let mut c = match chunk.parse(settings.clone()) { Ok(c) => c, Err(e) => { println!("parse err {e}"); continue } };
        let data_len = c.data.len();
        for r in c.iter() {
            let r = match r { Ok(r) => r, Err(e) => { println!("rec err {e}"); continue } };
            if n < 3 {
                let t = r.template_instances().unwrap();
                for ti in &t { println!("tid {} off {} guid {:?} nvals {}", ti.template_id, ti.template_def_offset, ti.template_guid, ti.values.len());
                  for (i,v) in ti.values.iter().enumerate() { println!("  {i}: {:?}", v); } }
                println!("{}", r.clone().into_xml().unwrap().data);
            }
            n += 1;
        }
        let _ = data_len;
    }
    println!("records {n}");
}
