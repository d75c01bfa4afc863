//! The gold table `gold/<trending table>` (`gold/trending_hashtags` by default): the store's
//! trending table as a Delta table, for DuckDB, Spark and the SQL pane.
//!
//! Each snapshot is **one commit that replaces the table's content** (an overwrite: `remove`
//! of the previous snapshot's files, `add` of the new one). A reader of the latest version,
//! `SELECT * FROM delta_scan('<lake>/gold/trending_hashtags')` in DuckDB or
//! `spark.read.format("delta").load(...)`, gets what the store's table holds: one row per
//! hashtag with its current counts, no filtering on a snapshot column and nothing summed
//! twice. An append of every snapshot would make every plain query wrong (each tag once per
//! snapshot) and grow without bound. `snapshot_time` says how fresh the rows are; earlier
//! snapshots stay readable by time travel (`VERSION AS OF`) for the newest `keep` snapshots,
//! after which their data files are deleted. Each commit carries a `txn` action (app id
//! [`txn_app`], version = the store's batch number) recording which store state it shows.

use std::sync::Arc;

use arrow::array::{Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter as _, RecordBatchWriter};
use deltalake::DeltaTable;
use futures::TryStreamExt as _;
use object_store::ObjectStoreExt as _;

use crate::lake::schema::timestamp_utc;
use crate::lake::table::{self, LakeLocation, TableError};
use crate::lake::LakeError;
use crate::store::TagRow;

/// The gold table of store table `table` (e.g. `gold/trending_hashtags`).
pub fn table_name(table: &str) -> String {
    format!("gold/{table}")
}

/// App id of the `txn` action each snapshot commits (version = store batch number).
pub fn txn_app(table: &str) -> String {
    format!("ssp-trending-gold {table}")
}

/// Columns: the store table's, plus when the snapshot was taken.
pub fn snapshot_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("hashtag", DataType::Utf8, false),
        Field::new("tag_key", DataType::Utf8, false),
        Field::new("count", DataType::Int64, false),
        Field::new("window_count", DataType::Int64, false),
        Field::new("snapshot_time", timestamp_utc(), false),
    ]))
}

/// One snapshot to write: the store table's name, its rows and batch number, and the time.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub table: String,
    pub rows: Vec<TagRow>,
    pub seq: u64,
    pub now_ms: i64,
}

fn batch_of(rows: &mut [TagRow], now_ms: i64) -> Result<RecordBatch, arrow::error::ArrowError> {
    rows.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    let n = rows.len();
    RecordBatch::try_new(
        snapshot_schema(),
        vec![
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| &r.hashtag),
            )),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.key))),
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| r.count as i64),
            )),
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| r.window as i64),
            )),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(std::iter::repeat_n(now_ms * 1000, n))
                    .with_timezone("UTC"),
            ),
        ],
    )
}

/// Replaces the gold table's content with `snap` (rows sorted by count, descending) in one
/// commit, then deletes the files of the snapshot `keep` commits back; returns the version.
pub async fn write_snapshot(
    location: &LakeLocation,
    mut snap: Snapshot,
    keep: usize,
) -> Result<i64, LakeError> {
    let name = table_name(&snap.table);
    let delta = |e| LakeError::from(TableError::delta(&name, e));
    let batch =
        batch_of(&mut snap.rows, snap.now_ms).map_err(|e| LakeError::arrow(name.clone(), e))?;
    let mut table = table::open_or_create(location, &name, &snapshot_schema(), &[]).await?;
    let mut writer = RecordBatchWriter::for_table(&table).map_err(delta)?;
    if batch.num_rows() > 0 {
        writer.write(batch).await.map_err(delta)?;
    }
    let adds = writer.flush().await.map_err(delta)?;
    let mut actions: Vec<Action> = table
        .snapshot()
        .map_err(delta)?
        .snapshot()
        .file_views(&table.log_store(), None)
        .map_ok(|f| Action::Remove(f.remove_action(true)))
        .try_collect()
        .await
        .map_err(delta)?;
    actions.extend(adds.into_iter().map(Action::Add));
    actions.push(Action::Txn(Transaction::new_with_last_update(
        txn_app(&snap.table),
        snap.seq as i64,
        Some(snap.now_ms),
    )));
    let operation = DeltaOperation::Write {
        mode: SaveMode::Overwrite,
        partition_by: None,
        predicate: None,
    };
    let finalized = CommitBuilder::from(CommitProperties::default())
        .with_actions(actions)
        .build(
            Some(table.snapshot().map_err(delta)?),
            table.log_store(),
            operation,
        )
        .await
        .map_err(delta)?;
    let version = finalized.version() as i64;
    table.state = Some(finalized.snapshot());
    prune(&table, &name, version - keep.max(1) as i64 + 1).await?;
    Ok(version)
}

