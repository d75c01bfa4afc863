//! The mouse on the real binary in tmux (SGR mouse reports typed into the pane): a click on a
//! pane focuses it, a click on a Stages row selects that stage (its logs follow), the wheel
//! scrolls; `[tui] mouse = off` leaves the mouse to the terminal. The terminal is given back
//! without mouse reporting.

use std::time::Duration;

use crate::tui_common::tmux::Tmux;
use crate::tui_common::{find_pane, text_grid};

const BIN: &str = env!("CARGO_BIN_EXE_ssp-tui");

/// An SGR mouse report: `button` at 0-based (`x`, `y`), pressed.
fn press(tmux: &Tmux, button: u8, x: usize, y: usize) {
    tmux.send(&format!("\x1b[<{button};{};{}M", x + 1, y + 1));
    if button < 64 {
        tmux.send(&format!("\x1b[<{button};{};{}m", x + 1, y + 1));
    }
}

/// The row on screen (0-based) of the Stages row for `stage`.
fn stage_row(lines: &[String], stage: &str) -> Option<u16> {
    lines
        .iter()
        .position(|l| {
            let t = l.trim_start_matches(['┃', '│', ' ', '▶']);
            t.starts_with(&format!("{stage} "))
        })
        .map(|i| i as u16)
}

fn start(dir: &std::path::Path, mouse: &str) -> Tmux {
    let shell = format!(
        "cd '{d}' && SSP__LAKE__ROOT='{d}/lake' SSP__LOG__DIR='{d}/logs' SSP__TUI__AUTOSTART='' \
         SSP__TUI__MOUSE={mouse} SSP__STATUS__PUBLISH=false '{BIN}'; echo EXITED; sleep 60",
        d = dir.display()
    );
    let tmux = Tmux::start(&shell, 160, 48);
    tmux.wait_screen("the TUI", Duration::from_secs(30), |l| {
        l.iter().any(|x| x.contains("Stages"))
    });
    tmux
}

#[test]
fn clicks_focus_panes_and_select_stages_and_the_wheel_scrolls() {
    let tmp = tempfile::tempdir().unwrap();
    let tmux = start(tmp.path(), "on");
    assert_eq!(
        tmux.format("mouse_sgr_flag"),
        "1",
        "the TUI asked for SGR mouse reports"
    );
    // Click on the Feed pane's body: it gets the thick (focused) border.
    let lines = tmux.capture();
    let grid = text_grid(&lines);
    let feed = find_pane(&grid, "Feed").expect("a Feed pane");
    press(&tmux, 0, feed.x + 5, feed.y + 2);
    tmux.wait_screen("Feed focused", Duration::from_secs(10), |l| {
        l.iter()
            .any(|x| x.contains("┏ Feed") || x.contains("┏ Feed"))
    });
    // Click on the ner row of Stages: selected, and the Logs pane shows its logs.
    let lines = tmux.capture();
    let row = stage_row(&lines, "ner").expect("a ner row");
    press(&tmux, 0, 10, row as usize);
    tmux.wait_screen("ner selected", Duration::from_secs(10), |l| {
        l.iter().any(|x| x.contains("Logs: ner"))
            && stage_row(l, "ner").is_some_and(|r| l[r as usize].contains('▶'))
    });
    // The wheel over the Feed pane focuses it and scrolls (it asks for a pause first).
    press(&tmux, 65, feed.x + 5, feed.y + 2);
    tmux.wait_screen("the wheel answered", Duration::from_secs(10), |l| {
        l.iter().any(|x| x.contains("press p to pause the feed"))
    });
    tmux.send("q");
    tmux.wait_screen("exit", Duration::from_secs(30), |l| {
        l.iter().any(|x| x.contains("EXITED"))
    });
    // Mouse reporting is off again once the TUI is gone.
    assert_eq!(tmux.format("mouse_any_flag"), "0");
    assert_eq!(tmux.format("mouse_sgr_flag"), "0");
}

#[test]
fn mouse_off_leaves_the_mouse_to_the_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let tmux = start(tmp.path(), "off");
    assert_eq!(tmux.format("mouse_any_flag"), "0");
    assert_eq!(tmux.format("mouse_sgr_flag"), "0");
    tmux.send("q");
}

/// `[keys] start = b`: `b` starts the selected stage, `s` no longer does, and `?` shows `b`.
#[test]
fn a_key_from_the_keys_section_replaces_the_built_in_one() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let shell = format!(
        "cd '{d}' && SSP__LAKE__ROOT='{d}/lake' SSP__LOG__DIR='{d}/logs' SSP__TUI__AUTOSTART='' \
         SSP__KEYS__START=b SSP__SOURCE__RATE=5 SSP__STATUS__PUBLISH=false '{BIN}'; sleep 60",
        d = d.display()
    );
    let tmux = Tmux::start(&shell, 160, 48);
    let state = |l: &[String]| {
        find_pane(&text_grid(l), "Stages")
            .and_then(|p| p.row_starting_with("source"))
            .and_then(|r| r.get(1).cloned())
    };
    tmux.wait_screen("source stopped", Duration::from_secs(30), |l| {
        state(l).as_deref() == Some("stopped")
    });
    tmux.send("s");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        state(&tmux.capture()).as_deref(),
        Some("stopped"),
        "s is not start any more"
    );
    tmux.send("b");
    tmux.wait_screen("source running", Duration::from_secs(15), |l| {
        state(l).as_deref() == Some("running")
    });
    tmux.send("?");
    tmux.wait_screen("b in the help", Duration::from_secs(10), |l| {
        l.iter().any(|x| {
            let t: Vec<&str> = x.split_whitespace().collect();
            t.windows(2)
                .any(|w| w[0].trim_start_matches(['│', '┃']) == "b" && w[1] == "start")
        })
    });
}
