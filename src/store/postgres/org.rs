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
//!
//! A create whose profile needs no count is written by a batch of creates instead
//! (batch.rs), which holds its tenants' graphs shared (in one order) and then every key of
//! all its creates in one statement in hash order: the same order, as one write with many
//! keys; it locks no user and no row.

use std::future::Future;

use serde_json::Value;
use tokio::runtime::Handle;
use tokio_postgres::types::ToSql;

use super::super::org::{self as graph, ManagerRowFn, OrgPlace, OrgRules, OrgTx, UserWrite};
use super::super::{
    now, Created, Kind, ProfileRecord, Queued, StoreError, StoredResource, TenantId,
};
use super::batch;
use super::pipeline::{Param, Queue};
use super::{
    db_error, db_error_of, decode, delete_row, encode, retryable, Failure, PostgresStore, Row,
    ATTEMPTS, COLUMNS, DELETE_KEYS, INSERT_KEYS, INSERT_RESOURCE, REPLACE_RESOURCE,
    RESOURCE_EXISTS, SCAN_CHUNK,
};
use crate::eval::org::OrgKey;
use crate::eval::Reports;

/// A pooled connection: the transactions here are begun and ended by statements of their
/// own, so that `BEGIN` and `COMMIT` travel with the statements beside them (pipeline.rs).
type Client = deadpool_postgres::Client;

fn param(value: impl ToSql + Sync + Send + 'static) -> Param {
    Box::new(value)
}

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

/// Whether a user's profile, under the rules its tenant's index was made with, read how
/// many report to it (store/org.rs, `OrgTx::note_reads_reports`): kept on its rows, so it
/// goes with them when the index is rebuilt (every row then says `true`, unknown).
pub(super) const READS_REPORTS: &str =
    "ALTER TABLE org_refs ADD COLUMN reads_reports BOOLEAN NOT NULL DEFAULT true";

const SIGNATURE: &str = "SELECT signature FROM org_state WHERE tenant = $1";
/// A check that fails its transaction, with SQLSTATE `code`, where `holds` is not true: so
/// a statement sent ahead, unanswered, can turn the `COMMIT` queued behind it into a
/// rollback. Migration 5, as it shipped; migration 6 drops it, since creates are batched
/// (batch.rs decides each create in the statement that writes it).
pub(super) const REQUIRE: &str = "
CREATE FUNCTION canon_require(holds boolean, code text) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF holds IS NOT TRUE THEN
        RAISE EXCEPTION 'canon_require: % does not hold', code USING ERRCODE = code;
    END IF;
    RETURN true;
END
$$";

/// How long a tenant whose create a batch refused for a manager whose profile reads its
/// count takes the general path (its managers' profiles read their counts, most likely).
const SLOW_FOR: std::time::Duration = std::time::Duration::from_secs(10);

/// Tenants whose creates a batch last refused for such a manager, and when.
#[derive(Default)]
pub(super) struct SlowCreates(
    std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
);

impl SlowCreates {
    fn try_at_once(&self, tenant: &TenantId) -> bool {
        let Ok(mut slow) = self.0.lock() else {
            return false;
        };
        match slow.get(tenant.as_str()) {
            Some(since) if since.elapsed() < SLOW_FOR => false,
            Some(_) => {
                slow.remove(tenant.as_str());
                true
            }
            None => true,
        }
    }

    fn failed(&self, tenant: &TenantId) {
        if let Ok(mut slow) = self.0.lock() {
            slow.insert(tenant.as_str().to_string(), std::time::Instant::now());
        }
    }
}
const HOLDERS: &str = "SELECT id, link, value, reads_reports FROM org_refs
    WHERE tenant = $1 AND role = 0
    AND (link, value) IN (SELECT * FROM unnest($2::int4[], $3::text[]))";

/// Index rows of users (`places_params`).
const INSERT_PLACES: &str =
    "INSERT INTO org_refs (tenant, role, link, value, id, counts, display, reads_reports)
     SELECT $1, r, l, v, i, c, d, rr
     FROM unnest($2::int4[], $3::int4[], $4::text[], $5::text[], $6::bool[], $7::text[],
        $8::bool[]) AS t(r, l, v, i, c, d, rr)
     ON CONFLICT DO NOTHING";

