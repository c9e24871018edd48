//! The organisation graph the store keeps per tenant (issue 21): who names whom as manager,
//! indexed, so a user write recomputes the profiles that depend on it (the written user's,
//! and those of the managers it named before and names now) in its own transaction, by
//! lookups proportional to the people involved instead of a pass over the tenant.
//!
//! The index holds, per user, its *keys* (what names it: its email, its id…) and its
//! *manager reference* (what it names), as the tenant's rules compute them
//! ([`OrgRules::entry`]), and whether it counts toward the people it names: active and not
//! naming itself, as [`crate::eval::OrgIndex`] counts. It is made under one version of the
//! rules (its *signature*); a write under another version rebuilds it first, in the same
//! transaction. Every backend runs the same steps ([`write_user`]) over its own tables
//! ([`OrgTx`]); `contract` holds them to the index built over every user.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::Value;

use super::{ProfileRecord, StoreError, UpdateFn, Write};
use crate::eval::org::OrgKey;
use crate::eval::{OrgEntry, Population, Reports};

/// How a tenant's rules place a user in the organisation graph and map it there. The
/// store calls it inside a user write's transaction; it touches nothing else.
pub trait OrgRules: Send + Sync {
    /// Names the rules the index is made under (the rule version, the aliases read).
    fn signature(&self) -> String;
    /// A stored user's place in the graph (`body` as stored, `id` its id).
    fn entry(&self, id: &str, body: &Value) -> OrgEntry;
    /// A stored user's profile among `population` (what `reports` tests count).
    fn profile(&self, id: &str, body: &Value, population: &dyn Population) -> ProfileRecord;
    /// Whether every user's profile is the same among `a` reports as among `b`: a manager
    /// whose count moves between such counts keeps its stored profile.
    fn reports_alike(&self, a: u64, b: u64) -> bool {
        a == b
    }
}

/// A user write whose transaction also keeps the organisation graph.
pub enum UserWrite<'a> {
    Create(Write),
    /// [`super::ResourceStore::replace`]: written only over `version`.
    Replace {
        id: &'a str,
        version: i64,
        write: Write,
    },
    /// [`super::ResourceStore::update`].
    Update {
        id: &'a str,
        change: &'a mut UpdateFn<'a>,
    },
    Delete {
        id: &'a str,
    },
}

/// One user's rows in the index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgPlace {
    pub keys: Vec<OrgKey>,
    pub manager: Vec<OrgKey>,
    /// Active and not naming itself: counts toward the people it names.
    pub counts: bool,
    /// How traces name it.
    pub display: String,
}

/// The role of a place's row in the stores' index (`org_refs.role`): a key the user holds,
/// or a manager it names.
pub const KEY_ROLE: i32 = 0;
pub const MANAGER_ROLE: i32 = 1;

impl OrgPlace {
    /// The place's rows in the stores' index: each key it holds, then each manager key it
    /// names, with its role.
    pub fn rows(&self) -> impl Iterator<Item = (i32, &OrgKey)> {
        let keys = self.keys.iter().map(|key| (KEY_ROLE, key));
        keys.chain(self.manager.iter().map(|key| (MANAGER_ROLE, key)))
    }

    pub fn of(id: &str, body: &Value, entry: OrgEntry) -> OrgPlace {
        let display = entry.display(|| {
            body["userName"]
                .as_str()
                .map_or_else(|| id.to_string(), str::to_string)
        });
        let counts = entry.active && !entry.names_itself();
        let (mut keys, mut manager) = (entry.keys, entry.manager);
        // In the order the tables read them back.
        keys.sort();
        keys.dedup();
        manager.sort();
        manager.dedup();
        OrgPlace {
            keys,
            manager,
            counts,
            display,
        }
    }
}

