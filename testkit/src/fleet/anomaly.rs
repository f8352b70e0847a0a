//! The anomalies the generator plants, each a process start that breaks one baseline fact
//! (`../shared/BASELINE.md`), and the `lineage scan` rules that must find it.

use crate::error::ModelError;
use crate::events::Channel;
use crate::host::{Core, Host, Integrity, Proc, SecurityVersion, Sources, Spawn};
use crate::values::Guid;
use chrono::{DateTime, Utc};

/// A kind of planted anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnomalyKind {
    /// A second lsass.exe <- wininit.exe within one boot.
    SecondLsass,
    /// lsass.exe from `C:\Users\Public` <- cmd.exe, as a user.
    LsassFromCmd,
    /// svchost.exe -k netsvcs from `C:\Windows\Temp` <- services.exe.
    SvchostOutsideSystem32,
    /// svchost.exe without `-k` <- services.exe.
    SvchostWithoutK,
    /// scvhost.exe (a look-alike name) <- services.exe.
    LookalikeName,
    /// cmd.exe <- services.exe (service-based execution, PsExec style).
    ServicesSpawnsShell,
    /// svchost.exe -k netsvcs <- services.exe running as a normal user.
    CoreProcessAsUser,
    /// An smss.exe session child that never exits.
    SmssChildNeverExits,
    /// cmd.exe <- lsass.exe.
    ChildOfLsass,
    /// svchost.exe -k netsvcs <- a tool installed as a service (`C:\ProgramData\jjs.exe`,
    /// as APT10's sideloading did): the right image from the wrong parent.
    SvchostWrongParent,
    /// rundll32.exe copied to `C:\Windows\SysWOW64\RuntimeBroker.exe` and run by the
    /// broker's service host: right name, right folder, right parent; only Sysmon's
    /// `OriginalFileName` tells.
    RenamedBinary,
    /// A second userinit.exe <- winlogon.exe in the console session that stays (a
    /// persistent logon script).
    UserinitNeverExits,
}

/// What a host must log for an anomaly to be visible at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Any process-creation log.
    Nothing,
    /// The new process's own account (Sysmon `User` or 4688 v2 `TargetUser*`): 4688 v1 names
    /// only the creator.
    OwnAccount,
    /// Sysmon (`OriginalFileName`).
    Sysmon,
    /// A workstation (a console user with explorer.exe running through office hours).
    Workstation,
}

impl AnomalyKind {
    pub const ALL: [AnomalyKind; 12] = [
        AnomalyKind::SecondLsass,
        AnomalyKind::LsassFromCmd,
        AnomalyKind::SvchostOutsideSystem32,
        AnomalyKind::SvchostWithoutK,
        AnomalyKind::LookalikeName,
        AnomalyKind::ServicesSpawnsShell,
        AnomalyKind::CoreProcessAsUser,
        AnomalyKind::SmssChildNeverExits,
        AnomalyKind::ChildOfLsass,
        AnomalyKind::SvchostWrongParent,
        AnomalyKind::RenamedBinary,
        AnomalyKind::UserinitNeverExits,
    ];

