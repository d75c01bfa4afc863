//! `ssp-tui bench trending`: the trending aggregation over a big bronze lake (tweets/s, both
//! rules, all cores and one), and the end-to-end latency from a tweet entering the bus to its
//! count being visible in the store (p50 / p99), with bus input and with lake input.
//!
//! The aggregation counts the data files of the `bronze` Delta table, read through its log
//! into memory first (the figure is the counting, not the disk). `scripts/bench-trending.sh`
//! runs this and DuckDB over the same table.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::config::{Settings, SourceKind, TrendingInput};
use crate::lake::{bronze, LakeConsumer, LakeLocation, StartAt};
use crate::stage::StageState;
use crate::store;
use crate::trending::{count_files, FileBytes, HashtagRule, WindowSpec};

pub struct TrendingBench<'a> {
    /// JSONL tweets, repeated `repeat` times into the lake (when the lake has none yet).
    pub input: &'a Path,
    pub repeat: usize,
    /// Where the bronze lake is built (kept, and reused next time); a temp folder if None.
    pub lake: Option<PathBuf>,
    /// Timed runs per figure (the best is reported, and the median).
    pub runs: usize,
    /// Probe tweets per latency run.
    pub probes: usize,
    /// Background tweets per second during the latency runs.
    pub rate: u64,
    /// Bronze roll interval for the lake-input latency run.
    pub roll_seconds: f64,
    pub skip_latency: bool,
}

