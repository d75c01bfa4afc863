//! Keys through `App::handle_key` against a real supervisor on a temporary lake (embedded bus,
//! synthetic source): stage control, the `:` command line, the feed filter / pause / scroll,
//! help, focus, zoom and quitting.

use crate::tui_common;

use std::path::Path;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ssp_tui::lake::{LakeLayout, LakeLocation, StatsScanner};
use ssp_tui::stage::{StageState, Supervisor};
use ssp_tui::tui::action::PaneId;
use ssp_tui::tui::app::App;
use ssp_tui::tui::input::InputKind;
use tui_common::*;

const T: Duration = Duration::from_secs(10);

fn count(lines: &[String], text: &str) -> usize {
    lines.iter().filter(|l| l.as_str() == text).count()
}

fn message(app: &App) -> (String, bool) {
    let m = app.message.as_ref().expect("a footer message");
    (m.text.clone(), m.error)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s_x_r_start_stop_restart_the_selected_stage() {
    let tmp = tempfile::tempdir().unwrap();
    let (sup, mut app) = app_on(tmp.path(), &[]);
    assert_eq!(app.focus, PaneId::Stages);
    assert_eq!(app.selected_stage(), Some("source"));
    assert_eq!(sup.state("source"), Some(StageState::Stopped));

    app.handle_key(key('s'));
    wait_state(&sup, "source", StageState::Running, T).await;
    assert_eq!(message(&app), ("started source".to_string(), false));
    assert_eq!(
        sup.state("bronze"),
        Some(StageState::Stopped),
        "s starts only the selected stage (and its dependencies)"
    );
    // The app's own table follows.
    assert!(
        wait_until(T, || {
            app.refresh_stages();
            app.stages[0].state == StageState::Running
        })
        .await
    );

    app.handle_key(key('x'));
    wait_state(&sup, "source", StageState::Stopped, T).await;
    assert!(
        message(&app).0.starts_with("stopping source"),
        "{:?}",
        message(&app)
    );
    let logs = log_texts(&sup, "source");
    assert_eq!(count(&logs, "started"), 1, "{logs:?}");
    assert_eq!(count(&logs, "stopped"), 1, "{logs:?}");

    app.handle_key(key('s'));
    wait_state(&sup, "source", StageState::Running, T).await;
    let before = log_texts(&sup, "source");
    assert_eq!(count(&before, "started"), 2, "{before:?}");

    app.handle_key(key('r'));
    assert!(
        message(&app).0.starts_with("restarting source"),
        "{:?}",
        message(&app)
    );
    let restarted = wait_until(T, || {
        let logs = log_texts(&sup, "source");
        count(&logs, "started") == 3 && sup.state("source") == Some(StageState::Running)
    })
    .await;
    let after = log_texts(&sup, "source");
    assert!(restarted, "r did not restart source: {after:?}");
    assert_eq!(
        count(&after, "stopped"),
        2,
        "r goes through a stop first: {after:?}"
    );
    let last_stop = after.iter().rposition(|l| l == "stopped").unwrap();
    let last_start = after.iter().rposition(|l| l == "started").unwrap();
    assert!(
        last_stop < last_start,
        "stopped, then started again: {after:?}"
    );
    sup.shutdown(T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_bronze_also_starts_its_source() {
    let tmp = tempfile::tempdir().unwrap();
    let (sup, mut app) = app_on(tmp.path(), &[]);
    app.handle_key(key('j'));
    assert_eq!(app.selected_stage(), Some("bronze"));
    assert_eq!(
        app.logs.stage.as_deref(),
        Some("bronze"),
        "logs follow the selection"
    );
    // bronze needs source, which is stopped: the TUI asks first; Esc starts nothing.
    app.handle_key(key('s'));
    let (ask, _) = message(&app);
    assert!(
        ask.contains("bronze depends on source") && ask.contains("y = yes"),
        "{ask}"
    );
    app.handle_key(code(KeyCode::Esc));
    assert_eq!(message(&app).0, "start cancelled");
    assert_eq!(sup.state("bronze"), Some(StageState::Stopped));
    assert_eq!(sup.state("source"), Some(StageState::Stopped));
    // y starts both.
    app.handle_key(key('s'));
    app.handle_key(key('y'));
    wait_state(&sup, "bronze", StageState::Running, T).await;
    wait_state(&sup, "source", StageState::Running, T).await;
    assert_eq!(message(&app), ("started source, bronze".to_string(), false));
    app.handle_key(key('k'));
    assert_eq!(app.selected_stage(), Some("source"));
    app.handle_key(key('k'));
    assert_eq!(
        app.selected_stage(),
        Some("source"),
        "selection stops at the top"
    );
    sup.shutdown(T).await;
}

/// Waits until no stage is active and the pipeline stages that ran are `stopped`.
async fn wait_all_stopped(sup: &Supervisor) {
    let ok = wait_until(Duration::from_secs(20), || {
        sup.snapshot().iter().all(|s| !s.state.is_active())
    })
    .await;
    let states: Vec<_> = sup
        .snapshot()
        .iter()
        .map(|s| (s.name.clone(), s.state))
        .collect();
    assert!(ok, "stages still active: {states:?}");
    for n in ["source", "bronze"] {
        assert_eq!(sup.state(n), Some(StageState::Stopped), "{states:?}");
    }
}

/// Every stage was started (its log has `count` "started" events) and the core ones run.
/// Every stage but `collect` (start all never makes a dataset version) started `count` times.
async fn wait_all_started(sup: &Supervisor, count: usize) {
    for n in sup.names().into_iter().filter(|n| n != "collect") {
        let ok = wait_until(T, || {
            log_texts(sup, &n)
                .iter()
                .filter(|l| *l == "started")
                .count()
                >= count
        })
        .await;
        assert!(ok, "{n} was not started: {:?}", log_texts(sup, &n));
    }
    wait_state(sup, "source", StageState::Running, T).await;
    wait_state(sup, "bronze", StageState::Running, T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shift_s_and_shift_x_start_and_stop_all() {
    let tmp = tempfile::tempdir().unwrap();
    let (sup, mut app) = app_on(tmp.path(), &[]);
    let names = sup.names();
    assert!(names.len() >= 2, "{names:?}");

    app.handle_key(key('S'));
    wait_all_started(&sup, 1).await;
    assert!(!message(&app).1, "{:?}", message(&app));
    assert!(
        message(&app).0.contains("not collect"),
        "{:?}",
        message(&app)
    );
    assert!(
        !log_texts(&sup, "collect").iter().any(|l| l == "started"),
        "S never starts collect"
    );

    // From another pane too (S / X are global).
    app.handle_key(code(KeyCode::Tab));
    assert_ne!(app.focus, PaneId::Stages);
    // X asks first: any key but y keeps them running, y stops them.
    app.handle_key(key('X'));
    assert!(
        message(&app).0.contains("? y = stop"),
        "{:?}",
        message(&app)
    );
    app.handle_key(key('n'));
    assert!(message(&app).0.contains("cancelled"), "{:?}", message(&app));
    assert_eq!(sup.state("bronze"), Some(StageState::Running));
    app.handle_key(key('X'));
    app.handle_key(key('y'));
    wait_all_stopped(&sup).await;
    app.handle_key(key('S'));
    wait_all_started(&sup, 2).await;
    sup.shutdown(T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_line_stop_all_stops_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let (sup, mut app) = app_on(tmp.path(), &[]);
    sup.start("bronze").unwrap();
    wait_state(&sup, "bronze", StageState::Running, T).await;
    wait_state(&sup, "source", StageState::Running, T).await;

    app.handle_key(key(':'));
    assert_eq!(app.input.as_ref().map(|i| i.kind), Some(InputKind::Command));
    type_text(&mut app, "stop all");
    assert_eq!(app.input.as_ref().unwrap().text(), "stop all");
    // Keys go to the input line, not the keymap: typing `s` or `q` did nothing else.
    assert!(!app.quit);
    assert_eq!(sup.state("source"), Some(StageState::Running));
    app.handle_key(code(KeyCode::Enter));
    assert!(app.input.is_none(), "Enter closes the command line");
    wait_all_stopped(&sup).await;
    assert!(!message(&app).1, "{:?}", message(&app));

    // `:start bronze` asks about its stopped source too; `y` brings both back.
    app.handle_key(key(':'));
    type_text(&mut app, "start bronze");
    app.handle_key(code(KeyCode::Enter));
    assert!(
        message(&app).0.contains("depends on source"),
        "{:?}",
        message(&app)
    );
    app.handle_key(key('y'));
    wait_state(&sup, "source", StageState::Running, T).await;
    wait_state(&sup, "bronze", StageState::Running, T).await;

    // Esc abandons a command line without running it.
    app.handle_key(key(':'));
    type_text(&mut app, "stop all");
    app.handle_key(code(KeyCode::Esc));
    assert!(app.input.is_none());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sup.state("source"), Some(StageState::Running));
    sup.shutdown(T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_commands_and_stages_show_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (sup, mut app) = app_on(tmp.path(), &[]);
    app.handle_key(key(':'));
    type_text(&mut app, "launch rockets");
    app.handle_key(code(KeyCode::Enter));
    let (text, error) = message(&app);
    assert!(error, "an unknown command is an error: {text:?}");
    assert!(text.contains("unknown command"), "{text:?}");

    app.handle_key(key(':'));
    type_text(&mut app, "start nosuchstage");
    app.handle_key(code(KeyCode::Enter));
    let (text, error) = message(&app);
    assert!(error, "{text:?}");
    assert!(text.contains("nosuchstage"), "{text:?}");
    assert!(sup
        .names()
        .iter()
        .all(|n| sup.state(n) == Some(StageState::Stopped)));
    assert_eq!(
        log_texts(&sup, "source"),
        Vec::<String>::new(),
        "nothing started"
    );

    // A valid command afterwards is not an error.
    app.handle_key(key(':'));
    type_text(&mut app, "start source");
    app.handle_key(code(KeyCode::Enter));
    assert_eq!(message(&app), ("started source".to_string(), false));
    sup.shutdown(T).await;
}

fn feed_tweets() -> Vec<ssp_tui::tweet::Tweet> {
    vec![
        tweet(1, "alice", "first with #AI in caps"),
        tweet(2, "bob", "nothing tagged here"),
        tweet(3, "carol", "lower #ai and #rust"),
        tweet(4, "dave", "only #rust"),
        tweet(5, "erin", "Mixed #Ai case"),
    ]
}

fn ids(app: &App, n: usize) -> Vec<String> {
    app.feed.visible(n).iter().map(|t| t.id.clone()).collect()
}

#[tokio::test]
async fn feed_filter_by_hashtag_and_esc_clears_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (_sup, mut app) = app_on(tmp.path(), &[]);
    app.push_tweets(feed_tweets());
    assert_eq!(ids(&app, 100), ["5", "4", "3", "2", "1"]);

    // `/` is a Feed key: on the Stages pane it opens nothing.
    app.handle_key(key('/'));
    assert!(app.input.is_none());

    app.handle_key(code(KeyCode::Tab));
    assert_eq!(app.focus, PaneId::Feed);
    app.handle_key(key('/'));
    assert_eq!(app.input.as_ref().map(|i| i.kind), Some(InputKind::Filter));
    type_text(&mut app, "#AI");
    // Applied while typing.
    assert_eq!(app.feed.filter(), Some("#AI"));
    assert_eq!(ids(&app, 100), ["5", "3", "1"]);
    for t in app.feed.visible(100) {
        assert!(
            t.hashtags.iter().any(|h| h.eq_ignore_ascii_case("ai")),
            "{t:?}"
        );
    }
    app.handle_key(code(KeyCode::Enter));
    assert!(app.input.is_none());
    assert_eq!(ids(&app, 100), ["5", "3", "1"], "Enter keeps the filter");
    // New tweets are filtered too.
    app.push_tweets([tweet(6, "frank", "no tags"), tweet(7, "gina", "#ai again")]);
    assert_eq!(ids(&app, 100), ["7", "5", "3", "1"]);

    app.handle_key(code(KeyCode::Esc));
    assert_eq!(app.feed.filter(), None);
    assert_eq!(ids(&app, 100).len(), 7);

    // Esc inside the input line cancels and clears too.
    app.handle_key(key('/'));
    type_text(&mut app, "#rust");
    assert_eq!(ids(&app, 100), ["4", "3"]);
    app.handle_key(code(KeyCode::Esc));
    assert!(app.input.is_none());
    assert_eq!(app.feed.filter(), None);
    assert_eq!(ids(&app, 100).len(), 7);

    // A plain word filters text and author, case-insensitively.
    app.handle_key(key('/'));
    type_text(&mut app, "BOB");
    app.handle_key(code(KeyCode::Enter));
    assert_eq!(ids(&app, 100), ["2"]);
}

/// The docs say `#tag` matches a hashtag; `#ai` should not match the longer tag `#AIart`.
#[tokio::test]
async fn feed_hashtag_filter_matches_whole_tags_only() {
    let tmp = tempfile::tempdir().unwrap();
    let (_sup, mut app) = app_on(tmp.path(), &[]);
    app.push_tweets([tweet(1, "alice", "new #AIart drop"), tweet(2, "bob", "#ai")]);
    assert_eq!(app.feed.visible(10)[1].hashtags, ["AIart"]);
    app.feed.set_filter(Some("#ai".into()));
    assert_eq!(ids(&app, 10), ["2"]);
}

#[tokio::test]
async fn p_pauses_and_resumes_the_feed() {
    let tmp = tempfile::tempdir().unwrap();
    let (_sup, mut app) = app_on(tmp.path(), &[]);
    app.push_tweets(feed_tweets());
    app.handle_key(code(KeyCode::Tab));
    app.handle_key(key('p'));
    assert!(app.feed.paused());
    let frozen = ids(&app, 100);
    assert_eq!(frozen, ["5", "4", "3", "2", "1"]);
    let redraw = app.push_tweets(synthetic_tweets(11, 20));
    assert!(!redraw, "no redraw needed for tweets pushed while paused");
    assert_eq!(ids(&app, 100), frozen, "paused: new tweets stay hidden");
    assert_eq!(app.feed.received, 25);

    app.handle_key(key('p'));
    assert!(!app.feed.paused());
    let shown = ids(&app, 100);
    assert_eq!(shown.len(), 25);
    assert_eq!(&shown[20..], &frozen[..], "older tweets below the new ones");
    assert!(app.push_tweets([tweet(99, "zed", "fresh")]));
    assert_eq!(ids(&app, 1), ["99"]);
}

#[tokio::test]
async fn j_k_scroll_the_feed_only_while_paused() {
    let tmp = tempfile::tempdir().unwrap();
    let (_sup, mut app) = app_on(tmp.path(), &[]);
    app.push_tweets(feed_tweets());
    app.handle_key(code(KeyCode::Tab));
    assert_eq!(app.focus, PaneId::Feed);

    app.handle_key(key('j'));
    assert_eq!(app.feed.scroll, 0, "not paused: no scrolling");
    assert_eq!(ids(&app, 1), ["5"]);
    let (text, error) = message(&app);
    assert!(!error && text.contains("pause"), "{text:?}");

    app.handle_key(key('p'));
    app.handle_key(key('j'));
    assert_eq!(app.feed.scroll, 1);
    assert_eq!(ids(&app, 2), ["4", "3"]);
    app.handle_key(code(KeyCode::Down));
    assert_eq!(ids(&app, 1), ["3"]);
    for _ in 0..10 {
        app.handle_key(key('j'));
    }
    assert_eq!(ids(&app, 5), ["1"], "scrolling stops at the oldest tweet");
    app.handle_key(key('k'));
    assert_eq!(ids(&app, 1), ["2"]);
    app.handle_key(key('g'));
    assert_eq!(ids(&app, 1), ["5"], "g jumps back to the newest");

    // Resuming resets the scroll.
    app.handle_key(key('j'));
    app.handle_key(key('p'));
    assert_eq!(app.feed.scroll, 0);
    assert_eq!(ids(&app, 1), ["5"]);
    app.handle_key(key('k'));
    assert_eq!(app.feed.scroll, 0);
}

#[tokio::test]
async fn question_mark_toggles_help_and_esc_closes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (sup, mut app) = app_on(tmp.path(), &[]);
    app.handle_key(key('?'));
    assert!(app.help);
    app.handle_key(key('?'));
    assert!(!app.help);

    app.handle_key(key('?'));
    assert!(app.help);
    // Other keys are swallowed while the overlay is open.
    app.handle_key(key('z'));
    app.handle_key(code(KeyCode::Tab));
    app.handle_key(key('s'));
    assert!(!app.zoom);
    assert_eq!(app.focus, PaneId::Stages);
    assert!(app.help);
    assert_eq!(sup.state("source"), Some(StageState::Stopped));
    app.handle_key(code(KeyCode::Esc));
    assert!(!app.help);

    // q closes the overlay rather than quitting.
    app.handle_key(key('?'));
    app.handle_key(key('q'));
    assert!(!app.help);
    assert!(!app.quit);
}

#[tokio::test]
async fn tab_and_backtab_cycle_focus_through_all_panes() {
    let tmp = tempfile::tempdir().unwrap();
    let (_sup, mut app) = app_on(tmp.path(), &[]);
    // Every pane but the full screens (SQL, Pipeline), which Q / P open and Esc leaves.
    let all: Vec<PaneId> = PaneId::ALL
        .into_iter()
        .filter(|p| !p.full_screen())
        .collect();
    assert_eq!(app.focus, all[0]);
    let mut seen = vec![app.focus];
    for _ in 1..all.len() {
        app.handle_key(code(KeyCode::Tab));
        seen.push(app.focus);
    }
    assert_eq!(seen, all, "Tab visits every pane in order");
    app.handle_key(code(KeyCode::Tab));
    assert_eq!(app.focus, all[0], "and wraps around");

    let mut back = vec![app.focus];
    for _ in 1..all.len() {
        app.handle_key(code(KeyCode::BackTab));
        back.push(app.focus);
    }
    let mut expected = vec![all[0]];
    expected.extend(all[1..].iter().rev());
    assert_eq!(back, expected, "BackTab goes the other way");
    app.handle_key(code(KeyCode::BackTab));
    assert_eq!(app.focus, all[0]);
    // Every pane can be reached, the ones the narrow layout leaves out included.
    for p in [PaneId::Stages, PaneId::Feed, PaneId::Lake, PaneId::Logs] {
        assert!(seen.contains(&p), "{p:?}");
    }
}

#[tokio::test]
async fn z_toggles_zoom_and_enter_opens_the_stage_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let (_sup, mut app) = app_on(tmp.path(), &[]);
    app.handle_key(key('z'));
    assert!(app.zoom);
    app.handle_key(code(KeyCode::Tab));
    assert!(app.zoom, "zoom stays on while changing focus");
    app.handle_key(key('z'));
    assert!(!app.zoom);

    app.focus = PaneId::Stages;
    app.handle_key(key('j'));
    app.handle_key(key('l'));
    assert_eq!(app.focus, PaneId::Logs);
    assert_eq!(app.logs.stage.as_deref(), Some("bronze"));
}

/// Enter on a stage opens its page: the whole error (the Stages row cuts it), its runs with
/// reasons, the config it reads and its logs; Esc goes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enter_opens_the_stage_page_with_everything_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp
        .path()
        .join("a-folder-with-a-rather-long-name-that-no-stages-row-can-show")
        .join("tweets-that-are-not-there.jsonl");
    let missing_s = missing.display().to_string();
    // There when the config is read (it checks), gone when the source opens it.
    std::fs::create_dir_all(missing.parent().unwrap()).unwrap();
    std::fs::write(&missing, "").unwrap();
    let (sup, mut app) = app_on(
        tmp.path(),
        &[
            ("SSP__SOURCE__KIND", "replay"),
            ("SSP__SOURCE__PATH", &missing_s),
        ],
    );
    std::fs::remove_file(&missing).unwrap();
    sup.start("source").unwrap();
    let failed = wait_until(Duration::from_secs(20), || {
        sup.snapshot()
            .iter()
            .any(|s| s.name == "source" && s.last_error.is_some())
    })
    .await;
    assert!(failed, "the source fails on a missing replay file");
    app.refresh_stages();
    app.focus = PaneId::Stages;
    app.selected = 0;
    app.handle_key(code(KeyCode::Enter));
    assert_eq!(app.detail.stage.as_deref(), Some("source"));
    for (w, h) in [(160u16, 48u16), (80, 24)] {
        // Everything on the page, scrolled through: the error whole, even at 80 columns.
        let mut seen = String::new();
        app.detail.scroll = 0;
        for _ in 0..40 {
            let lines = render_lines(&mut app, w, h);
            seen.push_str(&lines.join("\n"));
            app.handle_key(code(KeyCode::PageDown));
        }
        let flat: String = seen.split_whitespace().collect();
        let want: String = missing_s.split_whitespace().collect();
        assert!(
            flat.replace(['┃', '│'], "").contains(&want),
            "the whole path of the error at {w}x{h}"
        );
        for part in [
            "last error",
            "runs (starts",
            "config [source]",
            "recent logs",
        ] {
            assert!(seen.contains(part), "{part} at {w}x{h}");
        }
        assert!(seen.contains("ended:"), "a run ended with its reason");
        assert!(
            !seen.contains("sekrit-token-value"),
            "the token never shows"
        );
    }
    app.handle_key(code(KeyCode::Esc));
    assert_eq!(app.detail.stage, None);
    sup.stop_all();
}

fn bronze_files(lake: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![lake.join("bronze")];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().to_string();
            if p.is_dir() {
                dirs.push(p);
            } else if name.starts_with("part-") && name.ends_with(".parquet") {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q_quits_and_shutdown_stops_everything_and_flushes_bronze() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let (sup, mut app) = app_on(tmp.path(), &[("SSP__LAKE__ROLL_SECONDS", "0.5")]);
    assert!(bronze_files(&lake).is_empty(), "nothing written yet");
    app.handle_key(key('S'));
    wait_all_started(&sup, 1).await;
    // Bronze runs for longer than its roll interval.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sup.state("bronze"), Some(StageState::Running));

    assert!(!app.quit);
    app.handle_key(key('q'));
    assert!(app.quit);
    sup.shutdown(Duration::from_secs(20)).await;
    for s in sup.snapshot() {
        assert!(
            !s.state.is_active(),
            "{} is {:?} after shutdown",
            s.name,
            s.state
        );
        if s.name == "source" || s.name == "bronze" {
            assert_eq!(s.state, StageState::Stopped, "{} after shutdown", s.name);
        }
    }
    let files = bronze_files(&lake);
    assert!(!files.is_empty(), "no bronze file under {}", lake.display());
    let stats = StatsScanner::new(LakeLocation::local(&lake), LakeLayout::new(&lake))
        .scan()
        .await
        .unwrap();
    assert_eq!(stats.bronze.files, files.len() as u64);
    assert!(stats.bronze.rows > 0, "{stats:?}");
    let produced = sup
        .snapshot()
        .into_iter()
        .find(|s| s.name == "source")
        .unwrap()
        .output;
    assert!(
        stats.bronze.rows <= produced,
        "bronze holds {} rows but the source produced only {produced}",
        stats.bronze.rows
    );
}

#[tokio::test]
async fn q_opens_the_sql_screen_and_esc_goes_back() {
    let tmp = tempfile::tempdir().unwrap();
    let (_sup, mut app) = app_on(tmp.path(), &[]);
    app.handle_key(code(KeyCode::Tab));
    let before = app.focus;
    app.handle_key(key('Q'));
    assert_eq!(app.focus, PaneId::Sql);
    // The editor takes letters as text (q does not quit there).
    for c in "select 1".chars() {
        app.handle_key(key(c));
    }
    app.handle_key(key('q'));
    assert!(!app.quit);
    assert_eq!(app.sql.text(), "select 1q");
    // Esc: to the grid, Esc again: back where Q was pressed.
    app.handle_key(code(KeyCode::Esc));
    app.handle_key(code(KeyCode::Esc));
    assert_eq!(app.focus, before);
    // :sql opens it too.
    app.update(ssp_tui::tui::action::Action::Command("sql".into()));
    assert_eq!(app.focus, PaneId::Sql);
}

/// `collect` makes a new dataset version: `:collect new` (or `s` on it) asks first; any key
/// but `y` cancels, `y` starts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collect_starts_only_after_a_yes() {
    let tmp = tempfile::tempdir().unwrap();
    let (sup, mut app) = app_on(tmp.path(), &[]);
    app.update(ssp_tui::tui::action::Action::Command("collect new".into()));
    assert!(
        message(&app).0.contains("NEW dataset version"),
        "{:?}",
        message(&app)
    );
    app.handle_key(key('n'));
    assert!(message(&app).0.contains("cancelled"), "{:?}", message(&app));
    assert_eq!(sup.state("collect"), Some(StageState::Stopped));
    app.update(ssp_tui::tui::action::Action::Command("collect new".into()));
    app.handle_key(key('y'));
    let started = wait_until(T, || {
        sup.state("collect")
            .is_some_and(|s| s != StageState::Stopped)
    })
    .await;
    assert!(
        started,
        "collect started after y: {:?}",
        sup.state("collect")
    );
    sup.shutdown(T).await;
}

/// Every pane has a direct key, Alt-1 ... Alt-9 and Alt-0, shown on its top border (not only
/// Tab).
#[tokio::test]
async fn alt_digits_focus_each_pane_directly() {
    let tmp = tempfile::tempdir().unwrap();
    let (_sup, mut app) = app_on(tmp.path(), &[]);
    for pane in PaneId::ALL {
        let n = pane.number();
        let digit = char::from_digit(n as u32, 10).unwrap();
        app.handle_key(KeyEvent::new(KeyCode::Char(digit), KeyModifiers::ALT));
        assert_eq!(app.focus, pane, "Alt-{n}");
        if pane.full_screen() {
            // A screen of its own: Esc goes back (the SQL editor takes the first Esc).
            app.handle_key(code(KeyCode::Esc));
            app.handle_key(code(KeyCode::Esc));
            assert!(!app.focus.full_screen(), "{pane:?}: Esc goes back");
            continue;
        }
        // Zoomed, the pane's title shows its key.
        app.zoom = true;
        let lines = render_lines(&mut app, 120, 30);
        app.zoom = false;
        assert!(
            lines[1].contains(pane.title()) && lines[1].contains(&format!(" Alt-{n} ")),
            "{pane:?}: {}",
            lines[1]
        );
    }
}
