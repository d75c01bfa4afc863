//! Logs pane: the selected stage's log buffer, scrollable, with search matches highlighted.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::stage::{LogLine, LogStream};
use crate::tui::app::App;
use crate::tui::ui::pane_block;

pub fn draw(f: &mut Frame, area: Rect, app: &App, focused: bool) {
    let v = &app.logs;
    let mut title = format!("Logs: {}", v.stage.as_deref().unwrap_or("-"));
    if let Some(s) = &v.search {
        title.push_str(&format!(" [/{s} · {} match]", v.match_count()));
    }
    if v.scroll > 0 {
        title.push_str(&format!(" [+{} below]", v.scroll));
    }
    let block = pane_block(title, focused);
    let rows = block.inner(area).height as usize;
    let end = v.lines.len().saturating_sub(v.scroll);
    let start = end.saturating_sub(rows);
    let needle = v.search.as_deref().map(str::to_lowercase);
    let lines: Vec<Line> = v.lines[start..end]
        .iter()
        .enumerate()
        .map(|(i, l)| log_line(l, needle.as_deref(), v.current_match == Some(start + i)))
        .collect();
    f.render_widget(Paragraph::new(lines).block(block), area);
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
    Line::from(spans)
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
