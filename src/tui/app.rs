//! App state and the one place it changes: `update(Action)`. Keys become actions through the
//! keymap; background data arrives through `refresh` from snapshots (never I/O here).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::KeyEvent;

use super::action::{Action, PaneId};
use super::command::{self, Command, Target};
use super::feed::FeedState;
use super::input::{InputKind, InputLine, InputOutcome};
use super::keymap;
use super::label::LabelView;
use super::lag::LagView;
use super::logs::LogView;
use super::sql::{SqlFocus, SqlKeyOutcome, SqlView};
use crate::lake::LakeStats;
use crate::stage::ner::status::NerStatus;
use crate::stage::{StageStatus, Supervisor};
use crate::tweet::Tweet;

mod control;
mod pointer;

use control::remote_status;

/// The stage that makes dataset versions (started only on an explicit yes).
const COLLECT: &str = "collect";

/// How long a status message stays in the footer.
const MESSAGE_FOR: Duration = Duration::from_secs(6);

pub struct Message {
    pub text: String,
    pub error: bool,
    pub at: Instant,
}

pub struct App {
    sup: Arc<Supervisor>,
    pub panes: Vec<PaneId>,
    pub focus: PaneId,
    pub zoom: bool,
    pub help: bool,
    /// Lines the help overlay is scrolled by.
    pub help_scroll: u16,
    pub input: Option<InputLine>,
    pub stages: Vec<StageStatus>,
    pub selected: usize,
    pub feed: FeedState,
    pub lake: Option<LakeStats>,
    pub logs: LogView,
    pub lag: LagView,
    /// The `ner` stage's latest published status (NER pane).
    pub ner: Option<NerStatus>,
    /// The top hashtags read from the store (Trending pane).
    pub trending: Option<crate::trending::TrendingView>,
    /// Trending pane shows the sliding window (else all-time counts).
    pub trending_window: bool,
    /// Label pane: the tweet to label, the queue behind it, the label in flight.
    pub label: LabelView,
    /// The `classify` stage's recent predictions (Feed pane), by tweet id.
    pub predictions: Arc<crate::learn::predictions::Predictions>,
    pub message: Option<Message>,
    /// Stages of other processes (status through Kafka or the lake), when published.
    pub remote: Option<Arc<crate::remote::RemoteView>>,
    /// A start waiting for an answer: the stage, and its stopped dependencies.
    pub pending_start: Option<(String, Vec<String>)>,
    /// `collect` waiting for a yes: it makes a new dataset version.
    pub pending_collect: bool,
    /// `X` waiting for a yes: every stage stops.
    pub pending_stop_all: bool,
    /// `q` waiting for a yes: messages are not delivered to the broker yet.
    pub pending_quit: bool,
    /// SQL pane (`Q`): editor, result grid, live view.
    pub sql: SqlView,
    /// A stage's page (`Enter` on Stages), over the panes while open.
    pub detail: super::detail::DetailView,
    /// Text for the terminal's clipboard; the event loop sends it (OSC 52) after a draw.
    pub clipboard: Option<String>,
    /// The key table with `[keys]` applied.
    pub keymap: keymap::Keymap,
    /// Where each pane was drawn last (for mouse clicks), and the Stages table's first row.
    pub pane_rects: Vec<(PaneId, ratatui::layout::Rect)>,
    pub stages_offset: std::cell::Cell<usize>,
    /// The pane to return to when the SQL pane is left.
    prev_focus: PaneId,
    pub quit: bool,
    /// "bus: embedded · store: embedded".
    pub mode: String,
    /// What each stage reads and writes (the pipeline screen).
    pub shape: super::pipeline::Shape,
    pub lake_root: String,
}

