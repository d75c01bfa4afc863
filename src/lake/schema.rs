//! Arrow schema of the bronze layer.

use std::sync::{Arc, OnceLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Microsecond UTC timestamp type used for every lake timestamp column (Delta's `timestamp`).
pub fn timestamp_utc() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// A timestamp column of `batch` as epoch milliseconds, whatever unit it was stored in.
pub fn millis_column(
    batch: &arrow::record_batch::RecordBatch,
    name: &str,
) -> Result<arrow::array::TimestampMillisecondArray, arrow::error::ArrowError> {
    use arrow::array::AsArray as _;
    let col = batch
        .column_by_name(name)
        .ok_or_else(|| arrow::error::ArrowError::SchemaError(format!("column {name} missing")))?;
    let ms = arrow::compute::cast(
        col,
        &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
    )?;
    Ok(ms
        .as_primitive::<arrow::datatypes::TimestampMillisecondType>()
        .clone())
}

/// The item field of lake lists, named as Delta (and Parquet's LIST spec) names it.
pub fn list_item() -> Arc<Field> {
    Arc::new(Field::new("element", DataType::Utf8, true))
}

/// `List<Utf8>` with nullable items (build with `ListBuilder::with_field(list_item())`).
pub fn string_list() -> DataType {
    DataType::List(list_item())
}

/// Bronze schema: one row per raw tweet plus where it came from on the bus; the table is
/// partitioned by `date` (UTC day of ingestion).
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
                Field::new("date", DataType::Date32, false),
                Field::new("topic", DataType::Utf8, false),
                Field::new("partition", DataType::Int32, false),
                Field::new("offset", DataType::Int64, false),
                // When the message entered the bus (the source's send time); added after
                // the first release, so nullable: older rows read null.
                Field::new("bus_time", timestamp_utc(), true),
            ]))
        })
        .clone()
}
