//! Other Delta readers see the tables as written: one headless run of `source bronze ner
//! trending classify` over a generated replay into a local lake, then the Python `deltalake`
//! package (interpreter from `SSP_TEST_PYDELTA_PYTHON`) reads `bronze`, `silver/ner`,
//! `gold/trending_hashtags` and `gold/ai_tweets`, and each row is compared with what the test
//! knows independently (the generated tweets, the rules tagger's known answers, hashtag counts,
//! the test's own model) and with the crate's own readers. Skipped loudly without the
//! interpreter unless `SSP_REQUIRE_SERVICES=1` (or CI), where it is a failure.

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use common::*;
use serde_json::Value;
use ssp_tui::lake::silver::read_ner_rows;
use ssp_tui::lake::LakeLocation;
use ssp_tui::learn::model::{featurize, model_path, Model, ModelMeta};
use ssp_tui::nlp::RuleTagger;

const BASE: u64 = 1_300_000_000_000_000_000;
const TWEETS: u64 = 3000;
const THRESHOLD: f32 = 0.5;

/// A sentence and its entities (text, label, start, end).
type Known = (&'static str, Vec<(&'static str, &'static str, u32, u32)>);

/// Sentences with the rules tagger's known answers (as in tests/ner_rules.rs), planted in the
/// replay among the generated tweets.
fn known_sentences() -> Vec<Known> {
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
            "Elon Musk says Tesla ships next week; Indian startups cheer",
            vec![
                ("Elon Musk", "PERSON", 0, 9),
                ("Tesla", "ORG", 15, 20),
                ("next week", "DATE", 27, 36),
                ("Indian", "NORP", 38, 44),
            ],
        ),
        ("google it, 4g phones, covid19, # and @ alone", vec![]),
        (
            "😀 café in Paris 😀 on Monday",
            vec![("Paris", "GPE", 10, 15), ("Monday", "DATE", 21, 27)],
        ),
    ]
}

/// The generated tweets with the known sentences spread among them; the known answers by id.
fn replay_samples() -> (Vec<Sample>, HashMap<String, Vec<Span>>) {
    let mut samples = mixed_tweets(BASE, TWEETS);
    let mut known = HashMap::new();
    for (k, (text, spans)) in known_sentences().into_iter().enumerate() {
        let id = BASE + 10_000 + k as u64;
        let created = Utc.with_ymd_and_hms(2020, 4, 6, 8, 0, k as u32).unwrap();
        let sample = Sample {
            json: v1_tweet(id, text, "known", created),
            expect: Expect {
                id: id.to_string(),
                // One line each: kept as written.
                text: text.to_string(),
                author: Some("known".into()),
                source: None,
                hashtags: Vec::new(),
                created_at_ms: created.timestamp_millis(),
                is_retweet: false,
            },
        };
        samples.insert(k * 500 + 1, sample);
        let spans = spans
            .into_iter()
            .map(|(t, l, s, e)| (t.into(), l.into(), Some(s), Some(e)))
            .collect();
        known.insert(id.to_string(), spans);
    }
    (samples, known)
}

/// Is the tweet one the test's model is taught to call AI: the long kind with `#Rust`.
fn is_rust_kind(s: &Sample) -> bool {
    s.expect.hashtags.iter().any(|t| t == "Rust")
}

/// Trains a small model on the first generated tweets (AI = the `#Rust` kind) and saves it
/// where `classify` loads it.
fn save_model(lake: &Path, samples: &[Sample]) -> Model {
    let mut model = Model::new(12);
    for _ in 0..20 {
        for s in &samples[..120] {
            let y = if is_rust_kind(s) { 1.0 } else { 0.0 };
            model.update(&featurize(&s.expect.text, 12), y, 1.0);
        }
    }
    let meta = ModelMeta {
        version: 3,
        hand_labels: 120,
        updates: model.updates,
        dev_accuracy: None,
        saved_at_ms: Utc::now().timestamp_millis(),
    };
    model.save(&model_path(lake), &meta).unwrap();
    model
}

