//! What the console's handler tests share: a service with two tenants on the real engine
//! (a customer file extending the default pack) and a signed-in browser's cookie and token.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use tower::ServiceExt;

use super::{router, ConsoleOptions};
use crate::scim::config::token_hash;
use crate::scim::serve::engine_loader;
use crate::scim::{AppState, Tenant};
use crate::store::{MemoryStore, ResourceStore, TenantId};

pub const ADMIN: &str = "console-admin-token";

/// The rule file of tenant `acme`: the default pack and one rule of its own.
pub fn acme_rules() -> String {
    let pack = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/default.rules");
    format!(
        "extends \"{}\"\n\ninsert before management_level.explicit {{\n  rule acme_fellow: t has any [\"fellow\"] -> Director\n}}\n",
        pack.display()
    )
}

pub struct Harness {
    pub app: Router,
    pub state: Arc<AppState>,
    /// Holds the rule file while the harness lives.
    pub _dir: tempfile::TempDir,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn location(&self) -> Option<&str> {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
    }

    /// The `name=value` of each `Set-Cookie`.
    pub fn cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().to_string())
            .collect()
    }

    /// The value of the first `name="…" value="…"` input on the page.
    pub fn input(&self, name: &str) -> Option<String> {
        let at = self.body.find(&format!("name=\"{name}\""))?;
        let rest = &self.body[at..];
        let value = rest.find("value=\"")? + "value=\"".len();
        let end = rest[value..].find('"')?;
        Some(rest[value..value + end].to_string())
    }
}

/// A service following a tenant registry (in memory), as `canon serve` runs: `acme` and
/// `globex` imported with their rule file as version 1. Publishing and rollback need it.
pub fn registry_harness() -> Harness {
    use crate::scim::manage;
    use crate::scim::registry::Registry;
    use crate::store::registry::{NewTenant, RateLimit};
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("acme.rules");
    std::fs::write(&rules, acme_rules()).unwrap();
    let memory = Arc::new(MemoryStore::new());
    for id in ["acme", "globex"] {
        let tenant = NewTenant {
            id: TenantId::parse(id).unwrap(),
            extensions: serde_json::json!({}),
            rate_limit: RateLimit::Off,
        };
        let checked = manage::check_file(&rules).unwrap();
        let version = crate::store::registry::NewRuleVersion {
            hash: checked.program.version().to_string(),
            bundle: checked.bundle,
            note: "first version".into(),
            author: "test".into(),
        };
        crate::store::registry::TenantRegistry::create_tenant(
            &*memory,
            &tenant,
            &token_hash(&format!("{id}-token")),
            &version,
        )
        .unwrap();
    }
    let store: Arc<dyn ResourceStore> = memory.clone();
    let registry = Registry::new(memory, Registry::engine());
    let state = Arc::new(AppState {
        store,
        tenants: Default::default(),
        registry: Some(Arc::new(registry)),
        admin_token_sha256: Some(token_hash(ADMIN)),
        max_body_bytes: 1024 * 1024,
        body_timeout: std::time::Duration::from_secs(30),
        loader: engine_loader(),
        config_path: None,
        serving: Default::default(),
    });
    crate::scim::tenants::sync(&state, true).unwrap();
    Harness {
        app: router(state.clone(), ConsoleOptions::default()),
        state,
        _dir: dir,
    }
}

pub fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("acme.rules");
    std::fs::write(&rules, acme_rules()).unwrap();
    let store: Arc<dyn ResourceStore> = Arc::new(MemoryStore::new());
    let loader = engine_loader();
    let mut tenants = HashMap::new();
    for id in ["acme", "globex"] {
        let id = TenantId::parse(id).unwrap();
        let mapper = loader(&rules).unwrap();
        tenants.insert(
            id.clone(),
            Arc::new(Tenant::new(
                id.clone(),
                token_hash(&format!("{id}-token")),
                rules.clone(),
                mapper,
            )),
        );
    }
    let state = Arc::new(AppState {
        store,
        tenants: tenants.into(),
        registry: None,
        admin_token_sha256: Some(token_hash(ADMIN)),
        max_body_bytes: 1024 * 1024,
        body_timeout: std::time::Duration::from_secs(30),
        loader,
        config_path: None,
        serving: Default::default(),
    });
    Harness {
        app: router(state.clone(), ConsoleOptions::default()),
        state,
        _dir: dir,
    }
}

/// Users of `acme` as an IdP sends them, stored with their profiles as the service does.
pub fn seed(h: &Harness, users: &[(&str, &str)]) -> Vec<String> {
    use crate::store::{Kind, Write};
    let acme = TenantId::parse("acme").unwrap();
    let mapper = h.state.tenants.get(&acme).unwrap().mapper();
    users
        .iter()
        .map(|(name, title)| {
            let body = serde_json::json!({
                "userName": name,
                "name": {"givenName": name, "familyName": "Doe"},
                "title": title,
                "active": true,
            });
            let profile = mapper.map(&body);
            h.state
                .store
                .create(
                    &acme,
                    Kind::User,
                    Write {
                        body,
                        unique_key: Some(name.to_lowercase()),
                        profile: Some(profile),
                    },
                )
                .unwrap()
                .id
        })
        .collect()
}

