//! Starting the service from `canon.yaml`: open the store, compile every tenant's rules,
//! bind, serve until Ctrl-C / SIGTERM.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::config::{Config, ConfigError, Connections};
use super::mapper;
use super::registry::Registry;
use super::state::{AppState, Loader, Serving, Tenant, Tenants};
use super::tenants;
use super::timed_store::TimedStore;
use super::tls::Tls;
use crate::store::{self, ResourceStore, SqliteStore, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot open the database `{path}`: {source}")]
    Store { path: String, source: StoreError },
    #[error("tenant `{tenant}`: the rule file `{path}` has errors:\n{diagnostics}")]
    Rules {
        tenant: String,
        path: String,
        diagnostics: String,
    },
    /// The tenant registry could not be read or filled from the config.
    #[error("{0}")]
    Registry(String),
    #[error("cannot listen on `{listen}`: {source}")]
    Bind {
        listen: String,
        source: std::io::Error,
    },
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// The store the config's `database` names: a SQLite file (relative to the config's folder)
/// or a `postgres://` URL.
pub fn open_store(
    config_path: &Path,
    config: &Config,
) -> Result<Arc<dyn ResourceStore>, ServeError> {
    let database = config.database.to_string_lossy();
    let base = config_path.parent().unwrap_or(Path::new(""));
    store::open(&database, base).map_err(|source| ServeError::Store {
        path: store::shown(&database),
        source,
    })
}

/// The store with its tenant registry: the SQLite file or the PostgreSQL database the
/// config's `database` names. (`Option` for a backend without a registry: its tenants would
/// be the config's, fixed while it runs; both backends have one.)
pub fn open_registry_store(
    config_path: &Path,
    config: &Config,
) -> Result<Option<Arc<dyn Store>>, ServeError> {
    let database = config.database.to_string_lossy();
    if store::is_postgres_url(&database) {
        let opened = store::PostgresStore::open(&database).map_err(|source| ServeError::Store {
            path: store::shown(&database),
            source,
        })?;
        return Ok(Some(Arc::new(opened)));
    }
    let path = Config::resolve(config_path, &config.database);
    let opened = SqliteStore::open(&path).map_err(|source| ServeError::Store {
        path: path.display().to_string(),
        source,
    })?;
    Ok(Some(Arc::new(opened)))
}

/// Builds the service state from a config file, with `loader` compiling rule files: opens
/// the store, imports the config's tenants the registry lacks, and loads every tenant of
/// the registry (`tenants::sync`); `serve` then follows the registry.
pub fn state_from_config(
    config_path: &Path,
    config: &Config,
    loader: Arc<Loader>,
) -> Result<AppState, ServeError> {
    let Some(store) = open_registry_store(config_path, config)? else {
        return fixed_state(config_path, config, loader);
    };
    for id in tenants::import_config(config_path, config, &*store).map_err(ServeError::Registry)? {
        tracing::info!(tenant = %id, "tenant imported from the config into the registry");
    }
    let serving = Serving::new(&config.connections);
    // Every store call and every run of the engine is timed into the metrics.
    let timed = TimedStore::new(store.clone(), serving.metrics.clone());
    let loader: Arc<Loader> = {
        let metrics = serving.metrics.clone();
        Arc::new(move |path: &Path| loader(path).map(|mapper| metrics.timed_mapper(mapper)))
    };
    let compile: Arc<super::registry::BundleCompiler> = {
        let metrics = serving.metrics.clone();
        let engine = Registry::engine();
        Arc::new(move |bundle: &crate::store::registry::RuleBundle| {
            engine(bundle).map(|mapper| metrics.timed_mapper(mapper))
        })
    };
    let mut registry = Registry::new(store, compile);
    registry.public_url = config.public_url.clone();
    let state = AppState {
        store: Arc::new(timed),
        tenants: Tenants::default(),
        registry: Some(Arc::new(registry)),
        admin_token_sha256: config.admin_token_sha256.clone(),
        max_body_bytes: config.max_body_bytes,
        body_timeout: Duration::from_secs(config.connections.body_timeout_secs),
        loader,
        config_path: Some(config_path.to_path_buf()),
        serving,
    };
    tenants::sync(&state, true).map_err(|source| ServeError::Store {
        path: store::shown(&config.database.to_string_lossy()),
        source,
    })?;
    for tenant in state.tenants.all() {
        tracing::info!(tenant = %tenant.id, version = %tenant.mapper().version(), enabled = tenant.enabled(), "tenant ready");
    }
    Ok(state)
}

/// The state of a store without a registry: the config's tenants, fixed while it runs.
fn fixed_state(
    config_path: &Path,
    config: &Config,
    loader: Arc<Loader>,
) -> Result<AppState, ServeError> {
    let store = open_store(config_path, config)?;
    let serving = Serving::new(&config.connections);
    let store = TimedStore::new(store, serving.metrics.clone());
    let loader: Arc<Loader> = {
        let metrics = serving.metrics.clone();
        Arc::new(move |path: &Path| loader(path).map(|mapper| metrics.timed_mapper(mapper)))
    };
    let mut tenants = std::collections::HashMap::new();
    for tenant in &config.tenants {
        let rules = Config::resolve(config_path, &tenant.rules);
        let mapper = loader(&rules).map_err(|diagnostics| ServeError::Rules {
            tenant: tenant.id.to_string(),
            path: rules.display().to_string(),
            diagnostics,
        })?;
        tracing::info!(tenant = %tenant.id, rules = %rules.display(), version = %mapper.version(), "tenant ready");
        let extensions =
            tenant
                .extensions
                .resolve()
                .map_err(|message| ConfigError::Extensions {
                    path: config_path.to_path_buf(),
                    id: tenant.id.clone(),
                    message,
                })?;
        tenants.insert(
            tenant.id.clone(),
            Arc::new(
                Tenant::new(
                    tenant.id.clone(),
                    tenant.token_sha256.clone(),
                    rules,
                    mapper,
                )
                .with_extensions(extensions)
                .with_rate_limit(tenant.rate_limit),
            ),
        );
    }
    Ok(AppState {
        store: Arc::new(store),
        tenants: tenants.into(),
        registry: None,
        admin_token_sha256: config.admin_token_sha256.clone(),
        max_body_bytes: config.max_body_bytes,
        body_timeout: Duration::from_secs(config.connections.body_timeout_secs),
        loader,
        config_path: Some(config_path.to_path_buf()),
        serving,
    })
}

/// The production loader: the rules engine.
pub fn engine_loader() -> Arc<Loader> {
    Arc::new(|path: &Path| mapper::load(path))
}

/// How connections are served (from `canon.yaml`'s `connections:`, which docs/scim.md
/// describes); the body timeout is the app state's.
#[derive(Debug, Clone, Copy)]
pub struct ServeLimits {
    pub max_connections: usize,
    pub head_timeout: Duration,
    pub shutdown_grace: Duration,
    /// A TLS handshake must finish within this time of the connection's accept.
    pub tls_handshake_timeout: Duration,
}

impl From<&Connections> for ServeLimits {
    fn from(connections: &Connections) -> Self {
        ServeLimits {
            max_connections: connections.max,
            head_timeout: Duration::from_secs(connections.head_timeout_secs),
            shutdown_grace: Duration::from_secs(connections.shutdown_grace_secs),
            tls_handshake_timeout: Duration::from_secs(connections.tls_handshake_timeout_secs),
        }
    }
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits::from(&Connections::default())
    }
}

