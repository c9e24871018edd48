//! The organisation index in PostgreSQL (store/org.rs), in the tables SQLite has:
//! `org_refs` (a row per user and key it has, `role` 0, or manager reference it names,
//! `role` 1) and `org_state` (the signature each tenant's rows were made under).
//!
//! A user write that keeps the graph runs the steps of `store::org::write_user` one
//! statement at a time (each a `block_on` on the caller's thread, as every call of this
//! store) in one transaction. Several instances write at once, and two writes that move
//! reports of the same manager must not both count without the other; but one tenant's
//! writes that share no key should not wait for each other (a lock per tenant made a
//! tenant's writes one at a time: 300 creates/s). So a write takes transaction-scoped
//! advisory locks, always in this order:
//!
//! 1. the tenant's graph, shared (a rebuild of the index takes it exclusively, and first);
//! 2. the written user (other writes of the same user wait before reading its old rows);
//! 3. every key the user has or names, before or after, in one statement in hash order;
//! 4. the rows of the users whose counts it recomputes, in id order (`SELECT … FOR
//!    UPDATE`), each before its count is read: a manager named by two keys at once is
//!    counted by the second write after the first's commit.
//!
//! Any two writes that could change the same count share a key or a dependant's row, and
//! nothing is locked out of this order, so they cannot wait on each other in a cycle (a
//! deadlock PostgreSQL still reports is tried again). The written user's own row is not
//! locked before its keys: a write recomputing that user as a manager may hold it.

use std::future::Future;

use serde_json::Value;
use tokio::runtime::Handle;

use super::super::org::{self as graph, ManagerRowFn, OrgPlace, OrgRules, OrgTx, UserWrite};
use super::super::{now, Kind, ProfileRecord, StoreError, StoredResource, TenantId};
use super::{
    db_error, db_error_of, decode, delete_row, encode, insert_row, replace_row, retryable, Failure,
    PostgresStore, Row, ATTEMPTS, COLUMNS, SCAN_CHUNK,
};
use crate::eval::org::OrgKey;
use crate::eval::Reports;

type Tx<'t> = deadpool_postgres::Transaction<'t>;

pub(super) const SCHEMA: &str = r#"
CREATE TABLE org_refs (
    tenant   TEXT NOT NULL,
    role     INTEGER NOT NULL,
    link     INTEGER NOT NULL,
    value    TEXT NOT NULL,
    id       TEXT NOT NULL,
    counts   BOOLEAN NOT NULL,
    display  TEXT NOT NULL,
    PRIMARY KEY (tenant, role, link, value, id)
);
CREATE INDEX org_refs_of ON org_refs (tenant, id);
CREATE TABLE org_state (
    tenant     TEXT PRIMARY KEY,
    signature  TEXT NOT NULL
);
"#;

/// Forgets a tenant's index (a user written without it): the next write that keeps the
/// graph rebuilds it.
pub(super) async fn forget(tx: &Tx<'_>, tenant: &TenantId) -> Result<(), Failure> {
    let statement = tx
        .prepare_cached("DELETE FROM org_state WHERE tenant = $1")
        .await?;
    tx.execute(&statement, &[&tenant.as_str()]).await?;
    Ok(())
}

fn handle(store: &PostgresStore) -> Result<Handle, StoreError> {
    store
        .runtime
        .as_ref()
        .map(|runtime| runtime.handle().clone())
        .ok_or_else(|| StoreError::Backend("the store is closed".into()))
}

/// `(link, value)` pairs as two arrays, for `unnest`.
fn key_arrays(keys: &[OrgKey]) -> (Vec<i32>, Vec<&str>) {
    keys.iter()
        .map(|(link, value)| (i32::from(*link), value.as_str()))
        .unzip()
}

