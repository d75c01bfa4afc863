use super::text::extract_hashtags;
use super::*;
use chrono::TimeZone;

fn ok(json: &str) -> Tweet {
    match Tweet::parse(json.as_bytes()) {
        Ok(t) => t,
        Err(e) => panic!("{e}: {json}"),
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn date() -> Option<DateTime<Utc>> {
    Some(Utc.with_ymd_and_hms(2020, 4, 5, 10, 46, 44).unwrap())
}

const IPHONE: &str = r##""source":"<a href=\"http://twitter.com/download/iphone\" rel=\"nofollow\">Twitter for iPhone</a>""##;

#[test]
fn v1_plain() {
    let t = ok(&format!(
        r##"{{"created_at":"Sun Apr 05 10:46:44 +0000 2020","id":12,"id_str":"12","text":"Hi @bob\n\n#AI &amp; ML https://t.co/x",{IPHONE},"user":{{"screen_name":"alice"}},"lang":"en",
        "entities":{{"hashtags":[{{"text":"AI","indices":[9,12]}}],"user_mentions":[{{"screen_name":"bob"}}],"urls":[{{"url":"https://t.co/x","expanded_url":"https://example.com/a"}}],"media":[{{"media_url_https":"https://pbs.twimg.com/media/1.jpg"}}]}},
        "extended_entities":{{"media":[{{"media_url_https":"https://pbs.twimg.com/media/1.jpg"}},{{"media_url_https":"https://pbs.twimg.com/media/2.jpg"}}]}}}}"##
    ));
    let want = Tweet {
        id: "12".into(),
        created_at: date(),
        author: Some("alice".into()),
        source: Some("Twitter for iPhone".into()),
        text: "Hi @bob #AI & ML https://t.co/x".into(),
        urls: strings(&["https://example.com/a"]),
        media: strings(&[
            "https://pbs.twimg.com/media/1.jpg",
            "https://pbs.twimg.com/media/2.jpg",
        ]),
        hashtags: strings(&["AI"]),
        mentions: strings(&["bob"]),
        lang: Some("en".into()),
        is_retweet: false,
    };
    assert_eq!(t, want);
    // Numeric id fallback, no entities -> extraction from text.
    let t = ok(r##"{"id":77,"text":"#AR\nCc @x https://a.b/c #2020"}"##);
    assert_eq!(
        (t.id.as_str(), t.text.as_str()),
        ("77", "#AR Cc @x https://a.b/c #2020")
    );
    assert_eq!(
        (t.hashtags, t.mentions, t.urls),
        (
            strings(&["AR"]),
            strings(&["x"]),
            strings(&["https://a.b/c"])
        )
    );
}

#[test]
fn v1_extended() {
    let t = ok(
        r##"{"id_str":"5","text":"short #Cut… https://t.co/s","truncated":true,"user":{"screen_name":"u"},
        "entities":{"hashtags":[{"text":"Cut"}],"urls":[{"expanded_url":"https://twitter.com/i/web/status/5"}]},
        "extended_tweet":{"full_text":"long text\r\nwith #Full and #full @m","entities":{"hashtags":[{"text":"Full"},{"text":"full"}],"user_mentions":[{"screen_name":"m"}],"urls":[],
        "media":[{"media_url_https":"https://p/1.jpg"}]}}}"##,
    );
    assert_eq!(t.text, "long text with #Full and #full @m");
    assert_eq!(t.hashtags, strings(&["Full", "full"]));
    assert_eq!(t.mentions, strings(&["m"]));
    assert!(t.urls.is_empty());
    assert_eq!(t.media, strings(&["https://p/1.jpg"]));
    assert_eq!(
        (
            t.author.as_deref(),
            t.is_retweet,
            t.created_at,
            t.source,
            t.lang
        ),
        (Some("u"), false, None, None, None)
    );
}