    /// The name used in `ground_truth.jsonl`.
    pub fn name(self) -> &'static str {
        match self {
            AnomalyKind::SecondLsass => "second_lsass",
            AnomalyKind::LsassFromCmd => "lsass_from_cmd",
            AnomalyKind::SvchostOutsideSystem32 => "svchost_outside_system32",
            AnomalyKind::SvchostWithoutK => "svchost_without_k",
            AnomalyKind::LookalikeName => "lookalike_name",
            AnomalyKind::ServicesSpawnsShell => "services_spawns_shell",
            AnomalyKind::CoreProcessAsUser => "core_process_as_user",
            AnomalyKind::SmssChildNeverExits => "smss_child_never_exits",
            AnomalyKind::ChildOfLsass => "child_of_lsass",
            AnomalyKind::SvchostWrongParent => "svchost_wrong_parent",
            AnomalyKind::RenamedBinary => "renamed_binary",
            AnomalyKind::UserinitNeverExits => "userinit_never_exits",
        }
    }

    /// What the host must log for `lineage scan` to see this anomaly; the planner puts each
    /// kind on a host that does.
    pub fn needs(self) -> Needs {
        match self {
            AnomalyKind::CoreProcessAsUser => Needs::OwnAccount,
            AnomalyKind::RenamedBinary => Needs::Sysmon,
            AnomalyKind::LsassFromCmd => Needs::Workstation,
            _ => Needs::Nothing,
        }
    }

    /// The rules of `queries/baseline/core.toml` that must fire on the planted start, and no
    /// others, given what the host logs (`p` is the planted process). Empty when the logs
    /// cannot show it (which the planner avoids).
    pub fn rules(self, sources: Sources, p: &Proc) -> Vec<&'static str> {
        use AnomalyKind::*;
        let own_account = sources.sysmon || sources.security == Some(SecurityVersion::V2);
        let mut rules = match self {
            SecondLsass => vec!["instances.once-per-boot", "start.late"],
            LsassFromCmd => vec![
                "instances.once-per-boot",
                "parent.lsass",
                "path.core",
                "start.late",
                "user.core-system",
            ],
            SvchostOutsideSystem32 => vec!["path.core"],
            SvchostWithoutK => vec!["cmdline.svchost-k"],
            LookalikeName => vec!["name.lookalike"],
            ServicesSpawnsShell => vec!["child.shell-of-core"],
            CoreProcessAsUser if own_account => vec!["user.svchost"],
            CoreProcessAsUser => vec![],
            SmssChildNeverExits => vec!["exit.smss-child"],
            ChildOfLsass => vec!["child.lsass"],
            SvchostWrongParent => vec!["parent.svchost"],
            RenamedBinary if sources.sysmon => vec!["name.original"],
            RenamedBinary => vec![],
            UserinitNeverExits => vec!["exit.userinit"],
        };
        // Only Sysmon logs the session (TerminalSessionId); the fake lsass inherits the
        // user's.
        if self == LsassFromCmd && sources.sysmon && p.session != 0 {
            rules.push("session.zero");
        }
        // Sysmon's IntegrityLevel and 4688 v2's MandatoryLabel carry the token's level; the
        // fake lsass runs with the user's (core processes must be at System).
        if self == LsassFromCmd && own_account && p.integrity != Integrity::System {
            rules.push("integrity.core-system");
        }
        rules.sort_unstable();
        rules
    }
}

/// A planted anomaly and where it landed in the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planted {
    pub host: String,
    /// The process start as logged.
    pub time: DateTime<Utc>,
    pub kind: AnomalyKind,
    pub image: String,
    pub pid: u32,
    pub guid: Guid,
    pub parent_pid: u32,
    pub parent_image: String,
    /// The records that logged the start (Sysmon 1 and/or Security 4688).
    pub records: Vec<(Channel, u64)>,
    /// The `lineage scan` rules that must fire on this start, and no others, sorted.
    pub rules: Vec<&'static str>,
}

const PSEXEC_CMD: &str = "cmd.exe /Q /c echo cd ^> \\\\127.0.0.1\\C$\\__output 2^>^&1 > \
C:\\Windows\\TEMP\\execute.bat & C:\\Windows\\system32\\cmd.exe /Q /c C:\\Windows\\TEMP\\execute.bat";

