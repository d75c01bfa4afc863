//! Draws the whole screen from `App` state: header, panes (or the zoomed one), footer, help.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Paragraph};
use ratatui::Frame;

use super::action::PaneId;
use super::app::App;
use super::{keymap, panes};
use crate::stage::StageState;

/// Width the Stages table needs to show every column.
pub const STAGES_MIN_WIDTH: u16 = 84;

/// Below this the layout cannot be drawn sensibly.
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 10;

pub fn draw(f: &mut Frame, app: &mut App) {
    let area = f.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!("terminal too small (need {MIN_WIDTH}x{MIN_HEIGHT})");
        f.render_widget(
            Paragraph::new(msg)
                .style(Style::default().fg(Color::Yellow))
                .wrap(ratatui::widgets::Wrap { trim: true }),
            area,
        );
        return;
    }
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(f, header, app);
    let areas = pane_areas(body, app);
    if app.zoom || !areas.iter().any(|(p, _)| *p == app.focus) {
        app.pane_rects = vec![(app.focus, body)];
        draw_pane(f, body, app, app.focus);
    } else {
        app.pane_rects = areas.clone();
        for (pane, rect) in areas {
            draw_pane(f, rect, app, pane);
        }
    }
    draw_footer(f, footer, app);
    if let Some(name) = app.detail.stage.clone() {
        panes::detail::draw(f, body, app, &name);
    }
    if app.help {
        let label_keys: Vec<(String, String)> = app
            .label
            .labels
            .iter()
            .map(|l| {
                (
                    l.key.to_string(),
                    format!("label {} ({} = {})", l.name, l.name, l.value),
                )
            })
            .collect();
        panes::help::draw_with(f, area, app.help_scroll, &app.keymap, &label_keys);
    }
}

/// Where a pane sits: (row, weight) in the wide layout, and whether the narrow layout shows
/// it (panes left out there are still reachable with Tab: a focused hidden pane is zoomed).
fn placement(pane: PaneId) -> Option<(usize, u16, bool)> {
    Some(match pane {
        PaneId::Stages => (0, 5, true),
        PaneId::Lake => (0, 3, true),
        PaneId::Feed => (1, 6, true),
        PaneId::Logs => (2, 4, true),
        PaneId::Lag => (1, 3, false),
        PaneId::Ner => (2, 5, false),
        PaneId::Trending => (1, 3, false),
        PaneId::Label => (2, 5, false),
        // Full screen only.
        PaneId::Sql | PaneId::Pipeline => return None,
    })
}

/// Panes in up to three rows: the top row as tall as the stage table, the rest shared.
fn pane_areas(body: Rect, app: &App) -> Vec<(PaneId, Rect)> {
    let wide = body.width >= 120;
    let mut rows: [Vec<(PaneId, u16)>; 3] = Default::default();
    for pane in &app.panes {
        let Some((row, weight, narrow)) = placement(*pane) else {
            continue;
        };
        if wide {
            rows[row].push((*pane, weight));
        } else if narrow {
            // Narrow: Stages alone on top, small panes in the middle, the feed below.
            let row = match pane {
                PaneId::Stages => 0,
                PaneId::Feed => 2,
                _ => 1,
            };
            rows[row].push((*pane, 1));
        }
    }
    let stage_rows = app.stages.len() as u16 + 3;
    let heights: Vec<Constraint> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.is_empty())
        .map(|(i, _)| match (i, wide) {
            (0, true) => Constraint::Length(stage_rows.max(8).min(body.height / 2)),
            (0, false) => Constraint::Length(stage_rows.min(body.height / 3)),
            (1, false) => Constraint::Length(8.min(body.height / 3)),
            (2, true) => Constraint::Percentage(35),
            _ => Constraint::Min(3),
        })
        .collect();
    let row_areas = Layout::vertical(heights).split(body);
    let mut out = Vec::new();
    for (row, area) in rows.iter().filter(|r| !r.is_empty()).zip(row_areas.iter()) {
        let total: u32 = row.iter().map(|(_, w)| *w as u32).sum();
        let cols = Layout::horizontal(
            row.iter()
                .map(|(p, w)| match (p, wide) {
                    // The stage table needs its columns; the others share the rest.
                    (PaneId::Stages, true) => Constraint::Min(STAGES_MIN_WIDTH),
                    _ => Constraint::Ratio(*w as u32, total),
                })
                .collect::<Vec<_>>(),
        )
        .split(*area);
        out.extend(row.iter().map(|(p, _)| *p).zip(cols.iter().copied()));
    }
    out
}

/// The bordered block of a pane `width` cells wide; its title always contains the pane's name,
/// and its direct key (`Alt-N`) shows on the right where it does not run into the title.
pub fn pane_block(title: String, focused: bool, width: u16) -> Block<'static> {
    let style = if focused {
        Style::default()
            .fg(Color::Cyan)
            .add_modifier(Modifier::BOLD)
    } else {
        Style::default().fg(Color::DarkGray)
    };
    // Every pane's direct key, on the right of its top border ("Alt-2").
    let key = PaneId::ALL
        .iter()
        .find(|p| title.starts_with(p.title()) && !p.full_screen())
        .map(|p| format!(" Alt-{} ", p.number()))
        // Corners, the title's spaces and a gap of one.
        .filter(|k| Line::from(title.as_str()).width() + k.len() + 5 <= width as usize);
    let mut block = Block::default()
        .borders(Borders::ALL)
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Plain
        })
        .border_style(style)
        .title(Span::styled(format!(" {title} "), style));
    if let Some(key) = key {
        block = block
            .title_top(Line::styled(key, Style::default().fg(Color::DarkGray)).right_aligned());
    }
    block
}

