//! Accuracy of the default rule pack (`rules/default.rules`) on the labelled development set,
//! and coverage of real O*NET job titles.
//!
//! Run with `cargo test --release --test default_pack -- --nocapture` to see the tables and
//! the list of misses. Every value reaches the engine exactly as stored in the CSV: titles
//! are never trimmed or cleaned here, because that normalisation is what is being measured.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use canon::{FlatRecord, Program};

/// The accuracy the flags dev file must keep.
const REQUIRED_ACCURACY: f64 = 0.98;

/// The levels dev file stays at 100% (issue 22: the real-world set must not be learnt at its
/// expense).
const LEVELS_DEV_REQUIRED: f64 = 1.0;

const LEVELS: [&str; 12] = [
    "Executive",
    "SVP",
    "VP",
    "Sr. Director",
    "Director",
    "Sr. Manager",
    "Manager",
    "Individual Contributor",
    "Associate",
    "Analyst",
    "Intern",
    "Student",
];

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn load_pack() -> Program {
    match Program::load(&repo_path("rules/default.rules")) {
        Ok(program) => program,
        Err(error) => panic!("rules/default.rules does not load:\n{}", error.render()),
    }
}

fn read_csv(relative: &str) -> Vec<csv::StringRecord> {
    let path = repo_path(relative);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::None)
        .from_path(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    reader
        .records()
        .map(|r| r.unwrap_or_else(|e| panic!("bad CSV row in {}: {e}", path.display())))
        .collect()
}

/// Hits and totals per key, printed as a table.
#[derive(Default)]
struct Tally {
    rows: BTreeMap<String, (usize, usize)>,
}

impl Tally {
    fn add(&mut self, key: &str, hit: bool) {
        let entry = self.rows.entry(key.to_string()).or_default();
        entry.0 += usize::from(hit);
        entry.1 += 1;
    }

    fn print(&self, title: &str, order: &[&str]) {
        println!("\n{title:<24} {:>7} {:>9}", "correct", "accuracy");
        let mut keys: Vec<&String> = self.rows.keys().collect();
        keys.sort_by_key(|k| order.iter().position(|o| o == k).unwrap_or(usize::MAX));
        for key in keys {
            let (hit, total) = self.rows[key];
            println!(
                "{key:<24} {:>3}/{:<3} {:>8.1}%",
                hit,
                total,
                percent(hit, total)
            );
        }
    }
}

fn percent(hit: usize, total: usize) -> f64 {
    if total == 0 {
        100.0
    } else {
        100.0 * hit as f64 / total as f64
    }
}

fn shown(value: Option<&str>) -> String {
    value.map_or_else(|| "unset".to_string(), |v| format!("{v:?}"))
}

#[test]
fn levels_dev_accuracy() {
    let program = load_pack();
    let rows = read_csv("tests/data/levels_dev.csv");
    assert_eq!(rows.len(), 360, "levels_dev.csv should hold 360 titles");
    let (mut by_level, mut by_locale) = (Tally::default(), Tally::default());
    let mut misses = Vec::new();
    let mut hits = 0;
    for row in &rows {
        let (title, locale, expected, spec_rule) = (&row[0], &row[1], &row[2], &row[3]);
        assert!(
            LEVELS.contains(&expected),
            "unknown expected level {expected:?}"
        );
        let profile = program.apply(&FlatRecord::from_pairs([("title", title)]));
        let got = profile.get("management_level");
        let hit = got == Some(expected);
        hits += usize::from(hit);
        by_level.add(expected, hit);
        by_locale.add(locale, hit);
        if !hit {
            let rule = profile
                .field("management_level")
                .and_then(|f| f.rule.as_ref())
                .map_or_else(
                    || "no rule".to_string(),
                    |r| format!("rule {} at {}", r.id, r.at),
                );
            misses.push(format!(
                "  {title:?} [{locale}, {spec_rule}]: expected {expected:?}, got {} ({rule})",
                shown(got)
            ));
        }
    }
    let accuracy = hits as f64 / rows.len() as f64;
    println!(
        "\nlevels_dev.csv: {hits}/{} correct, {:.1}%",
        rows.len(),
        100.0 * accuracy
    );
    by_level.print("level", &LEVELS);
    by_locale.print("locale", &["en-US", "fr-CA", "es-ES", "ko", "ja"]);
    println!("\nmisses ({}):", misses.len());
    for miss in &misses {
        println!("{miss}");
    }
    assert!(
        accuracy >= LEVELS_DEV_REQUIRED,
        "levels_dev accuracy {:.1}% is below {:.0}%; misses:\n{}",
        100.0 * accuracy,
        100.0 * LEVELS_DEV_REQUIRED,
        misses.join("\n")
    );
}

