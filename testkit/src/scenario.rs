//! The scenario language: a host's history in a few lines of text, written out as EVTX.
//!
//! ```text
//! host WIN10-A
//! sources sysmon,security-v2
//! boot 2024-03-01T08:00:00Z
//! +2h  cmd.exe pid 4321 <- explorer.exe user WIN10-A\alice cmd "cmd.exe /c whoami"
//! +2h  lsass.exe <- cmd.exe image C:\Users\Public\lsass.exe
//! +3h  exit cmd.exe
//! +4h  shutdown
//! boot +10m
//! ```
//!
//! Each line is `[TIME] ACTION ...`; `TIME` is an RFC 3339 UTC time or `+DURATION` after the
//! previous step (`1d`, `2h`, `10m`, `30s`, `250ms`, combined as `1h30m`). The full
//! reference is `docs/testkit.md`.

use crate::error::{ModelError, ScenarioError};
use crate::events::Channel;
use crate::host::{Audit, Host, Initiator, Integrity, Sources, Spawn, TruthProcess};
use crate::logset::{LogSet, TaggedRecord};
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;
use std::path::Path;

/// When a step happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// At the previous step's time.
    Same,
    After(Duration),
    At(DateTime<Utc>),
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Boot,
    /// `tag` marks the start's records so [`Written::tagged`] gives their record ids.
    Start {
        parent: String,
        spawn: Spawn,
        tag: Option<u32>,
    },
    Exit {
        target: String,
        status: u32,
    },
    Logon {
        user: String,
        remote: bool,
    },
    Logoff {
        user: String,
    },
    /// A clean shutdown; with an initiator, a User32 1074 ("power off") comes first.
    Shutdown(Option<Initiator>),
    /// User32 1074 ("restart"), the clean shutdown 5 s later, the next boot 60 s later.
    Restart(Initiator),
    Crash,
    /// The clock moves; with a process, it did it and Security logs 4616.
    Clock {
        delta: Duration,
        by: Option<String>,
    },
    Clear {
        channel: Channel,
        by: String,
    },
    SysmonConfig(String),
    Audit {
        what: Audit,
        on: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub line: usize,
    pub when: When,
    pub action: Action,
}

/// A parsed scenario: one host, its logging sources, a seed, and the steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    pub host: String,
    pub sources: Sources,
    pub seed: u64,
    pub steps: Vec<Step>,
}

/// What writing a scenario produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Records in each file (after the last clear).
    pub counts: BTreeMap<Channel, u64>,
    /// Every process started, with its true parent.
    pub processes: Vec<TruthProcess>,
    /// The records of starts marked `tag N`, in the order written.
    pub tagged: Vec<TaggedRecord>,
}

fn syntax(line: usize, message: impl Into<String>) -> ScenarioError {
    ScenarioError::Syntax {
        line,
        message: message.into(),
    }
}

