//! `lineage tree`: each boot as an indented process tree, for a person to read.
//!
//! One line per process: name, PID, start and end (RFC 3339, UTC, ms), user, how the link to
//! its parent was made when it was not by GUID, and the command line (escaped, cut to
//! [`CMDLINE_WIDTH`] characters). Placeholders (parents whose own start was never logged)
//! say so in brackets. Trees are drawn with an explicit stack: a chain a million deep prints,
//! it does not overflow.

use super::sanitize::for_terminal;
use crate::lineage::{
    forest, BootSession, HostHistory, LinkMethod, Origin, ParentLink, ProcIdx, Process,
};
use crate::time::format_rfc3339_ms;
use chrono::{DateTime, Utc};
use std::io::{self, Write};

/// Command lines longer than this are cut with `...` (the full text is in `processes`).
pub const CMDLINE_WIDTH: usize = 120;

/// What to show.
#[derive(Debug, Clone, Default)]
pub struct TreeOptions {
    pub host: Option<String>,
    /// 1-based boot number within each host.
    pub boot: Option<usize>,
    /// The boot running at this time (and, with `pid`, the process alive then).
    pub at: Option<DateTime<Utc>>,
    pub pid: Option<u64>,
    pub guid: Option<String>,
    pub ancestors: bool,
    pub descendants: bool,
    /// Levels below each root (or below the selected process).
    pub depth: Option<u32>,
}

impl TreeOptions {
    fn focused(&self) -> bool {
        self.pid.is_some() || self.guid.is_some()
    }
}

/// Does `host` answer to `wanted` (its name or any alias, ignoring case)?
pub fn host_matches(host: &HostHistory, wanted: &str) -> bool {
    host.name.eq_ignore_ascii_case(wanted)
        || host.aliases.iter().any(|a| a.eq_ignore_ascii_case(wanted))
}

/// The boots of a host that the options select (indices).
pub fn selected_boots(host: &HostHistory, o: &TreeOptions) -> Vec<usize> {
    if let Some(n) = o.boot {
        return host
            .boots
            .iter()
            .position(|b| b.number == n)
            .into_iter()
            .collect();
    }
    if let Some(t) = o.at {
        return boot_at(&host.boots, t).into_iter().collect();
    }
    (0..host.boots.len()).collect()
}

/// The boot running at `t`: the latest that started at or before it and had not ended.
pub fn boot_at(boots: &[BootSession], t: DateTime<Utc>) -> Option<usize> {
    boots
        .iter()
        .enumerate()
        .filter(|(_, b)| b.reference_time() <= t && b.end.is_none_or(|e| e >= t))
        .max_by_key(|(_, b)| b.reference_time())
        .map(|(i, _)| i)
}

/// Write the trees. Returns how many processes were shown.
pub fn write(out: &mut dyn Write, hosts: &[HostHistory], o: &TreeOptions) -> io::Result<usize> {
    let mut shown = 0;
    for host in hosts {
        if o.host.as_deref().is_some_and(|h| !host_matches(host, h)) {
            continue;
        }
        let boots = selected_boots(host, o);
        if boots.is_empty() {
            continue;
        }
        write_host_header(out, host)?;
        let kids = forest::children(&host.processes);
        for b in boots {
            shown += write_boot(out, host, b, &kids, o)?;
        }
    }
    Ok(shown)
}

fn write_host_header(out: &mut dyn Write, host: &HostHistory) -> io::Result<()> {
    writeln!(out, "host {}", for_terminal(&host.name))?;
    let others: Vec<&str> = host
        .aliases
        .iter()
        .filter(|a| **a != host.name)
        .map(String::as_str)
        .collect();
    if !others.is_empty() {
        writeln!(
            out,
            "  also logged as: {}",
            for_terminal(&others.join(", "))
        )?;
    }
    for why in &host.joined_by {
        writeln!(out, "  joined: {}", for_terminal(why))?;
    }
    Ok(())
}

