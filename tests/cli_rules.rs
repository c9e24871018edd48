//! Golden tests of the real `canon` binary: check, test and explain, their output and exit codes.

mod common;

use common::{canon, Run};

#[test]
fn check_clean_file_exits_0() {
    let Run {
        code, stdout: out, ..
    } = canon(&["check", "tests/corpus/check/clean_customer.rules"]);
    assert_eq!(code, 0, "{out}");
    insta::assert_snapshot!(out, @"tests/corpus/check/clean_customer.rules: 0 errors, 0 warnings");
}

#[test]
fn check_reports_every_problem_and_exits_1() {
    let Run {
        code, stdout: out, ..
    } = canon(&[
        "check",
        "tests/corpus/check/unknown_names.rules",
        "tests/corpus/check/syntax_errors.rules",
    ]);
    assert_eq!(code, 1);
    assert!(
        out.contains("tests/corpus/check/unknown_names.rules: 11 errors, 3 warnings"),
        "{out}"
    );
    assert!(
        out.contains("tests/corpus/check/syntax_errors.rules: 5 errors, 0 warnings"),
        "{out}"
    );
    assert!(
        out.contains("unknown_names.rules:8:12: error[E0102]: no input `titel`"),
        "{out}"
    );
}

#[test]
fn check_json_is_machine_readable() {
    let Run {
        code, stdout: out, ..
    } = canon(&[
        "check",
        "--format",
        "json",
        "tests/corpus/check/input_cycle.rules",
    ]);
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json[0]["code"], "E0116");
    assert_eq!(json[0]["line"], 3);
    assert_eq!(json[0]["column"], 12);
}

#[test]
fn check_warnings_fail_only_when_denied() {
    assert_eq!(
        canon(&["check", "tests/corpus/check/too_deep.rules"]).code,
        1
    );
    let Run { code, .. } = canon(&["check", "tests/corpus/base.rules"]);
    assert_eq!(code, 0);
}

#[test]
fn missing_file_is_a_usage_error() {
    let Run {
        code, stderr: err, ..
    } = canon(&["check", "no/such.rules"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read `no/such.rules`"), "{err}");
    assert_eq!(canon(&["test", "no/such.rules"]).code, 2);
    assert_eq!(canon(&["frobnicate"]).code, 2);
}

#[test]
fn test_reports_passes_and_failures() {
    let Run {
        code, stdout: out, ..
    } = canon(&["test", "tests/corpus/base.rules"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.ends_with("7 passed, 0 failed\n"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    let failing = dir.path().join("failing.rules");
    std::fs::write(
        &failing,
        format!(
            "extends \"{}\"\n\ntest \"wrong on purpose\" {{\n  title = \"CEO\"\n  expect management_level = VP\n}}\n",
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/base.rules").display()
        ),
    )
    .unwrap();
    let Run {
        code, stdout: out, ..
    } = canon(&["test", failing.to_str().unwrap()]);
    assert_eq!(code, 1);
    let out = out
        .replace(&dir.path().display().to_string(), "TMP")
        .replace(env!("CARGO_MANIFEST_DIR"), "CRATE");
    insta::assert_snapshot!(out, @r#"
    TMP/failing.rules:3:6: test "wrong on purpose" failed
        management_level: expected "VP", got "Executive" (rule exec at CRATE/tests/corpus/base.rules:33)
    0 passed, 1 failed
    "#);
}

/// `require`/`optional` in a customer file, and tests that expect the row's status.
#[test]
fn tests_expect_a_rows_status() {
    let Run {
        code, stdout: out, ..
    } = canon(&["test", "tests/corpus/check/clean_requirements.rules"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.ends_with("2 passed, 0 failed\n"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    let failing = dir.path().join("status.rules");
    std::fs::write(
        &failing,
        format!(
            "extends \"{}\"\n\ntest \"complete, says the author\" {{\n  title = \"CEO\"\n  expect complete\n}}\n\ntest \"missing the level, says the author too\" {{\n  firstName = \"Ana\"\n  expect missing management_level\n}}\n",
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/base.rules").display()
        ),
    )
    .unwrap();
    let Run {
        code, stdout: out, ..
    } = canon(&["test", failing.to_str().unwrap()]);
    assert_eq!(code, 1);
    let out = out.replace(&dir.path().display().to_string(), "TMP");
    insta::assert_snapshot!(out, @r#"
    TMP/status.rules:3:6: test "complete, says the author" failed
        row: expected "complete", got "missing first_name"
    TMP/status.rules:8:6: test "missing the level, says the author too" failed
        row: expected "missing management_level", got "complete"
    0 passed, 2 failed
    "#);
}

#[test]
fn explain_for_people_and_machines() {
    let Run {
        code, stdout: out, ..
    } = canon(&[
        "explain",
        "--rules",
        "tests/corpus/base.rules",
        "--set",
        "title=Sr. Dir, Ops",
        "--set",
        "locale=fr_CA",
        "--field",
        "locale",
    ]);
    assert_eq!(code, 0);
    insta::assert_snapshot!(out);
    let Run {
        code, stdout: out, ..
    } = canon(&[
        "explain",
        "--rules",
        "tests/corpus/base.rules",
        "--set",
        "title=VP",
        "--format",
        "json",
        "--field",
        "management_level",
    ]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["fields"][0]["value"], "VP");
    assert_eq!(json["fields"][0]["rule"]["id"], "vp");
    assert_eq!(json["fields"][0]["inputs"][1]["steps"][2]["result"], "vp");
}

#[test]
fn explain_a_scim_record_file() {
    let dir = tempfile::tempdir().unwrap();
    let user = dir.path().join("user.json");
    std::fs::write(&user, r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"name":{"givenName":"Ana"},"title":"CEO"}"#).unwrap();
    let Run {
        code, stdout: out, ..
    } = canon(&[
        "explain",
        "--rules",
        "tests/corpus/base.rules",
        "--record",
        user.to_str().unwrap(),
        "--field",
        "first_name,management_level",
    ]);
    assert_eq!(code, 0);
    assert!(out.starts_with("first_name = \"Ana\""), "{out}");
    assert!(out.contains("management_level = \"Executive\""), "{out}");
    std::fs::write(&user, "[1]").unwrap();
    assert_eq!(
        canon(&[
            "explain",
            "--rules",
            "tests/corpus/base.rules",
            "--record",
            user.to_str().unwrap()
        ])
        .code,
        2
    );
    assert_eq!(
        canon(&[
            "explain",
            "--rules",
            "tests/corpus/base.rules",
            "--set",
            "novalue"
        ])
        .code,
        2
    );
    assert_eq!(
        canon(&[
            "explain",
            "--rules",
            "tests/corpus/base.rules",
            "--field",
            "nope"
        ])
        .code,
        2
    );
}
