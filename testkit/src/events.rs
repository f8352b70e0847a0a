//! Builders for the events `lineage` reads, with Windows' channels, providers, System values
//! and `EventData`/`UserData` layouts and value types, as found in the real logs of
//! `../shared/corpus` (Sysmon 13 schema 4.81, Windows 10 Security and System).

use crate::binxml::{vt, Element, Instance, Node, Template, Value};
use crate::chunk::Record;
use crate::values::{filetime, sysmon_time, Guid, Sid};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// The logs `lineage` reads process and boot events from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    Sysmon,
    Security,
    System,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Sysmon, Channel::Security, Channel::System];

    /// The channel name Windows logs.
    pub fn name(self) -> &'static str {
        match self {
            Channel::Sysmon => "Microsoft-Windows-Sysmon/Operational",
            Channel::Security => "Security",
            Channel::System => "System",
        }
    }

    /// The file name Windows gives the log (`/` becomes `%4`).
    pub fn file_name(self) -> &'static str {
        match self {
            Channel::Sysmon => "Microsoft-Windows-Sysmon%4Operational.evtx",
            Channel::Security => "Security.evtx",
            Channel::System => "System.evtx",
        }
    }
}

/// A record routed to its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub channel: Channel,
    pub record: Record,
}

pub const SYSMON_GUID: &str = "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}";
pub const SECURITY_AUDITING_GUID: &str = "{54849625-5478-4994-a5ba-3e3b0328c30d}";
pub const KERNEL_GENERAL_GUID: &str = "{a68ca8b7-004f-d7b6-a698-07e2de0f1f5d}";
pub const EVENTLOG_GUID: &str = "{fc65ddd8-d6ef-4962-83d5-6e5cfe9ce148}";
pub const KERNEL_POWER_GUID: &str = "{331c3b3a-2005-44c2-ac5e-77220c37d6b4}";
pub const USER32_GUID: &str = "{b0aa8734-56f7-41cc-b2f4-de228e98b946}";
const EVENTLOG_NS: &str = "http://manifests.microsoft.com/win/2004/08/windows/eventlog";
const EVENT_NS: &str = "http://schemas.microsoft.com/win/2004/08/events/event";

/// Who logged an event and when: `TimeCreated` and `Execution` ProcessID/ThreadID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub time: DateTime<Utc>,
    pub process_id: u32,
    pub thread_id: u32,
}

/// The constant System values of one event type.
struct Spec {
    event_id: u16,
    version: u8,
    level: u8,
    task: u16,
    keywords: u64,
    qualifiers: Option<u16>,
    /// `Security UserID`: Sysmon, Kernel-General and Kernel-Power log SYSTEM;
    /// Security-Auditing none; System 104 and User32 1074 the account that acted.
    user: SystemUser,
}

/// What `System/Security@UserID` holds.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SystemUser {
    None,
    LocalSystem,
    Sid(Sid),
}

const fn spec(event_id: u16, version: u8, level: u8, task: u16, keywords: u64) -> Spec {
    Spec {
        event_id,
        version,
        level,
        task,
        keywords,
        qualifiers: None,
        user: SystemUser::None,
    }
}

const SYSMON_KW: u64 = 0x8000_0000_0000_0000;
const AUDIT_SUCCESS_KW: u64 = 0x8020_0000_0000_0000;
const EVENTLOG_KW: u64 = 0x4020_0000_0000_0000;
const CLASSIC_KW: u64 = 0x0080_0000_0000_0000;

/// A Windows account as Security events log it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub sid: Sid,
    pub name: String,
    pub domain: String,
    pub logon_id: u64,
}

/// Sysmon event 1, schema 5 (Sysmon 13+).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessCreate {
    pub utc_time: DateTime<Utc>,
    pub guid: Guid,
    pub pid: u32,
    pub image: String,
    pub file_version: String,
    pub description: String,
    pub product: String,
    pub company: String,
    pub original_file_name: String,
    pub command_line: String,
    pub current_directory: String,
    pub user: String,
    pub logon_guid: Guid,
    pub logon_id: u64,
    pub session: u32,
    pub integrity: String,
    pub hashes: String,
    pub parent_guid: Guid,
    pub parent_pid: u32,
    pub parent_image: String,
    pub parent_command_line: String,
    pub parent_user: String,
}

/// Sysmon event 5.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessTerminate {
    pub utc_time: DateTime<Utc>,
    pub guid: Guid,
    pub pid: u32,
    pub image: String,
    pub user: String,
}

/// Sysmon 17 (pipe created) or 18 (pipe connected), schema version 1 as in
/// `DE_renamed_psexec_service_sysmon_17_18.evtx`: the process is named by GUID, PID and image
/// only, which makes it a "sighting" for `lineage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipeEvent {
    /// `true`: 17 `CreatePipe`; `false`: 18 `ConnectPipe`.
    pub created: bool,
    pub utc_time: DateTime<Utc>,
    pub guid: Guid,
    pub pid: u32,
    pub pipe_name: String,
    pub image: String,
}

