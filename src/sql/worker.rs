//! The SQL pane's worker: owns the engine on its own task, so a query never blocks the TUI.
//! Queries run on a runtime of their own; a new query or `Cancel` aborts the running one
//! (DataFusion stops at its next yield). A pinned live view re-runs after each new table
//! version, at most every `watch_seconds`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{mpsc, Mutex};
use tokio_util::sync::CancellationToken;

use super::{QueryResult, SqlEngine, SqlError, TableInfo};
use crate::config::Settings;

#[derive(Debug, Clone)]
pub enum SqlRequest {
    /// The pane opened: read the tables (the worker starts nothing before a request).
    Open,
    Run {
        id: u64,
        sql: String,
    },
    Cancel,
    /// Pin `sql` as a live view (`None`: unpin).
    Watch(Option<String>),
    /// Write a shown result to a file (off the TUI's thread).
    Export {
        path: std::path::PathBuf,
        batch: arrow::array::RecordBatch,
    },
}

#[derive(Debug)]
pub enum SqlReply {
    Done {
        id: u64,
        result: QueryResult,
        /// A live view's re-run (not a query the user just started).
        live: bool,
    },
    Failed {
        id: u64,
        error: SqlError,
    },
    Cancelled {
        id: u64,
    },
    /// Tables and columns (for completion and `:tables`), after each refresh.
    Tables(Vec<TableInfo>),
    /// A line for the footer (an export's outcome); `true` for an error.
    Message(String, bool),
}

pub struct SqlLink {
    pub requests: mpsc::UnboundedSender<SqlRequest>,
    pub replies: mpsc::UnboundedReceiver<SqlReply>,
}

/// Starts the worker; it ends with `cancel` or when the link is dropped.
pub fn spawn(settings: &Settings, cancel: CancellationToken) -> SqlLink {
    let (req_tx, req_rx) = mpsc::unbounded_channel();
    let (rep_tx, rep_rx) = mpsc::unbounded_channel();
    let settings = settings.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = serve(settings, req_rx, rep_tx) => {}
        }
    });
    SqlLink {
        requests: req_tx,
        replies: rep_rx,
    }
}

/// Ids of live-view runs (the pane's own queries count up from 1).
const LIVE_ID: u64 = u64::MAX;

async fn serve(
    settings: Settings,
    mut requests: mpsc::UnboundedReceiver<SqlRequest>,
    replies: mpsc::UnboundedSender<SqlReply>,
) {
    // Nothing is opened until the pane is.
    let Some(first) = requests.recv().await else {
        return;
    };
    let engine = match SqlEngine::new(&settings, settings.sql.memory_mb) {
        Ok(e) => Arc::new(Mutex::new(e)),
        Err(error) => {
            let _ = replies.send(SqlReply::Failed { id: 0, error });
            return;
        }
    };
    let max_rows = settings.sql.max_rows;
    let mut watch: Option<String> = None;
    let mut tick = tokio::time::interval(settings.sql.watch_every.max(Duration::from_millis(200)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // Tables for completion as soon as the pane opens.
    {
        let mut e = engine.lock().await;
        let _ = e.refresh().await;
        let _ = replies.send(SqlReply::Tables(e.tables().await));
    }
    let mut next: Option<(u64, String)> = None;
    match first {
        SqlRequest::Run { id, sql } => next = Some((id, sql)),
        SqlRequest::Watch(w) => watch = w,
        SqlRequest::Export { path, batch } => export(path, batch, &replies),
        SqlRequest::Open | SqlRequest::Cancel => {}
    }
    loop {
        let (id, sql) = match next.take() {
            Some(job) => job,
            None => tokio::select! {
                req = requests.recv() => match req {
                    None => return,
                    Some(SqlRequest::Run { id, sql }) => (id, sql),
                    Some(SqlRequest::Cancel | SqlRequest::Open) => continue,
                    Some(SqlRequest::Watch(w)) => { watch = w; continue }
                    Some(SqlRequest::Export { path, batch }) => { export(path, batch, &replies); continue }
                },
                _ = tick.tick() => {
                    let Some(sql) = watch.clone() else { continue };
                    let changed = engine.lock().await.refresh().await.unwrap_or(false);
                    if !changed && !super::engine::mentions_store_table(&sql) {
                        continue;
                    }
                    (LIVE_ID, sql)
                }
            },
        };
        // Run it on the query runtime, while listening for a cancel or a newer query. A
        // cancel aborts the task (DataFusion stops at its next yield) and is answered at once.
        let outcome = {
            let engine = engine.clone();
            let mut run =
                query_runtime().spawn(async move { engine.lock().await.run(&sql, max_rows).await });
            let outcome = loop {
                tokio::select! {
                    r = &mut run => break r.ok(),
                    req = requests.recv() => match req {
                        None => { run.abort(); return }
                        Some(SqlRequest::Cancel) => break None,
                        Some(SqlRequest::Run { id, sql }) => { next = Some((id, sql)); break None }
                        Some(SqlRequest::Watch(w)) => watch = w,
                        Some(SqlRequest::Export { path, batch }) => export(path, batch, &replies),
                        Some(SqlRequest::Open) => {}
                    },
                }
            };
            run.abort();
            outcome
        };
        let live = id == LIVE_ID;
        let reply = match outcome {
            Some(Ok(result)) => SqlReply::Done { id, result, live },
            Some(Err(error)) => SqlReply::Failed { id, error },
            None => SqlReply::Cancelled { id },
        };
        if replies.send(reply).is_err() {
            return;
        }
        if !live {
            let _ = replies.send(SqlReply::Tables(engine.lock().await.tables().await));
        }
    }
}

/// Writes `batch` to `path` on a blocking thread; the outcome goes to the footer.
fn export(
    path: std::path::PathBuf,
    batch: arrow::array::RecordBatch,
    replies: &mpsc::UnboundedSender<SqlReply>,
) {
    let replies = replies.clone();
    tokio::task::spawn_blocking(move || {
        let n = batch.num_rows();
        let reply =
            match super::output::export(&path, &batch.schema(), std::slice::from_ref(&batch)) {
                Ok(()) => SqlReply::Message(
                    format!(
                        "{n} {} written to {}",
                        super::output::rows_noun(n),
                        path.display()
                    ),
                    false,
                ),
                Err(e) => SqlReply::Message(e, true),
            };
        let _ = replies.send(reply);
    });
}

/// Queries run on threads of their own: DataFusion's operators are CPU-bound and would
/// otherwise hold the runtime threads the TUI's event loop and the stages need.
fn query_runtime() -> &'static tokio::runtime::Handle {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2),
            )
            .thread_name("ssp-sql")
            .enable_all()
            .build();
        // Invariant: without threads for queries no query can run; the OS refusing two
        // threads at the first query is not something to recover from.
        #[allow(clippy::expect_used)]
        rt.expect("the SQL query runtime")
    })
    .handle()
}
