//! The rebuilt history checked against the core-process baseline: pure functions from
//! [`History`] and [`Baseline`] to [`Finding`]s.
//!
//! Every check says whether the data supports it. A parent the logs never name raises no
//! wrong-parent finding; a parent found by PID alone with medium confidence lowers the
//! severity one step; timing checks run only when the boot's start is known; must-exit checks
//! only when that log records exits. Each finding carries the coverage facts behind it.
//!
//! Most rules read a process's start event, so they judge only processes whose start is
//! logged. The image rules (path, look-alike) need only the image, so they also judge a
//! process whose start is not logged when a logged record names its image: a Sysmon sighting
//! of it, or a child's `ParentImage` / `ParentProcessName`. That record is the finding's
//! evidence and its time the finding's time, and the coverage says the start was not logged.

pub mod names;
pub mod rules;

use crate::lineage::{
    forest, BootSession, History, HostHistory, LinkMethod, NoteKind, Origin, ParentLink, ProcIdx,
    Process, Provenance,
};
use crate::model::Source;
use chrono::{DateTime, Utc};
use names::{
    any_image_matches, directory, glob_match, image_matches, integrity_level, lookalike, user_class,
};
use rules::{Allow, Baseline, Check, IntegrityLevel, Rule, Severity, UserClass};
use serde::Serialize;

/// One deviation from the baseline.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub rule: String,
    pub severity: Severity,
    pub title: String,
    pub technique: String,
    pub host: String,
    /// Boot number within the host (as `lineage tree --boot N`).
    pub boot: usize,
    #[serde(serialize_with = "crate::lineage::ser_opt_time")]
    pub boot_start: Option<DateTime<Utc>>,
    /// When the anomalous process started; for one whose start was not logged, the time of
    /// the record that names it (`coverage.start_logged` is false).
    #[serde(serialize_with = "crate::lineage::ser_time")]
    pub time: DateTime<Utc>,
    /// Seconds from the boot's start (absent when the boot's start was not captured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since_boot_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command_line: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_pid: Option<u64>,
    /// How the parent was found (`guid`, `pid_time_name`, ...).
    pub parent_link: &'static str,
    /// Root-to-parent names, then the process itself.
    pub ancestry: String,
    /// The record(s) of the anomalous process (first = the one to open).
    pub evidence: Vec<Evidence>,
    /// One line: what is wrong and what was expected.
    pub explanation: String,
    pub coverage: Coverage,
    /// The first record id, for sorting and the JSONL `record_id` field.
    pub record_id: u64,
    pub file: String,
    /// The process's index in its host's `processes` (its `process_key` in the tables).
    #[serde(skip)]
    pub process: ProcIdx,
}

/// A record behind a finding.
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    pub file: String,
    pub channel: &'static str,
    pub event_id: u32,
    pub record_id: u64,
}

impl Evidence {
    fn of(p: &Provenance) -> Self {
        Evidence {
            file: p.file.to_string(),
            channel: match p.source {
                Source::Sysmon => "Microsoft-Windows-Sysmon/Operational",
                Source::Security => "Security",
                Source::System => "System",
            },
            event_id: p.event_id,
            record_id: p.record_id,
        }
    }
}

/// What the data behind a finding covers.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    /// Some log recorded the boot's start.
    pub boot_start_captured: bool,
    /// The boot's first processes are in the logs.
    pub boot_processes_logged: bool,
    /// The parent's own start event is in the logs.
    pub parent_logged: bool,
    /// The process's own start event is in the logs; when not, the evidence is the record
    /// that names its image (a sighting, or a child's start).
    pub start_logged: bool,
    /// A log was cleared during this boot (1102 / 104).
    pub log_cleared_in_boot: bool,
    /// The clock was changed or went back during this boot.
    pub clock_changed_in_boot: bool,
}

/// Run every enabled rule over the history; allowlisted findings are dropped.
pub fn scan(history: &History, baseline: &Baseline) -> Vec<Finding> {
    let mut out = Vec::new();
    for host in &history.hosts {
        let ctx = HostCtx::new(host);
        for rule in baseline.enabled() {
            check_rule(&ctx, rule, &mut out);
        }
    }
    out.retain(|f| !baseline.allow.iter().any(|a| allows(a, f, history)));
    out.sort_by(|a, b| {
        (&a.host, a.boot, a.time, &a.rule, a.pid).cmp(&(&b.host, b.boot, b.time, &b.rule, b.pid))
    });
    out
}