/// Security 4688. `v2` carries what version 2 (Windows 10+) adds; `None` writes version 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProcess {
    pub subject: Account,
    pub pid: u32,
    pub image: String,
    pub elevation: String,
    pub creator_pid: u32,
    pub command_line: String,
    pub v2: Option<NewProcessV2>,
}

/// The fields Security 4688 version 2 adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProcessV2 {
    pub target: Account,
    pub parent_image: String,
    pub mandatory_label: Sid,
}

/// Security 4689.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessExit {
    pub subject: Account,
    pub status: u32,
    pub pid: u32,
    pub image: String,
}

/// Security 4616: the system time was changed from `previous` to `new` by process `pid`
/// (`image`), running as `subject`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeChange {
    pub subject: Account,
    pub previous: DateTime<Utc>,
    pub new: DateTime<Utc>,
    pub pid: u32,
    pub image: String,
}

/// Kernel-Power 41: the system rebooted without cleanly shutting down first. All zero (the
/// default) is what a power loss or a hard reset leaves; a crash fills in the bugcheck.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirtyReboot {
    pub bugcheck_code: u32,
    pub bugcheck_parameters: [u64; 4],
    pub sleep_in_progress: u32,
    pub power_button_timestamp: u64,
    pub boot_app_status: u32,
    pub checkpoint: u8,
    pub connected_standby_in_progress: bool,
    pub system_sleep_transitions_to_on: u32,
    pub cs_entry_scenario_instance_id: u8,
    pub bugcheck_info_from_efi: bool,
    pub checkpoint_status: u8,
}

/// User32 1074: "The process `process` has initiated the `action` of computer `param2` on
/// behalf of user `user` for the following reason: `reason`". Real values (corpus):
/// `C:\Windows\System32\RuntimeBroker.exe (HOST)` / `Other (Unplanned)` / `0x0` for the
/// Start menu, `C:\Windows\system32\winlogon.exe (HOST)` / `No title for this reason
/// could be found` / `0x500ff` from the logon screen, `C:\Windows\system32\svchost.exe
/// (HOST)` / `Operating System: Service pack (Planned)` / `0x80020010` for Windows Update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownRequest {
    /// `param1`: the requesting image and, in parentheses, the computer name it knew.
    pub process: String,
    /// `param3`: the reason's title.
    pub reason: String,
    /// `param4`: the reason code, written as `0x` hex text.
    pub reason_code: u32,
    /// `param5`: `restart`, `power off` or `shutdown`.
    pub action: String,
    /// `param6`: the comment (usually empty).
    pub comment: String,
    /// `param7` (`DOMAIN\name`) and `Security UserID`.
    pub user: String,
    pub user_sid: Sid,
}

/// Builds events for one computer. The outer template holds `Computer` as literal text (as
/// Windows' does), so each host has its own; the `EventData` templates are shared.
pub struct EventFactory {
    computer: String,
    manifest: Arc<Template>,
    classic_system: Arc<Template>,
    eventlog_security: Arc<Template>,
    eventlog_system: Arc<Template>,
    user32_system: Arc<Template>,
    bodies: Bodies,
    system_sid: Sid,
}

struct Bodies {
    sysmon1: Arc<Template>,
    sysmon5: Arc<Template>,
    sysmon4: Arc<Template>,
    sysmon16: Arc<Template>,
    sysmon_pipe: Arc<Template>,
    sec4688v1: Arc<Template>,
    sec4688v2: Arc<Template>,
    sec4689: Arc<Template>,
    empty: Arc<Template>,
    kg12: Arc<Template>,
    kg13: Arc<Template>,
    classic: Arc<Template>,
    shutdown: Arc<Template>,
    cleared: Arc<Template>,
    cleared_other: Arc<Template>,
    sec4616: Arc<Template>,
    kp41: Arc<Template>,
    user32_1074: Arc<Template>,
}

const SYSMON1_FIELDS: &[(&str, u8)] = &[
    ("RuleName", vt::STRING),
    ("UtcTime", vt::STRING),
    ("ProcessGuid", vt::GUID),
    ("ProcessId", vt::UINT32),
    ("Image", vt::STRING),
    ("FileVersion", vt::STRING),
    ("Description", vt::STRING),
    ("Product", vt::STRING),
    ("Company", vt::STRING),
    ("OriginalFileName", vt::STRING),
    ("CommandLine", vt::STRING),
    ("CurrentDirectory", vt::STRING),
    ("User", vt::STRING),
    ("LogonGuid", vt::GUID),
    ("LogonId", vt::HEX64),
    ("TerminalSessionId", vt::UINT32),
    ("IntegrityLevel", vt::STRING),
    ("Hashes", vt::STRING),
    ("ParentProcessGuid", vt::GUID),
    ("ParentProcessId", vt::UINT32),
    ("ParentImage", vt::STRING),
    ("ParentCommandLine", vt::STRING),
    ("ParentUser", vt::STRING),
];

const SYSMON5_FIELDS: &[(&str, u8)] = &[
    ("RuleName", vt::STRING),
    ("UtcTime", vt::STRING),
    ("ProcessGuid", vt::GUID),
    ("ProcessId", vt::UINT32),
    ("Image", vt::STRING),
    ("User", vt::STRING),
];

