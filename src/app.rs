//! Orchestration only: resolve flags into a config, discover, read in parallel, merge, write,
//! summarise, and decide the exit status. Each step lives in its own module.

use crate::cli::{Cli, Command, EventsArgs, EventsFormat, InputArgs, ReadOpts};
use crate::discover::{discover, Format, Input};
use crate::exit::ExitCode;
use crate::extract::{Extractor, Filter, Tally};
use crate::ingest::evtx::{self as evtx_reader, ChunkSummary};
use crate::ingest::integrity::FileFlags;
use crate::ingest::ReadError;
use crate::issues::{Issue, IssueKind};
use crate::model::Event;
use crate::report::events::{JsonLine, JsonLines, KeptText};
use crate::report::output::{is_broken_pipe, Destination, OutputFile};
use crate::report::{events as writers, summary};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

mod history;
#[cfg(feature = "tables")]
mod hunt;
mod scan;

/// Chunks per work unit: large files are split so both cores share one file, and a unit's
/// memory stays at one 64 KiB chunk plus the events it keeps.
const CHUNKS_PER_UNIT: u64 = 64;

/// How to find and read the inputs: shared by every command that reads logs.
#[derive(Debug, Clone)]
pub struct ReadConfig {
    pub paths: Vec<PathBuf>,
    pub threads: usize,
    pub follow_links: bool,
    pub progress: bool,
    pub summary: bool,
    pub filter: Filter,
    /// Where to write the issues as JSONL, if anywhere.
    pub issues: Option<PathBuf>,
}

impl ReadConfig {
    pub fn from_input(a: InputArgs, filter: Filter) -> Self {
        Self::from_parts(a.paths, a.read, filter)
    }

    pub fn from_parts(paths: Vec<PathBuf>, a: ReadOpts, filter: Filter) -> Self {
        let stderr_tty = std::io::stderr().is_terminal();
        ReadConfig {
            paths,
            threads: a
                .threads
                .map(usize::from)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            follow_links: a.follow_links,
            progress: stderr_tty && !a.quiet,
            summary: !a.quiet,
            filter,
            issues: a.issues,
        }
    }
}

/// Everything `lineage events` needs, resolved once from the flags.
#[derive(Debug, Clone)]
pub struct EventsConfig {
    pub read: ReadConfig,
    pub format: EventsFormat,
    pub output: Destination,
    pub csv_raw: bool,
}

impl EventsConfig {
    pub fn from_args(a: EventsArgs) -> Self {
        let to_terminal = a.output.is_none() && std::io::stdout().is_terminal();
        let filter = Filter {
            kinds: a.kind.into_iter().map(Into::into).collect(),
            host: a.host,
            from: a.from,
            to: a.to,
        };
        EventsConfig {
            read: ReadConfig::from_input(a.input, filter),
            format: a.format.unwrap_or(if to_terminal {
                EventsFormat::Table
            } else {
                EventsFormat::Jsonl
            }),
            output: Destination::from_arg(a.output.as_deref()),
            csv_raw: a.csv_raw,
        }
    }
}

/// Run a parsed command line and return the exit status.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Events(args) => run_events(&EventsConfig::from_args(args)),
        Command::Tree(args) => history::run_tree(args),
        Command::Processes(args) => history::run_processes(args),
        Command::Scan(args) => scan::run_scan(args),
        Command::Rules(args) => scan::run_rules(args),
        #[cfg(feature = "tables")]
        Command::Query(args) => hunt::run_query(args),
        #[cfg(feature = "tables")]
        Command::Stack(args) => hunt::run_stack(args),
        #[cfg(feature = "tables")]
        Command::Export(args) => hunt::run_export(args),
        #[cfg(feature = "tables")]
        Command::Hunts => hunt::run_hunts(),
        #[cfg(not(feature = "tables"))]
        Command::Query(_) | Command::Stack(_) | Command::Export(_) | Command::Hunts => {
            eprintln!(
                "lineage: this build has no table support (built without the `tables` feature)"
            );
            ExitCode::Usage
        }
    }
}