/// Issue 22's targets on `titles_real_dev.csv` (titles as companies really write them): 97%
/// overall and 95% in each language (the pack scored 76.7% when the set was added).
const REAL_FLOOR: f64 = 0.97;
const REAL_LOCALE_FLOOR: f64 = 0.95;

/// A real-world set scored: overall, per level and per language, and the misses (rows
/// labelled `ambiguous` are left out; `unset` means the value is no title, R22).
struct RealScore {
    hits: usize,
    scored: usize,
    by_level: Tally,
    by_locale: Tally,
    misses: Vec<String>,
}

impl RealScore {
    fn accuracy(&self) -> f64 {
        self.hits as f64 / self.scored as f64
    }

    /// Prints the tables and the misses, as `.ci/run` shows them.
    fn print(&self, name: &str, rows: usize) {
        println!(
            "\n{name}: {}/{} correct, {:.1}% ({} ambiguous rows not scored)",
            self.hits,
            self.scored,
            100.0 * self.accuracy(),
            rows - self.scored
        );
        let mut order = LEVELS.to_vec();
        order.push("unset");
        self.by_level.print("level", &order);
        self.by_locale
            .print("locale", &["en-US", "fr-CA", "es-ES", "ko", "ja"]);
        println!("\nmisses ({}):", self.misses.len());
        for miss in &self.misses {
            println!("{miss}");
        }
    }
}

/// Scores the pack on a set whose columns are `title, locale, sector, expected_level, rule, …`.
fn score_real(program: &Program, rows: &[csv::StringRecord]) -> RealScore {
    let mut score = RealScore {
        hits: 0,
        scored: 0,
        by_level: Tally::default(),
        by_locale: Tally::default(),
        misses: Vec::new(),
    };
    for row in rows {
        let (title, locale, expected, spec_rule) = (&row[0], &row[1], &row[3], &row[4]);
        if expected == "ambiguous" {
            continue;
        }
        assert!(
            LEVELS.contains(&expected) || expected == "unset",
            "unknown expected level {expected:?}"
        );
        let expected = (expected != "unset").then_some(expected);
        let profile = program.apply(&FlatRecord::from_pairs([("title", title)]));
        let got = profile.get("management_level");
        let hit = got == expected;
        score.scored += 1;
        score.hits += usize::from(hit);
        score.by_level.add(expected.unwrap_or("unset"), hit);
        score.by_locale.add(locale, hit);
        if !hit {
            let rule = profile
                .field("management_level")
                .and_then(|f| f.rule.as_ref())
                .map_or_else(
                    || "no rule".to_string(),
                    |r| format!("rule {} at {}", r.id, r.at),
                );
            score.misses.push(format!(
                "  {title:?} [{locale}, {spec_rule}]: expected {}, got {} ({rule})",
                shown(expected),
                shown(got)
            ));
        }
    }
    score
}

/// The real-world development set: 1,518 titles copied from public sources, each labelled twice
/// and adjudicated against the value conventions (`expected_level`).
#[test]
fn titles_real_dev_accuracy() {
    let rows = read_csv("tests/data/titles_real_dev.csv");
    assert_eq!(
        rows.len(),
        1518,
        "titles_real_dev.csv should hold 1,518 titles"
    );
    let score = score_real(&load_pack(), &rows);
    score.print("titles_real_dev.csv", rows.len());
    assert!(
        score.accuracy() >= REAL_FLOOR,
        "titles_real_dev accuracy {:.1}% fell below {:.1}%",
        100.0 * score.accuracy(),
        100.0 * REAL_FLOOR
    );
    for (locale, &(hit, total)) in &score.by_locale.rows {
        assert!(
            percent(hit, total) >= 100.0 * REAL_LOCALE_FLOOR,
            "titles_real_dev accuracy in {locale} {:.1}% fell below {:.0}%",
            percent(hit, total),
            100.0 * REAL_LOCALE_FLOOR
        );
    }
}

/// Accuracy on the held-out set (`titles_real_holdout.csv`) may not fall below this: the
/// pack's figure when the set was added (170/187). It measures whether the pack learned
/// titles or learned the development set: the set is never tuned on, and a drop here with
/// the development set still at its target means a rule fits the development set only.
const HOLDOUT_FLOOR: f64 = 0.909;

