//! Provisioning activity: every request to a tenant's SCIM endpoints becomes an
//! [`ActivityEntry`] (time, method, path, status, latency, SCIM error detail, resource id,
//! request id; the body only while the tenant captures bodies).
//!
//! Off the request path: the middleware (`activity_layer.rs`) hands the entry to a bounded queue and
//! returns; one writer thread gathers entries for up to [`GATHER`] after the first and inserts
//! them in one write. A full queue (the store stalled) drops entries and counts them rather
//! than slowing requests.
//!
//! Why gather: on SQLite the activity's write goes through the same single writer as the
//! resources, and each write of it also updates the counters and trims the tenant's log, so
//! writing whatever was queued at once (a few entries, under load) cost the SCIM write path
//! about 12% of its throughput (scim_load's `+activity`); written ten times a second it is
//! within the noise. An entry reaches `canon tenant activity` and the setup page's live
//! section that much later.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use crate::store::registry::{ActivityEntry, TenantRegistry};

/// Entries waiting for the writer at most; beyond, new ones are dropped (and counted).
const QUEUE: usize = 8192;
/// Entries per transaction at most.
const BATCH: usize = 1024;
/// How long the writer gathers entries after the first of a batch.
const GATHER: std::time::Duration = std::time::Duration::from_millis(100);

/// The sending end of the activity queue.
pub struct ActivityLog {
    queue: SyncSender<ActivityEntry>,
    dropped: Arc<AtomicU64>,
}

impl ActivityLog {
    /// Starts the writer thread; it ends when the log is dropped.
    pub fn start(store: Arc<dyn TenantRegistry>) -> ActivityLog {
        let (queue, entries) = sync_channel(QUEUE);
        let spawned = std::thread::Builder::new()
            .name("canon-activity".into())
            .spawn(move || write_batches(&*store, &entries));
        if let Err(error) = spawned {
            tracing::error!(%error, "the activity writer could not start; activity is not recorded");
        }
        ActivityLog {
            queue,
            dropped: Arc::default(),
        }
    }

    /// Queues an entry without waiting.
    pub fn push(&self, entry: ActivityEntry) {
        match self.queue.try_send(entry) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if dropped.is_power_of_two() {
                    tracing::warn!(
                        dropped,
                        "activity entries dropped: the store is not keeping up"
                    );
                }
            }
        }
    }

    /// Entries dropped since the start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

fn write_batches(store: &dyn TenantRegistry, entries: &Receiver<ActivityEntry>) {
    while let Ok(first) = entries.recv() {
        let until = std::time::Instant::now() + GATHER;
        let mut batch = vec![first];
        while batch.len() < BATCH {
            let left = until.saturating_duration_since(std::time::Instant::now());
            match entries.recv_timeout(left) {
                Ok(entry) => batch.push(entry),
                // Time is up, or the log is gone: write what there is.
                Err(_) => break,
            }
        }
        if let Err(error) = store.record_activity(&batch) {
            tracing::warn!(%error, entries = batch.len(), "activity entries could not be stored");
        }
    }
}
