//! Tests of the label events and the embedded store: the CRC, torn and damaged logs, undo.

use std::fs::OpenOptions;
use std::io::Write;

use super::*;

fn ev(text_id: i64, label: i32) -> NewEvent {
    NewEvent {
        version: 0,
        text_id,
        split: Split::Train,
        kind: EventKind::Label,
        label,
        prev_label: -1,
        undoes: None,
        who: "t".into(),
        at_ms: 1,
        note: None,
        provenance: Default::default(),
    }
}

#[test]
fn crc_matches_the_standard_check_value() {
    assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
}

/// A write that fails half-way (here: the file-size limit, as a full disk would) leaves
/// no torn bytes behind: the next record is readable. Runs in a child process of its own,
/// since the limit applies to the whole process.
#[test]
fn a_failed_append_leaves_no_torn_record_behind() {
    const NAME: &str = "learn::labels::tests::a_failed_append_leaves_no_torn_record_behind";
    if std::env::var_os("SSP_FSIZE_CHILD").is_none() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
            .env("SSP_FSIZE_CHILD", "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains("1 passed"), "{text}");
        return;
    }
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    use nix::sys::signal::{signal, SigHandler, Signal};
    // EFBIG instead of the SIGXFSZ that would end the process.
    unsafe { signal(Signal::SIGXFSZ, SigHandler::SigIgn) }.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let s = EmbeddedLabelStore::new(dir.path(), &dir.path().join("store"));
    rt.block_on(s.append(ev(1, 1))).unwrap();
    let path = s.log_path(0);
    let good = std::fs::metadata(&path).unwrap().len();
    let (soft, hard) = getrlimit(Resource::RLIMIT_FSIZE).unwrap();
    setrlimit(Resource::RLIMIT_FSIZE, good + 10, hard).unwrap();
    assert!(
        rt.block_on(s.append(ev(2, 0))).is_err(),
        "the write hits the limit"
    );
    setrlimit(Resource::RLIMIT_FSIZE, soft, hard).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        good,
        "torn bytes cut off"
    );
    let c = rt.block_on(s.append(ev(3, 0))).unwrap();
    assert_eq!(c.seq, 2);
    drop(s);
    let s = EmbeddedLabelStore::new(dir.path(), &dir.path().join("store"));
    let events = rt.block_on(s.events(0)).unwrap();
    let ids: Vec<i64> = events.iter().map(|e| e.event.text_id).collect();
    assert_eq!(ids, [1, 3]);
}

#[tokio::test]
async fn appends_survive_reopen_and_a_torn_tail_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let s = EmbeddedLabelStore::new(dir.path(), &dir.path().join("store"));
    let a = s.append(ev(1, 1)).await.unwrap();
    let b = s.append(ev(2, 0)).await.unwrap();
    assert_eq!((a.seq, b.seq), (1, 2));
    let path = s.log_path(0);
    drop(s);
    // A torn write: half a record, no newline.
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(b"deadbeef {\"seq\":3,").unwrap();
    drop(f);
    let s = EmbeddedLabelStore::new(dir.path(), &dir.path().join("store"));
    let events = s.events(0).await.unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(fold(&events), BTreeMap::from([(1, 1), (2, 0)]));
    let c = s.append(ev(3, 1)).await.unwrap();
    assert_eq!(c.seq, 3);
    drop(s);
    let s = EmbeddedLabelStore::new(dir.path(), &dir.path().join("store"));
    assert_eq!(s.events(0).await.unwrap().len(), 3);
}

#[tokio::test]
async fn damage_in_the_middle_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let s = EmbeddedLabelStore::new(dir.path(), &dir.path().join("store"));
    s.append(ev(1, 1)).await.unwrap();
    s.append(ev(2, 1)).await.unwrap();
    let path = s.log_path(0);
    drop(s);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[12] ^= 0x20;
    std::fs::write(&path, bytes).unwrap();
    let s = EmbeddedLabelStore::new(dir.path(), &dir.path().join("store"));
    assert!(matches!(
        s.events(0).await,
        Err(LabelStoreError::Corrupt(_))
    ));
}

#[test]
fn undo_targets_the_newest_label_not_undone() {
    let mk = |seq, kind, undoes| LabelEvent {
        seq,
        event: NewEvent {
            kind,
            undoes,
            ..ev(seq as i64, 1)
        },
    };
    let events = vec![
        mk(1, EventKind::Label, None),
        mk(2, EventKind::Label, None),
        mk(3, EventKind::Undo, Some(2)),
    ];
    assert_eq!(undo_target(&events).map(|e| e.seq), Some(1));
}
