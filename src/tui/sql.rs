//! SQL pane state: the editor (tui-textarea, keywords highlighted), the query in flight, the
//! result grid (scroll, sort, frozen first column), history, completion and the live view.
//! Queries run on the SQL worker; this only sends requests and takes replies.

use std::path::Path;
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::compute::SortOptions;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::{Color, Modifier, Style};
use tokio::sync::mpsc::UnboundedSender;
use tui_textarea::{CursorMove, TextArea};

use crate::sql::complete::{complete, word_before};
use crate::sql::history::History;
use crate::sql::worker::{SqlReply, SqlRequest};
use crate::sql::{QueryResult, SqlError, TableInfo};

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

/// A finished result as the grid shows it: one batch, sorted on demand.
pub struct Grid {
    pub batch: RecordBatch,
    pub rows: usize,
    pub truncated: bool,
    pub elapsed_ms: f64,
    /// Column chosen with ←/→ (sorts with `s`); the first column stays in view.
    pub column: usize,
    /// First row shown.
    pub scroll: usize,
    /// Sorted by (column, descending).
    pub sort: Option<(usize, bool)>,
    pub at: Instant,
    pub live: bool,
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

    /// Shows a small text table in the grid (`:tables`, `:examples`).
    pub fn show_text(&mut self, columns: &[&str], rows: Vec<Vec<String>>) {
        use arrow::array::{ArrayRef, StringArray};
        use arrow::datatypes::{DataType, Field, Schema};
        let schema = std::sync::Arc::new(Schema::new(
            columns
                .iter()
                .map(|c| Field::new(*c, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        let arrays: Vec<ArrayRef> = (0..columns.len())
            .map(|i| {
                std::sync::Arc::new(StringArray::from(
                    rows.iter().map(|r| r.get(i).cloned()).collect::<Vec<_>>(),
                )) as ArrayRef
            })
            .collect();
        let Ok(batch) = RecordBatch::try_new(schema.clone(), arrays) else {
            return;
        };
        self.show(
            QueryResult {
                schema,
                rows: batch.num_rows(),
                batches: vec![batch],
                truncated: false,
                elapsed: std::time::Duration::ZERO,
                opening: std::time::Duration::ZERO,
                planning: std::time::Duration::ZERO,
            },
            false,
        );
        self.error = None;
        self.focus = SqlFocus::Grid;
    }

    /// `:tables`: every table with its columns (and Delta version).
    pub fn show_tables(&mut self) {
        let rows = self
            .tables
            .iter()
            .map(|t| {
                vec![
                    t.name.clone(),
                    t.version.map_or("-".into(), |v| v.to_string()),
                    t.columns.join(", "),
                ]
            })
            .collect();
        self.show_text(&["table", "version", "columns"], rows);
    }

    /// `:examples`: the shipped queries, numbered for `:example N`.
    pub fn show_examples(&mut self) {
        let rows = crate::sql::EXAMPLES
            .iter()
            .enumerate()
            .map(|(i, (name, text))| {
                let what = text
                    .lines()
                    .take_while(|l| l.starts_with("--"))
                    .map(|l| l.trim_start_matches('-').trim())
                    .collect::<Vec<_>>()
                    .join(" ");
                vec![(i + 1).to_string(), name.to_string(), what]
            })
            .collect();
        self.show_text(&["n", "example", "what it shows"], rows);
    }

    /// `:example N|NAME`: loads a shipped query into the editor.
    pub fn load_example(&mut self, which: &str) -> Result<String, String> {
        let found = crate::sql::EXAMPLES
            .iter()
            .enumerate()
            .find(|(i, (name, _))| which == (i + 1).to_string() || which == *name)
            .map(|(_, e)| *e);
        let (name, text) = found.ok_or_else(|| {
            format!(
                "no example {which:?}: 1-{} or a name (:examples lists them)",
                crate::sql::EXAMPLES.len()
            )
        })?;
        self.set_text(text.trim_end());
        self.focus = SqlFocus::Editor;
        Ok(format!("loaded {name}: F5 runs it"))
    }

    /// `:export FILE`: the shown result, in the format the extension names (written by the
    /// worker; its outcome comes back as a footer message).
    pub fn export(&self, path: &Path) -> Result<String, String> {
        let g = self
            .grid
            .as_ref()
            .ok_or("no result to export: run a query first")?;
        if !self.send(SqlRequest::Export {
            path: path.to_path_buf(),
            batch: g.batch.clone(),
        }) {
            return Err("the SQL worker is not running".into());
        }
        Ok(format!("writing {}…", path.display()))
    }

    fn show(&mut self, r: QueryResult, live: bool) {
        let batch = if r.batches.is_empty() {
            RecordBatch::new_empty(r.schema.clone())
        } else {
            arrow::compute::concat_batches(&r.schema, &r.batches)
                .unwrap_or_else(|_| RecordBatch::new_empty(r.schema.clone()))
        };
        self.grid = Some(Grid {
            batch,
            rows: r.rows,
            truncated: r.truncated,
            elapsed_ms: r.elapsed.as_secs_f64() * 1000.0,
            column: 0,
            scroll: 0,
            sort: None,
            at: Instant::now(),
            live,
        });
    }

    /// A key while the editor has focus (the grid's keys go through the keymap).
    pub fn editor_key(&mut self, key: KeyEvent) -> SqlKeyOutcome {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        match key.code {
            KeyCode::F(5) => return self.run_outcome(),
            KeyCode::Enter if ctrl || alt => return self.run_outcome(),
            KeyCode::Esc if self.running.is_some() => {
                self.cancel();
            }
            KeyCode::Esc => self.focus = SqlFocus::Grid,
            KeyCode::Up if ctrl => {
                if let Some(sql) = self.history.older().map(str::to_string) {
                    self.set_text(&sql);
                } else {
                    return SqlKeyOutcome::Say("oldest query in the history".into(), false);
                }
            }
            KeyCode::Down if ctrl => {
                if let Some(sql) = self.history.newer().map(str::to_string) {
                    self.set_text(&sql);
                }
            }
            KeyCode::Tab => return self.complete(),
            KeyCode::Char('l') if ctrl => self.set_text(""),
            _ => {
                self.editor.input(key);
            }
        }
        SqlKeyOutcome::Handled
    }

    pub fn run_outcome(&mut self) -> SqlKeyOutcome {
        match self.run() {
            Ok(()) => SqlKeyOutcome::Handled,
            Err(e) => SqlKeyOutcome::Say(e, true),
        }
    }

    fn complete(&mut self) -> SqlKeyOutcome {
        let (row, col) = self.editor.cursor();
        let line = self.editor.lines().get(row).cloned().unwrap_or_default();
        let before: String = line.chars().take(col).collect();
        let prefix = word_before(&before).to_string();
        let mut names: Vec<String> = Vec::new();
        for t in &self.tables {
            names.push(t.name.clone());
            names.extend(t.columns.iter().cloned());
        }
        match complete(&prefix, &names) {
            None if prefix.is_empty() => {
                self.editor.insert_str("  ");
                SqlKeyOutcome::Handled
            }
            None => SqlKeyOutcome::Say(format!("nothing starts with {prefix:?}"), false),
            Some(c) => {
                self.editor.insert_str(&c.insert);
                if c.candidates.is_empty() {
                    SqlKeyOutcome::Handled
                } else {
                    let mut shown: Vec<String> = c.candidates.iter().take(8).cloned().collect();
                    if c.candidates.len() > 8 {
                        shown.push(format!("… {} more", c.candidates.len() - 8));
                    }
                    SqlKeyOutcome::Say(shown.join("  "), false)
                }
            }
        }
    }

    /// Grid: rows down (negative: up).
    pub fn scroll(&mut self, delta: isize) {
        if let Some(g) = &mut self.grid {
            let max = g.batch.num_rows().saturating_sub(1) as isize;
            g.scroll = (g.scroll as isize + delta).clamp(0, max.max(0)) as usize;
        }
    }

    /// Grid: the selected column, right (negative: left).
    pub fn move_column(&mut self, delta: isize) {
        if let Some(g) = &mut self.grid {
            let max = g.batch.num_columns().saturating_sub(1) as isize;
            g.column = (g.column as isize + delta).clamp(0, max.max(0)) as usize;
        }
    }

    /// Grid: sort by the selected column; again reverses. The footer message.
    pub fn sort_selected(&mut self) -> Option<String> {
        let g = self.grid.as_mut()?;
        let desc = match g.sort {
            Some((c, d)) if c == g.column => !d,
            _ => false,
        };
        let c = g.column;
        g.sort(c, desc);
        let name = g.batch.schema().field(c).name().clone();
        Some(format!(
            "sorted by {name} {}",
            if desc { "descending" } else { "ascending" }
        ))
    }
}

impl Grid {
    /// Sorts the kept rows by `column` (nulls last).
    pub fn sort(&mut self, column: usize, descending: bool) {
        let Some(array) = self.batch.columns().get(column) else {
            return;
        };
        let opts = SortOptions {
            descending,
            nulls_first: false,
        };
        if let Ok(idx) = arrow::compute::sort_to_indices(array, Some(opts), None) {
            if let Ok(b) = arrow::compute::take_record_batch(&self.batch, &idx) {
                self.batch = b;
                self.sort = Some((column, descending));
                self.scroll = 0;
            }
        }
    }
}

fn editor(text: &str) -> TextArea<'static> {
    let mut area = TextArea::new(text.lines().map(str::to_string).collect());
    if area.lines().is_empty() {
        area = TextArea::default();
    }
    area.move_cursor(CursorMove::Bottom);
    area.move_cursor(CursorMove::End);
    area.set_cursor_line_style(Style::default());
    let _ = area.set_search_pattern(crate::sql::highlight::keyword_pattern());
    area.set_search_style(
        Style::default()
            .fg(Color::LightBlue)
            .add_modifier(Modifier::BOLD),
    );
    area
}
