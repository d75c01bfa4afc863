//! SQL pane (`Q`): the editor on top, the error (with the position marked) or the result grid
//! below, and a status line: rows, time, sort, live view.

use arrow::util::display::{ArrayFormatter, FormatOptions};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

use crate::tui::app::App;
use crate::tui::format::fit;
use crate::tui::sql::{Grid, SqlFocus, SqlView};
use crate::tui::ui::pane_block;
use unicode_width::UnicodeWidthStr as _;

/// Widest a grid column gets (longer values end in `…`).
const MAX_COL: usize = 40;

pub fn draw(f: &mut Frame, area: Rect, app: &mut App, focused: bool) {
    render(f, area, &mut app.sql, focused);
}

/// Draws from the pane state alone (tests render without an `App`).
pub fn render(f: &mut Frame, area: Rect, view: &mut SqlView, focused: bool) {
    let mut title = "SQL [Q]".to_string();
    if view.watching.is_some() {
        title.push_str(" · live");
    }
    let block = pane_block(title, focused, area.width);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let editor_h = (view.editor.lines().len() as u16 + 2)
        .clamp(3, 10)
        .min(inner.height / 2);
    let error_h = match &view.error {
        Some((e, sql)) if e.pointer(sql).is_some() => 4,
        Some(_) => 2,
        None => 0,
    };
    let [editor, error, grid, status] = Layout::vertical([
        Constraint::Length(editor_h),
        Constraint::Length(error_h),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    let editor_focus = focused && view.focus == SqlFocus::Editor;
    view.editor.set_block(
        Block::default()
            .borders(Borders::ALL)
            .title(if editor_focus {
                " query · F5 / Ctrl-Enter runs · Tab completes · Ctrl-↑↓ history · Ctrl-L clears · Esc → grid "
            } else {
                " query · Enter / i edits "
            })
            .border_style(if editor_focus {
                Style::default().fg(Color::Cyan)
            } else {
                Style::default().fg(Color::DarkGray)
            }),
    );
    view.editor.set_cursor_style(if editor_focus {
        Style::default().add_modifier(Modifier::REVERSED)
    } else {
        Style::default()
    });
    f.render_widget(&view.editor, editor);
    if let Some((e, sql)) = &view.error {
        let red = Style::default().fg(Color::Red);
        let mut lines = vec![Line::styled(format!("error: {}", e.message), red)];
        if let (Some((text, caret)), Some((l, c))) = (e.pointer(sql), e.position) {
            lines.push(Line::styled(format!("line {l}, column {c}:"), red));
            lines.push(Line::raw(text));
            lines.push(Line::styled(caret, red.add_modifier(Modifier::BOLD)));
        }
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), error);
    }
    let grid_focus = focused && view.focus == SqlFocus::Grid;
    match &view.grid {
        Some(g) => draw_grid(f, grid, g, grid_focus),
        None => f.render_widget(
            Paragraph::new(vec![
                Line::raw("Type a query and press F5, e.g."),
                Line::styled(
                    "  select hashtag, count(*) from (select unnest(hashtags) as hashtag from bronze) group by 1 order by 2 desc limit 20",
                    Style::default().fg(Color::Gray),
                ),
                Line::raw(":tables lists the tables, :examples the shipped queries (:example N loads one)."),
            ])
            .wrap(Wrap { trim: false })
            .style(Style::default().fg(Color::DarkGray)),
            grid,
        ),
    }
    f.render_widget(Paragraph::new(status_line(view)), status);
}

