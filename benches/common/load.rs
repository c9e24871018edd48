//! What the SCIM load benchmarks share (`#[path = "common/load.rs"] mod load;`): a keep-alive
//! HTTP/1.1 client, the router served on loopback with or without each safety layer, the
//! bench's user body, percentiles, and the IdPs' largest group push.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use canon::scim::config::token_hash;
use canon::scim::mapper::{MappedProfile, ProfileMapper};
use canon::scim::rate_limit::RateLimit;
use canon::scim::registry::Registry;
use canon::scim::serve::{serve_on, ServeLimits};
use canon::scim::state::Serving;
use canon::scim::timed_store::TimedStore;
use canon::scim::{app, AppState, Tenant};
use canon::store::{ResourceStore, Store, TenantId};

pub const TOKEN: &str = "bench-token";

/// The write path without the engine: an empty profile.
pub struct NoEngine;

impl ProfileMapper for NoEngine {
    fn version(&self) -> String {
        "none".into()
    }
    fn map(&self, _: &serde_json::Value) -> MappedProfile {
        MappedProfile {
            fields: serde_json::json!({}),
            rules: serde_json::json!({}),
            rule_version: "none".into(),
            missing: Vec::new(),
        }
    }
}

/// A keep-alive HTTP/1.1 client, just enough for the benchmarks (one OS thread per client,
/// so the clients do not compete with the server's runtime for its workers).
pub struct Client {
    stream: BufReader<TcpStream>,
    host: String,
}

impl Client {
    pub fn connect(address: &str) -> Client {
        let stream = TcpStream::connect(address).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Client {
            stream: BufReader::new(stream),
            host: address.to_string(),
        }
    }

    /// One request with the tenant's token; the status and the body.
    pub fn send(&mut self, method: &str, path: &str, body: &str) -> (u16, String) {
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        );
        self.stream
            .get_mut()
            .write_all(request.as_bytes())
            .expect("write");
        let mut line = String::new();
        self.stream.read_line(&mut line).expect("status line");
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut length = 0;
        loop {
            line.clear();
            self.stream.read_line(&mut line).expect("header");
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).expect("body");
        (status, String::from_utf8_lossy(&body).into_owned())
    }
}

/// A whole number from the environment (`CLIENTS`, `ROUNDS`, …), else `default`.
pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// The bench's one shape of user, named `name`.
pub fn user_body(name: &str) -> String {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name, "name": {"givenName": "Ana", "familyName": "Diaz"},
        "title": "Senior Vice-President, Sales", "active": true,
        "emails": [{"value": name, "type": "work", "primary": true}],
        "urn:ietf:params:scim:schemas:extension:canon:2.0:User": {"peopleManager": "Yes"}
    })
    .to_string()
}

/// What a run serves with, beside the request metrics layer and the bound in flight that the
/// router always has.
#[derive(Clone, Copy)]
pub struct Safety {
    /// The tenant's rate limit.
    pub rate_limit: RateLimit,
    /// Store calls and engine runs timed into the metrics' histograms.
    pub timed: bool,
    /// Every request recorded in the tenant's activity log (a registry on the store).
    pub activity: bool,
}

/// None of them: the floor other runs compare with.
pub const BARE: Safety = Safety {
    rate_limit: RateLimit::Off,
    timed: false,
    activity: false,
};

