//! A customer: its coverage (the dry run's report over its stored users) and its users.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::analysis;
use super::auth::{blocking, Signed};
use super::live::{customer, Customer};
use super::page::{pct, render, short_version, ConsoleError};
use super::ConsoleRef;
use crate::report::CoverageReport;
use crate::store::{fold, IndexedAttr, Kind, StoredResource, UserSummary};

/// Users per page of the users list.
pub(crate) const PAGE: usize = 50;

/// Coverage reports by tenant, each for the rule version and the users it was computed on:
/// a page view recomputes only when a user or the rules changed.
pub(crate) type CoverageCache = super::kept::Kept<CoverageReport>;

/// What every page of a customer shows at its top.
#[derive(Serialize)]
pub(crate) struct Header {
    pub id: String,
    pub users: u64,
    pub complete_share: String,
    pub last_activity: Option<String>,
    pub rule_version: String,
    pub rule_version_full: String,
}

pub(crate) fn header(customer: &Customer, summary: &UserSummary) -> Header {
    Header {
        id: customer.tenant.id.to_string(),
        users: summary.users,
        complete_share: pct(summary.complete, summary.users),
        last_activity: summary.last_modified.clone(),
        rule_version: short_version(customer.program.version()),
        rule_version_full: customer.program.version().to_string(),
    }
}

/// Customer `id` as one of its pages opens it, on a blocking thread: the customer with the
/// rules serving, its users at a glance, and what the page reads beside them (`more`).
pub(crate) async fn open<T: Send + 'static>(
    console: &ConsoleRef,
    id: String,
    more: impl FnOnce(&ConsoleRef, &Customer) -> Result<T, ConsoleError> + Send + 'static,
) -> Result<(Customer, UserSummary, T), ConsoleError> {
    let work = console.clone();
    blocking(move || {
        let customer = customer(&work.app, &work.programs, &id)?;
        let summary = work.app.store.user_summary(&customer.tenant.id)?;
        let more = more(&work, &customer)?;
        Ok((customer, summary, more))
    })
    .await
}

/// What a page of a customer renders: the context every such page has (who is signed in,
/// the form token, the tab, the customer's header) and what the page adds (`page`, an
/// object).
pub(crate) fn page_context(
    signed: &Signed,
    tab: &str,
    (customer, summary): (&Customer, &UserSummary),
    page: Value,
) -> Value {
    let mut context = json!({
        "csrf": signed.csrf(), "who": signed.who(), "tab": tab,
        "customer": header(customer, summary),
    });
    if let (Some(context), Value::Object(page)) = (context.as_object_mut(), page) {
        context.extend(page);
    }
    context
}

/// `GET /console/customers/{tenant}`: the overview; the coverage arrives as a fragment.
pub(super) async fn overview(
    State(console): State<ConsoleRef>,
    signed: Signed,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let (customer, summary, activity) = open(&console, id, |work, customer| {
        Ok(super::activity::recent(&work.app, &customer.tenant.id)?)
    })
    .await?;
    render(
        "customer.html",
        page_context(
            &signed,
            "overview",
            (&customer, &summary),
            json!({ "activity": activity }),
        ),
    )
}

/// `GET /console/customers/{tenant}/coverage`: the coverage report of the rules serving
/// over every stored user (a fragment).
pub(super) async fn coverage(
    State(console): State<ConsoleRef>,
    _signed: Signed,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let work = console.clone();
    let report = blocking(move || {
        let customer = customer(&work.app, &work.programs, &id)?;
        let tenant = &customer.tenant.id;
        let summary = work.app.store.user_summary(tenant)?;
        let key = format!(
            "{}|{}|{}",
            customer.program.version(),
            summary.users,
            summary.last_modified.as_deref().unwrap_or_default()
        );
        if let Some(report) = work.coverage.get(tenant, &key) {
            return Ok(report);
        }
        let extensions = customer.tenant.extensions();
        let signature = analysis::org_signature(&customer.program, &extensions);
        let known_key = analysis::population_key(&signature, &summary);
        let start = analysis::Start {
            known: work.populations.get(tenant, &known_key),
            signature: Some(signature),
        };
        let (report, known) = analysis::coverage(
            &customer.program,
            &extensions,
            &*work.app.store,
            tenant,
            start,
        )?;
        work.populations.put(tenant, known_key, known);
        let report = Arc::new(report);
        work.coverage.put(tenant, key, Some(report.clone()));
        Ok(report)
    })
    .await?;
    render("coverage.html", json!({ "report": coverage_view(&report) }))
}

