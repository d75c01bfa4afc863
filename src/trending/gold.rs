//! Gold-layer snapshots of the trending table: `<lake>/gold/trending_hashtags/date=.../part-*.parquet`,
//! one complete file per snapshot (written under a temp name, renamed when complete), newest
//! `keep` kept.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use crate::lake::schema::timestamp_utc;
use crate::lake::{list_complete_files, LakeError, LakeLayout, RollPolicy, RollingParquet};
use crate::store::TagRow;

/// Folder of the snapshots, under the gold layer.
pub fn snapshot_dir(layout: &LakeLayout) -> PathBuf {
    layout.gold().join("trending_hashtags")
}

/// Columns: the table's, plus when the snapshot was taken.
pub fn snapshot_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("hashtag", DataType::Utf8, false),
        Field::new("tag_key", DataType::Utf8, false),
        Field::new("count", DataType::Int64, false),
        Field::new("window_count", DataType::Int64, false),
        Field::new("snapshot_time", timestamp_utc(), false),
    ]))
}

/// Writes one snapshot of `rows` (sorted by count, descending) and prunes old ones; returns
/// the new file.
pub fn write_snapshot(
    dir: &Path,
    mut rows: Vec<TagRow>,
    now_ms: i64,
    keep: usize,
) -> Result<Option<PathBuf>, LakeError> {
    rows.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    let n = rows.len();
    let batch = RecordBatch::try_new(
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
                TimestampMillisecondArray::from_iter_values(std::iter::repeat_n(now_ms, n))
                    .with_timezone("UTC"),
            ),
        ],
    )
    .map_err(|e| LakeError::Arrow {
        context: dir.display().to_string(),
        source: e,
    })?;
    let prefix = format!(
        "trending-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    );
    let mut w = RollingParquet::new(
        dir.to_path_buf(),
        snapshot_schema(),
        prefix,
        RollPolicy::default(),
    );
    w.write(&batch)?;
    let closed = w.close()?;
    prune(dir, keep)?;
    Ok(closed.map(|c| c.path))
}

/// Deletes all but the newest `keep` snapshots (file names start with their UTC time).
fn prune(dir: &Path, keep: usize) -> Result<(), LakeError> {
    let io = |e| LakeError::Io {
        context: dir.display().to_string(),
        source: e,
    };
    let mut files = list_complete_files(dir).map_err(io)?;
    files.sort_by_key(|p| p.file_name().map(|n| n.to_os_string()));
    let old = files.len().saturating_sub(keep.max(1));
    for f in &files[..old] {
        match std::fs::remove_file(f) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::read_batches;

    #[test]
    fn snapshots_are_complete_files_and_old_ones_go() {
        let dir = tempfile::tempdir().unwrap();
        let rows = vec![
            TagRow {
                key: "#a".into(),
                hashtag: "#A".into(),
                count: 1,
                window: 0,
            },
            TagRow {
                key: "#b".into(),
                hashtag: "#b".into(),
                count: 5,
                window: 2,
            },
        ];
        for i in 0..4 {
            write_snapshot(dir.path(), rows.clone(), 1_700_000_000_000 + i, 2).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let files = list_complete_files(dir.path()).unwrap();
        assert_eq!(files.len(), 2);
        let b = &read_batches(files.last().unwrap()).unwrap()[0];
        let tags = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(tags.value(0), "#b");
        assert_eq!(b.num_rows(), 2);
    }
}
