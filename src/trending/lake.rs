//! Counting hashtags straight from bronze data files (the bytes of a Parquet file the
//! `bronze` table's log lists): only the columns the rule needs are decoded (`hashtags` or
//! `text`, and `ingest_time` for the window), and several files are counted on parallel
//! threads and merged.

use std::sync::Arc;

use arrow::array::{Array, DictionaryArray, ListArray, StringArray};
use arrow::datatypes::{DataType, Field, Int32Type, Schema};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;

use super::counter::Counter;
use super::rule::HashtagRule;
use crate::lake::schema::millis_column;

/// Rows per decoded batch.
const BATCH_ROWS: usize = 64 * 1024;

/// Rows and occurrences counted from one file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileCount {
    pub rows: u64,
    pub occurrences: u64,
}

/// One data file to count: its path in the table (for messages) and its bytes.
#[derive(Debug, Clone)]
pub struct FileBytes {
    pub path: String,
    pub bytes: Bytes,
}

/// A data file that could not be counted: which one, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct CountError {
    pub path: String,
    pub message: String,
}

impl CountError {
    fn new(path: &str, message: impl std::fmt::Display) -> Self {
        CountError {
            path: path.to_string(),
            message: message.to_string(),
        }
    }
}

/// Adds every tweet of one bronze data file (`bytes`, named `path` in errors) to `counter`.
pub fn count_file(
    path: &str,
    bytes: Bytes,
    counter: &mut Counter,
) -> Result<FileCount, CountError> {
    let parquet_err = |e: parquet::errors::ParquetError| CountError::new(path, e);
    let tag_column = match counter.rule() {
        HashtagRule::Twitter => "hashtags",
        HashtagRule::Seed => "text",
    };
    let metadata = ArrowReaderMetadata::load(&bytes, crate::lake::read::plain_strings())
        .map_err(parquet_err)?;
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
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(bytes, metadata);
    let arrow_schema = builder.schema().clone();
    let mut roots = Vec::new();
    for name in [tag_column, "ingest_time"] {
        match arrow_schema.index_of(name) {
            Ok(i) => roots.push(i),
            Err(_) => {
                return Err(CountError::new(
                    path,
                    format!("bronze column {name} missing"),
                ))
            }
        }
    }
    // When each tweet entered the bus (for the latency readout; files of older writers
    // have no such column).
    if let Ok(i) = arrow_schema.index_of(BUS_TIME) {
        roots.push(i);
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
        let batch = batch.map_err(|e| CountError::new(path, e))?;
        rows += batch.num_rows() as u64;
        count_batch(&batch, tag_column, counter).map_err(|e| CountError::new(path, e))?;
    }
    Ok(FileCount {
        rows,
        occurrences: counter.occurrences - before,
    })
}

/// The file's schema with `hashtags` as `List<Dictionary<Int32, Utf8>>`, if it is `List<Utf8>`
/// (the item field keeps its name, `element` in Delta-written files).
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

const BUS_TIME: &str = "bus_time";

