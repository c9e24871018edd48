//! What real identity providers send (issue 16), replayed through the router (`oneshot`)
//! against the real SQLite store and the default rule pack.
//!
//! Each file in `tests/idp/<provider>/` is one scenario, written from the provider's
//! documentation: a tenant (its `extensions:` policy) and steps. A step sends a request and
//! checks the status, the response, the resource as stored, and the stored canonical
//! profile. Expected bodies are subsets: an object lists the members that must be there (the
//! string `<absent>` for one that must not), an array lists every element. `save: NAME` keeps
//! the response's `id`, which later steps use as `${NAME}`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use canon::scim::config::token_hash;
use canon::scim::extensions::ExtensionsConfig;
use canon::scim::mapper::ProfileMapper;
use canon::scim::{app, AppState, Tenant};
use canon::store::{Kind, ResourceStore, SqliteStore, TenantId};
use serde::Deserialize;
use serde_json::{json, Value};
use tower::ServiceExt;

const TOKEN: &str = "idp-token";
const ADMIN: &str = "idp-admin";
const BASE: &str = "/t/acme/scim/v2";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    /// What the scenario shows, and where the provider documents it.
    about: String,
    #[serde(default)]
    tenant: TenantSpec,
    steps: Vec<Step>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TenantSpec {
    #[serde(default)]
    extensions: ExtensionsConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    /// `METHOD /path?query`, the path under the tenant's SCIM base.
    send: String,
    body: Option<Value>,
    status: u16,
    /// The response body, as a subset.
    response: Option<Value>,
    /// The resource as stored (without `id` and `meta`), as a subset.
    stored: Option<Value>,
    /// The stored canonical profile's fields, as a subset.
    profile: Option<Value>,
    /// Which resource `stored` and `profile` read: `${NAME}`; by default the response's id,
    /// else the request path's last segment.
    of: Option<String>,
    save: Option<String>,
}

/// The default pack, compiled once for every scenario.
fn program() -> Arc<dyn ProfileMapper> {
    static PROGRAM: OnceLock<Arc<canon::Program>> = OnceLock::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    PROGRAM
        .get_or_init(|| Arc::new(canon::Program::load(&root.join("rules/default.rules")).unwrap()))
        .clone()
}

struct Harness {
    app: Router,
    store: Arc<SqliteStore>,
    _dir: tempfile::TempDir,
}

fn harness(tenant: &TenantSpec) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("canon.db")).unwrap());
    let id = TenantId::parse("acme").unwrap();
    let mapper = program();
    let extensions = tenant.extensions.resolve().unwrap();
    let tenant = Tenant::new(
        id.clone(),
        token_hash(TOKEN),
        dir.path().join("acme.rules"),
        mapper,
    )
    .with_extensions(extensions)
    // The IdPs' recorded sessions replay at full speed; tests/serving.rs covers limits.
    .with_rate_limit(canon::scim::rate_limit::RateLimit::Off);
    let state = AppState {
        store: store.clone(),
        tenants: HashMap::from([(id, Arc::new(tenant))]).into(),
        registry: None,
        admin_token_sha256: Some(token_hash(ADMIN)),
        max_body_bytes: 4 * 1024 * 1024,
        body_timeout: std::time::Duration::from_secs(30),
        loader: Arc::new(|_: &Path| Ok(program())),
        config_path: None,
        serving: Default::default(),
    };
    Harness {
        app: app(Arc::new(state)),
        store,
        _dir: dir,
    }
}

impl Harness {
    async fn send(&self, method: &str, uri: &str, body: Option<&Value>) -> (StatusCode, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "canon.test")
            .header("authorization", format!("Bearer {TOKEN}"));
        let bytes = match body {
            Some(body) => {
                request = request.header("content-type", "application/scim+json");
                body.to_string().into_bytes()
            }
            None => Vec::new(),
        };
        let response = self
            .app
            .clone()
            .oneshot(request.body(Body::from(bytes)).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = match bytes.is_empty() {
            true => Value::Null,
            false => serde_json::from_slice(&bytes).unwrap(),
        };
        (status, body)
    }
}