fn write_boot(
    out: &mut dyn Write,
    host: &HostHistory,
    b: usize,
    kids: &[Vec<ProcIdx>],
    o: &TreeOptions,
) -> io::Result<usize> {
    let Some(boot) = host.boots.get(b) else {
        return Ok(0);
    };
    let in_boot: Vec<ProcIdx> = (0..host.processes.len())
        .filter(|&i| host.processes[i].boot == b)
        .collect();
    writeln!(out)?;
    writeln!(
        out,
        "{}",
        boot_header(boot, host.boots.len(), in_boot.len())
    )?;
    for note in host.notes.iter().filter(|n| n.boot == b) {
        let detail = note.detail.as_deref().map(for_terminal).unwrap_or_default();
        writeln!(
            out,
            "  ! {} {} ({} record {}) {}",
            format_rfc3339_ms(&note.time),
            note.kind.as_str(),
            for_terminal(&note.record.file),
            note.record.record_id,
            detail
        )?;
    }
    if o.focused() {
        return write_focus(out, host, b, kids, o);
    }
    let roots: Vec<ProcIdx> = in_boot
        .iter()
        .copied()
        .filter(|&i| is_root_in_boot(&host.processes, i, b))
        .collect();
    let mut shown = 0;
    for r in roots {
        shown += write_subtree(out, &host.processes, kids, r, 1, o.depth)?;
    }
    Ok(shown)
}

fn boot_header(boot: &BootSession, of: usize, processes: usize) -> String {
    let start = match boot.start {
        Some(t) => format!("{} ({})", format_rfc3339_ms(&t), boot.basis.as_str()),
        None => format!(
            "not captured (logs begin {})",
            format_rfc3339_ms(&boot.first_seen)
        ),
    };
    let end = match boot.end {
        Some(t) => format!("{} ({})", format_rfc3339_ms(&t), end_word(boot)),
        None => format!("logs end {}", format_rfc3339_ms(&boot.last_seen)),
    };
    let procs = if boot.processes_captured {
        "boot processes logged"
    } else {
        "boot processes not logged"
    };
    format!(
        "boot {} of {of}: {start} -> {end}; {processes} processes; {procs}",
        boot.number
    )
}

fn end_word(boot: &BootSession) -> &'static str {
    match boot.end_reason {
        crate::lineage::BootEnd::Shutdown => "shutdown",
        crate::lineage::BootEnd::NextBoot => "next boot",
        crate::lineage::BootEnd::LogsEnd => "logs end",
    }
}

/// A process starts a tree in boot `b` when it has no parent there.
fn is_root_in_boot(procs: &[Process], i: ProcIdx, b: usize) -> bool {
    match procs.get(i).and_then(|p| p.parent.parent()) {
        None => true,
        Some(p) => procs.get(p).is_none_or(|pp| pp.boot != b),
    }
}

/// The selected process(es): ancestors from the root down, then the subtree below.
fn write_focus(
    out: &mut dyn Write,
    host: &HostHistory,
    b: usize,
    kids: &[Vec<ProcIdx>],
    o: &TreeOptions,
) -> io::Result<usize> {
    let procs = &host.processes;
    let wanted = |p: &Process| {
        p.boot == b
            && o.pid.is_none_or(|pid| p.info.pid == Some(pid))
            && o.guid.as_deref().is_none_or(|g| {
                p.info.guid.as_deref().is_some_and(|pg| {
                    pg.trim_matches(['{', '}'])
                        .eq_ignore_ascii_case(g.trim_matches(['{', '}']))
                })
            })
            && o.at.is_none_or(|t| o.pid.is_none() || p.alive_at(t))
    };
    let both = !o.ancestors && !o.descendants;
    let mut shown = 0;
    for i in (0..procs.len()).filter(|&i| wanted(&procs[i])) {
        writeln!(out)?;
        let mut level = 1;
        if o.ancestors || both {
            let mut chain = forest::ancestors(procs, i, usize::MAX);
            chain.reverse();
            for a in chain {
                writeln!(out, "{}", line(procs, a, level))?;
                level += 1;
                shown += 1;
            }
        }
        if o.descendants || both {
            shown += write_subtree(out, procs, kids, i, level, o.depth)?;
        } else {
            writeln!(out, "{}", line(procs, i, level))?;
            shown += 1;
        }
    }
    Ok(shown)
}

