//! The baseline as data: rule files (TOML) and allowlists.
//!
//! The default rules are `queries/baseline/*.toml`, embedded at build time. `--baseline PATH`
//! adds files (or every `.toml` in a folder): a rule with a new id is added, a rule with an
//! existing id replaces it (`enabled = false` turns it off), and `[[allow]]` entries are
//! added. Unknown keys and bad values are errors that name the file and line, because a typo
//! in an allowlist silently allowing nothing (or everything) is worse than stopping.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// The default rule files, embedded so the binary needs nothing beside it.
const DEFAULTS: &[(&str, &str)] = &[(
    "queries/baseline/core.toml",
    include_str!("../../queries/baseline/core.toml"),
)];

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
    /// One step less severe (for findings whose evidence is weaker than the rule assumes).
    pub fn lower(self) -> Severity {
        match self {
            Severity::Critical => Severity::High,
            Severity::High => Severity::Medium,
            Severity::Medium => Severity::Low,
            Severity::Low | Severity::Info => Severity::Info,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "info" => Ok(Severity::Info),
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            _ => Err(format!(
                "unknown severity {s:?} (info, low, medium, high, critical)"
            )),
        }
    }
}

/// What a rule checks, with its parameters.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Check {
    /// The logged parent of `processes` must be one of `parents` (or match `benign_parents`).
    Parent {
        processes: Vec<String>,
        parents: Vec<String>,
        benign_parents: Vec<String>,
    },
    /// For `processes` whose logged parent is one of `parents`, that parent's own logged
    /// parent must be one of `grandparents` (or match `benign_grandparents`). A correct parent
    /// with a wrong grandparent is a copy of the parent made to look right one level up.
    Grandparent {
        processes: Vec<String>,
        parents: Vec<String>,
        grandparents: Vec<String>,
        benign_grandparents: Vec<String>,
    },
    /// The image of `processes` must be in one of `directories` (patterns allowed).
    Path {
        processes: Vec<String>,
        directories: Vec<String>,
    },
    /// A name that looks like one of `processes` without being it.
    Lookalike {
        processes: Vec<String>,
        known_good: Vec<String>,
    },
    /// Sysmon's OriginalFileName must match the image name.
    OriginalName { processes: Vec<String> },
    /// The account must be of one of these classes: system, local_service, network_service,
    /// person.
    User {
        processes: Vec<String>,
        users: Vec<UserClass>,
    },
    /// The mandatory integrity level (Sysmon `IntegrityLevel`, else 4688 v2 `MandatoryLabel`)
    /// must be one of `levels`; `users`, when given, narrows the check to those accounts
    /// (the level a process needs depends on whose it is).
    Integrity {
        processes: Vec<String>,
        levels: Vec<IntegrityLevel>,
        users: Vec<UserClass>,
    },
    /// The terminal session must be one of these.
    Session {
        processes: Vec<String>,
        sessions: Vec<u32>,
    },
    /// At most `max_alive` of `processes` (together) alive at once in one boot.
    Instances {
        processes: Vec<String>,
        max_alive: u32,
    },
    /// Started at most `max_seconds` after the boot started (when the boot start is known).
    StartAfterBoot {
        processes: Vec<String>,
        max_seconds: u64,
    },
    /// Started at most `max_seconds` after its parent (the session's smss.exe); `parents`
    /// narrows which parents the time is measured from.
    StartAfterParent {
        processes: Vec<String>,
        parents: Vec<String>,
        max_seconds: u64,
    },
    /// Must exit within `max_seconds` (when exits are logged); `parents` narrows which
    /// instances (per-session smss.exe are those started by smss.exe).
    MustExit {
        processes: Vec<String>,
        parents: Vec<String>,
        max_seconds: u64,
    },
    /// The command line must match one of `patterns`.
    CommandLine {
        processes: Vec<String>,
        patterns: Vec<String>,
        benign_parents: Vec<String>,
    },
    /// Children of `parents`: only `allowed` ones (when given), never `forbidden` ones.
    Children {
        parents: Vec<String>,
        allowed: Vec<String>,
        forbidden: Vec<String>,
    },
}

/// Account classes, by well-known SID or name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UserClass {
    System,
    LocalService,
    NetworkService,
    Person,
}

impl UserClass {
    pub fn as_str(self) -> &'static str {
        match self {
            UserClass::System => "SYSTEM",
            UserClass::LocalService => "LOCAL SERVICE",
            UserClass::NetworkService => "NETWORK SERVICE",
            UserClass::Person => "a person's account",
        }
    }
}

