//! The lake's Delta tables: where they live (a local folder or `s3://bucket/prefix`), how a
//! table is opened or created, and how its data files are read back.
//!
//! Tables: `bronze` (partitioned by `date`), `silver/ner`, `gold/trending_hashtags`,
//! `gold/ai_tweets`. Every write is one Delta commit; the log is the source of truth.

use std::collections::HashMap;

use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel as _;
use deltalake::kernel::{StructField, StructType};
use deltalake::operations::create::CreateBuilder;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError, TableProperty};
use object_store::ObjectStoreExt as _;

/// Commits between two Delta checkpoints (`delta.checkpointInterval`): Delta's own default
/// (delta-rs uses 100). Opening a table replays the JSON commits since the last checkpoint; at
/// 100 that was most of the time a query over a small table took.
pub const CHECKPOINT_INTERVAL: u64 = 10;

/// Errors of Delta tables, with the table they happened on.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("table {table}: {source}")]
    Delta {
        table: String,
        #[source]
        source: Box<DeltaTableError>,
    },
    /// Another writer moved a transaction this one resumed from: it must resume again.
    #[error("table {table}: {what}")]
    Fenced { table: String, what: String },
    #[error("table {table}: {what}")]
    Other { table: String, what: String },
}

impl TableError {
    pub fn delta(table: &str, source: DeltaTableError) -> Self {
        TableError::Delta {
            table: table.to_string(),
            source: Box::new(source),
        }
    }

    pub fn other(table: &str, what: impl Into<String>) -> Self {
        TableError::Other {
            table: table.to_string(),
            what: what.into(),
        }
    }

    /// Another writer committed first on the same transaction ids (a concurrent owner).
    pub fn is_conflict(&self) -> bool {
        match self {
            TableError::Delta { source, .. } => matches!(
                **source,
                DeltaTableError::Transaction { .. } | DeltaTableError::VersionAlreadyExists(_)
            ),
            TableError::Fenced { .. } => true,
            TableError::Other { .. } => false,
        }
    }
}

pub use crate::config::LakeLocation;

/// Storage options for object stores: the usual `AWS_*` variables (endpoint, region, keys)
/// are read by delta-rs itself; plain-HTTP endpoints (test servers) are allowed.
pub(crate) fn storage_options(location: &LakeLocation) -> HashMap<String, String> {
    let mut opts = HashMap::new();
    if location.url().scheme().starts_with("s3") {
        let endpoint = std::env::var("AWS_ENDPOINT_URL")
            .or_else(|_| std::env::var("AWS_ENDPOINT"))
            .unwrap_or_default();
        if endpoint.starts_with("http://") {
            opts.insert("AWS_ALLOW_HTTP".into(), "true".into());
        }
        if !endpoint.is_empty() {
            opts.insert("AWS_ENDPOINT_URL".into(), endpoint);
            // Test servers and MinIO address buckets by path.
            opts.entry("AWS_VIRTUAL_HOSTED_STYLE_REQUEST".into())
                .or_insert_with(|| "false".into());
        }
        if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
            opts.insert("AWS_REGION".into(), "us-east-1".into());
        }
    }
    opts
}

/// Opens table `name`; `None` when it does not exist yet.
pub async fn open(location: &LakeLocation, name: &str) -> Result<Option<DeltaTable>, TableError> {
    if let Some(dir) = location.local_dir() {
        if !dir.join(name).join("_delta_log").is_dir() {
            return Ok(None);
        }
    }
    let url = location.table_url(name);
    let mut table = DeltaTableBuilder::from_url(url)
        .map_err(|e| TableError::delta(name, e))?
        .with_storage_options(storage_options(location))
        .build()
        .map_err(|e| TableError::delta(name, e))?;
    if !location.is_local()
        && !table
            .verify_deltatable_existence()
            .await
            .map_err(|e| TableError::delta(name, e))?
    {
        return Ok(None);
    }
    match table.load().await {
        Ok(()) => Ok(Some(table)),
        Err(DeltaTableError::NotATable(_)) => Ok(None),
        Err(DeltaTableError::InvalidTableLocation(_)) => Ok(None),
        Err(e) => Err(TableError::delta(name, e)),
    }
}

