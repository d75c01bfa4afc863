//! Reading complete Parquet files back (tests, compaction, sinks).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use arrow::array::{
    Array, BooleanArray, Int32Array, Int64Array, ListArray, StringArray, TimestampMillisecondArray,
};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::layout::{is_complete_file, walk_files};
use super::LakeError;

/// Complete Parquet files under `dir` (recursive, sorted by path; missing `dir` is empty).
pub fn list_complete_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    walk_files(dir, &is_complete_file)
}

/// All record batches of one Parquet file.
pub fn read_batches(path: &Path) -> Result<Vec<RecordBatch>, LakeError> {
    let file = File::open(path).map_err(|e| LakeError::io(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| LakeError::parquet(path, e))?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| LakeError::arrow(path.display().to_string(), e))
}

/// The columns downstream text stages (NER, dataset collection) need from a bronze row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BronzeText {
    pub id_str: String,
    pub text: String,
    pub author: Option<String>,
    /// Epoch milliseconds.
    pub created_at: Option<i64>,
}

/// Reads only `id_str`, `text`, `author` and `created_at` of a bronze file (a column
/// projection: the other columns are not decoded).
pub fn read_bronze_texts(path: &Path) -> Result<Vec<BronzeText>, LakeError> {
    let file = File::open(path).map_err(|e| LakeError::io(path, e))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| LakeError::parquet(path, e))?;
    let wanted = ["id_str", "text", "author", "created_at"];
    let roots: Vec<usize> = builder
        .schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| wanted.contains(&f.name().as_str()))
        .map(|(i, _)| i)
        .collect();
    let mask = parquet::arrow::ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(|e| LakeError::parquet(path, e))?;
    let arrow = |e| LakeError::arrow(path.display().to_string(), e);
    let mut out = Vec::new();
    for batch in reader {
        let b = batch.map_err(arrow)?;
        let id = column::<StringArray>(&b, "id_str").map_err(arrow)?;
        let text = column::<StringArray>(&b, "text").map_err(arrow)?;
        let author = column::<StringArray>(&b, "author").ok();
        let created = column::<TimestampMillisecondArray>(&b, "created_at").ok();
        for i in 0..b.num_rows() {
            out.push(BronzeText {
                id_str: id.value(i).to_owned(),
                text: text.value(i).to_owned(),
                author: author.and_then(|a| opt_str(a, i)),
                created_at: created.and_then(|c| c.is_valid(i).then(|| c.value(i))),
            });
        }
    }
    Ok(out)
}

/// One bronze row as plain Rust values (timestamps in epoch milliseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BronzeRow {
    pub id_str: String,
    pub created_at: Option<i64>,
    pub author: Option<String>,
    pub source: Option<String>,
    pub text: String,
    pub expanded_url: Vec<String>,
    pub media_url_https: Vec<String>,
    pub hash: String,
    pub hashtags: Vec<String>,
    pub mentions: Vec<String>,
    pub lang: Option<String>,
    pub is_retweet: bool,
    pub ingest_time: i64,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// Every bronze row of every complete file under `dir`, in file order.
pub fn read_bronze_rows(dir: &Path) -> Result<Vec<BronzeRow>, LakeError> {
    let mut rows = Vec::new();
    for path in list_complete_files(dir).map_err(|e| LakeError::io(dir, e))? {
        for batch in read_batches(&path)? {
            batch_rows(&batch, &mut rows)
                .map_err(|e| LakeError::arrow(path.display().to_string(), e))?;
        }
    }
    Ok(rows)
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T, ArrowError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| ArrowError::SchemaError(format!("column {name} missing or of wrong type")))
}

fn opt_str(a: &StringArray, i: usize) -> Option<String> {
    a.is_valid(i).then(|| a.value(i).to_owned())
}

fn strings(a: &ListArray, i: usize) -> Result<Vec<String>, ArrowError> {
    if a.is_null(i) {
        return Ok(Vec::new());
    }
    let values = a.value(i);
    let values = values
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| ArrowError::SchemaError("list items are not strings".into()))?;
    Ok(values.iter().flatten().map(str::to_owned).collect())
}

fn batch_rows(b: &RecordBatch, out: &mut Vec<BronzeRow>) -> Result<(), ArrowError> {
    let id = column::<StringArray>(b, "id_str")?;
    let created = column::<TimestampMillisecondArray>(b, "created_at")?;
    let author = column::<StringArray>(b, "author")?;
    let source = column::<StringArray>(b, "source")?;
    let text = column::<StringArray>(b, "text")?;
    let urls = column::<ListArray>(b, "expanded_url")?;
    let media = column::<ListArray>(b, "media_url_https")?;
    let hash = column::<StringArray>(b, "hash")?;
    let hashtags = column::<ListArray>(b, "hashtags")?;
    let mentions = column::<ListArray>(b, "mentions")?;
    let lang = column::<StringArray>(b, "lang")?;
    let retweet = column::<BooleanArray>(b, "is_retweet")?;
    let ingest = column::<TimestampMillisecondArray>(b, "ingest_time")?;
    let topic = column::<StringArray>(b, "topic")?;
    let partition = column::<Int32Array>(b, "partition")?;
    let offset = column::<Int64Array>(b, "offset")?;
    for i in 0..b.num_rows() {
        out.push(BronzeRow {
            id_str: id.value(i).to_owned(),
            created_at: created.is_valid(i).then(|| created.value(i)),
            author: opt_str(author, i),
            source: opt_str(source, i),
            text: text.value(i).to_owned(),
            expanded_url: strings(urls, i)?,
            media_url_https: strings(media, i)?,
            hash: hash.value(i).to_owned(),
            hashtags: strings(hashtags, i)?,
            mentions: strings(mentions, i)?,
            lang: opt_str(lang, i),
            is_retweet: retweet.value(i),
            ingest_time: ingest.value(i),
            topic: topic.value(i).to_owned(),
            partition: partition.value(i),
            offset: offset.value(i),
        });
    }
    Ok(())
}
