//! A user: what the IdP sent, the canonical profile stored, and the full explain of the
//! rules serving (every rule tried, and why it did or did not match).

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{json, Value};

use super::auth::{blocking, Signed};
use super::customer::{open, page_context};
use super::live::Customer;
use super::page::{render, short_version, ConsoleError};
use super::ConsoleRef;
use crate::eval::org::OrgKey;
use crate::eval::{Population, Reports};
use crate::scim::org;
use crate::store::{Kind, StoredResource};
use crate::{JsonRecord, Trace};

/// Who names one person as manager, as the service counted them: the population of an
/// explain of that person (it asks only for their own keys).
struct OnePerson(Reports);

impl Population for OnePerson {
    fn reports(&self, _keys: &[OrgKey]) -> Reports {
        self.0.clone()
    }
}

/// The explain of the rules serving for `user`, read as the service maps it: where the rules
/// declare `reports_to`, with its `id` and the people who name it as manager (from the
/// store's index of the organisation graph, as a write counts them), so the explain says
/// "N people report to this person: …" and agrees with the stored profile.
async fn explain(
    console: &ConsoleRef,
    customer: &Customer,
    user: &StoredResource,
) -> Result<Trace, ConsoleError> {
    let today = chrono::Local::now().date_naive();
    let extensions = customer.tenant.extensions();
    let program = customer.program.clone();
    if !program.has_org_graph() {
        let view = extensions.view(&user.body);
        return Ok(program.explain_on(&JsonRecord::new(&view), today));
    }
    let (work, tenant, user) = (console.clone(), customer.tenant.clone(), user.clone());
    blocking(move || {
        let mapper = tenant.mapper();
        let reports = org::reports_of(&*work.app.store, &tenant.id, &mapper, &user)?;
        let record = org::with_id(&user);
        let view = extensions.view(&record);
        Ok(program.explain_in(&JsonRecord::new(&view), &OnePerson(reports), Some(today)))
    })
    .await
}

