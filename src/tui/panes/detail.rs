//! A stage's page: state, the whole note and last error, dependencies with their states,
//! starts / exits / restarts with reasons, the config it reads, its recent logs.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::stage::StageState;
use crate::tui::app::App;
use crate::tui::format;
use crate::tui::panes::stages::state_color;

const DIM: Style = Style::new().fg(Color::DarkGray);
/// Log lines shown under "recent logs", and run events under "runs".
const RECENT_LOGS: usize = 40;
const RUN_EVENTS: usize = 20;

fn heading(text: &str) -> Line<'static> {
    Line::styled(
        text.to_string(),
        Style::default()
            .fg(Color::Cyan)
            .add_modifier(Modifier::BOLD),
    )
}

/// A log line that marks a run: started, ended (with its reason), restarting, stopped, ...
fn is_run_event(text: &str) -> bool {
    [
        "started",
        "ended:",
        "restarting in",
        "stopped",
        "completed",
        "not restarted",
        "waiting for its dependencies",
    ]
    .iter()
    .any(|p| text.starts_with(p))
}

/// A log line with its local time in front.
fn timed(l: &crate::stage::LogLine) -> Line<'static> {
    Line::from(vec![
        Span::styled(
            l.at.with_timezone(&chrono::Local)
                .format("%H:%M:%S ")
                .to_string(),
            DIM,
        ),
        Span::raw(l.text.clone()),
    ])
}

pub fn lines(app: &App, name: &str) -> Vec<Line<'static>> {
    let Some(s) = app.stages.iter().find(|s| s.name == name) else {
        return vec![Line::raw(format!("no stage {name}"))];
    };
    let mut out = vec![Line::from(vec![
        Span::styled(
            format!("{} ", s.name),
            Style::default().add_modifier(Modifier::BOLD),
        ),
        Span::styled(
            s.state.label().to_string(),
            Style::default().fg(state_color(s.state)),
        ),
        Span::raw(format!(
            " · {} · up {} · in {} · out {} · {:.1}/s · errors {} · restarts {}",
            s.kind,
            s.uptime.map(format::duration).unwrap_or_else(|| "-".into()),
            s.input,
            s.output,
            s.rate,
            s.errors,
            s.restarts
        )),
    ])];
    if let Some(l) = &s.latency {
        out.push(Line::raw(format!(
            "bus -> counted latency {} ({} tweets sampled, last 30 s)",
            l.text(),
            l.samples
        )));
    }
    out.push(Line::raw(""));
    out.push(heading("note"));
    out.push(Line::raw(if s.detail.is_empty() {
        "-".to_string()
    } else {
        s.detail.clone()
    }));
    out.push(heading("last error"));
    out.push(match &s.last_error {
        Some(e) => Line::styled(e.clone(), Style::default().fg(Color::Red)),
        None => Line::styled("none", DIM),
    });
    out.push(heading("depends on"));
    if s.depends_on.is_empty() {
        out.push(Line::styled("no stage", DIM));
    }
    for d in &s.depends_on {
        let state = app
            .stages
            .iter()
            .find(|x| &x.name == d)
            .map(|x| x.state)
            .unwrap_or(StageState::Stopped);
        out.push(Line::from(vec![
            Span::raw(format!("{d}: ")),
            Span::styled(state.label(), Style::default().fg(state_color(state))),
        ]));
    }
    let log = app.stage_log(name);
    out.push(heading("runs (starts, exits with their reasons, restarts)"));
    let runs: Vec<_> = log.iter().filter(|l| is_run_event(&l.text)).collect();
    if runs.is_empty() {
        out.push(Line::styled("none yet", DIM));
    }
    for l in runs.iter().skip(runs.len().saturating_sub(RUN_EVENTS)) {
        out.push(timed(l));
    }
    for (section, cfg) in app.detail.config_of(&s.name, s.kind) {
        out.push(heading(&format!("config [{section}]")));
        if cfg.is_empty() {
            out.push(Line::styled("defaults (nothing set)", DIM));
        }
        out.extend(cfg.into_iter().map(Line::raw));
    }
    out.push(heading("recent logs"));
    if log.is_empty() {
        out.push(Line::styled("none", DIM));
    }
    for l in log.iter().skip(log.len().saturating_sub(RECENT_LOGS)) {
        out.push(timed(l));
    }
    out
}

pub fn draw(f: &mut Frame, area: Rect, app: &App, name: &str) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Thick)
        .title(format!(" Stage {name} · ↑↓ scroll · Esc back "));
    let inner = block.inner(area);
    f.render_widget(Clear, area);
    f.render_widget(block, area);
    f.render_widget(
        Paragraph::new(lines(app, name))
            .wrap(Wrap { trim: false })
            .scroll((app.detail.scroll, 0)),
        inner,
    );
}
