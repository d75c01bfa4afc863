//! Decoding bronze data files (read through the table's log) into plain rows.

use std::io;
use std::path::{Path, PathBuf};

use arrow::array::{Array, BooleanArray, Int32Array, Int64Array, ListArray, StringArray};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};

use super::consumer::{LakeConsumer, StartAt};
use super::layout::{is_complete_file, walk_files};
use super::schema::millis_column;
use super::table::LakeLocation;
use super::LakeError;

/// Complete Parquet files under `dir` (recursive, sorted by path; missing `dir` is empty).
/// Only for plain-Parquet folders (`lake convert`); tables are read through their log.
pub fn list_complete_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    walk_files(dir, &is_complete_file)
}

/// All record batches of one Parquet file's bytes (`what` names it in errors).
pub fn read_batches(bytes: Bytes, what: &str) -> Result<Vec<RecordBatch>, LakeError> {
    let reader = ParquetRecordBatchReaderBuilder::try_new_with_options(bytes, plain_strings())
        .and_then(|b| b.build())
        .map_err(|e| parquet_err(what, e))?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| LakeError::arrow(what.to_string(), e))
}

/// Reader options that type columns from the Parquet schema alone: files written by other
/// engines (or compacted by delta-rs) may ask for `Utf8View` in their Arrow metadata, while
/// the readers here expect plain `Utf8` strings.
pub fn plain_strings() -> ArrowReaderOptions {
    ArrowReaderOptions::new().with_skip_arrow_metadata(true)
}

fn parquet_err(what: &str, source: parquet::errors::ParquetError) -> LakeError {
    LakeError::Parquet {
        context: what.to_string(),
        source,
    }
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

/// Reads only `id_str`, `text`, `author` and `created_at` of a bronze data file (a column
/// projection: the other columns are not decoded); `what` names the file in errors.
pub fn read_bronze_texts(bytes: Bytes, what: &str) -> Result<Vec<BronzeText>, LakeError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(bytes, plain_strings())
        .map_err(|e| parquet_err(what, e))?;
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
        .map_err(|e| parquet_err(what, e))?;
    let arrow = |e| LakeError::arrow(what.to_string(), e);
    let mut out = Vec::new();
    for batch in reader {
        let b = batch.map_err(arrow)?;
        let id = column::<StringArray>(&b, "id_str").map_err(arrow)?;
        let text = column::<StringArray>(&b, "text").map_err(arrow)?;
        let author = column::<StringArray>(&b, "author").ok();
        let created = millis_column(&b, "created_at").ok();
        for i in 0..b.num_rows() {
            out.push(BronzeText {
                id_str: id.value(i).to_owned(),
                text: text.value(i).to_owned(),
                author: author.and_then(|a| opt_str(a, i)),
                created_at: created
                    .as_ref()
                    .and_then(|c| c.is_valid(i).then(|| c.value(i))),
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

/// Every bronze row of the table as it is now (its snapshot: files in no particular order).
pub async fn read_bronze_rows(location: &LakeLocation) -> Result<Vec<BronzeRow>, LakeError> {
    let mut consumer = LakeConsumer::new(
        location.clone(),
        super::bronze::TABLE,
        None,
        StartAt::Beginning,
    );
    let mut rows = Vec::new();
    loop {
        let commits = consumer.poll(256).await?;
        let Some(last) = commits.last().map(|c| c.version) else {
            return Ok(rows);
        };
        for commit in &commits {
            for file in &commit.files {
                let bytes = consumer.read(file).await?;
                for batch in read_batches(bytes, &file.path)? {
                    batch_rows(&batch, &mut rows)
                        .map_err(|e| LakeError::arrow(file.path.clone(), e))?;
                }
            }
        }
        consumer.ack(last);
    }
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
    let created = millis_column(b, "created_at")?;
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
    let ingest = millis_column(b, "ingest_time")?;
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
