//! The Trending pane drawn (ratatui `TestBackend`) from a store holding known counts: the
//! embedded store always, PostgreSQL when `SSP_TEST_PG_URL` is set (required under CI).

use crate::trending_support;

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use ssp_tui::config::Settings;
use ssp_tui::store::{self, TagDelta, TrendingBatch, TrendingMeta};
use ssp_tui::trending::watch::watch_top;
use ssp_tui::trending::{TrendingView, WindowSpec};
use ssp_tui::tui::action::PaneId;
use tokio_util::sync::CancellationToken;
use trending_support::*;

/// #AI 30 (spelled AI 20 times, ai 10), #Rust 20, #go 5 all-time; in the window: #go 5 and
/// #Rust 2 (the rest is older than the window).
async fn fill(s: &Settings) {
    let st = store::open(s).unwrap();
    let t = st.trending();
    t.migrate().await.unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let spec = WindowSpec::new(s.trending.window);
    let bucket = now.div_euclid(spec.bucket_ms) * spec.bucket_ms;
    let tag = |k: &str, sp: &[(&str, u64)]| TagDelta {
        key: k.into(),
        count: sp.iter().map(|(_, n)| n).sum(),
        spellings: sp.iter().map(|(s, n)| (s.to_string(), *n)).collect(),
    };
    let batch = TrendingBatch {
        id: 42,
        base_seq: 0,
        meta: TrendingMeta {
            rule: "twitter".into(),
            input: "lake".into(),
        },
        tags: vec![
            tag("#ai", &[("#AI", 20), ("#ai", 10)]),
            tag("#rust", &[("#Rust", 20)]),
            tag("#go", &[("#go", 5)]),
        ],
        buckets: vec![(bucket, "#go".into(), 5), (bucket, "#rust".into(), 2)],
        window_cutoff_ms: spec.cutoff(now),
        window: vec![("#go".into(), 5), ("#rust".into(), 2)],
        lake_version: Some(1),
        bus: String::new(),
        offsets: Vec::new(),
        tweets: 40,
        occurrences: 55,
        now_ms: now,
    };
    t.commit(&batch).await.unwrap();
}

/// One reading through the pane's own collector.
async fn read_view(s: &Settings) -> TrendingView {
    let (tx, mut rx) = tokio::sync::watch::channel(None);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(watch_top(
        s.clone(),
        tx,
        Duration::from_millis(100),
        cancel.clone(),
    ));
    let view = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            rx.changed().await.unwrap();
            if let Some(v) = rx.borrow_and_update().clone() {
                return v;
            }
        }
    })
    .await
    .expect("a reading");
    cancel.cancel();
    let _ = task.await;
    view
}

