//! SQL over the tables, through polars' SQL context.
//!
//! Tables are registered lazily: a table is built (or scanned from Parquet) only when the
//! query names it, because the `events` table of a fleet is large and most hunts never read
//! it. The test is a whole-word, case-insensitive match of the table name in the query text,
//! so a name inside a string literal builds a table for nothing, never the other way round.

use polars::prelude::*;
use polars::sql::SQLContext;

/// The names of the tables, in the order the documentation lists them.
pub const TABLES: [&str; 4] = ["processes", "boots", "findings", "events"];

/// The tables a query names (whole words, any case).
pub fn referenced(sql: &str) -> Vec<&'static str> {
    let lower = sql.to_ascii_lowercase();
    TABLES
        .into_iter()
        .filter(|t| {
            lower.match_indices(t).any(|(at, _)| {
                let before = lower[..at].chars().next_back();
                let after = lower[at + t.len()..].chars().next();
                let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                !word(before) && !word(after)
            })
        })
        .collect()
}

/// Run `sql` over `tables` (name, frame) and collect the result.
pub fn run(tables: Vec<(&str, LazyFrame)>, sql: &str) -> PolarsResult<DataFrame> {
    let mut ctx = SQLContext::new();
    for (name, lf) in tables {
        ctx.register(name, lf);
    }
    ctx.execute(sql)?.collect()
}

#[cfg(test)]
mod tests {
    use super::referenced;

    #[test]
    fn tables_are_found_as_whole_words() {
        assert_eq!(
            referenced("SELECT * FROM Processes p JOIN boots b ON p.boot_key = b.boot_key"),
            vec!["processes", "boots"]
        );
        assert_eq!(
            referenced("select eventsx from my_findings"),
            Vec::<&str>::new()
        );
        assert_eq!(referenced("select * from \"events\""), vec!["events"]);
    }
}
