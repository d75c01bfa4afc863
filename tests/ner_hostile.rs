//! The `ner` stage against a hostile NER endpoint: a small HTTP server in the test (raw tokio
//! TcpListener, so it can also reset connections and vanish) that answers slowly, with 500s,
//! with invalid JSON, with 50 MB bodies, with resets, or not at all, per tweet text.
//! The stage retries with backoff, records what keeps failing as errors (in silver, counted),
//! never panics or fails, waits out an outage and resumes, and every tweet is in silver
//! exactly once, including across a stop / start.

mod ner_common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ner_common::*;
use ssp_tui::lake::LakeLayout;
use ssp_tui::stage::ner::{checkpoint_path, NerCheckpoint};
use ssp_tui::stage::StageState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Request delay for ordinary texts, and how long a "slow" answer takes.
const SLOW: Duration = Duration::from_secs(2);

#[derive(Default)]
struct State {
    /// Requests that carried each text.
    seen: Mutex<HashMap<String, u32>>,
    /// Texts answered with entities.
    answered: Mutex<HashMap<String, u32>>,
    /// The next this-many NER requests get a 500.
    fail_next: AtomicU32,
    /// Extra delay for every NER request, in ms.
    delay_ms: AtomicU64,
    /// Not listening at all (connections refused).
    down: AtomicBool,
    health_checks: AtomicU32,
}

struct Hostile {
    addr: SocketAddr,
    state: Arc<State>,
    up: tokio::sync::watch::Sender<bool>,
}