impl Scenario {
    /// Parses a scenario. Configuration lines (`host`, `sources`, `seed`) apply to the whole
    /// scenario wherever they appear.
    pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        let mut sc = Scenario {
            host: "WIN10-A".to_string(),
            sources: Sources::default(),
            seed: 0,
            steps: Vec::new(),
        };
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let tokens = tokenize(raw).map_err(|m| syntax(line, m))?;
            if tokens.is_empty() {
                continue;
            }
            sc.parse_line(line, &tokens)?;
        }
        Ok(sc)
    }

    fn parse_line(&mut self, line: usize, tokens: &[String]) -> Result<(), ScenarioError> {
        let first = tokens[0].as_str();
        let rest = &tokens[1..];
        match first {
            "host" => self.host = one_arg(line, rest)?.to_string(),
            "seed" => {
                let s = one_arg(line, rest)?;
                self.seed = s
                    .parse()
                    .map_err(|_| syntax(line, format!("bad seed {s:?}")))?;
            }
            "sources" => self.sources = parse_sources(line, one_arg(line, rest)?)?,
            _ => {
                let (when, rest) = match parse_when(first) {
                    Some(w) => (w, rest),
                    None => (When::Same, tokens),
                };
                let (when, action) = parse_action(line, when, rest)?;
                self.steps.push(Step { line, when, action });
            }
        }
        Ok(())
    }

    /// Runs the steps on a new host and returns it with its events queued.
    pub fn run(&self) -> Result<Host, ScenarioError> {
        let mut host = Host::new(&self.host, self.sources, self.seed);
        host.record_truth();
        let mut now: Option<DateTime<Utc>> = None;
        for step in &self.steps {
            let at = match (step.when, now) {
                (When::At(t), _) => t,
                (When::After(d), Some(t)) => t + d,
                (When::Same, Some(t)) => t,
                (_, None) => {
                    let m = "the first step needs an absolute time (2024-03-01T08:00:00Z)";
                    return Err(syntax(step.line, m));
                }
            };
            now = Some(at);
            apply(&mut host, at, &step.action).map_err(|e| ScenarioError::Model {
                line: step.line,
                message: e.to_string(),
            })?;
        }
        Ok(host)
    }

    /// Runs the scenario and writes one EVTX file per channel into `dir`.
    pub fn write(&self, dir: &Path) -> Result<Written, ScenarioError> {
        let mut host = self.run()?;
        let mut logs = LogSet::create(dir, &channels(self.sources))?;
        logs.write(&host.drain(None))?;
        let counts = logs.counts.clone();
        let tagged = std::mem::take(&mut logs.tagged);
        logs.finish()?;
        Ok(Written {
            counts,
            processes: host.take_truth(),
            tagged,
        })
    }
}

/// The logs a host with these sources keeps.
pub fn channels(sources: Sources) -> Vec<Channel> {
    let mut out = vec![Channel::System];
    if sources.sysmon {
        out.push(Channel::Sysmon);
    }
    if sources.security.is_some() {
        out.push(Channel::Security);
    }
    out
}

fn apply(host: &mut Host, at: DateTime<Utc>, action: &Action) -> Result<(), ModelError> {
    match action {
        Action::Boot => host.boot(at)?,
        Action::Start { parent, spawn, tag } => {
            let parent = host.find(parent)?;
            let before = host.tag();
            host.set_tag(tag.or(before));
            let started = host.spawn(at, parent, spawn.clone());
            host.set_tag(before);
            started?;
        }
        Action::Audit { what, on } => host.audit(*what, *on),
        Action::Exit { target, status } => {
            let pid = host.find(target)?;
            host.exit(at, pid, *status)?;
        }
        Action::Logon { user, remote } => {
            host.logon(at, user, *remote)?;
        }
        Action::Logoff { user } => host.logoff(at, user)?,
        Action::Shutdown(initiator) => {
            if let Some(who) = initiator {
                host.request_shutdown(at, false, who)?;
            }
            host.shutdown(at + Duration::seconds(i64::from(initiator.is_some()) * 5))?;
        }
        Action::Restart(who) => {
            host.request_shutdown(at, true, who)?;
            host.shutdown(at + Duration::seconds(5))?;
            host.boot(at + Duration::seconds(60))?;
        }
        Action::Crash => host.crash(at),
        Action::Clock { delta, by: None } => host.clock_jump(*delta),
        Action::Clock {
            delta,
            by: Some(process),
        } => {
            let pid = host.find(process)?;
            host.set_clock(at, *delta, pid)?;
        }
        Action::Clear { channel, by } => host.clear_log(at, *channel, by),
        Action::SysmonConfig(path) => host.sysmon_config(at, path),
    }
    Ok(())
}

fn one_arg(line: usize, rest: &[String]) -> Result<&str, ScenarioError> {
    match rest {
        [one] => Ok(one),
        _ => Err(syntax(line, "expected exactly one argument")),
    }
}

