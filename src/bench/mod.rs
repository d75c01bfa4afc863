//! `ssp-tui bench ingest`: the same JSONL input measured two ways, in one run:
//! (a) serde_json parse-only of every line (generic `Value`, and our typed `Tweet::parse`),
//! (b) replay -> embedded bus -> bronze Parquet, end to end, with peak memory.

pub mod kafka;
pub mod lake;
pub mod trending;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::config::{Settings, SourceKind};
use crate::pipeline;
use crate::stage::StageState;
use crate::tweet::Tweet;

pub async fn ingest(
    settings: &Settings,
    input: &Path,
    repeat: usize,
    parse_only: bool,
) -> anyhow::Result<()> {
    let raw = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    let lines: Vec<&[u8]> = raw
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let n = lines.len() * repeat;
    let mb = raw.len() as f64 * repeat as f64 / 1e6;
    println!(
        "input: {} ({} lines x {repeat} = {n} tweets, {mb:.1} MB)",
        input.display(),
        lines.len()
    );

    let t = Instant::now();
    let mut ok = 0usize;
    for _ in 0..repeat {
        for l in &lines {
            ok += serde_json::from_slice::<serde_json::Value>(l).is_ok() as usize;
        }
    }
    let value_rate = n as f64 / t.elapsed().as_secs_f64();
    println!("(a) parse-only, serde_json::Value : {value_rate:>10.0} tweets/s ({ok} ok)");

    let t = Instant::now();
    let mut ok = 0usize;
    for _ in 0..repeat {
        for l in &lines {
            ok += Tweet::parse(l).is_ok() as usize;
        }
    }
    let typed_rate = n as f64 / t.elapsed().as_secs_f64();
    println!("(a') parse-only, Tweet::parse      : {typed_rate:>10.0} tweets/s ({ok} ok)");
    if parse_only {
        return Ok(());
    }

    let dir = tempfile::tempdir().context("temp folder")?;
    let file = dir.path().join("input.jsonl");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&file)?);
        for _ in 0..repeat {
            f.write_all(&raw)?;
            if !raw.ends_with(b"\n") {
                f.write_all(b"\n")?;
            }
        }
    }
    let mut s = settings.clone();
    s.source.kind = SourceKind::Replay;
    s.source.path = Some(file);
    s.source.rate = 0;
    s.source.looping = false;
    s.source.limit = 0;
    s.lake.set_root(dir.path().join("lake"));
    s.commands.clear();
    let rss_before = peak_rss_kb();
    let sup = pipeline::build_supervisor(&s)?;
    let t = Instant::now();
    sup.start("bronze")?;
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if sup.state("bronze") != Some(StageState::Running)
            && sup.state("source") != Some(StageState::Running)
        {
            break;
        }
    }
    let took = t.elapsed().as_secs_f64();
    let snap = sup.snapshot();
    let bronze = snap
        .iter()
        .find(|x| x.name == "bronze")
        .context("bronze status")?;
    if bronze.state != StageState::Completed {
        anyhow::bail!("bronze ended {:?}: {:?}", bronze.state, bronze.last_error);
    }
    let e2e_rate = bronze.input as f64 / took;
    println!(
        "(b) replay -> embedded bus -> bronze : {e2e_rate:>10.0} tweets/s ({} rows, {} dead letters, {:.1} MB/s)",
        bronze.output,
        bronze.errors,
        mb / took
    );
    println!("ratio (b)/(a) Value parse : {:.2}x", e2e_rate / value_rate);
    println!("ratio (b)/(a') typed parse: {:.2}x", e2e_rate / typed_rate);
    if let (Some(before), Some(after)) = (rss_before, peak_rss_kb()) {
        println!(
            "peak RSS: {:.0} MB (before pipeline {:.0} MB; input file held in memory for (a): {:.0} MB)",
            after as f64 / 1024.0,
            before as f64 / 1024.0,
            raw.len() as f64 / 1e6
        );
    }
    Ok(())
}

/// Peak resident memory of this process (Linux `VmHWM`), in KiB.
pub fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
