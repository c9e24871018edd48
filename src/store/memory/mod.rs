//! The in-memory double of the store, for unit tests: same contract, nothing on disk.

mod org;
mod registry;

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::org::{self as graph, ManagerRowFn, SharedRules, UserWrite};
use super::{
    fold, index_keys, lists_member, now, remove_member, IndexedAttr, Kind, ProfileRecord,
    ResourceStore, Session, SessionStore, StoreError, StoredResource, TenantId, UpdateFn, Write,
};

#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

/// One stored row: its unique key and the resource.
type Row = (Option<String>, StoredResource);

#[derive(Default)]
struct Inner {
    /// (tenant, kind) → rows in creation order: (unique key, resource).
    rows: BTreeMap<(TenantId, &'static str), Vec<Row>>,
    /// The tenant registry (registry.rs).
    registry: registry::Registry,
    /// Console sessions by id hash.
    sessions: BTreeMap<String, Session>,
    /// Each tenant's organisation index (org.rs).
    org: BTreeMap<TenantId, org::TenantGraph>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }
}

impl Inner {
    fn rows(&mut self, tenant: &TenantId, kind: Kind) -> &mut Vec<Row> {
        self.rows
            .entry((tenant.clone(), kind.as_str()))
            .or_default()
    }
}

fn taken(rows: &[Row], key: &Option<String>, except: &str) -> bool {
    key.is_some() && rows.iter().any(|(k, r)| k == key && r.id != except)
}

