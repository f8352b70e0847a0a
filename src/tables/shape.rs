//! Command-line shapes: a command line with the parts that differ between runs of the same
//! program replaced by placeholders, so stacking counts `svchost.exe -k netsvcs -p -s
//! Schedule` once however many hosts ran it, and the one odd command line stands out.
//!
//! Replaced: GUIDs (`<guid>`), the profile folder name after `\Users\` (`<user>`, except
//! `Public` and `Default`, which are telling in themselves), numbers that stand alone
//! (`<n>`), hex numbers (`0x..` and runs of 8 or more hex digits mixing digits and letters,
//! `<hex>`), and runs of 32 or more letters and digits such as base64 payloads (`<blob>`).
//! Letters are lower-cased and runs of white space become one space. Numbers inside words
//! (`win32`, `x64`) stay.

/// The shape of `cmd`.
pub fn command_shape(cmd: &str) -> String {
    let lower = cmd.to_lowercase();
    let chars: Vec<char> = lower.chars().collect();
    let mut out = String::with_capacity(lower.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if let Some(len) = guid_at(&chars[i..]) {
            out.push_str("<guid>");
            i += len;
        } else if c.is_whitespace() {
            if !out.ends_with(' ') && !out.is_empty() {
                out.push(' ');
            }
            i += 1;
        } else if c.is_ascii_alphanumeric() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            out.push_str(&word_shape(&word));
        } else {
            out.push(c);
            i += 1;
            if c == '\\' && user_folder_follows(&out) {
                let start = i;
                while i < chars.len() && chars[i] != '\\' && chars[i] != '"' {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                if matches!(name.as_str(), "public" | "default" | "all users") || name.is_empty() {
                    out.push_str(&name);
                } else {
                    out.push_str("<user>");
                }
            }
        }
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out
}

/// `out` ends with `\users\`, so the next path component is a profile name.
fn user_folder_follows(out: &str) -> bool {
    out.ends_with("\\users\\")
}

/// One run of letters and digits, as its shape.
fn word_shape(w: &str) -> String {
    let digits = w.bytes().filter(u8::is_ascii_digit).count();
    if digits == w.len() {
        return "<n>".into();
    }
    if w.len() >= 32 {
        return "<blob>".into();
    }
    let hex = w.bytes().all(|b| b.is_ascii_hexdigit());
    if let Some(rest) = w.strip_prefix("0x") {
        if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return "<hex>".into();
        }
    }
    if hex && w.len() >= 8 && digits > 0 {
        return "<hex>".into();
    }
    w.to_string()
}

/// Length of a GUID (`8-4-4-4-12` hex digits, optionally in braces) at the start of `s`.
fn guid_at(s: &[char]) -> Option<usize> {
    let braced = s.first() == Some(&'{');
    let body = if braced { &s[1..] } else { s };
    let groups = [8usize, 4, 4, 4, 12];
    let mut at = 0;
    for (n, len) in groups.iter().enumerate() {
        if n > 0 {
            if body.get(at) != Some(&'-') {
                return None;
            }
            at += 1;
        }
        let part = body.get(at..at + len)?;
        if !part.iter().all(char::is_ascii_hexdigit) {
            return None;
        }
        at += len;
    }
    // A GUID is a whole token: not the start of a longer hex run.
    if body.get(at).is_some_and(char::is_ascii_alphanumeric) {
        return None;
    }
    if braced {
        if body.get(at) != Some(&'}') {
            return None;
        }
        at += 1;
    }
    Some(at + usize::from(braced))
}

#[cfg(test)]
mod tests {
    use super::command_shape;

    #[test]
    fn numbers_guids_users_and_blobs_become_placeholders() {
        assert_eq!(
            command_shape(r"C:\Windows\system32\svchost.exe -k  netsvcs -p -s Schedule"),
            r"c:\windows\system32\svchost.exe -k netsvcs -p -s schedule"
        );
        assert_eq!(
            command_shape(r#""C:\Users\alice\AppData\Local\Temp\x.exe" /pid 4242 0x1F4"#),
            r#""c:\users\<user>\appdata\local\temp\x.exe" /pid <n> <hex>"#
        );
        assert_eq!(
            command_shape(
                r"rundll32.exe {3F2504E0-4F89-11D3-9A0C-0305E82C3301} C:\Users\Public\a.dll"
            ),
            r"rundll32.exe <guid> c:\users\public\a.dll"
        );
        assert_eq!(
            command_shape("powershell -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA"),
            "powershell -enc <blob>"
        );
        // Numbers inside words stay: they are part of the name.
        assert_eq!(command_shape(r"C:\Win32\x64.exe"), r"c:\win32\x64.exe");
        assert_eq!(
            command_shape("conhost.exe 0xffffffff -ForceV1"),
            "conhost.exe <hex> -forcev1"
        );
    }

    #[test]
    fn any_text_is_shaped_without_panicking() {
        for s in [
            "",
            "{",
            "{0000",
            "\\users\\",
            "\u{202e}\u{0}\\Users\\\u{1b}[31m",
            "ﬀ\u{130}İ",
        ] {
            let _ = command_shape(s);
        }
    }
}
