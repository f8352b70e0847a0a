//! Times: all UTC, printed as RFC 3339 with milliseconds, parsed strictly.
//!
//! Incident timelines are merged across hosts and time zones, so every time `lineage` prints
//! is UTC with a `Z`, in one fixed-width form that sorts as text:
//! `2021-04-22T22:09:25.389Z`.
//!
//! Parsing is a small hand-written reader rather than a format string: the inputs are
//! attacker-controlled log fields, and a strict grammar with fixed digit counts (a year is
//! exactly four digits, a month two) leaves no room for surprising interpretations. No
//! function here panics, whatever the input.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike, Utc};

/// Formats `t` as `2021-04-22T22:09:25.389Z`.
///
/// Sub-millisecond digits are truncated, not rounded: `.3899999` prints as `.389`. Rounding
/// could carry into the next second, minute or even day, so an event would print with a
/// time later than it happened and could sort after an event that really came after it.
pub fn format_rfc3339_ms(t: &DateTime<Utc>) -> String {
    match rfc3339_ms_fixed(t) {
        Some(b) => String::from_utf8_lossy(&b).into_owned(),
        None => {
            let mut s = String::with_capacity(26);
            // Writing to a String cannot fail.
            let _ = write_rfc3339_ms(&mut s, t);
            s
        }
    }
}

/// Appends the text of [`format_rfc3339_ms`] to a byte buffer (the JSONL writer's).
pub fn push_rfc3339_ms(out: &mut Vec<u8>, t: &DateTime<Utc>) {
    match rfc3339_ms_fixed(t) {
        Some(b) => out.extend_from_slice(&b),
        None => out.extend_from_slice(format_rfc3339_ms(t).as_bytes()),
    }
}

/// [`push_rfc3339_ms`] for a writer that prints many times in a row: the date part
/// (`2021-04-22T`) is worked out once per day rather than once per time, and the time of day
/// comes from the seconds since 1970 by a few divisions. Events are written sorted by host and
/// time, so consecutive times nearly always share their day. Same text as
/// [`push_rfc3339_ms`], which it falls back to for leap seconds and years outside 0..=9999.
#[derive(Debug, Default)]
pub struct TimeWriter {
    /// The day (since 1970) of `date`, and its text; `None` before the first time.
    day: Option<i64>,
    date: [u8; 11],
}

impl TimeWriter {
    pub fn push(&mut self, out: &mut Vec<u8>, t: &DateTime<Utc>) {
        let nanos = t.timestamp_subsec_nanos();
        let secs = t.timestamp();
        let day = secs.div_euclid(86_400);
        if nanos >= 1_000_000_000 {
            // A leap second: chrono keeps it as second 59 with the extra second in the nanos.
            return push_rfc3339_ms(out, t);
        }
        if self.day != Some(day) {
            // `None` for years outside 0000..=9999: never kept, always written the long way.
            match rfc3339_ms_fixed(t) {
                Some(b) => self.date.copy_from_slice(&b[..11]),
                None => return push_rfc3339_ms(out, t),
            }
            self.day = Some(day);
        }
        let sod = secs.rem_euclid(86_400) as u32;
        let ms = nanos / 1_000_000;
        let two = |v: u32| [b'0' + (v / 10) as u8, b'0' + (v % 10) as u8];
        let (h, m, s) = (two(sod / 3600), two(sod / 60 % 60), two(sod % 60));
        let ms = [
            b'0' + (ms / 100) as u8,
            b'0' + (ms / 10 % 10) as u8,
            b'0' + (ms % 10) as u8,
        ];
        out.extend_from_slice(&self.date);
        out.extend_from_slice(&[
            h[0], h[1], b':', m[0], m[1], b':', s[0], s[1], b'.', ms[0], ms[1], ms[2], b'Z',
        ]);
    }
}

