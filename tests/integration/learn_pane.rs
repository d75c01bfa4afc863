//! The Label pane through the app's key handling, against a real labelling worker and store:
//! label keys from config, skip, note, order, undo (which restores the previous state in the
//! store, embedded and PostgreSQL), and render tests on a fixed-size screen.

use crate::learn_common;

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::KeyCode;
use learn_common::*;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use ssp_tui::config::Settings;
use ssp_tui::learn::labels::{self, LabelStore};
use ssp_tui::learn::worker::{self, LabelLink, LabelReply};
use ssp_tui::learn::QueueOrder;
use ssp_tui::tui::action::PaneId;
use ssp_tui::tui::app::App;
use ssp_tui::tui::input::InputKind;

const T: Duration = Duration::from_secs(20);

struct Rig {
    _tmp: tempfile::TempDir,
    settings: Settings,
    store: Arc<dyn LabelStore>,
    app: App,
    link: LabelLink,
}

async fn rig(extra: Vec<(String, String)>) -> Rig {
    let tmp = tempfile::tempdir().unwrap();
    let settings = settings(tmp.path(), &extra);
    let store = labels::open(&settings).unwrap();
    create_dataset(&settings, &store, 0, 400).await;
    let sup = ssp_tui::pipeline::build_supervisor(&settings).unwrap();
    let mut app = App::new(sup);
    let mut link = worker::spawn(&settings, labels::open(&settings).unwrap());
    app.label.connect(link.commands.clone());
    app.focus = PaneId::Label;
    wait_ready(&mut app, &mut link, T).await;
    Rig {
        _tmp: tmp,
        settings,
        store,
        app,
        link,
    }
}