/// What reading all inputs produced.
#[derive(Debug, Default)]
pub struct Collected {
    pub events: Vec<Event>,
    /// With JSONL output, events are serialised by the worker that built them and only their
    /// sort key and where its text is are kept: less memory, and serialising runs in
    /// parallel. `json` holds the text, one buffer per unit of work.
    pub lines: Vec<JsonLine>,
    pub json: KeptText,
    pub issues: Vec<Issue>,
    pub tally: Tally,
    pub files: usize,
    pub bytes: u64,
    pub rendered: u64,
}

/// `lineage events`.
pub fn run_events(cfg: &EventsConfig) -> ExitCode {
    // Outputs are opened first, so a wrong `-o` fails before minutes of reading.
    let (mut out, issues_out) = match open_outputs(&cfg.output, &cfg.read) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let pool = match worker_pool(&cfg.read) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let collected = match read_on(&pool, &cfg.read, cfg.format == EventsFormat::Jsonl) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut status = input_status(&collected);
    let written = write_events(cfg, &mut out, &collected, &pool).and_then(|_| out.commit());
    status = status.merge(output_status(written));
    status = status.merge(finish_read(issues_out, &collected, cfg.read.summary));
    // The process ends now: freeing a million small strings one by one measured at about a
    // tenth of the run, and the OS reclaims the memory at once.
    std::mem::forget(collected);
    status
}

/// Open the main output and the issues file before any reading.
pub(crate) fn open_outputs(
    output: &Destination,
    read: &ReadConfig,
) -> Result<(OutputFile, Option<OutputFile>), ExitCode> {
    let opened = OutputFile::create(output).and_then(|out| {
        let issues = match &read.issues {
            Some(p) => Some(OutputFile::create(&Destination::File(p.clone()))?),
            None => None,
        };
        Ok((out, issues))
    });
    opened.map_err(|e| {
        eprintln!("lineage: cannot write output: {e}");
        ExitCode::Io
    })
}

/// Discover and read everything on a pool of the configured size.
pub(crate) fn read_all(read: &ReadConfig, as_lines: bool) -> Result<Collected, ExitCode> {
    read_on(&worker_pool(read)?, read, as_lines)
}

/// The pool of the configured size.
fn worker_pool(read: &ReadConfig) -> Result<rayon::ThreadPool, ExitCode> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(read.threads)
        .build()
        .map_err(|e| {
            eprintln!("lineage: cannot start {} threads: {e}", read.threads);
            ExitCode::Internal
        })
}

/// [`read_all`] on a pool the caller keeps (`events` writes on it too).
fn read_on(
    pool: &rayon::ThreadPool,
    read: &ReadConfig,
    as_lines: bool,
) -> Result<Collected, ExitCode> {
    collect(read, as_lines, pool).map_err(|msg| {
        eprintln!("lineage: {msg}");
        ExitCode::Usage
    })
}

/// Success, or "done but some input was damaged".
pub(crate) fn input_status(c: &Collected) -> ExitCode {
    if c.issues.iter().any(|i| i.kind.is_damage()) {
        ExitCode::Damaged
    } else {
        ExitCode::Success
    }
}

/// The status a finished write adds (a closed pipe is not an error).
pub(crate) fn output_status(written: std::io::Result<()>) -> ExitCode {
    match written {
        Err(e) if !is_broken_pipe(&e) => {
            eprintln!("lineage: cannot write output: {e}");
            ExitCode::Io
        }
        _ => ExitCode::Success,
    }
}

/// Write the issues file and print the summary.
pub(crate) fn finish_read(
    issues_out: Option<OutputFile>,
    collected: &Collected,
    full_summary: bool,
) -> ExitCode {
    let mut status = ExitCode::Success;
    if let Some(issues_out) = issues_out {
        if let Err(e) = write_issues(issues_out, &collected.issues) {
            eprintln!("lineage: cannot write issues: {e}");
            status = ExitCode::Io;
        }
    }
    summary::print(collected, full_summary);
    status
}

