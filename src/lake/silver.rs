//! The silver NER dataset: `<lake>/silver/ner/date=YYYY-MM-DD/part-*.parquet`, one row per
//! tweet that went through NER, with its entities or the error it is recorded with.
//!
//! Each row also names the bronze file and row it came from (`bronze_file`, `bronze_row`):
//! the `ner` stage writes the rows of a bronze file in row order, so the closed silver files
//! always hold a *prefix* of every bronze file, and reading those two columns back tells
//! exactly how far NER got, whatever the checkpoint file says (see `stage::ner`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use arrow::array::{
    Array, ArrayRef, Int64Array, ListArray, ListBuilder, StringArray, StringBuilder, StructArray,
    StructBuilder, TimestampMillisecondArray, TimestampMillisecondBuilder, UInt32Array,
    UInt32Builder,
};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use super::read::{list_complete_files, read_batches};
use super::rolling::{ClosedFile, RollPolicy, RollingParquet};
use super::schema::timestamp_utc;
use super::{LakeError, LakeLayout};
use crate::nlp::Entity;

/// The silver NER folder of a lake.
pub fn ner_dir(layout: &LakeLayout) -> PathBuf {
    layout.silver().join("ner")
}

fn entity_fields() -> Fields {
    Fields::from(vec![
        Field::new("text", DataType::Utf8, false),
        Field::new("label", DataType::Utf8, false),
        Field::new("start", DataType::UInt32, true),
        Field::new("end", DataType::UInt32, true),
    ])
}

fn entities_type() -> DataType {
    DataType::List(Arc::new(Field::new(
        "item",
        DataType::Struct(entity_fields()),
        true,
    )))
}

/// Schema of the silver NER dataset.
pub fn ner_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(vec![
                Field::new("id_str", DataType::Utf8, false),
                Field::new("created_at", timestamp_utc(), true),
                Field::new("text", DataType::Utf8, false),
                Field::new("entities", entities_type(), false),
                // Set when NER failed for this tweet after every retry (entities then empty).
                Field::new("error", DataType::Utf8, true),
                // `spacy http://… (ssp)` or `rules`.
                Field::new("backend", DataType::Utf8, false),
                Field::new("bronze_file", DataType::Utf8, false),
                Field::new("bronze_row", DataType::Int64, false),
                Field::new("ner_time", timestamp_utc(), false),
            ]))
        })
        .clone()
}

/// One silver NER row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NerRow {
    pub id_str: String,
    pub created_at: Option<i64>,
    pub text: String,
    pub entities: Vec<Entity>,
    pub error: Option<String>,
    pub backend: String,
    /// Path of the bronze file relative to the bronze folder.
    pub bronze_file: String,
    pub bronze_row: i64,
    /// Epoch milliseconds.
    pub ner_time: i64,
}

/// Builds the record batch of `rows`.
pub fn ner_batch(rows: &[NerRow]) -> Result<RecordBatch, ArrowError> {
    let mut entities = ListBuilder::new(StructBuilder::new(
        entity_fields(),
        vec![
            Box::new(StringBuilder::new()),
            Box::new(StringBuilder::new()),
            Box::new(UInt32Builder::new()),
            Box::new(UInt32Builder::new()),
        ],
    ))
    .with_field(Arc::new(Field::new(
        "item",
        DataType::Struct(entity_fields()),
        true,
    )));
    let mut created = TimestampMillisecondBuilder::with_capacity(rows.len()).with_timezone("UTC");
    let mut ner_time = TimestampMillisecondBuilder::with_capacity(rows.len()).with_timezone("UTC");
    for r in rows {
        let s = entities.values();
        for e in &r.entities {
            s.field_builder::<StringBuilder>(0)
                .expect("text builder")
                .append_value(&e.text);
            s.field_builder::<StringBuilder>(1)
                .expect("label builder")
                .append_value(&e.label);
            s.field_builder::<UInt32Builder>(2)
                .expect("start builder")
                .append_option(e.start);
            s.field_builder::<UInt32Builder>(3)
                .expect("end builder")
                .append_option(e.end);
            s.append(true);
        }
        entities.append(true);
        created.append_option(r.created_at);
        ner_time.append_value(r.ner_time);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| &r.id_str),
        )),
        Arc::new(created.finish()),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.text))),
        Arc::new(entities.finish()),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.error.as_deref()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| &r.backend),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| &r.bronze_file),
        )),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.bronze_row),
        )),
        Arc::new(ner_time.finish()),
    ];
    RecordBatch::try_new(ner_schema(), columns)
}

/// Rolling writer of silver NER files (atomic: temp name until closed).
pub struct SilverNerWriter {
    inner: RollingParquet,
}

impl SilverNerWriter {
    /// `prefix` must be unique per process and writer (e.g. `ner-<pid>-<random hex>`).
    pub fn new(layout: &LakeLayout, policy: RollPolicy, prefix: String) -> Self {
        SilverNerWriter {
            inner: RollingParquet::new(ner_dir(layout), ner_schema(), prefix, policy),
        }
    }

    pub fn write(&mut self, rows: &[NerRow]) -> Result<(), LakeError> {
        if rows.is_empty() {
            return Ok(());
        }
        let batch = ner_batch(rows).map_err(|e| LakeError::arrow("building silver NER rows", e))?;
        self.inner.write(&batch)
    }

    pub fn is_open(&self) -> bool {
        self.inner.is_open()
    }

    pub fn open_rows(&self) -> u64 {
        self.inner.open_rows()
    }

    pub fn should_roll(&self, now: Instant) -> bool {
        self.inner.should_roll(now)
    }

    /// Makes the open file durable under its final name.
    pub fn close(&mut self) -> Result<Option<ClosedFile>, LakeError> {
        self.inner.close()
    }
}

