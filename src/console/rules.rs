//! The rules page: the published rules, a draft in an editor with diagnostics as you type,
//! the file's tests on demand, and the preview of the draft over every stored user.
//!
//! The draft travels with each request (the editor's text); the browser keeps it between
//! visits. Nothing is stored until it is published.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use super::analysis;
use super::auth::{blocking, Protected, Signed};
use super::customer::{open, page_context};
use super::live::{customer, problems, Customer, RulesSource};
use super::page::{place, render, short_version, ConsoleError};
use super::ConsoleRef;
use crate::check::LoadError;
use crate::report::DiffReport;
use crate::Program;

/// Changed users kept from a preview (the transitions count every user).
pub(crate) const PREVIEW_KEPT: usize = 10_000;
/// Changed users per page of a preview.
pub(crate) const PREVIEW_PAGE: usize = 100;
/// The largest draft the editor sends.
pub(crate) const MAX_DRAFT: usize = 1024 * 1024;

/// The last preview of each customer: which draft, over which rules and users, and its
/// report (so its pages of changed users are read without recomputing it).
pub(crate) type PreviewCache = super::kept::Kept<DiffReport>;

/// What the rules page says after a publish or a rollback (from its query).
#[derive(Deserialize, Default)]
pub(super) struct Done {
    published: Option<i64>,
    rolled_back: Option<i64>,
    recomputed: Option<usize>,
}

