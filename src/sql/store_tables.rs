//! The tables that live in the stores rather than the lake, read when a query names them:
//! `labels` (each text's current hand label), `label_events` (every label and undo) and
//! `trending` (the trending stage's counts).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Int32Builder, Int64Builder, RecordBatch, StringBuilder, TimestampMillisecondBuilder,
    UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

use super::error::SqlError;
use crate::config::{Settings, StoreKind};
use crate::learn::labels::{self, LabelEvent};

pub const NAMES: [&str; 3] = ["labels", "label_events", "trending"];

/// (name, rows) for each store table.
pub async fn read(settings: &Settings) -> Result<Vec<(&'static str, RecordBatch)>, SqlError> {
    let events = label_events(settings).await?;
    let current = current_labels(&events);
    let tags = crate::store::open(settings)
        .map_err(|e| SqlError::new(format!("store: {e}")))?
        .trending()
        .all()
        .await
        .map_err(|e| SqlError::new(format!("trending store: {e}")))?;
    let mut tag = StringBuilder::new();
    let (mut count, mut window) = (UInt64Builder::new(), UInt64Builder::new());
    for t in &tags {
        tag.append_value(&t.hashtag);
        count.append_value(t.count);
        window.append_value(t.window);
    }
    let trending = batch(
        vec![
            ("hashtag", DataType::Utf8),
            ("count", DataType::UInt64),
            ("window_count", DataType::UInt64),
        ],
        vec![
            Arc::new(tag.finish()),
            Arc::new(count.finish()),
            Arc::new(window.finish()),
        ],
    )?;
    Ok(vec![
        ("label_events", events_batch(&events, false)?),
        ("labels", events_batch(&current, true)?),
        ("trending", trending),
    ])
}

/// The columns of store table `name` (for completion before it was first read).
pub fn columns(name: &str) -> Vec<String> {
    let cols: &[&str] = match name {
        "trending" => &["hashtag", "count", "window_count"],
        "labels" => &["version", "text_id", "split", "label", "who", "at", "note"],
        "label_events" => &[
            "version",
            "seq",
            "text_id",
            "split",
            "kind",
            "label",
            "prev_label",
            "who",
            "at",
            "note",
        ],
        _ => &[],
    };
    cols.iter().map(|c| c.to_string()).collect()
}

/// Every event of every dataset version.
async fn label_events(settings: &Settings) -> Result<Vec<LabelEvent>, SqlError> {
    let err = |e: labels::LabelStoreError| SqlError::new(format!("label store: {e}"));
    match settings.pipeline.store {
        StoreKind::Embedded => {
            let root = settings.lake.root.clone();
            let store = crate::store::embedded_dir(settings);
            tokio::task::spawn_blocking(move || {
                let mut out = Vec::new();
                for v in crate::learn::dataset::lake_versions(&root).unwrap_or_default() {
                    out.extend(labels::read_log(&store, v)?);
                }
                Ok::<_, labels::LabelStoreError>(out)
            })
            .await
            .map_err(|e| SqlError::new(e.to_string()))?
            .map_err(err)
        }
        StoreKind::Postgres => {
            let store = labels::open(settings).map_err(err)?;
            let mut out = Vec::new();
            for v in store.versions().await.map_err(err)? {
                out.extend(store.events(v).await.map_err(err)?);
            }
            Ok(out)
        }
    }
}

/// The last event of each (version, text): the text's current label (undone ones dropped).
fn current_labels(events: &[LabelEvent]) -> Vec<LabelEvent> {
    let mut last = std::collections::BTreeMap::new();
    for e in events {
        last.insert((e.event.version, e.event.text_id), e.clone());
    }
    last.into_values()
        .filter(|e| e.event.label != crate::config::ABSTAIN)
        .collect()
}

fn events_batch(events: &[LabelEvent], current: bool) -> Result<RecordBatch, SqlError> {
    let mut version = Int64Builder::new();
    let mut seq = UInt64Builder::new();
    let mut text_id = Int64Builder::new();
    let mut split = StringBuilder::new();
    let mut kind = StringBuilder::new();
    let mut label = Int32Builder::new();
    let mut prev = Int32Builder::new();
    let mut who = StringBuilder::new();
    let mut at = TimestampMillisecondBuilder::new().with_timezone("UTC");
    let mut note = StringBuilder::new();
    for e in events {
        let ev = &e.event;
        version.append_value(ev.version as i64);
        seq.append_value(e.seq);
        text_id.append_value(ev.text_id);
        split.append_value(ev.split.name());
        kind.append_value(ev.kind.name());
        label.append_value(ev.label);
        prev.append_value(ev.prev_label);
        who.append_value(&ev.who);
        at.append_value(ev.at_ms);
        note.append_option(ev.note.as_deref());
    }
    let mut fields = vec![
        ("version", DataType::Int64),
        ("seq", DataType::UInt64),
        ("text_id", DataType::Int64),
        ("split", DataType::Utf8),
        ("kind", DataType::Utf8),
        ("label", DataType::Int32),
        ("prev_label", DataType::Int32),
        ("who", DataType::Utf8),
        (
            "at",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        ),
        ("note", DataType::Utf8),
    ];
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(version.finish()),
        Arc::new(seq.finish()),
        Arc::new(text_id.finish()),
        Arc::new(split.finish()),
        Arc::new(kind.finish()),
        Arc::new(label.finish()),
        Arc::new(prev.finish()),
        Arc::new(who.finish()),
        Arc::new(at.finish()),
        Arc::new(note.finish()),
    ];
    if current {
        // `labels`: who labelled what, when; no event bookkeeping.
        for drop in ["kind", "prev_label", "seq"] {
            if let Some(i) = fields.iter().position(|(n, _)| *n == drop) {
                fields.remove(i);
                columns.remove(i);
            }
        }
    }
    batch(fields, columns)
}

fn batch(fields: Vec<(&str, DataType)>, columns: Vec<ArrayRef>) -> Result<RecordBatch, SqlError> {
    let schema = Schema::new(
        fields
            .into_iter()
            .map(|(n, t)| Field::new(n, t, n == "note"))
            .collect::<Vec<_>>(),
    );
    RecordBatch::try_new(Arc::new(schema), columns).map_err(|e| SqlError::new(e.to_string()))
}
