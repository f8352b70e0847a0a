//! One Windows machine's history as the logs would record it: boots with the core-process
//! chain, sessions, programs, exits, PID reuse, clock jumps and log clears.
//!
//! Every action takes the true time it happens at; events are queued with that time and
//! logged with the host's clock (true time + the clock offset), so a clock jump shows as
//! `TimeCreated` going backwards while record ids keep increasing, as on a real machine.

use crate::error::ModelError;
use crate::events::{Account, Channel, Event, EventFactory};
use crate::pids::PidAllocator;
use crate::rng::Rng;
use crate::values::{Guid, Sid};
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, HashMap};

/// Which logs record process creation on this host. The System log is always written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sources {
    pub sysmon: bool,
    pub security: Option<SecurityVersion>,
}

/// The Security 4688 version a host writes: 1 (Windows 8 / 2012) or 2 (Windows 10+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityVersion {
    V1,
    V2,
}

impl Default for Sources {
    fn default() -> Self {
        Sources {
            sysmon: true,
            security: Some(SecurityVersion::V2),
        }
    }
}

/// `sysmon,security-v2`: the scenario's `sources` line and the fleet's `--sources`.
impl std::str::FromStr for Sources {
    type Err = String;
    fn from_str(list: &str) -> Result<Self, String> {
        let mut s = Sources {
            sysmon: false,
            security: None,
        };
        for item in list.split(',').map(str::trim) {
            match item {
                "sysmon" => s.sysmon = true,
                "security-v1" => s.security = Some(SecurityVersion::V1),
                "security-v2" | "security" => s.security = Some(SecurityVersion::V2),
                other => {
                    return Err(format!(
                        "unknown source {other:?} (sysmon, security-v1, security-v2)"
                    ))
                }
            }
        }
        Ok(s)
    }
}

/// A mandatory integrity level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integrity {
    Low,
    Medium,
    High,
    System,
}

impl Integrity {
    pub fn parse(text: &str) -> Option<Integrity> {
        Some(match text.to_ascii_lowercase().as_str() {
            "low" => Integrity::Low,
            "medium" => Integrity::Medium,
            "high" => Integrity::High,
            "system" => Integrity::System,
            _ => return None,
        })
    }

    /// Sysmon's `IntegrityLevel` text.
    pub fn name(self) -> &'static str {
        match self {
            Integrity::Low => "Low",
            Integrity::Medium => "Medium",
            Integrity::High => "High",
            Integrity::System => "System",
        }
    }

    /// 4688 v2's `MandatoryLabel`.
    fn label(self) -> &'static str {
        match self {
            Integrity::Low => "S-1-16-4096",
            Integrity::Medium => "S-1-16-8192",
            Integrity::High => "S-1-16-12288",
            Integrity::System => "S-1-16-16384",
        }
    }
}

/// Which process events are logged (the audit subcategories "Process Creation" and "Process
/// Termination"; Sysmon's events 1 and 5 follow the same switch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audit {
    /// Sysmon 1 and Security 4688.
    Creation,
    /// Sysmon 5 and Security 4689.
    Termination,
}

/// A core process a boot starts once (see [`Host::find_core`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Core {
    /// The smss.exe System starts, which starts each session's smss.exe.
    MasterSmss,
    Services,
    Lsass,
}

/// Who asks for a shutdown or restart (User32 1074, [`Host::request_shutdown`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Initiator {
    /// A person, from the Start menu (RuntimeBroker on their behalf).
    User(String),
    /// Nobody logged on: the button on the logon screen (winlogon, as SYSTEM).
    LogonScreen,
    /// Windows Update finishing an install (svchost, as SYSTEM, planned).
    Update,
}

/// An account as both Sysmon (`DOMAIN\name`) and Security (SID, name, domain, logon id)
/// log it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// `NT AUTHORITY\SYSTEM`, `WIN10-A\alice`.
    pub display: String,
    pub account: Account,
    /// SYSTEM, LOCAL SERVICE, NETWORK SERVICE, DWM/UMFD: never an interactive user.
    pub service: bool,
}