/// Serves until SIGTERM or Ctrl-C: HTTPS when `tls` is given (its files checked for a new
/// certificate at the interval beside it), else plain HTTP, with a warning unless the
/// address is loopback.
pub async fn serve(
    state: AppState,
    listen: &str,
    limits: ServeLimits,
    tls: Option<(Tls, Duration)>,
) -> Result<(), ServeError> {
    serve_with(state, listen, limits, tls, |_| axum::Router::new()).await
}

/// [`serve`], with more routes beside the SCIM service's (the console), built on the same
/// state.
pub async fn serve_with(
    state: AppState,
    listen: &str,
    limits: ServeLimits,
    tls: Option<(Tls, Duration)>,
    beside: impl FnOnce(Arc<AppState>) -> axum::Router,
) -> Result<(), ServeError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| ServeError::Bind {
            listen: listen.to_string(),
            source,
        })?;
    let local = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(address = %local, tenants = state.tenants.len(), %scheme, "canon serve listening");
    // Not `eprintln!`: it panics when stderr cannot be written (issue 19).
    let _ = writeln!(std::io::stderr(), "canon: listening on {scheme}://{local}");
    if tls.is_none() && !local.ip().is_loopback() {
        tracing::warn!(address = %local, "serving plain HTTP on a non-loopback address: identity providers require HTTPS; use --tls-cert/--tls-key or a TLS-terminating proxy in front");
        let _ = writeln!(
            std::io::stderr(),
            "canon: warning: plain HTTP on {local}, which is not loopback: give --tls-cert and --tls-key, or keep a TLS-terminating proxy in front (docs/operations.md)"
        );
    }
    let state = Arc::new(state);
    let watcher_of_tenants = state
        .registry
        .is_some()
        .then(|| tokio::spawn(tenants::watch(state.clone())));
    let app = beside(state.clone()).merge(super::router::app(state));
    let (tls, watcher) = match tls {
        Some((tls, interval)) => {
            let tls = Arc::new(tls);
            (Some(tls.clone()), Some(tokio::spawn(tls.watch(interval))))
        }
        None => (None, None),
    };
    serve_connections(listener, app, limits, tls, shutdown()).await;
    if let Some(watcher) = watcher {
        watcher.abort();
    }
    if let Some(watcher) = watcher_of_tenants {
        watcher.abort();
    }
    Ok(())
}