/// Deletes the data files commit `version` removed (an older snapshot's): time travel to
/// before it then fails, as after a `VACUUM`.
async fn prune(table: &DeltaTable, name: &str, version: i64) -> Result<(), LakeError> {
    if version < 1 {
        return Ok(());
    }
    let log = table.log_store();
    let Some(bytes) = log
        .read_commit_entry(version as u64)
        .await
        .map_err(|e| TableError::delta(name, e))?
    else {
        return Ok(());
    };
    let actions = deltalake::logstore::get_actions(version as u64, &bytes)
        .map_err(|e| TableError::delta(name, e))?;
    let store = log.object_store(None);
    for a in actions {
        let Action::Remove(r) = a else { continue };
        let path = deltalake::Path::from_url_path(&r.path)
            .map_err(|e| TableError::other(name, format!("{}: {e}", r.path)))?;
        match store.delete(&path).await {
            Ok(()) | Err(deltalake::ObjectStoreError::NotFound { .. }) => {}
            Err(e) => {
                return Err(TableError::other(name, format!("deleting {}: {e}", r.path)).into())
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::read_batches;

    fn row(key: &str, hashtag: &str, count: u64, window: u64) -> TagRow {
        TagRow {
            key: key.into(),
            hashtag: hashtag.into(),
            count,
            window,
        }
    }

    /// The live files of the table's latest version.
    async fn live_files(location: &LakeLocation, name: &str) -> (DeltaTable, Vec<String>) {
        let t = table::open(location, name).await.unwrap().unwrap();
        let files: Vec<String> = t
            .snapshot()
            .unwrap()
            .snapshot()
            .file_views(&t.log_store(), None)
            .map_ok(|f| f.path().to_string())
            .try_collect()
            .await
            .unwrap();
        (t, files)
    }

    #[tokio::test]
    async fn each_snapshot_replaces_the_last_and_old_files_go() {
        let dir = tempfile::tempdir().unwrap();
        let location = LakeLocation::local(dir.path());
        let name = table_name("trending_hashtags");
        let mut versions = Vec::new();
        let mut all_files = Vec::new();
        for i in 0..4u64 {
            let rows = vec![row("#a", "#A", 1, 0), row("#b", "#b", 5 + i, 2)];
            let snap = Snapshot {
                table: "trending_hashtags".into(),
                rows,
                seq: 10 + i,
                now_ms: 1_700_000_000_000 + i as i64,
            };
            versions.push(write_snapshot(&location, snap, 2).await.unwrap());
            let (_, files) = live_files(&location, &name).await;
            assert_eq!(files.len(), 1, "one snapshot in the latest version");
            all_files.push(files[0].clone());
        }
        let (t, files) = live_files(&location, &name).await;
        let bytes = table::read_file(&t, &files[0]).await.unwrap();
        let b = &read_batches(bytes, &files[0]).unwrap()[0];
        assert_eq!(b.num_rows(), 2, "one row per tag, not one per snapshot");
        let tags = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
        let counts = b.column(2).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(
            (tags.value(0), counts.value(0)),
            ("#b", 8),
            "by count, descending"
        );
        let app = txn_app("trending_hashtags");
        let seq = t
            .snapshot()
            .unwrap()
            .transaction_version(t.log_store().as_ref(), &app)
            .await
            .unwrap();
        assert_eq!(seq, Some(13));
        // keep = 2: the last two snapshots' files exist, the older ones were deleted.
        let exists = |f: &String| dir.path().join(&name).join(f).exists();
        assert!(exists(&all_files[3]) && exists(&all_files[2]));
        assert!(!exists(&all_files[1]) && !exists(&all_files[0]));
        assert_eq!(versions.windows(2).filter(|w| w[1] == w[0] + 1).count(), 3);
    }
}