/// The index of one tenant in one transaction.
struct PgOrg<'a, 't> {
    handle: &'a Handle,
    tx: &'a Tx<'t>,
    tenant: &'a TenantId,
    /// The PostgreSQL error a step failed with (a deadlock's victim is tried again).
    failure: Option<tokio_postgres::Error>,
    /// Whether this transaction holds the tenant's graph exclusively (it may rebuild it).
    exclusive: bool,
    /// A rebuild was needed without the exclusive lock: the write is tried again with it.
    needs_exclusive: bool,
    /// The user changed between its read and its write (a write that does not keep the
    /// graph, from rules without `reports_to`): the write is tried again.
    moved: bool,
}

impl PgOrg<'_, '_> {
    fn run<T>(&mut self, step: impl Future<Output = Result<T, Failure>>) -> Result<T, StoreError> {
        match self.handle.block_on(step) {
            Ok(value) => Ok(value),
            Err(Failure::Store(error)) => Err(error),
            Err(Failure::Db(error)) => {
                let described = db_error_of(&error);
                self.failure = Some(error);
                Err(described)
            }
        }
    }
}

impl OrgTx for PgOrg<'_, '_> {
    fn signature(&mut self) -> Result<Option<String>, StoreError> {
        let (tx, tenant) = (self.tx, self.tenant);
        self.run(async move {
            let statement = tx
                .prepare_cached("SELECT signature FROM org_state WHERE tenant = $1")
                .await?;
            let row = tx.query_opt(&statement, &[&tenant.as_str()]).await?;
            Ok(row.map(|row| row.try_get(0)).transpose()?)
        })
    }

    fn reset(&mut self, signature: &str) -> Result<(), StoreError> {
        if !self.exclusive {
            self.needs_exclusive = true;
            return Err(StoreError::Backend(
                "the organisation index is rebuilt under the tenant's exclusive lock".into(),
            ));
        }
        let (tx, tenant) = (self.tx, self.tenant);
        self.run(async move {
            let clear = tx
                .prepare_cached("DELETE FROM org_refs WHERE tenant = $1")
                .await?;
            tx.execute(&clear, &[&tenant.as_str()]).await?;
            let set = tx
                .prepare_cached(
                    "INSERT INTO org_state (tenant, signature) VALUES ($1, $2)
                     ON CONFLICT (tenant) DO UPDATE SET signature = EXCLUDED.signature",
                )
                .await?;
            tx.execute(&set, &[&tenant.as_str(), &signature]).await?;
            Ok(())
        })
    }

    fn users(&mut self, visit: &mut dyn FnMut(&str, &Value)) -> Result<(), StoreError> {
        let (tx, tenant) = (self.tx, self.tenant);
        let mut after = 0i64;
        loop {
            let rows = self.run(async move {
                let statement = tx
                    .prepare_cached(
                        "SELECT id, body, seq FROM resources
                         WHERE tenant = $1 AND kind = 'User' AND seq > $2 ORDER BY seq LIMIT $3",
                    )
                    .await?;
                Ok(tx
                    .query(&statement, &[&tenant.as_str(), &after, &SCAN_CHUNK])
                    .await?)
            })?;
            for row in &rows {
                let (id, body): (String, String) = (
                    row.try_get(0).map_err(db_error)?,
                    row.try_get(1).map_err(db_error)?,
                );
                after = row.try_get(2).map_err(db_error)?;
                let body: Value = serde_json::from_str(&body)
                    .map_err(|e| StoreError::Backend(format!("stored body of {id}: {e}")))?;
                visit(&id, &body);
            }
            if i64::try_from(rows.len()).unwrap_or(0) < SCAN_CHUNK {
                return Ok(());
            }
        }
    }

