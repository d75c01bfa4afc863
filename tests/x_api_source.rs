//! The X API source end to end against a local fake of the X API (`x_api_fake`): rules sync,
//! every tweet once through keep-alives, operational messages, stalls and cut connections;
//! X's backoff sequence (with a recording clock); 401 / 403 stop the stage; the token never
//! shows in logs, status or on the screen.

#[path = "integration/common/mod.rs"]
mod common;
#[path = "integration/x_api_fake/mod.rs"]
mod x_api_fake;

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{dead_letter_lines, settings, status, wait_state, wait_until};
use futures::future::BoxFuture;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use ssp_tui::config::Settings;
use ssp_tui::lake::{read_bronze_rows, LakeLocation};
use ssp_tui::source::x_api::backoff::Clock;
use ssp_tui::source::x_api::{configured_rules, XApiSource};
use ssp_tui::stage::{LogBuffer, StageMetrics, StageState, Supervisor};
use ssp_tui::tui::action::PaneId;
use x_api_fake::*;

const BASE: u64 = 1_790_000_000_000_000_000;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Everything written through `tracing` by this test binary (the global subscriber, at TRACE,
/// so dependencies' logs are checked too).
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        struct W(Arc<Mutex<Vec<u8>>>);
        impl Write for W {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || W(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        buf
    })
    .clone()
}

fn logs_text() -> String {
    String::from_utf8_lossy(&captured_logs().lock().unwrap()).into_owned()
}