/// The tables of the index, inside one transaction of a backend.
pub(crate) trait OrgTx {
    /// The signature the tenant's index was made under (`None`: it has none).
    fn signature(&mut self) -> Result<Option<String>, StoreError>;
    /// Empties the tenant's index and gives it `signature`.
    fn reset(&mut self, signature: &str) -> Result<(), StoreError>;
    /// Every stored user of the tenant, as `(id, body)`.
    fn users(&mut self, visit: &mut dyn FnMut(&str, &Value)) -> Result<(), StoreError>;
    /// The user's rows (`None`: it has none).
    fn place(&mut self, id: &str) -> Result<Option<OrgPlace>, StoreError>;
    /// Makes the user's rows `place` (`None`: removes them).
    fn set_place(&mut self, id: &str, place: Option<&OrgPlace>) -> Result<(), StoreError>;
    /// Adds the rows of users that have none (a rebuild).
    fn add_places(&mut self, places: &[(String, OrgPlace)]) -> Result<(), StoreError>;
    /// The users whose keys include any of `keys`, with each such key they hold, as
    /// `(user id, key)`.
    fn holders(&mut self, keys: &[OrgKey]) -> Result<Vec<(String, OrgKey)>, StoreError>;
    /// The users who count and name any of `keys`: how many, and the first `keep` of them
    /// (display names, oldest user first).
    fn reports(&mut self, keys: &[OrgKey], keep: usize) -> Result<Reports, StoreError>;
    /// How many users count and name any key of user `id` (its rows in the index): its
    /// place and [`OrgTx::reports`] at once, one statement where the backend can.
    fn reports_of_user(&mut self, id: &str) -> Result<u64, StoreError> {
        let keys = self.place(id)?.map(|place| place.keys).unwrap_or_default();
        Ok(self.reports(&keys, 0)?.count)
    }
    /// A stored user: `(body, profile)`, its row locked until the commit where the backend
    /// has several writers.
    fn user(&mut self, id: &str) -> Result<Option<(Value, Option<ProfileRecord>)>, StoreError>;
    fn set_profile(&mut self, id: &str, profile: &ProfileRecord) -> Result<(), StoreError>;
    /// Locks a stored user's row until the commit, where the backend has several writers
    /// ([`OrgTx::user`] does too): taken before a dependant's count is read.
    fn lock_user(&mut self, _id: &str) -> Result<(), StoreError> {
        Ok(())
    }
    /// Every manager reference row of the tenant's index (`role` 1), in no order: the
    /// user's id, the key it names, whether the user counts.
    fn managers(&mut self, visit: &mut ManagerRowFn<'_>) -> Result<(), StoreError>;
    /// Holds off, until the commit, every other write whose user has or names any of
    /// `keys` (sorted): called before the write reads a count. Backends with one writer
    /// need nothing; PostgreSQL locks each key, so writes that share none run at once.
    fn lock_keys(&mut self, _keys: &[OrgKey]) -> Result<(), StoreError> {
        Ok(())
    }
    /// Notes, before user `id`'s new rows are written, whether its profile as this write
    /// mapped it read how many report to it (`false`: the rules decided without asking, as
    /// where `peopleManager` is sent). Backends that keep it answer [`OrgTx::reads_reports`]
    /// from it for as long as the index and the user's rows stand.
    fn note_reads_reports(&mut self, _id: &str, _reads: bool) -> Result<(), StoreError> {
        Ok(())
    }
    /// Whether the profile of user `id`, a holder found by [`OrgTx::holders`] in this
    /// transaction, may read how many report to it. `false` only where the backend keeps
    /// what [`OrgTx::note_reads_reports`] noted: its count moving then changes nothing, so it
    /// is neither locked, counted nor mapped.
    fn reads_reports(&mut self, _id: &str) -> Result<bool, StoreError> {
        Ok(true)
    }
}

/// A population of one record, whose reports are known: what a user is mapped in.
struct Counted(Reports);

impl Population for Counted {
    fn reports(&self, _: &[OrgKey]) -> Reports {
        self.0.clone()
    }
}

/// How many users a rebuild writes at once.
const REBUILD_CHUNK: usize = 20_000;

/// Makes the tenant's index current for `rules`: rebuilt from every stored user when it was
/// made under other rules, or never (a tenant from before the index, or whose rules had no
/// `reports_to` for a while). Whether it was rebuilt.
pub(crate) fn ensure_current(tx: &mut dyn OrgTx, rules: &dyn OrgRules) -> Result<bool, StoreError> {
    let signature = rules.signature();
    if tx.signature()?.as_deref() == Some(signature.as_str()) {
        return Ok(false);
    }
    tx.reset(&signature)?;
    let mut places = Vec::new();
    tx.users(&mut |id, body| {
        let place = OrgPlace::of(id, body, rules.entry(id, body));
        places.push((id.to_string(), place));
    })?;
    for chunk in places.chunks(REBUILD_CHUNK) {
        tx.add_places(chunk)?;
    }
    Ok(true)
}

/// The profile of user `id` in the tenant as the index holds it.
fn profile_in(
    tx: &mut impl OrgTx,
    rules: &dyn OrgRules,
    id: &str,
    body: &Value,
    keys: &[OrgKey],
) -> Result<ProfileRecord, StoreError> {
    let reports = tx.reports(keys, 0)?;
    Ok(rules.profile(id, body, &Counted(reports)))
}

/// The steps of one user write that keeps the graph, for a backend: `write` stores the
/// resource (given the written user's profile in its population, `None` for a delete)
/// inside the same transaction as the index and the dependants' profiles.
///
/// The counts read here must be the latest. SQLite and memory have one writer. PostgreSQL
/// (several instances write at once) holds off only the writes that could change them: the
/// backend keeps other writes of the same user out before its old rows are read, every key
/// the user has or names, old and new, is locked ([`OrgTx::lock_keys`]) before anything is
/// counted, and [`OrgTx::user`] locks each dependant's row, in id order, before its count is
/// read (two writes naming different keys of one manager each count after the other).
///
/// In order: the index made current; the user's old rows read; its keys locked; its new
/// rows written; its own profile computed from the index; the resource written; then every
/// user whose keys the old or the new manager reference names, and whose count this write
/// moved, is recomputed, and stored where it changed.
///
/// A manager's count moves by one at most (the user counts toward it or not, before and
/// after), so the count before is known from the count now; where the rules tell the two
/// apart not ([`OrgRules::reports_alike`]: `reports >= 1`, a count going from 3 to 4) its
/// stored profile stands, unread and unmapped. Stored profiles agree with the index after
/// every write; where this write rebuilt the index (other rules), every manager it names
/// is recomputed.
pub(crate) fn write_user<X: OrgTx, T>(
    tx: &mut X,
    rules: &dyn OrgRules,
    id: &str,
    body: Option<&Value>,
    write: impl FnOnce(&mut X, Option<ProfileRecord>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    write_prepared(tx, rules, id, body, None, write)
}

/// A user's place in the graph and its profile, mapped before the write's transaction
/// (SQLite: off the writer thread, which every write waits for) by [`prepare`].
pub(crate) struct Prepared {
    place: OrgPlace,
    profile: ProfileRecord,
    /// The count of reports `profile` was mapped with (`None`: the rules never asked).
    guess: Option<u64>,
}

impl Prepared {
    /// The user's place in the graph, as the write will store it.
    pub(crate) fn place(&self) -> &OrgPlace {
        &self.place
    }

    /// The user's profile where the rules decided it without asking how many report to it:
    /// it stands whatever the count (`None`: they asked).
    pub(crate) fn settled(&self) -> Option<&ProfileRecord> {
        self.guess.is_none().then_some(&self.profile)
    }
}

/// Maps user `id` as if nobody reported to it (most people), noting whether the rules asked.
pub(crate) fn prepare(rules: &dyn OrgRules, id: &str, body: &Value) -> Prepared {
    let nobody = Nobody::default();
    let profile = rules.profile(id, body, &nobody);
    Prepared {
        place: OrgPlace::of(id, body, rules.entry(id, body)),
        profile,
        guess: nobody.asked.load(Ordering::Relaxed).then_some(0),
    }
}

/// A population where nobody reports to anyone, that notes whether it was asked.
#[derive(Default)]
struct Nobody {
    asked: AtomicBool,
}

impl Population for Nobody {
    fn reports(&self, _: &[OrgKey]) -> Reports {
        self.asked.store(true, Ordering::Relaxed);
        Reports::default()
    }
}

/// [`write_user`], the user's place and profile `prepared` for `body` by [`prepare`] under
/// the same `rules`: the profile is kept where the count found here is alike to the guess.
pub(crate) fn write_prepared<X: OrgTx, T>(
    tx: &mut X,
    rules: &dyn OrgRules,
    id: &str,
    body: Option<&Value>,
    prepared: Option<Prepared>,
    write: impl FnOnce(&mut X, Option<ProfileRecord>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let rebuilt = ensure_current(tx, rules)?;
    let before = tx.place(id)?;
    let (after, prepared) = match (body, prepared) {
        (Some(_), Some(prepared)) => (
            Some(prepared.place),
            Some((prepared.profile, prepared.guess)),
        ),
        (Some(body), None) => (Some(OrgPlace::of(id, body, rules.entry(id, body))), None),
        (None, _) => (None, None),
    };
    let mut touched: Vec<OrgKey> = before
        .iter()
        .chain(&after)
        .flat_map(|place| place.keys.iter().chain(&place.manager).cloned())
        .collect();
    touched.sort();
    touched.dedup();
    tx.lock_keys(&touched)?;
    if after.is_some() {
        // Only a profile mapped here before the count was read is known not to read it.
        let reads = prepared.as_ref().is_none_or(|(_, guess)| guess.is_some());
        tx.note_reads_reports(id, reads)?;
    }
    match (&before, &after) {
        (before, after) if before == after => {}
        // A new user has no rows to take out.
        (None, Some(place)) => tx.add_places(&[(id.to_string(), place.clone())])?,
        _ => tx.set_place(id, after.as_ref())?,
    }
    let profile = match (body, &after, prepared) {
        (Some(_), Some(_), Some((profile, None))) => Some(profile),
        (Some(body), Some(place), Some((profile, Some(guess)))) => {
            let reports = tx.reports(&place.keys, 0)?;
            Some(if rules.reports_alike(guess, reports.count) {
                profile
            } else {
                rules.profile(id, body, &Counted(reports))
            })
        }
        (Some(body), Some(place), None) => Some(profile_in(tx, rules, id, body, &place.keys)?),
        _ => None,
    };
    let written = write(tx, profile)?;
    // The managers named before and after: their counts may have changed.
    let named: BTreeSet<OrgKey> = before
        .iter()
        .chain(&after)
        .flat_map(|place| place.manager.iter().cloned())
        .collect();
    if named.is_empty() {
        return Ok(written);
    }
    let named: Vec<OrgKey> = named.into_iter().collect();
    // Each holder with the named keys it holds, in id order (PostgreSQL locks them so).
    let mut holders: BTreeMap<String, Vec<OrgKey>> = BTreeMap::new();
    for (holder, key) in tx.holders(&named)? {
        holders.entry(holder).or_default().push(key);
    }
    // Whether the user counts toward a holder of `held`, before or after the write.
    let counted = |place: &Option<OrgPlace>, held: &[OrgKey]| {
        place
            .as_ref()
            .is_some_and(|p| p.counts && p.manager.iter().any(|k| held.contains(k)))
    };
    for (holder, held) in holders.iter().filter(|(h, _)| h.as_str() != id) {
        let (was, is) = (counted(&before, held), counted(&after, held));
        if was == is && !rebuilt {
            continue;
        }
        // A profile that does not read its count (its rules decided without asking) stands
        // whatever the count.
        if !rebuilt && !tx.reads_reports(holder)? {
            continue;
        }
        tx.lock_user(holder)?;
        let reports = Reports {
            count: tx.reports_of_user(holder)?,
            people: Vec::new(),
        };
        let earlier = if is {
            reports.count.saturating_sub(1)
        } else {
            reports.count + 1
        };
        if !rebuilt && rules.reports_alike(earlier, reports.count) {
            continue;
        }
        let Some((body, stored)) = tx.user(holder)? else {
            continue;
        };
        let profile = rules.profile(holder, &body, &Counted(reports));
        if stored.as_ref() != Some(&profile) {
            tx.set_profile(holder, &profile)?;
        }
    }
    Ok(written)
}

/// What a user reads as in the organisation graph: its display and its keys' reports.
pub(crate) fn reports_of(
    tx: &mut dyn OrgTx,
    signature: &str,
    keys: &[OrgKey],
    keep: usize,
) -> Result<Option<Reports>, StoreError> {
    if tx.signature()?.as_deref() != Some(signature) {
        return Ok(None);
    }
    tx.reports(keys, keep).map(Some)
}

/// The manager references of the tenant's users as the index holds them, if it is made
/// under `signature` (see [`OrgTx::managers`]); `false`, and nothing visited, if not.
pub(crate) fn managers_of(
    tx: &mut dyn OrgTx,
    signature: &str,
    visit: &mut ManagerRowFn<'_>,
) -> Result<bool, StoreError> {
    if tx.signature()?.as_deref() != Some(signature) {
        return Ok(false);
    }
    tx.managers(visit)?;
    Ok(true)
}

/// What [`super::ResourceStore::org_managers`] hands each row of the index to: the user's
/// id, the key it names as manager (link, value), whether the user counts toward it.
pub type ManagerRowFn<'a> = dyn FnMut(&str, (u16, &str), bool) + 'a;

/// The rules of a write, shared with the backend's writer.
pub type SharedRules = Arc<dyn OrgRules>;

#[cfg(test)]
pub(crate) mod contract {
    //! The index held to the population built over every user ([`crate::eval::OrgIndex`]),
    //! on every backend.
    use super::*;
    use crate::eval::org::PEOPLE_SHOWN;
    use crate::eval::OrgIndex;
    use crate::store::{Kind, ResourceStore, TenantId};
    use serde_json::json;
    use std::collections::BTreeMap;

    /// Rules of the shape the default pack has: a person is named by email (link 0) or by
    /// id and employee number (link 1); `active: false` is inactive. The profile is the
    /// count. `flavour` 1 changes what names a person (a new version of the rules); flavour
    /// [`MANAGES`] names people as 0 does, and its profile only says whether the count is at
    /// least one, as the default pack's `people_manager` does (`reports >= 1`); flavour
    /// [`SENT`] takes a sent `manages` flag without asking for the count (as the default
    /// pack takes a sent `peopleManager`), and shows the count where none was sent.
    pub struct Fake {
        pub flavour: u8,
    }

    impl OrgRules for Fake {
        fn signature(&self) -> String {
            format!("fake-{}", self.flavour)
        }

        fn entry(&self, id: &str, body: &Value) -> OrgEntry {
            let text = |name: &str| body[name].as_str().map(str::to_lowercase);
            let mut entry = OrgEntry {
                active: body["active"] != json!(false),
                ..OrgEntry::default()
            };
            if let Some(email) = text("email") {
                entry.keys.push((0, email));
            }
            entry.keys.push((1, id.to_string()));
            if self.flavour != 1 {
                if let Some(number) = text("number") {
                    entry.keys.push((1, number));
                }
            }
            if let Some(manager) = text("managerEmail") {
                entry.manager.push((0, manager));
            }
            if let Some(manager) = text("managerId") {
                entry.manager.push((1, manager));
            }
            entry
        }

        fn profile(&self, id: &str, body: &Value, population: &dyn Population) -> ProfileRecord {
            let sent = body["manages"].as_bool().filter(|_| self.flavour == SENT);
            let fields = match sent {
                Some(manages) => json!({"manages": manages}),
                None => {
                    let reports = population.reports(&self.entry(id, body).keys);
                    match self.flavour {
                        MANAGES => json!({"manages": reports.count >= 1}),
                        _ => json!({"reports": reports.count}),
                    }
                }
            };
            ProfileRecord {
                fields,
                rules: json!({}),
                rule_version: self.signature(),
                missing: vec![],
            }
        }

        fn reports_alike(&self, a: u64, b: u64) -> bool {
            match self.flavour {
                MANAGES => (a >= 1) == (b >= 1),
                _ => a == b,
            }
        }
    }

    /// The [`Fake`] flavour whose profiles tell only none from some reports.
    pub const MANAGES: u8 = 2;
    /// The [`Fake`] flavour whose profiles take a sent flag without counting.
    pub const SENT: u8 = 3;

    /// A small deterministic sequence of choices.
    struct Dice(u64);

    impl Dice {
        fn roll(&mut self, sides: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 33) as usize) % sides
        }
    }

    fn write(body: Value) -> Write {
        let unique_key = body["userName"].as_str().map(str::to_lowercase);
        Write {
            body,
            unique_key,
            profile: None,
        }
    }

    /// Every user's stored profile, and the index's reports of their keys, equal what the
    /// population over every stored user says.
    /// How many users have reports.
    fn agrees(store: &dyn ResourceStore, tenant: &TenantId, rules: &Fake, step: &str) -> usize {
        let users = store.list(tenant, Kind::User).unwrap();
        let mut index = OrgIndex::new(PEOPLE_SHOWN);
        let mut displays = Vec::new();
        for user in &users {
            let entry = rules.entry(&user.id, &user.body);
            let place = OrgPlace::of(&user.id, &user.body, entry.clone());
            displays.push(place.display.clone());
            index.add(&entry, || place.display.clone());
        }
        for user in &users {
            let keys = rules.entry(&user.id, &user.body).keys;
            let expected = index.reports(&keys);
            let counted = Counted(Reports {
                count: expected.count,
                people: vec![],
            });
            assert_eq!(
                user.profile,
                Some(rules.profile(&user.id, &user.body, &counted)),
                "{step}: the stored profile of {}",
                user.body
            );
            let read = store
                .org_reports(tenant, &rules.signature(), &keys, PEOPLE_SHOWN)
                .unwrap()
                .expect("the index is current");
            assert_eq!(read.count, expected.count, "{step}: {}", user.body);
            // The same people, oldest user first.
            let mut people = expected.people.clone();
            people.sort_by_key(|p| displays.iter().position(|d| d == p));
            assert_eq!(read.people, people, "{step}: {}", user.body);
        }
        // The whole index as the console reads it: each user's manager reference, and
        // whether the user counts toward it.
        let mut managers: BTreeMap<String, (Vec<OrgKey>, bool)> = BTreeMap::new();
        let current = store
            .org_managers(
                tenant,
                &rules.signature(),
                &mut |id, (link, value), counts| {
                    let named = managers.entry(id.to_string()).or_default();
                    named.0.push((link, value.to_string()));
                    named.1 = counts;
                },
            )
            .unwrap();
        assert!(current, "{step}");
        for named in managers.values_mut() {
            named.0.sort();
        }
        let expected: BTreeMap<String, (Vec<OrgKey>, bool)> = users
            .iter()
            .map(|u| (u, OrgPlace::of(&u.id, &u.body, rules.entry(&u.id, &u.body))))
            .filter(|(_, place)| !place.manager.is_empty())
            .map(|(u, place)| (u.id.clone(), (place.manager, place.counts)))
            .collect();
        assert_eq!(managers, expected, "{step}");
        users
            .iter()
            .filter(|u| index.reports(&rules.entry(&u.id, &u.body).keys).count > 0)
            .count()
    }

    pub fn run(store: &dyn ResourceStore) {
        // Profiles that show the count, and profiles that stay alike across the counts of
        // one class (a write moving a count within it leaves the manager's profile alone).
        let tenant = TenantId::parse("org-graph-manages").unwrap();
        sequence(store, &tenant, MANAGES);
        // Profiles that do not read their count where a flag was sent, and do where not:
        // a manager whose flag comes and goes is counted again from then on.
        let tenant = TenantId::parse("org-graph-sent").unwrap();
        sequence(store, &tenant, SENT);
        a_flag_that_comes_and_goes(store);
        let tenant = TenantId::parse("org-graph").unwrap();
        let ids = sequence(store, &tenant, 0);
        let rules: SharedRules = Arc::new(Fake { flavour: 0 });
        let fake = Fake { flavour: 0 };
        failed_writes_change_nothing(store, &tenant, &rules, &ids);
        agrees(store, &tenant, &fake, "after the failed writes");
        rebuilds(store, &tenant, &rules, &ids);
    }

    /// 160 random writes under `Fake { flavour }`, the index and every stored profile
    /// checked after each; the ids of the users left.
    fn sequence(store: &dyn ResourceStore, tenant: &TenantId, flavour: u8) -> Vec<Option<String>> {
        let tenant = tenant.clone();
        let rules: SharedRules = Arc::new(Fake { flavour });
        let fake = Fake { flavour };
        let names = [
            "ana", "bo", "cy", "dee", "ed", "flo", "gus", "hal", "ida", "jo",
        ];
        let mut ids: Vec<Option<String>> = vec![None; names.len()];
        let mut dice = Dice(21);
        let mut managing = 0;
        let body = |n: usize, ids: &[Option<String>], dice: &mut Dice| {
            let mut body = json!({"userName": names[n], "email": format!("{}@acme.com", names[n]),
                "number": format!("E{n}")});
            match dice.roll(6) {
                0 => {}
                1 => body["managerEmail"] = json!(format!("{}@ACME.com", names[dice.roll(4)])),
                2 => body["managerId"] = json!(format!("e{}", dice.roll(4))),
                3 => {
                    if let Some(Some(id)) = ids.get(dice.roll(4)) {
                        body["managerId"] = json!(id);
                    }
                }
                4 => {
                    // Both links, Okta's way (they may disagree).
                    body["managerEmail"] = json!(format!("{}@acme.com", names[dice.roll(4)]));
                    body["managerId"] = json!(format!("E{}", dice.roll(4)));
                }
                _ => body["managerEmail"] = json!(format!("{}@acme.com", names[n])),
            }
            if dice.roll(5) == 0 {
                body["active"] = json!(false);
            }
            if dice.roll(8) == 0 {
                // A new email: what named the old one no longer names this person.
                body["email"] = json!(format!("{}.new@acme.com", names[n]));
            }
            // Rolled for this flavour alone: the others' sequences stay as they were.
            if flavour == SENT && dice.roll(2) == 0 {
                body["manages"] = json!(dice.roll(2) == 0);
            }
            body
        };
        for step in 0..160 {
            let n = dice.roll(names.len());
            let label = format!("step {step} on {}", names[n]);
            match (ids[n].clone(), dice.roll(4)) {
                (None, _) => {
                    let created = store
                        .write_user(
                            &tenant,
                            &rules,
                            UserWrite::Create(write(body(n, &ids, &mut dice))),
                        )
                        .unwrap()
                        .unwrap();
                    assert!(created.profile.is_some(), "{label}");
                    ids[n] = Some(created.id);
                }
                (Some(id), 0) => {
                    assert!(store
                        .write_user(&tenant, &rules, UserWrite::Delete { id: &id })
                        .unwrap()
                        .is_none());
                    ids[n] = None;
                }
                (Some(id), 1) => {
                    let version = store
                        .get(&tenant, Kind::User, &id)
                        .unwrap()
                        .unwrap()
                        .version;
                    let new = write(body(n, &ids, &mut dice));
                    let replace = UserWrite::Replace {
                        id: &id,
                        version,
                        write: new,
                    };
                    store.write_user(&tenant, &rules, replace).unwrap();
                }
                (Some(id), _) => {
                    let new = body(n, &ids, &mut dice);
                    let mut change = |_: &crate::store::StoredResource| Some(write(new.clone()));
                    let update = UserWrite::Update {
                        id: &id,
                        change: &mut change,
                    };
                    let stored = store.write_user(&tenant, &rules, update).unwrap().unwrap();
                    assert_eq!(
                        stored,
                        store.get(&tenant, Kind::User, &id).unwrap().unwrap()
                    );
                }
            }
            managing += agrees(store, &tenant, &fake, &label);
        }
        // The sequence exercised counting (not only people nobody names).
        assert!(managing > 100, "{managing}");
        ids
    }

    /// A manager whose sent flag is taken out and put back, its place in the graph the same
    /// throughout: counted again once its profile reads the count, not while it does not.
    fn a_flag_that_comes_and_goes(store: &dyn ResourceStore) {
        let tenant = TenantId::parse("org-graph-flag").unwrap();
        let rules: SharedRules = Arc::new(Fake { flavour: SENT });
        let fake = Fake { flavour: SENT };
        let create = |body: Value| {
            let created = store.write_user(&tenant, &rules, UserWrite::Create(write(body)));
            created.unwrap().unwrap()
        };
        let boss = |manages: Option<bool>| {
            let mut body = json!({"userName": "boss", "email": "boss@acme.com"});
            if let Some(manages) = manages {
                body["manages"] = json!(manages);
            }
            body
        };
        let report =
            |n: usize| json!({"userName": format!("r{n}"), "managerEmail": "boss@acme.com"});
        let id = create(boss(Some(true))).id;
        create(report(1));
        agrees(
            store,
            &tenant,
            &fake,
            "a report of a manager whose flag was sent",
        );
        for (step, manages) in [None, Some(false), None].into_iter().enumerate() {
            let mut change = |_: &crate::store::StoredResource| Some(write(boss(manages)));
            let update = UserWrite::Update {
                id: &id,
                change: &mut change,
            };
            store.write_user(&tenant, &rules, update).unwrap();
            create(report(step + 2));
            agrees(
                store,
                &tenant,
                &fake,
                &format!("the flag {manages:?}, then a report"),
            );
        }
    }

    /// A user written without the index, then new rules: the next write rebuilds it.
    fn rebuilds(
        store: &dyn ResourceStore,
        tenant: &TenantId,
        rules: &SharedRules,
        ids: &[Option<String>],
    ) {
        let tenant = tenant.clone();
        // A user written without the index (rules without `reports_to` for a while): the
        // index is no longer current, and the next write that keeps it rebuilds it.
        let plain = store
            .create(
                &tenant,
                Kind::User,
                write(json!({"userName": "kay", "managerEmail": "ana@acme.com"})),
            )
            .unwrap();
        assert!(store
            .org_reports(
                &tenant,
                &rules.signature(),
                &[(0, "ana@acme.com".into())],
                5
            )
            .unwrap()
            .is_none());
        assert!(!store
            .org_managers(&tenant, &rules.signature(), &mut |_, _, _| {
                panic!("a stale index is not read")
            })
            .unwrap());
        // Brought up to date without a write (the console's look at a user): the index a
        // write would rebuild, with the user written around it.
        assert!(store.org_refresh(&tenant, rules).unwrap());
        counts_agree(store, &tenant, &Fake { flavour: 0 });
        // Current already: nothing changes.
        assert!(store.org_refresh(&tenant, rules).unwrap());
        store
            .write_user(&tenant, rules, UserWrite::Delete { id: &plain.id })
            .unwrap();
        assert!(store
            .org_reports(
                &tenant,
                &rules.signature(),
                &[(0, "ana@acme.com".into())],
                5
            )
            .unwrap()
            .is_some());

        // New rules (employee numbers no longer name anyone): the first write under them
        // rebuilds the index; the profiles it recomputes agree with the new population.
        let newer: SharedRules = Arc::new(Fake { flavour: 1 });
        let someone = ids.iter().flatten().next().expect("a user is left").clone();
        let mut touch = |current: &crate::store::StoredResource| Some(write(current.body.clone()));
        let update = UserWrite::Update {
            id: &someone,
            change: &mut touch,
        };
        store.write_user(&tenant, &newer, update).unwrap();
        counts_agree(store, &tenant, &Fake { flavour: 1 });
        assert!(store
            .org_reports(&tenant, &rules.signature(), &[], 0)
            .unwrap()
            .is_none());
    }

    /// The index, current under `rules`, counts each user's reports as the population of
    /// every stored user does.
    fn counts_agree(store: &dyn ResourceStore, tenant: &TenantId, rules: &Fake) {
        let users = store.list(tenant, Kind::User).unwrap();
        let mut index = OrgIndex::new(0);
        for user in &users {
            index.add(&rules.entry(&user.id, &user.body), String::new);
        }
        for user in &users {
            let keys = rules.entry(&user.id, &user.body).keys;
            let read = store
                .org_reports(tenant, &rules.signature(), &keys, 0)
                .unwrap()
                .expect("the index is current");
            assert_eq!(read.count, index.reports(&keys).count, "{}", user.body);
        }
    }

    /// A write that fails (a taken name, a stale version, a declined update, a user that is
    /// gone) leaves the index and every profile as they were.
    fn failed_writes_change_nothing(
        store: &dyn ResourceStore,
        tenant: &TenantId,
        rules: &SharedRules,
        ids: &[Option<String>],
    ) {
        let snapshot = || store.list(tenant, Kind::User).unwrap();
        let before = snapshot();
        let taken = before[0].body["userName"].as_str().unwrap().to_string();
        let target = before[1].body["email"].as_str().unwrap().to_string();
        let naming = json!({"userName": taken, "managerEmail": target});
        assert!(matches!(
            store.write_user(tenant, rules, UserWrite::Create(write(naming.clone()))),
            Err(StoreError::Conflict)
        ));
        let id = ids.iter().flatten().next().unwrap();
        let stale = UserWrite::Replace {
            id,
            version: 0,
            write: write(json!({"userName": "zed", "managerEmail": target})),
        };
        assert!(matches!(
            store.write_user(tenant, rules, stale),
            Err(StoreError::Stale)
        ));
        let mut decline = |_: &crate::store::StoredResource| None;
        let declined = UserWrite::Update {
            id,
            change: &mut decline,
        };
        assert!(matches!(
            store.write_user(tenant, rules, declined),
            Err(StoreError::Aborted)
        ));
        assert!(matches!(
            store.write_user(tenant, rules, UserWrite::Delete { id: "nobody" }),
            Err(StoreError::NotFound)
        ));
        assert_eq!(snapshot(), before);
    }
}
