//! The export's `README.md`: counts and label distribution per split, the model's and the
//! weak labeller's dev scores, the split settings and the LF summary.

use std::fmt::Write as _;

use super::ExportRow;
use crate::config::{Settings, ABSTAIN};
use crate::learn::dataset::Split;
use crate::learn::lf::{summary_lines, LabelingFunctions};
use crate::learn::Session;

pub(super) fn readme(
    s: &Session,
    settings: &Settings,
    store: &str,
    rows: &[(Split, Vec<ExportRow>)],
    lfs: &LabelingFunctions,
) -> String {
    let learn = &settings.learn;
    let mut out = String::new();
    let _ = writeln!(out, "# ssp-tui dataset v{}\n", s.version);
    let _ = writeln!(
        out,
        "Exported {} from {store}. Labels: {} (-1 = not labelled / abstain). Columns: text_id, tweet_id, text, label (hand label), slabel (weak label), probability (model's probability of {}); for hand-labelled rows the label's provenance: labelled_by, labelled_at_ms, event_id, source (the bronze versions the texts came from), model_version (hand labels the model had learned from) and label_probability (the model's probability shown when labelling).\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC"),
        learn
            .labels
            .iter()
            .map(|l| format!("{} = {}", l.name, l.value))
            .collect::<Vec<_>>()
            .join(", "),
        learn.positive_name()
    );
    let _ = writeln!(
        out,
        "| split | rows | hand-labelled | {} | weak {} | weak {} | no LF voted | files |",
        learn
            .labels
            .iter()
            .map(|l| format!("label {}", l.name))
            .collect::<Vec<_>>()
            .join(" | "),
        learn.positive_name(),
        learn.label_name(learn.negative)
    );
    let _ = writeln!(
        out,
        "| --- | ---: | ---: | {}---: | ---: | ---: | --- |",
        "---: | ".repeat(learn.labels.len())
    );
    for (split, r) in rows {
        let hand = r.iter().filter(|x| x.label != ABSTAIN).count();
        let per: Vec<String> = learn
            .labels
            .iter()
            .map(|l| r.iter().filter(|x| x.label == l.value).count().to_string())
            .collect();
        let wp = r.iter().filter(|x| x.slabel == learn.positive).count();
        let wn = r.iter().filter(|x| x.slabel == learn.negative).count();
        let wa = r
            .iter()
            .filter(|x| {
                lfs.votes(&x.text)
                    .iter()
                    .all(|v| *v == crate::learn::lf::ABSTAIN)
            })
            .count();
        let _ = writeln!(
            out,
            "| {split} | {} | {hand} | {} | {wp} | {wn} | {wa} | `{split}.parquet`, `{split}.jsonl` |",
            r.len(),
            per.join(" | ")
        );
    }
    let (m, w) = s.dev_scores();
    let _ = writeln!(
        out,
        "\nOn the {} hand-labelled dev texts: model accuracy {:.3}, F1 {:.3}; weak labels accuracy {:.3}, F1 {:.3}.\n",
        m.n, m.accuracy, m.f1, w.accuracy, w.f1
    );
    let _ = writeln!(
        out,
        "Splits of this version: seed {}, test {}, dev {}, weak-train {}, train the rest; no text is in two splits.\n",
        s.settings.seed, s.settings.test_size, s.settings.dev_size, s.settings.weak_train_size
    );
    let _ = writeln!(out, "## Labelling functions (coverage / overlaps / conflicts over all texts; correct / incorrect against dev hand labels)\n");
    let _ = writeln!(
        out,
        "```\n{}\n```",
        summary_lines(s.lf_summary()).join("\n")
    );
    out
}
