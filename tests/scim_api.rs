//! The SCIM service in-process (`oneshot`) against the real SQLite store in a temp dir, with
//! a fake mapper so these tests do not depend on the rules engine.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use canon::scim::config::token_hash;
use canon::scim::mapper::{MappedProfile, ProfileMapper};
use canon::scim::{app, AppState, Loader, Tenant};
use canon::store::testing::TestDatabase;
use canon::store::{
    IndexedAttr, Kind, ResourceStore, SqliteStore, StoreError, StoredResource, TenantId, UpdateFn,
    Write,
};
use serde_json::{json, Value};
use tower::ServiceExt;

mod common;

const TOKEN: &str = "acme-token";
const OTHER_TOKEN: &str = "other-token";
const ADMIN: &str = "admin-token";
const BASE: &str = "/t/acme/scim/v2";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const CANON: &str = "urn:ietf:params:scim:schemas:extension:canon:2.0:User";

/// A deterministic stand-in for the engine: copies `title` into `job_title`, reads Canon's
/// extension `managementLevel` into the required `management_level`.
struct FakeMapper {
    version: String,
}

impl ProfileMapper for FakeMapper {
    fn version(&self) -> String {
        self.version.clone()
    }

    fn map(&self, user: &Value) -> MappedProfile {
        let title = user.get("title").cloned().unwrap_or(Value::Null);
        let level = user
            .get(CANON)
            .and_then(|c| c.get("managementLevel"))
            .cloned()
            .unwrap_or(Value::Null);
        let mut rules = serde_json::Map::new();
        if !title.is_null() {
            rules.insert(
                "job_title".into(),
                json!({"rule": "copy", "at": "fake.rules:1"}),
            );
        }
        MappedProfile {
            missing: if level.is_null() {
                vec!["management_level".into()]
            } else {
                vec![]
            },
            fields: json!({"job_title": title, "management_level": level}),
            rules: Value::Object(rules),
            rule_version: self.version.clone(),
        }
    }
}

/// Rule files for the fake loader: their text is the version; text with "error" fails.
fn fake_loader(path: &Path) -> Result<Arc<dyn ProfileMapper>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    if text.contains("error") {
        return Err(format!("{}:1:1: error[E0001]: bad rule", path.display()));
    }
    Ok(Arc::new(FakeMapper {
        version: text.trim().to_string(),
    }))
}

struct Harness {
    app: Router,
    dir: tempfile::TempDir,
    // Dropped after `app`, which holds the store.
    _database: Option<TestDatabase>,
}

fn harness() -> Harness {
    harness_with(Arc::new(fake_loader))
}

fn harness_with(loader: Arc<Loader>) -> Harness {
    harness_on(loader, |store| store)
}

/// The store the tests run on: SQLite in `dir`, or with `CANON_TEST_STORE=postgres` a fresh
/// PostgreSQL database (`.ci/run` runs these tests both ways).
/// The PostgreSQL database, if any, is dropped with the harness.
fn test_store(dir: &Path) -> (Arc<dyn ResourceStore>, Option<TestDatabase>) {
    if std::env::var("CANON_TEST_STORE").is_ok_and(|v| v == "postgres") {
        // Opened on a thread of its own: the tests are async, and opening blocks.
        let (store, database) = std::thread::spawn(|| {
            let database = canon::store::testing::fresh_postgres_database()
                .unwrap()
                .expect("CANON_TEST_STORE=postgres, but no PostgreSQL can be had");
            let store = canon::store::PostgresStore::open(&database).unwrap();
            (Arc::new(store) as Arc<dyn ResourceStore>, database)
        })
        .join()
        .unwrap();
        return (store, Some(database));
    }
    (
        Arc::new(SqliteStore::open(&dir.join("canon.db")).unwrap()),
        None,
    )
}

/// A harness whose store is the test store as `wrap` hands it to the service.
fn harness_on(
    loader: Arc<Loader>,
    wrap: fn(Arc<dyn ResourceStore>) -> Arc<dyn ResourceStore>,
) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("acme.rules");
    std::fs::write(&rules, "v1").unwrap();
    let (store, database) = test_store(dir.path());
    let store = wrap(store);
    let mut tenants = HashMap::new();
    for (id, token) in [("acme", TOKEN), ("other", OTHER_TOKEN)] {
        let id = TenantId::parse(id).unwrap();
        let mapper = loader(&rules).unwrap();
        tenants.insert(
            id.clone(),
            // These tests send hundreds of requests a second; tests/serving.rs covers limits.
            Arc::new(
                Tenant::new(id, token_hash(token), rules.clone(), mapper)
                    .with_rate_limit(canon::scim::rate_limit::RateLimit::Off),
            ),
        );
    }
    let state = AppState {
        store,
        tenants: tenants.into(),
        registry: None,
        admin_token_sha256: Some(token_hash(ADMIN)),
        max_body_bytes: 64 * 1024,
        body_timeout: std::time::Duration::from_secs(30),
        loader,
        config_path: None,
        serving: Default::default(),
    };
    Harness {
        app: app(Arc::new(state)),
        dir,
        _database: database,
    }
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

impl Harness {
    async fn send(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        self.raw(method, uri, token, "application/scim+json", bytes)
            .await
    }

    async fn raw(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "canon.test");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if !body.is_empty() {
            request = request.header("content-type", content_type);
        }
        let response = self
            .app
            .clone()
            .oneshot(request.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, uri: &str) -> Reply {
        self.send("GET", uri, Some(TOKEN), None).await
    }

