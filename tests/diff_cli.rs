//! Golden tests of `canon diff`: the transition matrix, changed rows and exit codes.

mod common;

use common::{canon, Run};

#[test]
fn diff_acme_example_snapshot() {
    let Run {
        code,
        stdout,
        stderr,
    } = canon(&[
        "diff",
        "--rules",
        "examples/diff/old.rules",
        "--against",
        "examples/diff/new.rules",
        "-n",
        "5",
        "examples/acme_users.csv",
    ]);
    assert_eq!(code, 0, "{stderr}");
    insta::assert_snapshot!("diff_acme", stdout);
}

#[test]
fn diff_fail_on_change_exits_1_only_when_something_changes() {
    let args = [
        "diff",
        "--fail-on-change",
        "--rules",
        "examples/diff/old.rules",
        "--against",
    ];
    let Run { code, .. } = canon(
        &[
            &args[..],
            &["examples/diff/new.rules", "examples/acme_users.csv"],
        ]
        .concat(),
    );
    assert_eq!(code, 1);
    let Run { code, stdout, .. } = canon(
        &[
            &args[..],
            &["examples/diff/old.rules", "examples/acme_users.csv"],
        ]
        .concat(),
    );
    assert_eq!(code, 0);
    assert_eq!(stdout.trim(), "no change in 200 rows");
}

#[test]
fn diff_all_and_json() {
    let Run { code, stdout, .. } = canon(&[
        "diff",
        "--all",
        "--format",
        "json",
        "--rules",
        "examples/diff/old.rules",
        "--against",
        "examples/diff/new.rules",
        "examples/acme_users.jsonl",
    ]);
    assert_eq!(code, 0);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let changed = report["changed_rows"].as_u64().unwrap();
    assert!(changed > 0);
    assert_eq!(
        report["changed"].as_array().unwrap().len() as u64,
        changed,
        "--all shows every changed row"
    );
    assert_eq!(report["rows"], 50);
}

#[test]
fn diff_reports_bad_rows() {
    let Run { code, stderr, .. } = canon(&[
        "diff",
        "--rules",
        "examples/diff/old.rules",
        "--against",
        "examples/diff/new.rules",
        "examples/bad/bad_utf8.csv",
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("row 2 (line 3)"), "{stderr}");
}

/// `--keep` names the identifying columns shown with each changed row, as in a dry run.
#[test]
fn diff_keep_chooses_the_identifying_columns() {
    let run = |keep: &str| {
        canon(&[
            "diff",
            "--format",
            "json",
            "--keep",
            keep,
            "--rules",
            "examples/diff/old.rules",
            "--against",
            "examples/diff/new.rules",
            "examples/acme_users.csv",
        ])
    };
    let Run { code, stdout, .. } = run("employeeNumber,department");
    assert_eq!(code, 0);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let keys: Vec<&str> = report["changed"][0]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| pair[0].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["employeeNumber", "department"]);
    let Run { code, stderr, .. } = run("employeNumber");
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        "canon: --keep `employeNumber`: no input has that column\n"
    );
}
