//! `ssp-tui dataset export [--version N] --out DIR` and `ssp-tui dataset list`.
//!
//! Export writes, for the chosen version (default: the newest), `train`, `dev`, `test` and
//! `weak_train` as Parquet and JSONL with `text_id`, `tweet_id`, `text`, `label` (hand label,
//! -1 = none), `slabel` (weak label from the LFs' accuracy-weighted vote) and `probability` (the model's
//! probability of the positive label), plus a `README.md` with counts, label distribution,
//! the model's and the weak labeller's dev scores and the LF summary.
//!
//! The weak labels and the model are recomputed from the stored labels exactly as the Label
//! pane's worker computes them (same seed, same order), so the export does not depend on a
//! TUI having run. Files are written under temporary names and renamed into place.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use arrow::array::{Array as _, ArrayRef, Float32Array, Int32Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::config::{Settings, ABSTAIN};
use crate::learn::dataset::Split;
use crate::learn::lf::{summary_lines, Keywords, LabelingFunctions};
use crate::learn::{labels, Session};

/// The splits exported, in order.
pub const EXPORTED: [Split; 4] = [Split::Train, Split::Dev, Split::Test, Split::WeakTrain];

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

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct ExportSummary {
    pub version: u32,
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
    /// Rows per exported split.
    pub counts: Vec<(Split, usize)>,
    pub readme: String,
    pub rows: Vec<(Split, Vec<ExportRow>)>,
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    crate::lake::atomic::write_atomic(path, bytes)
        .with_context(|| format!("writing {}", path.display()))
}

fn parquet_bytes(rows: &[ExportRow]) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, export_schema(), None)?;
    w.write(&batch(rows)?)?;
    w.close()?;
    Ok(buf)
}

/// Builds the export rows of a session.
pub fn export_rows(s: &Session) -> Vec<(Split, Vec<ExportRow>)> {
    let slabels = s.slabels();
    let current = labels::current_label_events(&s.events);
    EXPORTED
        .iter()
        .map(|split| {
            let rows = s
                .items
                .iter()
                .enumerate()
                .filter(|(_, it)| it.row.split == *split)
                .map(|(i, it)| {
                    let e = current
                        .get(&it.row.text_id)
                        .filter(|_| s.hand[i] != ABSTAIN)
                        .map(|e| &e.event);
                    let p = e.map(|e| &e.provenance);
                    let nonempty = |v: &str| (!v.is_empty()).then(|| v.to_string());
                    ExportRow {
                        text_id: it.row.text_id,
                        tweet_id: it.row.tweet_id.clone(),
                        text: it.row.text.clone(),
                        label: s.hand[i],
                        slabel: slabels[i],
                        probability: s.probs[i],
                        labelled_by: e.map(|e| e.who.clone()),
                        labelled_at_ms: e.map(|e| e.at_ms),
                        event_id: p.and_then(|p| nonempty(&p.event_id)),
                        source: p.and_then(|p| nonempty(&p.source)),
                        model_version: p.map(|p| p.model_version as i64),
                        label_probability: p.and_then(|p| p.probability),
                    }
                })
                .collect();
            (*split, rows)
        })
        .collect()
}

fn readme(
    s: &Session,
    settings: &Settings,
    store: &str,
    rows: &[(Split, Vec<ExportRow>)],
    lfs: &LabelingFunctions,
) -> String {
    let learn = &settings.learn;
    let mut out = String::new();
    let _ = writeln!(out, "# ssp-tui dataset v{}\n", s.version);
    let _ = writeln!(
        out,
        "Exported {} from {store}. Labels: {} (-1 = not labelled / abstain). Columns: text_id, tweet_id, text, label (hand label), slabel (weak label), probability (model's probability of {}); for hand-labelled rows the label's provenance: labelled_by, labelled_at_ms, event_id, source (the bronze versions the texts came from), model_version (hand labels the model had learned from) and label_probability (the model's probability shown when labelling).\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC"),
        learn
            .labels
            .iter()
            .map(|l| format!("{} = {}", l.name, l.value))
            .collect::<Vec<_>>()
            .join(", "),
        learn.positive_name()
    );
    let _ = writeln!(
        out,
        "| split | rows | hand-labelled | {} | weak {} | weak {} | no LF voted | files |",
        learn
            .labels
            .iter()
            .map(|l| format!("label {}", l.name))
            .collect::<Vec<_>>()
            .join(" | "),
        learn.positive_name(),
        learn.label_name(learn.negative)
    );
    let _ = writeln!(
        out,
        "| --- | ---: | ---: | {}---: | ---: | ---: | --- |",
        "---: | ".repeat(learn.labels.len())
    );
    for (split, r) in rows {
        let hand = r.iter().filter(|x| x.label != ABSTAIN).count();
        let per: Vec<String> = learn
            .labels
            .iter()
            .map(|l| r.iter().filter(|x| x.label == l.value).count().to_string())
            .collect();
        let wp = r.iter().filter(|x| x.slabel == learn.positive).count();
        let wn = r.iter().filter(|x| x.slabel == learn.negative).count();
        let wa = r
            .iter()
            .filter(|x| {
                lfs.votes(&x.text)
                    .iter()
                    .all(|v| *v == crate::learn::lf::ABSTAIN)
            })
            .count();
        let _ = writeln!(
            out,
            "| {split} | {} | {hand} | {} | {wp} | {wn} | {wa} | `{split}.parquet`, `{split}.jsonl` |",
            r.len(),
            per.join(" | ")
        );
    }
    let (m, w) = s.dev_scores();
    let _ = writeln!(
        out,
        "\nOn the {} hand-labelled dev texts: model accuracy {:.3}, F1 {:.3}; weak labels accuracy {:.3}, F1 {:.3}.\n",
        m.n, m.accuracy, m.f1, w.accuracy, w.f1
    );
    let _ = writeln!(
        out,
        "Splits of this version: seed {}, test {}, dev {}, weak-train {}, train the rest; no text is in two splits.\n",
        s.settings.seed, s.settings.test_size, s.settings.dev_size, s.settings.weak_train_size
    );
    let _ = writeln!(out, "## Labelling functions (coverage / overlaps / conflicts over all texts; correct / incorrect against dev hand labels)\n");
    let _ = writeln!(
        out,
        "```\n{}\n```",
        summary_lines(s.lf_summary()).join("\n")
    );
    out
}

