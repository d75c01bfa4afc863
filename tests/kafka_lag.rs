//! The Lag pane on a shared Kafka cluster: 500 consumer groups, 490 of them reading another
//! topic. One lag refresh returns exactly the groups of the tweet topic (and `[kafka]
//! lag_groups`), with the lag a separate client computes, through one client whatever the
//! number of groups (the process's thread count does not grow with them); the time it took
//! is printed. And an unreachable cluster shows `broker DOWN` with the error.
//!
//! The broker comes from SSP_TEST_KAFKA_BOOTSTRAP (scripts/start-kafka.sh prints one).

#[path = "integration/kafka_common/mod.rs"]
mod kafka_common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use ssp_tui::bus::kafka::{client_config, KafkaBus};
use ssp_tui::bus::{Bus, GroupLag};
use ssp_tui::config::{KafkaSettings, Settings};

use kafka_common::{kafka_env, repo_config, unique};

/// The tests of this file run one at a time: one counts the process's threads.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const TWEET_GROUPS: usize = 10;
const OTHER_GROUPS: usize = 490;
const TWEET_PARTITIONS: i32 = 3;
const OTHER_PARTITIONS: i32 = 2;

/// The broker, or `None` (skip, loudly) when it is not configured; a failure when services
/// are required (`SSP_REQUIRE_SERVICES=1`, or `CI=true` like the other Kafka tests).
fn bootstrap() -> Option<String> {
    kafka_common::bootstrap()
}

fn settings(env: &[(String, String)]) -> Settings {
    Settings::load_with_env(Some(&repo_config()), env).unwrap()
}

/// Threads of this process, from /proc/self/status.
fn threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("Threads: in /proc/self/status")
}

/// Produces `n` messages spread over the topic's partitions.
async fn produce(bus: &KafkaBus, topic: &str, n: usize) {
    let mut p = bus.producer(topic).await.unwrap();
    for i in 0..n {
        let key = format!("k{i}");
        p.send(Some(key.as_bytes()), Bytes::from(format!("m{i}")))
            .await
            .unwrap();
    }
    p.flush().await.unwrap();
}

/// A group and the offsets to commit for it: (topic, partition, next offset to read).
type GroupOffsets = (String, Vec<(String, i32, i64)>);

/// Commits `offsets` (topic, partition, next offset) for each group, as a plain consumer of
/// that group would; on a few threads, every client closed before it returns.
fn commit_groups(kafka: &KafkaSettings, groups: Vec<GroupOffsets>) {
    let chunk = groups.len().div_ceil(8).max(1);
    std::thread::scope(|s| {
        for part in groups.chunks(chunk) {
            s.spawn(move || {
                for (group, offsets) in part {
                    let c: BaseConsumer = client_config(kafka)
                        .set("group.id", group)
                        .set("enable.auto.commit", "false")
                        .create()
                        .unwrap();
                    let mut tpl = TopicPartitionList::new();
                    for (t, p, o) in offsets {
                        tpl.add_partition_offset(t, *p, Offset::Offset(*o)).unwrap();
                    }
                    let mut tries = 0;
                    while let Err(e) = c.commit(&tpl, CommitMode::Sync) {
                        tries += 1;
                        assert!(tries < 20, "committing for {group}: {e}");
                        std::thread::sleep(Duration::from_millis(200));
                    }
                }
            });
        }
    });
}

