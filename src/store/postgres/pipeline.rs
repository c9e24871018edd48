//! Statements of one transaction sent without waiting for each other's answers.
//!
//! A user write that keeps the organisation graph is a dozen statements, and most of them
//! (its locks, its rows) have no answer the write needs. Awaited one at a time, each costs a
//! round trip: a wake-up of PostgreSQL's backend and of the caller's thread, which on a
//! loaded machine is most of a write's latency. tokio-postgres sends a statement as soon as
//! its future is first polled and matches the answers to the statements in order, so
//! statements whose answers are not needed are queued here and sent, in order, together
//! with the next statement whose answer is: one round trip for all of them.
//!
//! The semantics are those of sending them one at a time: PostgreSQL runs a connection's
//! statements in the order they arrive, each with its own snapshot (a read sent after a lock
//! sees what the lock's holder committed). A queued statement that fails fails the
//! transaction, and every statement after it with it; the first failure in order is the
//! one reported.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};

/// One statement's parameters, owned (the statement is sent after the call that queued it).
pub(super) type Param = Box<dyn ToSql + Sync + Send>;

/// A statement on its way: its first poll sends it.
type Sent<'a> = Pin<Box<dyn Future<Output = Result<Vec<Row>, tokio_postgres::Error>> + Send + 'a>>;

/// The statements queued on one transaction, not yet sent, each with whether its rows
/// are wanted.
#[derive(Default)]
pub(super) struct Queue<'a> {
    statements: Vec<(Sent<'a>, bool)>,
}

impl<'a> Queue<'a> {
    /// Queues `statement` (already prepared: preparing is a round trip of its own, which
    /// would let later statements overtake it) with `params`.
    pub(super) fn push(
        &mut self,
        client: &'a deadpool_postgres::Client,
        statement: Statement,
        params: Vec<Param>,
        wanted: bool,
    ) {
        let sent: Sent<'a> = Box::pin(query(client, statement, params));
        self.statements.push((sent, wanted));
    }

    pub(super) fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// Sends every queued statement and waits for all their answers: the rows of those
    /// wanted, in order, or the first failure in the order they were sent.
    pub(super) async fn flush(&mut self) -> Result<Vec<Vec<Row>>, tokio_postgres::Error> {
        let wanted: Vec<bool> = self.statements.iter().map(|(_, wanted)| *wanted).collect();
        let mut rows = Vec::new();
        for (answer, wanted) in self.flush_each().await.into_iter().zip(wanted) {
            let answer = answer?;
            if wanted {
                rows.push(answer);
            }
        }
        Ok(rows)
    }

    /// Sends every queued statement and waits for all their answers: each statement's, in
    /// the order they were queued (a batch of writes tells whose statement failed).
    pub(super) async fn flush_each(&mut self) -> Vec<Result<Vec<Row>, tokio_postgres::Error>> {
        let mut statements: Vec<Sent<'a>> = std::mem::take(&mut self.statements)
            .into_iter()
            .map(|(sent, _)| sent)
            .collect();
        let mut answers: Vec<Option<Result<Vec<Row>, tokio_postgres::Error>>> =
            statements.iter().map(|_| None).collect();
        // Polled in order on every wake-up: the first poll of each sends it, so they leave
        // in the order they were queued.
        std::future::poll_fn(|context| {
            let mut pending = false;
            for (statement, answer) in statements.iter_mut().zip(answers.iter_mut()) {
                if answer.is_some() {
                    continue;
                }
                match statement.as_mut().poll(context) {
                    Poll::Ready(done) => *answer = Some(done),
                    Poll::Pending => pending = true,
                }
            }
            if pending {
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
        answers.into_iter().flatten().collect()
    }
}

async fn query(
    client: &deadpool_postgres::Client,
    statement: Statement,
    params: Vec<Param>,
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let params: Vec<&(dyn ToSql + Sync)> = params
        .iter()
        .map(|param| param.as_ref() as &(dyn ToSql + Sync))
        .collect();
    client.query(&statement, &params).await
}