/// The parameters of [`INSERT_PLACES`] for `places`, each user's rows saying
/// `reads_reports(id)`; `None` where they have no rows.
fn places_params(
    tenant: Param,
    places: &[(String, OrgPlace)],
    reads_reports: impl Fn(&str) -> bool,
) -> Option<Vec<Param>> {
    let (mut roles, mut links, mut values, mut ids, mut counts, mut displays) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let mut reads = Vec::new();
    for (id, place) in places {
        let reads_reports = reads_reports(id);
        for (role, (link, value)) in place.rows() {
            roles.push(role);
            links.push(i32::from(*link));
            values.push(value.clone());
            ids.push(id.clone());
            counts.push(place.counts);
            displays.push(place.display.clone());
            reads.push(reads_reports);
        }
    }
    if roles.is_empty() {
        return None;
    }
    Some(vec![
        tenant,
        param(roles),
        param(links),
        param(values),
        param(ids),
        param(counts),
        param(displays),
        param(reads),
    ])
}

/// The advisory locks of `keys` in `tenant` ([`OrgTx::lock_keys`]; unsorted).
pub(super) fn key_locks(tenant: &TenantId, keys: &[OrgKey]) -> Vec<i64> {
    let tenant = tenant.as_str().as_bytes();
    keys.iter()
        .map(|(link, value)| lock_id(&[b"key", tenant, &link.to_le_bytes(), value.as_bytes()]))
        .collect()
}

/// Forgets a tenant's index (a user written without it): the next write that keeps the
/// graph rebuilds it.
pub(super) async fn forget(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: &TenantId,
) -> Result<(), Failure> {
    let statement = tx
        .prepare_cached("DELETE FROM org_state WHERE tenant = $1")
        .await?;
    tx.execute(&statement, &[&tenant.as_str()]).await?;
    Ok(())
}

fn signature_of(rows: &[tokio_postgres::Row]) -> Result<Option<String>, StoreError> {
    rows.first()
        .map(|row| row.try_get(0))
        .transpose()
        .map_err(db_error)
}

fn handle(store: &PostgresStore) -> Result<Handle, StoreError> {
    store
        .runtime
        .as_ref()
        .map(|runtime| runtime.handle().clone())
        .ok_or_else(|| StoreError::Backend("the store is closed".into()))
}

/// `(link, value)` pairs as two arrays, for `unnest`.
fn key_arrays(keys: &[OrgKey]) -> (Vec<i32>, Vec<String>) {
    keys.iter()
        .map(|(link, value)| (i32::from(*link), value.clone()))
        .unzip()
}

/// Users holding keys, as [`OrgTx::holders`] gives them: `(holder, key)`.
type Holders = Vec<(String, OrgKey)>;

/// The index of one tenant in one transaction.
struct PgOrg<'a> {
    handle: &'a Handle,
    client: &'a Client,
    tenant: &'a TenantId,
    /// Statements sent with the next one whose answer is awaited.
    queue: Queue<'a>,
    /// Whether a transaction was begun and not yet ended.
    open: bool,
    /// A user this transaction creates: it has no rows in the index.
    fresh: Option<String>,
    /// The advisory locks this transaction holds (taken once).
    locked: std::collections::BTreeSet<i64>,
    /// Read ahead by a create, in the round trip that begins it: the tenant's signature,
    /// and the holders of the keys it names (the keys, then the holders).
    signature_read: Option<Option<String>>,
    holders_read: Option<(Vec<OrgKey>, Holders)>,
    /// Whether each holder read here may read its reports (`reads_reports`).
    holders_reads: std::collections::HashMap<String, bool>,
    /// The written user's `reads_reports`: as stored (read with its place), as noted.
    stored_reads: Option<(String, bool)>,
    noted_reads: Option<(String, bool)>,
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

impl<'a> PgOrg<'a> {
    fn new(handle: &'a Handle, client: &'a Client, tenant: &'a TenantId, exclusive: bool) -> Self {
        PgOrg {
            handle,
            client,
            tenant,
            queue: Queue::default(),
            open: false,
            fresh: None,
            locked: std::collections::BTreeSet::new(),
            signature_read: None,
            holders_read: None,
            holders_reads: std::collections::HashMap::new(),
            stored_reads: None,
            noted_reads: None,
            failure: None,
            exclusive,
            needs_exclusive: false,
            moved: false,
        }
    }

    fn record<T>(&mut self, outcome: Result<T, Failure>) -> Result<T, StoreError> {
        match outcome {
            Ok(value) => Ok(value),
            Err(Failure::Store(error)) => Err(error),
            Err(Failure::Db(error)) => {
                let described = db_error_of(&error);
                self.failure = Some(error);
                Err(described)
            }
        }
    }

