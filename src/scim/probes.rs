//! What monitoring reads, without a tenant: `/healthz` (the process answers), `/readyz` (the
//! store answers a read; every tenant's rules compiled) and `/metrics` (Prometheus text
//! format, behind the admin token). Outside the bound on requests in flight, so that a busy
//! service still answers its probes.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::config::token_matches;
use super::error::{json_body, ScimError};
use super::state::{blocking, AppStateRef};
use crate::store::{Kind, TenantId};

/// A store that has not answered a read in this time is not ready.
const STORE_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /healthz`: 200 whenever the process serves requests.
pub(super) async fn healthz() -> Response {
    json_body(
        StatusCode::OK,
        &json!({"status": "alive"}),
        "application/json",
    )
}

/// `GET /readyz`: 200 when the store answers a read within two seconds and every enabled
/// tenant is served at its live rule version, else 503. The service listens only once every
/// tenant's rules compiled; later, a live version that does not compile on this instance (a
/// rule file from a newer canon, say) leaves its tenant on the version before, or unserved,
/// and the instance not ready until the registry's live versions compile again. Neither
/// tenant ids nor causes are shown (the log has the cause).
pub(super) async fn readyz(State(state): State<AppStateRef>) -> Response {
    let tenants = state.tenants.len();
    // As of the registry's last sync (every 250 ms, and at each change).
    let rules_not_loaded = state.registry.as_ref().map_or(0, |registry| {
        registry
            .rules_not_loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    });
    let store = state.store.clone();
    let probe = blocking(move || {
        let tenant = TenantId::parse("readyz-probe")
            .map_err(|e| ScimError::Internal(format!("probe tenant: {e}")))?;
        store.get(&tenant, Kind::User, "readyz-probe")?;
        Ok(())
    });
    let store_status = match tokio::time::timeout(STORE_PROBE_TIMEOUT, probe).await {
        Ok(Ok(())) => "ok",
        Ok(Err(error)) => {
            tracing::warn!(%error, "not ready: the store failed a read");
            "failing"
        }
        Err(_) => {
            tracing::warn!("not ready: the store did not answer a read within 2 s");
            "not answering"
        }
    };
    let ready = store_status == "ok" && rules_not_loaded == 0;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_body(
        status,
        &json!({
            "status": if ready { "ready" } else { "not ready" },
            "store": store_status,
            "rules": if rules_not_loaded == 0 { "loaded" } else { "not loaded" },
            "tenants": tenants,
            "tenants_without_live_rules": rules_not_loaded,
        }),
        "application/json",
    )
}

/// `GET /metrics`: the Prometheus exposition, for the admin token only.
pub(super) async fn metrics(State(state): State<AppStateRef>, headers: HeaderMap) -> Response {
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .zip(state.admin_token_sha256.as_deref())
        .is_some_and(|((_, token), expected)| token_matches(token.trim(), expected));
    if !authorized {
        return ScimError::Unauthorized.into_response();
    }
    let tenants = state.tenants.all();
    let versions: Vec<(&str, String)> = tenants
        .iter()
        .map(|tenant| (tenant.id.as_str(), tenant.rule_version()))
        .collect();
    let text = state.serving.metrics.encode(versions);
    let mut response = (StatusCode::OK, text).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}
