//! Datasets: exact split sizes, no text in two splits, versions never overwritten (embedded
//! and PostgreSQL), and `dataset export` files that read back equal.

use crate::common;
use crate::learn_common;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use learn_common::*;
use ssp_tui::learn::dataset::{self, RawTweet, Split, SplitSpec};
use ssp_tui::learn::labels::{self, EventKind, LabelStore, LabelStoreError, NewEvent, Provenance};

fn raw_with_duplicates() -> Vec<RawTweet> {
    let mut raw = synthetic_raw(700, 3);
    // Retweets and re-posts: the same text again (also with extra spaces), and empty texts.
    for i in 0..150 {
        let mut t = raw[i * 3].clone();
        t.tweet_id = format!("dup{i}");
        if i % 2 == 0 {
            t.text = format!("  {}  ", t.text);
        }
        raw.push(t);
    }
    raw.push(RawTweet {
        tweet_id: "empty".into(),
        created_at: None,
        author: None,
        text: "   ".into(),
    });
    raw
}

#[test]
fn splits_are_exact_disjoint_and_seeded() {
    let spec = SplitSpec {
        test: 100,
        dev: 50,
        weak_train: 300,
        seed: 42,
    };
    let ds = dataset::build(0, raw_with_duplicates(), spec).unwrap();
    assert_eq!(ds.raw.len(), 851);
    assert_eq!(
        ds.rows.len(),
        700,
        "duplicates (after strip) and empty texts dropped"
    );
    assert_eq!(ds.count(Split::Test), 100);
    assert_eq!(ds.count(Split::Dev), 50);
    assert_eq!(ds.count(Split::WeakTrain), 300);
    assert_eq!(ds.count(Split::Train), 250);
    // text_id: 1..=n in order of first appearance.
    assert!(ds
        .rows
        .iter()
        .enumerate()
        .all(|(i, r)| r.text_id == i as i64 + 1));
    // No text in two splits.
    let mut seen: BTreeMap<&str, Split> = BTreeMap::new();
    for r in &ds.rows {
        if let Some(other) = seen.insert(r.text.as_str(), r.split) {
            panic!("{:?} in {other} and {}", r.text, r.split);
        }
    }
    // The same seed gives the same split; the split is not just the input order.
    assert_eq!(dataset::build(0, raw_with_duplicates(), spec).unwrap(), ds);
    let first_test: Vec<i64> = ds
        .split_rows(Split::Test)
        .map(|r| r.text_id)
        .take(10)
        .collect();
    assert_ne!(first_test, (1..=10).collect::<Vec<_>>());
    // Too few unique texts for the fixed splits: an error that says so.
    let e = dataset::build(0, synthetic_raw(100, 1), spec).unwrap_err();
    assert!(e.to_string().contains("only 100 unique texts"), "{e}");
}

