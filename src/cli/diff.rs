//! `canon diff`: what a rule change would do to real data — per field, a transition matrix,
//! the changed rows with the rule that decided before and after, and a summary line.

use std::path::PathBuf;

use clap::Args;

use super::{fail_usage, load_rules, print_out, EXIT_OK, EXIT_PROBLEMS};
use crate::input::{Input, InputFormat};
use crate::report::DiffStats;
use crate::{CsvRecord, JsonRecord};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Markdown,
    Json,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The rule file in use today.
    #[arg(long)]
    rules: PathBuf,
    /// The changed rule file.
    #[arg(long)]
    against: PathBuf,
    /// CSV, SCIM JSON or JSONL inputs; `-` reads stdin.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    #[arg(long, value_enum)]
    input_format: Option<InputFormat>,
    /// How many changed rows to show.
    #[arg(long, short = 'n', default_value_t = 20)]
    rows: usize,
    /// Show every changed row.
    #[arg(long)]
    all: bool,
    /// Identifying columns to show with each changed row (default: id, login, email when
    /// present; id, externalId, userName for JSON).
    #[arg(long, value_delimiter = ',')]
    keep: Vec<String>,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Exit 1 when anything changes (for review).
    #[arg(long)]
    fail_on_change: bool,
    /// The date that date tests (`is before today`) compare with, instead of the local date.
    #[arg(long, value_name = "YYYY-MM-DD")]
    today: Option<chrono::NaiveDate>,
}

pub fn run(args: DiffArgs) -> u8 {
    let old = match load_rules(&args.rules) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let new = match load_rules(&args.against) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let inputs = match Input::open_all(&args.inputs, args.input_format) {
        Ok(inputs) => inputs,
        Err(error) => return fail_usage(error),
    };
    // A `--keep` column that no CSV header has is a typo, not an empty column.
    for column in &args.keep {
        let headers: Vec<&[String]> = inputs
            .iter()
            .filter_map(|input| match input {
                Input::Csv(csv) => Some(csv.header()),
                Input::Json(_) => None,
            })
            .collect();
        if headers.len() == inputs.len()
            && !headers
                .iter()
                .any(|h| h.iter().any(|c| c.eq_ignore_ascii_case(column)))
        {
            return fail_usage(format!("--keep `{column}`: no input has that column"));
        }
    }
    let csv_keys: Vec<&str> = match args.keep.is_empty() {
        true => vec!["id", "login", "email"],
        false => args.keep.iter().map(String::as_str).collect(),
    };
    let json_keys: Vec<&str> = match args.keep.is_empty() {
        true => vec!["id", "externalId", "userName"],
        false => args.keep.iter().map(String::as_str).collect(),
    };
    let keep = if args.all { usize::MAX } else { args.rows };
    let mut stats = DiffStats::default();
    // Both rule files decide every row on one date.
    let today = args
        .today
        .unwrap_or_else(|| chrono::Local::now().date_naive());
    let (mut ev_old, mut ev_new) = (old.evaluator().on(today), new.evaluator().on(today));
    let mut bad = 0u64;
    for input in inputs {
        match input {
            Input::Csv(mut csv) => {
                let b_old = old.bind_columns(csv.header().iter().map(String::as_str));
                let b_new = new.bind_columns(csv.header().iter().map(String::as_str));
                let header: Vec<String> = csv.header().to_vec();
                let keys: Vec<usize> = csv_keys
                    .iter()
                    .filter_map(|k| header.iter().position(|h| h.eq_ignore_ascii_case(k)))
                    .collect();
                let mut record = crate::input::CsvRow::default();
                let mut row = 0u64;
                loop {
                    match csv.read(&mut record) {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(b) => {
                            eprintln!("canon: {b} (skipped)");
                            bad += 1;
                            if csv.stopped() {
                                break;
                            }
                            row += 1;
                            continue;
                        }
                    }
                    row += 1;
                    let p_old = ev_old.apply(&CsvRecord::from_bytes(&b_old, &record));
                    let p_new = ev_new.apply(&CsvRecord::from_bytes(&b_new, &record));
                    let name = csv.name.clone();
                    stats.add(
                        || {
                            (
                                format!("{name}: row {row}"),
                                keys.iter()
                                    .map(|&i| {
                                        (
                                            header[i].clone(),
                                            String::from_utf8_lossy(
                                                record.get(i).unwrap_or_default(),
                                            )
                                            .into_owned(),
                                        )
                                    })
                                    .collect(),
                            )
                        },
                        &p_old,
                        &p_new,
                        keep,
                    );
                }
            }
            Input::Json(mut json) => {
                let mut item = 0u64;
                while let Some(next) = json.next_user() {
                    item += 1;
                    let value = match next {
                        Ok(value) => value,
                        Err(b) => {
                            eprintln!("canon: {b} (skipped)");
                            bad += 1;
                            continue;
                        }
                    };
                    let p_old = ev_old.apply(&JsonRecord::new(&value));
                    let p_new = ev_new.apply(&JsonRecord::new(&value));
                    let name = json.name.clone();
                    stats.add(
                        || {
                            let keys = json_keys
                                .iter()
                                .filter_map(|k| {
                                    value
                                        .get(*k)
                                        .and_then(|v| v.as_str())
                                        .map(|v| (k.to_string(), v.to_string()))
                                })
                                .collect();
                            (format!("{name}: record {item}"), keys)
                        },
                        &p_old,
                        &p_new,
                        keep,
                    );
                }
            }
        }
    }
    let report = stats.report(bad);
    let text = match args.format {
        Format::Text => report.to_text(),
        Format::Markdown => report.to_markdown(),
        Format::Json => serde_json::to_string_pretty(&report.to_json()).unwrap_or_default() + "\n",
    };
    print_out(&text);
    if bad > 0 || (args.fail_on_change && report.changed_rows > 0) {
        EXIT_PROBLEMS
    } else {
        EXIT_OK
    }
}