/// Sysmon 17 and 18 share one layout.
const SYSMON_PIPE_FIELDS: &[(&str, u8)] = &[
    ("RuleName", vt::STRING),
    ("EventType", vt::STRING),
    ("UtcTime", vt::STRING),
    ("ProcessGuid", vt::GUID),
    ("ProcessId", vt::UINT32),
    ("PipeName", vt::STRING),
    ("Image", vt::STRING),
];

const SYSMON4_FIELDS: &[(&str, u8)] = &[
    ("UtcTime", vt::STRING),
    ("State", vt::STRING),
    ("Version", vt::STRING),
    ("SchemaVersion", vt::STRING),
];

const SYSMON16_FIELDS: &[(&str, u8)] = &[
    ("UtcTime", vt::STRING),
    ("Configuration", vt::STRING),
    ("ConfigurationFileHash", vt::STRING),
];

/// 4688 version 1; PIDs are declared `SizeT` in the template and written as HexInt64 values.
const SEC4688_V1_FIELDS: &[(&str, u8)] = &[
    ("SubjectUserSid", vt::SID),
    ("SubjectUserName", vt::STRING),
    ("SubjectDomainName", vt::STRING),
    ("SubjectLogonId", vt::HEX64),
    ("NewProcessId", vt::SIZE_T),
    ("NewProcessName", vt::STRING),
    ("TokenElevationType", vt::STRING),
    ("ProcessId", vt::SIZE_T),
    ("CommandLine", vt::STRING),
];

const SEC4688_V2_EXTRA: &[(&str, u8)] = &[
    ("TargetUserSid", vt::SID),
    ("TargetUserName", vt::STRING),
    ("TargetDomainName", vt::STRING),
    ("TargetLogonId", vt::HEX64),
    ("ParentProcessName", vt::STRING),
    ("MandatoryLabel", vt::SID),
];

const SEC4689_FIELDS: &[(&str, u8)] = &[
    ("SubjectUserSid", vt::SID),
    ("SubjectUserName", vt::STRING),
    ("SubjectDomainName", vt::STRING),
    ("SubjectLogonId", vt::HEX64),
    ("Status", vt::HEX32),
    ("ProcessId", vt::SIZE_T),
    ("ProcessName", vt::STRING),
];

const KG12_FIELDS: &[(&str, u8)] = &[
    ("MajorVersion", vt::UINT32),
    ("MinorVersion", vt::UINT32),
    ("BuildVersion", vt::UINT32),
    ("QfeVersion", vt::UINT32),
    ("ServiceVersion", vt::UINT16),
    ("BootMode", vt::UINT32),
    ("StartTime", vt::FILETIME),
];

/// 4616, as Windows 10 writes it (version 1); `ProcessId` is declared SizeT and written
/// HexInt64 on 64-bit Windows, as in 4688.
const SEC4616_FIELDS: &[(&str, u8)] = &[
    ("SubjectUserSid", vt::SID),
    ("SubjectUserName", vt::STRING),
    ("SubjectDomainName", vt::STRING),
    ("SubjectLogonId", vt::HEX64),
    ("PreviousTime", vt::FILETIME),
    ("NewTime", vt::FILETIME),
    ("ProcessId", vt::SIZE_T),
    ("ProcessName", vt::STRING),
];

/// Kernel-Power 41 version 6 (Windows 10 1809, the version in `../shared/corpus`). The
/// bugcheck parameters are declared SizeT: HexInt64 on 64-bit Windows (HexInt32 on the
/// 32-bit machine of the corpus).
const KP41_FIELDS: &[(&str, u8)] = &[
    ("BugcheckCode", vt::UINT32),
    ("BugcheckParameter1", vt::SIZE_T),
    ("BugcheckParameter2", vt::SIZE_T),
    ("BugcheckParameter3", vt::SIZE_T),
    ("BugcheckParameter4", vt::SIZE_T),
    ("SleepInProgress", vt::UINT32),
    ("PowerButtonTimestamp", vt::UINT64),
    ("BootAppStatus", vt::UINT32),
    ("Checkpoint", vt::UINT8),
    ("ConnectedStandbyInProgress", vt::BOOL),
    ("SystemSleepTransitionsToOn", vt::UINT32),
    ("CsEntryScenarioInstanceId", vt::UINT8),
    ("BugcheckInfoFromEFI", vt::BOOL),
    ("CheckpointStatus", vt::UINT8),
];

/// User32 1074: seven insertion strings, named as the manifest names them.
const USER32_1074_FIELDS: &[(&str, u8)] = &[
    ("param1", vt::STRING),
    ("param2", vt::STRING),
    ("param3", vt::STRING),
    ("param4", vt::STRING),
    ("param5", vt::STRING),
    ("param6", vt::STRING),
    ("param7", vt::STRING),
];