impl App {
    pub fn new(sup: Arc<Supervisor>) -> App {
        let s = &sup.pipeline().settings;
        let mode = format!("bus: {} · store: {}", s.pipeline.bus, s.pipeline.store);
        let shape = super::pipeline::Shape::of(s);
        let lake_root = s.lake.root.display().to_string();
        let label = LabelView::new(&s.learn);
        let predictions = crate::learn::predictions::for_lake(&s.lake.root);
        let sql = SqlView::new(&s.lake.root);
        // Checked before the terminal is taken (`tui::check_keys`): a bad `[keys]` never
        // gets here.
        let label_keys: Vec<char> = s.learn.labels.iter().map(|l| l.key).collect();
        let keymap = keymap::Keymap::new(&s.keys, &label_keys).unwrap_or_default();
        let env: Vec<(String, String)> = std::env::vars().collect();
        let detail = super::detail::DetailView::new(s, &env);
        let mut app = App {
            stages: sup.snapshot(),
            sup,
            // The SQL pane is a screen of its own (Q), not in the Tab cycle.
            panes: PaneId::ALL
                .into_iter()
                .filter(|p| !p.full_screen())
                .collect(),
            focus: PaneId::Stages,
            zoom: false,
            help: false,
            help_scroll: 0,
            input: None,
            selected: 0,
            feed: FeedState::default(),
            lake: None,
            logs: LogView::default(),
            lag: LagView::default(),
            ner: None,
            trending: None,
            trending_window: false,
            label,
            predictions,
            detail,
            clipboard: None,
            keymap,
            pane_rects: Vec::new(),
            stages_offset: std::cell::Cell::new(0),
            message: None,
            pending_start: None,
            pending_collect: false,
            pending_stop_all: false,
            pending_quit: false,
            sql,
            prev_focus: PaneId::Stages,
            remote: None,
            quit: false,
            mode,
            shape,
            lake_root,
        };
        if let Some(first) = app.stages.first() {
            app.logs.show(&first.name.clone());
        }
        app.refresh_logs();
        app
    }

    pub fn supervisor(&self) -> &Arc<Supervisor> {
        &self.sup
    }

    pub fn selected_stage(&self) -> Option<&str> {
        self.stages.get(self.selected).map(|s| s.name.as_str())
    }

    fn say(&mut self, text: impl Into<String>, error: bool) {
        self.message = Some(Message {
            text: text.into(),
            error,
            at: Instant::now(),
        });
    }