/// Serves `app` on `listener` until `stop` completes; then stops accepting, lets requests in
/// flight finish for `limits.shutdown_grace`, and closes every connection left.
///
/// Each connection is hyper's HTTP/1: its request heads must arrive within
/// `limits.head_timeout` (idle keep-alive time included), and at most
/// `limits.max_connections` are open at once (the next waits in the accept queue).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    limits: ServeLimits,
    stop: impl std::future::Future<Output = ()>,
) {
    serve_connections(listener, app, limits, None, stop).await;
}

/// [`serve_on`], over TLS when `tls` is given: each connection's handshake must finish
/// within `limits.tls_handshake_timeout`, and holds its connection slot meanwhile.
pub async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    limits: ServeLimits,
    tls: Option<Arc<Tls>>,
    stop: impl std::future::Future<Output = ()>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.head_timeout);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        while connections.try_join_next().is_some() {}
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            () = &mut stop => break,
        };
        // The semaphore is never closed.
        let Ok(slot) = slot else { break };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let watcher = graceful.watcher();
        let http = http.clone();
        let Some(tls) = tls.clone() else {
            let connection = watcher.watch(http.serve_connection(TokioIo::new(stream), service));
            connections.spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(%error, "connection ended");
                }
                drop(slot);
            });
            continue;
        };
        let handshake_timeout = limits.tls_handshake_timeout;
        connections.spawn(async move {
            let stream = match tokio::time::timeout(
                handshake_timeout,
                tls.acceptor().accept(stream),
            )
            .await
            {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    tracing::debug!(%error, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!("TLS handshake timed out");
                    return;
                }
            };
            let connection = watcher.watch(http.serve_connection(TokioIo::new(stream), service));
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            "closing connections whose requests did not finish in the shutdown grace"
        );
    }
    // What is left is aborted (the store's blocking work still runs to its end).
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

/// After an accept error: a connection the client gave up is nothing; anything else (out of
/// file descriptors) is logged and waited out for a second, as axum::serve does, rather than
/// spinning.
async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accept failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
