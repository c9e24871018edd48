//! Setup links: the page a customer's IdP administrator opens to connect Okta or Entra ID.
//!
//! `GET /setup/{secret}` shows the base URL, the steps and the attribute table, with a
//! "Reveal the token" button: a link scanner (mail filters open links) cannot spend the link.
//! `POST /setup/{secret}` spends the link and mints the tenant's new token in one transaction,
//! and shows it once; the link then answers 410, as it does once expired. No plaintext token
//! is ever stored. `GET /setup/{secret}/status` (authorised by the link's own secret, for a
//! day after it was spent) tells the page whether the IdP called yet and what happened.

use std::sync::OnceLock;
use std::time::Duration;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::Environment;
use serde::Serialize;
use serde_json::json;

use super::config::{new_token, token_hash};
use super::error::ScimError;
use super::extract::public_base;
use super::mapper;
use super::state::{blocking, AppStateRef};
use crate::program::{FieldKind, Importance};
use crate::store::registry::{ActivityQuery, LinkSpend, SetupLink};
use crate::store::{Store, TenantId};

/// How long after it was spent a link still reads the connection status.
const STATUS_AFTER_SPENT: Duration = Duration::from_secs(24 * 3600);

fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        if let Err(error) = env.add_template("setup.html", include_str!("templates/setup.html")) {
            tracing::error!(%error, "the setup page template does not compile");
        }
        env
    })
}

/// One canonical field and the attributes it reads, in the order Canon tries them: one row
/// per field keeps the table short (the default pack reads about 90 attributes, most of them
/// fallbacks and CSV column names).
#[derive(Serialize, Debug, PartialEq)]
pub struct AttributeRow {
    pub field: String,
    /// Required (every profile needs the field: send one of its attributes), recommended
    /// (send it if you have it) or optional.
    pub importance: Importance,
    /// The attribute Canon reads first: the one to map, as the IdP sends it (extension
    /// attributes by their full URN path, as Entra ID's target attribute takes it).
    pub first: String,
    /// How Okta's Profile Editor asks for `first` when it is an extension attribute.
    pub okta: Option<OktaAttribute>,
    /// What it reads when the first is absent, in order.
    pub fallbacks: Vec<String>,
}

/// An extension attribute as Okta's Profile Editor asks for it: *External name* and
/// *External namespace*.
#[derive(Serialize, Debug, PartialEq)]
pub struct OktaAttribute {
    pub external_name: String,
    pub external_namespace: String,
}

impl OktaAttribute {
    /// `urn:…:User:manager.value` → name `manager.value` in namespace `urn:…:User`; `None`
    /// for a core attribute or a CSV column.
    fn of(path: &str) -> Option<Self> {
        if !path.get(..4)?.eq_ignore_ascii_case("urn:") {
            return None;
        }
        let (namespace, name) = path.rsplit_once(':')?;
        Some(Self {
            external_name: name.to_string(),
            external_namespace: namespace.to_string(),
        })
    }
}

/// One canonical field and what it accepts.
#[derive(Serialize, Debug, PartialEq)]
pub struct FieldRow {
    pub name: String,
    pub importance: Importance,
    pub values: String,
}

/// The attribute table of a program: a row per field that reads attributes, required fields
/// first, then recommended ones, then optional ones, each in the program's order.
pub fn attribute_table(program: &crate::Program) -> (Vec<AttributeRow>, Vec<FieldRow>) {
    let importance = |field: &str| {
        program
            .field_importance(field)
            .unwrap_or(Importance::Optional)
    };
    let mut rows: Vec<AttributeRow> = program
        .reads()
        .into_iter()
        .filter_map(|(field, paths)| {
            let mut paths = paths.into_iter().map(str::to_string);
            let first = paths.next()?;
            let mut fallbacks: Vec<String> = Vec::new();
            for path in paths {
                if path != first && !fallbacks.contains(&path) {
                    fallbacks.push(path);
                }
            }
            Some(AttributeRow {
                field: field.to_string(),
                importance: importance(field),
                okta: OktaAttribute::of(&first),
                first,
                fallbacks,
            })
        })
        .collect();
    rows.sort_by_key(|r| r.importance);
    let fields = program
        .fields
        .iter()
        .map(|field| FieldRow {
            name: field.name.to_string(),
            importance: field.importance(),
            values: match &field.kind {
                FieldKind::Enum(values) => values
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                FieldKind::Flag => "yes, no".into(),
                FieldKind::Email => "an email address".into(),
                FieldKind::Text => "any text".into(),
            },
        })
        .collect();
    (rows, fields)
}

