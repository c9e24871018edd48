//! The `canon` command line: clap arguments → run → exit code.
//!
//! Exit codes: 0 success; 1 the input has problems (rule errors, failed tests, rows that
//! failed); 2 usage or I/O error.

mod check;
mod diff;
mod dry_run;
mod explain;
mod export;
mod gen_users;
mod serve;
mod tenant;
mod test;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "canon",
    version,
    about = "Canonical employee profiles from raw HRIS and SCIM attributes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check rule files and report every problem with its place.
    Check(check::CheckArgs),
    /// Run the tests written inside rule files.
    Test(test::TestArgs),
    /// Show how one record maps: inputs, steps, every rule tried, the value.
    Explain(explain::ExplainArgs),
    /// Serve SCIM 2.0 for Okta: every write stores the canonical profile.
    Serve(serve::ServeArgs),
    /// Tenants: add, list, show, set, disable, enable, remove, tokens, rules, setup links,
    /// activity (on the store; a running service follows).
    #[command(subcommand)]
    Tenant(tenant::TenantCommand),
    /// Print a tenant's stored canonical profiles (CSV or JSON lines).
    Export(export::ExportArgs),
    /// Re-apply a tenant's current rules to every stored user (changes first; --apply writes).
    Remap(export::RemapArgs),
    /// Ask the running service to recompile a tenant's rules.
    Reload(export::ReloadArgs),
    /// Map whole exports with a rule file: one row per record and a coverage report.
    DryRun(dry_run::DryRunArgs),
    /// What a rule change would change on real data.
    Diff(diff::DiffArgs),
    /// Generate realistic, messy Okta-style users (deterministic).
    GenUsers(gen_users::GenUsersArgs),
}

/// Success.
pub const EXIT_OK: u8 = 0;
/// The input has problems: rule errors, failed tests, failed rows.
pub const EXIT_PROBLEMS: u8 = 1;
/// Usage or I/O error.
pub const EXIT_USAGE: u8 = 2;

pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() {
                EXIT_USAGE
            } else {
                EXIT_OK
            });
        }
    };
    let code = match cli.command {
        Command::Check(args) => check::run(args),
        Command::Test(args) => test::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Tenant(command) => tenant::run(command),
        Command::Export(args) => export::export(args),
        Command::Remap(args) => export::remap(args),
        Command::Reload(args) => export::reload(args),
        Command::DryRun(args) => dry_run::run(args),
        Command::Diff(args) => diff::run(args),
        Command::GenUsers(args) => gen_users::run(args),
    };
    ExitCode::from(code)
}

/// Writes to stdout; a closed pipe (`canon … | head`) is not an error.
pub(crate) fn print_out(text: &str) {
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    let _ = lock.write_all(text.as_bytes());
    let _ = lock.flush();
}

/// A usage or I/O problem for people, on stderr (if it can be written: the exit code says
/// it anyway, where `eprintln!` would panic).
pub(crate) fn fail_usage(message: impl std::fmt::Display) -> u8 {
    let _ = writeln!(std::io::stderr(), "canon: {message}");
    EXIT_USAGE
}

/// Loads a rule file for a command; on errors prints every diagnostic and says which exit
/// code to use.
pub(crate) fn load_rules(path: &std::path::Path) -> Result<crate::Program, u8> {
    if let Err(error) = std::fs::metadata(path) {
        return Err(fail_usage(format!(
            "cannot read `{}`: {error}",
            path.display()
        )));
    }
    crate::Program::load(path).map_err(|error| {
        eprint!("{}", error.render());
        EXIT_PROBLEMS
    })
}
