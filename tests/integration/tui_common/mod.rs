//! Helpers shared by the TUI tests (`tui_render`, `tui_keys`, `tui_e2e`): settings on a
//! private temporary lake, a real supervisor + `App`, key events, tweets with known content,
//! and turning a ratatui buffer (or a tmux capture) into text and pane rectangles.
#![allow(dead_code)]

pub mod tmux;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::Terminal;
use ssp_tui::config::Settings;
use ssp_tui::stage::{StageState, Supervisor};
use ssp_tui::tui::app::App;
use ssp_tui::tweet::Tweet;

/// The repository's shipped `config.ini`.
pub fn repo_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config.ini")
}

/// Settings from the repository config with the lake and logs under `tmp`, plus `extra`
/// `SSP__...` overrides.
pub fn settings(tmp: &Path, extra: &[(&str, &str)]) -> Settings {
    let mut env: Vec<(String, String)> = vec![
        (
            "SSP__LAKE__ROOT".into(),
            tmp.join("lake").display().to_string(),
        ),
        (
            "SSP__LOG__DIR".into(),
            tmp.join("logs").display().to_string(),
        ),
        ("SSP__SOURCE__KIND".into(), "synthetic".into()),
        ("SSP__PIPELINE__BUS".into(), "embedded".into()),
        ("SSP__PIPELINE__STORE".into(), "embedded".into()),
        ("SSP__SOURCE__RATE".into(), "500".into()),
    ];
    for (k, v) in extra {
        env.retain(|(key, _)| key != k);
        env.push((k.to_string(), v.to_string()));
    }
    Settings::load_with_env(Some(&repo_config()), &env).expect("test settings load")
}

/// A real supervisor over a temporary lake, and an `App` on it. Call inside a tokio runtime.
pub fn app_on(tmp: &Path, extra: &[(&str, &str)]) -> (Arc<Supervisor>, App) {
    let s = settings(tmp, extra);
    let sup = ssp_tui::pipeline::build_supervisor(&s).expect("build_supervisor");
    let app = App::new(sup.clone());
    (sup, app)
}

/// Polls `check` every 20 ms until it holds or `timeout` passes; returns whether it held.
pub async fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `name` is in `state`; panics with the last state seen otherwise.
pub async fn wait_state(sup: &Supervisor, name: &str, state: StageState, timeout: Duration) {
    let ok = wait_until(timeout, || sup.state(name) == Some(state)).await;
    assert!(
        ok,
        "stage {name} did not reach {state:?} within {timeout:?} (now {:?})",
        sup.state(name)
    );
}

/// Texts of a stage's log lines.
pub fn log_texts(sup: &Supervisor, name: &str) -> Vec<String> {
    sup.log(name)
        .expect("stage has a log")
        .snapshot()
        .into_iter()
        .map(|l| l.text)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

pub fn key(c: char) -> KeyEvent {
    let mods = if c.is_ascii_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    KeyEvent::new(KeyCode::Char(c), mods)
}

pub fn code(code: KeyCode) -> KeyEvent {
    let mods = if code == KeyCode::BackTab {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    KeyEvent::new(code, mods)
}

/// Types `text` one character at a time.
pub fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        app.handle_key(key(c));
    }
}

// ---------------------------------------------------------------------------------------------
// Tweets
// ---------------------------------------------------------------------------------------------

/// A parsed v1.1 tweet with the given author and text (hashtags come from the text).
pub fn tweet(id: u64, author: &str, text: &str) -> Tweet {
    let json = serde_json::json!({
        "id": id,
        "id_str": id.to_string(),
        "created_at": "Sun Apr 05 10:46:44 +0000 2020",
        "text": text,
        "user": {"screen_name": author},
    });
    Tweet::parse(json.to_string().as_bytes()).expect("test tweet parses")
}