    async fn create_user(&self, user_name: &str) -> Value {
        let reply = self
            .send(
                "POST",
                &format!("{BASE}/Users"),
                Some(TOKEN),
                Some(okta_user(user_name)),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body
    }
}

/// What Okta's SCIM 2.0 test app posts, placeholder password and groups included.
fn okta_user(user_name: &str) -> Value {
    json!({
        "schemas": [USER],
        "userName": user_name,
        "name": {"givenName": "Ana", "familyName": "Diaz"},
        "emails": [{"primary": true, "value": user_name, "type": "work"}],
        "displayName": "Ana Diaz",
        "locale": "en-US",
        "externalId": "00u1",
        "groups": [],
        "password": "xK8#placeholder",
        "active": true
    })
}

fn content_type(reply: &Reply) -> &str {
    reply
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn assert_error(reply: &Reply, status: u16, scim_type: Option<&str>) {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.body);
    assert_eq!(content_type(reply), "application/scim+json");
    assert_eq!(
        reply.body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    assert_eq!(reply.body["status"], json!(status.to_string()));
    assert_eq!(
        reply.body.get("scimType").and_then(Value::as_str),
        scim_type,
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn discovery_endpoints_advertise_what_is_stored() {
    let h = harness();
    let spc = h.get(&format!("{BASE}/ServiceProviderConfig")).await;
    assert_eq!(spc.status, StatusCode::OK);
    assert_eq!(content_type(&spc), "application/scim+json");
    insta::assert_json_snapshot!("service_provider_config", spc.body);
    let types = h.get(&format!("{BASE}/ResourceTypes")).await;
    insta::assert_json_snapshot!("resource_types", types.body);
    let user = h.get(&format!("{BASE}/ResourceTypes/User")).await;
    assert_eq!(user.body["schemaExtensions"][1]["schema"], json!(CANON));
    let schemas = h.get(&format!("{BASE}/Schemas")).await;
    assert_eq!(schemas.body["totalResults"], json!(4));
    let canon = h.get(&format!("{BASE}/Schemas/{CANON}")).await;
    insta::assert_json_snapshot!("canon_schema", canon.body);
    let names: Vec<&str> = canon.body["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "managementLevel",
            "peopleManager",
            "managerEmail",
            "jobFunction",
            "businessUnit",
            "office"
        ]
    );
    assert_error(&h.get(&format!("{BASE}/Schemas/urn:nope")).await, 404, None);
    assert_error(
        &h.get(&format!("{BASE}/ResourceTypes/Nope")).await,
        404,
        None,
    );
    for path in ["ServiceProviderConfig", "ResourceTypes", "Schemas"] {
        let reply = h
            .send(
                "POST",
                &format!("{BASE}/{path}"),
                Some(TOKEN),
                Some(json!({})),
            )
            .await;
        assert_error(&reply, 405, None);
        let reply = h
            .send("DELETE", &format!("{BASE}/{path}"), Some(TOKEN), None)
            .await;
        assert_error(&reply, 405, None);
    }
}

#[tokio::test]
async fn bearer_tokens_open_only_their_own_tenant() {
    let h = harness();
    assert_error(
        &h.send("GET", &format!("{BASE}/Users"), None, None).await,
        401,
        None,
    );
    assert_error(
        &h.send("GET", &format!("{BASE}/Users"), Some("wrong"), None)
            .await,
        401,
        None,
    );
    assert_error(
        &h.send("GET", &format!("{BASE}/Users"), Some(OTHER_TOKEN), None)
            .await,
        401,
        None,
    );
    assert_error(
        &h.send("GET", "/t/nobody/scim/v2/Users", Some(TOKEN), None)
            .await,
        401,
        None,
    );
    let user = h.create_user("ana@example.com").await;
    let id = user["id"].as_str().unwrap();
    let reply = h
        .send(
            "GET",
            &format!("/t/other/scim/v2/Users/{id}"),
            Some(OTHER_TOKEN),
            None,
        )
        .await;
    assert_error(&reply, 404, None);
    // The admin token is not a tenant token, and a tenant token is not the admin token.
    assert_error(
        &h.send("GET", &format!("{BASE}/Users"), Some(ADMIN), None)
            .await,
        401,
        None,
    );
    assert_error(
        &h.send("GET", "/t/acme/profiles", Some(TOKEN), None).await,
        401,
        None,
    );
    let reply = h.send("GET", &format!("{BASE}/Users"), None, None).await;
    assert!(reply.headers.get("www-authenticate").is_some());
}

#[tokio::test]
async fn okta_full_sequence() {
    let h = harness();
    // Test API Credentials, and the lookup before create.
    let lookup = h
        .get(&format!(
            "{BASE}/Users?filter=userName%20eq%20%22ana%40example.com%22&startIndex=1&count=100"
        ))
        .await;
    assert_eq!(lookup.status, StatusCode::OK);
    assert_eq!(
        lookup.body,
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": 0, "startIndex": 1, "itemsPerPage": 0, "Resources": []})
    );

    // Create: 201, Location, ETag; password and groups are not stored nor returned.
    let reply = h
        .send(
            "POST",
            &format!("{BASE}/Users"),
            Some(TOKEN),
            Some(okta_user("ana@example.com")),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let user = reply.body.clone();
    let id = user["id"].as_str().unwrap().to_string();
    let location = format!("http://canon.test{BASE}/Users/{id}");
    assert_eq!(reply.headers["location"], location.as_str());
    assert_eq!(reply.headers["etag"], "W/\"1\"");
    assert_eq!(user["meta"]["location"], json!(location));
    assert_eq!(user["meta"]["version"], json!("W/\"1\""));
    assert_eq!(user["meta"]["resourceType"], json!("User"));
    assert!(user["meta"]["created"].is_string() && user["meta"]["lastModified"].is_string());
    assert!(user.get("password").is_none() && user.get("groups").is_none());
    assert_eq!(
        user["name"],
        json!({"givenName": "Ana", "familyName": "Diaz"})
    );

    // The same userName in other case: 409 uniqueness.
    let dup = h
        .send(
            "POST",
            &format!("{BASE}/Users"),
            Some(TOKEN),
            Some(okta_user("ANA@example.com")),
        )
        .await;
    assert_error(&dup, 409, Some("uniqueness"));

    // The lookup finds the user, case-insensitively.
    let lookup = h
        .get(&format!(
            "{BASE}/Users?filter=userName%20eq%20%22Ana%40Example.com%22&startIndex=1&count=2"
        ))
        .await;
    assert_eq!(lookup.body["totalResults"], json!(1));
    assert_eq!(lookup.body["Resources"][0]["id"], json!(id));

    // Profile update by PUT (the whole object).
    let mut put = okta_user("ana@example.com");
    put["id"] = json!(id);
    put["title"] = json!("VP Sales");
    put[CANON] = json!({"managementLevel": "VP"});
    let reply = h
        .send("PUT", &format!("{BASE}/Users/{id}"), Some(TOKEN), Some(put))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["title"], json!("VP Sales"));
    assert_eq!(reply.body["meta"]["version"], json!("W/\"2\""));
    assert_eq!(reply.body["schemas"], json!([USER, CANON]));

    // Deactivate, then reactivate, by path-less PATCH.
    let deactivate =
        json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": false}}]});
    let reply = h
        .send(
            "PATCH",
            &format!("{BASE}/Users/{id}"),
            Some(TOKEN),
            Some(deactivate),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["active"], json!(false));
    assert_eq!(reply.body["title"], json!("VP Sales"));
    // Deactivated users stay visible to GET and to filters.
    assert_eq!(
        h.get(&format!("{BASE}/Users/{id}")).await.body["active"],
        json!(false)
    );
    let found = h
        .get(&format!("{BASE}/Users?filter=active%20eq%20false"))
        .await;
    assert_eq!(found.body["totalResults"], json!(1));
    let reactivate =
        json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": true}}]});
    let reply = h
        .send(
            "PATCH",
            &format!("{BASE}/Users/{id}"),
            Some(TOKEN),
            Some(reactivate),
        )
        .await;
    assert_eq!(reply.body["active"], json!(true));

    // Push a group, rename it (Okta sends the id along), add and remove members.
    let second = h.create_user("bo@example.com").await;
    let bo = second["id"].as_str().unwrap();
    let reply = h
        .send(
            "POST",
            &format!("{BASE}/Groups"),
            Some(TOKEN),
            Some(json!({"schemas": [GROUP], "displayName": "Sales", "members": []})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let gid = reply.body["id"].as_str().unwrap().to_string();
    let rename = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"id": gid, "displayName": "Sales EMEA"}}]});
    let reply = h
        .send(
            "PATCH",
            &format!("{BASE}/Groups/{gid}"),
            Some(TOKEN),
            Some(rename),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["displayName"], json!("Sales EMEA"));
    let add = json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members",
        "value": [{"value": id, "display": "ana@example.com"}, {"value": bo, "display": "bo@example.com"}]}]});
    let reply = h
        .send(
            "PATCH",
            &format!("{BASE}/Groups/{gid}"),
            Some(TOKEN),
            Some(add),
        )
        .await;
    assert_eq!(reply.body["members"].as_array().unwrap().len(), 2);
    let remove = json!({"schemas": [PATCH], "Operations": [{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]});
    let reply = h
        .send(
            "PATCH",
            &format!("{BASE}/Groups/{gid}"),
            Some(TOKEN),
            Some(remove),
        )
        .await;
    assert_eq!(
        reply.body["members"],
        json!([{"value": bo, "display": "bo@example.com"}])
    );
    let by_member = h
        .get(&format!(
            "{BASE}/Groups?filter=members%5Bvalue%20eq%20%22{bo}%22%5D"
        ))
        .await;
    assert_eq!(by_member.body["totalResults"], json!(1));
    let by_name = h
        .get(&format!(
            "{BASE}/Groups?filter=displayName%20eq%20%22sales%20emea%22"
        ))
        .await;
    assert_eq!(by_name.body["Resources"][0]["id"], json!(gid));

    // Deleting a member removes it from the group.
    let reply = h
        .send("DELETE", &format!("{BASE}/Users/{bo}"), Some(TOKEN), None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert!(h
        .get(&format!("{BASE}/Groups/{gid}"))
        .await
        .body
        .get("members")
        .is_none());

    // Delete: 204, then 404.
    let reply = h
        .send("DELETE", &format!("{BASE}/Groups/{gid}"), Some(TOKEN), None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_error(&h.get(&format!("{BASE}/Groups/{gid}")).await, 404, None);
    let reply = h
        .send("DELETE", &format!("{BASE}/Users/{id}"), Some(TOKEN), None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_error(
        &h.send("DELETE", &format!("{BASE}/Users/{id}"), Some(TOKEN), None)
            .await,
        404,
        None,
    );
}

#[tokio::test]
async fn every_write_stores_the_profile_and_flags_missing_fields() {
    let h = harness();
    let user = h.create_user("ana@example.com").await;
    let id = user["id"].as_str().unwrap();
    // The canonical profile never leaks into the SCIM resource.
    assert!(user.get("job_title").is_none());
    let profile = h
        .send("GET", &format!("/t/acme/profiles/{id}"), Some(ADMIN), None)
        .await;
    assert_eq!(profile.status, StatusCode::OK);
    assert_eq!(profile.body["complete"], json!(false));
    assert_eq!(profile.body["missing"], json!(["management_level"]));
    assert_eq!(profile.body["rule_version"], json!("v1"));
    let patch = json!({"schemas": [PATCH], "Operations": [
        {"op": "add", "path": "title", "value": "Engineer"},
        {"op": "add", "path": format!("{CANON}:managementLevel"), "value": "IC"}]});
    h.send(
        "PATCH",
        &format!("{BASE}/Users/{id}"),
        Some(TOKEN),
        Some(patch),
    )
    .await;
    let profile = h
        .send("GET", &format!("/t/acme/profiles/{id}"), Some(ADMIN), None)
        .await;
    assert_eq!(
        profile.body["profile"],
        json!({"job_title": "Engineer", "management_level": "IC"})
    );
    assert_eq!(
        profile.body["rules"]["job_title"],
        json!({"rule": "copy", "at": "fake.rules:1"})
    );
    assert_eq!(profile.body["complete"], json!(true));
    let all = h.send("GET", "/t/acme/profiles", Some(ADMIN), None).await;
    assert_eq!(all.body["totalResults"], json!(1));
    assert_error(
        &h.send("GET", "/t/acme/profiles/nope", Some(ADMIN), None)
            .await,
        404,
        None,
    );
}

#[tokio::test]
async fn reload_swaps_rules_and_refuses_broken_files() {
    let h = harness();
    let rules = h.dir.path().join("acme.rules");
    std::fs::write(&rules, "v2").unwrap();
    let reply = h
        .send("POST", "/admin/tenants/acme/reload", Some(ADMIN), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["rule_version"], json!("v2"));
    std::fs::write(&rules, "error here").unwrap();
    let reply = h
        .send("POST", "/admin/tenants/acme/reload", Some(ADMIN), None)
        .await;
    assert_error(&reply, 400, Some("invalidValue"));
    assert!(reply.body["detail"]
        .as_str()
        .unwrap()
        .contains("error[E0001]"));
    // The old program keeps serving.
    let user = h.create_user("ana@example.com").await;
    let profile = h
        .send(
            "GET",
            &format!("/t/acme/profiles/{}", user["id"].as_str().unwrap()),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(profile.body["rule_version"], json!("v2"));
    assert_error(
        &h.send("POST", "/admin/tenants/acme/reload", Some(TOKEN), None)
            .await,
        401,
        None,
    );
    assert_error(
        &h.send("POST", "/admin/tenants/nope/reload", Some(ADMIN), None)
            .await,
        404,
        None,
    );
    assert_error(
        &h.send("GET", "/admin/tenants/acme/reload", Some(ADMIN), None)
            .await,
        405,
        None,
    );
}

#[tokio::test]
async fn list_pagination_projection_and_filters() {
    let h = harness();
    for name in ["a@x.com", "b@x.com", "c@x.com"] {
        h.create_user(name).await;
    }
    let page = h.get(&format!("{BASE}/Users?startIndex=2&count=1")).await;
    assert_eq!(page.body["totalResults"], json!(3));
    assert_eq!(page.body["startIndex"], json!(2));
    assert_eq!(page.body["itemsPerPage"], json!(1));
    assert_eq!(page.body["Resources"][0]["userName"], json!("b@x.com"));
    let zero = h.get(&format!("{BASE}/Users?count=0")).await;
    assert_eq!(zero.body["totalResults"], json!(3));
    assert!(zero.body.get("Resources").is_none());
    let some = h
        .get(&format!("{BASE}/Users?attributes=userName,name.givenName"))
        .await;
    let first = &some.body["Resources"][0];
    assert_eq!(
        first.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["schemas", "id", "userName", "name"]
    );
    assert_eq!(first["name"], json!({"givenName": "Ana"}));
    let without = h
        .get(&format!("{BASE}/Users?excludedAttributes=emails,meta"))
        .await;
    assert!(without.body["Resources"][0].get("emails").is_none());
    assert!(without.body["Resources"][0].get("meta").is_none());
    let filtered = h
        .get(&format!(
            "{BASE}/Users?filter=userName%20sw%20%22B%22%20or%20userName%20ew%20%22c%40x.com%22"
        ))
        .await;
    assert_eq!(filtered.body["totalResults"], json!(2));
    assert_error(
        &h.get(&format!("{BASE}/Users?filter=userName%20eq")).await,
        400,
        Some("invalidFilter"),
    );
    assert_error(
        &h.get(&format!("{BASE}/Users?filter=bogus%20gt%20true"))
            .await,
        400,
        Some("invalidFilter"),
    );
    assert_error(
        &h.get(&format!("{BASE}/Users?startIndex=abc")).await,
        400,
        Some("invalidValue"),
    );
}

#[tokio::test]
async fn hostile_and_malformed_requests_get_scim_errors() {
    let h = harness();
    let users = format!("{BASE}/Users");
    let bad = h
        .raw(
            "POST",
            &users,
            Some(TOKEN),
            "application/scim+json",
            b"{not json".to_vec(),
        )
        .await;
    assert_error(&bad, 400, Some("invalidSyntax"));
    insta::assert_json_snapshot!("error_invalid_syntax", bad.body);
    let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
    assert_error(
        &h.raw(
            "POST",
            &users,
            Some(TOKEN),
            "application/json",
            deep.into_bytes(),
        )
        .await,
        400,
        Some("invalidSyntax"),
    );
    let very_deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    assert_error(
        &h.raw(
            "POST",
            &users,
            Some(TOKEN),
            "application/json",
            very_deep.into_bytes(),
        )
        .await,
        400,
        Some("invalidSyntax"),
    );
    let huge = json!({"schemas": [USER], "userName": "x".repeat(70 * 1024)});
    let reply = h.send("POST", &users, Some(TOKEN), Some(huge)).await;
    assert_error(&reply, 413, None);
    insta::assert_json_snapshot!("error_too_large", reply.body);
    assert_error(
        &h.send("POST", &users, Some(TOKEN), Some(json!({"userName": 5})))
            .await,
        400,
        Some("invalidValue"),
    );
    assert_error(
        &h.send("POST", &users, Some(TOKEN), Some(json!(["x"])))
            .await,
        400,
        Some("invalidSyntax"),
    );
    assert_error(
        &h.send(
            "POST",
            &users,
            Some(TOKEN),
            Some(json!({"schemas": [USER]})),
        )
        .await,
        400,
        Some("invalidValue"),
    );
    // Any namespace is accepted (issue 16), but an extension must be an object.
    let unknown = json!({"schemas": [USER, "urn:example:unknown"], "userName": "a",
        "urn:example:unknown": "not an object"});
    assert_error(
        &h.send("POST", &users, Some(TOKEN), Some(unknown)).await,
        400,
        Some("invalidValue"),
    );
    assert_error(
        &h.raw("POST", &users, Some(TOKEN), "text/plain", b"{}".to_vec())
            .await,
        415,
        None,
    );
    // application/json is accepted too.
    let plain = h
        .raw(
            "POST",
            &users,
            Some(TOKEN),
            "application/json",
            okta_user("j@x.com").to_string().into_bytes(),
        )
        .await;
    assert_eq!(plain.status, StatusCode::CREATED);
    assert_eq!(content_type(&plain), "application/scim+json");
    // Unknown and malformed ids are 404, never 400 or 500.
    for id in [
        "nope",
        "00000000-0000-0000-0000-000000000000",
        "%22%27%3B--",
        "%F0%9F%98%80",
    ] {
        assert_error(&h.get(&format!("{users}/{id}")).await, 404, None);
        let patch = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": false}}]});
        assert_error(
            &h.send("PATCH", &format!("{users}/{id}"), Some(TOKEN), Some(patch))
                .await,
            404,
            None,
        );
        assert_error(
            &h.send(
                "PUT",
                &format!("{users}/{id}"),
                Some(TOKEN),
                Some(okta_user("z@x.com")),
            )
            .await,
            404,
            None,
        );
    }
    assert_error(&h.get("/nowhere").await, 404, None);
    let id = plain.body["id"].as_str().unwrap();
    let bad_patch = json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "emails[type eq", "value": 1}]});
    assert_error(
        &h.send(
            "PATCH",
            &format!("{users}/{id}"),
            Some(TOKEN),
            Some(bad_patch),
        )
        .await,
        400,
        Some("invalidPath"),
    );
    let id_change = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "id", "value": "other"}]});
    assert_error(
        &h.send(
            "PATCH",
            &format!("{users}/{id}"),
            Some(TOKEN),
            Some(id_change),
        )
        .await,
        400,
        Some("mutability"),
    );
    let mut put = okta_user("j@x.com");
    put["id"] = json!("someone-else");
    assert_error(
        &h.send("PUT", &format!("{users}/{id}"), Some(TOKEN), Some(put))
            .await,
        400,
        Some("mutability"),
    );
    // A PUT that takes another user's name is a conflict.
    h.create_user("k@x.com").await;
    assert_error(
        &h.send(
            "PUT",
            &format!("{users}/{id}"),
            Some(TOKEN),
            Some(okta_user("K@X.com")),
        )
        .await,
        409,
        Some("uniqueness"),
    );
}

