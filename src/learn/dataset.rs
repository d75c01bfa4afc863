//! Datasets: tweets collected from bronze, de-duplicated on text, shuffled with a seed and
//! split into test / dev / weak-train / train, the seed's way.
//!
//! Versions live under `<lake>/datasets/v<N>/` (N from 0), written into a hidden temporary
//! folder and renamed into place, so a version is complete or absent and a new version never
//! overwrites an old one (the rename refuses an existing folder). Each holds the seed's
//! tables as Parquet files: `raw_tweet_dataset.parquet`, `deduplicated_raw_tweet_dataset.parquet`
//! (every unique text with its split), `test_dataset.parquet`, `dev_dataset.parquet`,
//! `snorkel_train_dataset.parquet`, `train_dataset.parquet`, plus `manifest.json`.

use std::collections::HashSet;
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use arrow::array::{
    Array, ArrayRef, Float32Array, Int32Array, Int64Array, StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use serde::{Deserialize, Serialize};

use crate::lake::read_batches;

/// The four splits, in the order they are filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    Test,
    Dev,
    /// The seed's "snorkel train": weak labels only.
    WeakTrain,
    Train,
}

impl Split {
    pub const ALL: [Split; 4] = [Split::Test, Split::Dev, Split::WeakTrain, Split::Train];

    /// Table / file stem without the version: `test_dataset`, ... (the seed's names).
    pub fn table(self) -> &'static str {
        match self {
            Split::Test => "test_dataset",
            Split::Dev => "dev_dataset",
            Split::WeakTrain => "snorkel_train_dataset",
            Split::Train => "train_dataset",
        }
    }

    /// Short name: `test`, `dev`, `weak_train`, `train`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Test => "test",
            Split::Dev => "dev",
            Split::WeakTrain => "weak_train",
            Split::Train => "train",
        }
    }

    pub fn parse(s: &str) -> Option<Split> {
        Split::ALL.into_iter().find(|x| x.name() == s)
    }

    /// Splits whose hand labels train the model (dev and test only evaluate).
    pub fn trains(self) -> bool {
        matches!(self, Split::WeakTrain | Split::Train)
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// A tweet as collected from bronze.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawTweet {
    pub tweet_id: String,
    pub created_at: Option<i64>,
    pub author: Option<String>,
    pub text: String,
}

/// One unique text of a dataset version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetRow {
    /// 1-based, in order of first appearance in the raw dataset.
    pub text_id: i64,
    pub tweet_id: String,
    pub created_at: Option<i64>,
    pub author: Option<String>,
    pub text: String,
    pub split: Split,
}

/// Split sizes and shuffle seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitSpec {
    pub test: usize,
    pub dev: usize,
    pub weak_train: usize,
    pub seed: u64,
}

impl SplitSpec {
    pub fn from_settings(s: &crate::config::LearnSettings) -> SplitSpec {
        SplitSpec {
            test: s.test_size,
            dev: s.dev_size,
            weak_train: s.weak_train_size,
            seed: s.seed,
        }
    }

    pub fn fixed(&self) -> usize {
        self.test + self.dev + self.weak_train
    }
}

/// A complete dataset version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    pub version: u32,
    pub spec: SplitSpec,
    pub raw: Vec<RawTweet>,
    /// Unique texts in text_id order.
    pub rows: Vec<DatasetRow>,
}

impl Dataset {
    pub fn count(&self, split: Split) -> usize {
        self.rows.iter().filter(|r| r.split == split).count()
    }

    pub fn split_rows(&self, split: Split) -> impl Iterator<Item = &DatasetRow> {
        self.rows.iter().filter(move |r| r.split == split)
    }
}

/// SplitMix64: a tiny, stable PRNG (the split must not change with a dependency's version).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// Errors building a version.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DatasetError {
    #[error("only {unique} unique texts: the splits need at least {needed} (test {test} + dev {dev} + weak-train {weak_train})")]
    TooFew {
        unique: usize,
        needed: usize,
        test: usize,
        dev: usize,
        weak_train: usize,
    },
}

/// De-duplicates on the stripped text (first appearance wins, empty texts dropped), numbers
/// the unique texts from 1, shuffles them with the seed and fills test, dev, weak-train in
/// that order; the rest is train. Split sizes are exact.
pub fn build(version: u32, raw: Vec<RawTweet>, spec: SplitSpec) -> Result<Dataset, DatasetError> {
    let mut seen = HashSet::new();
    let mut rows = Vec::new();
    for t in &raw {
        let text = t.text.trim();
        if text.is_empty() || !seen.insert(text.to_string()) {
            continue;
        }
        rows.push(DatasetRow {
            text_id: rows.len() as i64 + 1,
            tweet_id: t.tweet_id.clone(),
            created_at: t.created_at,
            author: t.author.clone(),
            text: text.to_string(),
            split: Split::Train,
        });
    }
    if rows.len() < spec.fixed() {
        return Err(DatasetError::TooFew {
            unique: rows.len(),
            needed: spec.fixed(),
            test: spec.test,
            dev: spec.dev,
            weak_train: spec.weak_train,
        });
    }
    let mut order: Vec<usize> = (0..rows.len()).collect();
    SplitMix64::new(spec.seed).shuffle(&mut order);
    for (pos, i) in order.into_iter().enumerate() {
        rows[i].split = if pos < spec.test {
            Split::Test
        } else if pos < spec.test + spec.dev {
            Split::Dev
        } else if pos < spec.fixed() {
            Split::WeakTrain
        } else {
            Split::Train
        };
    }
    Ok(Dataset {
        version,
        spec,
        raw,
        rows,
    })
}

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