/// Starts the anomalous process at `at` and returns it. `user` is a normal user of the host.
pub fn plant(
    host: &mut Host,
    at: DateTime<Utc>,
    kind: AnomalyKind,
    user: &str,
) -> Result<Proc, ModelError> {
    use AnomalyKind::*;
    let services = host.find_core(Core::Services)?;
    let (parent, spawn) = match kind {
        SecondLsass => (
            host.find("wininit.exe")?,
            Spawn::new("lsass.exe").cmd("C:\\Windows\\system32\\lsass.exe"),
        ),
        LsassFromCmd => return lsass_from_cmd(host, at, user),
        SvchostOutsideSystem32 => (
            services,
            Spawn::new("C:\\Windows\\Temp\\svchost.exe")
                .cmd("C:\\Windows\\Temp\\svchost.exe -k netsvcs"),
        ),
        SvchostWithoutK => (
            services,
            Spawn::new("svchost.exe").cmd("C:\\Windows\\system32\\svchost.exe"),
        ),
        LookalikeName => (
            services,
            Spawn::new("scvhost.exe").cmd("C:\\Windows\\system32\\scvhost.exe -k netsvcs"),
        ),
        ServicesSpawnsShell => (services, Spawn::new("cmd.exe").cmd(PSEXEC_CMD)),
        CoreProcessAsUser => (
            services,
            Spawn::new("svchost.exe")
                .cmd("C:\\Windows\\system32\\svchost.exe -k netsvcs -p")
                .user(user),
        ),
        SmssChildNeverExits => {
            // From the master, as Windows starts session children (find("smss.exe") would
            // give an earlier plant that is still running).
            let smss = host.find_core(Core::MasterSmss)?;
            let mut s =
                Spawn::new("smss.exe").cmd("\\SystemRoot\\System32\\smss.exe 000000f4 00000084");
            s.session = Some(9);
            (smss, s)
        }
        ChildOfLsass => (
            host.find_core(Core::Lsass)?,
            Spawn::new("cmd.exe").cmd("cmd.exe /c whoami /priv"),
        ),
        SvchostWrongParent => return svchost_from_tool(host, at, services),
        RenamedBinary => {
            let broker = by_command_line(host, "-k DcomLaunch")?;
            let mut s = Spawn::new("C:\\Windows\\SysWOW64\\RuntimeBroker.exe")
                .cmd("C:\\Windows\\SysWOW64\\RuntimeBroker.exe C:\\Users\\Public\\d.dll,Start")
                .user(user);
            s.original_file_name = Some("RUNDLL32.EXE".to_string());
            (broker, s)
        }
        UserinitNeverExits => {
            let mut s = Spawn::new("userinit.exe")
                .cmd("C:\\Windows\\system32\\userinit.exe")
                .user(user);
            s.session = Some(1);
            (host.find_winlogon(1)?, s)
        }
    };
    host.spawn(at, parent, spawn)
}

/// The first live service host whose command line holds `needle`.
fn by_command_line(host: &Host, needle: &str) -> Result<u32, ModelError> {
    host.live()
        .find(|p| p.name() == "svchost.exe" && p.command_line.contains(needle))
        .map(|p| p.pid)
        .ok_or_else(|| ModelError::NoSuchProcess(format!("svchost.exe {needle}")))
}

/// A tool installed as a service (not tagged: a new service binary is not a baseline
/// finding) that starts a System32 svchost.exe a few seconds later.
fn svchost_from_tool(
    host: &mut Host,
    at: DateTime<Utc>,
    services: u32,
) -> Result<Proc, ModelError> {
    let tag = host.tag();
    host.set_tag(None);
    let tool = Spawn::new("C:\\ProgramData\\jjs.exe").cmd("C:\\ProgramData\\jjs.exe -svc");
    let tool = host.spawn(at, services, tool);
    host.set_tag(tag);
    let svchost = Spawn::new("svchost.exe").cmd("C:\\Windows\\system32\\svchost.exe -k netsvcs -p");
    host.spawn(at + chrono::Duration::seconds(3), tool?.pid, svchost)
}

/// A user's cmd.exe (not tagged: it is normal) starting lsass.exe from `C:\Users\Public`.
/// Without a shell on the host the anomaly is not planted (a cmd.exe from services.exe would
/// be a finding of its own).
fn lsass_from_cmd(host: &mut Host, at: DateTime<Utc>, user: &str) -> Result<Proc, ModelError> {
    let parent = host.find("explorer.exe")?;
    let tag = host.tag();
    host.set_tag(None);
    let cmd = host.spawn(
        at,
        parent,
        Spawn::new("cmd.exe")
            .cmd("\"C:\\Windows\\system32\\cmd.exe\"")
            .user(user),
    );
    host.set_tag(tag);
    let fake = Spawn::new("C:\\Users\\Public\\lsass.exe").cmd("C:\\Users\\Public\\lsass.exe");
    host.spawn(at + chrono::Duration::seconds(20), cmd?.pid, fake)
}
