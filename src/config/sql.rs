//! `[sql]`: the query engine behind `ssp-tui sql` and the SQL pane.

use std::time::Duration;

use super::reader::Reader;
use super::ConfigError;

pub const SQL_KEYS: &[&str] = &["memory_mb", "max_rows", "watch_seconds"];

#[derive(Debug, Clone, PartialEq)]
pub struct SqlSettings {
    /// Memory a query's operators may hold (sorts, joins, aggregates) before it fails.
    pub memory_mb: usize,
    /// Rows the SQL pane keeps of a result (the count says how many there were).
    pub max_rows: usize,
    /// A live view (`:watch`) re-runs at most this often, and only after a new commit.
    pub watch_every: Duration,
}

pub(super) fn parse(r: &Reader) -> Result<SqlSettings, ConfigError> {
    r.reject_unknown("sql", SQL_KEYS)?;
    Ok(SqlSettings {
        memory_mb: r.parse(
            "sql",
            "memory_mb",
            512,
            "a whole number of MiB from 16 to 1048576",
            |v: usize| (16..=1 << 20).contains(&v),
        )?,
        max_rows: r.parse(
            "sql",
            "max_rows",
            10_000,
            "a whole number of rows from 1 to 10000000",
            |v: usize| (1..=10_000_000).contains(&v),
        )?,
        watch_every: Duration::from_secs_f64(r.parse(
            "sql",
            "watch_seconds",
            1.0,
            "a number of seconds from 0.2 to 3600",
            |v: f64| (0.2..=3600.0).contains(&v),
        )?),
    })
}
