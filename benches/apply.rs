//! One record through `apply` (the SCIM write path) with the default pack, over generated
//! users: criterion for the mean, and a p50/p99 line measured per call.
//!
//! `cargo bench --bench apply`

use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};

fn users() -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    canon::gen::generate(20_000, 7, canon::gen::GenFormat::ScimJsonl, &mut out).expect("generate");
    String::from_utf8(out)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

fn bench(c: &mut Criterion) {
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/default.rules");
    let program = canon::Program::load(&rules).unwrap_or_else(|e| panic!("{}", e.render()));
    let users = users();

    // Per-call latency, the write path (`program.apply`, no warm evaluator cache shared).
    let mut times: Vec<u128> = Vec::with_capacity(users.len() * 3);
    for _ in 0..3 {
        for user in &users {
            let t = Instant::now();
            let profile = program.apply(&canon::JsonRecord::new(user));
            std::hint::black_box(profile);
            times.push(t.elapsed().as_nanos());
        }
    }
    times.sort_unstable();
    let at =
        |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)] as f64 / 1000.0;
    println!(
        "apply latency over {} calls: p50 {:.2} µs, p99 {:.2} µs, p99.9 {:.2} µs, max {:.2} µs",
        times.len(),
        at(0.5),
        at(0.99),
        at(0.999),
        at(1.0)
    );

    let mut i = 0;
    c.bench_function("program.apply (default pack, generated SCIM users)", |b| {
        b.iter(|| {
            i = (i + 1) % users.len();
            program.apply(&canon::JsonRecord::new(&users[i]))
        })
    });
    let mut ev = program.evaluator();
    c.bench_function("evaluator.apply (warm cache)", |b| {
        b.iter(|| {
            i = (i + 1) % users.len();
            ev.apply(&canon::JsonRecord::new(&users[i]))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
