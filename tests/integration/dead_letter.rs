//! Malformed input: bad lines go whole to the dead-letter file, good tweets to bronze, no panic.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use common::*;
use serde_json::Value;
use ssp_tui::lake::{count_dead_letters, LakeLayout};
use ssp_tui::tweet::Tweet;

const BASE: u64 = 1_260_000_000_000_000_000;

/// ~`len` bytes of printable junk without line breaks (quotes and backslashes included, so the
/// dead-letter JSON has to escape them).
fn junk(len: usize) -> Vec<u8> {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789 {}[]:,\"\\'<>#@!?";
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = b"JUNK:".to_vec();
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(CHARS[(x % CHARS.len() as u64) as usize]);
    }
    out
}

/// The bad lines, each a distinct kind of garbage (no `\n`, no trailing `\r`).
fn bad_lines() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "truncated JSON",
            br#"{"id_str":"1260000000000099999","text":"cut off in the mi"#.to_vec(),
        ),
        ("wrong types", br#"{"id_str": 5, "text": "x"}"#.to_vec()),
        ("empty line", Vec::new()),
        (
            "binary junk",
            vec![
                0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28, 0xa0, 0xa1, b'{', 0xf0, 0x28, 0x8c, 0xbc, 0x01,
                0x7f,
            ],
        ),
        ("5 MB of junk", junk(5 * 1024 * 1024)),
        (
            "JSON array",
            br#"[{"id_str":"1260000000000088888","text":"in an array"}]"#.to_vec(),
        ),
        (
            "object without id",
            br#"{"text":"a tweet without its id","user":{"screen_name":"nobody"}}"#.to_vec(),
        ),
        ("null id", br#"{"id_str":null,"text":"null id"}"#.to_vec()),
        ("not a tweet", br#"{"limit":{"track":12}}"#.to_vec()),
    ]
}

#[test]
fn bad_lines_are_really_bad() {
    // Guard for the test itself: every bad line is rejected by the parser on its own.
    for (what, line) in bad_lines() {
        assert!(Tweet::parse(&line).is_err(), "{what} parsed as a tweet");
    }
}

#[test]
fn malformed_lines_go_to_dead_letter_and_good_tweets_to_bronze() {
    let dir = tempfile::tempdir().unwrap();
    let good = mixed_tweets(BASE, 60);
    let bad = bad_lines();
    // Interleave: a few good tweets, then a bad line, ... ; CRLF for some good lines.
    let mut input = Vec::new();
    let mut goods = good.iter();
    for (k, (_, line)) in bad.iter().enumerate() {
        for g in goods.by_ref().take(5) {
            input.extend_from_slice(serde_json::to_string(&g.json).unwrap().as_bytes());
            input.extend_from_slice(if k % 2 == 0 { b"\n" } else { b"\r\n" });
        }
        input.extend_from_slice(line);
        input.push(b'\n');
    }
    for g in goods {
        input.extend_from_slice(serde_json::to_string(&g.json).unwrap().as_bytes());
        input.push(b'\n');
    }
    let jsonl = dir.path().join("mixed.jsonl");
    std::fs::write(&jsonl, &input).unwrap();
    let lake = dir.path().join("lake");
    let cwd = dir.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    let env = [
        ("SSP__SOURCE__KIND", "replay".to_string()),
        ("SSP__SOURCE__PATH", jsonl.display().to_string()),
        ("SSP__SOURCE__RATE", "0".to_string()),
        ("SSP__LAKE__ROOT", lake.display().to_string()),
        (
            "SSP__LOG__DIR",
            dir.path().join("logs").display().to_string(),
        ),
    ];

    let run = run_bin(
        &cwd,
        &env,
        &["run", "source", "bronze", "--every", "1"],
        Duration::from_secs(90),
    );
    assert_eq!(run.code(), Some(0), "must exit 0 without panicking:\n{run}");
    assert!(!run.stderr.contains("panicked"), "{run}");
    assert!(run.stdout.contains("all stages finished"), "{run}");

    // Dead letters: one per bad line, by the binary's stats and by the library.
    let stats = lake_stats(&cwd, &env);
    assert_eq!(stats["dead_letter"], bad.len() as u64, "stats: {stats}");
    assert_eq!(stats["bronze"]["rows"], good.len() as u64, "stats: {stats}");
    assert_eq!(
        count_dead_letters(&LakeLayout::new(&lake)).unwrap(),
        bad.len() as u64
    );

    // Every bad payload is stored whole (base64 when it is not UTF-8), each exactly once.
    let lines = dead_letter_lines(&lake);
    let mut stored: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
    for l in &lines {
        let payload = match (l.get("payload"), l.get("payload_base64")) {
            (Some(Value::String(s)), None) => s.as_bytes().to_vec(),
            (None, Some(Value::String(b))) => base64::engine::general_purpose::STANDARD
                .decode(b)
                .expect("valid base64"),
            _ => panic!(
                "dead letter without a payload: {}",
                &l.to_string()[..200.min(l.to_string().len())]
            ),
        };
        assert!(
            l["error"].as_str().is_some_and(|e| !e.is_empty()),
            "dead letter without an error"
        );
        assert_eq!(l["topic"], "twitter_data");
        *stored.entry(payload).or_insert(0) += 1;
    }
    for (what, line) in &bad {
        assert_eq!(
            stored.get(line),
            Some(&1),
            "{what} not stored whole exactly once"
        );
    }
    assert_eq!(stored.values().sum::<usize>(), bad.len());
    let big = &bad[4].1;
    assert!(big.len() >= 5 * 1024 * 1024);
    assert!(
        lines
            .iter()
            .any(|l| l["payload"].as_str().map(str::as_bytes) == Some(&big[..])),
        "the 5 MB line is kept whole"
    );

    // Good tweets: each exactly once in bronze, with the right text.
    let (log, rows) = check_table(&lake);
    let counts = id_counts(rows.iter().map(|r| r.id_str.as_str()));
    assert_eq!(rows.len(), good.len(), "only the good tweets reach bronze");
    for g in &good {
        assert_eq!(
            counts.get(&g.expect.id),
            Some(&1),
            "tweet {} in bronze",
            g.expect.id
        );
        let r = rows.iter().find(|r| r.id_str == g.expect.id).unwrap();
        assert_eq!(r.text, g.expect.text);
    }
    assert!(
        !counts.contains_key("1260000000000099999"),
        "the truncated tweet is not in bronze"
    );
    assert!(
        !counts.contains_key("1260000000000088888"),
        "the array is not in bronze"
    );
    assert!(
        temp_files(&lake).is_empty(),
        "temporary files left: {:?}",
        temp_files(&lake)
    );
    let left = unreferenced_files(&lake.join("bronze"), &log);
    assert!(left.is_empty(), "uncommitted files: {left:?}");
    // The dead letters' positions are in the table too: a restart would not replay them.
    let replay_max = txn_versions(&log)
        .into_iter()
        .filter(|(app, _)| app.starts_with("ssp-replay/"))
        .map(|(_, v)| v)
        .max();
    let records = (good.len() + bad.len()) as i64;
    assert_eq!(
        replay_max,
        Some(records - 1),
        "last replay position recorded"
    );

    // Run again: the replay resumes at its end; nothing is written twice, dead letters neither.
    let again = run_bin(
        &cwd,
        &env,
        &["run", "source", "bronze", "--every", "1"],
        Duration::from_secs(90),
    );
    assert_eq!(again.code(), Some(0), "{again}");
    assert_eq!(
        count_dead_letters(&LakeLayout::new(&lake)).unwrap(),
        bad.len() as u64,
        "dead letters written twice"
    );
    assert_eq!(check_table(&lake).1.len(), good.len());
}

/// A JSON *array* whose elements line up with the tweet struct's fields is accepted as a tweet:
/// serde's derived `Deserialize` for structs also accepts sequences (positional fields).
#[test]
fn positional_json_array_is_not_a_tweet() {
    let line = br#"["1260000000000077777",null,null,"an array, not an object",null,null,null,null,null,null,null,null,null,null,null]"#;
    let parsed = Tweet::parse(line);
    assert!(
        parsed.is_err(),
        "a JSON array parsed as a tweet: {parsed:?}"
    );
}
