//! From the old lake layout (plain Parquet folders, e.g. `<lake>/bronze/date=YYYY-MM-DD/
//! part-*.parquet`, no `_delta_log`) to Delta tables, in place: `ssp-tui lake convert`, and
//! the check that refuses to start on an old layout ([`check_layout`]).
//!
//! Conversion is delta-rs' `convert_to_delta`: one commit adding every Parquet file as it is,
//! with stats from the file footers. Hive directories (`key=value`) become partition columns
//! (`date` typed as a date, like the bronze writer's, others as strings); they are not
//! columns inside the old files, as in any Delta table. Old files keep their millisecond
//! timestamps while the table's schema says `timestamp` (microseconds): the lake's readers
//! read timestamps with `millis_column`, which casts whatever unit a file holds.

use std::collections::BTreeSet;

use deltalake::kernel::{DataType, StructField};
use deltalake::operations::convert_to_delta::{ConvertToDeltaBuilder, PartitionStrategy};
use deltalake::{DeltaTable, DeltaTableBuilder, ObjectStore, TableProperty};
use futures::StreamExt;

use super::layout::Layer;
use super::stats::{totals, LayerStats, TABLES};
use super::table::{storage_options, LakeLocation, TableError, CHECKPOINT_INTERVAL};
use super::LakeError;

/// Errors of [`check_layout`].
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error(
        "{dir} holds plain Parquet files from an earlier ssp-tui: run `ssp-tui lake convert` \
         to turn it into a Delta table"
    )]
    OldLayout { dir: String },
    #[error(transparent)]
    Table(#[from] TableError),
}

/// Fails with [`LayoutError::OldLayout`] when a table's folder holds `.parquet` files but
/// no Delta log (a lake written by an earlier ssp-tui).
pub async fn check_layout(location: &LakeLocation) -> Result<(), LayoutError> {
    for (_, name) in TABLES {
        if let Folder::Parquet { .. } = inspect(location, name, false).await? {
            return Err(LayoutError::OldLayout {
                dir: display(location, name),
            });
        }
    }
    Ok(())
}

/// What [`convert`] did with one table.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Now a Delta table with these totals.
    Converted(LayerStats),
    /// Already a Delta table: left alone.
    AlreadyDelta,
    /// No Parquet files there.
    Nothing,
}

/// Converts the old-layout tables of `layers` into Delta tables, in place.
pub async fn convert(
    location: &LakeLocation,
    layers: &[Layer],
) -> Result<Vec<(&'static str, Outcome)>, LakeError> {
    let mut out = Vec::new();
    for (layer, name) in TABLES {
        if !layers.contains(&layer) {
            continue;
        }
        let outcome = match inspect(location, name, true).await? {
            Folder::Missing => Outcome::Nothing,
            Folder::Delta => Outcome::AlreadyDelta,
            Folder::Parquet { partitions } => {
                Outcome::Converted(convert_table(location, name, partitions).await?)
            }
        };
        out.push((name, outcome));
    }
    Ok(out)
}

async fn convert_table(
    location: &LakeLocation,
    name: &'static str,
    partitions: BTreeSet<String>,
) -> Result<LayerStats, LakeError> {
    let table = unloaded(location, name)?;
    let fields = partitions.iter().map(|key| {
        let kind = if key == "date" {
            DataType::DATE
        } else {
            DataType::STRING
        };
        StructField::new(key.clone(), kind, true)
    });
    let table = ConvertToDeltaBuilder::new()
        .with_log_store(table.log_store())
        .with_partition_schema(fields)
        .with_partition_strategy(PartitionStrategy::Hive)
        .with_table_name(name.replace('/', "_"))
        .with_configuration_property(
            TableProperty::CheckpointInterval,
            Some(CHECKPOINT_INTERVAL.to_string()),
        )
        .await
        .map_err(|e| TableError::delta(name, e))?;
    totals(&table, name, std::time::SystemTime::now())
}

enum Folder {
    Missing,
    Delta,
    /// Parquet files without a Delta log; `partitions`: the `key=value` directory keys seen
    /// (collected only when asked, else the first file ends the listing).
    Parquet {
        partitions: BTreeSet<String>,
    },
}

async fn inspect(
    location: &LakeLocation,
    name: &str,
    partitions: bool,
) -> Result<Folder, TableError> {
    if let Some(dir) = location.local_dir() {
        if !dir.join(name).is_dir() {
            return Ok(Folder::Missing);
        }
    }
    let table = unloaded(location, name)?;
    let store = table.log_store();
    if store
        .is_delta_table_location()
        .await
        .map_err(|e| TableError::delta(name, e))?
    {
        return Ok(Folder::Delta);
    }
    let objects = store.object_store(None);
    let mut listing = objects.list(None);
    let mut found = None;
    while let Some(meta) = listing.next().await {
        let meta = match meta {
            Ok(m) => m,
            Err(deltalake::ObjectStoreError::NotFound { .. }) => continue,
            Err(e) => return Err(TableError::other(name, format!("listing: {e}"))),
        };
        if meta.location.extension() != Some("parquet") {
            continue;
        }
        let keys = found.get_or_insert_with(BTreeSet::new);
        if !partitions {
            break;
        }
        let path = meta.location.as_ref();
        let dirs = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        keys.extend(
            dirs.split('/')
                .filter_map(|d| d.split_once('=').map(|(k, _)| k.to_string())),
        );
    }
    Ok(match found {
        Some(partitions) => Folder::Parquet { partitions },
        None => Folder::Missing,
    })
}

/// Table `name` without loading its log (it may not have one).
pub(crate) fn unloaded(location: &LakeLocation, name: &str) -> Result<DeltaTable, TableError> {
    DeltaTableBuilder::from_url(location.table_url(name))
        .and_then(|b| b.with_storage_options(storage_options(location)).build())
        .map_err(|e| TableError::delta(name, e))
}

fn display(location: &LakeLocation, name: &str) -> String {
    match location.local_dir() {
        Some(dir) => dir.join(name).display().to_string(),
        None => format!("{}{name}", location.display()),
    }
}
