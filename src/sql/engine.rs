//! The query engine: a DataFusion session with the lake's tables registered by name.
//!
//! Delta tables (`bronze`, `silver_ner`, `gold_trending_hashtags`, `gold_ai_tweets`, and the
//! newest labelling dataset as `dataset_<table>`) are scanned by delta-rs's own provider at
//! their latest version; `labels`, `label_events` and `trending` are read from the stores when
//! a query runs. A memory pool bounds every query; dropping its future cancels it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::execution::runtime_env::RuntimeEnvBuilder;
use deltalake::datafusion::prelude::{SessionConfig, SessionContext};
use deltalake::DeltaTable;
use futures::StreamExt as _;

use super::error::SqlError;
use super::store_tables;
use crate::config::Settings;
use crate::lake::{table, LakeLocation};

/// A finished query: its schema, the rows kept (up to the row limit) and how many there were.
#[derive(Debug, Clone)]
pub struct QueryResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    /// Rows the query returned (more than kept when it hit the limit).
    pub rows: usize,
    pub truncated: bool,
    pub elapsed: Duration,
    /// Of `elapsed`: opening / refreshing the tables, and planning.
    pub opening: Duration,
    pub planning: Duration,
}

impl QueryResult {
    pub fn kept_rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }
}

/// A table a query can name, with its columns (for completion and `:tables`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    pub name: String,
    pub columns: Vec<String>,
    /// Delta version, for lake tables.
    pub version: Option<u64>,
}

pub struct SqlEngine {
    ctx: SessionContext,
    settings: Settings,
    location: LakeLocation,
    /// Open Delta tables by SQL name, kept to refresh incrementally.
    delta: BTreeMap<String, DeltaTable>,
    /// The dataset version registered as `dataset_*`.
    dataset_version: Option<u32>,
    /// Lake tables not written yet, registered empty.
    empty: std::collections::BTreeSet<String>,
}

/// Lake tables and their SQL names.
pub const LAKE_TABLES: [(&str, &str); 4] = [
    ("bronze", "bronze"),
    ("silver/ner", "silver_ner"),
    ("gold/trending_hashtags", "gold_trending_hashtags"),
    ("gold/ai_tweets", "gold_ai_tweets"),
];

impl SqlEngine {
    /// A session over `settings`' lake, with `memory_mb` for each query's operators.
    pub fn new(settings: &Settings, memory_mb: usize) -> Result<SqlEngine, SqlError> {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(memory_mb.max(16) << 20, 1.0)
            .build_arc()
            .map_err(|e| SqlError::from_datafusion(&e))?;
        // DataFusion's own knobs come from DATAFUSION_* variables, e.g.
        // DATAFUSION_EXECUTION_TARGET_PARTITIONS=4.
        let mut config = SessionConfig::from_env()
            .map_err(|e| SqlError::from_datafusion(&e))?
            .with_information_schema(true);
        config.options_mut().sql_parser.collect_spans = true;
        // Plain strings out of Parquet: results print, export and compare as `Utf8`.
        config
            .options_mut()
            .execution
            .parquet
            .schema_force_view_types = false;
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        super::leaf_functions::register(&ctx);
        Ok(SqlEngine {
            ctx,
            location: settings.lake.tables.clone(),
            settings: settings.clone(),
            delta: BTreeMap::new(),
            dataset_version: None,
            empty: Default::default(),
        })
    }

    /// Opens new tables and moves open ones to their latest version; true when any table
    /// appeared or changed version (a live view re-runs then).
    pub async fn refresh(&mut self) -> Result<bool, SqlError> {
        self.refresh_named(None).await
    }

    /// As [`refresh`](Self::refresh), only for the tables `sql` may name (a query opens only
    /// what it reads); `None`: all of them.
    async fn refresh_named(&mut self, sql: Option<&str>) -> Result<bool, SqlError> {
        let lower = sql.map(str::to_ascii_lowercase);
        let named = |name: &str| lower.as_deref().is_none_or(|s| s.contains(name));
        let mut changed = false;
        let location = self.location.clone();
        for (path, name) in LAKE_TABLES {
            if named(name) {
                changed |= self.refresh_delta(&location, path, name).await?;
            }
        }
        if !named("dataset_") {
            return Ok(changed);
        }
        // The newest labelling dataset, as `dataset_<table>`.
        let root = self.settings.lake.root.clone();
        let versions = tokio::task::spawn_blocking(move || {
            crate::learn::dataset::lake_versions(&root).unwrap_or_default()
        })
        .await
        .unwrap_or_default();
        if let Some(&v) = versions.iter().max() {
            if self.dataset_version != Some(v) {
                self.register_dataset(v).await?;
                self.dataset_version = Some(v);
                changed = true;
            }
        }
        Ok(changed)
    }