#[test]
fn v1_retweets() {
    let rt_ext = ok(
        r##"{"id_str":"9","text":"RT @orig: the start of a long…","user":{"screen_name":"rt"},"lang":"en",
        "entities":{"hashtags":[],"user_mentions":[{"screen_name":"orig"}]},
        "retweeted_status":{"id_str":"8","text":"the start…","extended_tweet":{"full_text":"the start of a long #Story","entities":{"hashtags":[{"text":"Story"}]}}}}"##,
    );
    assert_eq!(rt_ext.text, "the start of a long #Story");
    assert_eq!(
        (rt_ext.hashtags, rt_ext.mentions),
        (strings(&["Story"]), vec![])
    );
    assert!(rt_ext.is_retweet);
    assert_eq!(
        (
            rt_ext.id.as_str(),
            rt_ext.author.as_deref(),
            rt_ext.lang.as_deref()
        ),
        ("9", Some("rt"), Some("en"))
    );

    let rt = ok(
        r##"{"id_str":"10","text":"RT @orig: short #One","user":{"screen_name":"rt"},
        "entities":{"hashtags":[{"text":"One"}],"user_mentions":[{"screen_name":"orig"}]},
        "retweeted_status":{"id_str":"8","text":"short #One","user":{"screen_name":"orig"}}}"##,
    );
    assert_eq!(rt.text, "RT @orig: short #One");
    assert_eq!(
        (rt.hashtags, rt.mentions),
        (strings(&["One"]), strings(&["orig"]))
    );
    assert!(rt.is_retweet);
    assert!(!ok(r##"{"id_str":"1","text":"x","retweeted_status":null}"##).is_retweet);
}

#[test]
fn v2_with_includes_and_entities() {
    let t = ok(
        r##"{"data":{"id":"42","text":"Hello @Ann &amp; #Rust https://t.co/q","author_id":"7","created_at":"2020-04-05T10:46:44.000Z","lang":"en","source":"Twitter Web App",
        "entities":{"hashtags":[{"start":17,"end":22,"tag":"Rust"}],"mentions":[{"username":"Ann","id":"3"}],"urls":[{"url":"https://t.co/q","expanded_url":"https://rust-lang.org"}]},
        "referenced_tweets":[{"type":"quoted","id":"1"}],"attachments":{"media_keys":["3_1"]}},
        "includes":{"users":[{"id":"3","username":"Ann"},{"id":"7","username":"writer"}],"media":[{"media_key":"3_1","type":"photo","url":"https://pbs.twimg.com/media/v2.jpg"}]},
        "matching_rules":[{"id":"1","tag":"rust"}]}"##,
    );
    let want = Tweet {
        id: "42".into(),
        created_at: date(),
        author: Some("writer".into()),
        source: Some("Twitter Web App".into()),
        text: "Hello @Ann & #Rust https://t.co/q".into(),
        urls: strings(&["https://rust-lang.org"]),
        media: strings(&["https://pbs.twimg.com/media/v2.jpg"]),
        hashtags: strings(&["Rust"]),
        mentions: strings(&["Ann"]),
        lang: Some("en".into()),
        is_retweet: false,
    };
    assert_eq!(t, want);
}

