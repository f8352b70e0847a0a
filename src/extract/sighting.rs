//! Sysmon records that show a process running without being its start or end: "sightings".
//!
//! A process whose Sysmon 1 was filtered out by the configuration, or never collected, is
//! still named by what it does. Which events count is a trade: each one kept is decoded and
//! held for the lineage stage, and the EVTX reader's fast path is the hot loop. Kept:
//!
//! - **17, 18** (pipe created, connected): service binaries and lateral-movement tools
//!   (PsExec and its renamed copies, Cobalt Strike) announce themselves with pipes; few per
//!   process;
//! - **3** (network connection) and **22** (DNS query): what an implant masquerading as a
//!   system process does first; usually filtered by the configuration to moderate volume.
//!
//! Not kept: 7 (image loads: tens per process start, the largest volume a Sysmon log can
//! have), 10 (process access: other field names, and lsass access by every security product),
//! 12/13/14 (registry) and 11/23/26 (files), all an order of magnitude more frequent than
//! starts on a busy machine while adding few processes the kept ones do not show. Adding one
//! is one line in [`kind`] and [`fields`] (with its detail field).
//!
//! All of them carry `UtcTime`, `ProcessGuid`, `ProcessId`, `Image` and (Sysmon 12+) `User`.

use super::fields::Fields;
use super::SYSMON_PROVIDER;
use crate::ingest::binxml::FieldNames;
use crate::model::ProcessSighting;
use chrono::{DateTime, Utc};

/// Whether a Sysmon event id is a sighting.
pub fn is_sighting(event_id: u32) -> bool {
    matches!(event_id, 3 | 17 | 18 | 22)
}

/// Every data field [`sighting`] reads, for a sighting's provider and event id.
pub fn fields(provider: &str, event_id: u32) -> Option<FieldNames> {
    match (provider, event_id) {
        (SYSMON_PROVIDER, 17 | 18) => Some(PIPE),
        (SYSMON_PROVIDER, 3) => Some(NETWORK),
        (SYSMON_PROVIDER, 22) => Some(DNS),
        _ => None,
    }
}

const PIPE: FieldNames = &[
    "UtcTime",
    "ProcessGuid",
    "ProcessId",
    "Image",
    "User",
    "PipeName",
];
const NETWORK: FieldNames = &[
    "UtcTime",
    "ProcessGuid",
    "ProcessId",
    "Image",
    "User",
    "DestinationIp",
    "DestinationPort",
];
const DNS: FieldNames = &[
    "UtcTime",
    "ProcessGuid",
    "ProcessId",
    "Image",
    "User",
    "QueryName",
];