/// Opens table `name`, creating it with `schema` (and `partition_by`) when missing. Two
/// processes creating it at once are fine: the loser of the version-0 commit opens it.
pub async fn open_or_create(
    location: &LakeLocation,
    name: &str,
    schema: &SchemaRef,
    partition_by: &[&str],
) -> Result<DeltaTable, TableError> {
    if let Some(t) = open(location, name).await? {
        return add_missing_columns(t, location, name, schema).await;
    }
    if let Some(dir) = location.local_dir() {
        let path = dir.join(name);
        std::fs::create_dir_all(&path).map_err(|e| TableError::other(name, e.to_string()))?;
    }
    let columns: StructType = schema
        .as_ref()
        .try_into_kernel()
        .map_err(|e| TableError::other(name, format!("schema: {e}")))?;
    let created = CreateBuilder::new()
        .with_location(location.table_url(name).to_string())
        .with_storage_options(storage_options(location))
        .with_table_name(name.replace('/', "_"))
        .with_columns(columns.fields().cloned())
        .with_partition_columns(partition_by.iter().map(|s| s.to_string()))
        .with_save_mode(SaveMode::Ignore)
        .with_configuration_property(
            TableProperty::CheckpointInterval,
            Some(CHECKPOINT_INTERVAL.to_string()),
        )
        .await;
    match created {
        Ok(t) => Ok(t),
        Err(e) => match open(location, name).await? {
            Some(t) => Ok(t),
            None => Err(TableError::delta(name, e)),
        },
    }
}

/// Adds the nullable columns of `schema` that `table` lacks (a table written by an older
/// release): one metadata commit; the rows already there read null. Two writers adding them
/// at once are fine: the loser finds them added.
async fn add_missing_columns(
    table: DeltaTable,
    location: &LakeLocation,
    name: &str,
    schema: &SchemaRef,
) -> Result<DeltaTable, TableError> {
    let missing = |t: &DeltaTable| -> Result<Vec<StructField>, TableError> {
        let have = t
            .snapshot()
            .map_err(|e| TableError::delta(name, e))?
            .schema();
        let wanted: StructType = schema
            .as_ref()
            .try_into_kernel()
            .map_err(|e| TableError::other(name, format!("schema: {e}")))?;
        wanted
            .fields()
            .filter(|f| have.field(f.name()).is_none())
            .map(|f| match f.is_nullable() {
                true => Ok(f.clone()),
                false => Err(TableError::other(
                    name,
                    format!(
                        "the table has no column {} and it cannot be added",
                        f.name()
                    ),
                )),
            })
            .collect()
    };
    let fields = missing(&table)?;
    if fields.is_empty() {
        return Ok(table);
    }
    let names: Vec<String> = fields.iter().map(|f| f.name().clone()).collect();
    match table.add_columns().with_fields(fields).await {
        Ok(t) => {
            tracing::info!(table = name, columns = ?names, "added columns to a table written by an older release");
            Ok(t)
        }
        Err(e) => match open(location, name).await? {
            Some(t) if missing(&t)?.is_empty() => Ok(t),
            _ => Err(TableError::delta(name, e)),
        },
    }
}

/// The version transaction `app_id` last recorded in `table` (`name` for errors), after
/// catching up with the newest commits.
pub async fn latest_txn_version(
    table: &mut DeltaTable,
    name: &str,
    app_id: &str,
) -> Result<Option<i64>, TableError> {
    table
        .update_incremental(None)
        .await
        .map_err(|e| TableError::delta(name, e))?;
    txn_version(table, name, app_id).await
}

/// The version transaction `app_id` recorded in `table` as loaded.
pub async fn txn_version(
    table: &DeltaTable,
    name: &str,
    app_id: &str,
) -> Result<Option<i64>, TableError> {
    table
        .snapshot()
        .map_err(|e| TableError::delta(name, e))?
        .transaction_version(table.log_store().as_ref(), app_id)
        .await
        .map_err(|e| TableError::delta(name, e))
}

/// Reads one data file of `table` (its path as in the log's `add` action).
pub async fn read_file(table: &DeltaTable, path: &str) -> Result<Bytes, TableError> {
    let store = table.log_store().object_store(None);
    let location = deltalake::Path::from_url_path(path)
        .map_err(|e| TableError::other("lake", format!("{path}: {e}")))?;
    let got = store
        .get(&location)
        .await
        .map_err(|e| TableError::other("lake", format!("reading {path}: {e}")))?;
    got.bytes()
        .await
        .map_err(|e| TableError::other("lake", format!("reading {path}: {e}")))
}
