/// A stage error that restarting cannot fix (e.g. a rejected credential): the stage is marked
/// failed and not restarted, whatever its restart policy. Return it (or any error whose chain
/// contains it) from `Stage::run`: `Err(Fatal("bad token".into()).into())`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Fatal(pub String);

impl Fatal {
    /// True when `e` or an error in its chain is a [`Fatal`].
    pub fn is_in(e: &anyhow::Error) -> bool {
        e.chain().any(|c| c.downcast_ref::<Fatal>().is_some())
    }
}
