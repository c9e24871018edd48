//! `canon gen-users`: deterministic, realistically messy Okta-style users for tests,
//! examples and benchmarks.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;

use super::{fail_usage, EXIT_OK};
use crate::gen::{generate, GenFormat};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Csv,
    ScimJsonl,
}

#[derive(Debug, Args)]
pub struct GenUsersArgs {
    /// Number of users (>= 1).
    #[arg(long)]
    rows: usize,
    /// Random seed; the same rows and seed give the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, value_enum, default_value = "csv")]
    format: Format,
    /// Output path (stdout by default).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(args: GenUsersArgs) -> u8 {
    if args.rows == 0 {
        return fail_usage("--rows must be at least 1");
    }
    let format = match args.format {
        Format::Csv => GenFormat::Csv,
        Format::ScimJsonl => GenFormat::ScimJsonl,
    };
    let result = match &args.out {
        Some(path) => match std::fs::File::create(path) {
            Ok(file) => {
                let mut out = io::BufWriter::with_capacity(1 << 16, file);
                generate(args.rows, args.seed, format, &mut out).and_then(|_| out.flush())
            }
            Err(error) => return fail_usage(format!("cannot write `{}`: {error}", path.display())),
        },
        None => {
            let stdout = io::stdout();
            let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
            generate(args.rows, args.seed, format, &mut out).and_then(|_| out.flush())
        }
    };
    match result {
        Ok(()) => EXIT_OK,
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => EXIT_OK,
        Err(error) => fail_usage(format!("cannot write: {error}")),
    }
}
