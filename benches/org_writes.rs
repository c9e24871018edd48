//! Organisation-graph writes on a big tenant (issue 21): what a user write costs when the
//! tenant's rules derive `people_manager` from who names whom as manager (the default pack
//! does), on a tenant of `USERS` users (default 100,000; one in ten is a manager).
//!
//! The tenant is loaded into a SQLite store directly, then served in-process (the router
//! with `oneshot`, as tests/scim_api.rs does). First one write alone (it may have to index
//! the tenant), then `CLIENTS` (default 4) clients send `WRITES` (default 2,000) writes in
//! turns: a create naming a manager by email, Okta's PATCH of the enterprise `manager`
//! (another manager, by id), Entra's PATCH of `manager` by bare id, and a deactivation.
//! Prints writes/s and p50/p99, and the same for `userName eq` lookups as the floor.
//!
//! `cargo bench --bench org_writes` (env `USERS`, `CLIENTS`, `WRITES`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request as HttpRequest;
use canon::scim::config::token_hash;
use canon::scim::mapper::ProfileMapper;
use canon::scim::rate_limit::RateLimit;
use canon::scim::state::Serving;
use canon::scim::{app, AppState, Tenant};
use canon::store::{Kind, ResourceStore, SqliteStore, TenantId, Write};
use serde_json::{json, Value};
use tower::ServiceExt;

const TOKEN: &str = "bench-token";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const CANON: &str = "urn:ietf:params:scim:schemas:extension:canon:2.0:User";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn email(n: usize) -> String {
    format!("user{n:07}@example.com")
}

/// User `n`: every tenth is a manager; the others name the manager of their block of ten
/// by email.
fn user(n: usize) -> Value {
    let mut body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": email(n),
        "name": {"givenName": "Ana", "familyName": format!("Diaz{n}")},
        "title": "Account Executive",
        "active": true,
        "emails": [{"value": email(n), "type": "work", "primary": true}],
    });
    if !n.is_multiple_of(10) {
        body[CANON] = json!({"managerEmail": email(n - n % 10)});
    }
    body
}

/// Loads `users` users into the store, eight writers at a time (the writes share commits).
fn load(store: &Arc<dyn ResourceStore>, tenant: &TenantId, users: usize) -> Vec<String> {
    let ids = std::sync::Mutex::new(vec![String::new(); users]);
    std::thread::scope(|scope| {
        for worker in 0..8 {
            let (store, ids) = (store.clone(), &ids);
            scope.spawn(move || {
                for n in (worker..users).step_by(8) {
                    let body = user(n);
                    let write = Write {
                        unique_key: Some(email(n)),
                        body,
                        profile: None,
                    };
                    let id = store.create(tenant, Kind::User, write).expect("load").id;
                    ids.lock().expect("ids")[n] = id;
                }
            });
        }
    });
    ids.into_inner().expect("ids")
}

async fn send(app: &axum::Router, method: &str, uri: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = HttpRequest::builder()
        .method(method)
        .uri(uri)
        .header("host", "canon.bench")
        .header("authorization", format!("Bearer {TOKEN}"));
    if body.is_some() {
        request = request.header("content-type", "application/scim+json");
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body)).expect("request"))
        .await
        .expect("response");
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, value)
}

fn patch(path: &str, value: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": path, "value": value}]})
}

/// One request: method, path, body, the status it must get.
type Request = (&'static str, String, Option<Value>, u16);

/// The `i`-th write of the run.
fn write_of(i: usize, users: usize, ids: &[String]) -> Request {
    let managers = users / 10;
    // A manager far from the user's own, so every write moves a report between two.
    let manager = |k: usize| ids[(k * 7919 % managers) * 10].clone();
    let report = |k: usize| {
        let n = (k * 104_729) % users;
        if n.is_multiple_of(10) {
            n + 1
        } else {
            n
        }
    };
    let users_path = "/t/bench/scim/v2/Users";
    match i % 4 {
        0 => {
            let mut body = user(users + i);
            body[CANON] = json!({"managerEmail": email((i * 7919 % managers) * 10)});
            ("POST", users_path.into(), Some(body), 201)
        }
        1 => {
            let path = format!("{users_path}/{}", ids[report(i)]);
            let body = patch(
                &format!("{ENTERPRISE}:manager"),
                json!({"value": manager(i)}),
            );
            ("PATCH", path, Some(body), 200)
        }
        2 => {
            // Entra sends the manager's id bare.
            let path = format!("{users_path}/{}", ids[report(i)]);
            let op = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "Add", "path": format!("{ENTERPRISE}:manager"), "value": manager(i)}]});
            ("PATCH", path, Some(op), 200)
        }
        _ => {
            let path = format!("{users_path}/{}", ids[report(i)]);
            ("PATCH", path, Some(patch("active", json!(false))), 200)
        }
    }
}