    /// A key press: to the input line when one is open, else through the keymap.
    pub fn handle_key(&mut self, key: KeyEvent) {
        if std::mem::take(&mut self.pending_quit) {
            match key.code {
                crossterm::event::KeyCode::Char('y') => self.quit = true,
                _ => self.say("quit cancelled", false),
            }
            return;
        }
        if std::mem::take(&mut self.pending_stop_all) {
            match key.code {
                crossterm::event::KeyCode::Char('y') => self.stop(Target::All),
                _ => self.say("stop all cancelled: every stage keeps running", false),
            }
            return;
        }
        if std::mem::take(&mut self.pending_collect) {
            use crossterm::event::KeyCode;
            match key.code {
                // Only collect: it reads what the bronze table holds; it starts no source.
                KeyCode::Char('y') | KeyCode::Enter => match self.sup.start_only(COLLECT) {
                    Ok(_) => self.say(
                        "started collect: it reads the bronze table (and waits for more); no source was started",
                        false,
                    ),
                    Err(e) => self.say(e.to_string(), true),
                },
                _ => self.say("collect cancelled: no new dataset version", false),
            }
            return;
        }
        if let Some((name, deps)) = self.pending_start.take() {
            use crossterm::event::KeyCode;
            match key.code {
                KeyCode::Char('y') | KeyCode::Enter => match self.sup.start(&name) {
                    Ok(started) => self.say(format!("started {}", started.join(", ")), false),
                    Err(e) => self.say(e.to_string(), true),
                },
                KeyCode::Char('n') => match self.sup.start_only(&name) {
                    Ok(_) => self.say(
                        format!("started {name} only: it waits for {}", deps.join(", ")),
                        false,
                    ),
                    Err(e) => self.say(e.to_string(), true),
                },
                _ => self.say("start cancelled", false),
            }
            self.refresh_stages();
            return;
        }
        if let Some(input) = &mut self.input {
            let kind = input.kind;
            match input.handle(key) {
                InputOutcome::Editing(text) => {
                    if kind == InputKind::Filter {
                        self.feed.set_filter(Some(text));
                    }
                }
                InputOutcome::Submit(text) => {
                    self.input = None;
                    match kind {
                        InputKind::Filter => self.feed.set_filter(Some(text)),
                        InputKind::Search => self.logs.set_search(Some(text)),
                        InputKind::Command if !text.trim().is_empty() => {
                            self.update(Action::Command(text))
                        }
                        InputKind::Command => {}
                        InputKind::Note => self.label.set_note(text),
                    }
                }
                InputOutcome::Cancel => {
                    self.input = None;
                    match kind {
                        InputKind::Filter => self.feed.set_filter(None),
                        InputKind::Search => self.logs.set_search(None),
                        InputKind::Command | InputKind::Note => {}
                    }
                }
            }
            return;
        }
        if self.detail.stage.is_some() {
            // A stage's page: Esc, q or Enter close it, ↑↓ / PgUp / PgDn scroll.
            use crossterm::event::KeyCode;
            match key.code {
                KeyCode::Esc | KeyCode::Char('q') | KeyCode::Enter => self.detail.close(),
                KeyCode::Char('j') | KeyCode::Down => self.detail.scroll += 1,
                KeyCode::Char('k') | KeyCode::Up => {
                    self.detail.scroll = self.detail.scroll.saturating_sub(1)
                }
                KeyCode::PageDown => self.detail.scroll += 10,
                KeyCode::PageUp => self.detail.scroll = self.detail.scroll.saturating_sub(10),
                KeyCode::Char('?') => self.help = true,
                KeyCode::Char('y') => self.copy(),
                _ => {}
            }
            return;
        }
        if self.help {
            // ?, q or Esc close the overlay, j / k scroll it; other keys are ignored.
            use crossterm::event::KeyCode;
            match key.code {
                KeyCode::Esc | KeyCode::Char('?') | KeyCode::Char('q') => self.help = false,
                KeyCode::Char('j') | KeyCode::Down => self.help_scroll += 1,
                KeyCode::Char('k') | KeyCode::Up => {
                    self.help_scroll = self.help_scroll.saturating_sub(1)
                }
                _ => {}
            }
            return;
        }
        if self.focus == PaneId::Sql {
            if self.sql.focus == SqlFocus::Editor {
                if let SqlKeyOutcome::Say(text, error) = self.sql.editor_key(key) {
                    self.say(text, error);
                }
                return;
            }
            if key.code == crossterm::event::KeyCode::Esc {
                // Esc cancels a running query, else leaves the pane.
                if !self.sql.cancel() {
                    self.focus = self.prev_focus;
                }
                return;
            }
        }
        if self.focus == PaneId::Pipeline && key.code == crossterm::event::KeyCode::Esc {
            self.focus = self.prev_focus;
            return;
        }
        if key.code == crossterm::event::KeyCode::Esc {
            // Esc clears the focused pane's filter or search.
            match self.focus {
                PaneId::Feed => self.feed.set_filter(None),
                PaneId::Logs => self.logs.set_search(None),
                PaneId::Label => self.label.review = None,
                _ => {}
            }
            return;
        }
        if self.focus == PaneId::Label {
            if let Some(action) = keymap::label_key(&self.label.labels, &key) {
                return self.update(action);
            }
        }
        if let Some(action) = self.keymap.lookup(self.focus, &key) {
            self.update(action);
        }
    }

    /// A reply of the SQL worker.
    pub fn sql_reply(&mut self, reply: crate::sql::worker::SqlReply) {
        match reply {
            crate::sql::worker::SqlReply::Message(text, error) => self.say(text, error),
            other => self.sql.on_reply(other),
        }
    }

    /// A reply of the labelling worker (the event loop calls this as soon as it arrives).
    pub fn label_reply(&mut self, reply: crate::learn::worker::LabelReply) {
        self.label.on_reply(reply);
    }

    /// A new snapshot of the labelling worker.
    pub fn label_snapshot(&mut self, snap: Arc<crate::learn::worker::LabelSnapshot>) {
        self.label.on_snapshot(snap);
    }

    fn label_result(&mut self, r: Result<(), String>) {
        if let Err(e) = r {
            self.say(e, true);
        }
    }

