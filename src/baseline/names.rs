//! Names, paths, accounts, integrity levels and patterns, compared the way the rules need.

use super::rules::{IntegrityLevel, UserClass};

/// `*` and `?` wildcards, ASCII case-insensitive, iterative (no backtracking blow-up: the
/// classic two-pointer match is linear in practice and never recursive).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    let t: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi.min(p.len())..].iter().all(|&c| c == '*')
}

/// A rule's name or path entry matches a process image: entries with a backslash or a
/// wildcard are path patterns (after normalising), others are bare file names.
pub fn image_matches(entry: &str, image: &str) -> bool {
    if is_path_pattern(entry) {
        glob_match(
            &crate::lineage::normalised_path(entry),
            &crate::lineage::normalised_path(image),
        )
    } else {
        crate::lineage::image_name(image.trim()).eq_ignore_ascii_case(entry)
    }
}

/// Does one of `entries` match the image? The rules ask this of every process of a host,
/// rule after rule, and bare names are most entries: the image's file name is cut once and
/// compared with each of them, instead of once per entry, which took this check from 15 % of
/// a scan's instructions to 6 % (callgrind, `lineage scan` of a 30 MB process-dense log).
pub fn any_image_matches(entries: &[String], image: &str) -> bool {
    let name = crate::lineage::image_name(image.trim());
    entries.iter().any(|e| {
        if is_path_pattern(e) {
            image_matches(e, image)
        } else {
            name.eq_ignore_ascii_case(e)
        }
    })
}

/// An entry with a backslash or a wildcard is a path pattern, not a bare file name.
fn is_path_pattern(entry: &str) -> bool {
    entry.bytes().any(|b| matches!(b, b'\\' | b'*' | b'?'))
}

/// The directory part of a normalised path (`c:\windows\system32\x.exe` -> `c:\windows\system32`).
pub fn directory(image: &str) -> String {
    let p = crate::lineage::normalised_path(image);
    match p.rfind('\\') {
        Some(i) => p.get(..i).unwrap_or("").to_string(),
        None => String::new(),
    }
}

/// The class of an account, from its SID when logged, else from its name.
pub fn user_class(user: Option<&str>, sid: Option<&str>) -> Option<UserClass> {
    match sid.map(str::trim) {
        Some("S-1-5-18") => return Some(UserClass::System),
        Some("S-1-5-19") => return Some(UserClass::LocalService),
        Some("S-1-5-20") => return Some(UserClass::NetworkService),
        Some(s) if s.starts_with("S-1-5-21-") => return Some(UserClass::Person),
        _ => {}
    }
    let u = user?.trim().to_lowercase();
    let name = u.rsplit('\\').next().unwrap_or(&u);
    let class = match name {
        "system" | "système" | "sistema" | "local system" => UserClass::System,
        "local service" | "localservice" | "lokaler dienst" => UserClass::LocalService,
        "network service" | "networkservice" | "netzwerkdienst" => UserClass::NetworkService,
        // Machine accounts (`DOMAIN\HOST$`) are SYSTEM acting on the network.
        n if n.ends_with('$') => UserClass::System,
        "" | "-" => return None,
        _ => UserClass::Person,
    };
    Some(class)
}

/// The integrity level of a process from what its logs say: Sysmon's `IntegrityLevel` text
/// when it is one we know, else the 4688 v2 `MandatoryLabel`. `None` when neither is logged or
/// readable, so a rule never guesses a level (4688 v1 has no label at all).
pub fn integrity_level(sysmon: Option<&str>, label: Option<&str>) -> Option<IntegrityLevel> {
    sysmon
        .and_then(integrity_from_text)
        .or_else(|| label.and_then(integrity_from_label))
}

/// Sysmon's words (`System`, `High`, `Medium`, `Low`, `AppContainer`, `Untrusted`) and the
/// account names of the label SIDs as XML exports render them (`Mandatory Label\High
/// Mandatory Level`).
fn integrity_from_text(text: &str) -> Option<IntegrityLevel> {
    let t = text.trim().to_ascii_lowercase();
    let t = t.strip_prefix("mandatory label\\").unwrap_or(&t);
    let t = t.strip_suffix(" mandatory level").unwrap_or(t);
    let level = match t.replace([' ', '_', '-'], "").as_str() {
        "untrusted" => IntegrityLevel::Untrusted,
        // AppContainer tokens carry the Low label.
        "low" | "appcontainer" => IntegrityLevel::Low,
        "medium" => IntegrityLevel::Medium,
        "mediumplus" => IntegrityLevel::MediumPlus,
        "high" => IntegrityLevel::High,
        "system" => IntegrityLevel::System,
        "protected" | "protectedprocess" => IntegrityLevel::Protected,
        _ => return None,
    };
    Some(level)
}