/// `${NAME}` in every string replaced by the saved id.
fn substitute(value: &Value, saved: &BTreeMap<String, String>) -> Value {
    match value {
        Value::String(text) => Value::String(substitute_text(text, saved)),
        Value::Array(items) => Value::Array(items.iter().map(|v| substitute(v, saved)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (substitute_text(k, saved), substitute(v, saved)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn substitute_text(text: &str, saved: &BTreeMap<String, String>) -> String {
    let mut out = text.to_string();
    for (name, id) in saved {
        out = out.replace(&format!("${{{name}}}"), id);
    }
    out
}

/// Where `actual` differs from the subset `expected`, as `path: why` lines.
fn differences(expected: &Value, actual: Option<&Value>, at: &str, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::String(s), None) if s == "<absent>" => {}
        (Value::String(s), Some(actual)) if s == "<absent>" => {
            out.push(format!("{at}: should be absent, is {actual}"))
        }
        (_, None) => out.push(format!("{at}: missing, expected {expected}")),
        (Value::Object(expected), Some(Value::Object(actual))) => {
            for (key, value) in expected {
                differences(value, actual.get(key), &format!("{at}.{key}"), out);
            }
        }
        (Value::Array(expected), Some(Value::Array(actual))) => {
            if expected.len() != actual.len() {
                out.push(format!(
                    "{at}: {} elements, expected {}: {}",
                    actual.len(),
                    expected.len(),
                    Value::Array(actual.clone())
                ));
                return;
            }
            for (i, (e, a)) in expected.iter().zip(actual).enumerate() {
                differences(e, Some(a), &format!("{at}[{i}]"), out);
            }
        }
        (expected, Some(actual)) if expected != actual => {
            out.push(format!("{at}: {actual}, expected {expected}"))
        }
        _ => {}
    }
}

async fn replay(file: &Path) -> Vec<String> {
    let scenario: Scenario = serde_yaml::from_str(&std::fs::read_to_string(file).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert!(!scenario.about.trim().is_empty());
    let h = harness(&scenario.tenant);
    let tenant = TenantId::parse("acme").unwrap();
    let mut saved = BTreeMap::new();
    let mut problems = Vec::new();
    for (number, step) in scenario.steps.iter().enumerate() {
        let send = substitute_text(&step.send, &saved);
        let (method, path) = send.split_once(' ').expect("`send: METHOD /path`");
        let body = step.body.as_ref().map(|b| substitute(b, &saved));
        let (status, reply) = h
            .send(method, &format!("{BASE}{path}"), body.as_ref())
            .await;
        let mut found = Vec::new();
        if status.as_u16() != step.status {
            found.push(format!(
                "status {status}, expected {}: {reply}",
                step.status
            ));
        }
        if let Some(expected) = &step.response {
            differences(
                &substitute(expected, &saved),
                Some(&reply),
                "response",
                &mut found,
            );
        }
        if let (Some(name), Some(id)) = (&step.save, reply["id"].as_str()) {
            saved.insert(name.clone(), id.to_string());
        }
        let id = match &step.of {
            Some(of) => substitute_text(of, &saved),
            None => reply["id"].as_str().map(str::to_string).unwrap_or_else(|| {
                let path = path.split('?').next().unwrap_or_default();
                path.rsplit('/').next().unwrap_or_default().to_string()
            }),
        };
        if step.stored.is_some() || step.profile.is_some() {
            let kind = if path.starts_with("/Groups") {
                Kind::Group
            } else {
                Kind::User
            };
            match h.store.get(&tenant, kind, &id).unwrap() {
                None => found.push(format!("no stored {} {id}", kind.as_str())),
                Some(stored) => {
                    if let Some(expected) = &step.stored {
                        let expected = substitute(expected, &saved);
                        differences(&expected, Some(&stored.body), "stored", &mut found);
                    }
                    if let Some(expected) = &step.profile {
                        let fields = stored.profile.into_inner().map(|p| p.fields);
                        differences(expected, fields.as_ref(), "profile", &mut found);
                    }
                }
            }
        }
        problems.extend(
            found
                .into_iter()
                .map(|p| format!("{} step {} ({send}): {p}", file.display(), number + 1)),
        );
    }
    problems
}

fn scenarios(provider: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/idp")
        .join(provider);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

async fn replay_all(provider: &str) {
    let files = scenarios(provider);
    assert!(!files.is_empty(), "no scenarios in tests/idp/{provider}");
    let mut problems = Vec::new();
    for file in &files {
        problems.extend(replay(file).await);
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[tokio::test]
async fn okta_scenarios() {
    replay_all("okta").await;
}

#[tokio::test]
async fn entra_scenarios() {
    replay_all("entra").await;
}

/// What a tenant with an alias serves for the aliased namespace, as an admin reads it.
#[tokio::test]
async fn an_aliased_namespace_is_served_with_the_attributes_the_rules_read() {
    let spec: TenantSpec = serde_yaml::from_str(
        "extensions:\n  aliases:\n    urn:ietf:params:scim:schemas:extension:globex:2.0:User: canon\n",
    )
    .unwrap();
    let h = harness(&spec);
    let (status, body) = h
        .send(
            "GET",
            &format!("{BASE}/Schemas/urn:ietf:params:scim:schemas:extension:globex:2.0:User"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    insta::assert_json_snapshot!("aliased_namespace_schema", body);
    let (_, all) = h.send("GET", &format!("{BASE}/Schemas"), None).await;
    assert_eq!(all["totalResults"], json!(5));
}

/// The subset comparison the scenarios rely on says what differs, and `<absent>` means it.
#[test]
fn subsets_compare_as_documented() {
    let actual = json!({"a": 1, "b": [{"x": 1, "y": 2}], "c": {"d": "e"}});
    let mut out = Vec::new();
    differences(
        &json!({"a": 1, "b": [{"x": 1}], "z": "<absent>"}),
        Some(&actual),
        "r",
        &mut out,
    );
    assert!(out.is_empty(), "{out:?}");
    differences(
        &json!({"a": 2, "b": [], "c": "<absent>", "q": 1}),
        Some(&actual),
        "r",
        &mut out,
    );
    assert_eq!(out.len(), 4, "{out:?}");
}