/// The coverage report as the page shows it: shares worked out, rules that never fire
/// marked.
pub(crate) fn coverage_view(report: &CoverageReport) -> Value {
    let rows = report.rows_out;
    let fields: Vec<Value> = report
        .fields
        .iter()
        .map(|field| {
            let set = rows - field.unset;
            let values: Vec<Value> = field
                .values
                .iter()
                .take(8)
                .map(|v| json!({"value": v.value, "rows": v.rows, "share": pct(v.rows, rows),
                    "width": bar_width(v.rows, rows)}))
                .collect();
            let rules: Vec<Value> = field
                .rules
                .iter()
                .map(|r| json!({"rule": r.rule, "at": r.at, "fired": r.fired, "share": pct(r.fired, rows)}))
                .collect();
            json!({
                "field": field.field,
                "set": set,
                "unset": field.unset,
                "set_share": pct(set, rows),
                "set_width": bar_width(set, rows),
                "missing_required": field.missing_required,
                "values": values,
                "more_values": field.values.len().saturating_sub(8),
                "unmapped": field.unmapped.iter().filter(|u| !u.values.is_empty()).map(|u| json!({
                    "input": u.input, "distinct": u.distinct,
                    "values": u.values.iter().map(|v| json!({"value": v.value, "rows": v.rows})).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
                "rules": rules,
                "else_fired": field.else_fired,
                "unmapped_distinct": field.unmapped.iter().map(|u| u.distinct).sum::<u64>(),
                "never_fired": field.rules.iter().filter(|r| r.fired == 0).count(),
            })
        })
        .collect();
    json!({
        "rows": rows,
        "complete": report.rows_complete,
        "complete_share": pct(report.rows_complete, rows),
        "missing": report.rows_missing_required,
        "errors": report.rows_error,
        "seconds": format!("{:.2}", report.seconds),
        "version": short_version(&report.rules_version),
        "fields": fields,
        "bad_rows": report.bad_rows.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "bad_rows_total": report.rows_bad,
        "unread_columns": report.unread_columns.iter().flat_map(|(_, columns)| columns.clone()).collect::<Vec<_>>(),
    })
}

/// A bar's width in percent (at least 1 when there is anything).
fn bar_width(part: u64, whole: u64) -> u64 {
    if whole == 0 || part == 0 {
        return 0;
    }
    (part * 100 / whole).max(1)
}

#[derive(Deserialize)]
pub(super) struct UsersQuery {
    #[serde(default)]
    page: Option<usize>,
    #[serde(default)]
    q: Option<String>,
}

/// One row of the users list.
fn user_row(user: &StoredResource) -> Value {
    let profile = user.profile.as_ref();
    let field = |name: &str| {
        profile
            .and_then(|p| p.fields.get(name))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let name = [field("first_name"), field("last_name")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    json!({
        "id": user.id,
        "user_name": user.body.get("userName").and_then(Value::as_str).unwrap_or_default(),
        "name": name,
        "title": user.body.get("title").and_then(Value::as_str),
        "level": field("management_level"),
        "complete": profile.map(|p| p.complete()),
        "missing": profile.map(|p| p.missing.join(", ")),
        "modified": user.modified,
    })
}

/// `GET /console/customers/{tenant}/users?page=N&q=…`: the users, a page at a time, or the
/// users whose userName, email or externalId is `q`.
pub(super) async fn users(
    State(console): State<ConsoleRef>,
    signed: Signed,
    Path(id): Path<String>,
    Query(query): Query<UsersQuery>,
) -> Result<Response, ConsoleError> {
    let page = query.page.unwrap_or(1).max(1);
    let q = query.q.unwrap_or_default().trim().to_string();
    let search = q.clone();
    let (customer, summary, (total, users)) = open(&console, id, move |work, customer| {
        let tenant = &customer.tenant.id;
        let store = &work.app.store;
        Ok(if search.is_empty() {
            store.page(tenant, Kind::User, (page - 1) * PAGE, PAGE)?
        } else {
            let mut found: Vec<StoredResource> = Vec::new();
            let key = fold(&search);
            found.extend(store.find_unique(tenant, Kind::User, &key)?);
            for attr in [IndexedAttr::Email, IndexedAttr::ExternalId] {
                for user in store.find_by(tenant, Kind::User, attr, &search)? {
                    // A superset: keep the exact (case-insensitive) matches.
                    let matches = match attr {
                        IndexedAttr::Email => user.body["emails"].as_array().is_some_and(|e| {
                            e.iter()
                                .any(|e| e["value"].as_str().map(fold) == Some(key.clone()))
                        }),
                        _ => user.body["externalId"].as_str().map(fold) == Some(key.clone()),
                    };
                    if matches && !found.iter().any(|f| f.id == user.id) {
                        found.push(user);
                    }
                }
            }
            (found.len(), found)
        })
    })
    .await?;
    let pages = total.div_ceil(PAGE).max(1);
    render(
        "users.html",
        page_context(
            &signed,
            "users",
            (&customer, &summary),
            json!({
                "users": users.iter().map(user_row).collect::<Vec<_>>(),
                "total": total, "page": page, "pages": pages, "q": q,
                "first": if total == 0 { 0 } else { (page - 1) * PAGE + 1 },
                "last": ((page - 1) * PAGE + users.len()),
            }),
        ),
    )
}

#[cfg(test)]
mod tests {
    use crate::console::testing::{harness, seed, seed_ana_named_by_two};
    use axum::http::StatusCode;

    #[tokio::test]
    async fn the_overview_loads_its_coverage_over_the_stored_users() {
        let h = harness();
        seed(
            &h,
            &[
                ("ana", "VP Sales"),
                ("bo", "Research Fellow"),
                ("cy", "Chief Happiness Officer"),
            ],
        );
        let (session, _) = h.sign_in().await;
        let page = h.get("/console/customers/acme", Some(&session)).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page
            .body
            .contains("hx-get=\"/console/customers/acme/coverage\""));
        let coverage = h
            .get("/console/customers/acme/coverage", Some(&session))
            .await;
        assert_eq!(coverage.status, StatusCode::OK);
        let body = &coverage.body;
        assert!(body.contains("<b>3</b> users mapped"), "{body}");
        // The customer's own rule fired once; a title no rule maps is listed as unmapped.
        let level = &body[body.find("id=\"field-management_level\"").unwrap()..];
        assert!(level.contains("<code>acme_fellow</code>"));
        assert!(level.contains("Chief Happiness Officer"));
        assert!(level.contains("never fire on these users"));
        // A second view comes from the cache and says the same.
        let again = h
            .get("/console/customers/acme/coverage", Some(&session))
            .await;
        assert_eq!(
            again.body.replace(char::is_numeric, ""),
            body.replace(char::is_numeric, "")
        );
    }

    /// A manager named by two reports is a people manager in the coverage, as the service
    /// stores it (mapped alone, the default pack leaves the flag unset).
    #[tokio::test]
    async fn the_coverage_maps_users_in_their_organisation() {
        let h = harness();
        seed_ana_named_by_two(&h);
        let (session, _) = h.sign_in().await;
        let coverage = h
            .get("/console/customers/acme/coverage", Some(&session))
            .await;
        assert_eq!(coverage.status, StatusCode::OK);
        let body = &coverage.body;
        let field = &body[body.find("id=\"field-people_manager\"").unwrap()..];
        let field = &field[..field.find("</article>").unwrap()];
        assert!(
            field.contains("<tr><td>yes</td><td class=\"num\">1</td>"),
            "{field}"
        );
        assert!(
            field.contains("<tr><td><code>named_as_manager</code></td>"),
            "{field}"
        );
    }

    #[tokio::test]
    async fn the_overview_lists_provisioning_errors_first_then_the_latest_activity() {
        use crate::store::registry::ActivityEntry;
        let h = crate::console::testing::registry_harness();
        let registry = h.state.registry.as_ref().unwrap();
        let entry = |path: &str, status: u16, error: Option<&str>, at: String| ActivityEntry {
            tenant: "acme".into(),
            at,
            method: "POST".into(),
            path: path.into(),
            status,
            error: error.map(str::to_string),
            ..Default::default()
        };
        let long_ago = "2000-01-01T00:00:00.000Z".to_string();
        registry
            .store
            .record_activity(&[
                entry("/Users", 400, Some("an old failure"), long_ago),
                entry(
                    "/Users",
                    409,
                    Some("userName `ana` is taken"),
                    crate::store::now(),
                ),
                entry("/Users", 201, None, crate::store::now()),
                entry("/Users", 201, None, crate::store::now()),
            ])
            .unwrap();
        let (session, _) = h.sign_in().await;
        let page = h.get("/console/customers/acme", Some(&session)).await;
        assert_eq!(page.status, StatusCode::OK);
        let body = &page.body;
        let errors = body.find("class=\"grid compact activity-errors\"").unwrap();
        let latest = body.find("class=\"grid compact activity-latest\"").unwrap();
        assert!(errors < latest);
        let errors = &body[errors..latest];
        assert_eq!(errors.matches("<tr class=\"failed\">").count(), 2);
        assert!(errors.contains("userName `ana` is taken"), "{errors}");
        assert!(errors.find("ana").unwrap() < errors.find("an old failure").unwrap());
        // The customers page counts the failures of the last 24 hours only.
        let list = h.get("/console", Some(&session)).await;
        let row = &list.body[list.body.find("/console/customers/acme").unwrap()..];
        let row = &row[..row.find("</tr>").unwrap()];
        assert!(row.contains("<span class=\"bad\">1</span>"), "{row}");
    }

    #[tokio::test]
    async fn unknown_customers_are_a_clear_404() {
        let h = harness();
        let (session, _) = h.sign_in().await;
        for path in [
            "/console/customers/nope",
            "/console/customers/Bad%20Id/users",
            "/console/customers/nope/rules",
        ] {
            let reply = h.get(path, Some(&session)).await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
            assert!(reply.body.contains("There is no customer"), "{path}");
        }
        let reply = h.get("/console/nothing-here", Some(&session)).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn users_are_paginated_and_found_by_user_name() {
        let h = harness();
        let names: Vec<String> = (0..(super::PAGE + 7))
            .map(|i| format!("user{i:03}"))
            .collect();
        let users: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "Engineer")).collect();
        seed(&h, &users);
        let (session, _) = h.sign_in().await;
        let first = h.get("/console/customers/acme/users", Some(&session)).await;
        assert_eq!(first.status, StatusCode::OK);
        assert_eq!(
            first.body.matches("/console/customers/acme/users/").count(),
            super::PAGE
        );
        assert!(first.body.contains("1–50 of 57"));
        assert!(first.body.contains("?page=2"));
        let second = h
            .get("/console/customers/acme/users?page=2", Some(&session))
            .await;
        assert_eq!(
            second
                .body
                .matches("/console/customers/acme/users/")
                .count(),
            7
        );
        assert!(second.body.contains("user056"));
        let found = h
            .get("/console/customers/acme/users?q=USER003", Some(&session))
            .await;
        assert_eq!(
            found.body.matches("/console/customers/acme/users/").count(),
            1
        );
        assert!(found.body.contains("user003"));
        let none = h
            .get("/console/customers/acme/users?q=nobody", Some(&session))
            .await;
        assert!(none
            .body
            .contains("No user has userName, email or externalId"));
    }
}
