//! Tests of the rule tagger: what each rule finds, and what it must leave alone.

use super::*;

fn tags(text: &str) -> Vec<(String, &'static str, u32, u32)> {
    RuleTagger::builtin()
        .tag(text)
        .into_iter()
        .map(|e| {
            let label: &'static str = Box::leak(e.label.into_boxed_str());
            (e.text, label, e.start.unwrap(), e.end.unwrap())
        })
        .collect()
}

fn t(text: &str, label: &'static str, start: u32, end: u32) -> (String, &'static str, u32, u32) {
    (text.to_string(), label, start, end)
}

#[test]
fn the_seed_sentence() {
    assert_eq!(
        tags("Ram read a book on Friday 20/11/2019"),
        vec![
            t("Ram", "PERSON", 0, 3),
            t("Friday", "DATE", 19, 25),
            t("20/11/2019", "DATE", 26, 36),
        ]
    );
}

#[test]
fn twitter_things() {
    assert_eq!(
        tags("RT @data_bob: #AI rocks https://t.co/abc123. see www.x.org!"),
        vec![
            t("@data_bob", "MENTION", 3, 12),
            t("#AI", "HASHTAG", 14, 17),
            t("https://t.co/abc123", "URL", 24, 43),
            t("www.x.org", "URL", 49, 58),
        ]
    );
    assert!(
        tags("email a@b.com and #123").is_empty(),
        "{:?}",
        tags("email a@b.com and #123")
    );
}

#[test]
fn numbers_money_percent_time() {
    assert_eq!(
        tags("Raised $1.5m, up 12% from 3 million in 2019 at 10:30pm"),
        vec![
            t("$1.5m", "MONEY", 7, 12),
            t("12%", "PERCENT", 17, 20),
            t("3 million", "CARDINAL", 26, 35),
            t("2019", "DATE", 39, 43),
            t("10:30pm", "TIME", 47, 54),
        ]
    );
    assert_eq!(
        tags("the 3rd of 1,000 cost 20 dollars, 5 pm"),
        vec![
            t("3rd", "ORDINAL", 4, 7),
            t("1,000", "CARDINAL", 11, 16),
            t("20 dollars", "MONEY", 22, 32),
            t("5 pm", "TIME", 34, 38),
        ]
    );
    assert!(tags("4G and mp3 and covid19").is_empty());
}

#[test]
fn dates_in_words() {
    assert_eq!(
        tags("Due November 20, 2019 or 20 Nov, not in may. See you tomorrow, next week"),
        vec![
            t("November 20, 2019", "DATE", 4, 21),
            t("20 Nov", "DATE", 25, 31),
            t("tomorrow", "DATE", 53, 61),
            t("next week", "DATE", 63, 72),
        ]
    );
    assert_eq!(tags("2019-11-20"), vec![t("2019-11-20", "DATE", 0, 10)]);
}

#[test]
fn gazetteer_longest_match_and_case() {
    assert_eq!(
        tags("Apache Spark and Kafka at Google in New York City, GOOGLE, google"),
        vec![
            t("Apache Spark", "PRODUCT", 0, 12),
            t("Kafka", "PRODUCT", 17, 22),
            t("Google", "ORG", 26, 32),
            t("New York City", "GPE", 36, 49),
            t("GOOGLE", "ORG", 51, 57),
        ]
    );
    assert_eq!(
        tags("Bank of America and Fei-Fei Li in the U.S."),
        vec![
            t("Bank of America", "ORG", 0, 15),
            t("Fei-Fei Li", "PERSON", 20, 30),
            t("U.S.", "GPE", 38, 42),
        ]
    );
}

#[test]
fn code_point_offsets_and_extra_gazetteer() {
    let mut tagger = RuleTagger::builtin();
    tagger.add_gazetteer("Zoë Café\tORG\n# comment\nbad line\n");
    let e = tagger.tag("naïve 😀 Zoë Café in Paris");
    let got: Vec<_> = e
        .iter()
        .map(|e| (e.text.as_str(), e.label.as_str(), e.start, e.end))
        .collect();
    assert_eq!(
        got,
        vec![
            ("Zoë Café", "ORG", Some(8), Some(16)),
            ("Paris", "GPE", Some(20), Some(25))
        ]
    );
}