/// `total` requests from `clients` concurrent clients; requests/s and sorted latencies.
async fn phase(
    app: &axum::Router,
    clients: usize,
    total: usize,
    request: Arc<dyn Fn(usize) -> Request + Send + Sync>,
) -> (f64, Vec<Duration>) {
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (app, request) = (app.clone(), request.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                for i in (c..total).step_by(clients) {
                    let (method, path, body, wanted) = request(i);
                    let t = Instant::now();
                    let (status, answer) = send(&app, method, &path, body).await;
                    latencies.push(t.elapsed());
                    assert_eq!(status, wanted, "{method} {path}: {answer}");
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("client"));
    }
    let per_second = latencies.len() as f64 / started.elapsed().as_secs_f64();
    latencies.sort();
    (per_second, latencies)
}

fn print(label: &str, (per_second, latencies): &(f64, Vec<Duration>)) {
    println!(
        "  {label:<34} {:>8.1}/s   p50 {:>8.2} ms   p99 {:>8.2} ms",
        per_second,
        percentile(latencies, 0.5).as_secs_f64() * 1e3,
        percentile(latencies, 0.99).as_secs_f64() * 1e3
    );
}

fn main() {
    let var = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (users, clients, writes) = (
        var("USERS", 100_000),
        var("CLIENTS", 4),
        var("WRITES", 2000),
    );
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/default.rules");
    let program: Arc<dyn ProfileMapper> = Arc::new(canon::Program::load(&rules).expect("rules"));
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn ResourceStore> =
        Arc::new(SqliteStore::open(&dir.path().join("org.db")).expect("store"));
    let tenant = TenantId::parse("bench").expect("id");
    let started = Instant::now();
    let ids = Arc::new(load(&store, &tenant, users));
    println!(
        "{users} users loaded in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let state = AppState {
        store,
        tenants: HashMap::from([(
            tenant.clone(),
            Arc::new(
                Tenant::new(tenant, token_hash(TOKEN), rules.clone(), program.clone())
                    .with_rate_limit(RateLimit::Off),
            ),
        )])
        .into(),
        registry: None,
        admin_token_sha256: None,
        max_body_bytes: 1 << 20,
        body_timeout: Duration::from_secs(30),
        loader: Arc::new(move |_: &Path| Ok(program.clone())),
        config_path: None,
        serving: Serving::default(),
    };
    let app = app(Arc::new(state));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let t = Instant::now();
        let (method, path, body, wanted) = write_of(1, users, &ids);
        let (status, answer) = send(&app, method, &path, body).await;
        assert_eq!(status, wanted, "{answer}");
        println!(
            "first write (indexes the tenant where needed): {:.1} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
        println!("{clients} clients, {writes} writes, tenant of {users} users:");
        let ids_w = ids.clone();
        let written = phase(
            &app,
            clients,
            writes,
            Arc::new(move |i| write_of(i + 4, users, &ids_w)),
        )
        .await;
        print("writes (create, 2 manager PATCHes, deactivate)", &written);
        let lookups = phase(
            &app,
            clients,
            writes,
            Arc::new(move |i| {
                let path = format!(
                    "/t/bench/scim/v2/Users?filter=userName%20eq%20%22{}%22",
                    email(i * 7 % users)
                );
                ("GET", path, None, 200)
            }),
        )
        .await;
        print("lookups by userName (the floor)", &lookups);
        println!("  writes/s ÷ lookups/s: {:.3}", written.0 / lookups.0);
    });
}
