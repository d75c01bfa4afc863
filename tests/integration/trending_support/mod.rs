//! Helpers for the trending tests: known tweets with an independently computed expectation,
//! bronze commits written directly (with the real bronze writer), a real PostgreSQL server from `SSP_TEST_PG_URL` (fresh
//! schema per test), a TCP proxy that can cut the database off, and waiting helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use serde_json::{json, Value};
use ssp_tui::config::Settings;
use ssp_tui::lake::{
    BronzeWriter, LakeConsumer, LakeLayout, LakeLocation, RecordMeta, RollPolicy, StartAt,
};
use ssp_tui::stage::{StageState, StageStatus, Supervisor};
use ssp_tui::tweet::Tweet;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

// ---------------------------------------------------------------------------------------------
// Tweets and the expected counts
// ---------------------------------------------------------------------------------------------

/// One generated tweet: its JSON, the text, and the hashtags Twitter would list (entities).
#[derive(Debug, Clone)]
pub struct Known {
    pub json: Value,
    pub text: String,
    pub entity_tags: Vec<String>,
}

/// Words and what Twitter's rule makes of them (None: not a hashtag).
const WORDS: &[(&str, Option<&str>)] = &[
    ("#AI", Some("AI")),
    ("#ai", Some("ai")),
    ("#Ai", Some("Ai")),
    ("#AI,", Some("AI")),
    ("#Rust", Some("Rust")),
    ("#rust", Some("rust")),
    ("#RUST", Some("RUST")),
    ("#DataScience", Some("DataScience")),
    ("#datascience", Some("datascience")),
    ("dissent.#MangoMussolini", Some("MangoMussolini")),
    ("#café", Some("café")),
    ("#CAFÉ", Some("CAFÉ")),
    ("#日本語", Some("日本語")),
    ("C#", None),
    ("#2020", None),
    ("#ML.", Some("ML")),
    ("(#ml)", Some("ml")),
    ("#a';drop", Some("a")),
    ("#\"q\"", None),
    ("hello", None),
    ("world", None),
    ("data", None),
    ("streaming", None),
    ("with", None),
];

/// Deterministic tweets `base..base+n` (ids), a mix of tags, non-tags and tag-less tweets.
pub fn known_tweets(base: u64, n: u64, seed: u64) -> Vec<Known> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    (0..n)
        .map(|i| {
            let id = base + i;
            let len = 1 + next() % 7;
            let mut words = Vec::new();
            let mut tags = Vec::new();
            let tagless = i % 5 == 0;
            for _ in 0..len {
                let (w, t) = WORDS[next() % WORDS.len()];
                if tagless && w.contains('#') {
                    continue;
                }
                words.push(w.to_string());
                if let Some(t) = t {
                    tags.push(t.to_string());
                }
            }
            if words.is_empty() {
                words.push("plain".into());
            }
            let text = words.join(" ");
            let created = Utc.with_ymd_and_hms(2020, 4, 5, 10, 0, 0).unwrap()
                + chrono::Duration::seconds(i as i64);
            let json = json!({
                "created_at": created.format("%a %b %d %H:%M:%S +0000 %Y").to_string(),
                "id": id,
                "id_str": id.to_string(),
                "text": text,
                "truncated": false,
                "user": {"id": 7, "id_str": "7", "screen_name": format!("user{}", i % 13)},
                "lang": "en",
                "entities": {
                    "hashtags": tags.iter().map(|t| json!({"text": t, "indices": [0, 1]})).collect::<Vec<_>>(),
                    "user_mentions": [],
                    "urls": [],
                },
            });
            Known {
                json,
                text,
                entity_tags: tags,
            }
        })
        .collect()
}

/// Expected (display form, count) per lower-cased key, computed here without the library:
/// Twitter rule = the entity tags with `#`; seed rule = whitespace words containing `#`, and
/// `no tags` for a tweet without any.
pub fn expected(tweets: &[Known], seed_rule: bool) -> BTreeMap<String, (String, u64)> {
    let mut spellings: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for t in tweets {
        let tags: Vec<String> = if seed_rule {
            let words: Vec<String> = t
                .text
                .split_whitespace()
                .filter(|w| w.contains('#'))
                .map(str::to_string)
                .collect();
            if words.is_empty() {
                vec!["no tags".to_string()]
            } else {
                words
            }
        } else {
            t.entity_tags.iter().map(|t| format!("#{t}")).collect()
        };
        for tag in tags {
            *spellings
                .entry(tag.to_lowercase())
                .or_default()
                .entry(tag)
                .or_default() += 1;
        }
    }
    spellings
        .into_iter()
        .map(|(key, sp)| {
            let total = sp.values().sum();
            // Most frequent spelling; ties: the smallest in byte order.
            let best = sp
                .iter()
                .fold(None::<(&String, u64)>, |best, (s, n)| match best {
                    Some((_, bn)) if bn >= *n => best,
                    _ => Some((s, *n)),
                })
                .map(|(s, _)| s.clone())
                .unwrap_or_default();
            (key, (best, total))
        })
        .collect()
}

