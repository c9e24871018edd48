//! `canon test FILE...`: run the tests written in rule files.

use std::path::PathBuf;

use super::{load_rules, print_out, EXIT_OK, EXIT_PROBLEMS};

#[derive(clap::Args)]
pub struct TestArgs {
    /// Rule files whose tests to run (tests of the files they extend run only with
    /// `--inherited`).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Also run the tests of the base files, against this file's rules.
    #[arg(long)]
    inherited: bool,
    /// Run only tests whose name contains this text.
    #[arg(long)]
    filter: Option<String>,
    /// The date that date tests (`is before today`) compare with, instead of the local date.
    #[arg(long, value_name = "YYYY-MM-DD")]
    today: Option<chrono::NaiveDate>,
}

fn shown(value: &Option<String>) -> String {
    value
        .as_ref()
        .map_or_else(|| "unset".to_string(), |v| format!("{v:?}"))
}

pub fn run(args: TestArgs) -> u8 {
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut out = String::new();
    for path in &args.files {
        let program = match load_rules(path) {
            Ok(program) => program,
            Err(code) => return code,
        };
        for test in program.tests() {
            if !(test.own || args.inherited) {
                continue;
            }
            if args
                .filter
                .as_ref()
                .is_some_and(|f| !test.name.contains(f.as_str()))
            {
                continue;
            }
            let failures = program.run_test_as_of(test, args.today);
            if failures.is_empty() {
                passed += 1;
                continue;
            }
            failed += 1;
            let place = program.sources().locate(test.span);
            out.push_str(&format!(
                "{}:{}:{}: test {:?} failed\n",
                place.file, place.line, place.column, test.name
            ));
            for failure in failures {
                out.push_str(&format!(
                    "    {}: expected {}, got {}{}\n",
                    failure.field,
                    shown(&failure.expected),
                    shown(&failure.actual),
                    failure
                        .decided_by
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ));
            }
        }
    }
    out.push_str(&format!("{passed} passed, {failed} failed\n"));
    print_out(&out);
    if failed > 0 {
        EXIT_PROBLEMS
    } else {
        EXIT_OK
    }
}