pub async fn run(settings: &Settings, b: TrendingBench<'_>) -> anyhow::Result<()> {
    let temp = tempfile::tempdir().context("temp folder")?;
    let root = b.lake.clone().unwrap_or_else(|| temp.path().join("lake"));
    let bronze = root.join("bronze");
    let files = build_lake(settings, &b, &root, temp.path()).await?;
    let bytes: usize = files.iter().map(|f| f.bytes.len()).sum();
    println!(
        "bronze table: {} ({} files, {:.1} MB, read into memory)",
        bronze.display(),
        files.len(),
        bytes as f64 / 1e6
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let spec = WindowSpec::new(settings.trending.window);
    for rule in [HashtagRule::Twitter, HashtagRule::Seed] {
        for threads in [cores, 1] {
            let mut times = Vec::new();
            let mut last = None;
            for _ in 0..b.runs.max(1) {
                let like = spec.counter(rule, chrono::Utc::now().timestamp_millis());
                let fs = files.clone();
                let t = Instant::now();
                let (c, per) =
                    tokio::task::spawn_blocking(move || count_files(&fs, &like, threads)).await??;
                times.push(t.elapsed().as_secs_f64());
                last = Some((c, per));
            }
            let Some((c, per)) = last else { continue };
            let rows: u64 = per.iter().map(|p| p.rows).sum();
            times.sort_by(f64::total_cmp);
            let best = times[0];
            let median = times[times.len() / 2];
            println!(
                "aggregation, {:<7} rule, {threads} thread(s): {:>10.0} tweets/s best ({:.3} s), {:>10.0} median; {} tweets, {} occurrences, {} distinct tags",
                rule.name(),
                rows as f64 / best,
                best,
                rows as f64 / median,
                rows,
                c.occurrences,
                c.len()
            );
            if threads == cores {
                let mut top: Vec<(String, u64)> = c
                    .iter()
                    .filter(|(k, _)| *k != crate::trending::NO_TAGS)
                    .map(|(k, e)| {
                        let shown = crate::trending::display_form(
                            e.spellings.iter().map(|(s, n)| (&**s, *n)),
                        )
                        .unwrap_or(k);
                        (rule.stored(shown), e.count)
                    })
                    .collect();
                top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                let shown: Vec<String> = top
                    .iter()
                    .take(5)
                    .map(|(k, n)| format!("{k} {n}"))
                    .collect();
                println!("  top 5: {}", shown.join(", "));
            }
        }
    }
    if !b.skip_latency {
        for input in [TrendingInput::Bus, TrendingInput::Lake] {
            latency(settings, &b, input, temp.path()).await?;
        }
    }
    Ok(())
}

/// Every data file of the bronze table under `root`, read through the table's log.
async fn bronze_files(root: &Path) -> anyhow::Result<Vec<FileBytes>> {
    let location = LakeLocation::local(root);
    let mut consumer = LakeConsumer::new(location, bronze::TABLE, None, StartAt::Beginning);
    let mut out = Vec::new();
    loop {
        let commits = consumer.poll(256).await?;
        let Some(last) = commits.last().map(|c| c.version) else {
            return Ok(out);
        };
        for file in commits.iter().flat_map(|c| &c.files) {
            let bytes = consumer.read(file).await?;
            out.push(FileBytes {
                path: file.path.clone(),
                bytes,
            });
        }
        consumer.ack(last);
    }
}

/// The bronze data files of `root`, building the table first (replay -> embedded bus ->
/// bronze) when it has none.
async fn build_lake(
    settings: &Settings,
    b: &TrendingBench<'_>,
    root: &Path,
    temp: &Path,
) -> anyhow::Result<Vec<FileBytes>> {
    let existing = bronze_files(root).await?;
    if !existing.is_empty() {
        println!("reusing the bronze table in {}", root.display());
        return Ok(existing);
    }
    let raw = std::fs::read(b.input).with_context(|| format!("reading {}", b.input.display()))?;
    let lines = raw.split(|c| *c == b'\n').filter(|l| !l.is_empty()).count();
    let jsonl = temp.join("replay.jsonl");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&jsonl)?);
        for _ in 0..b.repeat {
            f.write_all(&raw)?;
            if !raw.ends_with(b"\n") {
                f.write_all(b"\n")?;
            }
        }
        f.flush()?;
    }
    println!(
        "building the bronze lake: {} ({lines} tweets x {} = {} tweets) through replay -> bus -> bronze",
        b.input.display(),
        b.repeat,
        lines * b.repeat
    );
    let mut s = settings.clone();
    s.source.kind = SourceKind::Replay;
    s.source.path = Some(jsonl.clone());
    s.source.rate = 0;
    s.source.looping = false;
    s.source.limit = 0;
    s.lake.set_root(root.to_path_buf());
    s.commands.clear();
    let sup = crate::pipeline::build_supervisor(&s)?;
    let t = Instant::now();
    sup.start("bronze")?;
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        match sup.state("bronze") {
            Some(StageState::Completed) => break,
            Some(StageState::Failed) => anyhow::bail!("bronze failed while building the lake"),
            _ => {}
        }
    }
    println!("  built in {:.1} s", t.elapsed().as_secs_f64());
    let _ = std::fs::remove_file(&jsonl);
    bronze_files(root).await
}