    fn place(&mut self, id: &str) -> Result<Option<OrgPlace>, StoreError> {
        let (tx, tenant) = (self.tx, self.tenant);
        let rows = self.run(async move {
            // Byte order, as Rust sorts the keys.
            let statement = tx
                .prepare_cached(
                    "SELECT role, link, value, counts, display FROM org_refs
                     WHERE tenant = $1 AND id = $2 ORDER BY role, link, value COLLATE \"C\"",
                )
                .await?;
            Ok(tx.query(&statement, &[&tenant.as_str(), &id]).await?)
        })?;
        let mut place: Option<OrgPlace> = None;
        for row in &rows {
            let role: i32 = row.try_get(0).map_err(db_error)?;
            let link: i32 = row.try_get(1).map_err(db_error)?;
            let value: String = row.try_get(2).map_err(db_error)?;
            let place = place.get_or_insert_with(OrgPlace::default);
            place.counts = row.try_get(3).map_err(db_error)?;
            place.display = row.try_get(4).map_err(db_error)?;
            let key = (u16::try_from(link).unwrap_or(u16::MAX), value);
            if role == 0 {
                place.keys.push(key);
            } else {
                place.manager.push(key);
            }
        }
        Ok(place)
    }

    fn set_place(&mut self, id: &str, place: Option<&OrgPlace>) -> Result<(), StoreError> {
        let (tx, tenant) = (self.tx, self.tenant);
        self.run(async move {
            let statement = tx
                .prepare_cached("DELETE FROM org_refs WHERE tenant = $1 AND id = $2")
                .await?;
            tx.execute(&statement, &[&tenant.as_str(), &id]).await?;
            Ok(())
        })?;
        match place {
            Some(place) => self.add_places(&[(id.to_string(), place.clone())]),
            None => Ok(()),
        }
    }

    fn add_places(&mut self, places: &[(String, OrgPlace)]) -> Result<(), StoreError> {
        let (mut roles, mut links, mut values, mut ids, mut counts, mut displays) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        for (id, place) in places {
            let rows =
                (place.keys.iter().map(|k| (0, k))).chain(place.manager.iter().map(|k| (1, k)));
            for (role, (link, value)) in rows {
                roles.push(role);
                links.push(i32::from(*link));
                values.push(value.as_str());
                ids.push(id.as_str());
                counts.push(place.counts);
                displays.push(place.display.as_str());
            }
        }
        if roles.is_empty() {
            return Ok(());
        }
        let (tx, tenant) = (self.tx, self.tenant);
        self.run(async move {
            let statement = tx
                .prepare_cached(
                    "INSERT INTO org_refs (tenant, role, link, value, id, counts, display)
                     SELECT $1, r, l, v, i, c, d
                     FROM unnest($2::int4[], $3::int4[], $4::text[], $5::text[], $6::bool[], $7::text[])
                        AS t(r, l, v, i, c, d)
                     ON CONFLICT DO NOTHING",
                )
                .await?;
            tx.execute(
                &statement,
                &[&tenant.as_str(), &roles, &links, &values, &ids, &counts, &displays],
            )
            .await?;
            Ok(())
        })
    }

    fn holders(&mut self, keys: &[OrgKey]) -> Result<Vec<(String, OrgKey)>, StoreError> {
        let (links, values) = key_arrays(keys);
        let (tx, tenant) = (self.tx, self.tenant);
        let rows = self.run(async move {
            let statement = tx
                .prepare_cached(
                    "SELECT id, link, value FROM org_refs WHERE tenant = $1 AND role = 0
                     AND (link, value) IN (SELECT * FROM unnest($2::int4[], $3::text[]))",
                )
                .await?;
            Ok(tx
                .query(&statement, &[&tenant.as_str(), &links, &values])
                .await?)
        })?;
        rows.iter()
            .map(|row| {
                let link: i32 = row.try_get(1).map_err(db_error)?;
                let key = (
                    u16::try_from(link).unwrap_or(u16::MAX),
                    row.try_get(2).map_err(db_error)?,
                );
                Ok((row.try_get(0).map_err(db_error)?, key))
            })
            .collect()
    }

