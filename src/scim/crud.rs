//! The resource endpoints, Users and Groups alike: create, get, replace, patch, delete, list
//! and search. Each route-building function below takes the resource kind; each handler is
//! thin (extract → apply → store → respond) and runs its store work off the async runtime.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use serde_json::{json, Value};

use super::error::{scim_response, ScimError};
use super::extract::{param, query, Params, ResourceId, ScimJson, TenantCtx};
use super::filter;
use super::mapper::ProfileMapper;
use super::patch;
use super::resource::{self, Projection};
use super::schema;
use super::state::{blocking, AppStateRef, Tenant};
use crate::store::{
    Created, Kind, Membership, ResourceStore, SharedRules, StoreError, StoredResource, TenantId,
    UserWrite, Write,
};

/// Most resources one list answer holds (`filter.maxResults`).
pub const MAX_RESULTS: usize = 1000;

// ---- routes --------------------------------------------------------------------------
// Each closure hands its extractors, in order, to the handler of the same shape below.

/// `/Users`, `/Groups`: `GET` lists, `POST` creates.
pub(super) fn collection(kind: Kind) -> MethodRouter<AppStateRef> {
    get(move |ctx, state, params| list(kind, ctx, state, params))
        .post(move |ctx, state, params, body| create(kind, ctx, state, params, body))
}

/// `/Users/.search`, `/Groups/.search`: `POST` a SearchRequest.
pub(super) fn search(kind: Kind) -> MethodRouter<AppStateRef> {
    post(move |ctx, state, body| search_kind(kind, ctx, state, body))
}

/// `/Users/{id}`, `/Groups/{id}`: `GET`, `PUT` replaces, `PATCH` modifies, `DELETE`.
pub(super) fn by_id(kind: Kind) -> MethodRouter<AppStateRef> {
    get(move |ctx, state, id, params| get_one(kind, ctx, state, id, params))
        .put(move |ctx, state, id, headers, params, body| {
            replace(kind, ctx, state, id, headers, params, body)
        })
        .patch(move |ctx, state, id, headers, params, body| {
            modify(kind, ctx, state, id, headers, params, body)
        })
        .delete(move |ctx, state, id, headers| delete(kind, ctx, state, id, headers))
}

// ---- handlers ------------------------------------------------------------------------

async fn list(
    kind: Kind,
    ctx: TenantCtx,
    State(state): State<AppStateRef>,
    params: Params,
) -> Result<Response, ScimError> {
    list_with(kinds(kind), ctx, state, query(params)?).await
}

async fn create(
    kind: Kind,
    ctx: TenantCtx,
    State(state): State<AppStateRef>,
    params: Params,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let projection = projection(kind, &query(params)?)?;
    // Checked and mapped here: work for the CPU alone, a few tens of microseconds.
    let body = resource::prepare(kind, body, None)?;
    let mapper = ctx.tenant.mapper();
    let write = write_for(kind, &ctx.tenant, mapper.as_ref(), body)?;
    let rules = graph_rules(kind, &mapper);
    let tenant = ctx.tenant.id.clone();
    // A store that queues its writes answers through a future. A write it gives back (it
    // has no such writer, or declined the write once queued) is written on the blocking pool.
    let created = match &rules {
        // The managers it names are recomputed in the same transaction.
        Some(rules) => match state.store.queue_user_create(&tenant, rules, write) {
            Ok(queued) => queued.await,
            Err(write) => Ok(Created::GivenBack(write)),
        },
        None => match state.store.queue_create(&tenant, kind, write) {
            Ok(queued) => queued.await.map(Created::Stored),
            Err(write) => Ok(Created::GivenBack(write)),
        },
    };
    let stored = match created {
        Ok(Created::Stored(stored)) => Ok(stored),
        Ok(Created::GivenBack(write)) => {
            let tenant = tenant.clone();
            blocking(move || {
                Ok(match rules {
                    Some(rules) => state
                        .store
                        .write_user(&tenant, &rules, UserWrite::Create(*write))
                        .and_then(|stored| stored.ok_or(StoreError::NotFound)),
                    None => state.store.create(&tenant, kind, *write),
                })
            })
            .await?
        }
        Err(error) => Err(error),
    }
    .map_err(|e| conflict(kind, e))?;
    tracing::info!(%tenant, kind = kind.as_str(), id = %stored.id, "created");
    let stored = (stored, ctx.base);
    // A new id is in no group yet.
    Ok(resource_response(
        StatusCode::CREATED,
        &stored.0,
        &stored.1,
        &projection,
        &[],
    ))
}