/// What the checks of one host share.
struct HostCtx<'a> {
    host: &'a HostHistory,
    children: Vec<Vec<ProcIdx>>,
    /// Exit times per (boot, source), sorted.
    exit_times: std::collections::HashMap<(usize, Source), Vec<DateTime<Utc>>>,
}

impl<'a> HostCtx<'a> {
    fn new(host: &'a HostHistory) -> Self {
        let mut exit_times: std::collections::HashMap<(usize, Source), Vec<DateTime<Utc>>> =
            std::collections::HashMap::new();
        for p in &host.processes {
            if let (Some(x), Some(t)) = (&p.exit, p.end) {
                exit_times.entry((p.boot, x.source)).or_default().push(t);
            }
        }
        for v in exit_times.values_mut() {
            v.sort_unstable();
        }
        HostCtx {
            host,
            children: forest::children(&host.processes),
            exit_times,
        }
    }
    /// Did this log record any exit in this boot between `from` and `to`?
    fn exits_logged_between(
        &self,
        boot: usize,
        source: Source,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> bool {
        self.exit_times.get(&(boot, source)).is_some_and(|v| {
            let i = v.partition_point(|t| *t < from);
            v.get(i).is_some_and(|t| *t <= to)
        })
    }
    fn procs(&self) -> &'a [Process] {
        &self.host.processes
    }
    fn boot(&self, p: &Process) -> Option<&'a BootSession> {
        self.host.boots.get(p.boot)
    }
    fn parent(&self, p: &Process) -> Option<(&'a Process, LinkMethod, crate::lineage::Confidence)> {
        match &p.parent {
            ParentLink::Linked {
                parent,
                method,
                confidence,
            } => self
                .procs()
                .get(*parent)
                .map(|pp| (pp, *method, *confidence)),
            _ => None,
        }
    }
    /// Processes whose name is in `names` and whose image a logged record gives: every
    /// logged process, and placeholders with a [`Witness`] (for the rules that need only the
    /// image).
    fn imaged<'n>(
        &'n self,
        names: &'n [String],
    ) -> impl Iterator<Item = (ProcIdx, &'a Process)> + 'n {
        self.procs().iter().enumerate().filter(move |&(i, p)| {
            is_named(p, names) && (p.origin == Origin::Logged || self.witness(i).is_some())
        })
    }
    /// For a process whose start is not logged, the record that names its image: the
    /// sighting that showed it, else the first logged child whose parent image is it.
    fn witness(&self, i: ProcIdx) -> Option<Witness<'a>> {
        let p = self.procs().get(i)?;
        if let Some(seen) = &p.seen {
            return Some(Witness {
                time: seen.time,
                record: &seen.record,
            });
        }
        let image = named_image(p)?;
        self.children
            .get(i)?
            .iter()
            .filter_map(|&c| self.procs().get(c))
            .filter(|c| c.origin == Origin::Logged)
            .filter(|c| {
                c.info
                    .parent_image
                    .as_deref()
                    .is_some_and(|pi| crate::lineage::same_image(pi, image))
            })
            .find_map(|c| {
                Some(Witness {
                    time: c.start?,
                    record: c.sources.first()?,
                })
            })
    }
    /// Logged processes whose name is in `names`.
    fn named<'n>(
        &'n self,
        names: &'n [String],
    ) -> impl Iterator<Item = (ProcIdx, &'a Process)> + 'n {
        self.procs()
            .iter()
            .enumerate()
            .filter(move |(_, p)| p.origin == Origin::Logged && is_named(p, names))
    }
}

/// The logged record that names a process whose own start is not logged.
#[derive(Clone, Copy)]
struct Witness<'a> {
    time: DateTime<Utc>,
    record: &'a Provenance,
}

/// The account logged for `p` is its creator's: only Security 4688 version 1 recorded the
/// start (no Sysmon `User`, no 4688 v2 target or mandatory label).
fn creators_account_only(p: &Process) -> bool {
    p.sources.iter().all(|s| s.source == Source::Security)
        && p.info.target_user.is_none()
        && p.info.target_user_sid.is_none()
        && p.info.mandatory_label.is_none()
}

fn is_named(p: &Process, names: &[String]) -> bool {
    p.info
        .image
        .as_deref()
        .is_some_and(|img| any_image_matches(names, img))
}

