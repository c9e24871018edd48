//! The customers page: one row per tenant.

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;

use super::auth::{blocking, Signed};
use super::page::{pct, render, short_version, ConsoleError};
use super::ConsoleRef;

#[derive(Serialize)]
struct CustomerRow {
    id: String,
    users: u64,
    complete: u64,
    complete_share: String,
    last_activity: Option<String>,
    /// Failed provisioning requests in the last 24 hours (from the activity log).
    errors: Option<u64>,
    rule_version: String,
}

/// `GET /console`: every tenant with its users, the share of complete profiles, the last
/// write from its IdP and the rule version serving.
pub(super) async fn list(
    State(console): State<ConsoleRef>,
    signed: Signed,
) -> Result<Response, ConsoleError> {
    let app = console.app.clone();
    let rows = blocking(move || {
        super::live::tenants(&app)
            .into_iter()
            .map(|tenant| {
                let summary = app.store.user_summary(&tenant.id)?;
                Ok(CustomerRow {
                    id: tenant.id.to_string(),
                    users: summary.users,
                    complete: summary.complete,
                    complete_share: pct(summary.complete, summary.users),
                    last_activity: summary.last_modified,
                    errors: super::activity::errors_last_day(&app, &tenant.id)?,
                    rule_version: short_version(&tenant.mapper().version()),
                })
            })
            .collect::<Result<Vec<_>, ConsoleError>>()
    })
    .await?;
    render(
        "customers.html",
        serde_json::json!({ "rows": rows, "csrf": signed.csrf(), "who": signed.who() }),
    )
}

#[cfg(test)]
mod tests {
    use crate::console::testing::harness;
    use crate::store::{Kind, TenantId, Write};
    use axum::http::StatusCode;
    use serde_json::json;

    #[tokio::test]
    async fn one_row_per_tenant_with_users_and_complete_share() {
        let h = harness();
        let acme = TenantId::parse("acme").unwrap();
        let mapper = h.state.tenants.get(&acme).unwrap().mapper();
        for (name, title) in [("ana", "VP Sales"), ("bo", "Engineer"), ("cy", "")] {
            let body = json!({"userName": name, "name": {"givenName": name, "familyName": "X"}, "title": title});
            let profile = mapper.map(&body);
            h.state
                .store
                .create(
                    &acme,
                    Kind::User,
                    Write {
                        body,
                        unique_key: Some(name.into()),
                        profile: Some(profile),
                    },
                )
                .unwrap();
        }
        let (session, _) = h.sign_in().await;
        let page = h.get("/console", Some(&session)).await;
        assert_eq!(page.status, StatusCode::OK);
        let body = &page.body;
        let acme_row = &body[body.find("/console/customers/acme").unwrap()..];
        let acme_row = &acme_row[..acme_row.find("</tr>").unwrap()];
        assert!(acme_row.contains(">3<"), "{acme_row}");
        // `cy` has no title, so no management level: two of three are complete.
        assert!(acme_row.contains("66.7%"), "{acme_row}");
        assert!(acme_row.contains(&crate::console::page::short_version(&mapper.version())));
        let globex_row = &body[body.find("/console/customers/globex").unwrap()..];
        assert!(globex_row.contains("never"));
    }
}