fn probe_json(id: u64, tag: &str) -> Vec<u8> {
    serde_json::json!({
        "created_at": chrono::Utc::now().format("%a %b %d %H:%M:%S +0000 %Y").to_string(),
        "id": id,
        "id_str": id.to_string(),
        "text": format!("latency probe #{tag}"),
        "user": {"id": 1, "id_str": "1", "screen_name": "bench"},
        "entities": {"hashtags": [{"text": tag, "indices": [14, 15 + tag.len()]}], "user_mentions": [], "urls": []},
        "lang": "en",
    })
    .to_string()
    .into_bytes()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Probe tweets (unique hashtags) are put on the tweet topic next to a synthetic source at
/// `rate`; each probe's latency is the time until its tag can be read from the store.
async fn latency(
    settings: &Settings,
    b: &TrendingBench<'_>,
    input: TrendingInput,
    temp: &Path,
) -> anyhow::Result<()> {
    let mut s = settings.clone();
    s.source.kind = SourceKind::Synthetic;
    s.source.rate = b.rate;
    s.source.limit = 0;
    s.lake
        .set_root(temp.join(format!("latency-{}", input.name())));
    s.lake.roll_seconds = Duration::from_secs_f64(b.roll_seconds);
    s.trending.input = input;
    s.trending.start = crate::config::TrendingStart::Now;
    s.trending.table = format!("bench_{:08x}", rand::random::<u32>());
    s.commands.clear();
    let st = store::open(&s).map_err(|e| anyhow::anyhow!("{e}"))?;
    let sup = crate::pipeline::build_supervisor(&s)?;
    sup.start("trending")?;
    // Wait for the first batch (the stage is up and the store answers).
    let t = Instant::now();
    while !sup
        .snapshot()
        .iter()
        .any(|x| x.name == "trending" && x.detail.starts_with("batch"))
    {
        if t.elapsed() > Duration::from_secs(60) {
            anyhow::bail!("the trending stage did not start: {:?}", sup.snapshot());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut producer = sup.pipeline().bus.producer(sup.pipeline().topic()).await?;
    let run = format!("{:06x}", rand::random::<u32>() & 0xff_ffff);
    let mut sent: HashMap<String, Instant> = HashMap::new();
    let mut lat = Vec::new();
    let gap = Duration::from_millis(1000 / 20); // 20 probes a second
    let mut next_probe = Instant::now();
    let mut n = 0usize;
    let deadline_after = Duration::from_secs(30);
    let mut last_sent = Instant::now();
    while lat.len() < b.probes {
        if n < b.probes && Instant::now() >= next_probe {
            let tag = format!("probe_{run}_{n}");
            producer
                .send(
                    Some(tag.as_bytes()),
                    probe_json(9_000_000_000 + n as u64, &tag).into(),
                )
                .await?;
            producer.flush().await?;
            sent.insert(format!("#{tag}"), Instant::now());
            last_sent = Instant::now();
            n += 1;
            // Jitter the phase against the flush ticks.
            next_probe = Instant::now() + gap + Duration::from_millis(rand::random::<u64>() % 17);
        }
        if !sent.is_empty() {
            let keys: Vec<String> = sent.keys().cloned().collect();
            if let Ok(rows) = st.trending().get(&keys).await {
                let now = Instant::now();
                for r in rows {
                    if let Some(at) = sent.remove(&r.key) {
                        lat.push(now.duration_since(at).as_secs_f64() * 1000.0);
                    }
                }
            }
        }
        if n >= b.probes && last_sent.elapsed() > deadline_after {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let status = sup.snapshot().into_iter().find(|x| x.name == "trending");
    sup.shutdown(Duration::from_secs(10)).await;
    if let Err(e) = drop_bench_tables(&s).await {
        println!(
            "  (could not drop the bench tables {}_*: {e})",
            s.trending.table
        );
    }
    lat.sort_by(f64::total_cmp);
    let how = match input {
        TrendingInput::Bus => format!(
            "bus input, flush every {:.2} s",
            s.trending.flush.as_secs_f64()
        ),
        TrendingInput::Lake => format!("lake input, bronze roll every {:.2} s", b.roll_seconds),
    };
    println!(
        "latency ({how}, store {}, {} tweets/s background): p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} of {} probes seen)",
        st.describe(),
        b.rate,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN),
        lat.len(),
        b.probes
    );
    if let Some(x) = status {
        if x.errors > 0 {
            println!("  (trending reported errors: {:?})", x.last_error);
        }
    }
    Ok(())
}

/// Removes the latency run's tables from PostgreSQL (the embedded ones are in a temp folder).
async fn drop_bench_tables(s: &Settings) -> anyhow::Result<()> {
    if s.pipeline.store != crate::config::StoreKind::Postgres {
        return Ok(());
    }
    let table = store::Ident::new("trending.table", &s.trending.table)?;
    let t = store::postgres::TrendingTables::new(&s.postgresql.schema, &table)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let config = store::pg::pg_config(&s.postgresql).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (client, conn) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    client
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS {}, {}, {}, {}, {}, {}",
            t.hashtags, t.spellings, t.buckets, t.legacy_files, t.offsets, t.state
        ))
        .await?;
    Ok(())
}
