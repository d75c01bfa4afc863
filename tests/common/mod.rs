//! Shared helpers for the integration tests: tweet JSON builders (Twitter API v1.1 and v2),
//! the independent "expected" rules (text choice, newline rule, SHA-256), running the
//! `ssp-tui` binary with a private environment and a timeout, and waiting for stage states.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use ssp_tui::config::Settings;
use ssp_tui::stage::{StageState, StageStatus, Supervisor};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_ssp-tui");

/// The repository's shipped `config.ini`.
pub fn repo_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config.ini")
}

// ---------------------------------------------------------------------------------------------
// Tweets
// ---------------------------------------------------------------------------------------------

/// What a generated tweet must look like in bronze, for the fields the builder decides
/// (text and hash are derived from the JSON by [`pick_text`] instead).
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    pub id: String,
    pub author: Option<String>,
    /// Client name as shown to people (HTML removed).
    pub source: Option<String>,
    pub hashtags: Vec<String>,
    pub created_at_ms: i64,
    pub is_retweet: bool,
}

#[derive(Debug, Clone)]
pub struct Sample {
    pub json: Value,
    pub expect: Expect,
}

fn at(i: u64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2020, 4, 5, 10, 46, 44).unwrap() + chrono::Duration::seconds(i as i64)
}

fn v1_date(t: DateTime<Utc>) -> String {
    t.format("%a %b %d %H:%M:%S +0000 %Y").to_string()
}

fn anchor(client: &str, html_client: &str) -> String {
    format!(
        r#"<a href="https://mobile.twitter.com/{}" rel="nofollow">{html_client}</a>"#,
        client.replace(' ', "-").to_lowercase()
    )
}

fn tags(list: &[&str]) -> Value {
    Value::Array(
        list.iter()
            .map(|t| json!({"text": t, "indices": [0, 1]}))
            .collect(),
    )
}

/// A Twitter API v1.1 tweet with the usual top-level fields.
pub fn v1_tweet(id: u64, text: &str, screen_name: &str, created: DateTime<Utc>) -> Value {
    json!({
        "created_at": v1_date(created),
        "id": id,
        "id_str": id.to_string(),
        "text": text,
        "truncated": false,
        "user": {"id": 7, "id_str": "7", "screen_name": screen_name, "name": "Some One"},
        "lang": "en",
        "entities": {"hashtags": [], "user_mentions": [], "urls": []},
    })
}

/// A Twitter API v2 tweet (`data` + `includes.users`).
pub fn v2_tweet(
    id: u64,
    text: &str,
    author_id: &str,
    username: &str,
    created: DateTime<Utc>,
    hashtags: &[&str],
) -> Value {
    json!({
        "data": {
            "id": id.to_string(),
            "text": text,
            "created_at": created.format("%Y-%m-%dT%H:%M:%S.000Z").to_string(),
            "author_id": author_id,
            "lang": "en",
            "entities": {"hashtags": hashtags.iter().map(|t| json!({"start": 0, "end": 1, "tag": t})).collect::<Vec<_>>()},
        },
        "includes": {"users": [
            {"id": "1", "username": "not_the_author", "name": "Decoy"},
            {"id": author_id, "username": username, "name": "Author"},
        ]},
    })
}

