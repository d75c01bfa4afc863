//! The trending stage against a real PostgreSQL server (`SSP_TEST_PG_URL`, started by
//! `scripts/test.sh`); every test works in a fresh schema.

mod trending_support;

use std::sync::Arc;
use std::time::Duration;

use ssp_tui::bus::embedded::Retention;
use ssp_tui::bus::EmbeddedBus;
use ssp_tui::config::Settings;
use ssp_tui::stage::backoff::Backoff;
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
        let sup = ssp_tui::app::build_supervisor(&s).unwrap();
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
        let files = pg_client(&url)
            .await
            .query_one(
                &format!("SELECT count(*) FROM \"{schema}\".\"{T}_files\""),
                &[],
            )
            .await
            .unwrap()
            .get::<_, i64>(0);
        let bronze_files = ssp_tui::lake::list_complete_files(&dir.path().join("lake/bronze"))
            .unwrap()
            .len();
        assert_eq!(files as usize, bronze_files);
        assert!(bronze_files >= 14, "{bronze_files} bronze files");

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_files_once_restart_no_double_count_temp_files_never_read() {
    let Some(url) = pg_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let schema = fresh_schema();
    let tweets = known_tweets(BASE, 500, 2);
    let s = pg_settings(&url, &schema, &lake, &[]);

    let a = write_bronze(&lake, &tweets[..100], 0);
    // A complete Parquet file under a temporary name, and a writer still writing one.
    let date_dir = a.parent().unwrap();
    std::fs::copy(
        &a,
        date_dir.join(".part-20990101T000000.000-copy-000001.parquet.tmp"),
    )
    .unwrap();
    let layout = ssp_tui::lake::LakeLayout::new(&lake);
    let mut open = ssp_tui::lake::BronzeWriter::new(
        &layout,
        ssp_tui::lake::RollPolicy::default(),
        "still-open".into(),
    )
    .unwrap();
    for (i, t) in tweets[400..].iter().enumerate() {
        let tweet = ssp_tui::tweet::Tweet::parse(t.json.to_string().as_bytes()).unwrap();
        open.append(
            &tweet,
            &ssp_tui::lake::RecordMeta {
                topic: "twitter_data",
                partition: 0,
                offset: 10_000 + i as i64,
                ingest_time: chrono::Utc::now(),
            },
        )
        .unwrap();
    }

    let sup = standalone(&s);
    sup.start("trending").unwrap();
    wait_tweets(&url, &schema, 100).await;
    assert_eq!(
        pg_counts(&url, &schema, T).await,
        expected(&tweets[..100], false)
    );

    // A new file while the stage runs: counted once.
    write_bronze(&lake, &tweets[100..250], 100);
    wait_tweets(&url, &schema, 250).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        pg_counts(&url, &schema, T).await,
        expected(&tweets[..250], false)
    );
    sup.shutdown(Duration::from_secs(10)).await;
    assert_eq!(sup.state("trending"), Some(StageState::Stopped));

    // Restart: the files already counted are not counted again; a new one is.
    let sup = standalone(&s);
    sup.start("trending").unwrap();
    write_bronze(&lake, &tweets[250..400], 250);
    wait_tweets(&url, &schema, 400).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        pg_counts(&url, &schema, T).await,
        expected(&tweets[..400], false)
    );

    // The open file becomes complete (renamed): now it counts, once.
    open.roll().unwrap();
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
        logs.iter()
            .any(|l| l.contains("checkpoint: batch") && l.contains("2 bronze files counted")),
        "{logs:#?}"
    );
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
    let s = pg_settings(&via_proxy, &schema, &lake, &[]);
    let sup = standalone(&s);
    sup.start("trending").unwrap();
    write_bronze(&lake, &tweets[..100], 0);
    wait_tweets(&url, &schema, 100).await;

    // Down: the stage keeps counting new files in memory and says so.
    proxy.cut();
    write_bronze(&lake, &tweets[100..300], 100);
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
    write_bronze(&lake, &tweets[300..400], 300);
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
    write_bronze(&lake, &tweets[400..450], 400);
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
                let (l, t) = (lake.clone(), tweets[at..end].to_vec());
                tokio::task::spawn_blocking(move || write_bronze(&l, &t, at as i64))
                    .await
                    .unwrap();
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
    let sup = ssp_tui::app::build_supervisor(&s).unwrap();
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
    write_bronze(&lake, &tweets, 0);
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
        files: vec![format!("date=2026-01-01/part-{id}.parquet")],
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
    assert_eq!(cp.files.len(), 2);
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
