//! `ssp-tui bench lake`: the lake's costs against its history.
//!
//! 1. Delta commits per second the bronze stage sustains (and tweets/s committed) under a
//!    steady synthetic input on the embedded bus, for each roll interval asked for.
//! 2. On a small bronze table and on one with thousands of commits (built by a bare
//!    [`BronzeWriter`] loop, a few rows per commit): the writer's start (open + resume points
//!    of 3 partitions), one more commit, one [`LakeConsumer::poll`] for a new commit and one
//!    when up to date, and the time from a new commit being visible (its log entry written)
//!    to the trending stage (lake input, embedded store, its 200 ms poll) having counted it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::backoff::Backoff;
use crate::bus::embedded::{EmbeddedBus, Retention};
use crate::config::{Settings, SourceKind, TrendingInput, TrendingStart};
use crate::lake::{bronze, BronzeWriter, LakeConsumer, LakeLayout, LakeLocation, RecordMeta};
use crate::lake::{RollPolicy, StartAt};
use crate::stage::trending::TrendingStage;
use crate::stage::{Pipeline, StageState, Supervisor};
use crate::store::{self, Store};
use crate::tweet::Tweet;

pub struct LakeBench {
    /// Synthetic tweets per second for the commit-rate runs.
    pub rate: u64,
    /// Measured seconds per commit-rate run.
    pub seconds: f64,
    /// Roll intervals (seconds) to measure the commit rate at.
    pub rolls: Vec<f64>,
    /// Bronze commits of the big table.
    pub commits: i64,
    /// Probes per figure on each table.
    pub probes: usize,
    /// Where the big table is built (kept, and grown or reused next time); a temp folder if None.
    pub lake: Option<PathBuf>,
}

/// Commits of the small table the big one is compared with.
const SMALL: i64 = 10;
/// Bus partitions the bare writer spreads its rows over (one `txn` each).
const PARTITIONS: i32 = 3;

pub async fn run(settings: &Settings, b: LakeBench) -> anyhow::Result<()> {
    let temp = tempfile::tempdir().context("temp folder")?;
    for roll in &b.rolls {
        commit_rate(settings, &b, *roll, temp.path()).await?;
    }
    let big = b.lake.clone().unwrap_or_else(|| temp.path().join("big"));
    for (name, root, commits) in [
        ("small", temp.path().join("small"), SMALL),
        ("big", big, b.commits),
    ] {
        history(settings, &b, &root, commits, &temp.path().join(name)).await?;
    }
    Ok(())
}

/// Runs source -> embedded bus -> bronze with a `roll` s roll; counts the table versions and
/// rows committed over about `b.seconds`.
async fn commit_rate(
    settings: &Settings,
    b: &LakeBench,
    roll: f64,
    temp: &Path,
) -> anyhow::Result<()> {
    let mut s = settings.clone();
    s.source.kind = SourceKind::Synthetic;
    s.source.rate = b.rate;
    s.source.limit = 0;
    s.lake.set_root(temp.join(format!("rate-{roll}")));
    s.lake.roll_seconds = Duration::from_secs_f64(roll);
    s.commands.clear();
    let sup = crate::pipeline::build_supervisor(&s)?;
    sup.start("bronze")?;
    let mut log = LakeConsumer::new(
        s.lake.tables.clone(),
        bronze::TABLE,
        None,
        StartAt::Beginning,
    );
    // From the moment version 2 appears (a warm-up commit first) to the moment the first commit
    // after `b.seconds` appears: whole roll intervals only.
    let (v0, t0) = next_commit(&mut log, 1, &sup).await?;
    tokio::time::sleep(Duration::from_secs_f64(b.seconds)).await;
    let now = log.latest_version().await?.unwrap_or(v0);
    let (v1, t1) = next_commit(&mut log, now, &sup).await?;
    let took = t1.duration_since(t0).as_secs_f64();
    let status = sup.snapshot().into_iter().find(|x| x.name == "bronze");
    sup.shutdown(Duration::from_secs(10)).await;
    if let Some(x) = status.filter(|x| x.state != StageState::Running) {
        anyhow::bail!("bronze {:?}: {:?}", x.state, x.last_error);
    }
    // The rows of exactly the commits made in the window, from their file statistics.
    let mut window = LakeConsumer::new(
        s.lake.tables.clone(),
        bronze::TABLE,
        Some(v0),
        StartAt::Beginning,
    );
    let mut rows = 0;
    loop {
        let commits = window.poll(256).await?;
        let Some(last) = commits.last().map(|c| c.version) else {
            break;
        };
        for c in commits.iter().take_while(|c| c.version <= v1) {
            rows += c.rows();
        }
        if last >= v1 {
            break;
        }
        window.ack(last);
    }
    let commits = v1 - v0;
    println!(
        "bronze stage, roll {roll:.2} s, synthetic {} tweets/s: {:.2} commits/s, {:.0} tweets/s committed ({commits} commits, {rows} rows in {took:.1} s, {:.0} rows/commit)",
        b.rate,
        commits as f64 / took,
        rows as f64 / took,
        rows as f64 / commits.max(1) as f64
    );
    Ok(())
}