fn screen(app: &mut App, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| ssp_tui::tui::ui::draw(f, app)).unwrap();
    let buf = term.backend().buffer().clone();
    (0..h)
        .map(|y| {
            (0..w)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_keys_skip_note_and_order() {
    let mut r = rig(Vec::new()).await;
    let first = r.app.label.current.clone().unwrap();
    // `1` labels the tweet AI; the pane waits for the commit, then shows the next one.
    r.app.handle_key(key('1'));
    assert!(r.app.label.pending.is_some(), "pending until committed");
    assert_eq!(r.app.label.current.as_ref().unwrap().text_id, first.text_id);
    // A second key while saving is refused (no double label).
    r.app.handle_key(key('0'));
    assert!(r
        .app
        .message
        .as_ref()
        .unwrap()
        .text
        .contains("still saving"));
    match pump_reply(&mut r.app, &mut r.link, T).await {
        LabelReply::Committed { event, .. } => {
            assert_eq!((event.event.text_id, event.event.label), (first.text_id, 1));
            assert_eq!(event.event.who, "tester");
        }
        other => panic!("{other:?}"),
    }
    let second = r.app.label.current.clone().unwrap();
    assert_ne!(second.text_id, first.text_id);
    assert!(r.app.label.pending.is_none());
    assert_eq!(
        r.store.stored_labels(0).await.unwrap().get(&first.text_id),
        Some(&1)
    );

    // Space skips: next tweet, nothing stored.
    r.app.handle_key(key(' '));
    let third = r.app.label.current.clone().unwrap();
    assert_ne!(third.text_id, second.text_id);
    settle(&mut r.app, &mut r.link).await;
    assert!(!r
        .store
        .stored_labels(0)
        .await
        .unwrap()
        .contains_key(&second.text_id));

    // n opens the note line (tui-textarea); Enter keeps the note for the next label.
    r.app.handle_key(key('n'));
    assert_eq!(r.app.input.as_ref().map(|i| i.kind), Some(InputKind::Note));
    for c in "sarcasm?".chars() {
        r.app.handle_key(key(c));
    }
    r.app.handle_key(code(KeyCode::Enter));
    assert!(r.app.input.is_none());
    assert_eq!(r.app.label.note.as_deref(), Some("sarcasm?"));
    let noted = r.app.label.current.clone().unwrap();
    r.app.handle_key(key('0'));
    pump_reply(&mut r.app, &mut r.link, T).await;
    let events = r.store.events(0).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!((last.event.text_id, last.event.label), (noted.text_id, 0));
    assert_eq!(last.event.note.as_deref(), Some("sarcasm?"));
    assert_eq!(r.app.label.note, None, "the note went with that label");

    // o cycles the queue order.
    assert_eq!(r.app.label.snapshot.order, QueueOrder::Uncertainty);
    r.app.handle_key(key('o'));
    // Snapshots published before the worker saw `o` may still arrive first.
    let deadline = std::time::Instant::now() + T;
    while r.app.label.snapshot.order != QueueOrder::Random && std::time::Instant::now() < deadline {
        pump_snapshot(&mut r.app, &mut r.link, T).await;
    }
    assert_eq!(r.app.label.snapshot.order, QueueOrder::Random);
    assert!(r.app.message.as_ref().unwrap().text.contains("random"));

    // Other keys of other panes do nothing here; labels of the pane stay in order.
    assert_eq!(r.app.label.labelled_here, 2);
    assert_eq!(r.store.events(0).await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_keys_come_from_config() {
    let mut r = rig(pairs(&[
        ("SSP__LEARN__LABELS", "YES=1, NO=0"),
        ("SSP__LEARN__KEYS", "y, x"),
        ("SSP__LEARN__POSITIVE", "YES"),
        // y copies by default: the key map refuses it as a label key until copy moves.
        ("SSP__KEYS__COPY", "c"),
    ]))
    .await;
    let label_keys: Vec<char> = r.settings.learn.labels.iter().map(|l| l.key).collect();
    assert!(ssp_tui::tui::keymap::Keymap::new(&r.settings.keys, &label_keys).is_ok());
    let first = r.app.label.current.clone().unwrap();
    r.app.handle_key(key('1'));
    assert!(r.app.label.pending.is_none(), "1 is not a label key here");
    r.app.handle_key(key('x'));
    match pump_reply(&mut r.app, &mut r.link, T).await {
        LabelReply::Committed { event, .. } => {
            assert_eq!((event.event.text_id, event.event.label), (first.text_id, 0))
        }
        other => panic!("{other:?}"),
    }
    let s = screen(&mut r.app, 160, 50);
    assert!(
        s.contains(" y  YES") && s.contains(" x  NO"),
        "footer lists the configured keys:\n{s}"
    );
    r.app.handle_key(key('?'));
    let help = screen(&mut r.app, 160, 60);
    assert!(
        help.contains("label YES (YES = 1)"),
        "help lists the configured keys:\n{help}"
    );
    assert_eq!(r.settings.learn.label_for_key('y'), Some(1));
}

async fn undo_restores_the_previous_state(extra: Vec<(String, String)>) {
    let mut r = rig(extra).await;
    let x = r.app.label.current.clone().unwrap();
    r.app.handle_key(key('1'));
    pump_reply(&mut r.app, &mut r.link, T).await;
    assert_eq!(
        r.store.stored_labels(0).await.unwrap().get(&x.text_id),
        Some(&1)
    );
    // u: X's label is taken back in the store, and X is on screen again.
    r.app.handle_key(key('u'));
    match pump_reply(&mut r.app, &mut r.link, T).await {
        LabelReply::Undone { event, item } => {
            assert_eq!(item.text_id, x.text_id);
            assert_eq!((event.event.label, event.event.prev_label), (-1, 1));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.app.label.current.as_ref().unwrap().text_id, x.text_id);
    let stored = r.store.stored_labels(0).await.unwrap();
    assert!(
        stored.get(&x.text_id).is_none_or(|l| *l == -1),
        "{stored:?}"
    );
    // Label X the other way, then Y; undo twice: Y then X go back to unlabelled.
    r.app.handle_key(key('0'));
    pump_reply(&mut r.app, &mut r.link, T).await;
    let y = r.app.label.current.clone().unwrap();
    r.app.handle_key(key('1'));
    pump_reply(&mut r.app, &mut r.link, T).await;
    let stored = r.store.stored_labels(0).await.unwrap();
    assert_eq!(
        (stored.get(&x.text_id), stored.get(&y.text_id)),
        (Some(&0), Some(&1))
    );
    r.app.handle_key(key('u'));
    pump_reply(&mut r.app, &mut r.link, T).await;
    let stored = r.store.stored_labels(0).await.unwrap();
    assert_eq!(stored.get(&x.text_id), Some(&0));
    assert!(stored.get(&y.text_id).is_none_or(|l| *l == -1));
    assert_eq!(r.app.label.current.as_ref().unwrap().text_id, y.text_id);
    r.app.handle_key(key('u'));
    pump_reply(&mut r.app, &mut r.link, T).await;
    let stored = r.store.stored_labels(0).await.unwrap();
    assert!(
        stored.values().all(|l| *l == -1),
        "everything undone: {stored:?}"
    );
    // Nothing left to undo.
    r.app.handle_key(key('u'));
    assert_eq!(
        pump_reply(&mut r.app, &mut r.link, T).await,
        LabelReply::NothingToUndo
    );
    // The event log holds all of it, in order.
    let kinds: Vec<(String, i32)> = r
        .store
        .events(0)
        .await
        .unwrap()
        .iter()
        .map(|e| (e.event.kind.name().to_string(), e.event.label))
        .collect();
    assert_eq!(
        kinds,
        [
            ("label", 1),
            ("undo", -1),
            ("label", 0),
            ("label", 1),
            ("undo", -1),
            ("undo", -1)
        ]
        .map(|(k, l)| (k.to_string(), l))
    );
    // The worker agrees after the undos: nothing counted as labelled.
    settle(&mut r.app, &mut r.link).await;
    assert_eq!(r.app.label.snapshot.hand_total, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_undo_restores_the_previous_state() {
    undo_restores_the_previous_state(Vec::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_undo_restores_the_previous_state() {
    let Some(extra) = pg_extra("postgres_undo_restores") else {
        return;
    };
    undo_restores_the_previous_state(extra).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renders_the_tweet_probability_lfs_keys_and_progress() {
    let mut r = rig(Vec::new()).await;
    r.app.handle_key(key('1'));
    pump_reply(&mut r.app, &mut r.link, T).await;
    pump_snapshot(&mut r.app, &mut r.link, T).await;
    let cur = r.app.label.current.clone().unwrap();
    // Zoomed: the whole pane.
    r.app.zoom = true;
    let s = screen(&mut r.app, 120, 40);
    assert!(s.contains("Label · v0 · uncertainty"), "{s}");
    let head: String = cur.text.chars().take(30).collect();
    assert!(s.contains(&head), "the tweet text is shown:\n{s}");
    assert!(s.contains(&format!("#{}", cur.text_id)), "{s}");
    assert!(
        s.contains("model p(AI)") && s.contains("weak label:") && s.contains("LFs fired:"),
        "{s}"
    );
    assert!(
        s.contains(" 1  AI")
            && s.contains(" 0  OTHER")
            && s.contains("Space")
            && s.contains("undo"),
        "{s}"
    );
    assert!(s.contains("labelled 1"), "{s}");
    assert!(s.contains("dev (n="), "{s}");
    assert!(s.contains("model dev acc"), "{s}");
    assert!(
        s.contains("labelling function") && s.contains("is_ai_tweet"),
        "LF summary:\n{s}"
    );
    assert!(s.contains("saved #"), "last outcome:\n{s}");
    // Not zoomed, on a wide screen: the pane's title is there with the others.
    r.app.zoom = false;
    let s = screen(&mut r.app, 160, 48);
    assert!(
        s.contains("Label") && s.contains("Feed") && s.contains("Stages"),
        "{s}"
    );
    // Saving state in the title.
    r.app.handle_key(key('0'));
    r.app.zoom = true;
    let s = screen(&mut r.app, 120, 40);
    assert!(s.contains("saving…"), "{s}");
    pump_reply(&mut r.app, &mut r.link, T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_dataset_the_pane_says_how_to_collect_one() {
    let tmp = tempfile::tempdir().unwrap();
    let settings = settings(tmp.path(), &[]);
    let sup = ssp_tui::pipeline::build_supervisor(&settings).unwrap();
    let mut app = App::new(sup);
    let mut link = worker::spawn_for(&settings);
    app.label.connect(link.commands.clone());
    app.focus = PaneId::Label;
    app.zoom = true;
    let ok = {
        let deadline = std::time::Instant::now() + T;
        loop {
            apply_snapshot(&mut app, &mut link);
            if app.label.snapshot.state == ssp_tui::learn::worker::WorkerState::NoDataset {
                break true;
            }
            if std::time::Instant::now() > deadline {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    assert!(ok);
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("No dataset yet") && s.contains("collect"), "{s}");
    // A label key without a tweet: an error in the footer, nothing sent.
    app.handle_key(key('1'));
    assert!(app.message.as_ref().unwrap().text.contains("no tweet"));
}

/// `v` lists the last decisions; Enter on one shows its tweet again and a label key changes
/// its label, with the tweet that was on screen coming next. Each label carries what the pane
/// showed: the model's probability and the tweet id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_relabels_an_earlier_decision() {
    let mut r = rig(Vec::new()).await;
    let mut shown = Vec::new();
    for k in ['1', '0', '1'] {
        let cur = r.app.label.current.clone().unwrap();
        r.app.handle_key(key(k));
        match pump_reply(&mut r.app, &mut r.link, T).await {
            LabelReply::Committed { event, .. } => {
                assert_eq!(event.event.text_id, cur.text_id);
                assert_eq!(event.event.provenance.probability, Some(cur.p));
                assert!(!event.event.provenance.event_id.is_empty());
                assert!(!event.event.provenance.tweet_id.is_empty());
            }
            other => panic!("{other:?}"),
        }
        shown.push(cur);
    }
    // The snapshot with all three decisions.
    let deadline = std::time::Instant::now() + T;
    while r.app.label.snapshot.review.len() < 3 && std::time::Instant::now() < deadline {
        pump_snapshot(&mut r.app, &mut r.link, T).await;
    }
    let on_screen = r.app.label.current.clone().unwrap();
    r.app.handle_key(key('v'));
    let screen_text = screen(&mut r.app, 120, 30);
    assert!(screen_text.contains("last 3 decisions"), "{screen_text}");
    // Newest first: the second decision is one down.
    r.app.handle_key(code(KeyCode::Down));
    r.app.handle_key(code(KeyCode::Enter));
    assert_eq!(r.app.label.review, None, "Enter closes the list");
    let again = r.app.label.current.clone().unwrap();
    assert_eq!(again.text_id, shown[1].text_id);
    assert_eq!(again.label, 0, "shown with its current label");
    r.app.handle_key(key('1'));
    match pump_reply(&mut r.app, &mut r.link, T).await {
        LabelReply::Committed { event, .. } => {
            assert_eq!(
                (event.event.text_id, event.event.label),
                (shown[1].text_id, 1)
            );
            assert_eq!(event.event.prev_label, 0);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        r.store
            .stored_labels(0)
            .await
            .unwrap()
            .get(&shown[1].text_id),
        Some(&1)
    );
    assert_eq!(
        r.app.label.current.as_ref().map(|c| c.text_id),
        Some(on_screen.text_id),
        "the tweet that was on screen comes next"
    );
    // Esc closes an open list without a change.
    r.app.handle_key(key('v'));
    assert!(r.app.label.review.is_some());
    r.app.handle_key(code(KeyCode::Esc));
    assert_eq!(r.app.label.review, None);
    assert_eq!(r.store.events(0).await.unwrap().len(), 4);
}

/// Applies snapshots until the pane shows dataset `v` (a new session's generation numbers
/// start again, so `pump_snapshot` cannot tell it is newer).
async fn wait_version(r: &mut Rig, v: u32) {
    let deadline = std::time::Instant::now() + T;
    while r.app.label.snapshot.version != Some(v) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        apply_snapshot(&mut r.app, &mut r.link);
    }
}

/// A new version does not take the labels with it: the pane follows it and lists every
/// version with its labelled count; `:dataset 0` goes back to the labels of v0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_are_listed_with_their_counts_and_picked_by_number() {
    let mut r = rig(Vec::new()).await;
    for k in ['1', '0'] {
        r.app.handle_key(key(k));
        pump_reply(&mut r.app, &mut r.link, T).await;
    }
    create_dataset(&r.settings, &r.store, 1, 300).await;
    wait_version(&mut r, 1).await;
    assert_eq!(r.app.label.snapshot.version, Some(1), "follows the newest");
    assert_eq!(r.app.label.snapshot.versions, vec![(0, 2), (1, 0)]);
    r.app.handle_key(key('z'));
    let text = screen(&mut r.app, 140, 40);
    r.app.handle_key(key('z'));
    assert!(
        text.contains("labelled per dataset version: v0 2 · ▶v1 0"),
        "{text}"
    );
    let type_line = |app: &mut App, line: &str| {
        app.handle_key(key(':'));
        for c in line.chars() {
            app.handle_key(key(c));
        }
        app.handle_key(code(KeyCode::Enter));
    };
    type_line(&mut r.app, "dataset");
    let said = r.app.message.as_ref().unwrap().text.clone();
    assert!(said.contains("v0 2 labelled · ▶v1 0 labelled"), "{said}");
    type_line(&mut r.app, "dataset 0");
    wait_version(&mut r, 0).await;
    assert_eq!(r.app.label.snapshot.version, Some(0));
    assert_eq!(r.app.label.snapshot.hand_total, 2, "v0's labels are back");
    assert_eq!(r.app.label.snapshot.versions, vec![(0, 2), (1, 0)]);
}
