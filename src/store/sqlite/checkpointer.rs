//! WAL checkpoints on a thread of their own.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its threshold, on the
//! writer's connection: with `synchronous = FULL` it copies the WAL into the database and
//! fsyncs both, and every write queued behind that batch waits (create p99 62 ms with
//! group commit). The writer's automatic checkpoints are off; this thread runs a `PASSIVE`
//! checkpoint (it never blocks the writer or readers) every [`EVERY`].

use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::time::Duration;

use rusqlite::Connection;

use super::super::StoreError;

const EVERY: Duration = Duration::from_millis(250);

/// Dropping it stops the thread (after its last checkpoint).
pub(super) struct Stop(#[allow(dead_code)] Sender<()>);

pub(super) fn start(connection: Connection) -> Result<Stop, StoreError> {
    let (stop, stopped) = channel::<()>();
    std::thread::Builder::new()
        .name("canon-sqlite-checkpoint".into())
        .spawn(move || loop {
            match stopped.recv_timeout(EVERY) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                    checkpoint(&connection);
                    return;
                }
            }
            checkpoint(&connection);
        })
        .map_err(|e| StoreError::Backend(format!("cannot start the checkpoint thread: {e}")))?;
    Ok(Stop(stop))
}

fn checkpoint(connection: &Connection) {
    let done = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    if let Err(error) = done {
        tracing::warn!(%error, "WAL checkpoint failed; the next one retries");
    }
}
