//! The seed's weak labelling functions over its keyword groups, and Snorkel's LF summary.
//!
//! Keywords are data: `assets/keywords/<group>.txt`, read by the X API source's loader
//! (`nlp::keywords`: one keyword or phrase per line, blank lines ignored). The
//! binary carries a copy; `[learn] keywords_dir` points at an edited folder instead.
//!
//! Matching is the seed's: lower-case the text, remove `#` and `@`, pad with a space on both
//! sides and look for ` keyword ` as a substring (whole words and phrases only). Keywords are
//! normalised the same way, so `#AI` matches the word `ai` (the seed's text had no `#` left
//! for `#AI` to match; this is the one deliberate difference).

use std::path::Path;

/// A labelling function's output: one of the two labels, or abstain.
pub type Vote = i8;
pub const POS: Vote = 1;
pub const NEG: Vote = 0;
pub const ABSTAIN: Vote = -1;

/// The AI groups (the seed's POSITIVE).
pub const POSITIVE_GROUPS: &[&str] = &["ai", "ml", "dl", "cv", "nlp", "data", "hashtags"];
/// Every group the LFs read.
pub use crate::nlp::keywords::ALL as GROUPS;

/// The six bigram checks: (name, first word, second word).
pub const BIGRAM_LFS: &[(&str, &str, &str)] = &[
    ("not_data_science", "data", "science"),
    ("not_neural_network", "neural", "network"),
    ("not_big_data", "big", "data"),
    ("not_nlp", "natural", "language"),
    ("not_ai", "artificial", "intelligence"),
    ("not_cv", "computer", "vision"),
];

/// The seed's text normalisation: lower case, `#` and `@` removed, padded with spaces.
pub fn normalise(text: &str) -> String {
    let mut s = String::with_capacity(text.len() + 2);
    s.push(' ');
    for c in text.chars().flat_map(char::to_lowercase) {
        if c != '#' && c != '@' {
            s.push(c);
        }
    }
    s.push(' ');
    s
}

/// One keyword or phrase per line, trimmed; blank lines skipped (the X API source's format).
pub use crate::nlp::keywords::parse_list;

/// Keyword groups as read from the files (case and `#` kept): the X API source's
/// [`KeywordGroups`](crate::nlp::keywords::KeywordGroups), same files, same loader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keywords {
    groups: crate::nlp::keywords::KeywordGroups,
}

impl Keywords {
    /// The copy of `assets/keywords` built into the binary.
    pub fn builtin() -> Keywords {
        Keywords {
            groups: crate::nlp::keywords::KeywordGroups::builtin(),
        }
    }

    /// `<dir>/<group>.txt` for every group.
    pub fn load(dir: &Path) -> anyhow::Result<Keywords> {
        Ok(Keywords {
            groups: crate::nlp::keywords::KeywordGroups::load(dir)?,
        })
    }

    /// The configured folder, else the built-in copy.
    pub fn from_settings(dir: Option<&Path>) -> anyhow::Result<Keywords> {
        match dir {
            Some(d) => Keywords::load(d),
            None => Ok(Keywords::builtin()),
        }
    }

    pub fn group(&self, name: &str) -> &[String] {
        self.groups.group(name)
    }

    fn padded(&self, names: &[&str]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for k in names.iter().flat_map(|n| self.group(n)) {
            let p = normalise(k.trim());
            if p.trim().is_empty() || out.contains(&p) {
                continue;
            }
            out.push(p);
        }
        out
    }
}

/// The seed's eight labelling functions over one set of keywords.
#[derive(Debug, Clone)]
pub struct LabelingFunctions {
    /// POSITIVE keywords, normalised and padded (` machine learning `).
    positive: Vec<String>,
    false_positive: Vec<String>,
}

/// The LFs' names, in vote order.
pub const LF_NAMES: [&str; 8] = [
    "is_ai_tweet",
    "is_not_ai_tweet",
    "not_data_science",
    "not_neural_network",
    "not_big_data",
    "not_nlp",
    "not_ai",
    "not_cv",
];

impl LabelingFunctions {
    pub fn new(k: &Keywords) -> LabelingFunctions {
        LabelingFunctions {
            positive: k.padded(POSITIVE_GROUPS),
            false_positive: k.padded(&["false_positive"]),
        }
    }

    pub fn names(&self) -> &'static [&'static str] {
        &LF_NAMES
    }

    pub fn len(&self) -> usize {
        LF_NAMES.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Polarity of each LF when it does not abstain.
    pub fn polarity(i: usize) -> Vote {
        if i == 0 {
            POS
        } else {
            NEG
        }
    }

    /// Every LF's vote on `text`, in [`LF_NAMES`] order.
    pub fn votes(&self, text: &str) -> [Vote; 8] {
        let norm = normalise(text);
        let pos = self.positive.iter().any(|k| norm.contains(k.as_str()));
        let fp = self
            .false_positive
            .iter()
            .any(|k| norm.contains(k.as_str()));
        let mut out = [ABSTAIN; 8];
        if pos {
            out[0] = POS;
        }
        if fp && !pos {
            out[1] = NEG;
        }
        let words: Vec<&str> = norm.split_whitespace().collect();
        for (i, (_, first, second)) in BIGRAM_LFS.iter().enumerate() {
            let fired = words
                .windows(2)
                .any(|w| (w[0] == *first || w[1] == *first) && w[0] != *second && w[1] != *second);
            if fired {
                out[2 + i] = NEG;
            }
        }
        out
    }
}

