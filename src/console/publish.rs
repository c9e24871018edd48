//! Publishing a draft, the history of rule versions, and rollback: the console's side of
//! `canon tenant set-rules | versions | rollback`, calling the same code
//! ([`crate::scim::manage`]): a draft is checked (refused with every diagnostic), stored as
//! the next version with its content hash, time, author and note, made live, and the
//! customer's stored profiles recomputed; a rollback makes an older version live again the
//! same way. This instance then serves the new version at once (the others within their
//! registry poll).

use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::activity;
use super::auth::{blocking, CsrfOnly, Protected, Signed};
use super::customer::page_context;
use super::history::version_view;
use super::live::{customer, Customer, Origin};
use super::page::{render, short_version, ConsoleError};
use super::rules::{checked_size, diagnostics_view, preview_report, preview_view};
use super::ConsoleRef;
use crate::scim::manage::{self, ManageError};
use crate::store::registry::{RuleBundle, RuleVersion};
use crate::store::{Store, TenantId};
use crate::Program;

/// The publish form of a preview: the draft (the editor's), the note, the published
/// version the preview was made against and the draft version it previewed.
#[derive(Deserialize)]
pub(super) struct PublishForm {
    #[serde(default)]
    draft: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    base: String,
    #[serde(default)]
    previewed: String,
}

/// The longest note kept with a version.
const MAX_NOTE: usize = 2000;

/// The registry's store, or why this service cannot publish.
fn registry_store(console: &ConsoleRef) -> Result<std::sync::Arc<dyn Store>, ConsoleError> {
    console
        .app
        .registry
        .as_ref()
        .map(|r| r.store.clone())
        .ok_or_else(|| {
            ConsoleError::Conflict(
                "This service keeps no tenant registry, so rules cannot be published from the console.".into(),
            )
        })
}

/// The page (or, for htmx, the instruction) that sends the browser to `to`.
fn see_other(headers: &HeaderMap, to: &str) -> Response {
    let location =
        HeaderValue::from_str(to).unwrap_or_else(|_| HeaderValue::from_static("/console"));
    if headers.contains_key("hx-request") {
        // htmx would follow a 303 itself and swap the page into the fragment.
        let mut response = StatusCode::OK.into_response();
        response.headers_mut().insert("hx-redirect", location);
        return response;
    }
    let mut response = StatusCode::SEE_OTHER.into_response();
    response.headers_mut().insert(header::LOCATION, location);
    response
}

/// Why a publish was refused, as the preview shows it (every diagnostic of a bad draft).
struct Refusal {
    status: StatusCode,
    message: String,
    check: Option<Value>,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Refusal {
            status,
            message: message.into(),
            check: None,
        }
    }
}

/// What a publish did.
struct Published {
    number: i64,
    hash: String,
    recomputed: usize,
    changed_users: usize,
    users: usize,
}

/// The draft's bundle: the published version's files (its `extends` chain and tables) with
/// the draft in the place of the rule file.
fn draft_bundle(customer: &Customer, draft: &str) -> Result<RuleBundle, ConsoleError> {
    match &customer.source.origin {
        Origin::Version { files } => Ok(RuleBundle {
            name: customer.source.name.clone(),
            text: draft.to_string(),
            files: files.clone(),
        }),
        Origin::File(_) => Err(ConsoleError::Conflict(
            "This customer's rules come from a file of canon.yaml, not from the tenant registry: publish with `canon tenant set-rules`.".into(),
        )),
    }
}

