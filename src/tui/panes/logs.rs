//! Logs pane: the selected stage's log buffer, scrollable, with search matches highlighted.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr as _;

use crate::stage::{LogLine, LogStream};
use crate::tui::app::App;
use crate::tui::ui::pane_block;

pub fn draw(f: &mut Frame, area: Rect, app: &App, focused: bool) {
    let v = &app.logs;
    let mut title = format!("Logs: {}", v.stage.as_deref().unwrap_or("-"));
    if let Some(s) = &v.search {
        title.push_str(&format!(" [/{s} · {} match]", v.match_count()));
    }
    let n = v.lines.len();
    let inner = pane_block(String::new(), focused, area.width).inner(area);
    let rows = inner.height as usize;
    let width = inner.width.max(1) as usize;
    // The last line shown: a search match sits mid-view, with the lines after it below.
    let mut end = n.saturating_sub(v.scroll);
    if let Some(i) = v.current_match.filter(|i| n - 1 - i == v.scroll) {
        end = (i + 1 + rows / 2).min(n);
    }
    // Lines from `end` backwards while they fit (wrapped lines take several rows).
    let height = |l: &LogLine| -> usize {
        if v.wrap {
            (9 + l.text.width()).div_ceil(width).max(1)
        } else {
            1
        }
    };
    let mut start = end;
    let mut used = 0;
    while start > 0 && used + height(&v.lines[start - 1]) <= rows.max(1) {
        used += height(&v.lines[start - 1]);
        start -= 1;
    }
    let below = n - end;
    if below > 0 {
        title.push_str(&format!(" [+{below} below]"));
    }
    if v.hold {
        title.push_str(" [held: f follows]");
    }
    if v.wrap {
        title.push_str(" [wrap]");
    } else if v.hscroll > 0 {
        title.push_str(&format!(" [→{}]", v.hscroll));
    }
    let needle = v.search.as_deref().map(str::to_lowercase);
    let lines: Vec<Line> = v.lines[start..end]
        .iter()
        .enumerate()
        .map(|(i, l)| log_line(l, needle.as_deref(), v.current_match == Some(start + i)))
        .collect();
    let mut p = Paragraph::new(lines).block(pane_block(title, focused, area.width));
    if v.wrap {
        p = p.wrap(Wrap { trim: false });
    } else {
        p = p.scroll((0, v.hscroll));
    }
    f.render_widget(p, area);
}

fn log_line(l: &LogLine, needle: Option<&str>, current: bool) -> Line<'static> {
    let base = match l.stream {
        LogStream::Stdout => Style::default(),
        LogStream::Stderr => Style::default().fg(Color::LightRed),
        LogStream::Event => Style::default().fg(Color::Cyan),
    };
    let mut spans = vec![Span::styled(
        l.at.format("%H:%M:%S ").to_string(),
        Style::default().fg(Color::DarkGray),
    )];
    let highlight = if current {
        Style::default()
            .bg(Color::Yellow)
            .fg(Color::Black)
            .add_modifier(Modifier::BOLD)
    } else {
        Style::default().bg(Color::DarkGray).fg(Color::Yellow)
    };
    match needle.filter(|n| !n.is_empty()) {
        Some(n) => spans.extend(split_matches(&l.text, n, base, highlight)),
        None => spans.push(Span::styled(l.text.clone(), base)),
    }
    crate::tui::format::screen_line(Line::from(spans))
}

/// Splits `text` into spans, styling case-insensitive occurrences of `needle`.
fn split_matches(text: &str, needle: &str, base: Style, hit: Style) -> Vec<Span<'static>> {
    let lower = text.to_lowercase();
    // Lower-casing can change byte lengths outside ASCII; fall back to no highlight then.
    if lower.len() != text.len() {
        return vec![Span::styled(text.to_string(), base)];
    }
    let mut spans = Vec::new();
    let mut at = 0;
    while let Some(i) = lower[at..].find(needle) {
        let s = at + i;
        if s > at {
            spans.push(Span::styled(text[at..s].to_string(), base));
        }
        spans.push(Span::styled(text[s..s + needle.len()].to_string(), hit));
        at = s + needle.len();
    }
    if at < text.len() {
        spans.push(Span::styled(text[at..].to_string(), base));
    }
    spans
}
