//! Durability of labels: a child process labels (and undoes) through the app's key handling
//! as fast as commits allow, printing `SEND` before each key and `ACK` once the pane moved
//! on; the parent kills it with SIGKILL at a random moment, then checks the store: every
//! acknowledged label is there in order, nothing else but at most the one in flight. With the
//! embedded store (fsync'd log) and with PostgreSQL (a transaction per label). Then a new
//! app + worker on the same store resumes from exactly those labels.
//!
//! The child is this test binary again, running `child_labeller` with `SSP_LEARN_CHILD` set.

use crate::learn_common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use learn_common::*;
use ssp_tui::learn::labels::{self, fold, EventKind};
use ssp_tui::learn::worker::{self, LabelReply};
use ssp_tui::tui::action::PaneId;
use ssp_tui::tui::app::App;

const T: Duration = Duration::from_secs(30);

fn child_extra() -> Vec<(String, String)> {
    std::env::var("SSP_LEARN_CHILD_EXTRA")
        .ok()
        .and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default()
}

/// The child: labels forever through `App::handle_key`, one line per step on stdout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_labeller() {
    let Ok(dir) = std::env::var("SSP_LEARN_CHILD") else {
        return; // not a child: nothing to do
    };
    use std::io::Write;
    let settings = settings(std::path::Path::new(&dir), &child_extra());
    let sup = ssp_tui::pipeline::build_supervisor(&settings).unwrap();
    let mut app = App::new(sup);
    let mut link = worker::spawn_for(&settings);
    app.label.connect(link.commands.clone());
    app.focus = PaneId::Label;
    wait_ready(&mut app, &mut link, T).await;
    let out = std::io::stdout();
    let mut step = 0u64;
    loop {
        apply_snapshot(&mut app, &mut link);
        step += 1;
        if step.is_multiple_of(7) {
            writeln!(out.lock(), "SEND UNDO").unwrap();
            app.handle_key(key('u'));
            match pump_reply(&mut app, &mut link, T).await {
                LabelReply::Undone { event, .. } => writeln!(
                    out.lock(),
                    "ACK UNDO {} {}",
                    event.event.text_id,
                    event.event.label
                )
                .unwrap(),
                LabelReply::NothingToUndo => writeln!(out.lock(), "ACK NOTHING").unwrap(),
                other => panic!("{other:?}"),
            }
        } else {
            let Some(cur) = app.label.current.clone() else {
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            };
            let label = if step.is_multiple_of(3) { 0 } else { 1 };
            writeln!(out.lock(), "SEND {} {label}", cur.text_id).unwrap();
            app.handle_key(key(if label == 1 { '1' } else { '0' }));
            match pump_reply(&mut app, &mut link, T).await {
                LabelReply::Committed { event, .. } => {
                    assert_eq!(event.event.text_id, cur.text_id);
                    writeln!(out.lock(), "ACK {} {label}", cur.text_id).unwrap();
                }
                other => panic!("{other:?}"),
            }
        }
        out.lock().flush().unwrap();
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Label(i64, i32),
    Undo(i64, i32),
    Nothing,
}

