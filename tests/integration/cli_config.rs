//! Configuration errors through the binary: exit code 2 and one stderr line naming key and value.

use crate::common;

use std::path::Path;
use std::time::Duration;

/// Environment pairs for one run of the binary.
type Env<'a> = &'a [(&'a str, &'a str)];

use common::*;

const TIMEOUT: Duration = Duration::from_secs(30);

/// Env that would make a valid run finish quickly (so a wrongly accepted config cannot hang:
/// it would run a short synthetic source instead and fail the exit-code check).
fn base_env(dir: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("SSP__LAKE__ROOT", dir.join("lake").display().to_string()),
        ("SSP__LOG__DIR", dir.join("logs").display().to_string()),
        ("SSP__SOURCE__LIMIT", "10".to_string()),
        ("SSP__SOURCE__RATE", "0".to_string()),
    ]
}

/// Runs `ssp-tui ARGS` and checks: exit 2, stdout empty, stderr exactly one line containing
/// every `needles` item. Returns that line.
fn expect_config_error(
    cwd: &Path,
    env: &[(&'static str, String)],
    args: &[&str],
    needles: &[&str],
) -> String {
    let run = run_bin(cwd, env, args, TIMEOUT);
    assert_eq!(run.code(), Some(2), "args {args:?} env {env:?}:\n{run}");
    assert_eq!(run.stdout, "", "nothing on stdout:\n{run}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "stderr must be one line:\n{run}");
    for n in needles {
        assert!(
            lines[0].contains(n),
            "stderr {:?} should name {n:?}",
            lines[0]
        );
    }
    lines[0].to_string()
}

fn with(
    mut env: Vec<(&'static str, String)>,
    extra: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    for (k, v) in extra {
        env.retain(|(ek, _)| ek != k);
        env.push((k, v.to_string()));
    }
    env
}

#[test]
fn bad_values_exit_2_with_one_line_naming_key_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    let env = base_env(dir.path());
    let run = ["run", "source", "bronze"];
    let cases: &[(Env, &[&str])] = &[
        (
            &[("SSP__SOURCE__KIND", "tweepy")],
            &["source.kind", "\"tweepy\""],
        ),
        (
            &[("SSP__SOURCE__RATE", "fast")],
            &["source.rate", "\"fast\""],
        ),
        (
            &[("SSP__PIPELINE__BUS", "rabbit")],
            &["pipeline.bus", "\"rabbit\""],
        ),
        (
            &[("SSP__LAKE__ROLL_ROWS", "0")],
            &["lake.roll_rows", "\"0\""],
        ),
        (&[("SSP__SOURCE__KIND", "replay")], &["source.path", "\"\""]),
        (
            &[
                ("SSP__SOURCE__KIND", "replay"),
                ("SSP__SOURCE__PATH", "/no/such/tweets.jsonl"),
            ],
            &["source.path", "/no/such/tweets.jsonl"],
        ),
    ];
    for (extra, needles) in cases {
        let line = expect_config_error(&cwd, &with(env.clone(), extra), &run, needles);
        assert!(line.starts_with("config error:"), "{line}");
        // The same check holds for every subcommand that loads config.
        expect_config_error(
            &cwd,
            &with(env.clone(), extra),
            &["lake", "stats", "--json"],
            needles,
        );
    }
    assert!(walk(&dir.path().join("lake")).is_empty(), "nothing ran");
}

#[test]
fn missing_config_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let env = base_env(dir.path());
    expect_config_error(
        dir.path(),
        &env,
        &["--config", "/no/such.ini", "run", "source", "bronze"],
        &["--config", "/no/such.ini"],
    );
    // `--config` is global: after the subcommand too.
    expect_config_error(
        dir.path(),
        &env,
        &["lake", "stats", "--config", "/no/such.ini"],
        &["--config", "/no/such.ini"],
    );
}

#[test]
fn command_stage_without_command_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let env = base_env(dir.path());
    let ini = dir.path().join("stages.ini");
    std::fs::write(&ini, "[stage.x]\ncwd = .\nrestart = no\n").unwrap();
    let p = ini.display().to_string();
    expect_config_error(
        dir.path(),
        &env,
        &["--config", &p, "run", "source"],
        &["stage.x.command", "\"\""],
    );

    // A section with no keys at all is just as incomplete.
    std::fs::write(&ini, "[stage.x]\n").unwrap();
    expect_config_error(
        dir.path(),
        &env,
        &["--config", &p, "run", "source"],
        &["stage.x.command"],
    );

    // ./config.ini in the working folder is read without --config.
    let cwd = dir.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    std::fs::write(cwd.join("config.ini"), "[stage.x]\ncwd = .\n").unwrap();
    expect_config_error(&cwd, &env, &["lake", "stats"], &["stage.x.command"]);

    // Control: with a command the same file is accepted (so the errors above are about it).
    std::fs::write(&ini, "[stage.x]\ncommand = true\n").unwrap();
    let run = run_bin(
        dir.path(),
        &env,
        &["--config", &p, "lake", "stats", "--json"],
        TIMEOUT,
    );
    assert_eq!(run.code(), Some(0), "{run}");
}

#[test]
fn help_and_version_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let env = base_env(dir.path());
    let help = run_bin(dir.path(), &env, &["--help"], TIMEOUT);
    assert_eq!(help.code(), Some(0), "{help}");
    for word in ["run", "lake", "bench", "--config"] {
        assert!(
            help.stdout.contains(word),
            "--help mentions {word}:\n{help}"
        );
    }
    let version = run_bin(dir.path(), &env, &["--version"], TIMEOUT);
    assert_eq!(version.code(), Some(0), "{version}");
    assert_eq!(
        version.stdout.trim(),
        format!("ssp-tui {}", env!("CARGO_PKG_VERSION"))
    );
    let run_help = run_bin(dir.path(), &env, &["run", "--help"], TIMEOUT);
    assert_eq!(run_help.code(), Some(0), "{run_help}");
    assert!(run_help.stdout.contains("--every"), "{run_help}");
}

