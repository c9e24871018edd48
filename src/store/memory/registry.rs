//! The tenant registry of the in-memory double: same contract as SQLite's, nothing on disk.

use std::collections::{BTreeMap, HashMap};

use super::MemoryStore;
use crate::store::registry::{
    count, select_activity, ActivityCounters, ActivityEntry, ActivityQuery, LinkSpend,
    NewRuleVersion, NewTenant, RuleVersion, SetupLink, TenantChange, TenantRecord, TenantRegistry,
    TokenRecord, ACTIVITY_KEPT,
};
use crate::store::{now, StoreError, TenantId};

#[derive(Default)]
pub(super) struct Registry {
    generation: i64,
    tenants: BTreeMap<TenantId, TenantRecord>,
    /// Every token, in creation order, with its tenant.
    tokens: Vec<(TenantId, TokenRecord)>,
    next_token: i64,
    versions: HashMap<TenantId, Vec<RuleVersion>>,
    links: Vec<SetupLink>,
    activity: Vec<ActivityEntry>,
    next_seq: i64,
    counters: HashMap<String, ActivityCounters>,
}

impl Registry {
    fn known(&self, tenant: &TenantId) -> Result<(), StoreError> {
        if self.tenants.contains_key(tenant) {
            Ok(())
        } else {
            Err(StoreError::NotFound)
        }
    }

    fn insert_token(&mut self, tenant: &TenantId, sha256: &str) -> Result<TokenRecord, StoreError> {
        if self.tokens.iter().any(|(_, t)| t.sha256 == sha256) {
            return Err(StoreError::Conflict);
        }
        self.next_token += 1;
        let token = TokenRecord {
            id: self.next_token,
            sha256: sha256.to_string(),
            created: now(),
            expires: None,
            revoked: None,
        };
        self.tokens.push((tenant.clone(), token.clone()));
        Ok(token)
    }

    fn insert_version(&mut self, tenant: &TenantId, version: &NewRuleVersion) -> RuleVersion {
        let versions = self.versions.entry(tenant.clone()).or_default();
        let published = RuleVersion {
            number: versions.last().map_or(1, |v| v.number + 1),
            hash: version.hash.clone(),
            bundle: version.bundle.clone(),
            note: version.note.clone(),
            author: version.author.clone(),
            created: now(),
        };
        versions.push(published.clone());
        if let Some(record) = self.tenants.get_mut(tenant) {
            record.live_version = Some(published.number);
        }
        published
    }
}

impl MemoryStore {
    /// A registry change: `change` runs on the registry and, if it succeeds, the generation moves.
    fn change<T>(
        &self,
        change: impl FnOnce(&mut Registry) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.with(|inner| {
            let out = change(&mut inner.registry)?;
            inner.registry.generation += 1;
            Ok(out)
        })
    }

    fn read<T>(&self, read: impl FnOnce(&Registry) -> T) -> Result<T, StoreError> {
        Ok(self.with(|inner| read(&inner.registry)))
    }
}

impl TenantRegistry for MemoryStore {
    fn generation(&self) -> Result<i64, StoreError> {
        self.read(|r| r.generation)
    }

    fn create_tenant(
        &self,
        tenant: &NewTenant,
        token_sha256: &str,
        rules: &NewRuleVersion,
    ) -> Result<TenantRecord, StoreError> {
        self.change(|r| {
            if r.tenants.contains_key(&tenant.id) {
                return Err(StoreError::Conflict);
            }
            if r.tokens.iter().any(|(_, t)| t.sha256 == token_sha256) {
                return Err(StoreError::Conflict);
            }
            r.tenants.insert(
                tenant.id.clone(),
                TenantRecord {
                    id: tenant.id.clone(),
                    enabled: true,
                    extensions: tenant.extensions.clone(),
                    rate_limit: tenant.rate_limit,
                    body_capture_until: None,
                    live_version: None,
                    created: now(),
                },
            );
            r.insert_token(&tenant.id, token_sha256)?;
            r.insert_version(&tenant.id, rules);
            r.tenants
                .get(&tenant.id)
                .cloned()
                .ok_or(StoreError::NotFound)
        })
    }

