//! Where SCIM resources and their canonical profiles live.
//!
//! One narrow trait, [`ResourceStore`], behind which the SCIM handlers see no backend.
//! [`SqliteStore`] is the default (embedded, durable, group commit); [`PostgresStore`] is a
//! database several `canon serve` instances share; [`MemoryStore`] is the double for unit
//! tests. Both real backends pass the same contract (`contract::run`).
//!
//! Every write is one transaction. [`ResourceStore::update`] runs its closure inside the
//! transaction that writes the result, so two concurrent PATCHes of one group's members are
//! applied one after the other and lose nothing.

mod keys;
mod memory;
pub mod org;
mod postgres;
mod queued;
pub mod registry;
pub mod sessions;
mod sqlite;
mod stored_profile;
#[doc(hidden)]
pub mod testing;

pub use keys::{fold, index_keys, lists_member, IndexedAttr};
pub use memory::MemoryStore;
pub use org::{ManagerRowFn, OrgPlace, OrgRules, SharedRules, UserWrite};
pub use postgres::PostgresStore;
pub use queued::{Created, Queued, Reply};
pub use registry::TenantRegistry;
pub use sessions::{Session, SessionStore};
pub use sqlite::SqliteStore;
pub use stored_profile::StoredProfile;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Whether `database` (canon.yaml's `database:`, `--database`) names a PostgreSQL database
/// rather than a SQLite file.
pub fn is_postgres_url(database: &str) -> bool {
    database.starts_with("postgres://") || database.starts_with("postgresql://")
}

/// Opens the store `database` names: a `postgres://` URL, or else a SQLite file (relative
/// paths taken from `base`, the config's folder).
pub fn open(
    database: &str,
    base: &std::path::Path,
) -> Result<std::sync::Arc<dyn ResourceStore>, StoreError> {
    if is_postgres_url(database) {
        Ok(std::sync::Arc::new(PostgresStore::open(database)?))
    } else {
        Ok(std::sync::Arc::new(SqliteStore::open(
            &base.join(database),
        )?))
    }
}

/// `database` fit for a message: a URL's password hidden.
pub fn shown(database: &str) -> String {
    postgres::redact(database)
}

/// A tenant id: lowercase ASCII letters, digits and `-`, 1 to 63 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(text: &str) -> Result<TenantId, InvalidTenantId> {
        let ok = !text.is_empty()
            && text.len() <= 63
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(TenantId(text.to_string()))
        } else {
            Err(InvalidTenantId(text.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TenantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for TenantId {
    type Error = InvalidTenantId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        TenantId::parse(&value)
    }
}

impl From<TenantId> for String {
    fn from(value: TenantId) -> String {
        value.0
    }
}

#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a tenant id (use 1 to 63 lowercase letters, digits and `-`)")]
pub struct InvalidTenantId(pub String);

/// The SCIM resource types Canon stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    User,
    Group,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::User => "User",
            Kind::Group => "Group",
        }
    }
}

/// The canonical profile computed for a user on a write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileRecord {
    /// Every canonical field, unset ones as null.
    pub fields: Value,
    /// Per set field: `{"rule": id, "at": "file:line"}`.
    pub rules: Value,
    /// Content hash of the rule files that produced it.
    pub rule_version: String,
    /// Required fields that stayed unset (the profile is stored and flagged, never rejected).
    pub missing: Vec<String>,
}

impl ProfileRecord {
    pub fn complete(&self) -> bool {
        self.missing.is_empty()
    }
}

/// One stored resource.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResource {
    pub id: String,
    pub kind: Kind,
    /// The resource as the client sent it (after applying the operation), without `id`/`meta`.
    pub body: Value,
    /// RFC 3339 timestamps.
    pub created: String,
    pub modified: String,
    /// Bumped on every write; `meta.version` is `W/"<version>"`.
    pub version: i64,
    /// The user's canonical profile (none for groups), decoded when first read.
    pub profile: StoredProfile,
}

impl StoredResource {
    /// A resource just created at `stamp`: version 1, created and modified then.
    pub(crate) fn created(
        id: String,
        kind: Kind,
        body: Value,
        stamp: String,
        profile: Option<ProfileRecord>,
    ) -> Self {
        Self {
            id,
            kind,
            body,
            created: stamp.clone(),
            modified: stamp,
            version: 1,
            profile: profile.into(),
        }
    }

