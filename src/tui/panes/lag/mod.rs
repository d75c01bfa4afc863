//! Lag pane: per consumer group of the tweet topic its total lag, drain rate (messages/s, net
//! of what is produced) and ETA to zero lag, with a sparkline of the selected group; `Enter`
//! shows per partition its lag, whether it is growing or draining, committed offset, high
//! watermark and member. `broker DOWN` and the last error when the cluster cannot be reached;
//! broker state on the last line. Columns drop out right to left on narrow panes.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Sparkline, Table, TableState, Wrap};
use ratatui::Frame;

use crate::tui::app::App;
use crate::tui::lag::{format_eta, format_rate, LagView, Trend};
use crate::tui::ui::pane_block;

pub fn draw(f: &mut Frame, area: Rect, app: &App, focused: bool) {
    draw_view(f, area, &app.lag, focused);
}

pub fn draw_view(f: &mut Frame, area: Rect, v: &LagView, focused: bool) {
    let title = match (v.detail, v.selected_group()) {
        (true, Some(g)) => format!("Lag: {} / {}", g.group, g.topic),
        (false, Some(g)) => format!("Lag · {}", g.topic),
        _ => "Lag".to_string(),
    };
    let block = pane_block(title, focused, area.width);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let down = v.broker_down();
    let [body, spark, broker] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(if inner.height >= 7 && down.is_none() {
            2
        } else {
            0
        }),
        Constraint::Length(1),
    ])
    .areas(inner);
    if let Some(e) = &down {
        draw_down(f, body, v, e);
    } else if v.detail {
        draw_partitions(f, body, v);
    } else {
        draw_groups(f, body, v);
    }
    if let Some(g) = v.selected_group().filter(|_| down.is_none()) {
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
    let (text, style) = broker_line(v);
    f.render_widget(Paragraph::new(text).style(style), broker);
}

fn broker_line(v: &LagView) -> (String, Style) {
    let s = &v.snapshot;
    if let Some(e) = v.broker_down() {
        return (
            format!("broker DOWN: {e}"),
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        );
    }
    if let Some(e) = &s.error {
        return (format!("{}: {e}", s.bus), Style::default().fg(Color::Red));
    }
    match &s.broker {
        Some(b) => (
            format!("broker up: {}", b.brokers.join(", ")),
            Style::default().fg(Color::Green),
        ),
        None => (
            format!("bus: {}", s.bus),
            Style::default().fg(Color::DarkGray),
        ),
    }
}

/// The body while the cluster cannot be reached: what failed, since when.
fn draw_down(f: &mut Frame, area: Rect, v: &LagView, error: &str) {
    let since = v
        .down_since
        .map(|t| format!(" for {}s", t.elapsed().as_secs()))
        .unwrap_or_default();
    let red = Style::default().fg(Color::Red);
    let mut lines = vec![
        Line::styled(
            format!("broker DOWN{since}"),
            red.add_modifier(Modifier::BOLD),
        ),
        Line::styled(format!("last error: {error}"), red),
    ];
    if let Some(e) = v.snapshot.error.as_deref().filter(|e| !error.contains(*e)) {
        lines.push(Line::styled(format!("lag refresh: {e}"), red));
    }
    lines.push(Line::styled(
        format!("{}; lag shows again when it answers", v.snapshot.bus),
        Style::default().fg(Color::DarkGray),
    ));
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), area);
}

fn trend_style(t: Trend) -> Style {
    match t {
        Trend::Growing => Style::default().fg(Color::Red),
        Trend::Draining => Style::default().fg(Color::Green),
        Trend::Steady | Trend::Unknown => Style::default(),
    }
}

fn draw_groups(f: &mut Frame, area: Rect, v: &LagView) {
    if v.snapshot.groups.is_empty() {
        let (text, style) = match &v.snapshot.error {
            Some(e) => (e.clone(), Style::default().fg(Color::Red)),
            None => (
                "no consumer group on the topic yet".to_string(),
                Style::default().fg(Color::DarkGray),
            ),
        };
        f.render_widget(
            Paragraph::new(text).style(style).wrap(Wrap { trim: true }),
            area,
        );
        return;
    }
    // group | lag | drain/s | eta | parts, the last ones left out when narrow.
    let show = match area.width {
        w if w >= 48 => 5,
        w if w >= 36 => 4,
        w if w >= 27 => 3,
        _ => 2,
    };
    let rows = v.snapshot.groups.iter().map(|g| {
        let total = g.total();
        let rate = v.group_rate(&g.group);
        let trend = rate.map_or(Trend::Unknown, |r| r.trend());
        let cells = vec![
            Cell::from(g.group.clone()),
            Cell::from(format!("{total:>8}")),
            Cell::from(format!(
                "{:>7}",
                format_rate(rate.and_then(|r| r.drain_rate()))
            ))
            .style(trend_style(trend)),
            Cell::from(format!(
                "{:>7}",
                rate.map_or("…".into(), |r| format_eta(r.eta()))
            )),
            Cell::from(format!("{:>5}", g.partitions.len())),
        ];
        Row::new(cells.into_iter().take(show)).style(if total > 0 {
            Style::default().fg(Color::Yellow)
        } else {
            Style::default()
        })
    });
    let widths = [
        Constraint::Min(6),
        Constraint::Length(8),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(5),
    ];
    let header = [
        "group".to_string(),
        format!("{:>8}", "lag"),
        format!("{:>7}", "drain/s"),
        format!("{:>7}", "eta"),
        format!("{:>5}", "parts"),
    ];
    let table = Table::new(rows, widths.into_iter().take(show))
        .header(
            Row::new(header.into_iter().take(show))
                .style(Style::default().add_modifier(Modifier::BOLD)),
        )
        .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default().with_selected(Some(v.selected));
    f.render_stateful_widget(table, area, &mut state);
}

fn draw_partitions(f: &mut Frame, area: Rect, v: &LagView) {
    let Some(g) = v.selected_group() else {
        return;
    };
    // part | lag | trend | committed | high wm | member; offsets left out when narrow.
    let full = area.width >= 56;
    let rows = g.partitions.iter().map(|p| {
        let trend = v
            .partition_rate(&g.group, p.partition)
            .map_or(Trend::Unknown, |r| r.trend());
        let word = match trend {
            Trend::Growing => "▲ growing",
            Trend::Draining => "▼ draining",
            Trend::Steady => "= steady",
            Trend::Unknown => "…",
        };
        let mut cells = vec![
            Cell::from(format!("{:>4}", p.partition)),
            Cell::from(format!("{:>8}", p.lag())),
            Cell::from(word).style(trend_style(trend)),
        ];
        if full {
            cells.push(Cell::from(format!(
                "{:>10}",
                p.committed.map_or("-".to_string(), |c| c.to_string())
            )));
            cells.push(Cell::from(format!("{:>10}", p.high_watermark)));
        }
        cells.push(Cell::from(p.member.clone().unwrap_or_else(|| "-".into())));
        Row::new(cells)
    });
    let mut widths = vec![
        Constraint::Length(4),
        Constraint::Length(8),
        Constraint::Length(10),
    ];
    let mut header = vec![
        format!("{:>4}", "part"),
        format!("{:>8}", "lag"),
        "trend".to_string(),
    ];
    if full {
        widths.extend([Constraint::Length(10), Constraint::Length(10)]);
        header.extend([format!("{:>10}", "committed"), format!("{:>10}", "high wm")]);
    }
    widths.push(Constraint::Min(6));
    header.push("member".to_string());
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(Style::default().add_modifier(Modifier::BOLD)));
    f.render_widget(table, area);
}

#[cfg(test)]
mod tests;