/// Per partition (high watermark, committed) of `group` on `topic`, read by clients of
/// their own: a consumer of the group for its committed offsets, another for watermarks.
fn independent_lag(
    kafka: &KafkaSettings,
    topic: &str,
    group: &str,
) -> BTreeMap<i32, (i64, Option<i64>)> {
    let timeout = Duration::from_secs(10);
    let c: BaseConsumer = client_config(kafka)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..TWEET_PARTITIONS {
        tpl.add_partition(topic, p);
    }
    let committed = c.committed_offsets(tpl, timeout).unwrap();
    let w: BaseConsumer = client_config(kafka)
        .set("group.id", "ssp-test-watermarks")
        .create()
        .unwrap();
    (0..TWEET_PARTITIONS)
        .map(|p| {
            let (_, high) = w.fetch_watermarks(topic, p, timeout).unwrap();
            let offset = match committed.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => Some(o),
                _ => None,
            };
            (p, (high, offset))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_refresh_reads_500_groups_through_one_client() {
    let Some(bootstrap) = bootstrap() else { return };
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let tweets = unique("lag_tweets");
    let other = unique("lag_other");
    let configured = format!("{tweets}_configured");
    let mut env = kafka_env(&bootstrap, &tweets, dir.path());
    env.push(("SSP__KAFKA__LAG_GROUPS".into(), configured.clone()));
    let s = settings(&env);
    let kafka = s.kafka.clone();
    let bus = KafkaBus::new(kafka.clone()).unwrap();
    bus.ensure_topic(&tweets, TWEET_PARTITIONS).await.unwrap();
    bus.ensure_topic(&other, OTHER_PARTITIONS).await.unwrap();
    produce(&bus, &tweets, 600).await;
    produce(&bus, &other, 200).await;
    let hws = bus.high_watermarks(&tweets).await.unwrap();
    assert_eq!(hws.values().sum::<i64>(), 600, "{hws:?}");

    // Before the groups exist: only the configured group (which never committed).
    let t0 = Instant::now();
    let lag = bus.lag(&tweets).await.unwrap();
    let warm = t0.elapsed();
    let names: Vec<&str> = lag.iter().map(|g| g.group.as_str()).collect();
    assert_eq!(names, [configured.as_str()]);
    let threads_before = threads();

    // 10 groups on the tweet topic (each its own committed offsets), 490 on the other.
    let mut groups = Vec::new();
    let mut want: Vec<String> = vec![configured.clone()];
    for i in 0..TWEET_GROUPS {
        let g = format!("{tweets}_g{i:02}");
        let offsets = (0..TWEET_PARTITIONS)
            .filter(|p| i % 4 != 3 || *p != 1) // some groups never committed partition 1
            .map(|p| {
                (
                    tweets.clone(),
                    p,
                    (hws[&p] * i as i64 / 10 + p as i64).min(hws[&p]),
                )
            })
            .collect();
        groups.push((g.clone(), offsets));
        want.push(g);
    }
    for i in 0..OTHER_GROUPS {
        let offsets = (0..OTHER_PARTITIONS)
            .map(|p| (other.clone(), p, (i as i64 % 50) + p as i64))
            .collect();
        groups.push((format!("{other}_g{i:03}"), offsets));
    }
    let t0 = Instant::now();
    let kafka_for_commits = kafka.clone();
    tokio::task::spawn_blocking(move || commit_groups(&kafka_for_commits, groups))
        .await
        .unwrap();
    eprintln!(
        "created {} consumer groups in {:.1?}",
        TWEET_GROUPS + OTHER_GROUPS,
        t0.elapsed()
    );

    // One refresh with 500 groups on the cluster, none seen before.
    let t0 = Instant::now();
    let lag = bus.lag(&tweets).await.unwrap();
    let first = t0.elapsed();
    let threads_after = threads();
    // Once they are known: only the tweet topic's groups are asked (plus a few re-checks).
    let t0 = Instant::now();
    let again = bus.lag(&tweets).await.unwrap();
    let second = t0.elapsed();
    eprintln!(
        "lag refresh: {warm:.1?} before this test's groups existed, {first:.1?} with its {} \
         groups new on the cluster, {second:.1?} the next time (they are known); \
         threads {threads_before} -> {threads_after}",
        TWEET_GROUPS + OTHER_GROUPS
    );

    want.sort();
    let got: Vec<String> = lag.iter().map(|g| g.group.clone()).collect();
    assert_eq!(got, want, "exactly the tweet topic's groups and lag_groups");
    assert_eq!(
        again.iter().map(|g| &g.group).collect::<Vec<_>>(),
        want.iter().collect::<Vec<_>>()
    );
    assert!(lag.iter().all(|g| g.topic == tweets));
    assert!(
        threads_after <= threads_before + 2,
        "threads grew from {threads_before} to {threads_after} for 500 groups"
    );

    // The numbers, against a separate client's.
    let check = lag.clone();
    let kafka_for_check = kafka.clone();
    let topic = tweets.clone();
    tokio::task::spawn_blocking(move || {
        for g in &check {
            let expect = independent_lag(&kafka_for_check, &topic, &g.group);
            assert_partitions(g, &expect);
        }
    })
    .await
    .unwrap();
    let configured_lag = lag.iter().find(|g| g.group == configured).unwrap();
    assert_eq!(
        configured_lag.total(),
        600,
        "a group that never committed has it all to read"
    );
    let g0 = lag.iter().find(|g| g.group.ends_with("_g00")).unwrap();
    assert_eq!(
        g0.partitions
            .iter()
            .map(|p| p.committed)
            .collect::<Vec<_>>(),
        [Some(0), Some(1), Some(2)]
    );

    // A group with a member on the topic and nothing committed yet is shown too (found from
    // its member's assignment), with who reads each partition.
    let live = format!("{tweets}_live");
    let mut consumer = bus.consumer(&live, &tweets).await.unwrap();
    let t0 = Instant::now();
    while consumer.assignment().is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no assignment for {live}"
        );
        consumer.poll(10, Duration::from_millis(200)).await.unwrap();
    }
    let lag = bus.lag(&tweets).await.unwrap();
    let g = lag
        .iter()
        .find(|g| g.group == live)
        .expect("the live group is listed");
    assert!(
        g.partitions
            .iter()
            .all(|p| p.member.is_some() && p.committed.is_none()),
        "{g:?}"
    );
    assert_eq!(lag.len(), want.len() + 1);
}

