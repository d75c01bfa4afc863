//! The labelling functions on a small fixed set, and Snorkel's LF summary over it, with the
//! expected votes worked out by hand from the seed's rules and the expected coverage /
//! overlaps / conflicts / accuracy computed here independently (per-LF index sets).

use std::collections::BTreeSet;

use ssp_tui::learn::label_model::LabelModel;
use ssp_tui::learn::lf::{
    lf_summary, Keywords, LabelingFunctions, Vote, ABSTAIN, LF_NAMES, NEG, POS,
};

const A: Vote = ABSTAIN;

/// (text, votes worked out by hand, hand label or ABSTAIN when unknown).
fn fixture() -> Vec<(&'static str, [Vote; 8], Vote)> {
    vec![
        // "machine learning" is an ML keyword; no bigram LF word.
        (
            "Machine Learning is eating the world",
            [POS, A, A, A, A, A, A, A],
            POS,
        ),
        // big data / data science are DATA keywords; (big, data) has data without science;
        // (love, big) has big without data.
        (
            "I love big data and data science",
            [POS, A, NEG, A, NEG, A, A, A],
            POS,
        ),
        // computer is a false positive, nothing positive; (my, computer) lacks vision.
        ("my computer is broken", [A, NEG, A, A, A, A, A, NEG], NEG),
        ("Sunny day at the beach", [A; 8], NEG),
        // #AI -> ai; (and, natural) has natural without language.
        (
            "#AI and natural language processing with spacy",
            [POS, A, A, A, A, NEG, A, A],
            POS,
        ),
        // "artifical" (sic) is the seed's false positive, not "artificial".
        (
            "artificial sweetener is bad",
            [A, A, A, A, A, A, NEG, A],
            NEG,
        ),
        ("deep vision nvidia gpu", [A, NEG, A, A, A, A, A, A], NEG),
        // @ removed; neural network is a DL keyword and its pair holds both words.
        (
            "neural network models at @OpenAI",
            [POS, A, A, A, A, A, A, A],
            A,
        ),
    ]
}

#[test]
fn votes_follow_the_seed_rules() {
    let lfs = LabelingFunctions::new(&Keywords::builtin());
    for (text, want, _) in fixture() {
        assert_eq!(lfs.votes(text), want, "votes on {text:?}");
    }
}

struct Expected {
    polarity: Vec<Vote>,
    coverage: f64,
    overlaps: f64,
    conflicts: f64,
    correct: usize,
    incorrect: usize,
}

/// The summary computed from index sets: points each LF labels, points some other LF labels
/// (with any / another label).
fn independent(votes: &[[Vote; 8]], gold: &[Vote]) -> Vec<Expected> {
    let n = votes.len() as f64;
    (0..8)
        .map(|j| {
            let labels: BTreeSet<usize> = (0..votes.len()).filter(|i| votes[*i][j] != A).collect();
            let others: BTreeSet<usize> = (0..votes.len())
                .filter(|i| (0..8).any(|k| k != j && votes[*i][k] != A))
                .collect();
            let disagree: BTreeSet<usize> = labels
                .iter()
                .copied()
                .filter(|i| {
                    (0..8).any(|k| k != j && votes[*i][k] != A && votes[*i][k] != votes[*i][j])
                })
                .collect();
            let pol: BTreeSet<Vote> = labels.iter().map(|i| votes[*i][j]).collect();
            let judged: Vec<usize> = labels.iter().copied().filter(|i| gold[*i] != A).collect();
            Expected {
                polarity: pol.into_iter().collect(),
                coverage: labels.len() as f64 / n,
                overlaps: labels.intersection(&others).count() as f64 / n,
                conflicts: disagree.len() as f64 / n,
                correct: judged.iter().filter(|i| gold[**i] == votes[**i][j]).count(),
                incorrect: judged.iter().filter(|i| gold[**i] != votes[**i][j]).count(),
            }
        })
        .collect()
}

#[test]
fn lf_summary_matches_an_independent_count() {
    let lfs = LabelingFunctions::new(&Keywords::builtin());
    let fx = fixture();
    let votes: Vec<[Vote; 8]> = fx.iter().map(|(t, _, _)| lfs.votes(t)).collect();
    let gold: Vec<Vote> = fx.iter().map(|(_, _, g)| *g).collect();
    let rows = lf_summary(
        &LF_NAMES,
        &votes.iter().map(|v| v.to_vec()).collect::<Vec<_>>(),
        Some(&gold),
    );
    let want = independent(&votes, &gold);
    assert_eq!(rows.len(), 8);
    for (r, w) in rows.iter().zip(&want) {
        assert_eq!(r.polarity, w.polarity, "{} polarity", r.name);
        assert!(
            (r.coverage - w.coverage).abs() < 1e-12,
            "{} coverage {} vs {}",
            r.name,
            r.coverage,
            w.coverage
        );
        assert!(
            (r.overlaps - w.overlaps).abs() < 1e-12,
            "{} overlaps",
            r.name
        );
        assert!(
            (r.conflicts - w.conflicts).abs() < 1e-12,
            "{} conflicts",
            r.name
        );
        assert_eq!(
            (r.correct, r.incorrect),
            (w.correct, w.incorrect),
            "{} correct/incorrect",
            r.name
        );
        let acc = (w.correct + w.incorrect > 0)
            .then(|| w.correct as f64 / (w.correct + w.incorrect) as f64);
        assert_eq!(r.emp_accuracy, acc, "{} accuracy", r.name);
    }
    // And the numbers by hand, for the record (8 points).
    let by_name = |n: &str| rows.iter().find(|r| r.name == n).unwrap();
    let ai = by_name("is_ai_tweet");
    assert_eq!((ai.coverage, ai.overlaps, ai.conflicts), (0.5, 0.25, 0.25));
    assert_eq!(
        (ai.correct, ai.incorrect, ai.emp_accuracy),
        (3, 0, Some(1.0))
    );
    let not_ai = by_name("is_not_ai_tweet");
    assert_eq!(
        (not_ai.coverage, not_ai.overlaps, not_ai.conflicts),
        (0.25, 0.125, 0.0)
    );
    assert_eq!((not_ai.correct, not_ai.incorrect), (2, 0));
    let ds = by_name("not_data_science");
    assert_eq!(
        (ds.coverage, ds.overlaps, ds.conflicts),
        (0.125, 0.125, 0.125)
    );
    assert_eq!(
        (ds.correct, ds.incorrect, ds.emp_accuracy),
        (0, 1, Some(0.0))
    );
    let nn = by_name("not_neural_network");
    assert_eq!(
        (nn.coverage, nn.emp_accuracy, nn.polarity.len()),
        (0.0, None, 0)
    );
    let cv = by_name("not_cv");
    assert_eq!(
        (cv.coverage, cv.overlaps, cv.conflicts, cv.correct),
        (0.125, 0.125, 0.0, 1)
    );
}