#[test]
fn unknown_stage_exits_2_naming_known_stages() {
    let dir = tempfile::tempdir().unwrap();
    let env = base_env(dir.path());
    let line = expect_config_error(
        dir.path(),
        &env,
        &["run", "nosuchstage"],
        &["nosuchstage", "source", "bronze"],
    );
    assert!(!line.contains("panicked"), "{line}");
    // A known stage next to an unknown one: nothing is started.
    expect_config_error(
        dir.path(),
        &env,
        &["run", "source", "nosuchstage"],
        &["nosuchstage"],
    );
    assert!(walk(&dir.path().join("lake")).is_empty(), "no stage ran");

    // A command stage from the config file is a known stage too.
    let ini = dir.path().join("stages.ini");
    std::fs::write(&ini, "[stage.spark]\ncommand = true\n").unwrap();
    let p = ini.display().to_string();
    expect_config_error(
        dir.path(),
        &env,
        &["--config", &p, "run", "nope"],
        &["nope", "source", "bronze", "spark"],
    );
}

/// A file with a syntax mistake, a key given twice, a misspelt section (in the file or in an
/// SSP__ variable): exit 2, one line naming the file, the line and what was expected.
#[test]
fn file_mistakes_name_the_line_and_unknown_sections_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let env = base_env(dir.path());
    let cases: [(&str, &[&str]); 4] = [
        ("[lake]\n[source", &["bad.ini, line 2", "must end with `]`"]),
        (
            "[lake]\nroot = a\nroot = b\n",
            &[
                "bad.ini, line 3",
                "lake.root is set twice (first on line 2)",
            ],
        ),
        (
            "[lake]\nroot a\n",
            &["bad.ini, line 2", "expected `key = value`"],
        ),
        (
            "[lakes]\nroot = a\n",
            &["unknown section [lakes]", "[lake]"],
        ),
    ];
    for (text, needles) in cases {
        let file = dir.path().join("bad.ini");
        std::fs::write(&file, text).unwrap();
        let path = file.display().to_string();
        expect_config_error(
            dir.path(),
            &env,
            &["--config", &path, "lake", "stats"],
            needles,
        );
    }
    let env = with(env, &[("SSP__SQLL__MEMORY_MB", "64")]);
    expect_config_error(
        dir.path(),
        &env,
        &["lake", "stats"],
        &["unknown section [sqll]", "SSP__SQLL__"],
    );
}

/// Without a terminal the control centre says what to do instead (exit 2), not an OS error.
#[test]
fn without_a_terminal_the_tui_says_how_to_run_headless() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_bin(dir.path(), &base_env(dir.path()), &[], TIMEOUT);
    assert_eq!(run.code(), Some(2), "{run}");
    assert!(
        run.stderr.contains("ssp-tui needs a terminal") && run.stderr.contains("ssp-tui run"),
        "{run}"
    );
}

/// `[keys]`: an unknown action, a key that is not a key, and a key given to two actions that
/// meet are each refused with exit 2, naming what is wrong (both actions for a clash).
#[test]
fn bad_keys_exit_2_naming_the_action_and_the_clash() {
    let dir = tempfile::tempdir().unwrap();
    let env = base_env(dir.path());
    expect_config_error(
        dir.path(),
        &with(env.clone(), &[("SSP__KEYS__LAUNCH", "b")]),
        &[],
        &["keys.launch", "a known action", "start"],
    );
    expect_config_error(
        dir.path(),
        &with(env.clone(), &[("SSP__KEYS__START", "Ctrl-")]),
        &[],
        &["keys.start", "Ctrl-"],
    );
    expect_config_error(
        dir.path(),
        &with(env.clone(), &[("SSP__KEYS__START", "x")]),
        &[],
        &["x is bound to both", "start", "stop"],
    );
    expect_config_error(
        dir.path(),
        &with(env.clone(), &[("SSP__KEYS__QUIT", "1")]),
        &[],
        &["1 is a label key", "quit"],
    );
    // A label key the Label pane already uses (j scrolls down there).
    expect_config_error(
        dir.path(),
        &with(env, &[("SSP__LEARN__KEYS", "j, 0")]),
        &[],
        &["[learn] keys: j is already down", "[keys] down"],
    );
}
