//! The pipeline against a real Kafka-protocol broker (tansu in scripts/test.sh, or any Kafka
//! cluster named by SSP_TEST_KAFKA_BOOTSTRAP). Each test uses its own topic.

use crate::kafka_common;

use std::time::Duration;

use kafka_common::*;
use ssp_tui::bus::kafka::KafkaBus;
use ssp_tui::bus::{Bus, Offsets};
use ssp_tui::config::Settings;
use ssp_tui::stage::StageState;

fn settings(env: &[(String, String)]) -> Settings {
    Settings::load_with_env(Some(&repo_config()), env).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_through_kafka_into_bronze_exactly_once() {
    let Some(bootstrap) = bootstrap() else { return };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("tweets.jsonl");
    let ids = write_tweets(&input, 3000, 7);
    let mut env = kafka_env(&bootstrap, &unique("replay"), dir.path());
    env.push(("SSP__SOURCE__KIND".into(), "replay".into()));
    env.push(("SSP__SOURCE__PATH".into(), input.display().to_string()));
    env.push(("SSP__SOURCE__RATE".into(), "0".into()));
    env.push(("SSP__LAKE__ROLL_ROWS".into(), "700".into()));
    let sup = ssp_tui::pipeline::build_supervisor(&settings(&env)).unwrap();
    sup.start("source").unwrap();
    sup.start("bronze").unwrap();
    let t0 = std::time::Instant::now();
    while sup.state("bronze") != Some(StageState::Completed) {
        assert!(
            t0.elapsed() < Duration::from_secs(90),
            "bronze did not drain: {:?}",
            sup.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sup.state("source"), Some(StageState::Completed));
    assert_exactly_once(dir.path(), &ids);
    let sizes: Vec<u64> = bronze_commits(dir.path())
        .into_iter()
        .map(|(rows, _)| rows)
        .filter(|r| *r > 0)
        .collect();
    assert_eq!(
        sizes,
        [700, 700, 700, 700, 200],
        "3000 rows committed every 700 rows"
    );
}

#[test]
fn sigkilled_bronze_writer_resumes_without_loss_or_duplicates() {
    let Some(bootstrap) = bootstrap() else { return };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("tweets.jsonl");
    let ids = write_tweets(&input, 6000, 11);
    let mut env = kafka_env(&bootstrap, &unique("kill"), dir.path());
    env.push(("SSP__SOURCE__KIND".into(), "replay".into()));
    env.push(("SSP__SOURCE__PATH".into(), input.display().to_string()));
    env.push(("SSP__SOURCE__RATE".into(), "0".into()));
    // Small, frequent files so kills land between, inside and right after files.
    env.push(("SSP__LAKE__ROLL_ROWS".into(), "250".into()));
    env.push(("SSP__LAKE__ROLL_SECONDS".into(), "0.3".into()));
    // The restarted writer keeps its identity (static membership), so the broker hands it the
    // killed member's partitions at once instead of after that member's session expires.
    env.push((
        "SSP__KAFKA__PROPERTIES__GROUP.INSTANCE.ID".into(),
        "bronze-writer-1".into(),
    ));
    let mut source = spawn(
        &["run", "source", "--every", "1"],
        &env,
        dir.path(),
        "source.log",
    );
    assert!(wait_exit(&mut source, Duration::from_secs(120)).success());

    for (round, ms) in [700u64, 1100, 900, 1500].iter().enumerate() {
        let mut bronze = spawn(
            &["run", "bronze", "--every", "1"],
            &env,
            dir.path(),
            &format!("bronze{round}.log"),
        );
        std::thread::sleep(Duration::from_millis(*ms));
        bronze.kill().unwrap(); // SIGKILL
        bronze.wait().unwrap();
        // Only committed rows are visible, and every committed file reads back whole.
        let rows = bronze_ids(dir.path());
        let mut distinct = rows.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            rows.len(),
            "round {round}: a tweet was written twice"
        );
    }
    let mut last = spawn(
        &["run", "bronze", "--every", "1"],
        &env,
        dir.path(),
        "bronze-final.log",
    );
    wait_started(dir.path(), "bronze-final.log", Duration::from_secs(60));
    let rows = wait_rows(dir.path(), ids.len(), Duration::from_secs(120));
    sigterm(&last);
    assert!(wait_exit(&mut last, Duration::from_secs(60)).success());
    assert!(
        rows >= ids.len(),
        "only {rows} of {} rows arrived",
        ids.len()
    );
    assert_exactly_once(dir.path(), &ids);
}

#[test]
fn two_writers_in_one_group_split_partitions_and_write_each_tweet_once() {
    let Some(bootstrap) = bootstrap() else { return };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("tweets.jsonl");
    let ids = write_tweets(&input, 4000, 13);
    let mut env = kafka_env(&bootstrap, &unique("pair"), dir.path());
    env.push(("SSP__PIPELINE__PARTITIONS".into(), "4".into()));
    env.push(("SSP__SOURCE__KIND".into(), "replay".into()));
    env.push(("SSP__SOURCE__PATH".into(), input.display().to_string()));
    env.push(("SSP__SOURCE__RATE".into(), "0".into()));
    env.push(("SSP__LAKE__ROLL_ROWS".into(), "300".into()));
    env.push(("SSP__LAKE__ROLL_SECONDS".into(), "0.5".into()));
    // Both members join first, then the tweets arrive, so the group splits the partitions.
    let mut a = spawn(
        &["run", "bronze", "--every", "1"],
        &env,
        dir.path(),
        "a.log",
    );
    let mut b = spawn(
        &["run", "bronze", "--every", "1"],
        &env,
        dir.path(),
        "b.log",
    );
    std::thread::sleep(Duration::from_secs(8));
    let mut source = spawn(
        &["run", "source", "--every", "1"],
        &env,
        dir.path(),
        "source.log",
    );
    assert!(wait_exit(&mut source, Duration::from_secs(120)).success());
    let rows = wait_rows(dir.path(), ids.len(), Duration::from_secs(150));
    sigterm(&a);
    sigterm(&b);
    assert!(wait_exit(&mut a, Duration::from_secs(60)).success());
    assert!(wait_exit(&mut b, Duration::from_secs(60)).success());
    assert!(
        rows >= ids.len(),
        "only {rows} of {} rows arrived",
        ids.len()
    );
    assert_exactly_once(dir.path(), &ids);
    // Both processes committed rows (each writer has its own query id).
    let writers: std::collections::BTreeSet<String> = bronze_commits(dir.path())
        .into_iter()
        .filter(|(rows, _)| *rows > 0)
        .filter_map(|(_, query)| query)
        .collect();
    assert_eq!(
        writers.len(),
        2,
        "both writers took partitions: {writers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_reflects_a_real_group_and_renders_in_the_lag_pane() {
    let Some(bootstrap) = bootstrap() else { return };
    let dir = tempfile::tempdir().unwrap();
    let topic = unique("lag");
    let mut env = kafka_env(&bootstrap, &topic, dir.path());
    // One message per batch, so the broker's high watermark is exact (see README).
    env.push(("SSP__KAFKA__LINGER_MS".into(), "0".into()));
    env.push((
        "SSP__KAFKA__PROPERTIES__BATCH.NUM.MESSAGES".into(),
        "1".into(),
    ));
    let s = settings(&env);
    let bus = KafkaBus::new(s.kafka.clone()).unwrap();
    bus.ensure_topic(&topic, 1).await.unwrap();
    let mut p = bus.producer(&topic).await.unwrap();
    for i in 0..40u32 {
        p.send(
            Some(format!("k{i}").as_bytes()),
            bytes::Bytes::from_static(b"{}"),
        )
        .await
        .unwrap();
        p.flush().await.unwrap();
    }
    let delivered = p.flush().await.unwrap();
    assert_eq!(delivered, Offsets::from([(0, 40)]));
    let group = unique("g");
    let mut c = bus.consumer(&group, &topic).await.unwrap();
    let mut got = 0;
    let t0 = std::time::Instant::now();
    while got < 15 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no messages consumed"
        );
        got += c
            .poll(15 - got, Duration::from_secs(1))
            .await
            .unwrap()
            .len();
    }
    c.commit(&Offsets::from([(0, 15)])).await.unwrap();
    let lag = bus.lag(&topic).await.unwrap();
    let g = lag
        .iter()
        .find(|g| g.group == group)
        .expect("our group is listed");
    assert_eq!(g.partitions[0].committed, Some(15));
    assert_eq!(g.partitions[0].high_watermark, 40);
    assert_eq!(g.total(), 25);

    // The Lag pane shows the group and its lag.
    let sup = ssp_tui::pipeline::build_supervisor(&s).unwrap();
    let mut app = ssp_tui::tui::app::App::new(sup);
    app.lag.update(ssp_tui::tui::lag::LagSnapshot {
        groups: lag.clone(),
        broker: bus.broker_health(),
        error: None,
        bus: bus.describe(),
    });
    app.focus = ssp_tui::tui::action::PaneId::Lag;
    app.zoom = true;
    let screen = render(&mut app);
    assert!(screen.contains("Lag"), "{screen}");
    assert!(screen.contains(&group), "{screen}");
    assert!(screen.contains(" 25 "), "{screen}");
    assert!(screen.contains("broker up"), "{screen}");
    app.update(ssp_tui::tui::action::Action::ToggleDetail);
    let screen = render(&mut app);
    assert!(
        screen.contains("committed") && screen.contains("15") && screen.contains("40"),
        "{screen}"
    );
}

fn render(app: &mut ssp_tui::tui::app::App) -> String {
    let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 30)).unwrap();
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
