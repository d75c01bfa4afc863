//! A test's own Apache Kafka broker (`scripts/start-kafka.sh` on a port of its own), which the
//! test may kill -9, restart on the same data, or pause with SIGSTOP. Stopped, with its data
//! deleted, when dropped.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// `scripts/start-kafka.sh`.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/start-kafka.sh")
}

fn runs(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether `scripts/start-kafka.sh` can run here (Java, and Maven unless the jars are there);
/// when it cannot, a failure if services are required (`SSP_REQUIRE_SERVICES=1` or CI).
pub fn kafka_runnable() -> bool {
    let libs = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/kafka-libs/.pom-sha256");
    if runs("java", "-version") && (libs.exists() || runs("mvn", "-v")) {
        return true;
    }
    super::services::missing(
        "Java 17 and Maven (for scripts/start-kafka.sh)",
        "scripts/test.sh installs them",
    );
    false
}

/// One single-node broker on `port` (its controller on `port + 1000`).
pub struct OwnBroker {
    pub port: u16,
}

impl OwnBroker {
    /// A fresh broker (whatever an aborted run left on this port is removed first).
    pub fn start(port: u16) -> OwnBroker {
        let _ = Command::new(script())
            .args(["stop", &port.to_string()])
            .stdout(Stdio::null())
            .status();
        let broker = OwnBroker { port };
        broker.up();
        broker
    }

    /// Starts it (again, on the same data) and waits until it serves clients.
    pub fn up(&self) {
        let t0 = Instant::now();
        let out = Command::new(script())
            .args(["start", &self.port.to_string()])
            .env("SSP_KAFKA_BROKERS", "1")
            .env_remove("SSP_KAFKA_ADVERTISED_PORT")
            .stderr(Stdio::inherit())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "scripts/start-kafka.sh start {} failed",
            self.port
        );
        eprintln!(
            "broker on {} ready after {:.1} s",
            self.port,
            t0.elapsed().as_secs_f64()
        );
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn dir(&self) -> PathBuf {
        let tmp = std::env::var("TMPDIR").unwrap_or_else(|_| "/tmp".into());
        Path::new(&tmp).join(format!("ssp-kafka-{}", self.port))
    }

    /// The broker's JVM, while it runs.
    pub fn pid(&self) -> Option<Pid> {
        let pid: i32 = std::fs::read_to_string(self.dir().join("node-1/kafka.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        kill(Pid::from_raw(pid), None).ok()?;
        Some(Pid::from_raw(pid))
    }

    /// kill -9 of the JVM, waiting until it is gone (its data stays).
    pub fn kill9(&self) {
        let pid = self.pid().expect("the broker runs");
        kill(pid, Signal::SIGKILL).unwrap();
        let t0 = Instant::now();
        while kill(pid, None).is_ok() && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pause(&self) {
        kill(self.pid().expect("the broker runs"), Signal::SIGSTOP).unwrap();
    }

    pub fn resume(&self) {
        if let Some(pid) = self.pid() {
            let _ = kill(pid, Signal::SIGCONT);
        }
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        self.resume();
        let _ = Command::new(script())
            .args(["stop", &self.port.to_string()])
            .stdout(Stdio::null())
            .status();
    }
}
