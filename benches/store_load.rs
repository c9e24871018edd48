//! Store load benchmark (not a timed test), issue 18's measurement: N keep-alive clients on
//! loopback against `canon serve`'s router with the default rule pack, in three phases:
//! every client creates users, then deactivates them with a PATCH, then looks them up by
//! `userName` (Okta's sequence); prints each phase's requests/s, p50/p99, and the process's
//! CPU time per request and cores used (server and clients: with both phases bound by the
//! CPU, creates ÷ lookups tends to a lookup's CPU ÷ a create's; PostgreSQL's own processes
//! are not counted).
//!
//! `cargo bench --bench store_load` (env: `CLIENTS`, default 16; `ROUNDS` per client and
//! phase, default 5,000 ÷ clients; `POSTGRES=0` leaves PostgreSQL out).
//!
//! The default pack as shipped declares `reports_to`, so every user write keeps the
//! organisation graph: that is what is measured unless `ORG_GRAPH=0`. As Okta pushes an
//! organisation, each user names a manager (`managerEmail`): each client's first user, so
//! every create and deactivation of a client also recomputes its manager's profile, and
//! the 16 clients' writes touch 16 different managers (`MANAGERS=0`: nobody is named).
//!
//! Then a group push as the IdPs' largest (issue 16): `PUSHES` (default 20) PATCHes of 1,000
//! member operations each (500 removals by value filter, 500 additions) on a group of 10,000
//! members (`GROUP_SIZE`), one client; prints p50/p99. Okta and Entra give up after 60 s.
//! Last, issue 18's targets, each a ratio or bound measured in this run.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use canon::scim::mapper::ProfileMapper;
use canon::store::{SqliteStore, Store};

#[path = "common/load.rs"]
mod load;

/// The allocator `canon serve` runs with (src/main.rs): every request allocates and frees
/// JSON, so the system allocator would measure another program.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use load::{id_of, member_pushes, ms, percentile, start, user_body, Client, BARE};

/// Where `user_body` sends `peopleManager`, and a user here names its manager.
const CANON_EXTENSION: &str = "urn:ietf:params:scim:schemas:extension:canon:2.0:User";

/// The default pack with its organisation graph left out (`ORG_GRAPH=0`): user writes then
/// keep no index and recompute no manager, the store's cost alone.
struct WithoutOrgGraph(Arc<dyn ProfileMapper>);

impl ProfileMapper for WithoutOrgGraph {
    fn version(&self) -> String {
        self.0.version()
    }
    fn map(&self, user: &serde_json::Value) -> canon::scim::mapper::MappedProfile {
        self.0.map(user)
    }
}

/// What one phase of the run measured: requests per second and latencies.
struct Phase {
    per_second: f64,
    latencies: Vec<Duration>,
    /// The whole process's CPU time over the phase (server and clients), in seconds.
    cpu: f64,
    elapsed: f64,
}

/// This process's CPU time so far (user + system, all threads), in seconds: Linux's
/// `/proc/self/stat`, in clock ticks of 10 ms (0 where it cannot be read).
fn process_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// A client's request of a round: method, path, body, and the status it must get.
type RequestOf = dyn Fn(usize, usize) -> (&'static str, String, String, u16) + Send + Sync;

/// Every client sends its requests of one kind (`request(client, round)` gives method, path,
/// body and the status wanted) as fast as it is answered; all clients start together.
fn phase(
    address: &str,
    clients: usize,
    rounds: usize,
    request: Arc<RequestOf>,
) -> (Phase, Vec<Vec<String>>) {
    let barrier = Arc::new(std::sync::Barrier::new(clients + 1));
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let (address, barrier, request) =
                (address.to_string(), barrier.clone(), request.clone());
            std::thread::spawn(move || {
                let mut client = Client::connect(&address);
                barrier.wait();
                let mut latencies = Vec::with_capacity(rounds);
                let mut bodies = Vec::with_capacity(rounds);
                for r in 0..rounds {
                    let (method, path, body, wanted) = request(c, r);
                    let t = Instant::now();
                    let (status, answer) = client.send(method, &path, &body);
                    latencies.push(t.elapsed());
                    assert_eq!(status, wanted, "{method} {path}: {answer}");
                    bodies.push(answer);
                }
                (latencies, bodies)
            })
        })
        .collect();
    barrier.wait();
    let started = Instant::now();
    let cpu_before = process_cpu();
    let mut latencies = Vec::new();
    let mut bodies = Vec::new();
    for thread in threads {
        let (mut times, answers) = thread.join().expect("client");
        latencies.append(&mut times);
        bodies.push(answers);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = process_cpu() - cpu_before;
    latencies.sort();
    let per_second = latencies.len() as f64 / elapsed;
    (
        Phase {
            per_second,
            latencies,
            cpu,
            elapsed,
        },
        bodies,
    )
}