#[test]
fn python_deltalake_reads_bronze_silver_and_gold_row_for_row() {
    let Some(python) = pydelta_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (samples, known) = replay_samples();
    let jsonl = dir.path().join("tweets.jsonl");
    write_jsonl(&jsonl, samples.iter().map(|s| s.json.clone()));
    let lake = dir.path().join("lake");
    let model = save_model(&lake, &samples);
    let cwd = dir.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    let path = |p: &Path| p.display().to_string();
    let env = [
        ("SSP__SOURCE__KIND", "replay".to_string()),
        ("SSP__SOURCE__PATH", path(&jsonl)),
        ("SSP__SOURCE__RATE", "0".into()),
        ("SSP__PIPELINE__BUS", "embedded".into()),
        ("SSP__PIPELINE__STORE", "embedded".into()),
        ("SSP__LAKE__ROOT", path(&lake)),
        ("SSP__LAKE__ROLL_ROWS", "700".into()),
        ("SSP__NER__URL", String::new()),
        ("SSP__TRENDING__SNAPSHOT_SECONDS", "1".into()),
        ("SSP__LEARN__CLASSIFY_FROM", "beginning".into()),
        ("SSP__LEARN__THRESHOLD", THRESHOLD.to_string()),
        ("SSP__LOG__DIR", path(&dir.path().join("logs"))),
    ];
    let start = Utc::now().timestamp_millis();
    let run = run_bin(
        &cwd,
        &env,
        &["run", "source", "bronze", "ner", "trending", "classify"],
        Duration::from_secs(120),
    );
    let end = Utc::now().timestamp_millis();
    assert_eq!(run.code(), Some(0), "{run}");

    let versions = bronze_version_of_ids(&lake);
    check_bronze(&python, &lake, &samples, (start, end));
    check_ner(&python, &lake, &samples, &known, &versions);
    check_trending(&python, &lake, &samples, (start, end));
    check_ai_tweets(&python, &lake, &samples, &model, &versions);
}

fn check_bronze(python: &str, lake: &Path, samples: &[Sample], (start, end): (i64, i64)) {
    let log = delta_log(&lake.join("bronze"));
    assert!(
        log.iter().filter(|c| c.rows() > 0).count() >= 5,
        "several commits"
    );
    let py = read_latest(python, lake, "bronze");
    let by_id = py.by_id();
    assert_eq!(py.rows.len(), samples.len(), "bronze rows Python sees");
    let mut offsets: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for s in samples {
        let id = s.expect.id.as_str();
        let r = by_id
            .get(id)
            .unwrap_or_else(|| panic!("{id} missing in Python's read"));
        let text = s.expect.text.clone();
        assert_eq!(r["hash"], sha256_hex(&text), "hash of {id}");
        assert_eq!(r["text"], text, "text of {id}");
        let e = &s.expect;
        let fields = (Value::from(e.author.clone()), Value::from(e.source.clone()));
        assert_eq!((r["author"].clone(), r["source"].clone()), fields, "{id}");
        assert_eq!(r["is_retweet"], e.is_retweet, "is_retweet of {id}");
        let tags: Vec<&str> = r["hashtags"]
            .as_array()
            .unwrap_or_else(|| panic!("hashtags of {id}: {}", r["hashtags"]))
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(tags, s.expect.hashtags, "hashtags of {id}");
        assert_eq!(
            r["created_at"], s.expect.created_at_ms,
            "created_at of {id}"
        );
        // The partition column is the UTC day of ingestion, within this run.
        let ingest = r["ingest_time"].as_i64().unwrap();
        assert!(
            (start - 1000..=end + 1000).contains(&ingest),
            "ingest_time of {id}"
        );
        let day = Utc.timestamp_millis_opt(ingest).unwrap().date_naive();
        assert_eq!(r["date"], day.to_string(), "date of {id}");
        let part = r["partition"].as_i64().unwrap();
        offsets
            .entry(part)
            .or_default()
            .push(r["offset"].as_i64().unwrap());
    }
    // One run over a fresh bus: each partition's offsets are exactly 0..count.
    for (p, offs) in &mut offsets {
        offs.sort_unstable();
        assert!(
            offs.iter().enumerate().all(|(i, o)| *o == i as i64),
            "partition {p}: offsets are not 0..{}",
            offs.len()
        );
    }
    // And the same (partition, offset) per id as the crate's own reader.
    for r in bronze_rows(lake) {
        let py = by_id[r.id_str.as_str()];
        assert_eq!(
            (py["partition"].as_i64(), py["offset"].as_i64()),
            (Some(r.partition as i64), Some(r.offset)),
            "position of {}",
            r.id_str
        );
    }
}