fn check_rule(ctx: &HostCtx<'_>, rule: &Rule, out: &mut Vec<Finding>) {
    match &rule.check {
        Check::Parent {
            processes,
            parents,
            benign_parents,
        } => {
            for (i, p) in ctx.named(processes) {
                check_parent(ctx, rule, i, p, parents, benign_parents, out);
            }
        }
        Check::Grandparent {
            processes,
            parents,
            grandparents,
            benign_grandparents,
        } => {
            let want = Lineage {
                parents,
                grandparents,
                benign: benign_grandparents,
            };
            for (i, p) in ctx.named(processes) {
                check_grandparent(ctx, rule, i, p, &want, out);
            }
        }
        Check::Integrity {
            processes,
            levels,
            users,
        } => check_integrity(ctx, rule, processes, levels, users, out),
        Check::Path {
            processes,
            directories,
        } => {
            for (i, p) in ctx.imaged(processes) {
                let Some(img) = p.info.image.as_deref().filter(|i| i.contains('\\')) else {
                    continue;
                };
                let dir = directory(img);
                let ok = directories
                    .iter()
                    .any(|d| glob_match(&crate::lineage::normalised_path(d), &dir));
                if !ok {
                    let why = format!(
                        "{} runs from {dir}\\, expected {}",
                        p.name(),
                        directories.join(" or ")
                    );
                    out.push(finding(ctx, rule, i, rule.severity, why));
                }
            }
        }
        Check::Lookalike {
            processes,
            known_good,
        } => check_lookalike(ctx, rule, processes, known_good, out),
        Check::OriginalName { processes } => {
            for (i, p) in ctx.named(processes) {
                let Some(orig) = p.info.original_file_name.as_deref() else {
                    continue;
                };
                // Trailing spaces or dots in the image name are name.lookalike's finding.
                let name = p.name().trim_end_matches([' ', '.']);
                let orig_name = orig.trim().trim_end_matches([' ', '.']);
                if !orig_name.eq_ignore_ascii_case(name) && !orig_name.is_empty() {
                    let why = format!("the binary of {} says it is {orig}", p.name());
                    out.push(finding(ctx, rule, i, rule.severity, why));
                }
            }
        }
        Check::User { processes, users } => {
            for (i, p) in ctx.named(processes) {
                let Some(class) = user_class(p.info.user.as_deref(), p.info.user_sid.as_deref())
                else {
                    continue;
                };
                // 4688 v1 names only the creator. A person's process creates processes as that
                // person, so a person there is evidence; a service account (winlogon starting
                // userinit for the person who logs on) says nothing about the new process.
                if creators_account_only(p) && class != UserClass::Person {
                    continue;
                }
                if !users.contains(&class) {
                    let want: Vec<&str> = users.iter().map(|u| u.as_str()).collect();
                    let why = format!(
                        "{} runs as {} ({}), expected {}",
                        p.name(),
                        p.info.user.as_deref().unwrap_or("?"),
                        class.as_str(),
                        want.join(" or ")
                    );
                    out.push(finding(ctx, rule, i, rule.severity, why));
                }
            }
        }
        Check::Session {
            processes,
            sessions,
        } => {
            for (i, p) in ctx.named(processes) {
                if let Some(s) = p.info.session.filter(|s| !sessions.contains(s)) {
                    let why = format!(
                        "{} in session {s}, expected session {:?}",
                        p.name(),
                        sessions
                    );
                    out.push(finding(ctx, rule, i, rule.severity, why));
                }
            }
        }
        Check::Instances {
            processes,
            max_alive,
        } => check_instances(ctx, rule, processes, *max_alive, out),
        Check::StartAfterBoot {
            processes,
            max_seconds,
        } => {
            for (i, p) in ctx.named(processes) {
                let (Some(bs), Some(s)) = (ctx.boot(p).and_then(|b| b.start), p.start) else {
                    continue;
                };
                let after = (s - bs).num_seconds();
                if after > *max_seconds as i64 {
                    let why = format!(
                        "{} started {} after boot, expected within {max_seconds} s",
                        p.name(),
                        human(after)
                    );
                    out.push(finding(ctx, rule, i, rule.severity, why));
                }
            }
        }
        Check::StartAfterParent {
            processes,
            parents,
            max_seconds,
        } => {
            for (i, p) in ctx.named(processes) {
                let Some((parent, _, _)) = ctx.parent(p) else {
                    continue;
                };
                // Another parent is the parent rules' finding; the time since a shell
                // started says nothing about a session.
                if !parents.is_empty() && !is_named(parent, parents) {
                    continue;
                }
                let (Some(ps), Some(s)) = (parent.start, p.start) else {
                    continue;
                };
                let after = (s - ps).num_seconds();
                if after > *max_seconds as i64 {
                    let why = format!(
                        "{} started {} after its parent {}, expected within {max_seconds} s",
                        p.name(),
                        human(after),
                        parent.name()
                    );
                    out.push(finding(ctx, rule, i, rule.severity, why));
                }
            }
        }
        Check::MustExit {
            processes,
            parents,
            max_seconds,
        } => check_must_exit(ctx, rule, processes, parents, *max_seconds, out),
        Check::CommandLine {
            processes,
            patterns,
            benign_parents,
        } => {
            for (i, p) in ctx.named(processes) {
                let Some(cmd) = p.info.command_line.as_deref() else {
                    continue;
                };
                let benign = ctx
                    .parent(p)
                    .and_then(|(pp, _, _)| pp.info.image.as_deref())
                    .is_some_and(|img| any_image_matches(benign_parents, img));
                if benign {
                    continue;
                }
                if !patterns.iter().any(|pat| glob_match(pat, cmd)) {
                    let why = format!(
                        "{} command line does not match {}",
                        p.name(),
                        patterns.join(" | ")
                    );
                    out.push(finding(ctx, rule, i, rule.severity, why));
                }
            }
        }
        Check::Children {
            parents,
            allowed,
            forbidden,
        } => check_children(ctx, rule, parents, allowed, forbidden, out),
    }
}