fn publish_draft(
    console: &ConsoleRef,
    id: &str,
    form: PublishForm,
    author: &str,
) -> Result<Result<Published, Refusal>, ConsoleError> {
    let store = registry_store(console)?;
    let customer = customer(&console.app, &console.programs, id)?;
    if form.base != customer.program.version() {
        return Ok(Err(Refusal::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "The published rules changed since this preview (now {}). Copy your draft, reload the page and preview again.",
                short_version(customer.program.version())
            ),
        )));
    }
    let note = form.note.trim();
    if note.is_empty() {
        return Ok(Err(Refusal::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Write a note: what this version changes and why (the history shows it).",
        )));
    }
    if note.len() > MAX_NOTE {
        return Ok(Err(Refusal::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("The note is longer than {MAX_NOTE} bytes."),
        )));
    }
    // The diagnostics as the editor shows them; `check_bundle` below is the publishing check.
    let draft = match customer.source.compile(&form.draft) {
        Ok(program) => program,
        Err(error) => {
            let mut refusal = Refusal::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "The draft has errors, so it was not published. Nothing changed.",
            );
            refusal.check = Some(diagnostics_view(&error, &customer.source));
            return Ok(Err(refusal));
        }
    };
    if draft.version() != form.previewed {
        return Ok(Err(Refusal::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "The draft changed since this preview. Preview it again, then publish.",
        )));
    }
    let bundle = draft_bundle(&customer, &form.draft)?;
    let tenant = customer.tenant.id.clone();
    let outcome = manage::check_bundle(bundle)
        .and_then(|rules| manage::set_rules(&*store, &tenant, rules, note, author, true));
    let published = match outcome {
        Ok(published) => published,
        Err(ManageError::Rules(diagnostics)) => {
            return Ok(Err(Refusal::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                "The draft has errors, so it was not published. Nothing changed.\n{diagnostics}"
            ),
            )))
        }
        Err(ManageError::Invalid(message)) => {
            return Ok(Err(Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, message)))
        }
        Err(error) => return Err(ConsoleError::Internal(error.to_string())),
    };
    let Some(version) = published.version else {
        return Err(ConsoleError::Internal("the version was not stored".into()));
    };
    serve_now(console);
    Ok(Ok(Published {
        number: version.number,
        hash: version.hash,
        recomputed: published.remap.updates.len(),
        changed_users: published.remap.changed_users,
        users: published.remap.users,
    }))
}

/// This instance serves the registry's live versions now (the others follow within their
/// poll), as the admin API does after a change. (The store's index of the graph was made
/// current by the publish or rollback itself, `manage::set_rules` / `manage::rollback`.)
fn serve_now(console: &ConsoleRef) {
    if let Err(error) = crate::scim::tenants::sync(&console.app, false) {
        tracing::warn!(%error, "the tenants could not be reloaded after a console change; the watcher will");
    }
}

/// `POST /console/customers/{tenant}/rules/publish`: the previewed draft becomes the next
/// rule version, live; refused (422) with every diagnostic when it does not compile.
pub(super) async fn publish(
    State(console): State<ConsoleRef>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Protected { signed, form }: Protected<PublishForm>,
) -> Result<Response, ConsoleError> {
    checked_size(&form.draft)?;
    let started = Instant::now();
    let author = format!("{} (console)", signed.who());
    let work = console.clone();
    let tenant = id.clone();
    let note = form.note.trim().to_string();
    let outcome = blocking(move || publish_draft(&work, &tenant, form, &author)).await?;
    let tenant = TenantId::parse(&id).map_err(|_| ConsoleError::NotFound(id.clone()))?;
    match outcome {
        Ok(done) => {
            activity::record(
                &console,
                &tenant,
                format!(
                    "publish v{} ({}) by {}: {} of {} users change: {note}",
                    done.number,
                    short_version(&done.hash),
                    signed.who(),
                    done.changed_users,
                    done.users
                ),
                201,
                None,
                started,
            );
            Ok(see_other(
                &headers,
                &format!(
                    "/console/customers/{id}/rules?published={}&recomputed={}",
                    done.number, done.recomputed
                ),
            ))
        }
        Err(refusal) => {
            activity::record(
                &console,
                &tenant,
                format!("publish refused for {}", signed.who()),
                refusal.status.as_u16(),
                Some(refusal.message.clone()),
                started,
            );
            let mut response = render(
                "publish_refused.html",
                json!({ "message": refusal.message, "check": refusal.check }),
            )?;
            *response.status_mut() = refusal.status;
            Ok(response)
        }
    }
}

fn version_of(
    store: &dyn Store,
    tenant: &TenantId,
    number: i64,
) -> Result<RuleVersion, ConsoleError> {
    store.rule_version(tenant, number)?.ok_or_else(|| {
        ConsoleError::NotFound(format!("Customer `{tenant}` has no rule version {number}."))
    })
}