/// `<LogFileCleared xmlns=...><Name>{i}</Name>...</LogFileCleared>`, the `UserData` of the
/// event-log service's 1102 and 104.
fn log_file_cleared(fields: &[(&str, u8)]) -> Arc<Template> {
    let root = fields.iter().enumerate().fold(
        Element::new("LogFileCleared").attr("xmlns", Node::text(EVENTLOG_NS)),
        |e, (i, (name, ty))| {
            e.child(Node::Element(
                Element::new(name).child(Node::sub(i as u16, *ty)),
            ))
        },
    );
    Template::new(root)
}

/// `<EventData><Data Name="...">{i}</Data>...</EventData>` with normal substitutions.
fn event_data(fields: &[(&str, u8)]) -> Arc<Template> {
    let mut root = Element::new("EventData");
    for (i, (name, ty)) in fields.iter().enumerate() {
        let data = Element::new("Data")
            .attr("Name", Node::text(name))
            .child(Node::sub(i as u16, *ty));
        root = root.child(Node::Element(data));
    }
    Template::new(root)
}

impl Bodies {
    fn new() -> Bodies {
        let v2: Vec<(&str, u8)> = SEC4688_V1_FIELDS
            .iter()
            .chain(SEC4688_V2_EXTRA)
            .copied()
            .collect();
        let classic = Element::new("EventData")
            .child(Node::Element(
                Element::new("Data").child(Node::opt(0, vt::STRING_ARRAY)),
            ))
            .opt("Binary", 2, vt::BINARY);
        Bodies {
            sysmon1: event_data(SYSMON1_FIELDS),
            sysmon5: event_data(SYSMON5_FIELDS),
            sysmon4: event_data(SYSMON4_FIELDS),
            sysmon16: event_data(SYSMON16_FIELDS),
            sysmon_pipe: event_data(SYSMON_PIPE_FIELDS),
            sec4688v1: event_data(SEC4688_V1_FIELDS),
            sec4688v2: event_data(&v2),
            sec4689: event_data(SEC4689_FIELDS),
            empty: event_data(&[]),
            kg12: event_data(KG12_FIELDS),
            kg13: event_data(&[("StopTime", vt::FILETIME)]),
            classic: Template::new(classic),
            shutdown: Template::new(
                Element::new("ServiceShutdown").attr("xmlns", Node::text(EVENTLOG_NS)),
            ),
            cleared: log_file_cleared(&[
                ("SubjectUserSid", vt::SID),
                ("SubjectUserName", vt::STRING),
                ("SubjectDomainName", vt::STRING),
                ("SubjectLogonId", vt::HEX64),
            ]),
            cleared_other: log_file_cleared(&[
                ("SubjectUserName", vt::STRING),
                ("SubjectDomainName", vt::STRING),
                ("Channel", vt::STRING),
                ("BackupPath", vt::STRING),
            ]),
            sec4616: event_data(SEC4616_FIELDS),
            kp41: event_data(KP41_FIELDS),
            user32_1074: event_data(USER32_1074_FIELDS),
        }
    }
}

/// How the outer template names its provider and channel: through substitutions 14-16
/// (manifest providers: Sysmon, Security-Auditing, Kernel-General), or as literal text with
/// the body at substitution 19 (EventLog's classic and Eventlog's own events).
enum Shape<'a> {
    Manifest,
    Literal {
        provider: &'a str,
        guid: Option<&'a str>,
        /// `EventSourceName`, which classic sources registered through a manifest write
        /// (User32).
        event_source: Option<&'a str>,
        channel: &'a str,
        wrapper: Option<&'a str>,
    },
}

fn outer_template(computer: &str, shape: Shape<'_>) -> Arc<Template> {
    let (provider, related, channel_node, body_index) = match &shape {
        Shape::Manifest => {
            let p = Element::new("Provider")
                .attr("Name", Node::opt(14, vt::STRING))
                .attr("Guid", Node::opt(15, vt::GUID));
            (p, 13, Node::opt(16, vt::STRING), 17)
        }
        Shape::Literal {
            provider,
            guid,
            event_source,
            channel,
            ..
        } => {
            let mut p = Element::new("Provider").attr("Name", Node::text(provider));
            if let Some(g) = guid {
                p = p.attr("Guid", Node::text(g));
            }
            if let Some(source) = event_source {
                p = p.attr("EventSourceName", Node::text(source));
            }
            (p, 18, Node::text(channel), 19)
        }
    };
    let system = system_element(provider, related, channel_node, computer);
    let body = Node::opt(body_index, vt::BINXML);
    let body = match shape {
        Shape::Literal {
            wrapper: Some(w), ..
        } => Node::Element(Element::new(w).child(body)),
        _ => body,
    };
    let root = Element::new("Event")
        .attr("xmlns", Node::text(EVENT_NS))
        .child(Node::Element(system))
        .child(body);
    Template::new(root)
}

