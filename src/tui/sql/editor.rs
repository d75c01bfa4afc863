//! The query editor: its keys (run, cancel, history, completion) and the tui-textarea it is
//! built on, with SQL keywords highlighted.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::{Color, Modifier, Style};
use tui_textarea::{CursorMove, TextArea};

use super::{SqlFocus, SqlKeyOutcome, SqlView};
use crate::sql::complete::{complete, word_before};

impl SqlView {
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
}

pub(super) fn editor(text: &str) -> TextArea<'static> {
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
