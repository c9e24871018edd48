//! `canon serve --config FILE [--listen ADDR]`: the embedded SCIM service.

use std::path::PathBuf;

use crate::scim::config::Config;
use crate::scim::serve::{engine_loader, serve, state_from_config};

use super::{fail_usage, EXIT_OK, EXIT_PROBLEMS};

#[derive(clap::Args)]
pub struct ServeArgs {
    /// The service config (`canon tenant add` creates it).
    #[arg(long, default_value = "canon.yaml")]
    config: PathBuf,
    /// Address to listen on; overrides the config's `listen`.
    #[arg(long)]
    listen: Option<String>,
}

pub fn run(args: ServeArgs) -> u8 {
    init_tracing();
    let config = match Config::load(&args.config) {
        Ok(config) => config,
        Err(error) => return fail_usage(error),
    };
    let state = match state_from_config(&args.config, &config, engine_loader()) {
        Ok(state) => state,
        Err(error) => {
            eprintln!("canon: {error}");
            return EXIT_PROBLEMS;
        }
    };
    let listen = args.listen.unwrap_or(config.listen);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail_usage(format!("cannot start the runtime: {error}")),
    };
    match runtime.block_on(serve(state, &listen)) {
        Ok(()) => EXIT_OK,
        Err(error) => fail_usage(error),
    }
}

/// Request logs on stderr; `RUST_LOG` picks the level (default `info`), `CANON_LOG=json`
/// switches to JSON lines.
fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = if std::env::var("CANON_LOG").is_ok_and(|v| v == "json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
