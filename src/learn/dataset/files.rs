//! Dataset versions on disk: `<lake>/datasets/v<N>/`, the seed's tables as Delta tables (one
//! commit each, so Spark, DuckDB or Python `deltalake` read them as any other table) plus
//! `manifest.json`, written into a hidden folder and renamed into place (complete or absent,
//! never overwritten). Versions written before datasets were Delta tables (`<table>.parquet`
//! files) are still read. Timestamps are the lake's microsecond UTC type.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use arrow::array::{
    Array, ArrayRef, Float32Array, Int32Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use serde::{Deserialize, Serialize};

use super::{Dataset, DatasetRow, RawTweet, Split, SplitSpec};
use crate::lake::schema::millis_column;
use crate::lake::{read_batches, LakeConsumer, LakeLocation, StartAt};

/// Every collected tweet, in collection order.
pub const RAW_TABLE: &str = "raw_tweet_dataset";
/// Every unique text with its split and labels.
pub const DEDUPLICATED_TABLE: &str = "deduplicated_raw_tweet_dataset";

/// `<lake>/datasets`.
pub fn datasets_dir(lake_root: &Path) -> PathBuf {
    lake_root.join("datasets")
}

pub fn version_dir(lake_root: &Path, version: u32) -> PathBuf {
    datasets_dir(lake_root).join(format!("v{version}"))
}

/// Complete versions in the lake, ascending.
pub fn lake_versions(lake_root: &Path) -> std::io::Result<Vec<u32>> {
    let dir = datasets_dir(lake_root);
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for e in entries {
        let name = e?.file_name().to_string_lossy().into_owned();
        if let Some(v) = name.strip_prefix('v').and_then(|v| v.parse::<u32>().ok()) {
            if version_dir(lake_root, v).join("manifest.json").is_file() {
                out.push(v);
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// What `manifest.json` records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub spec: SplitSpec,
    pub raw: usize,
    pub unique: usize,
    pub test: usize,
    pub dev: usize,
    pub weak_train: usize,
    pub train: usize,
    pub created_at_ms: i64,
    #[serde(default)]
    pub source: Option<String>,
}

impl Manifest {
    pub fn of(ds: &Dataset) -> Manifest {
        Manifest {
            version: ds.version,
            spec: ds.spec,
            raw: ds.raw.len(),
            unique: ds.rows.len(),
            test: ds.count(Split::Test),
            dev: ds.count(Split::Dev),
            weak_train: ds.count(Split::WeakTrain),
            train: ds.count(Split::Train),
            created_at_ms: chrono::Utc::now().timestamp_millis(),
            source: ds.source.clone(),
        }
    }
}

fn ts() -> DataType {
    crate::lake::schema::timestamp_utc()
}

pub fn raw_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("tweet_id", DataType::Utf8, false),
        Field::new("created_at", ts(), true),
        Field::new("author", DataType::Utf8, true),
        Field::new("text", DataType::Utf8, false),
    ]))
}

/// Columns of the de-duplicated and split tables: the seed's `text_id`, `text`, `label`,
/// `slabel`, plus where the text came from and (de-duplicated table) its split.
pub fn rows_schema(with_split: bool) -> SchemaRef {
    let mut fields = vec![
        Field::new("text_id", DataType::Int64, false),
        Field::new("tweet_id", DataType::Utf8, false),
        Field::new("created_at", ts(), true),
        Field::new("author", DataType::Utf8, true),
        Field::new("text", DataType::Utf8, false),
        Field::new("label", DataType::Int32, false),
        Field::new("slabel", DataType::Int32, false),
    ];
    if with_split {
        fields.push(Field::new("split", DataType::Utf8, false));
    }
    Arc::new(Schema::new(fields))
}

/// Epoch-ms values as the lake's microsecond UTC timestamp column.
pub fn micros(ms: impl Iterator<Item = Option<i64>>) -> TimestampMicrosecondArray {
    TimestampMicrosecondArray::from(ms.map(|v| v.map(|v| v * 1000)).collect::<Vec<_>>())
        .with_timezone("UTC")
}

/// All record batches of a local Parquet file.
pub fn read_parquet_file(path: &Path) -> anyhow::Result<Vec<RecordBatch>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(read_batches(bytes.into(), &path.display().to_string())?)
}