fn assert_partitions(g: &GroupLag, expect: &BTreeMap<i32, (i64, Option<i64>)>) {
    assert_eq!(g.partitions.len(), expect.len(), "{g:?}");
    let mut total = 0;
    for p in &g.partitions {
        let (high, committed) = expect[&p.partition];
        assert_eq!(
            (p.high_watermark, p.committed),
            (high, committed),
            "{} partition {}",
            g.group,
            p.partition
        );
        let lag = high - committed.unwrap_or(0);
        assert_eq!(p.lag(), lag, "{} partition {}", g.group, p.partition);
        total += lag;
    }
    assert_eq!(g.total(), total, "{}", g.group);
}

/// No broker on the address: the refresh fails within seconds, the bus's health says why,
/// and the Lag pane (fed by the real collector) says `broker DOWN` at 80x24 and 60x15.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_cluster_shows_broker_down() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = kafka_env(
        &format!("127.0.0.1:{port}"),
        &unique("lag_down"),
        dir.path(),
    );
    let s = settings(&env);
    let sup = ssp_tui::pipeline::build_supervisor(&s).unwrap();
    let bus = sup.pipeline().bus.clone();

    let t0 = Instant::now();
    let err = bus.lag(&s.kafka.topic).await.unwrap_err();
    eprintln!(
        "refresh against no broker failed in {:.1?}: {err}",
        t0.elapsed()
    );
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    let health = bus.broker_health().unwrap();
    assert!(!health.up, "{health:?}");
    assert!(health.last_error.is_some(), "{health:?}");

    let mut collectors = ssp_tui::tui::collect::Collectors::spawn(sup.pipeline());
    let snapshot = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            collectors.lag.changed().await.unwrap();
            let s = collectors.lag.borrow_and_update().clone();
            if s.error.is_some() {
                return s;
            }
        }
    })
    .await
    .expect("the collector publishes the failed refresh");
    let mut app = ssp_tui::tui::app::App::new(sup);
    app.lag.update(snapshot);
    app.focus = ssp_tui::tui::action::PaneId::Lag;
    app.zoom = true;
    for (w, h) in [(80, 24), (60, 15)] {
        let screen = render(&mut app, w, h);
        assert!(screen.contains("broker DOWN"), "{w}x{h}:\n{screen}");
        assert!(screen.contains("last error"), "{w}x{h}:\n{screen}");
        assert!(!screen.contains("no consumer group"), "{w}x{h}:\n{screen}");
    }
}

fn render(app: &mut ssp_tui::tui::app::App, w: u16, h: u16) -> String {
    let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(w, h)).unwrap();
    t.draw(|f| ssp_tui::tui::ui::draw(f, app)).unwrap();
    let buf = t.backend().buffer().clone();
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}
