//! The console's preview over a customer's stored users (issue 20: ≤ 3 s for 100,000 users on
//! the 2-core machine), not a timed test.
//!
//! `cargo bench --bench console_preview` (env: `USERS`, default 100,000).
//!
//! Stores `USERS` generated users (`canon gen-users`' SCIM users, seed 42) with their profiles
//! in a SQLite store, as the service does, builds the store's index of the organisation
//! graph as the first user write that keeps it does, then measures in the same run:
//! - the floor: one pass over the stored users' ids and bodies applying the published rules
//!   once per user, each alone (a plain remap without the organisation graph);
//! - a first preview: the published rules and a draft over every stored user, each in its
//!   population (the default pack derives people_manager from who names whom as manager),
//!   the transitions and the changed users kept (`console::preview_over_stored_users`),
//!   with nothing kept in memory: the published rules' population from the store's index
//!   (the bound is for this one);
//! - the same without the store's index (as where it is stale): a first pass reads the
//!   population from every user;
//! - the coverage report of the customer page (`console::coverage_of_stored_users`), with
//!   nothing kept; it keeps the published rules' population;
//! - the preview as the console runs it after that: from the kept population.
//!
//! The store's scans alone are printed too (whole resources, and ids and bodies only). Each is
//! the median of three runs; prints seconds, the ratio against the floor, the load average
//! before and after, and whether the preview meets its bound.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use canon::console::Start;
use canon::scim::extensions::Extensions;
use canon::store::{Kind, ResourceStore, SqliteStore, TenantId, UserWrite, Write};
use canon::{JsonRecord, Program};

/// The allocator `canon serve` runs the console with (src/main.rs): the preview allocates
/// and frees every decoded body, so the system allocator would measure another program.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The preview's bound, seconds.
const BOUND: f64 = 3.0;

/// The customer's rule file: the default pack and one rule of its own.
fn published_rules(pack: &Path) -> String {
    format!(
        "extends \"{}\"\n\ninsert before management_level.explicit {{\n  rule acme_fellow: t has any [\"fellow\"] -> Director\n}}\n",
        pack.display()
    )
}

/// The draft: Staff titles become Managers (changes a share of the users, as a real edit).
fn draft_rules(pack: &Path) -> String {
    published_rules(pack).replace(
        "-> Director\n",
        "-> Director\n  rule acme_staff: t has any [\"staff\"] -> Manager\n",
    )
}