fn x_settings(
    fake: &FakeX,
    token: &str,
    lake: &std::path::Path,
    extra: &[(&str, &str)],
) -> Settings {
    let mut env: Vec<(&str, String)> = vec![
        ("SSP__SOURCE__KIND", "x_api".into()),
        ("SSP__SOURCE__X_API_BASE_URL", fake.base_url()),
        ("SSP_X_BEARER_TOKEN", token.into()),
        ("SSP__SOURCE__X_STALL_SECONDS", "2".into()),
        ("SSP__LAKE__ROOT", lake.display().to_string()),
        ("SSP__LAKE__ROLL_SECONDS", "0.5".into()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    settings(&env)
}

/// The whole screen as text (one line per row), drawn as the TUI draws it; with `zoom`, that
/// pane alone (as the `z` key shows it).
fn render(sup: &Arc<Supervisor>, zoom: Option<PaneId>) -> String {
    let mut app = ssp_tui::tui::app::App::new(sup.clone());
    app.refresh_stages();
    app.refresh_logs();
    if let Some(pane) = zoom {
        app.focus = pane;
        app.zoom = true;
    }
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
    terminal
        .draw(|f| ssp_tui::tui::ui::draw(f, &mut app))
        .unwrap();
    let buf = terminal.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

/// Every place the token could leak to: stage logs, statuses, settings, the screen (whole,
/// and the Stages and Logs panes zoomed), tracing. Returns the zoomed panes' text.
fn assert_token_hidden(sup: &Arc<Supervisor>, token: &str) -> String {
    let screen = render(sup, Some(PaneId::Stages)) + &render(sup, Some(PaneId::Logs));
    let mut places = vec![
        ("screen", render(sup, None)),
        ("zoomed panes", screen.clone()),
        ("snapshot", format!("{:?}", sup.snapshot())),
        ("settings", format!("{:?}", sup.pipeline().settings)),
        ("tracing", logs_text()),
    ];
    for name in sup.names() {
        let lines = sup.log(&name).unwrap().snapshot();
        places.push(("stage log", format!("{lines:?}")));
    }
    for (place, text) in places {
        assert!(
            !text.contains(token),
            "the token shows in the {place}:\n{text}"
        );
    }
    screen
}

async fn consume_ids(sup: &Arc<Supervisor>, want: usize, timeout: Duration) -> Vec<String> {
    let p = sup.pipeline();
    let deadline = std::time::Instant::now() + timeout;
    // The source stage creates the topic when it starts.
    let mut consumer = loop {
        match p.bus.consumer("x-api-test", p.topic()).await {
            Ok(c) => break c,
            Err(e) => {
                assert!(std::time::Instant::now() < deadline, "{e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    let mut ids = Vec::new();
    while ids.len() < want {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {want} tweets arrived: {ids:?}\nsource log: {:#?}",
            ids.len(),
            sup.log("source").unwrap().snapshot()
        );
        for m in consumer
            .poll(100, Duration::from_millis(100))
            .await
            .unwrap()
        {
            let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
            ids.push(v["data"]["id"].as_str().unwrap().to_string());
        }
    }
    // Nothing more comes afterwards.
    for m in consumer
        .poll(100, Duration::from_millis(700))
        .await
        .unwrap()
    {
        ids.push(String::from_utf8_lossy(&m.payload).into_owned());
    }
    ids
}

fn log_has(sup: &Supervisor, stage: &str, needle: &str) -> bool {
    sup.log(stage)
        .unwrap()
        .snapshot()
        .iter()
        .any(|l| l.text.contains(needle))
}

fn tweets(range: std::ops::Range<u64>) -> Vec<Step> {
    range.map(|i| Step::Line(tweet_line(BASE + i))).collect()
}

fn half(i: u64) -> Vec<u8> {
    let line = tweet_line(BASE + i);
    line.as_bytes()[..line.len() / 2].to_vec()
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tweet_arrives_once_through_keepalives_errors_stalls_and_cuts() {
    captured_logs();
    let token = "tok-7Hq2-SECRET-bearer-0123456789";
    let mut conn1 = vec![Step::KeepAlive];
    for (n, t) in tweets(0..10).into_iter().enumerate() {
        conn1.push(t);
        if n % 3 == 0 {
            conn1.push(Step::KeepAlive);
        }
    }
    conn1.extend([
        Step::Line(
            r#"{"errors":[{"title":"Invalid Request","detail":"a notice the source only logs"}]}"#
                .into(),
        ),
        Step::Line(r#"{"meta":{"sent":"2024-05-06T07:08:09.000Z"}}"#.into()),
        Step::Pause(Duration::from_millis(50)),
        Step::Raw(half(10)),
        Step::Pause(Duration::from_millis(50)),
        Step::Abort,
    ]);
    let mut conn2 = tweets(10..20);
    conn2.insert(3, Step::Raw(b"\r\n\r\n".to_vec()));
    conn2.push(Step::Stall);
    let mut conn3 = tweets(20..25);
    conn3.extend([Step::Line(operational_disconnect()), Step::Stall]);
    let conn4 = vec![Step::KeepAlive, Step::Raw(half(25)), Step::End];
    let mut conn5 = tweets(25..40);
    conn5.push(Step::KeepAlives(Duration::from_millis(100)));
    let fake = FakeX::start(
        token,
        vec![
            Reply::steps(conn1),
            Reply::steps(conn2),
            Reply::steps(conn3),
            Reply::steps(conn4),
            Reply::steps(conn5),
        ],
    )
    .await;
    let lake = tempfile::tempdir().unwrap();
    let s = x_settings(&fake, token, lake.path(), &[]);
    let wanted = configured_rules(&s.source.x_api).unwrap();
    assert!(wanted.len() >= 2);
    // The server starts with one stale rule and one wanted rule (which must be kept).
    fake.with(|st| {
        st.rules.push(ServerRule {
            id: "1".into(),
            value: "old OR rules".into(),
            tag: Some("ai".into()),
        });
        st.rules.push(ServerRule {
            id: "2".into(),
            value: wanted[0].value.clone(),
            tag: Some(wanted[0].tag.clone()),
        });
    });
    let sup = ssp_tui::pipeline::build_supervisor(&s).unwrap();
    assert_eq!(sup.start("bronze").unwrap(), ["source", "bronze"]);

    let mut ids = consume_ids(&sup, 40, Duration::from_secs(30)).await;
    ids.sort();
    let want: Vec<String> = (0..40).map(|i| (BASE + i).to_string()).collect();
    assert_eq!(ids, want, "every tweet once");

    // Rules: exactly the configured set; the wanted rule already there was kept.
    let mut have: Vec<(String, Option<String>)> =
        fake.rules().into_iter().map(|r| (r.value, r.tag)).collect();
    let mut expect: Vec<(String, Option<String>)> = wanted
        .iter()
        .map(|r| (r.value.clone(), Some(r.tag.clone())))
        .collect();
    have.sort();
    expect.sort();
    assert_eq!(have, expect);
    assert!(fake.rules().iter().any(|r| r.id == "2"));
    assert!(fake.rules().iter().all(|r| r.value.chars().count() <= 512));

    // Five stream connections, one at a time, asking for the fields bronze reads.
    let streams = fake.stream_requests();
    assert_eq!(streams.len(), 5, "{streams:#?}");
    assert_eq!(fake.max_open_streams(), 1);
    assert_eq!(
        streams[0].query.as_deref(),
        Some("tweet.fields=created_at,entities,author_id,lang,referenced_tweets&expansions=author_id&user.fields=username,name")
    );
    // Network failures back off linearly: 250 ms, 500 ms, ... (a tweet resets the count).
    for pair in streams.windows(2) {
        assert!(pair[1].at - pair[0].at >= Duration::from_millis(240));
    }

    let st = wait_until(&sup, "source", Duration::from_secs(5), "connected", |s| {
        s.detail == "connected"
    })
    .await;
    assert_eq!(st.state, StageState::Running);
    assert_eq!(st.output, 40);
    assert_eq!(st.restarts, 0);
    assert!(st.errors >= 4, "each disconnect counts: {st:?}");
    for needle in [
        "rules: 1 kept,",
        "1 deleted",
        "X says: Invalid Request: a notice the source only logs",
        "skipped a message that is not a tweet",
        "connection lost",
        "bytes of an unfinished line dropped",
        "stalled: no data (not even a keep-alive) for 2.0 s",
        "X says: operational-disconnect",
        "disconnected: operational disconnect",
        "the server closed the stream",
        "bearer token *** (from SSP_X_BEARER_TOKEN)",
    ] {
        assert!(
            log_has(&sup, "source", needle),
            "source log lacks {needle:?}: {:#?}",
            sup.log("source").unwrap().snapshot()
        );
    }

    let screen = assert_token_hidden(&sup, token);
    assert!(screen.contains("connected"), "{screen}");
    assert!(screen.contains("bearer token ***"), "{screen}");
    assert!(logs_text().contains("X API: connected"));

    // Bronze holds every tweet once, parsed from the v2 JSON (entities included).
    sup.shutdown(Duration::from_secs(20)).await;
    assert_eq!(status(&sup, "source").detail, "stopped");
    let rows = read_bronze_rows(&LakeLocation::local(lake.path()))
        .await
        .unwrap();
    let got: BTreeSet<String> = rows.iter().map(|r| r.id_str.clone()).collect();
    assert_eq!(rows.len(), 40);
    assert_eq!(got, want.iter().cloned().collect());
    let r = rows.iter().find(|r| r.id_str == want[8]).unwrap();
    assert_eq!(r.hashtags, vec![format!("Tag{}", (BASE + 8) % 7)]);
    assert_eq!(r.mentions, vec![format!("user{}", (BASE + 8) % 13)]);
    assert_eq!(
        r.author.as_deref(),
        Some(format!("author{}", (BASE + 8) % 13).as_str())
    );
    assert_eq!(
        r.expanded_url,
        vec![format!("https://example.com/post/{}", BASE + 8)]
    );
    assert!(dead_letter_lines(lake.path()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_token_stops_the_stage_with_its_message() {
    captured_logs();
    let wrong = "wrong-TOKEN-5f1c9e7a-do-not-show";
    let fake = FakeX::start("the-right-token", vec![]).await;
    let lake = tempfile::tempdir().unwrap();
    let sup =
        ssp_tui::pipeline::build_supervisor(&x_settings(&fake, wrong, lake.path(), &[])).unwrap();
    sup.start("source").unwrap();
    let st = wait_state(&sup, "source", StageState::Failed, Duration::from_secs(10)).await;
    let err = st.last_error.clone().unwrap_or_default();
    assert!(
        err.starts_with("bad token: X answered HTTP 401 Unauthorized"),
        "{st:?}"
    );
    assert!(st.detail.starts_with("stopped: bad token"), "{st:?}");
    // Not retried: one request, no restart, however long we wait.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let st = status(&sup, "source");
    assert_eq!(st.state, StageState::Failed);
    assert_eq!(st.restarts, 0);
    assert_eq!(fake.requests().len(), 1, "{:#?}", fake.requests());
    assert!(log_has(&sup, "source", "not restarted"));
    let screen = assert_token_hidden(&sup, wrong);
    assert!(screen.contains("bad token"), "{screen}");
    assert!(logs_text().contains("bad token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_stream_stops_with_no_access() {
    captured_logs();
    let token = "tok-forbidden-case-8c2d";
    let fake = FakeX::start(token, vec![Reply::forbidden()]).await;
    let lake = tempfile::tempdir().unwrap();
    let sup =
        ssp_tui::pipeline::build_supervisor(&x_settings(&fake, token, lake.path(), &[])).unwrap();
    sup.start("source").unwrap();
    let st = wait_state(&sup, "source", StageState::Failed, Duration::from_secs(10)).await;
    let err = st.last_error.unwrap_or_default();
    assert!(
        err.starts_with(
            "no access: X answered HTTP 403 Forbidden (Client Forbidden: When authenticating"
        ),
        "{err}"
    );
    assert!(err.contains("Pro or Enterprise"), "{err}");
    assert_eq!(fake.stream_requests().len(), 1);
    // The rules were synced before the stream refused us.
    assert!(!fake.rules().is_empty());
    let screen = assert_token_hidden(&sup, token);
    assert!(screen.contains("no access"), "{screen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_x_rejects_stop_the_stage() {
    captured_logs();
    let token = "tok-rules-case-41aa";
    let fake = FakeX::start(token, vec![]).await;
    fake.with(|s| s.max_rule_len = 100);
    let lake = tempfile::tempdir().unwrap();
    let s = x_settings(
        &fake,
        token,
        lake.path(),
        &[
            ("SSP__SOURCE__X_RULE_MAX_LEN", "1024"),
            ("SSP__SOURCE__X_STREAMS", "ai"),
        ],
    );
    let sup = ssp_tui::pipeline::build_supervisor(&s).unwrap();
    sup.start("source").unwrap();
    let st = wait_state(&sup, "source", StageState::Failed, Duration::from_secs(10)).await;
    let err = st.last_error.unwrap_or_default();
    assert!(err.starts_with("rules rejected by X: "), "{err}");
    assert!(
        err.contains("Rules must be between 1 and 100 characters"),
        "{err}"
    );
    assert!(fake.stream_requests().is_empty());
    // With the limit configured to the server's, the same rules fit.
    let s = x_settings(
        &fake,
        token,
        lake.path(),
        &[
            ("SSP__SOURCE__X_RULE_MAX_LEN", "100"),
            ("SSP__SOURCE__X_STREAMS", "ai"),
        ],
    );
    let wanted = configured_rules(&s.source.x_api).unwrap();
    let sup = ssp_tui::pipeline::build_supervisor(&s).unwrap();
    sup.start("source").unwrap();
    wait_until(&sup, "source", Duration::from_secs(10), "connected", |s| {
        s.detail == "connected"
    })
    .await;
    let have: BTreeSet<String> = fake.rules().into_iter().map(|r| r.value).collect();
    let want: BTreeSet<String> = wanted.into_iter().map(|r| r.value).collect();
    assert_eq!(have, want);
    assert!(have.len() > 5, "split over many short rules: {have:#?}");
    sup.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_shows_the_countdown_and_stopping_is_prompt() {
    captured_logs();
    let token = "tok-429-case-77e1";
    let reset = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 90;
    let fake = FakeX::start(token, vec![Reply::too_many(Some(reset))]).await;
    let lake = tempfile::tempdir().unwrap();
    let sup =
        ssp_tui::pipeline::build_supervisor(&x_settings(&fake, token, lake.path(), &[])).unwrap();
    sup.start("source").unwrap();
    let st = wait_until(
        &sup,
        "source",
        Duration::from_secs(10),
        "reconnecting",
        |s| s.detail.starts_with("reconnecting (next attempt in "),
    )
    .await;
    let n: u64 = st
        .detail
        .trim_start_matches("reconnecting (next attempt in ")
        .trim_end_matches(" s)")
        .parse()
        .unwrap_or_else(|_| panic!("{}", st.detail));
    assert!(
        (85..=90).contains(&n),
        "waits until the reset, about 90 s: {}",
        st.detail
    );
    assert_eq!(st.state, StageState::Running);
    assert!(st
        .last_error
        .unwrap_or_default()
        .contains("rate limited: HTTP 429"));
    let screen = assert_token_hidden(&sup, token);
    assert!(screen.contains("reconnecting (next attempt in"), "{screen}");
    let asked = std::time::Instant::now();
    sup.stop("source").unwrap();
    wait_state(&sup, "source", StageState::Stopped, Duration::from_secs(3)).await;
    assert!(asked.elapsed() < Duration::from_secs(3));
    assert_eq!(fake.stream_requests().len(), 1);
    assert_eq!(status(&sup, "source").detail, "stopped");
}

/// Records every wait instead of sleeping; its time moves by the waits.
struct RecordingClock {
    start: SystemTime,
    waits: Mutex<Vec<(Duration, String)>>,
    metrics: Arc<StageMetrics>,
}

impl Clock for RecordingClock {
    fn now(&self) -> SystemTime {
        self.start
            + self
                .waits
                .lock()
                .unwrap()
                .iter()
                .map(|(d, _)| *d)
                .sum::<Duration>()
    }
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        self.waits.lock().unwrap().push((d, self.metrics.detail()));
        Box::pin(tokio::task::yield_now())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backoff_sequence_follows_x_rules() {
    captured_logs();
    let token = "tok-backoff-case-19bd";
    let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let fake = FakeX::start(
        token,
        vec![
            Reply::too_many(Some(1_700_000_200)), // 429, reset in 200 s: 200 s
            Reply::too_many(None),                // 429 again: 120 s
            Reply::status(503),                   // HTTP: 5 s
            Reply::status(500),                   // HTTP: 10 s
            Reply::steps(vec![Step::Raw(b"{\"da".to_vec()), Step::End]), // network: 250 ms
            Reply::steps(vec![Step::Raw(half(0)), Step::Abort]), // network: 500 ms
            Reply::steps(vec![
                Step::KeepAlive,
                Step::Line(tweet_line(BASE + 1)),
                Step::End,
            ]), // delivered (resets), then closed: 250 ms
            Reply::status(502),                   // HTTP again, from the start: 5 s
            Reply::steps(vec![Step::Line(tweet_line(BASE + 2)), Step::Stall]),
        ],
    )
    .await;
    let lake = tempfile::tempdir().unwrap();
    let s = x_settings(&fake, token, lake.path(), &[]);
    let metrics = Arc::new(StageMetrics::default());
    let clock = Arc::new(RecordingClock {
        start,
        waits: Mutex::default(),
        metrics: metrics.clone(),
    });
    let log = LogBuffer::new(1000);
    let mut source =
        XApiSource::with_clock(&s.source.x_api, metrics.clone(), log.clone(), clock.clone())
            .unwrap();
    let mut buf = Vec::new();
    for want in [BASE + 1, BASE + 2] {
        tokio::time::timeout(Duration::from_secs(20), source.next(&mut buf))
            .await
            .expect("a tweet in time")
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["data"]["id"], want.to_string());
    }
    let waits = clock.waits.lock().unwrap().clone();
    let ms = Duration::from_millis;
    let s_ = Duration::from_secs;
    assert_eq!(
        waits.iter().map(|(d, _)| *d).collect::<Vec<_>>(),
        vec![
            s_(200),
            s_(120),
            s_(5),
            s_(10),
            ms(250),
            ms(500),
            ms(250),
            s_(5)
        ]
    );
    let details: Vec<&str> = waits.iter().map(|(_, d)| d.as_str()).collect();
    assert_eq!(
        details,
        [
            "reconnecting (next attempt in 200 s)",
            "reconnecting (next attempt in 120 s)",
            "reconnecting (next attempt in 5.0 s)",
            "reconnecting (next attempt in 10 s)",
            "reconnecting (next attempt in 0.3 s)",
            "reconnecting (next attempt in 0.5 s)",
            "reconnecting (next attempt in 0.3 s)",
            "reconnecting (next attempt in 5.0 s)",
        ]
    );
    assert_eq!(metrics.detail(), "connected");
    assert_eq!(fake.stream_requests().len(), 9);
    drop(source);
    assert_eq!(metrics.detail(), "stopped");
    let all: Vec<String> = log.snapshot().into_iter().map(|l| l.text).collect();
    assert!(!format!("{all:?}").contains(token));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_sync_the_servers_rules_stay_as_they_are() {
    captured_logs();
    let token = "tok-nosync-case-2b77";
    let fake = FakeX::start(
        token,
        vec![Reply::steps(vec![
            Step::Line(tweet_line(BASE + 500)),
            Step::KeepAlives(Duration::from_millis(100)),
        ])],
    )
    .await;
    let custom = ServerRule {
        id: "42".into(),
        value: "(rust OR tokio) lang:en".into(),
        tag: Some("mine".into()),
    };
    fake.with(|s| s.rules.push(custom.clone()));
    let lake = tempfile::tempdir().unwrap();
    let s = x_settings(
        &fake,
        token,
        lake.path(),
        &[("SSP__SOURCE__X_SYNC_RULES", "false")],
    );
    let sup = ssp_tui::pipeline::build_supervisor(&s).unwrap();
    sup.start("source").unwrap();
    let ids = consume_ids(&sup, 1, Duration::from_secs(10)).await;
    assert_eq!(ids, [(BASE + 500).to_string()]);
    assert_eq!(fake.rules(), [custom]);
    assert!(fake.requests().iter().all(|r| r.path == STREAM_PATH));
    assert!(log_has(
        &sup,
        "source",
        "(not synced: source.x_sync_rules = false)"
    ));
    sup.shutdown(Duration::from_secs(5)).await;
}
