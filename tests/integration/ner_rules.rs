//! The built-in rules tagger on fixed sentences, and the `ner` stage end to end on it (no
//! service needed): replay -> bronze -> ner -> the `silver/ner` table, exactly once across
//! stops and restarts (the checkpoint is the table's `txn` version), one ner per lake, an
//! unreadable bronze file retried without advancing; the headless binary drains by itself.

use crate::ner_common;

use std::time::Duration;

use ner_common::*;
use ssp_tui::lake::LakeLayout;
use ssp_tui::nlp::RuleTagger;
use ssp_tui::stage::StageState;

/// An expected entity: (text, label, start, end).
type Span = (&'static str, &'static str, u32, u32);

/// (sentence, expected entities in order).
fn cases() -> Vec<(&'static str, Vec<Span>)> {
    vec![
        (
            "Ram read a book on Friday 20/11/2019",
            vec![
                ("Ram", "PERSON", 0, 3),
                ("Friday", "DATE", 19, 25),
                ("20/11/2019", "DATE", 26, 36),
            ],
        ),
        (
            "RT @kdnuggets: Top 10 #MachineLearning papers https://t.co/Xy12ab",
            vec![
                ("@kdnuggets", "MENTION", 3, 13),
                ("10", "CARDINAL", 19, 21),
                ("#MachineLearning", "HASHTAG", 22, 38),
                ("https://t.co/Xy12ab", "URL", 46, 65),
            ],
        ),
        (
            "Google and Microsoft invest $2.5bn in AI labs in London",
            vec![
                ("Google", "ORG", 0, 6),
                ("Microsoft", "ORG", 11, 20),
                ("$2.5bn", "MONEY", 28, 34),
                ("London", "GPE", 49, 55),
            ],
        ),
        (
            "Meetup on Apache Kafka at 6:30 pm, 20 November 2019 in San Francisco",
            vec![
                ("Apache Kafka", "PRODUCT", 10, 22),
                ("6:30 pm", "TIME", 26, 33),
                ("20 November 2019", "DATE", 35, 51),
                ("San Francisco", "GPE", 55, 68),
            ],
        ),
        (
            "Accuracy up 12.5% on the 2nd try, 1,000 epochs later",
            vec![
                ("12.5%", "PERCENT", 12, 17),
                ("2nd", "ORDINAL", 25, 28),
                ("1,000", "CARDINAL", 34, 39),
            ],
        ),
        (
            "Elon Musk says Tesla ships next week; Indian startups cheer",
            vec![
                ("Elon Musk", "PERSON", 0, 9),
                ("Tesla", "ORG", 15, 20),
                ("next week", "DATE", 27, 36),
                ("Indian", "NORP", 38, 44),
            ],
        ),
        // Nothing: lower-case names, numbers glued to words, a lone '#' and '@'.
        ("google it, 4g phones, covid19, # and @ alone", vec![]),
        // Code-point offsets past an emoji and accents.
        (
            "😀 café in Paris 😀 on Monday",
            vec![("Paris", "GPE", 10, 15), ("Monday", "DATE", 21, 27)],
        ),
    ]
}

