//! Writing any frame (a built table or a query's result): Parquet, CSV, JSON lines, or an
//! aligned table for a person.
//!
//! Frames arrive typed. Parquet keeps them so; the text formats get times as RFC 3339 UTC
//! with milliseconds (the tool's one time format, whatever unit a query computed), CSV cells
//! that a spreadsheet would run as formulas are neutralised unless asked not to, and the
//! terminal table escapes every control, bidi and zero-width character through
//! [`crate::report::sanitize`]. JSON lines stay lossless: JSON escapes controls itself.

use super::to_io;
use crate::cli::TableFormat;
use crate::report::csv::neutralise;
use crate::report::sanitize::for_terminal_into;
use chrono::DateTime;
use polars::prelude::*;
use std::io::{self, Write};

/// Widest cell the terminal table shows before cutting it with `…` (the file formats are
/// never cut).
pub const TABLE_CELL_WIDTH: usize = 60;

/// Write `df` as Parquet (zstd), CSV with a header, or JSON lines.
pub fn write_frame(
    out: &mut dyn Write,
    df: &mut DataFrame,
    format: TableFormat,
    neutralise_csv: bool,
) -> io::Result<()> {
    match format {
        TableFormat::Parquet => ParquetWriter::new(out)
            .with_compression(ParquetCompression::Zstd(None))
            .finish(df)
            .map(|_| ())
            .map_err(to_io),
        TableFormat::Csv => {
            let mut text = textual(df, Target::Csv { neutralise_csv }).map_err(to_io)?;
            CsvWriter::new(out)
                .include_header(true)
                .finish(&mut text)
                .map_err(to_io)
        }
        TableFormat::Jsonl => {
            let mut text = textual(df, Target::Json).map_err(to_io)?;
            JsonWriter::new(out)
                .with_json_format(JsonFormat::JsonLines)
                .finish(&mut text)
                .map_err(to_io)
        }
    }
}

/// Where a frame's text goes.
#[derive(Clone, Copy)]
enum Target {
    Csv { neutralise_csv: bool },
    Json,
}

/// The frame with times as RFC 3339 text; for CSV also nested values as text (CSV has no
/// lists) and formula-like cells neutralised.
fn textual(df: &DataFrame, target: Target) -> PolarsResult<DataFrame> {
    let cols = df
        .columns()
        .iter()
        .map(|c| {
            let name = c.name().clone();
            Ok(match c.dtype() {
                DataType::Datetime(unit, _) => {
                    Column::new(name, datetime_text(c.datetime()?.physical(), *unit))
                }
                DataType::String => match target {
                    Target::Csv {
                        neutralise_csv: true,
                    } => {
                        let v: Vec<Option<String>> = c
                            .str()?
                            .iter()
                            .map(|s| s.map(|s| neutralise(s).into_owned()))
                            .collect();
                        Column::new(name, v)
                    }
                    _ => c.clone(),
                },
                DataType::List(_) | DataType::Struct(_) | DataType::Array(..)
                    if matches!(target, Target::Csv { .. }) =>
                {
                    let v: Vec<Option<String>> = (0..c.len())
                        .map(|i| {
                            let cell = cell_text(&c.get(i)?);
                            Ok(match target {
                                Target::Csv {
                                    neutralise_csv: true,
                                } => neutralise(&cell).into_owned(),
                                _ => cell,
                            })
                        })
                        .map(|r: PolarsResult<String>| r.map(Some))
                        .collect::<PolarsResult<_>>()?;
                    Column::new(name, v)
                }
                _ => c.clone(),
            })
        })
        .collect::<PolarsResult<Vec<Column>>>()?;
    DataFrame::new_infer_height(cols)
}

/// Timestamps of any unit as RFC 3339 UTC text with milliseconds.
fn datetime_text(v: &Int64Chunked, unit: TimeUnit) -> Vec<Option<String>> {
    v.iter().map(|t| datetime_string(t?, unit)).collect()
}

/// One timestamp of `unit` as RFC 3339 UTC text with milliseconds.
fn datetime_string(t: i64, unit: TimeUnit) -> Option<String> {
    let dt = match unit {
        TimeUnit::Milliseconds => DateTime::from_timestamp_millis(t),
        TimeUnit::Microseconds => DateTime::from_timestamp_micros(t),
        TimeUnit::Nanoseconds => Some(DateTime::from_timestamp_nanos(t)),
    }?;
    Some(crate::time::format_rfc3339_ms(&dt))
}

/// One cell as plain text (before terminal escaping): times in RFC 3339, lists joined by `;`.
fn cell_text(v: &AnyValue) -> String {
    match v {
        AnyValue::Null => String::new(),
        AnyValue::String(s) => (*s).to_string(),
        AnyValue::StringOwned(s) => s.to_string(),
        AnyValue::Datetime(t, unit, _) | AnyValue::DatetimeOwned(t, unit, _) => {
            datetime_string(*t, *unit).unwrap_or_default()
        }
        AnyValue::List(s) => (0..s.len())
            .map(|i| s.get(i).map(|x| cell_text(&x)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(";"),
        other => other.to_string(),
    }
}

/// An aligned table for a person: a header, one line per row, cells escaped for the
/// terminal and cut at [`TABLE_CELL_WIDTH`] characters, and a last line with the row count.
pub fn table(out: &mut dyn Write, df: &DataFrame) -> io::Result<()> {
    let cols = df.columns();
    let mut grid: Vec<Vec<String>> = Vec::with_capacity(df.height() + 1);
    grid.push(cols.iter().map(|c| shown(c.name().as_str())).collect());
    for i in 0..df.height() {
        let row = cols
            .iter()
            .map(|c| c.get(i).map(|v| shown(&cell_text(&v))).map_err(to_io))
            .collect::<io::Result<Vec<String>>>()?;
        grid.push(row);
    }
    let widths: Vec<usize> = (0..cols.len())
        .map(|j| grid.iter().map(|r| r[j].chars().count()).max().unwrap_or(0))
        .collect();
    for (n, row) in grid.iter().enumerate() {
        let mut line = String::new();
        for (j, cell) in row.iter().enumerate() {
            if j > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            if j + 1 < row.len() {
                let pad = widths[j].saturating_sub(cell.chars().count());
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
        if n == 0 {
            let rule: usize = widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1);
            writeln!(out, "{}", "-".repeat(rule))?;
        }
    }
    writeln!(
        out,
        "({} row{})",
        df.height(),
        if df.height() == 1 { "" } else { "s" }
    )
}

/// A cell escaped for the terminal and cut to [`TABLE_CELL_WIDTH`] characters.
fn shown(s: &str) -> String {
    let mut esc = String::with_capacity(s.len());
    for_terminal_into(s, &mut esc);
    if esc.chars().count() <= TABLE_CELL_WIDTH {
        return esc;
    }
    let mut cut: String = esc.chars().take(TABLE_CELL_WIDTH - 1).collect();
    cut.push('…');
    cut
}