    fn tenant(&self, id: &TenantId) -> Result<Option<TenantRecord>, StoreError> {
        self.read(|r| r.tenants.get(id).cloned())
    }

    fn tenants(&self) -> Result<Vec<TenantRecord>, StoreError> {
        self.read(|r| r.tenants.values().cloned().collect())
    }

    fn update_tenant(
        &self,
        id: &TenantId,
        change: &TenantChange,
    ) -> Result<TenantRecord, StoreError> {
        self.change(|r| {
            let tenant = r.tenants.get_mut(id).ok_or(StoreError::NotFound)?;
            if let Some(enabled) = change.enabled {
                tenant.enabled = enabled;
            }
            if let Some(extensions) = &change.extensions {
                tenant.extensions = extensions.clone();
            }
            if let Some(rate_limit) = change.rate_limit {
                tenant.rate_limit = rate_limit;
            }
            if let Some(until) = &change.body_capture_until {
                tenant.body_capture_until = until.clone();
            }
            Ok(tenant.clone())
        })
    }

    fn remove_tenant(&self, id: &TenantId) -> Result<(), StoreError> {
        self.with(|inner| {
            let r = &mut inner.registry;
            r.known(id)?;
            r.tenants.remove(id);
            r.tokens.retain(|(t, _)| t != id);
            r.versions.remove(id);
            r.links.retain(|l| &l.tenant != id);
            r.activity.retain(|e| e.tenant != id.as_str());
            r.counters.remove(id.as_str());
            r.generation += 1;
            inner.rows.retain(|(tenant, _), _| tenant != id);
            inner.org.remove(id);
            Ok(())
        })
    }

    fn tokens(&self, tenant: &TenantId) -> Result<Vec<TokenRecord>, StoreError> {
        self.read(|r| {
            r.tokens
                .iter()
                .filter(|(t, _)| t == tenant)
                .map(|(_, token)| token.clone())
                .collect()
        })
    }

    fn rotate_token(
        &self,
        tenant: &TenantId,
        token_sha256: &str,
        others_until: Option<&str>,
    ) -> Result<TokenRecord, StoreError> {
        self.change(|r| {
            r.known(tenant)?;
            if r.tokens.iter().any(|(_, t)| t.sha256 == token_sha256) {
                return Err(StoreError::Conflict);
            }
            let stamp = now();
            for (_, token) in r.tokens.iter_mut().filter(|(t, _)| t == tenant) {
                let open = token.revoked.is_none()
                    && token
                        .expires
                        .as_deref()
                        .is_none_or(|e| e > others_until.unwrap_or(&stamp));
                if !open {
                    continue;
                }
                match others_until {
                    Some(until) => token.expires = Some(until.to_string()),
                    None => token.revoked = Some(stamp.clone()),
                }
            }
            r.insert_token(tenant, token_sha256)
        })
    }

    fn add_token(&self, tenant: &TenantId, token_sha256: &str) -> Result<TokenRecord, StoreError> {
        self.change(|r| {
            r.known(tenant)?;
            r.insert_token(tenant, token_sha256)
        })
    }

    fn revoke_token(&self, tenant: &TenantId, token: i64) -> Result<TokenRecord, StoreError> {
        self.change(|r| {
            let (_, found) = r
                .tokens
                .iter_mut()
                .find(|(t, record)| t == tenant && record.id == token)
                .ok_or(StoreError::NotFound)?;
            if found.revoked.is_none() {
                found.revoked = Some(now());
            }
            Ok(found.clone())
        })
    }

    fn publish_rules(
        &self,
        tenant: &TenantId,
        version: &NewRuleVersion,
    ) -> Result<RuleVersion, StoreError> {
        self.change(|r| {
            r.known(tenant)?;
            Ok(r.insert_version(tenant, version))
        })
    }

    fn rule_versions(&self, tenant: &TenantId) -> Result<Vec<RuleVersion>, StoreError> {
        self.read(|r| r.versions.get(tenant).cloned().unwrap_or_default())
    }

