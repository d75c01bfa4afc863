//! Label pane: the tweet to label, large, with the model's probability, the labelling
//! functions that fired and the weak label; the keys (label keys from `[learn]`); progress,
//! dev accuracy of the model and of the weak labeller with a sparkline, and the LF summary.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline, Wrap};
use ratatui::Frame;

use crate::config::ABSTAIN;
use crate::learn::dataset::Split;
use crate::learn::lf::POS;
use crate::learn::worker::{LabelSnapshot, QueueItem, WorkerState};
use crate::tui::app::App;
use crate::tui::format::fit;
use crate::tui::label::{LabelView, PendingKind};
use crate::tui::ui::pane_block;

const DIM: Style = Style::new().fg(Color::DarkGray);

fn key(k: &str) -> Span<'static> {
    Span::styled(
        format!(" {k} "),
        Style::default().fg(Color::Black).bg(Color::Yellow),
    )
}

/// `[1] AI  [0] OTHER  [Space] skip ...`: the label keys come from config.
pub fn key_bar(view: &LabelView) -> Line<'static> {
    let mut spans = Vec::new();
    for l in &view.labels {
        spans.push(key(&l.key.to_string()));
        spans.push(Span::styled(
            format!(" {}  ", l.name),
            Style::default().add_modifier(Modifier::BOLD),
        ));
    }
    for (k, d) in [
        ("Space", "skip"),
        ("u", "undo"),
        ("n", "note"),
        ("o", "order"),
        ("t", "split"),
        ("v", "review"),
    ] {
        spans.push(key(k));
        spans.push(Span::raw(format!(" {d}  ")));
    }
    Line::from(spans)
}

fn bar(p: f32, width: usize) -> String {
    let filled = ((p.clamp(0.0, 1.0) * width as f32).round() as usize).min(width);
    format!("{}{}", "█".repeat(filled), "░".repeat(width - filled))
}

fn time_of(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "--".into())
}

fn card(view: &LabelView, item: &QueueItem) -> Vec<Line<'static>> {
    let pos_name = view.label_name(view.positive).to_string();
    let mut lines = vec![crate::tui::format::screen_line(Line::from(vec![
        Span::styled(
            format!("#{} ", item.text_id),
            Style::default().fg(Color::Cyan),
        ),
        Span::styled(format!("{} split · ", item.split), DIM),
        Span::styled(
            format!("@{} ", item.author.as_deref().unwrap_or("?")),
            Style::default().fg(Color::Yellow),
        ),
        Span::styled(time_of(item.created_at), DIM),
        if item.label != ABSTAIN {
            Span::styled(
                format!("  labelled {}", view.label_name(item.label)),
                Style::default().fg(Color::Magenta),
            )
        } else {
            Span::raw("")
        },
    ]))];
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        crate::tui::format::screen_text(&item.text).into_owned(),
        Style::default().add_modifier(Modifier::BOLD),
    ));
    lines.push(Line::raw(""));
    let pcolor = if item.p > 0.5 {
        Color::Green
    } else {
        Color::Blue
    };
    lines.push(Line::from(vec![
        Span::raw(format!("model p({pos_name}) ")),
        Span::styled(
            format!("{:.2} ", item.p),
            Style::default().fg(pcolor).add_modifier(Modifier::BOLD),
        ),
        Span::styled(bar(item.p, 20), Style::default().fg(pcolor)),
        Span::raw("   weak label: "),
        Span::styled(
            if item.weak == ABSTAIN {
                "abstain".to_string()
            } else {
                format!("{} ({:.2})", view.label_name(item.weak), item.weak_p)
            },
            Style::default().fg(Color::Magenta),
        ),
    ]));
    let mut lf = vec![Span::raw("LFs fired: ")];
    if item.fired.is_empty() {
        lf.push(Span::styled("none", DIM));
    }
    for (name, v) in &item.fired {
        let (sign, color) = if *v == POS {
            ("+", Color::Green)
        } else {
            ("-", Color::Red)
        };
        lf.push(Span::styled(
            format!("{name}({sign}) "),
            Style::default().fg(color),
        ));
    }
    lines.push(Line::from(lf));
    if let Some(n) = &view.note {
        lines.push(Line::styled(
            format!("note: {n}"),
            Style::default().fg(Color::Yellow),
        ));
    }
    lines
}

