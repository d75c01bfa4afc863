//! The TUI screen drawn on ratatui's `TestBackend`: layout, header, footer hints, each pane
//! with known data, zoom, the help overlay, and sizes from 0 rows up to 200x60.

use crate::tui_common;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::time::Duration;

use ssp_tui::lake::{LakeStats, LayerStats};
use ssp_tui::stage::{StageState, StageStatus};
use ssp_tui::tui::action::PaneId;
use ssp_tui::tui::app::{App, Message};
use ssp_tui::tui::input::{InputKind, InputLine};
use ssp_tui::tui::keymap;
use tui_common::*;

fn status(name: &str, state: StageState) -> StageStatus {
    StageStatus {
        name: name.to_string(),
        kind: "built-in",
        state,
        uptime: None,
        input: 0,
        output: 0,
        rate: 0.0,
        errors: 0,
        restarts: 0,
        last_error: None,
        detail: String::new(),
        depends_on: Vec::new(),
        latency: None,
        read_version: None,
    }
}

fn grid_of(app: &mut App, w: u16, h: u16) -> Vec<Vec<String>> {
    buffer_grid(&render(app, w, h))
}

fn lines_of(grid: &[Vec<String>]) -> Vec<String> {
    grid.iter().map(|r| r.concat()).collect()
}

/// Header, the four main panes and the focused pane's footer hints.
fn check_whole_screen(w: u16, h: u16) {
    let tmp = tempfile::tempdir().unwrap();
    let (_sup, mut app) = app_on(tmp.path(), &[]);
    assert_eq!(app.focus, PaneId::Stages, "Stages has the focus at start");

    let grid = grid_of(&mut app, w, h);
    let lines = lines_of(&grid);
    let shown = screen(&lines);
    assert_eq!(lines.len(), h as usize);
    assert!(
        lines[0].contains("bus: embedded") && lines[0].contains("store: embedded"),
        "header at {w}x{h}: {:?}",
        lines[0]
    );
    for title in ["Stages", "Feed", "Lake", "Logs"] {
        let p = pane(&grid, title);
        assert!(
            p.x + p.width <= w as usize && p.y + p.height < h as usize,
            "{title} pane fits above the footer at {w}x{h}: {p:?}"
        );
        assert!(p.y >= 1, "{title} pane is below the header");
    }
    // Only the focused pane has the thick border.
    assert!(
        pane(&grid, "Stages").thick,
        "focused Stages pane is highlighted"
    );
    assert!(
        !pane(&grid, "Feed").thick,
        "unfocused Feed pane is not highlighted"
    );
    // The stage table lists every stage by name.
    let stages = pane(&grid, "Stages");
    for name in ["source", "bronze"] {
        let row = stages
            .row_starting_with(name)
            .unwrap_or_else(|| panic!("no {name} row at {w}x{h}:\n{shown}"));
        assert_eq!(row[1], "stopped", "{name} starts stopped: {row:?}");
    }

    let footer = lines.last().unwrap();
    for hint in ["start", "stop", "restart"] {
        assert!(
            footer.contains(hint),
            "Stages footer lacks {hint:?} at {w}x{h}: {footer:?}"
        );
    }
    assert!(!footer.contains("pause"), "Stages footer: {footer:?}");

    app.focus = PaneId::Feed;
    let grid = grid_of(&mut app, w, h);
    let lines = lines_of(&grid);
    let footer = lines.last().unwrap();
    assert!(
        footer.contains("pause"),
        "Feed footer at {w}x{h}: {footer:?}"
    );
    assert!(
        !footer.contains("restart"),
        "Feed footer shows Stages hints: {footer:?}"
    );
    assert!(
        pane(&grid, "Feed").thick,
        "focused Feed pane is highlighted"
    );
    assert!(!pane(&grid, "Stages").thick);
}

#[tokio::test]
async fn whole_screen_80x24() {
    check_whole_screen(80, 24);
}

#[tokio::test]
async fn whole_screen_160x48() {
    check_whole_screen(160, 48);
}

/// A running, a failed (with its last error) and a backing-off stage.
fn three_stages() -> Vec<StageStatus> {
    let mut failed = status("bronze", StageState::Failed);
    failed.last_error = Some("disk full on lake".into());
    failed.errors = 4;
    failed.restarts = 2;
    let mut backing = status("spark", StageState::BackingOff);
    backing.detail = "backing off 2.0s: exit 1".into();
    vec![status("source", StageState::Running), failed, backing]
}

