//! Feed pane: newest tweets (author, time, text) with hashtags and mentions highlighted.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use crate::tui::app::App;
use crate::tui::format::screen_text;
use crate::tui::ui::pane_block;
use crate::tweet::Tweet;

pub fn draw(f: &mut Frame, area: Rect, app: &App, focused: bool) {
    let mut title = "Feed".to_string();
    if app.feed.paused() {
        title.push_str(&format!(
            " [paused · {} new, p resumes]",
            app.feed.new_since_pause()
        ));
    }
    if let Some(filter) = app.feed.filter() {
        title.push_str(&format!(
            " [filter: {filter} · {} match]",
            app.feed.matching_count()
        ));
    }
    let (scored, positive) = app.predictions.counts();
    if scored > 0 {
        title.push_str(&format!(
            " · classify: {positive}/{scored} {}",
            app.label.label_name(app.label.positive)
        ));
    }
    let block = pane_block(title, focused, area.width);
    let inner = block.inner(area);
    let rows = inner.height as usize;
    let tweets = app.feed.visible(rows);
    let lines: Vec<Line> = if tweets.is_empty() {
        vec![Line::styled(
            if app.feed.received == 0 {
                "waiting for tweets… (start the source stage: select it and press s)"
            } else {
                "no tweet matches the filter"
            },
            Style::default().fg(Color::DarkGray),
        )]
    } else {
        tweets
            .into_iter()
            .map(|t| {
                let mut line = tweet_line(t);
                if let Some(p) = app.predictions.get(&t.id) {
                    line.spans.insert(0, prediction_span(app, p));
                }
                line
            })
            .collect()
    };
    f.render_widget(
        Paragraph::new(lines).block(block).wrap(Wrap { trim: true }),
        area,
    );
}

/// `AI 0.93 ` (positive, green) or `OTHER 0.12 ` (dim): the `classify` stage's prediction.
pub fn prediction_span(app: &App, p: crate::learn::predictions::Prediction) -> Span<'static> {
    let (value, style) = if p.positive {
        (
            app.label.positive,
            Style::default()
                .fg(Color::Green)
                .add_modifier(Modifier::BOLD),
        )
    } else {
        (app.label.negative, Style::default().fg(Color::DarkGray))
    };
    Span::styled(
        format!("{} {:.2} ", app.label.label_name(value), p.p),
        style,
    )
}

/// `HH:MM:SS @author text`, with #tags in cyan and @mentions in magenta.
pub fn tweet_line(t: &Tweet) -> Line<'static> {
    let mut spans = vec![
        Span::styled(
            t.created_at
                .map(|c| {
                    // The date too when the tweet is not from today (replays of 2020).
                    if c.date_naive() == chrono::Utc::now().date_naive() {
                        c.format("%H:%M:%S ").to_string()
                    } else {
                        c.format("%Y-%m-%d %H:%M:%S ").to_string()
                    }
                })
                .unwrap_or_else(|| "--:--:-- ".into()),
            Style::default().fg(Color::DarkGray),
        ),
        Span::styled(
            format!("@{} ", screen_text(t.author.as_deref().unwrap_or("?"))),
            Style::default()
                .fg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
        ),
    ];
    for (i, word) in screen_text(&t.text).split(' ').enumerate() {
        if i > 0 {
            spans.push(Span::raw(" "));
        }
        let style = if word.starts_with('#') || word.starts_with('＃') {
            Style::default().fg(Color::Cyan)
        } else if word.starts_with('@') {
            Style::default().fg(Color::Magenta)
        } else {
            Style::default()
        };
        spans.push(Span::styled(word.to_string(), style));
    }
    Line::from(spans)
}
