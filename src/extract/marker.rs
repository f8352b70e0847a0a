//! Boot, shutdown, clock and logging markers.

use super::fields::{parse_number, Fields};
use crate::model::{Marker, MarkerKind, Source};

/// The marker a (source, event id) pair stands for; `None` for any other pair.
fn kind_of(source: Source, id: u32, provider: &str) -> Option<MarkerKind> {
    use MarkerKind::*;
    Some(match (source, id) {
        (Source::System, 12) if provider == "Microsoft-Windows-Kernel-General" => OsStarted,
        (Source::System, 13) if provider == "Microsoft-Windows-Kernel-General" => OsShutdown,
        (Source::System, 6005) | (Source::Security, 4608) => LogStarted,
        (Source::System, 6006) | (Source::Security, 4609) => LogStopped,
        (Source::System, 6008) => UnexpectedShutdown,
        (Source::System, 6009) => BootBanner,
        (Source::System, 6013) => Uptime,
        (Source::System, 41) => DirtyReboot,
        (Source::System, 1074) => ShutdownRequested,
        (Source::Security, 4616) => TimeChanged,
        (Source::Security, 1100) => LoggingShutdown,
        (Source::Security, 1102) | (Source::System, 104) => LogCleared,
        (Source::Sysmon, 4) => SysmonState,
        (Source::Sysmon, 16) => SysmonConfig,
        _ => return None,
    })
}

/// Build a marker from a record already classified by source.
pub fn marker(source: Source, id: u32, f: &mut Fields<'_>) -> Option<Marker> {
    let provider = f.rec.provider_name.as_deref().unwrap_or("");
    let kind = kind_of(source, id, provider)?;
    let mut m = Marker {
        marker: kind,
        new_time: None,
        previous_time: None,
        uptime_seconds: None,
        detail: None,
    };
    match kind {
        MarkerKind::OsStarted => m.new_time = f.time("StartTime"),
        MarkerKind::OsShutdown => m.new_time = f.time("StopTime"),
        MarkerKind::TimeChanged => {
            m.previous_time = f.time("PreviousTime");
            m.new_time = f.time("NewTime");
            m.detail = f.text("ProcessName");
        }
        // "The system uptime is %5 seconds": the fifth insert; older logs put it first.
        MarkerKind::Uptime => {
            let values: Vec<&str> = f.rec.positional().collect();
            let pick = values.get(4).or_else(|| values.first());
            m.uptime_seconds = pick.and_then(|v| parse_number(v.trim()));
        }
        MarkerKind::UnexpectedShutdown => {
            let parts: Vec<&str> = f.rec.positional().take(2).collect();
            m.detail =
                (!parts.is_empty()).then(|| format!("previous shutdown at {}", parts.join(" ")));
        }
        MarkerKind::ShutdownRequested => {
            let who = f.text("param1");
            let reason = f.text("param3");
            let what = f.text("param5");
            let user = f.text("param7");
            let parts: Vec<String> = [what, who, user, reason].into_iter().flatten().collect();
            m.detail = (!parts.is_empty()).then(|| parts.join("; "));
        }
        MarkerKind::LogCleared => {
            let by = f.account("SubjectDomainName", "SubjectUserName");
            m.detail = by.map(|u| match f.text("Channel") {
                Some(c) => format!("{c} cleared by {u}"),
                None => format!("cleared by {u}"),
            });
        }
        MarkerKind::SysmonState => m.detail = f.text("State"),
        MarkerKind::SysmonConfig => m.detail = f.text("Configuration"),
        _ => {}
    }
    Some(m)
}