#[test]
fn v2_without_entities() {
    let t = ok(
        r##"{"data":{"id":"43","text":"RT @Bob: so\nmuch #café https://x.y/z","author_id":"99","referenced_tweets":[{"type":"retweeted","id":"2"}]},"includes":{"users":[{"id":"1","username":"other"}]}}"##,
    );
    let want = Tweet {
        id: "43".into(),
        created_at: None,
        author: Some("99".into()),
        source: None,
        text: "RT @Bob: so much #café https://x.y/z".into(),
        urls: strings(&["https://x.y/z"]),
        media: vec![],
        hashtags: strings(&["café"]),
        mentions: strings(&["Bob"]),
        lang: None,
        is_retweet: true,
    };
    assert_eq!(t, want);
    let note =
        ok(r##"{"data":{"id":"44","text":"cut…","note_tweet":{"text":"the whole #Note"}}}"##);
    assert_eq!(
        (note.text.as_str(), note.hashtags),
        ("the whole #Note", strings(&["Note"]))
    );
}

#[test]
fn malformed_inputs_are_errors() {
    let big = format!("\"{}\"", "a".repeat(5 << 20));
    let deep = "[".repeat(100_000);
    let cases: Vec<(&[u8], Option<TweetError>)> = vec![
        (b"", Some(TweetError::Empty)),
        (b" \r\n", Some(TweetError::Empty)),
        (b"{", None),
        (b"[]", Some(TweetError::NotAnObject)),
        (b"{\"id_str\": 5}", None),
        (b"{\"text\": \"x\"}", Some(TweetError::MissingId)),
        (
            b"{\"id_str\": null, \"text\": \"x\"}",
            Some(TweetError::MissingId),
        ),
        (b"{\"id_str\": \"\"}", Some(TweetError::MissingId)),
        (
            b"{\"data\": {\"text\": \"x\"}}",
            Some(TweetError::MissingId),
        ),
        (b"{\"errors\":[{\"title\":\"ConnectionException\"}]}", None),
        (b"{\"delete\":{\"status\":{\"id\":1}}}", None),
        (b"{\"id_str\":\"1\",\"text\":[]}", None),
        (b"{\"id_str\":\"1\",\"id_str\":\"2\"}", None),
        (b"{\"id\":-1}", None),
        (b"\xff\xfe\x00junk\x01{\"", None),
        (b"{\"id_str\":\"\xff\"}", None),
        (big.as_bytes(), Some(TweetError::NotAnObject)),
        (deep.as_bytes(), None),
    ];
    for (input, want) in cases {
        let got = Tweet::parse(input);
        assert!(
            got.is_err(),
            "{:?}",
            String::from_utf8_lossy(&input[..input.len().min(40)])
        );
        if let Some(want) = want {
            assert_eq!(got.unwrap_err(), want);
        }
    }
    assert!(matches!(
        Tweet::parse(b"{\"errors\":[]}"),
        Err(TweetError::NotATweet(_))
    ));
    assert!(matches!(
        Tweet::parse(b"{\"id_str\":5}"),
        Err(TweetError::WrongType(_))
    ));
    assert!(matches!(
        Tweet::parse(b"{"),
        Err(TweetError::InvalidJson(_))
    ));
    // Ignored values are skipped without recursion: deep nesting there is fine.
    let nested = "[".repeat(100_000) + &"]".repeat(100_000);
    assert_eq!(ok(&format!("{{\"id_str\":\"1\",\"x\":{nested}}}")).id, "1");
    let huge = format!("{{\"id_str\":\"1\",\"text\":\"{}\"}}", "b".repeat(5 << 20));
    assert_eq!(ok(&huge).text.len(), 5 << 20);
}

#[test]
fn bom_is_skipped() {
    assert_eq!(ok("\u{feff}{\"id_str\":\"3\"}").id, "3");
}

#[test]
fn text_hash_is_sha256_hex() {
    let t = ok(r##"{"id_str":"1","text":"abc"}"##);
    assert_eq!(
        t.text_hash(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn synthetic_is_deterministic_and_parses() {
    let now = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
    let (mut a, mut b) = (SyntheticTweets::new(7), SyntheticTweets::new(7));
    let mut ids = std::collections::HashSet::new();
    let (mut retweets, mut extended, mut tagged, mut media, mut newlines) = (0, 0, 0, 0, 0);
    for i in 0..10_000 {
        let now = now + chrono::Duration::milliseconds(i);
        let line = a.next_json(now);
        assert_eq!(line, b.next_json(now));
        assert!(!line.contains(&b'\n'));
        let raw: serde_json::Value = serde_json::from_slice(&line).unwrap();
        let t = Tweet::parse(&line).unwrap();
        assert!(ids.insert(t.id.clone()), "duplicate id {}", t.id);
        assert_eq!(
            t.created_at,
            Some(now - chrono::Duration::nanoseconds(now.timestamp_subsec_nanos().into()))
        );
        retweets += t.is_retweet as u32;
        extended += raw.get("extended_tweet").is_some() as u32;
        tagged += !t.hashtags.is_empty() as u32;
        media += !t.media.is_empty() as u32;
        let text = raw["text"].as_str().unwrap();
        newlines += text.contains('\n') as u32;
        for tag in &t.hashtags {
            assert!(
                t.text.contains(&format!("#{tag}")),
                "{tag} not in {}",
                t.text
            );
        }
        if !t.text.ends_with('…') {
            assert_eq!(extract_hashtags(&t.text), t.hashtags, "{}", t.text);
        }
        assert!(t.author.is_some() && t.source.is_some() && t.lang.is_some());
    }
    assert!((2000..3000).contains(&retweets), "{retweets}");
    assert!(extended > 1000, "{extended}");
    assert!(
        tagged > 5000 && media > 100 && newlines > 100,
        "{tagged} {media} {newlines}"
    );
    let mut g = SyntheticTweets::new(9);
    for now in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC].repeat(50) {
        assert!(Tweet::parse(&g.next_json(now)).is_ok());
    }
    assert_ne!(
        SyntheticTweets::new(8).next_json(now),
        SyntheticTweets::new(7).next_json(now)
    );
}

/// Throwaway check against the real v1.1 sample (not part of the regular suite).
#[test]
#[ignore]
fn real_sample_parses() {
    let data = std::fs::read("/work/shared/data/tweets-v1-sample.jsonl").unwrap();
    let lines: Vec<&[u8]> = data
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    for line in &lines {
        let t = Tweet::parse(line).unwrap();
        assert!(
            !t.id.is_empty() && !t.text.is_empty() && t.author.is_some() && t.created_at.is_some()
        );
    }
    assert_eq!(lines.len(), 1000);
}
