//! The tenant registry as a running service holds it: the store, how stored rule versions
//! compile, where activity goes, how clients reach the service.

use std::collections::BTreeSet;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};

use super::activity::ActivityLog;
use super::mapper::{self, ProfileMapper};
use crate::store::registry::RuleBundle;
use crate::store::{Store, TenantId};

/// Compiles a stored rule bundle into a mapper.
pub type BundleCompiler =
    dyn Fn(&RuleBundle) -> Result<Arc<dyn ProfileMapper>, String> + Send + Sync;

/// The registry a service follows, and what it needs to follow it.
pub struct Registry {
    /// The store (resources and registry, one backend).
    pub store: Arc<dyn Store>,
    pub compile: Arc<BundleCompiler>,
    /// The generation the serving tenants reflect (-1: never synced).
    pub(super) seen: AtomicI64,
    /// One sync at a time (the watcher and an admin reload may meet).
    pub(super) syncing: Mutex<()>,
    /// Enabled tenants whose live rule version did not compile at the last sync: they are not
    /// served at it (an older version, or nothing), and `/readyz` says so.
    pub(super) rules_not_loaded: Mutex<BTreeSet<TenantId>>,
    /// Where request activity goes (see `activity.rs`).
    pub activity: ActivityLog,
    /// How clients reach the service (`canon.yaml`'s `public_url`), for setup links and the
    /// base URL they show; `None`: from each request's `Host`.
    pub public_url: Option<String>,
}

impl Registry {
    pub fn new(store: Arc<dyn Store>, compile: Arc<BundleCompiler>) -> Registry {
        let activity = ActivityLog::start(store.clone());
        Registry {
            store,
            compile,
            seen: AtomicI64::new(-1),
            syncing: Mutex::new(()),
            rules_not_loaded: Mutex::default(),
            activity,
            public_url: None,
        }
    }

    /// The production compiler: the rules engine, from memory.
    pub fn engine() -> Arc<BundleCompiler> {
        Arc::new(|bundle: &RuleBundle| {
            mapper::compile_bundle(bundle).map(|p| p as Arc<dyn ProfileMapper>)
        })
    }
}
