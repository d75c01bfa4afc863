//! Exactly once into the bronze Delta table through Apache Kafka, by the table's own log:
//! two writers in one group on a 3-partition topic; one has its Kafka offset commit fail
//! after every Delta commit (`SSP_FAULTS=bronze.bus_commit`) and is then SIGKILLed (its
//! partitions move to the other writer when its session expires), the other is closed and
//! restarted. And a topic deleted and created again: its new tweets are all written.

use crate::kafka_common;

use std::time::Duration;

use kafka_common::*;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::ClientConfig;

fn with(env: &[(String, String)], extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut e = env.to_vec();
    e.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    e
}

/// Writer settings: short sessions so a killed member's partitions move within seconds.
fn writer_env(env: &[(String, String)], log_dir: &str) -> Vec<(String, String)> {
    with(
        env,
        &[
            ("SSP__LAKE__ROLL_SECONDS", "0.5"),
            ("SSP__KAFKA__PROPERTIES__SESSION.TIMEOUT.MS", "6000"),
            ("SSP__KAFKA__PROPERTIES__HEARTBEAT.INTERVAL.MS", "1000"),
            ("SSP__LOG__DIR", log_dir),
        ],
    )
}

#[test]
fn two_writers_a_failed_offset_commit_a_kill_and_a_takeover_leave_each_tweet_once() {
    let Some(bootstrap) = bootstrap() else { return };
    let dir = tempfile::tempdir().unwrap();
    let topic = unique("eo");
    let input = dir.path().join("tweets.jsonl");
    let ids = write_tweets(&input, 20_000, 11);
    let env = kafka_env(&bootstrap, &topic, dir.path());

    let a_env = with(
        &writer_env(&env, "logs-a"),
        &[("SSP_FAULTS", "bronze.bus_commit")],
    );
    let mut a = spawn(&["run", "bronze"], &a_env, dir.path(), "a.out");
    let mut b = spawn(
        &["run", "bronze"],
        &writer_env(&env, "logs-b"),
        dir.path(),
        "b.out",
    );
    std::thread::sleep(Duration::from_secs(3));
    let source_env = with(
        &env,
        &[
            ("SSP__SOURCE__KIND", "replay"),
            ("SSP__SOURCE__PATH", input.to_str().unwrap()),
            ("SSP__SOURCE__RATE", "2500"),
            ("SSP__LOG__DIR", "logs-s"),
        ],
    );
    let mut source = spawn(&["run", "source"], &source_env, dir.path(), "s.out");

    // Both writers commit for a while; then A (whose offset commits always fail) dies.
    let before_kill = wait_rows(dir.path(), 4_000, Duration::from_secs(60));
    assert!(
        before_kill >= 4_000,
        "bronze grew to only {before_kill} rows"
    );
    a.kill().unwrap();
    a.wait().unwrap();
    // B is closed and restarted while the source still produces.
    std::thread::sleep(Duration::from_secs(2));
    sigterm(&b);
    assert!(
        wait_exit(&mut b, Duration::from_secs(60)).success(),
        "B closes cleanly"
    );
    let mut b2 = spawn(
        &["run", "bronze"],
        &writer_env(&env, "logs-b2"),
        dir.path(),
        "b2.out",
    );

    assert!(wait_exit(&mut source, Duration::from_secs(120)).success());
    wait_started(dir.path(), "b2.out", Duration::from_secs(60));
    let rows = wait_rows(dir.path(), ids.len(), Duration::from_secs(120));
    sigterm(&b2);
    assert!(wait_exit(&mut b2, Duration::from_secs(60)).success());
    assert!(
        rows >= ids.len(),
        "bronze holds {rows} of {} tweets",
        ids.len()
    );
    assert_exactly_once(dir.path(), &ids);

    // A's offset commits failed: the takeover resumed from the table, not from Kafka.
    let b2_log = std::fs::read_to_string(dir.path().join("b2.out")).unwrap_or_default();
    let writers: std::collections::BTreeSet<_> = bronze_commits(dir.path())
        .into_iter()
        .filter(|(rows, _)| *rows > 0)
        .filter_map(|(_, q)| q)
        .collect();
    assert!(
        writers.len() >= 3,
        "A, B and B's restart all committed rows: {writers:?} ({b2_log})"
    );
}

#[test]
fn a_topic_deleted_and_created_again_is_written_from_its_start() {
    let Some(bootstrap) = bootstrap() else { return };
    let dir = tempfile::tempdir().unwrap();
    let topic = unique("recreate");
    let env = kafka_env(&bootstrap, &topic, dir.path());
    let first = dir.path().join("first.jsonl");
    let second = dir.path().join("second.jsonl");
    let ids1 = write_tweets(&first, 300, 21);
    let ids2 = write_tweets(&second, 200, 22);
    let produce = |path: &std::path::Path, log: &str| {
        let e = with(
            &env,
            &[
                ("SSP__SOURCE__KIND", "replay"),
                ("SSP__SOURCE__PATH", path.to_str().unwrap()),
                ("SSP__SOURCE__RATE", "0"),
            ],
        );
        let mut s = spawn(&["run", "source"], &e, dir.path(), log);
        assert!(wait_exit(&mut s, Duration::from_secs(60)).success());
    };
    let writer = with(&env, &[("SSP__LAKE__ROLL_SECONDS", "0.5")]);

    produce(&first, "s1.out");
    let mut w = spawn(&["run", "bronze"], &writer, dir.path(), "w1.out");
    assert_eq!(wait_rows(dir.path(), 300, Duration::from_secs(60)), 300);
    sigterm(&w);
    assert!(wait_exit(&mut w, Duration::from_secs(60)).success());

    // Same name, new topic: offsets start at 0 again, below what the table holds for the old.
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(admin.delete_topics(&[&topic], &AdminOptions::new()))
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    produce(&second, "s2.out");
    let mut w = spawn(&["run", "bronze"], &writer, dir.path(), "w2.out");
    let rows = wait_rows(dir.path(), 500, Duration::from_secs(60));
    sigterm(&w);
    assert!(wait_exit(&mut w, Duration::from_secs(60)).success());
    assert_eq!(rows, 500, "every tweet of the new topic is written");
    let all: Vec<String> = ids1.into_iter().chain(ids2).collect();
    assert_exactly_once(dir.path(), &all);
}
