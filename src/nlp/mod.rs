//! Natural-language processing of tweets: named entities from a spaCy service (either API) or
//! from the built-in rules, and the status the `ner` stage publishes for the NER pane.

pub mod entity;
pub mod keywords;
pub mod ner_client;
pub mod pydict;
pub mod rules;

pub use entity::{locate, sort_entities, Entity};
pub use ner_client::{
    Annotated, ClientObserver, ClientOptions, Health, NerApi, NerClient, NerError, NoObserver,
};
pub use pydict::parse_py_str_dict;
pub use rules::RuleTagger;
