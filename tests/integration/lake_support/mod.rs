//! Helpers for the lake maintenance tests: small Delta tables committed like the lake's
//! writers do, old-layout Parquet files, and reading tables back (ours and Python's).
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, AsArray, BooleanArray, Date32Array, Int32Array, Int64Array, ListArray, ListBuilder,
    RecordBatch, StringArray, StringBuilder, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef, TimeUnit};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Transaction};
use deltalake::protocol::{DeltaOperation, OutputMode};
use deltalake::writer::{DeltaWriter as _, RecordBatchWriter};
use deltalake::DeltaTable;
use parquet::arrow::ArrowWriter;
use ssp_tui::lake::schema::millis_column;
use ssp_tui::lake::{table, BronzeRow, DeadLetter, LakeLayout, LakeLocation, RecordMeta};

/// The txn app id of [`commit_ids`].
pub const APP: &str = "lake-maintenance-test";

fn id_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("date", DataType::Date32, false),
    ]))
}

/// Table `name` with columns `id` and `date` (partitioned by `date`).
pub async fn create(loc: &LakeLocation, name: &str) -> DeltaTable {
    table::open_or_create(loc, name, &id_schema(), &["date"])
        .await
        .unwrap()
}

/// One commit (like the bronze writer's: adds plus a `txn` action, version = the table
/// version before it) of ids `start..start + n` on day `day` since the epoch: one file.
pub async fn commit_ids(table: &mut DeltaTable, start: i64, n: i64, day: i32) {
    table.update_incremental(None).await.unwrap();
    let batch = RecordBatch::try_new(
        id_schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(start..start + n)),
            Arc::new(Date32Array::from(vec![day; n as usize])),
        ],
    )
    .unwrap();
    let mut writer = RecordBatchWriter::for_table(table).unwrap();
    writer.write(batch).await.unwrap();
    let adds = writer.flush().await.unwrap();
    let before = table.version().unwrap() as i64;
    let mut actions: Vec<Action> = adds.into_iter().map(Action::Add).collect();
    actions.push(Action::Txn(Transaction::new_with_last_update(
        APP,
        before,
        Some(chrono::Utc::now().timestamp_millis()),
    )));
    let op = DeltaOperation::StreamingUpdate {
        output_mode: OutputMode::Append,
        query_id: "test".into(),
        epoch_id: before,
    };
    let done = CommitBuilder::from(CommitProperties::default())
        .with_actions(actions)
        .build(Some(table.snapshot().unwrap()), table.log_store(), op)
        .await
        .unwrap();
    table.state = Some(done.snapshot());
}

/// Data files under `dir` (not in `_delta_log`): (path relative to `dir`, length).
pub fn data_files(dir: &Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if p.is_dir() && name != "_delta_log" {
                stack.push(p);
            } else if name.ends_with(".parquet") && !name.starts_with('.') {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, p.metadata().unwrap().len()));
            }
        }
    }
    out.sort();
    out
}

/// Appends `n` dead letters under the local lake `root`.
pub fn dead_letters(root: &Path, n: i64) {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut dl = DeadLetter::new(&LakeLayout::new(root), format!("t{k}"));
    for i in 0..n {
        let meta = RecordMeta {
            topic: "t",
            partition: 0,
            offset: i,
            ingest_time: chrono::Utc::now(),
            bus_time_ms: None,
        };
        dl.write(&meta, b"not json", "bad").unwrap();
    }
    dl.sync().unwrap();
}

/// The `id`s of the current snapshot of table `name`, read file by file (each once).
pub async fn snapshot_ids(loc: &LakeLocation, name: &str) -> BTreeSet<i64> {
    let t = table::open(loc, name).await.unwrap().unwrap();
    let mut ids = Vec::new();
    for f in t.snapshot().unwrap().log_data().iter() {
        let bytes = table::read_file(&t, &f.path()).await.unwrap();
        for b in ssp_tui::lake::read_batches(bytes, &f.path()).unwrap() {
            let col = b.column_by_name("id").unwrap().as_primitive::<Int64Type>();
            ids.extend(col.values().iter().copied());
        }
    }
    let set: BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(set.len(), ids.len(), "an id is in two files of {name}");
    set
}

