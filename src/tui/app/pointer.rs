//! The mouse (click to focus and select, wheel to scroll) and copying the selected item to the
//! terminal's clipboard (OSC 52).

use super::App;
use crate::tui::action::PaneId;

impl App {
    /// A mouse event: a click focuses the pane under it (and on Stages selects the row), the
    /// wheel scrolls the pane under it (or the open page / help).
    pub fn handle_mouse(&mut self, m: crossterm::event::MouseEvent) {
        use crossterm::event::{MouseButton, MouseEventKind};
        let step = match m.kind {
            MouseEventKind::ScrollUp => -3,
            MouseEventKind::ScrollDown => 3,
            _ => 0,
        };
        if self.detail.stage.is_some() {
            self.detail.scroll = self.detail.scroll.saturating_add_signed(step as i16);
            return;
        }
        if self.help {
            self.help_scroll = self.help_scroll.saturating_add_signed(step as i16);
            return;
        }
        if self.input.is_some() {
            return;
        }
        let Some((pane, rect)) = self
            .pane_rects
            .iter()
            .find(|(_, r)| {
                m.column >= r.x
                    && m.column < r.x + r.width
                    && m.row >= r.y
                    && m.row < r.y + r.height
            })
            .copied()
        else {
            return;
        };
        match m.kind {
            MouseEventKind::Down(MouseButton::Left) => {
                self.focus = pane;
                // Stages: the border and the header row come before the first stage row.
                if pane == PaneId::Stages && m.row >= rect.y + 2 {
                    let row = (m.row - rect.y - 2) as usize + self.stages_offset.get();
                    if row < self.stages.len() && row != self.selected {
                        self.selected = row;
                        self.scroll(0);
                    }
                }
            }
            MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
                self.focus = pane;
                self.scroll(step);
            }
            _ => {}
        }
    }

    /// What `y` copies where the focus is: (what, text).
    pub(super) fn copy_target(&self) -> Option<(&'static str, String)> {
        if let Some(name) = &self.detail.stage {
            let s = self.stages.iter().find(|s| &s.name == name)?;
            return match &s.last_error {
                Some(e) => Some(("the stage's last error", e.clone())),
                None => Some(("the stage's note", s.detail.clone())),
            };
        }
        match self.focus {
            PaneId::Feed => {
                let t = self.feed.visible(1).into_iter().next()?;
                let text = match &t.author {
                    Some(a) => format!("@{a}: {}", t.text),
                    None => t.text.clone(),
                };
                Some(("the tweet", text))
            }
            PaneId::Logs => {
                let lines = &self.logs.lines;
                let i = self
                    .logs
                    .current_match
                    .or_else(|| lines.len().checked_sub(1 + self.logs.scroll))?;
                lines.get(i).map(|l| ("the log line", l.text.clone()))
            }
            PaneId::Label => {
                let c = self.label.current.as_ref()?;
                Some(("the tweet", c.text.clone()))
            }
            PaneId::Stages => {
                let s = self.stages.get(self.selected)?;
                match &s.last_error {
                    Some(e) => Some(("the stage's last error", e.clone())),
                    None if !s.detail.is_empty() => Some(("the stage's note", s.detail.clone())),
                    None => None,
                }
            }
            _ => None,
        }
    }

    pub(super) fn copy(&mut self) {
        match self.copy_target() {
            Some((what, text)) if !text.is_empty() => {
                let n = text.chars().count();
                self.clipboard = Some(text);
                self.say(
                    format!("copied {what} ({n} characters) to the clipboard (OSC 52)"),
                    false,
                );
            }
            _ => self.say(
                "nothing to copy here (y copies a tweet, a log line or a stage's error)",
                true,
            ),
        }
    }
}
