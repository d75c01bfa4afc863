//! Rows of the `silver/ner` table: schema, [`NerRow`], and their Arrow conversions.

use std::sync::{Arc, OnceLock};

use arrow::array::{
    Array, ArrayRef, Date32Builder, Int32Array, Int32Builder, Int64Array, ListArray, ListBuilder,
    StringArray, StringBuilder, StructArray, StructBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;

use crate::lake::schema::{millis_column, timestamp_utc};
use crate::nlp::Entity;

fn entity_fields() -> Fields {
    Fields::from(vec![
        Field::new("text", DataType::Utf8, false),
        Field::new("label", DataType::Utf8, false),
        // Character offsets (Delta has no unsigned integers).
        Field::new("start", DataType::Int32, true),
        Field::new("end", DataType::Int32, true),
    ])
}

/// The item field of the `entities` list, named as Delta names list items.
fn entity_item() -> Arc<Field> {
    Arc::new(Field::new(
        "element",
        DataType::Struct(entity_fields()),
        true,
    ))
}

/// Schema of `silver/ner`; the table is partitioned by `date` (the bronze partition the
/// tweet came from, i.e. its UTC day of ingestion).
pub fn ner_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(vec![
                Field::new("id_str", DataType::Utf8, false),
                Field::new("created_at", timestamp_utc(), true),
                Field::new("text", DataType::Utf8, false),
                Field::new("entities", DataType::List(entity_item()), false),
                // Set when NER failed for this tweet after every retry (entities then empty).
                Field::new("error", DataType::Utf8, true),
                // `spacy http://… (ssp)` or `rules`.
                Field::new("backend", DataType::Utf8, false),
                // Provenance: the bronze commit, data file (path in the table) and row.
                Field::new("bronze_version", DataType::Int64, false),
                Field::new("bronze_file", DataType::Utf8, false),
                Field::new("bronze_row", DataType::Int64, false),
                Field::new("ner_time", timestamp_utc(), false),
                Field::new("date", DataType::Date32, false),
            ]))
        })
        .clone()
}

/// One silver NER row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NerRow {
    pub id_str: String,
    /// Epoch milliseconds.
    pub created_at: Option<i64>,
    pub text: String,
    pub entities: Vec<Entity>,
    pub error: Option<String>,
    pub backend: String,
    /// Bronze table version whose commit added the file.
    pub bronze_version: i64,
    /// Bronze data file, relative to the bronze table's root.
    pub bronze_file: String,
    /// Row within that file.
    pub bronze_row: i64,
    /// Epoch milliseconds.
    pub ner_time: i64,
    /// Partition: the bronze partition's date.
    pub date: NaiveDate,
}

fn epoch() -> NaiveDate {
    chrono::DateTime::UNIX_EPOCH.date_naive()
}

/// Days since 1970-01-01 (Arrow `Date32`).
fn epoch_days(d: NaiveDate) -> i32 {
    d.signed_duration_since(epoch()).num_days() as i32
}

/// Builds the record batch of `rows`.
// Invariant (expect below): the entity struct builder is made here with exactly four field
// builders of these types, in this order; a mismatch is a bug every test would catch.
#[allow(clippy::expect_used)]
pub fn ner_batch(rows: &[NerRow]) -> Result<RecordBatch, ArrowError> {
    let mut entities = ListBuilder::new(StructBuilder::new(
        entity_fields(),
        vec![
            Box::new(StringBuilder::new()),
            Box::new(StringBuilder::new()),
            Box::new(Int32Builder::new()),
            Box::new(Int32Builder::new()),
        ],
    ))
    .with_field(entity_item());
    let ts = || TimestampMicrosecondBuilder::with_capacity(rows.len()).with_timezone("UTC");
    let (mut created, mut ner_time) = (ts(), ts());
    let mut date = Date32Builder::with_capacity(rows.len());
    for r in rows {
        let s = entities.values();
        for e in &r.entities {
            s.field_builder::<StringBuilder>(0)
                .expect("text builder")
                .append_value(&e.text);
            s.field_builder::<StringBuilder>(1)
                .expect("label builder")
                .append_value(&e.label);
            s.field_builder::<Int32Builder>(2)
                .expect("start builder")
                .append_option(e.start.map(|v| v as i32));
            s.field_builder::<Int32Builder>(3)
                .expect("end builder")
                .append_option(e.end.map(|v| v as i32));
            s.append(true);
        }
        entities.append(true);
        created.append_option(r.created_at.map(|ms| ms * 1000));
        ner_time.append_value(r.ner_time * 1000);
        date.append_value(epoch_days(r.date));
    }
    let strings = |f: fn(&NerRow) -> &str| StringArray::from_iter_values(rows.iter().map(f));
    let int64 = |f: fn(&NerRow) -> i64| Int64Array::from_iter_values(rows.iter().map(f));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(strings(|r| &r.id_str)),
        Arc::new(created.finish()),
        Arc::new(strings(|r| &r.text)),
        Arc::new(entities.finish()),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.error.as_deref()),
        )),
        Arc::new(strings(|r| &r.backend)),
        Arc::new(int64(|r| r.bronze_version)),
        Arc::new(strings(|r| &r.bronze_file)),
        Arc::new(int64(|r| r.bronze_row)),
        Arc::new(ner_time.finish()),
        Arc::new(date.finish()),
    ];
    RecordBatch::try_new(ner_schema(), columns)
}