    fn rule_version(
        &self,
        tenant: &TenantId,
        number: i64,
    ) -> Result<Option<RuleVersion>, StoreError> {
        self.read(|r| {
            r.versions
                .get(tenant)
                .and_then(|v| v.iter().find(|v| v.number == number).cloned())
        })
    }

    fn set_live_version(&self, tenant: &TenantId, number: i64) -> Result<(), StoreError> {
        self.change(|r| {
            let known = r
                .versions
                .get(tenant)
                .is_some_and(|v| v.iter().any(|v| v.number == number));
            let record = r.tenants.get_mut(tenant).filter(|_| known);
            record.ok_or(StoreError::NotFound)?.live_version = Some(number);
            Ok(())
        })
    }

    fn create_setup_link(
        &self,
        tenant: &TenantId,
        secret_sha256: &str,
        expires: &str,
    ) -> Result<SetupLink, StoreError> {
        self.change(|r| {
            r.known(tenant)?;
            if r.links.iter().any(|l| l.secret_sha256 == secret_sha256) {
                return Err(StoreError::Conflict);
            }
            let link = SetupLink {
                secret_sha256: secret_sha256.to_string(),
                tenant: tenant.clone(),
                created: now(),
                expires: expires.to_string(),
                spent: None,
            };
            r.links.push(link.clone());
            Ok(link)
        })
    }

    fn setup_link(&self, secret_sha256: &str) -> Result<Option<SetupLink>, StoreError> {
        self.read(|r| {
            r.links
                .iter()
                .find(|l| l.secret_sha256 == secret_sha256)
                .cloned()
        })
    }

    fn spend_setup_link(
        &self,
        secret_sha256: &str,
        token_sha256: &str,
    ) -> Result<LinkSpend, StoreError> {
        self.with(|inner| {
            let r = &mut inner.registry;
            let index = r
                .links
                .iter()
                .position(|l| l.secret_sha256 == secret_sha256)
                .ok_or(StoreError::NotFound)?;
            let stamp = now();
            let link = r.links[index].clone();
            if link.spent.is_some() || link.expires <= stamp {
                return Ok(LinkSpend::Gone(link));
            }
            r.insert_token(&link.tenant, token_sha256)?;
            r.links[index].spent = Some(stamp);
            r.generation += 1;
            Ok(LinkSpend::Spent(r.links[index].clone()))
        })
    }

    fn record_activity(&self, entries: &[ActivityEntry]) -> Result<(), StoreError> {
        self.with(|inner| {
            let r = &mut inner.registry;
            for entry in entries {
                r.next_seq += 1;
                let mut entry = entry.clone();
                entry.seq = r.next_seq;
                count(r.counters.entry(entry.tenant.clone()).or_default(), &entry);
                r.activity.push(entry);
            }
            let mut kept: HashMap<String, usize> = HashMap::new();
            let mut keep = vec![false; r.activity.len()];
            for (i, entry) in r.activity.iter().enumerate().rev() {
                let n = kept.entry(entry.tenant.clone()).or_default();
                *n += 1;
                keep[i] = *n <= ACTIVITY_KEPT;
            }
            let mut flags = keep.into_iter();
            r.activity.retain(|_| flags.next().unwrap_or(false));
            Ok(())
        })
    }

    fn activity(
        &self,
        tenant: &TenantId,
        query: &ActivityQuery,
    ) -> Result<Vec<ActivityEntry>, StoreError> {
        self.read(|r| {
            let of_tenant = r
                .activity
                .iter()
                .filter(|e| e.tenant == tenant.as_str())
                .cloned();
            select_activity(of_tenant.collect::<Vec<_>>().into_iter(), query)
        })
    }

    fn activity_counters(&self, tenant: &TenantId) -> Result<ActivityCounters, StoreError> {
        self.read(|r| r.counters.get(tenant.as_str()).cloned().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_registry_contract() {
        crate::store::registry::contract::run(&super::MemoryStore::new());
    }
}
