//! The trending stage against a real PostgreSQL server (`SSP_TEST_PG_URL`, started by
//! `scripts/test.sh`); every test works in a fresh schema.

use crate::trending_support;

use std::sync::Arc;
use std::time::Duration;

use ssp_tui::backoff::Backoff;
use ssp_tui::bus::embedded::Retention;
use ssp_tui::bus::EmbeddedBus;
use ssp_tui::config::Settings;
use ssp_tui::stage::trending::TrendingStage;
use ssp_tui::stage::{Pipeline, StageState, Supervisor};
use ssp_tui::store::{self, Committed, StoreError, TagDelta, TrendingBatch, TrendingMeta};
use trending_support::*;

const BASE: u64 = 1_300_000_000_000_000_000;
const T: &str = "trending_hashtags";

fn pg_settings(
    url: &str,
    schema: &str,
    lake: &std::path::Path,
    extra: &[(&str, String)],
) -> Settings {
    let mut env = vec![
        ("SSP__PIPELINE__STORE", "postgres".to_string()),
        ("SSP__POSTGRESQL__URL", url.to_string()),
        ("SSP__POSTGRESQL__SCHEMA", schema.to_string()),
        ("SSP__LAKE__ROOT", lake.display().to_string()),
        ("SSP__LOG__DIR", lake.join("logs").display().to_string()),
    ];
    env.extend(extra.iter().cloned());
    settings(&env)
}

/// A supervisor with only the trending stage (no dependencies): it counts whatever lands in
/// the lake, like a stage running headless next to a bronze writer elsewhere.
fn standalone(s: &Settings) -> Arc<Supervisor> {
    let bus = Arc::new(EmbeddedBus::new(Retention {
        messages: 100_000,
        bytes: 64 << 20,
    }));
    let pipeline = Pipeline::new(s.clone(), bus);
    Arc::new(Supervisor::new(
        pipeline,
        vec![Arc::new(TrendingStage::new(s).standalone())],
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            factor: 2.0,
        },
    ))
}