pub fn write_jsonl(path: &Path, tweets: &[Known]) {
    let mut out = String::new();
    for t in tweets {
        out.push_str(&serde_json::to_string(&t.json).unwrap());
        out.push('\n');
    }
    std::fs::write(path, out).unwrap();
}

/// A bronze writer on the table under `lake` (tweets go in with [`append`]).
pub async fn bronze_writer(lake: &Path) -> BronzeWriter {
    let layout = LakeLayout::new(lake);
    let id = format!("test-{:08x}", rand::random::<u32>());
    BronzeWriter::open(
        &LakeLocation::local(lake),
        &layout,
        RollPolicy::default(),
        id,
    )
    .await
    .unwrap()
}

/// Buffers `tweets` in `w` (offsets from `first_offset`), without committing.
pub async fn append(w: &mut BronzeWriter, tweets: &[Known], first_offset: i64) {
    let now = Utc::now();
    for (i, t) in tweets.iter().enumerate() {
        let tweet = Tweet::parse(serde_json::to_string(&t.json).unwrap().as_bytes()).unwrap();
        let meta = RecordMeta {
            topic: "twitter_data",
            partition: 0,
            offset: first_offset + i as i64,
            ingest_time: now,
            bus_time_ms: None,
        };
        w.append(&tweet, &meta, &[]).await.unwrap();
    }
}

/// Commits `tweets` to the bronze table as one commit (as the bronze stage's roll does);
/// returns the table version.
pub async fn write_bronze(lake: &Path, tweets: &[Known], first_offset: i64) -> i64 {
    let mut w = bronze_writer(lake).await;
    append(&mut w, tweets, first_offset).await;
    w.roll().await.unwrap().version.unwrap()
}

/// The newest version of the bronze table under `lake` (`None`: no table).
pub async fn bronze_version(lake: &Path) -> Option<i64> {
    let mut c = LakeConsumer::new(
        LakeLocation::local(lake),
        "bronze",
        None,
        StartAt::FirstCommit,
    );
    c.latest_version().await.unwrap()
}

