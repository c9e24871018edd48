//! The global bound on requests in flight, beside the connection cap and the body limit: past
//! it, a request waits up to a short queue time for a slot, then gets 503 with `Retry-After`
//! and a SCIM error body. Probes (`/healthz`, `/readyz`, `/metrics`) are outside the bound.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::error::ScimError;
use super::metrics::Metrics;

/// `Retry-After` of a shed request: the queue was full for a whole wait, so a second.
const SHED_RETRY_AFTER_SECS: u64 = 1;

pub struct InFlight {
    slots: Arc<Semaphore>,
    wait: Duration,
    metrics: Arc<Metrics>,
}

impl InFlight {
    /// At most `max` requests served at once; the next waits up to `wait` for a slot.
    pub fn new(max: usize, wait: Duration, metrics: Arc<Metrics>) -> InFlight {
        InFlight {
            slots: Arc::new(Semaphore::new(max)),
            wait,
            metrics,
        }
    }
}

/// The middleware: holds a slot for the request's whole life (its response is built by
/// then; a streamed body is not used by this service).
pub async fn bound(State(bound): State<Arc<InFlight>>, request: Request, next: Next) -> Response {
    let slot = match bound.slots.clone().try_acquire_owned() {
        Ok(slot) => slot,
        Err(_) => {
            match tokio::time::timeout(bound.wait, bound.slots.clone().acquire_owned()).await {
                Ok(Ok(slot)) => slot,
                // Timed out (or, never, the semaphore closed).
                _ => {
                    bound.metrics.shed();
                    tracing::warn!(
                        "request shed: the service is at its bound of requests in flight"
                    );
                    return ScimError::Overloaded {
                        retry_after: SHED_RETRY_AFTER_SECS,
                    }
                    .into_response();
                }
            }
        }
    };
    let _counted = bound.metrics.in_flight();
    let response = next.run(request).await;
    drop(slot);
    response
}
