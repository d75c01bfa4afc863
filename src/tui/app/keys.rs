//! Keys: a pending yes/no question, the open input line and the SQL editor take keys as text;
//! the stage page, the help overlay, the Label pane's label keys and every other key go through
//! the keymap's tables.

use crossterm::event::KeyEvent;

use super::{App, COLLECT};
use crate::tui::action::{Action, PaneId};
use crate::tui::command::Target;
use crate::tui::input::{InputKind, InputOutcome};
use crate::tui::keymap;
use crate::tui::sql::{SqlFocus, SqlKeyOutcome};

impl App {
    /// A key press: to the input line when one is open, else through the keymap.
    pub fn handle_key(&mut self, key: KeyEvent) {
        if std::mem::take(&mut self.pending_quit) {
            match key.code {
                crossterm::event::KeyCode::Char('y') => self.quit = true,
                _ => self.say("quit cancelled", false),
            }
            return;
        }
        if std::mem::take(&mut self.pending_stop_all) {
            match key.code {
                crossterm::event::KeyCode::Char('y') => self.stop(Target::All),
                _ => self.say("stop all cancelled: every stage keeps running", false),
            }
            return;
        }
        if std::mem::take(&mut self.pending_collect) {
            use crossterm::event::KeyCode;
            match key.code {
                // Only collect: it reads what the bronze table holds; it starts no source.
                KeyCode::Char('y') | KeyCode::Enter => match self.sup.start_only(COLLECT) {
                    Ok(_) => self.say(
                        "started collect: it reads the bronze table (and waits for more); no source was started",
                        false,
                    ),
                    Err(e) => self.say(e.to_string(), true),
                },
                _ => self.say("collect cancelled: no new dataset version", false),
            }
            return;
        }
        if let Some((name, deps)) = self.pending_start.take() {
            use crossterm::event::KeyCode;
            match key.code {
                KeyCode::Char('y') | KeyCode::Enter => match self.sup.start(&name) {
                    Ok(started) => self.say(format!("started {}", started.join(", ")), false),
                    Err(e) => self.say(e.to_string(), true),
                },
                KeyCode::Char('n') => match self.sup.start_only(&name) {
                    Ok(_) => self.say(
                        format!("started {name} only: it waits for {}", deps.join(", ")),
                        false,
                    ),
                    Err(e) => self.say(e.to_string(), true),
                },
                _ => self.say("start cancelled", false),
            }
            self.refresh_stages();
            return;
        }
        if let Some(input) = &mut self.input {
            let kind = input.kind;
            match input.handle(key) {
                InputOutcome::Editing(text) => {
                    if kind == InputKind::Filter {
                        self.feed.set_filter(Some(text));
                    }
                }
                InputOutcome::Submit(text) => {
                    self.input = None;
                    match kind {
                        InputKind::Filter => self.feed.set_filter(Some(text)),
                        InputKind::Search => self.logs.set_search(Some(text)),
                        InputKind::Command if !text.trim().is_empty() => {
                            self.update(Action::Command(text))
                        }
                        InputKind::Command => {}
                        InputKind::Note => self.label.set_note(text),
                    }
                }
                InputOutcome::Cancel => {
                    self.input = None;
                    match kind {
                        InputKind::Filter => self.feed.set_filter(None),
                        InputKind::Search => self.logs.set_search(None),
                        InputKind::Command | InputKind::Note => {}
                    }
                }
            }
            return;
        }
        if self.detail.stage.is_some() {
            // A stage's page: scrolls; Enter (again), back or quit close it.
            match self.keymap.lookup_in(keymap::PAGE, &key) {
                Some(Action::OpenDetail | Action::Back | Action::Quit) => self.detail.close(),
                Some(Action::Down) => self.detail.scroll += 1,
                Some(Action::Up) => self.detail.scroll = self.detail.scroll.saturating_sub(1),
                Some(Action::PageDown) => self.detail.scroll += 10,
                Some(Action::PageUp) => self.detail.scroll = self.detail.scroll.saturating_sub(10),
                Some(Action::ToggleHelp) => self.help = true,
                Some(Action::Copy) => self.copy(),
                _ => {}
            }
            return;
        }
        if self.help {
            // help, back or quit close the overlay; it scrolls; other keys are ignored.
            match self.keymap.lookup_in(keymap::HELP, &key) {
                Some(Action::ToggleHelp | Action::Back | Action::Quit) => self.help = false,
                Some(Action::Down) => self.help_scroll += 1,
                Some(Action::Up) => self.help_scroll = self.help_scroll.saturating_sub(1),
                Some(Action::PageDown) => self.help_scroll += 10,
                Some(Action::PageUp) => self.help_scroll = self.help_scroll.saturating_sub(10),
                _ => {}
            }
            return;
        }
        if self.focus == PaneId::Sql && self.sql.focus == SqlFocus::Editor {
            // The editor takes keys as text (its own Esc moves to the grid).
            if let SqlKeyOutcome::Say(text, error) = self.sql.editor_key(key) {
                self.say(text, error);
            }
            return;
        }
        if self.focus == PaneId::Label {
            if let Some(action) = keymap::label_key(&self.label.labels, &key) {
                return self.update(action);
            }
        }
        if let Some(action) = self.keymap.lookup(self.focus, &key) {
            self.update(action);
        }
    }
}