fn screen(view: Option<&TrendingView>, window: bool, w: u16, h: u16) -> Vec<String> {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| {
        ssp_tui::tui::panes::trending::render(f, f.area(), view, window, true);
    })
    .unwrap();
    let buf = term.backend().buffer().clone();
    (0..h)
        .map(|y| {
            (0..w)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect()
}

fn row_of(lines: &[String], needle: &str) -> usize {
    lines
        .iter()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not on screen:\n{}", lines.join("\n")))
}

fn check(view: &TrendingView) {
    assert_eq!(view.error, None);
    let lines = screen(Some(view), false, 70, 12);
    let text = lines.join("\n");
    assert!(lines[0].contains("Trending · all time"), "{text}");
    let (ai, rust, go) = (
        row_of(&lines, "#AI "),
        row_of(&lines, "#Rust "),
        row_of(&lines, "#go "),
    );
    assert!(ai < rust && rust < go, "ordered by count:\n{text}");
    assert!(
        lines[ai]
            .trim_end()
            .trim_end_matches('┃')
            .trim_end()
            .ends_with("30"),
        "{text}"
    );
    assert!(lines[rust].contains(" 20"), "{text}");
    assert!(lines[go].contains(" 5"), "{text}");
    let bar = |l: &str| l.matches('█').count();
    assert!(
        bar(&lines[ai]) > bar(&lines[rust]) && bar(&lines[rust]) > bar(&lines[go]),
        "{text}"
    );
    assert!(text.contains("3 tags"), "{text}");
    assert!(text.contains("updated "), "{text}");
    assert!(
        !text.contains("#ai "),
        "the display form is the most frequent spelling:\n{text}"
    );

    let lines = screen(Some(view), true, 70, 12);
    let text = lines.join("\n");
    assert!(lines[0].contains("Trending · last 15m"), "{text}");
    let (go, rust) = (row_of(&lines, "#go "), row_of(&lines, "#Rust "));
    assert!(go < rust, "{text}");
    assert!(lines[rust].contains(" 2"), "{text}");
    assert!(!text.contains("#AI"), "#AI is outside the window:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pane_from_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&[("SSP__LAKE__ROOT", dir.path().display().to_string())]);
    let empty = read_view(&s).await;
    let text = screen(Some(&empty), false, 70, 8).join("\n");
    assert!(text.contains("no hashtags counted yet"), "{text}");
    fill(&s).await;
    check(&read_view(&s).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pane_from_postgres_store() {
    let Some(url) = pg_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let schema = fresh_schema();
    let s = settings(&[
        ("SSP__PIPELINE__STORE", "postgres".into()),
        ("SSP__POSTGRESQL__URL", url.clone()),
        ("SSP__POSTGRESQL__SCHEMA", schema.clone()),
        ("SSP__LAKE__ROOT", dir.path().display().to_string()),
    ]);
    // Before the stage ever ran: no tables yet, an empty chart (not an error).
    let empty = read_view(&s).await;
    assert_eq!(empty.error, None);
    assert!(empty.top.all_time.is_empty());
    fill(&s).await;
    let view = read_view(&s).await;
    assert!(
        view.store.starts_with("postgres ") && !view.store.contains(":ssp@"),
        "{}",
        view.store
    );
    check(&view);
    drop_schema(&url, &schema).await;

    // Database unreachable: the pane says so in red, with the error.
    let bad = settings(&[
        ("SSP__PIPELINE__STORE", "postgres".into()),
        (
            "SSP__POSTGRESQL__URL",
            "postgres://u:secret-pw@127.0.0.1:1/db".into(),
        ),
    ]);
    let v = read_view(&bad).await;
    let err = v.error.clone().expect("an error");
    assert!(!err.contains("secret-pw"), "{err}");
    let text = screen(Some(&v), false, 90, 8).join("\n");
    assert!(
        text.contains("store: PostgreSQL u@127.0.0.1:1/db"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn w_toggles_the_window_in_the_app() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&[("SSP__LAKE__ROOT", dir.path().display().to_string())]);
    fill(&s).await;
    let view = read_view(&s).await;
    let sup = ssp_tui::pipeline::build_supervisor(&s).unwrap();
    let mut app = ssp_tui::tui::app::App::new(sup);
    app.trending = Some(view);
    assert!(app.panes.contains(&PaneId::Trending));
    while app.focus != PaneId::Trending {
        app.handle_key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE));
    }
    let draw = |app: &mut ssp_tui::tui::app::App| {
        let mut term = Terminal::new(TestBackend::new(160, 48)).unwrap();
        term.draw(|f| ssp_tui::tui::ui::draw(f, app)).unwrap();
        let buf = term.backend().buffer().clone();
        (0..48)
            .map(|y| {
                (0..160)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let text = draw(&mut app);
    assert!(text.contains("Trending · all time"), "{text}");
    assert!(
        text.contains("all time / window"),
        "key hint in the footer:\n{text}"
    );
    app.handle_key(KeyEvent::new(KeyCode::Char('w'), KeyModifiers::NONE));
    assert!(app.trending_window);
    let text = draw(&mut app);
    assert!(text.contains("Trending · last 15m"), "{text}");
}