/// Tweet number `i` of a deterministic mix of shapes (ids are `base + i`).
pub fn mixed_tweet(base: u64, i: u64) -> Sample {
    let id = base + i;
    let created = at(i);
    let user = format!("user{}", i % 97);
    let (json, source, hashtags, is_retweet, author) = match i % 6 {
        // v1.1 plain, newlines inside and around, entities give the hashtags.
        0 => {
            let lead = if i.is_multiple_of(12) { "\n\n" } else { "" };
            let text =
                format!("{lead}Plain tweet {i} line one\nline two\n\n\nline three #Tag{i} ✓\n");
            let mut t = v1_tweet(id, &text, &user, created);
            t["source"] = anchor("iphone", "Twitter for iPhone").into();
            let tag = format!("Tag{i}");
            t["entities"]["hashtags"] = tags(&[&tag]);
            (
                t,
                Some("Twitter for iPhone".to_string()),
                vec![tag],
                false,
                Some(user),
            )
        }
        // v1.1 truncated with extended_tweet.full_text (the long text and its entities win).
        1 => {
            let mut t = v1_tweet(
                id,
                &format!("Short {i} #Cut… https://t.co/x"),
                &user,
                created,
            );
            t["truncated"] = true.into();
            t["entities"]["hashtags"] = tags(&["Cut"]);
            let full = format!(
                "Long text {i}\r\n\r\nwith #Full{i} and #Rust, which goes on and on well past the \
                 old limit of one hundred and forty characters so that it must be truncated {}",
                "…".repeat(3)
            );
            let full_tag = format!("Full{i}");
            t["extended_tweet"] = json!({
                "full_text": full,
                "display_text_range": [0, 200],
                "entities": {"hashtags": tags(&[&full_tag, "Rust"]), "user_mentions": [], "urls": []},
            });
            t["source"] = anchor("web", "Twitter Web App").into();
            (
                t,
                Some("Twitter Web App".to_string()),
                vec![full_tag, "Rust".into()],
                false,
                Some(user),
            )
        }
        // v1.1 retweet whose retweeted_status.extended_tweet.full_text holds the long text.
        2 => {
            let mut t = v1_tweet(
                id,
                &format!("RT @orig{i}: the start of a long… #Start"),
                &user,
                created,
            );
            t["entities"]["hashtags"] = tags(&["Start"]);
            let story = format!("Story{i}");
            t["retweeted_status"] = json!({
                "id": id - 1_000_000,
                "id_str": (id - 1_000_000).to_string(),
                "text": "the start of a long…",
                "truncated": true,
                "user": {"screen_name": format!("orig{i}")},
                "extended_tweet": {
                    "full_text": format!("the start of a long story {i}\n\n\n#{story} ends\rhere"),
                    "entities": {"hashtags": tags(&[&story])},
                },
            });
            t["source"] = anchor("deck", "TweetDeck").into();
            (
                t,
                Some("TweetDeck".to_string()),
                vec![story],
                true,
                Some(user),
            )
        }
        // v2 with included users and hashtags (no source field in v2 by default).
        3 => {
            let tag = format!("V2Tag{i}");
            let author_id = format!("9{i}");
            let username = format!("v2user{i}");
            let t = v2_tweet(
                id,
                &format!("v2 tweet {i}\nwith #{tag} and #二つ目\r\n"),
                &author_id,
                &username,
                created,
                &[&tag, "二つ目"],
            );
            (
                t,
                None,
                vec![tag, "二つ目".to_string()],
                false,
                Some(username),
            )
        }
        // v1.1 retweet without extended text: the top-level text stays; HTML entity in source.
        4 => {
            let mut t = v1_tweet(
                id,
                &format!("RT @bob: plain retweet {i}\n#One #Two"),
                &user,
                created,
            );
            t["entities"]["hashtags"] = tags(&["One", "Two"]);
            t["retweeted_status"] =
                json!({"id_str": "5", "text": format!("plain retweet {i}\n#One #Two")});
            t["source"] = anchor("foo", "Foo &amp; Bar <b>Client</b>").into();
            (
                t,
                Some("Foo & Bar Client".to_string()),
                vec!["One".into(), "Two".into()],
                true,
                Some(user),
            )
        }
        // v1.1 with its own extended_tweet AND a retweeted extended text: its own wins.
        _ => {
            let mut t = v1_tweet(id, &format!("Own short {i}…"), &user, created);
            let own = format!("Own{i}");
            t["extended_tweet"] = json!({
                "full_text": format!("  Own long text {i}\n\r\n#{own}  "),
                "entities": {"hashtags": tags(&[&own])},
            });
            t["retweeted_status"] = json!({
                "id_str": "6",
                "extended_tweet": {"full_text": "NOT THIS ONE #Wrong", "entities": {"hashtags": tags(&["Wrong"])}},
            });
            t["source"] = "Plain Client".into();
            (
                t,
                Some("Plain Client".to_string()),
                vec![own],
                true,
                Some(user),
            )
        }
    };
    Sample {
        expect: Expect {
            id: id.to_string(),
            author,
            source,
            hashtags,
            created_at_ms: created.timestamp_millis(),
            is_retweet,
        },
        json,
    }
}

pub fn mixed_tweets(base: u64, n: u64) -> Vec<Sample> {
    (0..n).map(|i| mixed_tweet(base, i)).collect()
}

/// A small v1.1 tweet (for bulk files where the shape does not matter).
pub fn small_tweet(id: u64) -> Value {
    let mut t = v1_tweet(
        id,
        &format!("bulk tweet {id} #Bulk"),
        "bulk",
        at(id % 100_000),
    );
    t["entities"]["hashtags"] = tags(&["Bulk"]);
    t
}

/// The id a v1.1 or v2 tweet JSON carries.
pub fn tweet_id(v: &Value) -> String {
    v.pointer("/data/id")
        .or_else(|| v.get("id_str"))
        .and_then(Value::as_str)
        .expect("tweet has an id")
        .to_string()
}

/// Each run of `\r` / `\n` becomes ONE space, then the result is trimmed.
pub fn newline_rule(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_run = false;
    for c in s.chars() {
        if c == '\r' || c == '\n' {
            if !in_run {
                out.push(' ');
            }
            in_run = true;
        } else {
            out.push(c);
            in_run = false;
        }
    }
    out.trim().to_string()
}