#[allow(clippy::too_many_arguments)]
fn check_parent(
    ctx: &HostCtx<'_>,
    rule: &Rule,
    i: ProcIdx,
    p: &Process,
    parents: &[String],
    benign: &[String],
    out: &mut Vec<Finding>,
) {
    let Some((parent, method, confidence)) = ctx.parent(p) else {
        return;
    };
    // A parent the logs never name (no image in its own event nor in the child's) is not
    // evidence of a wrong parent.
    let Some(pimg) = named_image(parent) else {
        return;
    };
    if any_image_matches(parents, pimg) || any_image_matches(benign, pimg) {
        return;
    }
    let weak = weak_link(method, confidence);
    let severity = if weak {
        rule.severity.lower()
    } else {
        rule.severity
    };
    let how = if weak {
        " (parent found by PID and time only)"
    } else {
        ""
    };
    let why = format!(
        "{} started by {}{how}, expected {}",
        p.name(),
        display_image(pimg),
        parents.join(" or ")
    );
    out.push(finding(ctx, rule, i, severity, why));
}

/// The parents and grandparents a grandparent rule expects.
struct Lineage<'r> {
    parents: &'r [String],
    grandparents: &'r [String],
    benign: &'r [String],
}

/// The image a process's logs name for it, unless it is a stand-in (`-`, `?`, empty).
fn named_image(p: &Process) -> Option<&str> {
    p.info
        .image
        .as_deref()
        .filter(|i| !matches!(i.trim(), "" | "?" | "-"))
}

/// A link found by PID and time alone, without a name to confirm it.
fn weak_link(method: LinkMethod, confidence: crate::lineage::Confidence) -> bool {
    matches!(method, LinkMethod::PidTime) && confidence < crate::lineage::Confidence::High
}

