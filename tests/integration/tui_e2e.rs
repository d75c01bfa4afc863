//! The real `ssp-tui` binary in a detached tmux session of fixed size: it starts the pipeline,
//! shows tweets, obeys `x` / `s` on the selected stage, quits on `q` with exit code 0 after
//! flushing bronze files, and gives the terminal back (alternate screen left).

use crate::tui_common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tui_common::tmux::Tmux;
use tui_common::{find_pane, text_grid};

const BIN: &str = env!("CARGO_BIN_EXE_ssp-tui");
const WIDTH: u16 = 160;
const HEIGHT: u16 = 48;

/// The state shown for `stage` in the Stages pane, if the pane and row are on screen.
fn stage_state(lines: &[String], stage: &str) -> Option<String> {
    let pane = find_pane(&text_grid(lines), "Stages")?;
    let row = pane.row_starting_with(stage)?;
    row.get(1).cloned()
}

/// Whether the Feed pane shows a tweet row: `HH:MM:SS @author ...`.
fn feed_has_tweet(lines: &[String]) -> bool {
    let Some(feed) = find_pane(&text_grid(lines), "Feed") else {
        return false;
    };
    feed.inner.iter().any(|l| {
        let t = l.trim_start();
        let b = t.as_bytes();
        b.len() > 10
            && b[..8].iter().enumerate().all(|(i, c)| {
                if i == 2 || i == 5 {
                    *c == b':'
                } else {
                    c.is_ascii_digit()
                }
            })
            && &b[8..10] == b" @"
            && b[10].is_ascii_alphanumeric() | (b[10] == b'_')
    })
}

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
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

fn quote(p: &Path) -> String {
    let s = p.display().to_string();
    assert!(!s.contains('\''), "unexpected quote in {s}");
    format!("'{s}'")
}

#[test]
fn binary_in_tmux_runs_stops_starts_quits_and_restores_the_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let exit_file = tmp.path().join("exit");
    let shell = format!(
        "cd {dir} && SSP__LAKE__ROOT={lake} SSP__LOG__DIR={logs} SSP__LAKE__ROLL_SECONDS=1 \
         {bin}; echo EXIT=$? > {exit}; sleep 60",
        dir = quote(tmp.path()),
        lake = quote(&lake),
        logs = quote(&tmp.path().join("logs")),
        bin = quote(Path::new(BIN)),
        exit = quote(&exit_file),
    );
    let tmux = Tmux::start(&shell, WIDTH, HEIGHT);
    let size = format!(
        "{}x{}",
        tmux.format("pane_width"),
        tmux.format("pane_height")
    );
    assert_eq!(size, format!("{WIDTH}x{HEIGHT}"), "tmux pane size");

    tmux.wait_screen(
        "tweets in the Feed pane and source + bronze running",
        Duration::from_secs(30),
        |lines| {
            feed_has_tweet(lines)
                && stage_state(lines, "source").as_deref() == Some("running")
                && stage_state(lines, "bronze").as_deref() == Some("running")
        },
    );
    let screen = tmux.capture();
    assert!(
        screen[0].contains("bus: embedded") && screen[0].contains("store: embedded"),
        "header: {:?}",
        screen[0]
    );
    assert_eq!(
        tmux.format("alternate_on"),
        "1",
        "the TUI uses the alternate screen"
    );

    // Stages is focused and its first row (source) selected.
    tmux.send("x");
    tmux.wait_screen("source stopped", Duration::from_secs(15), |lines| {
        stage_state(lines, "source").as_deref() == Some("stopped")
    });
    assert_eq!(
        stage_state(&tmux.capture(), "bronze").as_deref(),
        Some("running"),
        "x stops only the selected stage"
    );
    tmux.send("s");
    tmux.wait_screen("source running again", Duration::from_secs(15), |lines| {
        stage_state(lines, "source").as_deref() == Some("running")
    });

    tmux.send("q");
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        let text = std::fs::read_to_string(&exit_file).unwrap_or_default();
        if !text.trim().is_empty() {
            break text.trim().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "ssp-tui did not exit within 30 s of q; screen:\n{}",
            tmux.capture().join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(exit, "EXIT=0", "exit status of ssp-tui");

    let files = parquet_files(&lake.join("bronze"));
    assert!(
        !files.is_empty(),
        "no bronze part-*.parquet under {}",
        lake.display()
    );

    // The terminal was given back: alternate screen left, the UI no longer on screen.
    assert_eq!(
        tmux.format("alternate_on"),
        "0",
        "still on the alternate screen"
    );
    let after = tmux.capture();
    assert!(
        find_pane(&text_grid(&after), "Stages").is_none()
            && !after
                .iter()
                .any(|l| l.contains("Stages") || l.contains("ssp-tui")),
        "the TUI is still on screen after exit:\n{}",
        after.join("\n")
    );
}