    pub fn update(&mut self, action: Action) {
        match action {
            Action::Quit => match crate::bus::kafka::undelivered() {
                0 => self.quit = true,
                n => {
                    self.say(
                        format!("{n} messages are not delivered to the broker yet: quit anyway? y = quit (waits a while for them, then reports what is lost), any other key = stay"),
                        true,
                    );
                    self.pending_quit = true;
                }
            },
            Action::FocusNext => self.cycle_focus(1),
            Action::FocusPrev => self.cycle_focus(-1),
            Action::ToggleZoom => self.zoom = !self.zoom,
            Action::ToggleHelp => {
                self.help = !self.help;
                self.help_scroll = 0;
            }
            Action::Copy => self.copy(),
            Action::OpenCommandLine => self.input = Some(InputLine::new(InputKind::Command, "")),
            Action::OpenFilter => {
                // Opens empty (typing never appends to the old filter); the old one is a hint.
                let current = self.feed.filter().unwrap_or("").to_string();
                self.input = Some(InputLine::with_hint(InputKind::Filter, &current));
            }
            Action::OpenSearch => {
                let current = self.logs.search.clone().unwrap_or_default();
                self.input = Some(InputLine::with_hint(InputKind::Search, &current));
            }
            Action::Up => self.scroll(-1),
            Action::Down => self.scroll(1),
            Action::PageUp => self.scroll(-10),
            Action::PageDown => self.scroll(10),
            Action::Top => match self.focus {
                PaneId::Sql => self.sql.scroll(isize::MIN / 2),
                PaneId::Feed => self.feed.scroll = 0,
                PaneId::Logs => self.logs.scroll = self.logs.lines.len().saturating_sub(1),
                _ => self.selected = 0,
            },
            Action::Bottom => match self.focus {
                PaneId::Sql => self.sql.scroll(isize::MAX / 2),
                _ => {
                    self.logs.scroll = 0;
                    self.logs.hold = false;
                }
            },
            Action::StartSelected => {
                if let Some(n) = self.selected_stage().map(str::to_string) {
                    self.start(Target::Stage(n));
                }
            }
            Action::StopSelected => {
                if let Some(n) = self.selected_stage().map(str::to_string) {
                    self.stop(Target::Stage(n));
                }
            }
            Action::RestartSelected => {
                if let Some(n) = self.selected_stage().map(str::to_string) {
                    self.restart(Target::Stage(n));
                }
            }
            Action::StartAll => self.start(Target::All),
            Action::StopAll => {
                let running = self
                    .sup
                    .snapshot()
                    .iter()
                    .filter(|s| s.state.is_active())
                    .count();
                if running == 0 {
                    self.say("no stage is running", false);
                } else {
                    self.say(
                        format!("stop all {running} running stages (they flush and stop)? y = stop, any other key = keep them"),
                        false,
                    );
                    self.pending_stop_all = true;
                }
            }
            Action::OpenDetail => {
                if let Some(n) = self.selected_stage().map(str::to_string) {
                    self.detail.open(&n);
                }
            }
            Action::OpenLogs => {
                if let Some(n) = self.selected_stage().map(str::to_string) {
                    self.logs.show(&n);
                    self.refresh_logs();
                    self.focus = PaneId::Logs;
                }
            }
            Action::TogglePause => self.feed.toggle_pause(),
            Action::ToggleDetail => self.lag.detail = !self.lag.detail,
            Action::ToggleTrendingWindow => self.trending_window = !self.trending_window,
            Action::NextMatch => self.logs.jump(false),
            Action::PrevMatch => self.logs.jump(true),
            Action::Label(value) => {
                let r = self.label.label(value);
                self.label_result(r);
            }
            Action::SkipTweet => {
                let r = self.label.skip();
                self.label_result(r);
            }
            Action::UndoLabel => {
                let r = self.label.undo();
                self.label_result(r);
            }
            Action::OpenNote => {
                if self.label.current.is_some() {
                    let current = self.label.note.clone().unwrap_or_default();
                    self.input = Some(InputLine::new(InputKind::Note, &current));
                } else {
                    self.say("no tweet to add a note to", true);
                }
            }
            Action::CycleQueueOrder => match self.label.cycle_order() {
                Ok(m) => self.say(m, false),
                Err(e) => self.say(e, true),
            },
            Action::CycleLabelTarget => match self.label.cycle_target() {
                Ok(m) => self.say(m, false),
                Err(e) => self.say(e, true),
            },
            Action::ToggleReview => match self.label.toggle_review() {
                Ok(m) => self.say(m, false),
                Err(e) => self.say(e, true),
            },
            Action::ReviewJump => match self.label.review_jump() {
                Ok(m) => self.say(m, false),
                Err(e) => self.say(e, true),
            },
            Action::OpenSql => self.open_sql(),
            Action::OpenPipeline => self.open_full_screen(PaneId::Pipeline),
            Action::FocusPane(p) => {
                self.focus = p;
                if p == PaneId::Sql {
                    self.open_sql();
                }
            }
            Action::RunSql => {
                self.open_sql();
                if let SqlKeyOutcome::Say(text, error) = self.sql.run_outcome() {
                    self.say(text, error);
                }
            }
            Action::EditSql => self.sql.focus = SqlFocus::Editor,
            Action::SortColumn => {
                if let Some(m) = self.sql.sort_selected() {
                    self.say(m, false);
                }
            }
            Action::MoveColumn(d) => self.sql.move_column(d),
            Action::ToggleWrap => {
                self.logs.wrap = !self.logs.wrap;
                self.logs.hscroll = 0;
                let m = if self.logs.wrap {
                    "logs: long lines wrap"
                } else {
                    "logs: long lines cut (←/→ scroll)"
                };
                self.say(m, false);
            }
            Action::ToggleFollow => {
                self.logs.hold = !self.logs.hold;
                if !self.logs.hold {
                    self.logs.scroll = 0;
                }
                let m = if self.logs.hold {
                    "logs: holding the view (f follows again)"
                } else {
                    "logs: following new lines"
                };
                self.say(m, false);
            }
            Action::ScrollSideways(d) => {
                if self.logs.wrap {
                    self.say("logs wrap (w): nothing to scroll sideways", false);
                } else {
                    self.logs.hscroll = self.logs.hscroll.saturating_add_signed(d);
                }
            }
            Action::Command(line) => match command::parse(&line) {
                Ok(Command::Start(t)) => self.start(t),
                Ok(Command::Stop(t)) => self.stop(t),
                Ok(Command::Restart(t)) => self.restart(t),
                Ok(Command::Quit) => self.quit = true,
                Ok(Command::Sql) => self.open_sql(),
                Ok(Command::Pipeline) => self.open_full_screen(PaneId::Pipeline),
                Ok(Command::CollectNew) => self.start(Target::Stage(COLLECT.into())),
                Ok(Command::Dataset(v)) => {
                    let r = self.label.use_version(v);
                    self.say_result(r);
                }
                Ok(Command::Datasets) => {
                    let r = self.label.versions_line();
                    self.say_result(r);
                }
                Ok(Command::Export(file)) => {
                    let r = self.sql.export(std::path::Path::new(&file));
                    self.say_result(r);
                }
                Ok(Command::Watch) => {
                    let r = self.sql.toggle_watch();
                    self.say_result(r);
                }
                Ok(Command::Tables) => {
                    self.open_sql();
                    self.sql.show_tables();
                }
                Ok(Command::Examples) => {
                    self.open_sql();
                    self.sql.show_examples();
                }
                Ok(Command::Example(which)) => {
                    self.open_sql();
                    let r = self.sql.load_example(&which);
                    self.say_result(r);
                }
                Err(e) => self.say(e, true),
            },
        }
    }

