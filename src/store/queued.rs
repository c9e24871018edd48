//! A write a store has queued and will answer later, awaited without a thread waiting.
//!
//! SQLite's writer thread commits the writes queued to it many to a transaction
//! (`sqlite/writer.rs`). A handler that waited for that on a blocking-pool thread cost three
//! thread hand-offs a write (runtime → blocking thread → writer → blocking thread → runtime);
//! awaiting a [`Queued`] costs one (writer → the task's runtime thread), and no thread is
//! parked meanwhile.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use super::{StoreError, StoredResource, Write};

/// The outcome of a queued write, once the commit that holds it is durable (or failed).
pub struct Queued<T> {
    answer: oneshot::Receiver<Result<T, StoreError>>,
    /// Called once the answer came (the service times store calls with it).
    on_answer: Option<Box<dyn FnOnce() + Send>>,
}

/// What a user create queued through its population came to.
#[derive(Debug)]
// Moved once, from the store to the request that awaits it: boxing the user would cost an
// allocation a create for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Created {
    /// Written: the user as stored.
    Stored(StoredResource),
    /// Not written: the store gives it back, to be written by `write_user` on a thread that
    /// may block (PostgreSQL's batch declines a create whose manager's profile reads its
    /// count, or whose tenant's index must be rebuilt first).
    GivenBack(Box<Write>),
}

/// The store's end: answers its [`Queued`] once.
pub struct Reply<T>(oneshot::Sender<Result<T, StoreError>>);

impl<T> Queued<T> {
    /// A queued write and the end that answers it.
    pub fn new() -> (Queued<T>, Reply<T>) {
        let (reply, answer) = oneshot::channel();
        let queued = Queued {
            answer,
            on_answer: None,
        };
        (queued, Reply(reply))
    }

    /// A write answered already (it could not be queued).
    pub fn answered(result: Result<T, StoreError>) -> Queued<T> {
        let (queued, reply) = Queued::new();
        reply.answer(result);
        queued
    }

    /// Calls `note` once the answer has come, before it is handed out.
    pub fn on_answer(mut self, note: impl FnOnce() + Send + 'static) -> Queued<T> {
        self.on_answer = Some(Box::new(note));
        self
    }
}

impl<T> Reply<T> {
    /// Answers the write; a caller that went away (its request was dropped) is not told.
    pub fn answer(self, result: Result<T, StoreError>) {
        let _ = self.0.send(result);
    }
}

impl<T> Future for Queued<T> {
    type Output = Result<T, StoreError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let outcome = match Pin::new(&mut this.answer).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(result)) => result,
            // The reply was dropped unanswered: the writer thread is gone.
            Poll::Ready(Err(_)) => Err(StoreError::Backend("the writer thread stopped".into())),
        };
        if let Some(note) = this.on_answer.take() {
            note();
        }
        Poll::Ready(outcome)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn the_answer_comes_from_another_thread_and_is_noted_once_it_came() {
        let (queued, reply) = Queued::<u32>::new();
        let noted = Arc::new(AtomicBool::new(false));
        let seen = noted.clone();
        let queued = queued.on_answer(move || seen.store(true, Ordering::SeqCst));
        let answering = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            reply.answer(Ok(7));
        });
        assert!(!noted.load(Ordering::SeqCst));
        assert_eq!(queued.await.unwrap(), 7);
        assert!(noted.load(Ordering::SeqCst));
        answering.join().unwrap();
    }

    #[tokio::test]
    async fn a_reply_dropped_unanswered_is_an_error_not_a_hang() {
        let (queued, reply) = Queued::<u32>::new();
        drop(reply);
        let error = queued.await.unwrap_err();
        assert!(
            error.to_string().contains("writer thread stopped"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_write_that_could_not_be_queued_is_answered_at_once() {
        let queued = Queued::<u32>::answered(Err(StoreError::Conflict));
        assert!(matches!(queued.await, Err(StoreError::Conflict)));
    }
}
