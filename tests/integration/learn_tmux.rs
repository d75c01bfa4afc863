//! The labelling loop as a user drives it, on the real binary in tmux: a small replayed lake,
//! `ssp-tui dataset collect`, 30 labels from the keyboard, `S` (start all: never a new
//! dataset version), kill -9, restart: the same label counts, the same dev accuracy / F1 and
//! the same next tweet (a second kill -9 and restart shows the same tweet again). And
//! `ssp-tui dataset collect` on a finished lake smaller than `collect_size` builds from it.

use std::path::Path;
use std::time::Duration;

use chrono::{TimeZone, Utc};

use crate::common::{run_bin, tweets::v1_tweet};
use crate::tui_common::tmux::Tmux;

const BIN: &str = env!("CARGO_BIN_EXE_ssp-tui");
const T: Duration = Duration::from_secs(30);

/// `n` distinct tweets, a third of them about AI in the seed's keywords.
fn write_replay(path: &Path, n: u64) {
    let ai = [
        "machine learning",
        "deep learning",
        "#AI",
        "neural network",
        "computer vision",
    ];
    let other = ["coffee", "football", "the weather", "my cat", "traffic"];
    let t0 = Utc.with_ymd_and_hms(2020, 4, 1, 12, 0, 0).unwrap();
    let mut out = String::new();
    for i in 0..n {
        let text = if i % 3 == 0 {
            format!(
                "Reading about {} today, part {i}",
                ai[i as usize % ai.len()]
            )
        } else {
            format!(
                "Thinking about {} again, day {i}",
                other[i as usize % other.len()]
            )
        };
        let created = t0 + chrono::Duration::seconds(i as i64);
        out.push_str(
            &v1_tweet(9_000_000 + i, &text, &format!("user{}", i % 17), created).to_string(),
        );
        out.push('\n');
    }
    std::fs::write(path, out).unwrap();
}

/// The Label pane's figures: the `labelled …` line and the `dev (n=…)` line.
fn figures(lines: &[String]) -> Option<(String, String)> {
    let find = |p: &str| {
        lines.iter().find_map(|l| {
            let i = l.find(p)?;
            Some(l[i..].trim_end_matches(['┃', '│', ' ']).to_string())
        })
    };
    let labelled = find("labelled ")?;
    let dev = find("dev (n=")?;
    (!dev.contains("retraining")).then_some((labelled, dev))
}

/// The tweet the card shows: the line after the split / probability header.
fn shown_tweet(lines: &[String]) -> Option<String> {
    lines
        .iter()
        .find(|l| l.contains("Reading about") || l.contains("Thinking about"))
        .map(|l| l.trim_matches(['┃', '│', ' ']).to_string())
}

/// Focuses and zooms the Label pane once the labelling worker is ready.
fn open_label_pane(tmux: &Tmux) {
    tmux.wait_screen("the TUI", T, |l| l.iter().any(|x| x.contains("Stages")));
    tmux.keys(&["M-8"]);
    std::thread::sleep(Duration::from_millis(300));
    tmux.send("z");
    tmux.wait_screen("the Label pane ready", T, |l| {
        figures(l).is_some() && shown_tweet(l).is_some()
    });
}

/// The figures once they hold still for a second (retraining done).
fn settled(tmux: &Tmux) -> (String, String, String) {
    let mut last = None;
    tmux.wait_for("figures that hold still", T, |l| {
        let now = figures(l).zip(shown_tweet(l));
        let same = now.is_some() && now == last;
        last = now.clone();
        if !same {
            std::thread::sleep(Duration::from_millis(1000));
        }
        now.filter(|_| same).map(|((a, b), c)| (a, b, c))
    })
}

/// The ssp-tui process under the tmux pane's shell.
fn tui_pid(tmux: &Tmux) -> String {
    let shell = tmux.format("pane_pid");
    let out = std::process::Command::new("pgrep")
        .args(["-P", &shell, "-f", "ssp-tui"])
        .output()
        .unwrap();
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        !pid.is_empty() && !pid.contains('\n'),
        "one ssp-tui under {shell}: {pid:?}"
    );
    pid
}

fn kill9(tmux: &Tmux) {
    let pid = tui_pid(tmux);
    let st = std::process::Command::new("kill")
        .args(["-9", &pid])
        .status()
        .unwrap();
    assert!(st.success());
    // The shell starts the next run.
    tmux.wait_screen("the next run", T, |_| {
        tui_pid_opt(tmux).is_some_and(|p| p != pid)
    });
}

fn tui_pid_opt(tmux: &Tmux) -> Option<String> {
    let shell = tmux.format("pane_pid");
    let out = std::process::Command::new("pgrep")
        .args(["-P", &shell, "-f", "ssp-tui"])
        .output()
        .ok()?;
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!pid.is_empty()).then_some(pid)
}

