//! Trending pane: a horizontal bar chart of the top hashtags (all-time, or the sliding window
//! with `w`), the rate of new tags and the time of the last update, read from the store by a
//! background collector (`trending::watch`).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::store::TopRow;
use crate::trending::TrendingView;
use crate::tui::app::App;
use crate::tui::format;
use crate::tui::ui::pane_block;

pub fn draw(f: &mut Frame, area: Rect, app: &App, focused: bool) {
    render(f, area, app.trending.as_ref(), app.trending_window, focused);
}

/// The pane's title for the mode shown.
pub fn title(view: Option<&TrendingView>, window_mode: bool) -> String {
    if window_mode {
        let w = view.map_or(0, |v| v.window.as_secs());
        format!("Trending · last {}", window_label(w))
    } else {
        "Trending · all time".to_string()
    }
}

fn window_label(secs: u64) -> String {
    match secs {
        0 => "window".into(),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Draws from a view (or its absence), so tests can render without an `App`.
pub fn render(
    f: &mut Frame,
    area: Rect,
    view: Option<&TrendingView>,
    window_mode: bool,
    focused: bool,
) {
    let block = pane_block(title(view, window_mode), focused, area.width);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let Some(view) = view else {
        f.render_widget(
            Paragraph::new("reading the store…").style(Style::default().fg(Color::DarkGray)),
            inner,
        );
        return;
    };
    let footer_rows = 1 + view.error.is_some() as u16;
    let [chart, footer] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(footer_rows)]).areas(inner);
    let rows = if window_mode {
        &view.top.window
    } else {
        &view.top.all_time
    };
    if rows.is_empty() {
        let msg = if window_mode {
            format!(
                "no hashtags in the last {} (w: all time)",
                window_label(view.window.as_secs())
            )
        } else {
            "no hashtags counted yet: the trending stage writes them to the store".to_string()
        };
        f.render_widget(
            Paragraph::new(msg).style(Style::default().fg(Color::DarkGray)),
            chart,
        );
    } else {
        f.render_widget(Paragraph::new(bars(rows, chart.width, chart.height)), chart);
    }
    let mut lines = vec![Line::from(vec![Span::styled(
        status_line(view, footer.width as usize),
        Style::default().fg(Color::Gray),
    )])];
    if let Some(e) = &view.error {
        lines.push(Line::styled(
            format!("store: {e}"),
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        ));
    }
    f.render_widget(Paragraph::new(lines), footer);
}

/// `312 tags · 45.2 tags/s · +0.8 new/s · updated 12:34:56 (3s ago)`, shortened to fit
/// `width` columns (the rates and the time stay longest).
pub fn status_line(v: &TrendingView, width: usize) -> String {
    let (clock, ago) = match v.top.updated_at_ms {
        Some(ms) => {
            let local = chrono::DateTime::from_timestamp_millis(ms)
                .map(|t| {
                    t.with_timezone(&chrono::Local)
                        .format("%H:%M:%S")
                        .to_string()
                })
                .unwrap_or_else(|| "?".into());
            let ago = (v.read_at_ms - ms).max(0) as u64 / 1000;
            (local, format::duration(std::time::Duration::from_secs(ago)))
        }
        None => ("never".into(), String::new()),
    };
    let tags = format::count(v.top.distinct);
    let (rate, new) = (v.tags_per_sec, v.new_tags_per_sec);
    let candidates = [
        format!("{tags} tags · {rate:.1} tags/s · +{new:.1} new/s · updated {clock} ({ago} ago)"),
        format!("{tags} tags · {rate:.1} tags/s · +{new:.1} new/s · updated {clock}"),
        format!("{tags} tags · {rate:.1}/s · +{new:.1} new/s · {clock}"),
        format!("{rate:.1}/s · +{new:.1} new/s · {clock}"),
    ];
    let fits = |s: &String| Span::raw(s.as_str()).width() <= width;
    let pick = if v.top.updated_at_ms.is_none() {
        candidates[1..].iter().find(|s| fits(s))
    } else {
        candidates.iter().find(|s| fits(s))
    };
    pick.unwrap_or(&candidates[3]).clone()
}

const EIGHTHS: [&str; 8] = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];

/// One line per tag (as many as fit): label, bar scaled to the largest count, the count.
fn bars(rows: &[TopRow], width: u16, height: u16) -> Vec<Line<'static>> {
    let rows = &rows[..rows.len().min(height as usize)];
    let max = rows.iter().map(|r| r.count).max().unwrap_or(1).max(1);
    let label_w = rows
        .iter()
        .map(|r| Span::raw(format::screen_text(&r.hashtag)).width())
        .max()
        .unwrap_or(0)
        .min((width as usize * 2 / 5).max(6));
    let count_w = rows
        .iter()
        .map(|r| r.count.to_string().len())
        .max()
        .unwrap_or(1);
    let bar_w = (width as usize)
        .saturating_sub(label_w + count_w + 3)
        .max(1);
    let palette = [Color::Cyan, Color::LightBlue];
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            let label = format::fit(&format::screen_text(&r.hashtag), label_w, false);
            let eighths = (r.count as u128 * bar_w as u128 * 8 / max as u128) as usize;
            let mut bar = "█".repeat(eighths / 8);
            bar.push_str(EIGHTHS[eighths % 8]);
            if bar.is_empty() {
                bar.push('▏');
            }
            Line::from(vec![
                Span::styled(
                    label,
                    Style::default()
                        .fg(Color::White)
                        .add_modifier(Modifier::BOLD),
                ),
                Span::raw(" "),
                Span::styled(bar, Style::default().fg(palette[i % 2])),
                Span::raw(" "),
                Span::styled(r.count.to_string(), Style::default().fg(Color::Yellow)),
            ])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_fit_and_bars_scale() {
        let rows = vec![
            TopRow {
                hashtag: "#a".into(),
                count: 10,
            },
            TopRow {
                hashtag: "#b".into(),
                count: 5,
            },
        ];
        let lines = bars(&rows, 30, 5);
        let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        let full = text[0].matches('█').count();
        let half = text[1].matches('█').count();
        assert!(full >= 2 * half - 1 && full <= 2 * half + 1, "{text:?}");
        assert!(
            text[0].ends_with(" 10") && text[1].ends_with(" 5"),
            "{text:?}"
        );
        assert_eq!(bars(&rows, 30, 1).len(), 1, "as many as fit");
        assert_eq!(window_label(900), "15m");
        assert_eq!(window_label(7200), "2h");
    }
}