impl ResourceStore for MemoryStore {
    fn create(
        &self,
        tenant: &TenantId,
        kind: Kind,
        write: Write,
    ) -> Result<StoredResource, StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        self.with(|inner| {
            inner.forget(tenant, kind);
            create_in(inner, tenant, kind, id, write)
        })
    }

    fn get(
        &self,
        tenant: &TenantId,
        kind: Kind,
        id: &str,
    ) -> Result<Option<StoredResource>, StoreError> {
        self.with(|inner| {
            Ok(inner
                .rows(tenant, kind)
                .iter()
                .find(|(_, r)| r.id == id)
                .map(|(_, r)| r.clone()))
        })
    }

    fn find_unique(
        &self,
        tenant: &TenantId,
        kind: Kind,
        key: &str,
    ) -> Result<Option<StoredResource>, StoreError> {
        self.with(|inner| {
            Ok(inner
                .rows(tenant, kind)
                .iter()
                .find(|(k, _)| k.as_deref() == Some(key))
                .map(|(_, r)| r.clone()))
        })
    }

    fn list(&self, tenant: &TenantId, kind: Kind) -> Result<Vec<StoredResource>, StoreError> {
        self.with(|inner| {
            Ok(inner
                .rows(tenant, kind)
                .iter()
                .map(|(_, r)| r.clone())
                .collect())
        })
    }

    fn page(
        &self,
        tenant: &TenantId,
        kind: Kind,
        skip: usize,
        take: usize,
    ) -> Result<(usize, Vec<StoredResource>), StoreError> {
        self.with(|inner| {
            let rows = inner.rows(tenant, kind);
            let page = rows.iter().skip(skip).take(take);
            Ok((rows.len(), page.map(|(_, r)| r.clone()).collect()))
        })
    }

    fn scan(
        &self,
        tenant: &TenantId,
        kind: Kind,
        visit: &mut dyn FnMut(StoredResource) -> bool,
    ) -> Result<(), StoreError> {
        for resource in self.list(tenant, kind)? {
            if !visit(resource) {
                break;
            }
        }
        Ok(())
    }

    fn find_by(
        &self,
        tenant: &TenantId,
        kind: Kind,
        attr: IndexedAttr,
        value: &str,
    ) -> Result<Vec<StoredResource>, StoreError> {
        let key = (attr, fold(value));
        let mut found = self.list(tenant, kind)?;
        found.retain(|r| match attr {
            IndexedAttr::Member => lists_member(&r.body, value),
            _ => index_keys(kind, &r.body).contains(&key),
        });
        Ok(found)
    }

    fn update(
        &self,
        tenant: &TenantId,
        kind: Kind,
        id: &str,
        change: &mut UpdateFn<'_>,
    ) -> Result<StoredResource, StoreError> {
        self.with(|inner| {
            let current = current_of(inner, tenant, kind, id)?;
            let write = change(&current).ok_or(StoreError::Aborted)?;
            inner.forget(tenant, kind);
            update_in(inner, tenant, kind, current, write)
        })
    }

    fn replace(
        &self,
        tenant: &TenantId,
        kind: Kind,
        id: &str,
        version: i64,
        write: Write,
    ) -> Result<StoredResource, StoreError> {
        let mut write = Some(write);
        let result = self.update(tenant, kind, id, &mut |current| match current.version {
            v if v == version => write.take(),
            _ => None,
        });
        match result {
            Err(StoreError::Aborted) => Err(StoreError::Stale),
            other => other,
        }
    }

    fn delete(&self, tenant: &TenantId, kind: Kind, id: &str) -> Result<(), StoreError> {
        self.with(|inner| {
            delete_in(inner, tenant, kind, id)?;
            inner.forget(tenant, kind);
            Ok(())
        })
    }

    fn write_user(
        &self,
        tenant: &TenantId,
        rules: &SharedRules,
        write: UserWrite<'_>,
    ) -> Result<Option<StoredResource>, StoreError> {
        let kind = Kind::User;
        self.with(|inner| {
            // All or nothing: the state before is put back if any step fails.
            let saved = (
                inner.rows(tenant, kind).clone(),
                inner.org.get(tenant).cloned(),
            );
            let result = write_user_in(inner, tenant, rules, write);
            if result.is_err() {
                *inner.rows(tenant, kind) = saved.0;
                match saved.1 {
                    Some(graph) => inner.org.insert(tenant.clone(), graph),
                    None => inner.org.remove(tenant),
                };
            }
            result
        })
    }

    fn org_reports(
        &self,
        tenant: &TenantId,
        signature: &str,
        keys: &[crate::eval::org::OrgKey],
        keep: usize,
    ) -> Result<Option<crate::eval::Reports>, StoreError> {
        self.with(|inner| {
            let mut tx = org::MemoryOrg { inner, tenant };
            graph::reports_of(&mut tx, signature, keys, keep)
        })
    }

    fn org_refresh(&self, tenant: &TenantId, rules: &SharedRules) -> Result<bool, StoreError> {
        self.with(|inner| {
            let mut tx = org::MemoryOrg { inner, tenant };
            graph::ensure_current(&mut tx, rules.as_ref())
        })?;
        Ok(true)
    }

    fn org_managers(
        &self,
        tenant: &TenantId,
        signature: &str,
        visit: &mut ManagerRowFn<'_>,
    ) -> Result<bool, StoreError> {
        self.with(|inner| {
            let mut tx = org::MemoryOrg { inner, tenant };
            graph::managers_of(&mut tx, signature, visit)
        })
    }

    fn sessions(&self) -> Option<&dyn SessionStore> {
        Some(self)
    }

    fn set_profiles(
        &self,
        tenant: &TenantId,
        profiles: &[(String, ProfileRecord)],
    ) -> Result<(), StoreError> {
        self.with(|inner| {
            let rows = inner.rows(tenant, Kind::User);
            for (id, profile) in profiles {
                if let Some((_, r)) = rows.iter_mut().find(|(_, r)| &r.id == id) {
                    r.profile = Some(profile.clone()).into();
                }
            }
            Ok(())
        })
    }
}

impl Inner {
    /// A user written without the organisation index: the next write that keeps it
    /// rebuilds it.
    fn forget(&mut self, tenant: &TenantId, kind: Kind) {
        if kind == Kind::User {
            if let Some(graph) = self.org.get_mut(tenant) {
                graph.signature = None;
            }
        }
    }
}

fn current_of(
    inner: &mut Inner,
    tenant: &TenantId,
    kind: Kind,
    id: &str,
) -> Result<StoredResource, StoreError> {
    inner
        .rows(tenant, kind)
        .iter()
        .find(|(_, r)| r.id == id)
        .map(|(_, r)| r.clone())
        .ok_or(StoreError::NotFound)
}

fn create_in(
    inner: &mut Inner,
    tenant: &TenantId,
    kind: Kind,
    id: String,
    write: Write,
) -> Result<StoredResource, StoreError> {
    let rows = inner.rows(tenant, kind);
    if taken(rows, &write.unique_key, "") {
        return Err(StoreError::Conflict);
    }
    let stamp = now();
    let resource = StoredResource::created(id, kind, write.body, stamp, write.profile);
    rows.push((write.unique_key, resource.clone()));
    Ok(resource)
}