    async fn refresh_delta(
        &mut self,
        location: &LakeLocation,
        path: &str,
        name: &str,
    ) -> Result<bool, SqlError> {
        let lake_err = |e: table::TableError| SqlError::new(e.to_string());
        let before = self.delta.get(name).and_then(|t| t.version());
        match self.delta.get_mut(name) {
            Some(t) => t
                .update_incremental(None)
                .await
                .map_err(|e| SqlError::new(format!("table {name}: {e}")))?,
            None => match table::open(location, path).await.map_err(lake_err)? {
                Some(t) => {
                    self.delta.insert(name.to_string(), t);
                }
                None => {
                    // Not written yet: an empty table with the schema it will have, so a
                    // query (or a live view) over it works before the first commit.
                    if !self.empty.contains(name) {
                        if let Some(schema) = lake_schema(name) {
                            let table = MemTable::try_new(schema, vec![vec![]])
                                .map_err(|e| SqlError::from_datafusion(&e))?;
                            let _ = self.ctx.register_table(name, Arc::new(table));
                            self.empty.insert(name.to_string());
                        }
                    }
                    return Ok(false);
                }
            },
        }
        self.empty.remove(name);
        let t = &self.delta[name];
        if before.is_some() && t.version() == before {
            return Ok(false);
        }
        t.update_datafusion_session(&self.ctx.state())
            .map_err(|e| SqlError::new(format!("table {name}: {e}")))?;
        let provider = t
            .table_provider()
            .await
            .map_err(|e| SqlError::from_datafusion(&e))?;
        let _ = self.ctx.deregister_table(name);
        self.ctx
            .register_table(name, provider)
            .map_err(|e| SqlError::from_datafusion(&e))?;
        Ok(true)
    }

    async fn register_dataset(&mut self, version: u32) -> Result<(), SqlError> {
        let dir: PathBuf = crate::learn::dataset::version_dir(&self.settings.lake.root, version);
        let location = LakeLocation::local(&dir);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.path().join("_delta_log").is_dir())
                    .filter_map(|e| e.file_name().to_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        for table in names {
            let name = format!("dataset_{}", table.trim_end_matches("_dataset"));
            self.delta.remove(&name);
            self.refresh_delta(&location, &table, &name).await?;
        }
        Ok(())
    }

    /// Reads the stores' tables (`labels`, `label_events`, `trending`) afresh.
    async fn register_store_tables(&self) -> Result<(), SqlError> {
        for (name, batch) in store_tables::read(&self.settings).await? {
            let table = MemTable::try_new(batch.schema(), vec![vec![batch]])
                .map_err(|e| SqlError::from_datafusion(&e))?;
            let _ = self.ctx.deregister_table(name);
            self.ctx
                .register_table(name, Arc::new(table))
                .map_err(|e| SqlError::from_datafusion(&e))?;
        }
        Ok(())
    }

    /// Every table a query can name, with its columns.
    pub async fn tables(&self) -> Vec<TableInfo> {
        let mut names: Vec<String> = self.delta.keys().cloned().collect();
        names.extend(super::store_tables::NAMES.iter().map(|n| n.to_string()));
        names.sort();
        let mut out = Vec::new();
        for name in names {
            let columns = match self.ctx.table_provider(name.as_str()).await {
                Ok(p) => p
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect(),
                // Store tables are registered when first named; their columns are fixed.
                Err(_) => super::store_tables::columns(&name),
            };
            out.push(TableInfo {
                version: self.delta.get(&name).and_then(|t| t.version()),
                columns,
                name,
            });
        }
        out
    }

    /// Table versions, for a live view to notice a new commit.
    pub fn versions(&self) -> Vec<(String, Option<u64>)> {
        self.delta
            .iter()
            .map(|(n, t)| (n.clone(), t.version()))
            .collect()
    }

    /// Runs `sql` over the latest versions, keeping at most `max_rows` rows.
    pub async fn run(&mut self, sql: &str, max_rows: usize) -> Result<QueryResult, SqlError> {
        let started = Instant::now();
        self.refresh_named(Some(sql)).await?;
        if mentions_store_table(sql) {
            self.register_store_tables().await?;
        }
        let opening = started.elapsed();
        let df = self
            .ctx
            .sql(sql)
            .await
            .map_err(|e| SqlError::from_datafusion(&e))?;
        let schema: SchemaRef = df.schema().inner().clone();
        let mut stream = df
            .execute_stream()
            .await
            .map_err(|e| SqlError::from_datafusion(&e))?;
        let planning = started.elapsed() - opening;
        let (mut batches, mut rows, mut kept) = (Vec::new(), 0usize, 0usize);
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| SqlError::from_datafusion(&e))?;
            rows += batch.num_rows();
            if kept < max_rows {
                let take = batch.num_rows().min(max_rows - kept);
                kept += take;
                batches.push(batch.slice(0, take));
            }
        }
        Ok(QueryResult {
            schema,
            batches,
            rows,
            truncated: rows > kept,
            elapsed: started.elapsed(),
            opening,
            planning,
        })
    }
}

/// The schema lake table `name` will have (for registering it empty before its first commit).
fn lake_schema(name: &str) -> Option<SchemaRef> {
    match name {
        "bronze" => Some(crate::lake::bronze_schema()),
        "silver_ner" => Some(crate::lake::silver::ner_schema()),
        "gold_trending_hashtags" => Some(crate::trending::gold::snapshot_schema()),
        "gold_ai_tweets" => Some(crate::stage::classify::gold::ai_tweets_schema()),
        _ => None,
    }
}

/// True when `sql` may read a store table (they are read from the stores only then).
pub(crate) fn mentions_store_table(sql: &str) -> bool {
    let lower = sql.to_ascii_lowercase();
    store_tables::NAMES.iter().any(|n| lower.contains(n))
}
