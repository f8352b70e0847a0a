//! The anomalies the generator plants, each a process start that breaks one baseline fact
//! (`../shared/BASELINE.md`).

use crate::error::ModelError;
use crate::events::Channel;
use crate::host::{Host, Proc, Spawn};
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
}

impl AnomalyKind {
    pub const ALL: [AnomalyKind; 9] = [
        AnomalyKind::SecondLsass,
        AnomalyKind::LsassFromCmd,
        AnomalyKind::SvchostOutsideSystem32,
        AnomalyKind::SvchostWithoutK,
        AnomalyKind::LookalikeName,
        AnomalyKind::ServicesSpawnsShell,
        AnomalyKind::CoreProcessAsUser,
        AnomalyKind::SmssChildNeverExits,
        AnomalyKind::ChildOfLsass,
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
        }
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
    let services = host.find("services.exe")?;
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
            let smss = host.find("smss.exe")?;
            let mut s =
                Spawn::new("smss.exe").cmd("\\SystemRoot\\System32\\smss.exe 000000f4 00000084");
            s.session = Some(9);
            (smss, s)
        }
        ChildOfLsass => (
            host.find("lsass.exe")?,
            Spawn::new("cmd.exe").cmd("cmd.exe /c whoami /priv"),
        ),
    };
    host.spawn(at, parent, spawn)
}

/// A user's cmd.exe (not tagged: it is normal) starting lsass.exe from `C:\Users\Public`.
fn lsass_from_cmd(host: &mut Host, at: DateTime<Utc>, user: &str) -> Result<Proc, ModelError> {
    let parent = host
        .find("explorer.exe")
        .or_else(|_| host.find("services.exe"))?;
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
