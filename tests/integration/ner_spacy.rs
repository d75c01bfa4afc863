//! Against the REAL spaCy service (`docker/ner/app.py`, started by `scripts/test.sh` on
//! loopback and named by `SSP_TEST_NER_URL`): both APIs through our client, and the `ner`
//! stage end to end, whose silver rows must hold exactly the entities spaCy returns for the
//! same texts when asked directly (spaCy itself in Python, the interpreter named by
//! `SSP_TEST_NER_PYTHON`, and the service's own answer must both agree).
//!
//! Without `SSP_TEST_NER_URL` (or, for the comparisons with spaCy, `SSP_TEST_NER_PYTHON`)
//! these tests skip loudly, except where services are required, where they fail.

use crate::ner_common;

use std::collections::BTreeMap;
use std::time::Duration;

use ner_common::*;
use ssp_tui::nlp::{locate, sort_entities, ClientOptions, Entity, NerApi, NerClient};
use ssp_tui::stage::StageState;

const SEED_SENTENCE: &str = "Ram read a book on Friday 20/11/2019";

/// The seed's example plus generated tweets and a few with quotes, emoji and accents.
fn known_texts() -> Vec<String> {
    let mut texts = vec![
        SEED_SENTENCE.to_string(),
        "Google and Microsoft are hiring data scientists in London and New York on Monday"
            .to_string(),
        "Elon Musk said Tesla will ship 3 million cars in 2024, up 12% from last year".to_string(),
        "Sundar Pichai's \"AI first\" talk at Stanford University 😀 on 20 November".to_string(),
        "Zoë met José in São Paulo — café at 10:30 pm, $20".to_string(),
        "nothing to see here".to_string(),
    ];
    texts.extend(generated_texts(42, 14));
    texts
}

/// The seed API's reduction of a full answer: the last entity of each label, placed at the
/// last occurrence of its text.
fn seed_view(text: &str, full: &[Entity]) -> Vec<Entity> {
    let mut last: BTreeMap<&str, &str> = BTreeMap::new();
    for e in full {
        last.insert(&e.label, &e.text);
    }
    let mut out: Vec<Entity> = last
        .into_iter()
        .map(|(label, t)| match locate(text, t) {
            Some((s, e)) => Entity::new(t, label, s, e),
            None => Entity::unplaced(t, label),
        })
        .collect();
    sort_entities(&mut out);
    out
}

fn client(url: &str, api: NerApi) -> NerClient {
    let mut o = ClientOptions::new(url, api);
    o.timeout = Duration::from_secs(30);
    NerClient::new(o).unwrap()
}

/// The service's own answer, asked with a plain HTTP request (not our client).
async fn service_direct(url: &str, texts: &[String]) -> Vec<Vec<Entity>> {
    #[derive(serde::Deserialize)]
    struct A {
        entities: Vec<Vec<Entity>>,
    }
    let resp = reqwest::Client::new()
        .post(format!("{url}/ner"))
        .json(&serde_json::json!({ "texts": texts }))
        .send()
        .await
        .expect("the NER service answers");
    assert!(resp.status().is_success(), "{}", resp.status());
    resp.json::<A>().await.unwrap().entities
}

/// spaCy's entities for `texts`, from spaCy itself in Python (the oracle), after checking the
/// service gives the same; `None` (skipped, or failed where services are required) without
/// an interpreter to ask.
async fn truth(test: &str, url: &str, texts: &[String]) -> Option<Vec<Vec<Entity>>> {
    let Some(direct) = spacy_direct(texts) else {
        crate::common::services::missing(
            &format!("{test}: SSP_TEST_NER_PYTHON (spaCy in Python, the oracle)"),
            "scripts/test.sh sets it (or `export SSP_TEST_NER_PYTHON=$(scripts/start-ner.sh python)`)",
        );
        return None;
    };
    let service = service_direct(url, texts).await;
    for ((t, a), b) in texts.iter().zip(&direct).zip(&service) {
        assert_eq!(
            tuples(a),
            tuples(b),
            "spaCy and the service differ on {t:?}"
        );
    }
    Some(direct)
}

