//! Arrow schema of the bronze layer.

use std::sync::{Arc, OnceLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Millisecond UTC timestamp type used for every lake timestamp column.
pub fn timestamp_utc() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// `List<Utf8>` with nullable items, matching `ListBuilder<StringBuilder>`'s default field.
pub fn string_list() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
}

/// Bronze schema: one row per raw tweet plus where it came from on the bus.
pub fn bronze_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(vec![
                Field::new("id_str", DataType::Utf8, false),
                Field::new("created_at", timestamp_utc(), true),
                Field::new("author", DataType::Utf8, true),
                Field::new("source", DataType::Utf8, true),
                Field::new("text", DataType::Utf8, false),
                Field::new("expanded_url", string_list(), false),
                Field::new("media_url_https", string_list(), false),
                Field::new("hash", DataType::Utf8, false),
                Field::new("hashtags", string_list(), false),
                Field::new("mentions", string_list(), false),
                Field::new("lang", DataType::Utf8, true),
                Field::new("is_retweet", DataType::Boolean, false),
                Field::new("ingest_time", timestamp_utc(), false),
                Field::new("topic", DataType::Utf8, false),
                Field::new("partition", DataType::Int32, false),
                Field::new("offset", DataType::Int64, false),
            ]))
        })
        .clone()
}
