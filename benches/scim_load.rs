//! SCIM load benchmark (not a timed test): N concurrent clients on loopback, each creating a
//! user, patching it and looking it up by `userName` (Okta's pattern), against `canon serve`'s
//! router with the real SQLite store, once with a no-op mapper and once with the rules engine.
//!
//! `cargo bench --bench scim_load` (env: `CLIENTS`, default 16; `ROUNDS` per client, default
//! 100; each round is 3 requests). Prints requests/s and p50/p99 latency per request kind.
//!
//! Then the cost of serving safely on the same write path, engine mapper: without a rate
//! limit and without the timing of store and engine calls, then with a limit too high to
//! reject (every request takes a token), then with both (the production set-up). The
//! request metrics layer is in the router in every run.
//!
//! Then a group push as the IdPs' largest (issue 16): `PUSHES` (default 20) PATCHes of 1,000
//! member operations each (500 removals by value filter, 500 additions) on a group of 10,000
//! members (`GROUP_SIZE`), one client; prints p50/p99. Okta and Entra give up after 60 s.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use canon::scim::config::token_hash;
use canon::scim::mapper::{MappedProfile, ProfileMapper};
use canon::scim::rate_limit::RateLimit;
use canon::scim::serve::{serve_on, ServeLimits};
use canon::scim::state::Serving;
use canon::scim::timed_store::TimedStore;
use canon::scim::{app, AppState, Tenant};
use canon::store::{ResourceStore, SqliteStore, TenantId};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

const TOKEN: &str = "bench-token";

/// The write path without the engine: an empty profile.
struct NoEngine;

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

/// A keep-alive HTTP/1.1 client, just enough for the benchmark (one OS thread per client,
/// so the clients do not compete with the server's runtime for its workers).
struct Client {
    stream: BufReader<TcpStream>,
    host: String,
}

impl Client {
    fn connect(address: &str) -> Client {
        let stream = TcpStream::connect(address).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Client {
            stream: BufReader::new(stream),
            host: address.to_string(),
        }
    }

    fn send(&mut self, method: &str, path: &str, body: &str) -> (u16, String) {
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

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// What a run serves with: the tenant's rate limit, and whether store and engine calls are
/// timed into the metrics (as `canon serve` does).
#[derive(Clone, Copy)]
struct Safety {
    rate_limit: RateLimit,
    timed: bool,
}

/// No limit, no timing: the floor the other runs compare with.
const BARE: Safety = Safety {
    rate_limit: RateLimit::Off,
    timed: false,
};

/// Serves the router with the real store in `dir` on a free loopback port; its address.
async fn start(
    dir: &Path,
    mapper: Arc<dyn ProfileMapper>,
    safety: Safety,
) -> (String, tokio::task::JoinHandle<()>) {
    let serving = Serving::default();
    let mut store: Arc<dyn ResourceStore> =
        Arc::new(SqliteStore::open(&dir.join("canon.db")).expect("store"));
    let mut mapper = mapper;
    if safety.timed {
        store = Arc::new(TimedStore::new(store, serving.metrics.clone()));
        mapper = serving.metrics.timed_mapper(mapper);
    }
    let id = TenantId::parse("bench").expect("id");
    let tenant = Arc::new(
        Tenant::new(
            id.clone(),
            token_hash(TOKEN),
            dir.join("x.rules"),
            mapper.clone(),
        )
        .with_rate_limit(safety.rate_limit),
    );
    let state = AppState {
        store,
        tenants: HashMap::from([(id, tenant)]).into(),
        registry: None,
        admin_token_sha256: None,
        max_body_bytes: 1 << 20,
        body_timeout: std::time::Duration::from_secs(30),
        loader: Arc::new(move |_: &Path| Ok(mapper.clone())),
        config_path: None,
        serving,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("addr").to_string();
    let server = tokio::spawn(async move {
        let limits = ServeLimits::default();
        serve_on(
            listener,
            app(Arc::new(state)),
            limits,
            std::future::pending(),
        )
        .await;
    });
    (address, server)
}

async fn run(
    label: &str,
    mapper: Arc<dyn ProfileMapper>,
    safety: Safety,
    clients: usize,
    rounds: usize,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (address, server) = start(dir.path(), mapper, safety).await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let address = address.clone();
        tasks.push(std::thread::spawn(move || {
            let mut client = Client::connect(&address);
            let mut latencies: HashMap<&'static str, Vec<Duration>> = HashMap::new();
            for r in 0..rounds {
                let name = format!("user{c}-{r}@example.com");
                let user = serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": name, "name": {"givenName": "Ana", "familyName": "Diaz"},
                    "title": "Senior Vice-President, Sales", "active": true,
                    "emails": [{"value": name, "type": "work", "primary": true}],
                    "urn:ietf:params:scim:schemas:extension:canon:2.0:User": {"peopleManager": "Yes"}
                });
                let t = Instant::now();
                let (status, body) = client.send("POST", "/t/bench/scim/v2/Users", &user.to_string());
                latencies.entry("create").or_default().push(t.elapsed());
                assert_eq!(status, 201, "{body}");
                let id = serde_json::from_str::<serde_json::Value>(&body).expect("json")["id"]
                    .as_str()
                    .expect("id")
                    .to_string();
                let patch = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"Director of Engineering"}]}"#;
                let t = Instant::now();
                let (status, _) = client.send("PATCH", &format!("/t/bench/scim/v2/Users/{id}"), patch);
                latencies.entry("patch").or_default().push(t.elapsed());
                assert_eq!(status, 200);
                let t = Instant::now();
                let (status, _) = client
                    .send("GET", &format!("/t/bench/scim/v2/Users?filter=userName%20eq%20%22{name}%22&startIndex=1&count=100"), "");
                latencies.entry("lookup").or_default().push(t.elapsed());
                assert_eq!(status, 200);
            }
            latencies
        }));
    }
    let mut all: HashMap<&'static str, Vec<Duration>> = HashMap::new();
    for task in tasks {
        let task = tokio::task::spawn_blocking(move || task.join());
        for (kind, mut values) in task.await.expect("join").expect("client") {
            all.entry(kind).or_default().append(&mut values);
        }
    }
    let elapsed = started.elapsed();
    let total: usize = all.values().map(Vec::len).sum();
    println!(
        "{label:<10} {clients} clients: {total} requests in {:.2}s = {:.0} req/s",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    let mut everything = Vec::new();
    for kind in ["create", "patch", "lookup"] {
        let mut values = all.remove(kind).unwrap_or_default();
        values.sort();
        println!(
            "  {kind:<7} p50 {:>8.2} ms   p99 {:>8.2} ms",
            percentile(&values, 0.5).as_secs_f64() * 1e3,
            percentile(&values, 0.99).as_secs_f64() * 1e3
        );
        everything.extend(values);
    }
    everything.sort();
    println!(
        "  {:<7} p50 {:>8.2} ms   p99 {:>8.2} ms",
        "all",
        percentile(&everything, 0.5).as_secs_f64() * 1e3,
        percentile(&everything, 0.99).as_secs_f64() * 1e3
    );
    server.abort();
}

