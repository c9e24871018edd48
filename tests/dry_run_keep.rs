//! `--keep` in `canon dry-run`: regression tests for a raw column named like a canonical field
//! (two `status` columns) and for a kept column no input has (an empty column, silently).

mod common;

use common::{canon, Run};

#[test]
fn dry_run_keep_column_named_like_a_field_is_written_as_raw() {
    let Run {
        code,
        stdout: out,
        stderr: err,
    } = canon(&[
        "dry-run",
        "-q",
        "--rules",
        "rules/default.rules",
        "--keep",
        "id,status",
        "examples/acme_users.csv",
    ]);
    assert_eq!(code, 0, "{err}");
    let header: Vec<&str> = out.lines().next().unwrap_or("").split(',').collect();
    assert_eq!(header[..2], ["id", "raw_status"]);
    assert_eq!(
        header.iter().filter(|c| **c == "status").count(),
        1,
        "{header:?}"
    );
    assert_eq!(header.last(), Some(&"row_status"));
}

#[test]
fn dry_run_keep_unknown_column_is_a_usage_error() {
    let Run {
        code,
        stdout: out,
        stderr: err,
    } = canon(&[
        "dry-run",
        "-q",
        "--rules",
        "rules/default.rules",
        "--keep",
        "id,nosuch",
        "examples/acme_users.csv",
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("--keep `nosuch`"), "{err}");
}