pub fn draw_pane(f: &mut Frame, area: Rect, app: &mut App, pane: PaneId) {
    let focused = app.focus == pane;
    match pane {
        PaneId::Stages => panes::stages::draw(f, area, app, focused),
        PaneId::Feed => panes::feed::draw(f, area, app, focused),
        PaneId::Lake => panes::lake::draw(f, area, app, focused),
        PaneId::Logs => panes::logs::draw(f, area, app, focused),
        PaneId::Lag => panes::lag::draw(f, area, app, focused),
        PaneId::Ner => panes::ner::draw(f, area, app, focused),
        PaneId::Trending => panes::trending::draw(f, area, app, focused),
        PaneId::Label => panes::label::draw(f, area, app, focused),
        PaneId::Sql => panes::sql::draw(f, area, app, focused),
        PaneId::Pipeline => panes::pipeline::draw(f, area, app),
    }
}

fn draw_header(f: &mut Frame, area: Rect, app: &App) {
    let running = app.stages.iter().filter(|s| s.state.is_active()).count();
    // Stages of processes that exited are history: listed, not counted as stages.
    let exited = app
        .stages
        .iter()
        .filter(|s| s.state == StageState::Exited)
        .count();
    let history = match exited {
        0 => String::new(),
        n => format!(" · {n} rows from exited processes"),
    };
    let line = Line::from(vec![
        Span::styled(
            " ssp-tui ",
            Style::default().fg(Color::Black).bg(Color::Cyan),
        ),
        Span::raw(format!(" {} ", app.mode)),
        Span::styled(
            format!("· {:.0} tweets/s ", app.throughput()),
            Style::default().fg(Color::Green),
        ),
        Span::raw(format!(
            "· {running}/{} stages running{history} · feed {} · lake {}",
            app.stages.len() - exited,
            super::format::count(app.feed.received),
            app.lake_root
        )),
    ]);
    f.render_widget(Paragraph::new(line), area);
}

fn draw_footer(f: &mut Frame, area: Rect, app: &mut App) {
    if let Some(input) = &mut app.input {
        let [prompt, rest] = Layout::horizontal([
            Constraint::Length(input.kind.prompt().len() as u16),
            Constraint::Min(1),
        ])
        .areas(area);
        f.render_widget(
            Paragraph::new(input.kind.prompt()).style(Style::default().fg(Color::Yellow)),
            prompt,
        );
        f.render_widget(&input.area, rest);
        return;
    }
    if let Some(m) = &app.message {
        let style = if m.error {
            Style::default().fg(Color::Red)
        } else {
            Style::default().fg(Color::Green)
        };
        f.render_widget(Paragraph::new(m.text.clone()).style(style), area);
        return;
    }
    let mut spans = Vec::new();
    if app.focus == PaneId::Label {
        // The label keys come from config ([learn] keys).
        for l in &app.label.labels {
            spans.push(Span::styled(
                format!(" {} ", l.key),
                Style::default().fg(Color::Black).bg(Color::DarkGray),
            ));
            spans.push(Span::raw(format!(" {}  ", l.name)));
        }
    }
    let hints = keymap::pane_bindings(app.focus)
        .iter()
        .chain(keymap::GLOBAL.iter())
        .filter(|b| b.hint);
    // `?` always shows, at the right end; the hints before it are whole ones that fit.
    let help = Line::from(vec![
        Span::styled(" ? ", Style::default().fg(Color::Black).bg(Color::Cyan)),
        Span::raw(" help "),
    ]);
    let room = usize::from(area.width).saturating_sub(help.width());
    let mut used: usize = spans.iter().map(Span::width).sum();
    let mut seen = Vec::new();
    for b in hints {
        let label = app.keymap.label(b);
        if seen.contains(&label) || b.action == crate::tui::action::Action::ToggleHelp {
            continue;
        }
        let key = Span::styled(
            format!(" {label} "),
            Style::default().fg(Color::Black).bg(Color::DarkGray),
        );
        let desc = Span::raw(format!(" {}  ", b.desc));
        used += key.width() + desc.width();
        if used > room {
            break;
        }
        spans.push(key);
        spans.push(desc);
        seen.push(label);
    }
    let [hints_area, help_area] =
        Layout::horizontal([Constraint::Min(1), Constraint::Length(help.width() as u16)])
            .areas(area);
    f.render_widget(Paragraph::new(Line::from(spans)), hints_area);
    f.render_widget(Paragraph::new(help), help_area);
}

#[cfg(test)]
mod tests {
    use ratatui::buffer::Buffer;
    use ratatui::widgets::Widget as _;

    use super::*;

    fn top_border(title: &str, width: u16) -> String {
        let area = Rect::new(0, 0, width, 3);
        let mut buf = Buffer::empty(area);
        pane_block(title.to_string(), true, width).render(area, &mut buf);
        (0..width).map(|x| buf[(x, 0)].symbol()).collect()
    }

    #[test]
    fn the_direct_key_is_shown_only_where_it_fits_beside_the_title() {
        let title = "Stages · 1 of 11 shown";
        let wide = top_border(title, 60);
        assert!(wide.contains(title) && wide.contains("Alt-1"), "{wide}");
        // 22 cells of title, 7 of key, 5 of corners and gaps.
        let exact = top_border(title, 34);
        assert!(exact.contains(title) && exact.contains("Alt-1"), "{exact}");
        let narrow = top_border(title, 33);
        assert!(
            narrow.contains(title) && !narrow.contains("Alt-"),
            "{narrow}"
        );
    }
}
