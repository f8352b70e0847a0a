//! Making hostile log text safe to show on a terminal.
//!
//! Event logs from a compromised host are attacker-controlled text. Printed raw, a command
//! line can recolour or clear the screen, set the window title, plant an OSC 8 hyperlink,
//! overwrite what was already printed with a carriage return, or reorder characters with
//! bidi overrides so `invoice\u{202e}fdp.exe` reads as `invoiceexe.pdf`. Zero-width
//! characters make `svc\u{200b}host.exe` look exactly like `svchost.exe`. None of these is
//! silently dropped: each is replaced with a visible escape, because the fact that someone
//! put it there is itself evidence the analyst should see.
//!
//! # Notation
//!
//! * TAB, LF and CR become `\t`, `\n` and `\r`.
//! * Every other C0 control (U+0000..=U+001F) and DEL (U+007F) becomes `\x` followed by
//!   exactly two lowercase hex digits: NUL is `\x00`, BEL `\x07`, backspace `\x08`, ESC
//!   `\x1b`, DEL `\x7f`.
//! * Everything else that is escaped becomes `\u{...}` with lowercase hex and no leading
//!   zeros, as in Rust source: the C1 CSI is `\u{9b}`, RIGHT-TO-LEFT OVERRIDE `\u{202e}`,
//!   the byte order mark `\u{feff}`.
//!
//! The full set is in [`is_unsafe_char`]. Backslashes in the input are *not* doubled: Windows
//! paths are full of them and `C:\\Windows\\System32` would be unreadable. The price is that
//! the escaped form is for human eyes only and is not reversible: a log that literally
//! contains the six characters `\x1b` looks the same as one that contained an ESC. Use JSON
//! lines or CSV output when the exact text matters; they are lossless and never pass through
//! this module.
//!
//! This does not defend against look-alike (homoglyph) characters such as Cyrillic `о` for
//! Latin `o`; those are printable text and are shown as they are.

use std::borrow::Cow;

/// Returns `s` with every character from [`is_unsafe_char`] replaced by a visible escape
/// (see the module docs for the notation).
///
/// Most log text is clean, so the common case is a byte scan and a borrow, with no
/// allocation.
pub fn for_terminal(s: &str) -> Cow<'_, str> {
    match first_unsafe(s) {
        None => Cow::Borrowed(s),
        Some(at) => {
            let mut out = String::with_capacity(s.len() + 16);
            push_escaped_from(s, at, &mut out);
            Cow::Owned(out)
        }
    }
}

/// Appends the sanitised form of `s` to `out`; the same as [`for_terminal`] but lets a table
/// renderer reuse one buffer for a whole row.
pub fn for_terminal_into(s: &str, out: &mut String) {
    match first_unsafe(s) {
        None => out.push_str(s),
        Some(at) => push_escaped_from(s, at, out),
    }
}

/// True for characters that must not reach a terminal as they are.
///
/// Beyond controls, bidi and zero-width characters, this also covers other invisible
/// format characters that serve the same hiding purpose: the soft hyphen U+00AD, the
/// Mongolian vowel separator U+180E, the invisible operators U+2061..=U+2064, the deprecated
/// format controls U+206A..=U+206F, the interlinear annotation characters U+FFF9..=U+FFFB and
/// the tag characters U+E0000..=U+E007F (invisible copies of ASCII).
pub fn is_unsafe_char(c: char) -> bool {
    matches!(
        c,
        // C0 controls (ESC, CR, LF, TAB, BEL, BS, ...), DEL, and C1 controls (incl. CSI U+009B).
        '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{ad}'
            // ARABIC LETTER MARK (a bidi mark).
            | '\u{61c}'
            | '\u{180e}'
            // ZWSP, ZWNJ, ZWJ, LRM, RLM.
            | '\u{200b}'..='\u{200f}'
            // LINE SEPARATOR, PARAGRAPH SEPARATOR, LRE, RLE, PDF, LRO, RLO.
            | '\u{2028}'..='\u{202e}'
            // WORD JOINER, invisible operators, isolates LRI/RLI/FSI/PDI, deprecated controls.
            | '\u{2060}'..='\u{206f}'
            // ZERO WIDTH NO-BREAK SPACE (byte order mark).
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{e0000}'..='\u{e007f}'
    )
}