    fn say_result(&mut self, r: Result<String, String>) {
        match r {
            Ok(m) => self.say(m, false),
            Err(e) => self.say(e, true),
        }
    }

    /// Shows the SQL pane (its worker reads the tables the first time).
    fn open_sql(&mut self) {
        self.open_full_screen(PaneId::Sql);
        self.sql.open();
    }

    /// Shows a full-screen pane; `Esc` (or Tab) returns to the pane before it.
    fn open_full_screen(&mut self, pane: PaneId) {
        if !self.focus.full_screen() {
            self.prev_focus = self.focus;
        }
        self.focus = pane;
    }

    fn cycle_focus(&mut self, step: isize) {
        if self.focus.full_screen() {
            self.focus = self.prev_focus;
        }
        let n = self.panes.len() as isize;
        let i = self
            .panes
            .iter()
            .position(|p| *p == self.focus)
            .unwrap_or(0) as isize;
        self.focus = self.panes[((i + step).rem_euclid(n)) as usize];
    }

    /// Stage `name`'s log lines (in memory).
    pub fn stage_log(&self, name: &str) -> Vec<crate::stage::log_buffer::LogLine> {
        self.sup.log(name).map(|l| l.snapshot()).unwrap_or_default()
    }

    fn scroll(&mut self, delta: isize) {
        match self.focus {
            PaneId::Stages => {
                let max = self.stages.len().saturating_sub(1) as isize;
                self.selected = (self.selected as isize + delta).clamp(0, max) as usize;
                if let Some(n) = self.selected_stage().map(str::to_string) {
                    self.logs.show(&n);
                    self.refresh_logs();
                }
            }
            PaneId::Feed => {
                if self.feed.paused() {
                    self.feed.scroll_by(delta);
                } else {
                    self.say("press p to pause the feed, then scroll", false);
                }
            }
            PaneId::Logs => self.logs.scroll_by(delta),
            PaneId::Lag => self.lag.move_selection(delta),
            PaneId::Sql => self.sql.scroll(delta),
            PaneId::Label => self.label.review_move(delta),
            PaneId::Lake | PaneId::Ner | PaneId::Trending | PaneId::Pipeline => {}
        }
    }

