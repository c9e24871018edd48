//! The bulk evaluator's caches against the plain evaluator.

use super::runs::{MANY_RULES, MAX_KNOWN};
use super::*;
use crate::FlatRecord;

const RULES: &str = r#"
field level: enum(Manager, Other)
field title: text
input base = title | lower
input words = @base | words
map level {
  rule m: words has "manager" -> Manager
  else -> Other
}
map title {
  rule t: base is present -> base
  else -> unset
}
"#;

/// The cache key is the raw title (the root of `@base` and `@words`), and results equal
/// the uncached evaluation, including after generations turn over.
#[test]
fn cached_results_equal_uncached_ones_across_generations() {
    let program = Program::from_source("cache.rules", RULES).unwrap();
    let level = program
        .fields
        .iter()
        .position(|f| &*f.name == "level")
        .unwrap();
    let mut evaluator = program.evaluator();
    let base = program
        .inputs
        .iter()
        .position(|i| &*i.name == "base")
        .unwrap();
    let roots = &evaluator.caches[level].roots;
    assert_eq!(roots.len(), 1);
    assert_eq!(evaluator.groups[roots[0]], InputId(base));
    for round in 0..2 {
        for n in 0..(GENERATION * 2 + 10) {
            let title = if n % 3 == 0 {
                format!("Manager {}", n % 50)
            } else {
                format!("Engineer {n}")
            };
            let record = FlatRecord::from_pairs([("title", title.as_str())]);
            let cached = evaluator.apply(&record);
            assert_eq!(cached, program.apply(&record), "round {round}, {title}");
        }
    }
    let cache = &evaluator.caches[level].keys;
    assert!(cache.young.len() <= GENERATION && cache.old.len() <= GENERATION);
    // The 50 manager titles come back every 150 rows: they stay cached.
    let record = FlatRecord::from_pairs([("title", "Manager 7")]);
    let first = evaluator.apply(&record);
    let again = evaluator.apply(&record);
    assert!(Arc::ptr_eq(&first.fields[level], &again.fields[level]));
}

/// One of three workers' evaluators keeps a third of the entries, and its answers are
/// the same.
#[test]
fn a_worker_of_several_keeps_its_share_of_the_caches() {
    let program = Program::from_source("cache.rules", RULES).unwrap();
    let mut evaluator = Evaluator::counting_one_of(&program, (), 3);
    for n in 0..GENERATION {
        let title = format!("Engineer {n}");
        let record = FlatRecord::from_pairs([("title", title.as_str())]);
        assert_eq!(evaluator.apply(&record), program.apply(&record), "{title}");
    }
    for cache in &evaluator.caches {
        assert_eq!(cache.keys.capacity, GENERATION / 3);
        assert!(cache.keys.young.len() <= GENERATION / 3);
        assert!(cache.keys.old.len() <= GENERATION / 3);
    }
}

/// An explicit level column, then title rules: a field whose rules fall into two runs.
const LEVEL_THEN_TITLE: &str = r#"
field level: enum(Manager, Director, Other)
input explicit = level | lower
input title = title | lower | words
table names = { "manager" -> Manager  "director" -> Director }
map level {
  rule named: explicit in table names -> names[explicit]
  rule director: title has "director" -> Director
  rule manager: title has "manager" -> Manager
  else -> Other
}
"#;

/// A tally that records what it is handed: totals per (field, value, rule) and the order
/// in which values first arrived.
#[derive(Default, PartialEq, Debug)]
struct Record {
    totals: std::collections::BTreeMap<(usize, Option<String>, Option<String>), u64>,
    first_seen: Vec<(usize, Option<String>)>,
    rows: u64,
    missing: u64,
}

impl Tally for Record {
    const COUNTS: bool = true;
    fn outcome(&mut self, field: usize, outcome: &FieldOutcome, rows: u64) {
        let value = outcome.value.as_deref().map(str::to_string);
        let rule = outcome.rule.as_ref().map(|r| r.id.to_string());
        let seen = (field, value.clone());
        if !self.first_seen.contains(&seen) {
            self.first_seen.push(seen);
        }
        *self.totals.entry((field, value, rule)).or_default() += rows;
    }
    fn row(&mut self, missing_required: bool, _: bool) {
        self.rows += 1;
        self.missing += u64::from(missing_required);
    }
}