/// 206 real titles from sources the development set does not use, collected and labelled
/// after the pack work began by someone who did not see the rules.
#[test]
fn titles_real_holdout_accuracy() {
    let rows = read_csv("tests/data/titles_real_holdout.csv");
    assert_eq!(
        rows.len(),
        206,
        "titles_real_holdout.csv should hold 206 titles"
    );
    let score = score_real(&load_pack(), &rows);
    score.print("titles_real_holdout.csv", rows.len());
    assert!(
        score.accuracy() >= HOLDOUT_FLOOR,
        "titles_real_holdout accuracy {:.1}% fell below {:.1}%",
        100.0 * score.accuracy(),
        100.0 * HOLDOUT_FLOOR
    );
}

/// The attribute each flag is read from in the test records (the pack reads many names for
/// each; these are the common Okta CSV headers).
fn flag_attribute(field: &str) -> &'static str {
    match field {
        "people_manager" => "isManager",
        "locale" => "locale",
        "status" => "status",
        other => panic!("unknown flag field {other:?} in flags_dev.csv"),
    }
}

#[test]
fn flags_dev_accuracy() {
    let program = load_pack();
    let rows = read_csv("tests/data/flags_dev.csv");
    assert_eq!(rows.len(), 120, "flags_dev.csv should hold 120 values");
    let mut by_field = Tally::default();
    let mut misses = Vec::new();
    let mut hits = 0;
    for row in &rows {
        let (raw, field, expected) = (&row[0], &row[1], &row[2]);
        let expected = (!expected.is_empty()).then_some(expected);
        let profile = program.apply(&FlatRecord::from_pairs([(flag_attribute(field), raw)]));
        let got = profile.get(field);
        let hit = got == expected;
        hits += usize::from(hit);
        by_field.add(field, hit);
        if !hit {
            misses.push(format!(
                "  {field} {raw:?}: expected {}, got {}",
                shown(expected),
                shown(got)
            ));
        }
    }
    let accuracy = hits as f64 / rows.len() as f64;
    println!(
        "\nflags_dev.csv: {hits}/{} correct, {:.1}%",
        rows.len(),
        100.0 * accuracy
    );
    by_field.print("field", &["people_manager", "locale", "status"]);
    println!("\nmisses ({}):", misses.len());
    for miss in &misses {
        println!("{miss}");
    }
    assert!(
        accuracy >= REQUIRED_ACCURACY,
        "flags_dev accuracy {:.1}% is below {:.0}%; misses:\n{}",
        100.0 * accuracy,
        100.0 * REQUIRED_ACCURACY,
        misses.join("\n")
    );
}

#[test]
fn onet_titles_all_map() {
    let program = load_pack();
    let rows = read_csv("tests/data/titles/titles_onet.csv");
    assert!(rows.len() > 4000, "titles_onet.csv looks truncated");
    let mut by_level: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_rule: BTreeMap<String, usize> = BTreeMap::new();
    let mut fell_to_else = 0;
    let mut failures = Vec::new();
    for row in &rows {
        let title = &row[0];
        let profile = program.apply(&FlatRecord::from_pairs([("title", title)]));
        let Some(field) = profile.field("management_level") else {
            panic!("the pack has no management_level field");
        };
        match (field.value.as_deref(), field.rule.as_ref()) {
            (Some(level), Some(rule)) => {
                let level = LEVELS.iter().find(|l| **l == level).copied();
                match level {
                    Some(level) => *by_level.entry(level).or_default() += 1,
                    None => failures.push(format!("  {title:?}: not a level: {:?}", field.value)),
                }
                if rule.is_else {
                    fell_to_else += 1;
                }
                *by_rule.entry(rule.id.to_string()).or_default() += 1;
            }
            _ => failures.push(format!("  {title:?}: unset ({:?})", field.note)),
        }
    }
    let total = rows.len();
    println!(
        "\nO*NET titles: {total}, mapped {}, fell to the final else {fell_to_else} ({:.1}%)",
        total - failures.len(),
        percent(fell_to_else, total)
    );
    println!("\n{:<24} {:>6}", "level", "titles");
    for level in LEVELS {
        println!(
            "{level:<24} {:>6}",
            by_level.get(level).copied().unwrap_or(0)
        );
    }
    let mut rules: Vec<(String, usize)> = by_rule.into_iter().collect();
    rules.sort_by_key(|r| std::cmp::Reverse(r.1));
    println!("\n{:<24} {:>6}", "rule", "titles");
    for (rule, count) in rules {
        println!("{rule:<24} {count:>6}");
    }
    assert!(
        failures.is_empty(),
        "titles that did not map:\n{}",
        failures.join("\n")
    );
}

