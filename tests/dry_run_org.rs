//! The organisation graph in `canon dry-run`: people_manager derived from who names whom as
//! manager over the whole input, the same with `--jobs` and from standard input, and the
//! report's organisation section (insta snapshot).

mod common;

use common::Run;

const USERS: &str = "tests/data/org/org_users.csv";

fn redact(mut run: Run) -> Run {
    let re = regex::Regex::new(r"[0-9.]+ s, [0-9]+ rows/s(, [0-9.]+ MB/s)?").unwrap();
    run.stderr = re.replace_all(&run.stderr, "[time]").into_owned();
    run
}

fn dry_run(extra: &[&str]) -> Run {
    let mut args = vec![
        "dry-run",
        "--rules",
        "rules/default.rules",
        "--keep",
        "email",
    ];
    args.extend_from_slice(extra);
    redact(common::canon(&args))
}

/// people_manager per email, from a dry run's CSV output.
fn flags(stdout: &str) -> Vec<(String, String)> {
    let mut reader = csv::Reader::from_reader(stdout.as_bytes());
    let header = reader.headers().unwrap().clone();
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (email, flag) = (at("email"), at("people_manager"));
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[email].to_string(), r[flag].to_string())
        })
        .collect()
}

/// The report's organisation section (the rest is the default pack's, snapshotted elsewhere).
fn organisation(report: &str) -> String {
    let start = report
        .find("\norganisation")
        .expect("an organisation section");
    let section = &report[start + 1..];
    let end = section.find("\n\n").unwrap_or(section.len());
    section[..end].to_string()
}

#[test]
fn people_manager_is_derived_over_the_whole_input() {
    let run = dry_run(&[USERS]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let flags = flags(&run.stdout);
    let flag = |email: &str| {
        flags
            .iter()
            .find(|(e, _)| e == email)
            .map(|(_, f)| f.as_str())
            .unwrap()
    };
    // Named by vp (the row after it: the first pass sees the whole input).
    assert_eq!(flag("ceo@acme.com"), "yes");
    // Named as VP@Acme.com: keys are compared after trim | lower.
    assert_eq!(flag("vp@acme.com"), "yes");
    // Named by id (managerId 3 = employeeNumber 3).
    assert_eq!(flag("dir@acme.com"), "yes");
    // Sent "No", named by two: the sent flag wins under the default pack.
    assert_eq!(flag("mgr@acme.com"), "no");
    // Named by nobody: unset, never guessed "no".
    assert_eq!(flag("ana@acme.com"), "");
    // A cycle: each is named by the other, so both manage someone; nothing loops.
    assert_eq!(flag("a@acme.com"), "yes");
    assert_eq!(flag("b@acme.com"), "yes");
    // Naming oneself does not count.
    assert_eq!(flag("me@acme.com"), "");
    insta::assert_snapshot!("dry_run_org_report", organisation(&run.stderr));
}

#[test]
fn jobs_and_standard_input_give_the_same_rows_and_report() {
    let one = dry_run(&[USERS]);
    let two = dry_run(&["--jobs", "2", USERS]);
    assert_eq!(one.stdout, two.stdout);
    assert_eq!(one.stderr, two.stderr);
    let text = std::fs::read(USERS).unwrap();
    let stdin = redact(common::canon_stdin(
        &[
            "dry-run",
            "--rules",
            "rules/default.rules",
            "--keep",
            "email",
            "--input-format",
            "csv",
            "--jobs",
            "2",
            "-",
        ],
        &text,
    ));
    assert_eq!(one.stdout, stdin.stdout);
    assert_eq!(
        one.stderr.replace(USERS, "-"),
        stdin.stderr,
        "the report names standard input `-`, not its copy"
    );
}

#[test]
fn the_report_in_json_has_the_organisation() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let run = dry_run(&["-q", "--report", report.to_str().unwrap(), USERS]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let org = &json["organisation"];
    assert_eq!(org["people"], 13);
    assert_eq!(org["self_references"], 1);
    assert_eq!(org["cycles"], 1);
    assert_eq!(
        org["cycle_examples"][0],
        serde_json::json!(["a@acme.com", "b@acme.com"])
    );
    assert_eq!(org["deepest"], 5);
}

#[test]
fn explain_names_the_people_counted() {
    let run = common::canon(&[
        "explain",
        "--rules",
        "rules/default.rules",
        "--population",
        USERS,
        "--set",
        "email=DIR@acme.com",
        "--set",
        "employeeNumber=3",
        "--field",
        "people_manager",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("people_manager = \"yes\""),
        "{}",
        run.stdout
    );
    // lone@ names dir@ by email, mgr@ by employee number 3 (each key of the record counts).
    assert!(
        run.stdout
            .contains("reports: 2 people report to this person: mgr@acme.com, lone@acme.com"),
        "{}",
        run.stdout
    );
}

/// Where the first pass cannot keep its records (no temporary directory), the run says so
/// and maps the same rows, the same report, counting as it maps.
#[test]
fn without_a_temporary_directory_the_run_warns_and_maps_alike() {
    let kept = dry_run(&[USERS]);
    let run = redact(
        common::command()
            .env("TMPDIR", "/nonexistent/canon-test")
            .args([
                "dry-run",
                "--rules",
                "rules/default.rules",
                "--keep",
                "email",
                USERS,
            ])
            .output()
            .expect("canon runs")
            .into(),
    );
    assert_eq!(run.code, kept.code);
    assert_eq!(run.stdout, kept.stdout);
    let warning = "canon: warning: cannot keep the organisation graph's records in a \
                   temporary file in `/nonexistent/canon-test`";
    assert!(run.stderr.contains(warning), "{}", run.stderr);
    let without_warning: String = run
        .stderr
        .lines()
        .filter(|line| !line.starts_with(warning))
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(without_warning, kept.stderr);
}