/// The `System` element, substitution indices as Windows numbers them.
fn system_element(provider: Element, related: u16, channel: Node, computer: &str) -> Element {
    let event_id = Element::new("EventID")
        .attr("Qualifiers", Node::opt(4, vt::UINT16))
        .child(Node::opt(3, vt::UINT16));
    let time = Element::new("TimeCreated").attr("SystemTime", Node::opt(6, vt::FILETIME));
    let correlation = Element::new("Correlation")
        .attr("ActivityID", Node::opt(7, vt::GUID))
        .attr("RelatedActivityID", Node::opt(related, vt::GUID));
    let execution = Element::new("Execution")
        .attr("ProcessID", Node::opt(8, vt::UINT32))
        .attr("ThreadID", Node::opt(9, vt::UINT32));
    Element::new("System")
        .child(Node::Element(provider))
        .child(Node::Element(event_id))
        .opt("Version", 11, vt::UINT8)
        .opt("Level", 0, vt::UINT8)
        .opt("Task", 2, vt::UINT16)
        .opt("Opcode", 1, vt::UINT8)
        .opt("Keywords", 5, vt::HEX64)
        .child(Node::Element(time))
        .opt("EventRecordID", 10, vt::UINT64)
        .child(Node::Element(correlation))
        .child(Node::Element(execution))
        .child(Node::Element(Element::new("Channel").child(channel)))
        .child(Node::Element(
            Element::new("Computer").child(Node::text(computer)),
        ))
        .child(Node::Element(
            Element::new("Security").attr("UserID", Node::opt(12, vt::SID)),
        ))
}

fn guid_value(text: &str) -> Value {
    Guid::parse(text).map_or(Value::Null, |g| Value::Guid(g.0))
}

fn z(s: &str) -> Value {
    Value::StrZ(s.to_string())
}

fn account_values(a: &Account) -> [Value; 4] {
    [
        Value::Sid(a.sid.bytes().to_vec()),
        z(&a.name),
        z(&a.domain),
        Value::Hex64(a.logon_id),
    ]
}

impl EventFactory {
    pub fn new(computer: &str) -> EventFactory {
        let classic = Shape::Literal {
            provider: "EventLog",
            guid: None,
            event_source: None,
            channel: "System",
            wrapper: None,
        };
        let eventlog = |channel| Shape::Literal {
            provider: "Microsoft-Windows-Eventlog",
            guid: Some(EVENTLOG_GUID),
            event_source: None,
            channel,
            wrapper: Some("UserData"),
        };
        let user32 = Shape::Literal {
            provider: "User32",
            guid: Some(USER32_GUID),
            event_source: Some("User32"),
            channel: "System",
            wrapper: None,
        };
        EventFactory {
            computer: computer.to_string(),
            manifest: outer_template(computer, Shape::Manifest),
            classic_system: outer_template(computer, classic),
            eventlog_security: outer_template(computer, eventlog("Security")),
            eventlog_system: outer_template(computer, eventlog("System")),
            user32_system: outer_template(computer, user32),
            bodies: Bodies::new(),
            system_sid: Sid::local_system(),
        }
    }

    pub fn computer(&self) -> &str {
        &self.computer
    }

    /// The 12 System values shared by both template shapes.
    fn system_values(&self, s: &Spec, h: &Header) -> Vec<Value> {
        let user = match &s.user {
            SystemUser::None => Value::Null,
            SystemUser::LocalSystem => Value::Sid(self.system_sid.bytes().to_vec()),
            SystemUser::Sid(sid) => Value::Sid(sid.bytes().to_vec()),
        };
        vec![
            Value::U8(s.level),
            Value::U8(0),
            Value::U16(s.task),
            Value::U16(s.event_id),
            s.qualifiers.map_or(Value::Null, Value::U16),
            Value::Hex64(s.keywords),
            Value::FileTime(filetime(h.time)),
            Value::Null,
            Value::U32(h.process_id),
            Value::U32(h.thread_id),
            Value::RecordId,
            Value::U8(s.version),
            user,
        ]
    }

    fn manifest_event(
        &self,
        channel: Channel,
        provider: (&str, &str),
        s: &Spec,
        h: &Header,
        body: Instance,
    ) -> Event {
        let mut values = self.system_values(s, h);
        values.push(Value::Null);
        values.push(Value::Str(provider.0.to_string()));
        values.push(guid_value(provider.1));
        values.push(Value::Str(channel.name().to_string()));
        values.push(Value::Xml(Box::new(body)));
        self.event(channel, &self.manifest, h, values)
    }

    fn literal_event(
        &self,
        (channel, template): (Channel, &Arc<Template>),
        s: &Spec,
        h: &Header,
        body: Instance,
    ) -> Event {
        let mut values = self.system_values(s, h);
        values.extend(std::iter::repeat_n(Value::Null, 6));
        values.push(Value::Xml(Box::new(body)));
        self.event(channel, template, h, values)
    }

    fn event(&self, channel: Channel, t: &Arc<Template>, h: &Header, values: Vec<Value>) -> Event {
        let event = Instance {
            template: Arc::clone(t),
            values,
        };
        Event {
            channel,
            record: Record {
                filetime: filetime(h.time),
                event,
            },
        }
    }

    fn sysmon(&self, s: &Spec, h: &Header, body: &Arc<Template>, values: Vec<Value>) -> Event {
        let body = Instance {
            template: Arc::clone(body),
            values,
        };
        let provider = ("Microsoft-Windows-Sysmon", SYSMON_GUID);
        self.manifest_event(Channel::Sysmon, provider, s, h, body)
    }

