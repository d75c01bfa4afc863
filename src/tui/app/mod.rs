//! App state and the one place it changes: `update(Action)`. Keys become actions through the
//! keymap; background data arrives through `refresh` from snapshots (never I/O here).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::action::PaneId;
use super::feed::FeedState;
use super::input::InputLine;
use super::keymap;
use super::label::LabelView;
use super::lag::LagView;
use super::logs::LogView;
use super::sql::SqlView;
use crate::lake::LakeStats;
use crate::stage::ner::status::NerStatus;
use crate::stage::{StageStatus, Supervisor};

mod control;
mod keys;
mod pointer;
mod refresh;
mod update;

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

    /// `back` (Esc): the SQL grid cancels a running query, else a full screen returns to the
    /// pane before it; the Feed, Logs and Label panes drop their filter, search or review.
    fn back(&mut self) {
        match self.focus {
            PaneId::Sql if self.sql.cancel() => {}
            PaneId::Sql | PaneId::Pipeline => self.focus = self.prev_focus,
            PaneId::Feed => self.feed.set_filter(None),
            PaneId::Logs => self.logs.set_search(None),
            PaneId::Label => self.label.review = None,
            _ => {}
        }
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
}
