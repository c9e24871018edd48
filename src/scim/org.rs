//! The organisation graph in the service: a write to a user changes the profiles that count
//! them (`reports`), so after each user write the written user and the managers they name,
//! before and after the write, are recomputed in the tenant's population.
//!
//! The population is read by a scan of the tenant's users (a reference index in the store is
//! not built yet): a write costs one pass over the tenant's users when its rules declare
//! `reports_to`, and nothing more when they do not. The dependants are written by
//! [`ResourceStore::set_profiles`], in a transaction of their own right after the write.

use serde_json::Value;

use super::mapper::ProfileMapper;
use crate::eval::org::PEOPLE_SHOWN;
use crate::eval::{OrgEntry, OrgIndex};
use crate::store::{Kind, ResourceStore, StoreError, StoredResource, TenantId};

/// A stored user as the rules read it: its body with its `id` (which Entra's and Okta's
/// `manager.value` names).
pub fn with_id(user: &StoredResource) -> Value {
    let mut body = user.body.clone();
    if let Some(object) = body.as_object_mut() {
        object.insert("id".into(), Value::String(user.id.clone()));
    }
    body
}

/// How a user reads in traces: their `userName`, else their id.
fn display(user: &StoredResource) -> String {
    user.body["userName"]
        .as_str()
        .map_or_else(|| user.id.clone(), str::to_string)
}

/// The tenant's population: every stored user's place in the graph, with the user.
pub fn population(
    store: &dyn ResourceStore,
    tenant: &TenantId,
    mapper: &dyn ProfileMapper,
    mut each: impl FnMut(&StoredResource, &OrgEntry),
) -> Result<OrgIndex, StoreError> {
    let mut index = OrgIndex::new(PEOPLE_SHOWN);
    store.scan(tenant, Kind::User, &mut |user| {
        let entry = mapper.org_entry(&with_id(&user));
        index.add(&entry, || display(&user));
        each(&user, &entry);
        true
    })?;
    Ok(index)
}

/// After a write to user `id` (its body before, if it existed; `None` after a delete):
/// recomputes and stores the profiles of the user and of everyone it named as manager
/// before or names now. A no-op for rules without `reports_to`.
pub fn refresh(
    store: &dyn ResourceStore,
    tenant: &TenantId,
    mapper: &dyn ProfileMapper,
    id: &str,
    before: Option<&Value>,
) -> Result<(), StoreError> {
    if !mapper.has_org_graph() {
        return Ok(());
    }
    let mut named = Vec::new();
    if let Some(before) = before {
        let mut body = before.clone();
        if let Some(object) = body.as_object_mut() {
            object.insert("id".into(), Value::String(id.to_string()));
        }
        named.extend(mapper.org_entry(&body).manager);
    }
    let written = store.get(tenant, Kind::User, id)?;
    if let Some(user) = &written {
        named.extend(mapper.org_entry(&with_id(user)).manager);
    }
    if named.is_empty() && written.is_none() {
        return Ok(());
    }
    // One scan: the population, and the users the written one named or names.
    let mut affected: Vec<StoredResource> = Vec::new();
    let index = population(store, tenant, mapper, |user, entry| {
        if user.id != id && entry.keys.iter().any(|key| named.contains(key)) {
            affected.push(user.clone());
        }
    })?;
    affected.extend(written);
    let updates: Vec<(String, crate::store::ProfileRecord)> = affected
        .iter()
        .filter_map(|user| {
            let profile = mapper.map_in(&with_id(user), &index);
            (user.profile.as_ref() != Some(&profile)).then(|| (user.id.clone(), profile))
        })
        .collect();
    if updates.is_empty() {
        return Ok(());
    }
    store.set_profiles(tenant, &updates)
}