/// A process as the host knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: u32,
    pub guid: Guid,
    pub image: String,
    pub command_line: String,
    pub cwd: String,
    pub user: User,
    pub session: u32,
    pub integrity: Integrity,
    /// True start time.
    pub start: DateTime<Utc>,
    pub parent_pid: u32,
    pub parent_guid: Guid,
    pub parent_start: DateTime<Utc>,
    pub original_file_name: Option<String>,
    pub boot: u32,
}

impl Proc {
    /// The image's file name, lowercase.
    pub fn name(&self) -> String {
        file_name(&self.image).to_ascii_lowercase()
    }
}

pub fn file_name(path: &str) -> &str {
    path.rsplit(['\\', '/']).next().unwrap_or(path)
}

/// What to start: the image (a name such as `cmd.exe` or a full path) and optional details;
/// unset details are inherited from the parent as Windows does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spawn {
    pub image: String,
    pub pid: Option<u32>,
    pub user: Option<String>,
    pub command_line: Option<String>,
    pub cwd: Option<String>,
    pub integrity: Option<Integrity>,
    pub session: Option<u32>,
    pub original_file_name: Option<String>,
}

impl Spawn {
    pub fn new(image: &str) -> Spawn {
        Spawn {
            image: image.to_string(),
            ..Spawn::default()
        }
    }

    pub fn cmd(mut self, command_line: &str) -> Spawn {
        self.command_line = Some(command_line.to_string());
        self
    }

    pub fn user(mut self, user: &str) -> Spawn {
        self.user = Some(user.to_string());
        self
    }
}

/// An event waiting to be written, or a log clear, ordered by true time then sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub time: DateTime<Utc>,
    pub seq: u64,
    pub item: PendingItem,
    /// Set by the caller (see [`Host::set_tag`]) to learn the record ids later.
    pub tag: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PendingItem {
    Event(Event),
    /// The log is cleared: earlier records vanish, numbering goes on.
    Clear(Channel),
}

/// The ground truth of one process start, for scoring lineage. Times are as logged (the
/// host clock at the time of the start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruthProcess {
    pub pid: u32,
    pub guid: Guid,
    pub image: String,
    pub start: DateTime<Utc>,
    pub parent_pid: u32,
    pub parent_guid: Guid,
    pub parent_start: DateTime<Utc>,
    pub boot: u32,
}

/// The per-boot state: where the core processes are.
#[derive(Debug, Clone)]
struct Boot {
    start: DateTime<Utc>,
    smss: u32,
    services: u32,
    lsass: u32,
    eventlog: u32,
    sysmon: u32,
    winlogon: BTreeMap<u32, u32>,
    next_session: u32,
}

/// How the previous boot ended, for the next boot's markers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Never,
    Clean,
    Dirty(DateTime<Utc>),
}

/// One machine. See the module docs.
pub struct Host {
    pub name: String,
    pub sources: Sources,
    factory: EventFactory,
    machine: u32,
    machine_sid: String,
    rng: Rng,
    pids: PidAllocator,
    live: BTreeMap<u32, Proc>,
    boot: Option<Boot>,
    boots: u32,
    ended: Ended,
    guid_counter: u16,
    clock_offset: Duration,
    last_time: DateTime<Utc>,
    users: HashMap<String, User>,
    pending: Vec<Pending>,
    seq: u64,
    tag: Option<u32>,
    truth: Option<Vec<TruthProcess>>,
    /// Process creations and terminations are logged (both on by default).
    log_creation: bool,
    log_termination: bool,
}

mod boot;
mod emit;

const SYSTEM_PID: u32 = 4;

