//! Parsing a batch's new messages into tweets, on rayon's pool while the batches before it
//! are appended.

use crate::bus::Message;
use crate::tweet::Tweet;

/// Each new message parsed, with its text's hash (both on the pool), or why it is no tweet.
pub(super) type Parsed = Vec<Result<(Tweet, String), String>>;
pub(super) type ParseResult = std::thread::Result<(Vec<Message>, Parsed)>;

/// The parse of one batch's new messages: done already (small batches) or running on rayon's
/// pool (every core) while the runtime thread appends the batches before it.
pub(super) enum ParseJob {
    Done(Vec<Message>, Parsed),
    Running(tokio::sync::oneshot::Receiver<ParseResult>),
}

impl ParseJob {
    pub(super) fn start(batch: Vec<Message>, todo: Vec<usize>) -> ParseJob {
        use rayon::prelude::*;
        let parse = |m: &Message| match Tweet::parse(&m.payload) {
            Ok(t) => {
                let hash = t.text_hash();
                Ok((t, hash))
            }
            Err(e) => Err(e.to_string()),
        };
        // Even a few messages go to the pool: the runtime thread runs the source too.
        if todo.len() < 4 {
            let parsed = todo.iter().map(|i| parse(&batch[*i])).collect();
            return ParseJob::Done(batch, parsed);
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        rayon::spawn(move || {
            let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                todo.par_iter()
                    .with_min_len(16)
                    .map(|i| parse(&batch[*i]))
                    .collect::<Parsed>()
            }));
            let _ = tx.send(parsed.map(|p| (batch, p)));
        });
        ParseJob::Running(rx)
    }

    /// The batch back, with the results in `todo` order.
    pub(super) async fn wait(self) -> (Vec<Message>, Parsed) {
        match self {
            ParseJob::Done(batch, parsed) => (batch, parsed),
            ParseJob::Running(rx) => match rx.await {
                Ok(Ok(done)) => done,
                Ok(Err(panic)) => std::panic::resume_unwind(panic),
                Err(_) => panic!("the parse pool dropped a batch"),
            },
        }
    }
}