/// `GET /console/customers/{tenant}/users/{id}`.
pub(super) async fn show(
    State(console): State<ConsoleRef>,
    signed: Signed,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<Response, ConsoleError> {
    let (customer, summary, user) = open(&console, tenant.clone(), move |work, customer| {
        work.app
            .store
            .get(&customer.tenant.id, Kind::User, &id)?
            .ok_or_else(|| {
                ConsoleError::NotFound(format!("Customer `{tenant}` has no user `{id}`."))
            })
    })
    .await?;
    let trace = explain(&console, &customer, &user).await?;
    let profile = user.profile.as_ref();
    let stored_version = profile.map(|p| p.rule_version.clone());
    let fields: Vec<Value> = trace
        .fields
        .iter()
        .map(|f| {
            let stored = profile
                .and_then(|p| p.fields.get(&f.field))
                .cloned()
                .unwrap_or(Value::Null);
            json!({
                "field": f.field,
                "required": f.required,
                "value": f.value,
                "stored": stored,
                "differs": stored.as_str() != f.value.as_deref(),
                "rule": f.rule.as_ref().map(|r| json!({"id": &*r.id, "at": &*r.at})),
                "note": f.note.as_ref().map(|n| n.describe()),
                "reports": f.reports.as_ref().map(crate::eval::describe_reports),
                "inputs": f.inputs,
                "rules": f.rules,
            })
        })
        .collect();
    let raw = serde_json::to_string_pretty(&user.body).unwrap_or_default();
    let user_name = user
        .body
        .get("userName")
        .and_then(Value::as_str)
        .unwrap_or(&user.id)
        .to_string();
    render(
        "user.html",
        page_context(
            &signed,
            "users",
            (&customer, &summary),
            json!({
                "user": {
                    "id": user.id, "user_name": user_name, "created": user.created,
                    "modified": user.modified, "raw": raw,
                    "complete": profile.map(|p| p.complete()),
                    "missing": profile.map(|p| p.missing.clone()),
                    "stored_version": stored_version.as_deref().map(short_version),
                    "stale": stored_version.as_deref().is_some_and(|v| v != customer.program.version()),
                },
                "fields": fields,
            }),
        ),
    )
}

#[cfg(test)]
mod tests {
    use crate::console::testing::{harness, seed, seed_ana_named_by_two, seed_org, Harness, Reply};
    use axum::http::StatusCode;

    /// The page of user `id` of customer `tenant`.
    async fn look(h: &Harness, session: &str, tenant: &str, id: &str) -> Reply {
        let path = format!("/console/customers/{tenant}/users/{id}");
        h.get(&path, Some(session)).await
    }

    /// The explain of `field` on a user's page.
    fn explain_of<'b>(body: &'b str, field: &str) -> &'b str {
        let explain = &body[body.find(&format!("id=\"explain-{field}\"")).unwrap()..];
        &explain[..explain.find("</article>").unwrap()]
    }

    #[tokio::test]
    async fn a_user_shows_the_raw_body_the_profile_and_every_rule_tried() {
        let h = harness();
        let ids = seed(&h, &[("ana", "Research Fellow")]);
        let (session, _) = h.sign_in().await;
        let page = look(&h, &session, "acme", &ids[0]).await;
        assert_eq!(page.status, StatusCode::OK);
        let body = &page.body;
        // Raw, as sent (escaped for HTML).
        assert!(
            body.contains("&quot;title&quot;: &quot;Research Fellow&quot;"),
            "{body}"
        );
        // The explain of management_level: the customer's rule matched.
        let explain = explain_of(body, "management_level");
        assert!(explain.contains("<b>Director</b>"));
        assert!(explain.contains("class=\"matched\""));
        assert!(explain.contains("<code>acme_fellow</code>"));
        assert!(explain.contains("acme.rules:4"));
        assert!(!body.contains("This profile was stored by rules"));
    }

    /// The explain counts the people who name the user as manager, as the service does: the
    /// profile agrees with the stored one and says who reports to them.
    #[tokio::test]
    async fn the_explain_names_the_people_who_report_to_the_user() {
        let h = harness();
        let ids = seed_ana_named_by_two(&h);
        let (session, _) = h.sign_in().await;
        let page = look(&h, &session, "acme", &ids[0]).await;
        assert_eq!(page.status, StatusCode::OK);
        let body = &page.body;
        let explain = explain_of(body, "people_manager");
        assert!(explain.contains("<b>yes</b>"), "{explain}");
        assert!(
            explain.contains("<code>named_as_manager</code>"),
            "{explain}"
        );
        assert!(
            explain.contains("2 people report to this person: bo@acme.com, cy@acme.com"),
            "{explain}"
        );
        // As stored: nothing differs.
        assert!(!body.contains("class=\"differs\""), "{body}");
        // A report has nobody reporting to them: the flag stays unset.
        let page = look(&h, &session, "acme", &ids[1]).await;
        assert!(page.body.contains("nobody reports to this person"));
    }

    /// Users stored while the rules read no graph (or under other rules) leave the store's
    /// index of the graph stale: a look at one user brings it up to date, as the next user
    /// write would, instead of reading every user for each look; the count is the same.
    #[tokio::test]
    async fn a_stale_index_is_brought_up_to_date_by_a_look_at_a_user() {
        let h = harness();
        // Stored around the index (plain creates): it is not current.
        let ids = seed_org(
            &h,
            &[
                ("ana@acme.com", "Director of Sales", None),
                ("bo@acme.com", "Account Executive", Some("ana@acme.com")),
            ],
        );
        let acme = crate::store::TenantId::parse("acme").unwrap();
        let mapper = h.state.tenants.get(&acme).unwrap().mapper();
        let ana = h
            .state
            .store
            .get(&acme, crate::store::Kind::User, &ids[0])
            .unwrap()
            .unwrap();
        let keys = mapper.org_entry(&crate::scim::org::with_id(&ana)).keys;
        let indexed = || {
            h.state
                .store
                .org_reports(&acme, &mapper.org_signature(), &keys, 5)
                .unwrap()
        };
        assert_eq!(indexed(), None);
        let (session, _) = h.sign_in().await;
        let page = look(&h, &session, "acme", &ids[0]).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.body
                .contains("1 person reports to this person: bo@acme.com"),
            "{}",
            page.body
        );
        let reports = indexed().expect("the index is current now");
        assert_eq!(
            (reports.count, reports.people),
            (1, vec!["bo@acme.com".to_string()])
        );
    }

    #[tokio::test]
    async fn another_customers_user_is_not_found() {
        let h = harness();
        let ids = seed(&h, &[("ana", "VP")]);
        let (session, _) = h.sign_in().await;
        let reply = look(&h, &session, "globex", &ids[0]).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        assert!(!reply.body.contains("ana"));
    }
}
