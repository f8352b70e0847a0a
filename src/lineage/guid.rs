//! ProcessGuids as lookup keys.
//!
//! GUIDs are compared without case (Sysmon writes them in lower case, other tools and
//! hand-edited logs may not). Lower-casing a copy for every lookup was one allocation per
//! process and per parent link; a GUID in its usual form is a 128-bit number, so it becomes
//! one, and only text in another shape (which the logs should not hold, but hostile ones do)
//! is kept as lower-case text.

/// A ProcessGuid that compares equal to another exactly when their texts are equal ignoring
/// ASCII case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GuidKey {
    /// `{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}`: the 32 hex digits as a number.
    Number(u128),
    /// Any other text, lower-cased. It can never equal a `Number` one: lower-casing keeps a
    /// text's shape, so a text not in the usual form never matches one that is.
    Text(Box<str>),
}

impl GuidKey {
    pub fn new(guid: &str) -> GuidKey {
        match parse(guid) {
            Some(n) => GuidKey::Number(n),
            None => GuidKey::Text(guid.to_ascii_lowercase().into_boxed_str()),
        }
    }

    /// The key of a GUID that names a process; `None` for the null GUID (all zeros), which
    /// Sysmon writes for a parent it does not know (see [`super::is_null_guid`]).
    pub fn live(guid: &str) -> Option<GuidKey> {
        match GuidKey::new(guid) {
            GuidKey::Number(0) => None,
            GuidKey::Text(t) if super::is_null_guid(&t) => None,
            key => Some(key),
        }
    }
}

/// The number in a `{8-4-4-4-12}` GUID, or `None` for any other text. Every process and
/// every parent link reads a GUID or two, so the digits are read eight at a time.
pub(crate) fn parse(guid: &str) -> Option<u128> {
    let [b'{', inner @ .., b'}'] = guid.as_bytes() else {
        return None;
    };
    let g: &[u8; 36] = inner.try_into().ok()?;
    if [g[8], g[13], g[18], g[23]] != [b'-'; 4] {
        return None;
    }
    // Eight or four bytes from `from`, the first in the lowest byte.
    let word = |from: usize| Some(u64::from_le_bytes(g.get(from..from + 8)?.try_into().ok()?));
    let half = |from: usize| {
        let four: [u8; 4] = g.get(from..from + 4)?.try_into().ok()?;
        Some(u64::from(u32::from_le_bytes(four)))
    };
    let a = hex8(word(0)?)?;
    let b = hex8(half(9)? | half(14)? << 32)?;
    let c = hex8(half(19)? | half(24)? << 32)?;
    let d = hex8(word(28)?)?;
    Some(u128::from(a) << 96 | u128::from(b) << 64 | u128::from(c) << 32 | u128::from(d))
}

/// Eight hex digits, the first in the lowest byte (as `u64::from_le_bytes` reads them), as a
/// number; `None` when a byte is not a hex digit. Each byte is tested and converted at once,
/// in its own lane of the `u64`.
#[inline]
fn hex8(x: u64) -> Option<u32> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES * 0x80;
    if x & HIGH != 0 {
        return None;
    }
    // Per byte, the high bit says the byte is in lo..=hi. Bytes are below 0x80 here, so no
    // sum carries into the next byte.
    let within =
        |v: u64, lo: u64, hi: u64| (v + ONES * (0x80 - lo)) & !(v + ONES * (0x7f - hi)) & HIGH;
    let digit = within(x, b'0'.into(), b'9'.into());
    let letter = within(x | (ONES * 0x20), b'a'.into(), b'f'.into());
    if digit | letter != HIGH {
        return None;
    }
    // A digit's value is its low four bits, plus 9 for letters ('a' is 0x61: 1 + 9).
    let v = (x & (ONES * 0x0f)) + (letter >> 7) * 9;
    // Pack the values, first digit highest: pairs of bytes, then of 16 and of 32 bits.
    let v = ((v << 4) | (v >> 8)) & 0x00ff_00ff_00ff_00ff;
    let v = ((v << 8) | (v >> 16)) & 0x0000_ffff_0000_ffff;
    let v = ((v << 16) | (v >> 32)) & 0x0000_0000_ffff_ffff;
    u32::try_from(v).ok()
}