/// Counts kept inside the caches reach the tally with the same totals, and new values in
/// the same order, as counting every row's profile would, across generation turnovers
/// and for a field that stops caching.
#[test]
fn counting_in_the_caches_equals_counting_row_by_row() {
    let program = Program::from_source("cache.rules", RULES).unwrap();
    let mut counting = Evaluator::counting(&program, Record::default());
    let mut by_row = Record::default();
    for n in 0..(GENERATION * 3) {
        // Titles that come back (and some that do not) keep `level` cached and turn its
        // generations over; `title` outcomes are as many as titles.
        let title = match n % 4 {
            0 => format!("Manager {}", n % 700),
            1 => format!("Engineer {}", n % 9_000),
            _ => format!("Person {n}"),
        };
        let record = FlatRecord::from_pairs([("title", title.as_str())]);
        let row: Vec<FieldOutcome> = counting.apply_row(&record).fields().cloned().collect();
        let profile = program.apply(&record);
        assert_eq!(
            row,
            profile
                .fields()
                .iter()
                .map(|f| (**f).clone())
                .collect::<Vec<_>>()
        );
        for (field, outcome) in profile.fields().iter().enumerate() {
            by_row.outcome(field, outcome, 1);
        }
        by_row.row(!profile.is_complete(), false);
    }
    // The level cache turned over (unique titles filled it) and kept caching.
    assert!(counting.caches[0].enabled && !counting.caches[0].keys.old.is_empty());
    let counted = counting.into_tally();
    assert_eq!(
        (counted.rows, counted.missing),
        (by_row.rows, by_row.missing)
    );
    let differ: Vec<_> = by_row
        .totals
        .iter()
        .filter(|(k, v)| counted.totals.get(*k) != Some(*v))
        .take(5)
        .collect();
    assert!(differ.is_empty(), "{differ:?}");
    assert_eq!(counted.totals.len(), by_row.totals.len());
    // Each field's counters see its new values in row order (fields are folded apart).
    for field in 0..2 {
        let of_field = |r: &Record| -> Vec<Option<String>> {
            r.first_seen
                .iter()
                .filter(|(f, _)| *f == field)
                .map(|(_, v)| v.clone())
                .collect()
        };
        assert!(
            of_field(&counted) == of_field(&by_row),
            "field {field}: first-seen order differs"
        );
    }
}

/// Unique values (names) turn the cache off after the sample instead of filling it.
#[test]
fn a_field_of_unique_values_stops_caching() {
    let program = Program::from_source("cache.rules", RULES).unwrap();
    let mut evaluator = program.evaluator();
    for n in 0..SAMPLE + 1 {
        let title = format!("Person {n}");
        evaluator.apply(&FlatRecord::from_pairs([("title", title.as_str())]));
    }
    assert!(evaluator.caches.iter().all(|c| !c.enabled));
    assert!(evaluator.caches.iter().all(|c| c.keys.young.is_empty()));
}

/// A value in one source and the same text in another may normalise differently: the
/// source is part of the key.
#[test]
fn the_source_is_part_of_the_key() {
    let rules = r#"
field f: text
input a = first, second
input shout = second | upper
map f {
  rule s: shout is present -> shout
  rule a: a is present -> a
  else -> unset
}
"#;
    let program = Program::from_source("key.rules", rules).unwrap();
    let mut evaluator = program.evaluator();
    let one = FlatRecord::from_pairs([("first", "x")]);
    let two = FlatRecord::from_pairs([("second", "x")]);
    assert_eq!(evaluator.apply(&one).get("f"), Some("x"));
    assert_eq!(evaluator.apply(&two).get("f"), Some("X"));
    assert_eq!(evaluator.apply(&one).get("f"), Some("x"));
}

/// An explicit level column, then title rules: each run of rules is cached by its own
/// input, so every (level, title) pair evaluates the title rules once per title.
#[test]
fn rule_runs_are_cached_by_their_own_inputs() {
    let program = Program::from_source("runs.rules", LEVEL_THEN_TITLE).unwrap();
    let mut evaluator = program.evaluator();
    let cache = &evaluator.caches[0];
    assert_eq!(cache.segments.len(), 2);
    assert_eq!(cache.segments[0].run.rules, 0..1);
    assert_eq!(cache.segments[1].run.rules, 1..4);
    let levels = ["", "Manager", "DIRECTOR", "band 7", "M3"];
    let titles = [
        "Engineer",
        "Director, Sales",
        "Manager",
        "",
        "Office Manager",
    ];
    for level in levels {
        for title in titles {
            let record = FlatRecord::from_pairs([("level", level), ("title", title)]);
            assert_eq!(
                evaluator.apply(&record),
                program.apply(&record),
                "{level} / {title}"
            );
        }
    }
    let cache = &evaluator.caches[0];
    // Titles are decided once each, whatever level they came with; levels once each. Each
    // decision is kept under its raw value and its normalised value ("M3" and "band 7" are
    // "m3" and "band 7"; "" is "" both ways, a key of each kind).
    assert_eq!(cache.segments[1].decisions.len(), 2 * titles.len());
    assert_eq!(cache.segments[0].decisions.len(), 2 * levels.len());
    // Outcomes are cached by the decision that fired, not by the (level, title) pair:
    // `named` twice (Manager, Director), `director`, `manager`, and `else` once: raw values
    // that fell through are counted row by row, not kept in the outcome.
    assert_eq!(cache.keys.young.len(), 5);
}

