//! NER pane render tests on ratatui's TestBackend: backend label (spacy url vs rules) and
//! health, entities coloured by label, counts, top entities, errors, staleness; its place in
//! the whole screen; and the live path stage -> status file -> collector -> pane.

use crate::ner_common;

use std::time::Duration;

use ner_common::*;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;
use ratatui::Terminal;
use ssp_tui::nlp::Entity;
use ssp_tui::stage::ner::status::NerStatus;
use ssp_tui::stage::ner::status::{LabelTop, LatestTweet};
use ssp_tui::stage::StageState;
use ssp_tui::tui::action::PaneId;
use ssp_tui::tui::app::App;
use ssp_tui::tui::panes::ner::label_color;

fn render(app: &mut App, w: u16, h: u16) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| ssp_tui::tui::ui::draw(f, app)).unwrap();
    t.backend().buffer().clone()
}

fn lines(buf: &Buffer) -> Vec<String> {
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect()
}

/// (x, y) of the first occurrence of `needle` on screen (ASCII needles).
fn find(buf: &Buffer, needle: &str) -> Option<(u16, u16)> {
    for (y, line) in lines(buf).iter().enumerate() {
        let cells: Vec<String> = (0..buf.area.width)
            .map(|x| buf[(x, y as u16)].symbol().to_string())
            .collect();
        let n: Vec<char> = needle.chars().collect();
        for x in 0..cells.len().saturating_sub(n.len() - 1) {
            if n.iter()
                .enumerate()
                .all(|(i, c)| cells[x + i] == c.to_string())
            {
                let _ = line;
                return Some((x as u16, y as u16));
            }
        }
    }
    None
}

fn app(tmp: &std::path::Path) -> App {
    let replay = tmp.join("none.jsonl");
    std::fs::write(&replay, "").unwrap();
    let s = settings(&tmp.join("lake"), &replay, &[]);
    let sup = ssp_tui::pipeline::build_supervisor(&s).unwrap();
    App::new(sup)
}

fn spacy_status() -> NerStatus {
    let now = chrono::Utc::now().timestamp_millis();
    NerStatus {
        updated_ms: now,
        pid: 1,
        running: true,
        backend: "spacy http://127.0.0.1:5000 (ssp)".into(),
        is_model: true,
        healthy: true,
        health: "ready: en_core_web_sm 3.8.0 (spaCy 3.8.18)".into(),
        tweets: 1234,
        tweet_errors: 1,
        requests: 40,
        request_errors: 2,
        retries: 3,
        tweets_per_s: 210.0,
        requests_per_s: 6.5,
        p50_ms: Some(35.0),
        p95_ms: Some(80.0),
        last_error: Some("timeout".into()),
        label_counts: vec![("DATE".into(), 7), ("ORG".into(), 3)],
        window_minutes: 10,
        top: vec![
            LabelTop {
                label: "DATE".into(),
                total: 7,
                entities: vec![("Friday".into(), 3), ("today".into(), 2)],
            },
            LabelTop {
                label: "ORG".into(),
                total: 3,
                entities: vec![("Google".into(), 3)],
            },
        ],
        latest: vec![
            LatestTweet {
                id_str: "2".into(),
                text: "Google hires in Paris".into(),
                entities: vec![
                    Entity::new("Google", "ORG", 0, 6),
                    Entity::unplaced("Sita", "PERSON"),
                ],
                error: None,
            },
            LatestTweet {
                id_str: "1".into(),
                text: "Ram read a book on Friday 20/11/2019".into(),
                entities: vec![Entity::new("Friday", "DATE", 19, 25)],
                error: None,
            },
            LatestTweet {
                id_str: "0".into(),
                text: "this one failed".into(),
                entities: vec![],
                error: Some("timeout after 4 attempts".into()),
            },
        ],
        pending_files: 2,
        silver_files: 5,
        silver_rows: 1233,
    }
}

#[tokio::test]
async fn spacy_backend_health_entities_and_tops() {
    let tmp = tempfile::tempdir().unwrap();
    let mut app = app(tmp.path());
    app.ner = Some(spacy_status());
    app.focus = PaneId::Ner;
    app.zoom = true;
    let buf = render(&mut app, 140, 30);
    let screen = lines(&buf).join("\n");
    for want in [
        " NER · spacy ",
        "backend spacy http://127.0.0.1:5000 (ssp)",
        "ready: en_core_web_sm 3.8.0",
        "210.0 tweets/s",
        "6.5 req/s",
        "p50 35 ms",
        "errors 1 tweets / 2 requests",
        "retries 3",
        "pending 2 files",
        "silver +5 files",
        "DATE 7",
        "ORG 3",
        "top entities, last 10 min",
        "Friday (3), today (2)",
        "Google (3)",
        "Ram read a book on Friday 20/11/2019",
        "[PERSON Sita]",
        "✗ timeout after 4 attempts",
    ] {
        assert!(screen.contains(want), "missing {want:?} in\n{screen}");
    }
    // Entities are coloured by label; the rest of the text is not.
    let (x, y) = find(&buf, "Ram read a book on Friday").unwrap();
    assert_eq!(buf[(x + 19, y)].fg, label_color("DATE"), "Friday is a DATE");
    assert_eq!(buf[(x + 24, y)].fg, label_color("DATE"));
    assert_ne!(buf[(x, y)].fg, label_color("DATE"), "Ram is plain");
    assert_ne!(
        buf[(x + 26, y)].fg,
        label_color("DATE"),
        "the date digits are plain"
    );
    let (gx, gy) = find(&buf, "Google hires").unwrap();
    assert_eq!(buf[(gx, gy)].fg, label_color("ORG"));
    let (bx, by) = find(&buf, "spacy http").unwrap();
    assert_eq!(buf[(bx, by)].fg, Color::Green, "a model backend is green");
    assert_ne!(label_color("DATE"), label_color("ORG"));
}

