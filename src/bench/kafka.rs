//! `ssp-tui bench kafka`: throughput through a real broker, in one run, with references:
//! a bare rdkafka producer vs the source stage, a bare rdkafka consumer (receiving only, and
//! receiving and parsing) vs the bronze stage,
//! the embedded bus; and end-to-end latency (send -> bronze file visible), p50 / p99.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer as _, ThreadedProducer};
use rdkafka::Message as _;

use crate::bus::kafka::{client_config, KafkaBus};
use crate::bus::Bus;
use crate::config::{BusKind, Settings, SourceKind};
use crate::pipeline;
use crate::stage::StageState;
use crate::tweet::Tweet;

pub struct KafkaBench<'a> {
    pub input: &'a Path,
    pub count: usize,
    pub latency_rate: u64,
    pub latency_seconds: u64,
}

pub async fn run(settings: &Settings, b: KafkaBench<'_>) -> anyhow::Result<()> {
    let raw = std::fs::read(b.input).with_context(|| format!("reading {}", b.input.display()))?;
    let lines: Vec<&[u8]> = raw
        .split(|c| *c == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    anyhow::ensure!(!lines.is_empty(), "{} has no lines", b.input.display());
    let payloads: Vec<&[u8]> = lines.iter().cycle().take(b.count).copied().collect();
    let mb = payloads.iter().map(|p| p.len()).sum::<usize>() as f64 / 1e6;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("input.jsonl");
    std::fs::write(&file, payloads.join(&b'\n'))?;
    let stamp = chrono::Utc::now().format("%H%M%S").to_string();
    let mut s = settings.clone();
    s.pipeline.bus = BusKind::Kafka;
    s.source.kind = SourceKind::Replay;
    s.source.path = Some(file.clone());
    s.source.rate = 0;
    s.source.limit = 0;
    s.source.looping = false;
    s.commands.clear();
    s.kafka.group_prefix = format!("bench-{stamp}");
    println!(
        "broker {} · {} tweets, {mb:.1} MB ({:.1} KB/tweet)",
        s.kafka.bootstrap_servers,
        b.count,
        mb * 1e3 / b.count as f64
    );

    // Bare producer (same producer settings as the source stage).
    let bare_topic = format!("bench_bare_{stamp}");
    let bus = KafkaBus::new(s.kafka.clone())?;
    bus.ensure_topic(&bare_topic, s.pipeline.partitions).await?;
    let bare_rate = bare_produce(&s, &bare_topic, &payloads)?;
    println!(
        "bare rdkafka producer       : {:>9.0} tweets/s {:>7.1} MB/s",
        bare_rate,
        bare_rate * mb / b.count as f64
    );

    // The source stage: replay -> Kafka.
    s.kafka.topic = format!("bench_stage_{stamp}");
    s.lake.set_root(dir.path().join("lake-kafka"));
    let sup = pipeline::build_supervisor(&s)?;
    let t = Instant::now();
    sup.start("source")?;
    wait_done(&sup, "source").await?;
    let source_rate = b.count as f64 / t.elapsed().as_secs_f64();
    println!(
        "source stage -> kafka       : {:>9.0} tweets/s {:>7.1} MB/s  ({:.2}x bare producer)",
        source_rate,
        source_rate * mb / b.count as f64,
        source_rate / bare_rate
    );

    // Bare consumers on the same topic: one that only receives, one that also parses each
    // tweet (serde_json typed, `Tweet::parse`, on its polling thread), as the ingest bench's
    // baseline does.
    let bare_c = bare_consume(&s, &s.kafka.topic, b.count, false)?;
    println!(
        "bare rdkafka consumer       : {:>9.0} tweets/s {:>7.1} MB/s",
        bare_c,
        bare_c * mb / b.count as f64
    );
    let bare_parse = bare_consume(&s, &s.kafka.topic, b.count, true)?;
    println!(
        "bare consumer + typed parse : {:>9.0} tweets/s {:>7.1} MB/s",
        bare_parse,
        bare_parse * mb / b.count as f64
    );

    // The bronze stage drains the same topic (the source's delivered offsets are known).
    // Timed from its first message, like the bare consumer (the group join is not counted).
    sup.start("bronze")?;
    let first = loop {
        let input = sup
            .snapshot()
            .iter()
            .find(|x| x.name == "bronze")
            .map_or(0, |x| x.input);
        if input > 0 {
            break Instant::now();
        }
        anyhow::ensure!(
            sup.state("bronze") != Some(StageState::Failed),
            "bronze failed"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    wait_done(&sup, "bronze").await?;
    let bronze_rate = b.count as f64 / first.elapsed().as_secs_f64();
    println!(
        "bronze stage <- kafka       : {:>9.0} tweets/s {:>7.1} MB/s  ({:.2}x bare consumer, {:.2}x bare consumer + parse)",
        bronze_rate,
        bronze_rate * mb / b.count as f64,
        bronze_rate / bare_c,
        bronze_rate / bare_parse
    );

    // The embedded bus, same input, end to end.
    let mut e = s.clone();
    e.pipeline.bus = BusKind::Embedded;
    e.lake.set_root(dir.path().join("lake-embedded"));
    let sup_e = pipeline::build_supervisor(&e)?;
    let t = Instant::now();
    sup_e.start("bronze")?;
    wait_done(&sup_e, "bronze").await?;
    let embedded = b.count as f64 / t.elapsed().as_secs_f64();
    println!(
        "embedded bus, source->bronze: {embedded:>9.0} tweets/s {:>7.1} MB/s",
        embedded * mb / b.count as f64
    );

    latency(&s, dir.path(), &lines, &b).await
}

async fn wait_done(sup: &crate::stage::Supervisor, name: &str) -> anyhow::Result<()> {
    loop {
        match sup.state(name) {
            Some(StageState::Completed) => return Ok(()),
            Some(StageState::Failed) => anyhow::bail!("{name} failed: {:?}", sup.snapshot()),
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

fn bare_produce(s: &Settings, topic: &str, payloads: &[&[u8]]) -> anyhow::Result<f64> {
    let mut c = client_config(&s.kafka);
    c.set("enable.idempotence", "true")
        .set("acks", &s.kafka.acks)
        .set("compression.type", &s.kafka.compression)
        .set("linger.ms", s.kafka.linger_ms.to_string())
        .set(
            "queue.buffering.max.messages",
            s.kafka.buffer_messages.to_string(),
        )
        .set("queue.buffering.max.kbytes", "65536");
    let p: ThreadedProducer<DefaultProducerContext> = c.create()?;
    let t = Instant::now();
    for (i, payload) in payloads.iter().enumerate() {
        let key = i.to_string();
        let mut record = BaseRecord::to(topic).key(&key).payload(*payload);
        loop {
            match p.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }
    p.flush(Duration::from_secs(300))?;
    Ok(payloads.len() as f64 / t.elapsed().as_secs_f64())
}

fn bare_consume(s: &Settings, topic: &str, n: usize, parse: bool) -> anyhow::Result<f64> {
    let c: BaseConsumer = client_config(&s.kafka)
        .set(
            "group.id",
            format!("bench-bare-{}-{parse}", std::process::id()),
        )
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        // As the stages' consumer: no 1 s pause whenever the local queue fills.
        .set("fetch.queue.backoff.ms", "10")
        .create()?;
    c.subscribe(&[topic])?;
    let (mut got, mut parsed) = (0usize, 0usize);
    let mut t: Option<Instant> = None;
    let deadline = Instant::now() + Duration::from_secs(600);
    while got < n && Instant::now() < deadline {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
            t.get_or_insert_with(Instant::now);
            got += 1;
            if parse {
                parsed += Tweet::parse(m.payload().unwrap_or_default()).is_ok() as usize;
            }
        }
    }
    anyhow::ensure!(got == n, "bare consumer read {got} of {n}");
    if parse {
        tracing::debug!(parsed, of = n, "bare consumer + parse");
    }
    Ok(n as f64 / t.map_or(1.0, |t| t.elapsed().as_secs_f64()))
}

/// Sends at a fixed rate with the send time in each tweet's id, runs bronze alongside, and
/// measures when each tweet became visible in a complete bronze file (the file's mtime).
async fn latency(
    s: &Settings,
    dir: &Path,
    lines: &[&[u8]],
    b: &KafkaBench<'_>,
) -> anyhow::Result<()> {
    let mut s = s.clone();
    s.kafka.topic = format!("bench_latency_{}", chrono::Utc::now().format("%H%M%S"));
    s.lake.set_root(dir.join("lake-latency"));
    let sup = pipeline::build_supervisor(&s)?;
    sup.start("bronze")?;
    let bus = sup.pipeline().bus.clone();
    bus.ensure_topic(&s.kafka.topic, s.pipeline.partitions)
        .await?;
    let mut producer = bus.producer(&s.kafka.topic).await?;
    tokio::time::sleep(Duration::from_secs(3)).await; // the group joins
    let n = (b.latency_rate * b.latency_seconds) as usize;
    let mut pacer = crate::source::Pacer::new(b.latency_rate);
    for i in 0..n {
        if let Some(w) = pacer.wait() {
            tokio::time::sleep(w).await;
        }
        let mut tweet: serde_json::Value = serde_json::from_slice(lines[i % lines.len()])?;
        let sent_us = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)?
            .as_micros();
        let id = format!("{sent_us}{i:06}");
        tweet["id_str"] = serde_json::Value::String(id.clone());
        producer
            .send(Some(id.as_bytes()), serde_json::to_vec(&tweet)?.into())
            .await?;
        pacer.sent();
    }
    producer.flush().await?;
    // Visible = the time of the Delta commit that holds the tweet (its commitInfo).
    let mut consumer = crate::lake::LakeConsumer::new(
        s.lake.tables.clone(),
        crate::lake::bronze::TABLE,
        None,
        crate::lake::StartAt::FirstCommit,
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut latencies = Vec::new();
    while Instant::now() < deadline && latencies.len() < n {
        let commits = consumer.poll(64).await?;
        for commit in &commits {
            let visible = Duration::from_millis(
                commit.timestamp_ms.context("commit without a timestamp")? as u64,
            );
            for f in &commit.files {
                let bytes = consumer.read(f).await?;
                for batch in crate::lake::read_batches(bytes, &f.path)? {
                    let ids = batch
                        .column_by_name("id_str")
                        .and_then(|c| c.as_any().downcast_ref::<arrow::array::StringArray>())
                        .context("id_str column")?;
                    for id in ids.iter().flatten() {
                        let sent_us: u128 = id[..id.len().saturating_sub(6)].parse()?;
                        latencies.push(visible.as_micros().saturating_sub(sent_us) as f64 / 1e3);
                    }
                }
            }
            consumer.ack(commit.version);
        }
        if commits.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    sup.shutdown(Duration::from_secs(30)).await;
    anyhow::ensure!(
        latencies.len() >= n,
        "only {} of {n} tweets became visible",
        latencies.len()
    );
    latencies.sort_by(f64::total_cmp);
    let pct = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    println!(
        "latency send -> bronze commit visible ({} tweets at {}/s, roll every {:.1}s): p50 {:.0} ms, p99 {:.0} ms",
        n,
        b.latency_rate,
        s.lake.roll_seconds.as_secs_f64(),
        pct(0.5),
        pct(0.99)
    );
    Ok(())
}