async fn search_kind(
    kind: Kind,
    ctx: TenantCtx,
    State(state): State<AppStateRef>,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    search_request(kinds(kind), ctx, state, body).await
}

/// `POST /.search`: users and groups at once.
pub(super) async fn search_all(
    ctx: TenantCtx,
    State(state): State<AppStateRef>,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    search_request(&[Kind::User, Kind::Group], ctx, state, body).await
}

async fn get_one(
    kind: Kind,
    ctx: TenantCtx,
    State(state): State<AppStateRef>,
    ResourceId(id): ResourceId,
    params: Params,
) -> Result<Response, ScimError> {
    let projection = projection(kind, &query(params)?)?;
    let tenant = ctx.tenant.id.clone();
    let with_groups = projection.returns("groups");
    let (stored, groups) = blocking(move || {
        let stored = state
            .store
            .get(&tenant, kind, &id)?
            .ok_or_else(|| ScimError::not_found(kind, &id))?;
        let groups = groups_of(&state, &tenant, kind, &[&stored.id], with_groups)?;
        Ok((stored, groups))
    })
    .await?;
    Ok(resource_response(
        StatusCode::OK,
        &stored,
        &ctx.base,
        &projection,
        &groups,
    ))
}

async fn replace(
    kind: Kind,
    ctx: TenantCtx,
    State(state): State<AppStateRef>,
    ResourceId(id): ResourceId,
    headers: HeaderMap,
    params: Params,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let target = id.clone();
    update(kind, ctx, state, id, headers, params, move |_| {
        resource::prepare(kind, body.clone(), Some(&target))
    })
    .await
}

async fn modify(
    kind: Kind,
    ctx: TenantCtx,
    State(state): State<AppStateRef>,
    ResourceId(id): ResourceId,
    headers: HeaderMap,
    params: Params,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    update(kind, ctx, state, id, headers, params, move |current| {
        patch::apply(kind, &current.id, &current.body, &body)
    })
    .await
}

