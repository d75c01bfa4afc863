//! Tests of the bronze writer: rolls, resume points, refused commits and what reads back.

use super::*;
use crate::lake::read::{read_bronze_rows, BronzeRow};
use chrono::TimeZone;

fn tweet(i: usize) -> Tweet {
    let tags = |n: usize, p: &str| (0..n).map(|k| format!("{p}{i}_{k}")).collect::<Vec<_>>();
    Tweet {
        id: (1_000_000_000 + i).to_string(),
        created_at: (!i.is_multiple_of(7)).then(|| {
            Utc.timestamp_millis_opt(1_600_000_000_000 + i as i64)
                .unwrap()
        }),
        author: (!i.is_multiple_of(3)).then(|| format!("user{i}")),
        source: (i.is_multiple_of(2)).then(|| "Twitter for iPhone".to_owned()),
        text: format!("tweet number {i} with some text ✓"),
        urls: tags(i % 3, "https://example.com/"),
        media: tags(i % 2, "https://pbs.example.com/m"),
        hashtags: tags(i % 4, "tag"),
        mentions: tags(i % 5, "who"),
        lang: (!i.is_multiple_of(6)).then(|| "en".to_owned()),
        is_retweet: i.is_multiple_of(4),
    }
}

fn meta(i: usize) -> RecordMeta<'static> {
    RecordMeta {
        topic: "tweets.raw",
        partition: (i % 3) as i32,
        offset: (i / 3) as i64,
        ingest_time: Utc
            .timestamp_millis_opt(1_700_000_000_000 + i as i64)
            .unwrap(),
        bus_time_ms: Some(1_699_999_999_000 + i as i64),
    }
}

fn expected(i: usize) -> BronzeRow {
    let (t, m) = (tweet(i), meta(i));
    BronzeRow {
        id_str: t.id.clone(),
        created_at: t.created_at.map(|c| c.timestamp_millis()),
        author: t.author.clone(),
        source: t.source.clone(),
        hash: t.text_hash(),
        text: t.text,
        expanded_url: t.urls,
        media_url_https: t.media,
        hashtags: t.hashtags,
        mentions: t.mentions,
        lang: t.lang,
        is_retweet: t.is_retweet,
        ingest_time: m.ingest_time.timestamp_millis(),
        topic: m.topic.to_owned(),
        partition: m.partition,
        offset: m.offset,
    }
}

fn app(p: i32) -> String {
    format!("test/{p}")
}

async fn writer(dir: &std::path::Path, max_rows: usize) -> BronzeWriter {
    let location = LakeLocation::local(dir);
    let policy = RollPolicy {
        max_rows,
        max_bytes: u64::MAX,
        max_age: Duration::from_secs(3600),
    };
    BronzeWriter::open(&location, &LakeLayout::new(dir), policy, "t".into())
        .await
        .unwrap()
}

async fn append(w: &mut BronzeWriter, i: usize) {
    let m = meta(i);
    let a = app(m.partition);
    w.append(&tweet(i), &m, &[(a.as_str(), m.offset)])
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_rows_with_txn_versions_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = writer(dir.path(), 10_000).await;
    for p in 0..3 {
        assert_eq!(w.resume_point(&app(p)).await.unwrap(), None);
    }
    let mut rolls = Vec::new();
    for i in 0..25_000 {
        append(&mut w, i).await;
        if w.should_roll(Instant::now()) {
            rolls.push(w.roll().await.unwrap());
        }
    }
    assert_eq!(rolls.len(), 2);
    rolls.push(w.roll().await.unwrap());
    let rows: Vec<u64> = rolls.iter().map(|r| r.rows).collect();
    assert_eq!(rows, [10_000, 10_000, 5_000]);
    let versions: Vec<Option<i64>> = rolls.iter().map(|r| r.version).collect();
    assert_eq!(
        versions,
        [Some(1), Some(2), Some(3)],
        "version 0 creates the table"
    );
    assert_eq!(
        rolls[2].commit,
        BTreeMap::from([(0, 8334), (1, 8333), (2, 8333)])
    );
    assert_eq!(w.roll().await.unwrap(), Rolled::default());

    // A new writer (a restart) finds where each partition ends in the table's log.
    let mut again = writer(dir.path(), 10_000).await;
    assert_eq!(again.resume_point(&app(0)).await.unwrap(), Some(8333));
    assert_eq!(again.resume_point(&app(2)).await.unwrap(), Some(8332));

    let read = read_bronze_rows(&LakeLocation::local(dir.path()))
        .await
        .unwrap();
    assert_eq!(read.len(), 25_000);
    let mut read = read;
    read.sort_by_key(|r| (r.offset, r.partition));
    for i in [0, 1, 2, 3, 7, 8191, 8192, 9_999, 10_000, 12_345, 24_999] {
        assert_eq!(read[i], expected(i), "row {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_that_resumed_before_another_committed_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = writer(dir.path(), 1_000_000).await;
    let mut b = writer(dir.path(), 1_000_000).await;
    assert_eq!(a.resume_point(&app(0)).await.unwrap(), None);
    assert_eq!(b.resume_point(&app(0)).await.unwrap(), None);
    append(&mut a, 0).await;
    append(&mut b, 0).await;
    assert_eq!(a.roll().await.unwrap().version, Some(1));
    let err = b.roll().await.unwrap_err().to_string();
    assert!(err.contains("another writer advanced test/0"), "{err}");
    b.recover();
    assert_eq!(b.resume_point(&app(0)).await.unwrap(), Some(0));
    append(&mut b, 3).await;
    assert_eq!(b.roll().await.unwrap().version, Some(2));
    let rows = read_bronze_rows(&LakeLocation::local(dir.path()))
        .await
        .unwrap();
    let mut ids: Vec<&str> = rows.iter().map(|r| r.id_str.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["1000000000", "1000000003"], "each tweet once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_advance_the_txn_and_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = writer(dir.path(), 1_000_000).await;
    w.resume_point(&app(7)).await.unwrap();
    let bad = RecordMeta {
        topic: "tweets.raw",
        partition: 7,
        offset: 41,
        ingest_time: Utc::now(),
        bus_time_ms: None,
    };
    let a = app(7);
    w.dead_letter(&bad, &[0xff, 0x00], "invalid json", &[(a.as_str(), 41)])
        .unwrap();
    let r = w.roll().await.unwrap();
    assert_eq!((r.rows, r.dead_letters, r.files), (0, 1, 0));
    assert_eq!(r.commit, BTreeMap::from([(7, 42)]));
    let layout = LakeLayout::new(dir.path());
    assert_eq!(
        super::super::dead_letter::count_dead_letters(&layout).unwrap(),
        1
    );
    let mut again = writer(dir.path(), 10).await;
    assert_eq!(again.resume_point(&a).await.unwrap(), Some(41));
}
