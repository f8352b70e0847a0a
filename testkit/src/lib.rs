//! `lineage-testkit`: valid Windows EVTX files on demand, for `lineage`'s tests and
//! benchmarks.
//!
//! - [`writer::EvtxWriter`] writes records into 64 KiB chunks with Windows' string and
//!   template tables and checksums; [`events::EventFactory`] builds the records `lineage`
//!   reads (Sysmon 1/4/5/16, Security 4688 v1/v2, 4689, 4608, 4609, 4616, 1100, 1102, System
//!   12, 13, 41, 104, 1074, 6005, 6006, 6008, 6013) with Windows' channels, providers and
//!   value types.
//! - [`host::Host`] models one machine's history (boots, the core-process chain, sessions,
//!   programs, exits, PID reuse) and [`scenario`] drives it from a few lines of text.
//! - [`fleet`] generates months of history for many hosts, with planted anomalies and the
//!   ground truth to score `lineage` against.
//!
//! The file format and the scenario language are described in `docs/testkit.md`.
#![forbid(unsafe_code)]

pub mod binxml;
pub mod chunk;
pub mod error;
pub mod events;
pub mod fleet;
pub mod host;
pub mod images;
pub mod logset;
pub mod pids;
pub mod rng;
pub mod scenario;
pub mod values;
pub mod writer;

pub use chunk::Record;
pub use error::{ModelError, ScenarioError, WriteError};
pub use events::{Channel, Event, EventFactory, Header};
pub use host::{Audit, Core, Host, Initiator, SecurityVersion, Sources, Spawn};
pub use logset::LogSet;
pub use scenario::Scenario;
pub use writer::EvtxWriter;