fn progress_lines(view: &LabelView, s: &LabelSnapshot) -> Vec<Line<'static>> {
    let p = &s.progress;
    let split = |sp: Split| {
        let i = Split::ALL.iter().position(|x| *x == sp).unwrap_or(0);
        format!("{} {}/{}", sp, p.per_split[i], p.split_sizes[i])
    };
    let per_label = p
        .per_label
        .iter()
        .map(|(v, n)| format!("{} {n}", view.label_name(*v)))
        .collect::<Vec<_>>()
        .join(" · ");
    let mut out = vec![Line::from(vec![
        Span::styled(
            format!("labelled {} ", s.hand_total),
            Style::default().add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(
            "({} · {} · {} · {}) · {per_label} · remaining {}{}",
            split(Split::Dev),
            split(Split::Test),
            split(Split::Train),
            split(Split::WeakTrain),
            p.remaining,
            if p.skipped > 0 {
                format!(" · skipped {}", p.skipped)
            } else {
                String::new()
            }
        )),
    ])];
    let metric = |name: &str, sc: &crate::learn::model::Scores, color: Color| {
        vec![
            Span::raw(format!("{name} ")),
            Span::styled(
                if sc.n == 0 {
                    "acc -    F1 -   ".to_string()
                } else {
                    format!("acc {:.3} F1 {:.3}", sc.accuracy, sc.f1)
                },
                Style::default().fg(color).add_modifier(Modifier::BOLD),
            ),
        ]
    };
    let mut m = vec![Span::raw(format!("dev (n={}): ", s.model.n))];
    m.extend(metric("model", &s.model, Color::Green));
    m.push(Span::raw("  │  "));
    m.extend(metric("weak labels", &s.weak, Color::Magenta));
    m.push(Span::styled(format!(" (trust {:.2})", s.weak_trust), DIM));
    if s.retraining {
        m.push(Span::styled("  retraining…", DIM));
    }
    out.push(Line::from(m));
    if s.versions.len() > 1 {
        out.push(Line::styled(
            format!(
                "labelled per dataset version: {} · :dataset N switches",
                s.versions_list("")
            ),
            DIM,
        ));
    }
    out
}

fn lf_lines(s: &LabelSnapshot) -> Vec<Line<'static>> {
    let mut lines = crate::learn::lf::summary_lines(&s.lf_summary).into_iter();
    let header = lines.next().unwrap_or_default();
    std::iter::once(Line::styled(header, DIM.add_modifier(Modifier::BOLD)))
        .chain(lines.map(Line::raw))
        .collect()
}

/// The review list (`v`): the last decisions, newest first, the selected one highlighted.
fn draw_review(f: &mut Frame, area: Rect, view: &LabelView, cursor: usize) {
    let s = &view.snapshot;
    let width = area.width as usize;
    let mut lines = vec![Line::styled(
        fit(
            &format!(
                "last {} decisions (newest first) · ↑↓ select · Enter: label it again · v / Esc: close",
                s.review.len()
            ),
            width,
            false,
        ),
        DIM.add_modifier(Modifier::BOLD),
    )];
    let rows = area.height.saturating_sub(1) as usize;
    let first = cursor.saturating_sub(rows.saturating_sub(1));
    for (i, r) in s.review.iter().enumerate().skip(first).take(rows) {
        let at = chrono::DateTime::from_timestamp_millis(r.at_ms)
            .map(|t| {
                t.with_timezone(&chrono::Local)
                    .format("%H:%M:%S")
                    .to_string()
            })
            .unwrap_or_default();
        let text = crate::tui::format::screen_text(&r.item.text);
        let line = format!(
            "#{:<5} {at} {:<8} {:<10} {text}",
            r.seq,
            fit(view.label_name(r.label), 8, false),
            r.item.split.to_string(),
        );
        let style = if i == cursor {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default()
        };
        lines.push(Line::styled(fit(&line, width, false), style));
    }
    f.render_widget(Paragraph::new(lines), area);
}