fn parse_sources(line: usize, list: &str) -> Result<Sources, ScenarioError> {
    list.parse().map_err(|m| syntax(line, m))
}

/// `+DURATION` or an RFC 3339 time; `None` for anything else.
fn parse_when(token: &str) -> Option<When> {
    if let Some(d) = token.strip_prefix('+') {
        return parse_duration(d).map(When::After);
    }
    let t = token.strip_prefix('@').unwrap_or(token);
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| When::At(t.with_timezone(&Utc)))
}

/// `1d2h30m15s250ms`: numbers with units d, h, m, s, ms; at least one.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut total = Duration::zero();
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let n: i64 = rest.get(..digits)?.parse().ok()?;
        rest = rest.get(digits..)?;
        let (unit, len) = match rest {
            r if r.starts_with("ms") => (Duration::try_milliseconds(n)?, 2),
            r if r.starts_with('d') => (Duration::try_days(n)?, 1),
            r if r.starts_with('h') => (Duration::try_hours(n)?, 1),
            r if r.starts_with('m') => (Duration::try_minutes(n)?, 1),
            r if r.starts_with('s') => (Duration::try_seconds(n)?, 1),
            _ => return None,
        };
        total = total.checked_add(&unit)?;
        rest = rest.get(len..)?;
    }
    Some(total)
}

/// Splits a line into words; `"..."` groups words (no escapes: Windows paths keep their
/// backslashes); `#` outside quotes starts a comment.
fn tokenize(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '#' {
            break;
        } else if c == '"' {
            chars.next();
            let mut word = String::new();
            let mut closed = false;
            for c in chars.by_ref() {
                if c == '"' {
                    closed = true;
                    break;
                }
                word.push(c);
            }
            if !closed {
                return Err("unterminated quote".to_string());
            }
            out.push(word);
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
            out.push(word);
        }
    }
    Ok(out)
}

/// The action words after the time. `boot` may carry its time after the word.
fn parse_action(
    line: usize,
    when: When,
    words: &[String],
) -> Result<(When, Action), ScenarioError> {
    let Some(verb) = words.first() else {
        return Err(syntax(line, "a time needs an action after it"));
    };
    let args = &words[1..];
    let user_arg = || one_arg(line, args).map(str::to_string);
    let action = match verb.as_str() {
        "boot" => return parse_boot(line, when, args),
        "shutdown" => Action::Shutdown(parse_initiator(line, "shutdown", args)?),
        "restart" => Action::Restart(
            parse_initiator(line, "restart", args)?.unwrap_or(Initiator::LogonScreen),
        ),
        "crash" if args.is_empty() => Action::Crash,
        "logon" => Action::Logon {
            user: user_arg()?,
            remote: false,
        },
        "rdp" => Action::Logon {
            user: user_arg()?,
            remote: true,
        },
        "logoff" => Action::Logoff { user: user_arg()? },
        "exit" => parse_exit(line, args)?,
        "clock" => parse_clock(line, args)?,
        "clear" => parse_clear(line, args)?,
        "sysmon-config" => Action::SysmonConfig(user_arg()?),
        "audit" => parse_audit(line, args)?,
        "start" => parse_start(line, args)?,
        _ if words.iter().any(|w| w == "<-") => parse_start(line, words)?,
        other => return Err(syntax(line, format!("unknown action {other:?}"))),
    };
    Ok((when, action))
}

fn parse_boot(line: usize, when: When, args: &[String]) -> Result<(When, Action), ScenarioError> {
    match args {
        [] => Ok((when, Action::Boot)),
        [t] if when == When::Same => match parse_when(t) {
            Some(w) => Ok((w, Action::Boot)),
            None => Err(syntax(line, format!("bad boot time {t:?}"))),
        },
        _ => Err(syntax(
            line,
            "boot takes one time, before or after the word",
        )),
    }
}

