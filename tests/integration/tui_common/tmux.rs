//! The real binary in a detached tmux session of fixed size, on a private server (own socket):
//! type with [`Tmux::send`] / [`Tmux::keys`], read the screen with [`Tmux::capture`].

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A private tmux server (own socket) with one session; killed on drop, whatever happened.
pub struct Tmux {
    socket: String,
    session: String,
    /// The server's socket file, removed on drop.
    socket_path: Option<PathBuf>,
}

impl Tmux {
    pub fn command(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket, "-f", "/dev/null"]);
        c.env("SHELL", "/bin/sh").env("TERM", "xterm-256color");
        // The binary gets only what the test's shell command sets.
        for (k, _) in std::env::vars() {
            if k.starts_with("SSP__") || k == "RUST_LOG" || k == "SSP_FAULTS" {
                c.env_remove(k);
            }
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let out = self
            .command()
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("running tmux {args:?}: {e} (is tmux installed?)"));
        assert!(
            out.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs `shell_command` in a new `width` x `height` session.
    pub fn start(shell_command: &str, width: u16, height: u16) -> Tmux {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let id = format!("{}-{nanos}", std::process::id());
        let mut tmux = Tmux {
            socket: format!("ssp-tmux-{id}"),
            session: format!("ssp-{id}"),
            socket_path: None,
        };
        let (w, h) = (width.to_string(), height.to_string());
        tmux.run(&[
            "new-session",
            "-d",
            "-s",
            &tmux.session,
            "-x",
            &w,
            "-y",
            &h,
            shell_command,
        ]);
        let path = tmux.format("socket_path");
        tmux.socket_path = (!path.is_empty()).then(|| PathBuf::from(path));
        tmux
    }

    pub fn target(&self) -> String {
        format!("{}:0.0", self.session)
    }

    pub fn capture(&self) -> Vec<String> {
        let out = self.run(&["capture-pane", "-p", "-t", &self.target()]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Types `keys` literally.
    pub fn send(&self, keys: &str) {
        self.run(&["send-keys", "-t", &self.target(), "-l", keys]);
    }

    /// Presses named keys (`F5`, `C-Up`, `Escape`, `Enter`).
    pub fn keys(&self, keys: &[&str]) {
        let target = self.target();
        let mut args = vec!["send-keys", "-t", target.as_str()];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// A pane format variable, e.g. `alternate_on`.
    pub fn format(&self, var: &str) -> String {
        let out = self.run(&[
            "display-message",
            "-p",
            "-t",
            &self.target(),
            &format!("#{{{var}}}"),
        ]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Polls the screen until `check` gives a value; the last screen after `timeout`.
    pub fn poll<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&[String]) -> Option<T>,
    ) -> Result<T, Vec<String>> {
        let deadline = Instant::now() + timeout;
        loop {
            let lines = self.capture();
            if let Some(v) = check(&lines) {
                return Ok(v);
            }
            if Instant::now() >= deadline {
                return Err(lines);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// [`Self::poll`], panicking with the last screen.
    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        check: impl FnMut(&[String]) -> Option<T>,
    ) -> T {
        self.poll(timeout, check).unwrap_or_else(|lines| {
            panic!(
                "timed out after {timeout:?} waiting for {what}; screen:\n{}",
                lines.join("\n")
            )
        })
    }

    /// Polls the screen until `check` holds; panics with the last screen after `timeout`.
    pub fn wait_screen(&self, what: &str, timeout: Duration, check: impl Fn(&[String]) -> bool) {
        self.wait_for(what, timeout, |l| check(l).then_some(()));
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self
            .command()
            .args(["kill-session", "-t", &self.session])
            .output();
        let _ = self.command().arg("kill-server").output();
        if let Some(p) = &self.socket_path {
            let _ = std::fs::remove_file(p);
        }
    }
}