/// The `id`s a [`LakeConsumer`](ssp_tui::lake::LakeConsumer) reads from the beginning of
/// table `name`, commit by commit until it is up to date (an id twice panics).
pub async fn consumer_ids(loc: &LakeLocation, name: &str) -> BTreeSet<i64> {
    use ssp_tui::lake::{LakeConsumer, StartAt};
    let mut c = LakeConsumer::new(loc.clone(), name, None, StartAt::Beginning);
    let mut ids = BTreeSet::new();
    loop {
        let commits = c.poll(16).await.unwrap();
        let Some(last) = commits.last().map(|c| c.version) else {
            return ids;
        };
        for f in commits.iter().flat_map(|c| &c.files) {
            let bytes = c.read(f).await.unwrap();
            for b in ssp_tui::lake::read_batches(bytes, &f.path).unwrap() {
                let col = b.column_by_name("id").unwrap().as_primitive::<Int64Type>();
                for id in col.values().iter() {
                    assert!(ids.insert(*id), "id {id} read twice from {name}");
                }
            }
        }
        c.ack(last);
    }
}

fn old_list(values: impl Iterator<Item = Vec<String>>) -> ListArray {
    // The old writer's lists: ListBuilder's default item field ("item").
    let mut b = ListBuilder::new(StringBuilder::new());
    for v in values {
        for s in v {
            b.values().append_value(s);
        }
        b.append(true);
    }
    b.finish()
}

/// Old-layout bronze files (millisecond timestamps, no `date` column, `item` lists):
/// `<lake>/bronze/date=D/part-K.parquet` per part; returns their rows by offset.
pub fn write_old_bronze(lake: &Path, parts: &[(&str, Range<i64>)]) -> Vec<BronzeRow> {
    let mut all = Vec::new();
    for (k, (date, offsets)) in parts.iter().enumerate() {
        let rows: Vec<BronzeRow> = offsets.clone().map(old_row).collect();
        let ms = |v: Vec<Option<i64>>| TimestampMillisecondArray::from(v).with_timezone("UTC");
        let str_opt = |f: fn(&BronzeRow) -> Option<String>| {
            Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>()))
        };
        let str_req = |f: fn(&BronzeRow) -> String| {
            Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>()))
        };
        let lists = |f: fn(&BronzeRow) -> Vec<String>| Arc::new(old_list(rows.iter().map(f)));
        let batch = RecordBatch::try_from_iter(vec![
            ("id_str", str_req(|r| r.id_str.clone()) as _),
            (
                "created_at",
                Arc::new(ms(rows.iter().map(|r| r.created_at).collect())) as _,
            ),
            ("author", str_opt(|r| r.author.clone()) as _),
            ("source", str_opt(|r| r.source.clone()) as _),
            ("text", str_req(|r| r.text.clone()) as _),
            ("expanded_url", lists(|r| r.expanded_url.clone()) as _),
            ("media_url_https", lists(|r| r.media_url_https.clone()) as _),
            ("hash", str_req(|r| r.hash.clone()) as _),
            ("hashtags", lists(|r| r.hashtags.clone()) as _),
            ("mentions", lists(|r| r.mentions.clone()) as _),
            ("lang", str_opt(|r| r.lang.clone()) as _),
            (
                "is_retweet",
                Arc::new(BooleanArray::from(
                    rows.iter().map(|r| r.is_retweet).collect::<Vec<_>>(),
                )) as _,
            ),
            (
                "ingest_time",
                Arc::new(ms(rows.iter().map(|r| Some(r.ingest_time)).collect())) as _,
            ),
            ("topic", str_req(|r| r.topic.clone()) as _),
            (
                "partition",
                Arc::new(Int32Array::from(
                    rows.iter().map(|r| r.partition).collect::<Vec<_>>(),
                )) as _,
            ),
            (
                "offset",
                Arc::new(Int64Array::from(
                    rows.iter().map(|r| r.offset).collect::<Vec<_>>(),
                )) as _,
            ),
        ])
        .unwrap();
        assert!(matches!(
            batch
                .schema()
                .field_with_name("created_at")
                .unwrap()
                .data_type(),
            DataType::Timestamp(TimeUnit::Millisecond, _)
        ));
        write_parquet(
            &lake.join(format!("bronze/date={date}/part-{k}.parquet")),
            &batch,
        );
        all.extend(rows);
    }
    all.sort_by_key(|r| r.offset);
    all
}

