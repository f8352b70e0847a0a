//! Sysmon 1/5 and Security 4688/4689 fields, mapped onto one process model.

use super::fields::Fields;
use crate::model::{ProcessExit, ProcessStart, Source};
use chrono::{DateTime, Utc};

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
