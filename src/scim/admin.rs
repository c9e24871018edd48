//! The admin endpoints, behind the admin token: a tenant's canonical profiles and the reload
//! of its rules and token. Plain `application/json`, not SCIM.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::error::{json_body, ScimError};
use super::extract::{AdminCtx, ResourceId};
use super::state::{blocking, AppStateRef};
use crate::store::{Kind, StoredResource};

/// A stored user's canonical profile, as the admin endpoints and `canon export` show it.
pub fn profile_json(stored: &StoredResource) -> Value {
    let profile = stored.profile.as_ref();
    json!({
        "id": stored.id,
        "userName": stored.body.get("userName"),
        "active": stored.body.get("active"),
        "rule_version": profile.map(|p| &p.rule_version),
        "complete": profile.map(|p| p.complete()),
        "missing": profile.map(|p| &p.missing),
        "profile": profile.map(|p| &p.fields),
        "rules": profile.map(|p| &p.rules),
    })
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    json_body(status, body, "application/json")
}

/// `GET /t/{tenant}/profiles`: every user's profile.
pub(super) async fn list_profiles(
    ctx: AdminCtx,
    State(state): State<AppStateRef>,
) -> Result<Response, ScimError> {
    let tenant = ctx.tenant.id.clone();
    let users = blocking(move || Ok(state.store.list(&tenant, Kind::User)?)).await?;
    let profiles: Vec<Value> = users.iter().map(profile_json).collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"totalResults": profiles.len(), "profiles": profiles}),
    ))
}

/// `GET /t/{tenant}/profiles/{id}`: one user's profile, and where the rules count reports,
/// the people counted.
pub(super) async fn get_profile(
    ctx: AdminCtx,
    State(state): State<AppStateRef>,
    ResourceId(id): ResourceId,
) -> Result<Response, ScimError> {
    let tenant = ctx.tenant.clone();
    let body = blocking(move || {
        let user = state
            .store
            .get(&tenant.id, Kind::User, &id)?
            .ok_or_else(|| ScimError::not_found(Kind::User, &id))?;
        let mut body = profile_json(&user);
        // Where the rules derive values from who reports to whom: the people counted.
        let mapper = tenant.mapper();
        if mapper.has_org_graph() {
            let reports = super::org::reports_of(state.store.as_ref(), &tenant.id, &mapper, &user)?;
            body["reports"] = json!({
                "count": reports.count,
                "people": reports.people,
                "text": crate::eval::describe_reports(&reports),
            });
        }
        Ok(body)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &body))
}

/// `POST /admin/tenants/{tenant}/reload`: the tenant reloads (`Tenant::reload`).
pub(super) async fn reload(
    ctx: AdminCtx,
    State(state): State<AppStateRef>,
) -> Result<Response, ScimError> {
    let tenant = ctx.tenant.clone();
    let version = blocking(move || super::tenants::reload(&state, &tenant)).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"tenant": ctx.tenant.id, "rule_version": version}),
    ))
}
