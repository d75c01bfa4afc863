//! The "AI tweet or not" model cycle: collect a dataset from the stream, weak-label it with
//! the seed's keyword labelling functions, correct it by hand in the Label pane while an
//! online classifier learns from every label, classify the live stream, export the dataset.
//!
//! | module | what |
//! | --- | --- |
//! | [`lf`] | keyword groups, the eight labelling functions, Snorkel's LF summary |
//! | [`label_model`] | the LFs' votes -> a weak label (`slabel`): accuracy-weighted vote |
//! | [`model`] | logistic regression on hashed word n-grams, SGD (AdaGrad), model file |
//! | [`queue`] | uncertainty / random / newest / LF-disagreement orders |
//! | [`dataset`] | de-duplicate, seeded split, versions as Parquet under `<lake>/datasets` |
//! | [`labels`] | label events, the [`LabelStore`](labels::LabelStore) trait, the embedded log |
//! | [`pg`] | the PostgreSQL label store and the `ai_tweets` table |
//! | [`session`] | one labelling session in memory (labels, weak labels, model, queue) |
//! | [`worker`] | the background task between the Label pane and the store |
//! | [`predictions`] | recent `classify` predictions for the Feed pane |

pub mod dataset;
pub mod export;
pub mod history;
pub mod label_model;
pub mod labels;
pub mod lf;
pub mod model;
pub mod pg;
pub mod predictions;
pub mod queue;
pub mod session;
pub mod worker;

pub use dataset::{Dataset, DatasetRow, RawTweet, Split, SplitSpec};
pub use labels::{
    EmbeddedLabelStore, EventKind, LabelEvent, LabelStore, LabelStoreError, NewEvent,
};
pub use lf::{Keywords, LabelingFunctions};
pub use model::{Model, ModelMeta};
pub use queue::QueueOrder;
pub use session::{Session, Target};

/// Weak labels (label values) of a freshly built dataset: the label model without any hand
/// labels, i.e. an even-weighted vote of the LFs (a text without a vote leans negative).
pub fn initial_slabels(
    ds: &Dataset,
    settings: &crate::config::LearnSettings,
    lfs: &LabelingFunctions,
) -> Vec<i32> {
    let lm = label_model::LabelModel::uniform(lf::LF_NAMES.len());
    ds.rows
        .iter()
        .map(|r| match lm.predict(&lfs.votes(&r.text)).label {
            lf::POS => settings.positive,
            lf::NEG => settings.negative,
            _ => crate::config::ABSTAIN,
        })
        .collect()
}
