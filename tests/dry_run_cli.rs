//! Golden tests of `canon dry-run` and `canon gen-users`: the real binary, its output, its
//! report (insta snapshots, timings redacted) and its exit codes, on every bad-input case.

use std::io::Read;
use std::path::Path;
use std::process::Stdio;

mod common;

use common::{root, Run};

/// `canon ARGS…` (see `common`), its stderr's timings redacted.
fn canon(args: &[&str]) -> Run {
    redact(common::canon(args))
}

/// `canon ARGS…` reading `stdin`, its stderr's timings redacted.
fn canon_stdin(args: &[&str], stdin: &[u8]) -> Run {
    redact(common::canon_stdin(args, stdin))
}

/// Timings change from run to run.
fn redact(mut run: Run) -> Run {
    let re = regex::Regex::new(r"[0-9.]+ s, [0-9]+ rows/s(, [0-9.]+ MB/s)?").unwrap();
    run.stderr = re.replace_all(&run.stderr, "[time]").into_owned();
    run
}

const BASE: &str = "tests/corpus/base.rules";

#[test]
fn dry_run_acme_example_report() {
    let run = canon(&["dry-run", "--rules", BASE, "examples/acme_users.csv"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 201);
    assert_eq!(
        lines[0],
        "id,login,email,first_name,management_level,people_manager,manager_email,locale,row_status"
    );
    insta::assert_snapshot!("dry_run_acme_report", run.stderr);
}

#[test]
fn dry_run_default_pack_on_the_quick_start_example() {
    let run = canon(&[
        "dry-run",
        "-q",
        "--rules",
        "rules/default.rules",
        "examples/acme_users.csv",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 201);
}

#[test]
fn dry_run_jobs_keep_input_order() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.csv");
    let users = users.to_str().unwrap();
    assert_eq!(
        canon(&["gen-users", "--rows", "3000", "--seed", "5", "--out", users]).code,
        0
    );
    let one = canon(&["dry-run", "-q", "--rules", BASE, users]);
    let four = canon(&["dry-run", "-q", "--jobs", "4", "--rules", BASE, users]);
    assert_eq!(one.code, 0);
    assert_eq!(four.code, 0);
    assert_eq!(one.stdout.lines().count(), 3001);
    assert_eq!(one.stdout, four.stdout);
}

/// Workers parse their own blocks of the file in a parallel run: the output, the bad rows
/// (row and line) and the report must be those of one worker reading row by row.
#[test]
fn dry_run_jobs_report_bad_rows_where_one_worker_does() {
    let dir = tempfile::tempdir().unwrap();
    let generated = dir.path().join("generated.csv");
    assert_eq!(
        canon(&[
            "gen-users",
            "--rows",
            "3000",
            "--seed",
            "9",
            "--out",
            generated.to_str().unwrap()
        ])
        .code,
        0
    );
    // The generated rows (quoted commas, quotes and line breaks), with a row that is not
    // UTF-8 after every 400th, in CRLF.
    let mut reader = csv::Reader::from_path(&generated).unwrap();
    let users = dir.path().join("users.csv");
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .flexible(true)
        .from_path(&users)
        .unwrap();
    writer
        .write_byte_record(reader.byte_headers().unwrap())
        .unwrap();
    for (n, record) in reader.byte_records().enumerate() {
        writer.write_byte_record(&record.unwrap()).unwrap();
        if n % 400 == 399 {
            writer
                .write_byte_record(&csv::ByteRecord::from(vec![&b"bad"[..], b"\xFF\xFE"]))
                .unwrap();
        }
    }
    writer.flush().unwrap();
    let users = users.to_str().unwrap();
    // SCIM lines with bad ones between the two exports: the reader finds those, the workers
    // the CSV rows; both must be reported in input order.
    let lines = "examples/bad/bad_lines.jsonl";
    let report = |jobs: &str| {
        let path = dir.path().join(format!("report-{jobs}.json"));
        let run = canon(&[
            "dry-run",
            "--jobs",
            jobs,
            "--rules",
            BASE,
            users,
            lines,
            users,
            "--report",
            path.to_str().unwrap(),
        ]);
        let mut json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        for timing in ["seconds", "rows_per_second", "megabytes_per_second"] {
            json.as_object_mut().unwrap().remove(timing);
        }
        (run, json)
    };
    let (one, one_report) = report("1");
    assert_eq!(one.code, 1, "{}", one.stderr);
    assert_eq!(one.stdout.lines().count(), 1 + 3000 + 2 + 3000);
    assert_eq!(
        one.stderr.matches("is not valid UTF-8 (skipped)").count(),
        14
    );
    // Each bad line is printed as it comes, then listed in the report.
    assert_eq!(one.stderr.matches("bad_lines.jsonl: line").count(), 4);
    for jobs in ["2", "3"] {
        let (run, run_report) = report(jobs);
        assert_eq!(run.code, one.code, "--jobs {jobs}");
        assert_eq!(run.stdout, one.stdout, "--jobs {jobs}");
        assert_eq!(run.stderr, one.stderr, "--jobs {jobs}");
        assert_eq!(run_report, one_report, "--jobs {jobs}");
    }
}

#[test]
fn dry_run_bad_utf8_row_is_reported_with_its_row_and_skipped() {
    let run = canon(&["dry-run", "--rules", BASE, "examples/bad/bad_utf8.csv"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stdout.lines().count(),
        3,
        "header + 2 good rows: {}",
        run.stdout
    );
    assert!(
        run.stderr.contains(
            "examples/bad/bad_utf8.csv: row 2 (line 3): field 3 is not valid UTF-8 (skipped)"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("3 rows in: 2 out"), "{}", run.stderr);
}

/// A bad row's line counts every line break before it, blank lines included (before and
/// after the header, CRLF and lone CR too), with one worker, two, and `--strict`.
#[test]
fn dry_run_bad_row_line_counts_blank_lines() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("blank_lines.csv");
    std::fs::write(
        &users,
        b"\n\nid,title\r\n\r\n1,\"Engineer\nII\"\r2,VP\n\n\n3,\xFF\n4,Analyst\n",
    )
    .unwrap();
    for args in [&["-j", "1"][..], &["-j", "2"], &["--strict"]] {
        let mut all = vec!["dry-run", "-q", "--rules", BASE];
        all.extend_from_slice(args);
        all.push(users.to_str().unwrap());
        let run = canon(&all);
        assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr
                .contains("blank_lines.csv: row 3 (line 10): field 2 is not valid UTF-8"),
            "{args:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn dry_run_strict_stops_at_the_first_bad_row() {
    let run = canon(&[
        "dry-run",
        "-q",
        "--strict",
        "--rules",
        BASE,
        "examples/bad/bad_utf8.csv",
    ]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stdout.lines().count(),
        2,
        "only the row before the bad one: {}",
        run.stdout
    );
}

#[test]
fn dry_run_csv_bom_crlf_quoted_newline_and_rows_of_the_wrong_width() {
    for jobs in ["1", "2"] {
        let run = canon(&[
            "dry-run",
            "-q",
            "-j",
            jobs,
            "--rules",
            BASE,
            "--keep",
            "id,login",
            "examples/bad/ragged_bom_crlf.csv",
        ]);
        // A short row and a row with a cell too many are bad rows, never mapped: an unquoted
        // comma in a name shifts every later column.
        assert_eq!(run.code, 1, "{}", run.stderr);
        // Warnings first (inputs that read no column of this export), then the bad rows, in
        // input order with either number of workers.
        insta::assert_snapshot!("dry_run_wrong_width_stderr", run.stderr);
        insta::assert_snapshot!("dry_run_wrong_width_output", run.stdout);
    }
    // `--strict` stops at the first.
    let run = canon(&[
        "dry-run",
        "-q",
        "--strict",
        "--rules",
        BASE,
        "examples/bad/ragged_bom_crlf.csv",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("row 2 (line 4): 2 cells, but the header has 4"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout.lines().count(), 2, "{}", run.stdout);
}

#[test]
fn dry_run_jsonl_bad_lines_are_reported_and_skipped() {
    let run = canon(&[
        "dry-run",
        "--format",
        "jsonl",
        "--rules",
        BASE,
        "examples/bad/bad_lines.jsonl",
    ]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("bad_lines.jsonl: line 3: not a JSON object"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("bad_lines.jsonl: line 4: not JSON"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("4 rows in: 2 out"), "{}", run.stderr);
    let rows: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["userName"], "a@x.com");
    assert_eq!(rows[0]["management_level"], "VP");
}

#[test]
fn dry_run_scim_list_response_and_stdin() {
    let run = canon(&[
        "dry-run",
        "-q",
        "--rules",
        BASE,
        "examples/bad/list_response.json",
    ]);
    assert_eq!(run.code, 1, "one resource is not an object");
    assert_eq!(run.stdout.lines().count(), 3);
    let jsonl = std::fs::read(root().join("examples/acme_users.jsonl")).unwrap();
    let run = canon_stdin(
        &[
            "dry-run",
            "-q",
            "--input-format",
            "jsonl",
            "--rules",
            BASE,
            "-",
        ],
        &jsonl,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 51);
    assert!(run.stdout.starts_with("id,externalId,userName,"));
}

#[test]
fn dry_run_report_files_count_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let md = dir.path().join("report.md");
    for report in [&json, &md] {
        let run = canon(&[
            "dry-run",
            "-q",
            "--rules",
            BASE,
            "--report",
            report.to_str().unwrap(),
            "examples/bad/bad_utf8.csv",
            "examples/acme_users.csv",
        ]);
        assert_eq!(run.code, 1);
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["rows_in"], 203);
    assert_eq!(report["rows_out"], 202);
    assert_eq!(report["rows_bad"], 1);
    assert_eq!(report["bad_rows"][0]["at"], "row 2 (line 3)");
    let level = &report["fields"][1];
    assert_eq!(level["field"], "management_level");
    assert!(level["never_fired"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r.as_str().unwrap().starts_with("explicit")));
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.starts_with("# Dry-run coverage"));
    assert!(md.contains("## `management_level`"));
}

#[test]
fn dry_run_closed_pipe_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.csv");
    assert_eq!(
        canon(&[
            "gen-users",
            "--rows",
            "20000",
            "--out",
            users.to_str().unwrap()
        ])
        .code,
        0
    );
    for jobs in ["1", "2"] {
        let mut child = common::command()
            .args([
                "dry-run",
                "-q",
                "-j",
                jobs,
                "--rules",
                BASE,
                users.to_str().unwrap(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 100];
        stdout.read_exact(&mut first).unwrap();
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A write that fails (a full disk) is an error, with one worker as with several: the run
/// must not exit 0 with its output cut short.
#[test]
fn dry_run_failed_write_is_an_error() {
    if !Path::new("/dev/full").exists() {
        return;
    }
    for jobs in ["1", "2"] {
        let run = canon(&[
            "dry-run",
            "-q",
            "-j",
            jobs,
            "--rules",
            BASE,
            "examples/acme_users.csv",
            "--out",
            "/dev/full",
        ]);
        assert_eq!(run.code, 2, "jobs {jobs}: {}", run.stderr);
        assert!(
            run.stderr.contains("cannot write the output"),
            "jobs {jobs}: {}",
            run.stderr
        );
    }
}

#[test]
fn dry_run_usage_errors_exit_2() {
    let run = canon(&["dry-run", "--rules", BASE, "no/such/file.csv"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("cannot read `no/such/file.csv`"),
        "{}",
        run.stderr
    );
    let run = canon(&[
        "dry-run",
        "--rules",
        BASE,
        "-j",
        "100000",
        "examples/acme_users.csv",
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("at most 256 worker threads"),
        "{}",
        run.stderr
    );
    let run = canon(&["dry-run", "--rules", BASE, "README.md"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--input-format"), "{}", run.stderr);
    let run = canon(&[
        "dry-run",
        "--rules",
        BASE,
        "--report",
        "x.html",
        "examples/acme_users.csv",
    ]);
    assert_eq!(run.code, 2);
}

#[test]
fn gen_users_is_deterministic_and_makes_the_bundled_example() {
    let run = canon(&["gen-users", "--rows", "200", "--seed", "42"]);
    assert_eq!(run.code, 0);
    let bundled =
        std::fs::read_to_string(Path::new(&root()).join("examples/acme_users.csv")).unwrap();
    assert_eq!(
        run.stdout, bundled,
        "examples/acme_users.csv is `canon gen-users --rows 200 --seed 42`"
    );
    let jsonl = canon(&[
        "gen-users",
        "--rows",
        "50",
        "--seed",
        "42",
        "--format",
        "scim-jsonl",
    ]);
    let bundled =
        std::fs::read_to_string(Path::new(&root()).join("examples/acme_users.jsonl")).unwrap();
    assert_eq!(jsonl.stdout, bundled);
}

/// Issue 15, defect 3: two columns of one name that the rules read stop the run before any
/// row is mapped (the first would have been read silently); a name no rule reads only warns.
#[test]
fn duplicate_header_names_the_rules_read_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("dup.csv");
    std::fs::write(
        &export,
        "id,title,Notes,Title,notes\n1,VP Sales,a,Engineer,b\n",
    )
    .unwrap();
    let run = canon(&["dry-run", "--rules", BASE, export.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let stderr = run.stderr.replace(&dir.path().display().to_string(), "TMP");
    assert!(
        stderr.contains("canon: warning: `TMP/dup.csv`: columns 3 and 5 are all named `Notes` (no rule reads it)\n"),
        "{stderr}"
    );
    assert!(
        stderr.ends_with("canon: `TMP/dup.csv`: columns 2 and 4 are all named `title`, and the rules read `title`: rename all but one (Canon will not guess which is meant)\n"),
        "{stderr}"
    );
}

/// Issue 15, defect 1: the product requires names; a row without them is not complete.
#[test]
fn a_row_without_names_is_not_complete() {
    let run = canon_stdin(
        &[
            "dry-run",
            "-q",
            "--rules",
            "rules/default.rules",
            "--input-format",
            "csv",
            "-",
        ],
        b"id,firstName,lastName,title\n1,,,VP Sales\n2,Ana,Diaz,VP Sales\n",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let status: Vec<&str> = run
        .stdout
        .lines()
        .skip(1)
        .map(|line| line.rsplit(',').next().unwrap())
        .collect();
    assert_eq!(
        status,
        ["missing:first_name+last_name", "complete"],
        "{}",
        run.stdout
    );
}