    fn managers(&mut self, visit: &mut ManagerRowFn<'_>) -> Result<(), StoreError> {
        let (tx, tenant) = (self.tx, self.tenant);
        let rows = self.run(async move {
            let statement = tx
                .prepare_cached(
                    "SELECT id, link, value, counts FROM org_refs WHERE tenant = $1 AND role = 1",
                )
                .await?;
            Ok(tx.query(&statement, &[&tenant.as_str()]).await?)
        })?;
        for row in &rows {
            let id: &str = row.try_get(0).map_err(db_error)?;
            let link: i32 = row.try_get(1).map_err(db_error)?;
            let value: &str = row.try_get(2).map_err(db_error)?;
            let counts: bool = row.try_get(3).map_err(db_error)?;
            visit(id, (u16::try_from(link).unwrap_or(u16::MAX), value), counts);
        }
        Ok(())
    }

    fn reports(&mut self, keys: &[OrgKey], keep: usize) -> Result<Reports, StoreError> {
        let mut reports = Reports::default();
        if keys.is_empty() {
            return Ok(reports);
        }
        const REPORTERS: &str = "SELECT DISTINCT id, display FROM org_refs
            WHERE tenant = $1 AND role = 1 AND counts
            AND (link, value) IN (SELECT * FROM unnest($2::int4[], $3::text[]))";
        let (links, values) = key_arrays(keys);
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        let (tx, tenant) = (self.tx, self.tenant);
        let (count, people) = self.run(async move {
            let statement = tx
                .prepare_cached(&format!(
                    "SELECT COUNT(DISTINCT id) FROM ({REPORTERS}) AS o"
                ))
                .await?;
            let count: i64 = tx
                .query_one(&statement, &[&tenant.as_str(), &links, &values])
                .await?
                .try_get(0)?;
            let mut people = Vec::new();
            if keep > 0 && count > 0 {
                // Oldest user first, as a pass over the users in order lists them.
                let statement = tx
                    .prepare_cached(&format!(
                        "SELECT o.display FROM ({REPORTERS}) AS o JOIN resources AS r
                            ON r.tenant = $1 AND r.kind = 'User' AND r.id = o.id
                         ORDER BY r.seq LIMIT $4"
                    ))
                    .await?;
                for row in tx
                    .query(&statement, &[&tenant.as_str(), &links, &values, &keep])
                    .await?
                {
                    people.push(row.try_get::<_, String>(0)?);
                }
            }
            Ok((count, people))
        })?;
        reports.count = u64::try_from(count).unwrap_or(0);
        reports.people = people;
        Ok(reports)
    }

    fn reports_of_user(&mut self, id: &str) -> Result<u64, StoreError> {
        let (tx, tenant) = (self.tx, self.tenant);
        let count: i64 = self.run(async move {
            let statement = tx
                .prepare_cached(
                    "SELECT COUNT(DISTINCT r.id) FROM org_refs AS k JOIN org_refs AS r
                       ON r.tenant = k.tenant AND r.role = 1 AND r.link = k.link
                      AND r.value = k.value AND r.counts
                     WHERE k.tenant = $1 AND k.id = $2 AND k.role = 0",
                )
                .await?;
            Ok(tx
                .query_one(&statement, &[&tenant.as_str(), &id])
                .await?
                .try_get(0)?)
        })?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    fn user(&mut self, id: &str) -> Result<Option<(Value, Option<ProfileRecord>)>, StoreError> {
        let (tx, tenant) = (self.tx, self.tenant);
        let row = self.run(async move {
            let statement = tx
                .prepare_cached(
                    "SELECT body, profile FROM resources WHERE tenant = $1 AND kind = 'User' AND id = $2
                     FOR UPDATE",
                )
                .await?;
            Ok(tx.query_opt(&statement, &[&tenant.as_str(), &id]).await?)
        })?;
        let Some(row) = row else {
            return Ok(None);
        };
        let body: String = row.try_get(0).map_err(db_error)?;
        let profile: Option<String> = row.try_get(1).map_err(db_error)?;
        let body = serde_json::from_str(&body)
            .map_err(|e| StoreError::Backend(format!("stored body of {id}: {e}")))?;
        let profile = profile
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|e| StoreError::Backend(format!("stored profile of {id}: {e}")))?;
        Ok(Some((body, profile)))
    }

