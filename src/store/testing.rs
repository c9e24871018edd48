//! Where tests and benchmarks find PostgreSQL (hidden from the docs; not for production).
//!
//! `CANON_TEST_POSTGRES` (a `postgres://` URL of a server whose user may create databases)
//! is used when set; `.ci/run` sets it. Otherwise `.ci/postgres.sh start` runs a throw-away
//! cluster from the machine's PostgreSQL binaries (and reuses it on the next run). Where
//! there are none, PostgreSQL tests are skipped, with a line on stderr, except under
//! `CI=true`, where a missing PostgreSQL fails them: CI never passes by skipping.

use std::sync::OnceLock;

/// The server's URL; `None` where no PostgreSQL can be had outside CI.
pub fn postgres_server() -> Result<Option<String>, String> {
    static SERVER: OnceLock<Result<Option<String>, String>> = OnceLock::new();
    SERVER.get_or_init(find_server).clone()
}

fn find_server() -> Result<Option<String>, String> {
    if let Ok(url) = std::env::var("CANON_TEST_POSTGRES") {
        if !url.trim().is_empty() {
            return Ok(Some(url.trim().to_string()));
        }
    }
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/postgres.sh");
    let started = std::process::Command::new("bash")
        .args([script, "start"])
        .output()
        .map_err(|e| format!("cannot run {script}: {e}"))?;
    let stderr = String::from_utf8_lossy(&started.stderr);
    match started.status.code() {
        Some(0) => {
            let url = String::from_utf8_lossy(&started.stdout).trim().to_string();
            Ok(Some(url))
        }
        // No PostgreSQL binaries on this machine.
        Some(3) if !in_ci => {
            eprintln!("PostgreSQL tests skipped: {}", stderr.trim());
            Ok(None)
        }
        _ => Err(format!(
            "no PostgreSQL for the tests (CANON_TEST_POSTGRES is unset and {script} failed): {}",
            stderr.trim()
        )),
    }
}

/// A new, empty database on the test server, as a URL; `None` as [`postgres_server`].
pub fn fresh_postgres_database() -> Result<Option<String>, String> {
    let Some(server) = postgres_server()? else {
        return Ok(None);
    };
    let name = format!("canon_test_{}", uuid::Uuid::new_v4().simple());
    // On a thread of its own: the caller may be async code (a `#[tokio::test]`), where no
    // runtime may block.
    let (thread_server, thread_name) = (server.clone(), name.clone());
    std::thread::spawn(move || create_database(&thread_server, &thread_name))
        .join()
        .map_err(|_| "the database creation panicked".to_string())??;
    Ok(Some(with_database(&server, &name)))
}

fn create_database(server: &str, name: &str) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(server, tokio_postgres::NoTls)
            .await
            .map_err(|e| format!("cannot connect to {server}: {e}"))?;
        let driver = tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .map_err(|e| format!("cannot create a test database: {e}"))?;
        drop(client);
        let _ = driver.await;
        Ok(())
    })
}

/// `url` naming the database `name` instead of its own.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let root = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{root}/{name}?{query}"),
        None => format!("{root}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_database_of_a_url_is_replaced() {
        use super::with_database;
        assert_eq!(
            with_database("postgres://u@h:5/postgres", "t"),
            "postgres://u@h:5/t"
        );
        assert_eq!(with_database("postgres://u@h:5", "t"), "postgres://u@h:5/t");
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "t"),
            "postgres://u:p@h/t?sslmode=disable"
        );
    }
}
