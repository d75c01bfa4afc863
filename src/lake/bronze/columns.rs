//! Arrow encoding of tweets: column builders in bronze schema order, and the Parquet
//! writer properties for the files they become.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Int32Builder, Int64Builder, ListBuilder,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};
use deltalake::parquet::basic::Compression;
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::parquet::schema::types::ColumnPath;

use super::{RecordMeta, BATCH_ROWS};
use crate::lake::schema::{self, bronze_schema};
use crate::lake::LakeError;
use crate::tweet::Tweet;

/// Column builders in bronze schema order.
pub(super) struct Columns {
    id: StringBuilder,
    created_at: TimestampMicrosecondBuilder,
    author: StringBuilder,
    source: StringBuilder,
    text: StringBuilder,
    urls: ListBuilder<StringBuilder>,
    media: ListBuilder<StringBuilder>,
    hash: StringBuilder,
    hashtags: ListBuilder<StringBuilder>,
    mentions: ListBuilder<StringBuilder>,
    lang: StringBuilder,
    is_retweet: BooleanBuilder,
    ingest_time: TimestampMicrosecondBuilder,
    date: Date32Builder,
    topic: StringBuilder,
    partition: Int32Builder,
    offset: Int64Builder,
    bus_time: TimestampMicrosecondBuilder,
    pub(super) rows: usize,
}

/// Days since 1970-01-01 (Arrow `Date32`).
fn epoch_days(t: DateTime<Utc>) -> i32 {
    t.timestamp().div_euclid(86_400) as i32
}

fn list(values: &[String]) -> impl Iterator<Item = Option<&str>> {
    values.iter().map(|v| Some(v.as_str()))
}

impl Columns {
    pub(super) fn new() -> Self {
        let ts = || TimestampMicrosecondBuilder::with_capacity(BATCH_ROWS).with_timezone("UTC");
        let s = || StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 16);
        let l = || {
            ListBuilder::with_capacity(StringBuilder::new(), BATCH_ROWS)
                .with_field(schema::list_item())
        };
        Self {
            id: s(),
            created_at: ts(),
            author: s(),
            source: s(),
            text: StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 160),
            urls: l(),
            media: l(),
            hash: StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 64),
            hashtags: l(),
            mentions: l(),
            lang: s(),
            is_retweet: BooleanBuilder::with_capacity(BATCH_ROWS),
            ingest_time: ts(),
            date: Date32Builder::with_capacity(BATCH_ROWS),
            topic: s(),
            partition: Int32Builder::with_capacity(BATCH_ROWS),
            offset: Int64Builder::with_capacity(BATCH_ROWS),
            bus_time: ts(),
            rows: 0,
        }
    }

    pub(super) fn push(&mut self, t: &Tweet, hash: &str, meta: &RecordMeta) {
        self.id.append_value(&t.id);
        self.created_at
            .append_option(t.created_at.map(|c| c.timestamp_micros()));
        self.author.append_option(t.author.as_deref());
        self.source.append_option(t.source.as_deref());
        self.text.append_value(&t.text);
        self.urls.append_value(list(&t.urls));
        self.media.append_value(list(&t.media));
        self.hash.append_value(hash);
        self.hashtags.append_value(list(&t.hashtags));
        self.mentions.append_value(list(&t.mentions));
        self.lang.append_option(t.lang.as_deref());
        self.is_retweet.append_value(t.is_retweet);
        self.ingest_time
            .append_value(meta.ingest_time.timestamp_micros());
        self.date.append_value(epoch_days(meta.ingest_time));
        self.topic.append_value(meta.topic);
        self.partition.append_value(meta.partition);
        self.offset.append_value(meta.offset);
        self.bus_time
            .append_option(meta.bus_time_ms.map(|ms| ms.saturating_mul(1000)));
        self.rows += 1;
    }

    /// Turns the buffered rows into a batch and resets the builders.
    pub(super) fn finish(&mut self) -> Result<RecordBatch, LakeError> {
        self.rows = 0;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.id.finish()),
            Arc::new(self.created_at.finish()),
            Arc::new(self.author.finish()),
            Arc::new(self.source.finish()),
            Arc::new(self.text.finish()),
            Arc::new(self.urls.finish()),
            Arc::new(self.media.finish()),
            Arc::new(self.hash.finish()),
            Arc::new(self.hashtags.finish()),
            Arc::new(self.mentions.finish()),
            Arc::new(self.lang.finish()),
            Arc::new(self.is_retweet.finish()),
            Arc::new(self.ingest_time.finish()),
            Arc::new(self.date.finish()),
            Arc::new(self.topic.finish()),
            Arc::new(self.partition.finish()),
            Arc::new(self.offset.finish()),
            Arc::new(self.bus_time.finish()),
        ];
        RecordBatch::try_new(bronze_schema(), columns)
            .map_err(|e| LakeError::arrow("bronze batch", e))
    }
}

/// Snappy, as delta-rs writes by default, without dictionaries for the columns whose values
/// hardly repeat (a dictionary there is built for each page only to be thrown away).
pub(super) fn writer_properties() -> WriterProperties {
    let unique = [
        "id_str",
        "text",
        "hash",
        "offset",
        "ingest_time",
        "bus_time",
    ];
    unique
        .iter()
        .fold(
            WriterProperties::builder().set_compression(Compression::SNAPPY),
            |b, c| b.set_column_dictionary_enabled(ColumnPath::from(*c), false),
        )
        .build()
}
