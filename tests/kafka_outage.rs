//! A broker outage in the middle of a run: the stages report it, the producer buffers up to
//! its bound and then holds the source back, and everything arrives once the broker is back.
//!
//! The test runs its own tansu broker behind a TCP proxy it controls (the broker advertises
//! the proxy's address), so "the broker is unreachable" is real for librdkafka while the
//! broker's in-memory data survives.

mod kafka_common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_common::*;
use ssp_tui::config::Settings;
use ssp_tui::stage::StageState;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Broker(Child);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tansu() -> Option<String> {
    let candidates = [
        std::env::var("SSP_TEST_TANSU").unwrap_or_default(),
        "tansu".to_string(),
        format!(
            "{}/.cargo/bin/tansu",
            std::env::var("HOME").unwrap_or_default()
        ),
    ];
    candidates.into_iter().filter(|c| !c.is_empty()).find(|c| {
        Command::new(c)
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
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
                            let Ok((mut client, _)) = accepted else { continue };
                            let c2 = c.clone();
                            tokio::spawn(async move {
                                let Ok(mut server) = TcpStream::connect(to).await else { return };
                                tokio::select! {
                                    _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                                    _ = c2.notified() => {}
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
    let Some(tansu) = tansu() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("tansu is not installed: scripts/test.sh installs it");
        }
        eprintln!("SKIPPED: tansu not found");
        return;
    };
    let (broker_port, proxy_port) = (free_port(), free_port());
    let _broker = Broker(
        Command::new(tansu)
            .args([
                "broker",
                "--listener-url",
                &format!("tcp://127.0.0.1:{broker_port}"),
                "--advertised-listener-url",
                &format!("tcp://127.0.0.1:{proxy_port}"),
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let proxy = Proxy::start(proxy_port, ([127, 0, 0, 1], broker_port).into()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("tweets.jsonl");
    let ids = write_tweets(&input, 4000, 17);
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
    let sup = ssp_tui::app::build_supervisor(&settings).unwrap();
    sup.start("source").unwrap();
    sup.start("bronze").unwrap();

    // Let some tweets flow, then take the broker away.
    let t0 = Instant::now();
    while bronze_ids(dir.path()).len() < 200 {
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
