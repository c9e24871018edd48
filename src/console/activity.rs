//! The console and the tenant's activity log: every console action on a customer (a preview,
//! a publish, a rollback, an export tried) is written to it, and the customer page shows the
//! recent provisioning activity, errors first.
//!
//! A console action is an entry whose method is [`CONSOLE`] and whose path says what was done
//! and by whom (`publish v4 by ana: "…"`), so `canon tenant activity` and the admin API list
//! it beside the IdP's requests. Its status is the answer the console gave (201 published,
//! 422 refused, …). No raw data goes in it: counts, version numbers and the note only.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::Console;
use crate::scim::AppState;
use crate::store::registry::{ActivityEntry, ActivityQuery, ACTIVITY_KEPT};
use crate::store::{StoreError, TenantId};

/// The method of a console action's entry (never an HTTP method, so never an IdP's request).
pub(crate) const CONSOLE: &str = "CONSOLE";

/// Provisioning entries the customer page lists: failed ones, then the latest.
const ERRORS_SHOWN: usize = 20;
const LATEST_SHOWN: usize = 20;

/// Writes a console action to the tenant's activity log (off the request path; a service
/// without a registry keeps no log, and the action goes to the service log only).
pub(crate) fn record(
    console: &Console,
    tenant: &TenantId,
    action: String,
    status: u16,
    error: Option<String>,
    started: Instant,
) {
    tracing::info!(tenant = %tenant, %action, status, "console action");
    let Some(registry) = &console.app.registry else {
        return;
    };
    registry.activity.push(ActivityEntry {
        seq: 0,
        tenant: tenant.to_string(),
        at: crate::store::now(),
        method: CONSOLE.into(),
        path: action,
        status,
        latency_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        error,
        resource_id: None,
        request_id: None,
        body: None,
    });
}

/// Whether an entry is a request from the tenant's IdP (not a console action).
fn provisioning(entry: &ActivityEntry) -> bool {
    entry.method != CONSOLE
}

/// The customer's failed provisioning requests of the last 24 hours (`None` without a
/// registry: no activity is kept).
pub(crate) fn errors_last_day(
    app: &AppState,
    tenant: &TenantId,
) -> Result<Option<u64>, StoreError> {
    let Some(registry) = &app.registry else {
        return Ok(None);
    };
    let since = (chrono::Utc::now() - Duration::from_secs(24 * 3600))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let failed = registry.store.activity(
        tenant,
        &ActivityQuery {
            errors_only: true,
            after: None,
            limit: ACTIVITY_KEPT,
        },
    )?;
    Ok(Some(
        failed
            .iter()
            .filter(|e| provisioning(e) && e.at >= since)
            .count() as u64,
    ))
}

fn entry_view(entry: &ActivityEntry) -> Value {
    json!({
        "at": entry.at,
        "method": entry.method,
        "path": entry.path,
        "status": entry.status,
        "failed": entry.failed(),
        "ms": format!("{:.1}", entry.latency_us as f64 / 1000.0),
        "error": entry.error,
        "resource_id": entry.resource_id,
        "request_id": entry.request_id,
        "console": !provisioning(entry),
    })
}

/// What the customer page shows: the latest failed provisioning requests (newest first),
/// then the latest activity of any kind, console actions included (newest first).
pub(crate) fn recent(app: &AppState, tenant: &TenantId) -> Result<Option<Value>, StoreError> {
    let Some(registry) = &app.registry else {
        return Ok(None);
    };
    let query = |errors_only, limit| ActivityQuery {
        errors_only,
        after: None,
        limit,
    };
    // Console refusals are errors too, but not the IdP's: asked for more, then filtered.
    let errors: Vec<Value> = registry
        .store
        .activity(tenant, &query(true, ACTIVITY_KEPT))?
        .iter()
        .rev()
        .filter(|e| provisioning(e))
        .take(ERRORS_SHOWN)
        .map(entry_view)
        .collect();
    let latest: Vec<Value> = registry
        .store
        .activity(tenant, &query(false, LATEST_SHOWN))?
        .iter()
        .rev()
        .map(entry_view)
        .collect();
    let counters = registry.store.activity_counters(tenant)?;
    Ok(Some(json!({
        "errors": errors,
        "latest": latest,
        "counters": counters,
    })))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The tenant's console actions once the activity writer has stored `n` of them (it
    /// writes off the request path).
    pub fn console_actions(app: &AppState, tenant: &str, n: usize) -> Vec<ActivityEntry> {
        let registry = app.registry.as_ref().expect("a registry");
        let id = TenantId::parse(tenant).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let entries: Vec<ActivityEntry> = registry
                .store
                .activity(
                    &id,
                    &ActivityQuery {
                        errors_only: false,
                        after: None,
                        limit: ACTIVITY_KEPT,
                    },
                )
                .unwrap()
                .into_iter()
                .filter(|e| e.method == CONSOLE)
                .collect();
            if entries.len() >= n || Instant::now() > deadline {
                return entries;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