/// Okta's sequence in three phases, as issue 18 measured it: `clients × rounds` creates,
/// then as many PATCH deactivations, then as many `userName eq` lookups.
async fn run(
    label: &str,
    store: Arc<dyn Store>,
    mapper: Arc<dyn ProfileMapper>,
    clients: usize,
    rounds: usize,
    managers: bool,
) -> [Phase; 3] {
    // No rate limit, no activity log: the store is measured, not the safety layers
    // (scim_load measures those).
    let (address, server) = start(store, mapper, BARE).await;
    let phases = tokio::task::spawn_blocking(move || {
        let name = |c: usize, r: usize| format!("user{c}-{r}@example.com");
        let (creates, bodies) = phase(
            &address,
            clients,
            rounds,
            Arc::new(move |c, r| {
                let mut body = user_body(&name(c, r));
                if managers && r > 0 {
                    // In Canon's extension, where the SCIM service keeps it (an attribute
                    // at the top level that no schema declares is dropped on the way in).
                    let mut user: serde_json::Value = serde_json::from_str(&body).expect("body");
                    user[CANON_EXTENSION]["managerEmail"] = name(c, 0).into();
                    body = user.to_string();
                }
                ("POST", "/t/bench/scim/v2/Users".into(), body, 201)
            }),
        );
        let ids: Arc<Vec<Vec<String>>> = Arc::new(
            bodies
                .iter()
                .map(|client| client.iter().map(|body| id_of(body)).collect())
                .collect(),
        );
        let deactivate = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}"#;
        let (patches, _) = phase(
            &address,
            clients,
            rounds,
            Arc::new(move |c, r| {
                let path = format!("/t/bench/scim/v2/Users/{}", ids[c][r]);
                ("PATCH", path, deactivate.to_string(), 200)
            }),
        );
        let (lookups, _) = phase(
            &address,
            clients,
            rounds,
            Arc::new(move |c, r| {
                let path = format!("/t/bench/scim/v2/Users?filter=userName%20eq%20%22{}%22&startIndex=1&count=100", name(c, r));
                ("GET", path, String::new(), 200)
            }),
        );
        [creates, patches, lookups]
    })
    .await
    .expect("phases");
    server.abort();
    println!(
        "{label}, {clients} clients, {} requests per phase:",
        clients * rounds
    );
    for (kind, phase) in ["creates", "patches", "lookups"].iter().zip(&phases) {
        println!(
            "  {kind:<8} {:>7.0}/s   p50 {:>7.2} ms   p99 {:>7.2} ms   CPU {:.3} ms a request, {:.2} cores",
            phase.per_second,
            ms(percentile(&phase.latencies, 0.5)),
            ms(percentile(&phase.latencies, 0.99)),
            1000.0 * phase.cpu / phase.latencies.len().max(1) as f64,
            phase.cpu / phase.elapsed,
        );
    }
    phases
}

