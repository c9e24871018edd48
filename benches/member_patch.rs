//! Member PATCH benchmark (not a timed test): one group PATCH that adds, then removes, N
//! members by a value list (`{"op":"add","path":"members","value":[…]}`, Okta's and Entra's
//! shape), against the real router and SQLite store; and, while it runs, user creates by
//! another tenant one after another, which need the same single writer.
//!
//! `cargo bench --bench member_patch` (env `MEMBERS`, default `20000,40000`). The group
//! starts with one member, so the add merges into a list. Prints, per size: the body size,
//! each PATCH's time, and the slowest of the other tenant's creates during each.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use canon::scim::config::token_hash;
use canon::scim::mapper::{MappedProfile, ProfileMapper};
use canon::scim::{app, AppState, Tenant};
use canon::store::{SqliteStore, TenantId};
use serde_json::{json, Value};
use tower::ServiceExt;

/// The write path without the engine: a group PATCH does not run it anyway.
struct NoEngine;

impl ProfileMapper for NoEngine {
    fn version(&self) -> String {
        "none".into()
    }
    fn map(&self, _: &Value) -> MappedProfile {
        MappedProfile {
            fields: json!({}),
            rules: json!({}),
            rule_version: "none".into(),
            missing: Vec::new(),
        }
    }
}

async fn send(app: &axum::Router, method: &str, path: &str, token: &str, body: String) -> u16 {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/scim+json")
        .body(Body::from(body))
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("response");
    let status = response.status().as_u16();
    // Read the body: the time to render it is part of the request.
    let _ = axum::body::to_bytes(response.into_body(), usize::MAX).await;
    status
}

/// The PATCH `op` of `members` by a value list of `n` ids, as a body.
fn member_patch(op: &str, n: usize) -> String {
    let members: Vec<Value> = (0..n)
        .map(|i| json!({"value": format!("2819c223-7f76-453a-919d-{i:012}")}))
        .collect();
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": op, "path": "members", "value": members}]})
    .to_string()
}

/// Runs `patch` for the big tenant while the other tenant creates users one after another:
/// the PATCH's time, and the slowest create that overlapped it.
async fn during(app: &axum::Router, path: &str, patch: String, n: usize) -> (Duration, Duration) {
    let started = Instant::now();
    let mut big = {
        let app = app.clone();
        let path = path.to_string();
        tokio::spawn(async move {
            let status = send(&app, "PATCH", &path, "big", patch).await;
            assert_eq!(status, 200, "the member PATCH failed");
            started.elapsed()
        })
    };
    let mut slowest = Duration::ZERO;
    for i in 0.. {
        let user = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": format!("other-{n}-{i}-{}@example.com", started.elapsed().as_nanos())});
        let t = Instant::now();
        let status = send(
            app,
            "POST",
            "/t/other/scim/v2/Users",
            "other",
            user.to_string(),
        )
        .await;
        slowest = slowest.max(t.elapsed());
        assert_eq!(status, 201);
        if big.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    ((&mut big).await.expect("patch task"), slowest)
}

async fn run(sizes: &[usize]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("canon.db")).expect("store");
    let mapper: Arc<dyn ProfileMapper> = Arc::new(NoEngine);
    let mut tenants = HashMap::new();
    for name in ["big", "other"] {
        let id = TenantId::parse(name).expect("id");
        let tenant = Tenant::new(
            id.clone(),
            token_hash(name),
            dir.path().join("x.rules"),
            mapper.clone(),
        )
        // Measures the writer, not the rate limit.
        .with_rate_limit(canon::scim::rate_limit::RateLimit::Off);
        tenants.insert(id, Arc::new(tenant));
    }
    let state = AppState {
        store: Arc::new(store),
        tenants: tenants.into(),
        registry: None,
        admin_token_sha256: None,
        max_body_bytes: 4 << 20,
        body_timeout: Duration::from_secs(30),
        loader: Arc::new(move |_: &Path| Ok(mapper.clone())),
        config_path: None,
        serving: Default::default(),
    };
    let app = app(Arc::new(state));
    println!("members   body      add PATCH   slowest other create   remove PATCH   slowest other create");
    for &n in sizes {
        let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": format!("group {n}"), "members": [{"value": "first"}]});
        let request = Request::builder()
            .method("POST")
            .uri("/t/big/scim/v2/Groups")
            .header("authorization", "Bearer big")
            .header("content-type", "application/scim+json")
            .body(Body::from(group.to_string()))
            .expect("request");
        let response = app.clone().oneshot(request).await.expect("response");
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        let created: Value = serde_json::from_slice(&bytes).expect("json");
        let path = format!(
            "/t/big/scim/v2/Groups/{}",
            created["id"].as_str().expect("id")
        );
        let add = member_patch("add", n);
        let size = add.len();
        let (add_time, add_other) = during(&app, &path, add, n).await;
        let (remove_time, remove_other) = during(&app, &path, member_patch("remove", n), n).await;
        println!(
            "{n:>7} {:>5} KB {:>9.3} s {:>15.3} s {:>14.3} s {:>15.3} s",
            size / 1024,
            add_time.as_secs_f64(),
            add_other.as_secs_f64(),
            remove_time.as_secs_f64(),
            remove_other.as_secs_f64(),
        );
    }
}

fn main() {
    let sizes: Vec<usize> = std::env::var("MEMBERS")
        .unwrap_or_else(|_| "20000,40000".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(&sizes));
}