#[tokio::test]
async fn locations_follow_the_forwarded_scheme() {
    let h = harness();
    let user = h.create_user("ana@example.com").await;
    let id = user["id"].as_str().unwrap();
    let behind_proxy = Request::builder()
        .uri(format!("{BASE}/Users/{id}"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("host", "scim.example.com")
        .header("x-forwarded-proto", "https")
        .body(Body::empty())
        .unwrap();
    let response = h.app.clone().oneshot(behind_proxy).await.unwrap();
    let body: Value = serde_json::from_slice(
        &axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        body["meta"]["location"],
        json!(format!("https://scim.example.com{BASE}/Users/{id}"))
    );
}

#[tokio::test]
async fn etags_guard_concurrent_writers() {
    let h = harness();
    let user = h.create_user("ana@example.com").await;
    let id = user["id"].as_str().unwrap();
    let patch = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "title", "value": "x"}]});
    let request = |etag: &str| {
        Request::builder()
            .method("PATCH")
            .uri(format!("{BASE}/Users/{id}"))
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", "application/scim+json")
            .header("if-match", etag)
            .body(Body::from(patch.to_string()))
            .unwrap()
    };
    let stale = h.app.clone().oneshot(request("W/\"7\"")).await.unwrap();
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    let fresh = h.app.clone().oneshot(request("W/\"1\"")).await.unwrap();
    assert_eq!(fresh.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_member_patches_lose_no_member() {
    let h = harness();
    let reply = h
        .send(
            "POST",
            &format!("{BASE}/Groups"),
            Some(TOKEN),
            Some(json!({"schemas": [GROUP], "displayName": "All"})),
        )
        .await;
    let gid = reply.body["id"].as_str().unwrap().to_string();
    let h = Arc::new(h);
    let mut tasks = Vec::new();
    for i in 0..40 {
        let h = h.clone();
        let gid = gid.clone();
        tasks.push(tokio::spawn(async move {
            let add = json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": format!("u{i}")}]}]});
            let reply = h.send("PATCH", &format!("{BASE}/Groups/{gid}"), Some(TOKEN), Some(add)).await;
            assert_eq!(reply.status, StatusCode::OK);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let group = h.get(&format!("{BASE}/Groups/{gid}")).await;
    assert_eq!(group.body["members"].as_array().unwrap().len(), 40);
    assert_eq!(group.body["meta"]["version"], json!("W/\"41\""));
}

/// Issue 16: a push of 1,000 member operations (the most an IdP sends at once) is applied
/// in one transaction: one new version, every change in it; and one bad operation among
/// them leaves the group as it was.
#[tokio::test]
async fn a_thousand_member_operations_are_one_transaction() {
    let h = harness();
    let members: Vec<Value> = (0..2000)
        .map(|i| json!({"value": format!("m{i}")}))
        .collect();
    let reply = h
        .send(
            "POST",
            &format!("{BASE}/Groups"),
            Some(TOKEN),
            Some(json!({"schemas": [GROUP], "displayName": "Big", "members": members})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let gid = reply.body["id"].as_str().unwrap().to_string();
    let uri = format!("{BASE}/Groups/{gid}?excludedAttributes=members");
    // Okta's and Entra's shapes: removals by value filter, by value list, additions.
    let mut operations: Vec<Value> = (0..400)
        .map(|i| json!({"op": "remove", "path": format!("members[value eq \"m{i}\"]")}))
        .collect();
    operations.extend((400..500).map(
        |i| json!({"op": "Remove", "path": "members", "value": [{"value": format!("m{i}")}]}),
    ));
    operations.extend(
        (0..500).map(
            |i| json!({"op": "add", "path": "members", "value": [{"value": format!("n{i}")}]}),
        ),
    );
    assert_eq!(operations.len(), 1000);
    let started = std::time::Instant::now();
    let reply = h
        .send(
            "PATCH",
            &uri,
            Some(TOKEN),
            Some(json!({"schemas": [PATCH], "Operations": operations.clone()})),
        )
        .await;
    eprintln!(
        "1,000 member operations on 2,000 members: {:?} (debug build)",
        started.elapsed()
    );
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["meta"]["version"], json!("W/\"2\""));
    let group = h.get(&format!("{BASE}/Groups/{gid}")).await;
    let values: Vec<&str> = group.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    assert_eq!(values.len(), 2000);
    assert_eq!(
        (values[0], values[1499], values[1500]),
        ("m500", "m1999", "n0")
    );

    // The last operation is bad: nothing of the 999 before it is kept.
    let mut doomed: Vec<Value> = (500..1499)
        .map(|i| json!({"op": "remove", "path": format!("members[value eq \"m{i}\"]")}))
        .collect();
    doomed.push(json!({"op": "add", "path": "members[", "value": 1}));
    let reply = h
        .send(
            "PATCH",
            &uri,
            Some(TOKEN),
            Some(json!({"schemas": [PATCH], "Operations": doomed})),
        )
        .await;
    assert_error(&reply, 400, Some("invalidPath"));
    let after = h.get(&format!("{BASE}/Groups/{gid}")).await;
    assert_eq!(after.body, group.body);
    operations.push(json!({"op": "add", "path": "members", "value": [{"value": "x"}]}));
    let reply = h
        .send(
            "PATCH",
            &uri,
            Some(TOKEN),
            Some(json!({"schemas": [PATCH], "Operations": operations})),
        )
        .await;
    assert_error(&reply, 400, Some("tooMany"));
}

#[tokio::test]
async fn search_by_post_per_type_and_across_types() {
    let h = harness();
    h.create_user("ana@example.com").await;
    h.send(
        "POST",
        &format!("{BASE}/Groups"),
        Some(TOKEN),
        Some(json!({"schemas": [GROUP], "displayName": "Sales"})),
    )
    .await;
    let request = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": "userName sw \"ana\"", "attributes": ["userName"], "startIndex": 1, "count": 10});
    let reply = h
        .send(
            "POST",
            &format!("{BASE}/Users/.search"),
            Some(TOKEN),
            Some(request),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["totalResults"], json!(1));
    assert!(reply.body["Resources"][0].get("name").is_none());
    let all = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "excludedAttributes": ["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]});
    let reply = h
        .send("POST", &format!("{BASE}/.search"), Some(TOKEN), Some(all))
        .await;
    assert_eq!(reply.body["totalResults"], json!(2));
    let bad = json!({"filter": 5, "count": "x"});
    assert_error(
        &h.send("POST", &format!("{BASE}/.search"), Some(TOKEN), Some(bad))
            .await,
        400,
        Some("invalidFilter"),
    );
    assert_error(
        &h.send("GET", &format!("{BASE}/.search"), Some(TOKEN), None)
            .await,
        405,
        None,
    );
}

/// Issue 16: a user's read-only `groups` (RFC 7643 §4.1.2) is computed from the groups that
/// list it, on every read, list, filter and write response; `attributes` and
/// `excludedAttributes` choose it like any attribute, and Groups honour them too.
#[tokio::test]
async fn users_read_their_groups_from_memberships() {
    let h = harness();
    let ana = h.create_user("ana@example.com").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bo = h.create_user("bo@example.com").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut groups = Vec::new();
    for (name, members) in [("Sales", vec![&ana, &bo]), ("Leads", vec![&ana])] {
        let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
        let reply = h
            .send(
                "POST",
                &format!("{BASE}/Groups"),
                Some(TOKEN),
                Some(json!({"schemas": [GROUP], "displayName": name, "members": members})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        groups.push(reply.body["id"].as_str().unwrap().to_string());
    }
    let (sales, leads) = (&groups[0], &groups[1]);
    let group_ref = |id: &str, name: &str| {
        json!({"value": id, "$ref": format!("http://canon.test{BASE}/Groups/{id}"),
            "display": name, "type": "direct"})
    };
    let user = h.get(&format!("{BASE}/Users/{ana}")).await;
    assert_eq!(
        user.body["groups"],
        json!([group_ref(sales, "Sales"), group_ref(leads, "Leads")])
    );
    // Lists, filters on `groups`, and projections.
    let list = h.get(&format!("{BASE}/Users")).await;
    assert_eq!(
        list.body["Resources"][1]["groups"],
        json!([group_ref(sales, "Sales")])
    );
    let filtered = h
        .get(&format!(
            "{BASE}/Users?filter=groups.value%20eq%20%22{leads}%22"
        ))
        .await;
    assert_eq!(filtered.body["totalResults"], json!(1));
    assert_eq!(filtered.body["Resources"][0]["id"], json!(ana));
    let by_display = h
        .get(&format!(
            "{BASE}/Users?filter=groups%5Bdisplay%20eq%20%22sales%22%5D&attributes=userName"
        ))
        .await;
    assert_eq!(by_display.body["totalResults"], json!(2));
    assert!(by_display.body["Resources"][0].get("groups").is_none());
    let excluded = h
        .get(&format!("{BASE}/Users/{ana}?excludedAttributes=groups"))
        .await;
    assert!(excluded.body.get("groups").is_none());
    assert_eq!(excluded.body["userName"], json!("ana@example.com"));
    let only = h
        .get(&format!("{BASE}/Users/{ana}?attributes=groups.display"))
        .await;
    assert_eq!(
        only.body["groups"],
        json!([{"display": "Sales"}, {"display": "Leads"}])
    );
    assert!(only.body.get("userName").is_none());
    // A write's response carries them; a write cannot set them.
    let patch = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "title", "value": "VP"}]});
    let reply = h
        .send(
            "PATCH",
            &format!("{BASE}/Users/{ana}"),
            Some(TOKEN),
            Some(patch),
        )
        .await;
    assert_eq!(reply.body["groups"].as_array().unwrap().len(), 2);
    let mut put = okta_user("ana@example.com");
    put["groups"] = json!([{"value": "forged"}]);
    let reply = h
        .send(
            "PUT",
            &format!("{BASE}/Users/{ana}"),
            Some(TOKEN),
            Some(put),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["groups"].as_array().unwrap().len(), 2);
    let patch = json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "groups", "value": [{"value": sales}]}]});
    assert_error(
        &h.send(
            "PATCH",
            &format!("{BASE}/Users/{bo}"),
            Some(TOKEN),
            Some(patch),
        )
        .await,
        400,
        Some("mutability"),
    );
    // Membership changes show at once; a deleted group leaves the users' groups.
    let remove = json!({"schemas": [PATCH], "Operations": [{"op": "remove", "path": format!("members[value eq \"{ana}\"]")}]});
    h.send(
        "PATCH",
        &format!("{BASE}/Groups/{sales}"),
        Some(TOKEN),
        Some(remove),
    )
    .await;
    h.send(
        "DELETE",
        &format!("{BASE}/Groups/{leads}"),
        Some(TOKEN),
        None,
    )
    .await;
    assert!(h
        .get(&format!("{BASE}/Users/{ana}"))
        .await
        .body
        .get("groups")
        .is_none());
    // Groups: Entra's lookups leave out `members`.
    let lookup = h
        .get(&format!(
            "{BASE}/Groups?excludedAttributes=members&filter=displayName%20eq%20%22Sales%22"
        ))
        .await;
    assert_eq!(lookup.body["totalResults"], json!(1));
    assert!(lookup.body["Resources"][0].get("members").is_none());
    let one = h
        .get(&format!("{BASE}/Groups/{sales}?attributes=members.value"))
        .await;
    assert_eq!(one.body["members"], json!([{"value": bo}]));
    assert!(one.body.get("displayName").is_none());
}