fn count_batch(batch: &RecordBatch, tag_column: &str, counter: &mut Counter) -> Result<(), String> {
    if batch.column_by_name(BUS_TIME).is_some() {
        let sent = millis_column(batch, BUS_TIME).map_err(|e| format!("{BUS_TIME}: {e}"))?;
        sent.iter().flatten().for_each(|t| counter.sent.add(t));
    }
    // Microseconds in the table; read as epoch milliseconds whatever the unit.
    let times = millis_column(batch, "ingest_time").map_err(|e| format!("ingest_time: {e}"))?;
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
/// counter shaped like `like`; returns it with per-file results in input order. The first
/// file that does not decode fails the whole call (count file by file to find it).
pub fn count_files(
    files: &[FileBytes],
    like: &Counter,
    threads: usize,
) -> Result<(Counter, Vec<FileCount>), CountError> {
    let threads = threads.clamp(1, files.len().max(1));
    if threads == 1 {
        let mut c = like.empty_like();
        let per = files
            .iter()
            .map(|f| count_file(&f.path, f.bytes.clone(), &mut c))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok((c, per));
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    type ThreadResult = Result<(Counter, Vec<(usize, FileCount)>), CountError>;
    let results: Vec<ThreadResult> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut c = like.empty_like();
                    let mut per = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(f) = files.get(i) else { break };
                        per.push((i, count_file(&f.path, f.bytes.clone(), &mut c)?));
                    }
                    Ok((c, per))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(CountError::new("?", "panic while counting")))
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

#[cfg(test)]
mod tests {
    use arrow::array::{ListBuilder, StringBuilder, TimestampMicrosecondArray};
    use parquet::arrow::ArrowWriter;

    use super::*;
    use crate::lake::schema::{list_item, timestamp_utc};

    /// A bronze-shaped data file as the Delta writer makes it: `element` list items and
    /// microsecond `ingest_time`.
    fn file(tags: &[&[&str]], at_us: i64) -> Bytes {
        let mut list = ListBuilder::new(StringBuilder::new()).with_field(list_item());
        for row in tags {
            for t in *row {
                list.values().append_value(t);
            }
            list.append(true);
        }
        let texts: Vec<String> = tags.iter().map(|r| format!("#{}", r.join(" #"))).collect();
        let n = tags.len();
        let schema = Arc::new(Schema::new(vec![
            Field::new("text", DataType::Utf8, false),
            Field::new("hashtags", DataType::List(list_item()), false),
            Field::new("ingest_time", timestamp_utc(), false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from_iter_values(texts)),
                Arc::new(list.finish()),
                Arc::new(
                    TimestampMicrosecondArray::from_iter_values(std::iter::repeat_n(at_us, n))
                        .with_timezone("UTC"),
                ),
            ],
        )
        .unwrap();
        let mut out = Vec::new();
        let mut w = ArrowWriter::try_new(&mut out, schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        Bytes::from(out)
    }

    #[test]
    fn counts_delta_written_files_from_bytes_on_threads() {
        let at_ms = 1_700_000_123_456;
        let files = vec![
            FileBytes {
                path: "date=2023-11-14/a.parquet".into(),
                bytes: file(&[&["AI", "Rust"], &["ai"]], at_ms * 1000),
            },
            FileBytes {
                path: "date=2023-11-14/b.parquet".into(),
                bytes: file(&[&["Rust"], &[]], at_ms * 1000),
            },
        ];
        let like = Counter::new(HashtagRule::Twitter, 1000, 0);
        let (c, per) = count_files(&files, &like, 2).unwrap();
        assert_eq!(per.iter().map(|f| f.rows).collect::<Vec<_>>(), [2, 2]);
        assert_eq!(c.tweets, 4);
        assert_eq!(c.get("ai").unwrap().count, 2);
        assert_eq!(c.get("rust").unwrap().count, 2);
        assert_eq!(c.occurrences, 4);
        // The window bucket comes from the microsecond ingest time, in milliseconds.
        let bucket = at_ms / 1000 * 1000;
        assert_eq!(c.get("ai").unwrap().buckets, vec![(bucket, 2)]);

        let seed = Counter::new(HashtagRule::Seed, 1000, 0);
        let (s, _) = count_files(&files[..1], &seed, 1).unwrap();
        assert_eq!(s.tweets, 2);
    }

    #[test]
    fn a_file_that_is_not_parquet_is_an_error_naming_it() {
        let files = vec![FileBytes {
            path: "date=2023-11-14/bad.parquet".into(),
            bytes: Bytes::from_static(b"garbage"),
        }];
        let like = Counter::new(HashtagRule::Twitter, 1000, 0);
        let e = count_files(&files, &like, 1).unwrap_err().to_string();
        assert!(e.contains("bad.parquet"), "{e}");
    }
}