/// The Unix seconds a Sysmon GUID in the usual form embeds: its second and third fields, read
/// as one little-endian 32-bit number (see [`super::guid_time`]).
pub(crate) fn embedded_seconds(n: u128) -> u32 {
    let second = ((n >> 80) & 0xffff) as u32;
    let third = ((n >> 64) & 0xffff) as u32;
    (third << 16) | second
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_as_case_insensitive_text() {
        let a = GuidKey::new("{747f3d96-b75f-5ea4-0100-000000000300}");
        let b = GuidKey::new("{747F3D96-B75F-5EA4-0100-000000000300}");
        assert_eq!(a, b);
        assert!(matches!(a, GuidKey::Number(_)));
        assert_ne!(a, GuidKey::new("{747f3d96-b75f-5ea4-0100-000000000301}"));
        // Other shapes are text, equal only to the same text in another case.
        let bare = GuidKey::new("747f3d96-b75f-5ea4-0100-000000000300");
        assert!(matches!(bare, GuidKey::Text(_)));
        assert_ne!(a, bare);
        assert_eq!(GuidKey::new("Not-A-Guid"), GuidKey::new("not-a-guid"));
        assert_eq!(
            GuidKey::live("{00000000-0000-0000-0000-000000000000}"),
            None
        );
        assert_eq!(GuidKey::live("{0-0}"), None);
        assert_eq!(GuidKey::live(""), None);
        assert!(GuidKey::live("{747f3d96-b75f-5ea4-0100-000000000300}").is_some());
        assert!(matches!(
            GuidKey::new("{747f3d96+b75f-5ea4-0100-000000000300}"),
            GuidKey::Text(_)
        ));
        assert!(matches!(
            GuidKey::new("{747f3d96-b75f-5ea4-0100-00000000030g}"),
            GuidKey::Text(_)
        ));
        let n = parse("{747f3d96-b75f-5ea4-0100-000000000300}").unwrap();
        assert_eq!(embedded_seconds(n), 0x5EA4_B75F);
        assert_eq!(n, 0x747f3d96_b75f_5ea4_0100_000000000300);
    }

    /// The digit-at-a-time reading `parse` must agree with.
    fn parse_slowly(guid: &str) -> Option<u128> {
        let inner = guid.strip_prefix('{')?.strip_suffix('}')?;
        let groups: Vec<&str> = inner.split('-').collect();
        let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
        if lens != [8, 4, 4, 4, 12] {
            return None;
        }
        let mut n = 0u128;
        for c in groups.concat().chars() {
            n = (n << 4) | u128::from(c.to_digit(16)?);
        }
        Some(n)
    }

    #[test]
    fn parse_agrees_with_reading_digit_by_digit() {
        let base = "{0123abcd-ef45-6789-ABCD-EF0123456789}";
        assert_eq!(parse(base), parse_slowly(base));
        assert!(parse(base).is_some());
        // Every byte value at every place.
        for at in 0..base.len() {
            for b in 0..=255u8 {
                let mut bytes = base.as_bytes().to_vec();
                bytes[at] = b;
                let Ok(text) = String::from_utf8(bytes) else {
                    continue;
                };
                assert_eq!(parse(&text), parse_slowly(&text), "{text:?}");
            }
        }
        // Random texts over hex digits, their neighbours and the separators.
        let alphabet = b"0123456789abcdefABCDEF/:@G`g-{}";
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..20_000 {
            let text: String = (0..38)
                .map(|i| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let pick = usize::try_from(x % alphabet.len() as u64).unwrap();
                    match i {
                        0 if x % 16 != 0 => '{',
                        37 if x % 16 != 1 => '}',
                        9 | 14 | 19 | 24 if x % 16 != 2 => '-',
                        _ => char::from(alphabet[pick]),
                    }
                })
                .collect();
            assert_eq!(parse(&text), parse_slowly(&text), "{text:?}");
        }
    }
}
