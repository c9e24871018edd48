//! Group commit: one writer thread runs the writes handlers queue, many to a transaction.
//!
//! With `synchronous = FULL` every commit waits for an fsync of the WAL, and SQLite has one
//! writer: committing each request on its own serialised the service behind the disk
//! (issue 18: 16 clients, one core idle). Here a thread owns the write connection. It takes
//! the first queued write, opens a transaction, then runs every write already queued behind
//! it (up to [`MAX_WRITES`], or until the batch is [`MAX_AGE`] old), each in a savepoint of
//! its own, and commits once. Only then is each write answered: an acknowledged write is
//! durable, as before. Writes that arrive during the commit's fsync form the next batch.
//!
//! A write that fails (a taken name, an update its closure declines, an SQL error, a panic)
//! is rolled back to its savepoint and answered with its error; the batch's other writes
//! are kept. A failed commit fails every write of its batch.
//!
//! [`Writer::update`] keeps `ResourceStore::update`'s promise that its closure sees the
//! current resource and nothing is written in between: the writer thread reads the resource
//! inside the transaction, hands it to the caller's thread (where the borrowed closure
//! runs) and waits for the result before it runs any other write.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::super::{Queued, StoreError, StoredResource, UpdateFn, Write};
use super::checkpointer::{checkpoint, WalRestart};

/// A batch commits once it holds this many writes…
const MAX_WRITES: usize = 256;
/// …or once its first write is this old, so a long queue cannot hold its first write back.
const MAX_AGE: Duration = Duration::from_millis(5);

/// A queued write: runs on the writer thread, returns how to answer once the commit is done.
type Job = Box<dyn FnOnce(&Connection) -> Answer + Send>;
/// Answers a write with the outcome of the commit that held it (`Some` error: it failed).
type Answer = Box<dyn FnOnce(Option<&str>) + Send>;

pub(super) struct Writer {
    queue: Sender<Job>,
    commits: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the writer thread, which owns `connection` until the store is dropped.
    /// `restart`: the checkpointer's requests for a checkpoint between two batches.
    pub(super) fn start(
        connection: Connection,
        restart: Arc<WalRestart>,
    ) -> Result<Writer, StoreError> {
        let (queue, jobs) = channel::<Job>();
        let commits = Arc::new(AtomicU64::new(0));
        let counted = commits.clone();
        std::thread::Builder::new()
            .name("canon-sqlite-writer".into())
            .spawn(move || run(connection, jobs, &counted, &restart))
            .map_err(|e| StoreError::Backend(format!("cannot start the writer thread: {e}")))?;
        Ok(Writer { queue, commits })
    }

    /// Commits so far (tests check that queued writes share them).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) fn commits(&self) -> u64 {
        self.commits.load(Ordering::SeqCst)
    }

    /// Runs `op` as one write on the writer thread, atomic on its own; returns once the
    /// commit that holds it is durable (or failed).
    pub(super) fn write<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = channel();
        self.queue(op, move |result| {
            // The caller may be gone (its request was dropped): nothing to tell.
            let _ = reply.send(result);
        })?;
        answer
            .recv()
            .map_err(|_| StoreError::Backend("the writer thread stopped".into()))?
    }

    /// [`Writer::write`] without a thread waiting: the answer comes through the returned
    /// future, which the writer thread wakes once the commit holding the write is durable.
    pub(super) fn submit<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Queued<T> {
        let (queued, reply) = Queued::new();
        if let Err(error) = self.queue(op, |result| reply.answer(result)) {
            return Queued::answered(Err(error));
        }
        queued
    }

    /// Queues `op`; `reply` gets its outcome once the commit holding it is done.
    fn queue<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        reply: impl FnOnce(Result<T, StoreError>) + Send + 'static,
    ) -> Result<(), StoreError> {
        let job: Job = Box::new(move |connection| {
            let result = in_savepoint(connection, op);
            Box::new(move |commit_failure| reply(settled(commit_failure, result)))
        });
        self.send(job)
    }

    /// `ResourceStore::update` as one write: `read` finds the current resource on the
    /// writer thread, `change` (borrowed, so it stays on this thread) decides the write,
    /// and `apply` writes it; the transaction is held throughout.
    pub(super) fn update(
        &self,
        read: impl FnOnce(&Connection) -> Result<StoredResource, StoreError> + Send + 'static,
        change: &mut UpdateFn<'_>,
        apply: impl FnOnce(&Connection, StoredResource, Write) -> Result<StoredResource, StoreError>
            + Send
            + 'static,
    ) -> Result<StoredResource, StoreError> {
        let (current_tx, current_rx) = channel::<StoredResource>();
        let (write_tx, write_rx) = channel::<Option<Write>>();
        let (reply, answer) = channel();
        let job: Job = Box::new(move |connection| {
            let result = in_savepoint(connection, |connection| {
                let current = read(connection)?;
                current_tx
                    .send(current.clone())
                    .map_err(|_| StoreError::Aborted)?;
                // The caller's closure declined (`None`) or its thread is gone (it panicked):
                // nothing is written.
                let write = write_rx.recv().ok().flatten().ok_or(StoreError::Aborted)?;
                apply(connection, current, write)
            });
            Box::new(move |commit_failure| {
                let _ = reply.send(settled(commit_failure, result));
            })
        });
        self.send(job)?;
        // No current resource: the read failed, and the answer says why.
        if let Ok(current) = current_rx.recv() {
            let _ = write_tx.send(change(&current));
        }
        answer
            .recv()
            .map_err(|_| StoreError::Backend("the writer thread stopped".into()))?
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        self.queue
            .send(job)
            .map_err(|_| StoreError::Backend("the writer thread stopped".into()))
    }
}

