//! Table maintenance: `ssp-tui lake optimize` (compact small files) and `ssp-tui lake vacuum`
//! (delete files no snapshot within the retention period refers to). Both work on a local
//! lake and on object storage. Compaction commits rewrites (`dataChange = false`), which the
//! lake's readers skip; vacuum with a short retention can delete files that a reader still
//! behind the compaction has yet to read, hence the retention floor.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use deltalake::delta_datafusion::DeltaSessionContext;
use deltalake::operations::vacuum::VacuumMode;

use super::stats::{totals, LayerStats, TABLES};
use super::table::{self, LakeLocation, TableError};
use super::LakeError;

/// Default vacuum retention (Delta's `delta.deletedFileRetentionDuration` default).
pub const DEFAULT_RETENTION_HOURS: u64 = 168;

/// Tables `name` selects: one of [`TABLES`], or all of them.
pub fn select_tables(name: Option<&str>) -> Result<Vec<&'static str>, String> {
    let all: Vec<&'static str> = TABLES.iter().map(|(_, n)| *n).collect();
    match name {
        None => Ok(all),
        Some(n) => all
            .iter()
            .find(|t| **t == n.trim_matches('/'))
            .map(|t| vec![*t])
            .ok_or_else(|| format!("unknown table {n:?}: expected one of {}", all.join(", "))),
    }
}

/// A compaction: the table's totals before and after.
#[derive(Debug, Clone)]
pub struct Optimized {
    pub table: &'static str,
    pub before: LayerStats,
    pub after: LayerStats,
    pub files_added: u64,
    pub files_removed: u64,
}

/// Compacts the small files of table `name` (bin-packing within each partition); `None`
/// when the table does not exist.
pub async fn optimize(
    location: &LakeLocation,
    name: &'static str,
) -> Result<Option<Optimized>, LakeError> {
    let Some(table) = table::open(location, name).await? else {
        return Ok(None);
    };
    let now = SystemTime::now();
    let before = totals(&table, name, now)?;
    // Plain `Utf8` strings, not DataFusion's default view types: the rewritten files carry
    // the same Arrow types as the writers' files, which the lake's readers expect.
    let plain = HashMap::from([(
        "datafusion.execution.parquet.schema_force_view_types".to_string(),
        "false".to_string(),
    )]);
    let session = DeltaSessionContext::new_with_session_overrides(&plain)
        .map_err(|e| TableError::delta(name, e))?
        .state();
    let (table, metrics) = table
        .optimize()
        .with_session_state(Arc::new(session))
        .await
        .map_err(|e| TableError::delta(name, e))?;
    let after = totals(&table, name, now)?;
    Ok(Some(Optimized {
        table: name,
        before,
        after,
        files_added: metrics.num_files_added,
        files_removed: metrics.num_files_removed,
    }))
}

/// How to vacuum.
#[derive(Debug, Clone, Default)]
pub struct VacuumOptions {
    /// Keep files removed less than this long ago (default: the table's setting, 168 h).
    pub retention_hours: Option<u64>,
    /// Let `retention_hours` go below the table's minimum.
    pub allow_short_retention: bool,
    /// Only list what would be deleted.
    pub dry_run: bool,
    /// Also delete files the log never referred to (left by writers that crashed before
    /// committing); lists the whole table folder.
    pub full: bool,
}

/// A vacuum: the files deleted (or, on a dry run, that would be).
#[derive(Debug, Clone)]
pub struct Vacuumed {
    pub table: &'static str,
    pub dry_run: bool,
    pub files: Vec<String>,
}

/// Deletes the files of table `name` that no version within the retention period refers
/// to; `None` when the table does not exist.
pub async fn vacuum(
    location: &LakeLocation,
    name: &'static str,
    opts: &VacuumOptions,
) -> Result<Option<Vacuumed>, LakeError> {
    let Some(table) = table::open(location, name).await? else {
        return Ok(None);
    };
    let mut builder = table
        .vacuum()
        .with_dry_run(opts.dry_run)
        .with_enforce_retention_duration(!opts.allow_short_retention)
        .with_mode(if opts.full {
            VacuumMode::Full
        } else {
            VacuumMode::Lite
        });
    if let Some(h) = opts.retention_hours {
        let hours = i64::try_from(h).map_err(|_| TableError::other(name, "retention too long"))?;
        builder = builder.with_retention_period(chrono::Duration::hours(hours));
    }
    let (_, metrics) = builder.await.map_err(|e| {
        let msg = e.to_string();
        if msg.contains("minimum retention") {
            TableError::other(
                name,
                format!(
                    "{msg}; pass --allow-short-retention to go below it (a reader more than \
                     that far behind may then find its files gone)"
                ),
            )
        } else {
            TableError::delta(name, e)
        }
    })?;
    Ok(Some(Vacuumed {
        table: name,
        dry_run: metrics.dry_run,
        files: metrics.files_deleted,
    }))
}
