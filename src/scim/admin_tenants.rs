//! The tenant admin API, behind the admin token (JSON; errors are SCIM error bodies): what
//! `canon tenant …` does on the store, over HTTP. docs/operations.md lists the endpoints.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{json_body, ScimError};
use super::extract::AdminAuth;
use super::manage::{self, ManageError};
use super::state::{blocking, AppStateRef};
use crate::store::registry::{ActivityQuery, NewTenant, RuleBundle, TenantChange, TenantRecord};
use crate::store::{Store, StoreError, TenantId};

impl From<ManageError> for ScimError {
    fn from(error: ManageError) -> Self {
        match error {
            ManageError::UnknownTenant(_) => ScimError::NotFound(error.to_string()),
            ManageError::Exists(_) => ScimError::Uniqueness(error.to_string()),
            ManageError::Rules(_) | ManageError::Invalid(_) => {
                ScimError::InvalidValue(error.to_string())
            }
            ManageError::Store(error) => error.into(),
        }
    }
}

fn ok(status: StatusCode, body: Value) -> Result<Response, ScimError> {
    Ok(json_body(status, &body, "application/json"))
}

fn store_of(state: &AppStateRef) -> Result<Arc<dyn Store>, ScimError> {
    state
        .registry
        .as_ref()
        .map(|r| r.store.clone())
        .ok_or_else(|| ScimError::NotFound("this service has no tenant registry".into()))
}

/// Works on the registry's store on the blocking pool (a store call may block: PostgreSQL's
/// drives its own runtime).
async fn on_store<T: Send + 'static>(
    state: &AppStateRef,
    work: impl FnOnce(&dyn Store) -> Result<T, ScimError> + Send + 'static,
) -> Result<T, ScimError> {
    let store = store_of(state)?;
    blocking(move || work(&*store)).await
}

/// Changes the registry on the blocking pool, then brings this instance's tenants up to date
/// before answering, so the change is served here at once (other instances follow it within
/// 2 s). A failed update is logged: the instance's own poll retries it.
async fn change<T: Send + 'static>(
    state: &AppStateRef,
    work: impl FnOnce(&dyn Store) -> Result<T, ScimError> + Send + 'static,
) -> Result<T, ScimError> {
    let store = store_of(state)?;
    let state = state.clone();
    blocking(move || {
        let changed = work(&*store)?;
        if let Err(error) = super::tenants::sync(&state, false) {
            tracing::warn!(%error, "the registry changed but this instance has not caught up yet");
        }
        Ok(changed)
    })
    .await
}

/// The tenant's record, or a SCIM 404.
fn record_of(store: &dyn Store, id: &TenantId) -> Result<TenantRecord, ScimError> {
    store
        .tenant(id)?
        .ok_or_else(|| ScimError::NotFound(format!("no tenant `{id}`")))
}

/// A store's `NotFound` for a tenant's row, as the admin API says it.
fn unknown<T>(result: Result<T, StoreError>, id: TenantId) -> Result<T, ScimError> {
    match result {
        Err(StoreError::NotFound) => Err(ManageError::UnknownTenant(id).into()),
        other => Ok(other?),
    }
}

/// A path parameter; one that does not parse is a SCIM 404, not axum's plain text.
fn path_of<T>(path: Result<Path<T>, PathRejection>) -> Result<T, ScimError> {
    path.map(|Path(value)| value)
        .map_err(|e| ScimError::NotFound(format!("no such endpoint: {e}")))
}

/// The query string; a malformed one is a SCIM 400.
fn query_of<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ScimError> {
    query
        .map(|Query(value)| value)
        .map_err(|e| ScimError::InvalidValue(format!("bad query string: {e}")))
}

fn tenant_id(text: &str) -> Result<TenantId, ScimError> {
    TenantId::parse(text).map_err(|e| ScimError::InvalidValue(e.to_string()))
}

/// A JSON body of the admin API (an empty one reads as `{}`); a malformed one is a 400 with
/// serde's reason.
fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ScimError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    serde_json::from_slice(bytes).map_err(|e| ScimError::InvalidValue(format!("bad request: {e}")))
}