/// A page with the headers every setup page carries: never cached, never framed, no referrer.
fn page(status: StatusCode, context: serde_json::Value) -> Response {
    let html = templates()
        .get_template("setup.html")
        .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(&context))));
    let html = match html {
        Ok(html) => html,
        Err(error) => return ScimError::Internal(format!("setup page: {error:#}")).into_response(),
    };
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn gone(tenant: &TenantId, why: &str) -> Response {
    page(StatusCode::GONE, json!({"tenant": tenant, "gone": why}))
}

fn not_found() -> Response {
    page(
        StatusCode::NOT_FOUND,
        json!({"tenant": "your organisation", "gone": "This is not a valid set-up link."}),
    )
}

fn store_of(state: &AppStateRef) -> Option<std::sync::Arc<dyn Store>> {
    state.registry.as_ref().map(|r| r.store.clone())
}

/// Why a link cannot show its token any more, if it cannot.
fn spent_or_expired(link: &SetupLink) -> Option<&'static str> {
    if link.spent.is_some() {
        Some("It was opened already: its token was shown once.")
    } else if link.expires <= crate::store::now() {
        Some("It has expired.")
    } else {
        None
    }
}

/// The page's context: the tenant, its base URL, its live rules' attribute table.
fn context(
    state: &AppStateRef,
    headers: &HeaderMap,
    store: &dyn Store,
    link: &SetupLink,
    secret: &str,
) -> Result<serde_json::Value, ScimError> {
    let tenant = &link.tenant;
    let record = store
        .tenant(tenant)?
        .ok_or_else(|| ScimError::NotFound(format!("no tenant `{tenant}`")))?;
    let version = match record.live_version {
        Some(number) => store.rule_version(tenant, number)?,
        None => None,
    };
    let (attributes, fields) = match version {
        Some(version) => match mapper::compile_bundle(&version.bundle) {
            Ok(program) => attribute_table(&program),
            Err(_) => (Vec::new(), Vec::new()),
        },
        None => (Vec::new(), Vec::new()),
    };
    Ok(json!({
        "tenant": tenant,
        "base_url": format!("{}/t/{tenant}/scim/v2", public_base(state, headers)),
        "expires": link.expires,
        "attributes": attributes,
        "fields": fields,
        "status_url": format!("/setup/{secret}/status"),
    }))
}