/// The text bronze must hold: v2 `data.text`; v1.1 `extended_tweet.full_text`, else
/// `retweeted_status.extended_tweet.full_text`, else `text`; then [`newline_rule`].
pub fn pick_text(v: &Value) -> String {
    let raw = match v.get("data").filter(|d| d.is_object()) {
        Some(d) => d.get("text"),
        None => v
            .pointer("/extended_tweet/full_text")
            .or_else(|| v.pointer("/retweeted_status/extended_tweet/full_text"))
            .or_else(|| v.get("text")),
    };
    newline_rule(raw.and_then(Value::as_str).unwrap_or(""))
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One compact JSON document per line.
pub fn write_jsonl(path: &Path, tweets: impl IntoIterator<Item = Value>) {
    let mut out = String::new();
    for t in tweets {
        out.push_str(&serde_json::to_string(&t).unwrap());
        out.push('\n');
    }
    std::fs::write(path, out).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

/// Every file under `dir` (recursive, sorted); a missing dir is empty.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(t) if t.is_file() => out.push(p),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Temporary / hidden files (`.`-prefixed or `.tmp`) under `dir`.
pub fn temp_files(dir: &Path) -> Vec<PathBuf> {
    walk(dir)
        .into_iter()
        .filter(|p| {
            let n = name(p);
            n.starts_with('.') || n.ends_with(".tmp")
        })
        .collect()
}

/// `part-*.parquet` files under `dir`.
pub fn part_files(dir: &Path) -> Vec<PathBuf> {
    walk(dir)
        .into_iter()
        .filter(|p| {
            let n = name(p);
            n.starts_with("part-") && n.ends_with(".parquet")
        })
        .collect()
}

/// Every line of every dead-letter file under `<lake>/dead_letter`, parsed.
pub fn dead_letter_lines(lake: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    for p in walk(&lake.join("dead_letter")) {
        if !name(&p).ends_with(".jsonl") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        for line in text.lines() {
            out.push(serde_json::from_str(line).unwrap_or_else(|e| {
                panic!("dead-letter line of {} is not JSON: {e}", p.display())
            }));
        }
    }
    out
}

/// How many times each id occurs.
pub fn id_counts<'a>(ids: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for id in ids {
        *m.entry(id.to_string()).or_insert(0) += 1;
    }
    m
}

// ---------------------------------------------------------------------------------------------
// The binary
// ---------------------------------------------------------------------------------------------

pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// `ssp-tui ARGS` in `cwd` with the test's own `SSP__*` variables only (none inherited).
pub fn command(cwd: &Path, env: &[(&str, String)], args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(cwd).args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("SSP__") || k == "RUST_LOG" {
            c.env_remove(k);
        }
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

pub fn spawn(cwd: &Path, env: &[(&str, String)], args: &[&str]) -> Child {
    command(cwd, env, args).spawn().expect("spawning ssp-tui")
}

/// Waits for `child` to exit; after `timeout` kills it and panics with its output.
pub fn finish(mut child: Child, timeout: Duration) -> Run {
    let read = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut v);
            }
            String::from_utf8_lossy(&v).into_owned()
        })
    };
    let out = read(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err = read(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().expect("waiting for ssp-tui") {
            break Some(s);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    match status {
        Some(status) => Run {
            status,
            stdout,
            stderr,
        },
        None => panic!(
            "ssp-tui did not exit within {timeout:?} (killed)\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
        ),
    }
}

pub fn run_bin(cwd: &Path, env: &[(&str, String)], args: &[&str], timeout: Duration) -> Run {
    finish(spawn(cwd, env, args), timeout)
}

/// `ssp-tui lake stats --json`, parsed (asserts exit 0).
pub fn lake_stats(cwd: &Path, env: &[(&str, String)]) -> Value {
    let run = run_bin(
        cwd,
        env,
        &["lake", "stats", "--json"],
        Duration::from_secs(30),
    );
    assert_eq!(run.code(), Some(0), "lake stats failed:\n{run}");
    serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("lake stats --json is not JSON ({e}):\n{run}"))
}

// ---------------------------------------------------------------------------------------------
// In process
// ---------------------------------------------------------------------------------------------

/// Settings from the repo's config.ini plus `overrides` (never the process environment).
pub fn settings(overrides: &[(&str, String)]) -> Settings {
    let env: Vec<(String, String)> = overrides
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    Settings::load_with_env(Some(&repo_config()), &env).expect("valid test settings")
}

pub fn status(sup: &Supervisor, name: &str) -> StageStatus {
    sup.snapshot()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no stage {name}"))
}

/// Polls until `ok(status)` holds; panics on timeout or when the stage failed.
pub async fn wait_until(
    sup: &Arc<Supervisor>,
    name: &str,
    timeout: Duration,
    what: &str,
    ok: impl Fn(&StageStatus) -> bool,
) -> StageStatus {
    let deadline = Instant::now() + timeout;
    loop {
        let s = status(sup, name);
        if ok(&s) {
            return s;
        }
        assert!(
            s.state != StageState::Failed,
            "{name} failed while waiting for {what}: {s:?}"
        );
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {name}: {what}; now {s:?}\nlog: {:?}",
            sup.log(name).map(|l| l.snapshot())
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub async fn wait_state(
    sup: &Arc<Supervisor>,
    name: &str,
    want: StageState,
    timeout: Duration,
) -> StageStatus {
    wait_until(sup, name, timeout, want.label(), |s| s.state == want).await
}
