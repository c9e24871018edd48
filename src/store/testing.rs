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

/// A database made for one test or benchmark, dropped when this is (with whatever is still
/// connected to it: a killed server's sessions, a store not yet closed). Keep it alive as long
/// as anything uses its URL; it reads as that URL (`&db` is a `&str`).
pub struct TestDatabase {
    server: String,
    name: String,
    url: String,
}

impl TestDatabase {
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl std::ops::Deref for TestDatabase {
    type Target = str;

    fn deref(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = on_server(&self.server, statement) {
            eprintln!("test database {} not dropped: {e}", self.name);
        }
    }
}

/// Test databases are named `canon_test_{unix seconds}_{random}`; one older than this was
/// left by a run that never dropped it (killed, or aborted), and goes at the next run.
const ABANDONED_AFTER_SECS: u64 = 6 * 3600;

/// A new, empty database on the test server; `None` as [`postgres_server`].
pub fn fresh_postgres_database() -> Result<Option<TestDatabase>, String> {
    let Some(server) = postgres_server()? else {
        return Ok(None);
    };
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(|| {
        if let Err(e) = drop_abandoned(&server) {
            eprintln!("abandoned test databases not dropped: {e}");
        }
    });
    let name = format!(
        "canon_test_{}_{}",
        unix_seconds(),
        uuid::Uuid::new_v4().simple()
    );
    on_server(&server, format!("CREATE DATABASE {name}"))
        .map_err(|e| format!("cannot create a test database: {e}"))?;
    Ok(Some(TestDatabase {
        url: with_database(&server, &name),
        server,
        name,
    }))
}

/// A PostgreSQL store on a database of its own, dropped after the store is closed.
pub struct TestStore {
    // Fields drop in this order: the store's connections close before the database goes.
    store: super::PostgresStore,
    _database: TestDatabase,
}

impl std::ops::Deref for TestStore {
    type Target = super::PostgresStore;

    fn deref(&self) -> &super::PostgresStore {
        &self.store
    }
}

/// A store on a fresh database; `None` as [`postgres_server`].
pub fn fresh_postgres_store() -> Result<Option<TestStore>, String> {
    let Some(database) = fresh_postgres_database()? else {
        return Ok(None);
    };
    let store = super::PostgresStore::open(&database).map_err(|e| e.to_string())?;
    Ok(Some(TestStore {
        store,
        _database: database,
    }))
}

fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Drops the test databases whose name says they were made more than
/// [`ABANDONED_AFTER_SECS`] ago (never a running test's: no test runs that long).
fn drop_abandoned(server: &str) -> Result<(), String> {
    let (server, now) = (server.to_string(), unix_seconds());
    run_on_server(&server.clone(), move |client| {
        Box::pin(async move {
            let rows = client
                .query(
                    "SELECT datname FROM pg_database WHERE datname LIKE 'canon\\_test\\_%'",
                    &[],
                )
                .await
                .map_err(|e| e.to_string())?;
            for row in rows {
                let name: String = row.get(0);
                let made = name
                    .strip_prefix("canon_test_")
                    .and_then(|rest| rest.split_once('_'))
                    .and_then(|(secs, _)| secs.parse::<u64>().ok());
                if made.is_some_and(|made| now.saturating_sub(made) > ABANDONED_AFTER_SECS) {
                    client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await
                        .map_err(|e| e.to_string())?;
                }
            }
            Ok(())
        })
    })
}

/// Runs one statement on the server's own database.
fn on_server(server: &str, statement: String) -> Result<(), String> {
    run_on_server(server, move |client| {
        Box::pin(async move {
            client
                .batch_execute(&statement)
                .await
                .map_err(|e| e.to_string())
        })
    })
}

type ClientWork = Box<dyn FnOnce(&tokio_postgres::Client) -> BoxedWork<'_> + Send>;
type BoxedWork<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>>;

/// Connects to `server` and runs `work` with the client, on a thread of its own: the caller
/// may be async code (a `#[tokio::test]`, a guard dropped in one), where no runtime may block.
fn run_on_server(
    server: &str,
    work: impl FnOnce(&tokio_postgres::Client) -> BoxedWork<'_> + Send + 'static,
) -> Result<(), String> {
    let server = server.to_string();
    let work: ClientWork = Box::new(work);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
                .await
                .map_err(|e| format!("cannot connect to {server}: {e}"))?;
            let driver = tokio::spawn(connection);
            let done = work(&client).await;
            drop(client);
            let _ = driver.await;
            done
        })
    })
    .join()
    .map_err(|_| "the statement's thread panicked".to_string())?
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