fn raw_batch(raw: &[RawTweet]) -> anyhow::Result<RecordBatch> {
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            raw.iter().map(|r| r.tweet_id.as_str()),
        )),
        Arc::new(micros(raw.iter().map(|r| r.created_at))),
        Arc::new(StringArray::from(
            raw.iter().map(|r| r.author.as_deref()).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from_iter_values(
            raw.iter().map(|r| r.text.as_str()),
        )),
    ];
    Ok(RecordBatch::try_new(raw_schema(), cols)?)
}

/// `(row, label, slabel)` as a batch of the rows schema.
pub fn rows_batch(
    rows: &[(&DatasetRow, i32, i32)],
    with_split: bool,
) -> anyhow::Result<RecordBatch> {
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.0.text_id),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.0.tweet_id.as_str()),
        )),
        Arc::new(micros(rows.iter().map(|r| r.0.created_at))),
        Arc::new(StringArray::from(
            rows.iter()
                .map(|r| r.0.author.as_deref())
                .collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.0.text.as_str()),
        )),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.1))),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.2))),
    ];
    if with_split {
        cols.push(Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.0.split.name()),
        )));
    }
    Ok(RecordBatch::try_new(rows_schema(with_split), cols)?)
}

/// Writes `batch` as the Delta table `dir/<name>` (version 0 creates it, version 1 adds the
/// rows). Called from a blocking thread of the runtime.
fn write_table(dir: &Path, name: &str, batch: &RecordBatch) -> anyhow::Result<()> {
    use deltalake::writer::{DeltaWriter as _, RecordBatchWriter};
    let location = LakeLocation::local(dir);
    tokio::runtime::Handle::current().block_on(async {
        let mut table =
            crate::lake::table::open_or_create(&location, name, &batch.schema(), &[]).await?;
        let mut writer = RecordBatchWriter::for_table(&table)
            .with_context(|| format!("writing dataset table {name}"))?;
        writer.write(batch.clone()).await?;
        writer
            .flush_and_commit(&mut table)
            .await
            .with_context(|| format!("committing dataset table {name}"))?;
        Ok(())
    })
}

/// Every row of dataset table `name` in `dir`: the Delta table `dir/<name>`, or the
/// `dir/<name>.parquet` file of a version written before datasets were Delta tables.
pub fn read_table(dir: &Path, name: &str) -> anyhow::Result<Vec<RecordBatch>> {
    let legacy = dir.join(format!("{name}.parquet"));
    if legacy.is_file() {
        return read_parquet_file(&legacy);
    }
    let location = LakeLocation::local(dir);
    tokio::runtime::Handle::current().block_on(async {
        let mut table = LakeConsumer::new(location, name, None, StartAt::Beginning);
        let mut out = Vec::new();
        loop {
            let commits = table.poll(64).await?;
            let Some(last) = commits.last().map(|c| c.version) else {
                break;
            };
            for file in commits.iter().flat_map(|c| &c.files) {
                let bytes = table.read(file).await?;
                out.extend(read_batches(bytes, &file.path)?);
            }
            table.ack(last);
        }
        anyhow::ensure!(
            !out.is_empty() || table.position().is_some(),
            "dataset table {name} not found in {}",
            dir.display()
        );
        Ok(out)
    })
}

/// Writes one Parquet file (exports: plain files for any tool).
pub fn write_parquet(path: &Path, batch: &RecordBatch) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = ArrowWriter::try_new(file, batch.schema(), None)?;
    w.write(batch)?;
    let file = w.into_inner()?;
    file.sync_all()?;
    Ok(())
}

