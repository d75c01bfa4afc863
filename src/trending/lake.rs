//! Counting hashtags straight from bronze Parquet files: only the columns the rule needs are
//! read (`hashtags` or `text`, and `ingest_time` for the window), and several files are
//! counted on parallel threads and merged.

use std::fs::File;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use arrow::array::{Array, DictionaryArray, ListArray, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Int32Type, Schema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;

use super::counter::Counter;
use super::rule::HashtagRule;
use crate::lake::LakeError;

/// Rows per decoded batch.
const BATCH_ROWS: usize = 64 * 1024;

/// Rows and occurrences counted from one file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileCount {
    pub rows: u64,
    pub occurrences: u64,
}

fn schema_error(path: &Path, what: String) -> LakeError {
    LakeError::Arrow {
        context: path.display().to_string(),
        source: arrow::error::ArrowError::SchemaError(what),
    }
}

/// Adds every tweet of one complete bronze file to `counter`.
pub fn count_file(path: &Path, counter: &mut Counter) -> Result<FileCount, LakeError> {
    let file = File::open(path).map_err(|e| LakeError::Io {
        context: path.display().to_string(),
        source: e,
    })?;
    let parquet_err = |e| LakeError::Parquet {
        context: path.display().to_string(),
        source: e,
    };
    let tag_column = match counter.rule() {
        HashtagRule::Twitter => "hashtags",
        HashtagRule::Seed => "text",
    };
    let metadata = ArrowReaderMetadata::load(&file, Default::default()).map_err(parquet_err)?;
    // Hashtags repeat a lot: read them dictionary-encoded (as Parquet stores them), so each
    // distinct spelling of a batch is looked up once and occurrences are counted by index.
    let metadata = match dictionary_hashtags(metadata.schema()) {
        Some(schema) if counter.rule() == HashtagRule::Twitter => ArrowReaderMetadata::try_new(
            metadata.metadata().clone(),
            ArrowReaderOptions::new().with_schema(schema),
        )
        .map_err(parquet_err)?,
        _ => metadata,
    };
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, metadata);
    let arrow_schema = builder.schema().clone();
    let mut roots = Vec::new();
    for name in [tag_column, "ingest_time"] {
        match arrow_schema.index_of(name) {
            Ok(i) => roots.push(i),
            Err(_) => return Err(schema_error(path, format!("bronze column {name} missing"))),
        }
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(parquet_err)?;
    let before = counter.occurrences;
    let mut rows = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| LakeError::Arrow {
            context: path.display().to_string(),
            source: e,
        })?;
        rows += batch.num_rows() as u64;
        count_batch(&batch, tag_column, counter).map_err(|e| schema_error(path, e))?;
    }
    Ok(FileCount {
        rows,
        occurrences: counter.occurrences - before,
    })
}

/// The file's schema with `hashtags` as `List<Dictionary<Int32, Utf8>>`, if it is `List<Utf8>`.
fn dictionary_hashtags(schema: &Arc<Schema>) -> Option<Arc<Schema>> {
    let i = schema.index_of("hashtags").ok()?;
    let field = schema.field(i);
    let DataType::List(item) = field.data_type() else {
        return None;
    };
    if item.data_type() != &DataType::Utf8 {
        return None;
    }
    let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let list = DataType::List(Arc::new(Field::new(item.name(), dict, item.is_nullable())));
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields[i] = Field::new(field.name(), list, field.is_nullable());
    Some(Arc::new(Schema::new_with_metadata(
        fields,
        schema.metadata().clone(),
    )))
}

fn count_batch(batch: &RecordBatch, tag_column: &str, counter: &mut Counter) -> Result<(), String> {
    let times = batch
        .column_by_name("ingest_time")
        .and_then(|c| c.as_any().downcast_ref::<TimestampMillisecondArray>())
        .ok_or("ingest_time is not a millisecond timestamp")?;
    let col = batch
        .column_by_name(tag_column)
        .ok_or_else(|| format!("{tag_column} missing"))?;
    let time = |i: usize| times.is_valid(i).then(|| times.value(i));
    match counter.rule() {
        HashtagRule::Twitter => {
            let list = col
                .as_any()
                .downcast_ref::<ListArray>()
                .ok_or("hashtags is not a list")?;
            let offsets = list.value_offsets();
            if let Some(dict) = list
                .values()
                .as_any()
                .downcast_ref::<DictionaryArray<Int32Type>>()
            {
                let words = dict
                    .values()
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or("hashtags dictionary values are not strings")?;
                let keys = dict.keys();
                // Slots are made on first use (a dictionary may hold spellings no row uses).
                let mut slots: Vec<Option<crate::trending::Slot>> = vec![None; words.len()];
                for i in 0..list.len() {
                    let bucket = counter.start_tweet(time(i));
                    if !list.is_valid(i) {
                        continue;
                    }
                    for j in offsets[i] as usize..offsets[i + 1] as usize {
                        if !keys.is_valid(j) {
                            continue;
                        }
                        let k = keys.value(j) as usize;
                        let slot = match slots.get(k).copied().flatten() {
                            Some(s) => s,
                            None if k < words.len() && words.is_valid(k) => {
                                let s = counter.slot(words.value(k));
                                slots[k] = Some(s);
                                s
                            }
                            None => continue,
                        };
                        counter.add_slot(slot, bucket);
                    }
                }
                return Ok(());
            }
            let values = list
                .values()
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or("hashtags items are not strings")?;
            for i in 0..list.len() {
                let (start, end) = if list.is_valid(i) {
                    (offsets[i] as usize, offsets[i + 1] as usize)
                } else {
                    (0, 0)
                };
                let tags = (start..end)
                    .filter(|j| values.is_valid(*j))
                    .map(|j| values.value(j));
                counter.add_tweet(tags, "", time(i));
            }
        }
        HashtagRule::Seed => {
            let texts = col
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or("text is not a string column")?;
            for i in 0..texts.len() {
                let text = if texts.is_valid(i) {
                    texts.value(i)
                } else {
                    ""
                };
                counter.add_tweet(std::iter::empty(), text, time(i));
            }
        }
    }
    Ok(())
}

/// Counts `files` on up to `threads` threads (each file whole, on one thread) into one
/// counter shaped like `like`; returns it with per-file results in input order.
pub fn count_files(
    files: &[PathBuf],
    like: &Counter,
    threads: usize,
) -> Result<(Counter, Vec<FileCount>), LakeError> {
    let threads = threads.clamp(1, files.len().max(1));
    if threads == 1 {
        let mut c = like.empty_like();
        let per = files
            .iter()
            .map(|f| count_file(f, &mut c))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok((c, per));
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    type ThreadResult = Result<(Counter, Vec<(usize, FileCount)>), LakeError>;
    let results: Vec<ThreadResult> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut c = like.empty_like();
                    let mut per = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(f) = files.get(i) else { break };
                        per.push((i, count_file(f, &mut c)?));
                    }
                    Ok((c, per))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(schema_error(Path::new("?"), "panic".into())))
            })
            .collect()
    });
    let mut total = like.empty_like();
    let mut per = vec![FileCount::default(); files.len()];
    for r in results {
        let (c, p) = r?;
        total.merge(c);
        for (i, fc) in p {
            per[i] = fc;
        }
    }
    Ok((total, per))
}