/// A label SID `S-1-16-RID`, or its account name. Windows compares the RID as a number, so a
/// RID between the named ones belongs to the named level below it (as the kernel's checks
/// treat it).
fn integrity_from_label(label: &str) -> Option<IntegrityLevel> {
    let l = label.trim();
    let Some(rid) = l
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("S-1-16-"))
        .and_then(|_| l.get(7..))
    else {
        return integrity_from_text(l);
    };
    let rid: u64 = rid.parse().ok()?;
    Some(match rid {
        0..=4095 => IntegrityLevel::Untrusted,
        4096..=8191 => IntegrityLevel::Low,
        8192..=8447 => IntegrityLevel::Medium,
        8448..=12287 => IntegrityLevel::MediumPlus,
        12288..=16383 => IntegrityLevel::High,
        16384..=20479 => IntegrityLevel::System,
        _ => IntegrityLevel::Protected,
    })
}

/// Why `name` looks like `core` without being it, if it does.
pub fn lookalike(name: &str, core: &str) -> Option<String> {
    let raw = name;
    let lower = name.to_lowercase();
    let core_l = core.to_lowercase();
    if lower == core_l {
        return None;
    }
    if let Some(c) = raw.chars().find(|c| is_hiding_char(*c)) {
        let bare: String = lower.chars().filter(|c| !is_hiding_char(*c)).collect();
        if bare == core_l || folded(&bare) == folded(&core_l) {
            return Some(format!("hides U+{:04X} in the name", c as u32));
        }
        let shown = displayed(&lower);
        if shown == core_l || folded(&shown) == folded(&core_l) {
            return Some(format!(
                "U+{:04X} makes it display as {shown}",
                '\u{202e}' as u32
            ));
        }
    }
    let trimmed = lower.trim_end_matches([' ', '.']);
    if trimmed != lower && trimmed == core_l {
        return Some("trailing spaces or dots".to_string());
    }
    let core_stem = core_l.strip_suffix(".exe").unwrap_or(&core_l);
    if lower.starts_with(&format!("{core_stem}.")) && lower.ends_with(".exe") && lower != core_l {
        return Some("a double extension".to_string());
    }
    let stem = lower.strip_suffix(".exe")?;
    if folded(stem) == folded(core_stem) {
        return Some("look-alike characters".to_string());
    }
    let limit = if core_stem.chars().count() >= 8 { 2 } else { 1 };
    let d = damerau_levenshtein(stem, core_stem, limit + 1);
    (d <= limit).then(|| format!("{d} edit{} from {core}", if d == 1 { "" } else { "s" }))
}

/// How a name shows on screen, roughly: what follows a right-to-left override (U+202E) runs
/// backwards until a pop (U+202C) or the end; invisible characters vanish. Enough to see
/// `\u{202e}exe.ssasl` as `lsass.exe`; not the full Unicode bidi algorithm.
fn displayed(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut reversed: Vec<char> = Vec::new();
    let mut in_override = false;
    for c in name.chars() {
        match c {
            '\u{202e}' => in_override = true,
            '\u{202c}' if in_override => {
                out.extend(reversed.drain(..).rev());
                in_override = false;
            }
            c if is_hiding_char(c) => {}
            c if in_override => reversed.push(c),
            c => out.push(c),
        }
    }
    out.extend(reversed.drain(..).rev());
    out
}

/// Right-to-left overrides, zero-width and other invisible characters.
fn is_hiding_char(c: char) -> bool {
    matches!(
        c,
        '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}' | '\u{feff}' | '\u{00ad}'
    )
}

/// Fold look-alike characters to the Latin letters they imitate (a small confusables table:
/// the Cyrillic and Greek letters used in real masquerading, and digit-for-letter swaps).
fn folded(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'а' => 'a',
            'е' | 'ё' => 'e',
            'о' | 'ο' | '0' => 'o',
            'р' | 'ρ' => 'p',
            'с' | 'ϲ' => 'c',
            'х' | 'χ' => 'x',
            'у' => 'y',
            'і' | 'ι' => 'i',
            '1' | '|' => 'l',
            'ѕ' | '5' | '$' => 's',
            'ν' => 'v',
            'к' | 'κ' => 'k',
            'н' => 'h',
            'т' | 'τ' => 't',
            'м' => 'm',
            'ԝ' => 'w',
            'α' => 'a',
            'ε' | '3' => 'e',
            other => other,
        })
        .collect()
}

