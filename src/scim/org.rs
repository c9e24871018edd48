//! The organisation graph in the service: where a tenant's rules declare `reports_to`, a
//! user write changes the profiles that count the user (`reports`). The store keeps the
//! graph indexed and recomputes the written user and the managers it named before and
//! names now in the write's own transaction ([`ResourceStore::write_user`],
//! store/org.rs); this module hands it the tenant's rules.

use std::sync::Arc;

use serde_json::Value;

use super::mapper::{MappedProfile, ProfileMapper};
use crate::eval::org::PEOPLE_SHOWN;
use crate::eval::{OrgEntry, OrgIndex, Population, Reports};
use crate::store::{
    Kind, OrgRules, ResourceStore, SharedRules, StoreError, StoredResource, TenantId,
};

/// A stored user as the rules read it: its body with its `id` (which Entra's and Okta's
/// `manager.value` names).
pub fn with_id(user: &StoredResource) -> Value {
    body_with_id(&user.id, &user.body)
}

fn body_with_id(id: &str, body: &Value) -> Value {
    let mut body = body.clone();
    if let Some(object) = body.as_object_mut() {
        object.insert("id".into(), Value::String(id.to_string()));
    }
    body
}

/// How a user reads in traces: their `userName`, else their id.
fn display(user: &StoredResource) -> String {
    user.body["userName"]
        .as_str()
        .map_or_else(|| user.id.clone(), str::to_string)
}

/// A tenant's program as the store's organisation graph uses it.
struct TenantRules(Arc<dyn ProfileMapper>);

impl OrgRules for TenantRules {
    fn signature(&self) -> String {
        self.0.org_signature()
    }

    fn entry(&self, id: &str, body: &Value) -> OrgEntry {
        self.0.org_entry(&body_with_id(id, body))
    }

    fn profile(&self, id: &str, body: &Value, population: &dyn Population) -> MappedProfile {
        self.0.map_in(&body_with_id(id, body), population)
    }

    fn reports_alike(&self, a: u64, b: u64) -> bool {
        self.0.reports_alike(a, b)
    }
}

/// The rules a user write of the tenant keeps the graph with; `None` where the rules
/// declare no `reports_to` (a profile then depends on its user alone).
pub fn rules(mapper: &Arc<dyn ProfileMapper>) -> Option<SharedRules> {
    mapper
        .has_org_graph()
        .then(|| Arc::new(TenantRules(mapper.clone())) as SharedRules)
}

/// The people who name `user` as manager, as the store's index holds them (at most
/// [`PEOPLE_SHOWN`] named). Where the index is not made under these rules (they changed
/// since the last user write), it is first brought up to date as that next write would
/// ([`ResourceStore::org_refresh`]), so a look at one user reads that user's rows, not every
/// user; only a store that keeps no index is read whole.
pub fn reports_of(
    store: &dyn ResourceStore,
    tenant: &TenantId,
    mapper: &Arc<dyn ProfileMapper>,
    user: &StoredResource,
) -> Result<Reports, StoreError> {
    let keys = mapper.org_entry(&with_id(user)).keys;
    let signature = mapper.org_signature();
    if let Some(reports) = store.org_reports(tenant, &signature, &keys, PEOPLE_SHOWN)? {
        return Ok(reports);
    }
    if let Some(rules) = rules(mapper) {
        if store.org_refresh(tenant, &rules)? {
            if let Some(reports) = store.org_reports(tenant, &signature, &keys, PEOPLE_SHOWN)? {
                return Ok(reports);
            }
        }
    }
    Ok(population(store, tenant, &**mapper)?.reports(&keys))
}

/// Every user's profile under `mapper`, mapped as the service maps them: where the rules
/// declare `reports_to`, in the population of `users` (built in one pass), else alone.
/// What `canon remap` and a published or rolled-back rule version recompute.
pub fn map_all(users: &[StoredResource], mapper: &dyn ProfileMapper) -> Vec<MappedProfile> {
    if !mapper.has_org_graph() {
        return users.iter().map(|user| mapper.map(&user.body)).collect();
    }
    let mut index = OrgIndex::new(PEOPLE_SHOWN);
    for user in users {
        index.add(&mapper.org_entry(&with_id(user)), || display(user));
    }
    index.seal();
    users
        .iter()
        .map(|user| mapper.map_in(&with_id(user), &index))
        .collect()
}

/// The tenant's population, read from every stored user.
pub fn population(
    store: &dyn ResourceStore,
    tenant: &TenantId,
    mapper: &dyn ProfileMapper,
) -> Result<OrgIndex, StoreError> {
    let mut index = OrgIndex::new(PEOPLE_SHOWN);
    store.scan(tenant, Kind::User, &mut |user| {
        let entry = mapper.org_entry(&with_id(&user));
        index.add(&entry, || display(&user));
        true
    })?;
    index.seal();
    Ok(index)
}