/// A replayed lake in `dir` with small fixed splits (test 40, dev 60, weak-train 100).
fn lake_env(dir: &Path, replay: &Path, collect_size: usize) -> Vec<(&'static str, String)> {
    vec![
        ("SSP__SOURCE__KIND", "replay".into()),
        ("SSP__SOURCE__PATH", replay.display().to_string()),
        ("SSP__SOURCE__RATE", "0".into()),
        ("SSP__LAKE__ROOT", dir.join("lake").display().to_string()),
        ("SSP__LOG__DIR", dir.join("logs").display().to_string()),
        ("SSP__LAKE__ROLL_SECONDS", "0.5".into()),
        ("SSP__LEARN__COLLECT_SIZE", collect_size.to_string()),
        ("SSP__LEARN__TEST_SIZE", "40".into()),
        ("SSP__LEARN__DEV_SIZE", "60".into()),
        ("SSP__LEARN__WEAK_TRAIN_SIZE", "100".into()),
        ("SSP__STATUS__PUBLISH", "false".into()),
    ]
}

#[test]
fn thirty_labels_survive_start_all_and_kill_9_with_the_same_model() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let replay = dir.join("tweets.jsonl");
    write_replay(&replay, 320);
    let mut env = lake_env(dir, &replay, 300);
    env.push(("SSP__TUI__AUTOSTART", String::new()));
    env.push(("USER", "tester".into()));
    let run = run_bin(
        dir,
        &env,
        &["run", "source", "bronze"],
        Duration::from_secs(120),
    );
    assert_eq!(run.code(), Some(0), "{run}");
    let run = run_bin(dir, &env, &["dataset", "collect"], Duration::from_secs(120));
    assert_eq!(run.code(), Some(0), "{run}");

    // Three runs of the TUI, one after another in the same pane: each is killed with -9.
    let vars: String = env.iter().map(|(k, v)| format!("{k}='{v}' ")).collect();
    let shell = format!(
        "cd '{}' && for i in 1 2 3; do {vars}'{BIN}'; done; sleep 60",
        dir.display()
    );
    let tmux = Tmux::start(&shell, 140, 45);
    open_label_pane(&tmux);
    for k in 0..30 {
        let label = if k % 3 == 0 { "1" } else { "0" };
        tmux.send(label);
        let want = format!("labelled {} ", k + 1);
        tmux.wait_screen(&want, T, |l| l.iter().any(|x| x.contains(&want)));
    }
    let before = settled(&tmux);
    assert!(before.0.starts_with("labelled 30 "), "{before:?}");
    assert!(
        !before.1.contains("acc -"),
        "dev labels were given: {before:?}"
    );

    // S starts every stage but collect: no new dataset version, the labels stay.
    tmux.send("S");
    std::thread::sleep(Duration::from_secs(3));
    let screen = tmux.capture();
    assert!(
        screen.iter().any(|l| l.contains("Label · v0")),
        "still dataset v0:\n{}",
        screen.join("\n")
    );
    assert_eq!(figures(&screen).map(|f| f.0), Some(before.0.clone()));
    assert!(
        !dir.join("lake/datasets/v1").exists(),
        "S made no new version"
    );

    kill9(&tmux);
    open_label_pane(&tmux);
    let after = settled(&tmux);
    assert_eq!(
        (&after.0, &after.1),
        (&before.0, &before.1),
        "the same counts and dev figures after kill -9"
    );
    // The model is a function of the labels: a second restart offers the same next tweet.
    kill9(&tmux);
    open_label_pane(&tmux);
    let again = settled(&tmux);
    eprintln!("before kill -9: {before:?}\nafter: {after:?}\nagain: {again:?}");
    assert_eq!(again, after, "the same counts, figures and next tweet");
    // The curve drawn again after the restarts: 30 labels on the sparkline.
    assert!(
        tmux.capture().iter().any(|l| l.contains("30 labels")),
        "{}",
        tmux.capture().join("\n")
    );
}

/// A lake written earlier (no bronze runs in the collect process) with fewer unique texts than
/// `collect_size`: collect waits for the table to stop growing, then builds from what it has.
#[test]
fn dataset_collect_builds_from_a_finished_lake_smaller_than_collect_size() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let replay = dir.join("tweets.jsonl");
    write_replay(&replay, 260);
    let env = lake_env(dir, &replay, 1000);
    let run = run_bin(
        dir,
        &env,
        &["run", "source", "bronze"],
        Duration::from_secs(120),
    );
    assert_eq!(run.code(), Some(0), "{run}");
    let t0 = std::time::Instant::now();
    let run = run_bin(dir, &env, &["dataset", "collect"], Duration::from_secs(120));
    assert_eq!(run.code(), Some(0), "{run}");
    assert!(
        t0.elapsed() >= Duration::from_secs(10),
        "it waited for the table to stop growing first"
    );
    assert!(
        run.stdout
            .contains("260 unique texts: test 40, dev 60, weak-train 100, train 60"),
        "{run}"
    );
    // Nothing was started besides collect: the replay was not read again.
    let run = run_bin(dir, &env, &["dataset", "list"], Duration::from_secs(60));
    assert!(run.stdout.contains("v0"), "{run}");
    assert!(!run.stdout.contains("v1"), "{run}");
}
