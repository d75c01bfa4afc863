//! A cluster on one machine (issue 12): `scripts/netns-cluster.sh` makes four network
//! namespaces joined by a bridge (a broker host running Apache Kafka, two writer hosts, a
//! control host) on addresses that exist only inside them. Bronze runs on both writer hosts,
//! trending on writer-2, the source (a replay at a finite rate) on writer-1, each a separate
//! `ssp-tui run` process; `ssp-tui attach` runs in tmux on the control host and must list the
//! four remote stages with their hosts. From its screen: `x` stops bronze on writer-2 (bronze
//! on writer-1 takes over its partitions), `s` starts it again; then the writer-1 bronze
//! process is killed with SIGKILL (its row turns `lost`) and started again. At the end every
//! tweet is in bronze exactly once.
//!
//! Needs root, `ip netns`, tmux and Java (the broker): skipped loudly without them, a failure
//! instead under `SSP_REQUIRE_SERVICES=1` (scripts/test.sh) or CI. Whatever happens, the
//! namespaces and every process in them are removed (`netns-cluster.sh down` in a Drop guard).

use crate::kafka_common;
use crate::tui_common;
use crate::tui_common::tmux::Tmux;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kafka_common::{bronze_ids, write_tweets, BIN};
use tui_common::{find_pane, text_grid};

const TWEETS: usize = 20_000;
/// Tweets per second of the replay: the run lasts about 40 s.
const RATE: u32 = 500;
const WIDTH: u16 = 170;
const HEIGHT: u16 = 50;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/netns-cluster.sh")
}

/// Effective uid 0 (from /proc: no libc call needed).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        .unwrap_or(false)
}

/// Whether this test can run here; when it cannot, a failure if services are required.
fn runnable() -> bool {
    let quiet = |c: &mut Command| {
        c.stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let probe = format!("ssp-probe-{}", std::process::id());
    let why = if !is_root() {
        Some("needs root (network namespaces)")
    } else if !quiet(Command::new("ip").args(["netns", "list"])) {
        Some("needs `ip netns` (iproute2)")
    } else if !quiet(Command::new("ip").args(["netns", "add", &probe])) {
        Some("cannot create a network namespace here (`ip netns add` failed)")
    } else if !quiet(Command::new("ip").args(["netns", "del", &probe])) {
        Some("cannot delete a network namespace here")
    } else if !quiet(Command::new("tmux").arg("-V")) {
        Some("needs tmux")
    } else if !quiet(Command::new("java").arg("-version"))
        || !(Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/kafka-libs/.pom-sha256")
            .exists()
            || quiet(Command::new("mvn").arg("-v")))
    {
        Some("needs Java 17 and Maven for its Kafka broker (scripts/start-kafka.sh)")
    } else {
        None
    };
    match why {
        Some(why) => {
            crate::common::services::missing(
                &format!("what cluster_netns {why}"),
                "scripts/test.sh runs it as root and installs iproute2, tmux, Java and Maven",
            );
            false
        }
        None => true,
    }
}

// ---------------------------------------------------------------------------------------------
// The cluster, its processes, the control host's terminal
// ---------------------------------------------------------------------------------------------

/// The namespaces and their broker; `down` on drop (every process in them is stopped).
struct Cluster {
    bootstrap: String,
    state: PathBuf,
}

impl Cluster {
    fn up(state: &Path) -> Cluster {
        let t0 = Instant::now();
        // Whatever a killed earlier run left is removed first (by `up` itself).
        let mut cluster = Cluster {
            bootstrap: String::new(),
            state: state.to_path_buf(),
        };
        let out = cluster
            .script()
            .arg("up")
            .stderr(Stdio::inherit())
            .output()
            .expect("running scripts/netns-cluster.sh");
        assert!(out.status.success(), "scripts/netns-cluster.sh up failed");
        cluster.bootstrap = String::from_utf8_lossy(&out.stdout).trim().to_string();
        eprintln!(
            "cluster up in {:.1} s, broker {}",
            t0.elapsed().as_secs_f64(),
            cluster.bootstrap
        );
        cluster
    }

    fn script(&self) -> Command {
        let mut c = Command::new(script());
        c.env("SSP_NETNS_STATE", &self.state);
        c
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .script()
            .arg("down")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .status();
    }
}

/// One `ssp-tui run` process on a host.
struct Proc {
    name: String,
    child: Child,
    out: PathBuf,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, sig: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid() as i32), sig);
    }

    fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let t0 = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                t0.elapsed() < limit,
                "{} did not exit within {limit:?}:\n{}",
                self.name,
                tail(&self.out, 20)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// On a failure: the end of every process's output and log, for the reader of the report.