/// `GET /console/customers/{tenant}/rules/versions/{n}`: one version (its text, who, when,
/// hash, note) and what making it live again would do to the stored users.
pub(super) async fn version(
    State(console): State<ConsoleRef>,
    signed: Signed,
    Path((id, number)): Path<(String, i64)>,
) -> Result<Response, ConsoleError> {
    let started = Instant::now();
    let work = console.clone();
    let (customer, summary, version, preview) = blocking(move || {
        let store = registry_store(&work)?;
        let customer = customer(&work.app, &work.programs, &id)?;
        let summary = work.app.store.user_summary(&customer.tenant.id)?;
        let version = version_of(&*store, &customer.tenant.id, number)?;
        let live = customer.tenant.rule_version_number();
        let preview = if live == Some(number) {
            None
        } else {
            let program = Program::from_memory(
                &version.bundle.name,
                &version.bundle.text,
                &version.bundle.files,
            )
            .map_err(|e| {
                ConsoleError::Internal(format!(
                    "rule version {number} no longer compiles:\n{}",
                    e.render()
                ))
            })?;
            let report = preview_report(&work, &customer, &program)?;
            let mut view = preview_view(
                &customer,
                &program,
                &report,
                1,
                Some(started.elapsed().as_secs_f64()),
            );
            view["title"] = json!(format!(
                "Rolling back to v{number} ({}) from the live version",
                short_version(&version.hash)
            ));
            Some(view)
        };
        Ok((customer, summary, version, preview))
    })
    .await?;
    let live = customer.tenant.rule_version_number();
    render(
        "version.html",
        page_context(
            &signed,
            "rules",
            (&customer, &summary),
            json!({
                "version": version_view(&version, live),
                "text": version.bundle.text,
                "preview": preview,
            }),
        ),
    )
}

