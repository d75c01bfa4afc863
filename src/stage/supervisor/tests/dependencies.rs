//! Dependencies: started first, and the Started / Ready / Completed conditions a stage
//! waits for (log-line and exec readiness probes).

use super::*;

#[tokio::test]
async fn starting_a_stage_starts_its_dependencies_first() {
    let runs = Arc::new(AtomicU32::new(0));
    let a = Flaky {
        name: "a",
        failures: 0,
        runs: runs.clone(),
        policy: RestartPolicy::No,
        deps: vec![],
    };
    let b = Flaky {
        name: "b",
        failures: 0,
        runs: runs.clone(),
        policy: RestartPolicy::No,
        deps: vec!["a".into()],
    };
    let sup = Supervisor::new(
        pipeline(),
        vec![Arc::new(b), Arc::new(a)],
        Backoff::default(),
    );
    assert_eq!(
        sup.start("b").unwrap(),
        vec!["a".to_string(), "b".to_string()]
    );
    assert!(matches!(
        sup.start("zzz"),
        Err(SupervisorError::UnknownStage { .. })
    ));
}

fn with_deps(mut c: CommandSettings, deps: &[(&str, crate::config::Condition)]) -> CommandSettings {
    c.conditions = deps.iter().map(|(d, c)| (d.to_string(), *c)).collect();
    c.depends_on = deps.iter().map(|(d, _)| d.to_string()).collect();
    c
}

#[tokio::test]
async fn depends_on_ready_waits_for_the_log_line_and_completed_for_the_exit() {
    use crate::config::{Condition, Readiness};
    let dir = tempfile::tempdir().unwrap();
    let mut server = command("server", "sleep 0.6; echo listening on 8080; sleep 30");
    server.readiness = Readiness::LogLine("listening".into());
    let setup = command("setup", "sleep 0.3; exit 0");
    let marker = dir.path().join("client-ran");
    let client = with_deps(
        command("client", &format!("touch {}; sleep 30", marker.display())),
        &[
            ("server", Condition::Ready),
            ("setup", Condition::Completed),
        ],
    );
    let sup = Supervisor::new(
        pipeline(),
        vec![
            Arc::new(CommandStage::new(server)),
            Arc::new(CommandStage::new(setup)),
            Arc::new(CommandStage::new(client)),
        ],
        Backoff::default(),
    );
    let started = sup.start("client").unwrap();
    assert_eq!(started, vec!["server", "setup", "client"]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let st = sup
        .snapshot()
        .into_iter()
        .find(|s| s.name == "client")
        .unwrap();
    assert_eq!(st.state, StageState::Starting);
    assert!(
        st.detail
            .contains("waiting for server (ready), setup (completed)"),
        "{st:?}"
    );
    assert!(!marker.exists(), "client ran before its dependencies");
    wait_secs(&sup, "setup", StageState::Completed, 5).await;
    assert!(!marker.exists(), "client ran before server was ready");
    wait_secs(&sup, "client", StageState::Running, 5).await;
    for _ in 0..200 {
        if marker.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(marker.exists());
    let log = sup.log("server").unwrap().snapshot();
    assert!(
        log.iter().any(|l| l.text.contains("ready (log line seen)")),
        "{log:?}"
    );
    sup.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn an_exec_probe_makes_a_command_ready() {
    use crate::config::{Condition, Readiness};
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("up");
    let mut svc = command(
        "svc",
        &format!("sleep 0.5; touch {}; sleep 30", flag.display()),
    );
    svc.readiness = Readiness::Exec(format!("test -e {}", flag.display()));
    let user = with_deps(command("user", "sleep 30"), &[("svc", Condition::Ready)]);
    let sup = Supervisor::new(
        pipeline(),
        vec![
            Arc::new(CommandStage::new(svc)),
            Arc::new(CommandStage::new(user)),
        ],
        Backoff::default(),
    );
    sup.start("user").unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sup.state("user"), Some(StageState::Starting));
    wait_secs(&sup, "user", StageState::Running, 5).await;
    assert!(flag.exists());
    sup.shutdown(Duration::from_secs(5)).await;
}
