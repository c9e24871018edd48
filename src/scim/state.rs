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
use crate::store::registry::TokenRecord;
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

/// What a reload replaces, together: the tokens, the rule file and its program, the
/// extension policy, the registry settings.
#[derive(Clone)]
pub(super) struct Live {
    /// Every token of the tenant (hashes); each is checked for expiry and revocation at the
    /// request, so a grace period ends on time without a reload.
    pub(super) tokens: Vec<TokenRecord>,
    pub(super) enabled: bool,
    /// The rule file of a tenant from `canon.yaml` (empty for one added at run time).
    pub(super) rules: PathBuf,
    /// The registry's rule version serving (`None` without a registry).
    pub(super) rule_version: Option<i64>,
    pub(super) mapper: Arc<dyn ProfileMapper>,
    pub(super) extensions: Arc<Extensions>,
    /// Request bodies go to the activity log until then.
    pub(super) body_capture_until: Option<String>,
}

/// A token record for a hash that never expires (tenants built without a registry).
fn lasting_token(sha256: String) -> TokenRecord {
    TokenRecord {
        id: 0,
        sha256,
        created: String::new(),
        expires: None,
        revoked: None,
    }
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
                tokens: vec![lasting_token(token_sha256)],
                enabled: true,
                rules,
                rule_version: None,
                mapper,
                extensions: Arc::default(),
                body_capture_until: None,
            }),
            limiter: RateLimiter::new(RateLimit::default()),
        }
    }

    pub(super) fn from_live(id: TenantId, live: Live, limit: RateLimit) -> Tenant {
        Tenant {
            id,
            live: RwLock::new(live),
            limiter: RateLimiter::new(limit),
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

    pub(super) fn live(&self) -> Live {
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

    /// Whether the tenant is enabled (a disabled one's SCIM requests get 403).
    pub fn enabled(&self) -> bool {
        self.live.read().unwrap_or_else(|p| p.into_inner()).enabled
    }

    /// The registry's rule version number serving, if the tenant comes from a registry.
    pub fn rule_version_number(&self) -> Option<i64> {
        self.live
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .rule_version
    }

    /// Whether request bodies are captured for the activity log now.
    pub fn captures_bodies(&self, now: &str) -> bool {
        self.live
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .body_capture_until
            .as_deref()
            .is_some_and(|until| until > now)
    }

    /// Whether `token` is one of the tenant's live tokens (constant-time per token).
    pub(super) fn token_matches(&self, token: &str) -> bool {
        let live = self.live.read().unwrap_or_else(|p| p.into_inner());
        let expiring = live.tokens.iter().any(|t| t.expires.is_some());
        let now = if expiring {
            crate::store::now()
        } else {
            String::new()
        };
        live.tokens
            .iter()
            .any(|t| t.live(&now) && token_matches(token, &t.sha256))
    }

    fn replace(&self, live: Live) {
        *self.live.write().unwrap_or_else(|p| p.into_inner()) = live;
    }

    /// Re-reads the tenant's entry in the config at `config_path` (rule file, token hash,
    /// extensions;
    /// without a config, the same rule file and token), recompiles the rule file with
    /// `loader` and swaps all three in at once; returns the new rule version. A file with
    /// errors is refused with its diagnostics and the old program and token keep serving.
    pub(super) fn replace_live(&self, live: Live) {
        self.replace(live);
    }

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
            live.tokens = vec![lasting_token(entry.token_sha256.clone())];
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

/// The tenants serving now, by id; a registry sync adds, changes and drops them while
/// requests run.
#[derive(Default)]
pub struct Tenants(RwLock<HashMap<TenantId, Arc<Tenant>>>);

impl Tenants {
    pub fn get(&self, id: &TenantId) -> Option<Arc<Tenant>> {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    pub fn contains_key(&self, id: &TenantId) -> bool {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(id)
    }

    pub fn len(&self) -> usize {
        self.0.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every tenant, by id.
    pub fn all(&self) -> Vec<Arc<Tenant>> {
        let map = self.0.read().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<_> = map.values().cloned().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    pub(super) fn insert(&self, tenant: Arc<Tenant>) {
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(tenant.id.clone(), tenant);
    }

    /// Drops every tenant `keep` refuses.
    pub(super) fn retain(&self, keep: impl Fn(&TenantId) -> bool) {
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|id, _| keep(id));
    }
}

impl From<HashMap<TenantId, Arc<Tenant>>> for Tenants {
    fn from(map: HashMap<TenantId, Arc<Tenant>>) -> Self {
        Tenants(RwLock::new(map))
    }
}

pub struct AppState {
    pub store: Arc<dyn ResourceStore>,
    pub tenants: Tenants,
    /// The tenant registry the service follows (tenants added, changed, removed while it
    /// runs; activity). `None`: the tenants are fixed (tests, benchmarks).
    pub registry: Option<Arc<super::registry::Registry>>,
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