pub fn draw(f: &mut Frame, area: Rect, app: &App, focused: bool) {
    let view = &app.label;
    let s = &view.snapshot;
    let mut title = "Label".to_string();
    if let Some(v) = s.version {
        title.push_str(&format!(" · v{v} · {} · {}", s.order, s.target.name()));
    }
    if view.review.is_some() {
        title.push_str(" · review");
    }
    if let Some(p) = &view.pending {
        title.push_str(match p.kind {
            PendingKind::Label(_) => " · saving…",
            PendingKind::Undo => " · undoing…",
        });
    }
    let block = pane_block(title, focused, area.width);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let message = match &s.state {
        WorkerState::Starting => Some(("starting the labelling worker…".to_string(), false)),
        WorkerState::NoDataset => Some((
            "No dataset yet. Collect one from the bronze table: :collect new (or s on the collect stage, \
or `ssp-tui dataset collect`), then y. It reads bronze until [learn] collect_size unique \
texts, splits them (test / dev / weak-train / train) and the queue appears here."
                .to_string(),
            false,
        )),
        WorkerState::Loading(v) => Some((format!("loading dataset v{v} and training the model…"), false)),
        WorkerState::Failed(e) => Some((format!("labelling unavailable: {e}"), true)),
        WorkerState::Ready => None,
    };
    if let Some((text, error)) = message {
        f.render_widget(
            Paragraph::new(text)
                .style(if error {
                    Style::default().fg(Color::Red)
                } else {
                    DIM
                })
                .wrap(Wrap { trim: true }),
            inner,
        );
        return;
    }
    if let Some(cursor) = view.review {
        draw_review(f, inner, view, cursor);
        return;
    }
    let mut card_lines = match &view.current {
        Some(item) => card(view, item),
        None => vec![Line::styled(
            if view.pending.is_some() {
                "saving…"
            } else if s.progress.remaining == 0 && s.progress.skipped > 0 {
                "nothing left here but the tweets skipped with Space (they come back after a \
restart); t: another split · v: review your decisions"
            } else if s.progress.remaining == 0 {
                "nothing left to label in this split (t: another split · v: review your decisions)"
            } else {
                "loading the queue…"
            },
            DIM,
        )],
    };
    let status = match (&s.error, &view.status) {
        (Some(e), _) => Some(Line::styled(
            format!("store: {e}"),
            Style::default().fg(Color::Red),
        )),
        (None, Some((t, err))) => Some(Line::styled(
            t.clone(),
            Style::default().fg(if *err { Color::Red } else { Color::Green }),
        )),
        _ => None,
    };
    let progress = progress_lines(view, s);
    let lf = lf_lines(s);
    // Height of the card: its text wrapped to the pane width.
    let width = inner.width.max(1) as usize;
    let card_height: u16 = card_lines
        .iter()
        .map(|l| (l.width().max(1)).div_ceil(width) as u16)
        .sum();
    let compact = inner.height < card_height + 10;
    card_lines.push(key_bar(view));
    if compact {
        let mut lines = card_lines;
        lines.extend(progress);
        if let Some(st) = status {
            lines.push(st);
        }
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
        return;
    }
    let spark_h = 4u16;
    let [card_area, status_area, progress_area, spark_area, lf_area] = Layout::vertical([
        Constraint::Length(card_height + 2),
        Constraint::Length(1),
        Constraint::Length(3 + u16::from(s.versions.len() > 1)),
        Constraint::Length(spark_h),
        Constraint::Min(0),
    ])
    .areas(inner);
    f.render_widget(
        Paragraph::new(card_lines).wrap(Wrap { trim: false }),
        card_area,
    );
    if let Some(st) = status {
        f.render_widget(Paragraph::new(st), status_area);
    }
    f.render_widget(
        Paragraph::new(progress).wrap(Wrap { trim: false }),
        progress_area,
    );
    // 50 % (a coin toss) at the bottom, 100 % at the top: the moves are what matters.
    let data: Vec<u64> = s
        .history
        .iter()
        .map(|p| ((p.model.accuracy - 0.5).max(0.0) * 200.0).round() as u64)
        .collect();
    let [spark_label, spark] =
        Layout::horizontal([Constraint::Length(16), Constraint::Min(1)]).areas(spark_area);
    f.render_widget(
        Paragraph::new(vec![
            Line::styled("model dev acc", DIM),
            Line::styled("(50-100 %)", DIM),
            Line::styled(
                format!("{} labels", s.history.last().map_or(0, |h| h.hand)),
                DIM,
            ),
        ]),
        spark_label,
    );
    let start = data.len().saturating_sub(spark.width as usize);
    f.render_widget(
        Sparkline::default()
            .data(&data[start..])
            .max(100)
            .style(Style::default().fg(Color::Green)),
        spark,
    );
    f.render_widget(Paragraph::new(lf), lf_area);
}