fn median(mut runs: Vec<f64>) -> f64 {
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

fn timed(mut run: impl FnMut()) -> f64 {
    median(
        (0..3)
            .map(|_| {
                let started = Instant::now();
                run();
                started.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

/// The machine's load average, as `uptime` gives it (the 2 cores are shared).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".into())
}

fn main() {
    let users: usize = std::env::var("USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pack = root.join("rules/default.rules");
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = dir.path().join("acme.rules");
    std::fs::write(&rules, published_rules(&pack)).expect("write rules");
    let published = Arc::new(Program::load(&rules).expect("published rules compile"));
    let draft = Program::from_source(&rules.display().to_string(), &draft_rules(&pack))
        .expect("draft compiles");

    // The customer's users, stored with their profiles as the service stores them.
    let mut jsonl = Vec::new();
    canon::gen::generate(users, 42, canon::gen::GenFormat::ScimJsonl, &mut jsonl)
        .expect("generate users");
    let bodies: Vec<serde_json::Value> = jsonl
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_slice(line).expect("generated JSON"))
        .collect();
    let store = Arc::new(SqliteStore::open(&dir.path().join("canon.db")).expect("store"));
    let tenant = TenantId::parse("acme").expect("tenant id");
    let mapper: Arc<dyn canon::scim::ProfileMapper> = published.clone();
    let started = Instant::now();
    // Several writers at once, as IdP clients are: the store commits them in groups.
    let chunk = bodies.len().div_ceil(8).max(1);
    std::thread::scope(|scope| {
        for part in bodies.chunks(chunk) {
            let (store, tenant, mapper) = (store.clone(), tenant.clone(), mapper.clone());
            scope.spawn(move || {
                for body in part {
                    let name = body["userName"].as_str().unwrap_or_default().to_lowercase();
                    store
                        .create(
                            &tenant,
                            Kind::User,
                            Write {
                                body: body.clone(),
                                unique_key: Some(name),
                                profile: Some(mapper.map(body)),
                            },
                        )
                        .expect("store a user");
                }
            });
        }
    });
    drop(bodies);
    eprintln!(
        "stored {users} users in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // The store's index of the organisation graph, as the service keeps it: the first user
    // write that keeps the graph builds it (every later one keeps it current).
    let started = Instant::now();
    let rules = canon::scim::org::rules(&mapper).expect("the default pack reads the graph");
    let (_, first) = store.page(&tenant, Kind::User, 0, 1).expect("a page");
    let first = first.into_iter().next().expect("a stored user");
    let mut touch = |current: &canon::store::StoredResource| {
        Some(Write {
            body: current.body.clone(),
            unique_key: current.body["userName"].as_str().map(str::to_lowercase),
            profile: None,
        })
    };
    store
        .write_user(
            &tenant,
            &rules,
            UserWrite::Update {
                id: &first.id,
                change: &mut touch,
            },
        )
        .expect("a write that builds the index");
    eprintln!(
        "built the store's index of the graph in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let extensions = Arc::new(Extensions::default());
    let signature = canon::console::org_signature(&published, &extensions);
    // As the console asks: the store's index where it is current, nothing kept.
    let from_store = || Start {
        known: None,
        signature: Some(signature.clone()),
    };
    let today = chrono::Local::now().date_naive();

    let load_before = load_average();
    let scan = timed(|| {
        let mut users = 0u64;
        store
            .scan(&tenant, Kind::User, &mut |_| {
                users += 1;
                true
            })
            .expect("scan");
        std::hint::black_box(users);
    });
    let scan_bodies = timed(|| {
        let mut users = 0u64;
        store
            .scan_bodies(&tenant, Kind::User, &mut |_, _| {
                users += 1;
                true
            })
            .expect("scan");
        std::hint::black_box(users);
    });
    let floor = timed(|| {
        let mut evaluator = published.evaluator().on(today);
        let mut set = 0u64;
        store
            .scan_bodies(&tenant, Kind::User, &mut |_, body| {
                let view = extensions.view(&body);
                let row = evaluator.apply(&JsonRecord::new(&view));
                set += u64::from(row.get("management_level").is_some());
                true
            })
            .expect("scan");
        std::hint::black_box(set);
    });
    // The preview the rules page runs, from `start`: how many users change.
    let preview_from = |start: Start| {
        let (report, _) = canon::console::preview_over_stored_users(
            &published,
            &draft,
            &extensions,
            &*store,
            &tenant,
            10_000,
            start,
        )
        .expect("preview");
        report.changed_rows
    };
    let mut changed = [0; 3];
    // A first preview with nothing kept in memory: the published rules' population from
    // the store's index of the graph (current, as for a served tenant).
    let cold = timed(|| changed[0] = preview_from(from_store()));
    // Nothing kept and the store not asked (its index stale): a first pass over every user
    // reads the population.
    let unindexed = timed(|| changed[1] = preview_from(Start::default()));
    let mut known = None;
    let coverage = timed(|| {
        let (report, population) = canon::console::coverage_of_stored_users(
            &published,
            &extensions,
            &*store,
            &tenant,
            from_store(),
        )
        .expect("coverage");
        std::hint::black_box(report.rows_out);
        known = population;
    });
    // As the console runs it after the customer page: from the population it kept.
    let preview = timed(|| {
        changed[2] = preview_from(Start {
            known: known.clone(),
            signature: None,
        })
    });
    assert!(
        changed.iter().all(|c| *c == changed[0]),
        "every way gives one answer: {changed:?}"
    );
    let changed = changed[0];
    let load_after = load_average();
    println!("console preview over {users} stored users (SQLite), median of 3 runs");
    println!("  load average (1, 5, 15 min): {load_before} before, {load_after} after");
    println!("  the store's scan alone (read and decode every user, profiles too): {scan:.2} s");
    println!("  the store's scan of ids and bodies only: {scan_bodies:.2} s");
    println!("  floor (ids and bodies + the published rules once per user, alone): {floor:.2} s");
    println!(
        "  first preview (nothing kept in memory; the population from the store's index): {cold:.2} s = {:.2}x the floor",
        cold / floor
    );
    println!(
        "  first preview without the store's index (a pass reads the population): {unindexed:.2} s = {:.2}x the floor",
        unindexed / floor
    );
    println!(
        "  coverage report of the customer page (nothing kept; keeps the population): {coverage:.2} s = {:.2}x the floor",
        coverage / floor
    );
    println!(
        "  preview after it (published and draft, each in its population, transitions, changed users kept): {preview:.2} s = {:.2}x the floor; {changed} users change",
        preview / floor
    );
    let verdict = |seconds: f64| {
        let scaled = seconds * 100_000.0 / users as f64;
        let met = if scaled <= BOUND { "met" } else { "MISSED" };
        format!("{met} ({scaled:.2} s scaled to 100,000)")
    };
    println!(
        "  bound: preview ≤ {BOUND:.1} s for 100,000 users: first preview (nothing kept) {}; after the customer page {}; without the store's index {}",
        verdict(cold),
        verdict(preview),
        verdict(unindexed)
    );
}