    /// The resource as a write over it leaves it: its id, kind and creation kept, with the
    /// written body and profile, the write's time and the next version.
    pub(crate) fn rewritten(
        self,
        body: Value,
        profile: Option<ProfileRecord>,
        modified: String,
        version: i64,
    ) -> Self {
        Self {
            body,
            profile: profile.into(),
            modified,
            version,
            ..self
        }
    }
}

/// What a write stores.
#[derive(Debug, Clone)]
pub struct Write {
    pub body: Value,
    /// Case-folded unique key (users: `userName`); unique per tenant and kind.
    pub unique_key: Option<String>,
    pub profile: Option<ProfileRecord>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no such resource")]
    NotFound,
    #[error("the unique key is already taken")]
    Conflict,
    /// The update closure declined to write (it keeps its own reason).
    #[error("the update was abandoned")]
    Aborted,
    /// [`ResourceStore::replace`]: another write changed the resource first.
    #[error("the resource changed since it was read")]
    Stale,
    #[error("store backend: {0}")]
    Backend(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        match &error {
            rusqlite::Error::SqliteFailure(code, _)
                if code.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
            {
                StoreError::Conflict
            }
            _ => StoreError::Backend(error.to_string()),
        }
    }
}

/// A group listing a resource among its `members`: one element of a user's read-only
/// `groups` (RFC 7643 §4.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub member: String,
    pub group: String,
    /// The group's `displayName`.
    pub display: Option<String>,
}

/// The memberships of `members` among `groups`, in the groups' order.
pub(crate) fn memberships_in(groups: &[StoredResource], members: &[&str]) -> Vec<Membership> {
    let wanted: std::collections::HashSet<&str> = members.iter().copied().collect();
    let mut out = Vec::new();
    for group in groups {
        let Some(Value::Array(listed)) = group.body.get("members") else {
            continue;
        };
        let display = group.body.get("displayName").and_then(Value::as_str);
        for member in listed {
            if let Some(id) = member.get("value").and_then(Value::as_str) {
                if wanted.contains(id) {
                    out.push(Membership {
                        member: id.to_string(),
                        group: group.id.clone(),
                        display: display.map(str::to_string),
                    });
                }
            }
        }
    }
    out
}

/// [`ResourceStore::user_summary`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserSummary {
    pub users: u64,
    /// Users whose stored profile has every required field.
    pub complete: u64,
    /// RFC 3339: the latest create or update of a user.
    pub last_modified: Option<String>,
}

/// The update closure: sees the current resource, returns the write or `None` to abandon.
pub type UpdateFn<'a> = dyn FnMut(&StoredResource) -> Option<Write> + 'a;