/// The issues as JSON lines, for scripts that act on damaged input.
fn write_issues(mut out: OutputFile, issues: &[Issue]) -> std::io::Result<()> {
    for i in issues {
        serde_json::to_writer(&mut *out.writer(), i)?;
        out.writer().write_all(b"\n")?;
    }
    out.commit()
}

/// Discover and read every input, in parallel, into sorted events (or, with `as_lines`,
/// sorted JSON lines).
pub fn collect(
    cfg: &ReadConfig,
    as_lines: bool,
    pool: &rayon::ThreadPool,
) -> Result<Collected, String> {
    let found = discover(&cfg.paths, cfg.follow_links).map_err(|e| e.to_string())?;
    let total: u64 = found.inputs.iter().map(|i| i.size).sum();
    let bar = progress_bar(cfg.progress, total);
    let mut out = Collected {
        issues: found.issues,
        files: found.inputs.len(),
        bytes: total,
        ..Default::default()
    };
    let units = plan(&found.inputs, &mut out.issues);
    let results: Vec<UnitResult> = pool.install(|| {
        units
            .par_iter()
            .map(|u| read_unit(u, &cfg.filter, &bar, as_lines))
            .collect()
    });
    bar.finish_and_clear();
    merge_results(results, &mut out);
    pool.install(|| {
        sort_events(&mut out.events);
        crate::report::events::sort_lines(&mut out.lines);
    });
    Ok(out)
}

/// Puts events in [`Event::sort_key`] order. Comparing events directly compares host and file
/// names byte by byte and moves a few hundred bytes per swap, which on a large log cost more
/// than lineage and the rules together; so the names are ranked once (ranks follow name
/// order), small keys are sorted, and each event is then moved once to its place.
fn sort_events(events: &mut Vec<Event>) {
    use crate::lineage::order::{arrange, Pos};
    use foldhash::{HashMap, HashMapExt};
    /// Each distinct name and its place in name order (the few distinct names are sorted,
    /// not one per event).
    fn rank<'a>(names: impl Iterator<Item = &'a str>) -> HashMap<&'a str, u32> {
        let mut map = HashMap::new();
        for n in names {
            map.entry(n).or_insert(0);
        }
        let mut distinct: Vec<&str> = map.keys().copied().collect();
        distinct.sort_unstable();
        for (i, n) in distinct.into_iter().enumerate() {
            // At most as many names as events, and events fit a `Pos` (checked below).
            map.insert(n, i as u32);
        }
        map
    }
    if Pos::try_from(events.len()).is_err() {
        events.par_sort_unstable_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        return;
    }
    let keys = {
        let host_rank = rank(events.iter().map(|e| e.host.as_str()));
        let file_rank = rank(events.iter().map(|e| &*e.file));
        let mut keys: Vec<_> = events
            .par_iter()
            .enumerate()
            .map(|(i, e)| {
                let h = host_rank.get(e.host.as_str()).copied().unwrap_or(u32::MAX);
                let f = file_rank.get(&*e.file).copied().unwrap_or(u32::MAX);
                (h, e.time, e.record_id, f, e.offset, i as Pos)
            })
            .collect();
        keys.par_sort_unstable();
        keys
    };
    let layout: Vec<Pos> = keys.into_iter().map(|k| k.5).collect();
    arrange(events, &layout);
}

fn progress_bar(enabled: bool, total: u64) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    );
    if let Ok(style) = style {
        bar.set_style(style);
    }
    bar
}

/// A piece of work: a whole export, or a range of chunks of one EVTX file.
struct Unit<'a> {
    input: &'a Input,
    chunks: std::ops::Range<u64>,
    flags: FileFlags,
}

/// Split inputs into units and check EVTX file headers and sizes on the way.
fn plan<'a>(inputs: &'a [Input], issues: &mut Vec<Issue>) -> Vec<Unit<'a>> {
    let mut units = Vec::new();
    for input in inputs {
        if input.format != Format::Evtx {
            let flags = FileFlags::default();
            units.push(Unit {
                input,
                chunks: 0..0,
                flags,
            });
            continue;
        }
        let (whole, flags) = crate::ingest::filecheck::check_file(input, issues);
        let mut start = 0;
        while start < whole {
            let end = (start + CHUNKS_PER_UNIT).min(whole);
            units.push(Unit {
                input,
                chunks: start..end,
                flags,
            });
            start = end;
        }
    }
    units
}

