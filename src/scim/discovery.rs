//! The discovery endpoints (RFC 7644 §4): ServiceProviderConfig, ResourceTypes, Schemas.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::crud::MAX_RESULTS;
use super::error::{scim_response, ScimError};
use super::extract::{ResourceId, TenantCtx};
use super::schema;
use super::state::AppStateRef;
use crate::store::Kind;

fn list_response(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [schema::LIST],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

pub(super) async fn service_provider_config(
    ctx: TenantCtx,
    State(state): State<AppStateRef>,
) -> Response {
    let body = schema::service_provider_config_json(&ctx.base, MAX_RESULTS, state.max_body_bytes);
    scim_response(StatusCode::OK, &body)
}

/// A resource type as this tenant serves it: its aliased namespaces extend the User, and
/// unless the tenant is strict, other namespaces are stored as sent.
fn resource_type_json(ctx: &TenantCtx, kind: Kind) -> Value {
    let extensions = ctx.tenant.extensions();
    let more: Vec<&str> = match kind {
        Kind::User => extensions.user_extensions().collect(),
        Kind::Group => Vec::new(),
    };
    schema::resource_type_json(kind, &ctx.base, &more, !extensions.strict)
}

pub(super) async fn resource_types(ctx: TenantCtx) -> Response {
    let all = [Kind::User, Kind::Group].map(|k| resource_type_json(&ctx, k));
    scim_response(StatusCode::OK, &list_response(all.to_vec()))
}

pub(super) async fn resource_type(
    ctx: TenantCtx,
    ResourceId(id): ResourceId,
) -> Result<Response, ScimError> {
    let kind = match id.as_str() {
        "User" => Kind::User,
        "Group" => Kind::Group,
        _ => return Err(ScimError::NotFound(format!("no resource type `{id}`"))),
    };
    Ok(scim_response(
        StatusCode::OK,
        &resource_type_json(&ctx, kind),
    ))
}

/// Canon's schemas, then the tenant's aliased namespaces.
pub(super) async fn schemas(ctx: TenantCtx) -> Response {
    let mut all: Vec<Value> = schema::SCHEMAS
        .iter()
        .map(|s| schema::schema_json(s, &ctx.base))
        .collect();
    all.extend(ctx.tenant.extensions().schemas_json(&ctx.base));
    scim_response(StatusCode::OK, &list_response(all))
}

pub(super) async fn schema_one(
    ctx: TenantCtx,
    ResourceId(id): ResourceId,
) -> Result<Response, ScimError> {
    let found = schema::SCHEMAS
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(&id))
        .map(|s| schema::schema_json(s, &ctx.base))
        .or_else(|| ctx.tenant.extensions().schema_json(&id, &ctx.base))
        .ok_or_else(|| ScimError::NotFound(format!("no schema `{id}`")))?;
    Ok(scim_response(StatusCode::OK, &found))
}