/// The store's capabilities, all scoped to one tenant.
pub trait ResourceStore: Send + Sync {
    /// Stores a new resource with a fresh id.
    fn create(
        &self,
        tenant: &TenantId,
        kind: Kind,
        write: Write,
    ) -> Result<StoredResource, StoreError>;
    fn get(
        &self,
        tenant: &TenantId,
        kind: Kind,
        id: &str,
    ) -> Result<Option<StoredResource>, StoreError>;
    /// The resource whose unique key is `key` (already case-folded).
    fn find_unique(
        &self,
        tenant: &TenantId,
        kind: Kind,
        key: &str,
    ) -> Result<Option<StoredResource>, StoreError>;
    /// Every resource of a kind, oldest first.
    fn list(&self, tenant: &TenantId, kind: Kind) -> Result<Vec<StoredResource>, StoreError>;
    /// How many resources of a kind there are, and those of them after the first `skip`
    /// (oldest first), at most `take`: only the page is read.
    fn page(
        &self,
        tenant: &TenantId,
        kind: Kind,
        skip: usize,
        take: usize,
    ) -> Result<(usize, Vec<StoredResource>), StoreError>;
    /// Every resource of a kind, oldest first, handed to `visit` one at a time and not kept
    /// (a list whose filter no index answers); `visit` returns `false` to stop.
    fn scan(
        &self,
        tenant: &TenantId,
        kind: Kind,
        visit: &mut dyn FnMut(StoredResource) -> bool,
    ) -> Result<(), StoreError>;
    /// [`ResourceStore::scan`] of what was sent only: each resource's id and body, oldest
    /// first (a pass that maps users reads neither their stored profile nor their times,
    /// whose decoding cost as much as the bodies'). This default reads whole resources; a
    /// backend can read less.
    fn scan_bodies(
        &self,
        tenant: &TenantId,
        kind: Kind,
        visit: &mut dyn FnMut(String, Value) -> bool,
    ) -> Result<(), StoreError> {
        self.scan(tenant, kind, &mut |resource| {
            visit(resource.id, resource.body)
        })
    }
    /// The resources of a kind whose attribute `attr` has a value that folds as `value`
    /// does ([`fold`]; for [`IndexedAttr::Member`], that equals it), oldest first: a superset
    /// of those equal to it.
    fn find_by(
        &self,
        tenant: &TenantId,
        kind: Kind,
        attr: IndexedAttr,
        value: &str,
    ) -> Result<Vec<StoredResource>, StoreError>;
    /// The groups that list any of `members` (ids of users or groups), groups oldest first.
    /// This default reads every group; a backend can do better.
    fn memberships(
        &self,
        tenant: &TenantId,
        members: &[&str],
    ) -> Result<Vec<Membership>, StoreError> {
        if members.is_empty() {
            return Ok(Vec::new());
        }
        Ok(memberships_in(&self.list(tenant, Kind::Group)?, members))
    }
    /// [`ResourceStore::create`] queued without waiting, where the store's writes go to a
    /// writer that answers later (SQLite's group commit): the future ends once the commit
    /// holding the write is durable. `Err(write)` gives the write back where the store has
    /// no such writer: call `create` on a thread that may block.
    fn queue_create(
        &self,
        tenant: &TenantId,
        kind: Kind,
        write: Write,
    ) -> Result<Queued<StoredResource>, Box<Write>> {
        let _ = (tenant, kind);
        Err(Box::new(write))
    }
    /// [`ResourceStore::write_user`] of a new user, queued as [`ResourceStore::queue_create`]
    /// is (the user is mapped in its population on this thread, before it is queued). The
    /// store may still give the write back once queued ([`Created::GivenBack`]).
    fn queue_user_create(
        &self,
        tenant: &TenantId,
        rules: &SharedRules,
        write: Write,
    ) -> Result<Queued<Created>, Box<Write>> {
        let _ = (tenant, rules);
        Err(Box::new(write))
    }
    /// Reads, changes and writes one resource in one transaction.
    fn update(
        &self,
        tenant: &TenantId,
        kind: Kind,
        id: &str,
        change: &mut UpdateFn<'_>,
    ) -> Result<StoredResource, StoreError>;
    /// Writes `write` over a resource whose version is still `version`, as read before: the
    /// change was computed without holding the writer, which then only writes.
    /// `Err(StoreError::Stale)` when another write came in between.
    fn replace(
        &self,
        tenant: &TenantId,
        kind: Kind,
        id: &str,
        version: i64,
        write: Write,
    ) -> Result<StoredResource, StoreError>;
    /// Deletes a resource and takes it out of the `members` of every group of the tenant
    /// (RFC 7643 §4.2), all in one transaction: a crash or an error midway leaves the
    /// resource and every membership as they were, and a retried DELETE finds them.
    fn delete(&self, tenant: &TenantId, kind: Kind, id: &str) -> Result<(), StoreError>;
    /// A user write that also keeps the tenant's organisation graph (store/org.rs), all in
    /// one transaction: the index of who names whom, the written user's profile in the
    /// tenant's population, and the profiles of the managers it named before and names now.
    /// The written user as stored (`None` after a delete).
    fn write_user(
        &self,
        tenant: &TenantId,
        rules: &SharedRules,
        write: UserWrite<'_>,
    ) -> Result<Option<StoredResource>, StoreError> {
        let _ = (tenant, rules, write);
        Err(StoreError::Backend(
            "this store keeps no organisation graph".into(),
        ))
    }
    /// The people who count toward `keys` (a user's keys) as the index holds it, with the
    /// first `keep` of them; `None` when the tenant's index is not made under `signature`
    /// (yet: the next write that keeps the graph rebuilds it).
    fn org_reports(
        &self,
        tenant: &TenantId,
        signature: &str,
        keys: &[crate::eval::org::OrgKey],
        keep: usize,
    ) -> Result<Option<crate::eval::Reports>, StoreError> {
        let _ = (tenant, signature, keys, keep);
        Ok(None)
    }
    /// The tenant's index of the organisation graph as a whole, if it is made under
    /// `signature`: `visit(id, key, counts)` for every manager reference a user names (a row
    /// per link; whether the user counts toward it), in no order, all read in one
    /// transaction. `Ok(false)`, nothing visited, when it is not (yet). What the console
    /// maps a customer's users in instead of a pass over every user (console/analysis.rs).
    fn org_managers(
        &self,
        tenant: &TenantId,
        signature: &str,
        visit: &mut ManagerRowFn<'_>,
    ) -> Result<bool, StoreError> {
        let _ = (tenant, signature, visit);
        Ok(false)
    }
    /// Makes the tenant's index of the organisation graph current for `rules`, as the next
    /// user write that keeps the graph would: rebuilt from every stored user when it is made
    /// under other rules or none, untouched when current; in one write transaction.
    /// `Ok(false)`: this store keeps no graph.
    fn org_refresh(&self, tenant: &TenantId, rules: &SharedRules) -> Result<bool, StoreError> {
        let _ = (tenant, rules);
        Ok(false)
    }
    /// Replaces the profiles of many users at once (`canon remap --apply`), in one transaction.
    fn set_profiles(
        &self,
        tenant: &TenantId,
        profiles: &[(String, ProfileRecord)],
    ) -> Result<(), StoreError>;
    /// A tenant's users at a glance: how many, how many with a complete profile, the latest
    /// write. This default reads every user; a backend can count in place.
    fn user_summary(&self, tenant: &TenantId) -> Result<UserSummary, StoreError> {
        let mut summary = UserSummary::default();
        self.scan(tenant, Kind::User, &mut |user| {
            summary.users += 1;
            if user.profile.as_ref().is_some_and(ProfileRecord::complete) {
                summary.complete += 1;
            }
            if summary.last_modified.as_deref() < Some(user.modified.as_str()) {
                summary.last_modified = Some(user.modified);
            }
            true
        })?;
        Ok(summary)
    }
    /// The console's sign-in sessions in this store (`None`: the backend keeps none, and the
    /// console cannot sign anyone in).
    fn sessions(&self) -> Option<&dyn SessionStore> {
        None
    }
}