fn status_line(view: &SqlView) -> Line<'static> {
    if let Some((_, started)) = view.running {
        return Line::styled(
            format!(
                "running… {:.1} s · Esc cancels",
                started.elapsed().as_secs_f64()
            ),
            Style::default().fg(Color::Yellow),
        );
    }
    if let Some(s) = &view.status {
        return Line::styled(s.clone(), Style::default().fg(Color::Yellow));
    }
    let Some(g) = &view.grid else {
        return Line::raw("");
    };
    let noun = crate::sql::output::rows_noun(g.rows);
    let mut parts = vec![if g.truncated {
        format!("{} {noun} (first {} kept)", g.rows, g.batch.num_rows())
    } else {
        format!("{} {noun}", g.rows)
    }];
    parts.push(format!("{:.1} ms", g.elapsed_ms));
    if let Some((c, desc)) = g.sort {
        parts.push(format!(
            "sorted by {} {}",
            g.batch.schema().field(c).name(),
            if desc { "↓" } else { "↑" }
        ));
    }
    if view.watching.is_some() {
        parts.push(format!(
            "live · updated {:.0} s ago",
            g.at.elapsed().as_secs_f64()
        ));
    }
    parts.push("←→ column · s sort · :export FILE · :watch".into());
    Line::styled(parts.join(" · "), Style::default().fg(Color::DarkGray))
}

/// The grid: the first column frozen, then columns from the selected one on.
fn draw_grid(f: &mut Frame, area: Rect, g: &Grid, focused: bool) {
    let batch = &g.batch;
    let cols = batch.num_columns();
    if cols == 0 || area.height < 2 {
        return;
    }
    let visible_rows = (area.height as usize).saturating_sub(1);
    let first = g.scroll.min(batch.num_rows().saturating_sub(1));
    let last = (first + visible_rows).min(batch.num_rows());
    let opts = FormatOptions::default().with_null("∅");
    let cells = |c: usize| -> Vec<String> {
        let array = batch.column(c);
        let fmt = ArrayFormatter::try_new(array.as_ref(), &opts).ok();
        (first..last)
            .map(|r| {
                fmt.as_ref()
                    .map(|f| f.value(r).to_string())
                    .unwrap_or_default()
                    .replace(['\n', '\r', '\t'], " ")
            })
            .collect()
    };
    let mut order = vec![0];
    order.extend(g.column.max(1)..cols);
    let mut x = area.x;
    let right = area.x + area.width;
    for (n, c) in order.into_iter().enumerate() {
        if x >= right {
            break;
        }
        let values = cells(c);
        let field = batch.schema().field(c).clone();
        let name = field.name().clone();
        let want = values
            .iter()
            .map(|v| v.width())
            .chain([name.width() + 2])
            .max()
            .unwrap_or(1)
            .clamp(3, MAX_COL) as u16;
        // The last column shown may take the rest of the width.
        let last = c + 1 == cols;
        let want = if last {
            values
                .iter()
                .map(|v| v.width())
                .chain([name.width() + 2])
                .max()
                .unwrap_or(1) as u16
        } else {
            want
        };
        let w = want.min(right - x);
        let numeric = field.data_type().is_numeric();
        let selected = c == g.column;
        let mut head = Style::default().add_modifier(Modifier::BOLD);
        if selected && focused {
            head = head.fg(Color::Black).bg(Color::Cyan);
        } else if n == 0 {
            head = head.fg(Color::Cyan);
        }
        let marker = match g.sort {
            Some((s, true)) if s == c => "↓",
            Some((s, false)) if s == c => "↑",
            _ => "",
        };
        let mut lines = vec![Line::styled(
            fit(&format!("{name}{marker}"), w as usize, false),
            head,
        )];
        for v in values {
            let style = if v == "∅" {
                Style::default().fg(Color::DarkGray)
            } else {
                Style::default()
            };
            lines.push(Line::styled(fit(&v, w as usize, numeric), style));
        }
        f.render_widget(Paragraph::new(lines), Rect::new(x, area.y, w, area.height));
        x = x.saturating_add(w + 1);
        if n == 0 && x < right {
            // The frozen column's edge.
            let bar: Vec<Line> = (0..area.height).map(|_| Line::raw("│")).collect();
            f.render_widget(
                Paragraph::new(bar).style(Style::default().fg(Color::DarkGray)),
                Rect::new(x - 1, area.y, 1, area.height),
            );
        }
    }
}