/// Mandatory integrity levels, lowest first (the RIDs of the `S-1-16-N` label SIDs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrityLevel {
    /// S-1-16-0.
    Untrusted,
    /// S-1-16-4096; also AppContainer processes.
    Low,
    /// S-1-16-8192: a person's standard (filtered) token.
    Medium,
    /// S-1-16-8448.
    MediumPlus,
    /// S-1-16-12288: an elevated administrator.
    High,
    /// S-1-16-16384: services and the core processes.
    System,
    /// S-1-16-20480.
    Protected,
}

impl IntegrityLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            IntegrityLevel::Untrusted => "Untrusted",
            IntegrityLevel::Low => "Low",
            IntegrityLevel::Medium => "Medium",
            IntegrityLevel::MediumPlus => "MediumPlus",
            IntegrityLevel::High => "High",
            IntegrityLevel::System => "System",
            IntegrityLevel::Protected => "Protected",
        }
    }
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub technique: String,
    pub description: String,
    pub enabled: bool,
    pub check: Check,
    /// The file the rule came from.
    pub source: String,
}

/// A rule as written: every parameter of every kind is known here, so a misspelt key is an
/// error with its line (serde cannot deny unknown keys through a flattened, tagged enum).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    title: String,
    severity: Severity,
    technique: String,
    description: String,
    enabled: Option<bool>,
    kind: Kind,
    processes: Option<Vec<String>>,
    parents: Option<Vec<String>>,
    benign_parents: Option<Vec<String>>,
    grandparents: Option<Vec<String>>,
    benign_grandparents: Option<Vec<String>>,
    directories: Option<Vec<String>>,
    known_good: Option<Vec<String>>,
    users: Option<Vec<UserClass>>,
    levels: Option<Vec<IntegrityLevel>>,
    sessions: Option<Vec<u32>>,
    max_alive: Option<u32>,
    max_seconds: Option<u64>,
    patterns: Option<Vec<String>>,
    allowed: Option<Vec<String>>,
    forbidden: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Parent,
    Grandparent,
    Path,
    Lookalike,
    OriginalName,
    User,
    Integrity,
    Session,
    Instances,
    StartAfterBoot,
    StartAfterParent,
    MustExit,
    CommandLine,
    Children,
}

impl RawRule {
    /// The check of its kind; a parameter the kind does not use, or a missing one, is named.
    fn check(&mut self) -> Result<Check, String> {
        let kind = self.kind;
        let take = |name: &str, v: &mut Option<Vec<String>>| {
            v.take()
                .ok_or_else(|| format!("a {kind:?} rule needs `{name}`"))
        };
        let check = match kind {
            Kind::Parent => Check::Parent {
                processes: take("processes", &mut self.processes)?,
                parents: take("parents", &mut self.parents)?,
                benign_parents: self.benign_parents.take().unwrap_or_default(),
            },
            Kind::Grandparent => Check::Grandparent {
                processes: take("processes", &mut self.processes)?,
                parents: take("parents", &mut self.parents)?,
                grandparents: take("grandparents", &mut self.grandparents)?,
                benign_grandparents: self.benign_grandparents.take().unwrap_or_default(),
            },
            Kind::Path => Check::Path {
                processes: take("processes", &mut self.processes)?,
                directories: take("directories", &mut self.directories)?,
            },
            Kind::Lookalike => Check::Lookalike {
                processes: take("processes", &mut self.processes)?,
                known_good: self.known_good.take().unwrap_or_default(),
            },
            Kind::OriginalName => Check::OriginalName {
                processes: take("processes", &mut self.processes)?,
            },
            Kind::User => Check::User {
                processes: take("processes", &mut self.processes)?,
                users: self.users.take().ok_or("a User rule needs `users`")?,
            },
            Kind::Integrity => Check::Integrity {
                processes: take("processes", &mut self.processes)?,
                levels: self
                    .levels
                    .take()
                    .ok_or("an Integrity rule needs `levels`")?,
                users: self.users.take().unwrap_or_default(),
            },
            Kind::Session => Check::Session {
                processes: take("processes", &mut self.processes)?,
                sessions: self
                    .sessions
                    .take()
                    .ok_or("a Session rule needs `sessions`")?,
            },
            Kind::Instances => Check::Instances {
                processes: take("processes", &mut self.processes)?,
                max_alive: self
                    .max_alive
                    .take()
                    .ok_or("an Instances rule needs `max_alive`")?,
            },
            Kind::StartAfterBoot => Check::StartAfterBoot {
                processes: take("processes", &mut self.processes)?,
                max_seconds: self.max_seconds.take().ok_or("needs `max_seconds`")?,
            },
            Kind::StartAfterParent => Check::StartAfterParent {
                processes: take("processes", &mut self.processes)?,
                parents: self.parents.take().unwrap_or_default(),
                max_seconds: self.max_seconds.take().ok_or("needs `max_seconds`")?,
            },
            Kind::MustExit => Check::MustExit {
                processes: take("processes", &mut self.processes)?,
                parents: self.parents.take().unwrap_or_default(),
                max_seconds: self.max_seconds.take().ok_or("needs `max_seconds`")?,
            },
            Kind::CommandLine => Check::CommandLine {
                processes: take("processes", &mut self.processes)?,
                patterns: take("patterns", &mut self.patterns)?,
                benign_parents: self.benign_parents.take().unwrap_or_default(),
            },
            Kind::Children => Check::Children {
                parents: take("parents", &mut self.parents)?,
                allowed: self.allowed.take().unwrap_or_default(),
                forbidden: self.forbidden.take().unwrap_or_default(),
            },
        };
        self.unused().map_or(Ok(check), |k| {
            Err(format!("`{k}` is not a parameter of a {kind:?} rule"))
        })
    }

