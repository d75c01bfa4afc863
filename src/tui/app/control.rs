//! Starting, stopping and restarting stages from the keyboard: local ones through the
//! supervisor (asking before starting stopped dependencies), remote ones (`name@host`) through
//! their process's command channel; and how a remote stage reads as a Stages row.

use super::{App, COLLECT};
use crate::stage::StageStatus;
use crate::tui::command::Target;

impl App {
    pub(super) fn names(&self, target: &Target) -> Vec<String> {
        match target {
            Target::All => self.sup.names(),
            Target::Stage(n) => vec![n.clone()],
        }
    }

    /// Sends `action` to a stage of another process (`name@host`); true if `target` is one.
    pub(super) fn remote_command(
        &mut self,
        target: &Target,
        action: crate::remote::Action,
    ) -> bool {
        let (Target::Stage(name), Some(remote)) = (target, self.remote.clone()) else {
            return false;
        };
        if !name.contains('@') {
            return false;
        }
        match remote.command(name, action) {
            Ok(text) => self.say(text, false),
            Err(e) => self.say(e, true),
        }
        true
    }

    /// Starting `collect` makes a new dataset version: only on an explicit yes, and never as
    /// part of "start all".
    pub(super) fn start(&mut self, target: Target) {
        if self.remote_command(&target, crate::remote::Action::Start) {
            return;
        }
        match &target {
            Target::Stage(n) if n == COLLECT => {
                if self.sup.state(COLLECT).is_some_and(|s| s.is_active()) {
                    return self.say("collect is already running", false);
                }
                self.say(
                    "collect builds a NEW dataset version from bronze (labels stay with their version; :dataset picks one): y = start, any other key = cancel",
                    false,
                );
                self.pending_collect = true;
                return;
            }
            _ => {}
        }
        self.start_checked(target);
    }

    pub(super) fn start_checked(&mut self, target: Target) {
        if let Target::Stage(name) = &target {
            match self.sup.stopped_dependencies(name) {
                Ok(deps)
                    if !deps.is_empty() && self.sup.state(name).is_some_and(|s| !s.is_active()) =>
                {
                    self.say(
                        format!(
                            "{name} depends on {} (stopped here): start it too? y = yes, n = only {name} (it waits), Esc = cancel",
                            deps.join(", ")
                        ),
                        false,
                    );
                    self.pending_start = Some((name.clone(), deps));
                    return;
                }
                Ok(_) => {}
                Err(e) => return self.say(e.to_string(), true),
            }
        }
        let mut started = Vec::new();
        let mut names = self.names(&target);
        let skipped = target == Target::All && names.iter().any(|n| n == COLLECT);
        if target == Target::All {
            names.retain(|n| n != COLLECT);
        }
        for name in names {
            match self.sup.start(&name) {
                Ok(s) => started.extend(s),
                Err(e) => return self.say(e.to_string(), true),
            }
        }
        let note = if skipped {
            " (not collect: it makes a new dataset version; start it on its own)"
        } else {
            ""
        };
        if started.is_empty() {
            self.say(format!("already running{note}"), false);
        } else {
            self.say(format!("started {}{note}", started.join(", ")), false);
        }
        self.refresh_stages();
    }

    pub(super) fn stop(&mut self, target: Target) {
        self.stop_or_restart(target, crate::remote::Action::Stop);
    }

    pub(super) fn restart(&mut self, target: Target) {
        self.stop_or_restart(target, crate::remote::Action::Restart);
    }

    fn stop_or_restart(&mut self, target: Target, action: crate::remote::Action) {
        if self.remote_command(&target, action) {
            return;
        }
        let names = self.names(&target);
        for name in &names {
            let done = match action {
                crate::remote::Action::Restart => self.sup.restart(name),
                _ => self.sup.stop(name),
            };
            if let Err(e) = done {
                return self.say(e.to_string(), true);
            }
        }
        let doing = match action {
            crate::remote::Action::Restart => "restarting",
            _ => "stopping",
        };
        let how = if action == crate::remote::Action::Stop {
            " (flushing)"
        } else {
            ""
        };
        self.say(format!("{doing} {}{how}", names.join(", ")), false);
        self.refresh_stages();
    }
}

/// A remote stage as a Stages pane row.
pub(super) fn remote_status(r: &crate::remote::RemoteStage) -> StageStatus {
    let p = &r.report;
    let state = if r.lost {
        crate::stage::StageState::Lost
    } else {
        crate::stage::StageState::from_label(&p.state).unwrap_or(crate::stage::StageState::Running)
    };
    let detail = match (r.lost, p.state.as_str()) {
        (true, _) => format!("no heartbeat from pid {} · was {}", p.pid, p.state),
        (false, "exited") => format!("process {} exited", p.pid),
        _ => p.detail.clone(),
    };
    StageStatus {
        name: r.name.clone(),
        kind: "remote",
        state,
        uptime: p
            .uptime_s
            .filter(|_| state.is_active())
            .map(std::time::Duration::from_secs_f64),
        input: p.input,
        output: p.output,
        rate: if state.is_active() { p.rate } else { 0.0 },
        errors: p.errors,
        restarts: p.restarts,
        last_error: p.last_error.clone(),
        detail,
        depends_on: Vec::new(),
        latency: p.latency.filter(|_| !r.lost),
        read_version: p.read_version,
    }
}
