//! The exported row format: [`ExportRow`] (also the JSONL line), its Arrow schema, the
//! Parquet bytes written, and reading exported Parquet and JSONL files back.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use arrow::array::{Array as _, ArrayRef, Float32Array, Int32Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

/// One exported row (also the JSONL line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportRow {
    pub text_id: i64,
    pub tweet_id: String,
    pub text: String,
    pub label: i32,
    pub slabel: i32,
    pub probability: f32,
    /// Provenance of the hand label (none when not labelled): who, when (epoch ms), the
    /// event's id, where the text came from, the model's version and probability then.
    pub labelled_by: Option<String>,
    pub labelled_at_ms: Option<i64>,
    pub event_id: Option<String>,
    pub source: Option<String>,
    pub model_version: Option<i64>,
    pub label_probability: Option<f32>,
}

pub fn export_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("text_id", DataType::Int64, false),
        Field::new("tweet_id", DataType::Utf8, false),
        Field::new("text", DataType::Utf8, false),
        Field::new("label", DataType::Int32, false),
        Field::new("slabel", DataType::Int32, false),
        Field::new("probability", DataType::Float32, false),
        Field::new("labelled_by", DataType::Utf8, true),
        Field::new("labelled_at_ms", DataType::Int64, true),
        Field::new("event_id", DataType::Utf8, true),
        Field::new("source", DataType::Utf8, true),
        Field::new("model_version", DataType::Int64, true),
        Field::new("label_probability", DataType::Float32, true),
    ]))
}

fn batch(rows: &[ExportRow]) -> anyhow::Result<RecordBatch> {
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.text_id))),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.tweet_id.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.text.as_str()),
        )),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.label))),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.slabel))),
        Arc::new(Float32Array::from_iter_values(
            rows.iter().map(|r| r.probability),
        )),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.labelled_by.as_deref()),
        )),
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.labelled_at_ms))),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.event_id.as_deref()),
        )),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.source.as_deref()),
        )),
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.model_version))),
        Arc::new(Float32Array::from_iter(
            rows.iter().map(|r| r.label_probability),
        )),
    ];
    Ok(RecordBatch::try_new(export_schema(), cols)?)
}

/// Reads an exported Parquet file back.
pub fn read_parquet(path: &Path) -> anyhow::Result<Vec<ExportRow>> {
    let mut out = Vec::new();
    for b in crate::learn::dataset::read_parquet_file(path)? {
        let c = |n: &str| b.column_by_name(n).with_context(|| format!("column {n}"));
        let text_id = c("text_id")?
            .as_any()
            .downcast_ref::<Int64Array>()
            .context("text_id")?;
        let tweet_id = c("tweet_id")?
            .as_any()
            .downcast_ref::<StringArray>()
            .context("tweet_id")?;
        let text = c("text")?
            .as_any()
            .downcast_ref::<StringArray>()
            .context("text")?;
        let label = c("label")?
            .as_any()
            .downcast_ref::<Int32Array>()
            .context("label")?;
        let slabel = c("slabel")?
            .as_any()
            .downcast_ref::<Int32Array>()
            .context("slabel")?;
        let p = c("probability")?
            .as_any()
            .downcast_ref::<Float32Array>()
            .context("probability")?;
        let s = |n: &str| -> anyhow::Result<StringArray> {
            Ok(c(n)?
                .as_any()
                .downcast_ref::<StringArray>()
                .context(n.to_string())?
                .clone())
        };
        let i64s = |n: &str| -> anyhow::Result<Int64Array> {
            Ok(c(n)?
                .as_any()
                .downcast_ref::<Int64Array>()
                .context(n.to_string())?
                .clone())
        };
        let (by, event_id, source) = (s("labelled_by")?, s("event_id")?, s("source")?);
        let (at, model_version) = (i64s("labelled_at_ms")?, i64s("model_version")?);
        let lp = c("label_probability")?
            .as_any()
            .downcast_ref::<Float32Array>()
            .context("label_probability")?;
        let opt_s = |a: &StringArray, i: usize| a.is_valid(i).then(|| a.value(i).to_string());
        for i in 0..b.num_rows() {
            out.push(ExportRow {
                text_id: text_id.value(i),
                tweet_id: tweet_id.value(i).to_string(),
                text: text.value(i).to_string(),
                label: label.value(i),
                slabel: slabel.value(i),
                probability: p.value(i),
                labelled_by: opt_s(&by, i),
                labelled_at_ms: at.is_valid(i).then(|| at.value(i)),
                event_id: opt_s(&event_id, i),
                source: opt_s(&source, i),
                model_version: model_version.is_valid(i).then(|| model_version.value(i)),
                label_probability: lp.is_valid(i).then(|| lp.value(i)),
            });
        }
    }
    Ok(out)
}

/// Reads an exported JSONL file back.
pub fn read_jsonl(path: &Path) -> anyhow::Result<Vec<ExportRow>> {
    std::fs::read_to_string(path)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| Ok(serde_json::from_str(l)?))
        .collect()
}

pub(super) fn parquet_bytes(rows: &[ExportRow]) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, export_schema(), None)?;
    w.write(&batch(rows)?)?;
    w.close()?;
    Ok(buf)
}
