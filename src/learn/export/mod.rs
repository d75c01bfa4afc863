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

use anyhow::Context as _;

use crate::config::{Settings, ABSTAIN};
use crate::learn::dataset::Split;
use crate::learn::lf::{Keywords, LabelingFunctions};
use crate::learn::{labels, Session};

mod format;
mod readme;
use format::parquet_bytes;
pub use format::{export_schema, read_jsonl, read_parquet, ExportRow};
use readme::readme;

/// The splits exported, in order.
pub const EXPORTED: [Split; 4] = [Split::Train, Split::Dev, Split::Test, Split::WeakTrain];

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
