//! `canon explain --rules FILE --set title="Sr. Dir, Ops"` or `--record user.json`.

use std::path::PathBuf;

use super::{fail_usage, load_rules, print_out, EXIT_OK};
use crate::value::{FlatRecord, JsonRecord};

#[derive(clap::Args)]
pub struct ExplainArgs {
    /// The rule file.
    #[arg(long)]
    rules: PathBuf,
    /// An attribute of the record: `--set title="Sr. Dir, Ops" --set locale=fr_CA`.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    set: Vec<String>,
    /// A whole record as JSON (a SCIM user, or an object of column → value).
    #[arg(long, conflicts_with = "set")]
    record: Option<PathBuf>,
    /// Only these fields (comma-separated).
    #[arg(long, value_delimiter = ',')]
    field: Vec<String>,
    /// `text` for people, `json` for tools.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
    /// Evaluate the record in the population of this export (CSV, JSON or JSONL): `reports`
    /// tests count, and the trace names, the people who name the record as manager.
    #[arg(long, value_name = "FILE")]
    population: Option<PathBuf>,
    /// The date that date tests (`is before today`) compare with, instead of the local date.
    #[arg(long, value_name = "YYYY-MM-DD")]
    today: Option<chrono::NaiveDate>,
}

pub fn run(args: ExplainArgs) -> u8 {
    let program = match load_rules(&args.rules) {
        Ok(program) => program,
        Err(code) => return code,
    };
    let today = args
        .today
        .unwrap_or_else(|| chrono::Local::now().date_naive());
    let population = match &args.population {
        Some(path) => {
            let paths = [path.clone()];
            match super::dry_run::org::index_population(
                &program,
                crate::eval::org::PEOPLE_SHOWN,
                &paths,
                &paths,
                None,
                today,
            ) {
                Ok(index) => Some(index),
                Err(error) => return fail_usage(error),
            }
        }
        None => None,
    };
    let population = population
        .as_ref()
        .map(|p| p as &dyn crate::eval::Population);
    let mut trace = if let Some(path) = &args.record {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) => return fail_usage(format!("cannot read `{}`: {error}", path.display())),
        };
        let json: serde_json::Value = match serde_json::from_str(&text) {
            Ok(json) => json,
            Err(error) => return fail_usage(format!("`{}` is not JSON: {error}", path.display())),
        };
        if !json.is_object() {
            return fail_usage(format!(
                "`{}` must hold one JSON object (a user)",
                path.display()
            ));
        }
        explain(&program, &JsonRecord::new(&json), args.today, population)
    } else {
        let mut record = FlatRecord::new();
        for pair in &args.set {
            let Some((name, value)) = pair.split_once('=') else {
                return fail_usage(format!("`--set {pair}`: write NAME=VALUE"));
            };
            record.set(name.trim(), value);
        }
        explain(&program, &record, args.today, population)
    };
    if !args.field.is_empty() {
        let unknown: Vec<&String> = args
            .field
            .iter()
            .filter(|f| trace.field(f).is_none())
            .collect();
        if let Some(name) = unknown.first() {
            return fail_usage(format!("no field `{name}` in `{}`", args.rules.display()));
        }
        trace.fields.retain(|f| args.field.contains(&f.field));
    }
    match args.format.as_str() {
        "json" => print_out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&trace).unwrap_or_default()
        )),
        _ => print_out(&trace.render()),
    }
    EXIT_OK
}

fn explain(
    program: &crate::Program,
    record: &dyn crate::Record,
    today: Option<chrono::NaiveDate>,
    population: Option<&dyn crate::eval::Population>,
) -> crate::Trace {
    if let Some(population) = population {
        return program.explain_in(record, population, today);
    }
    match today {
        Some(today) => program.explain_on(record, today),
        None => program.explain(record),
    }
}