    /// Runs `step` after every queued statement (it may send several in turn).
    fn run<T>(&mut self, step: impl Future<Output = Result<T, Failure>>) -> Result<T, StoreError> {
        self.flush()?;
        let outcome = self.handle.block_on(step);
        self.record(outcome)
    }

    /// `sql` prepared on this connection (cached after its first use: no round trip).
    fn prepare(&mut self, sql: &str) -> Result<tokio_postgres::Statement, StoreError> {
        let client = self.client;
        let outcome = self
            .handle
            .block_on(async move { client.prepare_cached(sql).await });
        self.record(outcome.map_err(Failure::Db))
    }

    /// Queues `sql`, whose answer nobody needs: it is sent with the next statement awaited.
    fn queue(&mut self, sql: &str, params: Vec<Param>) -> Result<(), StoreError> {
        let statement = self.prepare(sql)?;
        self.queue.push(self.client, statement, params, false);
        Ok(())
    }

    /// The rows of `sql`, sent after every queued statement, in the same round trip.
    fn fetch(
        &mut self,
        sql: &str,
        params: Vec<Param>,
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let mut answers = self.fetch_all(vec![(sql, params)])?;
        Ok(answers.pop().unwrap_or_default())
    }

    /// The rows of each of `statements`, sent in order after every queued statement, in
    /// the same round trip.
    fn fetch_all(
        &mut self,
        statements: Vec<(&str, Vec<Param>)>,
    ) -> Result<Vec<Vec<tokio_postgres::Row>>, StoreError> {
        for (sql, params) in statements {
            let statement = self.prepare(sql)?;
            self.queue.push(self.client, statement, params, true);
        }
        let outcome = self.handle.block_on(self.queue.flush());
        self.record(outcome.map_err(Failure::Db))
    }

    /// Sends every queued statement and waits for their answers.
    fn flush(&mut self) -> Result<(), StoreError> {
        if self.queue.is_empty() {
            return Ok(());
        }
        let outcome = self.handle.block_on(self.queue.flush());
        self.record(outcome.map(drop).map_err(Failure::Db))
    }

    fn tenant(&self) -> Param {
        param(self.tenant.as_str().to_string())
    }

    fn holders_params(&self, keys: &[OrgKey]) -> Vec<Param> {
        let (links, values) = key_arrays(keys);
        vec![self.tenant(), param(links), param(values)]
    }

    /// The rows of [`HOLDERS`] as `(holder, key)`, noting each holder's `reads_reports`.
    fn holders_of(
        &mut self,
        rows: &[tokio_postgres::Row],
    ) -> Result<Vec<(String, OrgKey)>, StoreError> {
        let mut holders = Vec::with_capacity(rows.len());
        for row in rows {
            let id: String = row.try_get(0).map_err(db_error)?;
            let link: i32 = row.try_get(1).map_err(db_error)?;
            let value: String = row.try_get(2).map_err(db_error)?;
            let reads: bool = row.try_get(3).map_err(db_error)?;
            // Every row of a user says the same; `true` wins should they not.
            *self.holders_reads.entry(id.clone()).or_insert(reads) |= reads;
            holders.push((id, (u16::try_from(link).unwrap_or(u16::MAX), value)));
        }
        Ok(holders)
    }

    /// What a create asks first, read in the round trip that begins it: its keys locked
    /// (all of them: it has no old ones), the tenant's signature, and the holders of the
    /// keys it names. Each is read after the locks it needs, as `write_prepared` would.
    fn read_ahead(&mut self, place: &OrgPlace) -> Result<(), StoreError> {
        let mut touched: Vec<OrgKey> = place.keys.iter().chain(&place.manager).cloned().collect();
        touched.sort();
        touched.dedup();
        self.lock_keys(&touched)?;
        let mut statements = vec![(SIGNATURE, vec![self.tenant()])];
        if !place.manager.is_empty() {
            statements.push((HOLDERS, self.holders_params(&place.manager)));
        }
        let mut answers = self.fetch_all(statements)?.into_iter();
        let signature = signature_of(&answers.next().unwrap_or_default())?;
        self.signature_read = Some(signature);
        if let Some(rows) = answers.next() {
            let holders = self.holders_of(&rows)?;
            self.holders_read = Some((place.manager.clone(), holders));
        }
        Ok(())
    }

    /// Begins the transaction (`begin`: `BEGIN` and its options), sent with what follows.
    fn begin(&mut self, begin: &str) -> Result<(), StoreError> {
        self.queue(begin, Vec::new())?;
        self.open = true;
        Ok(())
    }

