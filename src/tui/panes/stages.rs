//! Stages pane: one row per stage with state, uptime, counts, rate, errors, restarts.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Cell, Row, Table, TableState};
use ratatui::Frame;

use crate::stage::StageState;
use crate::tui::app::App;
use crate::tui::format;
use crate::tui::ui::pane_block;

pub fn state_color(state: StageState) -> Color {
    match state {
        StageState::Running => Color::Green,
        StageState::Starting | StageState::Stopping => Color::Yellow,
        StageState::BackingOff => Color::Magenta,
        StageState::Failed | StageState::Stalled | StageState::Lost => Color::Red,
        StageState::Completed => Color::Blue,
        StageState::Stopped => Color::Gray,
        StageState::Exited => Color::DarkGray,
    }
}

pub fn draw(f: &mut Frame, area: Rect, app: &App, focused: bool) {
    let header = Row::new([
        "stage", "state", "up", "in", "out", "rate/s", "err", "rst", "note",
    ])
    .style(Style::default().add_modifier(Modifier::BOLD));
    let rows = app.stages.iter().map(|s| {
        let note = s
            .last_error
            .as_ref()
            .filter(|_| s.state != StageState::Running || s.detail.is_empty())
            .cloned()
            .unwrap_or_else(|| s.detail.clone());
        let note_style = if matches!(
            s.state,
            StageState::Failed | StageState::BackingOff | StageState::Stalled | StageState::Lost
        ) {
            Style::default().fg(Color::Red)
        } else {
            Style::default().fg(Color::DarkGray)
        };
        Row::new(vec![
            Cell::from(s.name.clone()),
            Cell::from(s.state.label()).style(Style::default().fg(state_color(s.state))),
            Cell::from(s.uptime.map(format::duration).unwrap_or_else(|| "-".into())),
            Cell::from(format::count(s.input)),
            Cell::from(format::count(s.output)),
            Cell::from(format!("{:.0}", s.rate)),
            Cell::from(s.errors.to_string()).style(if s.errors > 0 {
                Style::default().fg(Color::Red)
            } else {
                Style::default()
            }),
            Cell::from(s.restarts.to_string()),
            Cell::from(note).style(note_style),
        ])
    });
    let widths = [
        Constraint::Length(
            app.stages
                .iter()
                .map(|s| s.name.chars().count() as u16)
                .max()
                .unwrap_or(10)
                .clamp(10, 24),
        ),
        Constraint::Length(11),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(4),
        Constraint::Length(3),
        Constraint::Min(10),
    ];
    // Rows that do not fit are said in the title (the selection scrolls them into view).
    let fits = area.height.saturating_sub(3) as usize;
    let title = if app.stages.len() > fits {
        format!("Stages · {fits} of {} shown, ↑↓ scrolls", app.stages.len())
    } else {
        "Stages".to_string()
    };
    let table = Table::new(rows, widths)
        .header(header)
        .block(pane_block(title, focused, area.width))
        .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
        .highlight_symbol("▶ ");
    let mut state = TableState::default().with_selected(Some(app.selected));
    f.render_stateful_widget(table, area, &mut state);
    app.stages_offset.set(state.offset());
}
