//! Tests of endpoint resolution and of parsing both APIs' answers.

use super::*;

#[test]
fn endpoints_from_base_or_exact_url() {
    let e = |u, a| endpoints(u, a).unwrap();
    assert_eq!(
        e("http://127.0.0.1:5000", NerApi::Ssp),
        (
            "http://127.0.0.1:5000/ner".to_string(),
            "http://127.0.0.1:5000/health".to_string()
        )
    );
    assert_eq!(
        e("http://h:5000/", NerApi::SpacySeed).0,
        "http://h:5000/text/ner/spacy"
    );
    assert_eq!(
        e("http://h:30123/spacy/api/v0.1/ner", NerApi::SpacySeed),
        (
            "http://h:30123/spacy/api/v0.1/ner".to_string(),
            "http://h:30123/health".to_string()
        )
    );
    assert_eq!(
        e("https://h/prefix", NerApi::Ssp),
        (
            "https://h/prefix/ner".to_string(),
            "https://h/prefix/health".to_string()
        )
    );
    assert!(endpoints("localhost:5000", NerApi::Ssp).is_err());
    assert!(endpoints("ftp://h", NerApi::Ssp).is_err());
    assert!(endpoints("", NerApi::Ssp).is_err());
}

#[test]
fn seed_answers_are_placed_in_the_text() {
    let text = "Ram read a book on Friday 20/11/2019";
    let body = br#"{"res": "{'DATE': 'Friday', 'PERSON': 'Sita'}"}"#;
    let got = parse_seed(body, text).unwrap();
    assert_eq!(
        got,
        vec![
            Entity::new("Friday", "DATE", 19, 25),
            Entity::unplaced("Sita", "PERSON")
        ]
    );
    let obj = br#"{"res": {"DATE": "Friday"}}"#;
    assert_eq!(parse_seed(obj, text).unwrap().len(), 1);
    assert!(matches!(
        parse_seed(b"{\"res\": \"{'DATE': 1}\"}", text),
        Err(NerError::Invalid(_))
    ));
    assert!(matches!(
        parse_seed(b"<html>", text),
        Err(NerError::Invalid(_))
    ));
    assert!(matches!(parse_seed(b"{}", text), Err(NerError::Invalid(_))));
}

#[test]
fn ssp_answers_must_match_the_batch() {
    let body = br#"{"entities": [[{"text":"Friday","label":"DATE","start":19,"end":25}], []]}"#;
    let got = parse_ssp(body, 2).unwrap();
    assert_eq!(got[0], vec![Entity::new("Friday", "DATE", 19, 25)]);
    assert!(got[1].is_empty());
    assert!(parse_ssp(body, 3).is_err());
    assert!(parse_ssp(b"{\"entities\": 5}", 1).is_err());
    let backwards = br#"{"entities": [[{"text":"x","label":"X","start":5,"end":2}]]}"#;
    assert!(parse_ssp(backwards, 1).is_err());
}

#[test]
fn retry_classes() {
    let s = |status| NerError::Status {
        status,
        body: String::new(),
    };
    assert!(s(500).retryable() && s(503).retryable() && s(429).retryable());
    assert!(!s(400).retryable() && !s(404).retryable());
    assert!(NerError::Timeout(Duration::from_secs(1)).retryable());
    assert!(NerError::Connect("refused".into()).is_down());
    assert!(!NerError::Transport("reset".into()).is_down());
    let opts = ClientOptions::new("http://h", NerApi::Ssp);
    for n in 0..40 {
        let d = backoff_delay(&opts, n);
        assert!(d <= opts.backoff_max, "{d:?}");
    }
    assert!(backoff_delay(&opts, 0) >= opts.backoff / 2);
}