    /// Commits, with whatever is still queued: the transaction is over either way (a
    /// create written in one round trip committed already).
    fn commit(&mut self) -> Result<(), StoreError> {
        if !self.open {
            return Ok(());
        }
        self.queue("COMMIT", Vec::new())?;
        let outcome = self.flush();
        self.open = false;
        outcome
    }

    /// Rolls back a transaction that failed (nothing queued is sent): whether the
    /// connection is clean again.
    fn rollback(&mut self) -> bool {
        if !self.open {
            return true;
        }
        self.queue = Queue::default();
        let failure = self.failure.take();
        let clean = self.fetch("ROLLBACK", Vec::new()).is_ok();
        self.failure = failure;
        self.open = !clean;
        clean
    }
}

/// A pooled connection lent to transactions begun by statements: if one is left open (a
/// connection lost, a rollback that failed), the connection leaves the pool instead of
/// going back to it mid-transaction.
struct Lent {
    client: Option<Client>,
    clean: std::cell::Cell<bool>,
}

impl Lent {
    fn client(&self) -> Result<&Client, StoreError> {
        self.client
            .as_ref()
            .ok_or_else(|| StoreError::Backend("the connection was lost".into()))
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        if let (false, Some(client)) = (self.clean.get(), self.client.take()) {
            // Out of the pool: dropped here, it closes, and PostgreSQL rolls back.
            drop(deadpool_postgres::Object::take(client));
        }
    }
}