/// Optimal-string-alignment distance, stopping early above `cap` (names are short; this is
/// O(n*m) on at most a few dozen characters).
pub fn damerau_levenshtein(a: &str, b: &str, cap: usize) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > cap || a.len() > 256 || b.len() > 256 {
        return cap + 1;
    }
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(w) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
        }
    }
    d[a.len() * w + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match(
            r"c:\windows\winsxs\*",
            r"C:\Windows\WinSxS\amd64_x\TiWorker.exe"
        ));
        assert!(glob_match("*-k *", "svchost.exe -k netsvcs"));
        assert!(!glob_match("*-k *", "svchost.exe"));
        assert!(glob_match("a?c", "ABC"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("", "x"));
    }

    #[test]
    fn lookalikes_named_in_the_baseline() {
        for (name, core) in [
            ("scvhost.exe", "svchost.exe"),
            ("svch0st.exe", "svchost.exe"),
            ("lsas.exe", "lsass.exe"),
            ("lsasss.exe", "lsass.exe"),
            ("csrsss.exe", "csrss.exe"),
            ("svchost.exe ", "svchost.exe"),
            ("svchost.exe.", "svchost.exe"),
            ("lsass.exe.exe", "lsass.exe"),
            ("svc\u{200b}host.exe", "svchost.exe"),
            ("lѕass.exe", "lsass.exe"),
            ("wininit1.exe", "wininit.exe"),
            ("\u{202e}exe.ssasl", "lsass.exe"),
            ("svc\u{202e}exe.tsoh\u{202c}", "svchost.exe"),
        ] {
            assert!(lookalike(name, core).is_some(), "{name}");
        }
        assert!(lookalike("svchost.exe", "svchost.exe").is_none());
        assert!(lookalike("SVCHOST.EXE", "svchost.exe").is_none());
        assert!(lookalike("notepad.exe", "svchost.exe").is_none());
    }

    #[test]
    fn accounts() {
        assert_eq!(
            user_class(Some(r"NT AUTHORITY\SYSTEM"), None),
            Some(UserClass::System)
        );
        assert_eq!(
            user_class(Some("x"), Some("S-1-5-19")),
            Some(UserClass::LocalService)
        );
        assert_eq!(
            user_class(Some(r"DESKTOP\alice"), None),
            Some(UserClass::Person)
        );
        assert_eq!(
            user_class(Some(r"CORP\HOST$"), None),
            Some(UserClass::System)
        );
        assert_eq!(user_class(None, None), None);
    }

    #[test]
    fn integrity_levels_from_both_logs() {
        use IntegrityLevel::*;
        for (sysmon, level) in [
            ("System", System),
            ("High", High),
            ("medium", Medium),
            ("Low", Low),
            ("AppContainer", Low),
            ("Untrusted", Untrusted),
        ] {
            assert_eq!(integrity_level(Some(sysmon), None), Some(level), "{sysmon}");
        }
        for (label, level) in [
            ("S-1-16-0", Untrusted),
            ("S-1-16-4096", Low),
            ("S-1-16-8192", Medium),
            ("S-1-16-8448", MediumPlus),
            ("S-1-16-12288", High),
            ("s-1-16-16384", System),
            ("S-1-16-20480", Protected),
            ("S-1-16-12289", High),
            (r"Mandatory Label\System Mandatory Level", System),
            ("Medium Plus Mandatory Level", MediumPlus),
        ] {
            assert_eq!(integrity_level(None, Some(label)), Some(level), "{label}");
        }
        // Sysmon's word wins; unreadable values are no level, never a guess.
        assert_eq!(
            integrity_level(Some("High"), Some("S-1-16-16384")),
            Some(High)
        );
        assert_eq!(
            integrity_level(Some("?"), Some("S-1-16-16384")),
            Some(System)
        );
        for bad in [
            "",
            "S-1-16-",
            "S-1-16-x",
            "S-1-5-18",
            "-",
            "S-1-16-99999999999999999999",
        ] {
            assert_eq!(integrity_level(None, Some(bad)), None, "{bad}");
        }
        assert_eq!(integrity_level(None, None), None);
    }
}
