//! Sysmon 1/5 and Security 4688/4689 fields, mapped onto one process model.

use super::fields::Fields;
use super::{SECURITY_PROVIDER, SYSMON_PROVIDER};
use crate::ingest::binxml::FieldNames;
use crate::model::{ProcessExit, ProcessStart, Source};
use chrono::{DateTime, Utc};

/// Every data field [`start`] and [`exit`] read, by provider and event id (the record's
/// source follows from its provider, see `classify`); `None` for other records. The test below
/// checks the lists against what the functions ask for.
pub fn fields(provider: &str, event_id: u32) -> Option<FieldNames> {
    match (provider, event_id) {
        (SYSMON_PROVIDER, 1) => Some(SYSMON_START),
        (SYSMON_PROVIDER, 5) => Some(SYSMON_EXIT),
        (SECURITY_PROVIDER, 4688) => Some(SECURITY_START),
        (SECURITY_PROVIDER, 4689) => Some(SECURITY_EXIT),
        _ => None,
    }
}

const SYSMON_START: FieldNames = &[
    "UtcTime",
    "ProcessGuid",
    "ProcessId",
    "Image",
    "OriginalFileName",
    "CommandLine",
    "CurrentDirectory",
    "User",
    "LogonId",
    "TerminalSessionId",
    "IntegrityLevel",
    "Hashes",
    "ParentProcessGuid",
    "ParentProcessId",
    "ParentImage",
    "ParentCommandLine",
    "ParentUser",
];

const SYSMON_EXIT: FieldNames = &["UtcTime", "ProcessGuid", "ProcessId", "Image", "User"];

const SECURITY_START: FieldNames = &[
    "SubjectUserSid",
    "SubjectUserName",
    "SubjectDomainName",
    "SubjectLogonId",
    "NewProcessId",
    "NewProcessName",
    "TokenElevationType",
    "ProcessId",
    "CommandLine",
    "TargetUserSid",
    "TargetUserName",
    "TargetDomainName",
    "TargetLogonId",
    "ParentProcessName",
    "MandatoryLabel",
];

const SECURITY_EXIT: FieldNames = &[
    "SubjectUserName",
    "SubjectDomainName",
    "Status",
    "ProcessId",
    "ProcessName",
];

/// A process start; the time is Sysmon's `UtcTime` (the moment of creation) when present.
pub fn start(source: Source, f: &mut Fields<'_>) -> (ProcessStart, Option<DateTime<Utc>>) {
    match source {
        Source::Security => (security_start(f), None),
        _ => (sysmon_start(f), f.time("UtcTime")),
    }
}

fn sysmon_start(f: &mut Fields<'_>) -> ProcessStart {
    ProcessStart {
        pid: f.pid("ProcessId"),
        guid: f.guid("ProcessGuid"),
        image: f.text("Image"),
        original_file_name: f.known_text("OriginalFileName"),
        command_line: f.text("CommandLine"),
        current_directory: f.text("CurrentDirectory"),
        user: f.text("User"),
        logon_id: f.text("LogonId"),
        session: f.u32("TerminalSessionId"),
        integrity_level: f.text("IntegrityLevel"),
        hashes: f.text("Hashes"),
        parent_pid: f.pid("ParentProcessId"),
        parent_guid: f.guid("ParentProcessGuid"),
        parent_image: f.text("ParentImage"),
        parent_command_line: f.text("ParentCommandLine"),
        parent_user: f.text("ParentUser"),
        ..Default::default()
    }
}

/// The null SID Windows writes when 4688 has no distinct target account.
const NULL_SID: &str = "S-1-0-0";

fn security_start(f: &mut Fields<'_>) -> ProcessStart {
    let subject_user = f.account("SubjectDomainName", "SubjectUserName");
    let subject_user_sid = f.text("SubjectUserSid");
    let subject_logon_id = f.text("SubjectLogonId");
    let target_user_sid = f.text("TargetUserSid").filter(|s| s != NULL_SID);
    let target_user = f.account("TargetDomainName", "TargetUserName");
    let target_logon_id = f.text("TargetLogonId").filter(|s| s != "0x0");
    let has_target = target_user.is_some() || target_user_sid.is_some();
    ProcessStart {
        pid: f.pid("NewProcessId"),
        image: f.text("NewProcessName"),
        command_line: f.text("CommandLine"),
        parent_pid: f.pid("ProcessId"),
        parent_image: f.text("ParentProcessName"),
        user: if has_target {
            target_user.clone()
        } else {
            subject_user.clone()
        },
        user_sid: if has_target {
            target_user_sid.clone()
        } else {
            subject_user_sid.clone()
        },
        logon_id: target_logon_id.clone().or_else(|| subject_logon_id.clone()),
        token_elevation_type: f.text("TokenElevationType"),
        mandatory_label: f.text("MandatoryLabel"),
        subject_user,
        subject_user_sid,
        subject_logon_id,
        target_user,
        target_user_sid,
        target_logon_id,
        ..Default::default()
    }
}

/// A process end.
pub fn exit(source: Source, f: &mut Fields<'_>) -> (ProcessExit, Option<DateTime<Utc>>) {
    match source {
        Source::Security => (
            ProcessExit {
                pid: f.pid("ProcessId"),
                image: f.text("ProcessName"),
                user: f.account("SubjectDomainName", "SubjectUserName"),
                exit_status: f.text("Status"),
                ..Default::default()
            },
            None,
        ),
        _ => (
            ProcessExit {
                pid: f.pid("ProcessId"),
                guid: f.guid("ProcessGuid"),
                image: f.text("Image"),
                user: f.text("User"),
                ..Default::default()
            },
            f.time("UtcTime"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::RawRecord;
    use std::rc::Rc;

    /// The names each reader asks for, with every field present.
    fn asked(source: Source, start_or_exit: bool) -> Vec<String> {
        let names = [SYSMON_START, SYSMON_EXIT, SECURITY_START, SECURITY_EXIT].concat();
        let mut rec = RawRecord {
            data: names.iter().map(|n| (Rc::from(*n), "1".into())).collect(),
            ..Default::default()
        };
        let mut odd = Default::default();
        let mut f = Fields {
            rec: &mut rec,
            odd: &mut odd,
            cursor: 0,
        };
        super::super::fields::ASKED.with(|a| a.borrow_mut().clear());
        if start_or_exit {
            let _ = start(source, &mut f);
        } else {
            let _ = exit(source, &mut f);
        }
        super::super::fields::ASKED.with(|a| a.borrow().clone())
    }

    #[test]
    fn field_lists_name_every_field_the_readers_take() {
        for (provider, id, source, start_or_exit) in [
            (SYSMON_PROVIDER, 1, Source::Sysmon, true),
            (SYSMON_PROVIDER, 5, Source::Sysmon, false),
            (SECURITY_PROVIDER, 4688, Source::Security, true),
            (SECURITY_PROVIDER, 4689, Source::Security, false),
        ] {
            let list = fields(provider, id).unwrap_or_default();
            let asked = asked(source, start_or_exit);
            assert!(!asked.is_empty());
            for name in asked {
                assert!(list.contains(&name.as_str()), "{provider} {id}: {name}");
            }
        }
        assert_eq!(fields(SYSMON_PROVIDER, 4), None);
    }
}