impl Host {
    /// A host that has not booted yet. `seed` varies PIDs, timings and identities.
    pub fn new(name: &str, sources: Sources, seed: u64) -> Host {
        let mut rng = Rng::from_text(name, seed);
        let machine = rng.next_u64() as u32;
        let machine_sid = format!(
            "S-1-5-21-{}-{}-{}",
            rng.range(1_000_000_000, 4_000_000_000),
            rng.range(1_000_000_000, 4_000_000_000),
            rng.range(1_000_000_000, 4_000_000_000)
        );
        let epoch = DateTime::<Utc>::UNIX_EPOCH;
        Host {
            name: name.to_string(),
            sources,
            factory: EventFactory::new(name),
            machine,
            machine_sid,
            pids: PidAllocator::new(),
            rng,
            live: BTreeMap::new(),
            boot: None,
            boots: 0,
            ended: Ended::Never,
            guid_counter: 0,
            clock_offset: Duration::zero(),
            last_time: epoch,
            users: HashMap::new(),
            pending: Vec::new(),
            seq: 0,
            tag: None,
            truth: None,
            log_creation: true,
            log_termination: true,
        }
    }

    /// Keep a [`TruthProcess`] for every process started from now on.
    pub fn record_truth(&mut self) {
        self.truth.get_or_insert_with(Vec::new);
    }