/// The first UTF-8 byte of every character [`is_unsafe_char`] accepts is one of these. The
/// fast path only looks closer at such bytes; all of them start a character, so any index
/// found is a char boundary.
fn is_suspect_byte(b: u8) -> bool {
    b < 0x20 || b == 0x7f || matches!(b, 0xc2 | 0xd8 | 0xe1 | 0xe2 | 0xef | 0xf3)
}

/// Byte index of the first unsafe character, if any.
fn first_unsafe(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    bytes
        .iter()
        .enumerate()
        .filter(|&(_, &b)| is_suspect_byte(b))
        .map(|(i, _)| i)
        .find(|&i| {
            s.get(i..)
                .and_then(|rest| rest.chars().next())
                .is_some_and(is_unsafe_char)
        })
}

/// Copies `s[..at]` unchanged, then escapes the rest character by character.
fn push_escaped_from(s: &str, at: usize, out: &mut String) {
    // `at` comes from `first_unsafe` and is a char boundary; if it somehow were not, escaping
    // the whole string is still correct, just slower.
    let (clean, rest) = s.split_at_checked(at).unwrap_or(("", s));
    out.push_str(clean);
    for c in rest.chars() {
        if is_unsafe_char(c) {
            push_escape(c, out);
        } else {
            out.push(c);
        }
    }
}

