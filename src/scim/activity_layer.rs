//! The middleware around a tenant's SCIM routes that turns each request into an activity
//! entry (`activity.rs` queues and stores it).

use std::time::Instant;

use axum::body::Body;
use axum::extract::{OriginalUri, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{ErrorDetail, ScimError};
use super::state::AppStateRef;
use crate::store::registry::ActivityEntry;
use crate::store::TenantId;

/// The tenant and the rest of a SCIM path: `/t/acme/scim/v2/Users/7` → (`acme`, `/Users/7`).
fn split_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/t/")?;
    let (tenant, rest) = rest.split_once('/')?;
    Some((tenant, rest.strip_prefix("scim/v2").unwrap_or(rest)))
}

/// The resource a request was about: the id in its path, or the one a create made.
fn resource_id(rest: &str, response: &Response) -> Option<String> {
    let mut segments = rest.trim_start_matches('/').split('/');
    if let (Some("Users" | "Groups"), Some(id)) = (segments.next(), segments.next()) {
        if !id.is_empty() && !id.starts_with('.') {
            return Some(id.to_string());
        }
    }
    let location = response.headers().get(header::LOCATION)?.to_str().ok()?;
    location.rsplit('/').next().map(str::to_string)
}

/// The middleware around a tenant's SCIM routes: times the request and queues its entry.
pub async fn record(State(state): State<AppStateRef>, request: Request, next: Next) -> Response {
    let Some(registry) = state.registry.clone() else {
        return next.run(request).await;
    };
    let path = request
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| request.uri().path(), |o| o.0.path())
        .to_string();
    let tenant = split_path(&path)
        .and_then(|(t, _)| TenantId::parse(t).ok())
        .and_then(|id| state.tenants.get(&id));
    let Some(tenant) = tenant else {
        return next.run(request).await;
    };
    let started = Instant::now();
    let at = crate::store::now();
    let method = request.method().to_string();
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (response, body) = if tenant.captures_bodies(&at) {
        match capture(request, state.max_body_bytes).await {
            Ok((request, body)) => (next.run(request).await, body),
            Err(error) => (error.into_response(), None),
        }
    } else {
        (next.run(request).await, None)
    };
    let rest = split_path(&path).map_or("", |(_, rest)| rest);
    registry.activity.push(ActivityEntry {
        seq: 0,
        tenant: tenant.id.to_string(),
        at,
        method,
        resource_id: resource_id(rest, &response),
        path,
        status: response.status().as_u16(),
        latency_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        error: response
            .extensions()
            .get::<ErrorDetail>()
            .map(|d| d.0.clone()),
        request_id,
        body,
    });
    response
}

/// Reads the body (up to `limit` bytes) to keep a copy, and puts it back for the handler;
/// a body too large or broken gets the answer the handler would have given.
async fn capture(request: Request, limit: usize) -> Result<(Request, Option<String>), ScimError> {
    let (parts, body) = request.into_parts();
    let bytes =
        axum::body::to_bytes(body, limit).await.map_err(|e| {
            match std::error::Error::source(&e) {
                Some(cause) if cause.is::<http_body_util::LengthLimitError>() => {
                    ScimError::TooLarge(limit)
                }
                _ => ScimError::InvalidSyntax(format!("the body could not be read: {e}")),
            }
        })?;
    let text = (!bytes.is_empty()).then(|| String::from_utf8_lossy(&bytes).into_owned());
    Ok((Request::from_parts(parts, Body::from(bytes)), text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_tenant_and_resource() {
        assert_eq!(
            split_path("/t/acme/scim/v2/Users/7"),
            Some(("acme", "/Users/7"))
        );
        let response = Response::new(Body::empty());
        assert_eq!(resource_id("/Users/7", &response).as_deref(), Some("7"));
        assert_eq!(resource_id("/Users/.search", &response), None);
        let mut created = Response::new(Body::empty());
        created.headers_mut().insert(
            header::LOCATION,
            "http://h/t/acme/scim/v2/Users/9f".parse().unwrap(),
        );
        assert_eq!(resource_id("/Users", &created).as_deref(), Some("9f"));
    }
}