/// A whole store: resources and the tenant registry, in one backend (so removing a tenant
/// deletes its resources in the same transaction).
pub trait Store: ResourceStore + TenantRegistry {}

impl<T: ResourceStore + TenantRegistry> Store for T {}

/// Takes the member `id` out of a group's body; a group left with no members loses the
/// attribute. Whether anything changed.
pub(crate) fn remove_member(group: &mut Value, id: &str) -> bool {
    let Some(Value::Array(members)) = group.get_mut("members") else {
        return false;
    };
    let before = members.len();
    members.retain(|m| m.get("value").and_then(Value::as_str) != Some(id));
    if members.len() == before {
        return false;
    }
    if members.is_empty() {
        group.as_object_mut().map(|g| g.remove("members"));
    }
    true
}

/// Now, as `meta` timestamps.
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
pub(crate) mod contract {
    //! The same behaviour tests run against every backend.
    use super::*;
    use serde_json::json;

    fn user(name: &str) -> Write {
        Write {
            body: json!({"userName": name}),
            unique_key: Some(name.to_lowercase()),
            profile: None,
        }
    }

    pub fn run(store: &dyn ResourceStore) {
        let acme = TenantId::parse("acme").unwrap();
        let other = TenantId::parse("other").unwrap();
        let ana = store.create(&acme, Kind::User, user("Ana")).unwrap();
        assert_eq!(ana.version, 1);
        assert!(matches!(
            store.create(&acme, Kind::User, user("ana")),
            Err(StoreError::Conflict)
        ));
        // Another tenant may reuse the name and cannot see the first tenant's user.
        store.create(&other, Kind::User, user("ana")).unwrap();
        assert!(store.get(&other, Kind::User, &ana.id).unwrap().is_none());
        assert!(store.get(&acme, Kind::Group, &ana.id).unwrap().is_none());
        assert_eq!(
            store
                .find_unique(&acme, Kind::User, "ana")
                .unwrap()
                .unwrap()
                .id,
            ana.id
        );

        let updated = store
            .update(&acme, Kind::User, &ana.id, &mut |current| {
                let mut body = current.body.clone();
                body["title"] = json!("VP");
                Some(Write {
                    body,
                    unique_key: Some("ana".into()),
                    profile: Some(ProfileRecord {
                        fields: json!({"job_title": "VP"}),
                        rules: json!({}),
                        rule_version: "v1".into(),
                        missing: vec!["management_level".into()],
                    }),
                })
            })
            .unwrap();
        assert_eq!(updated.version, 2);
        assert_eq!(updated.created, ana.created);
        let read = store.get(&acme, Kind::User, &ana.id).unwrap().unwrap();
        assert_eq!(read, updated);
        assert!(!read.profile.into_inner().unwrap().complete());

        assert!(matches!(
            store.update(&acme, Kind::User, &ana.id, &mut |_| None),
            Err(StoreError::Aborted)
        ));
        // A replace of the version read: written; of an older one: stale, nothing written.
        let replaced = store
            .replace(&acme, Kind::User, &ana.id, 2, user("Ana"))
            .unwrap();
        assert_eq!((replaced.version, &replaced.created), (3, &ana.created));
        assert!(matches!(
            store.replace(&acme, Kind::User, &ana.id, 2, user("Ann")),
            Err(StoreError::Stale)
        ));
        assert!(matches!(
            store.replace(&acme, Kind::User, "nope", 1, user("Ann")),
            Err(StoreError::NotFound)
        ));
        let read = store.get(&acme, Kind::User, &ana.id).unwrap().unwrap();
        assert_eq!(read, replaced);
        assert!(matches!(
            store.update(&acme, Kind::User, "nope", &mut |_| None),
            Err(StoreError::NotFound)
        ));
        let bob = store.create(&acme, Kind::User, user("Bob")).unwrap();
        assert!(matches!(
            store.update(&acme, Kind::User, &bob.id, &mut |_| Some(user("ANA"))),
            Err(StoreError::Conflict)
        ));
        assert!(matches!(
            store.replace(&acme, Kind::User, &bob.id, 1, user("ANA")),
            Err(StoreError::Conflict)
        ));
        let names: Vec<_> = store
            .list(&acme, Kind::User)
            .unwrap()
            .into_iter()
            .map(|r| r.body["userName"].clone())
            .collect();
        assert_eq!(names, vec![json!("Ana"), json!("Bob")]);

        let profile = ProfileRecord {
            fields: json!({"job_title": "CEO"}),
            rules: json!({}),
            rule_version: "v2".into(),
            missing: vec![],
        };
        store
            .set_profiles(&acme, &[(bob.id.clone(), profile.clone())])
            .unwrap();
        assert_eq!(
            store
                .get(&acme, Kind::User, &bob.id)
                .unwrap()
                .unwrap()
                .profile,
            Some(profile.clone())
        );

        store.delete(&acme, Kind::User, &bob.id).unwrap();
        assert!(matches!(
            store.delete(&acme, Kind::User, &bob.id),
            Err(StoreError::NotFound)
        ));
        // The freed name can be taken again.
        let bob = store.create(&acme, Kind::User, user("bob")).unwrap();
        store
            .set_profiles(&acme, &[(bob.id.clone(), profile)])
            .unwrap();
        // Every backend keeps the console's sessions (store/sessions.rs has their contract).
        assert!(store.sessions().is_some());
        let summary = store.user_summary(&acme).unwrap();
        // Ana (no profile since her replace), bob (a complete one).
        assert_eq!((summary.users, summary.complete), (2, 1));
        assert_eq!(summary.last_modified, Some(bob.modified));
        assert_eq!(
            store
                .user_summary(&TenantId::parse("nobody").unwrap())
                .unwrap(),
            UserSummary::default()
        );
        deleting_removes_from_every_group(store);
        pages_scans_and_indexed_lookups(store);
        concurrent_updates_lose_nothing(store);
        super::org::contract::run(store);
    }