fn push_escape(c: char, out: &mut String) {
    use std::fmt::Write as _;
    match c {
        '\t' => out.push_str("\\t"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        // Writing to a String cannot fail.
        c if u32::from(c) <= 0x7f => {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The characters the brief names, listed independently of `is_unsafe_char` so the tests
    /// do not just check the implementation against itself.
    fn named_forbidden(c: char) -> bool {
        let u = u32::from(c);
        u <= 0x1f
            || (0x7f..=0x9f).contains(&u)
            || (0x202a..=0x202e).contains(&u)
            || (0x2066..=0x2069).contains(&u)
            || matches!(
                u,
                0x200e | 0x200f | 0x061c | 0x2060 | 0xfeff | 0x2028 | 0x2029
            )
            || (0x200b..=0x200d).contains(&u)
    }

    fn assert_clean(out: &str) {
        assert!(!out.chars().any(named_forbidden), "{out:?}");
        assert!(!out.chars().any(is_unsafe_char), "{out:?}");
    }

    #[test]
    fn ansi_color_escape_is_neutralised() {
        let out = for_terminal("\x1b[31mred\x1b[0m");
        assert_eq!(out, "\\x1b[31mred\\x1b[0m");
        assert_clean(&out);
    }

    #[test]
    fn osc_title_set_is_neutralised() {
        let out = for_terminal("\x1b]0;pwned\x07 and \x1b]2;again\x1b\\");
        assert_eq!(out, "\\x1b]0;pwned\\x07 and \\x1b]2;again\\x1b\\");
        assert_clean(&out);
    }

    #[test]
    fn osc8_hyperlink_is_neutralised() {
        let out = for_terminal("\x1b]8;;https://evil.example/\x1b\\click me\x1b]8;;\x1b\\");
        assert_eq!(
            out,
            "\\x1b]8;;https://evil.example/\\x1b\\click me\\x1b]8;;\\x1b\\"
        );
        assert_clean(&out);
    }

    #[test]
    fn carriage_return_overwrite_is_visible() {
        let out = for_terminal("powershell -enc AAAA\rC:\\Windows\\System32\\svchost.exe");
        assert_eq!(
            out,
            "powershell -enc AAAA\\rC:\\Windows\\System32\\svchost.exe"
        );
        assert_eq!(for_terminal("a\nb\tc\x08d"), "a\\nb\\tc\\x08d");
    }

    #[test]
    fn right_to_left_override_is_visible() {
        assert_eq!(
            for_terminal("invoice\u{202e}fdp.exe"),
            "invoice\\u{202e}fdp.exe"
        );
        assert_eq!(
            for_terminal("a\u{2066}b\u{2069}c\u{200f}\u{61c}"),
            "a\\u{2066}b\\u{2069}c\\u{200f}\\u{61c}"
        );
    }

    #[test]
    fn zero_width_space_is_visible() {
        assert_eq!(for_terminal("svc\u{200b}host.exe"), "svc\\u{200b}host.exe");
        assert_eq!(
            for_terminal("\u{feff}x\u{2060}y\u{200d}"),
            "\\u{feff}x\\u{2060}y\\u{200d}"
        );
    }

    #[test]
    fn c1_csi_is_neutralised() {
        let out = for_terminal("\u{9b}31mred\u{9b}0m \u{9d}0;title\u{9c}");
        assert_eq!(out, "\\u{9b}31mred\\u{9b}0m \\u{9d}0;title\\u{9c}");
        assert_clean(&out);
    }

    #[test]
    fn line_separators_and_del_are_visible() {
        assert_eq!(
            for_terminal("a\u{2028}b\u{2029}c\u{7f}"),
            "a\\u{2028}b\\u{2029}c\\x7f"
        );
    }

    #[test]
    fn clean_text_is_borrowed_even_when_not_ascii() {
        for s in [
            "",
            "C:\\Windows\\System32\\svchost.exe -k netsvcs",
            "Müller’s “report” — ☃ 日本語 \u{a0}\u{a9}",
            "\u{e0080}\u{1f600}",
        ] {
            assert!(
                matches!(for_terminal(s), Cow::Borrowed(b) if b == s),
                "{s:?}"
            );
        }
    }

    #[test]
    fn into_appends() {
        let mut out = String::from("> ");
        for_terminal_into("ok", &mut out);
        for_terminal_into("\x1b!", &mut out);
        assert_eq!(out, "> ok\\x1b!");
    }

    /// The fast path only inspects suspect lead bytes; every unsafe char must start with one.
    #[test]
    fn every_unsafe_char_starts_with_a_suspect_byte() {
        let mut buf = [0u8; 4];
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            if is_unsafe_char(c) {
                let first = c.encode_utf8(&mut buf).as_bytes()[0];
                assert!(is_suspect_byte(first), "{c:?}");
            }
        }
    }

    proptest! {
        #[test]
        fn output_never_contains_forbidden_chars(s in any::<String>()) {
            let out = for_terminal(&s);
            prop_assert!(!out.chars().any(named_forbidden));
            prop_assert!(!out.chars().any(is_unsafe_char));
            // Sanitising twice changes nothing more.
            prop_assert!(matches!(for_terminal(&out), Cow::Borrowed(_)));
            let mut into = String::new();
            for_terminal_into(&s, &mut into);
            prop_assert_eq!(into.as_str(), &*out);
        }

        #[test]
        fn mixed_hostile_text_is_clean(s in "[a-z\\x00-\\x1f\\x7f\u{80}-\u{9f}\u{200b}-\u{200f}\u{202a}-\u{202e}\u{2066}-\u{2069}\u{feff}]*") {
            let out = for_terminal(&s);
            prop_assert!(!out.chars().any(named_forbidden));
        }

        #[test]
        fn printable_text_is_borrowed_unchanged(s in "[^\\p{C}\\p{Zl}\\p{Zp}\u{180e}]*") {
            prop_assert!(matches!(for_terminal(&s), Cow::Borrowed(b) if b == s));
        }

        #[test]
        fn printable_ascii_is_borrowed_unchanged(s in "[ -~]*") {
            prop_assert!(matches!(for_terminal(&s), Cow::Borrowed(b) if b == s));
        }
    }
}