/// The common case (years 0000..=9999), digit by digit: this runs twice for every event
/// written. `None` for other years.
fn rfc3339_ms_fixed(t: &DateTime<Utc>) -> Option<[u8; 24]> {
    let year = t.year();
    if !(0..=9999).contains(&year) {
        return None;
    }
    let (second, nanos) = match t.nanosecond() {
        n if n >= 1_000_000_000 => (60, n - 1_000_000_000),
        n => (t.second(), n),
    };
    let mut b = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut v: u32| {
        for i in (at..at + width).rev() {
            b[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, year.unsigned_abs());
    put(5, 2, t.month());
    put(8, 2, t.day());
    put(11, 2, t.hour());
    put(14, 2, t.minute());
    put(17, 2, second);
    put(20, 3, nanos / 1_000_000);
    Some(b)
}

/// Writes the same text as [`format_rfc3339_ms`] without allocating, for output loops that
/// format millions of timestamps into a reused buffer.
///
/// Years outside 0000..=9999 (possible from a hostile FILETIME) cannot be written in RFC 3339;
/// they are written with an explicit sign and at least four digits (`+10000`, `-0001`), as
/// ISO 8601's expanded form does, instead of failing. A leap second prints as `:60`.
pub fn write_rfc3339_ms(out: &mut impl fmt::Write, t: &DateTime<Utc>) -> fmt::Result {
    let year = t.year();
    if (0..=9999).contains(&year) {
        write!(out, "{year:04}")?;
    } else {
        write!(out, "{year:+05}")?;
    }
    // chrono keeps a leap second as second 59 with nanoseconds >= 1e9.
    let (second, nanos) = match t.nanosecond() {
        n if n >= 1_000_000_000 => (60, n - 1_000_000_000),
        n => (t.second(), n),
    };
    write!(
        out,
        "-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        second,
        nanos / 1_000_000
    )
}

/// The forms [`parse_user_time`] accepts, for its error message.
pub const ACCEPTED_FORMS: &str = "2021-04-22 (midnight UTC), 2021-04-22T22:09, \
    2021-04-22T22:09:25, 2021-04-22T22:09:25.389; a space may replace the T, and a time \
    may end in Z or an offset like +02:00 (no offset means UTC)";

/// A `--from`/`--to` value that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid time {input:?}: {reason}; accepted forms: {ACCEPTED_FORMS}")]
pub struct TimeError {
    input: String,
    reason: &'static str,
}

impl TimeError {
    /// The text that was given.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// What was wrong with it, e.g. "no such date".
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

/// Parses a `--from`/`--to` value (see [`ACCEPTED_FORMS`]).
///
/// A value without an offset is UTC, not local time: the machine running the analysis is
/// rarely in the time zone of the compromised host, and every time `lineage` prints is UTC,
/// so a time copied from its output must mean the same thing when pasted back.
pub fn parse_user_time(s: &str) -> Result<DateTime<Utc>, TimeError> {
    let rules = Rules {
        date_only: true,
        seconds_required: false,
    };
    parse(s, rules).map_err(|reason| TimeError {
        input: s.to_string(),
        reason,
    })
}

/// Parses Sysmon's `UtcTime` event field, `2021-04-22 22:09:25.377` (UTC, milliseconds, no
/// zone); the fraction may be missing. Returns `None` for anything else rather than
/// guessing, so a tampered field is reported, not misread.
pub fn parse_sysmon_utc(s: &str) -> Option<DateTime<Utc>> {
    parse(s, EVENT_RULES).ok()
}

/// Parses an event's `System/TimeCreated/@SystemTime`, `2021-04-22T22:09:25.3896334Z`
/// (seven fractional digits: FILETIME's 100 ns resolution), and RFC 3339 variants other
/// exporters produce: any number of fractional digits (beyond nine they are truncated), a
/// `+00:00` or other offset, a space for the `T`, lower-case `t`/`z`. A missing offset is
/// taken as UTC, which is what `SystemTime` always is.
pub fn parse_event_time(s: &str) -> Option<DateTime<Utc>> {
    parse(s, EVENT_RULES).ok()
}

/// What a grammar variant allows beyond the common core.
#[derive(Clone, Copy)]
struct Rules {
    /// A date alone means midnight UTC.
    date_only: bool,
    /// `HH:MM` alone is not enough.
    seconds_required: bool,
}

const EVENT_RULES: Rules = Rules {
    date_only: false,
    seconds_required: true,
};

/// The whole grammar: `DATE [(T|t|space) TIME [OFFSET]]`, surrounding whitespace ignored.
fn parse(s: &str, rules: Rules) -> Result<DateTime<Utc>, &'static str> {
    let mut c = Cursor::new(s.trim());
    if c.at_end() {
        return Err("empty");
    }
    let date = parse_date(&mut c)?;
    if c.at_end() {
        return if rules.date_only {
            Ok(NaiveDateTime::from(date).and_utc())
        } else {
            Err("a time of day is required")
        };
    }
    if !(c.eat(b'T') || c.eat(b't') || c.eat(b' ')) {
        return Err("expected T or a space between the date and the time");
    }
    let time = parse_time(&mut c, rules.seconds_required)?;
    let offset_seconds = parse_offset(&mut c)?;
    if !c.at_end() {
        return Err("unexpected text after the time");
    }
    TimeDelta::try_seconds(offset_seconds)
        .and_then(|offset| date.and_time(time).checked_sub_signed(offset))
        .map(|utc| utc.and_utc())
        .ok_or("out of range")
}

/// `YYYY-MM-DD`, exactly.
fn parse_date(c: &mut Cursor<'_>) -> Result<NaiveDate, &'static str> {
    const SHAPE: &str = "expected a date like 2021-04-22";
    let year = c.digits(4).ok_or(SHAPE)?;
    let month = c.eat(b'-').then(|| c.digits(2)).flatten().ok_or(SHAPE)?;
    let day = c.eat(b'-').then(|| c.digits(2)).flatten().ok_or(SHAPE)?;
    // Four digits always fit in an i32.
    let year = i32::try_from(year).map_err(|_| SHAPE)?;
    NaiveDate::from_ymd_opt(year, month, day).ok_or("no such date")
}

/// `HH:MM[:SS[.fraction]]`; seconds may be required.
fn parse_time(c: &mut Cursor<'_>, seconds_required: bool) -> Result<NaiveTime, &'static str> {
    const SHAPE: &str = "expected a time like 22:09:25";
    let hour = c.digits(2).ok_or(SHAPE)?;
    let minute = c.eat(b':').then(|| c.digits(2)).flatten().ok_or(SHAPE)?;
    let (second, nanos) = if c.eat(b':') {
        let second = c.digits(2).ok_or(SHAPE)?;
        let nanos = if c.eat(b'.') { parse_fraction(c)? } else { 0 };
        (second, nanos)
    } else if seconds_required {
        return Err("seconds are required");
    } else {
        (0, 0)
    };
    // Rejects hour 24, minute 60 and second 60 (Windows never writes a leap second).
    NaiveTime::from_hms_nano_opt(hour, minute, second, nanos).ok_or("no such time of day")
}

/// One or more digits after the decimal point, as nanoseconds; digits past the ninth are
/// read and dropped (truncation, like the output side).
fn parse_fraction(c: &mut Cursor<'_>) -> Result<u32, &'static str> {
    let mut nanos = 0u32;
    let mut count = 0usize;
    while let Some(d) = c.peek().filter(u8::is_ascii_digit) {
        c.advance();
        if count < 9 {
            nanos = nanos * 10 + u32::from(d - b'0');
        }
        count += 1;
    }
    if count == 0 {
        return Err("expected digits after the decimal point");
    }
    for _ in count..9 {
        nanos *= 10;
    }
    Ok(nanos)
}

/// `Z`, `z`, `+HH:MM`, `-HH:MM` or nothing (UTC); returns seconds east of UTC.
fn parse_offset(c: &mut Cursor<'_>) -> Result<i64, &'static str> {
    const SHAPE: &str = "expected Z or an offset like +02:00";
    if c.eat(b'Z') || c.eat(b'z') {
        return Ok(0);
    }
    let sign = if c.eat(b'+') {
        1
    } else if c.eat(b'-') {
        -1
    } else {
        return Ok(0);
    };
    let hours = c.digits(2).ok_or(SHAPE)?;
    let minutes = c.eat(b':').then(|| c.digits(2)).flatten().ok_or(SHAPE)?;
    if hours > 23 || minutes > 59 {
        return Err("offset out of range");
    }
    Ok(sign * i64::from(hours * 3600 + minutes * 60))
}

/// A byte reader. Working on bytes means non-ASCII input can never split a character: it
/// simply fails to match a digit or separator.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Cursor {
            bytes: s.as_bytes(),
            pos: 0,
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn advance(&mut self) {
        self.pos += 1;
    }

    /// Consumes `b` if it is next.
    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        if hit {
            self.advance();
        }
        hit
    }

    /// Exactly `n` (at most 9) ASCII digits as a number.
    fn digits(&mut self, n: usize) -> Option<u32> {
        let end = self.pos.checked_add(n)?;
        let run = self.bytes.get(self.pos..end)?;
        if !run.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.pos = end;
        Some(run.iter().fold(0, |acc, d| acc * 10 + u32::from(d - b'0')))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, nanos: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap() + TimeDelta::nanoseconds(nanos.into())
    }

    #[test]
    fn formats_with_milliseconds_truncated() {
        let t = utc(2021, 4, 22, 22, 9, 25, 389_633_400);
        assert_eq!(format_rfc3339_ms(&t), "2021-04-22T22:09:25.389Z");
        let t = utc(2021, 12, 31, 23, 59, 59, 999_999_999);
        assert_eq!(format_rfc3339_ms(&t), "2021-12-31T23:59:59.999Z");
        assert_eq!(
            format_rfc3339_ms(&utc(1601, 1, 1, 0, 0, 0, 0)),
            "1601-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn formats_odd_years_without_failing() {
        assert_eq!(
            format_rfc3339_ms(&utc(30828, 9, 14, 2, 48, 5, 477_000_000)),
            "+30828-09-14T02:48:05.477Z"
        );
        assert_eq!(
            format_rfc3339_ms(&utc(-1, 1, 1, 0, 0, 0, 0)),
            "-0001-01-01T00:00:00.000Z"
        );
        let _ = format_rfc3339_ms(&DateTime::<Utc>::MIN_UTC);
        let _ = format_rfc3339_ms(&DateTime::<Utc>::MAX_UTC);
    }

    #[test]
    fn writes_into_a_reused_buffer() {
        let mut buf = String::from("ts=");
        write_rfc3339_ms(&mut buf, &utc(2021, 4, 22, 22, 9, 25, 5_000_000)).unwrap();
        assert_eq!(buf, "ts=2021-04-22T22:09:25.005Z");
    }

    #[test]
    fn user_time_accepted_forms() {
        let p = |s| parse_user_time(s).unwrap();
        assert_eq!(p("2021-04-22"), utc(2021, 4, 22, 0, 0, 0, 0));
        assert_eq!(p("2021-04-22T22:09"), utc(2021, 4, 22, 22, 9, 0, 0));
        assert_eq!(p("2021-04-22T22:09:25"), utc(2021, 4, 22, 22, 9, 25, 0));
        assert_eq!(
            p("2021-04-22 22:09:25.5"),
            utc(2021, 4, 22, 22, 9, 25, 500_000_000)
        );
        assert_eq!(
            p("2021-04-22T22:09:25.389Z"),
            utc(2021, 4, 22, 22, 9, 25, 389_000_000)
        );
        assert_eq!(p("2021-04-22T22:09Z"), utc(2021, 4, 22, 22, 9, 0, 0));
        assert_eq!(p(" 2021-04-22t22:09:25z "), utc(2021, 4, 22, 22, 9, 25, 0));
    }

    #[test]
    fn user_time_offsets_convert_to_utc() {
        let p = |s| parse_user_time(s).unwrap();
        assert_eq!(
            p("2021-04-22T22:09:25+02:00"),
            utc(2021, 4, 22, 20, 9, 25, 0)
        );
        assert_eq!(p("2021-04-22T22:09-05:30"), utc(2021, 4, 23, 3, 39, 0, 0));
        assert_eq!(p("2021-01-01T00:30+01:00"), utc(2020, 12, 31, 23, 30, 0, 0));
    }

    #[test]
    fn user_time_errors_explain_accepted_forms() {
        for bad in [
            "",
            "yesterday",
            "2021-4-22",
            "21-04-22",
            "2021-02-30",
            "2021-04-22T",
            "2021-04-22T22",
            "2021-04-22T25:00",
            "2021-04-22T22:09:25.",
            "2021-04-22T22:09:25+2",
            "2021-04-22T22:09:25+24:00",
            "2021-04-22T22:09:25 UTC",
            "2021-04-22Z",
            "22:09",
            "２０２１-04-22",
        ] {
            let err = parse_user_time(bad).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("accepted forms: 2021-04-22"), "{msg}");
            assert!(msg.contains("+02:00"), "{msg}");
            assert_eq!(err.input(), bad);
        }
        assert_eq!(
            parse_user_time("2021-02-30").unwrap_err().reason(),
            "no such date"
        );
    }

    #[test]
    fn sysmon_utc_time() {
        assert_eq!(
            parse_sysmon_utc("2021-04-22 22:09:25.377"),
            Some(utc(2021, 4, 22, 22, 9, 25, 377_000_000))
        );
        assert_eq!(
            parse_sysmon_utc("2021-04-22 22:09:25"),
            Some(utc(2021, 4, 22, 22, 9, 25, 0))
        );
        for bad in [
            "",
            "2021-04-22",
            "2021-04-22 22:09",
            "2021-04-22 22:09:25.377\u{202e}",
            "2021-04-22 22:09:25.377 extra",
            "2021-13-01 00:00:00.000",
        ] {
            assert_eq!(parse_sysmon_utc(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn event_system_time() {
        let t = parse_event_time("2021-04-22T22:09:25.3896334Z").unwrap();
        assert_eq!(t, utc(2021, 4, 22, 22, 9, 25, 389_633_400));
        assert_eq!(format_rfc3339_ms(&t), "2021-04-22T22:09:25.389Z");
        let same = utc(2021, 4, 22, 22, 9, 25, 389_633_000);
        assert_eq!(parse_event_time("2021-04-22T22:09:25.389633Z"), Some(same));
        assert_eq!(
            parse_event_time("2021-04-22T22:09:25.389633+00:00"),
            Some(same)
        );
        assert_eq!(
            parse_event_time("2021-04-23T00:09:25.389633+02:00"),
            Some(same)
        );
        assert_eq!(
            parse_event_time("2021-04-22T22:09:25.38963300000099z"),
            Some(same)
        );
        assert_eq!(
            parse_event_time("2021-04-22T22:09:25Z"),
            Some(utc(2021, 4, 22, 22, 9, 25, 0))
        );
        for bad in [
            "2021-04-22T22:09Z",
            "2021-04-22",
            "2021-04-22T22:09:60Z",
            "garbage",
        ] {
            assert_eq!(parse_event_time(bad), None, "{bad:?}");
        }
    }

    /// Every time written by one [`TimeWriter`] in a row reads as [`push_rfc3339_ms`] writes
    /// it alone, whatever came before (the day it keeps must never leak into another day).
    fn writes_like_push(times: &[DateTime<Utc>]) {
        let mut w = TimeWriter::default();
        for t in times {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            w.push(&mut a, t);
            push_rfc3339_ms(&mut b, t);
            assert_eq!(
                String::from_utf8_lossy(&a),
                String::from_utf8_lossy(&b),
                "{t:?}"
            );
        }
    }

    #[test]
    fn the_time_writer_writes_the_edges_like_the_formatter() {
        let leap = Utc
            .with_ymd_and_hms(2016, 12, 31, 23, 59, 59)
            .unwrap()
            .with_nanosecond(1_500_000_000)
            .unwrap();
        let edges = [
            utc(2021, 4, 22, 22, 9, 25, 389_633_400),
            utc(2021, 4, 22, 23, 59, 59, 999_999_999),
            utc(2021, 4, 23, 0, 0, 0, 0),
            leap,
            utc(2017, 1, 1, 0, 0, 0, 1),
            utc(1970, 1, 1, 0, 0, 0, 0),
            utc(1969, 12, 31, 23, 59, 59, 999_000_000),
            utc(0, 1, 1, 0, 0, 0, 0),
            utc(-1, 12, 31, 23, 59, 59, 0),
            utc(9999, 12, 31, 23, 59, 59, 999_000_000),
            utc(10000, 1, 1, 0, 0, 0, 0),
            utc(1601, 1, 1, 0, 0, 0, 0),
            utc(2021, 4, 22, 1, 2, 3, 4_000_000),
        ];
        writes_like_push(&edges);
        let mut backwards = edges.to_vec();
        backwards.reverse();
        writes_like_push(&backwards);
    }

    proptest! {
        #[test]
        fn the_time_writer_writes_any_run_of_times_like_the_formatter(
            times in prop::collection::vec(
                (-70_000_000_000i64..300_000_000_000, 0u32..2_000_000_000),
                1..20,
            ),
        ) {
            let times: Vec<DateTime<Utc>> = times
                .into_iter()
                .filter_map(|(secs, nanos)| DateTime::from_timestamp(secs, nanos))
                .collect();
            writes_like_push(&times);
        }

        #[test]
        fn the_time_writer_writes_times_of_one_day_like_the_formatter(
            day in -800_000i64..3_000_000,
            offsets in prop::collection::vec((0i64..86_400, 0u32..1_000_000_000), 1..20),
        ) {
            let times: Vec<DateTime<Utc>> = offsets
                .into_iter()
                .filter_map(|(s, n)| DateTime::from_timestamp(day * 86_400 + s, n))
                .collect();
            writes_like_push(&times);
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_any_string(s in any::<String>()) {
            let _ = parse_user_time(&s);
            let _ = parse_sysmon_utc(&s);
            let _ = parse_event_time(&s);
        }

        #[test]
        fn never_panics_on_near_misses(s in "[0-9:T .Zz+-]{0,40}") {
            let _ = parse_user_time(&s);
            let _ = parse_event_time(&s);
        }

        #[test]
        fn formatted_times_parse_back_truncated(secs in -11_644_473_600i64..253_402_300_799, nanos in 0u32..1_000_000_000) {
            let Some(t) = DateTime::<Utc>::from_timestamp(secs, nanos) else {
                return Ok(());
            };
            let text = format_rfc3339_ms(&t);
            let back = parse_event_time(&text).unwrap();
            prop_assert_eq!(back, DateTime::<Utc>::from_timestamp(secs, nanos / 1_000_000 * 1_000_000).unwrap());
            prop_assert_eq!(parse_user_time(&text).unwrap(), back);
            prop_assert_eq!(text.len(), 24);
        }
    }
}
