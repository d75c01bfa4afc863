//! The `collect` and `classify` stages on a real pipeline (synthetic source -> embedded bus
//! -> bronze table): collect builds dataset v0 from the bronze commits in order, with exact
//! splits, and a first model; classify scores every bronze tweet after its checkpoint (a `txn`
//! action in `gold/ai_tweets`), writes the predicted-AI ones to that Delta table (and the
//! `ai_tweets` table with PostgreSQL) exactly once across restarts, refuses to run twice, and
//! publishes predictions for the Feed pane.

use crate::learn_common;

use std::collections::HashSet;
use std::time::Duration;

use learn_common::*;
use ssp_tui::lake::read::{read_bronze_texts, BronzeText};
use ssp_tui::lake::{LakeConsumer, LakeLocation, Lease, StartAt};
use ssp_tui::learn::dataset::{self, RawTweet, Split, SplitSpec};
use ssp_tui::learn::labels::{self};
use ssp_tui::learn::model::{model_path, Model};
use ssp_tui::learn::predictions::{self, Predictions, AI_TWEETS_TABLE};
use ssp_tui::stage::classify::gold::GoldWriter;
use ssp_tui::stage::{StageState, Supervisor};

async fn wait_state(sup: &Supervisor, name: &str, state: StageState, timeout: Duration) {
    let deadline = std::time::Instant::now() + timeout;
    while sup.state(name) != Some(state) {
        if sup.state(name) == Some(StageState::Failed) {
            let log: Vec<String> = sup
                .log(name)
                .unwrap()
                .snapshot()
                .into_iter()
                .map(|l| l.text)
                .collect();
            panic!("{name} failed: {log:?}");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name} not {state:?} in time (now {:?})",
            sup.state(name)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every commit of `table` with its data files' bytes, in version order.
async fn commits(loc: &LakeLocation, table: &str) -> Vec<(i64, Vec<bytes::Bytes>)> {
    let mut c = LakeConsumer::new(loc.clone(), table, None, StartAt::FirstCommit);
    let mut out = Vec::new();
    loop {
        let got = c.poll(1000).await.unwrap();
        let Some(last) = got.last().map(|c| c.version) else {
            return out;
        };
        for commit in got {
            let mut files = Vec::new();
            for f in &commit.files {
                files.push(c.read(f).await.unwrap());
            }
            out.push((commit.version, files));
        }
        c.ack(last);
    }
}

/// Bronze rows per table version.
async fn bronze_commits(loc: &LakeLocation) -> Vec<(i64, Vec<BronzeText>)> {
    commits(loc, "bronze")
        .await
        .into_iter()
        .map(|(v, files)| {
            let rows = files
                .into_iter()
                .flat_map(|b| read_bronze_texts(b, "bronze").unwrap())
                .collect();
            (v, rows)
        })
        .collect()
}

/// `(id_str, probability, bronze_version)` of every gold row.
async fn gold_rows(loc: &LakeLocation) -> Vec<(String, f32, i64)> {
    use arrow::array::{Float32Array, Int64Array, StringArray};
    let mut out = Vec::new();
    for (_, files) in commits(loc, AI_TWEETS_TABLE).await {
        for bytes in files {
            for b in ssp_tui::lake::read_batches(bytes, "gold").unwrap() {
                let col = |n: &str| b.column_by_name(n).unwrap().clone();
                let (id, p, v) = (col("id_str"), col("probability"), col("bronze_version"));
                let id = id.as_any().downcast_ref::<StringArray>().unwrap();
                let p = p.as_any().downcast_ref::<Float32Array>().unwrap();
                let v = v.as_any().downcast_ref::<Int64Array>().unwrap();
                for i in 0..b.num_rows() {
                    out.push((id.value(i).to_string(), p.value(i), v.value(i)));
                }
            }
        }
    }
    out
}

/// Bronze tweets in lake order up to the one that made `size` unique texts (what collect reads).
fn collected(bronze: &[(i64, Vec<BronzeText>)], size: usize) -> Vec<RawTweet> {
    let mut unique = HashSet::new();
    let mut raw = Vec::new();
    for t in bronze.iter().flat_map(|(_, rows)| rows) {
        if !t.text.trim().is_empty() {
            unique.insert(t.text.trim().to_string());
        }
        raw.push(RawTweet {
            tweet_id: t.id_str.clone(),
            created_at: t.created_at,
            author: t.author.clone(),
            text: t.text.clone(),
        });
        if unique.len() >= size {
            break;
        }
    }
    raw
}

fn log_text(sup: &Supervisor, name: &str) -> String {
    let lines = sup.log(name).unwrap().snapshot();
    lines
        .into_iter()
        .map(|l| l.text)
        .collect::<Vec<_>>()
        .join("\n")
}

async fn collect_then_classify(extra: Vec<(String, String)>) {
    let tmp = tempfile::tempdir().unwrap();
    let mut env = pairs(&[
        ("SSP__SOURCE__RATE", "0"),
        ("SSP__SOURCE__LIMIT", "3000"),
        ("SSP__LAKE__ROLL_SECONDS", "0.3"),
        ("SSP__LAKE__ROLL_ROWS", "200"),
        ("SSP__LEARN__CLASSIFY_FROM", "beginning"),
    ]);
    env.extend(extra.clone());
    let s = settings(tmp.path(), &env);
    let loc = s.lake.tables.clone();
    let sup = ssp_tui::pipeline::build_supervisor(&s).unwrap();
    // collect reads the bronze table whoever writes it: the stream is started by name.
    for stage in ["source", "bronze", "collect"] {
        sup.start(stage).unwrap();
    }
    wait_state(
        &sup,
        "collect",
        StageState::Completed,
        Duration::from_secs(120),
    )
    .await;
    let store = labels::open(&s).unwrap();
    assert_eq!(store.versions().await.unwrap(), vec![0]);
    let ds = store.load_version(0).await.unwrap();
    assert_eq!(ds.rows.len(), 400);
    assert_eq!(
        (
            ds.count(Split::Test),
            ds.count(Split::Dev),
            ds.count(Split::WeakTrain)
        ),
        (40, 60, 100)
    );
    assert_eq!(ds.count(Split::Train), 200);
    assert!(
        dataset::version_dir(&s.lake.root, 0)
            .join("train_dataset/_delta_log/00000000000000000001.json")
            .is_file(),
        "the version's tables are Delta tables with one data commit"
    );
    let (model, meta) =
        Model::load(&model_path(&s.lake.root)).expect("collect saved a first model");
    assert_eq!((meta.version, meta.hand_labels), (0, 0));

    wait_state(
        &sup,
        "source",
        StageState::Completed,
        Duration::from_secs(120),
    )
    .await;
    wait_state(
        &sup,
        "bronze",
        StageState::Completed,
        Duration::from_secs(120),
    )
    .await;
    let bronze = bronze_commits(&loc).await;
    let all: Vec<&BronzeText> = bronze.iter().flat_map(|(_, r)| r).collect();
    assert_eq!(all.len(), 3000);
    assert!(bronze.len() > 4, "{} bronze commits", bronze.len());

    // collect read the bronze commits in order, nothing skipped or read twice: the version is
    // the one built from the lake's first rows up to the 400th unique text.
    let expected = dataset::build(
        0,
        collected(&bronze, 400),
        SplitSpec::from_settings(&s.learn),
    )
    .unwrap();
    assert_eq!(ds.rows, expected.rows);
    assert_eq!(ds.raw, expected.raw);

    // As if an earlier classify had committed up to `mid` (with no rows): classify resumes
    // after that txn version and never reads those commits again.
    let mid = bronze[bronze.len() / 2].0;
    let mut gold = GoldWriter::open(&loc).await.unwrap();
    assert_eq!(gold.checkpoint(), None);
    gold.commit(&[], mid).await.unwrap();
    drop(gold);

    sup.start("classify").unwrap();
    wait_state(
        &sup,
        "classify",
        StageState::Completed,
        Duration::from_secs(120),
    )
    .await;
    let after_mid: Vec<&BronzeText> = bronze
        .iter()
        .filter(|(v, _)| *v > mid)
        .flat_map(|(_, r)| r)
        .collect();
    let want: HashSet<String> = after_mid
        .iter()
        .filter(|t| model.predict_text(&t.text) > 0.5)
        .map(|t| t.id_str.clone())
        .collect();
    let gold = gold_rows(&loc).await;
    let got: HashSet<String> = gold.iter().map(|(id, _, _)| id.clone()).collect();
    assert_eq!(gold.len(), got.len(), "no tweet twice in gold");
    assert_eq!(
        got, want,
        "gold ai_tweets = the bronze tweets after the checkpoint the model predicts AI"
    );
    assert!(
        !want.is_empty() && want.len() < after_mid.len(),
        "{} of {}",
        want.len(),
        after_mid.len()
    );
    assert!(gold.iter().all(|(_, p, v)| *p > 0.5 && *v > mid));
    let latest = bronze.last().unwrap().0;
    assert_eq!(
        GoldWriter::open(&loc).await.unwrap().checkpoint(),
        Some(latest),
        "the last gold commit records the last bronze version"
    );
    // Predictions for the Feed, by tweet id.
    let preds = predictions::for_lake(&s.lake.root);
    let some = after_mid[17];
    let p = preds
        .get(&some.id_str)
        .expect("a prediction for a bronze tweet");
    assert!((p.p - model.predict_text(&some.text)).abs() < 1e-6);
    // ... and from the gold table, for a Feed in another process.
    let from_gold = Predictions::default();
    let mut c = LakeConsumer::new(loc.clone(), AI_TWEETS_TABLE, None, StartAt::FirstCommit);
    predictions::read_gold(&mut c, &from_gold).await.unwrap();
    assert_eq!(from_gold.counts(), (want.len() as u64, want.len() as u64));
    let id = want.iter().next().unwrap();
    assert!(from_gold.get(id).is_some_and(|p| p.positive && p.p > 0.5));

    // A restart classifies nothing twice.
    let gold_commits = commits(&loc, AI_TWEETS_TABLE).await.len();
    sup.start("classify").unwrap();
    wait_state(
        &sup,
        "classify",
        StageState::Completed,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(gold_rows(&loc).await.len(), gold.len());
    assert_eq!(commits(&loc, AI_TWEETS_TABLE).await.len(), gold_commits);

    // A second classify on the same lake is refused while one holds the lease.
    let held = Lease::acquire(&s.lake.root, "classify").unwrap();
    sup.start("classify").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while sup.state("classify") != Some(StageState::Failed) {
        assert!(std::time::Instant::now() < deadline, "classify not refused");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = log_text(&sup, "classify");
    assert!(log.contains("classify is already running"), "{log}");
    drop(held);
    assert_eq!(gold_rows(&loc).await.len(), gold.len());

    if s.pipeline.store == ssp_tui::config::StoreKind::Postgres {
        let url = std::env::var("SSP_TEST_PG_URL").unwrap();
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let schema = &s.postgresql.schema;
        let n: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM \"{schema}\".\"ai_tweets\""),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(n as usize, want.len(), "ai_tweets table");
        let dev: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM \"{schema}\".\"dev_dataset_0\""),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(dev, 60, "the seed's dev_dataset_0 table");
    }
    sup.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_collect_then_classify() {
    collect_then_classify(Vec::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_collect_then_classify() {
    let Some(extra) = pg_extra("postgres_collect_then_classify") else {
        return;
    };
    collect_then_classify(extra).await;
}
