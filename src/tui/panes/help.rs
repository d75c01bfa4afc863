//! Help overlay: every key of every pane, from the keymap itself.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::tui::action::PaneId;
use crate::tui::keymap::{self, Binding, Keymap};

pub fn lines() -> Vec<Line<'static>> {
    lines_with(&Keymap::default(), &[])
}

/// As [`lines`], with keys that come from configuration (`(key, what)`: the Label pane's
/// label keys) listed first in the Label section.
pub fn lines_with(keys: &Keymap, label_keys: &[(String, String)]) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let mut section = |title: &str, bindings: &[Binding]| {
        if bindings.is_empty() {
            return;
        }
        out.push(Line::styled(
            title.to_string(),
            Style::default()
                .fg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
        ));
        for b in bindings {
            out.push(Line::from(vec![
                Span::styled(
                    format!("  {:<14}", keys.label(b)),
                    Style::default().fg(Color::Yellow),
                ),
                Span::raw(b.desc),
            ]));
        }
    };
    section("Global", keymap::GLOBAL);
    for pane in PaneId::ALL {
        section(pane.title(), keymap::pane_bindings(pane));
    }
    // Keys from configuration, first in their pane's section.
    if let Some(at) = out.iter().position(|l| {
        l.spans
            .first()
            .is_some_and(|s| s.content == PaneId::Label.title())
            && l.style.fg == Some(Color::Cyan)
    }) {
        for (i, (k, what)) in label_keys.iter().enumerate() {
            out.insert(
                at + 1 + i,
                Line::from(vec![
                    Span::styled(format!("  {k:<14}"), Style::default().fg(Color::Yellow)),
                    Span::raw(what.clone()),
                ]),
            );
        }
    }
    out.push(Line::styled(
        "Input line: Enter applies, Esc cancels (and clears a filter or search)",
        Style::default().fg(Color::DarkGray),
    ));
    out.push(Line::styled(
        ":start NAME|all  :stop NAME|all  :restart NAME  :quit",
        Style::default().fg(Color::DarkGray),
    ));
    out
}

/// The overlay: one column, or two side by side when it would not fit the height;
/// `scroll` (j / k while open) moves through what still does not fit.
pub fn draw(f: &mut Frame, area: Rect, scroll: u16) {
    draw_with(f, area, scroll, &Keymap::default(), &[])
}

/// As [`draw`], with configured label keys (see [`lines_with`]).
pub fn draw_with(
    f: &mut Frame,
    area: Rect,
    scroll: u16,
    keys: &Keymap,
    label_keys: &[(String, String)],
) {
    let text = lines_with(keys, label_keys);
    let two = text.len() as u16 + 2 > area.height && area.width >= 100;
    let columns: Vec<Vec<Line>> = if two {
        // Split at a section boundary near the middle.
        let mid = text.len() / 2;
        let cut = (mid..text.len())
            .find(|&i| text[i].style.fg == Some(Color::Cyan))
            .unwrap_or(mid);
        let (a, b) = text.split_at(cut);
        vec![a.to_vec(), b.to_vec()]
    } else {
        vec![text]
    };
    let tallest = columns.iter().map(Vec::len).max().unwrap_or(0) as u16;
    let h = (tallest + 2).min(area.height);
    let w = (64 * columns.len() as u16).min(area.width);
    let [_, mid, _] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(h),
        Constraint::Fill(1),
    ])
    .areas(area);
    let [_, rect, _] = Layout::horizontal([
        Constraint::Fill(1),
        Constraint::Length(w),
        Constraint::Fill(1),
    ])
    .areas(mid);
    f.render_widget(Clear, rect);
    let more = if tallest + 2 > h {
        " · j/k scroll"
    } else {
        ""
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" Help: keys (? or Esc closes{more}) "));
    let inner = block.inner(rect);
    f.render_widget(block, rect);
    let cols = Layout::horizontal(vec![Constraint::Fill(1); columns.len()]).split(inner);
    for (lines, col) in columns.into_iter().zip(cols.iter()) {
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .scroll((scroll, 0)),
            *col,
        );
    }
}
