//! The store as the service uses it, every call timed into `canon_store_seconds{operation}`.
//! A decorator, so handlers and backends stay unaware of metrics.

use std::sync::Arc;
use std::time::Instant;

use super::metrics::Metrics;
use crate::store::{
    Created, IndexedAttr, Kind, Membership, ProfileRecord, Queued, ResourceStore, SharedRules,
    StoreError, StoredResource, TenantId, UpdateFn, UserWrite, Write,
};

pub struct TimedStore {
    inner: Arc<dyn ResourceStore>,
    metrics: Arc<Metrics>,
}

impl TimedStore {
    pub fn new(inner: Arc<dyn ResourceStore>, metrics: Arc<Metrics>) -> TimedStore {
        TimedStore { inner, metrics }
    }

    fn timed<T>(&self, operation: &'static str, call: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let result = call();
        self.metrics.store_call(operation, started.elapsed());
        result
    }

    /// A queued write, timed from now until its answer comes.
    fn timed_queued<T>(
        &self,
        operation: &'static str,
        call: impl FnOnce() -> Result<Queued<T>, Box<Write>>,
    ) -> Result<Queued<T>, Box<Write>> {
        let started = Instant::now();
        let metrics = self.metrics.clone();
        call().map(|queued| {
            queued.on_answer(move || metrics.store_call(operation, started.elapsed()))
        })
    }
}

impl ResourceStore for TimedStore {
    fn create(
        &self,
        tenant: &TenantId,
        kind: Kind,
        write: Write,
    ) -> Result<StoredResource, StoreError> {
        self.timed("create", || self.inner.create(tenant, kind, write))
    }

    fn get(
        &self,
        tenant: &TenantId,
        kind: Kind,
        id: &str,
    ) -> Result<Option<StoredResource>, StoreError> {
        self.timed("get", || self.inner.get(tenant, kind, id))
    }

    fn find_unique(
        &self,
        tenant: &TenantId,
        kind: Kind,
        key: &str,
    ) -> Result<Option<StoredResource>, StoreError> {
        self.timed("find_unique", || self.inner.find_unique(tenant, kind, key))
    }

    fn list(&self, tenant: &TenantId, kind: Kind) -> Result<Vec<StoredResource>, StoreError> {
        self.timed("list", || self.inner.list(tenant, kind))
    }

    fn page(
        &self,
        tenant: &TenantId,
        kind: Kind,
        skip: usize,
        take: usize,
    ) -> Result<(usize, Vec<StoredResource>), StoreError> {
        self.timed("page", || self.inner.page(tenant, kind, skip, take))
    }

    fn scan(
        &self,
        tenant: &TenantId,
        kind: Kind,
        visit: &mut dyn FnMut(StoredResource) -> bool,
    ) -> Result<(), StoreError> {
        self.timed("scan", || self.inner.scan(tenant, kind, visit))
    }

    fn scan_bodies(
        &self,
        tenant: &TenantId,
        kind: Kind,
        visit: &mut dyn FnMut(String, serde_json::Value) -> bool,
    ) -> Result<(), StoreError> {
        self.timed("scan_bodies", || {
            self.inner.scan_bodies(tenant, kind, visit)
        })
    }

    fn find_by(
        &self,
        tenant: &TenantId,
        kind: Kind,
        attr: IndexedAttr,
        value: &str,
    ) -> Result<Vec<StoredResource>, StoreError> {
        self.timed("find_by", || self.inner.find_by(tenant, kind, attr, value))
    }

    fn memberships(
        &self,
        tenant: &TenantId,
        members: &[&str],
    ) -> Result<Vec<Membership>, StoreError> {
        self.timed("memberships", || self.inner.memberships(tenant, members))
    }

    fn update(
        &self,
        tenant: &TenantId,
        kind: Kind,
        id: &str,
        change: &mut UpdateFn<'_>,
    ) -> Result<StoredResource, StoreError> {
        self.timed("update", || self.inner.update(tenant, kind, id, change))
    }

    fn replace(
        &self,
        tenant: &TenantId,
        kind: Kind,
        id: &str,
        version: i64,
        write: Write,
    ) -> Result<StoredResource, StoreError> {
        self.timed("replace", || {
            self.inner.replace(tenant, kind, id, version, write)
        })
    }

    fn delete(&self, tenant: &TenantId, kind: Kind, id: &str) -> Result<(), StoreError> {
        self.timed("delete", || self.inner.delete(tenant, kind, id))
    }

    fn user_summary(&self, tenant: &TenantId) -> Result<crate::store::UserSummary, StoreError> {
        self.timed("user_summary", || self.inner.user_summary(tenant))
    }

    /// The console's sessions, in the store this one wraps.
    fn sessions(&self) -> Option<&dyn crate::store::SessionStore> {
        self.inner.sessions()
    }

    fn set_profiles(
        &self,
        tenant: &TenantId,
        profiles: &[(String, ProfileRecord)],
    ) -> Result<(), StoreError> {
        self.timed("set_profiles", || self.inner.set_profiles(tenant, profiles))
    }

    fn write_user(
        &self,
        tenant: &TenantId,
        rules: &SharedRules,
        write: UserWrite<'_>,
    ) -> Result<Option<StoredResource>, StoreError> {
        self.timed("write_user", || self.inner.write_user(tenant, rules, write))
    }

    fn queue_create(
        &self,
        tenant: &TenantId,
        kind: Kind,
        write: Write,
    ) -> Result<Queued<StoredResource>, Box<Write>> {
        self.timed_queued("create", || self.inner.queue_create(tenant, kind, write))
    }

    fn queue_user_create(
        &self,
        tenant: &TenantId,
        rules: &SharedRules,
        write: Write,
    ) -> Result<Queued<Created>, Box<Write>> {
        self.timed_queued("write_user", || {
            self.inner.queue_user_create(tenant, rules, write)
        })
    }

    fn org_reports(
        &self,
        tenant: &TenantId,
        signature: &str,
        keys: &[crate::eval::org::OrgKey],
        keep: usize,
    ) -> Result<Option<crate::eval::Reports>, StoreError> {
        self.timed("org_reports", || {
            self.inner.org_reports(tenant, signature, keys, keep)
        })
    }
}
