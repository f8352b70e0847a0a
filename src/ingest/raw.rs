//! The one value every reader produces: a record's System header and its data fields as text.
//!
//! EVTX, XML exports and `evtx_dump` JSON lines all reduce to this shape, so the extractor that
//! turns records into typed events is written once and the three readers can be proven
//! equivalent by comparing `RawRecord`s.

use chrono::{DateTime, Utc};
use std::rc::Rc;

/// A decoded event record, before it is known whether it matters.
///
/// Values are kept as the text Windows would render (decimal numbers, `0x`-prefixed hex for
/// hex-typed values, lowercase braced GUIDs, `S-1-...` SIDs), so that every reader agrees.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawRecord {
    /// `System/Provider/@Name`.
    pub provider_name: Option<String>,
    /// `System/Provider/@Guid`, lowercased, with braces.
    pub provider_guid: Option<String>,
    /// `System/EventID` without qualifiers.
    pub event_id: Option<u32>,
    /// `System/Version`.
    pub version: Option<u8>,
    /// `System/Channel`.
    pub channel: Option<String>,
    /// `System/Computer`.
    pub computer: Option<String>,
    /// `System/EventRecordID`.
    pub record_id: Option<u64>,
    /// `System/TimeCreated/@SystemTime`, UTC.
    pub time_created: Option<DateTime<Utc>>,
    /// `EventData/Data` as (Name, text) in document order; unnamed `Data` elements have an
    /// empty name. For `UserData`, the leaf elements as (element name, text). Names are
    /// shared: the EVTX reader takes them from the template, once per template, not per record.
    pub data: Vec<(Rc<str>, String)>,
}

impl RawRecord {
    /// The text of the first data field called `name` (exact match, as Windows names are
    /// case-sensitive in the manifest).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.data
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The unnamed data values in order (e.g. EventLog 6008, 6013).
    pub fn positional(&self) -> impl Iterator<Item = &str> {
        self.data
            .iter()
            .filter(|(n, _)| n.is_empty())
            .map(|(_, v)| v.as_str())
    }
}

/// Lowercase a GUID and make sure it carries braces, so `{5770385F-...}` from Windows XML and
/// `{5770385f-...}` from evtx compare equal. Returns `None` for text that is not a GUID.
pub fn normalize_guid(text: &str) -> Option<String> {
    normalize_guid_owned(text.to_string())
}

/// [`normalize_guid`] that keeps the allocation when the text is already normal (as the
/// EVTX reader renders GUIDs).
pub fn normalize_guid_owned(text: String) -> Option<String> {
    if is_normal_guid(text.as_bytes()) {
        return Some(text);
    }
    let t = text.trim();
    let inner = t
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .unwrap_or(t);
    let ok = inner.len() == 36
        && inner.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    ok.then(|| format!("{{{}}}", inner.to_ascii_lowercase()))
}

/// Whether `b` is a GUID as [`normalize_guid`] writes it: braces, lowercase hex digits, dashes
/// after the 8th, 12th, 16th and 20th digit. Every Sysmon process record carries two; the
/// digits are checked with a table, group by group, rather than a `match` on each position.
fn is_normal_guid(b: &[u8]) -> bool {
    const fn lower_hex() -> [bool; 256] {
        let mut t = [false; 256];
        let mut c = 0;
        while c < 256 {
            t[c] = matches!(c as u8, b'0'..=b'9' | b'a'..=b'f');
            c += 1;
        }
        t
    }
    const LOWER_HEX: [bool; 256] = lower_hex();
    let Ok(b) = <&[u8; 38]>::try_from(b) else {
        return false;
    };
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(|&c| LOWER_HEX[usize::from(c)]);
    b[0] == b'{'
        && b[37] == b'}'
        && b[9] == b'-'
        && b[14] == b'-'
        && b[19] == b'-'
        && b[24] == b'-'
        && digits(1..9)
        && digits(10..14)
        && digits(15..19)
        && digits(20..24)
        && digits(25..37)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_normalisation_accepts_both_cases_and_rejects_junk() {
        assert_eq!(
            normalize_guid("{5770385F-C22A-43E0-BF4C-06F5698FFBD9}").as_deref(),
            Some("{5770385f-c22a-43e0-bf4c-06f5698ffbd9}")
        );
        assert_eq!(
            normalize_guid("5770385f-c22a-43e0-bf4c-06f5698ffbd9").as_deref(),
            Some("{5770385f-c22a-43e0-bf4c-06f5698ffbd9}")
        );
        assert_eq!(normalize_guid("-"), None);
        let normal = "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}";
        assert!(is_normal_guid(normal.as_bytes()));
        for at in 0..normal.len() {
            for c in [b'A', b'g', b'-', b'{', b'0', b'/', b':', b'`', 0xff] {
                let mut b = normal.as_bytes().to_vec();
                b[at] = c;
                let expected = b == normal.as_bytes()
                    || (!matches!(at, 0 | 9 | 14 | 19 | 24 | 37)
                        && (c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
                assert_eq!(is_normal_guid(&b), expected, "{at} {c}");
            }
        }
        assert!(!is_normal_guid(&normal.as_bytes()[..37]));
        assert_eq!(normalize_guid("{zzzz}"), None);
    }
}