#[test]
fn pack_is_clean_and_its_own_tests_pass() {
    let program = load_pack();
    let warnings: Vec<String> = program
        .warnings()
        .iter()
        .map(|w| w.render(program.sources()))
        .collect();
    assert!(
        warnings.is_empty(),
        "rules/default.rules has warnings:\n{}",
        warnings.join("\n")
    );
    let mut failed = Vec::new();
    for test in program.tests() {
        let mut record = FlatRecord::new();
        for (path, value) in &test.given {
            record.set(path.flat_key(), value.clone());
        }
        let profile = program.apply(&record);
        for (field, expected, _) in &test.expect {
            let got = profile.get(field);
            if got != expected.as_deref() {
                failed.push(format!(
                    "  {:?}: {field} expected {}, got {}",
                    test.name,
                    shown(expected.as_deref()),
                    shown(got)
                ));
            }
        }
    }
    assert!(
        !program.tests().is_empty(),
        "the pack should carry its own tests"
    );
    assert!(
        failed.is_empty(),
        "tests in rules/default.rules failed:\n{}",
        failed.join("\n")
    );
}

/// Runs the tests written in a rule file (its own, not those of the files it extends).
fn own_test_failures(program: &Program) -> Vec<String> {
    let mut failed = Vec::new();
    for test in program.tests().iter().filter(|t| t.own) {
        let mut record = FlatRecord::new();
        for (path, value) in &test.given {
            record.set(path.flat_key(), value.clone());
        }
        let profile = program.apply(&record);
        for (field, expected, _) in &test.expect {
            let got = profile.get(field);
            if got != expected.as_deref() {
                failed.push(format!(
                    "  {:?}: {field} expected {}, got {}",
                    test.name,
                    shown(expected.as_deref()),
                    shown(got)
                ));
            }
        }
    }
    failed
}

/// Maps a users CSV of `examples/` with a customer rule file; returns login → profile JSON.
fn map_users(
    program: &Program,
    relative: &str,
    today: chrono::NaiveDate,
) -> BTreeMap<String, serde_json::Value> {
    let path = repo_path(relative);
    let mut reader = csv::ReaderBuilder::new()
        .from_path(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let header = reader
        .headers()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .clone();
    let login = header
        .iter()
        .position(|h| h == "login")
        .expect("a login column");
    let binding = program.bind_columns(header.iter());
    let mut profiles = BTreeMap::new();
    for row in reader.records() {
        let row = row.unwrap_or_else(|e| panic!("bad CSV row in {}: {e}", path.display()));
        let profile = program.apply_on(&canon::CsvRecord::new(&binding, &row), today);
        println!("{:<26} {}", &row[login], profile.to_json());
        profiles.insert(row[login].to_string(), profile.to_json());
    }
    profiles
}

/// The date the examples are mapped on (their termination dates are around it).
fn example_day() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 2, 1).expect("a date")
}

fn check_example(rules: &str, users: &str, expected: &[(&str, &str, Option<&str>)]) {
    let program = match Program::load(&repo_path(rules)) {
        Ok(program) => program,
        Err(error) => panic!("{rules} does not load:\n{}", error.render()),
    };
    assert!(program.warnings().is_empty(), "{rules} has warnings");
    let failed = own_test_failures(&program);
    assert!(
        failed.is_empty(),
        "tests in {rules} failed:\n{}",
        failed.join("\n")
    );
    println!("\n{users} mapped with {rules}:");
    let profiles = map_users(&program, users, example_day());
    assert_eq!(profiles.len(), 20, "{users} should hold 20 users");
    for (login, field, value) in expected {
        let got = profiles[*login][*field].as_str();
        assert_eq!(got, *value, "{users}: {login} {field}");
    }
}

/// A Workday-style export (issue 15): "Last, First" names, numbered management levels,
/// separate city and country columns, termination dates, cost centres with codes.
#[test]
fn workday_example() {
    check_example(
        "rules/examples/workday.rules",
        "examples/workday_users.csv",
        &[
            ("ana.diaz@globex.example", "first_name", Some("Ana María")),
            ("ana.diaz@globex.example", "last_name", Some("Diaz")),
            ("ana.diaz@globex.example", "management_level", Some("VP")),
            (
                "ana.diaz@globex.example",
                "business_unit",
                Some("Finance Operations"),
            ),
            ("ana.diaz@globex.example", "location", Some("Madrid, Spain")),
            (
                "li.wei@globex.example",
                "management_level",
                Some("Sr. Director"),
            ),
            (
                "marie.dubois@globex.example",
                "business_unit",
                Some("Opérations France"),
            ),
            ("okonkwo@globex.example", "first_name", None),
            ("okonkwo@globex.example", "last_name", Some("Okonkwo")),
            ("lucas.silva@globex.example", "location", Some("Brazil")),
            // Left before the day: inactive; leaves after it: still active.
            ("john.smith@globex.example", "status", Some("inactive")),
            ("emma.brown@globex.example", "status", Some("active")),
            ("minji.park@globex.example", "status", Some("active")),
            // `31/12/2025` is no MM/DD/YYYY date: not guessed.
            ("paul.roe@globex.example", "status", None),
            // No level sent: the title decides.
            (
                "ines.garcia@globex.example",
                "management_level",
                Some("Individual Contributor"),
            ),
            ("ines.garcia@globex.example", "status", Some("active")),
        ],
    );
}

