//! List benchmark (not a timed test): a tenant of `USERS` users (default 100,000) in the real
//! SQLite store, and list requests through the router in-process: a first page, pages deep
//! into the tenant, the lookups IdPs make (`userName`, `externalId`, an email), and a filter
//! no index answers. Prints per request kind: p50 and p99 latency, and how much the process's
//! resident memory grew over its requests.
//!
//! `cargo bench --bench scim_list` (env `USERS`; `REPS`, requests per kind, default 100). The
//! store lives in /dev/shm when there is one: filling it is then not bound by fsync, which
//! the requests measured (reads) do not do.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use canon::scim::config::token_hash;
use canon::scim::mapper::{MappedProfile, ProfileMapper};
use canon::scim::{app, AppState, Tenant};
use canon::store::{Kind, ResourceStore, SqliteStore, TenantId, Write};
use serde_json::{json, Value};
use tower::ServiceExt;

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

/// The process's resident memory, in MiB (Linux; 0 elsewhere).
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The request URI of the `i`th request of a kind.
type UriOf = dyn Fn(usize) -> String;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len().max(1) as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

fn user(n: usize) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": format!("user{n}@example.com"), "externalId": format!("00u{n:08}"),
        "name": {"givenName": "Ana", "familyName": format!("Diaz{n}")},
        "title": "Senior Vice-President, Sales", "active": true,
        "emails": [{"value": format!("User{n}@Example.com"), "type": "work", "primary": true}]})
}

async fn get(app: &axum::Router, uri: &str) -> Value {
    let request = Request::builder()
        .uri(uri)
        .header("authorization", "Bearer t")
        .body(Body::empty())
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("response");
    assert_eq!(response.status(), 200, "{uri}");
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    serde_json::from_slice(&bytes).expect("json")
}

fn main() {
    let users: usize = std::env::var("USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let reps: usize = std::env::var("REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let shm = Path::new("/dev/shm");
    let dir = match shm.is_dir() {
        true => tempfile::tempdir_in(shm),
        false => tempfile::tempdir(),
    }
    .expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("canon.db")).expect("store");
    let id = TenantId::parse("big").expect("id");
    let started = Instant::now();
    for n in 0..users {
        let write = Write {
            body: user(n),
            unique_key: Some(format!("user{n}@example.com")),
            profile: None,
        };
        store.create(&id, Kind::User, write).expect("create");
    }
    println!(
        "{users} users stored in {:.1}s ({})",
        started.elapsed().as_secs_f64(),
        dir.path().display()
    );
    let mapper: Arc<dyn ProfileMapper> = Arc::new(NoEngine);
    let tenant = Tenant::new(
        id.clone(),
        token_hash("t"),
        dir.path().join("x.rules"),
        mapper.clone(),
    )
    // Measures lists, not the rate limit.
    .with_rate_limit(canon::scim::rate_limit::RateLimit::Off);
    let state = AppState {
        store: Arc::new(store),
        tenants: HashMap::from([(id, Arc::new(tenant))]).into(),
        registry: None,
        admin_token_sha256: None,
        max_body_bytes: 1 << 20,
        body_timeout: Duration::from_secs(30),
        loader: Arc::new(move |_: &Path| Ok(mapper.clone())),
        config_path: None,
        serving: Default::default(),
    };
    let app = app(Arc::new(state));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let last = users.saturating_sub(100) + 1;
    let kinds: Vec<(&str, Box<UriOf>)> = vec![
        (
            "first page, count=1",
            Box::new(|_| "/t/big/scim/v2/Users?count=1".into()),
        ),
        (
            "page of 100 in the middle",
            Box::new(move |_| format!("/t/big/scim/v2/Users?startIndex={}&count=100", users / 2)),
        ),
        (
            "last page of 100",
            Box::new(move |_| format!("/t/big/scim/v2/Users?startIndex={last}&count=100")),
        ),
        (
            "userName eq",
            Box::new(move |i| {
                format!(
                    "/t/big/scim/v2/Users?filter=userName%20eq%20%22user{}@example.com%22",
                    i * 7919 % users
                )
            }),
        ),
        (
            "externalId eq",
            Box::new(move |i| {
                format!(
                    "/t/big/scim/v2/Users?filter=externalId%20eq%20%2200u{:08}%22",
                    i * 7919 % users
                )
            }),
        ),
        (
            "emails[type eq work and value eq]",
            Box::new(move |i| {
                format!(
                    "/t/big/scim/v2/Users?filter=emails%5Btype%20eq%20%22work%22%20and%20value%20eq%20%22user{}@example.com%22%5D",
                    i * 7919 % users
                )
            }),
        ),
        (
            "title co (no index), count=10",
            Box::new(|_| "/t/big/scim/v2/Users?filter=title%20co%20%22zz%22&count=10".into()),
        ),
    ];
    println!(
        "{:<36} {:>6} {:>10} {:>10} {:>12} {:>10}",
        "request", "reps", "p50 ms", "p99 ms", "RSS MiB", "growth"
    );
    runtime.block_on(async {
        for (label, uri) in &kinds {
            // A scan reads the whole tenant: fewer of them.
            let reps = if label.contains("no index") {
                reps.div_ceil(20)
            } else {
                reps
            };
            let before = rss_mib();
            let mut times = Vec::with_capacity(reps);
            for i in 0..reps {
                let t = Instant::now();
                let body = get(&app, &uri(i)).await;
                times.push(t.elapsed());
                assert!(body["totalResults"].as_u64().is_some());
            }
            times.sort();
            let after = rss_mib();
            println!(
                "{label:<36} {reps:>6} {:>10.2} {:>10.2} {:>12.1} {:>+10.1}",
                percentile(&times, 0.5).as_secs_f64() * 1e3,
                percentile(&times, 0.99).as_secs_f64() * 1e3,
                after,
                after - before
            );
        }
    });
}
