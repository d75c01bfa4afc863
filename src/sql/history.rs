//! Queries run before, kept per lake in `<lake>/sql_history.jsonl` (one JSON string per line,
//! newest last, at most [`KEEP`]); walked with Ctrl-Up / Ctrl-Down in the SQL pane.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Queries kept on disk.
pub const KEEP: usize = 500;

#[derive(Debug, Default)]
pub struct History {
    path: Option<PathBuf>,
    entries: Vec<String>,
    /// Position while walking: `None` = at the draft (below the newest entry).
    cursor: Option<usize>,
}

impl History {
    /// Loads the history of the lake whose local folder is `lake_root` (empty when missing
    /// or unreadable; a damaged line is skipped).
    pub fn load(lake_root: &Path) -> History {
        let path = lake_root.join("sql_history.jsonl");
        let entries = std::fs::read_to_string(&path)
            .map(|text| {
                text.lines()
                    .filter_map(|l| serde_json::from_str::<String>(l).ok())
                    .collect()
            })
            .unwrap_or_default();
        History {
            path: Some(path),
            entries,
            cursor: None,
        }
    }

    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    /// Records a query run (not twice in a row) and appends it to the file.
    pub fn push(&mut self, sql: &str) -> std::io::Result<()> {
        self.cursor = None;
        let sql = sql.trim();
        if sql.is_empty() || self.entries.last().is_some_and(|l| l == sql) {
            return Ok(());
        }
        self.entries.push(sql.to_string());
        let Some(path) = self.path.clone() else {
            return Ok(());
        };
        let write = if self.entries.len() > KEEP {
            // Rewrite the file with the newest KEEP entries only.
            self.entries.drain(..self.entries.len() - KEEP);
            let text: String = self
                .entries
                .iter()
                .map(|e| format!("{}\n", serde_json::Value::from(e.as_str())))
                .collect();
            Change::Replace(text)
        } else {
            Change::Append(format!("{}\n", serde_json::Value::from(sql)))
        };
        // From the TUI: on a blocking thread, never on the event loop.
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn_blocking(move || {
                    if let Err(e) = write.to(&path) {
                        tracing::warn!(path = %path.display(), error = %e, "saving the SQL history");
                    }
                });
                Ok(())
            }
            Err(_) => write.to(&path),
        }
    }

    /// One step back (older); `None` at the oldest.
    pub fn older(&mut self) -> Option<&str> {
        let next = match self.cursor {
            None => self.entries.len().checked_sub(1)?,
            Some(0) => return None,
            Some(i) => i - 1,
        };
        self.cursor = Some(next);
        self.entries.get(next).map(String::as_str)
    }

    /// One step forward (newer); `Some("")` past the newest (back to an empty editor).
    pub fn newer(&mut self) -> Option<&str> {
        let i = self.cursor?;
        if i + 1 >= self.entries.len() {
            self.cursor = None;
            return Some("");
        }
        self.cursor = Some(i + 1);
        self.entries.get(i + 1).map(String::as_str)
    }
}

/// A change to the history file.
enum Change {
    Append(String),
    Replace(String),
}

impl Change {
    fn to(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        match self {
            Change::Replace(text) => crate::lake::atomic::write_atomic(path, text.as_bytes()),
            Change::Append(line) => std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?
                .write_all(line.as_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_a_reload_and_walks_both_ways() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = History::load(dir.path());
        h.push("select 1").unwrap();
        h.push("select 1").unwrap();
        h.push("select\n  2").unwrap();
        let mut h = History::load(dir.path());
        assert_eq!(h.entries(), ["select 1", "select\n  2"]);
        assert_eq!(h.older(), Some("select\n  2"));
        assert_eq!(h.older(), Some("select 1"));
        assert_eq!(h.older(), None);
        assert_eq!(h.newer(), Some("select\n  2"));
        assert_eq!(h.newer(), Some(""));
        assert_eq!(h.newer(), None);
    }

    #[test]
    fn keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = History::load(dir.path());
        for i in 0..KEEP + 3 {
            h.push(&format!("select {i}")).unwrap();
        }
        let h = History::load(dir.path());
        assert_eq!(h.entries().len(), KEEP);
        assert_eq!(h.entries()[0], "select 3");
    }
}