#[tokio::test]
async fn both_apis_answer_the_seed_example() {
    let Some(url) = service_url("both_apis_answer_the_seed_example") else {
        return;
    };
    let ssp = client(&url, NerApi::Ssp);
    let health = ssp.health().await;
    assert!(health.ready, "{health:?}");
    assert!(health.detail.contains("en_core_web_sm"), "{health:?}");
    let seed_text = vec![SEED_SENTENCE.to_string()];
    // The measured answer of the issue: [('Friday', 'DATE')].
    let want = vec![Entity::new("Friday", "DATE", 19, 25)];
    assert_eq!(ssp.request(&seed_text).await.unwrap(), vec![want.clone()]);
    let seed = client(&url, NerApi::SpacySeed);
    assert!(seed.endpoint().ends_with("/text/ner/spacy"));
    assert_eq!(seed.request(&seed_text).await.unwrap(), vec![want.clone()]);
    // The old route, given as the exact endpoint.
    let old = client(&format!("{url}/spacy/api/v0.1/ner"), NerApi::SpacySeed);
    assert_eq!(old.request(&seed_text).await.unwrap(), vec![want]);

    // The seed's wire format itself: 201 and a printed Python dict.
    let resp = reqwest::Client::new()
        .post(format!("{url}/text/ner/spacy"))
        .json(&serde_json::json!({ "text": SEED_SENTENCE }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["res"], "{'DATE': 'Friday'}");
}

#[tokio::test]
async fn both_apis_agree_with_spacy_on_known_sentences() {
    let Some(url) = service_url("both_apis_agree_with_spacy_on_known_sentences") else {
        return;
    };
    let texts = known_texts();
    let Some(truth) = truth(
        "both_apis_agree_with_spacy_on_known_sentences",
        &url,
        &texts,
    )
    .await
    else {
        return;
    };
    assert!(
        truth.iter().map(Vec::len).sum::<usize>() >= 10,
        "spaCy found entities"
    );
    let ssp = client(&url, NerApi::Ssp);
    let batched = ssp.request(&texts).await.unwrap();
    let seed = client(&url, NerApi::SpacySeed);
    for (i, t) in texts.iter().enumerate() {
        assert_eq!(tuples(&batched[i]), tuples(&truth[i]), "ssp API on {t:?}");
        let one = seed.request(std::slice::from_ref(t)).await.unwrap();
        assert_eq!(
            tuples(&one[0]),
            tuples(&seed_view(t, &truth[i])),
            "seed API on {t:?}"
        );
    }
}

async fn stage_matches_spacy(api: &str) {
    let name = format!("stage_silver_matches_spacy_{api}");
    let Some(url) = service_url(&name) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let replay = tmp.path().join("tweets.jsonl");
    let texts = known_texts();
    let ids = write_replay(&replay, 5_000_000, &texts);
    let Some(truth) = truth(&name, &url, &texts).await else {
        return;
    };
    let s = settings(
        &lake,
        &replay,
        &[
            ("SSP__NER__URL", url.clone()),
            ("SSP__NER__API", api.into()),
            ("SSP__NER__BATCH_SIZE", "4".into()),
            ("SSP__LAKE__ROLL_ROWS", "7".into()),
        ],
    );
    let sup = run_to_completion(&s, Duration::from_secs(120)).await;
    let got = by_id(&silver_rows(&lake));
    assert_eq!(got.len(), ids.len());
    for ((id, text), full) in ids.iter().zip(&texts).zip(&truth) {
        let r = &got[id];
        assert_eq!(&r.text, text);
        assert_eq!(r.error, None, "{text}");
        assert!(
            r.backend.starts_with("spacy http") && r.backend.contains(api),
            "{}",
            r.backend
        );
        let want = if api == "ssp" {
            full.clone()
        } else {
            seed_view(text, full)
        };
        assert_eq!(
            tuples(&r.entities),
            tuples(&want),
            "silver entities of {text:?}"
        );
    }
    let seed_row = &got[&ids[0]];
    assert_eq!(
        tuples(&seed_row.entities),
        vec![("Friday".into(), "DATE".into(), Some(19), Some(25))]
    );
    assert_eq!(
        assert_silver_is_bronze_up_to_checkpoint(&lake),
        bronze_version(&lake).unwrap(),
        "the checkpoint in silver/ner is bronze's last version"
    );
    let st = status(&sup, "ner");
    assert_eq!(st.errors, 0, "{st:?}");
    assert!(
        st.detail.contains("spacy") && st.detail.contains("ready"),
        "{}",
        st.detail
    );
    sup.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage_silver_matches_spacy_ssp_api() {
    stage_matches_spacy("ssp").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage_silver_matches_spacy_seed_api() {
    stage_matches_spacy("spacy-seed").await;
}

#[test]
fn headless_run_with_the_service_exits_by_itself() {
    let Some(url) = service_url("headless_run_with_the_service_exits_by_itself") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let replay = tmp.path().join("tweets.jsonl");
    let texts = generated_texts(9, 200);
    let ids = write_replay(&replay, 6_000_000, &texts);
    let config = repo().join("config.ini").display().to_string();
    let (code, stdout, stderr) = run_bin(
        tmp.path(),
        &["--config", &config, "run", "source", "bronze", "ner"],
        &[
            ("SSP__SOURCE__KIND", "replay".into()),
            ("SSP__SOURCE__PATH", replay.display().to_string()),
            ("SSP__SOURCE__RATE", "0".into()),
            ("SSP__LAKE__ROOT", lake.display().to_string()),
            (
                "SSP__LOG__DIR",
                tmp.path().join("logs").display().to_string(),
            ),
            ("SSP__NER__URL", url),
        ],
        Duration::from_secs(120),
    );
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("ner") && l.contains("completed") && l.contains("spacy")),
        "{stdout}"
    );
    let got = by_id(&silver_rows(&lake));
    assert_eq!(got.len(), ids.len());
    assert!(got.values().all(|r| r.error.is_none()));
    assert!(got.values().any(|r| !r.entities.is_empty()));
    let _ = StageState::Completed;
}
