//! Tenants at run time: the service follows the tenant registry in the store.
//!
//! A watcher polls the registry's change generation (every [`POLL`]); when it moves, [`sync`]
//! brings the serving tenants in line: new ones start answering, changed tokens, settings and
//! rule versions swap in, removed ones stop. A rule version is compiled from its stored
//! bundle only when the live version changes. `canon.yaml`'s `tenants:` are imported into the
//! registry when the registry lacks them ([`import_config`]); after that the registry decides.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::config::Config;
use super::error::ScimError;
use super::extensions::{Extensions, ExtensionsConfig};
use super::mapper::{self, ProfileMapper};
use super::registry::Registry;
use super::state::{AppState, Live, Tenant};
use crate::store::registry::{
    NewRuleVersion, NewTenant, RateLimit, TenantChange, TenantRecord, TenantRegistry,
};
use crate::store::StoreError;

/// How often a running service asks the registry whether anything changed.
pub const POLL: Duration = Duration::from_millis(250);

/// A tenant's `extensions` JSON as the policy the service applies.
pub fn extensions_of(record: &TenantRecord) -> Result<Extensions, String> {
    let config: ExtensionsConfig = serde_json::from_value(record.extensions.clone())
        .map_err(|e| format!("stored extensions policy: {e}"))?;
    config.resolve()
}

/// Brings the serving tenants in line with the registry, if it changed since the last sync
/// (or always, with `force`). Blocking (store reads, compiles). Whether anything was read.
pub fn sync(state: &AppState, force: bool) -> Result<bool, StoreError> {
    let Some(registry) = &state.registry else {
        return Ok(false);
    };
    let _one = registry.syncing.lock().unwrap_or_else(|p| p.into_inner());
    let generation = registry.store.generation()?;
    if !force && generation == registry.seen.load(Ordering::Acquire) {
        return Ok(false);
    }
    let records = registry.store.tenants()?;
    let mut not_loaded = std::collections::BTreeSet::new();
    for record in &records {
        let tokens = registry.store.tokens(&record.id)?;
        let current = state.tenants.get(&record.id);
        let current_live = current.as_ref().map(|t| t.live());
        let extensions = match extensions_of(record) {
            Ok(policy) => Arc::new(policy),
            Err(error) => {
                tracing::error!(tenant = %record.id, %error, "extensions policy refused; kept the previous one");
                current_live
                    .as_ref()
                    .map(|l| l.extensions.clone())
                    .unwrap_or_default()
            }
        };
        let unchanged = current_live
            .as_ref()
            .filter(|l| l.rule_version.is_some() && l.rule_version == record.live_version);
        let (mapper, rule_version) = match unchanged {
            Some(live) => (live.mapper.clone(), live.rule_version),
            None => match compile_live(registry, record) {
                Ok(mapper) => (mapper, record.live_version),
                Err(error) => {
                    tracing::error!(tenant = %record.id, version = ?record.live_version, %error, "rule version does not compile");
                    if record.enabled {
                        not_loaded.insert(record.id.clone());
                    }
                    match current_live.as_ref() {
                        Some(live) => (live.mapper.clone(), live.rule_version),
                        None => continue,
                    }
                }
            },
        };
        let live = Live {
            tokens,
            enabled: record.enabled,
            rules: current_live.map(|l| l.rules).unwrap_or_default(),
            rule_version,
            mapper,
            extensions,
            body_capture_until: record.body_capture_until.clone(),
        };
        let limit = record.rate_limit.into();
        match current {
            Some(tenant) => {
                tenant.replace_live(live);
                if tenant.rate_limit() != limit {
                    tenant.set_rate_limit(limit);
                }
            }
            None => {
                tracing::info!(tenant = %record.id, version = ?rule_version, "tenant added");
                state
                    .tenants
                    .insert(Arc::new(Tenant::from_live(record.id.clone(), live, limit)));
            }
        }
    }
    state
        .tenants
        .retain(|id| records.iter().any(|record| &record.id == id));
    *registry
        .rules_not_loaded
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = not_loaded;
    registry.seen.store(generation, Ordering::Release);
    Ok(true)
}

fn compile_live(
    registry: &Registry,
    record: &TenantRecord,
) -> Result<Arc<dyn ProfileMapper>, String> {
    let number = record
        .live_version
        .ok_or_else(|| "the tenant has no rule version".to_string())?;
    let version = registry
        .store
        .rule_version(&record.id, number)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("rule version {number} is missing"))?;
    (registry.compile)(&version.bundle)
}

/// Follows the registry until the process ends: polls its generation every [`POLL`].
pub async fn watch(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let state = state.clone();
        match tokio::task::spawn_blocking(move || sync(&state, false)).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "the tenant registry could not be read"),
            Err(error) => tracing::error!(%error, "tenant sync failed"),
        }
    }
}

