//! A broker outage in the middle of a run: the stages report it, the producer buffers up to
//! its bound and then holds the source back, and everything arrives once the broker is back.
//!
//! The test runs its own Apache Kafka broker (`scripts/start-kafka.sh` on port 19300, stopped
//! at the end) behind a TCP proxy it controls: the broker advertises the proxy's address, so
//! "the broker is unreachable" is real for librdkafka while the broker and its data live on.

#[path = "integration/kafka_common/mod.rs"]
mod kafka_common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_common::broker::{kafka_runnable, script};
use kafka_common::*;
use ssp_tui::config::Settings;
use ssp_tui::lake::read::read_bronze_rows;
use ssp_tui::lake::LakeLocation;
use ssp_tui::stage::StageState;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// The client port of this test's own broker (its controller listens 1000 above).
const BROKER_PORT: u16 = 19300;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// This test's broker: `scripts/start-kafka.sh stop PORT` (process and data) when dropped.
struct Broker(u16);

impl Broker {
    /// Starts a fresh single broker on `port` that advertises `advertised` (the proxy, which
    /// must already listen); returns the guard once it serves clients.
    async fn start(port: u16, advertised: u16) -> Broker {
        // A broker left by an aborted run advertises another port: never reuse it.
        drop(Broker(port));
        let broker = Broker(port);
        let out = tokio::task::spawn_blocking(move || {
            Command::new(script())
                .args(["start", &port.to_string()])
                .env("SSP_KAFKA_BROKERS", "1")
                .env("SSP_KAFKA_ADVERTISED_PORT", advertised.to_string())
                .stderr(Stdio::inherit())
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "scripts/start-kafka.sh start {port} failed"
        );
        broker
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .args(["stop", &self.0.to_string()])
            .stdout(Stdio::null())
            .status();
    }
}

/// Rows of the bronze table under `lake` (committed rows only).
async fn bronze_rows(lake: &Path) -> usize {
    read_bronze_rows(&LakeLocation::local(lake))
        .await
        .unwrap_or_else(|e| panic!("reading bronze: {e}"))
        .len()
}

/// Forwards connections to `to`; `cut` drops every connection and refuses new ones until
/// `restore`.
struct Proxy {
    down: Arc<AtomicBool>,
    cut: Arc<Notify>,
}

impl Proxy {
    async fn start(port: u16, to: SocketAddr) -> Proxy {
        let down = Arc::new(AtomicBool::new(false));
        let cut = Arc::new(Notify::new());
        let (d, c) = (down.clone(), cut.clone());
        tokio::spawn(async move {
            loop {
                if d.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                let Ok(listener) = TcpListener::bind(("127.0.0.1", port)).await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                loop {
                    tokio::select! {
                        _ = c.notified() => break, // drop the listener: connections refused
                        accepted = listener.accept() => {
                            // A cut between two waits on `c` is seen here: refuse and close.
                            if d.load(Ordering::SeqCst) {
                                break;
                            }
                            let Ok((mut client, _)) = accepted else { continue };
                            let down = d.clone();
                            tokio::spawn(async move {
                                let Ok(mut server) = TcpStream::connect(to).await else { return };
                                // The flag, not a notification: a connection whose task had
                                // not started yet when the cut came is closed too.
                                let cut = async {
                                    while !down.load(Ordering::SeqCst) {
                                        tokio::time::sleep(Duration::from_millis(20)).await;
                                    }
                                };
                                tokio::select! {
                                    _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                                    _ = cut => {}
                                }
                            });
                        }
                    }
                }
            }
        });
        Proxy { down, cut }
    }

    fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        // Wake the listener and every connection (notify_waiters reaches all current ones).
        self.cut.notify_waiters();
    }

    fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broker_outage_is_reported_and_nothing_is_lost() {
    if !kafka_runnable() {
        return;
    }
    // The proxy first: the broker's readiness check already goes through it.
    let proxy_port = free_port();
    let proxy = Proxy::start(proxy_port, ([127, 0, 0, 1], BROKER_PORT).into()).await;
    let _broker = Broker::start(BROKER_PORT, proxy_port).await;

    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let input = dir.path().join("tweets.jsonl");
    // 10 s of tweets at 800/s: the source is still sending when the broker goes away, even
    // when bronze's group takes a few seconds to form (the cut waits for 200 rows in bronze).
    let ids = write_tweets(&input, 8000, 17);
    let mut env = kafka_env(
        &format!("127.0.0.1:{proxy_port}"),
        &unique("outage"),
        dir.path(),
    );
    env.push(("SSP__SOURCE__KIND".into(), "replay".into()));
    env.push(("SSP__SOURCE__PATH".into(), input.display().to_string()));
    env.push(("SSP__SOURCE__RATE".into(), "800".into()));
    // A small producer buffer: during the outage the source must be held back, not drop.
    env.push(("SSP__KAFKA__BUFFER_MESSAGES".into(), "300".into()));
    env.push((
        "SSP__KAFKA__PROPERTIES__RECONNECT.BACKOFF.MAX.MS".into(),
        "500".into(),
    ));
    env.push(("SSP__LAKE__ROLL_SECONDS".into(), "0.5".into()));
    let settings = Settings::load_with_env(Some(&repo_config()), &env).unwrap();
    let sup = ssp_tui::pipeline::build_supervisor(&settings).unwrap();
    sup.start("source").unwrap();
    sup.start("bronze").unwrap();

    // Let some tweets flow, then take the broker away.
    let t0 = Instant::now();
    while bronze_rows(&lake).await < 200 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "nothing flowed: {:?}",
            sup.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    proxy.cut();
    let cut_at = Instant::now();
    let mut reported = false;
    let mut out_during = Vec::new();
    while cut_at.elapsed() < Duration::from_secs(8) {
        let snap = sup.snapshot();
        let source = snap.iter().find(|s| s.name == "source").unwrap();
        out_during.push(source.output);
        reported |= source.detail.contains("backing off") && source.detail.contains("broker");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        reported,
        "the source never reported the outage: {:?}",
        sup.snapshot()
    );
    let held = out_during[out_during.len() / 2..]
        .windows(2)
        .all(|w| w[0] == w[1]);
    assert!(
        held,
        "the source kept sending into a full buffer: {out_during:?}"
    );
    assert_eq!(
        sup.state("source"),
        Some(StageState::Running),
        "waiting, not failed"
    );

    proxy.restore();
    let t1 = Instant::now();
    while sup.state("bronze") != Some(StageState::Completed) {
        assert!(
            t1.elapsed() < Duration::from_secs(120),
            "no recovery: {:?}",
            sup.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let source = sup
        .snapshot()
        .into_iter()
        .find(|s| s.name == "source")
        .unwrap();
    assert!(
        !source.detail.contains("backing off"),
        "cleared after recovery: {}",
        source.detail
    );
    assert_exactly_once(dir.path(), &ids);
}