impl Hostile {
    /// A server on a free loopback port; `up` = listening from the start.
    async fn start(up: bool) -> Hostile {
        let probe = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = probe.local_addr().unwrap();
        drop(probe);
        let state = Arc::new(State::default());
        state.down.store(!up, Ordering::SeqCst);
        let (tx, rx) = tokio::sync::watch::channel(up);
        tokio::spawn(serve(addr, state.clone(), rx));
        if up {
            wait_listening(addr).await;
        }
        Hostile {
            addr,
            state,
            up: tx,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn set_up(&self, up: bool) {
        self.state.down.store(!up, Ordering::SeqCst);
        self.up.send_replace(up);
        if up {
            wait_listening(self.addr).await;
        } else {
            // Until connections are refused.
            for _ in 0..200 {
                if TcpStream::connect(self.addr).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("the hostile server still accepts connections");
        }
    }

    fn seen(&self, text: &str) -> u32 {
        *self.state.seen.lock().unwrap().get(text).unwrap_or(&0)
    }

    fn answered(&self) -> HashMap<String, u32> {
        self.state.answered.lock().unwrap().clone()
    }
}

async fn wait_listening(addr: SocketAddr) {
    for _ in 0..500 {
        if TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("hostile server not listening on {addr}");
}

/// Accepts while `up`; drops the listener (connections refused) while down.
async fn serve(addr: SocketAddr, state: Arc<State>, mut up: tokio::sync::watch::Receiver<bool>) {
    loop {
        while !*up.borrow_and_update() {
            if up.changed().await.is_err() {
                return;
            }
        }
        let listener = loop {
            match TcpListener::bind(addr).await {
                Ok(l) => break l,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        loop {
            tokio::select! {
                changed = up.changed() => {
                    if changed.is_err() { return; }
                    if !*up.borrow() { break; }
                }
                conn = listener.accept() => {
                    if let Ok((sock, _)) = conn {
                        tokio::spawn(handle(sock, state.clone()));
                    }
                }
            }
        }
        drop(listener);
    }
}

async fn read_request(sock: &mut TcpStream) -> Option<(String, String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.lines();
    let mut first = lines.next()?.split_whitespace();
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let len = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let line = format!("{method} {path}");
    Some((method, line, body))
}

async fn respond(sock: &mut TcpStream, status: u16, body: &str) {
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = sock.write_all(head.as_bytes()).await;
    let _ = sock.write_all(body.as_bytes()).await;
    let _ = sock.shutdown().await;
}

fn first_word(t: &str) -> (String, usize) {
    let w: String = t.chars().take_while(|c| !c.is_whitespace()).collect();
    let n = w.chars().count();
    (w, n)
}

async fn handle(mut sock: TcpStream, state: Arc<State>) {
    let Some((_, line, body)) = read_request(&mut sock).await else {
        return;
    };
    if line.starts_with("GET /health") {
        state.health_checks.fetch_add(1, Ordering::SeqCst);
        return respond(&mut sock, 200, r#"{"status":"ok","model":"hostile"}"#).await;
    }
    let seed = line.starts_with("POST /text/ner/spacy");
    if !seed && !line.starts_with("POST /ner") {
        return respond(&mut sock, 404, "{}").await;
    }
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let texts: Vec<String> = if seed {
        vec![v["text"].as_str().unwrap_or_default().to_string()]
    } else {
        v["texts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|t| t.as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    {
        let mut seen = state.seen.lock().unwrap();
        for t in &texts {
            *seen.entry(t.clone()).or_default() += 1;
        }
    }
    let has = |w: &str| texts.iter().any(|t| t.contains(w));
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if state
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return respond(&mut sock, 500, r#"{"error":"burst"}"#).await;
    }
    if has("TRIGGER_SLOW") {
        tokio::time::sleep(SLOW).await;
    }
    if has("TRIGGER_500") {
        return respond(&mut sock, 500, "Internal Server Error").await;
    }
    if has("TRIGGER_JUNK") {
        let junk = if seed {
            r#"{"res": "{'FIRST': 'unterminated}"}"#
        } else {
            r#"{"entities": [[{"text": "#
        };
        return respond(&mut sock, if seed { 201 } else { 200 }, junk).await;
    }
    if has("TRIGGER_WRONGCOUNT") {
        return respond(&mut sock, 200, r#"{"entities": [[], [], []]}"#).await;
    }
    if has("TRIGGER_RESET") {
        // RST instead of an answer.
        #[allow(deprecated)] // linger 0 does not block: it resets at once
        let _ = sock.set_linger(Some(Duration::ZERO));
        drop(sock);
        return;
    }
    if has("TRIGGER_HUGE") || has("TRIGGER_BIGLEN") {
        // 50 MB: chunked (the cap must stop the stream) or announced up front.
        let head = if has("TRIGGER_HUGE") {
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_string()
        } else {
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                50 << 20
            )
        };
        if sock.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let mb = vec![b' '; 1 << 20];
        for _ in 0..50 {
            let ok = if has("TRIGGER_HUGE") {
                sock.write_all(format!("{:x}\r\n", mb.len()).as_bytes())
                    .await
                    .is_ok()
                    && sock.write_all(&mb).await.is_ok()
                    && sock.write_all(b"\r\n").await.is_ok()
            } else {
                sock.write_all(&mb).await.is_ok()
            };
            if !ok {
                return; // the client hung up: good
            }
        }
        let _ = sock.write_all(b"0\r\n\r\n").await;
        return;
    }
    // A correct answer: the first word of each text as a FIRST entity.
    {
        let mut answered = state.answered.lock().unwrap();
        for t in &texts {
            *answered.entry(t.clone()).or_default() += 1;
        }
    }
    if seed {
        let (w, _) = first_word(&texts[0]);
        let res = format!("{{'FIRST': {w:?}}}").replace('"', "'");
        let body = serde_json::json!({ "res": res }).to_string();
        respond(&mut sock, 201, &body).await
    } else {
        let lists: Vec<serde_json::Value> = texts
            .iter()
            .map(|t| {
                let (w, n) = first_word(t);
                serde_json::json!([{"text": w, "label": "FIRST", "start": 0, "end": n}])
            })
            .collect();
        respond(
            &mut sock,
            200,
            &serde_json::json!({ "entities": lists }).to_string(),
        )
        .await
    }
}

/// Ordinary texts `word<i> ...` plus one text per trigger.
fn texts_with_triggers(n: usize) -> (Vec<String>, Vec<(&'static str, &'static str)>) {
    let triggers = vec![
        ("TRIGGER_SLOW", "timeout"),
        ("TRIGGER_500", "HTTP 500"),
        ("TRIGGER_JUNK", "invalid"),
        ("TRIGGER_WRONGCOUNT", "invalid"),
        ("TRIGGER_RESET", "connection"),
        ("TRIGGER_HUGE", "too large"),
        ("TRIGGER_BIGLEN", "too large"),
    ];
    let mut texts: Vec<String> = (0..n)
        .map(|i| format!("word{i} is an ordinary tweet"))
        .collect();
    for (i, (t, _)) in triggers.iter().enumerate() {
        texts.insert(i * 3 + 1, format!("{t} tweet number {i}"));
    }
    (texts, triggers)
}

async fn errors_are_retried_then_recorded(api: &str) {
    let server = Hostile::start(true).await;
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let replay = tmp.path().join("tweets.jsonl");
    let (texts, triggers) = texts_with_triggers(30);
    let ids = write_replay(&replay, 7_000_000, &texts);
    let retries = 2;
    let s = settings(
        &lake,
        &replay,
        &[
            ("SSP__NER__URL", server.url()),
            ("SSP__NER__API", api.into()),
            ("SSP__NER__BATCH_SIZE", "1".into()),
            ("SSP__NER__CONCURRENCY", "3".into()),
            ("SSP__NER__RETRIES", retries.to_string()),
            ("SSP__NER__BACKOFF", "0.01".into()),
            ("SSP__NER__BACKOFF_MAX", "0.05".into()),
            ("SSP__NER__TIMEOUT", "0.5".into()),
            ("SSP__NER__MAX_RESPONSE_BYTES", (1 << 20).to_string()),
        ],
    );
    let sup = run_to_completion(&s, Duration::from_secs(120)).await;
    let rows = silver_rows(&lake);
    let got = by_id(&rows);
    assert_eq!(got.len(), ids.len(), "every tweet recorded, none dropped");
    let mut expected_errors = 0;
    for (id, text) in ids.iter().zip(&texts) {
        let r = &got[id];
        let trigger = triggers.iter().find(|(t, _)| text.contains(t));
        match trigger {
            Some((t, kind)) => {
                expected_errors += 1;
                let err = r
                    .error
                    .as_deref()
                    .unwrap_or_else(|| panic!("{t}: no error in {r:?}"));
                eprintln!("{api} {t}: {err}");
                assert!(err.contains(kind), "{t}: error {err:?} should say {kind:?}");
                assert!(
                    err.contains(&format!("after {} attempts", retries + 1)),
                    "{t}: {err:?}"
                );
                assert!(r.entities.is_empty());
                assert_eq!(
                    server.seen(text),
                    retries + 1,
                    "{t} was sent once plus {retries} retries"
                );
            }
            None => {
                assert_eq!(r.error, None, "{text}");
                let word = text.split_whitespace().next().unwrap();
                assert_eq!(
                    tuples(&r.entities),
                    vec![(
                        word.to_string(),
                        "FIRST".to_string(),
                        Some(0),
                        Some(word.chars().count() as u32)
                    )],
                    "{text}"
                );
                assert_eq!(server.seen(text), 1, "{text} was sent exactly once");
            }
        }
    }
    let st = status(&sup, "ner");
    assert_eq!(st.state, StageState::Completed);
    assert_eq!(st.errors, expected_errors, "errors are counted: {st:?}");
    assert_eq!(st.restarts, 0, "the stage never failed: {st:?}");
    let ner_status =
        ssp_tui::nlp::NerStatus::load(&ssp_tui::nlp::status::status_path(&LakeLayout::new(&lake)))
            .unwrap();
    assert_eq!(ner_status.tweet_errors, expected_errors);
    assert!(
        ner_status.retries >= expected_errors * retries as u64,
        "{ner_status:?}"
    );
    assert!(
        server.state.health_checks.load(Ordering::SeqCst) >= 1,
        "readiness was checked"
    );
    sup.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssp_api_hostile_answers_are_retried_then_recorded_as_errors() {
    errors_are_retried_then_recorded("ssp").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_api_hostile_answers_are_retried_then_recorded_as_errors() {
    errors_are_retried_then_recorded("spacy-seed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_and_a_burst_of_500s_delay_tweets_but_lose_none() {
    // Down from the start: the stage waits for readiness, sending nothing.
    let server = Hostile::start(false).await;
    server.state.delay_ms.store(30, Ordering::SeqCst);
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let replay = tmp.path().join("tweets.jsonl");
    let texts: Vec<String> = (0..600)
        .map(|i| format!("tweet{i} about the outage"))
        .collect();
    let ids = write_replay(&replay, 8_000_000, &texts);
    let s = settings(
        &lake,
        &replay,
        &[
            ("SSP__NER__URL", server.url()),
            ("SSP__NER__API", "ssp".into()),
            ("SSP__NER__BATCH_SIZE", "4".into()),
            ("SSP__NER__CONCURRENCY", "2".into()),
            ("SSP__NER__RETRIES", "3".into()),
            ("SSP__NER__BACKOFF", "0.02".into()),
            ("SSP__NER__BACKOFF_MAX", "0.2".into()),
            ("SSP__NER__TIMEOUT", "2".into()),
        ],
    );
    let sup = ssp_tui::app::build_supervisor(&s).unwrap();
    sup.start("ner").unwrap();
    let waiting = eventually(Duration::from_secs(20), || {
        status(&sup, "ner").detail.contains("waiting for")
    })
    .await;
    assert!(waiting, "ner shows it waits: {:?}", status(&sup, "ner"));
    wait_state(
        &sup,
        "bronze",
        StageState::Completed,
        Duration::from_secs(30),
    )
    .await;
    assert!(
        silver_rows(&lake).is_empty(),
        "nothing before the service is ready"
    );
    assert_eq!(status(&sup, "ner").errors, 0);

    // Up, with a burst of 500s shorter than the retries.
    server.state.fail_next.store(3, Ordering::SeqCst);
    server.set_up(true).await;
    // Then gone again for a while in the middle of the run.
    assert!(
        eventually(Duration::from_secs(30), || server.answered().len() >= 60).await,
        "the stage resumed after the service came up"
    );
    server.set_up(false).await;
    let answered_during_outage = server.answered().len();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(status(&sup, "ner").state, StageState::Running);
    assert!(
        server.answered().len() <= answered_during_outage + 8,
        "nothing answered while down (beyond requests already accepted)"
    );
    server.set_up(true).await;
    wait_state(&sup, "ner", StageState::Completed, Duration::from_secs(60)).await;

    let got = by_id(&silver_rows(&lake));
    assert_eq!(got.len(), ids.len());
    assert!(got.values().all(|r| r.error.is_none()), "no tweet failed");
    let answered = server.answered();
    for t in &texts {
        assert_eq!(answered.get(t), Some(&1), "{t} answered exactly once");
    }
    let st = status(&sup, "ner");
    assert_eq!(st.errors, 0, "{st:?}");
    let ner_status =
        ssp_tui::nlp::NerStatus::load(&ssp_tui::nlp::status::status_path(&LakeLayout::new(&lake)))
            .unwrap();
    assert!(
        ner_status.retries >= 3,
        "the 500s were retried: {ner_status:?}"
    );
    assert_eq!(ner_status.tweet_errors, 0);
    sup.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_and_start_against_a_slow_service_is_exactly_once() {
    let server = Hostile::start(true).await;
    server.state.delay_ms.store(40, Ordering::SeqCst);
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let replay = tmp.path().join("tweets.jsonl");
    let texts: Vec<String> = (0..600).map(|i| format!("slow{i} tweet")).collect();
    let ids = write_replay(&replay, 9_000_000, &texts);
    let s = settings(
        &lake,
        &replay,
        &[
            ("SSP__NER__URL", server.url()),
            ("SSP__NER__BATCH_SIZE", "5".into()),
            ("SSP__NER__CONCURRENCY", "2".into()),
            // Silver files close by age, in the middle of bronze files.
            ("SSP__LAKE__ROLL_SECONDS", "0.3".into()),
        ],
    );
    let sup = ssp_tui::app::build_supervisor(&s).unwrap();
    sup.start("ner").unwrap();
    let layout = LakeLayout::new(&lake);
    assert!(
        eventually(Duration::from_secs(30), || silver_rows(&lake).len() >= 60).await,
        "silver grows"
    );
    sup.stop("ner").unwrap();
    wait_state(&sup, "ner", StageState::Stopped, Duration::from_secs(20)).await;
    let first = silver_rows(&lake);
    by_id(&first);
    assert!(first.len() < ids.len(), "stopped before the end");
    let cp = NerCheckpoint::load(&checkpoint_path(&layout))
        .unwrap()
        .unwrap();
    let in_cp: u64 = cp.partial.values().sum::<u64>()
        + cp.done
            .iter()
            .map(|k| first.iter().filter(|r| &r.bronze_file == k).count() as u64)
            .sum::<u64>();
    assert_eq!(
        in_cp,
        first.len() as u64,
        "the checkpoint covers exactly the silver rows"
    );

    sup.start("ner").unwrap();
    wait_state(&sup, "ner", StageState::Completed, Duration::from_secs(60)).await;
    let got = by_id(&silver_rows(&lake));
    assert_eq!(got.len(), ids.len());
    assert!(got.values().all(|r| r.error.is_none()));
    // Rows of each bronze file are exactly 0..n, once each.
    let mut per_file: HashMap<String, Vec<i64>> = HashMap::new();
    for r in got.values() {
        per_file
            .entry(r.bronze_file.clone())
            .or_default()
            .push(r.bronze_row);
    }
    for (f, mut rows) in per_file {
        rows.sort();
        assert_eq!(rows, (0..rows.len() as i64).collect::<Vec<_>>(), "{f}");
    }
    sup.shutdown(Duration::from_secs(10)).await;
}