/// `pushes` PATCHes of `ops` member operations on a group of `size` members: half remove
/// the oldest members by value filter (Okta's form), half add new ones.
async fn member_pushes(size: usize, ops: usize, pushes: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (address, server) = start(dir.path(), Arc::new(NoEngine), BARE).await;
    let latencies = tokio::task::spawn_blocking(move || {
        let mut client = Client::connect(&address);
        let members: Vec<_> = (0..size)
            .map(|i| serde_json::json!({"value": format!("member-{i:08}")}))
            .collect();
        let group = serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Everyone", "members": members});
        let (status, body) = client.send("POST", "/t/bench/scim/v2/Groups", &group.to_string());
        assert_eq!(status, 201, "{body}");
        let id = serde_json::from_str::<serde_json::Value>(&body).expect("json")["id"]
            .as_str()
            .expect("id")
            .to_string();
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
        let user = serde_json::from_str::<serde_json::Value>(&body).expect("json")["id"]
            .as_str()
            .expect("id")
            .to_string();
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
    let (mut sorted, reads) = latencies;
    sorted.sort();
    println!(
        "members    {ops} operations on a group of {size}: {pushes} pushes, p50 {:.1} ms   p99 {:.1} ms",
        percentile(&sorted, 0.5).as_secs_f64() * 1e3,
        percentile(&sorted, 0.99).as_secs_f64() * 1e3
    );
    for (label, times) in ["with groups", "excludedAttributes=groups"]
        .iter()
        .zip(&reads)
    {
        println!(
            "  GET /Users/{{id}} beside that group, {label}: p50 {:.2} ms   p99 {:.2} ms",
            percentile(times, 0.5).as_secs_f64() * 1e3,
            percentile(times, 0.99).as_secs_f64() * 1e3
        );
    }
    server.abort();
}

fn main() {
    let clients = std::env::var("CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let rounds = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/base.rules");
    let program: Arc<dyn ProfileMapper> = Arc::new(canon::Program::load(&rules).expect("rules"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let var = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (size, pushes) = (var("GROUP_SIZE", 10_000), var("PUSHES", 20));
    runtime.block_on(async {
        run("no engine", Arc::new(NoEngine), BARE, clients, rounds).await;
        run("engine", program.clone(), BARE, clients, rounds).await;
        // Serving safely: a limit no run reaches, then the timing of store and engine too.
        let limited = Safety {
            rate_limit: RateLimit::PerSecond(1e9),
            timed: false,
        };
        run("+limit", program.clone(), limited, clients, rounds).await;
        let production = Safety {
            timed: true,
            ..limited
        };
        run("+metrics", program.clone(), production, clients, rounds).await;
        run("engine", program, BARE, clients, rounds).await;
        member_pushes(size, 1000, pushes).await;
    });
}