struct Diagnostics(PathBuf);

impl Drop for Diagnostics {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.0)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .flat_map(|p| {
                if p.is_dir()
                    && p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("logs-"))
                {
                    std::fs::read_dir(&p)
                        .into_iter()
                        .flatten()
                        .flatten()
                        .map(|e| e.path())
                        .collect()
                } else {
                    vec![p]
                }
            })
            .filter(|p| p.extension().is_some_and(|e| e == "out" || e == "log"))
            .collect();
        files.sort();
        for f in files {
            eprintln!("--- {} ---\n{}", f.display(), tail(&f, 15));
        }
    }
}

fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The pipeline's settings for every process, and where they run.
struct Pipeline {
    cluster: Cluster,
    dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Pipeline {
    /// `ssp-tui ARGS` on `host` (stdout and stderr into `<dir>/<name>.out`).
    fn run(&self, host: &str, name: &str, args: &[&str], extra: &[(&str, &str)]) -> Proc {
        let out = self.dir.join(format!("{name}.out"));
        let file = std::fs::File::create(&out).unwrap();
        let mut c = self.cluster.script();
        c.args(["exec", host, BIN]).args(args);
        strip_env(&mut c);
        c.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env(
                "SSP__LOG__DIR",
                self.dir.join(format!("logs-{name}")).display().to_string(),
            )
            .envs(extra.iter().copied())
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        let child = c.spawn().expect("spawning ssp-tui in a namespace");
        eprintln!(
            "{name}: ssp-tui {} on {host}, pid {}",
            args.join(" "),
            child.id()
        );
        Proc {
            name: name.to_string(),
            child,
            out,
        }
    }

    /// `ssp-tui attach` on the control host, in a tmux session of its own.
    fn attach(&self) -> Tmux {
        let quote = |s: &str| {
            assert!(!s.contains('\''), "unexpected quote in {s}");
            format!("'{s}'")
        };
        // Through env(1): some names (`...SESSION.TIMEOUT.MS`) are no shell variables.
        let env: Vec<String> = self
            .env
            .iter()
            .map(|(k, v)| quote(&format!("{k}={v}")))
            .collect();
        let shell = format!(
            "cd {dir} && env {env} SSP__LOG__DIR={logs} SSP_NETNS_STATE={state} {script} exec control {bin} attach; echo \"attach exited $?\"; sleep 120",
            dir = quote(&self.dir.display().to_string()),
            env = env.join(" "),
            logs = quote(&self.dir.join("logs-attach").display().to_string()),
            state = quote(&self.cluster.state.display().to_string()),
            script = quote(&script().display().to_string()),
            bin = quote(BIN),
        );
        eprintln!("attach: ssp-tui attach on control, in tmux");
        Tmux::start(&shell, WIDTH, HEIGHT)
    }

    /// The broker's view of the status topics (for a failure message): partitions, config.
    fn describe_status_topics(&self, topic: &str) -> String {
        let libs = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/kafka-libs/*");
        let out = self
            .cluster
            .script()
            .args([
                "exec",
                "broker",
                "java",
                "-Xmx256m",
                "-XX:TieredStopAtLevel=1",
                "-cp",
            ])
            .arg(libs)
            .args([
                "org.apache.kafka.tools.TopicCommand",
                "--bootstrap-server",
                &self.cluster.bootstrap,
                "--describe",
                "--topic",
                &format!("{topic}\\.(status|control)"),
            ])
            .output();
        match out {
            Ok(o) => String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| l.starts_with("Topic:"))
                .collect::<Vec<_>>()
                .join("\n"),
            Err(e) => format!("(describing the topics failed: {e})"),
        }
    }

    fn bronze(&self, host: &str, name: &str) -> Proc {
        self.run(host, name, &["run", "bronze"], &[])
    }
}

/// Inherited `SSP__*` settings (a developer's shell) must not leak into the processes.
fn strip_env(c: &mut Command) {
    for (k, _) in std::env::vars() {
        if k.starts_with("SSP__") || k == "RUST_LOG" || k == "SSP_FAULTS" {
            c.env_remove(k);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the screen
// ---------------------------------------------------------------------------------------------

/// The Stages pane's rows: (stage name, state, whether selected).
fn stage_rows(lines: &[String]) -> Vec<(String, String, bool)> {
    let Some(pane) = find_pane(&text_grid(lines), "Stages") else {
        return Vec::new();
    };
    pane.inner
        .iter()
        .filter_map(|l| {
            let selected = l.contains('▶');
            let words: Vec<&str> = l.split_whitespace().filter(|w| *w != "▶").collect();
            let (name, state) = (words.first()?, words.get(1)?);
            // Two-word states ("backing off") are not needed here.
            (*name != "stage").then(|| (name.to_string(), state.to_string(), selected))
        })
        .collect()
}

fn state_of(lines: &[String], stage: &str) -> Option<String> {
    stage_rows(lines)
        .into_iter()
        .find(|(n, _, _)| n == stage)
        .map(|(_, s, _)| s)
}

/// The footer's status line (the last line of the screen).
fn status_line(lines: &[String]) -> String {
    lines
        .iter()
        .rev()
        .find(|l| !l.trim().is_empty())
        .cloned()
        .unwrap_or_default()
}

/// Moves the Stages selection onto `stage` with j / k.
fn select(tmux: &Tmux, stage: &str) {
    for _ in 0..40 {
        let lines = tmux.capture();
        let rows = stage_rows(&lines);
        let want = rows.iter().position(|(n, _, _)| n == stage);
        let at = rows.iter().position(|(_, _, sel)| *sel);
        match (want, at) {
            (Some(w), Some(a)) if w == a => return,
            (Some(w), Some(a)) => tmux.send(if w > a { "j" } else { "k" }),
            _ => panic!(
                "no row {stage} (or no selection); screen:\n{}",
                lines.join("\n")
            ),
        }
        std::thread::sleep(Duration::from_millis(150));
    }
    panic!("could not select {stage}");
}

// ---------------------------------------------------------------------------------------------
// Reading the bronze table's log
// ---------------------------------------------------------------------------------------------

/// One commit of the bronze table, parsed from its `_delta_log` JSON by hand.
#[derive(Debug)]
struct Commit {
    version: u64,
    rows: u64,
    /// The writer (`bronze-<pid>-<random>`).
    writer: String,
    /// Bus partitions whose transaction this commit advanced.
    partitions: BTreeSet<i32>,
}

fn commits(lake: &Path) -> Vec<Commit> {
    let log = lake.join("bronze/_delta_log");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&log).into_iter().flatten().flatten() {
        let path = entry.path();
        let Some(version) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".json"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let mut c = Commit {
            version,
            rows: 0,
            writer: String::new(),
            partitions: BTreeSet::new(),
        };
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if let Some(stats) = v.pointer("/add/stats").and_then(|s| s.as_str()) {
                let stats: serde_json::Value = serde_json::from_str(stats).unwrap();
                c.rows += stats["numRecords"].as_u64().unwrap_or(0);
            }
            if let Some(q) = v
                .pointer("/commitInfo/operationParameters/queryId")
                .and_then(|q| q.as_str())
            {
                c.writer = q.to_string();
            }
            if let Some(app) = v.pointer("/txn/appId").and_then(|a| a.as_str()) {
                if let Some(p) = app
                    .strip_prefix("ssp-bronze/")
                    .and_then(|a| a.rsplit('/').next())
                    .and_then(|p| p.parse().ok())
                {
                    c.partitions.insert(p);
                }
            }
        }
        out.push(c);
    }
    out.sort_by_key(|c| c.version);
    out
}

fn written_by(c: &Commit, pid: u32) -> bool {
    c.writer.starts_with(&format!("bronze-{pid}-"))
}

fn wait_rows(dir: &Path, n: usize, limit: Duration) -> usize {
    let t0 = Instant::now();
    loop {
        let rows = bronze_ids(dir).len();
        if rows >= n || t0.elapsed() > limit {
            return rows;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

// ---------------------------------------------------------------------------------------------
// The scenario
// ---------------------------------------------------------------------------------------------

#[test]
fn a_cluster_of_namespaces_is_watched_and_commanded_from_attach_and_writes_each_tweet_once() {
    if !runnable() {
        return;
    }
    let t_start = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let lake = dir.join("lake");
    let input = dir.join("tweets.jsonl");
    let ids = write_tweets(&input, TWEETS, 12);

    let cluster = Cluster::up(&dir.join("cluster"));
    let topic = kafka_common::unique("cluster");
    let env: Vec<(String, String)> = [
        ("SSP__PIPELINE__BUS", "kafka".to_string()),
        ("SSP__PIPELINE__PARTITIONS", "3".to_string()),
        ("SSP__KAFKA__BOOTSTRAP_SERVERS", cluster.bootstrap.clone()),
        ("SSP__KAFKA__TOPIC", topic.clone()),
        ("SSP__KAFKA__GROUP_PREFIX", topic.clone()),
        ("SSP__LAKE__ROOT", lake.display().to_string()),
        ("SSP__LAKE__ROLL_SECONDS", "0.5".to_string()),
        // A killed writer's partitions move within seconds.
        (
            "SSP__KAFKA__PROPERTIES__SESSION.TIMEOUT.MS",
            "6000".to_string(),
        ),
        (
            "SSP__KAFKA__PROPERTIES__HEARTBEAT.INTERVAL.MS",
            "1000".to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let p = Pipeline {
        cluster,
        dir: dir.clone(),
        env,
    };
    let _diagnostics = Diagnostics(dir.clone());

    // The pipeline, spread over the hosts; each process publishes its stages' status.
    let mut a = p.bronze("writer-1", "bronze-a");
    let mut b = p.bronze("writer-2", "bronze-b");
    let mut trending = p.run("writer-2", "trending", &["run", "trending"], &[]);
    std::thread::sleep(Duration::from_secs(2));
    let rate = RATE.to_string();
    let mut source = p.run(
        "writer-1",
        "source",
        &["run", "source"],
        &[
            ("SSP__SOURCE__KIND", "replay"),
            ("SSP__SOURCE__PATH", input.to_str().unwrap()),
            ("SSP__SOURCE__RATE", &rate),
        ],
    );
    let t_source = Instant::now();

    // The control centre on the control host: it starts nothing and lists the four.
    let tmux = p.attach();
    tmux.wait_screen("the Stages pane", Duration::from_secs(30), |l| {
        find_pane(&text_grid(l), "Stages").is_some()
    });
    tmux.send("z"); // the Stages pane alone: every row fits
    let four = [
        "bronze@writer-1",
        "bronze@writer-2",
        "source@writer-1",
        "trending@writer-2",
    ];
    let shown = tmux.poll(Duration::from_secs(30), |l| {
        four.iter()
            .all(|s| state_of(l, s).as_deref() == Some("running"))
            .then_some(())
    });
    if let Err(lines) = shown {
        panic!(
            "timed out after 30 s waiting for the four remote stages {four:?} running; screen:\n{}\n\
             the broker's status topics:\n{}",
            lines.join("\n"),
            p.describe_status_topics(&topic)
        );
    }
    let screen = tmux.capture();
    eprintln!(
        "attach shows the four remote stages:\n{}",
        screen.join("\n")
    );
    // attach started nothing of its own.
    for local in ["source", "bronze", "trending"] {
        assert_eq!(
            state_of(&screen, local).as_deref(),
            Some("stopped"),
            "attach starts no stage ({local})"
        );
    }

    // Bronze is being written by both writers.
    let t0 = Instant::now();
    while !(commits(&lake)
        .iter()
        .any(|c| written_by(c, a.pid()) && c.rows > 0)
        && commits(&lake)
            .iter()
            .any(|c| written_by(c, b.pid()) && c.rows > 0))
    {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "both writers commit rows: {:?}",
            commits(&lake)
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    // `x` on bronze@writer-2: its process acknowledges, the row shows stopped.
    select(&tmux, "bronze@writer-2");
    let t_stop = Instant::now();
    tmux.send("x");
    tmux.wait_screen(
        "the stop acknowledged on the status line",
        Duration::from_secs(15),
        |l| status_line(l).contains("stop bronze@writer-2: stopping"),
    );
    tmux.wait_screen("bronze@writer-2 stopped", Duration::from_secs(30), |l| {
        state_of(l, "bronze@writer-2").as_deref() == Some("stopped")
    });
    eprintln!(
        "x -> bronze@writer-2 stopped on screen after {:.2} s",
        t_stop.elapsed().as_secs_f64()
    );
    // Bronze on writer-1 takes over writer-2's partitions and keeps writing.
    let before = commits(&lake);
    let stopped_at = before.last().map_or(0, |c| c.version);
    let b_partitions: BTreeSet<i32> = before
        .iter()
        .filter(|c| written_by(c, b.pid()))
        .flat_map(|c| c.partitions.iter().copied())
        .collect();
    assert!(
        !b_partitions.is_empty(),
        "writer-2 wrote partitions before its stop"
    );
    let t0 = Instant::now();
    loop {
        let after: Vec<Commit> = commits(&lake)
            .into_iter()
            .filter(|c| c.version > stopped_at)
            .collect();
        assert!(
            !after.iter().any(|c| written_by(c, b.pid())),
            "the stopped writer committed after its stop: {after:?}"
        );
        let taken: BTreeSet<i32> = after
            .iter()
            .filter(|c| written_by(c, a.pid()) && c.rows > 0)
            .flat_map(|c| c.partitions.iter().copied())
            .collect();
        if b_partitions.is_subset(&taken) {
            eprintln!(
                "writer-1 took over partitions {b_partitions:?} {:.2} s after the stop showed",
                t0.elapsed().as_secs_f64()
            );
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "writer-1 did not take over writer-2's partitions {b_partitions:?}; commits since the stop: {after:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    // `s` starts it again: running, and it writes again.
    select(&tmux, "bronze@writer-2");
    tmux.send("s");
    tmux.wait_screen(
        "the start acknowledged on the status line",
        Duration::from_secs(15),
        |l| status_line(l).contains("start bronze@writer-2: started"),
    );
    tmux.wait_screen("bronze@writer-2 running", Duration::from_secs(30), |l| {
        state_of(l, "bronze@writer-2").as_deref() == Some("running")
    });
    let restarted_at = commits(&lake).last().map_or(0, |c| c.version);
    let t0 = Instant::now();
    while !commits(&lake)
        .iter()
        .any(|c| c.version > restarted_at && written_by(c, b.pid()) && c.rows > 0)
    {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "bronze@writer-2 writes again after `s`"
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    // kill -9 of the writer-1 bronze process: its row turns lost; started again, the new
    // process is listed beside it (`bronze@writer-1:<pid>`).
    let t_kill = Instant::now();
    a.signal(nix::sys::signal::Signal::SIGKILL);
    let _ = a.wait(Duration::from_secs(10));
    tmux.wait_screen("bronze@writer-1 lost", Duration::from_secs(20), |l| {
        state_of(l, "bronze@writer-1").as_deref() == Some("lost")
    });
    eprintln!(
        "kill -9 -> bronze@writer-1 lost on screen after {:.2} s",
        t_kill.elapsed().as_secs_f64()
    );
    let mut a2 = p.bronze("writer-1", "bronze-a2");
    let (old, new) = (
        format!("bronze@writer-1:{}", a.pid()),
        format!("bronze@writer-1:{}", a2.pid()),
    );
    tmux.wait_screen(
        "the restarted writer running beside the lost one",
        Duration::from_secs(30),
        |l| {
            state_of(l, &new).as_deref() == Some("running")
                && state_of(l, &old).as_deref() == Some("lost")
        },
    );
    eprintln!("after the restart:\n{}", tmux.capture().join("\n"));

    // The source ends; every tweet reaches bronze, once.
    assert!(
        source.wait(Duration::from_secs(180)).success(),
        "the source exits 0:\n{}",
        tail(&source.out, 20)
    );
    eprintln!(
        "source done after {:.1} s",
        t_source.elapsed().as_secs_f64()
    );
    let rows = wait_rows(&dir, TWEETS, Duration::from_secs(120));
    assert!(rows >= TWEETS, "bronze holds {rows} of {TWEETS} tweets");
    for w in [&mut a2, &mut b, &mut trending] {
        w.signal(nix::sys::signal::Signal::SIGTERM);
    }
    for w in [&mut a2, &mut b, &mut trending] {
        let status = w.wait(Duration::from_secs(60));
        assert!(
            status.success(),
            "{} closes cleanly: {status:?}\n{}",
            w.name,
            tail(&w.out, 20)
        );
    }
    let mut got = bronze_ids(&dir);
    let total = got.len();
    got.sort();
    got.dedup();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(total, TWEETS, "rows in bronze");
    assert_eq!(got.len(), TWEETS, "distinct tweet ids in bronze");
    assert_eq!(got, want, "bronze holds exactly the replayed tweets");
    let per_writer: BTreeMap<String, u64> =
        commits(&lake).iter().fold(BTreeMap::new(), |mut m, c| {
            if c.rows > 0 {
                *m.entry(c.writer.clone()).or_default() += c.rows;
            }
            m
        });
    eprintln!(
        "every tweet once: {total} rows, {} distinct; rows per writer {per_writer:?}; {:.0} s in all",
        got.len(),
        t_start.elapsed().as_secs_f64()
    );
    drop(tmux);
}