/// Local paths of the data files bronze commit `version` added.
pub async fn bronze_files(lake: &Path, version: i64) -> Vec<PathBuf> {
    let location = LakeLocation::local(lake);
    let mut c = LakeConsumer::new(location, "bronze", Some(version - 1), StartAt::FirstCommit);
    let commits = c.poll(1).await.unwrap();
    assert_eq!(commits[0].version, version);
    commits[0]
        .files
        .iter()
        .map(|f| lake.join("bronze").join(&f.path))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Settings, stages
// ---------------------------------------------------------------------------------------------

pub fn settings(overrides: &[(&str, String)]) -> Settings {
    let env: Vec<(String, String)> = overrides
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    Settings::load_with_env(None, &env).unwrap_or_else(|e| panic!("{e}"))
}

pub fn status(sup: &Supervisor, name: &str) -> StageStatus {
    sup.snapshot()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no stage {name}"))
}

/// Waits until `cond` holds, panicking with `what` and the stage's status after `timeout`.
pub async fn wait_for(
    sup: &Supervisor,
    what: &str,
    timeout: Duration,
    mut cond: impl FnMut(&StageStatus) -> bool,
) -> StageStatus {
    let start = Instant::now();
    loop {
        let s = status(sup, "trending");
        if cond(&s) {
            return s;
        }
        if start.elapsed() > timeout {
            let logs = sup
                .log("trending")
                .map(|l| {
                    l.snapshot()
                        .iter()
                        .map(|x| format!("{x:?}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .unwrap_or_default();
            panic!("timed out waiting for {what}: {s:?}\nlog:\n{logs}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn wait_state(sup: &Supervisor, name: &str, state: StageState, timeout: Duration) {
    let start = Instant::now();
    loop {
        let s = status(sup, name);
        if s.state == state {
            return;
        }
        if start.elapsed() > timeout {
            panic!("{name} never reached {state:?}: {s:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `f` until it returns Some, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------------------------

/// The test server's URL. Unset: under CI (`CI=true`) the test fails; locally it is skipped
/// with a loud message.
pub fn pg_url() -> Option<String> {
    crate::common::services::var_or_skip(
        "SSP_TEST_PG_URL",
        "run scripts/test.sh, or export SSP_TEST_PG_URL=\"$(scripts/start-postgres.sh)\"",
    )
}

/// A fresh schema name for one test.
pub fn fresh_schema() -> String {
    format!("ssp_t_{:016x}", rand::random::<u64>())
}

pub async fn pg_client(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connecting to the test PostgreSQL: {e}"));
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// Every row of `<schema>.<table>`: key -> (hashtag, count).
pub async fn pg_counts(url: &str, schema: &str, table: &str) -> BTreeMap<String, (String, u64)> {
    let c = pg_client(url).await;
    let rows = c
        .query(
            &format!("SELECT tag_key, hashtag, count FROM \"{schema}\".\"{table}\""),
            &[],
        )
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            (
                r.get::<_, String>(0),
                (r.get::<_, String>(1), r.get::<_, i64>(2) as u64),
            )
        })
        .collect()
}

/// The state row: (seq, tweets).
pub async fn pg_state(url: &str, schema: &str, table: &str) -> Option<(u64, u64)> {
    let c = pg_client(url).await;
    c.query_opt(
        &format!("SELECT seq, tweets FROM \"{schema}\".\"{table}_state\" WHERE id = 1"),
        &[],
    )
    .await
    .ok()
    .flatten()
    .map(|r| (r.get::<_, i64>(0) as u64, r.get::<_, i64>(1) as u64))
}

pub async fn drop_schema(url: &str, schema: &str) {
    let c = pg_client(url).await;
    let _ = c
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .await;
}

/// `postgres://user:pass@127.0.0.1:PORT/db` -> the socket address.
pub fn pg_addr(url: &str) -> std::net::SocketAddr {
    let cfg: tokio_postgres::Config = url.parse().unwrap();
    let host = match &cfg.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        _ => panic!("a TCP URL is needed"),
    };
    let port = cfg.get_ports().first().copied().unwrap_or(5432);
    let host = if host == "localhost" {
        "127.0.0.1".to_string()
    } else {
        host
    };
    format!("{host}:{port}").parse().unwrap()
}

/// The same URL on another port (the proxy's).
pub fn url_with_port(url: &str, port: u16) -> String {
    let addr = pg_addr(url);
    url.replacen(&format!(":{}/", addr.port()), &format!(":{port}/"), 1)
}

// ---------------------------------------------------------------------------------------------
// A TCP proxy that can cut the database off
// ---------------------------------------------------------------------------------------------

/// Forwards 127.0.0.1:`port` to the database. `cut()` kills every open connection and
/// refuses new ones until `restore()`. `lose_next_commit_answer()` lets the next `COMMIT`
/// through to the server, swallows the server's answer and then kills the connection: the
/// transaction is committed but the client only sees a broken connection.
pub struct Proxy {
    pub port: u16,
    up: Arc<AtomicBool>,
    lose_commit: Arc<AtomicBool>,
    conns: Arc<Mutex<CancellationToken>>,
    stop: CancellationToken,
}

/// Copies `from` to `to`; the client side watches for `COMMIT` when armed.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    client_side: bool,
    lose_commit: Arc<AtomicBool>,
    swallow: Arc<AtomicBool>,
    kill: CancellationToken,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if !client_side && swallow.load(Ordering::SeqCst) {
            continue; // the answer is lost
        }
        let data = &buf[..n];
        let commit = client_side
            && lose_commit.load(Ordering::SeqCst)
            && data.windows(6).any(|w| w == b"COMMIT");
        if commit {
            swallow.store(true, Ordering::SeqCst);
            lose_commit.store(false, Ordering::SeqCst);
        }
        if to.write_all(data).await.is_err() {
            return;
        }
        if commit {
            // Let the server read and run it, then break the connection.
            tokio::time::sleep(Duration::from_millis(150)).await;
            kill.cancel();
            return;
        }
    }
}

impl Proxy {
    pub async fn start(target: std::net::SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let lose_commit = Arc::new(AtomicBool::new(false));
        let conns = Arc::new(Mutex::new(CancellationToken::new()));
        let stop = CancellationToken::new();
        let (up2, lose2, conns2, stop2) =
            (up.clone(), lose_commit.clone(), conns.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = stop2.cancelled() => return,
                    a = listener.accept() => a,
                };
                let Ok((client, _)) = accepted else { continue };
                if !up2.load(Ordering::SeqCst) {
                    drop(client); // refused: connection closed at once
                    continue;
                }
                let all = conns2.lock().unwrap().clone();
                let lose = lose2.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    let kill = CancellationToken::new();
                    let swallow = Arc::new(AtomicBool::new(false));
                    let up = pump(cr, sw, true, lose.clone(), swallow.clone(), kill.clone());
                    let down = pump(sr, cw, false, lose, swallow, kill.clone());
                    tokio::select! {
                        _ = all.cancelled() => {}
                        _ = kill.cancelled() => {}
                        _ = up => {}
                        _ = down => {}
                    }
                });
            }
        });
        Proxy {
            port,
            up,
            lose_commit,
            conns,
            stop,
        }
    }

    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        let mut t = self.conns.lock().unwrap();
        t.cancel();
        *t = CancellationToken::new();
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }

    /// See the type's documentation.
    pub fn lose_next_commit_answer(&self) {
        self.lose_commit.store(true, Ordering::SeqCst);
    }

    pub fn commit_answer_pending_loss(&self) -> bool {
        self.lose_commit.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
        self.conns.lock().unwrap().cancel();
    }
}