fn parse_exit(line: usize, args: &[String]) -> Result<Action, ScenarioError> {
    let (target, status) = match args {
        [t] => (t, 0),
        [t, k, v] if k == "status" => {
            let hex = v.trim_start_matches("0x");
            let n = u32::from_str_radix(hex, 16)
                .map_err(|_| syntax(line, format!("bad exit status {v:?} (hex)")))?;
            (t, n)
        }
        _ => return Err(syntax(line, "exit PROCESS [status HEX]")),
    };
    Ok(Action::Exit {
        target: target.clone(),
        status,
    })
}

/// `[by USER|SYSTEM|update]` after `shutdown` or `restart`.
fn parse_initiator(
    line: usize,
    verb: &str,
    args: &[String],
) -> Result<Option<Initiator>, ScenarioError> {
    match args {
        [] => Ok(None),
        [k, who] if k == "by" => Ok(Some(match who.to_ascii_lowercase().as_str() {
            "update" => Initiator::Update,
            "system" => Initiator::LogonScreen,
            _ => Initiator::User(who.clone()),
        })),
        _ => Err(syntax(line, format!("{verb} [by USER|SYSTEM|update]"))),
    }
}

fn parse_clock(line: usize, args: &[String]) -> Result<Action, ScenarioError> {
    let usage = || syntax(line, "clock +DURATION|-DURATION [by PROCESS]");
    let (arg, by) = match args {
        [d] => (d, None),
        [d, k, p] if k == "by" => (d, Some(p.clone())),
        _ => return Err(usage()),
    };
    let (sign, d) = match arg.split_at_checked(1) {
        Some(("+", d)) => (1, d),
        Some(("-", d)) => (-1, d),
        _ => return Err(usage()),
    };
    let d = parse_duration(d).ok_or_else(|| syntax(line, format!("bad duration {arg:?}")))?;
    let delta = if sign < 0 { -d } else { d };
    Ok(Action::Clock { delta, by })
}

fn parse_clear(line: usize, args: &[String]) -> Result<Action, ScenarioError> {
    let (name, by) = match args {
        [c] => (c, "SYSTEM".to_string()),
        [c, k, u] if k == "by" => (c, u.clone()),
        _ => return Err(syntax(line, "clear security|system|sysmon [by USER]")),
    };
    let channel = match name.to_ascii_lowercase().as_str() {
        "security" => Channel::Security,
        "system" => Channel::System,
        "sysmon" => Channel::Sysmon,
        _ => return Err(syntax(line, format!("unknown log {name:?}"))),
    };
    Ok(Action::Clear { channel, by })
}

/// `audit creation|termination on|off`.
fn parse_audit(line: usize, args: &[String]) -> Result<Action, ScenarioError> {
    let usage = || syntax(line, "audit creation|termination on|off");
    let [what, on] = args else {
        return Err(usage());
    };
    let what = match what.as_str() {
        "creation" => Audit::Creation,
        "termination" => Audit::Termination,
        _ => return Err(usage()),
    };
    let on = match on.as_str() {
        "on" => true,
        "off" => false,
        _ => return Err(usage()),
    };
    Ok(Action::Audit { what, on })
}

/// `NAME [pid N] <- PARENT [image P] [user U] [cmd C] [cwd D] [integrity L] [session N]
/// [original NAME] [tag N]`, options in any order before or after the arrow.
fn parse_start(line: usize, words: &[String]) -> Result<Action, ScenarioError> {
    let Some(name) = words.first() else {
        return Err(syntax(line, "start NAME <- PARENT"));
    };
    let mut spawn = Spawn::new(name);
    let mut parent = None;
    let mut tag = None;
    let mut rest = words[1..].iter();
    while let Some(key) = rest.next() {
        let Some(value) = rest.next() else {
            return Err(syntax(line, format!("{key:?} needs a value")));
        };
        if key == "tag" {
            let n = value.parse::<u32>();
            tag = Some(n.map_err(|_| syntax(line, format!("tag wants a number, not {value:?}")))?);
            continue;
        }
        set_option(line, &mut spawn, &mut parent, key, value)?;
    }
    let parent = parent.ok_or_else(|| syntax(line, "a process needs a parent: <- PARENT"))?;
    Ok(Action::Start { parent, spawn, tag })
}