/// `GET /console/customers/{tenant}/rules`: the editor on the published rules, and the
/// history of versions.
pub(super) async fn page(
    State(console): State<ConsoleRef>,
    signed: Signed,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, ConsoleError> {
    let (customer, summary, history) = open(&console, id, |work, customer| {
        super::history::history(work, customer)
    })
    .await?;
    let tests = customer.program.tests().iter().filter(|t| t.own).count();
    let flash = match (done.published, done.rolled_back) {
        (Some(n), _) => Some(format!(
            "Version {n} is published and live: {} stored profiles recomputed.",
            done.recomputed.unwrap_or_default()
        )),
        (None, Some(n)) => Some(format!(
            "Version {n} is live again: {} stored profiles recomputed.",
            done.recomputed.unwrap_or_default()
        )),
        _ => None,
    };
    render(
        "rules.html",
        page_context(
            &signed,
            "rules",
            (&customer, &summary),
            json!({
                "file": customer.source.name,
                "published": customer.source.text,
                "published_version": customer.program.version(),
                "live_number": customer.tenant.rule_version_number(),
                "tests": tests,
                "warnings": problems(customer.program.warnings(), customer.program.sources(), &customer.source),
                "history": history,
                "flash": flash,
            }),
        ),
    )
}

/// The form every editor action sends: the draft's text.
#[derive(Deserialize)]
pub(super) struct DraftForm {
    #[serde(default)]
    draft: String,
}

pub(super) fn checked_size(draft: &str) -> Result<(), ConsoleError> {
    if draft.len() > MAX_DRAFT {
        return Err(ConsoleError::BadRequest(format!(
            "The draft is larger than {} KiB.",
            MAX_DRAFT / 1024
        )));
    }
    Ok(())
}

/// The draft compiled in the place of the customer's file, or its diagnostics.
fn compile(source: &RulesSource, draft: &str) -> Result<Program, LoadError> {
    source.compile(draft)
}

pub(super) fn diagnostics_view(error: &LoadError, source: &RulesSource) -> Value {
    let problems = problems(&error.diagnostics.items, &error.sources, source);
    json!({
        "errors": error.diagnostics.error_count(),
        "warnings": error.diagnostics.warning_count(),
        "problems": problems,
    })
}

/// `POST /console/customers/{tenant}/rules/check`: the draft's diagnostics, as `canon check`
/// gives them (a fragment; the editor sends it as you type).
pub(super) async fn check(
    State(console): State<ConsoleRef>,
    Path(id): Path<String>,
    Protected { form, .. }: Protected<DraftForm>,
) -> Result<Response, ConsoleError> {
    checked_size(&form.draft)?;
    let work = console.clone();
    let customer = blocking(move || customer(&work.app, &work.programs, &id)).await?;
    let source = customer.source.clone();
    let published = customer.program.version().to_string();
    let view = blocking(move || {
        Ok(match compile(&source, &form.draft) {
            Ok(program) => json!({
                "ok": true,
                "version": short_version(program.version()),
                "same": program.version() == published,
                "warnings": program.warnings().len(),
                "problems": problems(program.warnings(), program.sources(), &source),
                "tests": program.tests().iter().filter(|t| t.own).count(),
            }),
            Err(error) => {
                let mut view = diagnostics_view(&error, &source);
                view["ok"] = json!(false);
                view
            }
        })
    })
    .await?;
    render("diagnostics.html", json!({ "check": view }))
}

/// `POST /console/customers/{tenant}/rules/test`: the draft's own tests, run.
pub(super) async fn test(
    State(console): State<ConsoleRef>,
    Path(id): Path<String>,
    Protected { form, .. }: Protected<DraftForm>,
) -> Result<Response, ConsoleError> {
    checked_size(&form.draft)?;
    let work = console.clone();
    let customer = blocking(move || customer(&work.app, &work.programs, &id)).await?;
    let source = customer.source.clone();
    let view = blocking(move || {
        let program = match compile(&source, &form.draft) {
            Ok(program) => program,
            Err(error) => return Ok(json!({ "compiles": false, "check": diagnostics_view(&error, &source) })),
        };
        let today = chrono::Local::now().date_naive();
        let results: Vec<Value> = program
            .tests()
            .iter()
            .filter(|t| t.own)
            .map(|t| {
                let at = program.sources().locate(t.span);
                let failures: Vec<Value> = program
                    .run_test_as_of(t, Some(today))
                    .into_iter()
                    .map(|f| json!({
                        "field": f.field, "expected": f.expected, "actual": f.actual,
                        "decided_by": f.decided_by.as_deref().map(place),
                    }))
                    .collect();
                json!({ "name": t.name, "line": at.line, "passed": failures.is_empty(), "failures": failures })
            })
            .collect();
        let failed = results.iter().filter(|r| r["passed"] == json!(false)).count();
        Ok(json!({ "compiles": true, "results": results, "passed": results.len() - failed, "failed": failed }))
    })
    .await?;
    render("tests.html", json!({ "run": view }))
}

/// What identifies a preview: the draft, the rules it replaces, the users it ran on.
fn preview_key(customer: &Customer, draft: &Program, users: u64, last: &str) -> String {
    format!(
        "{}|{}|{users}|{last}",
        customer.program.version(),
        draft.version()
    )
}

/// The preview of `draft` against the rules serving, over every stored user of the customer,
/// kept so its pages of changed users are read without recomputing it.
pub(super) fn preview_report(
    console: &ConsoleRef,
    customer: &Customer,
    draft: &Program,
) -> Result<Arc<DiffReport>, ConsoleError> {
    let tenant = &customer.tenant.id;
    let summary = console.app.store.user_summary(tenant)?;
    let key = preview_key(
        customer,
        draft,
        summary.users,
        summary.last_modified.as_deref().unwrap_or_default(),
    );
    let extensions = customer.tenant.extensions();
    let signature = analysis::org_signature(&customer.program, &extensions);
    let known_key = analysis::population_key(&signature, &summary);
    let start = analysis::Start {
        known: console.populations.get(tenant, &known_key),
        signature: Some(signature),
    };
    let (report, known) = analysis::preview(
        &customer.program,
        draft,
        &extensions,
        &*console.app.store,
        tenant,
        PREVIEW_KEPT,
        start,
    )?;
    console.populations.put(tenant, known_key, known);
    let report = Arc::new(report);
    console.previews.put(tenant, key, Some(report.clone()));
    Ok(report)
}

/// `POST /console/customers/{tenant}/rules/preview`: the draft against every stored user of
/// the customer, like `canon diff`; with the form that publishes it.
pub(super) async fn preview(
    State(console): State<ConsoleRef>,
    Path(id): Path<String>,
    Protected { signed, form }: Protected<DraftForm>,
) -> Result<Response, ConsoleError> {
    checked_size(&form.draft)?;
    let started = std::time::Instant::now();
    let work = console.clone();
    let (tenant, view) = blocking(move || {
        let customer = customer(&work.app, &work.programs, &id)?;
        let tenant = customer.tenant.id.clone();
        let draft = match compile(&customer.source, &form.draft) {
            Ok(program) => program,
            Err(error) => {
                return Ok((tenant, json!({ "compiles": false, "check": diagnostics_view(&error, &customer.source) })))
            }
        };
        let report = preview_report(&work, &customer, &draft)?;
        let seconds = started.elapsed().as_secs_f64();
        let mut view = preview_view(&customer, &draft, &report, 1, Some(seconds));
        let publishable = work.app.registry.is_some()
            && matches!(customer.source.origin, super::live::Origin::Version { .. })
            && draft.version() != customer.program.version();
        if publishable {
            let next = match &work.app.registry {
                Some(registry) => Some(registry.store.rule_versions(&customer.tenant.id)?.len() + 1),
                None => None,
            };
            view["publish"] = json!({
                "tenant": customer.tenant.id.as_str(),
                "base": customer.program.version(),
                "previewed": draft.version(),
                "next": next,
            });
        }
        Ok((tenant, view))
    })
    .await?;
    let action = if view["compiles"] == json!(true) {
        format!(
            "preview of draft {} by {}: {}",
            view["draft"].as_str().unwrap_or_default(),
            signed.who(),
            view["summary"].as_str().unwrap_or_default()
        )
    } else {
        format!("preview by {}: the draft does not compile", signed.who())
    };
    super::activity::record(&console, &tenant, action, 200, None, started);
    render("preview.html", json!({ "preview": view }))
}

#[derive(Deserialize)]
pub(super) struct PreviewPage {
    draft: String,
    #[serde(default)]
    page: Option<usize>,
}

/// `GET /console/customers/{tenant}/rules/preview?draft=HASH&page=N`: another page of the
/// changed users of the last preview (a fragment).
pub(super) async fn preview_page(
    State(console): State<ConsoleRef>,
    _signed: Signed,
    Path(id): Path<String>,
    Query(query): Query<PreviewPage>,
) -> Result<Response, ConsoleError> {
    let work = console.clone();
    let view = blocking(move || {
        let customer = customer(&work.app, &work.programs, &id)?;
        let tenant = &customer.tenant.id;
        let summary = work.app.store.user_summary(tenant)?;
        let key = format!(
            "{}|{}|{}|{}",
            customer.program.version(),
            query.draft,
            summary.users,
            summary.last_modified.as_deref().unwrap_or_default()
        );
        let report = work.previews.get(tenant, &key).ok_or_else(|| {
            ConsoleError::Conflict(
                "This preview is out of date (the rules, the users or the draft changed since). Run the preview again.".into(),
            )
        })?;
        Ok(json!({
            "changed": page_of_changed(&customer, &report, query.page.unwrap_or(1), &query.draft),
        }))
    })
    .await?;
    render("preview_changed.html", json!({ "preview": view }))
}

/// The page `page` of the changed users, with their fields before and after.
fn page_of_changed(customer: &Customer, report: &DiffReport, page: usize, draft: &str) -> Value {
    let pages = report.changed.len().div_ceil(PREVIEW_PAGE).max(1);
    let page = page.clamp(1, pages);
    let rows: Vec<Value> = report
        .changed
        .iter()
        .skip((page - 1) * PREVIEW_PAGE)
        .take(PREVIEW_PAGE)
        .map(|row| {
            json!({
                "id": row.at,
                "user_name": row.keys.first().map(|(_, v)| v.clone()).unwrap_or_default(),
                "changes": row.changes.iter().map(|c| json!({
                    "field": c.field, "before": c.before, "after": c.after,
                    "rule_before": c.rule_before.as_deref().map(place),
                    "rule_after": c.rule_after.as_deref().map(place),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "tenant": customer.tenant.id.as_str(),
        "draft": draft,
        "rows": rows,
        "page": page,
        "pages": pages,
        "kept": report.changed.len(),
        "total": report.changed_rows,
        "first": (page - 1) * PREVIEW_PAGE + 1,
        "last": (page - 1) * PREVIEW_PAGE + rows.len(),
    })
}

pub(super) fn preview_view(
    customer: &Customer,
    draft: &Program,
    report: &DiffReport,
    page: usize,
    seconds: Option<f64>,
) -> Value {
    let transitions: Vec<Value> = report
        .transitions
        .iter()
        .map(|(field, rows)| {
            json!({
                "field": field,
                "rows": rows.iter().map(|t| t.rows).sum::<u64>(),
                "transitions": rows.iter().map(|t| json!({"before": t.before, "after": t.after, "rows": t.rows})).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "compiles": true,
        "summary": report.summary().replace(" rows", " users"),
        "users": report.rows,
        "changed_rows": report.changed_rows,
        "published": short_version(customer.program.version()),
        "draft": short_version(draft.version()),
        "draft_full": draft.version(),
        "same": draft.version() == customer.program.version(),
        "seconds": seconds.map(|s| format!("{s:.2}")),
        "transitions": transitions,
        "changed": page_of_changed(customer, report, page, draft.version()),
    })
}

#[cfg(test)]
mod tests {
    use crate::console::testing::{acme_rules, harness, seed, seed_ana_named_by_two};
    use axum::http::StatusCode;

    const CHECK: &str = "/console/customers/acme/rules/check";

    #[tokio::test]
    async fn the_page_shows_the_published_rules_in_the_editor() {
        let h = harness();
        let (session, _) = h.sign_in().await;
        let page = h.get("/console/customers/acme/rules", Some(&session)).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page
            .body
            .contains("rule acme_fellow: t has any [&quot;fellow&quot;] -&gt; Director"));
        assert!(page
            .body
            .contains("hx-post=\"/console/customers/acme/rules/check\""));
    }

    #[tokio::test]
    async fn a_draft_is_checked_with_line_column_message_and_help() {
        let h = harness();
        let (session, csrf) = h.sign_in().await;
        let fine = h
            .post_htmx(CHECK, &session, &csrf, &[("draft", &acme_rules())])
            .await;
        assert_eq!(fine.status, StatusCode::OK);
        assert!(
            fine.body.contains("identical to the published rules"),
            "{}",
            fine.body
        );

        let broken = acme_rules().replace(": t has any", ": ful has any");
        let reply = h
            .post_htmx(CHECK, &session, &csrf, &[("draft", &broken)])
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        let body = &reply.body;
        assert!(body.contains("data-diagnostics=\"errors\""));
        assert!(
            body.contains("data-line=\"4\" data-column=\"21\""),
            "{body}"
        );
        assert!(body.contains("error[E0102]"));
        assert!(body.contains("no input `ful`"));
        assert!(body.contains("help: did you mean `full`?"), "{body}");
        // As `canon check` prints it, with the file's own name.
        assert!(body.contains("acme.rules:4:21: error[E0102]"), "{body}");
    }

    #[tokio::test]
    async fn editor_actions_need_the_csrf_token() {
        let h = harness();
        let (session, _) = h.sign_in().await;
        let reply = h
            .post_htmx(CHECK, &session, "forged", &[("draft", "x")])
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        let reply = h.post_form(CHECK, Some(&session), &[("draft", "x")]).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        // Without a session: sign in first.
        let reply = h.post_form(CHECK, None, &[("draft", "x")]).await;
        assert_eq!(reply.location(), Some("/console/sign-in"));
    }

    #[tokio::test]
    async fn the_files_tests_run_on_demand() {
        let h = harness();
        let (session, csrf) = h.sign_in().await;
        let with_tests = format!(
            "{}\ntest \"a fellow is a director\" {{\n  title = \"Research Fellow\"\n  expect management_level = Director\n}}\ntest \"wrong on purpose\" {{\n  title = \"Research Fellow\"\n  expect management_level = VP\n}}\n",
            acme_rules()
        );
        let reply = h
            .post_htmx(
                "/console/customers/acme/rules/test",
                &session,
                &csrf,
                &[("draft", &with_tests)],
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        let body = &reply.body;
        assert!(body.contains("1 passed, 1 failed"), "{body}");
        assert!(
            body.contains("expected <b>VP</b>, got <b>Director</b>"),
            "{body}"
        );
        assert!(
            body.contains("(rule acme_fellow at acme.rules:4)"),
            "{body}"
        );
        let broken = h
            .post_htmx(
                "/console/customers/acme/rules/test",
                &session,
                &csrf,
                &[("draft", "map {")],
            )
            .await;
        assert!(broken.body.contains("does not compile"));
    }

    #[tokio::test]
    async fn the_preview_diffs_the_draft_over_every_stored_user_and_pages_the_changes() {
        let h = harness();
        let mut users: Vec<(String, &str)> = (0..(super::PREVIEW_PAGE + 5))
            .map(|i| (format!("staff{i:03}"), "Staff Engineer"))
            .collect();
        users.push(("ana".into(), "VP Sales"));
        let users: Vec<(&str, &str)> = users.iter().map(|(n, t)| (n.as_str(), *t)).collect();
        seed(&h, &users);
        let (session, csrf) = h.sign_in().await;
        let draft = acme_rules().replace(
            "-> Director\n",
            "-> Director\n  rule acme_staff: t has any [\"staff\"] -> Manager\n",
        );
        let reply = h
            .post_htmx(
                "/console/customers/acme/rules/preview",
                &session,
                &csrf,
                &[("draft", &draft)],
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        let body = &reply.body;
        assert!(
            body.contains("105 of 106 users change (management_level 105)"),
            "{body}"
        );
        assert!(body.contains("1–100 of 105"));
        assert!(body.contains("acme_staff (acme.rules:5)"), "{body}");
        // The next page of changed users, from the kept report.
        let version = crate::Program::from_source(
            &h._dir.path().join("acme.rules").display().to_string(),
            &draft,
        )
        .unwrap()
        .version()
        .to_string();
        let next = h
            .get(
                &format!("/console/customers/acme/rules/preview?draft={version}&page=2"),
                Some(&session),
            )
            .await;
        assert_eq!(next.status, StatusCode::OK, "{}", next.body);
        assert!(next.body.contains("101–105 of 105"));
        // A user written since: the kept preview is out of date.
        seed(&h, &[("late", "Staff Engineer")]);
        let stale = h
            .get(
                &format!("/console/customers/acme/rules/preview?draft={version}&page=2"),
                Some(&session),
            )
            .await;
        assert_eq!(stale.status, StatusCode::CONFLICT);
        assert!(stale.body.contains("Run the preview again"));
    }

    /// Both sides of the preview map the users in their organisation: a draft that asks
    /// for three reports turns the manager named by two from yes to unset, and nobody else.
    #[tokio::test]
    async fn the_preview_maps_users_in_their_organisation() {
        let h = harness();
        seed_ana_named_by_two(&h);
        let (session, csrf) = h.sign_in().await;
        let draft = format!(
            "{}\nreplace people_manager.named_as_manager {{\n  rule named_as_manager: reports >= 3 -> yes\n}}\n",
            acme_rules()
        );
        let reply = h
            .post_htmx(
                "/console/customers/acme/rules/preview",
                &session,
                &csrf,
                &[("draft", &draft)],
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        let body = &reply.body;
        assert!(
            body.contains("1 of 3 users change (people_manager 1)"),
            "{body}"
        );
        // yes (two reports) before, unset after; mapped alone both sides would be unset.
        assert!(
            body.contains(
                "<tr><td>yes</td><td class=\"muted\">→</td><td><i class=\"muted\">unset</i></td>"
            ),
            "{body}"
        );
        assert!(body.contains(">ana@acme.com</a>"), "{body}");
        assert!(
            body.contains(
                "<code>named_as_manager (default.rules:175)</code> → <code>else (default.rules:177)</code>"
            ),
            "{body}"
        );
    }
}