fn col<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> Result<&'a T, ArrowError> {
    b.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| ArrowError::SchemaError(format!("column {name} missing or of wrong type")))
}

fn field<'a, T: 'static>(s: &'a StructArray, i: usize, what: &str) -> Result<&'a T, ArrowError> {
    s.column(i)
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| ArrowError::SchemaError(format!("entity {what}")))
}

fn entities_of(list: &ListArray, i: usize) -> Result<Vec<Entity>, ArrowError> {
    if list.is_null(i) {
        return Ok(Vec::new());
    }
    let values = list.value(i);
    let s = values
        .as_any()
        .downcast_ref::<StructArray>()
        .ok_or_else(|| ArrowError::SchemaError("entities are not structs".into()))?;
    let text = field::<StringArray>(s, 0, "text")?;
    let label = field::<StringArray>(s, 1, "label")?;
    let start = field::<Int32Array>(s, 2, "start")?;
    let end = field::<Int32Array>(s, 3, "end")?;
    Ok((0..s.len())
        .map(|j| Entity {
            text: text.value(j).to_string(),
            label: label.value(j).to_string(),
            start: start.is_valid(j).then(|| start.value(j) as u32),
            end: end.is_valid(j).then(|| end.value(j) as u32),
        })
        .collect())
}

/// The rows of one record batch of a silver NER data file. Partition columns are not in
/// the files: `date` is the file's partition value.
pub fn batch_rows(b: &RecordBatch, date: NaiveDate) -> Result<Vec<NerRow>, ArrowError> {
    let id = col::<StringArray>(b, "id_str")?;
    let created = millis_column(b, "created_at")?;
    let text = col::<StringArray>(b, "text")?;
    let entities = col::<ListArray>(b, "entities")?;
    let error = col::<StringArray>(b, "error")?;
    let backend = col::<StringArray>(b, "backend")?;
    let bronze_version = col::<Int64Array>(b, "bronze_version")?;
    let bronze_file = col::<StringArray>(b, "bronze_file")?;
    let bronze_row = col::<Int64Array>(b, "bronze_row")?;
    let ner_time = millis_column(b, "ner_time")?;
    (0..b.num_rows())
        .map(|i| {
            Ok(NerRow {
                id_str: id.value(i).to_string(),
                created_at: created.is_valid(i).then(|| created.value(i)),
                text: text.value(i).to_string(),
                entities: entities_of(entities, i)?,
                error: error.is_valid(i).then(|| error.value(i).to_string()),
                backend: backend.value(i).to_string(),
                bronze_version: bronze_version.value(i),
                bronze_file: bronze_file.value(i).to_string(),
                bronze_row: bronze_row.value(i),
                ner_time: ner_time.value(i),
                date,
            })
        })
        .collect()
}

/// A `date` partition value (`YYYY-MM-DD`).
pub fn parse_date(value: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d").ok()
}

/// The UTC day of an epoch-milliseconds time.
pub fn day_of(ms: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.date_naive())
        .unwrap_or_else(epoch)
}