#[test]
fn bank_example() {
    check_example(
        "rules/examples/bank.rules",
        "examples/bank_users.csv",
        &[
            (
                "h.tanaka@bank.example",
                "management_level",
                Some("Director"),
            ),
            (
                "r.oconnor@bank.example",
                "management_level",
                Some("Director"),
            ),
            (
                "d.kim@bank.example",
                "management_level",
                Some("Sr. Manager"),
            ),
            (
                "c.moreau@bank.example",
                "management_level",
                Some("Executive"),
            ),
            (
                "l.martin@bank.example",
                "management_level",
                Some("Individual Contributor"),
            ),
            ("k.nguyen@bank.example", "management_level", Some("Intern")),
            ("k.nguyen@bank.example", "status", Some("inactive")),
            ("p.garcia@bank.example", "status", Some("active")),
            ("f.rossi@bank.example", "people_manager", Some("yes")),
            ("f.rossi@bank.example", "locale", None),
            ("g.muller@bank.example", "manager_email", None),
            ("g.muller@bank.example", "people_manager", None),
            ("t.sato@bank.example", "management_level", Some("Director")),
        ],
    );
}

#[test]
fn bands_example() {
    check_example(
        "rules/examples/bands.rules",
        "examples/bands_users.csv",
        &[
            (
                "a.rivera@acme.example",
                "management_level",
                Some("Sr. Manager"),
            ),
            ("j.cole@acme.example", "management_level", Some("VP")),
            (
                "l.fournier@acme.example",
                "management_level",
                Some("Sr. Manager"),
            ),
            ("h.yoon@acme.example", "management_level", Some("Manager")),
            ("r.silva@acme.example", "management_level", Some("SVP")),
            ("f.novak@acme.example", "management_level", Some("Director")),
            ("g.abebe@acme.example", "management_level", Some("Analyst")),
            ("f.novak@acme.example", "locale", None),
            ("m.ito@acme.example", "location", Some("San Francisco")),
            ("n.brown@acme.example", "status", Some("inactive")),
            ("w.zhang@acme.example", "status", Some("active")),
        ],
    );
}

/// R0: case, full-width letters, surrounding spaces and trailing `(Contract)`, `[TEMP]`,
/// requisition, region, store and season suffixes never change a title's level.
#[test]
fn r0_noise_keeps_the_level() {
    let program = load_pack();
    let rows = read_csv("tests/data/levels_dev.csv");
    let full_width = |s: &str| -> String {
        s.chars()
            .map(|c| match c {
                '!'..='~' => char::from_u32(c as u32 + 0xFEE0).unwrap_or(c),
                ' ' => '\u{3000}',
                _ => c,
            })
            .collect()
    };
    let mut changed = Vec::new();
    let mut checked = 0;
    for row in &rows {
        let title = &row[0];
        let level = |t: &str| {
            program
                .apply(&FlatRecord::from_pairs([("title", t)]))
                .get("management_level")
                .map(str::to_string)
        };
        let base = level(title);
        let variants = [
            title.to_uppercase(),
            title.to_lowercase(),
            full_width(title),
            format!("\u{a0} {title}  "),
            format!("{title} (Contract)"),
            format!("{title} [TEMP]"),
            format!("{title} (Interim)"),
            format!("{title} #REQ-88123"),
            format!("{title} - EMEA"),
            format!("{title}, Store 0457"),
            format!("{title} – Fall 2025"),
        ];
        for variant in variants {
            checked += 1;
            let got = level(&variant);
            if got != base {
                changed.push(format!(
                    "  {variant:?}: {} (was {})",
                    shown(got.as_deref()),
                    shown(base.as_deref())
                ));
            }
        }
    }
    println!(
        "\nR0 noise: {checked} variants, {} changed level",
        changed.len()
    );
    assert!(
        changed.is_empty(),
        "noise changed the level:\n{}",
        changed.join("\n")
    );
}
