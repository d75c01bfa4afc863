//! Label events carry a client-generated id: an append retried after its commit reply was
//! lost stores one event. PostgreSQL is reached through a TCP proxy on loopback that cuts the
//! connection right after the server's `COMMIT` reply passes it (the commit done, the client
//! never told), the way a dropped network path would.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::learn_common::*;
use ssp_tui::learn::dataset::Dataset;
use ssp_tui::learn::labels::{self, EventKind, LabelStore, NewEvent, Provenance};

/// Forwards loopback connections to `upstream`; while `armed`, the first server reply holding
/// a `COMMIT` command tag closes that connection instead of reaching the client.
async fn lossy_proxy(
    upstream: SocketAddr,
    armed: Arc<AtomicBool>,
    cut: Arc<AtomicUsize>,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(upstream).await else {
                continue;
            };
            let (armed, cut) = (armed.clone(), cut.clone());
            tokio::spawn(async move {
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = tokio::spawn(async move { tokio::io::copy(&mut cr, &mut sw).await });
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match sr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let commit_reply = buf[..n].windows(7).any(|w| w == b"COMMIT\0");
                    if commit_reply && armed.swap(false, Ordering::SeqCst) {
                        cut.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                up.abort();
            });
        }
    });
    addr
}

fn label_event(ds: &Dataset, id: &str) -> NewEvent {
    let row = &ds.rows[3];
    NewEvent {
        version: ds.version,
        text_id: row.text_id,
        split: row.split,
        kind: EventKind::Label,
        label: 1,
        prev_label: -1,
        undoes: None,
        who: "tester".into(),
        at_ms: 1_700_000_000_000,
        note: None,
        provenance: Provenance {
            event_id: id.into(),
            tweet_id: row.tweet_id.clone(),
            source: "bronze v0..v4".into(),
            model_version: 7,
            probability: Some(0.42),
        },
    }
}

#[tokio::test]
async fn postgres_append_whose_commit_reply_is_lost_stores_one_event() {
    let Some(mut extra) = pg_extra("postgres_append_whose_commit_reply_is_lost") else {
        return;
    };
    let (armed, cut) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    for (k, v) in extra.iter_mut() {
        if k == "SSP__POSTGRESQL__URL" {
            let mut url = url::Url::parse(v).unwrap();
            let upstream: SocketAddr =
                format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432))
                    .parse()
                    .unwrap();
            let proxy = lossy_proxy(upstream, armed.clone(), cut.clone()).await;
            url.set_port(Some(proxy.port())).unwrap();
            *v = url.to_string();
        }
    }
    // Plain text, so the proxy can find the COMMIT answer it cuts.
    extra.push(("SSP__POSTGRESQL__SSLMODE".into(), "disable".into()));
    let tmp = tempfile::tempdir().unwrap();
    let s = settings(tmp.path(), &extra);
    let store: Arc<dyn LabelStore> = labels::open(&s).unwrap();
    let ds = create_dataset(&s, &store, 0, 200).await;

    armed.store(true, Ordering::SeqCst);
    let ev = label_event(&ds, "6f1c1d9e-lost-reply");
    let stored = labels::append_retrying(store.as_ref(), ev.clone())
        .await
        .expect("the retry succeeds");
    assert_eq!(
        cut.load(Ordering::SeqCst),
        1,
        "the proxy cut one COMMIT reply"
    );
    let events = store.events(0).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.event.provenance.event_id == "6f1c1d9e-lost-reply")
            .count(),
        1,
        "{events:?}"
    );
    assert_eq!(events.len(), 1);
    assert_eq!(stored.seq, events[0].seq);
    assert_eq!(
        events[0].event.provenance, ev.provenance,
        "provenance read back"
    );
    let labels = store.stored_labels(0).await.unwrap();
    assert_eq!(labels.get(&ds.rows[3].text_id), Some(&1));
}

async fn same_id_twice_is_one_event(extra: Vec<(String, String)>) {
    let tmp = tempfile::tempdir().unwrap();
    let s = settings(tmp.path(), &extra);
    let store: Arc<dyn LabelStore> = labels::open(&s).unwrap();
    let ds = create_dataset(&s, &store, 0, 200).await;
    let a = store.append(label_event(&ds, "id-1")).await.unwrap();
    let b = store.append(label_event(&ds, "id-1")).await.unwrap();
    let c = store.append(label_event(&ds, "id-2")).await.unwrap();
    assert_eq!(a.seq, b.seq);
    assert_ne!(a.seq, c.seq);
    // Reopened: the same two events, with their provenance.
    drop(store);
    let store = labels::open(&s).unwrap();
    let events = store.events(0).await.unwrap();
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e.event.provenance.event_id.as_str())
        .collect();
    assert_eq!(ids, ["id-1", "id-2"]);
    assert_eq!(events[0].event.provenance.probability, Some(0.42));
    assert_eq!(events[0].event.provenance.tweet_id, ds.rows[3].tweet_id);
}

#[tokio::test]
async fn embedded_same_event_id_twice_is_one_event() {
    same_id_twice_is_one_event(Vec::new()).await;
}

#[tokio::test]
async fn postgres_same_event_id_twice_is_one_event() {
    let Some(extra) = pg_extra("postgres_same_event_id_twice") else {
        return;
    };
    same_id_twice_is_one_event(extra).await;
}
