//! Writing results out. Everything here treats event-log text as hostile: [`sanitize`] makes
//! it safe to show on a terminal, [`csv`] keeps it lossless but defuses spreadsheet formulas,
//! and [`output`] makes sure a half-written file never looks like a finished one.

pub mod csv;
pub mod events;
pub mod findings;
pub mod json;
pub mod output;
pub mod rules;
pub mod sanitize;
pub mod summary;
pub mod tree;