    fn set_profile(&mut self, id: &str, profile: &ProfileRecord) -> Result<(), StoreError> {
        let text = encode(profile)?;
        let (tx, tenant) = (self.tx, self.tenant);
        self.run(async move {
            let statement = tx
                .prepare_cached(
                    "UPDATE resources SET profile = $3 WHERE tenant = $1 AND kind = 'User' AND id = $2",
                )
                .await?;
            tx.execute(&statement, &[&tenant.as_str(), &id, &text])
                .await?;
            Ok(())
        })
    }

    fn lock_user(&mut self, id: &str) -> Result<(), StoreError> {
        let (tx, tenant) = (self.tx, self.tenant);
        self.run(async move {
            let statement = tx
                .prepare_cached(
                    "SELECT 1 FROM resources WHERE tenant = $1 AND kind = 'User' AND id = $2
                     FOR UPDATE",
                )
                .await?;
            tx.query_opt(&statement, &[&tenant.as_str(), &id]).await?;
            Ok(())
        })
    }

    fn lock_keys(&mut self, keys: &[OrgKey]) -> Result<(), StoreError> {
        let tenant = self.tenant.as_str();
        let ids = keys
            .iter()
            .map(|(link, value)| {
                lock_id(&[
                    b"key",
                    tenant.as_bytes(),
                    &link.to_le_bytes(),
                    value.as_bytes(),
                ])
            })
            .collect();
        let tx = self.tx;
        self.run(lock_all(tx, ids))
    }
}

/// An advisory lock's id for `parts` (a stable hash: every instance computes the same).
/// Two things that hash alike only wait for each other.
fn lock_id(parts: &[&[u8]]) -> i64 {
    let mut bytes = b"canon-org".to_vec();
    for part in parts {
        // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
        bytes.extend_from_slice(&(part.len() as u64).to_le_bytes());
        bytes.extend_from_slice(part);
    }
    i64::from_ne_bytes(xxhash_rust::xxh3::xxh3_64(&bytes).to_ne_bytes())
}

/// Takes the advisory locks `ids` until the commit, in ascending order (every write does,
/// so two cannot each hold what the other waits for), in one round trip.
async fn lock_all(tx: &Tx<'_>, mut ids: Vec<i64>) -> Result<(), Failure> {
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(());
    }
    // `unnest` yields the array in its order, and each row's lock is taken as it is yielded.
    let statement = tx
        .prepare_cached("SELECT pg_advisory_xact_lock(k) FROM unnest($1::int8[]) AS k")
        .await?;
    tx.execute(&statement, &[&ids]).await?;
    Ok(())
}

/// [`super::super::ResourceStore::write_user`]: one transaction, tried again when
/// PostgreSQL chose it as a deadlock's victim.
pub(super) fn write_user(
    store: &PostgresStore,
    tenant: &TenantId,
    rules: &dyn OrgRules,
    mut write: UserWrite<'_>,
) -> Result<Option<StoredResource>, StoreError> {
    let handle = handle(store)?;
    let mut client = handle.block_on(store.client())?;
    let (mut attempt, mut exclusive) = (1, false);
    loop {
        let tx = handle.block_on(client.transaction()).map_err(db_error)?;
        let (outcome, failure, needs_exclusive, moved) = {
            let mut org = PgOrg {
                handle: &handle,
                tx: &tx,
                tenant,
                failure: None,
                exclusive,
                needs_exclusive: false,
                moved: false,
            };
            let outcome = org
                .run(lock_graph(&tx, tenant, exclusive))
                .and_then(|()| write_in(&mut org, rules, &mut write));
            (outcome, org.failure.take(), org.needs_exclusive, org.moved)
        };
        match outcome {
            Ok(written) => match handle.block_on(tx.commit()) {
                Ok(()) => {
                    if let (UserWrite::Create(_), Some(runtime)) = (&write, &store.runtime) {
                        store.freshness.created(&store.pool, runtime);
                    }
                    return Ok(written);
                }
                Err(error) if retryable(&error) && attempt < ATTEMPTS => {}
                Err(error) => return Err(db_error(error)),
            },
            // Dropping the transaction rolls it back. A rebuild starts over holding the
            // tenant's graph alone (that is no failure: not counted as an attempt).
            Err(_) if needs_exclusive && !exclusive => {
                exclusive = true;
                continue;
            }
            Err(_) if (moved || failure.as_ref().is_some_and(retryable)) && attempt < ATTEMPTS => {}
            Err(error) => return Err(error),
        }
        attempt += 1;
    }
}