/// Serves the router for tenant `bench` on `store`, on a free loopback port; its address.
pub async fn start(
    store: Arc<dyn Store>,
    mapper: Arc<dyn ProfileMapper>,
    safety: Safety,
) -> (String, tokio::task::JoinHandle<()>) {
    let serving = Serving::default();
    let registry = safety
        .activity
        .then(|| Arc::new(Registry::new(store.clone(), Registry::engine())));
    let mut resources: Arc<dyn ResourceStore> = store;
    let mut mapper = mapper;
    if safety.timed {
        resources = Arc::new(TimedStore::new(resources, serving.metrics.clone()));
        mapper = serving.metrics.timed_mapper(mapper);
    }
    let id = TenantId::parse("bench").expect("id");
    let tenant = Arc::new(
        Tenant::new(
            id.clone(),
            token_hash(TOKEN),
            "bench.rules".into(),
            mapper.clone(),
        )
        .with_rate_limit(safety.rate_limit),
    );
    let state = AppState {
        store: resources,
        tenants: HashMap::from([(id, tenant)]).into(),
        registry,
        admin_token_sha256: None,
        max_body_bytes: 1 << 20,
        body_timeout: Duration::from_secs(30),
        loader: Arc::new(move |_: &Path| Ok(mapper.clone())),
        config_path: None,
        serving,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("addr").to_string();
    let server = tokio::spawn(async move {
        serve_on(
            listener,
            app(Arc::new(state)),
            ServeLimits::default(),
            std::future::pending(),
        )
        .await;
    });
    (address, server)
}

/// The IdPs' largest group push (issue 16): `pushes` PATCHes of `ops` member operations on a
/// group of `size` members, half removing the oldest members by value filter (Okta's form),
/// half adding new ones; one client. Then a user's read beside that group, with and without
/// its `groups`. Prints the figures; the PATCHes' p99.
pub async fn member_pushes(
    label: &str,
    store: Arc<dyn Store>,
    size: usize,
    ops: usize,
    pushes: usize,
) -> Duration {
    let (address, server) = start(store, Arc::new(NoEngine), BARE).await;
    let (mut sorted, reads) = tokio::task::spawn_blocking(move || {
        let mut client = Client::connect(&address);
        let members: Vec<_> = (0..size)
            .map(|i| serde_json::json!({"value": format!("member-{i:08}")}))
            .collect();
        let group = serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Everyone", "members": members});
        let (status, body) = client.send("POST", "/t/bench/scim/v2/Groups", &group.to_string());
        assert_eq!(status, 201, "{body}");
        let id = id_of(&body);
        let (mut oldest, mut next) = (0, size);
        let mut latencies = Vec::new();
        for _ in 0..pushes {
            let mut operations = Vec::with_capacity(ops);
            for _ in 0..ops / 2 {
                let path = format!("members[value eq \"member-{oldest:08}\"]");
                operations.push(serde_json::json!({"op": "remove", "path": path}));
                oldest += 1;
            }
            for _ in ops / 2..ops {
                let value = [serde_json::json!({"value": format!("member-{next:08}")})];
                operations.push(serde_json::json!({"op": "add", "path": "members", "value": value}));
                next += 1;
            }
            let patch = serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": operations});
            let t = Instant::now();
            let (status, body) =
                client.send("PATCH", &format!("/t/bench/scim/v2/Groups/{id}"), &patch.to_string());
            latencies.push(t.elapsed());
            assert_eq!(status, 200, "{body}");
        }
        // A user's read computes its `groups` by searching the group bodies for its id.
        let user = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"reader@example.com"}"#;
        let (status, body) = client.send("POST", "/t/bench/scim/v2/Users", user);
        assert_eq!(status, 201, "{body}");
        let user = id_of(&body);
        let mut reads = Vec::new();
        for query in ["", "?excludedAttributes=groups"] {
            let mut times = Vec::new();
            for _ in 0..200 {
                let t = Instant::now();
                let (status, _) = client.send("GET", &format!("/t/bench/scim/v2/Users/{user}{query}"), "");
                times.push(t.elapsed());
                assert_eq!(status, 200);
            }
            times.sort();
            reads.push(times);
        }
        (latencies, reads)
    })
    .await
    .expect("client");
    server.abort();
    sorted.sort();
    println!(
        "{label}: {ops} member operations on a group of {size}: {pushes} pushes, p50 {:.1} ms   p99 {:.1} ms",
        ms(percentile(&sorted, 0.5)),
        ms(percentile(&sorted, 0.99))
    );
    for (label, times) in ["with groups", "excludedAttributes=groups"]
        .iter()
        .zip(&reads)
    {
        println!(
            "  GET /Users/{{id}} beside that group, {label}: p50 {:.2} ms   p99 {:.2} ms",
            ms(percentile(times, 0.5)),
            ms(percentile(times, 0.99))
        );
    }
    percentile(&sorted, 0.99)
}

/// The `id` of a created resource's body.
pub fn id_of(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body).expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string()
}