/// Exports `version` (default: the newest) into `out`.
pub async fn export(
    settings: &Settings,
    version: Option<u32>,
    out: &Path,
) -> anyhow::Result<ExportSummary> {
    let store = labels::open(settings).map_err(|e| anyhow::anyhow!("{e}"))?;
    let versions = store.versions().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let version = match version {
        Some(v) if versions.contains(&v) => v,
        Some(v) => anyhow::bail!(
            "no dataset version {v} in {} (have: {})",
            store.describe(),
            if versions.is_empty() {
                "none".to_string()
            } else {
                versions
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ),
        None => *versions.last().with_context(|| {
            format!(
                "no dataset in {} yet: run the collect stage first (ssp-tui run collect)",
                store.describe()
            )
        })?,
    };
    let ds = store
        .load_version(version)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let events = store
        .events(version)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let lfs = LabelingFunctions::new(&Keywords::from_settings(
        settings.learn.keywords_dir.as_deref(),
    )?);
    let learn = settings.learn.clone();
    let settings2 = settings.clone();
    let describe = store.describe();
    let out = out.to_path_buf();
    tokio::task::spawn_blocking(move || -> anyhow::Result<ExportSummary> {
        let s = Session::new(ds, events, &learn, &lfs);
        let rows = export_rows(&s);
        let readme = readme(&s, &settings2, &describe, &rows, &lfs);
        std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
        let mut files = Vec::new();
        for (split, r) in &rows {
            let pq = out.join(format!("{split}.parquet"));
            write_file(&pq, &parquet_bytes(r)?)?;
            let mut jsonl = Vec::new();
            for row in r {
                serde_json::to_writer(&mut jsonl, row)?;
                jsonl.write_all(b"\n")?;
            }
            let jl = out.join(format!("{split}.jsonl"));
            write_file(&jl, &jsonl)?;
            files.push(pq);
            files.push(jl);
        }
        let rp = out.join("README.md");
        write_file(&rp, readme.as_bytes())?;
        files.push(rp);
        Ok(ExportSummary {
            version: s.version,
            dir: out,
            files,
            counts: rows.iter().map(|(s, r)| (*s, r.len())).collect(),
            readme,
            rows,
        })
    })
    .await?
}

/// One line per version: counts and hand labels.
pub async fn list(settings: &Settings) -> anyhow::Result<String> {
    let store = labels::open(settings).map_err(|e| anyhow::anyhow!("{e}"))?;
    let versions = store.versions().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out = format!("datasets in {}\n", store.describe());
    if versions.is_empty() {
        out.push_str("  none yet: run the collect stage (ssp-tui run collect)\n");
    }
    for v in versions {
        let ds = store
            .load_version(v)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let events = store.events(v).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let labelled = labels::labelled(&events).len();
        let _ = writeln!(
            out,
            "  v{v}: {} unique texts (test {}, dev {}, weak-train {}, train {}), {labelled} hand-labelled, {} label events",
            ds.rows.len(),
            ds.count(Split::Test),
            ds.count(Split::Dev),
            ds.count(Split::WeakTrain),
            ds.count(Split::Train),
            events.len()
        );
    }
    Ok(out)
}
