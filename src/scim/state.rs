//! What every handler shares: the store, the tenants (each with its live token and program)
//! and the limits; and [`blocking`], where handlers run their store work.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::config::{token_matches, Config, Connections};
use super::error::ScimError;
use super::extensions::{self, Extensions};
use super::in_flight::InFlight;
use super::mapper::ProfileMapper;
use super::metrics::Metrics;
use super::rate_limit::{retry_after_secs, RateLimit, RateLimiter};
use crate::store::{ResourceStore, TenantId};

/// Compiles a rule file into a mapper (the engine in production, a fake in tests).
pub type Loader = dyn Fn(&Path) -> Result<Arc<dyn ProfileMapper>, String> + Send + Sync;

/// One tenant as the service sees it.
pub struct Tenant {
    pub id: TenantId,
    live: RwLock<Live>,
    /// The tenant's token bucket; its setting changes in place (reload), its tokens stay.
    limiter: RateLimiter,
}

/// What a reload replaces, together: the token hash, the rule file and its program, the
/// extension policy.
#[derive(Clone)]
struct Live {
    token_sha256: String,
    rules: PathBuf,
    mapper: Arc<dyn ProfileMapper>,
    extensions: Arc<Extensions>,
}

impl Tenant {
    pub fn new(
        id: TenantId,
        token_sha256: String,
        rules: PathBuf,
        mapper: Arc<dyn ProfileMapper>,
    ) -> Tenant {
        Tenant {
            id,
            live: RwLock::new(Live {
                token_sha256,
                rules,
                mapper,
                extensions: Arc::default(),
            }),
            limiter: RateLimiter::new(RateLimit::default()),
        }
    }

    /// The tenant with its `rate_limit:` (a new tenant has the default, `RateLimit::default`).
    pub fn with_rate_limit(self, limit: RateLimit) -> Tenant {
        self.limiter.set(limit);
        self
    }

    pub fn rate_limit(&self) -> RateLimit {
        self.limiter.limit()
    }

    /// Changes the rate limit of the running tenant at once.
    pub fn set_rate_limit(&self, limit: RateLimit) {
        self.limiter.set(limit);
    }

    /// Takes one request from the tenant's bucket: `RateLimited` (429) when it is empty.
    pub fn admit(&self) -> Result<(), ScimError> {
        self.limiter.admit().map_err(|wait| ScimError::RateLimited {
            retry_after: retry_after_secs(wait),
        })
    }

    /// The version of the rules serving now.
    pub fn rule_version(&self) -> String {
        self.live().mapper.version()
    }

    /// The tenant with its `extensions:` policy (aliases, strict mode).
    pub fn with_extensions(self, policy: Extensions) -> Tenant {
        self.live
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .extensions = Arc::new(policy);
        self
    }

    fn live(&self) -> Live {
        self.live.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The program serving now, reading users through the tenant's aliases; a reload swaps
    /// it atomically, writes in flight keep theirs.
    pub fn mapper(&self) -> Arc<dyn ProfileMapper> {
        let live = self.live();
        extensions::aliased(live.mapper, live.extensions)
    }

    /// The extension policy serving now.
    pub fn extensions(&self) -> Arc<Extensions> {
        self.live().extensions
    }

    pub fn rules(&self) -> PathBuf {
        self.live().rules
    }

    pub(super) fn token_matches(&self, token: &str) -> bool {
        token_matches(
            token,
            &self
                .live
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .token_sha256,
        )
    }

    fn replace(&self, live: Live) {
        *self.live.write().unwrap_or_else(|p| p.into_inner()) = live;
    }

    /// Re-reads the tenant's entry in the config at `config_path` (rule file, token hash,
    /// extensions;
    /// without a config, the same rule file and token), recompiles the rule file with
    /// `loader` and swaps all three in at once; returns the new rule version. A file with
    /// errors is refused with its diagnostics and the old program and token keep serving.
    pub(super) fn reload(
        &self,
        config_path: Option<&Path>,
        loader: &Loader,
    ) -> Result<String, ScimError> {
        let mut live = self.live();
        if let Some(config_path) = config_path {
            let config = Config::load(config_path).map_err(|e| {
                ScimError::InvalidValue(format!("the config cannot be read; nothing changed\n{e}"))
            })?;
            let entry = config.tenant(self.id.as_str()).ok_or_else(|| {
                ScimError::InvalidValue(format!(
                    "tenant `{}` is no longer in the config; nothing changed",
                    self.id
                ))
            })?;
            live.rules = Config::resolve(config_path, &entry.rules);
            live.token_sha256 = entry.token_sha256.clone();
            self.limiter.set(entry.rate_limit);
            // Checked by `Config::load` already.
            live.extensions = Arc::new(
                entry
                    .extensions
                    .resolve()
                    .map_err(|e| ScimError::InvalidValue(format!("{e}; nothing changed")))?,
            );
        }
        live.mapper = loader(&live.rules).map_err(|diagnostics| {
            tracing::warn!(tenant = %self.id, "reload refused: the rule file has errors");
            ScimError::InvalidValue(format!(
                "the rule file has errors; the old rules keep serving\n{diagnostics}"
            ))
        })?;
        let version = live.mapper.version();
        self.replace(live);
        tracing::info!(tenant = %self.id, %version, "rules and token reloaded");
        Ok(version)
    }
}

pub struct AppState {
    pub store: Arc<dyn ResourceStore>,
    pub tenants: HashMap<TenantId, Arc<Tenant>>,
    pub admin_token_sha256: Option<String>,
    pub max_body_bytes: usize,
    /// How long a request's body may take to arrive (then 408).
    pub body_timeout: Duration,
    pub loader: Arc<Loader>,
    /// The config file a reload re-reads for the tenant's rule file and token hash (`None`:
    /// reload recompiles the same rule file and keeps the token).
    pub config_path: Option<PathBuf>,
    /// Metrics and the bound on requests in flight.
    pub serving: Serving,
}

/// What serving safely shares across requests: the metrics and the bound on requests in
/// flight (`connections.max_in_flight`).
#[derive(Clone)]
pub struct Serving {
    pub metrics: Arc<Metrics>,
    pub in_flight: Arc<InFlight>,
}

impl Serving {
    pub fn new(connections: &Connections) -> Serving {
        let metrics = Arc::new(Metrics::new());
        let in_flight = InFlight::new(
            connections.max_in_flight,
            Duration::from_secs(connections.in_flight_wait_secs),
            metrics.clone(),
        );
        Serving {
            metrics,
            in_flight: Arc::new(in_flight),
        }
    }
}

impl Default for Serving {
    fn default() -> Self {
        Serving::new(&Connections::default())
    }
}

pub(super) type AppStateRef = Arc<AppState>;

/// Runs store work on the blocking pool, inside the request's span (request id, method,
/// path), so it never stalls the async runtime.
pub(super) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ScimError> + Send + 'static,
) -> Result<T, ScimError> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work))
        .await
        .map_err(|e| ScimError::Internal(format!("worker failed: {e}")))?
}
