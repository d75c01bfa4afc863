//! The `ner` stage against a hostile NER endpoint ([`ner_common::hostile`]: a small HTTP
//! server that answers slowly, with 500s, with invalid JSON, with 50 MB bodies, with resets,
//! or not at all, per tweet text).
//! The stage retries with backoff, records what keeps failing as errors (in silver, counted),
//! never panics or fails, waits out an outage and resumes, and every tweet is in silver
//! exactly once, including across a stop / start.

use crate::ner_common;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ner_common::hostile::*;
use ner_common::*;
use ssp_tui::lake::LakeLayout;
use ssp_tui::stage::StageState;

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
    let ner_status = ssp_tui::stage::ner::status::NerStatus::load(
        &ssp_tui::stage::ner::status::status_path(&LakeLayout::new(&lake)),
    )
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
    let sup = ssp_tui::pipeline::build_supervisor(&s).unwrap();
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
    let ner_status = ssp_tui::stage::ner::status::NerStatus::load(
        &ssp_tui::stage::ner::status::status_path(&LakeLayout::new(&lake)),
    )
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
            // Several bronze commits; silver commits by age (whole bronze commits only).
            ("SSP__LAKE__ROLL_ROWS", "50".into()),
            ("SSP__LAKE__ROLL_SECONDS", "0.3".into()),
        ],
    );
    let sup = ssp_tui::pipeline::build_supervisor(&s).unwrap();
    sup.start("ner").unwrap();
    assert!(
        eventually(Duration::from_secs(30), || silver_rows(&lake).len() >= 60).await,
        "silver grows"
    );
    sup.stop("ner").unwrap();
    wait_state(&sup, "ner", StageState::Stopped, Duration::from_secs(20)).await;
    let first = silver_rows(&lake);
    by_id(&first);
    assert!(first.len() < ids.len(), "stopped before the end");
    // The checkpoint (the table's txn version) covers exactly the silver rows.
    let cp = assert_silver_is_bronze_up_to_checkpoint(&lake);

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
    assert!(assert_silver_is_bronze_up_to_checkpoint(&lake) > cp);
    sup.shutdown(Duration::from_secs(10)).await;
}

/// The seed's service answers only `POST` on its NER route (a `GET` gets no answer at all):
/// `spacy-seed` readiness is a probe `POST`, so it is ready; the ssp API, which asks
/// `GET /health`, is not.
#[tokio::test]
async fn spacy_seed_readiness_is_a_probe_post_to_a_post_only_service() {
    use ssp_tui::config::NerApi;
    use ssp_tui::nlp::ner_client::{ClientOptions, NerClient};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let posts = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let seen = posts.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let Some((method, _, _)) = read_request(&mut sock).await else {
                    return;
                };
                if method == "POST" {
                    seen.fetch_add(1, Ordering::SeqCst);
                    respond(&mut sock, 200, "[]").await;
                } else {
                    // No answer to anything else: hold the socket until the client gives up.
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
            });
        }
    });
    let url = format!("http://{addr}");
    let client = |api| {
        let mut o = ClientOptions::new(&url, api);
        o.timeout = Duration::from_millis(800);
        NerClient::new(o).unwrap()
    };
    let seed = client(NerApi::SpacySeed).health().await;
    assert!(seed.ready, "{}", seed.detail);
    assert!(seed.detail.contains("probe POST"), "{}", seed.detail);
    assert_eq!(posts.load(Ordering::SeqCst), 1);
    let ssp = client(NerApi::Ssp).health().await;
    assert!(!ssp.ready, "GET /health got no answer: {}", ssp.detail);
}
