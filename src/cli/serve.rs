//! `canon serve --config FILE [--listen ADDR] [--tls-cert FILE --tls-key FILE]
//! [--log-format text|json]`: the embedded SCIM service.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::console::{self, ConsoleOptions};
use crate::scim::config::Config;
use crate::scim::serve::{engine_loader, serve_with, state_from_config, ServeLimits};
use crate::scim::tls::Tls;

use super::{fail_usage, EXIT_OK, EXIT_PROBLEMS};

#[derive(clap::Args)]
pub struct ServeArgs {
    /// The service config (`canon tenant add` creates it).
    #[arg(long, default_value = "canon.yaml")]
    config: PathBuf,
    /// Address to listen on; overrides the config's `listen`.
    #[arg(long)]
    listen: Option<String>,
    /// The store; overrides the config's `database`: a SQLite file, or a `postgres://` URL
    /// of a database several instances share (docs/operations.md).
    #[arg(long)]
    database: Option<String>,
    /// Serve HTTPS with this PEM certificate chain (reloaded when the file changes).
    #[arg(long, requires = "tls_key", value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of `--tls-cert` (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, requires = "tls_cert", value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// How often the certificate files are checked for a new pair, in seconds.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..), value_name = "SECS")]
    tls_reload_secs: u64,
    /// Log lines as text or as JSON objects (one per line); `CANON_LOG=json` also picks JSON.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

pub fn run(args: ServeArgs) -> u8 {
    let json =
        args.log_format == LogFormat::Json || std::env::var("CANON_LOG").is_ok_and(|v| v == "json");
    init_tracing(json);
    let mut config = match Config::load(&args.config) {
        Ok(config) => config,
        Err(error) => return fail_usage(error),
    };
    if let Some(database) = &args.database {
        config.use_database(database);
    }
    let state = match state_from_config(&args.config, &config, engine_loader()) {
        Ok(state) => state,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "canon: {error}");
            return EXIT_PROBLEMS;
        }
    };
    // The flags, else the config's `tls:` (relative to the config's folder).
    let files = match (args.tls_cert, args.tls_key, &config.tls) {
        (Some(cert), Some(key), _) => Some((cert, key)),
        (_, _, Some(files)) => Some((
            Config::resolve(&args.config, &files.cert),
            Config::resolve(&args.config, &files.key),
        )),
        _ => None,
    };
    let tls = match files {
        Some((cert, key)) => match Tls::load(&cert, &key) {
            Ok(tls) => Some(tls),
            Err(error) => return fail_usage(error),
        },
        None => None,
    };
    let listen = args.listen.unwrap_or(config.listen);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail_usage(format!("cannot start the runtime: {error}")),
    };
    let limits = ServeLimits::from(&config.connections);
    let tls = tls.map(|tls| (tls, std::time::Duration::from_secs(args.tls_reload_secs)));
    // Console cookies are `Secure` when the service itself speaks TLS.
    let options = ConsoleOptions {
        secure_cookies: tls.is_some(),
        ..ConsoleOptions::default()
    };
    let serving = serve_with(state, &listen, limits, tls, |app| {
        console::router(app, options)
    });
    match runtime.block_on(serving) {
        Ok(()) => EXIT_OK,
        Err(error) => fail_usage(error),
    }
}

/// Request logs on stderr; `RUST_LOG` picks the level (default `info`); `json`: one JSON
/// object per line, with the request's span (its `x-request-id`, method, path) in each.
fn init_tracing(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        // Its report of a failed write is an `eprintln!`, which panics when stderr fails too:
        // inside a request task, the request got no answer (issue 19).
        .log_internal_errors(false)
        .with_writer(|| LogWriter);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Log lines that could not be written since the last one that could.
static LOGS_DROPPED: AtomicU64 = AtomicU64::new(0);

/// stderr for logs, where a line that cannot be written (a closed log pipe, a full disk) is
/// dropped and counted: logging never fails a request. The next line that can be written
/// is preceded by how many were lost.
struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        write_log(&mut std::io::stderr().lock(), line);
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn write_log(out: &mut impl Write, line: &[u8]) {
    let dropped = LOGS_DROPPED.swap(0, Ordering::Relaxed);
    if dropped > 0 && writeln!(out, "canon: {dropped} log lines were lost").is_err() {
        LOGS_DROPPED.fetch_add(dropped, Ordering::Relaxed);
    }
    if out.write_all(line).is_err() {
        LOGS_DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log destination that fails while `broken`, like a full disk.
    struct Disk {
        broken: bool,
        text: Vec<u8>,
    }

    impl Write for Disk {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if self.broken {
                return Err(std::io::Error::from_raw_os_error(28)); // ENOSPC
            }
            self.text.write(bytes)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn log_lines_that_cannot_be_written_are_counted_then_reported() {
        let mut disk = Disk {
            broken: true,
            text: Vec::new(),
        };
        write_log(&mut disk, b"one\n");
        write_log(&mut disk, b"two\n");
        disk.broken = false;
        write_log(&mut disk, b"three\n");
        write_log(&mut disk, b"four\n");
        let text = String::from_utf8(disk.text).unwrap();
        assert_eq!(text, "canon: 2 log lines were lost\nthree\nfour\n");
    }
}