/// Ana, a Director of Sales, named as manager by two Account Executives, Bo and Cy (Cy
/// spells her email in capitals): a people manager in her population, not mapped alone.
/// Their ids, in that order.
pub fn seed_ana_named_by_two(h: &Harness) -> Vec<String> {
    seed_org(
        h,
        &[
            ("ana@acme.com", "Director of Sales", None),
            ("bo@acme.com", "Account Executive", Some("ana@acme.com")),
            ("cy@acme.com", "Account Executive", Some("ANA@acme.com")),
        ],
    )
}

/// Users of `acme` who name their manager by email (`managerEmail`): (userName, title,
/// manager). Stored with the profiles the service computes for them in their population
/// (`scim::org::map_all`, as a write or a publish does), so the people named as manager by
/// others are people managers.
pub fn seed_org(h: &Harness, users: &[(&str, &str, Option<&str>)]) -> Vec<String> {
    use crate::store::{Kind, Write};
    let acme = TenantId::parse("acme").unwrap();
    let mapper = h.state.tenants.get(&acme).unwrap().mapper();
    let ids: Vec<String> = users
        .iter()
        .map(|(name, title, manager)| {
            let mut body = serde_json::json!({
                "userName": name,
                "name": {"givenName": name, "familyName": "Doe"},
                "title": title,
                "active": true,
            });
            if let Some(manager) = manager {
                body["managerEmail"] = serde_json::json!(manager);
            }
            let write = Write {
                body,
                unique_key: Some(name.to_lowercase()),
                profile: None,
            };
            h.state.store.create(&acme, Kind::User, write).unwrap().id
        })
        .collect();
    let stored = h.state.store.list(&acme, Kind::User).unwrap();
    let profiles = crate::scim::org::map_all(&stored, &*mapper);
    let updates: Vec<_> = stored.iter().map(|u| u.id.clone()).zip(profiles).collect();
    h.state.store.set_profiles(&acme, &updates).unwrap();
    ids
}

impl Harness {
    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        Reply {
            status,
            headers,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        let mut request = Request::get(path);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    /// A POST as htmx sends it: the CSRF token in `X-CSRF-Token`.
    pub async fn post_htmx(
        &self,
        path: &str,
        cookie: &str,
        csrf: &str,
        form: &[(&str, &str)],
    ) -> Reply {
        let body = serde_urlencoded::to_string(form).unwrap();
        self.send(
            Request::post(path)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::COOKIE, cookie)
                .header("x-csrf-token", csrf)
                .header("hx-request", "true")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
    }

    pub async fn post_form(
        &self,
        path: &str,
        cookie: Option<&str>,
        form: &[(&str, &str)],
    ) -> Reply {
        let mut request =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let body = serde_urlencoded::to_string(form).unwrap();
        self.send(request.body(Body::from(body)).unwrap()).await
    }

    /// A multipart form as a browser sends a file upload: `fields` as text, then `file` (field
    /// name, file name, bytes).
    pub async fn post_multipart(
        &self,
        path: &str,
        cookie: Option<&str>,
        fields: &[(&str, &str)],
        file: Option<(&str, &str, &[u8])>,
    ) -> Reply {
        let boundary = "----canon-test-boundary-7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
            );
        }
        if let Some((name, file_name, bytes)) = file {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\nContent-Type: text/csv\r\n\r\n").as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let mut request = Request::post(path).header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        );
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(request.body(Body::from(body)).unwrap()).await
    }

    /// The same service with other console options.
    pub fn with_options(mut self, options: ConsoleOptions) -> Harness {
        self.app = router(self.state.clone(), options);
        self
    }

    /// Signs in with the admin token: the session cookie (`name=value`) and its CSRF token.
    pub async fn sign_in(&self) -> (String, String) {
        self.sign_in_as("").await
    }

    /// Signs in with the admin token, giving `name` as who signs in.
    pub async fn sign_in_as(&self, name: &str) -> (String, String) {
        let form = self.get("/console/sign-in", None).await;
        let pre = form.cookies().into_iter().next().unwrap();
        let token = form.input("token").unwrap();
        let reply = self
            .post_form(
                "/console/sign-in",
                Some(&pre),
                &[("token", &token), ("admin_token", ADMIN), ("name", name)],
            )
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let session = reply
            .cookies()
            .into_iter()
            .find(|c| c.starts_with("canon_session="))
            .unwrap();
        let page = self.get("/console", Some(&session)).await;
        assert_eq!(page.status, StatusCode::OK);
        let csrf = page.input("csrf").unwrap();
        (session, csrf)
    }
}
