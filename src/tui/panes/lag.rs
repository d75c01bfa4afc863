//! Lag pane: per consumer group total lag with a sparkline; `Enter` shows per partition
//! high watermark, committed offset, lag and member; broker state on the last line.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Paragraph, Row, Sparkline, Table, TableState};
use ratatui::Frame;

use crate::tui::app::App;
use crate::tui::ui::pane_block;

pub fn draw(f: &mut Frame, area: Rect, app: &App, focused: bool) {
    let v = &app.lag;
    let title = match (v.detail, v.selected_group()) {
        (true, Some(g)) => format!("Lag: {} / {}", g.group, g.topic),
        _ => "Lag".to_string(),
    };
    let block = pane_block(title, focused);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let [body, spark, broker] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(if inner.height >= 7 { 2 } else { 0 }),
        Constraint::Length(1),
    ])
    .areas(inner);
    if v.detail {
        draw_partitions(f, body, app);
    } else {
        draw_groups(f, body, app);
    }
    if let Some(g) = v.selected_group() {
        if let Some(h) = v.history.get(&g.group) {
            let data: Vec<u64> = h.iter().copied().collect();
            let start = data.len().saturating_sub(spark.width as usize);
            f.render_widget(
                Sparkline::default()
                    .data(&data[start..])
                    .style(Style::default().fg(Color::Yellow)),
                spark,
            );
        }
    }
    let (text, style) = broker_line(app);
    f.render_widget(Paragraph::new(text).style(style), broker);
}

fn broker_line(app: &App) -> (String, Style) {
    let s = &app.lag.snapshot;
    if let Some(e) = &s.error {
        return (format!("{}: {e}", s.bus), Style::default().fg(Color::Red));
    }
    match &s.broker {
        None => (
            format!("bus: {}", s.bus),
            Style::default().fg(Color::DarkGray),
        ),
        Some(b) if b.up => (
            format!("broker up: {}", b.brokers.join(", ")),
            Style::default().fg(Color::Green),
        ),
        Some(b) => (
            format!(
                "broker DOWN: {}",
                b.last_error.as_deref().unwrap_or("unreachable")
            ),
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        ),
    }
}

fn draw_groups(f: &mut Frame, area: Rect, app: &App) {
    let v = &app.lag;
    if v.snapshot.groups.is_empty() {
        f.render_widget(
            Paragraph::new("no consumer group yet").style(Style::default().fg(Color::DarkGray)),
            area,
        );
        return;
    }
    let rows = v.snapshot.groups.iter().map(|g| {
        let total = g.total();
        Row::new(vec![
            g.group.clone(),
            g.topic.clone(),
            total.to_string(),
            g.partitions.len().to_string(),
        ])
        .style(if total > 0 {
            Style::default().fg(Color::Yellow)
        } else {
            Style::default()
        })
    });
    let table = Table::new(
        rows,
        [
            Constraint::Min(10),
            Constraint::Min(8),
            Constraint::Length(9),
            Constraint::Length(5),
        ],
    )
    .header(
        Row::new(["group", "topic", "lag", "parts"])
            .style(Style::default().add_modifier(Modifier::BOLD)),
    )
    .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default().with_selected(Some(v.selected));
    f.render_stateful_widget(table, area, &mut state);
}

fn draw_partitions(f: &mut Frame, area: Rect, app: &App) {
    let Some(g) = app.lag.selected_group() else {
        return;
    };
    let rows = g.partitions.iter().map(|p| {
        Row::new(vec![
            p.partition.to_string(),
            p.high_watermark.to_string(),
            p.committed.map_or("-".to_string(), |c| c.to_string()),
            p.lag().to_string(),
            p.member.clone().unwrap_or_else(|| "-".into()),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(4),
            Constraint::Length(10),
            Constraint::Length(10),
            Constraint::Length(8),
            Constraint::Min(6),
        ],
    )
    .header(
        Row::new(["part", "high wm", "committed", "lag", "member"])
            .style(Style::default().add_modifier(Modifier::BOLD)),
    );
    f.render_widget(table, area);
}
