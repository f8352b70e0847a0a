//! Windows value encodings: FILETIMEs, SIDs, GUIDs and Sysmon's process GUIDs.

use chrono::{DateTime, Utc};

/// 100 ns intervals between 1601-01-01 and 1970-01-01.
const FILETIME_UNIX_EPOCH: i64 = 116_444_736_000_000_000;

/// The FILETIME of a UTC time; times before 1601 become 0.
pub fn filetime(t: DateTime<Utc>) -> u64 {
    let secs = t.timestamp();
    let sub = i64::from(t.timestamp_subsec_nanos() / 100);
    let ticks = secs
        .checked_mul(10_000_000)
        .and_then(|v| v.checked_add(sub))
        .and_then(|v| v.checked_add(FILETIME_UNIX_EPOCH))
        .unwrap_or(0);
    u64::try_from(ticks).unwrap_or(0)
}

/// Sysmon's `UtcTime` text: `2022-03-10 19:51:17.621`.
pub fn sysmon_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

/// A binary SID parsed from `S-1-5-21-...` text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sid {
    text: String,
    bytes: Vec<u8>,
}

impl Sid {
    /// Parses `S-R-A-S1-S2...`; `None` for anything else (at most 15 sub-authorities).
    pub fn parse(text: &str) -> Option<Sid> {
        let mut parts = text.strip_prefix("S-")?.split('-');
        let revision: u8 = parts.next()?.parse().ok()?;
        let authority: u64 = parts.next()?.parse().ok()?;
        if authority >= 1 << 48 {
            return None;
        }
        let subs: Vec<u32> = parts.map(|p| p.parse().ok()).collect::<Option<_>>()?;
        let count = u8::try_from(subs.len()).ok().filter(|&n| n <= 15)?;
        let mut bytes = vec![revision, count];
        bytes.extend_from_slice(&authority.to_be_bytes()[2..]);
        for s in subs {
            bytes.extend_from_slice(&s.to_le_bytes());
        }
        Some(Sid {
            text: text.to_string(),
            bytes,
        })
    }

    /// `S-1-5-18`, LocalSystem.
    pub fn local_system() -> Sid {
        Sid {
            text: "S-1-5-18".to_string(),
            bytes: vec![1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0],
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// A GUID in its on-disk byte order (the first three fields little-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Guid(pub [u8; 16]);

impl Guid {
    /// Parses `{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}` (braces optional, any case).
    pub fn parse(text: &str) -> Option<Guid> {
        let t = text.trim_start_matches('{').trim_end_matches('}');
        let hex: String = t.chars().filter(|&c| c != '-').collect();
        if hex.len() != 32 || t.len() != 36 {
            return None;
        }
        let mut raw = [0u8; 16];
        for (i, b) in raw.iter_mut().enumerate() {
            *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        let mut g = raw;
        g[0..4].reverse();
        g[4..6].reverse();
        g[6..8].reverse();
        Some(Guid(g))
    }

    /// Sysmon's process GUID: `{MMMMMMMM-SSSS-SSSS-CCCC-000000000300}` with the machine part
    /// constant per host, then the process start's Unix seconds as a little-endian u32 over
    /// the second and third fields (`{747f3d96-b75f-5ea4-...}` started at 0x5EA4B75F), then
    /// a per-boot counter. Tools date a parent that was never logged from this.
    pub fn sysmon(machine: u32, unix_seconds: u32, counter: u16, tail: u16) -> Guid {
        let mut g = [0u8; 16];
        g[0..4].copy_from_slice(&machine.to_le_bytes());
        g[4..8].copy_from_slice(&unix_seconds.to_le_bytes());
        g[8..10].copy_from_slice(&counter.to_le_bytes());
        g[14..16].copy_from_slice(&tail.to_le_bytes());
        Guid(g)
    }

    /// Lowercase with braces, as `evtx_dump` renders and `lineage` normalises.
    pub fn to_braced(self) -> String {
        let g = self.0;
        format!(
            "{{{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}}}",
            u32::from_le_bytes([g[0], g[1], g[2], g[3]]),
            u16::from_le_bytes([g[4], g[5]]),
            u16::from_le_bytes([g[6], g[7]]),
            g[8],
            g[9],
            g[10],
            g[11],
            g[12],
            g[13],
            g[14],
            g[15]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysmon_guid_carries_start_seconds() {
        let g = Guid::sysmon(0x747f3d96, 0x5EA4B75F, 0x0318, 0x0003);
        assert_eq!(g.to_braced(), "{747f3d96-b75f-5ea4-1803-000000000300}");
    }

    #[test]
    fn guid_text_round_trips() {
        let t = "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}";
        let g = Guid::parse(t).unwrap();
        assert_eq!(g.to_braced(), t);
        assert_eq!(&g.0[..4], &[0x5f, 0x38, 0x70, 0x57]);
    }

    #[test]
    fn sids_encode_like_windows() {
        let s = Sid::parse("S-1-5-18").unwrap();
        assert_eq!(s.bytes(), &[1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0]);
        assert!(Sid::parse("S-1-x").is_none());
        assert!(Sid::parse("nonsense").is_none());
    }

    #[test]
    fn filetime_of_unix_epoch() {
        let t = DateTime::from_timestamp(0, 0).unwrap();
        assert_eq!(filetime(t), 116_444_736_000_000_000);
    }
}
