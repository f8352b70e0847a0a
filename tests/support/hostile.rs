//! Text an attacker can put in a log, in one place for every test that needs it: terminal
//! escapes, line and overwrite controls, bidi and zero-width characters, spreadsheet formula
//! prefixes, markup and path traversal. Each entry names the attack it stands for.

/// `(attack, text)` pairs. Texts are short and unique, so a test can find each one again in
/// an output.
pub const STRINGS: &[(&str, &str)] = &[
    ("ansi_clear_screen", "cmd.exe \u{1b}[2J\u{1b}[Hcleared"),
    ("ansi_colour", "\u{1b}[31;1mred\u{1b}[0m.exe"),
    (
        "osc8_hyperlink",
        "\u{1b}]8;;https://evil.example/\u{1b}\\click\u{1b}]8;;\u{1b}\\",
    ),
    ("osc0_title", "\u{1b}]0;pwned title\u{7}after"),
    ("c1_csi", "c1\u{9b}2Jcsi"),
    ("carriage_return", "benign.exe\rmalicious overwrite"),
    ("line_feed", "first line\nsecond line"),
    ("crlf", "crlf\r\nwarning: forged line"),
    ("backspace", "evil\u{8}\u{8}\u{8}\u{8}good"),
    ("bell_and_nul", "bell\u{7}nul\u{0}end"),
    ("bidi_override", "invoice\u{202e}fdp.exe"),
    ("bidi_isolate", "a\u{2066}b\u{2069}c"),
    ("zero_width_space", "svc\u{200b}host.exe"),
    ("zero_width_joiner", "ls\u{200d}ass.exe"),
    ("byte_order_mark", "\u{feff}bom.exe"),
    (
        "formula_equals",
        "=HYPERLINK(\"https://evil.example\",\"x\")",
    ),
    ("formula_plus", "+cmd|' /C calc'!A0"),
    ("formula_minus", "-2+3+cmd|' /C calc'!A0"),
    ("formula_at", "@SUM(1+1)*cmd|' /C calc'!A0"),
    ("formula_tab", "\t=1+1"),
    ("formula_cr", "\r=1+1"),
    ("html_script", "<script>alert(1)</script>"),
    (
        "path_traversal_windows",
        "..\\..\\..\\Windows\\Temp\\evil.exe",
    ),
    ("path_traversal_unix", "../../../tmp/lineage-pwned"),
];

/// Computer names an attacker who controls the host can set (the `Computer` field).
pub const COMPUTERS: &[(&str, &str)] = &[
    ("computer_ansi", "HOST\u{1b}[2J\u{1b}]0;title\u{7}"),
    ("computer_newline", "HOST-NL\nwarning: forged"),
    ("computer_bidi", "HOST\u{202e}LIVE"),
    ("computer_formula", "=HOST()"),
    ("computer_traversal", "../../HOST-TRAVERSAL"),
    ("computer_script", "<script>HOST</script>"),
];

/// True for a character that must not reach a terminal: what the library escapes.
pub fn acts_on_terminal(c: char) -> bool {
    lineage::report::sanitize::is_unsafe_char(c)
}