fn check_ner(
    python: &str,
    lake: &Path,
    samples: &[Sample],
    known: &HashMap<String, Vec<Span>>,
    versions: &HashMap<String, i64>,
) {
    let py = read_latest(python, lake, "silver/ner");
    let by_id = py.by_id();
    assert_eq!(py.rows.len(), samples.len(), "silver rows Python sees");
    let tagger = RuleTagger::builtin();
    let mut with_entities = 0;
    for s in samples {
        let id = s.expect.id.as_str();
        let r = by_id
            .get(id)
            .unwrap_or_else(|| panic!("{id} missing in Python's silver/ner"));
        let text = s.expect.text.clone();
        assert_eq!(r["text"], text, "silver text of {id}");
        assert_eq!(r["backend"], "rules", "backend of {id}");
        assert!(r["error"].is_null(), "error of {id}: {}", r["error"]);
        assert_eq!(r["bronze_version"], versions[id], "bronze_version of {id}");
        let spans = py_spans(&r["entities"]);
        let tagged: Vec<Span> = tagger
            .tag(&text)
            .into_iter()
            .map(|e| (e.text, e.label, e.start, e.end))
            .collect();
        assert_eq!(spans, tagged, "entities of {id} vs the rules tagger");
        if let Some(want) = known.get(id) {
            assert_eq!(&spans, want, "entities of {id} vs the known answer");
        }
        with_entities += usize::from(!spans.is_empty());
    }
    assert!(with_entities > samples.len() / 2, "entities were found");
    // The crate's own reader agrees on every row.
    let ours = block_on(read_ner_rows(&LakeLocation::local(lake))).expect("silver rows");
    assert_eq!(ours.len(), py.rows.len(), "silver rows: crate vs Python");
    for o in &ours {
        let r = by_id[o.id_str.as_str()];
        let spans: Vec<Span> = o
            .entities
            .iter()
            .map(|e| (e.text.clone(), e.label.clone(), e.start, e.end))
            .collect();
        assert_eq!(py_spans(&r["entities"]), spans, "entities of {}", o.id_str);
        assert_eq!(r["bronze_version"], o.bronze_version, "{}", o.id_str);
        assert_eq!(r["bronze_row"], o.bronze_row, "{}", o.id_str);
        assert_eq!(r["bronze_file"], o.bronze_file, "{}", o.id_str);
        assert_eq!(r["date"], o.date.to_string(), "{}", o.id_str);
    }
}

fn check_trending(python: &str, lake: &Path, samples: &[Sample], (start, end): (i64, i64)) {
    let table = "gold/trending_hashtags";
    let log = delta_log(&lake.join(table));
    assert!(!log.is_empty(), "{table} was written");
    let py = read_latest(python, lake, table);
    // Independently: every generated hashtag occurrence, grouped case-insensitively, shown
    // as its most frequent spelling (ties: the smallest), with a leading '#'.
    let mut spellings: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for s in samples {
        for t in &s.expect.hashtags {
            let stored = format!("#{t}");
            *spellings
                .entry(stored.to_lowercase())
                .or_default()
                .entry(stored)
                .or_default() += 1;
        }
    }
    let want: BTreeMap<String, (String, i64)> = spellings
        .into_iter()
        .map(|(key, sp)| {
            let total = sp.values().sum();
            let top = *sp.values().max().unwrap();
            let shown = sp.into_iter().find(|(_, n)| *n == top).unwrap().0;
            (key, (shown, total))
        })
        .collect();
    assert!(want.values().any(|(_, n)| *n > 100), "some tags repeat");
    let mut got = BTreeMap::new();
    for r in &py.rows {
        let key = r["tag_key"].as_str().expect("tag_key").to_string();
        let row = (
            r["hashtag"].as_str().unwrap().to_string(),
            r["count"].as_i64().unwrap(),
        );
        let at = r["snapshot_time"].as_i64().unwrap();
        assert!(
            (start - 1000..=end + 1000).contains(&at),
            "snapshot_time {r}"
        );
        assert!(got.insert(key, row).is_none(), "a tag twice: {r}");
    }
    assert_eq!(got.len(), want.len(), "{table}: tags Python sees");
    for (key, w) in &want {
        assert_eq!(got.get(key), Some(w), "{table}: {key}");
    }
}

fn check_ai_tweets(
    python: &str,
    lake: &Path,
    samples: &[Sample],
    model: &Model,
    versions: &HashMap<String, i64>,
) {
    let py = read_latest(python, lake, "gold/ai_tweets");
    let by_id = py.by_id();
    let mut positives = 0;
    for s in samples {
        let id = s.expect.id.as_str();
        let text = s.expect.text.clone();
        let p = model.predict_text(&text);
        // The model learnt its lesson: the Rust kind, and only it, is AI.
        assert_eq!(p > THRESHOLD, is_rust_kind(s), "{id}: p = {p} for {text:?}");
        let Some(r) = by_id.get(id) else {
            assert!(p <= THRESHOLD, "{id} (p = {p}) missing in gold/ai_tweets");
            continue;
        };
        assert!(p > THRESHOLD, "{id} (p = {p}) is in gold/ai_tweets");
        positives += 1;
        assert_eq!(r["text"], text, "text of {id}");
        let got = r["probability"].as_f64().unwrap();
        assert!((got - f64::from(p)).abs() < 1e-6, "{id}: {got} vs {p}");
        assert_eq!(r["label"], "AI", "label of {id}");
        assert_eq!(r["author"], s.expect.author.as_deref().unwrap(), "{id}");
        assert_eq!(r["created_at"], s.expect.created_at_ms, "{id}");
        assert_eq!(
            (r["model_version"].as_i64(), r["hand_labels"].as_i64()),
            (Some(3), Some(120))
        );
        assert_eq!(r["bronze_version"], versions[id], "bronze_version of {id}");
    }
    assert_eq!(positives, py.rows.len(), "only generated tweets");
    assert_eq!(positives as u64, TWEETS / 6, "one tweet in six is AI");
}
