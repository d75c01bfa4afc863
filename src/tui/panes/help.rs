//! Help overlay: every key of every pane, from the keymap itself.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::tui::action::PaneId;
use crate::tui::keymap::{self, Binding};

pub fn lines() -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let mut section = |title: &str, bindings: &[Binding]| {
        if bindings.is_empty() {
            return;
        }
        out.push(Line::styled(
            title.to_string(),
            Style::default().fg(Color::Cyan).add_modifier(Modifier::BOLD),
        ));
        for b in bindings {
            out.push(Line::from(vec![
                Span::styled(
                    format!("  {:<14}", keymap::binding_label(b)),
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

pub fn draw(f: &mut Frame, area: Rect) {
    let text = lines();
    let h = (text.len() as u16 + 2).min(area.height);
    let w = 64.min(area.width);
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
    f.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(" Help: keys (? or Esc closes) ")),
        rect,
    );
}
