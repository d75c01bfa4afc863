//! The `collect` and `classify` stages on a real pipeline (synthetic source -> embedded bus
//! -> bronze): collect builds dataset v0 with exact splits and a first model; classify scores
//! every bronze tweet with it, writes the predicted-AI ones to `<lake>/gold/ai_tweets` (and
//! the `ai_tweets` table with PostgreSQL) exactly once, and publishes live predictions for the
//! Feed pane.

mod learn_common;

use std::collections::HashSet;
use std::time::Duration;

use learn_common::*;
use ssp_tui::learn::dataset::{self, Split};
use ssp_tui::learn::labels::{self};
use ssp_tui::learn::model::{model_path, Model};
use ssp_tui::learn::predictions;
use ssp_tui::stage::classify::gold_dir;
use ssp_tui::stage::collect::read_bronze_tweets;
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

fn gold_rows(root: &std::path::Path) -> Vec<(String, f32)> {
    let mut out = Vec::new();
    for path in ssp_tui::lake::list_complete_files(&gold_dir(root)).unwrap() {
        for b in ssp_tui::lake::read_batches(&path).unwrap() {
            let id = b
                .column_by_name("id_str")
                .unwrap()
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .unwrap()
                .clone();
            let p = b
                .column_by_name("probability")
                .unwrap()
                .as_any()
                .downcast_ref::<arrow::array::Float32Array>()
                .unwrap()
                .clone();
            for i in 0..b.num_rows() {
                out.push((id.value(i).to_string(), p.value(i)));
            }
        }
    }
    out
}

async fn collect_then_classify(extra: Vec<(String, String)>) {
    let tmp = tempfile::tempdir().unwrap();
    let mut env = pairs(&[
        ("SSP__SOURCE__RATE", "0"),
        ("SSP__SOURCE__LIMIT", "3000"),
        ("SSP__LAKE__ROLL_SECONDS", "0.3"),
        ("SSP__LAKE__ROLL_ROWS", "500"),
        ("SSP__LEARN__CLASSIFY_FROM", "beginning"),
    ]);
    env.extend(extra.clone());
    let s = settings(tmp.path(), &env);
    let sup = ssp_tui::app::build_supervisor(&s).unwrap();
    // collect pulls in bronze and source (its dependencies).
    sup.start("collect").unwrap();
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
            .join("train_dataset.parquet")
            .is_file(),
        "Parquet files of the version"
    );
    let (model, meta) =
        Model::load(&model_path(&s.lake.root)).expect("collect saved a first model");
    assert_eq!((meta.version, meta.hand_labels), (0, 0));

    // classify every bronze tweet with that model.
    sup.start("classify").unwrap();
    wait_state(
        &sup,
        "source",
        StageState::Completed,
        Duration::from_secs(120),
    )
    .await;
    wait_state(
        &sup,
        "classify",
        StageState::Completed,
        Duration::from_secs(120),
    )
    .await;
    let bronze: Vec<_> = ssp_tui::lake::list_complete_files(&s.lake.root.join("bronze"))
        .unwrap()
        .iter()
        .flat_map(|p| read_bronze_tweets(p).unwrap())
        .collect();
    assert_eq!(bronze.len(), 3000);
    let want: HashSet<String> = bronze
        .iter()
        .filter(|t| model.predict_text(&t.text) > 0.5)
        .map(|t| t.tweet_id.clone())
        .collect();
    let gold = gold_rows(&s.lake.root);
    let got: HashSet<String> = gold.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(gold.len(), got.len(), "no tweet twice in gold");
    assert_eq!(
        got, want,
        "gold ai_tweets = the bronze tweets the model predicts AI"
    );
    assert!(
        !want.is_empty() && want.len() < bronze.len(),
        "{} of {}",
        want.len(),
        bronze.len()
    );
    assert!(gold.iter().all(|(_, p)| *p > 0.5));
    // Predictions for the Feed, by tweet id.
    let preds = predictions::for_lake(&s.lake.root);
    let some = &bronze[17];
    let p = preds
        .get(&some.tweet_id)
        .expect("a prediction for a bronze tweet");
    assert!((p.p - model.predict_text(&some.text)).abs() < 1e-6);

    // A restart classifies nothing twice.
    sup.start("classify").unwrap();
    wait_state(
        &sup,
        "classify",
        StageState::Completed,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(gold_rows(&s.lake.root).len(), gold.len());

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