fn update_in(
    inner: &mut Inner,
    tenant: &TenantId,
    kind: Kind,
    current: StoredResource,
    write: Write,
) -> Result<StoredResource, StoreError> {
    let rows = inner.rows(tenant, kind);
    if taken(rows, &write.unique_key, &current.id) {
        return Err(StoreError::Conflict);
    }
    let index = rows
        .iter()
        .position(|(_, r)| r.id == current.id)
        .ok_or(StoreError::NotFound)?;
    let resource = StoredResource {
        body: write.body,
        modified: now(),
        version: current.version + 1,
        profile: write.profile.into(),
        ..current
    };
    rows[index] = (write.unique_key, resource.clone());
    Ok(resource)
}

fn delete_in(inner: &mut Inner, tenant: &TenantId, kind: Kind, id: &str) -> Result<(), StoreError> {
    let rows = inner.rows(tenant, kind);
    let before = rows.len();
    rows.retain(|(_, r)| r.id != id);
    if rows.len() == before {
        return Err(StoreError::NotFound);
    }
    let stamp = now();
    for (_, group) in inner.rows(tenant, Kind::Group) {
        if remove_member(&mut group.body, id) {
            group.modified = stamp.clone();
            group.version += 1;
        }
    }
    Ok(())
}

/// [`ResourceStore::write_user`] on the locked state (the caller puts it back on failure).
fn write_user_in(
    inner: &mut Inner,
    tenant: &TenantId,
    rules: &SharedRules,
    write: UserWrite<'_>,
) -> Result<Option<StoredResource>, StoreError> {
    let kind = Kind::User;
    let rules = rules.as_ref();
    let (id, current, write) = match write {
        UserWrite::Create(write) => (uuid::Uuid::new_v4().to_string(), None, Some(write)),
        UserWrite::Replace { id, version, write } => {
            let current = current_of(inner, tenant, kind, id)?;
            if current.version != version {
                return Err(StoreError::Stale);
            }
            (id.to_string(), Some(current), Some(write))
        }
        UserWrite::Update { id, change } => {
            let current = current_of(inner, tenant, kind, id)?;
            let write = change(&current).ok_or(StoreError::Aborted)?;
            (id.to_string(), Some(current), Some(write))
        }
        UserWrite::Delete { id } => (id.to_string(), None, None),
    };
    let body = write.as_ref().map(|w| w.body.clone());
    let mut tx = org::MemoryOrg { inner, tenant };
    graph::write_user(&mut tx, rules, &id, body.as_ref(), |tx, profile| {
        let inner = &mut *tx.inner;
        match (write, current) {
            (Some(mut write), None) => {
                write.profile = profile;
                create_in(inner, tenant, kind, id.clone(), write).map(Some)
            }
            (Some(mut write), Some(current)) => {
                write.profile = profile;
                update_in(inner, tenant, kind, current, write).map(Some)
            }
            (None, _) => delete_in(inner, tenant, kind, &id).map(|()| None),
        }
    })
}

impl SessionStore for MemoryStore {
    fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        self.with(|inner| {
            if inner.sessions.contains_key(&session.id_sha256) {
                return Err(StoreError::Conflict);
            }
            inner
                .sessions
                .insert(session.id_sha256.clone(), session.clone());
            Ok(())
        })
    }

    fn session(&self, id_sha256: &str, now: i64) -> Result<Option<Session>, StoreError> {
        self.with(|inner| {
            Ok(inner
                .sessions
                .get(id_sha256)
                .filter(|s| s.expires > now)
                .cloned())
        })
    }

    fn delete_session(&self, id_sha256: &str) -> Result<(), StoreError> {
        self.with(|inner| inner.sessions.remove(id_sha256));
        Ok(())
    }

    fn purge_sessions(&self, now: i64) -> Result<usize, StoreError> {
        self.with(|inner| {
            let before = inner.sessions.len();
            inner.sessions.retain(|_, s| s.expires > now);
            Ok(before - inner.sessions.len())
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_store_contract() {
        crate::store::contract::run(&super::MemoryStore::new());
        crate::store::sessions::contract::run(&super::MemoryStore::new());
    }
}