    fn security(&self, s: &Spec, h: &Header, body: &Arc<Template>, values: Vec<Value>) -> Event {
        let body = Instance {
            template: Arc::clone(body),
            values,
        };
        let provider = (
            "Microsoft-Windows-Security-Auditing",
            SECURITY_AUDITING_GUID,
        );
        self.manifest_event(Channel::Security, provider, s, h, body)
    }
}

/// The typed event builders, one per event type.
impl EventFactory {
    /// Sysmon 1, process creation (schema 5).
    pub fn sysmon_process_create(&self, h: &Header, p: &ProcessCreate) -> Event {
        let mut s = spec(1, 5, 4, 1, SYSMON_KW);
        s.user = SystemUser::LocalSystem;
        let values = vec![
            z("-"),
            z(&sysmon_time(p.utc_time)),
            Value::Guid(p.guid.0),
            Value::U32(p.pid),
            z(&p.image),
            z(&p.file_version),
            z(&p.description),
            z(&p.product),
            z(&p.company),
            z(&p.original_file_name),
            z(&p.command_line),
            z(&p.current_directory),
            z(&p.user),
            Value::Guid(p.logon_guid.0),
            Value::Hex64(p.logon_id),
            Value::U32(p.session),
            z(&p.integrity),
            z(&p.hashes),
            Value::Guid(p.parent_guid.0),
            Value::U32(p.parent_pid),
            z(&p.parent_image),
            z(&p.parent_command_line),
            z(&p.parent_user),
        ];
        self.sysmon(&s, h, &self.bodies.sysmon1, values)
    }

    /// Sysmon 5, process terminated.
    pub fn sysmon_process_terminate(&self, h: &Header, p: &ProcessTerminate) -> Event {
        let mut s = spec(5, 3, 4, 5, SYSMON_KW);
        s.user = SystemUser::LocalSystem;
        let values = vec![
            z("-"),
            z(&sysmon_time(p.utc_time)),
            Value::Guid(p.guid.0),
            Value::U32(p.pid),
            z(&p.image),
            z(&p.user),
        ];
        self.sysmon(&s, h, &self.bodies.sysmon5, values)
    }

    /// Sysmon 17 (`CreatePipe`) or 18 (`ConnectPipe`): version 1, task = event id, `RuleName`
    /// empty as Sysmon writes it when no rule name applies.
    pub fn sysmon_pipe(&self, h: &Header, p: &PipeEvent) -> Event {
        let (id, kind) = if p.created {
            (17, "CreatePipe")
        } else {
            (18, "ConnectPipe")
        };
        let mut s = spec(id, 1, 4, id, SYSMON_KW);
        s.user = SystemUser::LocalSystem;
        let values = vec![
            z(""),
            z(kind),
            z(&sysmon_time(p.utc_time)),
            Value::Guid(p.guid.0),
            Value::U32(p.pid),
            z(&p.pipe_name),
            z(&p.image),
        ];
        self.sysmon(&s, h, &self.bodies.sysmon_pipe, values)
    }

    /// Sysmon 4, service state changed (`Started`, `Stopped`).
    pub fn sysmon_state(&self, h: &Header, state: &str, version: &str, schema: &str) -> Event {
        let mut s = spec(4, 3, 4, 4, SYSMON_KW);
        s.user = SystemUser::LocalSystem;
        let values = vec![z(&sysmon_time(h.time)), z(state), z(version), z(schema)];
        self.sysmon(&s, h, &self.bodies.sysmon4, values)
    }

    /// Sysmon 16, configuration changed.
    pub fn sysmon_config(&self, h: &Header, configuration: &str, hash: &str) -> Event {
        let mut s = spec(16, 3, 4, 16, SYSMON_KW);
        s.user = SystemUser::LocalSystem;
        let values = vec![z(&sysmon_time(h.time)), z(configuration), z(hash)];
        self.sysmon(&s, h, &self.bodies.sysmon16, values)
    }

    /// Security 4688, version 1 or 2 depending on `p.v2`.
    pub fn security_process_create(&self, h: &Header, p: &NewProcess) -> Event {
        let version = if p.v2.is_some() { 2 } else { 1 };
        let s = spec(4688, version, 0, 13312, AUDIT_SUCCESS_KW);
        let mut values: Vec<Value> = account_values(&p.subject).into();
        values.extend([
            Value::Hex64(u64::from(p.pid)),
            z(&p.image),
            z(&p.elevation),
            Value::Hex64(u64::from(p.creator_pid)),
            z(&p.command_line),
        ]);
        let body = match &p.v2 {
            Some(v2) => {
                values.extend(account_values(&v2.target));
                values.push(z(&v2.parent_image));
                values.push(Value::Sid(v2.mandatory_label.bytes().to_vec()));
                &self.bodies.sec4688v2
            }
            None => &self.bodies.sec4688v1,
        };
        self.security(&s, h, body, values)
    }

