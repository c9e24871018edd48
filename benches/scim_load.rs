//! SCIM load benchmark (not a timed test): N concurrent clients on loopback, each creating a
//! user, patching it and looking it up by `userName` (Okta's pattern), against `canon serve`'s
//! router with the real SQLite store, once with a no-op mapper and once with the rules engine.
//!
//! `cargo bench --bench scim_load` (env: `CLIENTS`, default 16; `ROUNDS` per client, default
//! 100; each round is 3 requests). Prints requests/s and p50/p99 latency per request kind.
//!
//! Then the cost of serving safely on the same write path, engine mapper: bare (no rate
//! limit, no activity log, store and engine calls not timed), then each layer alone (a limit
//! too high to reject, so every request takes a token; the activity log, every request
//! recorded in the store; the timing), then all three (the production set-up), then bare
//! again; `SAFETY_RUNS` (default 2) rounds of that sequence, so each figure has a spread. The
//! request metrics layer and the bound in flight are in the router in every run.
//!
//! Then a group push as the IdPs' largest (issue 16): `PUSHES` (default 20) PATCHes of 1,000
//! member operations each (500 removals by value filter, 500 additions) on a group of 10,000
//! members (`GROUP_SIZE`), one client; prints p50/p99. Okta and Entra give up after 60 s.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use canon::scim::mapper::ProfileMapper;
use canon::scim::rate_limit::RateLimit;
use canon::store::SqliteStore;

#[path = "common/load.rs"]
mod load;

use load::{
    id_of, member_pushes, ms, percentile, start, user_body, Client, NoEngine, Safety, BARE,
};

async fn run(
    label: &str,
    mapper: Arc<dyn ProfileMapper>,
    safety: Safety,
    clients: usize,
    rounds: usize,
) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(&dir.path().join("canon.db")).expect("store"));
    let (address, server) = start(store, mapper, safety).await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let address = address.clone();
        tasks.push(std::thread::spawn(move || {
            let mut client = Client::connect(&address);
            let mut latencies: HashMap<&'static str, Vec<Duration>> = HashMap::new();
            for r in 0..rounds {
                let name = format!("user{c}-{r}@example.com");
                let t = Instant::now();
                let (status, body) = client.send("POST", "/t/bench/scim/v2/Users", &user_body(&name));
                latencies.entry("create").or_default().push(t.elapsed());
                assert_eq!(status, 201, "{body}");
                let id = id_of(&body);
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
            ms(percentile(&values, 0.5)),
            ms(percentile(&values, 0.99))
        );
        everything.extend(values);
    }
    everything.sort();
    println!(
        "  {:<7} p50 {:>8.2} ms   p99 {:>8.2} ms",
        "all",
        ms(percentile(&everything, 0.5)),
        ms(percentile(&everything, 0.99))
    );
    server.abort();
    total as f64 / elapsed.as_secs_f64()
}

fn main() {
    let var = load::env_or;
    let (clients, rounds) = (var("CLIENTS", 16), var("ROUNDS", 100));
    let (size, pushes) = (var("GROUP_SIZE", 10_000), var("PUSHES", 20));
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/base.rules");
    let program: Arc<dyn ProfileMapper> = Arc::new(canon::Program::load(&rules).expect("rules"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        run("no engine", Arc::new(NoEngine), BARE, clients, rounds).await;
        run("engine", program.clone(), BARE, clients, rounds).await;
        // Serving safely: each layer alone, then all of them, against bare runs between.
        let limit = RateLimit::PerSecond(1e9);
        let set_ups = [
            ("bare", BARE),
            (
                "+limit",
                Safety {
                    rate_limit: limit,
                    ..BARE
                },
            ),
            (
                "+activity",
                Safety {
                    activity: true,
                    ..BARE
                },
            ),
            (
                "+timing",
                Safety {
                    timed: true,
                    ..BARE
                },
            ),
            (
                "+all",
                Safety {
                    rate_limit: limit,
                    timed: true,
                    activity: true,
                },
            ),
        ];
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); set_ups.len()];
        for _ in 0..var("SAFETY_RUNS", 2) {
            for ((label, safety), rates) in set_ups.iter().zip(&mut rates) {
                rates.push(run(label, program.clone(), *safety, clients, rounds).await);
            }
        }
        println!("serving safely, req/s of the engine's write path (runs interleaved):");
        let bare = median(&rates[0]);
        for ((label, _), rates) in set_ups.iter().zip(&rates) {
            let shown: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
            println!(
                "  {label:<10} median {:>6.0}   {:>+5.1}% of bare   runs: {}",
                median(rates),
                (median(rates) / bare - 1.0) * 100.0,
                shown.join(", ")
            );
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(SqliteStore::open(&dir.path().join("members.db")).expect("store"));
        member_pushes("members", store, size, 1000, pushes).await;
    });
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}
