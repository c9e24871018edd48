//! `canon check FILE...`: every problem of every file, with its place.

use std::path::PathBuf;

use super::{fail_usage, print_out, EXIT_OK, EXIT_PROBLEMS};
use crate::check::summary_line;
use crate::diag::Diagnostics;

#[derive(clap::Args)]
pub struct CheckArgs {
    /// Rule files to check (each with the files it extends).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// `text` for people, `json` for tools.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
    /// Treat warnings as errors (exit 1).
    #[arg(long)]
    deny_warnings: bool,
}

pub fn run(args: CheckArgs) -> u8 {
    let mut failed = false;
    let mut json = Vec::new();
    for path in &args.files {
        if let Err(error) = std::fs::metadata(path) {
            return fail_usage(format!("cannot read `{}`: {error}", path.display()));
        }
        let (diagnostics, sources) = match crate::Program::load(path) {
            Ok(program) => (
                Diagnostics {
                    items: program.warnings().to_vec(),
                },
                std::sync::Arc::new(program.sources().clone()),
            ),
            Err(error) => (error.diagnostics, error.sources),
        };
        failed |= diagnostics.has_errors() || (args.deny_warnings && !diagnostics.items.is_empty());
        if args.format == "json" {
            json.extend(diagnostics.items.iter().map(|d| d.to_json(&sources)));
            continue;
        }
        let mut out = String::new();
        for diagnostic in &diagnostics.items {
            out.push_str(&diagnostic.render(&sources));
            out.push('\n');
        }
        out.push_str(&format!(
            "{}: {}",
            path.display(),
            summary_line(&diagnostics)
        ));
        print_out(&out);
    }
    if args.format == "json" {
        print_out(&format!("{}\n", serde_json::Value::Array(json)));
    }
    if failed {
        EXIT_PROBLEMS
    } else {
        EXIT_OK
    }
}