/// A process and its descendants, depth-first, with an explicit stack.
fn write_subtree(
    out: &mut dyn Write,
    procs: &[Process],
    kids: &[Vec<ProcIdx>],
    root: ProcIdx,
    level: usize,
    max_depth: Option<u32>,
) -> io::Result<usize> {
    let mut stack = vec![(root, level, 0u32)];
    let mut shown = 0;
    while let Some((i, lvl, below)) = stack.pop() {
        writeln!(out, "{}", line(procs, i, lvl))?;
        shown += 1;
        let children = kids.get(i).map(Vec::as_slice).unwrap_or(&[]);
        if max_depth.is_some_and(|d| below >= d) {
            if !children.is_empty() {
                writeln!(out, "{}... {} more below", indent(lvl + 1), children.len())?;
            }
            continue;
        }
        for &c in children.iter().rev() {
            stack.push((c, lvl + 1, below + 1));
        }
    }
    Ok(shown)
}

fn indent(level: usize) -> String {
    // Deep chains are drawn with a level number instead of ever wider indentation.
    if level <= 40 {
        "  ".repeat(level)
    } else {
        format!("{}[{level}] ", "  ".repeat(40))
    }
}

/// One process line.
pub fn line(procs: &[Process], i: ProcIdx, level: usize) -> String {
    let Some(p) = procs.get(i) else {
        return String::new();
    };
    let mut s = indent(level);
    s.push_str(&for_terminal(p.name()));
    if let Some(pid) = p.info.pid {
        s.push_str(&format!(" pid {pid}"));
    }
    let start = p
        .start
        .map_or_else(|| "?".to_string(), |t| format_rfc3339_ms(&t));
    let end = match (p.end, p.end_reason) {
        (Some(t), crate::lineage::EndReason::Exited) => format_rfc3339_ms(&t),
        (Some(_), crate::lineage::EndReason::BootEnded) => "(boot end)".to_string(),
        _ => "(running)".to_string(),
    };
    s.push_str(&format!("  {start} -> {end}"));
    if let Some(u) = &p.info.user {
        s.push_str("  ");
        s.push_str(&for_terminal(u));
    }
    if let Some(tag) = origin_tag(p.origin) {
        s.push_str(&format!("  [{tag}]"));
    }
    // Where a process whose start is not logged was seen (only numbers: nothing to escape).
    if let Some(seen) = &p.seen {
        let source = match seen.record.source {
            crate::model::Source::Sysmon => "sysmon",
            crate::model::Source::Security => "security",
            crate::model::Source::System => "system",
        };
        s.push_str(&format!(
            "  [seen: {source} {} record {} at {}]",
            seen.record.event_id,
            seen.record.record_id,
            format_rfc3339_ms(&seen.time)
        ));
    }
    if let Some(tag) = link_tag(&p.parent) {
        s.push_str(&format!("  [{tag}]"));
    }
    if let Some(cmd) = &p.info.command_line {
        s.push_str("  ");
        s.push_str(&for_terminal(&shorten(cmd, CMDLINE_WIDTH)));
    }
    s
}

fn origin_tag(o: Origin) -> Option<&'static str> {
    match o {
        Origin::Logged => None,
        Origin::BeforeLogging => Some("not logged: started before logging began"),
        Origin::MissingEvent => Some("not logged: start event missing"),
        Origin::Unseen => Some("not logged"),
        Origin::Kernel => Some("kernel"),
    }
}

fn link_tag(link: &ParentLink) -> Option<String> {
    match link {
        ParentLink::Linked {
            method: LinkMethod::Guid,
            ..
        } => None,
        ParentLink::Linked {
            method, confidence, ..
        } => Some(format!("{} {}", method.as_str(), confidence.as_str())),
        ParentLink::Ambiguous { candidates } => {
            Some(format!("parent ambiguous: {} candidates", candidates.len()))
        }
        ParentLink::NotLogged => None,
        ParentLink::SelfParent => Some("names itself as parent".to_string()),
        ParentLink::CycleCut => Some("parent link cut: it loops".to_string()),
    }
}

/// At most `max` characters, with `...` when cut.
fn shorten(s: &str, max: usize) -> String {
    let mut it = s.char_indices();
    match it.nth(max) {
        None => s.to_string(),
        Some((at, _)) => format!("{}...", &s[..at]),
    }
}
