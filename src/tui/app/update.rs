//! `update(Action)`: the one place the app's state changes in answer to an action (from a
//! key, the mouse or the command line), with the footer messages it leaves.

use super::{App, COLLECT};
use crate::tui::action::{Action, PaneId};
use crate::tui::command::{self, Command, Target};
use crate::tui::input::{InputKind, InputLine};
use crate::tui::sql::{SqlFocus, SqlKeyOutcome};

impl App {
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
            Action::Back => self.back(),
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
}
