//! The Logs pane's state: which stage, its lines, scroll position and search.

use crate::stage::LogLine;

#[derive(Default)]
pub struct LogView {
    pub stage: Option<String>,
    pub lines: Vec<LogLine>,
    /// `LogBuffer::pushed` when `lines` was taken (to skip unchanged refreshes).
    pub pushed: u64,
    /// Lines scrolled up from the bottom; 0 = follow the newest.
    pub scroll: usize,
    pub search: Option<String>,
    /// Index into `lines` of the current match.
    pub current_match: Option<usize>,
    /// Long lines wrap (else they are cut, and `hscroll` shifts them).
    pub wrap: bool,
    pub hscroll: u16,
    /// Off: new lines never move the view (`f`).
    pub hold: bool,
}

impl LogView {
    pub fn show(&mut self, stage: &str) {
        if self.stage.as_deref() != Some(stage) {
            self.stage = Some(stage.to_string());
            self.lines.clear();
            self.pushed = u64::MAX;
            self.scroll = 0;
            self.current_match = None;
            self.hscroll = 0;
        }
    }

    pub fn scroll_by(&mut self, delta: isize) {
        let max = self.lines.len().saturating_sub(1) as isize;
        self.scroll = (self.scroll as isize - delta).clamp(0, max) as usize;
    }

    pub fn set_search(&mut self, search: Option<String>) {
        self.search = search.filter(|s| !s.is_empty());
        self.current_match = None;
        self.jump(false);
    }

    fn matches(&self, i: usize) -> bool {
        self.search.as_deref().is_some_and(|s| {
            self.lines[i]
                .text
                .to_lowercase()
                .contains(&s.to_lowercase())
        })
    }

    /// Moves to the next (older, `backwards` = false) or previous match and scrolls to it.
    pub fn jump(&mut self, newer: bool) {
        if self.search.is_none() || self.lines.is_empty() {
            return;
        }
        let n = self.lines.len();
        let start = self.current_match.unwrap_or(n);
        let order: Vec<usize> = if newer {
            (start + 1..n).chain(0..start.min(n)).collect()
        } else {
            (0..start.min(n))
                .rev()
                .chain((start + 1..n).rev())
                .collect()
        };
        if let Some(i) = order.into_iter().find(|&i| self.matches(i)) {
            self.current_match = Some(i);
            self.scroll = n - 1 - i;
        }
    }

    pub fn match_count(&self) -> usize {
        (0..self.lines.len()).filter(|&i| self.matches(i)).count()
    }
}
