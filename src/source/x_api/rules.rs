//! Filtered-stream rules from keyword groups: keywords joined with `OR`, split over as many
//! rules as the length limit needs, tagged with their stream; and the plan that makes the
//! server's rules equal to them (delete stale, add missing, keep the rest).
//!
//! X keeps one rule per value, so a value two streams share (the `mix` stream starts with the
//! AI keywords) becomes one rule whose tag lists both streams: `ai,mix`. A tweet belongs to a
//! stream when one of its `matching_rules` has that stream in its comma-separated tag.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::nlp::keywords::KeywordGroups;

/// A rule as the configuration wants it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RuleSpec {
    pub value: String,
    pub tag: String,
}

/// A rule as the server has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("keyword {keyword:?} makes a rule of {len} characters, over the limit of {max} (source.x_rule_max_len)")]
    TooLong {
        keyword: String,
        len: usize,
        max: usize,
    },
    #[error("stream {0:?} has no keywords")]
    Empty(String),
}

/// A keyword as a rule term: bare when it is one word (letters, digits, `_`, with an optional
/// leading `#`, `@` or `$`), else an exact phrase in quotes.
pub fn term(keyword: &str) -> String {
    let body = keyword.strip_prefix(['#', '@', '$']).unwrap_or(keyword);
    let bare = !body.is_empty()
        && body.chars().all(|c| c.is_alphanumeric() || c == '_')
        && !matches!(body, "OR" | "AND");
    if bare {
        keyword.to_string()
    } else {
        format!("\"{}\"", keyword.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn value(terms: &[String], filter: &str) -> String {
    let joined = terms.join(" OR ");
    match (filter.is_empty(), terms.len()) {
        (true, _) => joined,
        (false, 1) => format!("{joined} {filter}"),
        (false, _) => format!("({joined}) {filter}"),
    }
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// The rules of one stream: its keywords packed in order into as few rules of at most
/// `max_len` characters as greedy packing gives, each `k1 OR k2 ...` plus `filter`.
pub fn build_stream(
    tag: &str,
    keywords: &[String],
    filter: &str,
    max_len: usize,
) -> Result<Vec<RuleSpec>, RuleError> {
    if keywords.is_empty() {
        return Err(RuleError::Empty(tag.to_string()));
    }
    let mut rules = Vec::new();
    let mut current: Vec<String> = Vec::new();
    for keyword in keywords {
        let t = term(keyword);
        let alone = value(std::slice::from_ref(&t), filter);
        if chars(&alone) > max_len {
            return Err(RuleError::TooLong {
                keyword: keyword.clone(),
                len: chars(&alone),
                max: max_len,
            });
        }
        current.push(t);
        if current.len() > 1 && chars(&value(&current, filter)) > max_len {
            // The keyword just added starts the next rule.
            let next = current.split_off(current.len() - 1);
            rules.push(RuleSpec {
                value: value(&current, filter),
                tag: tag.to_string(),
            });
            current = next;
        }
    }
    rules.push(RuleSpec {
        value: value(&current, filter),
        tag: tag.to_string(),
    });
    Ok(rules)
}

/// Every configured stream's rules; rules with the same value are merged, their tags joined
/// with `,` (in `streams` order).
pub fn build(
    streams: &[String],
    groups: &KeywordGroups,
    filter: &str,
    max_len: usize,
) -> Result<Vec<RuleSpec>, RuleError> {
    let mut out: Vec<RuleSpec> = Vec::new();
    for tag in streams {
        for rule in build_stream(tag, &groups.stream(tag), filter, max_len)? {
            match out.iter_mut().find(|r| r.value == rule.value) {
                Some(existing) => {
                    existing.tag.push(',');
                    existing.tag.push_str(tag);
                }
                None => out.push(rule),
            }
        }
    }
    Ok(out)
}

/// What to do so the server holds exactly the wanted rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncPlan {
    /// Server rules that are wanted as they are.
    pub keep: Vec<Rule>,
    /// Ids of server rules that are not wanted (or wanted with another tag), and duplicates.
    pub delete: Vec<String>,
    pub add: Vec<RuleSpec>,
}

impl SyncPlan {
    pub fn is_noop(&self) -> bool {
        self.delete.is_empty() && self.add.is_empty()
    }
}

/// Compares the server's rules with the wanted ones by (value, tag).
pub fn plan(server: &[Rule], wanted: &[RuleSpec]) -> SyncPlan {
    let wanted_set: BTreeSet<(&str, &str)> = wanted
        .iter()
        .map(|r| (r.value.as_str(), r.tag.as_str()))
        .collect();
    let mut kept: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut out = SyncPlan::default();
    for rule in server {
        let key = (rule.value.as_str(), rule.tag.as_deref().unwrap_or(""));
        if wanted_set.contains(&key) && kept.insert(key) {
            out.keep.push(rule.clone());
        } else {
            out.delete.push(rule.id.clone());
        }
    }
    out.add = wanted
        .iter()
        .filter(|r| !kept.contains(&(r.value.as_str(), r.tag.as_str())))
        .cloned()
        .collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn terms_quote_phrases_and_keep_words_and_hashtags() {
        assert_eq!(term("robotics"), "robotics");
        assert_eq!(term("#AI"), "#AI");
        assert_eq!(term("NeuralNetwork"), "NeuralNetwork");
        assert_eq!(
            term("Artificial Intelligence"),
            "\"Artificial Intelligence\""
        );
        assert_eq!(term("scikit-learn"), "\"scikit-learn\"");
        assert_eq!(term("say \"hi\""), "\"say \\\"hi\\\"\"");
        assert_eq!(term("OR"), "\"OR\"");
        assert_eq!(term("#"), "\"#\"");
    }

    #[test]
    fn packs_keywords_into_rules_within_the_limit() {
        let words = kw(&["alpha", "beta", "gamma", "delta", "big data"]);
        // "alpha OR beta" = 13, "+ OR gamma" = 22, "+ OR delta" = 31.
        let rules = build_stream("ai", &words, "", 22).unwrap();
        let values: Vec<_> = rules.iter().map(|r| r.value.as_str()).collect();
        assert_eq!(values, ["alpha OR beta OR gamma", "delta OR \"big data\""]);
        assert!(rules.iter().all(|r| r.tag == "ai"));
        let rules = build_stream("ai", &words, "lang:en", 41).unwrap();
        let values: Vec<_> = rules.iter().map(|r| r.value.as_str()).collect();
        assert_eq!(
            values,
            [
                "(alpha OR beta OR gamma OR delta) lang:en",
                "\"big data\" lang:en"
            ]
        );
        let e = build_stream("ai", &kw(&["a very long phrase indeed"]), "", 20).unwrap_err();
        assert!(
            matches!(
                e,
                RuleError::TooLong {
                    len: 27,
                    max: 20,
                    ..
                }
            ),
            "{e}"
        );
        assert!(build_stream("ai", &[], "", 512).is_err());
    }

    #[test]
    fn seed_streams_fit_and_cover_every_keyword_once() {
        let groups = KeywordGroups::builtin();
        let streams = kw(&["ai", "mix"]);
        for max in [64, 200, 512, 1024] {
            for filter in ["", "lang:en -is:retweet"] {
                let rules = build(&streams, &groups, filter, max).unwrap();
                for r in &rules {
                    assert!(chars(&r.value) <= max, "{} > {max}", r.value);
                    assert!(!r.value.is_empty());
                }
                let values: BTreeSet<_> = rules.iter().map(|r| &r.value).collect();
                assert_eq!(values.len(), rules.len(), "values are unique");
                for tag in ["ai", "mix"] {
                    let mut terms: Vec<String> = rules
                        .iter()
                        .filter(|r| r.tag.split(',').any(|t| t == tag))
                        .flat_map(|r| split_terms(&r.value, filter))
                        .collect();
                    let mut want: Vec<String> =
                        groups.stream(tag).iter().map(|k| term(k)).collect();
                    terms.sort();
                    want.sort();
                    assert_eq!(terms, want, "stream {tag}, max {max}, filter {filter:?}");
                }
            }
        }
        // At the default limit: a handful of rules, the first shared by both streams.
        let rules = build(&streams, &groups, "", 512).unwrap();
        assert!(rules.len() <= 5, "{rules:#?}");
        assert_eq!(rules[0].tag, "ai,mix");
        assert!(rules[0]
            .value
            .starts_with("#AI OR \"Artificial Intelligence\" OR robotics OR "));
        let only_ai = build(&kw(&["ai"]), &groups, "", 512).unwrap();
        assert!(only_ai.iter().all(|r| r.tag == "ai"));
    }

    /// The terms of a built rule value (inverse of `value` for these inputs).
    fn split_terms(value: &str, filter: &str) -> Vec<String> {
        let mut v = value;
        if !filter.is_empty() {
            v = v.strip_suffix(filter).unwrap().trim_end();
            v = v
                .strip_prefix('(')
                .and_then(|x| x.strip_suffix(')'))
                .unwrap_or(v);
        }
        v.split(" OR ").map(str::to_string).collect()
    }

    fn server(rules: &[(&str, &str, Option<&str>)]) -> Vec<Rule> {
        rules
            .iter()
            .map(|(id, value, tag)| Rule {
                id: id.to_string(),
                value: value.to_string(),
                tag: tag.map(str::to_string),
            })
            .collect()
    }

    #[test]
    fn sync_plan_keeps_adds_and_deletes() {
        let wanted = vec![
            RuleSpec {
                value: "a OR b".into(),
                tag: "ai,mix".into(),
            },
            RuleSpec {
                value: "c".into(),
                tag: "mix".into(),
            },
            RuleSpec {
                value: "d".into(),
                tag: "ai".into(),
            },
        ];
        let have = server(&[
            ("1", "a OR b", Some("ai,mix")), // kept
            ("2", "c", Some("ai")),          // right value, wrong tag: replaced
            ("3", "old", Some("ai")),        // stale
            ("4", "a OR b", Some("ai,mix")), // duplicate of 1
            ("5", "d", None),                // untagged
        ]);
        let p = plan(&have, &wanted);
        assert_eq!(
            p.keep.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["1"]
        );
        assert_eq!(p.delete, ["2", "3", "4", "5"]);
        assert_eq!(p.add, wanted[1..].to_vec());
        assert!(!p.is_noop());
        let settled = server(&[
            ("1", "a OR b", Some("ai,mix")),
            ("7", "c", Some("mix")),
            ("8", "d", Some("ai")),
        ]);
        assert!(plan(&settled, &wanted).is_noop());
        assert_eq!(plan(&[], &wanted).add, wanted);
    }
}
