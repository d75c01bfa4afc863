//! `y` copies through OSC 52: the real binary in tmux with `set-clipboard on`, where the
//! sequence lands in a tmux paste buffer, read back with `show-buffer`.

use std::time::Duration;

use chrono::{TimeZone, Utc};

use crate::common::tweets::v1_tweet;
use crate::tui_common::tmux::Tmux;

const BIN: &str = env!("CARGO_BIN_EXE_ssp-tui");

#[test]
fn y_copies_the_newest_tweet_through_osc52() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let replay = dir.join("tweets.jsonl");
    let t0 = Utc.with_ymd_and_hms(2020, 4, 1, 12, 0, 0).unwrap();
    let texts = [
        "first of three",
        "second of three",
        "the newest one, with ünïcödé and an emoji 🦀",
    ];
    let lines: Vec<String> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            v1_tweet(
                7_000 + i as u64,
                t,
                "copier",
                t0 + chrono::Duration::seconds(i as i64),
            )
            .to_string()
        })
        .collect();
    std::fs::write(&replay, lines.join("\n") + "\n").unwrap();
    let shell = format!(
        "cd '{d}' && SSP__SOURCE__KIND=replay SSP__SOURCE__PATH='{r}' SSP__SOURCE__RATE=0 \
         SSP__LAKE__ROOT='{d}/lake' SSP__LOG__DIR='{d}/logs' SSP__TUI__AUTOSTART='source, bronze' \
         SSP__STATUS__PUBLISH=false '{BIN}'; sleep 60",
        d = dir.display(),
        r = replay.display()
    );
    let tmux = Tmux::start(&shell, 120, 40);
    tmux.run(&["set-option", "-s", "set-clipboard", "on"]);
    tmux.wait_screen(
        "the three tweets in the Feed",
        Duration::from_secs(30),
        |l| l.iter().any(|x| x.contains("the newest one")),
    );
    tmux.keys(&["M-2"]);
    std::thread::sleep(Duration::from_millis(300));
    tmux.send("y");
    tmux.wait_screen("the confirmation", Duration::from_secs(10), |l| {
        l.iter().any(|x| x.contains("copied the tweet"))
    });
    let buffer = tmux.run(&["show-buffer"]);
    assert_eq!(
        String::from_utf8_lossy(&buffer.stdout),
        format!("@copier: {}", texts[2])
    );
    // Where there is nothing to copy, it says so and sends nothing.
    tmux.keys(&["M-3"]);
    std::thread::sleep(Duration::from_millis(300));
    tmux.send("y");
    tmux.wait_screen("nothing to copy", Duration::from_secs(10), |l| {
        l.iter().any(|x| x.contains("nothing to copy here"))
    });
}