#[test]
fn rules_tagger_finds_the_expected_spans() {
    let tagger = RuleTagger::builtin();
    let mut failures = Vec::new();
    for (text, want) in cases() {
        let got: Vec<(String, String, u32, u32)> = tagger
            .tag(text)
            .into_iter()
            .map(|e| (e.text, e.label, e.start.unwrap(), e.end.unwrap()))
            .collect();
        let want: Vec<(String, String, u32, u32)> = want
            .into_iter()
            .map(|(t, l, s, e)| (t.to_string(), l.to_string(), s, e))
            .collect();
        // Every span is what its offsets say.
        let chars: Vec<char> = text.chars().collect();
        for (t, _, s, e) in &got {
            let slice: String = chars[*s as usize..*e as usize].iter().collect();
            assert_eq!(&slice, t, "span of {t:?} in {text:?}");
        }
        if got != want {
            failures.push(format!("{text:?}\n   got  {got:?}\n   want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn rules_tagger_is_fast_enough_to_keep_up() {
    let texts = generated_texts(7, 2000);
    let tagger = RuleTagger::builtin();
    let started = std::time::Instant::now();
    let mut entities = 0;
    for t in &texts {
        entities += tagger.tag(t).len();
    }
    let rate = texts.len() as f64 / started.elapsed().as_secs_f64();
    assert!(entities > 0);
    // Debug builds too: far above any source rate the pipeline runs at by default (100/s).
    assert!(rate > 2_000.0, "rules tagger: {rate:.0} tweets/s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage_tags_every_tweet_exactly_once_and_survives_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let replay = tmp.path().join("tweets.jsonl");
    let mut texts = generated_texts(11, 300);
    texts[0] = "Ram read a book on Friday 20/11/2019".to_string();
    let ids = write_replay(&replay, 1_000_000, &texts);
    let s = settings(&lake, &replay, &[("SSP__LAKE__ROLL_ROWS", "40".into())]);
    assert!(
        s.ner.url.is_none(),
        "the shipped config uses the rules backend"
    );

    let sup = run_to_completion(&s, Duration::from_secs(60)).await;
    let st = status(&sup, "ner");
    assert_eq!(st.output, texts.len() as u64, "{st:?}");
    assert_eq!(st.errors, 0, "{st:?}");
    assert!(
        st.detail.contains("rules"),
        "detail says rules: {:?}",
        st.detail
    );
    let rows = silver_rows(&lake);
    let got = by_id(&rows);
    assert_eq!(got.len(), ids.len(), "every tweet is in silver");
    let tagger = RuleTagger::builtin();
    for (id, text) in ids.iter().zip(&texts) {
        let r = &got[id];
        assert_eq!(&r.text, text);
        assert_eq!(r.backend, "rules");
        assert!(r.error.is_none());
        assert_eq!(
            tuples(&r.entities),
            tuples(&tagger.tag(text)),
            "entities of {id}"
        );
    }
    let first = &got[&ids[0]];
    assert!(first
        .entities
        .iter()
        .any(|e| e.text == "Friday" && e.label == "DATE"));
    // The checkpoint is the last bronze version, silver holds exactly bronze up to it, and
    // the status file was published.
    let bronze_last = bronze_version(&lake).expect("bronze table");
    assert!(
        bronze_ids_by_version(&lake)
            .values()
            .filter(|ids| !ids.is_empty())
            .count()
            > 3,
        "several bronze commits"
    );
    assert_eq!(assert_silver_is_bronze_up_to_checkpoint(&lake), bronze_last);
    let layout = LakeLayout::new(&lake);
    assert!(
        !layout.root().join("_checkpoints").join("ner.json").exists(),
        "no checkpoint file besides the table"
    );
    let status = ssp_tui::stage::ner::status::NerStatus::load(
        &ssp_tui::stage::ner::status::status_path(&layout),
    )
    .expect("status file");
    assert_eq!(status.tweets, texts.len() as u64);
    assert_eq!(status.silver_rows, texts.len() as u64);
    assert!(!status.running && !status.is_model);
    assert!(!status.label_counts.is_empty() && !status.latest.is_empty());

    // Run ner again (bronze stays completed): nothing new to do, nothing written twice, and
    // the checkpoint does not move.
    sup.start("ner").unwrap();
    wait_state(&sup, "ner", StageState::Completed, Duration::from_secs(30)).await;
    assert_eq!(silver_rows(&lake).len(), ids.len(), "a rerun adds nothing");
    assert_eq!(silver_checkpoint(&lake), Some(bronze_last));
    sup.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_mid_way_and_starting_again_skips_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let replay = tmp.path().join("tweets.jsonl");
    let texts = generated_texts(5, 3000);
    let ids = write_replay(&replay, 2_000_000, &texts);
    let s = settings(
        &lake,
        &replay,
        &[
            ("SSP__LAKE__ROLL_ROWS", "100".into()),
            ("SSP__SOURCE__RATE", "3000".into()),
        ],
    );
    let sup = ssp_tui::pipeline::build_supervisor(&s).unwrap();
    sup.start("ner").unwrap();
    // Stop ner once it has written something, while the source is still going.
    assert!(
        eventually(Duration::from_secs(30), || status(&sup, "ner").output > 0).await,
        "ner produced nothing"
    );
    sup.stop("ner").unwrap();
    wait_state(&sup, "ner", StageState::Stopped, Duration::from_secs(20)).await;
    let after_stop = silver_rows(&lake).len();
    assert!(
        after_stop > 0 && after_stop < ids.len(),
        "stopped half-way: {after_stop}"
    );
    // What is in silver is exactly the bronze commits up to the checkpoint, once each.
    let cp = assert_silver_is_bronze_up_to_checkpoint(&lake);
    // Start it again: it resumes after its checkpoint and completes after bronze.
    let restart_ms = chrono::Utc::now().timestamp_millis();
    sup.start("ner").unwrap();
    wait_state(&sup, "ner", StageState::Completed, Duration::from_secs(60)).await;
    let got = by_id(&silver_rows(&lake));
    assert_eq!(got.len(), ids.len());
    for id in &ids {
        assert!(got.contains_key(id), "{id} missing");
    }
    let last = assert_silver_is_bronze_up_to_checkpoint(&lake);
    assert!(last > cp && Some(last) == bronze_version(&lake));
    // The rows added by the second run are exactly those of the bronze versions after `cp`.
    assert!(got
        .values()
        .all(|r| (r.bronze_version <= cp) == (r.ner_time <= restart_ms)));
    sup.shutdown(Duration::from_secs(10)).await;
}

#[test]
fn headless_run_source_bronze_ner_exits_by_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let replay = tmp.path().join("tweets.jsonl");
    let texts = generated_texts(3, 500);
    let ids = write_replay(&replay, 3_000_000, &texts);
    let config = repo().join("config.ini").display().to_string();
    let (code, stdout, stderr) = run_bin(
        tmp.path(),
        &["--config", &config, "run", "source", "bronze", "ner"],
        &[
            ("SSP__SOURCE__KIND", "replay".into()),
            ("SSP__SOURCE__PATH", replay.display().to_string()),
            ("SSP__SOURCE__RATE", "0".into()),
            ("SSP__LAKE__ROOT", lake.display().to_string()),
            ("SSP__LAKE__ROLL_SECONDS", "0.5".into()),
            (
                "SSP__LOG__DIR",
                tmp.path().join("logs").display().to_string(),
            ),
        ],
        Duration::from_secs(60),
    );
    assert_eq!(
        code,
        Some(0),
        "did not exit 0 by itself\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all stages finished"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("ner") && l.contains("completed")),
        "{stdout}"
    );
    assert_eq!(by_id(&silver_rows(&lake)).len(), ids.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_now_skips_the_bronze_already_there_on_a_first_start() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let replay = tmp.path().join("tweets.jsonl");
    write_replay(&replay, 4_000_000, &generated_texts(8, 120));
    let s = settings(
        &lake,
        &replay,
        &[
            ("SSP__LAKE__ROLL_ROWS", "50".into()),
            ("SSP__NER__START", "now".into()),
        ],
    );
    let sup = ssp_tui::pipeline::build_supervisor(&s).unwrap();
    sup.start("bronze").unwrap();
    wait_state(
        &sup,
        "bronze",
        StageState::Completed,
        Duration::from_secs(60),
    )
    .await;
    sup.start("ner").unwrap();
    wait_state(&sup, "ner", StageState::Completed, Duration::from_secs(60)).await;
    assert!(silver_rows(&lake).is_empty(), "existing bronze skipped");
    assert_eq!(
        silver_checkpoint(&lake),
        bronze_version(&lake),
        "and remembered as skipped"
    );
    // A restart (checkpoint wins over `start = now`) still skips nothing new and adds nothing.
    sup.start("ner").unwrap();
    wait_state(&sup, "ner", StageState::Completed, Duration::from_secs(60)).await;
    assert!(silver_rows(&lake).is_empty());
    sup.shutdown(Duration::from_secs(10)).await;
}