/// The tenant's graph: shared by the writes that keep it, exclusive for a rebuild.
async fn lock_graph(tx: &Tx<'_>, tenant: &TenantId, exclusive: bool) -> Result<(), Failure> {
    let statement = tx
        .prepare_cached(if exclusive {
            "SELECT pg_advisory_xact_lock(hashtextextended('canon-org:' || $1, 0))"
        } else {
            "SELECT pg_advisory_xact_lock_shared(hashtextextended('canon-org:' || $1, 0))"
        })
        .await?;
    tx.execute(&statement, &[&tenant.as_str()]).await?;
    Ok(())
}

/// Holds off every other write of user `id` that keeps the graph until the commit.
async fn lock_user(tx: &Tx<'_>, tenant: &TenantId, id: &str) -> Result<(), Failure> {
    lock_all(
        tx,
        vec![lock_id(&[
            b"user",
            tenant.as_str().as_bytes(),
            id.as_bytes(),
        ])],
    )
    .await
}

/// The user as stored, read without its row lock (see the module's comment).
async fn current(tx: &Tx<'_>, tenant: &TenantId, id: &str) -> Result<StoredResource, Failure> {
    let select =
        format!("SELECT {COLUMNS} FROM resources WHERE tenant = $1 AND kind = 'User' AND id = $2");
    let statement = tx.prepare_cached(&select).await?;
    let row = tx
        .query_opt(&statement, &[&tenant.as_str(), &id])
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(decode(&row)?)
}