#[tokio::test]
async fn rules_backend_is_labelled_as_such_and_staleness_shows() {
    let tmp = tempfile::tempdir().unwrap();
    let mut app = app(tmp.path());
    app.focus = PaneId::Ner;
    app.zoom = true;
    let screen = lines(&render(&mut app, 100, 20)).join("\n");
    assert!(screen.contains("no NER status yet"), "{screen}");

    let mut s = spacy_status();
    s.backend = "rules".into();
    s.is_model = false;
    s.health = "rules: built-in tagger, not a model".into();
    app.ner = Some(s.clone());
    let buf = render(&mut app, 100, 20);
    let screen = lines(&buf).join("\n");
    assert!(screen.contains(" NER · rules "), "{screen}");
    assert!(
        screen.contains("rules (built-in tagger, not a model)"),
        "{screen}"
    );
    assert!(
        !screen.contains("req/s"),
        "no HTTP figures for rules: {screen}"
    );
    let (x, y) = find(&buf, "rules (built-in").unwrap();
    assert_eq!(buf[(x, y)].fg, Color::Yellow);

    // A running stage that stopped publishing, then a stage that stopped.
    s.updated_ms -= 61_000;
    app.ner = Some(s.clone());
    let screen = lines(&render(&mut app, 100, 20)).join("\n");
    assert!(screen.contains("no update for 1m0"), "{screen}");
    s.running = false;
    app.ner = Some(s);
    let screen = lines(&render(&mut app, 100, 20)).join("\n");
    assert!(screen.contains("stopped"), "{screen}");
}

#[tokio::test]
async fn ner_pane_in_the_whole_screen_and_by_tab_on_small_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let mut app = app(tmp.path());
    app.ner = Some(spacy_status());
    let screen = lines(&render(&mut app, 160, 48)).join("\n");
    for title in [" Stages ", " Feed ", " Lake ", " Logs", " NER · spacy "] {
        assert!(
            screen.contains(title),
            "{title:?} missing at 160x48:\n{screen}"
        );
    }
    assert!(screen.contains("Friday"), "{screen}");
    // Narrow: not in the layout, but Tab reaches it and it is drawn zoomed.
    for _ in 0..PaneId::ALL.len() {
        if app.focus == PaneId::Ner {
            break;
        }
        app.update(ssp_tui::tui::action::Action::FocusNext);
    }
    assert_eq!(app.focus, PaneId::Ner);
    let screen = lines(&render(&mut app, 80, 24)).join("\n");
    assert!(screen.contains(" NER · spacy "), "{screen}");
    assert!(screen.contains("Ram read a book"), "{screen}");
    for (w, h) in [(40, 10), (60, 15), (200, 60)] {
        render(&mut app, w, h);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_stage_feeds_the_pane_through_the_collector() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let replay = tmp.path().join("tweets.jsonl");
    let mut texts = generated_texts(1, 50);
    texts.push("Ram read a book on Friday 20/11/2019".into());
    write_replay(&replay, 4_000_000, &texts);
    let s = settings(&lake, &replay, &[]);
    let sup = ssp_tui::pipeline::build_supervisor(&s).unwrap();
    let mut app = App::new(sup.clone());
    let mut collectors = ssp_tui::tui::collect::Collectors::spawn(sup.pipeline());
    sup.start("ner").unwrap();
    wait_state(&sup, "ner", StageState::Completed, Duration::from_secs(60)).await;
    let mut got = false;
    for _ in 0..100 {
        if collectors.ner.has_changed().unwrap_or(false) {
            app.ner = collectors.ner.borrow_and_update().clone();
        }
        if app
            .ner
            .as_ref()
            .is_some_and(|s| s.tweets == texts.len() as u64 && !s.running)
        {
            got = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        got,
        "the collector delivered the final status: {:?}",
        app.ner
    );
    app.focus = PaneId::Ner;
    app.zoom = true;
    let buf = render(&mut app, 140, 40);
    let screen = lines(&buf).join("\n");
    assert!(screen.contains(" NER · rules "), "{screen}");
    assert!(screen.contains("Ram read a book on Friday"), "{screen}");
    let (x, y) = find(&buf, "Ram read a book on Friday").unwrap();
    assert_eq!(
        buf[(x, y)].fg,
        label_color("PERSON"),
        "Ram is in the gazetteer"
    );
    assert_eq!(buf[(x + 19, y)].fg, label_color("DATE"));
    sup.shutdown(Duration::from_secs(10)).await;
}