/// The write path stores what the engine gives for the stored resource: the same profile
/// `canon dry-run` computes for the same user under the same rules.
#[tokio::test]
async fn stored_profiles_match_the_engine() {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/base.rules");
    let program = Arc::new(canon::Program::load(&rules).unwrap());
    let engine: Arc<dyn ProfileMapper> = program;
    let mapper = engine.clone();
    let h = harness_with(Arc::new(move |_: &Path| Ok(engine.clone())));
    let mut body = okta_user("ana@example.com");
    body["title"] = json!("Senior Vice-President, Sales");
    body[CANON] = json!({"peopleManager": "Yes"});
    body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] =
        json!({"manager": {"value": " Boss@Example.com "}});
    let reply = h
        .send("POST", &format!("{BASE}/Users"), Some(TOKEN), Some(body))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let id = reply.body["id"].as_str().unwrap();
    let stored = h
        .send("GET", &format!("/t/acme/profiles/{id}"), Some(ADMIN), None)
        .await
        .body;

    let mut resource = reply.body.clone();
    resource
        .as_object_mut()
        .unwrap()
        .retain(|k, _| k != "id" && k != "meta");
    let expected = canon::Program::load(&rules)
        .unwrap()
        .apply(&canon::JsonRecord::new(&resource));
    assert_eq!(stored["profile"], expected.to_json());
    assert_eq!(stored["rules"], expected.rules_json());
    assert_eq!(stored["profile"]["management_level"], json!("SVP"));
    assert_eq!(stored["profile"]["people_manager"], json!("yes"));
    assert_eq!(
        stored["profile"]["manager_email"],
        json!("boss@example.com")
    );
    assert_eq!(
        stored["complete"],
        json!(expected.missing_required().is_empty())
    );
    assert_eq!(stored["rule_version"], json!(mapper.version()));
}