/// One row of Snorkel's `LFAnalysis.lf_summary`.
#[derive(Debug, Clone, PartialEq)]
pub struct LfSummaryRow {
    pub name: String,
    /// Labels the LF emitted on the data (sorted; empty if it always abstained).
    pub polarity: Vec<Vote>,
    /// Fraction of data points it labels.
    pub coverage: f64,
    /// Fraction of data points it labels where another LF labels too.
    pub overlaps: f64,
    /// Fraction of data points it labels where another LF gives a different label.
    pub conflicts: f64,
    /// Against the gold labels given (points without gold are not counted).
    pub correct: usize,
    pub incorrect: usize,
    /// `correct / (correct + incorrect)`, `None` without any.
    pub emp_accuracy: Option<f64>,
}

/// Snorkel's LF summary over a vote matrix (`votes[i][j]` = LF `j` on point `i`). `gold[i]`
/// is the hand label of point `i` in vote terms (`POS` / `NEG`), `ABSTAIN` when unknown.
pub fn lf_summary(names: &[&str], votes: &[Vec<Vote>], gold: Option<&[Vote]>) -> Vec<LfSummaryRow> {
    let n = votes.len().max(1) as f64;
    names
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let mut polarity: Vec<Vote> = Vec::new();
            let (mut cov, mut over, mut conf, mut correct, mut incorrect) = (0, 0, 0, 0, 0);
            for (i, row) in votes.iter().enumerate() {
                let v = row[j];
                if v == ABSTAIN {
                    continue;
                }
                cov += 1;
                if !polarity.contains(&v) {
                    polarity.push(v);
                }
                let others = row
                    .iter()
                    .enumerate()
                    .filter(|(k, o)| *k != j && **o != ABSTAIN);
                let mut any = false;
                let mut differ = false;
                for (_, o) in others {
                    any = true;
                    differ |= *o != v;
                }
                over += any as usize;
                conf += differ as usize;
                if let Some(g) = gold
                    .and_then(|g| g.get(i))
                    .copied()
                    .filter(|g| *g != ABSTAIN)
                {
                    if g == v {
                        correct += 1;
                    } else {
                        incorrect += 1;
                    }
                }
            }
            polarity.sort_unstable();
            LfSummaryRow {
                name: name.to_string(),
                polarity,
                coverage: cov as f64 / n,
                overlaps: over as f64 / n,
                conflicts: conf as f64 / n,
                correct,
                incorrect,
                emp_accuracy: (correct + incorrect > 0)
                    .then(|| correct as f64 / (correct + incorrect) as f64),
            }
        })
        .collect()
}

/// The summary as fixed-width lines, the header first: the Label pane shows them and the
/// export's README holds them.
pub fn summary_lines(rows: &[LfSummaryRow]) -> Vec<String> {
    let mut out = vec![format!(
        "{:<19} {:>5} {:>6} {:>6} {:>6} {:>5} {:>5} {:>6}",
        "labelling function", "pol", "cover", "overlp", "confl", "right", "wrong", "acc"
    )];
    for r in rows {
        let pol = r
            .polarity
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(",");
        out.push(format!(
            "{:<19} {:>5} {:>6.3} {:>6.3} {:>6.3} {:>5} {:>5} {:>6}",
            r.name,
            format!("[{pol}]"),
            r.coverage,
            r.overlaps,
            r.conflicts,
            r.correct,
            r.incorrect,
            r.emp_accuracy.map_or("-".into(), |a| format!("{a:.3}"))
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lfs() -> LabelingFunctions {
        LabelingFunctions::new(&Keywords::builtin())
    }

    #[test]
    fn the_folder_on_disk_is_the_built_in_copy() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/keywords");
        assert_eq!(Keywords::load(&dir).unwrap(), Keywords::builtin());
        assert_eq!(
            Keywords::builtin().group("ai"),
            ["#AI", "Artificial Intelligence", "robotics"]
        );
    }

    #[test]
    fn seed_rules_whole_words_only() {
        let l = lfs();
        // A positive phrase, whole words.
        assert_eq!(l.votes("I love Machine Learning today")[0], POS);
        // Not as part of a word.
        assert_eq!(l.votes("machine learningish")[0], ABSTAIN);
        // '#' and '@' are removed: #DeepLearning -> deeplearning.
        assert_eq!(l.votes("so #DeepLearning wow")[0], POS);
        // '#AI' keyword matches the word ai.
        assert_eq!(l.votes("all about #AI now")[0], POS);
        // Punctuation glued to the word blocks the match (seed rule).
        assert_eq!(l.votes("we use kafka.")[0], ABSTAIN);
        // False positive without positive.
        let v = l.votes("the gpu was cheap");
        assert_eq!((v[0], v[1]), (ABSTAIN, NEG));
        // False positive with positive: is_not_ai_tweet abstains.
        let v = l.votes("nvidia gpu for deep learning");
        assert_eq!((v[0], v[1]), (POS, ABSTAIN));
    }

    #[test]
    fn bigram_checks() {
        let l = lfs();
        // data science: every pair containing data also contains science.
        assert_eq!(l.votes("data science")[2], ABSTAIN);
        // big data: pair (big, data) contains big and data -> not_big_data abstains, but
        // not_data_science fires (a pair with data and without science).
        let v = l.votes("big data");
        assert_eq!((v[2], v[4]), (NEG, ABSTAIN));
        // "the data science": pair (the, data) contains data and not science.
        assert_eq!(l.votes("the data science")[2], NEG);
        // single word: no pairs.
        assert_eq!(l.votes("data")[2], ABSTAIN);
        assert_eq!(l.votes("neural nets")[3], NEG);
        assert_eq!(l.votes("natural language processing")[5], ABSTAIN);
        assert_eq!(l.votes("artificial sweetener")[6], NEG);
        assert_eq!(l.votes("my computer broke")[7], NEG);
    }
}