#[test]
fn label_model_learns_lf_accuracy_from_dev_labels() {
    let lfs = LabelingFunctions::new(&Keywords::builtin());
    let fx = fixture();
    let votes: Vec<[Vote; 8]> = fx.iter().map(|(t, _, _)| lfs.votes(t)).collect();
    // Without dev labels: an even vote. "big data and data science" = 1 positive, 2 negative.
    let uniform = LabelModel::uniform(8);
    assert_eq!(uniform.predict(&votes[1]).label, NEG);
    // No vote: leans negative (the seed's LFs hit an AI keyword on AI tweets).
    let none = uniform.predict(&votes[3]);
    assert_eq!((none.label, none.voted), (NEG, false));
    // With the fixture's labels as dev labels, the bigram LFs that were wrong weigh less and
    // is_ai_tweet (always right) more: the same point becomes positive.
    let fitted = LabelModel::fit(8, votes.iter().zip(&fx).map(|(v, f)| (&v[..], f.2)));
    assert!(fitted.accuracies[0] > fitted.accuracies[2], "{fitted:?}");
    assert_eq!(fitted.predict(&votes[1]).label, POS);
}

/// The collapse: 11 dev labels, 2 of them AI, where the AI-keyword LF also fires on 3
/// OTHER texts. Before the fix the dev class prior outweighed every single positive vote and
/// every text became OTHER.
#[test]
fn few_dev_labels_with_few_positives_do_not_collapse_the_weak_labels() {
    let lfs = LabelingFunctions::new(&Keywords::builtin());
    let dev: Vec<(&str, Vote)> = vec![
        ("Machine Learning is eating the world", POS),
        ("#AI and natural language processing with spacy", POS),
        // is_ai_tweet fires (big data, deep learning, #ai) on three OTHER texts.
        ("big data is just a buzzword for spreadsheets", NEG),
        ("deep learning how to cook rice", NEG),
        ("#AI generated cat pictures, lol", NEG),
        ("Sunny day at the beach", NEG),
        ("my computer is broken", NEG),
        ("lunch was great today", NEG),
        ("the train is late again", NEG),
        ("new shoes, who dis", NEG),
        ("watching the game tonight", NEG),
    ];
    let dev_votes: Vec<[Vote; 8]> = dev.iter().map(|(t, _)| lfs.votes(t)).collect();
    assert_eq!(
        dev_votes.iter().filter(|v| v[0] == POS).count(),
        5,
        "is_ai_tweet fires on the 2 AI texts and 3 others: {dev_votes:?}"
    );
    let fitted = LabelModel::fit(8, dev_votes.iter().zip(&dev).map(|(v, d)| (&v[..], d.1)));
    // is_ai_tweet: 2 right of 5, smoothed (2 + 3) / (5 + 4) = 0.556: trusted less than at
    // the start (0.75) but still more right than wrong.
    assert!(
        (fitted.accuracies[0] - 5.0 / 9.0).abs() < 1e-9,
        "{:?}",
        fitted.accuracies
    );
    let unseen = [
        "Reinforcement learning agents beat the benchmark",
        "Training a neural network on GPUs",
        "#MachineLearning for beginners",
        "Coffee first, then emails",
        "my computer is slow today",
        "What a match last night",
    ];
    let labels: Vec<Vote> = unseen
        .iter()
        .map(|t| fitted.predict(&lfs.votes(t)).label)
        .collect();
    assert!(
        labels.contains(&POS) && labels.contains(&NEG),
        "both classes remain: {labels:?}"
    );
    // Against majority vote: where the LFs are unanimous and each is right more often than
    // not, the weighted vote agrees with it.
    for t in unseen {
        let v = lfs.votes(t);
        let pos = v.iter().filter(|x| **x == POS).count();
        let neg = v.iter().filter(|x| **x == NEG).count();
        if (pos == 0) != (neg == 0) {
            let majority = if pos > 0 { POS } else { NEG };
            assert_eq!(fitted.predict(&v).label, majority, "{t:?}: votes {v:?}");
        }
    }
}
