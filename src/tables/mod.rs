//! The only module that uses polars: the rebuilt history as tables, SQL over them, and their
//! files.
//!
//! Four tables, each built by its own module from what the pipeline produced:
//!
//! * `processes` ([`processes`]): one row per process instance, placeholders included;
//! * `boots` ([`boots`]): one row per boot session of each host;
//! * `findings` ([`findings`]): one row per baseline finding;
//! * `events` ([`events`]): one row per typed event as read (process, exit, marker).
//!
//! Rows refer to each other by keys that are unique in one run: `process_key` (`HOST#N`) and
//! `boot_key` (`HOST#B`), so SQL joins a process to its parent, its boot and its findings.
//! [`sql`] registers them in a polars SQL context; [`dataset`] writes and reopens them as a
//! Parquet dataset partitioned by host; [`output`] writes any frame as Parquet, CSV, JSON
//! lines or a terminal table. Frames are always typed (times as UTC millisecond timestamps,
//! text as logged); only the writers turn times into RFC 3339 text with milliseconds (CSV,
//! JSON lines, terminal), escape text for the terminal and neutralise CSV formula cells, so
//! a query's result is written exactly like a built table.

pub mod boots;
pub mod dataset;
pub mod events;
pub mod findings;
pub mod hunts;
pub mod output;
pub mod processes;
pub mod shape;
pub mod sql;

pub use output::write_frame;
pub use processes::{processes_frame, write_processes, ANCESTRY_LIMIT};

use chrono::{DateTime, Utc};
use polars::prelude::*;
use std::io;

/// Milliseconds since the epoch: how times are kept in frames.
pub(crate) fn ms(t: &DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn static_col(name: &str, v: Vec<&'static str>) -> Column {
    Column::new(name.into(), v)
}

/// A text column; text stays as logged (the writers escape or neutralise it).
pub(crate) fn text_col(name: &str, v: Vec<Option<String>>) -> Column {
    Column::new(name.into(), v)
}

/// A text column whose every row has a value.
pub(crate) fn text_col_all(name: &str, v: Vec<String>) -> Column {
    Column::new(name.into(), v)
}

/// A time column: millisecond timestamps, UTC by convention but without a zone attached, so
/// SQL compares them with plain literals (`start >= TIMESTAMP '2022-03-10 21:00:00'`); polars
/// SQL cannot compare a zoned column with any literal.
pub(crate) fn time_col(name: &str, v: Vec<Option<i64>>) -> Column {
    Int64Chunked::from_iter_options(name.into(), v.into_iter())
        .into_datetime(TimeUnit::Milliseconds, None)
        .into_series()
        .into()
}

/// A polars error as an I/O error, keeping the kind of a real I/O failure.
pub(crate) fn to_io(e: PolarsError) -> io::Error {
    match e {
        PolarsError::IO { error, .. } => io::Error::new(error.kind(), error.to_string()),
        other => io::Error::other(other.to_string()),
    }
}