struct UnitResult {
    file: Arc<str>,
    first_chunk: u64,
    events: Vec<Event>,
    lines: JsonLines,
    issues: Vec<Issue>,
    tally: Tally,
    /// Per-chunk summaries of an EVTX unit, for the whole-file checks.
    chunks: Vec<ChunkSummary>,
    rendered: u64,
}

fn read_unit(u: &Unit<'_>, filter: &Filter, bar: &ProgressBar, as_lines: bool) -> UnitResult {
    let mut ex = Extractor::new(Arc::clone(&u.input.name), filter);
    ex.progress_bar = Some(bar.clone());
    if as_lines {
        ex.lines = Some(JsonLines::default());
    }
    let mut chunks = Vec::new();
    let mut rendered = 0;
    let result = match u.input.format {
        Format::Evtx => evtx_reader::read_chunks(
            &u.input.path,
            &u.input.name,
            u.chunks.clone(),
            u.flags,
            &mut ex,
            &mut chunks,
        )
        .map(|c| rendered = c.rendered),
        Format::Xml => {
            crate::ingest::xml::read_xml(&u.input.path, &u.input.name, &mut ex).map(|_| ())
        }
        Format::JsonLines => {
            crate::ingest::jsonl::read_jsonl(&u.input.path, &u.input.name, &mut ex).map(|_| ())
        }
    };
    if let Err(ReadError::Io { file, source }) = result {
        ex.issues.push(Issue::new(
            IssueKind::Unreadable,
            &Arc::from(file),
            source.to_string(),
        ));
    }
    let events = std::mem::take(&mut ex.events);
    let lines = ex.lines.take().unwrap_or_default();
    UnitResult {
        file: Arc::clone(&u.input.name),
        first_chunk: u.chunks.start,
        events,
        lines,
        issues: ex.issues,
        tally: ex.tally,
        chunks,
        rendered,
    }
}

/// Merge unit results in a stable order and run the checks that need a whole file.
fn merge_results(mut results: Vec<UnitResult>, out: &mut Collected) {
    results.sort_by(|a, b| (&a.file, a.first_chunk).cmp(&(&b.file, b.first_chunk)));
    let mut per_file: Vec<(Arc<str>, Vec<ChunkSummary>)> = Vec::new();
    let mut lines = Vec::new();
    for r in results {
        out.events.extend(r.events);
        lines.push((Arc::clone(&r.file), r.lines));
        out.issues.extend(r.issues);
        out.tally.merge(r.tally);
        out.rendered += r.rendered;
        match per_file.last_mut() {
            Some((f, chunks)) if *f == r.file => chunks.extend(r.chunks),
            _ => per_file.push((r.file, r.chunks)),
        }
    }
    (out.lines, out.json) = crate::report::events::merge_lines(lines);
    for (file, chunks) in per_file {
        if !chunks.is_empty() {
            out.issues
                .extend(crate::ingest::filecheck::finish_file(&file, chunks));
        }
    }
    out.issues.sort_by(|a, b| {
        (&a.file, a.chunk, a.offset, a.kind).cmp(&(&b.file, b.chunk, b.offset, b.kind))
    });
}

/// Write events in the configured format (committed by the caller).
fn write_events(
    cfg: &EventsConfig,
    out: &mut OutputFile,
    c: &Collected,
    pool: &rayon::ThreadPool,
) -> std::io::Result<()> {
    match cfg.format {
        EventsFormat::Jsonl => {
            writers::write_json_lines(out.writer(), &c.json, &c.lines, Some(pool))
        }
        EventsFormat::Csv => writers::csv(out.writer(), &c.events, !cfg.csv_raw),
        EventsFormat::Table => writers::table(out.writer(), &c.events),
    }
}
