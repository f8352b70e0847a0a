//! Reading typed values out of a record's text fields without trusting them.
//!
//! Windows writes `-` for "none", Sysmon writes `?` for unknown version info, PIDs are decimal
//! in Sysmon and `0x`-hex in Security; a hostile log can put anything anywhere. Every accessor
//! returns `None` for what it cannot read and counts the oddity, so the run summary can say how
//! much was unreadable instead of the tool guessing.

use crate::ingest::raw::normalize_guid_owned;
use crate::ingest::RawRecord;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Counts of fields that were present but unreadable, by field name.
pub type OddFields = BTreeMap<String, u64>;

/// A record plus the counter its oddities go to.
pub struct Fields<'r> {
    pub rec: &'r mut RawRecord,
    pub odd: &'r mut OddFields,
    /// Where the last lookup matched: fields are mostly read in the order Windows writes them,
    /// so the search starts there.
    pub cursor: usize,
}

impl Fields<'_> {
    fn note(&mut self, name: &str) {
        match self.odd.get_mut(name) {
            Some(n) => *n += 1,
            None => {
                self.odd.insert(name.to_string(), 1);
            }
        }
    }

    /// Text of a field; `None` when absent, empty, or the `-` placeholder. The value is moved
    /// out of the record (each field is read once), which saves a copy per field.
    pub fn text(&mut self, name: &str) -> Option<String> {
        #[cfg(test)]
        ASKED.with(|a| a.borrow_mut().push(name.to_string()));
        // From the cursor to the end, then from the start: no division per step.
        let cursor = self.cursor.min(self.rec.data.len());
        let (before, after) = self.rec.data.split_at(cursor);
        let at = match after.iter().position(|(n, _)| &**n == name) {
            Some(i) => cursor + i,
            None => before.iter().position(|(n, _)| &**n == name)?,
        };
        self.cursor = at + 1;
        let slot = &mut self.rec.data[at];
        let t = slot.1.trim();
        if t.is_empty() || t == "-" {
            None
        } else {
            Some(std::mem::take(&mut slot.1))
        }
    }

    /// Like [`Fields::text`], and `?` (Sysmon's "unknown") is also `None`.
    pub fn known_text(&mut self, name: &str) -> Option<String> {
        self.text(name).filter(|v| v.trim() != "?")
    }

    /// A process id, decimal or `0x` hex (Security logs hex).
    pub fn pid(&mut self, name: &str) -> Option<u64> {
        let v = self.text(name)?;
        let parsed = parse_number(v.trim());
        if parsed.is_none() {
            self.note(name);
        }
        parsed
    }

    /// A small unsigned number such as a session id.
    pub fn u32(&mut self, name: &str) -> Option<u32> {
        let v = self.pid(name)?;
        let out = u32::try_from(v).ok();
        if out.is_none() {
            self.note(name);
        }
        out
    }

    /// A GUID, normalised to lowercase with braces.
    pub fn guid(&mut self, name: &str) -> Option<String> {
        let v = self.text(name)?;
        let g = normalize_guid_owned(v);
        if g.is_none() {
            self.note(name);
        }
        g
    }

    /// A time in Sysmon's `UtcTime` form or RFC 3339 (FILETIME values as rendered).
    pub fn time(&mut self, name: &str) -> Option<DateTime<Utc>> {
        let v = self.text(name)?;
        let t = crate::time::parse_event_time(v.trim());
        if t.is_none() {
            self.note(name);
        }
        t
    }

    /// `DOMAIN\user` from a pair of fields, or whichever half exists.
    pub fn account(&mut self, domain: &str, user: &str) -> Option<String> {
        let u = self.text(user)?;
        match self.text(domain) {
            Some(d) => Some(format!("{d}\\{u}")),
            None => Some(u),
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Every name [`Fields::text`] was asked for on this thread, for tests of the readers.
    pub static ASKED: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Decimal or `0x` hex, as Windows writes numbers.
pub fn parse_number(t: &str) -> Option<u64> {
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => t.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(fields: &[(&str, &str)]) -> RawRecord {
        RawRecord {
            data: fields
                .iter()
                .map(|(a, b)| (std::rc::Rc::from(*a), b.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn placeholders_and_junk_become_none_and_are_counted() {
        let mut r = rec(&[
            ("ParentImage", "-"),
            ("ProcessId", "abc"),
            ("NewProcessId", "0x1a4"),
            ("OriginalFileName", "?"),
            ("UtcTime", "2021-04-22 22:09:25.377"),
            ("TerminalSessionId", "99999999999"),
        ]);
        let mut odd = OddFields::new();
        let mut f = Fields {
            rec: &mut r,
            odd: &mut odd,
            cursor: 0,
        };
        assert_eq!(f.text("ParentImage"), None);
        assert_eq!(f.pid("ProcessId"), None);
        assert_eq!(f.pid("NewProcessId"), Some(0x1a4));
        assert_eq!(f.known_text("OriginalFileName"), None);
        assert_eq!(f.u32("TerminalSessionId"), None);
        assert_eq!(
            f.time("UtcTime").map(|t| t.to_rfc3339()),
            Some("2021-04-22T22:09:25.377+00:00".into())
        );
        assert_eq!(odd.get("ProcessId"), Some(&1));
        assert_eq!(odd.get("TerminalSessionId"), Some(&1));
        assert_eq!(odd.get("ParentImage"), None);
    }

    #[test]
    fn numbers_parse_in_both_bases_and_reject_overflow() {
        assert_eq!(parse_number("4"), Some(4));
        assert_eq!(parse_number("0xFFFF"), Some(0xffff));
        assert_eq!(parse_number("0x"), None);
        assert_eq!(parse_number("99999999999999999999999"), None);
    }
}