fn col<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> Result<&'a T, ArrowError> {
    b.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| ArrowError::SchemaError(format!("column {name} missing or of wrong type")))
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
    let text = s
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| ArrowError::SchemaError("entity text".into()))?;
    let label = s
        .column(1)
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| ArrowError::SchemaError("entity label".into()))?;
    let start = s
        .column(2)
        .as_any()
        .downcast_ref::<UInt32Array>()
        .ok_or_else(|| ArrowError::SchemaError("entity start".into()))?;
    let end = s
        .column(3)
        .as_any()
        .downcast_ref::<UInt32Array>()
        .ok_or_else(|| ArrowError::SchemaError("entity end".into()))?;
    Ok((0..s.len())
        .map(|j| Entity {
            text: text.value(j).to_string(),
            label: label.value(j).to_string(),
            start: start.is_valid(j).then(|| start.value(j)),
            end: end.is_valid(j).then(|| end.value(j)),
        })
        .collect())
}

/// The rows of one record batch of the silver NER schema.
pub fn batch_rows(b: &RecordBatch) -> Result<Vec<NerRow>, ArrowError> {
    let id = col::<StringArray>(b, "id_str")?;
    let created = col::<TimestampMillisecondArray>(b, "created_at")?;
    let text = col::<StringArray>(b, "text")?;
    let entities = col::<ListArray>(b, "entities")?;
    let error = col::<StringArray>(b, "error")?;
    let backend = col::<StringArray>(b, "backend")?;
    let bronze_file = col::<StringArray>(b, "bronze_file")?;
    let bronze_row = col::<Int64Array>(b, "bronze_row")?;
    let ner_time = col::<TimestampMillisecondArray>(b, "ner_time")?;
    (0..b.num_rows())
        .map(|i| {
            Ok(NerRow {
                id_str: id.value(i).to_string(),
                created_at: created.is_valid(i).then(|| created.value(i)),
                text: text.value(i).to_string(),
                entities: entities_of(entities, i)?,
                error: error.is_valid(i).then(|| error.value(i).to_string()),
                backend: backend.value(i).to_string(),
                bronze_file: bronze_file.value(i).to_string(),
                bronze_row: bronze_row.value(i),
                ner_time: ner_time.value(i),
            })
        })
        .collect()
}

/// Every row of every complete silver NER file under `dir`, in file order.
pub fn read_ner_rows(dir: &Path) -> Result<Vec<NerRow>, LakeError> {
    let mut rows = Vec::new();
    for path in list_complete_files(dir).map_err(|e| LakeError::io(dir, e))? {
        for batch in read_batches(&path)? {
            rows.extend(
                batch_rows(&batch).map_err(|e| LakeError::arrow(path.display().to_string(), e))?,
            );
        }
    }
    Ok(rows)
}

/// How far one silver file got into each bronze file: bronze key -> last row + 1.
/// Reads only the two provenance columns.
pub fn read_progress(path: &Path) -> Result<BTreeMap<String, u64>, LakeError> {
    let file = std::fs::File::open(path).map_err(|e| LakeError::io(path, e))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| LakeError::parquet(path, e))?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), ["bronze_file", "bronze_row"]);
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(|e| LakeError::parquet(path, e))?;
    let mut out = BTreeMap::new();
    for batch in reader {
        let batch = batch.map_err(|e| LakeError::arrow(path.display().to_string(), e))?;
        let ctx = |e| LakeError::arrow(path.display().to_string(), e);
        let files = col::<StringArray>(&batch, "bronze_file").map_err(ctx)?;
        let rows = col::<Int64Array>(&batch, "bronze_row").map_err(ctx)?;
        for i in 0..batch.num_rows() {
            let next = rows.value(i).max(0) as u64 + 1;
            let e = out.entry(files.value(i).to_string()).or_insert(0);
            *e = (*e).max(next);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(i: i64, entities: Vec<Entity>, error: Option<&str>) -> NerRow {
        NerRow {
            id_str: format!("id{i}"),
            created_at: (i % 2 == 0).then_some(1_600_000_000_000 + i),
            text: format!("text {i}"),
            entities,
            error: error.map(str::to_string),
            backend: "rules".into(),
            bronze_file: format!("date=2026-01-01/part-{}.parquet", i / 3),
            bronze_row: i % 3,
            ner_time: 1_700_000_000_000,
        }
    }

    #[test]
    fn rows_round_trip_and_progress_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let layout = LakeLayout::new(dir.path());
        let mut w = SilverNerWriter::new(&layout, RollPolicy::default(), "t".into());
        let rows = vec![
            row(0, vec![Entity::new("Friday", "DATE", 19, 25)], None),
            row(1, vec![], Some("HTTP 500: boom")),
            row(
                2,
                vec![
                    Entity::unplaced("Sita", "PERSON"),
                    Entity::new("Ram", "PERSON", 0, 3),
                ],
                None,
            ),
            row(3, vec![], None),
        ];
        w.write(&rows).unwrap();
        assert!(
            read_ner_rows(&ner_dir(&layout)).unwrap().is_empty(),
            "not visible while open"
        );
        let closed = w.close().unwrap().unwrap();
        assert!(closed.path.starts_with(ner_dir(&layout)));
        assert_eq!(read_ner_rows(&ner_dir(&layout)).unwrap(), rows);
        let progress = read_progress(&closed.path).unwrap();
        assert_eq!(
            progress.into_iter().collect::<Vec<_>>(),
            vec![
                ("date=2026-01-01/part-0.parquet".to_string(), 3),
                ("date=2026-01-01/part-1.parquet".to_string(), 1)
            ]
        );
    }
}