#[tokio::test]
async fn stages_pane_shows_states_and_last_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (_sup, mut app) = app_on(tmp.path(), &[]);
    app.stages = three_stages();

    for (w, h) in [(80, 24), (100, 30)] {
        let grid = grid_of(&mut app, w, h);
        let stages = pane(&grid, "Stages");
        let text = stages.text();
        let source = stages.row_starting_with("source").expect(&text);
        assert_eq!(source[1], "running", "at {w}x{h}:\n{text}");
        let bronze = stages.row_starting_with("bronze").expect(&text);
        assert_eq!(bronze[1], "failed", "at {w}x{h}:\n{text}");
        assert_eq!(
            bronze[6..8],
            ["4", "2"],
            "errors, restarts at {w}x{h}:\n{text}"
        );
        let spark = stages.row_starting_with("spark").expect(&text);
        assert_eq!(spark[1..3], ["backing", "off"], "at {w}x{h}:\n{text}");
    }
    // 100 columns: the narrow layout, Stages across the whole width.
    let grid = grid_of(&mut app, 100, 30);
    let stages = pane(&grid, "Stages");
    let bronze_line = stages.inner.iter().find(|l| l.contains("bronze")).unwrap();
    assert!(
        bronze_line.contains("failed      -      0      0      0      4    2   disk full on lake"),
        "the failed stage's last error: {bronze_line:?}"
    );
    let source_line = stages.inner.iter().find(|l| l.contains("source")).unwrap();
    assert!(!source_line.contains("last error"), "{source_line:?}");
}

