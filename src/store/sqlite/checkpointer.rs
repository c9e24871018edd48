//! WAL checkpoints on a thread of their own.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its threshold, on the
//! writer's connection: with `synchronous = FULL` it copies the WAL into the database and
//! fsyncs both, and every write queued behind that batch waits (create p99 62 ms with
//! group commit). The writer's automatic checkpoints are off; this thread runs a `PASSIVE`
//! checkpoint (it never blocks the writer or readers) every [`EVERY`].
//!
//! A checkpoint copies the WAL into the database, but the WAL only starts again from its
//! beginning when a write transaction begins with every frame copied, which never happens
//! while the writer commits batch after batch: under sustained writes the WAL grew without
//! bound (178 MB in store_load's 10,000 writes), every frame appended to new file space (a
//! page-cache page and a block to allocate) and every fsync writing the grown file's
//! metadata too. So once the WAL holds [`RESTART_FRAMES`], this thread asks the writer
//! ([`WalRestart`]) to run a checkpoint itself between two batches: it copies only what was
//! committed since this thread's, and the next batch starts the WAL again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;

use super::super::StoreError;

const EVERY: Duration = Duration::from_millis(250);

/// WAL frames past which the writer is asked to let the WAL start again (16 MiB of 2 KiB
/// pages).
pub(super) const RESTART_FRAMES: i64 = 8192;

/// The checkpointer's request to the writer thread: run a checkpoint between two batches.
pub(super) struct WalRestart {
    asked: AtomicBool,
    /// WAL frames past which it is asked.
    frames: i64,
}

impl WalRestart {
    /// Asked for once the WAL holds `frames`.
    pub(super) fn after(frames: i64) -> WalRestart {
        WalRestart {
            asked: AtomicBool::new(false),
            frames,
        }
    }

    fn ask(&self) {
        self.asked.store(true, Ordering::Relaxed);
    }

    /// Whether a restart was asked for since the last call (the writer thread's side).
    pub(super) fn asked(&self) -> bool {
        self.asked.swap(false, Ordering::Relaxed)
    }
}

/// Dropping it stops the thread (after its last checkpoint).
pub(super) struct Stop(#[allow(dead_code)] Sender<()>);

pub(super) fn start(connection: Connection, restart: Arc<WalRestart>) -> Result<Stop, StoreError> {
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
            if checkpoint(&connection).is_some_and(|frames| frames >= restart.frames) {
                restart.ask();
            }
        })
        .map_err(|e| StoreError::Backend(format!("cannot start the checkpoint thread: {e}")))?;
    Ok(Stop(stop))
}

/// A `PASSIVE` checkpoint on `connection`: the frames the WAL holds (`None` if it failed).
pub(super) fn checkpoint(connection: &Connection) -> Option<i64> {
    // (busy, frames in the WAL, frames copied into the database)
    let done = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1));
    match done {
        Ok(frames) => Some(frames),
        Err(error) => {
            tracing::warn!(%error, "WAL checkpoint failed; the next one retries");
            None
        }
    }
}