/// The first table version after `after` (polled every 5 ms) and when it was seen.
async fn next_commit(
    log: &mut LakeConsumer,
    after: i64,
    sup: &Supervisor,
) -> anyhow::Result<(i64, Instant)> {
    let t = Instant::now();
    loop {
        match log.latest_version().await? {
            Some(v) if v > after => return Ok((v, Instant::now())),
            _ if t.elapsed() > Duration::from_secs(60) => {
                anyhow::bail!("no bronze commit in 60 s: {:?}", sup.snapshot())
            }
            _ => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

fn app_id(partition: i32) -> String {
    crate::stage::bronze::bus_app_id("ssp-bench", "tweets", "bench", partition)
}

/// Opens the bronze table and reads the resume point of every partition (as the bronze stage
/// does when it starts); returns the writer and each partition's next offset.
async fn open_writer(
    location: &LakeLocation,
    layout: &LakeLayout,
) -> anyhow::Result<(BronzeWriter, Vec<i64>)> {
    let policy = RollPolicy {
        max_rows: usize::MAX,
        max_bytes: u64::MAX,
        max_age: Duration::from_secs(3600),
    };
    let mut w = BronzeWriter::open(location, layout, policy, "bench-lake".into()).await?;
    let mut next = Vec::new();
    for p in 0..PARTITIONS {
        next.push(w.resume_point(&app_id(p)).await?.map_or(0, |v| v + 1));
    }
    Ok((w, next))
}

fn tweet(n: i64) -> Tweet {
    Tweet {
        id: (7_000_000_000_000 + n).to_string(),
        created_at: Some(chrono::Utc::now()),
        author: Some(format!("user{}", n % 97)),
        source: None,
        text: format!("lake bench tweet {n} #lakebench #tag{}", n % 50),
        urls: Vec::new(),
        media: Vec::new(),
        hashtags: vec!["lakebench".into(), format!("tag{}", n % 50)],
        mentions: Vec::new(),
        lang: Some("en".into()),
        is_retweet: false,
    }
}

/// Commits one row per partition; returns the new table version.
async fn commit_one(w: &mut BronzeWriter, next: &mut [i64]) -> anyhow::Result<i64> {
    let now = chrono::Utc::now();
    for (p, offset) in next.iter_mut().enumerate() {
        let meta = RecordMeta {
            topic: "tweets",
            partition: p as i32,
            offset: *offset,
            ingest_time: now,
            bus_time_ms: None,
        };
        let app = app_id(p as i32);
        w.append(
            &tweet(*offset * PARTITIONS as i64 + p as i64),
            &meta,
            &[(&app, *offset)],
        )
        .await?;
        *offset += 1;
    }
    w.roll().await?.version.context("nothing committed")
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// "p50 X ms, p99 Y ms" of `v` (sorted in place).
fn pcts(v: &mut [f64]) -> String {
    v.sort_by(f64::total_cmp);
    let at = |p: f64| {
        v.get(((v.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    format!("p50 {:.1} ms, p99 {:.1} ms", at(0.5), at(0.99))
}

/// Grows the bronze table at `root` to `commits` versions, then measures its start, poll and
/// trending latency costs (the trending stage's store and lease in `state`).
async fn history(
    settings: &Settings,
    b: &LakeBench,
    root: &Path,
    commits: i64,
    state: &Path,
) -> anyhow::Result<()> {
    let location = LakeLocation::local(root);
    let layout = LakeLayout::new(root);
    let (mut w, mut next) = open_writer(&location, &layout).await?;
    let from = w.version().unwrap_or(0);
    if from < commits {
        let t = Instant::now();
        while w.version().unwrap_or(0) < commits {
            commit_one(&mut w, &mut next).await?;
        }
        println!(
            "built {}: versions {from} -> {commits} in {:.1} s ({:.0} commits/s, bare writer, 3 rows each)",
            root.display(),
            t.elapsed().as_secs_f64(),
            (commits - from) as f64 / t.elapsed().as_secs_f64()
        );
    }
    drop(w);
    let version = commits.max(from);
    let last_checkpoint = std::fs::read_to_string(root.join("bronze/_delta_log/_last_checkpoint"))
        .ok()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|v| v["version"].as_i64());

    // (a) Writer start: open the table + the resume points of 3 partitions.
    let mut start = Vec::new();
    for _ in 0..b.probes.max(1) {
        let t = Instant::now();
        let opened = open_writer(&location, &layout).await?;
        start.push(ms(t));
        drop(opened);
    }
    let (mut w, mut next) = open_writer(&location, &layout).await?;

    // The trending stage on this table (start = now), its store and leases in a temp folder.
    let mut s = settings.clone();
    s.lake.root = state.to_path_buf();
    s.lake.tables = location.clone();
    s.pipeline.store = crate::config::StoreKind::Embedded;
    s.trending.input = TrendingInput::Lake;
    s.trending.start = TrendingStart::Now;
    s.commands.clear();
    let st = store::open(&s).map_err(|e| anyhow::anyhow!("{e}"))?;
    let sup = trending(&s);
    sup.start("trending")?;
    counted(&st, version, Duration::from_secs(120))
        .await
        .context("trending did not start")?;

    // (c) A consumer that is up to date: its first poll opens the table.
    let mut consumer = LakeConsumer::new(
        location.clone(),
        bronze::TABLE,
        Some(version),
        StartAt::Beginning,
    );
    let t = Instant::now();
    consumer.poll(64).await?;
    let first_poll = ms(t);
    let (mut poll_new, mut poll_idle) = (Vec::new(), Vec::new());
    let (mut commit, mut latency) = (Vec::new(), Vec::new());
    for _ in 0..b.probes.max(1) {
        // A random phase against the stage's 200 ms poll.
        tokio::time::sleep(Duration::from_millis(100 + rand::random::<u64>() % 200)).await;
        let t = Instant::now();
        consumer.poll(64).await?;
        poll_idle.push(ms(t));
        // The commit is visible once its log entry exists, before `roll` returns (the writer
        // then refreshes its snapshot, and every 100 commits writes a checkpoint).
        let entry = root.join(format!(
            "bronze/_delta_log/{:020}.json",
            w.version().unwrap_or(0) + 1
        ));
        let visible = tokio::spawn(async move {
            while !entry.exists() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Instant::now()
        });
        let t = Instant::now();
        let v = commit_one(&mut w, &mut next).await?;
        commit.push(ms(t));
        let visible = visible.await?;
        let t = Instant::now();
        let got = consumer.poll(64).await?;
        poll_new.push(ms(t));
        anyhow::ensure!(
            got.len() == 1 && got[0].version == v,
            "poll: {got:?}, expected version {v}"
        );
        consumer.ack(v);
        counted(&st, v, Duration::from_secs(30)).await?;
        latency.push(ms(visible));
    }
    let status = sup.snapshot().into_iter().find(|x| x.name == "trending");
    sup.shutdown(Duration::from_secs(10)).await;
    println!(
        "bronze table with {version} commits (last checkpoint {}):",
        last_checkpoint.map_or_else(|| "none".into(), |v| format!("version {v}"))
    );
    println!(
        "  (a) writer start, open + 3 resume points: {}",
        pcts(&mut start)
    );
    println!(
        "  one more commit (bare writer, 3 rows):     {}",
        pcts(&mut commit)
    );
    println!(
        "  (b) commit visible -> counted by trending: {} ({} probes)",
        pcts(&mut latency),
        latency.len()
    );
    println!(
        "  (c) LakeConsumer::poll, 1 new commit:      {}; up to date: {}; first poll (opens the table): {first_poll:.1} ms",
        pcts(&mut poll_new),
        pcts(&mut poll_idle)
    );
    if let Some(x) = status.filter(|x| x.errors > 0) {
        println!("  (trending reported errors: {:?})", x.last_error);
    }
    Ok(())
}

/// A supervisor running only the trending stage (the table is written by this bench).
fn trending(s: &Settings) -> Arc<Supervisor> {
    let bus = Arc::new(EmbeddedBus::new(Retention {
        messages: 1_000,
        bytes: 1 << 20,
    }));
    Arc::new(Supervisor::new(
        Pipeline::new(s.clone(), bus),
        vec![Arc::new(TrendingStage::new(s).standalone())],
        Backoff::default(),
    ))
}

/// Waits until the store's checkpoint reaches bronze version `v`.
async fn counted(st: &Arc<dyn Store>, v: i64, timeout: Duration) -> anyhow::Result<()> {
    let t = Instant::now();
    loop {
        let cp = st.trending().checkpoint("", i64::MAX).await?;
        if cp.lake_version.is_some_and(|x| x >= v) {
            return Ok(());
        }
        anyhow::ensure!(
            t.elapsed() < timeout,
            "bronze version {v} not counted after {timeout:?} (store at {:?})",
            cp.lake_version
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
