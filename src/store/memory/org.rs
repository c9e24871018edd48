//! The organisation index of the in-memory store (store/org.rs): each tenant's places by
//! user id, and the signature they were made under.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;

use super::super::org::{ManagerRowFn, OrgPlace, OrgTx};
use super::super::{Kind, ProfileRecord, StoreError, TenantId};
use super::Inner;
use crate::eval::org::OrgKey;
use crate::eval::Reports;

/// One tenant's index.
#[derive(Debug, Clone, Default)]
pub(super) struct TenantGraph {
    pub signature: Option<String>,
    pub places: BTreeMap<String, OrgPlace>,
}

/// The index of one tenant, over the store's state (locked by the caller).
pub(super) struct MemoryOrg<'a> {
    pub inner: &'a mut Inner,
    pub tenant: &'a TenantId,
}

impl MemoryOrg<'_> {
    fn graph(&mut self) -> &mut TenantGraph {
        self.inner.org.entry(self.tenant.clone()).or_default()
    }
}

impl OrgTx for MemoryOrg<'_> {
    fn signature(&mut self) -> Result<Option<String>, StoreError> {
        Ok(self.graph().signature.clone())
    }

    fn reset(&mut self, signature: &str) -> Result<(), StoreError> {
        *self.graph() = TenantGraph {
            signature: Some(signature.to_string()),
            places: BTreeMap::new(),
        };
        Ok(())
    }

    fn users(&mut self, visit: &mut dyn FnMut(&str, &Value)) -> Result<(), StoreError> {
        for (_, user) in self.inner.rows(self.tenant, Kind::User).iter() {
            visit(&user.id, &user.body);
        }
        Ok(())
    }

    fn place(&mut self, id: &str) -> Result<Option<OrgPlace>, StoreError> {
        // As the tables hold it: a place without keys or manager has no rows.
        Ok(self
            .graph()
            .places
            .get(id)
            .filter(|p| !p.keys.is_empty() || !p.manager.is_empty())
            .cloned())
    }

    fn set_place(&mut self, id: &str, place: Option<&OrgPlace>) -> Result<(), StoreError> {
        let places = &mut self.graph().places;
        match place {
            Some(place) => places.insert(id.to_string(), place.clone()),
            None => places.remove(id),
        };
        Ok(())
    }

    fn add_places(&mut self, places: &[(String, OrgPlace)]) -> Result<(), StoreError> {
        let graph = self.graph();
        for (id, place) in places {
            graph.places.insert(id.clone(), place.clone());
        }
        Ok(())
    }

    fn holders(&mut self, keys: &[OrgKey]) -> Result<Vec<(String, OrgKey)>, StoreError> {
        Ok(self
            .graph()
            .places
            .iter()
            .flat_map(|(id, p)| {
                p.keys
                    .iter()
                    .filter(|k| keys.contains(k))
                    .map(move |k| (id.clone(), k.clone()))
            })
            .collect())
    }

    fn reports(&mut self, keys: &[OrgKey], keep: usize) -> Result<Reports, StoreError> {
        let reporters: HashSet<String> = self
            .graph()
            .places
            .iter()
            .filter(|(_, p)| p.counts && p.manager.iter().any(|k| keys.contains(k)))
            .map(|(id, _)| id.clone())
            .collect();
        let mut reports = Reports {
            count: reporters.len() as u64,
            people: Vec::new(),
        };
        // Oldest user first.
        let order: Vec<String> = self
            .inner
            .rows(self.tenant, Kind::User)
            .iter()
            .filter(|(_, u)| reporters.contains(&u.id))
            .map(|(_, u)| u.id.clone())
            .take(keep)
            .collect();
        let graph = self.graph();
        for id in order {
            if let Some(place) = graph.places.get(&id) {
                reports.people.push(place.display.clone());
            }
        }
        Ok(reports)
    }

    fn managers(&mut self, visit: &mut ManagerRowFn<'_>) -> Result<(), StoreError> {
        for (id, place) in &self.graph().places {
            for (link, value) in &place.manager {
                visit(id, (*link, value), place.counts);
            }
        }
        Ok(())
    }

    fn user(&mut self, id: &str) -> Result<Option<(Value, Option<ProfileRecord>)>, StoreError> {
        Ok(self
            .inner
            .rows(self.tenant, Kind::User)
            .iter()
            .find(|(_, u)| u.id == id)
            .map(|(_, u)| (u.body.clone(), (*u.profile).clone())))
    }

    fn set_profile(&mut self, id: &str, profile: &ProfileRecord) -> Result<(), StoreError> {
        if let Some((_, user)) = self
            .inner
            .rows(self.tenant, Kind::User)
            .iter_mut()
            .find(|(_, u)| u.id == id)
        {
            user.profile = Some(profile.clone()).into();
        }
        Ok(())
    }
}