async fn delete(
    kind: Kind,
    ctx: TenantCtx,
    State(state): State<AppStateRef>,
    ResourceId(id): ResourceId,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let expected = if_match(&headers);
    let tenant = ctx.tenant.id.clone();
    let tenant_ctx = ctx.tenant.clone();
    blocking(move || {
        if expected.is_some() {
            let current = state
                .store
                .get(&tenant, kind, &id)?
                .ok_or_else(|| ScimError::not_found(kind, &id))?;
            if !version_matches(&expected, current.version) {
                return Err(ScimError::PreconditionFailed);
            }
        }
        // The store takes it out of every group, and recomputes the managers it named, in
        // the same transaction.
        match graph_rules(kind, &tenant_ctx.mapper()) {
            Some(rules) => state
                .store
                .write_user(&tenant, &rules, UserWrite::Delete { id: &id })
                .map(|_| ()),
            None => state.store.delete(&tenant, kind, &id),
        }
        .map_err(|e| match e {
            StoreError::NotFound => ScimError::not_found(kind, &id),
            other => other.into(),
        })?;
        tracing::info!(tenant = %tenant, kind = kind.as_str(), %id, "deleted");
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- the work behind them ------------------------------------------------------------

/// A SearchRequest body (RFC 7644 §3.4.3): the query parameters of a list, as JSON.
async fn search_request(
    kinds: &'static [Kind],
    ctx: TenantCtx,
    state: AppStateRef,
    body: Value,
) -> Result<Response, ScimError> {
    let Value::Object(map) = body else {
        return Err(ScimError::InvalidSyntax(
            "the body must be a JSON object".into(),
        ));
    };
    let mut params = Vec::new();
    for (key, value) in map {
        let text = match (key.as_str(), value) {
            ("schemas", _) | (_, Value::Null) => continue,
            ("attributes" | "excludedAttributes", Value::Array(items)) => {
                let names: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
                names
                    .ok_or_else(|| {
                        ScimError::InvalidValue(format!(
                            "`{key}` must be a list of attribute names"
                        ))
                    })?
                    .join(",")
            }
            (_, Value::String(text)) => text,
            (_, Value::Number(number)) => number.to_string(),
            _ => {
                return Err(ScimError::InvalidValue(format!(
                    "bad `{key}` in the search request"
                )))
            }
        };
        params.push((key, text));
    }
    list_with(kinds, ctx, state, params).await
}

async fn list_with(
    kinds: &'static [Kind],
    ctx: TenantCtx,
    state: AppStateRef,
    params: Vec<(String, String)>,
) -> Result<Response, ScimError> {
    let (attributes, excluded) = (
        param(&params, "attributes"),
        param(&params, "excludedAttributes"),
    );
    let projections = kinds
        .iter()
        .map(|&kind| match kinds {
            [_] => Projection::parse(kind, attributes, excluded),
            _ => Projection::parse_lenient(kind, attributes, excluded),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let filter = param(&params, "filter")
        .map(|f| {
            filter::parse_filter(f)
                .map_err(|e| ScimError::InvalidFilter(format!("bad filter: {e}")))
        })
        .transpose()?;
    let start = parse_index(&params, "startIndex")?.unwrap_or(1).max(1);
    let count = parse_index(&params, "count")?
        .unwrap_or(MAX_RESULTS as i64)
        .clamp(0, MAX_RESULTS as i64);
    let tenant = ctx.tenant.id.clone();
    let base = ctx.base.clone();
    let skip = usize::try_from(start - 1).unwrap_or(usize::MAX);
    let take = usize::try_from(count).unwrap_or(0);
    // Only the page is kept: without a filter only the page is read; with one, the
    // candidates an index finds, or every resource streamed past it (issue 19: a list
    // loaded the whole tenant, 332 MB for 20,000 users, to answer `count=1`).
    // `groups` is computed: before filtering when the filter reads it, else for the page.
    let groups_first = filter.as_ref().is_some_and(|f| f.reads("groups"));
    let groups_wanted: Vec<bool> = projections.iter().map(|p| p.returns("groups")).collect();
    let (total, page) = blocking(move || {
        let store = state.store.as_ref();
        let mut total = 0;
        let mut page: Vec<(usize, Value)> = Vec::new();
        for (index, &kind) in kinds.iter().enumerate() {
            let Some(filter) = &filter else {
                let (count, stored) =
                    store.page(&tenant, kind, skip.saturating_sub(total), take - page.len())?;
                page.extend(stored.iter().map(|s| (index, resource::render(s, &base))));
                total += count;
                continue;
            };
            if groups_first {
                // `groups` is computed from memberships: the filter needs it on every
                // candidate, so they are gathered (a filter on `groups` is rare).
                let mut rendered: Vec<(usize, Value)> = Vec::new();
                visit_candidates(store, &tenant, kind, filter, &base, &mut |r| {
                    rendered.push((index, r))
                })?;
                let is_user = |i: usize| kinds.get(i) == Some(&Kind::User);
                set_groups_of(&state, &tenant, &base, &is_user, &mut rendered)?;
                for (i, r) in rendered {
                    if filter.matches(&r, kind) {
                        if total >= skip && page.len() < take {
                            page.push((i, r));
                        }
                        total += 1;
                    }
                }
                continue;
            }
            visit_matches(store, &tenant, kind, filter, &base, &mut |rendered| {
                if total >= skip && page.len() < take {
                    page.push((index, rendered));
                }
                total += 1;
            })?;
        }
        if !groups_first {
            let is_user =
                |i: usize| kinds.get(i) == Some(&Kind::User) && groups_wanted.get(i) == Some(&true);
            set_groups_of(&state, &tenant, &base, &is_user, &mut page)?;
        }
        Ok::<_, ScimError>((total, page))
    })
    .await?;
    let page: Vec<Value> = page
        .into_iter()
        .map(|(index, r)| match projections.get(index) {
            Some(projection) => projection.apply(r),
            None => r,
        })
        .collect();
    let mut body = json!({
        "schemas": [schema::LIST],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": page.len(),
    });
    if !page.is_empty() || count > 0 {
        body["Resources"] = Value::Array(page);
    }
    Ok(scim_response(StatusCode::OK, &body))
}

/// Hands `visit` each resource of `kind` that `filter` matches, oldest first, as served
/// (rendered with `base`). The fuzz target `scim_filter` holds the index and the scan to each
/// other.
pub(crate) fn visit_matches(
    store: &dyn ResourceStore,
    tenant: &TenantId,
    kind: Kind,
    filter: &filter::Filter,
    base: &str,
    visit: &mut dyn FnMut(Value),
) -> Result<(), StoreError> {
    visit_candidates(store, tenant, kind, filter, base, &mut |rendered| {
        if filter.matches(&rendered, kind) {
            visit(rendered);
        }
    })
}

/// Hands `visit` every resource of `kind` that `filter` may match, oldest first, rendered:
/// the candidates an index finds ([`filter::Filter::index_hint`]), or every resource,
/// streamed. The filter itself is the caller's to apply.
fn visit_candidates(
    store: &dyn ResourceStore,
    tenant: &TenantId,
    kind: Kind,
    filter: &filter::Filter,
    base: &str,
    visit: &mut dyn FnMut(Value),
) -> Result<(), StoreError> {
    let mut keep = |stored: &StoredResource| visit(resource::render(stored, base));
    match filter.index_hint(kind) {
        Some(filter::IndexHint::UserName(name)) => store
            .find_unique(tenant, kind, &name)?
            .iter()
            .for_each(keep),
        Some(filter::IndexHint::Key(attr, value)) => store
            .find_by(tenant, kind, attr, &value)?
            .iter()
            .for_each(keep),
        None => store.scan(tenant, kind, &mut |stored| {
            keep(&stored);
            true
        })?,
    }
    Ok(())
}

/// Tries at computing a change outside the store's writer before computing it inside.
const OPTIMISTIC_TRIES: usize = 3;

/// PUT and PATCH: read, change, map, then write only if no other write came in between, so
/// the one writer is held for the write alone (a member PATCH of a big group, or the rules
/// engine, do their work without it: issue 19). After a few lost races the change is made
/// inside the store's transaction, which always succeeds: concurrent writes lose nothing.
async fn update(
    kind: Kind,
    ctx: TenantCtx,
    state: AppStateRef,
    id: String,
    headers: HeaderMap,
    params: Params,
    change: impl Fn(&StoredResource) -> Result<Value, ScimError> + Send + 'static,
) -> Result<Response, ScimError> {
    let projection = projection(kind, &query(params)?)?;
    let with_groups = projection.returns("groups");
    let expected = if_match(&headers);
    let tenant = ctx.tenant.clone();
    let (stored, groups) = blocking(move || {
        let mapper = tenant.mapper();
        let rules = graph_rules(kind, &mapper);
        for _ in 0..OPTIMISTIC_TRIES {
            let current = state
                .store
                .get(&tenant.id, kind, &id)?
                .ok_or_else(|| ScimError::not_found(kind, &id))?;
            if !version_matches(&expected, current.version) {
                return Err(ScimError::PreconditionFailed);
            }
            let write = write_for(kind, &tenant, mapper.as_ref(), change(&current)?)?;
            let version = current.version;
            let replaced = match &rules {
                // The managers it named and names are recomputed in the same transaction.
                Some(rules) => state
                    .store
                    .write_user(&tenant.id, rules, UserWrite::Replace { id: &id, version, write })
                    .and_then(|stored| stored.ok_or(StoreError::NotFound)),
                None => state.store.replace(&tenant.id, kind, &id, version, write),
            };
            match replaced {
                Ok(stored) => {
                    tracing::info!(tenant = %tenant.id, kind = kind.as_str(), id = %stored.id, version = stored.version, "updated");
                    let groups =
                        groups_of(&state, &tenant.id, kind, &[&stored.id], with_groups)?;
                    return Ok((stored, groups));
                }
                Err(StoreError::Stale) => continue,
                Err(StoreError::NotFound) => return Err(ScimError::not_found(kind, &id)),
                Err(error) => return Err(conflict(kind, error)),
            }
        }
        let mut failure = None;
        let mut decide = |current: &StoredResource| {
            if !version_matches(&expected, current.version) {
                failure = Some(ScimError::PreconditionFailed);
                return None;
            }
            match change(current).and_then(|body| write_for(kind, &tenant, mapper.as_ref(), body)) {
                Ok(write) => Some(write),
                Err(error) => {
                    failure = Some(error);
                    None
                }
            }
        };
        let result = match &rules {
            Some(rules) => state
                .store
                .write_user(&tenant.id, rules, UserWrite::Update { id: &id, change: &mut decide })
                .and_then(|stored| stored.ok_or(StoreError::NotFound)),
            None => state.store.update(&tenant.id, kind, &id, &mut decide),
        };
        match (result, failure) {
            (Ok(stored), _) => {
                tracing::info!(tenant = %tenant.id, kind = kind.as_str(), id = %stored.id, version = stored.version, "updated");
                let groups = groups_of(&state, &tenant.id, kind, &[&stored.id], with_groups)?;
                Ok((stored, groups))
            }
            (Err(StoreError::Aborted), Some(error)) => Err(error),
            (Err(StoreError::NotFound), _) => Err(ScimError::not_found(kind, &id)),
            (Err(error), _) => Err(conflict(kind, error)),
        }
    })
    .await?;
    Ok(resource_response(
        StatusCode::OK,
        &stored,
        &ctx.base,
        &projection,
        &groups,
    ))
}

/// The memberships behind the `groups` of users `ids` (none for groups, or when the
/// response leaves `groups` out).
fn groups_of(
    state: &AppStateRef,
    tenant: &TenantId,
    kind: Kind,
    ids: &[&str],
    wanted: bool,
) -> Result<Vec<Membership>, ScimError> {
    if kind != Kind::User || !wanted {
        return Ok(Vec::new());
    }
    Ok(state.store.memberships(tenant, ids)?)
}

/// Sets the `groups` of the users among `resources` (rendered, as `(kind index, body)`):
/// those whose kind index `is_user` accepts.
fn set_groups_of(
    state: &AppStateRef,
    tenant: &TenantId,
    base: &str,
    is_user: &dyn Fn(usize) -> bool,
    resources: &mut [(usize, Value)],
) -> Result<(), ScimError> {
    let users: Vec<&str> = resources
        .iter()
        .filter(|(index, _)| is_user(*index))
        .filter_map(|(_, r)| r["id"].as_str())
        .collect();
    let memberships = groups_of(state, tenant, Kind::User, &users, true)?;
    let mut by_member: HashMap<&str, Vec<&Membership>> = HashMap::new();
    for membership in &memberships {
        by_member
            .entry(membership.member.as_str())
            .or_default()
            .push(membership);
    }
    for (index, resource) in resources.iter_mut() {
        if !is_user(*index) {
            continue;
        }
        let id = resource["id"].as_str().unwrap_or_default();
        let of_user = by_member.get(id).cloned().unwrap_or_default();
        resource::set_groups(resource, of_user, base);
    }
    Ok(())
}

/// The rules a write of `kind` keeps the tenant's organisation graph with: users of a
/// tenant whose rules declare `reports_to` (their profiles depend on each other).
fn graph_rules(kind: Kind, mapper: &Arc<dyn ProfileMapper>) -> Option<SharedRules> {
    match kind {
        Kind::User => super::org::rules(mapper),
        Kind::Group => None,
    }
}

/// What a write stores for `body` (already prepared): the unique key and, for users, the
/// canonical profile from the tenant's current program. A strict tenant refuses namespaces
/// it does not define.
/// Where the rules declare `reports_to`, the store maps the user in its population instead.
fn write_for(
    kind: Kind,
    tenant: &Tenant,
    mapper: &dyn ProfileMapper,
    body: Value,
) -> Result<Write, ScimError> {
    tenant.extensions().admit(kind, &body)?;
    let profile = match kind {
        Kind::User if !mapper.has_org_graph() => Some(mapper.map(&body)),
        _ => None,
    };
    Ok(Write {
        unique_key: resource::unique_key(kind, &body),
        body,
        profile,
    })
}

fn conflict(kind: Kind, error: StoreError) -> ScimError {
    match (kind, error) {
        (Kind::User, StoreError::Conflict) => {
            ScimError::Uniqueness("a user with this userName exists already".into())
        }
        (_, StoreError::NotFound) => ScimError::NotFound(format!("{} not found", kind.as_str())),
        (_, other) => other.into(),
    }
}

fn projection(kind: Kind, params: &[(String, String)]) -> Result<Projection, ScimError> {
    Projection::parse(
        kind,
        param(params, "attributes"),
        param(params, "excludedAttributes"),
    )
}

fn parse_index(params: &[(String, String)], name: &str) -> Result<Option<i64>, ScimError> {
    param(params, name)
        .map(|v| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| ScimError::InvalidValue(format!("`{name}` must be an integer")))
        })
        .transpose()
}

fn kinds(kind: Kind) -> &'static [Kind] {
    match kind {
        Kind::User => &[Kind::User],
        Kind::Group => &[Kind::Group],
    }
}

// ---- responses -----------------------------------------------------------------------

fn resource_response(
    status: StatusCode,
    stored: &StoredResource,
    base: &str,
    projection: &Projection,
    groups: &[Membership],
) -> Response {
    let mut rendered = resource::render(stored, base);
    if stored.kind == Kind::User {
        resource::set_groups(&mut rendered, groups, base);
    }
    let location = rendered["meta"]["location"].as_str().map(str::to_string);
    let mut response = scim_response(status, &projection.apply(rendered));
    if let Ok(etag) = HeaderValue::from_str(&resource::etag(stored.version)) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    if status == StatusCode::CREATED {
        if let Some(location) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            response.headers_mut().insert(header::LOCATION, location);
        }
    }
    response
}

fn if_match(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
}

fn version_matches(expected: &Option<String>, version: i64) -> bool {
    match expected.as_deref() {
        None | Some("*") => true,
        Some(list) => list.split(',').any(|tag| {
            let tag = tag.trim();
            tag == resource::etag(version) || tag == format!("\"{version}\"")
        }),
    }
}
