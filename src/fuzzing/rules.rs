//! The rules compiler, end to end: compile → in-file tests → apply (directly and cached, as
//! a flat record and as a CSV row) → explain.

use chrono::NaiveDate;
use serde_json::Value;

use crate::eval::profile::{FieldNote, Profile};
use crate::value::{CsvRecord, FlatRecord, JsonRecord, Record};
use crate::Program;

/// Tests of a file whose records are tried: enough for any corpus file, bounded for any
/// input.
const MAX_TESTS: usize = 32;

/// The input: a rule file (`fuzz.rules`), then, after a line `#@file NAME`, each file it may
/// read (its base, its table CSVs) up to the next such line. A line `#@record {JSON}`
/// anywhere (a comment to the compiler) is a SCIM user to apply the rules to, besides the
/// records of the file's tests.
pub fn rules(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Files { main, files, users } = split(text);
    let program = match Program::from_memory("fuzz.rules", &main, &files) {
        Ok(program) => program,
        Err(error) => {
            // Diagnostics render for people and for the SCIM service's reload.
            let _ = error.render();
            let _ = error.to_json();
            return;
        }
    };
    let today = NaiveDate::from_ymd_opt(2025, 6, 30).expect("a date");
    for test in program.tests().iter().take(MAX_TESTS) {
        let _ = program.run_test_as_of(test, Some(today));
    }

    // The records of the tests, one more with every attribute they name (the last value
    // given to each), and one with none: as flat records, and the same values as CSV rows.
    let mut rows: Vec<Vec<(String, String)>> = program
        .tests()
        .iter()
        .take(MAX_TESTS)
        .map(|test| {
            test.given
                .iter()
                .map(|(path, value)| (path.flat_key().to_string(), value.clone()))
                .collect()
        })
        .collect();
    let mut header: Vec<String> = Vec::new();
    let mut every: Vec<(String, String)> = Vec::new();
    for (key, value) in rows.iter().flatten() {
        match header.iter().position(|h| h == key) {
            Some(at) => every[at].1 = value.clone(),
            None => {
                header.push(key.clone());
                every.push((key.clone(), value.clone()));
            }
        }
    }
    rows.push(every);
    rows.push(Vec::new());
    // A CSV header binds a column by its name trimmed, lower-cased, without a byte-order
    // mark: names that read otherwise are left out of the rows.
    header.retain(|h| h.trim_start_matches('\u{feff}').trim() == h && h.to_lowercase() == *h);
    let binding = program.bind_columns(header.iter().map(String::as_str));
    let csv_rows: Vec<csv::ByteRecord> = rows
        .iter()
        .map(|row| {
            header
                .iter()
                .map(|h| {
                    row.iter()
                        .rev()
                        .find(|(k, _)| k == h)
                        .map_or("", |(_, v)| v.as_str())
                })
                .collect()
        })
        .collect();
    let flat: Vec<FlatRecord> = rows
        .iter()
        .map(|row| FlatRecord::from_pairs(row.iter().map(|(k, v)| (k.as_str(), v.as_str()))))
        .collect();
    // The CSV rows' values as flat records: the same record through both kinds of `Record`.
    let flat_of_csv: Vec<FlatRecord> = csv_rows
        .iter()
        .map(|row| {
            FlatRecord::from_pairs(
                header
                    .iter()
                    .zip(row.iter())
                    .map(|(h, v)| (h.as_str(), std::str::from_utf8(v).unwrap_or_default())),
            )
        })
        .collect();
    let csv: Vec<CsvRecord<'_>> = csv_rows
        .iter()
        .map(|row| CsvRecord::from_bytes(&binding, row))
        .collect();
    let json: Vec<JsonRecord<'_>> = users.iter().map(JsonRecord::new).collect();

    let mut records: Vec<(String, &dyn Record)> = Vec::new();
    for (n, record) in flat.iter().enumerate() {
        records.push((format!("flat record {n} {:?}", rows[n]), record));
    }
    for (n, record) in csv.iter().enumerate() {
        records.push((format!("CSV row {n} {:?}", csv_rows[n]), record));
    }
    for (n, record) in json.iter().enumerate() {
        records.push((format!("SCIM user {n} {}", users[n]), record));
    }
    let direct: Vec<Profile> = records
        .iter()
        .map(|(_, record)| program.apply_on(*record, today))
        .collect();

    // A CSV row and the flat record of its values.
    let offset = flat.len();
    for (n, record) in flat_of_csv.iter().enumerate() {
        let profile = program.apply_on(record, today);
        if !out_of_fuel(&profile) && !out_of_fuel(&direct[offset + n]) {
            assert_eq!(
                direct[offset + n],
                profile,
                "{}: read as a CSV row and as a flat record, the profiles differ",
                records[offset + n].0
            );
        }
    }

    // The cached evaluator, on every record, again in the same order (cached outcomes read
    // back), then backwards.
    let mut evaluator = program.evaluator().on(today);
    let order = (0..records.len())
        .chain(0..records.len())
        .chain((0..records.len()).rev());
    for n in order {
        let (what, record) = &records[n];
        let cached = evaluator.apply(*record);
        if out_of_fuel(&cached) || out_of_fuel(&direct[n]) {
            continue;
        }
        assert_eq!(
            direct[n], cached,
            "{what}: the cached evaluator's profile is not the direct one"
        );
    }

    // `explain` decides as `apply` does.
    for (n, (what, record)) in records.iter().enumerate() {
        let trace = program.explain_on(*record, today);
        let _ = trace.render();
        let _ = serde_json::to_string(&trace);
        if out_of_fuel(&direct[n]) {
            continue;
        }
        for (field, outcome) in trace.fields.iter().zip(direct[n].fields()) {
            if field.note == Some(FieldNote::BudgetExhausted) {
                continue;
            }
            assert_eq!(
                (
                    &field.field,
                    field.value.as_deref(),
                    &field.rule,
                    &field.note
                ),
                (
                    &outcome.name.to_string(),
                    outcome.value.as_deref(),
                    &outcome.rule,
                    &outcome.note
                ),
                "{what}: explain and apply decide field {} differently",
                field.field
            );
        }
    }
}

/// Whether a profile ran out of its budget: then a cached run (which skips work) may decide
/// more fields than a direct one, and `explain` (which tries every rule) fewer.
fn out_of_fuel(profile: &Profile) -> bool {
    profile
        .fields()
        .iter()
        .any(|f| f.note == Some(FieldNote::BudgetExhausted))
}

/// An input taken apart.
struct Files {
    /// The rule file compiled.
    main: String,
    /// The files after it, by name.
    files: Vec<(String, Vec<u8>)>,
    /// The SCIM users of `#@record` lines.
    users: Vec<Value>,
}

fn split(text: &str) -> Files {
    let mut main = String::new();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut users = Vec::new();
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\r', '\n']);
        if let Some(name) = bare.strip_prefix("#@file ") {
            files.push((name.trim().to_string(), Vec::new()));
            continue;
        }
        if let Some(json) = bare.trim_start().strip_prefix("#@record ") {
            if let Ok(user @ Value::Object(_)) = serde_json::from_str(json) {
                users.push(user);
            }
        }
        match files.last_mut() {
            Some((_, bytes)) => bytes.extend_from_slice(line.as_bytes()),
            None => main.push_str(line),
        }
    }
    Files { main, files, users }
}
