//! The rules engine over folders of inputs: parse trees, diagnostics, traces and mapping
//! cases. Add a file to a folder to add a test; review snapshots with `cargo insta review`.

use std::path::{Path, PathBuf};

use canon::syntax::{parse, sexpr};
use canon::{FlatRecord, JsonRecord, Program};

/// Paths in snapshots are relative to the crate, whatever the machine.
fn relative(path: &Path) -> PathBuf {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(path)
        .to_path_buf()
}

#[test]
fn parse_trees() {
    insta::glob!("corpus/parse/*.rules", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let (tree, diagnostics) = parse(&text, canon::diag::FileId(0));
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        insta::assert_snapshot!(sexpr::file(&tree));
    });
}

/// Rendered diagnostics of `canon check`: every problem of a file, with its place.
#[test]
fn check_diagnostics() {
    insta::glob!("corpus/check/*.rules", |path| {
        let path = relative(path);
        let rendered = match Program::load(&path) {
            Ok(program) => {
                let mut out = String::new();
                for warning in program.warnings() {
                    out.push_str(&warning.render(program.sources()));
                    out.push('\n');
                }
                out.push_str(&format!(
                    "loaded with {} warning(s)\n",
                    program.warnings().len()
                ));
                out
            }
            Err(error) => error.render(),
        };
        insta::assert_snapshot!(rendered);
    });
}

#[derive(serde::Deserialize)]
struct ExplainCase {
    rules: String,
    #[serde(default)]
    record: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    scim: Option<serde_json::Value>,
}

#[test]
fn explain_traces() {
    insta::glob!("corpus/explain/*.yaml", |path| {
        let case: ExplainCase =
            serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let rules = relative(&path.parent().unwrap().parent().unwrap().join(&case.rules));
        let program = Program::load(&rules).unwrap_or_else(|e| panic!("{e}"));
        let trace = match (&case.record, &case.scim) {
            (Some(record), None) => program.explain(&FlatRecord::from_pairs(
                record.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            )),
            (None, Some(scim)) => program.explain(&JsonRecord::new(scim)),
            _ => panic!("a case has either `record` or `scim`"),
        };
        insta::assert_snapshot!(trace.render());
    });
}

#[derive(serde::Deserialize)]
struct MappingCase {
    name: String,
    rules: String,
    #[serde(default)]
    record: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    scim: Option<serde_json::Value>,
    expect: std::collections::BTreeMap<String, Option<String>>,
}

/// The data rows of `tests/cases/*.yaml`: each maps one record and checks the fields it names.
#[test]
fn mapping_cases() {
    let mut failures = Vec::new();
    let mut count = 0;
    for entry in std::fs::read_dir("tests/cases").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let cases: Vec<MappingCase> =
            serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for case in cases {
            count += 1;
            let program = Program::load(Path::new(&case.rules)).unwrap_or_else(|e| panic!("{e}"));
            let profile = match (&case.record, &case.scim) {
                (Some(record), None) => program.apply(&FlatRecord::from_pairs(
                    record.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                )),
                (None, Some(scim)) => program.apply(&JsonRecord::new(scim)),
                _ => panic!("{}: a case has either `record` or `scim`", case.name),
            };
            for (field, expected) in &case.expect {
                assert!(
                    profile.field(field).is_some(),
                    "{}: no field {field}",
                    case.name
                );
                let actual = profile.get(field).map(str::to_string);
                if actual != *expected {
                    failures.push(format!(
                        "{} ({}): {field} expected {expected:?}, got {actual:?}",
                        case.name,
                        path.display()
                    ));
                }
            }
        }
    }
    assert!(count > 0, "no mapping cases found");
    assert!(
        failures.is_empty(),
        "{} of {count} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