/// `POST /console/customers/{tenant}/rules/versions/{n}/rollback`: version `n` live again,
/// the stored profiles recomputed with it (as `canon tenant rollback`).
pub(super) async fn rollback(
    State(console): State<ConsoleRef>,
    Path((id, number)): Path<(String, i64)>,
    headers: HeaderMap,
    Protected {
        signed,
        form: CsrfOnly {},
    }: Protected<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    let started = Instant::now();
    let work = console.clone();
    let tenant_text = id.clone();
    let outcome = blocking(move || {
        let store = registry_store(&work)?;
        let customer = customer(&work.app, &work.programs, &tenant_text)?;
        let tenant = customer.tenant.id.clone();
        match manage::rollback(&*store, &tenant, number, true) {
            Ok(done) => {
                serve_now(&work);
                Ok((tenant, Ok(done)))
            }
            Err(ManageError::Invalid(message)) => Ok((tenant, Err(message))),
            Err(error) => Err(ConsoleError::Internal(error.to_string())),
        }
    })
    .await?;
    let (tenant, outcome) = outcome;
    match outcome {
        Ok(done) => {
            activity::record(
                &console,
                &tenant,
                format!(
                    "rollback to v{number} by {}: {} of {} users change",
                    signed.who(),
                    done.remap.changed_users,
                    done.remap.users
                ),
                200,
                None,
                started,
            );
            Ok(see_other(
                &headers,
                &format!(
                    "/console/customers/{id}/rules?rolled_back={number}&recomputed={}",
                    done.remap.updates.len()
                ),
            ))
        }
        Err(message) => {
            activity::record(
                &console,
                &tenant,
                format!("rollback to v{number} refused for {}", signed.who()),
                409,
                Some(message.clone()),
                started,
            );
            Err(ConsoleError::Conflict(format!("{message}.")))
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::console::activity::tests::console_actions;
    use crate::console::testing::{acme_rules, harness, registry_harness, seed, Harness, Reply};
    use crate::store::{Kind, TenantId};
    use axum::http::StatusCode;

    const PREVIEW: &str = "/console/customers/acme/rules/preview";
    const PUBLISH: &str = "/console/customers/acme/rules/publish";

    fn acme() -> TenantId {
        TenantId::parse("acme").unwrap()
    }

    /// The acme rules with Staff engineers made Managers.
    fn staff_draft() -> String {
        acme_rules().replace(
            "-> Director\n",
            "-> Director\n  rule acme_staff: t has any [\"staff\"] -> Manager\n",
        )
    }

    /// Previews `draft`: the reply and the publish form's hidden fields.
    async fn preview(
        h: &Harness,
        session: &str,
        csrf: &str,
        draft: &str,
    ) -> (Reply, String, String) {
        let reply = h
            .post_htmx(PREVIEW, session, csrf, &[("draft", draft)])
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let base = reply.input("base").unwrap_or_default();
        let previewed = reply.input("previewed").unwrap_or_default();
        (reply, base, previewed)
    }

    fn level(h: &Harness, id: &str) -> Option<String> {
        let user = h.state.store.get(&acme(), Kind::User, id).unwrap().unwrap();
        user.profile.into_inner().unwrap().fields["management_level"]
            .as_str()
            .map(str::to_string)
    }

    #[tokio::test]
    async fn a_previewed_draft_is_published_served_and_listed_in_the_history() {
        let h = registry_harness();
        let ids = seed(&h, &[("sam", "Staff Engineer"), ("vi", "VP Sales")]);
        assert_eq!(
            level(&h, &ids[0]).as_deref(),
            Some("Individual Contributor")
        );
        let (session, csrf) = h.sign_in_as("Ana Lopez").await;
        let (reply, base, previewed) = preview(&h, &session, &csrf, &staff_draft()).await;
        assert!(reply.body.contains("1 of 2 users change"), "{}", reply.body);
        assert!(
            reply.body.contains("Publish this draft as version 2"),
            "{}",
            reply.body
        );
        let served_before = h.state.tenants.get(&acme()).unwrap().mapper().version();
        assert_eq!(base, served_before);

        let done = h
            .post_htmx(
                PUBLISH,
                &session,
                &csrf,
                &[
                    ("draft", &staff_draft()),
                    ("note", "Staff engineers are managers at Acme"),
                    ("base", &base),
                    ("previewed", &previewed),
                ],
            )
            .await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.body);
        assert_eq!(
            done.headers.get("hx-redirect").unwrap(),
            "/console/customers/acme/rules?published=2&recomputed=2"
        );
        // Stored as version 2, live, with its hash, author and note; served at once.
        let registry = h.state.registry.as_ref().unwrap();
        let versions = registry.store.rule_versions(&acme()).unwrap();
        assert_eq!(versions.len(), 2);
        let v2 = &versions[1];
        assert_eq!(v2.hash, previewed);
        assert_eq!(v2.author, "Ana Lopez (console)");
        assert_eq!(v2.note, "Staff engineers are managers at Acme");
        assert_eq!(v2.bundle.text, staff_draft());
        assert_eq!(
            registry
                .store
                .tenant(&acme())
                .unwrap()
                .unwrap()
                .live_version,
            Some(2)
        );
        let tenant = h.state.tenants.get(&acme()).unwrap();
        assert_eq!(tenant.mapper().version(), previewed);
        // The store's index of the graph is made under the new rules already.
        let served = tenant.mapper();
        assert!(h
            .state
            .store
            .org_reports(&acme(), &served.org_signature(), &[], 0)
            .unwrap()
            .is_some());
        // The stored profiles were recomputed.
        assert_eq!(level(&h, &ids[0]).as_deref(), Some("Manager"));
        assert_eq!(level(&h, &ids[1]).as_deref(), Some("VP"));

        let page = h
            .get(
                "/console/customers/acme/rules?published=2&recomputed=2",
                Some(&session),
            )
            .await;
        assert_eq!(page.status, StatusCode::OK);
        let body = &page.body;
        assert!(body.contains("Version 2 is published and live: 2 stored profiles recomputed."));
        let history = &body[body.find("id=\"history\"").unwrap()..];
        let row = &history[history.find("data-version=\"2\"").unwrap()..];
        let row = &row[..row.find("</tr>").unwrap()];
        assert!(row.contains("live"), "{row}");
        assert!(row.contains("Ana Lopez (console)"));
        assert!(row.contains(&previewed[..12]));
        assert!(row.contains("Staff engineers are managers at Acme"));
        assert!(history.contains("data-version=\"1\""));
        // The editor opens on the published version now.
        assert!(body.contains("rule acme_staff"));

        let actions = console_actions(&h.state, "acme", 2);
        let paths: Vec<&str> = actions.iter().map(|e| e.path.as_str()).collect();
        assert!(paths[0].starts_with("preview of draft"), "{paths:?}");
        assert!(paths[0].contains("by Ana Lopez"), "{paths:?}");
        assert!(
            paths[1].starts_with(&format!(
                "publish v2 ({}) by Ana Lopez: 1 of 2 users change",
                &previewed[..12]
            )),
            "{paths:?}"
        );
        assert_eq!(actions[1].status, 201);
    }

    #[tokio::test]
    async fn a_bad_draft_is_refused_on_publish_with_every_diagnostic() {
        let h = registry_harness();
        let (session, csrf) = h.sign_in().await;
        let (_, base, previewed) = preview(&h, &session, &csrf, &staff_draft()).await;
        let broken =
            staff_draft().replace(": t has any [\"fellow\"]", ": ful has any [\"fellow\"]");
        let reply = h
            .post_htmx(
                PUBLISH,
                &session,
                &csrf,
                &[
                    ("draft", &broken),
                    ("note", "oops"),
                    ("base", &base),
                    ("previewed", &previewed),
                ],
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        let body = &reply.body;
        assert!(
            body.contains("Not published.</b> The draft has errors"),
            "{body}"
        );
        assert!(
            body.contains("data-line=\"4\" data-column=\"21\""),
            "{body}"
        );
        assert!(body.contains("acme.rules:4:21: error[E0102]"), "{body}");
        assert!(body.contains("help: did you mean `full`?"), "{body}");
        let registry = h.state.registry.as_ref().unwrap();
        assert_eq!(registry.store.rule_versions(&acme()).unwrap().len(), 1);
        let refused = console_actions(&h.state, "acme", 2);
        assert_eq!(refused[1].status, 422);
        assert!(refused[1].error.as_deref().unwrap().contains("has errors"));
    }

    #[tokio::test]
    async fn publishing_refuses_a_blank_note_a_changed_draft_and_a_stale_preview() {
        let h = registry_harness();
        let (session, csrf) = h.sign_in().await;
        let (_, base, previewed) = preview(&h, &session, &csrf, &staff_draft()).await;
        let publish = |draft: String, note: &'static str, base: String, previewed: String| {
            let (session, csrf) = (session.clone(), csrf.clone());
            let h = &h;
            async move {
                h.post_htmx(
                    PUBLISH,
                    &session,
                    &csrf,
                    &[
                        ("draft", &draft),
                        ("note", note),
                        ("base", &base),
                        ("previewed", &previewed),
                    ],
                )
                .await
            }
        };
        let blank = publish(staff_draft(), "  ", base.clone(), previewed.clone()).await;
        assert_eq!(blank.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(blank.body.contains("Write a note"));
        let edited = staff_draft() + "\n# one more line\n";
        let changed = publish(edited, "n", base.clone(), previewed.clone()).await;
        assert_eq!(changed.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(changed
            .body
            .contains("The draft changed since this preview"));
        let stale = publish(staff_draft(), "n", "0".repeat(64), previewed.clone()).await;
        assert!(stale
            .body
            .contains("The published rules changed since this preview"));
        // The published rules themselves: nothing to publish (no form, and refused anyway).
        let (same, _, _) = preview(&h, &session, &csrf, &acme_rules()).await;
        assert!(!same.body.contains("id=\"publish-form\""));
        assert!(same.body.contains("nothing to publish"));
        let registry = h.state.registry.as_ref().unwrap();
        assert_eq!(registry.store.rule_versions(&acme()).unwrap().len(), 1);
    }

    #[tokio::test]
    async fn publish_and_rollback_need_a_session_and_the_csrf_token() {
        let h = registry_harness();
        let (session, _) = h.sign_in().await;
        for path in [PUBLISH, "/console/customers/acme/rules/versions/1/rollback"] {
            let forged = h
                .post_htmx(
                    path,
                    &session,
                    "forged",
                    &[("draft", &staff_draft()), ("note", "x")],
                )
                .await;
            assert_eq!(forged.status, StatusCode::FORBIDDEN, "{path}");
            let without = h.post_form(path, Some(&session), &[("note", "x")]).await;
            assert_eq!(without.status, StatusCode::FORBIDDEN, "{path}");
            let signed_out = h.post_form(path, None, &[("note", "x")]).await;
            assert_eq!(signed_out.location(), Some("/console/sign-in"), "{path}");
        }
        let page = h
            .get("/console/customers/acme/rules/versions/1", None)
            .await;
        assert_eq!(page.location(), Some("/console/sign-in"));
        let registry = h.state.registry.as_ref().unwrap();
        assert_eq!(registry.store.rule_versions(&acme()).unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_version_is_reviewed_then_rolled_back_and_served_again() {
        let h = registry_harness();
        let ids = seed(&h, &[("sam", "Staff Engineer")]);
        let (session, csrf) = h.sign_in().await;
        let (_, base, previewed) = preview(&h, &session, &csrf, &staff_draft()).await;
        let done = h
            .post_form(
                PUBLISH,
                Some(&session),
                &[
                    ("draft", &staff_draft()),
                    ("note", "staff"),
                    ("base", &base),
                    ("previewed", &previewed),
                    ("csrf", &csrf),
                ],
            )
            .await;
        // A form posted without htmx is sent on with a 303.
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        assert_eq!(level(&h, &ids[0]).as_deref(), Some("Manager"));

        // Version 1's page: its text and what making it live again does.
        let page = h
            .get("/console/customers/acme/rules/versions/1", Some(&session))
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("Rolling back to v1"), "{}", page.body);
        assert!(page.body.contains("1 of 1 users change"), "{}", page.body);
        assert!(page.body.contains("Roll back to version 1"));
        let live = h
            .get("/console/customers/acme/rules/versions/2", Some(&session))
            .await;
        assert!(!live.body.contains("Roll back to version 2"));
        let none = h
            .get("/console/customers/acme/rules/versions/9", Some(&session))
            .await;
        assert_eq!(none.status, StatusCode::NOT_FOUND);

        let back = h
            .post_form(
                "/console/customers/acme/rules/versions/1/rollback",
                Some(&session),
                &[("csrf", &csrf)],
            )
            .await;
        assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
        assert_eq!(
            back.location(),
            Some("/console/customers/acme/rules?rolled_back=1&recomputed=1")
        );
        let registry = h.state.registry.as_ref().unwrap();
        assert_eq!(
            registry
                .store
                .tenant(&acme())
                .unwrap()
                .unwrap()
                .live_version,
            Some(1)
        );
        assert_eq!(
            h.state.tenants.get(&acme()).unwrap().rule_version_number(),
            Some(1)
        );
        assert_eq!(
            level(&h, &ids[0]).as_deref(),
            Some("Individual Contributor")
        );
        // The store's index of the graph is made under the rules served again.
        let served = h.state.tenants.get(&acme()).unwrap().mapper();
        assert!(h
            .state
            .store
            .org_reports(&acme(), &served.org_signature(), &[], 0)
            .unwrap()
            .is_some());
        // Rolling back to the live version is refused, and says why.
        let again = h
            .post_form(
                "/console/customers/acme/rules/versions/1/rollback",
                Some(&session),
                &[("csrf", &csrf)],
            )
            .await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        assert!(
            again.body.contains("version 1 is live already"),
            "{}",
            again.body
        );
        let actions = console_actions(&h.state, "acme", 4);
        assert!(
            actions[2]
                .path
                .starts_with("rollback to v1 by admin: 1 of 1 users change"),
            "{:?}",
            actions[2]
        );
        assert_eq!(actions[3].status, 409);
    }

    #[tokio::test]
    async fn without_a_registry_there_is_nothing_to_publish_to() {
        let h = harness();
        let (session, csrf) = h.sign_in().await;
        let reply = h
            .post_htmx(PREVIEW, &session, &csrf, &[("draft", &staff_draft())])
            .await;
        assert!(!reply.body.contains("id=\"publish-form\""));
        let page = h.get("/console/customers/acme/rules", Some(&session)).await;
        assert!(page.body.contains("keeps no tenant registry"));
        let refused = h
            .post_htmx(
                PUBLISH,
                &session,
                &csrf,
                &[("draft", &staff_draft()), ("note", "x")],
            )
            .await;
        assert_eq!(refused.status, StatusCode::CONFLICT);
    }
}