/// The writer thread: batches until every sender is gone.
fn run(connection: Connection, jobs: Receiver<Job>, commits: &AtomicU64, restart: &WalRestart) {
    while let Ok(first) = jobs.recv() {
        if let Err(error) = connection.execute_batch("BEGIN IMMEDIATE") {
            // No transaction: the write runs (and fails or commits) on its own.
            tracing::warn!(%error, "cannot open a write batch");
            let answer = first(&connection);
            answer(None);
            continue;
        }
        let opened = Instant::now();
        let mut answers = vec![first(&connection)];
        while answers.len() < MAX_WRITES && opened.elapsed() < MAX_AGE {
            match jobs.try_recv() {
                Ok(job) => answers.push(job(&connection)),
                Err(_) => break,
            }
        }
        let failure = match connection.execute_batch("COMMIT") {
            Ok(()) => None,
            Err(error) => {
                // A failed COMMIT may leave the transaction open: none of it stays.
                if !connection.is_autocommit() {
                    let _ = connection.execute_batch("ROLLBACK");
                }
                tracing::error!(%error, writes = answers.len(), "a write batch failed to commit");
                Some(error.to_string())
            }
        };
        commits.fetch_add(1, Ordering::SeqCst);
        for answer in answers {
            answer(failure.as_deref());
        }
        if restart.asked() {
            // Copies what was committed since the checkpointer's last pass; with every
            // frame copied, the next batch starts the WAL again (checkpointer.rs).
            checkpoint(&connection);
        }
    }
}

/// A write's outcome once the commit that held it is done: a failed commit fails it.
fn settled<T>(
    commit_failure: Option<&str>,
    result: Result<T, StoreError>,
) -> Result<T, StoreError> {
    match (commit_failure, result) {
        (Some(failure), Ok(_)) => Err(StoreError::Backend(format!(
            "the commit holding this write failed: {failure}"
        ))),
        (_, result) => result,
    }
}

/// `op` in a savepoint: released when it succeeds, rolled back when it fails or panics.
fn in_savepoint<T>(
    connection: &Connection,
    op: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    connection.execute_batch("SAVEPOINT write")?;
    let result = match catch_unwind(AssertUnwindSafe(|| op(connection))) {
        Ok(result) => result,
        Err(_) => Err(StoreError::Backend("a store write panicked".into())),
    };
    let undo = || connection.execute_batch("ROLLBACK TO write; RELEASE write");
    match result {
        Ok(value) => match connection.execute_batch("RELEASE write") {
            Ok(()) => Ok(value),
            Err(error) => {
                let _ = undo();
                Err(error.into())
            }
        },
        Err(error) => {
            undo()?;
            Err(error)
        }
    }
}