    /// Security 4689, process exited.
    pub fn security_process_exit(&self, h: &Header, p: &ProcessExit) -> Event {
        let s = spec(4689, 0, 0, 13313, AUDIT_SUCCESS_KW);
        let mut values: Vec<Value> = account_values(&p.subject).into();
        values.extend([
            Value::Hex32(p.status),
            Value::Hex64(u64::from(p.pid)),
            z(&p.image),
        ]);
        self.security(&s, h, &self.bodies.sec4689, values)
    }

    /// Security 4608, Windows is starting up.
    pub fn security_startup(&self, h: &Header) -> Event {
        let s = spec(4608, 0, 0, 12288, AUDIT_SUCCESS_KW);
        self.security(&s, h, &self.bodies.empty, Vec::new())
    }

    /// Security 4616 (version 1), the system time was changed. Windows logs it with the
    /// new clock, from the kernel (`Execution ProcessID` 4).
    pub fn security_time_changed(&self, h: &Header, c: &TimeChange) -> Event {
        let s = spec(4616, 1, 0, 12288, AUDIT_SUCCESS_KW);
        let mut values: Vec<Value> = account_values(&c.subject).into();
        values.extend([
            Value::FileTime(filetime(c.previous)),
            Value::FileTime(filetime(c.new)),
            Value::Hex64(u64::from(c.pid)),
            z(&c.image),
        ]);
        self.security(&s, h, &self.bodies.sec4616, values)
    }

    /// Security 4609, Windows is shutting down.
    pub fn security_shutdown(&self, h: &Header) -> Event {
        let s = spec(4609, 0, 0, 12288, AUDIT_SUCCESS_KW);
        self.security(&s, h, &self.bodies.empty, Vec::new())
    }

    /// Security 1100 (provider Microsoft-Windows-Eventlog): the event logging service shut
    /// down.
    pub fn eventlog_service_shutdown(&self, h: &Header) -> Event {
        let s = spec(1100, 0, 4, 103, EVENTLOG_KW);
        let body = Instance {
            template: Arc::clone(&self.bodies.shutdown),
            values: Vec::new(),
        };
        self.literal_event((Channel::Security, &self.eventlog_security), &s, h, body)
    }

    /// Security 1102 (provider Microsoft-Windows-Eventlog): the audit log was cleared by `by`.
    /// The event-log service writes its `UserData` strings without a terminator.
    pub fn security_log_cleared(&self, h: &Header, by: &Account) -> Event {
        let s = spec(1102, 0, 4, 104, EVENTLOG_KW);
        let body = Instance {
            template: Arc::clone(&self.bodies.cleared),
            values: vec![
                Value::Sid(by.sid.bytes().to_vec()),
                Value::Str(by.name.clone()),
                Value::Str(by.domain.clone()),
                Value::Hex64(by.logon_id),
            ],
        };
        self.literal_event((Channel::Security, &self.eventlog_security), &s, h, body)
    }

    /// System Kernel-General 12: the operating system started at `start` (Windows 10 build
    /// 19041 values).
    pub fn kernel_boot(&self, h: &Header, start: DateTime<Utc>) -> Event {
        let mut s = spec(12, 0, 4, 1, 0x8000_0000_0000_0080);
        s.user = SystemUser::LocalSystem;
        let values = vec![
            Value::U32(10),
            Value::U32(0),
            Value::U32(19041),
            Value::U32(1415),
            Value::U16(0),
            Value::U32(0),
            Value::FileTime(filetime(start)),
        ];
        self.kernel_general(&s, h, &self.bodies.kg12, values)
    }

    /// System Kernel-General 13: the operating system is shutting down at `stop`.
    pub fn kernel_shutdown(&self, h: &Header, stop: DateTime<Utc>) -> Event {
        let s = spec(13, 0, 4, 2, 0x8000_0000_0000_0080);
        let values = vec![Value::FileTime(filetime(stop))];
        self.kernel_general(&s, h, &self.bodies.kg13, values)
    }

    /// System Kernel-Power 41 (version 6): the system rebooted without cleanly shutting
    /// down. Logged early in the next boot by the kernel (process 4).
    pub fn dirty_reboot(&self, h: &Header, r: &DirtyReboot) -> Event {
        let mut s = spec(41, 6, 1, 63, 0x8000_4000_0000_0002);
        s.user = SystemUser::LocalSystem;
        let [p1, p2, p3, p4] = r.bugcheck_parameters;
        let values = vec![
            Value::U32(r.bugcheck_code),
            Value::Hex64(p1),
            Value::Hex64(p2),
            Value::Hex64(p3),
            Value::Hex64(p4),
            Value::U32(r.sleep_in_progress),
            Value::U64(r.power_button_timestamp),
            Value::U32(r.boot_app_status),
            Value::U8(r.checkpoint),
            Value::Bool(r.connected_standby_in_progress),
            Value::U32(r.system_sleep_transitions_to_on),
            Value::U8(r.cs_entry_scenario_instance_id),
            Value::Bool(r.bugcheck_info_from_efi),
            Value::U8(r.checkpoint_status),
        ];
        let body = Instance {
            template: Arc::clone(&self.bodies.kp41),
            values,
        };
        let provider = ("Microsoft-Windows-Kernel-Power", KERNEL_POWER_GUID);
        self.manifest_event(Channel::System, provider, &s, h, body)
    }