/// Imports the tenants of `canon.yaml` that the registry lacks (their token hash, their rule
/// file as version 1, their extensions policy). A tenant the registry has already is left
/// as the registry has it. The ids imported.
pub fn import_config(
    config_path: &Path,
    config: &Config,
    store: &dyn TenantRegistry,
) -> Result<Vec<String>, String> {
    let mut imported = Vec::new();
    for entry in &config.tenants {
        if store
            .tenant(&entry.id)
            .map_err(|e| e.to_string())?
            .is_some()
        {
            continue;
        }
        let rules = Config::resolve(config_path, &entry.rules);
        let (program, bundle) = mapper::load_for_publishing(&rules).map_err(|diagnostics| {
            format!(
                "tenant `{}`: the rule file `{}` has errors:\n{diagnostics}",
                entry.id,
                rules.display()
            )
        })?;
        let tenant = NewTenant {
            id: entry.id.clone(),
            extensions: serde_json::to_value(&entry.extensions).map_err(|e| e.to_string())?,
            rate_limit: stored_rate_limit(entry.rate_limit),
        };
        let version = NewRuleVersion {
            hash: program.version().to_string(),
            bundle,
            // The file's name only: the server's folders are no business of the history.
            note: format!(
                "imported from {}",
                config_path.file_name().map_or_else(
                    || config_path.display().to_string(),
                    |name| name.to_string_lossy().into_owned()
                )
            ),
            author: "canon.yaml".into(),
        };
        match store.create_tenant(&tenant, &entry.token_sha256, &version) {
            // Another instance imported it meanwhile.
            Ok(_) | Err(StoreError::Conflict) => imported.push(entry.id.to_string()),
            Err(error) => return Err(error.to_string()),
        }
    }
    Ok(imported)
}

/// A config's `rate_limit:` as the registry stores it (whole requests per second: a fraction
/// is rounded, to at least 1).
fn stored_rate_limit(limit: super::rate_limit::RateLimit) -> RateLimit {
    match limit {
        _ if limit.is_default() => RateLimit::Default,
        super::rate_limit::RateLimit::Off => RateLimit::Off,
        super::rate_limit::RateLimit::PerSecond(rps) => {
            RateLimit::PerSecond(rps.round().clamp(1.0, f64::from(u32::MAX)) as u32)
        }
    }
}

/// `POST /admin/tenants/{t}/reload` and `canon reload`: a tenant listed in `canon.yaml` has
/// its rule file published again if it changed, a new token hash put in, its extensions
/// policy updated; then the tenant is reloaded from the registry. The rule version serving.
pub fn reload(state: &AppState, tenant: &Arc<Tenant>) -> Result<String, ScimError> {
    let Some(registry) = &state.registry else {
        return tenant.reload(state.config_path.as_deref(), &*state.loader);
    };
    if let Some(config_path) = &state.config_path {
        let config = Config::load(config_path).map_err(|e| {
            ScimError::InvalidValue(format!("the config cannot be read; nothing changed\n{e}"))
        })?;
        if let Some(entry) = config.tenant(tenant.id.as_str()) {
            republish(registry, config_path, entry)?;
        }
    }
    sync(state, true)?;
    Ok(tenant.mapper().version())
}

fn republish(
    registry: &Registry,
    config_path: &Path,
    entry: &super::config::TenantConfig,
) -> Result<(), ScimError> {
    let store = &registry.store;
    let id = &entry.id;
    let record = store
        .tenant(id)?
        .ok_or_else(|| ScimError::NotFound(format!("no tenant `{id}`")))?;
    let rules = Config::resolve(config_path, &entry.rules);
    let (program, bundle) = mapper::load_for_publishing(&rules).map_err(|diagnostics| {
        tracing::warn!(tenant = %id, "reload refused: the rule file has errors");
        ScimError::InvalidValue(format!(
            "the rule file has errors; the old rules keep serving\n{diagnostics}"
        ))
    })?;
    let extensions = entry
        .extensions
        .resolve()
        .map_err(|e| ScimError::InvalidValue(format!("{e}; nothing changed")))
        .and_then(|_| {
            serde_json::to_value(&entry.extensions).map_err(|e| ScimError::Internal(e.to_string()))
        })?;
    let live_hash = match record.live_version {
        Some(number) => store.rule_version(id, number)?.map(|v| v.hash),
        None => None,
    };
    if live_hash.as_deref() != Some(program.version()) {
        store.publish_rules(
            id,
            &NewRuleVersion {
                hash: program.version().to_string(),
                bundle,
                note: format!("reloaded from {}", rules.display()),
                author: "canon reload".into(),
            },
        )?;
    }
    if !store
        .tokens(id)?
        .iter()
        .any(|t| t.sha256 == entry.token_sha256)
    {
        store.rotate_token(id, &entry.token_sha256, None)?;
    }
    if record.extensions != extensions {
        store.update_tenant(
            id,
            &TenantChange {
                extensions: Some(extensions),
                ..TenantChange::default()
            },
        )?;
    }
    Ok(())
}