fn main() {
    let var = load::env_or;
    let clients = var("CLIENTS", 16);
    // 5,000 of each request, as issue 18 measured.
    let rounds = var("ROUNDS", 5000usize.div_ceil(clients));
    let (size, pushes) = (var("GROUP_SIZE", 10_000), var("PUSHES", 20));
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/default.rules");
    let mut program: Arc<dyn ProfileMapper> =
        Arc::new(canon::Program::load(&rules).expect("rules"));
    let managers = var("MANAGERS", 1) != 0;
    if var("ORG_GRAPH", 1) == 0 && program.has_org_graph() {
        println!("default pack, its organisation graph left out (ORG_GRAPH=0)");
        program = Arc::new(WithoutOrgGraph(program));
    } else {
        println!(
            "default pack as shipped, with its organisation graph ({})",
            if managers {
                "each client's users name its first user as manager"
            } else {
                "MANAGERS=0: nobody names a manager"
            }
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = |name: &str| -> Arc<dyn Store> {
        Arc::new(SqliteStore::open(&dir.path().join(name)).expect("SQLite store"))
    };
    // PostgreSQL where one can be had (CANON_TEST_POSTGRES, or .ci/postgres.sh), on databases
    // of the bench's own, dropped at its end.
    let mut databases = Vec::new();
    let mut postgres = |label: &str| -> Option<Arc<dyn Store>> {
        let database = canon::store::testing::fresh_postgres_database().expect(label)?;
        let store = canon::store::PostgresStore::open(&database).expect("PostgreSQL store");
        databases.push(database);
        Some(Arc::new(store))
    };
    // `POSTGRES=0`: SQLite alone (a quicker run, or a profile of SQLite's phases only).
    let (pg_load, pg_members) = if var("POSTGRES", 1) == 0 {
        (None, None)
    } else {
        (postgres("load"), postgres("members"))
    };
    runtime.block_on(async {
        let [creates, patches, lookups] = run(
            "SQLite",
            sqlite("load.db"),
            program.clone(),
            clients,
            rounds,
            managers,
        )
        .await;
        let member_p99 = member_pushes("SQLite", sqlite("members.db"), size, 1000, pushes).await;
        let pg = match (pg_load, pg_members) {
            (Some(load), Some(members)) => {
                let [pg_creates, pg_patches, _] = run(
                    "PostgreSQL",
                    load,
                    program.clone(),
                    clients,
                    rounds,
                    managers,
                )
                .await;
                let pg_member_p99 = member_pushes("PostgreSQL", members, size, 1000, pushes).await;
                Some((pg_creates, pg_patches, pg_member_p99))
            }
            _ => None,
        };
        println!("targets (issue 18), SQLite:");
        let create_p99 = percentile(&creates.latencies, 0.99);
        check(
            "creates/s ÷ lookups/s",
            creates.per_second / lookups.per_second,
            ">=",
            0.5,
        );
        check(
            "patches/s ÷ lookups/s",
            patches.per_second / lookups.per_second,
            ">=",
            0.5,
        );
        check(
            "create p99 (ms)",
            create_p99.as_secs_f64() * 1e3,
            "<=",
            20.0,
        );
        check(
            "1,000-member PATCH p99 (ms)",
            member_p99.as_secs_f64() * 1e3,
            "<=",
            250.0,
        );
        match pg {
            Some((pg_creates, pg_patches, pg_member_p99)) => {
                println!("targets (issue 18), PostgreSQL (one instance, this machine):");
                check(
                    "creates/s ÷ SQLite's",
                    pg_creates.per_second / creates.per_second,
                    ">=",
                    0.5,
                );
                println!(
                    "  (patches/s ÷ SQLite's {:.2}, no target)",
                    pg_patches.per_second / patches.per_second
                );
                check(
                    "1,000-member PATCH p99 (ms)",
                    pg_member_p99.as_secs_f64() * 1e3,
                    "<=",
                    250.0,
                );
            }
            None => println!("PostgreSQL: not measured (none to be had here, or POSTGRES=0)"),
        }
    });
}

/// One line of the targets: the measured figure, its bound, whether it holds.
fn check(what: &str, value: f64, relation: &str, bound: f64) {
    let holds = match relation {
        ">=" => value >= bound,
        _ => value <= bound,
    };
    let verdict = if holds { "ok" } else { "MISSED" };
    println!("  {what:<32} {value:>8.2} {relation} {bound:<6} {verdict}");
}