    /// The first parameter left over after the kind took its own.
    fn unused(&self) -> Option<&'static str> {
        [
            ("processes", self.processes.is_some()),
            ("parents", self.parents.is_some()),
            ("benign_parents", self.benign_parents.is_some()),
            ("grandparents", self.grandparents.is_some()),
            ("benign_grandparents", self.benign_grandparents.is_some()),
            ("directories", self.directories.is_some()),
            ("known_good", self.known_good.is_some()),
            ("users", self.users.is_some()),
            ("levels", self.levels.is_some()),
            ("sessions", self.sessions.is_some()),
            ("max_alive", self.max_alive.is_some()),
            ("max_seconds", self.max_seconds.is_some()),
            ("patterns", self.patterns.is_some()),
            ("allowed", self.allowed.is_some()),
            ("forbidden", self.forbidden.is_some()),
        ]
        .into_iter()
        .find(|(_, set)| *set)
        .map(|(k, _)| k)
    }
}

/// A finding that is expected on some machines and should not be reported. Every given
/// field must match; patterns use `*` and `?`, without case.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Allow {
    /// A rule id or pattern (`*` for every rule).
    pub rule: String,
    pub host: Option<String>,
    pub image: Option<String>,
    pub parent: Option<String>,
    pub command_line: Option<String>,
    /// Why it is allowed (shown by `lineage rules`).
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    rule: Vec<RawRule>,
    #[serde(default)]
    allow: Vec<Allow>,
}

/// One parsed rule file.
#[derive(Debug)]
pub struct RuleFile {
    rule: Vec<Rule>,
    allow: Vec<Allow>,
}

/// The rules and allowlist in effect.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    pub rules: Vec<Rule>,
    pub allow: Vec<Allow>,
}

/// A rule file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}: {message}")]
    Invalid {
        file: String,
        line: usize,
        message: String,
    },
    #[error("{file}: rule {id:?} is defined twice in this file")]
    Duplicate { file: String, id: String },
}

impl Baseline {
    /// The embedded defaults.
    pub fn defaults() -> Result<Baseline, RuleError> {
        let mut b = Baseline::default();
        for (name, text) in DEFAULTS {
            b.merge(parse(name, text)?);
        }
        Ok(b)
    }

    /// The defaults, then each of `paths` (files or folders of `.toml` files) in order.
    pub fn load(paths: &[PathBuf]) -> Result<Baseline, RuleError> {
        let mut b = Baseline::defaults()?;
        for p in paths {
            for file in toml_files(p)? {
                let name = file.display().to_string();
                let text = std::fs::read_to_string(&file).map_err(|source| RuleError::Read {
                    file: name.clone(),
                    source,
                })?;
                b.merge(parse(&name, &text)?);
            }
        }
        Ok(b)
    }

    fn merge(&mut self, f: RuleFile) {
        for r in f.rule {
            match self.rules.iter_mut().find(|x| x.id == r.id) {
                Some(existing) => *existing = r,
                None => self.rules.push(r),
            }
        }
        self.allow.extend(f.allow);
    }

    /// The rules that run.
    pub fn enabled(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().filter(|r| r.enabled)
    }
}