fn raw_batch(raw: &[RawTweet]) -> anyhow::Result<RecordBatch> {
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            raw.iter().map(|r| r.tweet_id.as_str()),
        )),
        Arc::new(
            TimestampMillisecondArray::from(raw.iter().map(|r| r.created_at).collect::<Vec<_>>())
                .with_timezone("UTC"),
        ),
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
        Arc::new(
            TimestampMillisecondArray::from(
                rows.iter().map(|r| r.0.created_at).collect::<Vec<_>>(),
            )
            .with_timezone("UTC"),
        ),
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

/// Writes one Parquet file (already in a temporary folder: no rename needed per file).
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
        write_parquet(&tmp.join("raw_tweet_dataset.parquet"), &raw_batch(&ds.raw)?)?;
        let all: Vec<(&DatasetRow, i32, i32)> = ds
            .rows
            .iter()
            .zip(slabels.iter().copied().chain(std::iter::repeat(-1)))
            .map(|(r, s)| (r, -1, s))
            .collect();
        write_parquet(
            &tmp.join("deduplicated_raw_tweet_dataset.parquet"),
            &rows_batch(&all, true)?,
        )?;
        for split in Split::ALL {
            let rows: Vec<(&DatasetRow, i32, i32)> =
                all.iter().filter(|r| r.0.split == split).cloned().collect();
            write_parquet(
                &tmp.join(format!("{}.parquet", split.table())),
                &rows_batch(&rows, false)?,
            )?;
        }
        let manifest = serde_json::to_vec_pretty(&Manifest::of(ds))?;
        crate::lake::incremental::write_atomic(&tmp.join("manifest.json"), &manifest)?;
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
    for b in read_batches(&dir.join("raw_tweet_dataset.parquet"))? {
        let id = col::<StringArray>(&b, "tweet_id")?;
        let created = col::<TimestampMillisecondArray>(&b, "created_at")?;
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
    let mut rows = read_rows(&dir.join("deduplicated_raw_tweet_dataset.parquet"))?
        .into_iter()
        .map(|r| r.row)
        .collect::<Vec<_>>();
    rows.sort_by_key(|r| r.text_id);
    Ok(Dataset {
        version,
        spec: manifest.spec,
        raw,
        rows,
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
    let mut out = Vec::new();
    for b in read_batches(path)? {
        let text_id = col::<Int64Array>(&b, "text_id")?;
        let tweet_id = col::<StringArray>(&b, "tweet_id")?;
        let created = col::<TimestampMillisecondArray>(&b, "created_at")?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(n: usize) -> Vec<RawTweet> {
        (0..n)
            .map(|i| RawTweet {
                tweet_id: i.to_string(),
                created_at: Some(i as i64),
                author: None,
                text: format!(" text {} ", i % (n - 3)),
            })
            .collect()
    }

    #[test]
    fn dedupes_numbers_and_splits_exactly() {
        let spec = SplitSpec {
            test: 5,
            dev: 3,
            weak_train: 7,
            seed: 42,
        };
        let ds = build(0, raw(30), spec).unwrap();
        assert_eq!(ds.rows.len(), 27);
        assert_eq!(ds.rows[0].text, "text 0");
        assert_eq!(ds.rows.last().unwrap().text_id, 27);
        assert_eq!(
            (
                ds.count(Split::Test),
                ds.count(Split::Dev),
                ds.count(Split::WeakTrain),
                ds.count(Split::Train)
            ),
            (5, 3, 7, 12)
        );
        // Same seed, same split; another seed, another split.
        assert_eq!(build(0, raw(30), spec).unwrap(), ds);
        let other = build(0, raw(30), SplitSpec { seed: 7, ..spec }).unwrap();
        assert_ne!(other.rows, ds.rows);
        assert!(matches!(
            build(0, raw(10), spec),
            Err(DatasetError::TooFew {
                unique: 7,
                needed: 15,
                ..
            })
        ));
    }

    #[test]
    fn shuffle_is_stable() {
        let mut v: Vec<u32> = (0..10).collect();
        SplitMix64::new(42).shuffle(&mut v);
        let mut w: Vec<u32> = (0..10).collect();
        SplitMix64::new(42).shuffle(&mut w);
        assert_eq!(v, w);
        assert_ne!(v, (0..10).collect::<Vec<_>>());
    }
}