/// Stage names, state labels, the last error, lake layer names and counts are not cut
/// short at the usual terminal widths (narrow layout below 120 columns, wide from 120).
#[tokio::test]
async fn stage_and_lake_tables_are_not_truncated_at_common_widths() {
    let tmp = tempfile::tempdir().unwrap();
    let (_sup, mut app) = app_on(tmp.path(), &[]);
    app.stages = three_stages();
    app.lake = Some(LakeStats {
        bronze: layer(12, 3456, 2048),
        silver: layer(5, 789, 512),
        gold: layer(1, 42, 100),
        dead_letter: 0,
    });
    let mut problems = Vec::new();
    for w in [80u16, 100, 120, 140, 160, 200] {
        let grid = grid_of(&mut app, w, 40);
        let stages = pane(&grid, "Stages");
        let line = |name: &str| {
            stages
                .inner
                .iter()
                .find(|l| l.contains(&name[..3]))
                .map(|l| l.trim().to_string())
        };
        for (name, state) in [
            ("source", "running"),
            ("bronze", "failed"),
            ("spark", "backing off"),
        ] {
            let row = stages.row_starting_with(name).map(|r| r.join(" "));
            if !row.is_some_and(|r| r.starts_with(&format!("{name} {state} "))) {
                problems.push(format!(
                    "{w} cols: Stages pane ({} wide), {name} row: {:?}",
                    stages.width,
                    line(name)
                ));
            }
        }
        // From 100 columns up the note column has room for a short error.
        if w >= 100 && !line("bronze").is_some_and(|l| l.contains("disk full on lake")) {
            problems.push(format!(
                "{w} cols: Stages pane ({} wide), last error cut: {:?}",
                stages.width,
                line("bronze")
            ));
        }
        let lake = pane(&grid, "Lake");
        for (name, files, rows) in [
            ("bronze", "12", "3456"),
            ("silver", "5", "789"),
            ("gold", "1", "42"),
        ] {
            let row = lake.row_starting_with(name);
            if row.is_none_or(|r| r.get(1..3) != Some(&[files.to_string(), rows.to_string()][..])) {
                problems.push(format!(
                    "{w} cols: Lake pane ({} wide), {name} row: {:?}",
                    lake.width,
                    lake.inner
                        .iter()
                        .find(|l| l.contains(&name[..3]))
                        .map(|l| l.trim())
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "truncated table cells:\n{}",
        problems.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_pane_from_a_real_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let (sup, mut app) = app_on(tmp.path(), &[]);
    sup.start("source").unwrap();
    wait_state(&sup, "source", StageState::Running, Duration::from_secs(10)).await;
    app.refresh_stages();

    let grid = grid_of(&mut app, 160, 48);
    let stages = pane(&grid, "Stages");
    let text = stages.text();
    assert_eq!(
        stages.row_starting_with("source").expect(&text)[1],
        "running"
    );
    assert_eq!(
        stages.row_starting_with("bronze").expect(&text)[1],
        "stopped"
    );
    let header = &lines_of(&grid)[0];
    let running = format!("1/{} stages running", sup.names().len());
    assert!(header.contains(&running), "header: {header:?}");
    sup.shutdown(Duration::from_secs(10)).await;
}

fn layer(files: u64, rows: u64, bytes: u64) -> LayerStats {
    LayerStats {
        files,
        rows,
        bytes,
        ..Default::default()
    }
}

#[tokio::test]
async fn lake_pane_shows_layers_and_dead_letters() {
    let tmp = tempfile::tempdir().unwrap();
    let (_sup, mut app) = app_on(tmp.path(), &[]);

    let grid = grid_of(&mut app, 80, 24);
    assert!(
        pane(&grid, "Lake").text().contains("scanning"),
        "no stats yet: {}",
        pane(&grid, "Lake").text()
    );

    app.lake = Some(LakeStats {
        bronze: layer(12, 3456, 2048),
        silver: layer(5, 789, 512),
        gold: layer(1, 42, 100),
        dead_letter: 3,
    });
    let (w, h) = (160, 48);
    let grid = grid_of(&mut app, w, h);
    let lake = pane(&grid, "Lake");
    let text = lake.text();
    for (name, files, rows) in [
        ("bronze", "12", "3456"),
        ("silver", "5", "789"),
        ("gold", "1", "42"),
    ] {
        let row = lake
            .row_starting_with(name)
            .unwrap_or_else(|| panic!("no {name} row at {w}x{h}:\n{text}"));
        assert_eq!(row[1], files, "{name} files at {w}x{h}: {row:?}");
        assert_eq!(row[2], rows, "{name} rows at {w}x{h}: {row:?}");
    }
    assert!(text.contains("dead letters: 3"), "at {w}x{h}:\n{text}");
    // The dead-letter line also shows in the small layout (the table columns: see
    // `stage_and_lake_tables_are_not_truncated_at_common_widths`).
    let text = pane(&grid_of(&mut app, 80, 24), "Lake").text();
    assert!(text.contains("dead letters: 3"), "at 80x24:\n{text}");
}

#[tokio::test]
async fn feed_pane_shows_tweets_pause_and_filter() {
    let tmp = tempfile::tempdir().unwrap();
    let (_sup, mut app) = app_on(tmp.path(), &[]);

    let grid = grid_of(&mut app, 80, 24);
    assert!(
        pane(&grid, "Feed").text().contains("waiting for tweets"),
        "{}",
        pane(&grid, "Feed").text()
    );

    app.push_tweets([
        tweet(1001, "alice", "hello from alice #AI"),
        tweet(1002, "bob", "bob talks rust"),
        tweet(1003, "carol", "carol likes #ai too"),
    ]);
    for (w, h) in [(80, 24), (160, 48)] {
        let grid = grid_of(&mut app, w, h);
        let feed = pane(&grid, "Feed");
        let text = feed.text();
        for expected in [
            "@alice hello from alice #AI",
            "@bob bob talks rust",
            "@carol carol likes #ai too",
        ] {
            assert!(text.contains(expected), "{expected:?} at {w}x{h}:\n{text}");
        }
        assert!(!feed.title.contains("[paused"), "{}", feed.title);
        assert!(!feed.title.contains("[filter"), "{}", feed.title);
        // Newest first.
        let at = |s: &str| text.find(s).unwrap();
        assert!(
            at("@carol") < at("@bob") && at("@bob") < at("@alice"),
            "{text}"
        );
    }

    app.feed.toggle_pause();
    let grid = grid_of(&mut app, 80, 24);
    assert!(
        pane(&grid, "Feed").title.contains("[paused · 0 new"),
        "{}",
        pane(&grid, "Feed").title
    );
    app.feed.toggle_pause();

    app.feed.set_filter(Some("#ai".into()));
    let grid = grid_of(&mut app, 80, 24);
    let feed = pane(&grid, "Feed");
    assert!(feed.title.contains("[filter: #ai"), "{}", feed.title);
    assert!(feed.title.contains("2 match"), "{}", feed.title);
    let text = feed.text();
    assert!(text.contains("@alice") && text.contains("@carol"), "{text}");
    assert!(!text.contains("@bob"), "the filter hides bob:\n{text}");

    app.feed.set_filter(Some("#nothing".into()));
    let text = pane(&grid_of(&mut app, 80, 24), "Feed").text();
    assert!(text.contains("no tweet matches"), "{text}");
}

#[tokio::test]
async fn feed_pane_renders_synthetic_tweets() {
    let tmp = tempfile::tempdir().unwrap();
    let (_sup, mut app) = app_on(tmp.path(), &[]);
    let tweets = synthetic_tweets(7, 30);
    let newest = tweets
        .last()
        .unwrap()
        .author
        .clone()
        .expect("synthetic author");
    app.push_tweets(tweets);
    let grid = grid_of(&mut app, 160, 48);
    let text = pane(&grid, "Feed").text();
    assert!(
        text.contains(&format!("@{newest} ")),
        "newest author {newest}:\n{text}"
    );
    assert!(
        lines_of(&grid)[0].contains("feed 30"),
        "{}",
        lines_of(&grid)[0]
    );
}

#[tokio::test]
async fn logs_pane_shows_lines_and_search_matches() {
    let tmp = tempfile::tempdir().unwrap();
    let (sup, mut app) = app_on(tmp.path(), &[]);
    assert_eq!(app.logs.stage.as_deref(), Some("source"));
    let log = sup.log("source").unwrap();
    log.event("alpha needle one");
    log.event("beta plain");
    log.event("gamma NEEDLE two");
    assert!(app.refresh_logs());

    let grid = grid_of(&mut app, 80, 24);
    let logs = pane(&grid, "Logs");
    assert!(logs.title.contains("Logs: source"), "{}", logs.title);
    let text = logs.text();
    for l in ["alpha needle one", "beta plain", "gamma NEEDLE two"] {
        assert!(text.contains(l), "{l:?}:\n{text}");
    }
    assert!(!logs.title.contains("match"), "{}", logs.title);

    app.logs.set_search(Some("needle".into()));
    for (w, h) in [(80, 24), (160, 48)] {
        let logs = pane(&grid_of(&mut app, w, h), "Logs");
        assert!(
            logs.title.contains("[/needle · 2 match]"),
            "at {w}x{h}: {}",
            logs.title
        );
    }
    app.logs.set_search(Some("beta".into()));
    let logs = pane(&grid_of(&mut app, 80, 24), "Logs");
    assert!(logs.title.contains("[/beta · 1 match]"), "{}", logs.title);
}

#[tokio::test]
async fn zoom_shows_only_the_focused_pane() {
    let tmp = tempfile::tempdir().unwrap();
    let (_sup, mut app) = app_on(tmp.path(), &[]);
    app.zoom = true;
    for (w, h) in [(80, 24), (160, 48)] {
        for focus in [PaneId::Stages, PaneId::Feed, PaneId::Lake, PaneId::Logs] {
            app.focus = focus;
            let grid = grid_of(&mut app, w, h);
            let p = pane(&grid, focus.title());
            assert_eq!(
                (p.x, p.y, p.width, p.height),
                (0, 1, w as usize, h as usize - 2),
                "zoomed {focus:?} fills the body at {w}x{h}"
            );
            for other in PaneId::ALL.iter().filter(|p| **p != focus) {
                assert!(
                    find_pane(&grid, other.title()).is_none(),
                    "{other:?} visible while {focus:?} is zoomed at {w}x{h}:\n{}",
                    screen(&lines_of(&grid))
                );
            }
        }
    }
    app.zoom = false;
    app.focus = PaneId::Stages;
    let grid = grid_of(&mut app, 160, 48);
    for title in ["Stages", "Feed", "Lake", "Logs"] {
        pane(&grid, title);
    }
}

/// Every binding of the keymap as the help overlay formats it, with where it belongs.
fn all_bindings() -> Vec<(String, &'static keymap::Binding)> {
    let mut out: Vec<(String, &'static keymap::Binding)> = keymap::GLOBAL
        .iter()
        .map(|b| ("Global".to_string(), b))
        .collect();
    for p in PaneId::ALL {
        out.extend(
            keymap::pane_bindings(p)
                .iter()
                .map(|b| (p.title().to_string(), b)),
        );
    }
    out
}

/// Bindings whose description (next to its keys) is not on screen.
fn missing_help_rows(lines: &[String]) -> Vec<String> {
    all_bindings()
        .into_iter()
        .filter(|(_, b)| {
            let row = format!("{:<14}{}", keymap::binding_label(b), b.desc);
            !lines.iter().any(|l| l.contains(&row))
        })
        .map(|(section, b)| format!("{section}: {} {}", keymap::binding_label(b), b.desc))
        .collect()
}

#[tokio::test]
async fn help_overlay_lists_every_binding_at_160x48() {
    let tmp = tempfile::tempdir().unwrap();
    let (_sup, mut app) = app_on(tmp.path(), &[]);
    let closed = render_lines(&mut app, 160, 48);
    assert!(!screen(&closed).contains("Help: keys"));
    assert!(
        !missing_help_rows(&closed).is_empty(),
        "without the overlay the rows are not on screen"
    );

    app.help = true;
    let lines = render_lines(&mut app, 160, 48);
    assert!(screen(&lines).contains("Help: keys"), "{}", screen(&lines));
    assert!(all_bindings().len() > 20, "keymap has its bindings");
    let missing = missing_help_rows(&lines);
    assert!(
        missing.is_empty(),
        "help overlay at 160x48 misses {} bindings: {missing:#?}\n{}",
        missing.len(),
        screen(&lines)
    );
    for (_, b) in all_bindings() {
        assert!(screen(&lines).contains(b.desc), "{:?}", b.desc);
    }
}

/// On the classic 80x24 terminal the overlay scrolls.
#[tokio::test]
async fn help_overlay_scrolls_to_every_binding_at_80x24() {
    let tmp = tempfile::tempdir().unwrap();
    let (_sup, mut app) = app_on(tmp.path(), &[]);
    app.update(ssp_tui::tui::action::Action::ToggleHelp);
    let first = render_lines(&mut app, 80, 24);
    assert!(screen(&first).contains("j/k scroll"), "{}", screen(&first));
    // Scrolling with j shows what did not fit; together the pages list every binding.
    let mut seen: Vec<String> = first.clone();
    for _ in 0..100 {
        app.handle_key(KeyEvent::new(KeyCode::Char('j'), KeyModifiers::NONE));
        seen.extend(render_lines(&mut app, 80, 24));
    }
    let missing = missing_help_rows(&seen);
    assert!(missing.is_empty(), "never shown at 80x24: {missing:#?}");
    app.handle_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    assert!(!app.help);
}

#[tokio::test]
async fn tiny_terminals_do_not_panic_and_say_too_small() {
    let tmp = tempfile::tempdir().unwrap();
    let (_sup, mut app) = app_on(tmp.path(), &[]);
    let lines = render_lines(&mut app, 20, 5);
    assert!(screen(&lines).contains("too small"), "{}", screen(&lines));
    assert!(find_pane(&text_grid(&lines), "Stages").is_none());

    let lines = render_lines(&mut app, 1, 1);
    assert_eq!(lines.len(), 1);
    assert_eq!(render_lines(&mut app, 80, 0).len(), 0);
    assert_eq!(render_lines(&mut app, 0, 24).len(), 24);
    render_lines(&mut app, 0, 0);

    // Just at the minimum the panes are drawn.
    let (w, h) = (ssp_tui::tui::ui::MIN_WIDTH, ssp_tui::tui::ui::MIN_HEIGHT);
    let lines = render_lines(&mut app, w, h);
    assert!(!screen(&lines).contains("too small"), "{}", screen(&lines));
    let lines = render_lines(&mut app, w - 1, h);
    assert!(screen(&lines).contains("too small"), "{}", screen(&lines));
}

/// An app with something in every pane, an open input line or a message, help or zoom.
fn busy_app(app: &mut App, variant: usize) {
    let mut failed = status("bronze", StageState::Failed);
    failed.last_error = Some("a rather long error message ".repeat(5));
    app.stages = vec![status("source", StageState::Running), failed];
    app.selected = 1;
    app.lake = Some(LakeStats {
        bronze: layer(123_456, 9_876_543_210, 1 << 40),
        silver: layer(1, 1, 1),
        gold: layer(0, 0, 0),
        dead_letter: 99,
    });
    if app.feed.received == 0 {
        app.push_tweets(synthetic_tweets(3, 50));
        app.push_tweets([tweet(9, "wide", "宽字符 テスト 🎉🎉 #ai")]);
        let log = app.supervisor().log("source").unwrap();
        for i in 0..100 {
            log.event(format!("line {i} {}", "x".repeat(i)));
        }
        app.refresh_logs();
    }
    app.focus = PaneId::ALL[variant % PaneId::ALL.len()];
    app.zoom = variant % 3 == 1;
    app.help = variant % 4 == 2;
    app.input = None;
    app.message = None;
    match variant % 5 {
        1 => app.input = Some(InputLine::new(InputKind::Filter, "#ai")),
        2 => app.input = Some(InputLine::new(InputKind::Command, "stop all")),
        3 => {
            app.message = Some(Message {
                text: "an error message that is longer than a narrow terminal".into(),
                error: true,
                at: std::time::Instant::now(),
            })
        }
        _ => {}
    }
    app.logs
        .set_search(variant.is_multiple_of(2).then(|| "line 1".to_string()));
    app.logs.scroll = variant % 7;
    if variant % 6 == 5 && !app.feed.paused() {
        app.feed.toggle_pause();
        app.feed.scroll_by(3);
    }
}

#[tokio::test]
async fn draws_at_many_sizes_without_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let (_sup, mut app) = app_on(tmp.path(), &[]);
    let mut drawn = 0;
    let mut variant = 0;
    for w in (1..=200u16).step_by(7) {
        for h in (1..=60u16).step_by(5) {
            // Once with the fresh app, once with a busy one (rotating through the states).
            let mut fresh = App::new(app.supervisor().clone());
            let lines = render_lines(&mut fresh, w, h);
            assert_eq!(lines.len(), h as usize);
            busy_app(&mut app, variant);
            variant += 1;
            let lines = render_lines(&mut app, w, h);
            assert_eq!(lines.len(), h as usize);
            if w >= 40 && h >= 10 && !app.help {
                assert!(
                    lines[0].contains("ssp-tui"),
                    "header at {w}x{h}: {:?}",
                    lines[0]
                );
            }
            drawn += 2;
        }
    }
    assert_eq!(drawn, 29 * 12 * 2);
}

/// However narrow, the footer ends with `?` (the key that lists every other one), in every
/// pane, the SQL screen included.
#[tokio::test]
async fn the_footer_always_shows_the_help_key() {
    let tmp = tempfile::tempdir().unwrap();
    let (_sup, mut app) = app_on(tmp.path(), &[]);
    let mut panes = PaneId::ALL.to_vec();
    panes.retain(|p| *p != PaneId::Sql);
    for pane in panes.into_iter().chain([PaneId::Sql]) {
        app.focus = pane;
        for (w, h) in [(80, 24), (60, 20), (160, 48)] {
            let lines = render_lines(&mut app, w, h);
            let footer = lines.last().unwrap();
            assert!(
                footer.trim_end().ends_with("?  help"),
                "{pane:?} at {w}x{h}: {footer:?}"
            );
        }
    }
}

/// At 80x24 the Stages pane cannot show every stage: its title says how many it shows, and
/// moving the selection brings the others into view.
#[tokio::test]
async fn stages_that_do_not_fit_are_announced_and_reachable() {
    let tmp = tempfile::tempdir().unwrap();
    let (_sup, mut app) = app_on(tmp.path(), &[]);
    let n = app.stages.len();
    let grid = grid_of(&mut app, 80, 24);
    let stages = pane(&grid, "Stages");
    assert!(
        stages.title.contains(&format!("of {n} shown")),
        "{}",
        stages.title
    );
    let last = app.stages[n - 1].name.clone();
    assert!(!stages.text().contains(&last), "{last} is below the fold");
    for _ in 0..n {
        app.handle_key(code(KeyCode::Down));
    }
    let grid = grid_of(&mut app, 80, 24);
    assert!(
        pane(&grid, "Stages").text().contains(&last),
        "scrolled into view"
    );
    // Wide enough: no note.
    let grid = grid_of(&mut app, 160, 48);
    assert!(!pane(&grid, "Stages").title.contains("shown"));
}

/// Logs: a long line is cut until `w` wraps it (then every word of it is on screen); `→`
/// scrolls a cut line sideways; a search match sits mid-view with the lines after it shown;
/// `f` holds the view while new lines arrive.
#[tokio::test]
async fn logs_wrap_scroll_sideways_centre_matches_and_hold() {
    let tmp = tempfile::tempdir().unwrap();
    let (sup, mut app) = app_on(tmp.path(), &[]);
    let log = sup.log("source").unwrap();
    let long: String = (0..40).map(|i| format!("w{i:02} ")).collect();
    for i in 0..30 {
        log.event(format!("line {i:02}"));
    }
    log.event(long.trim_end().to_string());
    for i in 30..60 {
        log.event(format!("line {i:02}"));
    }
    assert!(app.refresh_logs());
    app.focus = PaneId::Logs;
    app.zoom = true;
    let words = |app: &mut App| -> usize {
        let text = pane(&grid_of(app, 80, 24), "Logs").text();
        (0..40)
            .filter(|i| text.contains(&format!("w{i:02}")))
            .count()
    };
    // Search for the long line: it is mid-view, lines after it below it.
    app.logs.set_search(Some("w00".into()));
    let text = pane(&grid_of(&mut app, 80, 24), "Logs").text();
    assert!(
        text.contains("w00") && text.contains("line 30") && text.contains("line 35"),
        "{text}"
    );
    let cut = words(&mut app);
    assert!(cut < 40, "cut at 80 columns: {cut} words");
    // 12 x 8 columns: the line's end comes into view, its start goes out.
    for _ in 0..12 {
        app.handle_key(code(KeyCode::Right));
    }
    let text = pane(&grid_of(&mut app, 80, 24), "Logs").text();
    assert!(
        !text.contains("w00") && text.contains("w39"),
        "scrolled sideways:\n{text}"
    );
    app.handle_key(key('w'));
    assert_eq!(words(&mut app), 40, "wrapped: every word on screen");
    let logs = pane(&grid_of(&mut app, 80, 24), "Logs");
    assert!(logs.title.contains("[wrap]"), "{}", logs.title);

    // f holds: new lines do not move the view; f again follows.
    app.logs.set_search(None);
    app.handle_key(key('G'));
    app.handle_key(key('f'));
    let before = pane(&grid_of(&mut app, 80, 24), "Logs").text();
    for i in 60..70 {
        log.event(format!("line {i:02}"));
    }
    assert!(app.refresh_logs());
    let held = pane(&grid_of(&mut app, 80, 24), "Logs");
    assert_eq!(held.text(), before, "held view unchanged");
    assert!(
        held.title.contains("[+10 below]") && held.title.contains("held"),
        "{}",
        held.title
    );
    app.handle_key(key('f'));
    let text = pane(&grid_of(&mut app, 80, 24), "Logs").text();
    assert!(text.contains("line 69"), "following again:\n{text}");
}

/// The Pipeline view's hop row for `stage` (panics with the screen, at `size`, when none).
fn pipeline_row(lines: &[String], stage: &str, size: &str) -> String {
    lines
        .iter()
        .filter(|l| l.contains(" ─▶ "))
        .find(|l| l.split_whitespace().any(|word| word == stage))
        .unwrap_or_else(|| panic!("no {stage} row at {size}:\n{}", screen(lines)))
        .clone()
}

fn running(name: &str, rate: f64) -> StageStatus {
    StageStatus {
        rate,
        ..status(name, StageState::Running)
    }
}

/// `P`: every stage as a hop with the backlog in front of it, its state and rate (instances
/// summed), and the latency readout; `Esc` goes back.
#[tokio::test]
async fn pipeline_view_shows_backlogs_rates_and_latency() {
    use ssp_tui::bus::{GroupLag, PartitionLag};
    use ssp_tui::latency::LatencySummary;
    let tmp = tempfile::tempdir().unwrap();
    let (_sup, mut app) = app_on(tmp.path(), &[]);
    let mut trending = running("trending", 990.0);
    trending.read_version = Some(10);
    trending.latency = Some(LatencySummary {
        p50_ms: 530,
        p99_ms: 1_140,
        samples: 1_203,
    });
    let mut ner = running("ner", 120.0);
    ner.read_version = Some(12);
    app.stages = vec![
        running("source", 1000.0),
        running("bronze", 1000.0),
        running("bronze@hostb", 500.0),
        trending,
        ner,
        status("classify", StageState::Stopped),
        status("collect", StageState::Completed),
        // A killed process's copy, no longer answering: it says least about the stage.
        status("collect@old", StageState::Lost),
        status("sparkjob", StageState::Failed),
    ];
    app.lake = Some(LakeStats {
        bronze: LayerStats {
            version: Some(12),
            ..layer(12, 3456, 2048)
        },
        silver: layer(5, 789, 512),
        gold: layer(1, 42, 100),
        dead_letter: 0,
    });
    let partition = |p, hw, c| PartitionLag {
        partition: p,
        high_watermark: hw,
        committed: Some(c),
        member: None,
    };
    app.lag.update(ssp_tui::tui::lag::LagSnapshot {
        groups: vec![GroupLag {
            group: app.shape.bronze_group.clone(),
            topic: app.shape.topic.clone(),
            partitions: vec![partition(0, 100, 90), partition(1, 50, 35)],
        }],
        broker: None,
        error: None,
        bus: "embedded".into(),
    });
    app.handle_key(key('P'));
    assert_eq!(app.focus, PaneId::Pipeline);
    for (w, h) in [(80, 24), (160, 48)] {
        let lines = lines_of(&grid_of(&mut app, w, h));
        let shown = screen(&lines);
        let row = |stage: &str| pipeline_row(&lines, stage, &format!("{w}x{h}"));
        let source = row("source");
        assert!(
            source.contains("running") && source.contains(" 1000 ") && source.contains("bus"),
            "{w}x{h}: {source}\n{shown}"
        );
        let bronze = row("×2");
        assert!(
            bronze.contains("lag 25") && bronze.contains(" 1500 ") && bronze.contains("bronze v12"),
            "two bronze instances summed, the group's lag in front at {w}x{h}: {bronze}"
        );
        let trending = row("trending");
        assert!(
            trending.contains("2 versions behind") && trending.contains(" 990 "),
            "{w}x{h}: {trending}"
        );
        assert!(row("ner").contains("up to date"), "{w}x{h}:\n{shown}");
        let classify = row("classify");
        assert!(
            classify.contains("stopped") && classify.contains(" - "),
            "{w}x{h}: {classify}"
        );
        assert!(
            row("collect").contains("completed"),
            "a lost copy does not hide the one that completed at {w}x{h}:\n{shown}"
        );
        assert!(
            shown.contains("latency p50 530 ms · p99 1.1 s"),
            "{w}x{h}:\n{shown}"
        );
        assert!(
            shown.contains("sparkjob") && shown.contains("failed"),
            "{w}x{h}:\n{shown}"
        );
        if w >= 160 {
            assert!(shown.contains("1203 sampled"), "{w}x{h}:\n{shown}");
        }
    }
    app.handle_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    assert_eq!(app.focus, PaneId::Stages, "Esc goes back");
    app.handle_key(key(':'));
    for c in "pipeline".chars() {
        app.handle_key(key(c));
    }
    app.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    assert_eq!(app.focus, PaneId::Pipeline, ":pipeline opens it");
}

/// Earlier headless runs on the same lake leave their stages listed as history (`exited`):
/// the header counts them apart, and a stage none runs is as far as the furthest of its
/// stopped copies got (they share one checkpoint), not as the oldest.
#[tokio::test]
async fn stages_of_exited_processes_are_history_in_the_header_and_the_pipeline() {
    let tmp = tempfile::tempdir().unwrap();
    let (_sup, mut app) = app_on(tmp.path(), &[]);
    let with_read = |name: &str, state, v| StageStatus {
        read_version: Some(v),
        ..status(name, state)
    };
    app.stages = vec![
        running("source", 10.0),
        status("bronze", StageState::Completed),
        with_read("ner", StageState::Completed, 19),
        with_read("ner@hosta:101", StageState::Exited, 2),
        with_read("ner@hosta:102", StageState::Exited, 11),
        with_read("trending@hosta:101", StageState::Exited, 7),
        with_read("trending@hosta:102", StageState::Exited, 12),
    ];
    app.lake = Some(LakeStats {
        bronze: LayerStats {
            version: Some(19),
            ..layer(19, 3456, 2048)
        },
        silver: layer(19, 3456, 512),
        gold: layer(1, 42, 100),
        dead_letter: 0,
    });
    let lines = lines_of(&grid_of(&mut app, 160, 48));
    assert!(
        lines[0].contains("1/3 stages running · 4 rows from exited processes"),
        "{}",
        lines[0]
    );
    app.handle_key(key('P'));
    let lines = lines_of(&grid_of(&mut app, 160, 48));
    let row = |stage: &str| pipeline_row(&lines, stage, "160x48");
    let ner = row("ner");
    assert!(
        ner.contains("up to date") && ner.contains("completed"),
        "the local ner that completed, not its exited copies: {ner}"
    );
    let trending = row("trending");
    assert!(
        trending.contains("7 versions behind") && trending.contains("exited"),
        "the furthest exited copy (12 of 19): {trending}"
    );
}

/// Emoji as real tweets carry them: variation selectors, ZWJ sequences, skin tones, flags,
/// keycaps, CJK and combining marks.
const EMOJI_TEXTS: [&str; 8] = [
    "New Sealed ❤️s https://t.co/x and more",
    "😟☹️e so sad ☺️ but ok",
    "coding 👩‍💻 all night 👨‍👩‍👧 family #AI",
    "thumbs 👍🏽👍🏿 and flags 🇬🇧🇯🇵 and keycap 1️⃣",
    "日本語のツイート #東京 で AI を語る",
    "café naïve e\u{301} combining ✔️ ✅ ☀️",
    "tabs\tand\nnewlines\r in text ❤️‍🔥",
    "#Rust🦀 #❤️AI #ai",
];

/// Every drawn cell must be as wide for the terminal (which adds up its code points' widths,
/// as tmux and wcwidth do) as ratatui counted it; otherwise the terminal leaves a stray
/// character or shifts the rest of the row. Returns the offending cells.
fn width_mismatches(buf: &ratatui::buffer::Buffer) -> Vec<String> {
    use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};
    let area = buf.area;
    let mut bad = Vec::new();
    for y in area.top()..area.bottom() {
        let mut x = area.left();
        while x < area.right() {
            let s = buf[(x, y)].symbol();
            let ratatui = s.width().max(1);
            let terminal: usize = s.chars().map(|c| c.width().unwrap_or(0)).sum();
            if terminal != ratatui && !s.is_empty() {
                bad.push(format!(
                    "({x},{y}) {s:?}: ratatui {ratatui}, terminal {terminal}"
                ));
            }
            x += ratatui as u16;
        }
    }
    bad
}

#[tokio::test]
async fn emoji_heavy_tweets_leave_no_stray_cells_at_80x24_and_160x48() {
    let tmp = tempfile::tempdir().unwrap();
    let (_sup, mut app) = app_on(tmp.path(), &[]);
    app.push_tweets(
        EMOJI_TEXTS
            .iter()
            .enumerate()
            .map(|(i, t)| tweet(2000 + i as u64, "émoji👩‍💻", t)),
    );
    for (w, h) in [(80, 24), (160, 48)] {
        for zoom in [false, true] {
            app.zoom = zoom;
            app.focus = PaneId::Feed;
            let buf = render(&mut app, w, h);
            let bad = width_mismatches(&buf);
            assert!(
                bad.is_empty(),
                "{w}x{h} zoom {zoom}: {bad:#?}\n{}",
                screen(&lines_of(&buffer_grid(&buf)))
            );
            let text = screen(&lines_of(&buffer_grid(&buf)));
            assert!(text.contains("coding"), "{text}");
        }
    }
    // The NER pane: the tweet with its entities highlighted (offsets in characters), the
    // unplaced ones after it, the top entities.
    use ssp_tui::nlp::Entity;
    use ssp_tui::stage::ner::status::NerStatus;
    use ssp_tui::stage::ner::status::{LabelTop, LatestTweet};
    let latest = EMOJI_TEXTS
        .iter()
        .enumerate()
        .map(|(i, t)| LatestTweet {
            id_str: i.to_string(),
            text: t.to_string(),
            entities: vec![
                Entity::new("New", "ORG", 0, 3),
                Entity::unplaced("❤️‍🔥 Team", "ORG"),
            ],
            error: None,
        })
        .collect();
    app.ner = Some(NerStatus {
        updated_ms: chrono::Utc::now().timestamp_millis(),
        running: true,
        backend: "rules".into(),
        healthy: true,
        window_minutes: 10,
        top: vec![LabelTop {
            label: "ORG".into(),
            total: 3,
            entities: vec![("👩‍💻 Devs".into(), 3), ("東京".into(), 1)],
        }],
        latest,
        ..NerStatus::default()
    });
    app.focus = PaneId::Ner;
    for (w, h) in [(80, 24), (160, 48)] {
        for zoom in [false, true] {
            app.zoom = zoom;
            let buf = render(&mut app, w, h);
            let bad = width_mismatches(&buf);
            assert!(
                bad.is_empty(),
                "NER at {w}x{h} zoom {zoom}: {bad:#?}\n{}",
                screen(&lines_of(&buffer_grid(&buf)))
            );
        }
    }
}