fn toml_files(p: &Path) -> Result<Vec<PathBuf>, RuleError> {
    let read_err = |source| RuleError::Read {
        file: p.display().to_string(),
        source,
    };
    let meta = std::fs::metadata(p).map_err(read_err)?;
    if !meta.is_dir() {
        return Ok(vec![p.to_path_buf()]);
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(p)
        .map_err(read_err)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|f| f.extension().is_some_and(|x| x == "toml") && f.is_file())
        .collect();
    out.sort();
    Ok(out)
}

/// Parse one rule file; errors name the file and the line.
pub fn parse(file: &str, text: &str) -> Result<RuleFile, RuleError> {
    let parsed: RawFile = toml::from_str(text).map_err(|e| RuleError::Invalid {
        file: file.to_string(),
        line: e.span().map_or(0, |s| line_at(text, s.start)),
        message: e.message().trim().to_string(),
    })?;
    let mut seen = std::collections::HashSet::new();
    let mut rules = Vec::with_capacity(parsed.rule.len());
    for mut raw in parsed.rule {
        if !seen.insert(raw.id.clone()) {
            return Err(RuleError::Duplicate {
                file: file.to_string(),
                id: raw.id,
            });
        }
        let check = raw.check().map_err(|message| RuleError::Invalid {
            file: file.to_string(),
            line: line_of(text, &format!("\"{}\"", raw.id)),
            message: format!("rule {:?}: {message}", raw.id),
        })?;
        let r = Rule {
            id: raw.id,
            title: raw.title,
            severity: raw.severity,
            technique: raw.technique,
            description: raw.description,
            enabled: raw.enabled.unwrap_or(true),
            check,
            source: file.to_string(),
        };
        validate(file, text, &r)?;
        rules.push(r);
    }
    Ok(RuleFile {
        rule: rules,
        allow: parsed.allow,
    })
}

/// Values serde accepts but that make no sense.
fn validate(file: &str, text: &str, r: &Rule) -> Result<(), RuleError> {
    let bad = |message: String| RuleError::Invalid {
        file: file.to_string(),
        line: line_of(text, &format!("\"{}\"", r.id)),
        message,
    };
    if r.id.trim().is_empty() || r.id.chars().any(char::is_whitespace) {
        return Err(bad(format!("rule id {:?} must be one word", r.id)));
    }
    let empty = match &r.check {
        Check::Parent {
            processes, parents, ..
        } => processes.is_empty() || parents.is_empty(),
        Check::Grandparent {
            processes,
            parents,
            grandparents,
            ..
        } => processes.is_empty() || parents.is_empty() || grandparents.is_empty(),
        Check::Path {
            processes,
            directories,
        } => processes.is_empty() || directories.is_empty(),
        Check::Children {
            parents,
            allowed,
            forbidden,
        } => parents.is_empty() || (allowed.is_empty() && forbidden.is_empty()),
        Check::CommandLine {
            processes,
            patterns,
            ..
        } => processes.is_empty() || patterns.is_empty(),
        Check::User { processes, users } => processes.is_empty() || users.is_empty(),
        Check::Integrity {
            processes, levels, ..
        } => processes.is_empty() || levels.is_empty(),
        Check::Session {
            processes,
            sessions,
        } => processes.is_empty() || sessions.is_empty(),
        Check::Lookalike { processes, .. }
        | Check::OriginalName { processes }
        | Check::Instances { processes, .. }
        | Check::StartAfterBoot { processes, .. }
        | Check::StartAfterParent { processes, .. }
        | Check::MustExit { processes, .. } => processes.is_empty(),
    };
    if empty {
        return Err(bad(format!(
            "rule {:?} has an empty list: it would check nothing",
            r.id
        )));
    }
    Ok(())
}

fn line_of(text: &str, needle: &str) -> usize {
    text.find(needle).map_or(0, |at| line_at(text, at))
}