/// A rule run that outputs its input's text decides as many things as there are values:
/// past [`MAX_KNOWN`] it starts afresh, and outcomes stay those of evaluating alone.
#[test]
fn a_run_with_many_distinct_decisions_starts_afresh() {
    let rules = r#"
field place: text
input office = office | collapse
input city = city | collapse
map place {
  rule office: office is present -> office
  rule city: city is present -> city
  else -> unset
}
"#;
    let program = Program::from_source("places.rules", rules).unwrap();
    let mut evaluator = program.evaluator();
    for round in 0..2 {
        for n in 0..(3 * MAX_KNOWN) {
            let (office, city) = match n % 3 {
                0 => (format!("Office {n}"), String::new()),
                1 => (String::new(), format!("City {}", n % (2 * MAX_KNOWN))),
                _ => (String::new(), String::new()),
            };
            let record =
                FlatRecord::from_pairs([("office", office.as_str()), ("city", city.as_str())]);
            assert_eq!(
                evaluator.apply(&record),
                program.apply(&record),
                "round {round}, record {n}"
            );
        }
    }
    let cache = &evaluator.caches[0];
    assert_eq!(cache.segments.len(), 2);
    assert!(cache.segments.iter().all(|s| s.known.len() <= MAX_KNOWN));
}

/// A single run of many rules with constant outputs is cached by its decisions: titles
/// that the rules do not place share one decision and stay what evaluating alone gives
/// (their outcomes keep the raw title).
#[test]
fn one_run_of_many_constant_rules_is_cached_by_decision() {
    let mut rules =
        String::from("field family: text\ninput t = title | lower | words\nmap family {\n");
    for n in 0..MANY_RULES {
        rules.push_str(&format!(
            "  rule r{n}: t has \"word{n}\" -> \"family {n}\"\n"
        ));
    }
    rules.push_str("  else -> unset\n}\n");
    let program = Program::from_source("family.rules", &rules).unwrap();
    let mut evaluator = program.evaluator();
    assert_eq!(evaluator.caches[0].segments.len(), 1);
    let titles: Vec<String> = (0..200)
        .map(|n| match n % 3 {
            0 => format!("Word{} Lead", n % MANY_RULES),
            1 => format!("Clerk {n}"),
            _ => format!("WORD{}  lead", n % MANY_RULES),
        })
        .collect();
    for title in titles.iter().chain(titles.iter().rev()) {
        let record = FlatRecord::from_pairs([("title", title.as_str())]);
        assert_eq!(evaluator.apply(&record), program.apply(&record), "{title}");
    }
    // The run knows each family and "no match" once: the clerks share a decision.
    let run = &evaluator.caches[0].segments[0];
    assert_eq!(run.known.len(), MANY_RULES + 1);
}

/// Raw values that normalise alike share one decision of a rule run: the rules run once.
#[test]
fn rule_runs_decide_once_per_normalised_value() {
    let rules = r#"
field level: enum(Manager, Director, Other)
input explicit = level | lower
input title = title | lower | words
table names = { "manager" -> Manager  "director" -> Director }
map level {
  rule named: explicit in table names -> names[explicit]
  rule manager: title has "manager" -> Manager
  else -> Other
}
"#;
    let program = Program::from_source("normalised.rules", rules).unwrap();
    let mut evaluator = program.evaluator();
    let titles = [
        "Office Manager",
        "OFFICE MANAGER",
        "office  manager",
        "Clerk",
        "CLERK",
    ];
    for title in titles {
        let record = FlatRecord::from_pairs([("title", title)]);
        assert_eq!(evaluator.apply(&record), program.apply(&record), "{title}");
    }
    // Five raw titles, two normalised ones: seven keys, and two rule evaluations.
    let decisions = &evaluator.caches[0].segments[1].decisions;
    assert_eq!(decisions.len(), titles.len() + 2);
}