/// Writes version `ds.version` under the lake with `slabel` per text_id (same order as
/// `ds.rows`); fails if that version exists. Labels start at -1 (not labelled).
pub fn write_version(lake_root: &Path, ds: &Dataset, slabels: &[i32]) -> anyhow::Result<PathBuf> {
    let final_dir = version_dir(lake_root, ds.version);
    if final_dir.exists() {
        anyhow::bail!(
            "dataset version {} already exists at {}: versions are never overwritten",
            ds.version,
            final_dir.display()
        );
    }
    let parent = datasets_dir(lake_root);
    std::fs::create_dir_all(&parent)?;
    let tmp = parent.join(format!(".v{}.{}.tmp", ds.version, std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    let result = (|| -> anyhow::Result<()> {
        write_table(&tmp, RAW_TABLE, &raw_batch(&ds.raw)?)?;
        let all: Vec<(&DatasetRow, i32, i32)> = ds
            .rows
            .iter()
            .zip(slabels.iter().copied().chain(std::iter::repeat(-1)))
            .map(|(r, s)| (r, -1, s))
            .collect();
        write_table(&tmp, DEDUPLICATED_TABLE, &rows_batch(&all, true)?)?;
        for split in Split::ALL {
            let rows: Vec<(&DatasetRow, i32, i32)> =
                all.iter().filter(|r| r.0.split == split).cloned().collect();
            write_table(&tmp, split.table(), &rows_batch(&rows, false)?)?;
        }
        let manifest = serde_json::to_vec_pretty(&Manifest::of(ds))?;
        crate::lake::atomic::write_atomic(&tmp.join("manifest.json"), &manifest)?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    // rename(2) onto an existing non-empty folder fails: a concurrent writer of the same
    // version loses instead of overwriting.
    if let Err(e) = std::fs::rename(&tmp, &final_dir) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(anyhow::anyhow!(
            "dataset version {} could not be published at {}: {e}",
            ds.version,
            final_dir.display()
        ));
    }
    if let Ok(d) = File::open(&parent) {
        let _ = d.sync_all();
    }
    Ok(final_dir)
}

fn col<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> anyhow::Result<&'a T> {
    b.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .with_context(|| format!("column {name} missing or of the wrong type"))
}

/// Reads a version back from the lake (rows in text_id order, raw in collection order).
pub fn read_version(lake_root: &Path, version: u32) -> anyhow::Result<Dataset> {
    let dir = version_dir(lake_root, version);
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(dir.join("manifest.json"))
            .with_context(|| format!("reading dataset v{version} at {}", dir.display()))?,
    )?;
    let mut raw = Vec::new();
    for b in read_table(&dir, RAW_TABLE)? {
        let id = col::<StringArray>(&b, "tweet_id")?;
        let created = millis_column(&b, "created_at")?;
        let author = col::<StringArray>(&b, "author")?;
        let text = col::<StringArray>(&b, "text")?;
        for i in 0..b.num_rows() {
            raw.push(RawTweet {
                tweet_id: id.value(i).to_string(),
                created_at: created.is_valid(i).then(|| created.value(i)),
                author: author.is_valid(i).then(|| author.value(i).to_string()),
                text: text.value(i).to_string(),
            });
        }
    }
    let mut rows = rows_of(read_table(&dir, DEDUPLICATED_TABLE)?)?
        .into_iter()
        .map(|r| r.row)
        .collect::<Vec<_>>();
    rows.sort_by_key(|r| r.text_id);
    Ok(Dataset {
        version,
        spec: manifest.spec,
        raw,
        rows,
        source: manifest.source,
    })
}

/// A row read back from a rows-schema file, with its label columns (and probability, when
/// the file is an export).
#[derive(Debug, Clone, PartialEq)]
pub struct ReadRow {
    pub row: DatasetRow,
    pub label: i32,
    pub slabel: i32,
    pub probability: Option<f32>,
}

/// Reads a rows-schema Parquet file (split column optional: absent means `train`).
pub fn read_rows(path: &Path) -> anyhow::Result<Vec<ReadRow>> {
    rows_of(read_parquet_file(path)?)
}

/// Rows of rows-schema batches.
fn rows_of(batches: Vec<RecordBatch>) -> anyhow::Result<Vec<ReadRow>> {
    let mut out = Vec::new();
    for b in batches {
        let text_id = col::<Int64Array>(&b, "text_id")?;
        let tweet_id = col::<StringArray>(&b, "tweet_id")?;
        let created = millis_column(&b, "created_at")?;
        let author = col::<StringArray>(&b, "author")?;
        let text = col::<StringArray>(&b, "text")?;
        let label = col::<Int32Array>(&b, "label")?;
        let slabel = col::<Int32Array>(&b, "slabel")?;
        let split = b
            .column_by_name("split")
            .and_then(|c| c.as_any().downcast_ref::<StringArray>());
        let prob = b
            .column_by_name("probability")
            .and_then(|c| c.as_any().downcast_ref::<Float32Array>());
        for i in 0..b.num_rows() {
            out.push(ReadRow {
                row: DatasetRow {
                    text_id: text_id.value(i),
                    tweet_id: tweet_id.value(i).to_string(),
                    created_at: created.is_valid(i).then(|| created.value(i)),
                    author: author.is_valid(i).then(|| author.value(i).to_string()),
                    text: text.value(i).to_string(),
                    split: split
                        .and_then(|s| Split::parse(s.value(i)))
                        .unwrap_or(Split::Train),
                },
                label: label.value(i),
                slabel: slabel.value(i),
                probability: prob.and_then(|p| p.is_valid(i).then(|| p.value(i))),
            });
        }
    }
    Ok(out)
}