/// 1-based line of a byte offset.
fn line_at(text: &str, at: usize) -> usize {
    text.get(..at).map_or(0, |t| t.matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_load() {
        let b = Baseline::defaults().unwrap();
        assert!(b.rules.len() >= 20);
        assert!(b.rules.iter().all(|r| r.source.ends_with("core.toml")));
    }

    #[test]
    fn unknown_keys_name_file_and_line() {
        let text = "[[rule]]\nid = \"x\"\ntitle = \"t\"\nseverity = \"high\"\ntechnique = \"T1\"\ndescription = \"d\"\nkind = \"parent\"\nprocesses = [\"a.exe\"]\nparents = [\"b.exe\"]\nparrents = [\"c.exe\"]\n";
        let e = parse("mine.toml", text).unwrap_err().to_string();
        assert!(e.starts_with("mine.toml:"), "{e}");
        assert!(e.contains("parrents"), "{e}");
    }

    #[test]
    fn bad_values_are_errors() {
        let text = "[[rule]]\nid = \"x\"\ntitle = \"t\"\nseverity = \"severe\"\ntechnique = \"T1\"\ndescription = \"d\"\nkind = \"parent\"\nprocesses = [\"a.exe\"]\nparents = [\"b.exe\"]\n";
        let e = parse("mine.toml", text).unwrap_err().to_string();
        assert!(e.starts_with("mine.toml:4:"), "{e}");
        let empty = "[[rule]]\nid = \"x\"\ntitle = \"t\"\nseverity = \"high\"\ntechnique = \"T1\"\ndescription = \"d\"\nkind = \"parent\"\nprocesses = []\nparents = [\"b.exe\"]\n";
        assert!(parse("e.toml", empty)
            .unwrap_err()
            .to_string()
            .contains("empty"));
    }

    #[test]
    fn grandparent_and_integrity_rules_check_their_parameters() {
        let head = "[[rule]]\nid = \"x\"\ntitle = \"t\"\nseverity = \"high\"\ntechnique = \"T1\"\ndescription = \"d\"\n";
        let ok = format!("{head}kind = \"grandparent\"\nprocesses = [\"lsass.exe\"]\nparents = [\"wininit.exe\"]\ngrandparents = [\"smss.exe\"]\n");
        let f = parse("g.toml", &ok).unwrap();
        assert!(matches!(
            &f.rule[0].check,
            Check::Grandparent { benign_grandparents, .. } if benign_grandparents.is_empty()
        ));
        let no_grand = format!(
            "{head}kind = \"grandparent\"\nprocesses = [\"lsass.exe\"]\nparents = [\"wininit.exe\"]\n"
        );
        let e = parse("g.toml", &no_grand).unwrap_err().to_string();
        assert!(e.contains("grandparents"), "{e}");
        let empty = format!("{head}kind = \"grandparent\"\nprocesses = [\"lsass.exe\"]\nparents = [\"wininit.exe\"]\ngrandparents = []\n");
        assert!(parse("g.toml", &empty)
            .unwrap_err()
            .to_string()
            .contains("empty"));
        let levels = format!("{head}kind = \"integrity\"\nprocesses = [\"lsass.exe\"]\nlevels = [\"system\", \"medium_plus\"]\nusers = [\"person\"]\n");
        let f = parse("i.toml", &levels).unwrap();
        assert!(matches!(
            &f.rule[0].check,
            Check::Integrity { levels, users, .. }
                if levels == &[IntegrityLevel::System, IntegrityLevel::MediumPlus]
                    && users == &[UserClass::Person]
        ));
        let bad_level = format!(
            "{head}kind = \"integrity\"\nprocesses = [\"lsass.exe\"]\nlevels = [\"sytem\"]\n"
        );
        let e = parse("i.toml", &bad_level).unwrap_err().to_string();
        assert!(e.starts_with("i.toml:9:") && e.contains("sytem"), "{e}");
        // A parameter of another kind is an error, not ignored.
        let stray = format!("{head}kind = \"integrity\"\nprocesses = [\"lsass.exe\"]\nlevels = [\"system\"]\ngrandparents = [\"smss.exe\"]\n");
        let e = parse("i.toml", &stray).unwrap_err().to_string();
        assert!(e.contains("`grandparents` is not a parameter"), "{e}");
    }

    #[test]
    fn a_later_file_replaces_a_rule_and_adds_allows() {
        let mut b = Baseline::defaults().unwrap();
        let n = b.rules.len();
        let text = "[[rule]]\nid = \"parent.explorer\"\ntitle = \"t\"\nseverity = \"info\"\ntechnique = \"T1\"\ndescription = \"d\"\nenabled = false\nkind = \"parent\"\nprocesses = [\"explorer.exe\"]\nparents = [\"userinit.exe\"]\n\n[[allow]]\nrule = \"parent.svchost\"\nhost = \"LAB-*\"\nreason = \"lab\"\n";
        b.merge(parse("site.toml", text).unwrap());
        assert_eq!(b.rules.len(), n);
        assert!(b.enabled().all(|r| r.id != "parent.explorer"));
        assert_eq!(b.allow.len(), 1);
    }
}
