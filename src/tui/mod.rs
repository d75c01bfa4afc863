//! The terminal control centre: one screen, a pane per concern, driven by the keyboard.
//!
//! The event loop never blocks on I/O: stages run on their own tasks, panes read snapshots,
//! and the filesystem / bus are read by background collectors (see `collect`). The screen is
//! redrawn only when something changed, at most every tick.

pub mod action;
pub mod app;
pub mod collect;
pub mod command;
pub mod detail;
pub mod feed;
pub mod format;
pub mod input;
pub mod keymap;
pub mod label;
pub mod lag;
pub mod logs;
pub mod panes;
pub mod pipeline;
pub mod sql;
pub mod ui;

use std::time::{Duration, Instant};

use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::StreamExt;
use ratatui::widgets::Paragraph;
use tokio::signal::unix::{signal, SignalKind};

use crate::config::Settings;
use app::App;
use collect::Collectors;

/// Redraw at most this often (~16 fps), and only when something changed.
const TICK: Duration = Duration::from_millis(60);
/// Stage counters are re-read this often.
const STAGE_REFRESH: Duration = Duration::from_millis(250);
/// How the control centre opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `ssp-tui`: starts the stages of `[tui] autostart`.
    Control,
    /// `ssp-tui attach`: starts nothing, only watches and commands.
    Attach,
}
/// How long quitting may wait for stages to flush.
const SHUTDOWN: Duration = Duration::from_secs(30);

/// Restores the terminal however the loop ends (the panic hook covers panics).
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture);
        ratatui::restore();
    }
}

/// Takes the mouse (clicks, wheel) and gives it back on a panic too (before ratatui's own
/// hook restores the rest of the terminal).
fn capture_mouse() -> std::io::Result<()> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture);
        previous(info);
    }));
    crossterm::execute!(std::io::stdout(), crossterm::event::EnableMouseCapture)
}

pub async fn run(settings: Settings, mode: Mode) -> anyhow::Result<()> {
    let sup = crate::pipeline::build_supervisor(&settings)?;
    let mut app = App::new(sup.clone());
    if mode == Mode::Control {
        for name in &settings.control.autostart {
            if let Err(e) = sup.start(name) {
                tracing::warn!(stage = name, error = %e, "autostart failed");
            }
        }
    }
    let publish_cancel = tokio_util::sync::CancellationToken::new();
    let publisher = start_status(&sup, &mut app, &publish_cancel);
    let stall_watch = sup.spawn_stall_watch();
    let mut collectors = Collectors::spawn(sup.pipeline());
    app.label.connect(collectors.label.commands.clone());
    app.sql.connect(collectors.sql.requests.clone());
    let mut terminal = ratatui::try_init()?;
    let _guard = TerminalGuard;
    if settings.control.mouse {
        capture_mouse()?;
    }
    let result = event_loop(&mut terminal, &mut app, &mut collectors).await;
    if let Some(w) = stall_watch {
        w.abort();
    }
    stop_stages(&sup, &mut terminal).await;
    publish_cancel.cancel();
    if let Some(p) = publisher {
        let _ = tokio::time::timeout(Duration::from_secs(3), p).await;
    }
    // Never a clean exit with a silent loss: name what the broker never acknowledged.
    let undelivered = crate::bus::kafka::undelivered();
    if undelivered > 0 {
        tracing::error!(
            undelivered,
            "exiting with messages never delivered to the broker"
        );
        let lost = format!(
            "{undelivered} messages were not delivered to the broker (waited up to {} s for it)",
            SHUTDOWN.as_secs()
        );
        return Err(match result {
            Err(e) => e.context(lost),
            Ok(()) => anyhow::anyhow!(lost),
        });
    }
    tracing::info!("all stages stopped; bye");
    result
}

/// The OSC 52 sequence that puts `text` on the terminal's clipboard (also over SSH, and
/// through tmux with `set-clipboard on`).
pub fn osc52(text: &str) -> String {
    use base64::Engine as _;
    format!(
        "\x1b]52;c;{}\x07",
        base64::engine::general_purpose::STANDARD.encode(text)
    )
}

/// Stops every stage (bounded by [`SHUTDOWN`]); the screen says meanwhile how many messages
/// the broker has not acknowledged yet and how long quitting still waits for them.
async fn stop_stages(sup: &crate::stage::Supervisor, terminal: &mut ratatui::DefaultTerminal) {
    let deadline = Instant::now() + SHUTDOWN;
    let stop = sup.shutdown(SHUTDOWN);
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        let n = crate::bus::kafka::undelivered();
        let text = if n == 0 {
            "ssp-tui: stopping stages and flushing open lake files…".to_string()
        } else {
            let left = deadline.saturating_duration_since(Instant::now());
            format!(
                "ssp-tui: stopping stages…\n\n{n} messages not delivered to the broker yet: waiting {} s more for it.\nWhat is still undelivered then is reported, and ssp-tui exits with an error.",
                left.as_secs()
            )
        };
        let _ = terminal.draw(|f| f.render_widget(Paragraph::new(text.as_str()), f.area()));
        tokio::select! {
            _ = &mut stop => return,
            _ = tick.tick() => {}
        }
    }
}