    /// System User32 1074: a process asked for a shutdown or restart on behalf of a user.
    /// A classic source with a manifest: provider name, GUID and `EventSourceName` are
    /// literal in the template, `Qualifiers` 32768, strings without terminators.
    pub fn shutdown_requested(&self, h: &Header, r: &ShutdownRequest) -> Event {
        let mut s = spec(1074, 0, 4, 0, 0x8080_0000_0000_0000);
        s.qualifiers = Some(0x8000);
        s.user = SystemUser::Sid(r.user_sid.clone());
        let values = [
            r.process.clone(),
            self.computer.clone(),
            r.reason.clone(),
            format!("{:#x}", r.reason_code),
            r.action.clone(),
            r.comment.clone(),
            r.user.clone(),
        ]
        .map(Value::Str)
        .into();
        let body = Instance {
            template: Arc::clone(&self.bodies.user32_1074),
            values,
        };
        self.literal_event((Channel::System, &self.user32_system), &s, h, body)
    }

    /// System 104 (provider Microsoft-Windows-Eventlog): the log `channel` (any but
    /// Security, whose clears are 1102) was cleared by `by`; `Security UserID` is theirs.
    pub fn system_log_cleared(&self, h: &Header, by: &Account, channel: &str) -> Event {
        let mut s = spec(104, 0, 4, 104, 0x8000_0000_0000_0000);
        s.user = SystemUser::Sid(by.sid.clone());
        let values = [by.name.clone(), by.domain.clone(), channel.to_string()]
            .map(Value::Str)
            .into_iter()
            .chain([Value::Str(String::new())])
            .collect();
        let body = Instance {
            template: Arc::clone(&self.bodies.cleared_other),
            values,
        };
        self.literal_event((Channel::System, &self.eventlog_system), &s, h, body)
    }

    fn kernel_general(&self, s: &Spec, h: &Header, t: &Arc<Template>, v: Vec<Value>) -> Event {
        let body = Instance {
            template: Arc::clone(t),
            values: v,
        };
        let provider = ("Microsoft-Windows-Kernel-General", KERNEL_GENERAL_GUID);
        self.manifest_event(Channel::System, provider, s, h, body)
    }

    /// System EventLog 6005: the event log service was started.
    pub fn eventlog_started(&self, h: &Header) -> Event {
        self.classic(6005, 4, h, None, systemtime(h.time))
    }

    /// System EventLog 6006: the event log service was stopped.
    pub fn eventlog_stopped(&self, h: &Header) -> Event {
        self.classic(6006, 4, h, None, systemtime(h.time))
    }

    /// System EventLog 6008: the previous shutdown at `previous` was unexpected. Windows
    /// writes local time and date as text, the date with left-to-right marks.
    pub fn unexpected_shutdown(&self, h: &Header, previous: DateTime<Utc>) -> Event {
        let time = previous.format("%-I:%M:%S %p").to_string();
        let date = previous
            .format("\u{200e}%-m/\u{200e}%-d/\u{200e}%Y")
            .to_string();
        let mut strings = vec![time, date];
        strings.extend(["", "", "", "", ""].map(String::from));
        self.classic(6008, 2, h, Some(strings), systemtime(previous))
    }

    /// System EventLog 6013: the system uptime is `seconds` seconds.
    pub fn uptime(&self, h: &Header, seconds: u64) -> Event {
        let mut strings: Vec<String> = ["", "", "", ""].map(String::from).into();
        strings.extend([
            seconds.to_string(),
            "60".to_string(),
            "0 Coordinated Universal Time".to_string(),
        ]);
        self.classic(6013, 4, h, Some(strings), Vec::new())
    }

    fn classic(
        &self,
        id: u16,
        level: u8,
        h: &Header,
        strings: Option<Vec<String>>,
        binary: Vec<u8>,
    ) -> Event {
        let mut s = spec(id, 0, level, 0, CLASSIC_KW);
        s.qualifiers = Some(0x8000);
        let len = u32::try_from(binary.len()).unwrap_or(0);
        let body = Instance {
            template: Arc::clone(&self.bodies.classic),
            values: vec![
                strings.map_or(Value::Null, Value::StrArray),
                Value::U32(len),
                Value::Binary(binary),
            ],
        };
        self.literal_event((Channel::System, &self.classic_system), &s, h, body)
    }
}

/// A Windows SYSTEMTIME (year, month, weekday, day, hour, minute, second, ms) followed by
/// eight zero bytes, as EventLog's 6005/6006/6008 binary data holds.
fn systemtime(t: DateTime<Utc>) -> Vec<u8> {
    use chrono::{Datelike, Timelike};
    let fields = [
        t.year() as u16,
        t.month() as u16,
        t.weekday().num_days_from_sunday() as u16,
        t.day() as u16,
        t.hour() as u16,
        t.minute() as u16,
        t.second() as u16,
        (t.timestamp_subsec_millis().min(999)) as u16,
    ];
    let mut out: Vec<u8> = fields.iter().flat_map(|f| f.to_le_bytes()).collect();
    out.extend_from_slice(&[0; 8]);
    out
}
