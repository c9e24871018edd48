//! The layer that measures every request into [`super::metrics::Metrics`]: count and latency
//! by tenant, resource, method and status, with label values from bounded sets only.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use super::metrics::RouteLabels;
use super::state::AppStateRef;
use crate::store::TenantId;

pub(super) async fn record(
    State(state): State<AppStateRef>,
    request: Request,
    next: Next,
) -> Response {
    let route = route_of(&state, request.method(), request.uri().path());
    let started = Instant::now();
    let response = next.run(request).await;
    state
        .serving
        .metrics
        .request(route, response.status().as_u16(), started.elapsed());
    response
}

/// The labels of a request: its tenant when the service knows it (else `-`, so unknown ids
/// in paths add no series), the resource its path names, and its method.
fn route_of(state: &AppStateRef, method: &Method, path: &str) -> RouteLabels {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (tenant, resource) = match segments.as_slice() {
        ["t", tenant, "scim", "v2", resource, ..] => (Some(*tenant), scim_resource(resource)),
        ["t", tenant, "scim", ..] => (Some(*tenant), "other"),
        ["t", tenant, "profiles", ..] => (Some(*tenant), "profiles"),
        ["t", tenant, ..] => (Some(*tenant), "other"),
        ["admin", "tenants", tenant, ..] => (Some(*tenant), "admin"),
        ["admin", ..] => (None, "admin"),
        ["healthz"] => (None, "healthz"),
        ["readyz"] => (None, "readyz"),
        ["metrics"] => (None, "metrics"),
        _ => (None, "other"),
    };
    let tenant = tenant
        .and_then(|id| TenantId::parse(id).ok())
        .filter(|id| state.tenants.contains_key(id))
        .map_or_else(|| "-".to_string(), |id| id.as_str().to_string());
    RouteLabels {
        tenant,
        resource,
        method: method_label(method),
    }
}

fn scim_resource(segment: &str) -> &'static str {
    match segment {
        "Users" => "Users",
        "Groups" => "Groups",
        ".search" => "search",
        "ServiceProviderConfig" => "ServiceProviderConfig",
        "ResourceTypes" => "ResourceTypes",
        "Schemas" => "Schemas",
        _ => "other",
    }
}

/// Methods a client can make up are one label, `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
