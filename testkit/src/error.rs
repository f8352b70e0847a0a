//! Typed errors of the writer and the scenario language.

use std::path::PathBuf;

/// Why a record or file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("record {id} is larger than a chunk can hold ({max} bytes of records)")]
    RecordTooLarge { id: u64, max: usize },
    #[error("value {index} is {size} bytes; BinXML value sizes are 16-bit")]
    ValueTooLarge { index: usize, size: usize },
    #[error("a name or literal of {0} UTF-16 units is longer than BinXML allows (65535)")]
    NameTooLong(usize),
    #[error("a chunk offset overflowed")]
    ChunkOverflow,
    #[error("the file already holds 65535 chunks, the most its header can count")]
    FileFull,
    #[error("the writer was used after an earlier error")]
    Poisoned,
}

/// A scenario that cannot be parsed or does not make sense, with its line number.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("line {line}: {message}")]
    Syntax { line: usize, message: String },
    #[error("line {line}: {message}")]
    Model { line: usize, message: String },
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// A problem in the host model (a parent that does not exist, a PID in use); the scenario
/// parser adds the line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("no live process matches {0:?}")]
    NoSuchProcess(String),
    #[error("PID {0} is in use by a live process")]
    PidInUse(u32),
    #[error("PID {0} is reserved (0 is Idle, 4 is System)")]
    BadPid(u32),
    #[error("the host is not running (no boot yet, or after shutdown)")]
    NotRunning,
    #[error("no free PID left")]
    PidsExhausted,
    #[error("{0}")]
    Invalid(String),
}