    /// 16 writers add a member each to one group at once: each update's closure sees the
    /// members the others added (it runs inside the transaction that writes), none is lost.
    fn concurrent_updates_lose_nothing(store: &dyn ResourceStore) {
        let t = TenantId::parse("together").unwrap();
        let group = Write {
            body: json!({"displayName": "all"}),
            unique_key: None,
            profile: None,
        };
        let group = store.create(&t, Kind::Group, group).unwrap();
        std::thread::scope(|scope| {
            for n in 0..16 {
                let (t, id) = (&t, &group.id);
                scope.spawn(move || {
                    store
                        .update(t, Kind::Group, id, &mut |current| {
                            let mut body = current.body.clone();
                            let members = body
                                .as_object_mut()
                                .unwrap()
                                .entry("members")
                                .or_insert_with(|| json!([]));
                            members
                                .as_array_mut()
                                .unwrap()
                                .push(json!({"value": format!("m{n}")}));
                            Some(Write {
                                body,
                                unique_key: None,
                                profile: None,
                            })
                        })
                        .unwrap();
                });
            }
        });
        let read = store.get(&t, Kind::Group, &group.id).unwrap().unwrap();
        assert_eq!(read.body["members"].as_array().unwrap().len(), 16);
        assert_eq!(read.version, 17);
    }