async fn kill_and_check(extra: Vec<(String, String)>, acks_before_kill: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let s = settings(tmp.path(), &extra);
    let store = labels::open(&s).unwrap();
    create_dataset(&s, &store, 0, 400).await;

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "learn_durability::child_labeller",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SSP_LEARN_CHILD", tmp.path())
        .env(
            "SSP_LEARN_CHILD_EXTRA",
            serde_json::to_string(&extra).unwrap(),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut acked: Vec<Op> = Vec::new();
    let mut in_flight: Option<String> = None;
    let deadline = Instant::now() + Duration::from_secs(120);
    // A random extra delay after the N-th ack, so the kill lands anywhere in a step.
    let extra_us = rand::random::<u64>() % 3000;
    let mut kill_at: Option<Instant> = None;
    loop {
        if kill_at.is_some_and(|t| Instant::now() >= t) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "child too slow: {} acks",
            acked.len()
        );
        let Ok(line) = rx.recv_timeout(Duration::from_micros(200)) else {
            continue;
        };
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["SEND", ..] => in_flight = Some(line.clone()),
            ["ACK", "UNDO", id, l] => {
                acked.push(Op::Undo(id.parse().unwrap(), l.parse().unwrap()));
                in_flight = None;
            }
            ["ACK", "NOTHING"] => {
                acked.push(Op::Nothing);
                in_flight = None;
            }
            ["ACK", id, l] => {
                acked.push(Op::Label(id.parse().unwrap(), l.parse().unwrap()));
                in_flight = None;
            }
            _ => continue,
        }
        if acked.len() == acks_before_kill && kill_at.is_none() {
            kill_at = Some(Instant::now() + Duration::from_micros(extra_us));
        }
    }
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    // Lines printed before the kill that we had not read yet.
    while let Ok(line) = rx.try_recv() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["SEND", ..] => in_flight = Some(line.clone()),
            ["ACK", "UNDO", id, l] => {
                acked.push(Op::Undo(id.parse().unwrap(), l.parse().unwrap()));
                in_flight = None;
            }
            ["ACK", "NOTHING"] => {
                acked.push(Op::Nothing);
                in_flight = None;
            }
            ["ACK", id, l] => {
                acked.push(Op::Label(id.parse().unwrap(), l.parse().unwrap()));
                in_flight = None;
            }
            _ => {}
        }
    }
    assert!(acked.len() >= acks_before_kill);

    // Reopen the store as a new process would.
    let store = labels::open(&s).unwrap();
    let events = store.events(0).await.unwrap();
    let committed: Vec<&Op> = acked.iter().filter(|o| **o != Op::Nothing).collect();
    assert!(
        events.len() == committed.len()
            || (in_flight.is_some() && events.len() == committed.len() + 1),
        "{} events for {} acknowledged ops (in flight: {in_flight:?})",
        events.len(),
        committed.len()
    );
    for (e, op) in events.iter().zip(&committed) {
        let got = match e.event.kind {
            EventKind::Label => Op::Label(e.event.text_id, e.event.label),
            EventKind::Undo => Op::Undo(e.event.text_id, e.event.label),
        };
        assert_eq!(
            &got, *op,
            "event {} differs from what was acknowledged",
            e.seq
        );
    }
    if events.len() > committed.len() {
        // The one in flight made it to disk before the kill: it is the one that was sent.
        let extra = events.last().unwrap();
        let sent = in_flight.clone().unwrap();
        if sent == "SEND UNDO" {
            assert_eq!(extra.event.kind, EventKind::Undo);
        } else {
            assert_eq!(
                sent,
                format!("SEND {} {}", extra.event.text_id, extra.event.label)
            );
        }
    }
    // The label columns / folded state agree with the event log.
    let folded = fold(&events);
    let stored = store.stored_labels(0).await.unwrap();
    for (id, l) in &folded {
        assert_eq!(
            stored.get(id).copied().unwrap_or(-1),
            *l,
            "stored label of {id}"
        );
    }
    assert!(stored
        .iter()
        .all(|(id, l)| folded.get(id) == Some(l) || *l == -1));
    let labelled = folded.values().filter(|l| **l != -1).count();
    eprintln!(
        "killed after {} acknowledged ops ({} events on disk, in flight: {in_flight:?}); {labelled} texts labelled",
        acked.len(),
        events.len()
    );

    // Restart: a new app + worker resumes from exactly these labels.
    let sup = ssp_tui::pipeline::build_supervisor(&s).unwrap();
    let mut app = App::new(sup);
    let mut link = worker::spawn_for(&s);
    app.label.connect(link.commands.clone());
    wait_ready(&mut app, &mut link, T).await;
    assert_eq!(app.label.snapshot.hand_total, labelled);
    assert!(
        app.label.snapshot.head.iter().all(|q| q.label == -1),
        "labelled texts are not offered again"
    );
    // And it can carry on labelling where the child stopped.
    app.focus = PaneId::Label;
    app.handle_key(key('1'));
    assert!(matches!(
        pump_reply(&mut app, &mut link, T).await,
        LabelReply::Committed { .. }
    ));
    assert_eq!(store.events(0).await.unwrap().len(), events.len() + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_labels_survive_sigkill() {
    for n in [25, 40] {
        kill_and_check(Vec::new(), n).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_labels_survive_sigkill() {
    let Some(extra) = pg_extra("postgres_labels_survive_sigkill") else {
        return;
    };
    kill_and_check(extra, 30).await;
}