/// Every file under `dir` (the version's Delta tables included) by relative path.
fn file_bytes(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// Another engine (Python `deltalake`) reads every table of a version, row for row.
fn python_reads_version(lake: &Path, ds: &dataset::Dataset) {
    let Some(python) = common::pydelta_python() else {
        return;
    };
    let dir = dataset::version_dir(lake, ds.version);
    let ids = |rows: &[serde_json::Value]| -> Vec<(i64, String)> {
        let mut v: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    r["text_id"].as_i64().expect("text_id"),
                    r["text"].as_str().expect("text").to_string(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let all = common::py_read(&python, &dir.join(dataset::DEDUPLICATED_TABLE));
    let expected: Vec<(i64, String)> = ds
        .rows
        .iter()
        .map(|r| (r.text_id, r.text.clone()))
        .collect();
    assert_eq!(
        ids(&all.rows),
        expected,
        "deduplicated table as Python reads it"
    );
    for split in Split::ALL {
        let t = common::py_read(&python, &dir.join(split.table()));
        let mut want: Vec<_> = ds
            .split_rows(split)
            .map(|r| (r.text_id, r.text.clone()))
            .collect();
        want.sort();
        assert_eq!(ids(&t.rows), want, "{} as Python reads it", split.table());
    }
    let raw = common::py_read(&python, &dir.join(dataset::RAW_TABLE));
    let got: Vec<&str> = raw
        .rows
        .iter()
        .map(|r| r["tweet_id"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = ds.raw.iter().map(|r| r.tweet_id.as_str()).collect();
    assert_eq!(got, want, "raw table in collection order");
}

async fn versions_are_never_overwritten(extra: Vec<(String, String)>) {
    let tmp = tempfile::tempdir().unwrap();
    let s = settings(tmp.path(), &extra);
    let store = labels::open(&s).unwrap();
    let v0 = create_dataset(&s, &store, 0, 400).await;
    let embedded = s.pipeline.store == ssp_tui::config::StoreKind::Embedded;
    let v0_files = embedded.then(|| file_bytes(&dataset::version_dir(&s.lake.root, 0)));
    // A second v0 (other content) fails and changes nothing.
    let other = dataset::build(
        0,
        synthetic_raw(500, 99),
        SplitSpec::from_settings(&s.learn),
    )
    .unwrap();
    let e = store
        .create_version(&other, &vec![-1; other.rows.len()])
        .await
        .unwrap_err();
    assert!(matches!(e, LabelStoreError::Version(_)), "{e:?}");
    assert_eq!(store.load_version(0).await.unwrap().rows, v0.rows);
    if let Some(before) = v0_files {
        assert_eq!(file_bytes(&dataset::version_dir(&s.lake.root, 0)), before);
    }
    // v1 lives next to it.
    let v1 = create_dataset(&s, &store, 1, 450).await;
    assert_eq!(store.versions().await.unwrap(), vec![0, 1]);
    let back0 = store.load_version(0).await.unwrap();
    let back1 = store.load_version(1).await.unwrap();
    assert_eq!(back0.rows, v0.rows);
    assert_eq!(back1.rows, v1.rows);
    assert_eq!(back1.raw, v1.raw);
    assert_eq!(back1.spec, v1.spec);
    if embedded {
        python_reads_version(&s.lake.root, &v1);
    }
    let texts = |d: &dataset::Dataset, sp: Split| {
        d.split_rows(sp)
            .map(|r| r.text.clone())
            .collect::<HashSet<_>>()
    };
    for a in Split::ALL {
        for b in Split::ALL {
            if a != b {
                assert!(
                    texts(&back1, a).is_disjoint(&texts(&back1, b)),
                    "{a} and {b} share a text"
                );
            }
        }
    }
}

#[tokio::test]
async fn embedded_versions_are_never_overwritten() {
    versions_are_never_overwritten(Vec::new()).await;
}

#[tokio::test]
async fn postgres_versions_are_never_overwritten() {
    let Some(extra) = pg_extra("postgres_versions_are_never_overwritten") else {
        return;
    };
    versions_are_never_overwritten(extra).await;
}

async fn export_reads_back_equal(extra: Vec<(String, String)>) {
    let tmp = tempfile::tempdir().unwrap();
    let s = settings(tmp.path(), &extra);
    let store: Arc<dyn LabelStore> = labels::open(&s).unwrap();
    let ds = create_dataset(&s, &store, 0, 400).await;
    // Hand labels on a few texts of each split, one of them undone; every label with the
    // provenance the pane would give it, kept here to compare with the export.
    let mut want: BTreeMap<i64, i32> = BTreeMap::new();
    let mut given: BTreeMap<i64, Provenance> = BTreeMap::new();
    for (k, r) in ds.rows.iter().enumerate().filter(|(k, _)| k % 9 == 0) {
        let label = if oracle(&r.text) { 1 } else { 0 };
        let provenance = Provenance {
            event_id: format!("ev-{k}"),
            tweet_id: r.tweet_id.clone(),
            source: "bronze v3..v9".into(),
            model_version: k as u64,
            probability: Some(k as f32 / 1000.0),
        };
        given.insert(r.text_id, provenance.clone());
        store
            .append(NewEvent {
                version: 0,
                text_id: r.text_id,
                split: r.split,
                kind: EventKind::Label,
                label,
                prev_label: -1,
                undoes: None,
                who: "t".into(),
                at_ms: k as i64,
                note: None,
                provenance,
            })
            .await
            .unwrap();
        want.insert(r.text_id, label);
    }
    let events = store.events(0).await.unwrap();
    let last = events.last().unwrap().clone();
    store
        .append(NewEvent {
            kind: EventKind::Undo,
            label: -1,
            prev_label: last.event.label,
            undoes: Some(last.seq),
            provenance: Provenance {
                event_id: "undo-1".into(),
                ..Default::default()
            },
            ..last.event.clone()
        })
        .await
        .unwrap();
    want.remove(&last.event.text_id);

    let out = tmp.path().join("export");
    let summary = ssp_tui::learn::export::export(&s, None, &out)
        .await
        .unwrap();
    assert_eq!(summary.version, 0);
    let mut all_ids = HashSet::new();
    for (split, rows) in &summary.rows {
        let pq =
            ssp_tui::learn::export::read_parquet(&out.join(format!("{split}.parquet"))).unwrap();
        let jl = ssp_tui::learn::export::read_jsonl(&out.join(format!("{split}.jsonl"))).unwrap();
        assert_eq!(&pq, rows, "{split}.parquet reads back equal");
        assert_eq!(&jl, rows, "{split}.jsonl reads back equal");
        assert_eq!(rows.len(), ds.count(*split));
        for r in rows {
            assert!(
                all_ids.insert(r.text_id),
                "text {} exported twice",
                r.text_id
            );
            assert_eq!(
                r.label,
                want.get(&r.text_id).copied().unwrap_or(-1),
                "label of {}",
                r.text_id
            );
            assert!((0.0..=1.0).contains(&r.probability));
            // Provenance: exactly what was given with the label; none when not labelled.
            match (want.contains_key(&r.text_id), given.get(&r.text_id)) {
                (true, Some(p)) => {
                    assert_eq!(r.event_id.as_deref(), Some(p.event_id.as_str()));
                    assert_eq!(r.tweet_id, p.tweet_id);
                    assert_eq!(r.source.as_deref(), Some("bronze v3..v9"));
                    assert_eq!(r.model_version, Some(p.model_version as i64));
                    assert_eq!(r.label_probability, p.probability);
                    assert_eq!(r.labelled_by.as_deref(), Some("t"));
                    assert!(r.labelled_at_ms.is_some());
                }
                _ => assert_eq!(
                    (&r.event_id, &r.labelled_by, r.label_probability),
                    (&None, &None, None),
                    "text {} has no label",
                    r.text_id
                ),
            }
            assert!([-1, 0, 1].contains(&r.slabel));
            let orig = &ds.rows[(r.text_id - 1) as usize];
            assert_eq!((&orig.text, orig.split), (&r.text, *split));
        }
    }
    assert_eq!(all_ids.len(), ds.rows.len());
    let readme = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(
        readme.contains("| train |") && readme.contains("| dev |") && readme.contains("| test |"),
        "{readme}"
    );
    assert!(readme.contains("is_ai_tweet"), "LF summary in the README");
    assert!(
        readme.contains(&format!("| dev | {} |", ds.count(Split::Dev))),
        "{readme}"
    );
    // An unknown version is refused with the versions that exist.
    let e = ssp_tui::learn::export::export(&s, Some(7), &out)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no dataset version 7"), "{e}");
}

#[tokio::test]
async fn embedded_export_reads_back_equal() {
    export_reads_back_equal(Vec::new()).await;
}

#[tokio::test]
async fn postgres_export_reads_back_equal() {
    let Some(extra) = pg_extra("postgres_export_reads_back_equal") else {
        return;
    };
    export_reads_back_equal(extra).await;
}