/// Publishes this process's stages and shows other processes' (`[status] publish`).
fn start_status(
    sup: &std::sync::Arc<crate::stage::Supervisor>,
    app: &mut App,
    cancel: &tokio_util::sync::CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let control = &sup.pipeline().settings.control;
    if !control.publish {
        return None;
    }
    let (instance, host, pid) = crate::remote::instance_id();
    let channel = match crate::remote::open(&sup.pipeline().settings, &instance) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "stage status is not shared");
            return None;
        }
    };
    app.remote = Some(crate::remote::RemoteView::spawn(
        channel.clone(),
        instance.clone(),
        control.interval,
        control.lost_after,
    ));
    let agent = std::sync::Arc::new(crate::remote::Agent {
        instance,
        host,
        pid,
        channel,
    });
    Some(agent.spawn(sup.clone(), control.interval, cancel.clone()))
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    collectors: &mut Collectors,
) -> anyhow::Result<()> {
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut term = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let mut last_stages = Instant::now();
    let mut frames = 0u64;
    let mut frames_since = Instant::now();
    // How long each frame takes to render and write, for the periodic log line.
    let mut draw_us: Vec<u32> = Vec::new();
    let mut dirty = true;
    loop {
        if dirty {
            let t = Instant::now();
            terminal.draw(|f| ui::draw(f, app))?;
            draw_us.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
            frames += 1;
            dirty = false;
        }
        if let Some(text) = app.clipboard.take() {
            use std::io::Write as _;
            let backend = terminal.backend_mut();
            backend.write_all(osc52(&text).as_bytes())?;
            backend.flush()?;
        }
        if app.quit {
            return Ok(());
        }
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(key))) if key.kind != KeyEventKind::Release => {
                    app.handle_key(key);
                    dirty = true;
                }
                Some(Ok(Event::Resize(..))) => dirty = true,
                Some(Ok(Event::Mouse(m))) => {
                    // Bare moves (some terminals report every one) change nothing.
                    if !matches!(m.kind, crossterm::event::MouseEventKind::Moved) {
                        app.handle_mouse(m);
                        dirty = true;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(()),
            },
            // A label commit moves the Label pane on at once, not at the next tick.
            Some(reply) = collectors.label.replies.recv() => {
                app.label_reply(reply);
                dirty = true;
            }
            Some(reply) = collectors.sql.replies.recv() => {
                app.sql_reply(reply);
                dirty = true;
            }
            _ = tick.tick() => {
                // A running query's clock and a live view's age tick on screen.
                dirty |= app.focus == action::PaneId::Sql
                    && (app.sql.running.is_some() || app.sql.watching.is_some());
                if collectors.label.snapshot.has_changed().unwrap_or(false) {
                    let snapshot = collectors.label.snapshot.borrow_and_update().clone();
                    app.label_snapshot(snapshot);
                    dirty = true;
                }
                if last_stages.elapsed() >= STAGE_REFRESH {
                    dirty |= app.refresh_stages();
                    last_stages = Instant::now();
                }
                dirty |= app.refresh_logs();
                dirty |= app.expire_message();
                if collectors.lag.has_changed().unwrap_or(false) {
                    let snapshot = collectors.lag.borrow_and_update().clone();
                    app.lag.update(snapshot);
                    dirty = true;
                }
                if collectors.ner.has_changed().unwrap_or(false) {
                    app.ner = collectors.ner.borrow_and_update().clone();
                    dirty = true;
                }
                if collectors.lake.has_changed().unwrap_or(false) {
                    app.lake = collectors.lake.borrow_and_update().clone();
                    dirty = true;
                }
                if collectors.trending.has_changed().unwrap_or(false) {
                    app.trending = collectors.trending.borrow_and_update().clone();
                    dirty = true;
                }
                let mut fresh = Vec::new();
                while let Ok(t) = collectors.feed.try_recv() {
                    fresh.push(t);
                }
                dirty |= app.push_tweets(fresh);
                if frames_since.elapsed() >= Duration::from_secs(10) {
                    let secs = frames_since.elapsed().as_secs_f64();
                    draw_us.sort_unstable();
                    let pct = |q: f64| {
                        let i = ((draw_us.len() as f64 * q) as usize).min(draw_us.len().saturating_sub(1));
                        draw_us.get(i).map_or(0.0, |us| *us as f64 / 1000.0)
                    };
                    let size = terminal.size().map(|s| format!("{}x{}", s.width, s.height)).unwrap_or_default();
                    tracing::info!(
                        fps = format!("{:.1}", frames as f64 / secs),
                        frames,
                        size,
                        draw_p50_ms = format!("{:.2}", pct(0.5)),
                        draw_p99_ms = format!("{:.2}", pct(0.99)),
                        "ui redraws"
                    );
                    draw_us.clear();
                    frames = 0;
                    frames_since = Instant::now();
                }
            }
            _ = term.recv() => app.quit = true,
            _ = hangup.recv() => app.quit = true,
        }
    }
}
