//! Pipeline screen (`P`): one row per stage, from what it reads (with the backlog in front of
//! it) to what it writes, its state and rate; above them the end-to-end latency readout.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use unicode_width::UnicodeWidthStr as _;

use crate::latency::WINDOW_MS;
use crate::tui::app::App;
use crate::tui::format::fit;
use crate::tui::panes::stages::state_color;
use crate::tui::pipeline::{self, Hop, PipelineView};
use crate::tui::ui::pane_block;

const DIM: Style = Style::new().fg(Color::DarkGray);

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let block = pane_block("Pipeline".into(), true, area.width);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let view = pipeline::view(app, &app.shape);
    f.render_widget(Paragraph::new(lines(&view, inner.width)), inner);
}

/// The screen's lines at `width` columns (every line fits: cut with `…`).
pub fn lines(view: &PipelineView, width: u16) -> Vec<Line<'static>> {
    let w = width as usize;
    let mut out = Vec::new();
    let window = WINDOW_MS / 1000;
    out.push(match &view.latency {
        Some(l) => Line::from(vec![
            Span::raw("latency "),
            Span::styled(
                l.text(),
                Style::default()
                    .fg(Color::Yellow)
                    .add_modifier(Modifier::BOLD),
            ),
            Span::styled(
                fit(
                    &format!(
                        "  tweet enters the bus → counted by trending · last {window} s · {} sampled",
                        l.samples
                    ),
                    w.saturating_sub(8 + l.text().width()),
                    false,
                ),
                DIM,
            ),
        ]),
        None => Line::styled(
            fit(
                &format!("latency: no tweet counted by trending in the last {window} s"),
                w,
                false,
            ),
            DIM,
        ),
    });
    if let Some(e) = &view.broker_down {
        out.push(Line::styled(
            fit(&format!("broker DOWN: {e}"), w, false),
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        ));
    }
    out.push(Line::raw(""));
    let cols = Columns::for_width(w, &view.hops);
    out.push(Line::styled(
        cols.header(),
        Style::default().add_modifier(Modifier::BOLD),
    ));
    for hop in &view.hops {
        out.push(cols.row(hop));
    }
    let notes: Vec<&Hop> = view.hops.iter().filter(|h| !h.note.is_empty()).collect();
    if !notes.is_empty() {
        out.push(Line::raw(""));
        for h in notes {
            out.push(Line::from(vec![
                Span::styled(fit(&h.stage, 10, false), DIM),
                Span::raw(fit(&h.note, w.saturating_sub(10), false)),
            ]));
        }
    }
    if !view.others.is_empty() {
        out.push(Line::raw(""));
        let mut spans = vec![Span::styled("other stages: ", DIM)];
        for (name, state) in &view.others {
            spans.push(Span::raw(format!("{name} ")));
            spans.push(Span::styled(
                format!("{}  ", state.label()),
                Style::default().fg(state_color(*state)),
            ));
        }
        out.push(Line::from(spans));
    }
    out.push(Line::raw(""));
    out.push(Line::styled(
        fit(
            "backlog: a bus group's uncommitted messages, or the bronze versions a stage has not handled · rate: output per second, all instances · Esc back",
            w,
            false,
        ),
        DIM,
    ));
    out
}

/// Column widths of the hop table at one screen width.
struct Columns {
    from: usize,
    edge: usize,
    stage: usize,
    state: usize,
    rate: usize,
    to: usize,
}

impl Columns {
    fn for_width(w: usize, hops: &[Hop]) -> Columns {
        let edge = hops
            .iter()
            .map(|h| h.backlog.text().width() + 6)
            .max()
            .unwrap_or(6)
            .clamp(6, 24);
        let (stage, state, rate) = if w >= 100 { (11, 12, 9) } else { (10, 11, 7) };
        let arrow = 4;
        let fixed = edge + stage + state + rate + arrow;
        let left = w.saturating_sub(fixed);
        // What it reads as wide as its longest name, up to half of the rest.
        let longest = hops.iter().map(|h| h.from.width() + 1).max().unwrap_or(6);
        let from = longest.min(left / 2);
        let to = left.saturating_sub(from);
        Columns {
            from,
            edge,
            stage,
            state,
            rate,
            to,
        }
    }

    fn header(&self) -> String {
        format!(
            "{}{}{}{}{}    {}",
            fit("reads", self.from, false),
            fit("  backlog", self.edge, false),
            fit("stage", self.stage, false),
            fit("state", self.state, false),
            fit("rate/s", self.rate, true),
            fit("writes", self.to, false)
        )
    }

    fn row(&self, hop: &Hop) -> Line<'static> {
        let backlog = hop.backlog.text();
        let dashes = self.edge.saturating_sub(backlog.width() + 4);
        let edge = if backlog.is_empty() {
            format!(" {}▶ ", "─".repeat(self.edge.saturating_sub(3)))
        } else {
            format!(" ─{backlog}{}▶ ", "─".repeat(dashes.max(1)))
        };
        let name = match hop.instances {
            0 | 1 => hop.stage.clone(),
            n => format!("{} ×{n}", hop.stage),
        };
        let (state, state_style) = match hop.state {
            Some(s) => (s.label(), Style::default().fg(state_color(s))),
            None => ("not here", DIM),
        };
        let edge_style = if hop.backlog.waiting() {
            Style::default().fg(Color::Yellow)
        } else {
            DIM
        };
        let rate = if hop.state.is_some_and(|s| s.is_active()) {
            format!("{:.0}", hop.rate)
        } else {
            "-".into()
        };
        Line::from(vec![
            Span::raw(fit(&hop.from, self.from, false)),
            Span::styled(fit(&edge, self.edge, false), edge_style),
            Span::styled(
                fit(&name, self.stage.saturating_sub(1), false) + " ",
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::styled(fit(state, self.state, false), state_style),
            Span::raw(fit(&rate, self.rate, true)),
            Span::styled(" ─▶ ", DIM),
            Span::raw(fit(&hop.to, self.to, false)),
        ])
    }
}
