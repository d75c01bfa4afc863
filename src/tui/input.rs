//! The one-line input (tui-textarea) used for the feed filter, log search and `:` commands.

use crossterm::event::{KeyCode, KeyEvent};
use tui_textarea::TextArea;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Filter,
    Search,
    Command,
    /// Label pane: a note attached to the current tweet's label.
    Note,
}

impl InputKind {
    pub fn prompt(self) -> &'static str {
        match self {
            InputKind::Filter => "filter: ",
            InputKind::Search => "search: ",
            InputKind::Command => ":",
            InputKind::Note => "note: ",
        }
    }
}

pub struct InputLine {
    pub kind: InputKind,
    pub area: TextArea<'static>,
}

pub enum InputOutcome {
    /// Still typing; the text so far.
    Editing(String),
    Submit(String),
    Cancel,
}

impl InputLine {
    pub fn new(kind: InputKind, initial: &str) -> Self {
        let mut area = TextArea::new(vec![initial.to_string()]);
        area.move_cursor(tui_textarea::CursorMove::End);
        area.set_cursor_line_style(ratatui::style::Style::default());
        InputLine { kind, area }
    }

    /// An empty line showing `previous` greyed out (what the last filter or search was).
    pub fn with_hint(kind: InputKind, previous: &str) -> Self {
        let mut line = InputLine::new(kind, "");
        if !previous.is_empty() {
            line.area
                .set_placeholder_text(format!("{previous}  (was; type to replace)"));
        }
        line
    }

    pub fn text(&self) -> String {
        self.area.lines().first().cloned().unwrap_or_default()
    }

    pub fn handle(&mut self, key: KeyEvent) -> InputOutcome {
        match key.code {
            KeyCode::Enter => InputOutcome::Submit(self.text()),
            KeyCode::Esc => InputOutcome::Cancel,
            _ => {
                self.area.input(key);
                InputOutcome::Editing(self.text())
            }
        }
    }
}