fn write_in(
    org: &mut PgOrg<'_, '_>,
    rules: &dyn OrgRules,
    write: &mut UserWrite<'_>,
) -> Result<Option<StoredResource>, StoreError> {
    let (tx, tenant, kind) = (org.tx, org.tenant, Kind::User);
    match write {
        UserWrite::Create(write) => {
            let (id, stamp) = (uuid::Uuid::new_v4().to_string(), now());
            // Mapped before the keys it names are locked.
            let prepared = Some(graph::prepare(rules, &id, &write.body));
            let body = Some(&write.body);
            let profile =
                graph::write_prepared(org, rules, &id, body, prepared, |org, profile| {
                    let row = Row::of(write, &profile)?;
                    org.run(insert_row(tx, tenant, kind, &id, &stamp, &row))?;
                    Ok(profile)
                })?;
            Ok(Some(StoredResource {
                id,
                kind,
                body: write.body.clone(),
                created: stamp.clone(),
                modified: stamp,
                version: 1,
                profile,
            }))
        }
        UserWrite::Replace { id, version, write } => {
            let (id, version, stamp) = (*id, *version, now());
            let prepared = Some(graph::prepare(rules, id, &write.body));
            org.run(lock_user(tx, tenant, id))?;
            let body = Some(&write.body);
            let (created, profile) =
                graph::write_prepared(org, rules, id, body, prepared, |org, profile| {
                    let row = Row::of(write, &profile)?;
                    let created =
                        org.run(replace_row(tx, tenant, kind, id, version, &stamp, &row))?;
                    Ok((created, profile))
                })?;
            Ok(Some(StoredResource {
                id: id.to_string(),
                kind,
                body: write.body.clone(),
                created,
                modified: stamp,
                version: version + 1,
                profile,
            }))
        }
        UserWrite::Update { id, change } => {
            let id = *id;
            org.run(lock_user(tx, tenant, id))?;
            // Every write of this user that keeps the graph waits behind the lock, so what is
            // read stays current; the version check below catches any other.
            let current = org.run(current(tx, tenant, id))?;
            let write = change(&current).ok_or(StoreError::Aborted)?;
            let (stamp, version) = (now(), current.version + 1);
            let profile = graph::write_user(org, rules, id, Some(&write.body), |org, profile| {
                let row = Row::of(&write, &profile)?;
                let written = replace_row(tx, tenant, kind, id, current.version, &stamp, &row);
                match org.run(written) {
                    Err(StoreError::Stale) => {
                        org.moved = true;
                        Err(StoreError::Stale)
                    }
                    outcome => outcome.map(|_| profile),
                }
            })?;
            Ok(Some(current.rewritten(write.body, profile, stamp, version)))
        }
        UserWrite::Delete { id } => {
            let id = *id;
            org.run(lock_user(tx, tenant, id))?;
            graph::write_user(org, rules, id, None, |org, _| {
                org.run(delete_row(tx, tenant, kind, id))
            })?;
            Ok(None)
        }
    }
}

/// [`crate::store::ResourceStore::org_refresh`]: the tenant's graph held alone (as a write
/// that rebuilds it holds it), the index made current, committed.
pub(super) fn refresh(
    store: &PostgresStore,
    tenant: &TenantId,
    rules: &dyn OrgRules,
) -> Result<(), StoreError> {
    let handle = handle(store)?;
    let mut client = handle.block_on(store.client())?;
    let tx = handle.block_on(client.transaction()).map_err(db_error)?;
    {
        let mut org = PgOrg {
            handle: &handle,
            tx: &tx,
            tenant,
            failure: None,
            exclusive: true,
            needs_exclusive: false,
            moved: false,
        };
        org.run(lock_graph(&tx, tenant, true))?;
        graph::ensure_current(&mut org, rules)?;
    }
    handle.block_on(tx.commit()).map_err(db_error)
}

/// `read` over the tenant's index in one read-only snapshot.
fn in_snapshot<T>(
    store: &PostgresStore,
    tenant: &TenantId,
    read: impl FnOnce(&mut PgOrg<'_, '_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let handle = handle(store)?;
    let mut client = handle.block_on(store.client())?;
    let tx = handle
        .block_on(
            client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start(),
        )
        .map_err(db_error)?;
    let answer = read(&mut PgOrg {
        handle: &handle,
        tx: &tx,
        tenant,
        failure: None,
        exclusive: false,
        needs_exclusive: false,
        moved: false,
    })?;
    handle.block_on(tx.commit()).map_err(db_error)?;
    Ok(answer)
}

/// [`crate::store::ResourceStore::org_managers`], in one snapshot.
pub(super) fn managers(
    store: &PostgresStore,
    tenant: &TenantId,
    signature: &str,
    visit: &mut ManagerRowFn<'_>,
) -> Result<bool, StoreError> {
    in_snapshot(store, tenant, |org| {
        graph::managers_of(org, signature, visit)
    })
}

/// [`super::super::ResourceStore::org_reports`]: read in one snapshot.
pub(super) fn reports(
    store: &PostgresStore,
    tenant: &TenantId,
    signature: &str,
    keys: &[OrgKey],
    keep: usize,
) -> Result<Option<Reports>, StoreError> {
    in_snapshot(store, tenant, |org| {
        graph::reports_of(org, signature, keys, keep)
    })
}
