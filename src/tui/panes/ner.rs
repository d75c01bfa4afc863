//! NER pane: which backend (a spaCy service, or the built-in rules, said plainly) and its
//! health (requests/s, p50 latency, errors), the latest tweets with their entities coloured
//! by label, counts per label, and the top entities per label over the last minutes.
//! Everything comes from the `ner` stage's published status (`app.ner`), never from I/O here.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use crate::nlp::entity::Entity;
use crate::stage::ner::status::{LatestTweet, NerStatus};
use crate::tui::app::App;
use crate::tui::format;
use crate::tui::ui::pane_block;

/// A status older than this (while the stage says it runs) is shown as stale.
const STALE_MS: i64 = 5_000;

/// The colour of an entity label (spaCy's labels, then the rules tagger's own).
pub fn label_color(label: &str) -> Color {
    match label {
        "PERSON" => Color::Yellow,
        "ORG" => Color::Cyan,
        "GPE" | "LOC" | "FAC" => Color::Green,
        "NORP" => Color::LightRed,
        "DATE" | "TIME" => Color::Magenta,
        "MONEY" | "PERCENT" | "QUANTITY" => Color::LightGreen,
        "CARDINAL" | "ORDINAL" => Color::Blue,
        "PRODUCT" | "WORK_OF_ART" => Color::LightMagenta,
        "EVENT" | "LAW" | "LANGUAGE" => Color::LightYellow,
        "URL" => Color::LightBlue,
        "MENTION" => Color::LightCyan,
        "HASHTAG" => Color::LightGreen,
        other => {
            const PALETTE: [Color; 4] = [Color::Red, Color::LightBlue, Color::Gray, Color::White];
            PALETTE[other.bytes().map(usize::from).sum::<usize>() % PALETTE.len()]
        }
    }
}

fn label_style(label: &str) -> Style {
    Style::default()
        .fg(label_color(label))
        .add_modifier(Modifier::BOLD)
}

/// A tweet's text with each placed entity in its label's colour (overlaps and unplaced
/// entities are listed after the text).
pub fn highlighted(text: &str, entities: &[Entity]) -> Vec<Span<'static>> {
    let chars: Vec<char> = text.chars().collect();
    let mut placed: Vec<&Entity> = entities
        .iter()
        .filter(|e| matches!((e.start, e.end), (Some(s), Some(x)) if s < x && (x as usize) <= chars.len()))
        .collect();
    placed.sort_by_key(|e| e.start);
    let mut spans = Vec::new();
    let mut at = 0usize;
    let mut leftover: Vec<&Entity> = entities
        .iter()
        .filter(|e| !placed.iter().any(|p| std::ptr::eq(*p, *e)))
        .collect();
    for e in placed {
        let (s, x) = (e.start.unwrap_or(0) as usize, e.end.unwrap_or(0) as usize);
        if s < at {
            leftover.push(e);
            continue;
        }
        if s > at {
            spans.push(Span::raw(chars[at..s].iter().collect::<String>()));
        }
        spans.push(Span::styled(
            chars[s..x].iter().collect::<String>(),
            label_style(&e.label),
        ));
        at = x;
    }
    if at < chars.len() {
        spans.push(Span::raw(chars[at..].iter().collect::<String>()));
    }
    for e in leftover {
        spans.push(Span::raw("  "));
        spans.push(Span::styled(
            format!("[{} {}]", e.label, e.text),
            label_style(&e.label),
        ));
    }
    spans
}

fn tweet_line(t: &LatestTweet) -> Line<'static> {
    let mut spans = highlighted(&t.text, &t.entities);
    if let Some(err) = &t.error {
        spans.insert(
            0,
            Span::styled(
                format!("✗ {err} │ "),
                Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
            ),
        );
    }
    crate::tui::format::screen_line(Line::from(spans))
}