    /// The truth kept so far (emptied).
    pub fn take_truth(&mut self) -> Vec<TruthProcess> {
        self.truth.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Events queued from now on carry `tag`, so the caller learns their record ids.
    pub fn set_tag(&mut self, tag: Option<u32>) {
        self.tag = tag;
    }

    /// Turns the logging of process creations or terminations on or off from now on (audit
    /// policy enabled late, Sysmon installed mid-boot, exits never audited).
    pub fn audit(&mut self, what: Audit, on: bool) {
        match what {
            Audit::Creation => self.log_creation = on,
            Audit::Termination => self.log_termination = on,
        }
    }

    pub fn tag(&self) -> Option<u32> {
        self.tag
    }

    pub fn is_running(&self) -> bool {
        self.boot.is_some()
    }

    /// How many boots so far (the current one's number).
    pub fn boots(&self) -> u32 {
        self.boots
    }

    /// When the current boot started.
    pub fn boot_time(&self) -> Option<DateTime<Utc>> {
        self.boot.as_ref().map(|b| b.start)
    }

    /// What the host clock shows at true time `t` (with the clock changes so far): the time
    /// the logs give an event that happens now.
    pub fn clock(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        t + self.clock_offset
    }

    /// The latest true time any action happened at.
    pub fn now(&self) -> DateTime<Utc> {
        self.last_time
    }

    pub fn live(&self) -> impl Iterator<Item = &Proc> {
        self.live.values()
    }

    pub fn process(&self, pid: u32) -> Option<&Proc> {
        self.live.get(&pid)
    }

    /// Shifts the host clock by `delta` from now on (a manual change, NTP, a VM resume).
    pub fn clock_jump(&mut self, delta: Duration) {
        self.clock_offset += delta;
    }

    /// A live process by PID (digits) or by image name or path (the latest started).
    pub fn find(&self, reference: &str) -> Result<u32, ModelError> {
        let not_found = || ModelError::NoSuchProcess(reference.to_string());
        if let Ok(pid) = reference.parse::<u32>() {
            return self
                .live
                .contains_key(&pid)
                .then_some(pid)
                .ok_or_else(not_found);
        }
        let wanted = reference.to_ascii_lowercase();
        let by_path = wanted.contains('\\');
        self.live
            .values()
            .filter(|p| {
                if by_path {
                    p.image.to_ascii_lowercase() == wanted
                } else {
                    p.name() == wanted
                }
            })
            .max_by_key(|p| (p.start, p.guid))
            .map(|p| p.pid)
            .ok_or_else(not_found)
    }

    /// The current boot's own instance of a core process, even when a later copy with the
    /// same name runs ([`Host::find`] gives the latest).
    pub fn find_core(&self, which: Core) -> Result<u32, ModelError> {
        self.boot
            .as_ref()
            .map(|b| match which {
                Core::MasterSmss => b.smss,
                Core::Services => b.services,
                Core::Lsass => b.lsass,
            })
            .filter(|pid| self.live.contains_key(pid))
            .ok_or_else(|| ModelError::NoSuchProcess(format!("{which:?}")))
    }

    /// The live winlogon.exe of an interactive session (1 is the console's).
    pub fn find_winlogon(&self, session: u32) -> Result<u32, ModelError> {
        self.boot
            .as_ref()
            .and_then(|b| b.winlogon.get(&session).copied())
            .filter(|pid| self.live.contains_key(pid))
            .ok_or_else(|| ModelError::NoSuchProcess(format!("winlogon.exe (session {session})")))
    }

    /// The account for `name`: well-known service accounts by name, anything else a local
    /// or domain user (`DOMAIN\name`, or `name` on this host) with a stable SID.
    pub fn user(&mut self, name: &str) -> User {
        let key = name.to_ascii_lowercase();
        if let Some(u) = self.users.get(&key) {
            return u.clone();
        }
        let u = self.make_user(name);
        self.users.insert(key, u.clone());
        u
    }

    fn make_user(&mut self, name: &str) -> User {
        let bare = file_name(name);
        let well_known = match bare.to_ascii_uppercase().as_str() {
            "SYSTEM" => Some(("S-1-5-18", 0x3e7)),
            "LOCAL SERVICE" => Some(("S-1-5-19", 0x3e5)),
            "NETWORK SERVICE" => Some(("S-1-5-20", 0x3e4)),
            _ => None,
        };
        if let Some((sid, logon)) = well_known {
            return self.service_user(bare, sid, logon);
        }
        let (domain, user) = match name.split_once('\\') {
            Some((d, u)) => (d.to_string(), u.to_string()),
            None => (self.name.clone(), name.to_string()),
        };
        let session_account =
            ["window manager", "font driver host"].contains(&domain.to_ascii_lowercase().as_str());
        let rid = 1000 + self.users.len() as u64;
        let sid = if session_account {
            let n = user.trim_start_matches(|c: char| !c.is_ascii_digit());
            let base = if domain.eq_ignore_ascii_case("window manager") {
                90
            } else {
                96
            };
            format!("S-1-5-{base}-0-{}", n.parse::<u32>().unwrap_or(0))
        } else {
            format!("{}-{rid}", self.machine_sid)
        };
        let logon_id = self.rng.range(0x10000, 0x4000000);
        User {
            display: format!("{domain}\\{user}"),
            account: Account {
                sid: Sid::parse(&sid).unwrap_or_else(Sid::local_system),
                name: user,
                domain,
                logon_id,
            },
            service: session_account,
        }
    }

    /// SYSTEM logs in Security as the computer account; the others by their own names.
    fn service_user(&self, bare: &str, sid: &str, logon_id: u64) -> User {
        let upper = bare.to_ascii_uppercase();
        let (name, domain) = if upper == "SYSTEM" {
            (format!("{}$", self.name), "WORKGROUP".to_string())
        } else {
            (upper.clone(), "NT AUTHORITY".to_string())
        };
        User {
            display: format!("NT AUTHORITY\\{upper}"),
            account: Account {
                sid: Sid::parse(sid).unwrap_or_else(Sid::local_system),
                name,
                domain,
                logon_id,
            },
            service: true,
        }
    }

    /// Events and clears queued before `until` (all when `None`), in the order Windows would
    /// have written them: by true time, then by the order they were queued.
    pub fn drain(&mut self, until: Option<DateTime<Utc>>) -> Vec<Pending> {
        self.pending.sort_by_key(|p| (p.time, p.seq));
        let cut = match until {
            Some(t) => self.pending.partition_point(|p| p.time < t),
            None => self.pending.len(),
        };
        self.pending.drain(..cut).collect()
    }
}