/// Two links up, with the same care as [`check_parent`] at each: a parent outside the rule's
/// `parents` is the parent rules' business; a parent that is a placeholder has no logged
/// parent of its own (its start was never logged), and an ambiguous or unknown link is no
/// link, so neither says anything about the grandparent; a grandparent the logs never name is
/// not evidence. A link found by PID and time alone lowers the severity one step.
fn check_grandparent(
    ctx: &HostCtx<'_>,
    rule: &Rule,
    i: ProcIdx,
    p: &Process,
    want: &Lineage<'_>,
    out: &mut Vec<Finding>,
) {
    let Some((parent, m1, c1)) = ctx.parent(p) else {
        return;
    };
    let Some(pimg) = named_image(parent) else {
        return;
    };
    if !any_image_matches(want.parents, pimg) || parent.origin != Origin::Logged {
        return;
    }
    let Some((grand, m2, c2)) = ctx.parent(parent) else {
        return;
    };
    let Some(gimg) = named_image(grand) else {
        return;
    };
    if any_image_matches(want.grandparents, gimg) || any_image_matches(want.benign, gimg) {
        return;
    }
    let weak = weak_link(m1, c1) || weak_link(m2, c2);
    let severity = if weak {
        rule.severity.lower()
    } else {
        rule.severity
    };
    let how = if weak {
        " (a link found by PID and time only)"
    } else {
        ""
    };
    let pid = parent.info.pid.map_or("?".to_string(), |x| x.to_string());
    // A grandparent whose own start is not in the logs is still named by the parent's event
    // (as a parent is by its child's in `check_parent`); say so for the reader.
    let named_by = if grand.origin == Origin::Logged {
        String::new()
    } else {
        format!(" (its own start not logged; named by {}'s)", parent.name())
    };
    let why = format!(
        "{} started by {} (pid {pid}), itself started by {}{named_by}{how}; expected {} started by {}",
        p.name(),
        parent.name(),
        display_image(gimg),
        parent.name(),
        want.grandparents.join(" or ")
    );
    out.push(finding(ctx, rule, i, severity, why));
}

/// The level from Sysmon's `IntegrityLevel` or the 4688 v2 `MandatoryLabel`; a process with
/// neither (4688 v1, older Sysmon) raises nothing. With `users`, only processes whose account
/// is of one of those classes are checked: a person's taskhostw runs at Medium or High, a
/// service's at System.
fn check_integrity(
    ctx: &HostCtx<'_>,
    rule: &Rule,
    processes: &[String],
    levels: &[IntegrityLevel],
    users: &[UserClass],
    out: &mut Vec<Finding>,
) {
    for (i, p) in ctx.named(processes) {
        let Some(level) = integrity_level(
            p.info.integrity_level.as_deref(),
            p.info.mandatory_label.as_deref(),
        ) else {
            continue;
        };
        if !users.is_empty() {
            let class = user_class(p.info.user.as_deref(), p.info.user_sid.as_deref());
            if !class.is_some_and(|c| users.contains(&c)) {
                continue;
            }
        }
        if levels.contains(&level) {
            continue;
        }
        let want: Vec<&str> = levels.iter().map(|l| l.as_str()).collect();
        let logged: Vec<String> = [
            ("IntegrityLevel", p.info.integrity_level.as_deref()),
            ("MandatoryLabel", p.info.mandatory_label.as_deref()),
        ]
        .into_iter()
        .filter_map(|(field, v)| v.map(|v| format!("{field} {}", v.trim())))
        .collect();
        let why = format!(
            "{} runs at {} integrity ({}), expected {}",
            p.name(),
            level.as_str(),
            logged.join(", "),
            want.join(" or ")
        );
        out.push(finding(ctx, rule, i, rule.severity, why));
    }
}

fn check_lookalike(
    ctx: &HostCtx<'_>,
    rule: &Rule,
    cores: &[String],
    known_good: &[String],
    out: &mut Vec<Finding>,
) {
    // The verdict depends on the name alone, and a host runs the same few hundred names
    // thousands of times: comparing each distinct name once with every core name (edit
    // distance, confusables) instead of once per process was a quarter of a scan's
    // instructions on a process-dense log.
    let mut verdicts: foldhash::HashMap<&str, Option<String>> = foldhash::HashMap::default();
    for (i, p) in ctx.procs().iter().enumerate() {
        if p.origin != Origin::Logged && ctx.witness(i).is_none() {
            continue;
        }
        let Some(img) = p.info.image.as_deref() else {
            continue;
        };
        let name = crate::lineage::image_name(img);
        let verdict = verdicts.entry(name).or_insert_with(|| {
            if known_good
                .iter()
                .any(|k| k.eq_ignore_ascii_case(name.trim()))
            {
                return None;
            }
            cores
                .iter()
                .find_map(|c| lookalike(name, c).map(|w| format!("{name:?} looks like {c}: {w}")))
        });
        if let Some(why) = verdict {
            out.push(finding(ctx, rule, i, rule.severity, why.clone()));
        }
    }
}

