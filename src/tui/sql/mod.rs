//! SQL pane state: the editor (tui-textarea, keywords highlighted), the query in flight, the
//! result grid (scroll, sort, frozen first column), history, completion and the live view.
//! Queries run on the SQL worker; this only sends requests and takes replies.

use std::path::Path;
use std::time::Instant;

use tokio::sync::mpsc::UnboundedSender;
use tui_textarea::TextArea;

use crate::sql::history::History;
use crate::sql::worker::{SqlReply, SqlRequest};
use crate::sql::{SqlError, TableInfo};

mod commands;
mod editor;
mod grid;
use editor::editor;
pub use grid::Grid;

/// Where keys go inside the pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlFocus {
    Editor,
    Grid,
}

/// What a key did, for the app to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlKeyOutcome {
    /// Handled inside the pane.
    Handled,
    /// A message for the footer.
    Say(String, bool),
}

pub struct SqlView {
    pub editor: TextArea<'static>,
    pub focus: SqlFocus,
    pub grid: Option<Grid>,
    pub error: Option<(SqlError, String)>,
    /// The query in flight: (id, started).
    pub running: Option<(u64, Instant)>,
    pub status: Option<String>,
    /// The pinned live view's SQL.
    pub watching: Option<String>,
    pub tables: Vec<TableInfo>,
    pub history: History,
    /// The SQL of the result shown (what `:watch` pins).
    last_sql: Option<String>,
    next_id: u64,
    requests: Option<UnboundedSender<SqlRequest>>,
    opened: bool,
}

impl SqlView {
    pub fn new(lake_root: &Path) -> SqlView {
        SqlView {
            editor: editor(""),
            focus: SqlFocus::Editor,
            grid: None,
            error: None,
            running: None,
            status: None,
            watching: None,
            tables: Vec::new(),
            history: History::load(lake_root),
            last_sql: None,
            next_id: 1,
            requests: None,
            opened: false,
        }
    }

    pub fn connect(&mut self, requests: UnboundedSender<SqlRequest>) {
        self.requests = Some(requests);
    }

    fn send(&self, r: SqlRequest) -> bool {
        self.requests.as_ref().is_some_and(|t| t.send(r).is_ok())
    }

    /// The pane was opened: the worker reads the tables (for completion) the first time.
    pub fn open(&mut self) {
        if !self.opened {
            self.opened = self.send(SqlRequest::Open);
        }
    }

    pub fn text(&self) -> String {
        self.editor.lines().join("\n")
    }

    pub fn set_text(&mut self, text: &str) {
        self.editor = editor(text);
    }

    /// Runs the editor's query.
    pub fn run(&mut self) -> Result<(), String> {
        let sql = self.text();
        if sql.trim().is_empty() {
            return Err("type a query first, e.g. select count(*) from bronze".into());
        }
        let _ = self.history.push(&sql);
        let id = self.next_id;
        self.next_id += 1;
        if !self.send(SqlRequest::Run {
            id,
            sql: sql.clone(),
        }) {
            return Err("the SQL worker is not running".into());
        }
        self.running = Some((id, Instant::now()));
        self.last_sql = Some(sql);
        self.status = None;
        Ok(())
    }

    /// Esc while a query runs: cancel it.
    pub fn cancel(&mut self) -> bool {
        if self.running.is_some() && self.send(SqlRequest::Cancel) {
            self.status = Some("cancelling…".into());
            return true;
        }
        false
    }

    /// `:watch` toggles the live view of the last query run.
    pub fn toggle_watch(&mut self) -> Result<String, String> {
        if self.watching.take().is_some() {
            self.send(SqlRequest::Watch(None));
            return Ok("live view off".into());
        }
        let sql = self
            .last_sql
            .clone()
            .ok_or("run a query first; :watch pins the last one")?;
        self.send(SqlRequest::Watch(Some(sql.clone())));
        self.watching = Some(sql);
        Ok("live view: the query re-runs after every new commit".into())
    }

    pub fn on_reply(&mut self, reply: SqlReply) {
        match reply {
            SqlReply::Tables(t) => self.tables = t,
            // Footer messages are the app's (see `App::sql_reply`).
            SqlReply::Message(..) => {}
            SqlReply::Done { id, result, live } => {
                if live {
                    // A live view's rerun keeps the user's place in the grid.
                    let keep = self.grid.as_ref().map(|g| (g.column, g.scroll, g.sort));
                    self.show(result, true);
                    if let (Some(g), Some((column, scroll, sort))) = (&mut self.grid, keep) {
                        g.column = column.min(g.batch.num_columns().saturating_sub(1));
                        g.scroll = scroll.min(g.batch.num_rows().saturating_sub(1));
                        if let Some((c, desc)) = sort {
                            g.sort(c, desc);
                        }
                    }
                } else if self.running.is_some_and(|(r, _)| r == id) {
                    self.running = None;
                    self.error = None;
                    self.show(result, false);
                    self.focus = SqlFocus::Grid;
                }
            }
            SqlReply::Failed { id, error } => {
                if id == 0 || self.running.is_some_and(|(r, _)| r == id) {
                    self.running = None;
                    self.error = Some((error, self.last_sql.clone().unwrap_or_default()));
                    self.status = None;
                }
            }
            SqlReply::Cancelled { id } => {
                if self.running.is_some_and(|(r, _)| r == id) {
                    let secs = self.running.map_or(0.0, |(_, t)| t.elapsed().as_secs_f64());
                    self.running = None;
                    self.status = Some(format!("query cancelled after {secs:.1} s"));
                }
            }
        }
    }
}