impl OrgTx for PgOrg<'_> {
    fn signature(&mut self) -> Result<Option<String>, StoreError> {
        if let Some(read) = self.signature_read.take() {
            return Ok(read);
        }
        let rows = self.fetch(SIGNATURE, vec![self.tenant()])?;
        signature_of(&rows)
    }

    fn reset(&mut self, signature: &str) -> Result<(), StoreError> {
        if !self.exclusive {
            self.needs_exclusive = true;
            return Err(StoreError::Backend(
                "the organisation index is rebuilt under the tenant's exclusive lock".into(),
            ));
        }
        self.fresh = None;
        self.holders_read = None;
        self.queue(
            "DELETE FROM org_refs WHERE tenant = $1",
            vec![self.tenant()],
        )?;
        self.queue(
            "INSERT INTO org_state (tenant, signature) VALUES ($1, $2)
             ON CONFLICT (tenant) DO UPDATE SET signature = EXCLUDED.signature",
            vec![self.tenant(), param(signature.to_string())],
        )
    }

    fn users(&mut self, visit: &mut dyn FnMut(&str, &Value)) -> Result<(), StoreError> {
        let mut after = 0i64;
        loop {
            let rows = self.fetch(
                "SELECT id, body, seq FROM resources
                 WHERE tenant = $1 AND kind = 'User' AND seq > $2 ORDER BY seq LIMIT $3",
                vec![self.tenant(), param(after), param(SCAN_CHUNK)],
            )?;
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
        if self.fresh.as_deref() == Some(id) {
            // Its id was made by this transaction: nothing can name it in the index yet.
            return Ok(None);
        }
        // Byte order, as Rust sorts the keys.
        let rows = self.fetch(
            "SELECT role, link, value, counts, display, reads_reports FROM org_refs
             WHERE tenant = $1 AND id = $2 ORDER BY role, link, value COLLATE \"C\"",
            vec![self.tenant(), param(id.to_string())],
        )?;
        let mut place: Option<OrgPlace> = None;
        for row in &rows {
            let reads: bool = row.try_get(5).map_err(db_error)?;
            self.stored_reads = Some((id.to_string(), reads));
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
        self.queue(
            "DELETE FROM org_refs WHERE tenant = $1 AND id = $2",
            vec![self.tenant(), param(id.to_string())],
        )?;
        match place {
            Some(place) => self.add_places(&[(id.to_string(), place.clone())]),
            None => Ok(()),
        }
    }

    fn add_places(&mut self, places: &[(String, OrgPlace)]) -> Result<(), StoreError> {
        let noted = self.noted_reads.clone();
        let reads_reports = |id: &str| match &noted {
            Some((noted, flag)) if noted == id => *flag,
            _ => true,
        };
        match places_params(self.tenant(), places, reads_reports) {
            Some(params) => self.queue(INSERT_PLACES, params),
            None => Ok(()),
        }
    }

    fn holders(&mut self, keys: &[OrgKey]) -> Result<Vec<(String, OrgKey)>, StoreError> {
        match self.holders_read.take() {
            // Read ahead under the same locks: nobody else can have changed them.
            Some((read, holders)) if read == keys => return Ok(holders),
            _ => {}
        }
        let rows = self.fetch(HOLDERS, self.holders_params(keys))?;
        self.holders_of(&rows)
    }

    fn managers(&mut self, visit: &mut ManagerRowFn<'_>) -> Result<(), StoreError> {
        let rows = self.fetch(
            "SELECT id, link, value, counts FROM org_refs WHERE tenant = $1 AND role = 1",
            vec![self.tenant()],
        )?;
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
        let rows = self.fetch(
            &format!("SELECT COUNT(DISTINCT id) FROM ({REPORTERS}) AS o"),
            vec![self.tenant(), param(links.clone()), param(values.clone())],
        )?;
        let count: i64 = match rows.first() {
            Some(row) => row.try_get(0).map_err(db_error)?,
            None => 0,
        };
        if keep > 0 && count > 0 {
            // Oldest user first, as a pass over the users in order lists them.
            let rows = self.fetch(
                &format!(
                    "SELECT o.display FROM ({REPORTERS}) AS o JOIN resources AS r
                        ON r.tenant = $1 AND r.kind = 'User' AND r.id = o.id
                     ORDER BY r.seq LIMIT $4"
                ),
                vec![self.tenant(), param(links), param(values), param(keep)],
            )?;
            for row in rows {
                reports
                    .people
                    .push(row.try_get::<_, String>(0).map_err(db_error)?);
            }
        }
        reports.count = u64::try_from(count).unwrap_or(0);
        Ok(reports)
    }

    fn reports_of_user(&mut self, id: &str) -> Result<u64, StoreError> {
        let rows = self.fetch(
            "SELECT COUNT(DISTINCT r.id) FROM org_refs AS k JOIN org_refs AS r
               ON r.tenant = k.tenant AND r.role = 1 AND r.link = k.link
              AND r.value = k.value AND r.counts
             WHERE k.tenant = $1 AND k.id = $2 AND k.role = 0",
            vec![self.tenant(), param(id.to_string())],
        )?;
        let count: i64 = match rows.first() {
            Some(row) => row.try_get(0).map_err(db_error)?,
            None => 0,
        };
        Ok(u64::try_from(count).unwrap_or(0))
    }

    fn user(&mut self, id: &str) -> Result<Option<(Value, Option<ProfileRecord>)>, StoreError> {
        let rows = self.fetch(
            "SELECT body, profile FROM resources WHERE tenant = $1 AND kind = 'User' AND id = $2
             FOR UPDATE",
            vec![self.tenant(), param(id.to_string())],
        )?;
        let Some(row) = rows.first() else {
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
        self.queue(
            "UPDATE resources SET profile = $3 WHERE tenant = $1 AND kind = 'User' AND id = $2",
            vec![self.tenant(), param(id.to_string()), param(text)],
        )
    }

    fn lock_user(&mut self, id: &str) -> Result<(), StoreError> {
        self.queue(
            "SELECT 1 FROM resources WHERE tenant = $1 AND kind = 'User' AND id = $2
             FOR UPDATE",
            vec![self.tenant(), param(id.to_string())],
        )
    }

    fn note_reads_reports(&mut self, id: &str, reads: bool) -> Result<(), StoreError> {
        self.noted_reads = Some((id.to_string(), reads));
        match &self.stored_reads {
            // Rows that stay as they are keep what they say unless it changed.
            Some((stored, flag)) if stored == id && *flag != reads => self.queue(
                "UPDATE org_refs SET reads_reports = $3 WHERE tenant = $1 AND id = $2",
                vec![self.tenant(), param(id.to_string()), param(reads)],
            ),
            _ => Ok(()),
        }
    }

    fn reads_reports(&mut self, id: &str) -> Result<bool, StoreError> {
        Ok(self.holders_reads.get(id).copied().unwrap_or(true))
    }

    fn lock_keys(&mut self, keys: &[OrgKey]) -> Result<(), StoreError> {
        let ids = key_locks(self.tenant, keys);
        lock_all(self, ids)
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
/// so two cannot each hold what the other waits for), in one statement (queued).
fn lock_all(org: &mut PgOrg<'_>, mut ids: Vec<i64>) -> Result<(), StoreError> {
    ids.sort_unstable();
    ids.dedup();
    // Held already (a create's keys, locked as it began): never taken out of order.
    ids.retain(|id| !org.locked.contains(id));
    org.locked.extend(ids.iter().copied());
    if ids.is_empty() {
        return Ok(());
    }
    // `unnest` yields the array in its order, and each row's lock is taken as it is yielded.
    org.queue(
        "SELECT pg_advisory_xact_lock(k) FROM unnest($1::int8[]) AS k",
        vec![param(ids)],
    )
}

/// `write` as a batched create of a new user (batch.rs), with the profile it is written
/// with; `None` where that profile reads its count (the general path counts).
pub(super) fn batched_create(
    tenant: &TenantId,
    rules: &dyn OrgRules,
    write: &super::super::Write,
) -> Result<Option<(batch::Create, ProfileRecord)>, StoreError> {
    let id = super::new_id();
    let prepared = graph::prepare(rules, &id, &write.body);
    let Some(profile) = prepared.settled() else {
        return Ok(None);
    };
    let row = Row::of(write, &Some(profile.clone()))?;
    let create = batch::Create {
        tenant: tenant.clone(),
        signature: rules.signature(),
        id: id.clone(),
        stamp: now(),
        place: prepared.place().clone(),
        unique_key: write.unique_key.clone(),
        body: row.body,
        profile: row.profile,
        keys: super::key_arrays(Kind::User, &write.body),
    };
    Ok(Some((create, profile.clone())))
}

/// [`super::super::ResourceStore::queue_user_create`]: a create whose profile the rules
/// settled without its count, committed with the creates beside it (batch.rs), answered
/// with no thread waiting. A create the batch path cannot take (its profile reads its
/// count, or its tenant's creates were refused lately) is given back at once (`Err`); one
/// its batch refused (the index is not current, or a manager it names reads its count),
/// once it is answered ([`Created::GivenBack`]): the general path, which counts, writes
/// those.
pub(super) fn queue_create(
    store: &PostgresStore,
    tenant: &TenantId,
    rules: &dyn OrgRules,
    write: super::super::Write,
) -> Result<Queued<Created>, Box<super::super::Write>> {
    let Ok(runtime) = handle(store) else {
        return Err(Box::new(write));
    };
    if !store.slow_creates.try_at_once(tenant) {
        return Err(Box::new(write));
    }
    let (create, profile) = match batched_create(tenant, rules, &write) {
        Ok(Some(batched)) => batched,
        Ok(None) => return Err(Box::new(write)),
        Err(error) => return Ok(Queued::answered(Err(error))),
    };
    let (queued, reply) = Queued::new();
    let (id, stamp) = (create.id.clone(), create.stamp.clone());
    let (slow, freshness, pool) = (
        store.slow_creates.clone(),
        store.freshness.clone(),
        store.pool.clone(),
    );
    let tenant = tenant.clone();
    let job = batch::Job::replying(create, move |outcome| match outcome {
        batch::Outcome::Written => {
            freshness.created(&pool, &runtime);
            let user = StoredResource::created(id, Kind::User, write.body, stamp, Some(profile));
            reply.answer(Ok(Created::Stored(user)));
        }
        batch::Outcome::Declined { counted } => {
            if counted {
                slow.failed(&tenant);
            }
            reply.answer(Ok(Created::GivenBack(Box::new(write))));
        }
        batch::Outcome::Failed(error) => reply.answer(Err(error)),
    });
    store.batcher.submit(job);
    Ok(queued)
}

/// [`super::super::ResourceStore::write_user`]: one transaction, tried again when
/// PostgreSQL chose it as a deadlock's victim.
pub(super) fn write_user(
    store: &PostgresStore,
    tenant: &TenantId,
    rules: &dyn OrgRules,
    write: UserWrite<'_>,
) -> Result<Option<StoredResource>, StoreError> {
    let handle = handle(store)?;
    // A create goes with a batch where it can, waiting here for its answer.
    let mut write = match write {
        UserWrite::Create(create) => match queue_create(store, tenant, rules, create) {
            Err(given) => UserWrite::Create(*given),
            Ok(queued) => match handle.block_on(queued)? {
                Created::Stored(user) => return Ok(Some(user)),
                Created::GivenBack(given) => UserWrite::Create(*given),
            },
        },
        other => other,
    };
    let lent = Lent {
        client: Some(handle.block_on(store.client())?),
        clean: std::cell::Cell::new(true),
    };
    let (mut attempt, mut exclusive) = (1, false);
    loop {
        let client = lent.client()?;
        let mut org = PgOrg::new(&handle, client, tenant, exclusive);
        lent.clean.set(false);
        let outcome = org
            .begin("BEGIN")
            .and_then(|()| lock_graph(&mut org, exclusive))
            .and_then(|()| write_in(&mut org, rules, &mut write))
            .and_then(|written| org.commit().map(|()| written));
        let clean = org.rollback();
        let (failure, needs_exclusive, moved) =
            (org.failure.take(), org.needs_exclusive, org.moved);
        drop(org);
        lent.clean.set(clean);
        match outcome {
            Ok(written) => {
                if let (UserWrite::Create(_), Some(runtime)) = (&write, &store.runtime) {
                    store.freshness.created(&store.pool, runtime.handle());
                }
                return Ok(written);
            }
            // Rolled back. A rebuild starts over holding the tenant's graph alone (that is
            // no failure: not counted as an attempt).
            Err(_) if clean && needs_exclusive && !exclusive => {
                exclusive = true;
                continue;
            }
            Err(_)
                if clean
                    && (moved || failure.as_ref().is_some_and(retryable))
                    && attempt < ATTEMPTS => {}
            Err(error) => return Err(error),
        }
        attempt += 1;
    }
}

/// The tenant's graph: shared by the writes that keep it, exclusive for a rebuild.
fn lock_graph(org: &mut PgOrg<'_>, exclusive: bool) -> Result<(), StoreError> {
    let sql = if exclusive {
        "SELECT pg_advisory_xact_lock(hashtextextended('canon-org:' || $1, 0))"
    } else {
        "SELECT pg_advisory_xact_lock_shared(hashtextextended('canon-org:' || $1, 0))"
    };
    let tenant = org.tenant();
    org.queue(sql, vec![tenant])
}

/// Holds off every other write of user `id` that keeps the graph until the commit.
fn lock_user(org: &mut PgOrg<'_>, id: &str) -> Result<(), StoreError> {
    let tenant = org.tenant.as_str().as_bytes();
    let lock = lock_id(&[b"user", tenant, id.as_bytes()]);
    lock_all(org, vec![lock])
}

/// The user as stored, read without its row lock (see the module's comment).
fn current(org: &mut PgOrg<'_>, id: &str) -> Result<StoredResource, StoreError> {
    let select =
        format!("SELECT {COLUMNS} FROM resources WHERE tenant = $1 AND kind = 'User' AND id = $2");
    let tenant = org.tenant();
    let rows = org.fetch(&select, vec![tenant, param(id.to_string())])?;
    decode(rows.first().ok_or(StoreError::NotFound)?)
}

/// The resource's keys (keys.rs) made those of `row`: queued.
fn queue_keys(org: &mut PgOrg<'_>, id: &str, row: &Row<'_>, fresh: bool) -> Result<(), StoreError> {
    let kind = Kind::User.as_str();
    if !fresh {
        let tenant = org.tenant();
        org.queue(
            DELETE_KEYS,
            vec![tenant, param(kind), param(id.to_string())],
        )?;
    }
    let (attrs, values) = super::key_arrays(Kind::User, row.body_value);
    if attrs.is_empty() {
        return Ok(());
    }
    let tenant = org.tenant();
    org.queue(
        INSERT_KEYS,
        vec![
            tenant,
            param(kind),
            param(id.to_string()),
            param(attrs),
            param(values),
        ],
    )
}

/// A new user's row and keys: queued (a taken `userName` fails the next statement awaited).
fn insert_user(
    org: &mut PgOrg<'_>,
    id: &str,
    stamp: &str,
    row: &Row<'_>,
) -> Result<(), StoreError> {
    let tenant = org.tenant();
    org.queue(
        INSERT_RESOURCE,
        vec![
            tenant,
            param(Kind::User.as_str()),
            param(id.to_string()),
            param(row.unique_key.clone()),
            param(row.body.clone()),
            param(stamp.to_string()),
            param(row.profile.clone()),
        ],
    )?;
    queue_keys(org, id, row, true)
}

/// A user's row written over `version`, keys too: when it was created.
fn replace_user(
    org: &mut PgOrg<'_>,
    id: &str,
    version: i64,
    stamp: &str,
    row: &Row<'_>,
) -> Result<String, StoreError> {
    let kind = Kind::User.as_str();
    let tenant = org.tenant();
    let rows = org.fetch(
        REPLACE_RESOURCE,
        vec![
            tenant,
            param(kind),
            param(id.to_string()),
            param(version),
            param(row.unique_key.clone()),
            param(row.body.clone()),
            param(stamp.to_string()),
            param(version + 1),
            param(row.profile.clone()),
        ],
    )?;
    let Some(found) = rows.first() else {
        let tenant = org.tenant();
        let exists = org.fetch(
            RESOURCE_EXISTS,
            vec![tenant, param(kind), param(id.to_string())],
        )?;
        return Err(if exists.is_empty() {
            StoreError::NotFound
        } else {
            StoreError::Stale
        });
    };
    let created: String = found.try_get(0).map_err(db_error)?;
    queue_keys(org, id, row, false)?;
    Ok(created)
}

fn write_in(
    org: &mut PgOrg<'_>,
    rules: &dyn OrgRules,
    write: &mut UserWrite<'_>,
) -> Result<Option<StoredResource>, StoreError> {
    let kind = Kind::User;
    match write {
        UserWrite::Create(write) => {
            let (id, stamp) = (super::new_id(), now());
            org.fresh = Some(id.clone());
            // Mapped before the keys it names are locked.
            let prepared = graph::prepare(rules, &id, &write.body);
            org.read_ahead(prepared.place())?;
            let (prepared, body) = (Some(prepared), Some(&write.body));
            let profile =
                graph::write_prepared(org, rules, &id, body, prepared, |org, profile| {
                    let row = Row::of(write, &profile)?;
                    insert_user(org, &id, &stamp, &row)?;
                    Ok(profile)
                })?;
            Ok(Some(StoredResource::created(
                id,
                kind,
                write.body.clone(),
                stamp,
                profile,
            )))
        }
        UserWrite::Replace { id, version, write } => {
            let (id, version, stamp) = (*id, *version, now());
            let prepared = Some(graph::prepare(rules, id, &write.body));
            lock_user(org, id)?;
            let body = Some(&write.body);
            let (created, profile) =
                graph::write_prepared(org, rules, id, body, prepared, |org, profile| {
                    let row = Row::of(write, &profile)?;
                    let created = replace_user(org, id, version, &stamp, &row)?;
                    Ok((created, profile))
                })?;
            Ok(Some(StoredResource {
                id: id.to_string(),
                kind,
                body: write.body.clone(),
                created,
                modified: stamp,
                version: version + 1,
                profile: profile.into(),
            }))
        }
        UserWrite::Update { id, change } => {
            let id = *id;
            lock_user(org, id)?;
            // Every write of this user that keeps the graph waits behind the lock, so what is
            // read stays current; the version check below catches any other.
            let current = current(org, id)?;
            let write = change(&current).ok_or(StoreError::Aborted)?;
            let (stamp, version) = (now(), current.version + 1);
            // Mapped as a create is, before the keys it names are locked.
            let prepared = Some(graph::prepare(rules, id, &write.body));
            let body = Some(&write.body);
            let profile = graph::write_prepared(org, rules, id, body, prepared, |org, profile| {
                let row = Row::of(&write, &profile)?;
                match replace_user(org, id, current.version, &stamp, &row) {
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
            lock_user(org, id)?;
            let (client, tenant) = (org.client, org.tenant);
            graph::write_user(org, rules, id, None, |org, _| {
                org.run(delete_row(client, tenant, kind, id))
            })?;
            Ok(None)
        }
    }
}

/// `body` over the tenant's index in one transaction begun by `begin`, committed.
fn in_transaction<T>(
    store: &PostgresStore,
    tenant: &TenantId,
    begin: &str,
    exclusive: bool,
    body: impl FnOnce(&mut PgOrg<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let handle = handle(store)?;
    let lent = Lent {
        client: Some(handle.block_on(store.client())?),
        clean: std::cell::Cell::new(false),
    };
    let mut org = PgOrg::new(&handle, lent.client()?, tenant, exclusive);
    let outcome = org
        .begin(begin)
        .and_then(|()| body(&mut org))
        .and_then(|answer| org.commit().map(|()| answer));
    let clean = org.rollback();
    drop(org);
    lent.clean.set(clean);
    outcome
}

/// [`crate::store::ResourceStore::org_refresh`]: the tenant's graph held alone (as a write
/// that rebuilds it holds it), the index made current, committed.
pub(super) fn refresh(
    store: &PostgresStore,
    tenant: &TenantId,
    rules: &dyn OrgRules,
) -> Result<(), StoreError> {
    in_transaction(store, tenant, "BEGIN", true, |org| {
        lock_graph(org, true)?;
        graph::ensure_current(org, rules).map(drop)
    })
}

/// `read` over the tenant's index in one read-only snapshot.
fn in_snapshot<T>(
    store: &PostgresStore,
    tenant: &TenantId,
    read: impl FnOnce(&mut PgOrg<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let begin = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";
    in_transaction(store, tenant, begin, false, read)
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