fn check_instances(
    ctx: &HostCtx<'_>,
    rule: &Rule,
    names: &[String],
    max: u32,
    out: &mut Vec<Finding>,
) {
    let procs = ctx.procs();
    for name in names {
        let one = std::slice::from_ref(name);
        let all: Vec<ProcIdx> = (0..procs.len())
            .filter(|&j| is_named(&procs[j], one))
            .collect();
        for &i in &all {
            let p = &procs[i];
            let Some(start) = p.start.filter(|_| p.origin == Origin::Logged) else {
                continue;
            };
            let others: Vec<&Process> = all
                .iter()
                .filter(|&&j| j != i && procs[j].boot == p.boot)
                .map(|&j| &procs[j])
                .filter(|o| o.start.is_none_or(|s| s < start) && o.end.is_none_or(|e| e > start))
                .collect();
            if others.len() as u64 + 1 > u64::from(max) {
                let alive = others.first().map_or_else(String::new, |o| {
                    format!(
                        " while {} (pid {}) was alive",
                        o.name(),
                        o.info.pid.map_or("?".to_string(), |x| x.to_string())
                    )
                });
                let why = format!(
                    "another {} started{alive}; expected {max} per boot",
                    p.name()
                );
                out.push(finding(ctx, rule, i, rule.severity, why));
            }
        }
    }
}

fn check_must_exit(
    ctx: &HostCtx<'_>,
    rule: &Rule,
    names: &[String],
    parents: &[String],
    max: u64,
    out: &mut Vec<Finding>,
) {
    for (i, p) in ctx.named(names) {
        if !parents.is_empty() {
            let parent_ok = ctx
                .parent(p)
                .and_then(|(pp, _, _)| pp.info.image.as_deref())
                .is_some_and(|img| any_image_matches(parents, img));
            if !parent_ok {
                continue;
            }
        }
        let Some(start) = p.start else { continue };
        let lived = match (p.exit.as_ref(), p.end) {
            (Some(_), Some(end)) => (end - start).num_seconds(),
            _ => {
                // Exit auditing (and Sysmon's service) may start late in a boot or be turned
                // off: a missing exit means something only if the log recorded exits both
                // before this process began and after it should have exited.
                let Some(seen_until) = ctx.boot(p).map(|b| b.end.unwrap_or(b.last_seen)) else {
                    continue;
                };
                // A huge max_seconds from a site's rule file saturates instead of panicking.
                let deadline =
                    chrono::Duration::try_seconds(i64::try_from(max).unwrap_or(i64::MAX))
                        .and_then(|d| start.checked_add_signed(d))
                        .unwrap_or(DateTime::<Utc>::MAX_UTC);
                let logged = p.sources.iter().any(|s| {
                    ctx.exits_logged_between(p.boot, s.source, DateTime::<Utc>::MIN_UTC, start)
                        && ctx.exits_logged_between(p.boot, s.source, deadline, seen_until)
                });
                if !logged {
                    continue;
                }
                (seen_until - start).num_seconds()
            }
        };
        if lived > max as i64 {
            let state = if p.exit.is_some() {
                "exited after"
            } else {
                "still running after"
            };
            let why = format!(
                "{} {state} {}, expected to exit within {max} s",
                p.name(),
                human(lived)
            );
            out.push(finding(ctx, rule, i, rule.severity, why));
        }
    }
}

fn check_children(
    ctx: &HostCtx<'_>,
    rule: &Rule,
    parents: &[String],
    allowed: &[String],
    forbidden: &[String],
    out: &mut Vec<Finding>,
) {
    let procs = ctx.procs();
    for (pi, parent) in procs.iter().enumerate() {
        if !is_named(parent, parents) {
            continue;
        }
        for &c in ctx.children.get(pi).map(Vec::as_slice).unwrap_or(&[]) {
            let child = &procs[c];
            if child.origin != Origin::Logged {
                continue;
            }
            let Some(img) = child.info.image.as_deref() else {
                continue;
            };
            let not_allowed = !allowed.is_empty() && !any_image_matches(allowed, img);
            let banned = any_image_matches(forbidden, img);
            if not_allowed || banned {
                let why = format!("{} started {}", parent.name(), display_image(img));
                out.push(finding(ctx, rule, c, rule.severity, why));
            }
        }
    }
}

