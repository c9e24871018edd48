//! The in-memory double of the store, for unit tests: same contract, nothing on disk.

mod registry;

use std::collections::BTreeMap;
use std::sync::Mutex;

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
        self.with(|inner| {
            let rows = inner.rows(tenant, kind);
            if taken(rows, &write.unique_key, "") {
                return Err(StoreError::Conflict);
            }
            let stamp = now();
            let resource = StoredResource {
                id: uuid::Uuid::new_v4().to_string(),
                kind,
                body: write.body,
                created: stamp.clone(),
                modified: stamp,
                version: 1,
                profile: write.profile,
            };
            rows.push((write.unique_key, resource.clone()));
            Ok(resource)
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
            let rows = inner.rows(tenant, kind);
            let index = rows
                .iter()
                .position(|(_, r)| r.id == id)
                .ok_or(StoreError::NotFound)?;
            let current = rows[index].1.clone();
            let write = change(&current).ok_or(StoreError::Aborted)?;
            if taken(rows, &write.unique_key, id) {
                return Err(StoreError::Conflict);
            }
            let resource = StoredResource {
                body: write.body,
                modified: now(),
                version: current.version + 1,
                profile: write.profile,
                ..current
            };
            rows[index] = (write.unique_key, resource.clone());
            Ok(resource)
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
                    r.profile = Some(profile.clone());
                }
            }
            Ok(())
        })
    }
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