fn old_row(offset: i64) -> BronzeRow {
    BronzeRow {
        id_str: (1_700_000_000_000 + offset).to_string(),
        created_at: (offset % 7 != 0).then_some(1_704_067_200_123 + offset * 1001),
        author: Some(format!("user{}", offset % 5)),
        source: None,
        text: format!("tweet {offset} #tag{}", offset % 3),
        expanded_url: vec![],
        media_url_https: if offset % 4 == 0 {
            vec![format!("https://m/{offset}.jpg")]
        } else {
            vec![]
        },
        hash: format!("{offset:016x}"),
        hashtags: vec![format!("tag{}", offset % 3)],
        mentions: vec![],
        lang: Some("en".into()),
        is_retweet: offset % 9 == 0,
        ingest_time: 1_704_067_300_000 + offset,
        topic: "tweets".into(),
        partition: (offset % 3) as i32,
        offset,
    }
}

/// An old-layout file with one `id` column.
pub fn write_old_file(path: &Path, ids: Range<i64>) {
    let batch = RecordBatch::try_from_iter(vec![(
        "id",
        Arc::new(Int64Array::from_iter_values(ids)) as _,
    )])
    .unwrap();
    write_parquet(path, &batch);
}

fn write_parquet(path: &Path, batch: &RecordBatch) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

/// (offset, created_at ms, ingest_time ms, hashtags) of bronze rows in any file layout.
pub fn bronze_projection(b: &RecordBatch) -> Vec<(i64, Option<i64>, i64, Vec<String>)> {
    let offset = b
        .column_by_name("offset")
        .unwrap()
        .as_primitive::<Int64Type>();
    let created = millis_column(b, "created_at").unwrap();
    let ingest = millis_column(b, "ingest_time").unwrap();
    let tags = b.column_by_name("hashtags").unwrap().as_list::<i32>();
    (0..b.num_rows())
        .map(|i| {
            let t = tags.value(i);
            let t = t
                .as_string_opt::<i32>()
                .unwrap_or_else(|| panic!("hashtags items: {:?}", b.schema()));
            (
                offset.value(i),
                created.is_valid(i).then(|| created.value(i)),
                ingest.value(i),
                t.iter().flatten().map(str::to_owned).collect(),
            )
        })
        .collect()
}

const PY_READ: &str = r#"
import json, sys
import deltalake, pyarrow as pa
t = deltalake.DeltaTable(sys.argv[1])
tbl = t.to_pyarrow_table()
out = {"version": t.version(), "files": len(t.file_uris()), "rows": tbl.num_rows}
for name in sys.argv[2:]:
    col = tbl.column(name)
    if pa.types.is_timestamp(col.type):
        col = col.cast(pa.timestamp("ms", tz="UTC"), safe=False).cast(pa.int64())
    elif pa.types.is_date(col.type):
        col = col.cast(pa.string())
    out[name] = sorted(v for v in col.to_pylist() if v is not None)
print(json.dumps(out))
# deltalake's runtime can abort while Python shuts down (seen 1 in ~8 runs): the answer is
# printed, so leave without running the interpreter's teardown.
sys.stdout.flush()
import os; os._exit(0)
"#;

/// Table `name` as the Python `deltalake` package reads it: version, files, rows and the
/// sorted non-null values of `columns`; `None` (skipped loudly) without
/// `SSP_TEST_PYDELTA_PYTHON`, a failure then if `SSP_REQUIRE_SERVICES=1`.
pub async fn pydelta(
    loc: &LakeLocation,
    name: &str,
    columns: &[&str],
) -> Option<serde_json::Value> {
    let py = crate::common::pydelta::pydelta_python()?;
    let out = tokio::process::Command::new(py)
        .arg("-c")
        .arg(PY_READ)
        .arg(loc.table_url(name).to_string())
        .args(columns)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "python deltalake failed on {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// Python reads table `name` at our version, with our file count and `rows` rows.
pub async fn pydelta_check(loc: &LakeLocation, name: &str, rows: u64) {
    let Some(py) = pydelta(loc, name, &[]).await else {
        return;
    };
    let t = table::open(loc, name).await.unwrap().unwrap();
    assert_eq!(py["version"], t.version().unwrap(), "{py}");
    assert_eq!(
        py["files"],
        t.snapshot().unwrap().log_data().num_files(),
        "{py}"
    );
    assert_eq!(py["rows"], rows, "{py}");
}