fn secret_of(path: Result<Path<String>, PathRejection>) -> Option<String> {
    path.ok()
        .map(|Path(secret)| secret)
        .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `GET /setup/{secret}`: the page without the token (a button reveals it).
pub(super) async fn show(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let (Some(secret), Some(store)) = (secret_of(path), store_of(&state)) else {
        return not_found();
    };
    let shown = {
        let state = state.clone();
        blocking(move || {
            let Some(link) = store.setup_link(&token_hash(&secret))? else {
                return Ok(None);
            };
            if let Some(why) = spent_or_expired(&link) {
                return Ok(Some(Err((link.tenant, why))));
            }
            Ok(Some(Ok(context(
                &state, &headers, &*store, &link, &secret,
            )?)))
        })
        .await
    };
    match shown {
        Ok(None) => not_found(),
        Ok(Some(Err((tenant, why)))) => gone(&tenant, why),
        Ok(Some(Ok(context))) => page(StatusCode::OK, context),
        Err(error) => error.into_response(),
    }
}

/// `POST /setup/{secret}`: spends the link, mints the token and shows it, once.
pub(super) async fn reveal(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let (Some(secret), Some(store)) = (secret_of(path), store_of(&state)) else {
        return not_found();
    };
    let revealed = {
        let state = state.clone();
        blocking(move || {
            let token = new_token();
            let spend = match store.spend_setup_link(&token_hash(&secret), &token_hash(&token)) {
                Err(crate::store::StoreError::NotFound) => return Ok(None),
                other => other?,
            };
            match spend {
                LinkSpend::Gone(link) => {
                    let why = spent_or_expired(&link).unwrap_or("It cannot be used.");
                    Ok(Some(Err((link.tenant, why))))
                }
                LinkSpend::Spent(link) => {
                    tracing::info!(tenant = %link.tenant, "setup link spent: a new token was shown");
                    let mut context = context(&state, &headers, &*store, &link, &secret)?;
                    context["token"] = json!(token);
                    // The token works at once, not at the next poll.
                    super::tenants::sync(&state, false)?;
                    Ok(Some(Ok(context)))
                }
            }
        })
        .await
    };
    match revealed {
        Ok(None) => not_found(),
        Ok(Some(Err((tenant, why)))) => gone(&tenant, why),
        Ok(Some(Ok(context))) => page(StatusCode::OK, context),
        Err(error) => error.into_response(),
    }
}

/// `GET /setup/{secret}/status`: whether the tenant's IdP called yet, and its last requests.
pub(super) async fn status(
    State(state): State<AppStateRef>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let (Some(secret), Some(store)) = (secret_of(path), store_of(&state)) else {
        return ScimError::NotFound("no such setup link".into()).into_response();
    };
    let status = blocking(move || {
        let link = store
            .setup_link(&token_hash(&secret))?
            .ok_or_else(|| ScimError::NotFound("no such setup link".into()))?;
        let now = crate::store::now();
        let spent_recently = link.spent.as_deref().is_some_and(|spent| {
            let grace = chrono::Duration::from_std(STATUS_AFTER_SPENT).unwrap_or_default();
            chrono::DateTime::parse_from_rfc3339(spent).is_ok_and(|at| {
                (at + grace)
                    .to_utc()
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                    > now
            })
        });
        if link.expires <= now && !spent_recently {
            return Err(ScimError::NotFound("this setup link has expired".into()));
        }
        let query = ActivityQuery {
            errors_only: false,
            after: None,
            limit: 10,
        };
        let mut recent = store.activity(&link.tenant, &query)?;
        recent.reverse();
        let counters = store.activity_counters(&link.tenant)?;
        Ok(json!({
            "requests": counters.requests,
            "client_errors": counters.client_errors,
            "server_errors": counters.server_errors,
            "last_request": counters.last_request,
            "last_status": recent.first().map(|e| e.status),
            "recent": recent.iter().map(|e| json!({
                "at": e.at, "method": e.method, "path": e.path, "status": e.status, "error": e.error,
            })).collect::<Vec<_>>(),
        }))
    })
    .await;
    match status {
        Ok(body) => {
            let mut response = super::error::json_body(StatusCode::OK, &body, "application/json");
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => error.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_attribute_table_follows_the_rules() {
        let program = crate::Program::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/rules/default.rules"
        )))
        .unwrap();
        let (attributes, fields) = attribute_table(&program);
        let row = |field: &str| {
            attributes
                .iter()
                .find(|r| r.field == field)
                .unwrap_or_else(|| panic!("{field} reads nothing: {attributes:?}"))
        };
        let levels = row("management_level");
        assert_eq!(levels.importance, Importance::Required);
        assert!(levels.fallbacks.iter().any(|p| p == "title"), "{levels:?}");
        assert_eq!(row("first_name").first, "name.givenName");
        assert_eq!(row("first_name").okta, None);
        // Extension attributes by the full path an IdP administrator types, never by alias.
        assert_eq!(
            levels.first,
            "urn:ietf:params:scim:schemas:extension:canon:2.0:User:managementLevel"
        );
        assert_eq!(
            levels.okta,
            Some(OktaAttribute {
                external_name: "managementLevel".into(),
                external_namespace: "urn:ietf:params:scim:schemas:extension:canon:2.0:User".into(),
            })
        );
        let function = row("job_function");
        assert!(function
            .fallbacks
            .iter()
            .any(|p| p == "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"));
        assert!(attributes
            .iter()
            .flat_map(|r| r.fallbacks.iter().chain([&r.first]))
            .all(|p| !p.starts_with("canon:") && !p.starts_with("enterprise:")));
        // Required fields first, then recommended, then optional; attributes listed once.
        assert!(attributes
            .windows(2)
            .all(|w| w[0].importance <= w[1].importance));
        let importance = |field: &str| row(field).importance;
        assert_eq!(importance("last_name"), Importance::Required);
        for field in [
            "job_title",
            "business_unit",
            "job_function",
            "people_manager",
            "manager_email",
        ] {
            assert_eq!(importance(field), Importance::Recommended, "{field}");
        }
        for field in ["location", "locale", "status"] {
            assert_eq!(importance(field), Importance::Optional, "{field}");
        }
        for row in &attributes {
            let mut all: Vec<&String> = row.fallbacks.iter().chain([&row.first]).collect();
            let count = all.len();
            all.sort();
            all.dedup();
            assert_eq!(all.len(), count, "{row:?}");
        }
        let values = fields
            .iter()
            .find(|f| f.name == "management_level")
            .unwrap();
        assert_eq!(values.values.split(", ").count(), 12, "{}", values.values);
        let flag = fields.iter().find(|f| f.name == "people_manager").unwrap();
        assert_eq!(flag.values, "yes, no");
        let html = templates()
            .get_template("setup.html")
            .unwrap()
            .render(minijinja::Value::from(minijinja::value::Serde(json!({
                "tenant": "acme", "base_url": "https://x/t/acme/scim/v2", "token": "<t>",
                "attributes": attributes, "fields": fields, "status_url": "/s"
            }))))
            .unwrap();
        assert!(html.contains("&lt;t&gt;"), "escaped");
        assert!(html.contains("SCIM 2.0 Test App (OAuth Bearer Token)"));
    }
}
