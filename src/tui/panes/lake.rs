//! Lake pane: per layer the files, rows and bytes of its tables' current snapshots (from the
//! Delta log), the table version, files added in the last minute and the newest file's age;
//! dead letters. The stats come from a background task (`tui::collect`).

use std::time::SystemTime;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Paragraph, Row, Table};
use ratatui::Frame;

use crate::lake::Layer;
use crate::tui::app::App;
use crate::tui::format;
use crate::tui::ui::pane_block;

pub fn draw(f: &mut Frame, area: Rect, app: &App, focused: bool) {
    let block = pane_block("Lake".into(), focused, area.width);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let Some(stats) = &app.lake else {
        f.render_widget(Paragraph::new("scanning…"), inner);
        return;
    };
    let [table_area, dead_area] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(inner);
    let now = SystemTime::now();
    // Columns that fit, most important first; numbers are never cut.
    let all: [(&str, u16); 7] = [
        ("layer", 7),
        ("files", 7),
        ("rows", 8),
        ("bytes", 9),
        ("ver", 7),
        ("f/min", 6),
        ("newest", 7),
    ];
    let mut width = 0;
    let shown = all
        .iter()
        .take_while(|(_, w)| {
            width += w + 1;
            width <= table_area.width + 1
        })
        .count()
        .max(1);
    let rows = Layer::ALL.iter().map(|layer| {
        let l = stats.layer(*layer);
        let age = l
            .newest
            .and_then(|t| now.duration_since(t).ok())
            .map(format::duration)
            .unwrap_or_else(|| "-".into());
        let cells = [
            layer.name().to_string(),
            format::count(l.files),
            format::count(l.rows),
            format::bytes(l.bytes),
            l.version.map_or_else(|| "-".into(), |v| v.to_string()),
            l.files_last_minute.to_string(),
            age,
        ];
        Row::new(cells.into_iter().take(shown).collect::<Vec<_>>())
    });
    let table = Table::new(
        rows,
        all.iter().take(shown).map(|(_, w)| Constraint::Length(*w)),
    )
    .header(
        Row::new(all.iter().take(shown).map(|(h, _)| *h))
            .style(Style::default().add_modifier(Modifier::BOLD)),
    );
    f.render_widget(table, table_area);
    let style = if stats.dead_letter > 0 {
        Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)
    } else {
        Style::default().fg(Color::DarkGray)
    };
    f.render_widget(
        Paragraph::new(format!("dead letters: {}", stats.dead_letter)).style(style),
        dead_area,
    );
}