fn set_option(
    line: usize,
    spawn: &mut Spawn,
    parent: &mut Option<String>,
    key: &str,
    value: &str,
) -> Result<(), ScenarioError> {
    let number = |v: &str| {
        v.parse::<u32>()
            .map_err(|_| syntax(line, format!("{key} wants a number, not {v:?}")))
    };
    match key {
        "<-" => *parent = Some(value.to_string()),
        "pid" => spawn.pid = Some(number(value)?),
        "session" => spawn.session = Some(number(value)?),
        "image" => spawn.image = value.to_string(),
        "user" => spawn.user = Some(value.to_string()),
        "cmd" => spawn.command_line = Some(value.to_string()),
        "cwd" => spawn.cwd = Some(value.to_string()),
        "original" => spawn.original_file_name = Some(value.to_string()),
        "integrity" => {
            let level = Integrity::parse(value).ok_or_else(|| {
                syntax(line, format!("integrity {value:?}: Low|Medium|High|System"))
            })?;
            spawn.integrity = Some(level);
        }
        other => return Err(syntax(line, format!("unknown option {other:?}"))),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::SecurityVersion;

    #[test]
    fn durations_combine_units() {
        assert_eq!(parse_duration("1h30m"), Some(Duration::minutes(90)));
        assert_eq!(parse_duration("2d"), Some(Duration::days(2)));
        assert_eq!(parse_duration("250ms"), Some(Duration::milliseconds(250)));
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration("99999999999999999999d"), None);
    }

    #[test]
    fn quotes_keep_backslashes_and_hashes() {
        let words = tokenize(r#"+1m cmd.exe <- explorer.exe cmd "C:\a b\c.exe #1" # note"#);
        let words = words.unwrap();
        assert_eq!(words.last().map(String::as_str), Some(r"C:\a b\c.exe #1"));
        assert!(tokenize(r#"x "open"#).is_err());
    }

    #[test]
    fn errors_name_their_line() {
        let err = Scenario::parse("host A\nboot 2024-03-01T08:00:00Z\n+1h frobnicate\n");
        assert!(matches!(err, Err(ScenarioError::Syntax { line: 3, .. })));
        let sc = Scenario::parse("boot 2024-03-01T08:00:00Z\n+1h exit nosuch.exe\n").unwrap();
        assert!(matches!(
            sc.run(),
            Err(ScenarioError::Model { line: 2, .. })
        ));
        let sc = Scenario::parse("+1h boot\n").unwrap();
        assert!(matches!(
            sc.run(),
            Err(ScenarioError::Syntax { line: 1, .. })
        ));
    }

    #[test]
    fn a_process_line_reads_its_options() {
        let sc = Scenario::parse(
            "sources security-v1\nboot 2024-03-01T08:00:00Z\n\
             +1h lsass.exe pid 4321 <- cmd.exe image C:\\Users\\Public\\lsass.exe user X\\a \
             integrity High session 2\n",
        )
        .unwrap();
        assert_eq!(sc.sources.security, Some(SecurityVersion::V1));
        assert!(!sc.sources.sysmon);
        let Action::Start { parent, spawn, .. } = &sc.steps[1].action else {
            panic!("not a start: {:?}", sc.steps[1]);
        };
        assert_eq!(parent, "cmd.exe");
        assert_eq!(spawn.pid, Some(4321));
        assert_eq!(spawn.image, "C:\\Users\\Public\\lsass.exe");
        assert_eq!(spawn.integrity, Some(Integrity::High));
        assert_eq!(spawn.session, Some(2));
    }

    #[test]
    fn tags_give_record_ids_and_audit_switches_logging() {
        let dir = std::env::temp_dir().join(format!("testkit-tag-{}", std::process::id()));
        let sc = Scenario::parse(
            "2024-03-01T07:59:00Z audit termination off\nboot 2024-03-01T08:00:00Z\n\
             +1m logon alice\n+1m audit creation off\n+1m a.exe <- explorer.exe\n\
             +1m audit creation on\n+1m b.exe <- explorer.exe tag 7\n+1m exit b.exe\n",
        )
        .unwrap();
        let written = sc.write(&dir).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let mut tagged: Vec<(Channel, u32)> =
            written.tagged.iter().map(|t| (t.channel, t.tag)).collect();
        tagged.sort();
        let mut want = [(Channel::Sysmon, 7), (Channel::Security, 7)];
        want.sort();
        assert_eq!(tagged, want);
        assert!(written.tagged.iter().all(|t| t.record_id > 1));
        // No exit was logged, and a.exe's start was not: b.exe is the last record.
        let sysmon = written.counts[&Channel::Sysmon];
        let b = written.tagged.iter().find(|t| t.channel == Channel::Sysmon);
        assert_eq!(b.map(|t| t.record_id), Some(sysmon));
        assert!(matches!(
            Scenario::parse("audit creation maybe"),
            Err(ScenarioError::Syntax { line: 1, .. })
        ));
    }

    #[test]
    fn shutdown_requests_and_logged_clock_changes_parse() {
        let sc = Scenario::parse(
            "boot 2024-03-01T08:00:00Z\n+1h clock -250ms by svchost.exe\n\
             +1h restart by CORP\\bob\n+1h shutdown by update\nboot +1h\n\
             +1h restart\n+1h shutdown by SYSTEM\n",
        )
        .unwrap();
        let actions: Vec<&Action> = sc.steps.iter().map(|s| &s.action).collect();
        assert_eq!(
            actions[1],
            &Action::Clock {
                delta: -Duration::milliseconds(250),
                by: Some("svchost.exe".into())
            }
        );
        assert_eq!(
            actions[2],
            &Action::Restart(Initiator::User("CORP\\bob".into()))
        );
        assert_eq!(actions[3], &Action::Shutdown(Some(Initiator::Update)));
        assert_eq!(actions[5], &Action::Restart(Initiator::LogonScreen));
        assert_eq!(actions[6], &Action::Shutdown(Some(Initiator::LogonScreen)));
        let host = sc.run().unwrap();
        assert_eq!(host.boots(), 4, "each restart booted again");
        assert!(matches!(
            Scenario::parse("+1h restart now"),
            Err(ScenarioError::Syntax { line: 1, .. })
        ));
        assert!(matches!(
            Scenario::parse("+1h clock -1h by"),
            Err(ScenarioError::Syntax { line: 1, .. })
        ));
        let sc = Scenario::parse("boot 2024-03-01T08:00:00Z\n+1h clock +1s by nosuch.exe\n");
        assert!(matches!(
            sc.unwrap().run(),
            Err(ScenarioError::Model { line: 2, .. })
        ));
    }

    #[test]
    fn explicit_pids_force_reuse_and_reject_live_ones() {
        let sc = Scenario::parse(
            "boot 2024-03-01T08:00:00Z\n+1m logon alice\n\
             +1m a.exe pid 1000 <- explorer.exe\n+1m b.exe pid 1000 <- explorer.exe\n",
        )
        .unwrap();
        assert!(matches!(
            sc.run(),
            Err(ScenarioError::Model { line: 4, .. })
        ));
        let sc = Scenario::parse(
            "boot 2024-03-01T08:00:00Z\n+1m logon alice\n+1m a.exe pid 1000 <- explorer.exe\n\
             +1m exit 1000\n+1m b.exe pid 1000 <- explorer.exe\n",
        )
        .unwrap();
        let host = sc.run().unwrap();
        assert_eq!(
            host.process(1000).map(|p| p.name()),
            Some("b.exe".to_string())
        );
    }
}