/// Rules sent whole: the rule file's text and every file it reads, by path.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesBody {
    #[serde(default = "default_rules_name")]
    name: String,
    text: String,
    #[serde(default)]
    files: BTreeMap<String, String>,
}

fn default_rules_name() -> String {
    "rules.rules".into()
}

impl RulesBody {
    fn bundle(self) -> RuleBundle {
        RuleBundle {
            name: self.name,
            text: self.text,
            files: self
                .files
                .into_iter()
                .map(|(path, text)| (path, text.into_bytes()))
                .collect(),
        }
    }
}

/// `GET /admin/tenants`
pub(super) async fn list(
    _: AdminAuth,
    State(state): State<AppStateRef>,
) -> Result<Response, ScimError> {
    let tenants = on_store(&state, |store| {
        let mut out = Vec::new();
        for record in store.tenants()? {
            let mut entry = manage::tenant_json(&record);
            entry["activity"] = json!(store.activity_counters(&record.id)?);
            out.push(entry);
        }
        Ok(out)
    })
    .await?;
    ok(StatusCode::OK, json!({"tenants": tenants}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddBody {
    id: String,
    rules: RulesBody,
    #[serde(default)]
    rate_limit: Option<String>,
    #[serde(default)]
    extensions: Option<Value>,
    #[serde(default)]
    author: Option<String>,
}

/// `POST /admin/tenants`: the new tenant and its token (shown once).
pub(super) async fn add(
    _: AdminAuth,
    State(state): State<AppStateRef>,
    request: Bytes,
) -> Result<Response, ScimError> {
    let request: AddBody = body(&request)?;
    let id = tenant_id(&request.id)?;
    let (record, token) = change(&state, move |store| {
        let tenant = NewTenant {
            id,
            extensions: request.extensions.unwrap_or_else(|| json!({})),
            rate_limit: match &request.rate_limit {
                Some(text) => manage::rate_limit(text)?,
                None => Default::default(),
            },
        };
        let rules = manage::check_bundle(request.rules.bundle())?;
        let author = request.author.unwrap_or_else(|| "admin api".into());
        Ok(manage::add(store, tenant, rules, &author)?)
    })
    .await?;
    ok(
        StatusCode::CREATED,
        json!({"tenant": manage::tenant_json(&record), "token": token}),
    )
}

/// `GET /admin/tenants/{t}`: settings, tokens (never their hashes), versions, counters.
pub(super) async fn show(
    _: AdminAuth,
    State(state): State<AppStateRef>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ScimError> {
    let id = tenant_id(&path_of(id)?)?;
    let shown = on_store(&state, move |store| {
        let record = record_of(store, &id)?;
        let tokens: Vec<Value> = store.tokens(&id)?.iter().map(manage::token_json).collect();
        let versions: Vec<Value> = store
            .rule_versions(&id)?
            .iter()
            .map(|v| manage::version_json(v, record.live_version))
            .collect();
        let mut shown = manage::tenant_json(&record);
        shown["tokens"] = json!(tokens);
        shown["versions"] = json!(versions);
        shown["activity"] = json!(store.activity_counters(&id)?);
        Ok(shown)
    })
    .await?;
    ok(StatusCode::OK, shown)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetBody {
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    rate_limit: Option<String>,
    #[serde(default)]
    extensions: Option<Value>,
    /// A duration (`2h`) or `off`.
    #[serde(default)]
    body_capture: Option<String>,
}

/// `PATCH /admin/tenants/{t}`: enable/disable, rate limit, extensions, body capture.
pub(super) async fn set(
    _: AdminAuth,
    State(state): State<AppStateRef>,
    id: Result<Path<String>, PathRejection>,
    request: Bytes,
) -> Result<Response, ScimError> {
    let id = tenant_id(&path_of(id)?)?;
    let request: SetBody = body(&request)?;
    let tenant_change = TenantChange {
        enabled: request.enabled,
        rate_limit: request
            .rate_limit
            .as_deref()
            .map(manage::rate_limit)
            .transpose()?,
        extensions: match request.extensions {
            Some(value) => {
                manage::policy(&value)?;
                Some(value)
            }
            None => None,
        },
        body_capture_until: match request.body_capture.as_deref() {
            None => None,
            Some("off") => Some(None),
            Some(text) => Some(Some(manage::after(
                manage::parse_duration(text).map_err(ScimError::InvalidValue)?,
            ))),
        },
    };
    let record = change(&state, move |store| {
        unknown(store.update_tenant(&id, &tenant_change), id)
    })
    .await?;
    ok(StatusCode::OK, manage::tenant_json(&record))
}

#[derive(Deserialize)]
pub(super) struct Confirm {
    confirm: Option<String>,
}

/// `DELETE /admin/tenants/{t}?confirm={t}`: the tenant and all its data.
pub(super) async fn remove(
    _: AdminAuth,
    State(state): State<AppStateRef>,
    id: Result<Path<String>, PathRejection>,
    confirm: Result<Query<Confirm>, QueryRejection>,
) -> Result<Response, ScimError> {
    let id = tenant_id(&path_of(id)?)?;
    let confirm = query_of(confirm)?;
    if confirm.confirm.as_deref() != Some(id.as_str()) {
        return Err(ScimError::InvalidValue(format!(
            "removing deletes every user, group and profile of `{id}`: confirm with ?confirm={id}"
        )));
    }
    change(&state, move |store| unknown(store.remove_tenant(&id), id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    #[serde(default)]
    grace: Option<String>,
}

/// `POST /admin/tenants/{t}/tokens {"grace": "24h"}`: a new token (shown once).
pub(super) async fn rotate(
    _: AdminAuth,
    State(state): State<AppStateRef>,
    id: Result<Path<String>, PathRejection>,
    request: Bytes,
) -> Result<Response, ScimError> {
    let id = tenant_id(&path_of(id)?)?;
    let request: RotateBody = body(&request)?;
    let grace = manage::parse_duration(request.grace.as_deref().unwrap_or("0"))
        .map_err(ScimError::InvalidValue)?;
    let (record, token) =
        change(&state, move |store| Ok(manage::rotate(store, &id, grace)?)).await?;
    let mut shown = manage::token_json(&record);
    shown["token"] = json!(token);
    ok(StatusCode::CREATED, shown)
}

/// `DELETE /admin/tenants/{t}/tokens/{id}`: revokes one token now.
pub(super) async fn revoke(
    _: AdminAuth,
    State(state): State<AppStateRef>,
    path: Result<Path<(String, i64)>, PathRejection>,
) -> Result<Response, ScimError> {
    let (id, token) = path_of(path)?;
    let id = tenant_id(&id)?;
    let record = change(&state, move |store| match store.revoke_token(&id, token) {
        Err(StoreError::NotFound) => Err(ScimError::NotFound(format!(
            "tenant `{id}` has no token {token}"
        ))),
        other => Ok(other?),
    })
    .await?;
    ok(StatusCode::OK, manage::token_json(&record))
}

/// `GET /admin/tenants/{t}/rules`: every version, which is live.
pub(super) async fn versions(
    _: AdminAuth,
    State(state): State<AppStateRef>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ScimError> {
    let id = tenant_id(&path_of(id)?)?;
    let versions = on_store(&state, move |store| {
        let record = record_of(store, &id)?;
        Ok(store
            .rule_versions(&id)?
            .iter()
            .map(|v| manage::version_json(v, record.live_version))
            .collect::<Vec<_>>())
    })
    .await?;
    ok(StatusCode::OK, json!({"versions": versions}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishBody {
    rules: RulesBody,
    #[serde(default)]
    note: String,
    #[serde(default)]
    author: Option<String>,
    /// Only the preview: nothing is stored.
    #[serde(default)]
    dry_run: bool,
}

/// How many change lines an answer lists at most (the count is always whole).
const CHANGES_SHOWN: usize = 200;

/// `POST /admin/tenants/{t}/rules`: checks (400 with every diagnostic), previews the remap,
/// and unless `dry_run` publishes the version and recomputes the stored profiles.
pub(super) async fn publish(
    _: AdminAuth,
    State(state): State<AppStateRef>,
    id: Result<Path<String>, PathRejection>,
    request: Bytes,
) -> Result<Response, ScimError> {
    let id = tenant_id(&path_of(id)?)?;
    let request: PublishBody = body(&request)?;
    let published = change(&state, move |store| {
        let rules = manage::check_bundle(request.rules.bundle())?;
        let author = request.author.unwrap_or_else(|| "admin api".into());
        Ok(manage::set_rules(
            store,
            &id,
            rules,
            &request.note,
            &author,
            !request.dry_run,
        )?)
    })
    .await?;
    let live = published.version.as_ref().map(|v| v.number);
    ok(
        if live.is_some() {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        json!({
            "version": published.version.as_ref().map(|v| manage::version_json(v, live)),
            "remap": published.remap.to_json(CHANGES_SHOWN),
        }),
    )
}

#[derive(Deserialize, Default)]
pub(super) struct RollbackQuery {
    #[serde(default)]
    dry_run: bool,
}

/// `POST /admin/tenants/{t}/rules/{n}/rollback`: version `n` live again, profiles recomputed.
pub(super) async fn rollback(
    _: AdminAuth,
    State(state): State<AppStateRef>,
    path: Result<Path<(String, i64)>, PathRejection>,
    query: Result<Query<RollbackQuery>, QueryRejection>,
) -> Result<Response, ScimError> {
    let (id, number) = path_of(path)?;
    let id = tenant_id(&id)?;
    let query = query_of(query)?;
    let published = change(&state, move |store| {
        Ok(manage::rollback(store, &id, number, !query.dry_run)?)
    })
    .await?;
    ok(
        StatusCode::OK,
        json!({
            "live": (!query.dry_run).then_some(number),
            "remap": published.remap.to_json(CHANGES_SHOWN),
        }),
    )
}

#[derive(Deserialize)]
pub(super) struct ActivityParams {
    #[serde(default)]
    errors: bool,
    after: Option<i64>,
    limit: Option<usize>,
}

/// `GET /admin/tenants/{t}/activity?errors=true&after=SEQ&limit=N`: recent requests, oldest
/// first, and the counters.
pub(super) async fn activity(
    _: AdminAuth,
    State(state): State<AppStateRef>,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<ActivityParams>, QueryRejection>,
) -> Result<Response, ScimError> {
    let id = tenant_id(&path_of(id)?)?;
    let params = query_of(params)?;
    let query = ActivityQuery {
        errors_only: params.errors,
        after: params.after,
        limit: params
            .limit
            .unwrap_or(100)
            .min(crate::store::registry::ACTIVITY_KEPT),
    };
    let (entries, counters) = on_store(&state, move |store| {
        record_of(store, &id)?;
        Ok((store.activity(&id, &query)?, store.activity_counters(&id)?))
    })
    .await?;
    ok(
        StatusCode::OK,
        json!({"entries": entries, "counters": counters}),
    )
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LinkBody {
    #[serde(default)]
    expires: Option<String>,
}

/// `POST /admin/tenants/{t}/setup-links {"expires": "72h"}`: a one-time setup URL.
pub(super) async fn setup_link(
    _: AdminAuth,
    State(state): State<AppStateRef>,
    id: Result<Path<String>, PathRejection>,
    headers: axum::http::HeaderMap,
    request: Bytes,
) -> Result<Response, ScimError> {
    let id = tenant_id(&path_of(id)?)?;
    let request: LinkBody = body(&request)?;
    let expires_in = manage::parse_duration(request.expires.as_deref().unwrap_or("72h"))
        .map_err(ScimError::InvalidValue)?;
    let (secret, expires) = on_store(&state, move |store| {
        Ok(manage::new_setup_link(store, &id, expires_in)?)
    })
    .await?;
    let url = format!(
        "{}/setup/{secret}",
        super::extract::public_base(&state, &headers)
    );
    ok(StatusCode::CREATED, json!({"url": url, "expires": expires}))
}
