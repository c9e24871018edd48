//! Keeps PostgreSQL's statistics of the resource tables fresh while a tenant grows.
//!
//! A lookup by id (`WHERE tenant = $1 AND kind = $2 AND id = $3`) has two indexes to choose
//! from: the primary key, and `resources_order (tenant, kind, seq)` with `id` as a filter.
//! While the statistics say a tenant has about one row (a new database, or a tenant the last
//! `ANALYZE` did not see, such as one being imported into a large table), both cost one row
//! and the planner takes the smaller `resources_order`: every GET, PATCH and PUT then reads
//! the tenant's rows one by one (issue 18's bench: 5,000 PATCH deactivations at 370/s,
//! p50 41 ms, right after 5,000 creates). Autovacuum analyzes only after 10% of a table
//! changed, and at most once a minute. So the store analyzes the tables itself, in the
//! background, after every [`CREATES`] creates it made (at most once per [`AT_MOST_EVERY`]):
//! a cached plan is re-planned by PostgreSQL when the statistics change. The organisation
//! index (`org_refs`) grows with the users and has the same two-index choice (a user's rows
//! by `org_refs_of`, or the primary key walked in order); creates that keep it count too.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;

/// Creates between two `ANALYZE`s…
const CREATES: u64 = 1000;
/// …and no two closer than this.
const AT_MOST_EVERY: Duration = Duration::from_secs(30);

#[derive(Default)]
pub(super) struct Freshness {
    creates: AtomicU64,
    running: AtomicBool,
    last: Mutex<Option<Instant>>,
}

impl Freshness {
    /// Counts a create; analyzes in the background on `runtime` when one is due.
    pub(super) fn created(self: &Arc<Self>, pool: &Pool, runtime: &tokio::runtime::Handle) {
        if self.creates.fetch_add(1, Ordering::Relaxed) + 1 < CREATES {
            return;
        }
        {
            let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|at| at.elapsed() < AT_MOST_EVERY) {
                return;
            }
        }
        if self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        self.creates.store(0, Ordering::Relaxed);
        let (pool, freshness) = (pool.clone(), self.clone());
        runtime.spawn(async move {
            let analyzed = match pool.get().await {
                Ok(client) => client
                    .batch_execute("ANALYZE resources, keys, org_refs")
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(error) = analyzed {
                tracing::warn!(%error, "the resource tables' statistics were not refreshed");
            }
            *freshness.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
            freshness.running.store(false, Ordering::Release);
        });
    }
}
