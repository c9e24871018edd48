//! Starting the service from `canon.yaml`: open the store, compile every tenant's rules,
//! bind, serve until Ctrl-C / SIGTERM.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use super::config::{Config, ConfigError};
use super::mapper;
use super::state::{AppState, Loader, Tenant};
use crate::store::{SqliteStore, StoreError};

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
    #[error("cannot listen on `{listen}`: {source}")]
    Bind {
        listen: String,
        source: std::io::Error,
    },
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Builds the service state from a config file, with `loader` compiling rule files.
pub fn state_from_config(
    config_path: &Path,
    config: &Config,
    loader: Arc<Loader>,
) -> Result<AppState, ServeError> {
    let database = Config::resolve(config_path, &config.database);
    let store = SqliteStore::open(&database).map_err(|source| ServeError::Store {
        path: database.display().to_string(),
        source,
    })?;
    let mut tenants = HashMap::new();
    for tenant in &config.tenants {
        let rules = Config::resolve(config_path, &tenant.rules);
        let mapper = loader(&rules).map_err(|diagnostics| ServeError::Rules {
            tenant: tenant.id.to_string(),
            path: rules.display().to_string(),
            diagnostics,
        })?;
        tracing::info!(tenant = %tenant.id, rules = %rules.display(), version = %mapper.version(), "tenant ready");
        tenants.insert(
            tenant.id.clone(),
            Arc::new(Tenant::new(
                tenant.id.clone(),
                tenant.token_sha256.clone(),
                rules,
                mapper,
            )),
        );
    }
    Ok(AppState {
        store: Arc::new(store),
        tenants,
        admin_token_sha256: config.admin_token_sha256.clone(),
        max_body_bytes: config.max_body_bytes,
        loader,
        config_path: Some(config_path.to_path_buf()),
    })
}

/// The production loader: the rules engine.
pub fn engine_loader() -> Arc<Loader> {
    Arc::new(|path: &Path| mapper::load(path))
}

/// Serves until interrupted.
pub async fn serve(state: AppState, listen: &str) -> Result<(), ServeError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| ServeError::Bind {
            listen: listen.to_string(),
            source,
        })?;
    let local = listener.local_addr()?;
    tracing::info!(address = %local, tenants = state.tenants.len(), "canon serve listening");
    // Not `eprintln!`: it panics when stderr cannot be written (issue 19).
    let _ = writeln!(std::io::stderr(), "canon: listening on http://{local}");
    let app = super::router::app(Arc::new(state));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await?;
    Ok(())
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