/// A run's decisions are keyed by the inputs it reads that no other read derives from: a
/// title that normalises like one decided before computes `base` only, not `words`. An
/// input whose steps turn an empty value into something (`marked`) tells an absent title
/// from one that normalises to nothing, so it stays in the key.
#[test]
fn rule_runs_are_keyed_by_the_reads_others_derive_from() {
    let rules = r#"
field level: enum(Manager, Clerk, Blank, Other)
input explicit = level | lower
input base = title | lower | replace(/[()]/, "") | collapse
input words = @base | words
input marked = @base | replace(/^$/, "blank")
map level {
  rule named: explicit == "manager" -> Manager
  rule clerk: base == "clerk" -> Clerk
  rule manager: words has "manager" -> Manager
  rule blank: marked == "blank" -> Blank
  else -> Other
}
"#;
    let program = Program::from_source("keyed.rules", rules).unwrap();
    let id = |name: &str| {
        let at = program
            .inputs
            .iter()
            .position(|i| &*i.name == name)
            .unwrap();
        InputId(at)
    };
    let mut evaluator = program.evaluator();
    let run = &evaluator.caches[0].segments[1].run;
    assert_eq!(run.reads, [id("base"), id("words"), id("marked")]);
    assert_eq!(run.keyed, [id("base"), id("marked")]);
    let titles = [
        Some("( )"),
        None,
        Some("()"),
        Some("Office Manager"),
        Some("office  manager"),
        None,
        Some("CLERK"),
        Some("(clerk)"),
    ];
    for round in 0..2 {
        for title in titles.iter().chain(titles.iter().rev()) {
            let record = match title {
                Some(title) => FlatRecord::from_pairs([("title", *title)]),
                None => FlatRecord::from_pairs([("department", "Sales")]),
            };
            assert_eq!(
                evaluator.apply(&record),
                program.apply(&record),
                "round {round}: {title:?}"
            );
        }
    }
    // Seven raw titles (absent is one) and four normalised ones: eleven keys.
    assert_eq!(evaluator.caches[0].segments[1].decisions.len(), 11);
}

/// A joined input's value depends on every part, and a date test on the date and the run's
/// day: the cache keys on all of them, so cached results equal uncached ones.
#[test]
fn joins_and_dates_are_cached_by_every_part() {
    let rules = r#"
field place: text
field status: enum(active, inactive)
input city = "City" | collapse
input place = "Office", join(", ", @city, "Country")
input ended = "Ended" | date("%m/%d/%Y")
map place { rule p: place is present -> place }
map status {
  rule left: ended is before today -> inactive
  rule leaving: ended is on or after today -> active
  else -> active
}
"#;
    let program = Program::from_source("join.rules", rules).unwrap();
    let today = chrono::NaiveDate::from_ymd_opt(2026, 2, 1).unwrap();
    let mut evaluator = program.evaluator().on(today);
    let offices = ["", "HQ"];
    let cities = ["", "Lyon", " Lyon "];
    let countries = ["", "France", "Japan"];
    let ends = ["", "01/31/2026", "02/01/2026", "13/45/2026", "12/31/2099"];
    for round in 0..2 {
        for office in offices {
            for city in cities {
                for country in countries {
                    for end in ends {
                        let record = FlatRecord::from_pairs([
                            ("Office", office),
                            ("City", city),
                            ("Country", country),
                            ("Ended", end),
                        ]);
                        let cached = evaluator.apply(&record);
                        let plain = program.apply_on(&record, today);
                        assert_eq!(
                            cached, plain,
                            "round {round}: {office:?} {city:?} {country:?} {end:?}"
                        );
                    }
                }
            }
        }
    }
    let record = FlatRecord::from_pairs([
        ("City", "Lyon"),
        ("Country", "Japan"),
        ("Ended", "02/01/2026"),
    ]);
    let profile = evaluator.apply(&record);
    assert_eq!(profile.get("place"), Some("Lyon, Japan"));
    assert_eq!(profile.get("status"), Some("active"));
    let bad = evaluator.apply(&FlatRecord::from_pairs([("Ended", "13/45/2026")]));
    assert_eq!(bad.get("status"), None);
    assert_eq!(
        bad.field("status")
            .and_then(|f| f.note.as_ref())
            .map(|n| n.describe()),
        Some("`13/45/2026` is not a date (%m/%d/%Y)".to_string())
    );
}