async fn wait_tweets(url: &str, schema: &str, n: u64) {
    eventually(
        &format!("{n} tweets counted"),
        Duration::from_secs(60),
        || async {
            match pg_state(url, schema, T).await {
                Some((_, t)) if t == n => Some(()),
                Some((_, t)) if t > n => panic!("counted {t} tweets, expected {n}: double count"),
                _ => None,
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lake_input_exact_counts_for_both_rules() {
    let Some(url) = pg_url() else { return };
    let tweets = known_tweets(BASE, 700, 1);
    for rule in ["twitter", "seed"] {
        let dir = tempfile::tempdir().unwrap();
        let schema = fresh_schema();
        let input = dir.path().join("in.jsonl");
        write_jsonl(&input, &tweets);
        let s = pg_settings(
            &url,
            &schema,
            &dir.path().join("lake"),
            &[
                ("SSP__SOURCE__KIND", "replay".into()),
                ("SSP__SOURCE__PATH", input.display().to_string()),
                ("SSP__SOURCE__RATE", "0".into()),
                ("SSP__LAKE__ROLL_ROWS", "50".into()),
                ("SSP__TRENDING__RULE", rule.into()),
            ],
        );
        let sup = ssp_tui::pipeline::build_supervisor(&s).unwrap();
        let started = sup.start("trending").unwrap();
        assert_eq!(started, ["source", "bronze", "trending"]);
        wait_state(
            &sup,
            "trending",
            StageState::Completed,
            Duration::from_secs(90),
        )
        .await;

        let got = pg_counts(&url, &schema, T).await;
        let want = expected(&tweets, rule == "seed");
        assert_eq!(got.len(), want.len(), "{rule}: distinct tags");
        for (k, v) in &want {
            assert_eq!(got.get(k), Some(v), "{rule}: tag {k}");
        }
        assert_eq!(got, want, "{rule}: the whole table");
        if rule == "seed" {
            // Verbatim words, quotes and all (values travel as parameters).
            assert!(
                got.contains_key("#a';drop"),
                "{:?}",
                got.keys().collect::<Vec<_>>()
            );
            assert!(got.contains_key("#\"q\""));
            assert!(got.contains_key("dissent.#mangomussolini"));
            assert!(got.contains_key("no tags"));
        } else {
            assert_eq!(got["#café"].1, want["#café"].1);
            assert!(!got.contains_key("no tags"));
        }
        let (_, counted) = pg_state(&url, &schema, T).await.unwrap();
        assert_eq!(counted, 700);
        // The checkpoint is the last bronze version, and bronze holds exactly the tweets.
        let lake = dir.path().join("lake");
        let latest = bronze_version(&lake).await.unwrap();
        assert!(latest >= 14, "{latest}: one commit per 50 tweets");
        assert_eq!(pg_lake_version(&url, &schema).await, Some(latest));
        let location = ssp_tui::lake::LakeLocation::local(&lake);
        let rows = ssp_tui::lake::read_bronze_rows(&location).await.unwrap();
        assert_eq!(rows.len(), 700);

        // The pane's reading agrees with the table.
        let st = store::open(&s).unwrap();
        let top = st
            .trending()
            .top(ssp_tui::store::TopQuery {
                n: 5,
                window_ms: 900_000,
                bucket_ms: 15_000,
                now_ms: chrono::Utc::now().timestamp_millis(),
            })
            .await
            .unwrap();
        let mut by_count: Vec<(String, u64)> = want
            .iter()
            .filter(|(k, _)| k.as_str() != "no tags")
            .map(|(_, (d, n))| (d.clone(), *n))
            .collect();
        by_count.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let top_all: Vec<(String, u64)> = top
            .all_time
            .iter()
            .map(|r| (r.hashtag.clone(), r.count))
            .collect();
        assert_eq!(top_all, by_count[..5].to_vec(), "{rule}: top 5 all-time");
        let top_window: Vec<(String, u64)> = top
            .window
            .iter()
            .map(|r| (r.hashtag.clone(), r.count))
            .collect();
        assert_eq!(
            top_window,
            by_count[..5].to_vec(),
            "{rule}: everything is inside the window"
        );
        assert_eq!(top.tweets, 700);
        assert_eq!(
            top.distinct as usize,
            want.len() - (rule == "seed") as usize
        );
        // No gold snapshot with PostgreSQL (the table is the gold layer).
        assert!(!dir.path().join("lake/gold/trending_hashtags").exists());
        drop_schema(&url, &schema).await;
    }
}

/// `lake_version` of the state row.
async fn pg_lake_version(url: &str, schema: &str) -> Option<i64> {
    pg_client(url)
        .await
        .query_one(
            &format!("SELECT lake_version FROM \"{schema}\".\"{T}_state\" WHERE id = 1"),
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_commits_once_restart_resumes_at_the_version_uncommitted_files_never_read() {
    let Some(url) = pg_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let schema = fresh_schema();
    let tweets = known_tweets(BASE, 500, 2);
    let s = pg_settings(&url, &schema, &lake, &[]);

    let v1 = write_bronze(&lake, &tweets[..100], 0).await;
    // A data file in the table's folder that no commit lists (a writer died before its
    // commit), and a writer with rows buffered but not committed.
    let a = bronze_files(&lake, v1).await.remove(0);
    std::fs::copy(
        &a,
        a.with_file_name("part-00000-never-committed-c000.snappy.parquet"),
    )
    .unwrap();
    let mut open = bronze_writer(&lake).await;
    append(&mut open, &tweets[400..], 10_000).await;

    let sup = standalone(&s);
    sup.start("trending").unwrap();
    wait_tweets(&url, &schema, 100).await;
    assert_eq!(
        pg_counts(&url, &schema, T).await,
        expected(&tweets[..100], false)
    );

    assert_eq!(pg_lake_version(&url, &schema).await, Some(v1));

    // A new commit while the stage runs: counted once.
    let v2 = write_bronze(&lake, &tweets[100..250], 100).await;
    wait_tweets(&url, &schema, 250).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        pg_counts(&url, &schema, T).await,
        expected(&tweets[..250], false)
    );
    assert_eq!(pg_lake_version(&url, &schema).await, Some(v2));
    sup.shutdown(Duration::from_secs(10)).await;
    assert_eq!(sup.state("trending"), Some(StageState::Stopped));

    // Restart: it resumes after the stored version (nothing counted again); a new commit is.
    let sup = standalone(&s);
    sup.start("trending").unwrap();
    let v3 = write_bronze(&lake, &tweets[250..400], 250).await;
    wait_tweets(&url, &schema, 400).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        pg_counts(&url, &schema, T).await,
        expected(&tweets[..400], false)
    );

    // The open writer commits: now its rows count, once.
    let v4 = open.roll().await.unwrap().version.unwrap();
    assert!(v4 > v3);
    wait_tweets(&url, &schema, 500).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(pg_counts(&url, &schema, T).await, expected(&tweets, false));
    let logs: Vec<String> = sup
        .log("trending")
        .unwrap()
        .snapshot()
        .iter()
        .map(|l| format!("{l:?}"))
        .collect();
    assert!(
        logs.iter().any(
            |l| l.contains("checkpoint: batch") && l.contains(&format!("bronze version {v2},"))
        ),
        "{logs:#?}"
    );
    eventually(
        "the checkpoint at the last version",
        Duration::from_secs(10),
        || {
            let (url, schema) = (url.clone(), schema.clone());
            async move { (pg_lake_version(&url, &schema).await == Some(v4)).then_some(()) }
        },
    )
    .await;
    sup.shutdown(Duration::from_secs(10)).await;
    drop_schema(&url, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_cut_mid_run_final_counts_exact() {
    let Some(url) = pg_url() else { return };
    let proxy = Proxy::start(pg_addr(&url)).await;
    let via_proxy = url_with_port(&url, proxy.port);
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let schema = fresh_schema();
    let tweets = known_tweets(BASE, 2000, 3);
    // Plain text, so the proxy can find the COMMIT answer it loses.
    let plain = [("SSP__POSTGRESQL__SSLMODE", "disable".to_string())];
    let s = pg_settings(&via_proxy, &schema, &lake, &plain);
    let sup = standalone(&s);
    sup.start("trending").unwrap();
    write_bronze(&lake, &tweets[..100], 0).await;
    wait_tweets(&url, &schema, 100).await;

    // Down: the stage keeps counting new files in memory and says so.
    proxy.cut();
    write_bronze(&lake, &tweets[100..300], 100).await;
    let st = wait_for(&sup, "backing off", Duration::from_secs(30), |s| {
        s.detail.starts_with("backing off")
    })
    .await;
    assert!(st.detail.contains("PostgreSQL"), "{}", st.detail);
    assert!(
        !st.detail.contains(":ssp@") && !format!("{st:?}").contains("ssp:ssp"),
        "{st:?}"
    );
    assert_eq!(
        st.state,
        StageState::Running,
        "the stage itself keeps running"
    );
    write_bronze(&lake, &tweets[300..400], 300).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    proxy.restore();
    wait_tweets(&url, &schema, 400).await;
    assert_eq!(
        pg_counts(&url, &schema, T).await,
        expected(&tweets[..400], false)
    );

    // A commit that reaches the server but whose answer is lost: the retry must see that the
    // batch is already in and not apply it again.
    proxy.lose_next_commit_answer();
    write_bronze(&lake, &tweets[400..450], 400).await;
    wait_tweets(&url, &schema, 450).await;
    eventually(
        "the retry recognised the batch",
        Duration::from_secs(30),
        || {
            let sup = sup.clone();
            async move {
                let logs = sup.log("trending").unwrap().snapshot();
                logs.iter()
                    .any(|l| format!("{l:?}").contains("committed before its answer was lost"))
                    .then_some(())
            }
        },
    )
    .await;
    assert!(!proxy.commit_answer_pending_loss());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        pg_counts(&url, &schema, T).await,
        expected(&tweets[..450], false)
    );

    // Flapping: files keep arriving while the database goes away and back, mid-commit too.
    let writer = {
        let lake = lake.clone();
        let tweets = tweets.clone();
        tokio::spawn(async move {
            let mut at = 450;
            while at < 2000 {
                let end = (at + 80).min(2000);
                write_bronze(&lake, &tweets[at..end], at as i64).await;
                at = end;
                tokio::time::sleep(Duration::from_millis(60)).await;
            }
        })
    };
    for i in 0..12 {
        tokio::time::sleep(Duration::from_millis(90 + (i % 4) * 70)).await;
        proxy.cut();
        tokio::time::sleep(Duration::from_millis(120 + (i % 3) * 50)).await;
        proxy.restore();
    }
    writer.await.unwrap();
    wait_tweets(&url, &schema, 2000).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(pg_counts(&url, &schema, T).await, expected(&tweets, false));
    let st = status(&sup, "trending");
    assert!(st.errors > 0, "the outages were reported: {st:?}");
    assert!(!st.detail.starts_with("backing off"), "{st:?}");
    let logs: Vec<String> = sup
        .log("trending")
        .unwrap()
        .snapshot()
        .iter()
        .map(|l| format!("{l:?}"))
        .collect();
    assert!(
        logs.iter().any(|l| l.contains("store back after")),
        "{logs:#?}"
    );
    let outages = logs
        .iter()
        .filter(|l| l.contains("store unavailable"))
        .count();
    let ambiguous = logs
        .iter()
        .filter(|l| l.contains("committed before its answer was lost"))
        .count();
    eprintln!("{outages} outages seen, {ambiguous} batches whose commit answer was lost");
    sup.shutdown(Duration::from_secs(10)).await;
    drop_schema(&url, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bus_input_with_outages_exact_counts_and_offsets() {
    let Some(url) = pg_url() else { return };
    let proxy = Proxy::start(pg_addr(&url)).await;
    let via_proxy = url_with_port(&url, proxy.port);
    let dir = tempfile::tempdir().unwrap();
    let schema = fresh_schema();
    let tweets = known_tweets(BASE, 3000, 4);
    let input = dir.path().join("in.jsonl");
    write_jsonl(&input, &tweets);
    let s = pg_settings(
        &via_proxy,
        &schema,
        &dir.path().join("lake"),
        &[
            ("SSP__SOURCE__KIND", "replay".into()),
            ("SSP__SOURCE__PATH", input.display().to_string()),
            ("SSP__SOURCE__RATE", "2000".into()),
            ("SSP__TRENDING__INPUT", "bus".into()),
            ("SSP__TRENDING__FLUSH_SECONDS", "0.1".into()),
        ],
    );
    let sup = ssp_tui::pipeline::build_supervisor(&s).unwrap();
    assert_eq!(sup.start("trending").unwrap(), ["source", "trending"]);
    for i in 0..6 {
        tokio::time::sleep(Duration::from_millis(150 + i * 40)).await;
        proxy.cut();
        tokio::time::sleep(Duration::from_millis(200)).await;
        proxy.restore();
    }
    wait_state(
        &sup,
        "trending",
        StageState::Completed,
        Duration::from_secs(90),
    )
    .await;
    assert_eq!(pg_counts(&url, &schema, T).await, expected(&tweets, false));
    assert_eq!(pg_state(&url, &schema, T).await.unwrap().1, 3000);
    let c = pg_client(&url).await;
    let next: i64 = c
        .query_one(
            &format!("SELECT sum(next_offset)::int8 FROM \"{schema}\".\"{T}_offsets\""),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(next, 3000, "next offsets over all partitions");
    drop_schema(&url, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_back_off_then_catch_up() {
    let Some(url) = pg_url() else { return };
    let admin = pg_client(&url).await;
    let role = format!("ssp_r_{:08x}", rand::random::<u32>());
    let db: String = admin
        .query_one("SELECT current_database()", &[])
        .await
        .unwrap()
        .get(0);
    admin
        .batch_execute(&format!(
            "CREATE ROLE \"{role}\" LOGIN PASSWORD 'right-one'; GRANT CREATE ON DATABASE \"{db}\" TO \"{role}\";"
        ))
        .await
        .unwrap();
    let addr = pg_addr(&url);
    let wrong = format!("postgres://{role}:the-wrong-pw@{addr}/{db}");
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let schema = fresh_schema();
    let tweets = known_tweets(BASE, 120, 5);
    write_bronze(&lake, &tweets, 0).await;
    let s = pg_settings(&wrong, &schema, &lake, &[]);
    let sup = standalone(&s);
    sup.start("trending").unwrap();
    let st = wait_for(&sup, "backing off", Duration::from_secs(30), |s| {
        s.detail.starts_with("backing off")
    })
    .await;
    assert!(
        st.detail.contains("password authentication failed"),
        "{}",
        st.detail
    );
    assert!(!format!("{st:?}").contains("the-wrong-pw"), "{st:?}");
    // Fix the credentials on the server side: the stage gets in and catches up.
    admin
        .batch_execute(&format!("ALTER ROLE \"{role}\" PASSWORD 'the-wrong-pw'"))
        .await
        .unwrap();
    wait_for(&sup, "the counts flushed", Duration::from_secs(60), |s| {
        s.output == 120
    })
    .await;
    // (The new role owns the schema: read as that role, whose password is now right.)
    wait_tweets(&wrong, &schema, 120).await;
    assert_eq!(
        pg_counts(&wrong, &schema, T).await,
        expected(&tweets, false)
    );
    sup.shutdown(Duration::from_secs(10)).await;
    // The schema belongs to the new role: it drops it itself.
    drop_schema(&wrong, &schema).await;
    let _ = admin
        .batch_execute(&format!(
            "REVOKE ALL ON DATABASE \"{db}\" FROM \"{role}\"; DROP ROLE \"{role}\";"
        ))
        .await;
}

fn batch(id: i64, base_seq: u64, tags: &[(&str, u64)]) -> TrendingBatch {
    TrendingBatch {
        id,
        base_seq,
        meta: TrendingMeta {
            rule: "twitter".into(),
            input: "lake".into(),
        },
        tags: tags
            .iter()
            .map(|(t, n)| TagDelta {
                key: t.to_lowercase(),
                count: *n,
                spellings: vec![(t.to_string(), *n)],
            })
            .collect(),
        buckets: Vec::new(),
        window_cutoff_ms: 0,
        window: Vec::new(),
        lake_version: Some(id),
        bus: String::new(),
        offsets: Vec::new(),
        tweets: tags.len() as u64,
        occurrences: tags.iter().map(|(_, n)| n).sum(),
        now_ms: chrono::Utc::now().timestamp_millis(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_batch_is_applied_once_and_stale_batches_are_refused() {
    let Some(url) = pg_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let schema = fresh_schema();
    let s = pg_settings(&url, &schema, dir.path(), &[]);
    let st = store::open(&s).unwrap();
    let t = st.trending();
    t.migrate().await.unwrap();
    t.migrate().await.unwrap(); // idempotent
    let b1 = batch(11, 0, &[("#AI", 3), ("#Rust", 1)]);
    assert_eq!(t.commit(&b1).await.unwrap(), Committed::Applied(1));
    // The answer was "lost": the same batch again changes nothing.
    assert_eq!(t.commit(&b1).await.unwrap(), Committed::AlreadyApplied(1));
    let b2 = batch(12, 1, &[("#ai", 5)]);
    assert_eq!(t.commit(&b2).await.unwrap(), Committed::Applied(2));
    // A writer with a stale view is refused.
    let stale = batch(13, 1, &[("#AI", 100)]);
    assert_eq!(
        t.commit(&stale).await.unwrap_err(),
        StoreError::Conflict {
            expected: 1,
            found: 2
        }
    );
    // Another rule into the same table is refused.
    let mut seed = batch(14, 2, &[("#x", 1)]);
    seed.meta.rule = "seed".into();
    assert!(
        matches!(t.commit(&seed).await, Err(StoreError::Config(m)) if m.contains("rule = twitter"))
    );
    let counts = pg_counts(&url, &schema, T).await;
    assert_eq!(
        counts["#ai"],
        ("#ai".to_string(), 8),
        "most frequent spelling wins"
    );
    assert_eq!(counts["#rust"], ("#Rust".to_string(), 1));
    let cp = t.checkpoint("", 0).await.unwrap();
    assert_eq!(cp.seq, 2);
    assert_eq!(cp.lake_version, Some(12), "the version of the last batch");
    // A batch without a version (bus input, a window expiry) keeps the stored one.
    let mut b3 = batch(15, 2, &[("#x", 1)]);
    b3.lake_version = None;
    assert_eq!(t.commit(&b3).await.unwrap(), Committed::Applied(3));
    assert_eq!(t.checkpoint("", 0).await.unwrap().lake_version, Some(12));
    drop_schema(&url, &schema).await;
}

/// A database written by layout 1 (a set of counted bronze file names): the migration adds
/// `lake_version`, drops the file set and the counts made from the old folders (the lake is
/// recounted from the converted table's first version, so nothing is counted twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layout_1_is_migrated_to_a_version_checkpoint() {
    let Some(url) = pg_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let schema = fresh_schema();
    let c = pg_client(&url).await;
    c.batch_execute(&format!(
        "CREATE SCHEMA \"{schema}\";
         CREATE TABLE \"{schema}\".{T} (tag_key text PRIMARY KEY, hashtag text NOT NULL,
             count bigint NOT NULL, window_count bigint NOT NULL DEFAULT 0,
             updated_at timestamptz NOT NULL DEFAULT now());
         CREATE TABLE \"{schema}\".{T}_files (file text PRIMARY KEY, seq bigint NOT NULL,
             processed_at timestamptz NOT NULL DEFAULT now());
         CREATE TABLE \"{schema}\".{T}_state (id integer PRIMARY KEY CHECK (id = 1),
             schema_version integer NOT NULL, seq bigint NOT NULL DEFAULT 0,
             last_batch bigint NOT NULL DEFAULT 0, rule text, input text,
             tweets bigint NOT NULL DEFAULT 0, occurrences bigint NOT NULL DEFAULT 0,
             distinct_tags bigint NOT NULL DEFAULT 0, updated_at timestamptz);
         INSERT INTO \"{schema}\".{T} (tag_key, hashtag, count) VALUES ('#ai', '#AI', 7);
         INSERT INTO \"{schema}\".{T}_files (file, seq) VALUES ('date=2020-01-01/a.parquet', 4);
         INSERT INTO \"{schema}\".{T}_state (id, schema_version, seq, rule, input, tweets)
             VALUES (1, 1, 4, 'twitter', 'lake', 7);"
    ))
    .await
    .unwrap();
    let s = pg_settings(&url, &schema, dir.path(), &[]);
    let st = store::open(&s).unwrap();
    let t = st.trending();
    t.migrate().await.unwrap();
    let cp = t.checkpoint("", 0).await.unwrap();
    assert_eq!((cp.seq, cp.lake_version), (4, None));
    let files_left = c
        .query_opt(
            "SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = $2",
            &[&schema, &format!("{T}_files")],
        )
        .await
        .unwrap();
    assert!(files_left.is_none(), "the file set is dropped");
    let mut b = batch(21, 4, &[("#ai", 1)]);
    b.lake_version = Some(3);
    assert_eq!(t.commit(&b).await.unwrap(), Committed::Applied(5));
    assert_eq!(t.checkpoint("", 0).await.unwrap().lake_version, Some(3));
    assert_eq!(
        pg_counts(&url, &schema, T).await["#ai"].1,
        1,
        "the old count (7) is dropped and only the recount remains"
    );
    let layout: i32 = c
        .query_one(
            &format!("SELECT schema_version FROM \"{schema}\".{T}_state"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(layout, ssp_tui::store::postgres::SCHEMA_VERSION);
    drop_schema(&url, &schema).await;
}

#[test]
fn identifiers_from_config_are_validated() {
    for (key, value) in [
        ("SSP__TRENDING__TABLE", "trending-hashtags"),
        ("SSP__TRENDING__TABLE", "Trending"),
        ("SSP__TRENDING__TABLE", "x; drop table y"),
        ("SSP__TRENDING__TABLE", &"t".repeat(54)),
        ("SSP__POSTGRESQL__SCHEMA", "public\"; drop schema x; --"),
        ("SSP__POSTGRESQL__SCHEMA", "1st"),
    ] {
        let env = vec![(key.to_string(), value.to_string())];
        let e = Settings::load_with_env(None, &env).unwrap_err().to_string();
        let k = key
            .trim_start_matches("SSP__")
            .replace("__", ".")
            .to_lowercase();
        assert!(e.contains(&k) && e.contains("SQL identifier"), "{e}");
    }
    let ok = settings(&[("SSP__TRENDING__TABLE", "my_tags_2".into())]);
    assert_eq!(ok.trending.table, "my_tags_2");
}