/// A sighting, and its `UtcTime` (the moment of the action).
pub fn sighting(event_id: u32, f: &mut Fields<'_>) -> (ProcessSighting, Option<DateTime<Utc>>) {
    let time = f.time("UtcTime");
    let s = ProcessSighting {
        guid: f.guid("ProcessGuid"),
        pid: f.pid("ProcessId"),
        image: f.text("Image"),
        user: f.text("User"),
        detail: match event_id {
            17 | 18 => f.text("PipeName"),
            22 => f.text("QueryName"),
            3 => {
                let ip = f.text("DestinationIp");
                let port = f.text("DestinationPort");
                match (ip, port) {
                    (Some(ip), Some(port)) => Some(format!("{ip}:{port}")),
                    (ip, port) => ip.or(port),
                }
            }
            _ => None,
        },
    };
    (s, time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::RawRecord;
    use std::rc::Rc;

    fn asked(id: u32) -> Vec<String> {
        let names = [PIPE, NETWORK, DNS].concat();
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
        let _ = sighting(id, &mut f);
        super::super::fields::ASKED.with(|a| a.borrow().clone())
    }

    #[test]
    fn field_lists_name_every_field_a_sighting_takes() {
        for id in [3, 17, 18, 22] {
            assert!(is_sighting(id));
            let list = fields(SYSMON_PROVIDER, id).unwrap_or_default();
            let asked = asked(id);
            assert!(asked.len() >= 5);
            for name in asked {
                assert!(list.contains(&name.as_str()), "{id}: {name}");
            }
        }
        assert_eq!(fields(SYSMON_PROVIDER, 7), None);
        assert!(!is_sighting(1) && !is_sighting(5) && !is_sighting(7));
    }

    #[test]
    fn network_detail_is_destination_and_port() {
        let mut rec = RawRecord {
            data: [
                ("UtcTime", "2020-09-27 13:42:00.713"),
                ("ProcessGuid", "{747F3D96-96A8-5F70-0000-0010C0F02D00}"),
                ("ProcessId", "1120"),
                ("Image", r"C:\Windows\svchost.exe"),
                ("DestinationIp", "10.0.0.1"),
                ("DestinationPort", "445"),
            ]
            .iter()
            .map(|(a, b)| (Rc::from(*a), b.to_string()))
            .collect(),
            ..Default::default()
        };
        let mut odd = Default::default();
        let mut f = Fields {
            rec: &mut rec,
            odd: &mut odd,
            cursor: 0,
        };
        let (s, t) = sighting(3, &mut f);
        assert_eq!(s.detail.as_deref(), Some("10.0.0.1:445"));
        assert_eq!(
            s.guid.as_deref(),
            Some("{747f3d96-96a8-5f70-0000-0010c0f02d00}")
        );
        assert_eq!(s.pid, Some(1120));
        assert!(t.is_some());
    }

    /// A pipe record as the readers deliver it, with the given channel and provider GUID.
    fn pipe_record(channel: &str, guid: &str, id: u32) -> RawRecord {
        RawRecord {
            provider_name: Some(SYSMON_PROVIDER.into()),
            provider_guid: Some(guid.into()),
            event_id: Some(id),
            version: Some(1),
            channel: Some(channel.into()),
            computer: Some("MSEDGEWIN10".into()),
            record_id: Some(409645),
            time_created: crate::time::parse_event_time("2020-09-27T13:42:00.7267751Z"),
            data: [
                ("RuleName", ""),
                ("EventType", "CreatePipe"),
                ("UtcTime", "2020-09-27 13:42:00.713"),
                ("ProcessGuid", "{747f3d96-96a8-5f70-0000-0010c0f02d00}"),
                ("ProcessId", "1120"),
                ("PipeName", "\\svchost"),
                ("Image", "C:\\Windows\\svchost.exe"),
            ]
            .iter()
            .map(|(a, b)| (Rc::from(*a), b.to_string()))
            .collect(),
        }
    }

    #[test]
    fn a_pipe_record_is_a_sighting_only_from_the_sysmon_channel_and_guid() {
        use crate::extract::{Extractor, Filter, SYSMON_CHANNEL, SYSMON_GUID};
        use crate::ingest::RecordSink;
        use crate::model::{Body, EventKind};
        let filter = Filter::default();
        let mut ex = Extractor::new(std::sync::Arc::from("f.evtx"), &filter);
        ex.record(pipe_record(SYSMON_CHANNEL, SYSMON_GUID, 17), 4608);
        // The same record claiming Sysmon from another channel, or with another GUID.
        ex.record(pipe_record("Application", SYSMON_GUID, 17), 1);
        ex.record(
            pipe_record(SYSMON_CHANNEL, "{00000000-0000-0000-0000-000000000001}", 18),
            2,
        );
        // Image loads are not sightings: not even decoded.
        ex.record(pipe_record(SYSMON_CHANNEL, SYSMON_GUID, 7), 3);
        assert_eq!(ex.events.len(), 1);
        assert_eq!(ex.tally.mismatches, 2);
        assert_eq!(ex.tally.decoded, 3);
        let e = &ex.events[0];
        assert_eq!(e.kind, EventKind::Sighting);
        assert_eq!(
            crate::time::format_rfc3339_ms(&e.time),
            "2020-09-27T13:42:00.713Z"
        );
        let Body::Sighting(s) = &e.body else {
            panic!("{e:?}")
        };
        assert_eq!(s.image.as_deref(), Some("C:\\Windows\\svchost.exe"));
        assert_eq!(s.detail.as_deref(), Some("\\svchost"));
        assert_eq!(s.pid, Some(1120));
        assert!(ex.wants(Some(SYSMON_PROVIDER), Some(18)));
        assert!(!ex.wants(Some(SYSMON_PROVIDER), Some(7)));
        assert!(ex.fields(Some(SYSMON_PROVIDER), Some(17)).is_some());
    }
}