fn header_lines(s: &NerStatus, now_ms: i64) -> Vec<Line<'static>> {
    let (backend, backend_style) = if s.is_model {
        (
            s.backend.clone(),
            Style::default()
                .fg(Color::Green)
                .add_modifier(Modifier::BOLD),
        )
    } else {
        (
            "rules (built-in tagger, not a model)".to_string(),
            Style::default()
                .fg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
        )
    };
    let age = s.age(now_ms);
    let (state, state_style) = if !s.running {
        ("stopped".to_string(), Style::default().fg(Color::DarkGray))
    } else if now_ms - s.updated_ms > STALE_MS {
        (
            format!("no update for {}", format::duration(age)),
            Style::default().fg(Color::Red),
        )
    } else if s.healthy {
        (s.health.clone(), Style::default().fg(Color::Green))
    } else {
        (s.health.clone(), Style::default().fg(Color::Red))
    };
    let mut stats = vec![
        Span::raw(format!("{:.1} tweets/s", s.tweets_per_s)),
        Span::raw(format!(" · {} tweets", format::count(s.tweets))),
    ];
    if s.is_model {
        stats.push(Span::raw(format!(" · {:.1} req/s", s.requests_per_s)));
        stats.push(Span::raw(match (s.p50_ms, s.p95_ms) {
            (Some(p50), Some(p95)) => format!(" · p50 {p50:.0} ms · p95 {p95:.0} ms"),
            _ => " · p50 -".to_string(),
        }));
    }
    let err_style = if s.tweet_errors > 0 || s.request_errors > 0 {
        Style::default().fg(Color::Red)
    } else {
        Style::default()
    };
    let errors = if s.is_model {
        format!(
            "errors {} tweets / {} requests · retries {}",
            s.tweet_errors, s.request_errors, s.retries
        )
    } else {
        format!("errors {}", s.tweet_errors)
    };
    let mut more = vec![Span::styled(errors, err_style)];
    more.push(Span::raw(format!(
        // What this run wrote: the Lake pane has the table's totals.
        " · pending {} files · silver +{} files / +{} rows",
        s.pending_files,
        s.silver_files,
        format::count(s.silver_rows)
    )));
    vec![
        Line::from(vec![
            Span::raw("backend "),
            Span::styled(backend, backend_style),
            Span::raw(" · "),
            Span::styled(state, state_style),
        ]),
        Line::from(stats),
        Line::from(more),
    ]
}

fn counts_line(s: &NerStatus) -> Line<'static> {
    let mut spans = vec![Span::raw("labels ")];
    if s.label_counts.is_empty() {
        spans.push(Span::styled(
            "none yet",
            Style::default().fg(Color::DarkGray),
        ));
    }
    for (label, n) in &s.label_counts {
        spans.push(Span::styled(label.clone(), label_style(label)));
        spans.push(Span::raw(format!(" {}  ", format::count(*n))));
    }
    Line::from(spans)
}

fn top_lines(s: &NerStatus) -> Vec<Line<'static>> {
    let mut lines = vec![Line::from(Span::styled(
        format!("top entities, last {} min", s.window_minutes),
        Style::default().add_modifier(Modifier::BOLD),
    ))];
    let pad = s
        .top
        .iter()
        .map(|t| t.label.chars().count())
        .max()
        .unwrap_or(0);
    for t in &s.top {
        let mut spans = vec![
            Span::styled(format!("{:<pad$}", t.label), label_style(&t.label)),
            Span::raw(" "),
        ];
        let list: Vec<String> = t
            .entities
            .iter()
            .map(|(text, n)| format!("{text} ({n})"))
            .collect();
        spans.push(Span::raw(list.join(", ")));
        lines.push(crate::tui::format::screen_line(Line::from(spans)));
    }
    if s.top.is_empty() {
        lines.push(Line::from(Span::styled(
            "none yet",
            Style::default().fg(Color::DarkGray),
        )));
    }
    lines
}

pub fn draw(f: &mut Frame, area: Rect, app: &App, focused: bool) {
    let title = match &app.ner {
        Some(s) if s.is_model => "NER · spacy".to_string(),
        Some(_) => "NER · rules".to_string(),
        None => "NER".to_string(),
    };
    let block = pane_block(title, focused, area.width);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let Some(s) = &app.ner else {
        f.render_widget(
            Paragraph::new("no NER status yet: start the ner stage (Stages pane, or :start ner)")
                .style(Style::default().fg(Color::DarkGray))
                .wrap(Wrap { trim: true }),
            inner,
        );
        return;
    };
    let now_ms = chrono::Utc::now().timestamp_millis();
    let [head, counts, body] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(1),
        Constraint::Min(1),
    ])
    .areas(inner);
    f.render_widget(Paragraph::new(header_lines(s, now_ms)), head);
    f.render_widget(Paragraph::new(counts_line(s)), counts);
    let tweets: Vec<Line> = if s.latest.is_empty() {
        vec![Line::from(Span::styled(
            "no tweets through NER yet",
            Style::default().fg(Color::DarkGray),
        ))]
    } else {
        s.latest.iter().map(tweet_line).collect()
    };
    if body.width >= 90 {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(62), Constraint::Percentage(38)])
                .spacing(2)
                .areas(body);
        f.render_widget(Paragraph::new(tweets), left);
        f.render_widget(Paragraph::new(top_lines(s)), right);
    } else {
        let top = top_lines(s);
        let top_height = (top.len() as u16).min(body.height / 2);
        let [tweets_area, top_area] =
            Layout::vertical([Constraint::Min(1), Constraint::Length(top_height)]).areas(body);
        f.render_widget(Paragraph::new(tweets), tweets_area);
        f.render_widget(Paragraph::new(top), top_area);
    }
}