    /// Pulls the stage snapshot (this process's stages, then other processes'); true when
    /// it changed.
    pub fn refresh_stages(&mut self) -> bool {
        let mut fresh = self.sup.snapshot();
        if let Some(remote) = self.remote.clone() {
            for (text, ok) in remote.take_outcomes() {
                self.say(text, !ok);
            }
            fresh.extend(remote.stages().into_iter().map(|r| remote_status(&r)));
        }
        let changed = fresh != self.stages;
        // The selection follows its stage when rows come and go (remote processes).
        let selected = self.stages.get(self.selected).map(|s| s.name.clone());
        self.stages = fresh;
        self.selected = selected
            .and_then(|n| self.stages.iter().position(|s| s.name == n))
            .unwrap_or(self.selected)
            .min(self.stages.len().saturating_sub(1));
        changed
    }

    /// Re-reads the shown stage's log buffer if it has new lines; true when it changed.
    pub fn refresh_logs(&mut self) -> bool {
        let Some(name) = self.logs.stage.clone() else {
            return false;
        };
        let Some(buffer) = self.sup.log(&name) else {
            return false;
        };
        if buffer.pushed() == self.logs.pushed {
            return false;
        }
        let before = self.logs.lines.len();
        self.logs.pushed = buffer.pushed();
        self.logs.lines = buffer.snapshot();
        // Keep a scrolled-up (or held) view in place as new lines arrive below it.
        if self.logs.scroll > 0 || self.logs.hold {
            self.logs.scroll += self.logs.lines.len().saturating_sub(before);
        }
        true
    }

    pub fn push_tweets(&mut self, tweets: impl IntoIterator<Item = Tweet>) -> bool {
        let before = self.feed.received;
        for t in tweets {
            self.feed.push(t);
        }
        self.feed.received != before && !self.feed.paused()
    }

    /// Drops an expired footer message; true when it did.
    pub fn expire_message(&mut self) -> bool {
        if self
            .message
            .as_ref()
            .is_some_and(|m| m.at.elapsed() > MESSAGE_FOR)
        {
            self.message = None;
            return true;
        }
        false
    }

    /// Output rate of the source and bronze stages, for the header.
    /// Tweets per second into the pipeline: every source, here or in another process.
    pub fn throughput(&self) -> f64 {
        self.stages
            .iter()
            .filter(|s| s.name == "source" || s.name.starts_with("source@"))
            .filter(|s| s.state.is_active())
            .fold(0.0, |sum, s| sum + s.rate)
    }
}