    /// Issue 19: lists read a page, or stream, or look candidates up by index, instead of
    /// loading the tenant; the index follows every write.
    fn pages_scans_and_indexed_lookups(store: &dyn ResourceStore) {
        let t = TenantId::parse("lists").unwrap();
        let ids: Vec<String> = (0..5)
            .map(|n| {
                let body = json!({"userName": format!("u{n}"), "externalId": format!("E{}", n % 2),
                    "emails": [{"value": format!("U{n}@x.io")}, {"value": "shared@x.io"}]});
                let write = Write {
                    body,
                    unique_key: Some(format!("u{n}")),
                    profile: None,
                };
                store.create(&t, Kind::User, write).unwrap().id
            })
            .collect();
        let names = |page: &[StoredResource]| -> Vec<String> {
            page.iter()
                .map(|r| r.body["userName"].as_str().unwrap().to_string())
                .collect()
        };
        let (total, page) = store.page(&t, Kind::User, 1, 2).unwrap();
        assert_eq!((total, names(&page)), (5, vec!["u1".into(), "u2".into()]));
        let (total, page) = store.page(&t, Kind::User, 4, 10).unwrap();
        assert_eq!((total, names(&page)), (5, vec!["u4".into()]));
        assert_eq!(store.page(&t, Kind::Group, 0, 10).unwrap().0, 0);
        let mut seen = Vec::new();
        store
            .scan(&t, Kind::User, &mut |r| {
                seen.push(r.id);
                seen.len() < 3
            })
            .unwrap();
        assert_eq!(seen, ids[..3]);
        // Ids and bodies only: those of the whole scan, in its order, and it stops as asked.
        let mut whole = Vec::new();
        store
            .scan(&t, Kind::User, &mut |r| {
                whole.push((r.id, r.body));
                true
            })
            .unwrap();
        let mut bodies = Vec::new();
        store
            .scan_bodies(&t, Kind::User, &mut |id, body| {
                bodies.push((id, body));
                true
            })
            .unwrap();
        assert_eq!(bodies, whole);
        let mut first = Vec::new();
        store
            .scan_bodies(&t, Kind::User, &mut |id, _| {
                first.push(id);
                first.len() < 2
            })
            .unwrap();
        assert_eq!(first, ids[..2]);

        let found = |attr, value: &str| -> Vec<String> {
            let found = store.find_by(&t, Kind::User, attr, value).unwrap();
            names(&found)
        };
        assert_eq!(found(IndexedAttr::ExternalId, "e1"), ["u1", "u3"]);
        assert_eq!(found(IndexedAttr::Email, "u2@X.IO"), ["u2"]);
        assert_eq!(found(IndexedAttr::Email, "shared@x.io").len(), 5);
        // The index follows an update, a replace and a delete.
        store
            .update(&t, Kind::User, &ids[1], &mut |current| {
                let mut body = current.body.clone();
                body["externalId"] = json!("E9");
                body["emails"] = json!([]);
                Some(Write {
                    body,
                    unique_key: Some("u1".into()),
                    profile: None,
                })
            })
            .unwrap();
        assert_eq!(found(IndexedAttr::ExternalId, "E1"), ["u3"]);
        assert_eq!(found(IndexedAttr::ExternalId, "E9"), ["u1"]);
        assert_eq!(found(IndexedAttr::Email, "shared@x.io").len(), 4);
        let body = json!({"userName": "u3", "externalId": "E7"});
        let write = Write {
            body,
            unique_key: Some("u3".into()),
            profile: None,
        };
        store.replace(&t, Kind::User, &ids[3], 1, write).unwrap();
        assert!(found(IndexedAttr::ExternalId, "E1").is_empty());
        store.delete(&t, Kind::User, &ids[0]).unwrap();
        assert!(found(IndexedAttr::Email, "u0@x.io").is_empty());

        let members = json!([{"value": ids[2]}, {"value": ids[4]}]);
        let group = Write {
            body: json!({"displayName": "Sales", "members": members}),
            unique_key: None,
            profile: None,
        };
        let group = store.create(&t, Kind::Group, group).unwrap();
        let groups_of = |id: &str| {
            store
                .find_by(&t, Kind::Group, IndexedAttr::Member, id)
                .unwrap()
        };
        assert_eq!(groups_of(&ids[4])[0].id, group.id);
        assert_eq!(
            store
                .find_by(&t, Kind::Group, IndexedAttr::DisplayName, "SALES")
                .unwrap()[0]
                .id,
            group.id
        );
        store.delete(&t, Kind::User, &ids[4]).unwrap();
        assert!(
            groups_of(&ids[4]).is_empty(),
            "the member index follows a delete's cleanup"
        );
        assert_eq!(groups_of(&ids[2]).len(), 1);
        // Another tenant sees none of it.
        let other = TenantId::parse("other").unwrap();
        assert!(store
            .find_by(&other, Kind::User, IndexedAttr::Email, "shared@x.io")
            .unwrap()
            .is_empty());
    }

