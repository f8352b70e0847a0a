//! `lineage`: rebuild Windows process lineage from archived event logs.
//!
//! The pipeline, one module per stage: `discover` finds input files, [`ingest`] reads them
//! into raw records, [`extract`] turns records into typed events ([`model`]), and [`report`]
//! writes them out. `app` orchestrates; `cli` holds the command line.
#![forbid(unsafe_code)]

pub mod app;
pub mod baseline;
pub mod cli;
pub mod discover;
pub mod exit;
pub mod extract;
pub mod ingest;
pub mod issues;
pub mod lineage;
pub mod model;
pub mod report;
#[cfg(feature = "tables")]
pub mod tables;
pub mod time;
