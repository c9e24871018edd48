//! What handlers take from a request, every rejection a [`ScimError`]: the authenticated
//! tenant ([`TenantCtx`]) or admin ([`AdminCtx`]), a JSON body ([`ScimJson`]), a resource id
//! ([`ResourceId`]) and the query string ([`Params`]).

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde_json::Value;

use super::config::token_matches;
use super::error::{ScimError, SCIM_JSON};
use super::resource;
use super::state::{AppStateRef, Tenant};
use crate::store::TenantId;

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// An authenticated tenant request: the tenant and the base URL of its SCIM endpoints.
pub struct TenantCtx {
    pub tenant: Arc<Tenant>,
    pub base: String,
}

fn tenant_from_path(parts: &Parts) -> Option<&str> {
    // `nest` strips its prefix from `parts.uri`; the original keeps the tenant.
    let uri = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map_or(&parts.uri, |o| &o.0);
    let mut segments = uri.path().trim_start_matches('/').split('/');
    match (segments.next(), segments.next()) {
        (Some("t"), Some(id)) => Some(id),
        (Some("admin"), Some("tenants")) => segments.next(),
        _ => None,
    }
}

impl FromRequestParts<AppStateRef> for TenantCtx {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &AppStateRef) -> Result<Self, ScimError> {
        let token = bearer(parts).ok_or(ScimError::Unauthorized)?;
        let tenant = tenant_from_path(parts)
            .and_then(|id| TenantId::parse(id).ok())
            .and_then(|id| state.tenants.get(&id))
            .ok_or(ScimError::Unauthorized)?;
        if !tenant.token_matches(token) {
            return Err(ScimError::Unauthorized);
        }
        if !tenant.enabled() {
            return Err(ScimError::Forbidden(format!(
                "tenant `{}` is disabled: provisioning is paused by the service operator",
                tenant.id
            )));
        }
        // After authentication: requests with a wrong token cannot drain a tenant's bucket.
        if let Err(limited) = tenant.admit() {
            state.serving.metrics.rate_limited(tenant.id.as_str());
            return Err(limited);
        }
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
            .unwrap_or("localhost");
        // Behind a TLS-terminating proxy, locations keep the scheme the client used.
        let scheme = match parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|h| h.to_str().ok())
        {
            Some(proto) if proto.eq_ignore_ascii_case("https") => "https",
            _ => "http",
        };
        Ok(TenantCtx {
            base: format!("{scheme}://{host}/t/{}/scim/v2", tenant.id),
            tenant,
        })
    }
}

/// A request authenticated with the admin token, for a known tenant.
pub struct AdminCtx {
    pub tenant: Arc<Tenant>,
}

impl FromRequestParts<AppStateRef> for AdminCtx {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &AppStateRef) -> Result<Self, ScimError> {
        let token = bearer(parts).ok_or(ScimError::Unauthorized)?;
        let expected = state
            .admin_token_sha256
            .as_deref()
            .ok_or(ScimError::Unauthorized)?;
        if !token_matches(token, expected) {
            return Err(ScimError::Unauthorized);
        }
        let id = tenant_from_path(parts).unwrap_or_default();
        let tenant = TenantId::parse(id)
            .ok()
            .and_then(|id| state.tenants.get(&id))
            .ok_or_else(|| ScimError::NotFound(format!("no tenant `{id}`")))?;
        Ok(AdminCtx { tenant })
    }
}

/// A request authenticated with the admin token (any tenant, or none).
pub struct AdminAuth;

impl FromRequestParts<AppStateRef> for AdminAuth {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &AppStateRef) -> Result<Self, ScimError> {
        let token = bearer(parts).ok_or(ScimError::Unauthorized)?;
        let expected = state
            .admin_token_sha256
            .as_deref()
            .ok_or(ScimError::Unauthorized)?;
        if !token_matches(token, expected) {
            return Err(ScimError::Unauthorized);
        }
        Ok(AdminAuth)
    }
}

/// The service's address as clients reach it: the configured `public_url`, else the
/// request's `Host` with the scheme the client used (`X-Forwarded-Proto` behind a proxy).
pub fn public_base(state: &AppStateRef, headers: &axum::http::HeaderMap) -> String {
    if let Some(url) = state.registry.as_ref().and_then(|r| r.public_url.clone()) {
        return url.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("localhost");
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
    {
        Some(proto) if proto.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}")
}

/// A JSON body sent as `application/scim+json` or `application/json`, within the size and
/// depth limits; every rejection is a [`ScimError`].
pub struct ScimJson(pub Value);

impl FromRequest<AppStateRef> for ScimJson {
    type Rejection = ScimError;

    async fn from_request(request: Request, state: &AppStateRef) -> Result<Self, ScimError> {
        if let Some(content_type) = request.headers().get(header::CONTENT_TYPE) {
            let essence = content_type
                .to_str()
                .unwrap_or_default()
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            if essence != SCIM_JSON && essence != "application/json" {
                return Err(ScimError::UnsupportedMediaType(format!(
                    "send `{SCIM_JSON}` or `application/json`, not `{essence}`"
                )));
            }
        }
        let limit = state.max_body_bytes;
        // A deadline for the whole body: a client sending a byte now and then would pass a
        // timeout between reads, and hold its connection for as long as it liked.
        let read = axum::body::to_bytes(request.into_body(), limit);
        let bytes = tokio::time::timeout(state.body_timeout, read)
            .await
            .map_err(|_| ScimError::RequestTimeout(state.body_timeout.as_secs()))?
            .map_err(|e| match std::error::Error::source(&e) {
                Some(cause) if cause.is::<http_body_util::LengthLimitError>() => {
                    ScimError::TooLarge(limit)
                }
                _ => ScimError::InvalidSyntax(format!("the body could not be read: {e}")),
            })?;
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ScimError::InvalidSyntax(format!("the body is not valid JSON: {e}")))?;
        if resource::json_depth(&value) > resource::MAX_JSON_DEPTH {
            return Err(ScimError::InvalidSyntax(format!(
                "the body is nested deeper than {} levels",
                resource::MAX_JSON_DEPTH
            )));
        }
        Ok(ScimJson(value))
    }
}

/// The `{id}` of a resource path. An id that does not even decode (`%FF`) names nothing: 404,
/// like any unknown id, never a plain-text 400.
pub struct ResourceId(pub String);

impl FromRequestParts<AppStateRef> for ResourceId {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &AppStateRef) -> Result<Self, ScimError> {
        match Path::<(String, String)>::from_request_parts(parts, state).await {
            Ok(Path((_, id))) => Ok(ResourceId(id)),
            Err(_) => Err(ScimError::NotFound("no such resource".into())),
        }
    }
}

/// The query string; a malformed one becomes a SCIM error in [`query`], not axum's rejection.
pub(super) type Params =
    Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>;

/// A query parameter, its name matched case-insensitively.
pub(super) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

pub(super) fn query(params: Params) -> Result<Vec<(String, String)>, ScimError> {
    params
        .map(|Query(p)| p)
        .map_err(|e| ScimError::InvalidValue(format!("bad query string: {e}")))
}