    /// Issue 19: the user row and every group listing it change in one delete.
    fn deleting_removes_from_every_group(store: &dyn ResourceStore) {
        let acme = TenantId::parse("acme").unwrap();
        let cy = store.create(&acme, Kind::User, user("Cy")).unwrap();
        let dee = store.create(&acme, Kind::User, user("Dee")).unwrap();
        let group = |members: &[&str]| Write {
            body: json!({"displayName": "g",
                "members": members.iter().map(|m| json!({"value": m})).collect::<Vec<_>>()}),
            unique_key: None,
            profile: None,
        };
        let both = store
            .create(&acme, Kind::Group, group(&[&cy.id, &dee.id]))
            .unwrap();
        let only = store.create(&acme, Kind::Group, group(&[&cy.id])).unwrap();
        let other = store.create(&acme, Kind::Group, group(&[&dee.id])).unwrap();
        let of = |members: &[&str]| -> Vec<(String, String)> {
            store
                .memberships(&acme, members)
                .unwrap()
                .into_iter()
                .map(|m| (m.member, m.group))
                .collect()
        };
        assert_eq!(
            of(&[&cy.id]),
            [
                (cy.id.clone(), both.id.clone()),
                (cy.id.clone(), only.id.clone())
            ]
        );
        assert_eq!(
            of(&[&cy.id, &dee.id, "nobody"]),
            [
                (cy.id.clone(), both.id.clone()),
                (dee.id.clone(), both.id.clone()),
                (cy.id.clone(), only.id.clone()),
                (dee.id.clone(), other.id.clone())
            ]
        );
        assert_eq!(
            store.memberships(&acme, &[&cy.id]).unwrap()[0]
                .display
                .as_deref(),
            Some("g")
        );
        assert!(of(&[]).is_empty());
        assert!(store
            .memberships(&TenantId::parse("other").unwrap(), &[&cy.id])
            .unwrap()
            .is_empty());
        store.delete(&acme, Kind::User, &cy.id).unwrap();
        let read = |id: &str| store.get(&acme, Kind::Group, id).unwrap().unwrap();
        assert_eq!(read(&both.id).body["members"], json!([{"value": dee.id}]));
        assert_eq!(read(&both.id).version, 2);
        // A group left without members has no `members` attribute.
        assert_eq!(read(&only.id).body, json!({"displayName": "g"}));
        assert_eq!(
            read(&other.id).version,
            1,
            "a group without the user is untouched"
        );
        // A group is removed from the groups that list it, too.
        let outer = store
            .create(&acme, Kind::Group, group(&[&other.id]))
            .unwrap();
        store.delete(&acme, Kind::Group, &other.id).unwrap();
        assert_eq!(read(&outer.id).body, json!({"displayName": "g"}));
    }
}