/// Build a finding about process `i`.
fn finding(
    ctx: &HostCtx<'_>,
    rule: &Rule,
    i: ProcIdx,
    severity: Severity,
    explanation: String,
) -> Finding {
    let procs = ctx.procs();
    let p = &procs[i];
    let boot = ctx.boot(p);
    let parent = ctx.parent(p).map(|(pp, _, _)| pp);
    let notes_in_boot = |k: &[NoteKind]| {
        ctx.host
            .notes
            .iter()
            .any(|n| n.boot == p.boot && k.contains(&n.kind))
    };
    // A process whose start is not logged is dated and evidenced by the record naming it.
    let witness = (p.origin != Origin::Logged)
        .then(|| ctx.witness(i))
        .flatten();
    let moment = witness.map(|w| w.time).or(p.start);
    let time = moment.unwrap_or(DateTime::<Utc>::MIN_UTC);
    let first = witness.map(|w| w.record).or(p.sources.first());
    let mut ancestry = forest::ancestry_text(procs, i, 32);
    if !ancestry.is_empty() {
        ancestry.push_str(" > ");
    }
    ancestry.push_str(p.name());
    Finding {
        rule: rule.id.clone(),
        severity,
        title: rule.title.clone(),
        technique: rule.technique.clone(),
        host: ctx.host.name.clone(),
        boot: boot.map_or(0, |b| b.number),
        boot_start: boot.and_then(|b| b.start),
        time,
        since_boot_s: boot
            .and_then(|b| b.start)
            .and_then(|bs| moment.map(|s| (s - bs).num_milliseconds() as f64 / 1000.0)),
        image: p.info.image.clone(),
        pid: p.info.pid,
        guid: p.info.guid.clone(),
        user: p.info.user.clone(),
        command_line: p.info.command_line.clone(),
        parent_image: parent.and_then(|pp| pp.info.image.clone()),
        parent_pid: p.info.parent_pid,
        parent_link: p.parent.state(),
        ancestry,
        evidence: match witness {
            Some(w) => vec![Evidence::of(w.record)],
            None => p
                .sources
                .iter()
                .chain(p.exit.iter())
                .map(Evidence::of)
                .collect(),
        },
        explanation,
        coverage: Coverage {
            boot_start_captured: boot.is_some_and(|b| b.captured),
            boot_processes_logged: boot.is_some_and(|b| b.processes_captured),
            parent_logged: parent.is_some_and(|pp| pp.origin == Origin::Logged),
            start_logged: p.origin == Origin::Logged,
            log_cleared_in_boot: notes_in_boot(&[NoteKind::LogCleared]),
            clock_changed_in_boot: notes_in_boot(&[NoteKind::TimeChanged, NoteKind::ClockWentBack]),
        },
        record_id: first.map_or(0, |s| s.record_id),
        file: first.map_or_else(String::new, |s| s.file.to_string()),
        process: i,
    }
}

/// Does an allowlist entry cover this finding?
fn allows(a: &Allow, f: &Finding, h: &History) -> bool {
    let opt = |pat: &Option<String>, value: Option<&str>| {
        pat.as_deref()
            .is_none_or(|p| value.is_some_and(|v| glob_match(p, v) || image_matches(p, v)))
    };
    let host_ok = a.host.as_deref().is_none_or(|pat| {
        h.hosts.iter().find(|x| x.name == f.host).is_some_and(|x| {
            x.aliases
                .iter()
                .chain(std::iter::once(&x.name))
                .any(|n| glob_match(pat, n))
        })
    });
    glob_match(&a.rule, &f.rule)
        && host_ok
        && opt(&a.image, f.image.as_deref())
        && opt(&a.parent, f.parent_image.as_deref())
        && a.command_line
            .as_deref()
            .is_none_or(|p| f.command_line.as_deref().is_some_and(|c| glob_match(p, c)))
}

fn display_image(img: &str) -> &str {
    img.trim()
}

/// `95 s`, `12 min`, `3.5 h`, `2.0 d`.
pub fn human(secs: i64) -> String {
    let s = secs.abs();
    let sign = if secs < 0 { "-" } else { "" };
    if s < 120 {
        format!("{sign}{s} s")
    } else if s < 7200 {
        format!("{sign}{} min", s / 60)
    } else if s < 172_800 {
        format!("{sign}{:.1} h", s as f64 / 3600.0)
    } else {
        format!("{sign}{:.1} d", s as f64 / 86_400.0)
    }
}
