//! The playground's keyword groups (`assets/keywords/<group>.txt`, one keyword per line),
//! built into the binary or read from a folder, and the two streams made of them.

use std::path::Path;

use anyhow::Context as _;

/// The AI groups (the playground's POSITIVE).
pub const POSITIVE: &[&str] = &["ai", "ml", "dl", "cv", "nlp", "data", "hashtags"];
/// Every group, in the playground's ALL order (POSITIVE + FALSE_POSITIVE + RANDOM_TOPICS).
pub const ALL: &[&str] = &[
    "ai",
    "ml",
    "dl",
    "cv",
    "nlp",
    "data",
    "hashtags",
    "false_positive",
    "random_topics",
];

const BUILTIN: &[(&str, &str)] = &[
    ("ai", include_str!("../../assets/keywords/ai.txt")),
    ("ml", include_str!("../../assets/keywords/ml.txt")),
    ("dl", include_str!("../../assets/keywords/dl.txt")),
    ("cv", include_str!("../../assets/keywords/cv.txt")),
    ("nlp", include_str!("../../assets/keywords/nlp.txt")),
    ("data", include_str!("../../assets/keywords/data.txt")),
    (
        "hashtags",
        include_str!("../../assets/keywords/hashtags.txt"),
    ),
    (
        "false_positive",
        include_str!("../../assets/keywords/false_positive.txt"),
    ),
    (
        "random_topics",
        include_str!("../../assets/keywords/random_topics.txt"),
    ),
];

/// Keywords by group, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeywordGroups {
    groups: Vec<(String, Vec<String>)>,
}

/// One keyword per line, trimmed; blank lines skipped (no comments: `#AI` is a keyword).
pub fn parse_list(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

impl KeywordGroups {
    /// The copy of `assets/keywords` built into the binary.
    pub fn builtin() -> KeywordGroups {
        KeywordGroups {
            groups: BUILTIN
                .iter()
                .map(|(name, text)| (name.to_string(), parse_list(text)))
                .collect(),
        }
    }

    /// Reads `<dir>/<group>.txt` for every group in [`ALL`].
    pub fn load(dir: &Path) -> anyhow::Result<KeywordGroups> {
        let mut groups = Vec::new();
        for name in ALL {
            let path = dir.join(format!("{name}.txt"));
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading keyword group {}", path.display()))?;
            groups.push((name.to_string(), parse_list(&text)));
        }
        Ok(KeywordGroups { groups })
    }

    pub fn group(&self, name: &str) -> &[String] {
        self.groups
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, k)| k.as_slice())
            .unwrap_or(&[])
    }

    /// The keywords of the groups `names`, in order, each once (case-insensitively).
    pub fn union(&self, names: &[&str]) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        names
            .iter()
            .flat_map(|n| self.group(n))
            .filter(|k| seen.insert(k.to_lowercase()))
            .cloned()
            .collect()
    }

    /// The keywords of a stream tag: `ai` = POSITIVE, `mix` = ALL.
    pub fn stream(&self, tag: &str) -> Vec<String> {
        match tag {
            "ai" => self.union(POSITIVE),
            "mix" => self.union(ALL),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_groups_are_the_seeds_lists() {
        let k = KeywordGroups::builtin();
        assert_eq!(
            k.group("ai"),
            ["#AI", "Artificial Intelligence", "robotics"]
        );
        assert_eq!(k.group("ml").len(), 5);
        assert_eq!(k.group("dl").len(), 7);
        assert_eq!(k.group("cv").len(), 7);
        assert_eq!(k.group("nlp").len(), 7);
        assert_eq!(k.group("data").len(), 21);
        assert_eq!(k.group("hashtags").len(), 9);
        assert_eq!(k.group("false_positive").len(), 28);
        assert_eq!(k.group("random_topics").len(), 14);
        assert_eq!(k.group("data").last().map(String::as_str), Some("kafka"));
        // POSITIVE has no repeats; ALL repeats mathematics, astrology, conspiracy, vedic.
        assert_eq!(k.stream("ai").len(), 59);
        assert_eq!(k.stream("mix").len(), 59 + 28 + 14 - 4);
        assert!(k.stream("nope").is_empty());
    }

    #[test]
    fn the_folder_on_disk_matches_the_built_in_copy() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/keywords");
        assert_eq!(KeywordGroups::load(&dir).unwrap(), KeywordGroups::builtin());
    }

    #[test]
    fn loads_an_edited_folder_and_names_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        for name in ALL {
            std::fs::write(
                dir.path().join(format!("{name}.txt")),
                "\n  one \n\n#two\r\n",
            )
            .unwrap();
        }
        let k = KeywordGroups::load(dir.path()).unwrap();
        assert_eq!(k.group("cv"), ["one", "#two"]);
        assert_eq!(k.stream("mix"), ["one", "#two"]);
        std::fs::remove_file(dir.path().join("nlp.txt")).unwrap();
        let e = format!("{:#}", KeywordGroups::load(dir.path()).unwrap_err());
        assert!(e.contains("nlp.txt"), "{e}");
    }
}
