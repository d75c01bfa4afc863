//! The pane's own `:` commands on what it shows: `:tables`, `:examples`, `:example N|NAME`
//! and `:export FILE`.

use std::path::Path;

use super::{SqlFocus, SqlView};
use crate::sql::worker::SqlRequest;

impl SqlView {
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
}