/// Tweets from the synthetic generator (as the source stage would produce them).
pub fn synthetic_tweets(seed: u64, n: usize) -> Vec<Tweet> {
    let mut gen = ssp_tui::tweet::SyntheticTweets::new(seed);
    let now = chrono::Utc::now();
    (0..n)
        .map(|_| Tweet::parse(&gen.next_json(now)).expect("synthetic tweet parses"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Screens
// ---------------------------------------------------------------------------------------------

/// One symbol per cell, row by row. Cells hidden behind a wide character hold a space, so a
/// double-width character reads as itself plus a space (the assertions use ASCII text).
pub fn buffer_grid(buf: &Buffer) -> Vec<Vec<String>> {
    let area = buf.area;
    (area.top()..area.bottom())
        .map(|y| {
            (area.left()..area.right())
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect()
        })
        .collect()
}

pub fn buffer_lines(buf: &Buffer) -> Vec<String> {
    buffer_grid(buf).into_iter().map(|r| r.concat()).collect()
}

/// Rough terminal width of a character (no unicode-width here): 0 for joiners and variation
/// selectors, 2 for the usual East Asian wide ranges and emoji, else 1.
fn char_width(c: char) -> usize {
    match c as u32 {
        0x200B..=0x200F | 0xFE00..=0xFE0F | 0x0300..=0x036F => 0,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1F64F
        | 0x1F900..=0x1F9FF
        | 0x20000..=0x3FFFD => 2,
        _ => 1,
    }
}

/// Lines of text (e.g. a tmux capture) as a grid of cells, a wide character taking two
/// (the second one empty) so columns line up with the screen.
pub fn text_grid(lines: &[String]) -> Vec<Vec<String>> {
    lines
        .iter()
        .map(|l| {
            let mut cells: Vec<String> = Vec::new();
            for c in l.chars() {
                match char_width(c) {
                    0 => match cells.last_mut() {
                        Some(last) => last.push(c),
                        None => cells.push(c.to_string()),
                    },
                    2 => {
                        cells.push(c.to_string());
                        cells.push(String::new());
                    }
                    _ => cells.push(c.to_string()),
                }
            }
            cells
        })
        .collect()
}

/// Draws `app` on a fresh `w` x `h` test terminal and returns the buffer.
pub fn render(app: &mut App, w: u16, h: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    terminal
        .draw(|f| ssp_tui::tui::ui::draw(f, app))
        .expect("draw");
    terminal.backend().buffer().clone()
}

pub fn render_lines(app: &mut App, w: u16, h: u16) -> Vec<String> {
    buffer_lines(&render(app, w, h))
}

/// A bordered pane found on screen by its title.
#[derive(Debug, Clone)]
pub struct Pane {
    /// Top-left corner.
    pub x: usize,
    pub y: usize,
    /// Outer size, borders included.
    pub width: usize,
    pub height: usize,
    /// The top border row between the corners (holds the title).
    pub title: String,
    /// Rows inside the borders.
    pub inner: Vec<String>,
    /// Whether the border is the thick (focused) kind.
    pub thick: bool,
}

impl Pane {
    pub fn text(&self) -> String {
        self.inner.join("\n")
    }

    /// The first inner row whose first word (after an optional selection marker) is `word`.
    pub fn row_starting_with(&self, word: &str) -> Option<Vec<String>> {
        self.inner.iter().find_map(|l| {
            let words: Vec<String> = l
                .split_whitespace()
                .filter(|w| *w != "▶")
                .map(str::to_string)
                .collect();
            (words.first().map(String::as_str) == Some(word)).then_some(words)
        })
    }
}

const TOP_LEFT: [&str; 4] = ["┌", "┏", "╭", "╔"];
const TOP_RIGHT: [&str; 4] = ["┐", "┓", "╮", "╗"];
const BOTTOM_LEFT: [&str; 4] = ["└", "┗", "╰", "╚"];

/// Finds the pane whose top border reads `<corner> <title>`; `None` when not on screen.
pub fn find_pane(grid: &[Vec<String>], title: &str) -> Option<Pane> {
    let want: Vec<String> = format!(" {title}").chars().map(|c| c.to_string()).collect();
    for (y, row) in grid.iter().enumerate() {
        for x in 0..row.len() {
            if !TOP_LEFT.contains(&row[x].as_str()) || x + want.len() >= row.len() {
                continue;
            }
            if row[x + 1..x + 1 + want.len()] != want[..] {
                continue;
            }
            let right = (x + 1..row.len()).find(|&i| TOP_RIGHT.contains(&row[i].as_str()))?;
            let bottom = (y + 1..grid.len()).find(|&j| {
                grid[j]
                    .get(x)
                    .is_some_and(|c| BOTTOM_LEFT.contains(&c.as_str()))
            })?;
            let inner = (y + 1..bottom)
                .map(|j| {
                    grid[j]
                        .get(x + 1..right.min(grid[j].len()))
                        .map(|cells| cells.concat())
                        .unwrap_or_default()
                })
                .collect();
            return Some(Pane {
                x,
                y,
                width: right - x + 1,
                height: bottom - y + 1,
                title: row[x + 1..right].concat(),
                inner,
                thick: row[x] == "┏",
            });
        }
    }
    None
}

/// `find_pane`, panicking with the screen when the pane is missing.
pub fn pane(grid: &[Vec<String>], title: &str) -> Pane {
    find_pane(grid, title).unwrap_or_else(|| {
        panic!(
            "no pane titled {title:?} on screen:\n{}",
            grid.iter()
                .map(|r| r.concat())
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

pub fn screen(lines: &[String]) -> String {
    lines.join("\n")
}