/// Odd but well-formed bodies on every write endpoint: a client error or success, never a 5xx.
#[tokio::test]
async fn odd_bodies_never_cause_server_errors() {
    let h = harness();
    let user = h.create_user("ana@example.com").await;
    let id = user["id"].as_str().unwrap();
    let reply = h
        .send(
            "POST",
            &format!("{BASE}/Groups"),
            Some(TOKEN),
            Some(json!({"displayName": "G"})),
        )
        .await;
    let gid = reply.body["id"].as_str().unwrap().to_string();
    let values = [
        json!(null),
        json!(true),
        json!(1.5e300),
        json!(-1),
        json!("é"),
        json!(""),
        json!([]),
        json!({}),
        json!([null]),
        json!([{}]),
        json!({"value": null}),
        json!("x".repeat(1000)),
        json!([[[]]]),
        json!({"aéé": 1}),
        json!({"urn:": {}}),
        json!({"urn:ietf:params:scim:schemas:extension:canon:2.0:User": 5}),
    ];
    let names = [
        "userName",
        "active",
        "name",
        "emails",
        "members",
        "id",
        "meta",
        "schemas",
        "aéé",
        "urn:x:y",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        "emails[type eq \"work\"].value",
        "members[value eq \"x\"]",
        "name.givenName",
        "é.é",
        "$ref",
    ];
    for value in &values {
        for name in names {
            let mut body = okta_user("odd@example.com");
            body[name] = value.clone();
            for (method, uri) in [
                ("POST", format!("{BASE}/Users")),
                ("PUT", format!("{BASE}/Users/{id}")),
            ] {
                let reply = h.send(method, &uri, Some(TOKEN), Some(body.clone())).await;
                assert!(
                    reply.status.as_u16() < 500,
                    "{method} {name}={value}: {}",
                    reply.body
                );
                if reply.status == StatusCode::CREATED {
                    let new = reply.body["id"].as_str().unwrap();
                    h.send("DELETE", &format!("{BASE}/Users/{new}"), Some(TOKEN), None)
                        .await;
                }
            }
            for op in ["add", "replace", "remove", "ADD", "bogus"] {
                let ops = [
                    json!({"op": op, "path": name, "value": value}),
                    json!({"op": op, "value": {name: value}}),
                    json!({"op": op, "path": value, "value": name}),
                ];
                for operation in ops {
                    let patch = json!({"schemas": [PATCH], "Operations": [operation]});
                    for uri in [format!("{BASE}/Users/{id}"), format!("{BASE}/Groups/{gid}")] {
                        let reply = h
                            .send("PATCH", &uri, Some(TOKEN), Some(patch.clone()))
                            .await;
                        assert!(reply.status.as_u16() < 500, "PATCH {patch}: {}", reply.body);
                    }
                }
            }
        }
    }
    for body in [
        json!({"schemas": [PATCH]}),
        json!({"schemas": [PATCH], "Operations": {}}),
        json!({"schemas": [PATCH], "Operations": [1]}),
        json!({"schemas": "x", "Operations": []}),
    ] {
        let reply = h
            .send(
                "PATCH",
                &format!("{BASE}/Users/{id}"),
                Some(TOKEN),
                Some(body),
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    }
}

/// The SCIM rows of the mapping cases (`tests/cases/*.yaml`, also run by `rules_corpus`)
/// through the SCIM write path: POST, then the stored profile has the expected values. The
/// dry run and the service cannot drift apart.
#[tokio::test]
async fn scim_mapping_cases_through_the_write_path() {
    #[derive(serde::Deserialize)]
    struct Case {
        name: String,
        rules: String,
        scim: Option<Value>,
        #[serde(default)]
        expect: std::collections::BTreeMap<String, Option<String>>,
        #[serde(flatten)]
        _rest: HashMap<String, Value>,
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut count = 0;
    for entry in std::fs::read_dir(root.join("tests/cases")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let cases: Vec<Case> =
            serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for case in cases {
            let Some(mut user) = case.scim else { continue };
            count += 1;
            let program: Arc<dyn ProfileMapper> =
                Arc::new(canon::Program::load(&root.join(&case.rules)).unwrap());
            let h = harness_with(Arc::new(move |_: &Path| Ok(program.clone())));
            let object = user.as_object_mut().unwrap();
            if !object.keys().any(|k| k.eq_ignore_ascii_case("userName")) {
                object.insert("userName".into(), json!(format!("case{count}@example.com")));
            }
            let reply = h
                .send("POST", &format!("{BASE}/Users"), Some(TOKEN), Some(user))
                .await;
            assert_eq!(
                reply.status,
                StatusCode::CREATED,
                "{}: {}",
                case.name,
                reply.body
            );
            let id = reply.body["id"].as_str().unwrap();
            let stored = h
                .send("GET", &format!("/t/acme/profiles/{id}"), Some(ADMIN), None)
                .await
                .body;
            for (field, expected) in &case.expect {
                assert_eq!(
                    stored["profile"][field],
                    json!(expected),
                    "{} ({}): {field}",
                    case.name,
                    path.display()
                );
            }
        }
    }
    assert!(count > 0, "no SCIM mapping cases found");
}

/// The promise: the profiles the service stores equal what `canon dry-run` gives for
/// the same users under the same rules. The bundled SCIM users (their custom attributes moved
/// into Canon's extension, where Okta would map them) go through the real binary's dry run and
/// through POST; every canonical field must agree.
#[tokio::test]
async fn stored_profiles_match_the_dry_run() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rules = root.join("rules/default.rules");
    let program: Arc<dyn ProfileMapper> = Arc::new(canon::Program::load(&rules).unwrap());
    let h = harness_with(Arc::new(move |_: &Path| Ok(program.clone())));

    let acme = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";
    let users: Vec<Value> = std::fs::read_to_string(root.join("examples/acme_users.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut user: Value = serde_json::from_str(line).unwrap();
            let object = user.as_object_mut().unwrap();
            if let Some(custom) = object.remove(acme) {
                object.insert(CANON.into(), custom);
            }
            if let Some(schemas) = object.get_mut("schemas").and_then(Value::as_array_mut) {
                schemas.retain(|s| s != acme);
                schemas.push(json!(CANON));
            }
            user
        })
        .collect();
    assert!(users.len() >= 50, "{} users", users.len());
    let input = h.dir.path().join("users.jsonl");
    let lines: Vec<String> = users.iter().map(Value::to_string).collect();
    std::fs::write(&input, lines.join("\n")).unwrap();

    let output = common::command()
        .args(["dry-run", "--rules"])
        .arg(&rules)
        .args(["--format", "jsonl"])
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let dry_rows: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(dry_rows.len(), users.len());

    let fields = [
        "first_name",
        "last_name",
        "management_level",
        "job_title",
        "business_unit",
        "job_function",
        "people_manager",
        "manager_email",
        "location",
        "locale",
        "status",
    ];
    // Every user first: a manager's derived people_manager counts reports created after them.
    let mut ids = Vec::new();
    for user in &users {
        let created = h
            .send(
                "POST",
                &format!("{BASE}/Users"),
                Some(TOKEN),
                Some(user.clone()),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        ids.push(created.body["id"].as_str().unwrap().to_string());
    }
    let mut compared = 0;
    for ((user, dry), id) in users.into_iter().zip(dry_rows).zip(ids) {
        let stored = h
            .send("GET", &format!("/t/acme/profiles/{id}"), Some(ADMIN), None)
            .await;
        assert_eq!(stored.status, StatusCode::OK);
        for field in fields {
            let served = &stored.body["profile"][field];
            let dried = match &dry[field] {
                Value::String(s) if s.is_empty() => Value::Null,
                other => other.clone(),
            };
            assert_eq!(*served, dried, "{field} of {}", user["userName"]);
            compared += 1;
        }
    }
    assert_eq!(compared, fields.len() * lines.len());
}

/// Issue 19: lists page, filter and look up in the store. Whatever path a filter takes (the
/// unique userName, the index of externalId / emails / displayName / members, or a scan of
/// every resource), the list holds exactly what the in-memory filter keeps of all of them,
/// in the same order, paged the same way.
/// The test store, except that loading a whole tenant (`list`) fails: a list request
/// must page, look up or stream.
struct NoWholeLists(Arc<dyn ResourceStore>);

impl ResourceStore for NoWholeLists {
    fn create(&self, t: &TenantId, k: Kind, w: Write) -> Result<StoredResource, StoreError> {
        self.0.create(t, k, w)
    }
    fn get(&self, t: &TenantId, k: Kind, id: &str) -> Result<Option<StoredResource>, StoreError> {
        self.0.get(t, k, id)
    }
    fn find_unique(
        &self,
        t: &TenantId,
        k: Kind,
        key: &str,
    ) -> Result<Option<StoredResource>, StoreError> {
        self.0.find_unique(t, k, key)
    }
    fn list(&self, _: &TenantId, _: Kind) -> Result<Vec<StoredResource>, StoreError> {
        Err(StoreError::Backend(
            "a request loaded a whole tenant".into(),
        ))
    }
    fn memberships(
        &self,
        t: &TenantId,
        members: &[&str],
    ) -> Result<Vec<canon::store::Membership>, StoreError> {
        self.0.memberships(t, members)
    }
    fn page(
        &self,
        t: &TenantId,
        k: Kind,
        skip: usize,
        take: usize,
    ) -> Result<(usize, Vec<StoredResource>), StoreError> {
        self.0.page(t, k, skip, take)
    }
    fn scan(
        &self,
        t: &TenantId,
        k: Kind,
        visit: &mut dyn FnMut(StoredResource) -> bool,
    ) -> Result<(), StoreError> {
        self.0.scan(t, k, visit)
    }
    fn find_by(
        &self,
        t: &TenantId,
        k: Kind,
        attr: IndexedAttr,
        value: &str,
    ) -> Result<Vec<StoredResource>, StoreError> {
        self.0.find_by(t, k, attr, value)
    }
    fn update(
        &self,
        t: &TenantId,
        k: Kind,
        id: &str,
        change: &mut UpdateFn<'_>,
    ) -> Result<StoredResource, StoreError> {
        self.0.update(t, k, id, change)
    }
    fn replace(
        &self,
        t: &TenantId,
        k: Kind,
        id: &str,
        version: i64,
        w: Write,
    ) -> Result<StoredResource, StoreError> {
        self.0.replace(t, k, id, version, w)
    }
    fn delete(&self, t: &TenantId, k: Kind, id: &str) -> Result<(), StoreError> {
        self.0.delete(t, k, id)
    }
    fn set_profiles(
        &self,
        t: &TenantId,
        profiles: &[(String, canon::store::ProfileRecord)],
    ) -> Result<(), StoreError> {
        self.0.set_profiles(t, profiles)
    }
    fn write_user(
        &self,
        t: &TenantId,
        rules: &canon::store::SharedRules,
        write: canon::store::UserWrite<'_>,
    ) -> Result<Option<StoredResource>, StoreError> {
        self.0.write_user(t, rules, write)
    }
}

#[tokio::test]
async fn indexed_and_scanned_lists_equal_the_in_memory_filter() {
    let h = harness_on(Arc::new(fake_loader), |store| Arc::new(NoWholeLists(store)));
    let mut users = Vec::new();
    for (n, (external, email, title)) in [
        ("E1", "Ana@Example.com", "VP"),
        ("e1", "bo@example.com", "VP"),
        ("E2", "cy@example.com", "Director"),
        ("E1", "ANA@example.com", "Intern"),
    ]
    .into_iter()
    .enumerate()
    {
        let body = json!({"schemas": [USER], "userName": format!("user{n}@x.io"),
            "externalId": external, "title": title,
            "emails": [{"value": email, "type": "work"}, {"value": format!("home{n}@x.io"), "type": "home"}]});
        let reply = h
            .send("POST", &format!("{BASE}/Users"), Some(TOKEN), Some(body))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        users.push(reply.body["id"].as_str().unwrap().to_string());
    }
    for (name, members) in [
        ("Sales", &users[..2]),
        ("sales", &users[1..3]),
        ("Ops", &users[..0]),
    ] {
        let members: Vec<Value> = members.iter().map(|id| json!({"value": id})).collect();
        let mut body = json!({"schemas": [GROUP], "displayName": name});
        if !members.is_empty() {
            body["members"] = json!(members);
        }
        let reply = h
            .send("POST", &format!("{BASE}/Groups"), Some(TOKEN), Some(body))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    let everything = |kind: &'static str| {
        let h = &h;
        async move { h.get(&format!("{BASE}/{kind}?count=1000")).await.body["Resources"].clone() }
    };
    let all_users = everything("Users").await;
    let all_groups = everything("Groups").await;
    let filters = [
        ("Users", "userName eq \"USER1@x.io\""),
        ("Users", "externalId eq \"E1\""),
        ("Users", "externalId eq \"e1\""),
        ("Users", "emails.value eq \"ana@example.com\""),
        ("Users", "emails eq \"home2@x.io\""),
        (
            "Users",
            "emails[type eq \"work\" and value eq \"ANA@EXAMPLE.COM\"]",
        ),
        ("Users", "emails[value eq \"home3@x.io\"]"),
        ("Users", "externalId eq \"E1\" and title eq \"VP\""),
        ("Users", "externalId eq \"E1\" or title eq \"Director\""),
        ("Users", "title co \"i\""),
        ("Users", "not (externalId eq \"E1\")"),
        ("Users", "externalId eq \"nobody\""),
        ("Groups", "displayName eq \"SALES\""),
        ("Groups", "displayName eq \"Ops\""),
        ("Groups", &format!("members[value eq \"{}\"]", users[1])),
        ("Groups", &format!("members.value eq \"{}\"", users[0])),
        (
            "Groups",
            &format!("members eq \"{}\"", users[2].to_uppercase()),
        ),
    ];
    for (kind_name, text) in filters {
        let (kind, all) = match kind_name {
            "Users" => (Kind::User, &all_users),
            _ => (Kind::Group, &all_groups),
        };
        let filter = canon::scim::filter::parse_filter(text).unwrap();
        let expected: Vec<&Value> = all
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| filter.matches(r, kind))
            .map(|r| &r["id"])
            .collect();
        for (start, count) in [(1, 1000), (2, 1), (1, 0)] {
            let query = format!(
                "{BASE}/{kind_name}?filter={}&startIndex={start}&count={count}",
                text.replace(' ', "%20")
                    .replace('"', "%22")
                    .replace('[', "%5B")
                    .replace(']', "%5D")
            );
            let reply = h.get(&query).await;
            assert_eq!(reply.status, StatusCode::OK, "{text}: {}", reply.body);
            assert_eq!(reply.body["totalResults"], json!(expected.len()), "{text}");
            let got: Vec<&Value> = reply.body["Resources"]
                .as_array()
                .map(|r| r.iter().map(|r| &r["id"]).collect())
                .unwrap_or_default();
            let page: Vec<&Value> = expected
                .iter()
                .skip(start - 1)
                .take(count)
                .copied()
                .collect();
            assert_eq!(got, page, "{text} from {start}, {count}");
        }
    }
    // Pages without a filter, across both kinds too.
    let reply = h.get(&format!("{BASE}/Users?startIndex=3&count=5")).await;
    assert_eq!(reply.body["totalResults"], json!(4));
    assert_eq!(
        reply.body["Resources"],
        json!(all_users.as_array().unwrap()[2..])
    );
    let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "startIndex": 4, "count": 2});
    let reply = h
        .send(
            "POST",
            &format!("{BASE}/.search"),
            Some(TOKEN),
            Some(search),
        )
        .await;
    assert_eq!(reply.body["totalResults"], json!(7));
    let ids: Vec<&Value> = reply.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["id"])
        .collect();
    assert_eq!(ids, [&all_users[3]["id"], &all_groups[0]["id"]]);
}
