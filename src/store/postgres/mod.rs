//! The PostgreSQL backend: one database shared by several `canon serve` instances.
//!
//! Driver and pool: tokio-postgres with deadpool-postgres (statements prepared once per
//! connection and cached). Durability is PostgreSQL's: a write is answered after its
//! `COMMIT`, which waits for the WAL flush. PostgreSQL groups concurrent commits into one
//! flush by itself, and most requests keep a transaction of their own; the creates that
//! need no count (most of them) are committed several to a transaction (batch.rs), as
//! SQLite's writer commits its batches.
//!
//! Bridging: [`ResourceStore`] is synchronous, and the SCIM handlers call it on tokio's
//! blocking pool (`scim::state::blocking`); the CLI (`export`, `remap`) calls it with no
//! runtime at all. So the store owns a small runtime of its own, whose two workers drive
//! the connections' sockets, and each call runs its queries with `Handle::block_on` on the
//! caller's thread. That works the same from a blocking-pool thread, the CLI's main thread
//! and a test thread, and never blocks a worker of the server's runtime (calling it from
//! async code directly would: handlers must go through `blocking`).
//!
//! Several instances: the unique key is unique per tenant and kind by an index (a second
//! `userName` fails with `23505`, [`StoreError::Conflict`]); `update` reads the row `FOR
//! UPDATE`, so concurrent updates of one group through any instances queue on the row lock
//! and each closure sees the others' members; `replace` writes only where the version is
//! still the one read; the version lives in the row, so an ETag means the same everywhere.
//! Deadlocks and serialization failures (which PostgreSQL resolves by failing one
//! transaction) are retried.

mod batch;
mod migrations;
mod org;
mod pipeline;
mod registry;
mod statistics;
mod watch;

use std::future::Future;
use std::time::Duration;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

use super::org::{ManagerRowFn, SharedRules, UserWrite};
use super::{
    fold, index_keys, lists_member, memberships_in, now, remove_member, Created, IndexedAttr, Kind,
    Membership, ProfileRecord, Queued, ResourceStore, StoreError, StoredProfile, StoredResource,
    TenantId, UpdateFn, Write,
};

/// Connections per instance: the blocking pool may run many requests at once, PostgreSQL's
/// default `max_connections` is 100, and several instances share it.
const POOL_SIZE: usize = 16;
/// A failed transaction that PostgreSQL chose as a deadlock's victim is tried this often.
const ATTEMPTS: usize = 5;
/// Rows read per round trip by `scan`.
const SCAN_CHUNK: i64 = 500;

pub struct PostgresStore {
    pool: Pool,
    /// The registry's generation as notifications and polls tell it (watch.rs).
    watch: std::sync::Arc<watch::Watch>,
    /// Drives the connections; `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
    /// When the resource tables were last analyzed (statistics.rs).
    freshness: std::sync::Arc<statistics::Freshness>,
    /// Tenants whose creates last failed to be written in one round trip, and when
    /// (org.rs): they take the round trips of the general path for a while.
    slow_creates: std::sync::Arc<org::SlowCreates>,
    /// Creates that need no count, committed together (batch.rs).
    batcher: batch::Batcher,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which tokio forbids inside async code (a server's
        // state may be dropped there): let it wind down in the background.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A PostgreSQL error as a store error: a unique violation is a conflict, anything else
/// keeps PostgreSQL's code and message.
pub(super) fn db_error(error: tokio_postgres::Error) -> StoreError {
    db_error_of(&error)
}

fn db_error_of(error: &tokio_postgres::Error) -> StoreError {
    match error.as_db_error() {
        Some(db) if *db.code() == SqlState::UNIQUE_VIOLATION => StoreError::Conflict,
        Some(db) => {
            StoreError::Backend(format!("PostgreSQL {}: {}", db.code().code(), db.message()))
        }
        None => StoreError::Backend(format!("PostgreSQL: {error}")),
    }
}

/// Whether PostgreSQL failed the transaction only to let a concurrent one through.
pub(super) fn retryable(error: &tokio_postgres::Error) -> bool {
    matches!(
        error.code(),
        Some(code) if *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::T_R_SERIALIZATION_FAILURE
    )
}

/// What a transaction body fails with: a store error, or a PostgreSQL error (kept whole
/// so a deadlock can be told apart and retried).
pub(super) enum Failure {
    Store(StoreError),
    Db(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(error: tokio_postgres::Error) -> Self {
        Failure::Db(error)
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Failure::Store(error)
    }
}

impl From<Failure> for StoreError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Store(error) => error,
            Failure::Db(error) => db_error(error),
        }
    }
}

const COLUMNS: &str = "id, kind, body, created, modified, version, profile";

pub(super) fn decode(row: &tokio_postgres::Row) -> Result<StoredResource, StoreError> {
    let id: String = row.try_get(0).map_err(db_error)?;
    let kind: String = row.try_get(1).map_err(db_error)?;
    let body: String = row.try_get(2).map_err(db_error)?;
    let profile: Option<String> = row.try_get(6).map_err(db_error)?;
    let body = serde_json::from_str(&body)
        .map_err(|e| StoreError::Backend(format!("stored body of {id}: {e}")))?;
    Ok(StoredResource {
        kind: if kind == "Group" {
            Kind::Group
        } else {
            Kind::User
        },
        body,
        created: row.try_get(3).map_err(db_error)?,
        modified: row.try_get(4).map_err(db_error)?,
        version: row.try_get(5).map_err(db_error)?,
        profile: StoredProfile::encoded(profile),
        id,
    })
}

fn decode_all(rows: &[tokio_postgres::Row]) -> Result<Vec<StoredResource>, StoreError> {
    rows.iter().map(decode).collect()
}

pub(super) fn encode(value: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(e.to_string()))
}

fn encode_profile(profile: &Option<ProfileRecord>) -> Result<Option<String>, StoreError> {
    profile.as_ref().map(encode).transpose()
}

/// `text` as it appears, JSON-quoted, in a stored body.
fn quoted(text: &str) -> Result<String, StoreError> {
    encode(&text)
}

/// The keys of keys.rs as two parallel arrays (attribute, value), for one `unnest`.
fn key_arrays(kind: Kind, body: &serde_json::Value) -> (Vec<&'static str>, Vec<String>) {
    index_keys(kind, body)
        .into_iter()
        .map(|(attr, value)| (attr.as_str(), value))
        .unzip()
}

pub(super) const DELETE_KEYS: &str = "DELETE FROM keys WHERE tenant = $1 AND kind = $2 AND id = $3";
pub(super) const INSERT_KEYS: &str = "INSERT INTO keys (tenant, kind, attr, value, id)
     SELECT $1, $2, a, v, $3 FROM unnest($4::text[], $5::text[]) AS k(a, v)
     ON CONFLICT DO NOTHING";
pub(super) const INSERT_RESOURCE: &str = "INSERT INTO resources
     (tenant, kind, id, unique_key, body, created, modified, version, profile)
     VALUES ($1, $2, $3, $4, $5, $6, $6, 1, $7)";
/// Written only if the version is still the one read: the check and the write are one
/// statement, under the row's lock.
pub(super) const REPLACE_RESOURCE: &str = "UPDATE resources
     SET unique_key = $5, body = $6, modified = $7, version = $8, profile = $9
     WHERE tenant = $1 AND kind = $2 AND id = $3 AND version = $4
     RETURNING created";
pub(super) const RESOURCE_EXISTS: &str =
    "SELECT 1 FROM resources WHERE tenant = $1 AND kind = $2 AND id = $3";

/// Makes the index hold exactly the body's keys for one resource.
async fn write_keys(
    tx: &impl GenericClient,
    tenant: &TenantId,
    kind: Kind,
    id: &str,
    body: Option<&serde_json::Value>,
    fresh: bool,
) -> Result<(), tokio_postgres::Error> {
    if !fresh {
        let delete = tx.prepare_cached(DELETE_KEYS).await?;
        tx.execute(&delete, &[&tenant.as_str(), &kind.as_str(), &id])
            .await?;
    }
    let Some(body) = body else {
        return Ok(());
    };
    let (attrs, values) = key_arrays(kind, body);
    if attrs.is_empty() {
        return Ok(());
    }
    let insert = tx.prepare_cached(INSERT_KEYS).await?;
    tx.execute(
        &insert,
        &[&tenant.as_str(), &kind.as_str(), &id, &attrs, &values],
    )
    .await?;
    Ok(())
}

/// A resource row as a write stores it, encoded.
pub(super) struct Row<'a> {
    body_value: &'a serde_json::Value,
    unique_key: &'a Option<String>,
    body: String,
    profile: Option<String>,
}

impl<'a> Row<'a> {
    pub(super) fn of(
        write: &'a Write,
        profile: &Option<ProfileRecord>,
    ) -> Result<Row<'a>, StoreError> {
        Ok(Row {
            body_value: &write.body,
            unique_key: &write.unique_key,
            body: encode(&write.body)?,
            profile: encode_profile(profile)?,
        })
    }
}

pub(super) async fn insert_row(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: &TenantId,
    kind: Kind,
    id: &str,
    stamp: &str,
    row: &Row<'_>,
) -> Result<(), Failure> {
    let insert = tx.prepare_cached(INSERT_RESOURCE).await?;
    tx.execute(
        &insert,
        &[
            &tenant.as_str(),
            &kind.as_str(),
            &id,
            row.unique_key,
            &row.body,
            &stamp,
            &row.profile,
        ],
    )
    .await?;
    write_keys(tx, tenant, kind, id, Some(row.body_value), true).await?;
    Ok(())
}

/// The resource, read under its row lock.
pub(super) async fn locked(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: &TenantId,
    kind: Kind,
    id: &str,
) -> Result<StoredResource, Failure> {
    let select = format!(
        "SELECT {COLUMNS} FROM resources WHERE tenant = $1 AND kind = $2 AND id = $3 FOR UPDATE"
    );
    let statement = tx.prepare_cached(&select).await?;
    let row = tx
        .query_opt(&statement, &[&tenant.as_str(), &kind.as_str(), &id])
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(decode(&row)?)
}

/// Writes `row` over resource `id` at `version` (the one after the current), keys too.
pub(super) async fn update_row(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: &TenantId,
    kind: Kind,
    id: &str,
    stamp: &str,
    version: i64,
    row: &Row<'_>,
) -> Result<(), Failure> {
    let statement = tx
        .prepare_cached(
            "UPDATE resources SET unique_key = $4, body = $5, modified = $6, version = $7, profile = $8
             WHERE tenant = $1 AND kind = $2 AND id = $3",
        )
        .await?;
    tx.execute(
        &statement,
        &[
            &tenant.as_str(),
            &kind.as_str(),
            &id,
            row.unique_key,
            &row.body,
            &stamp,
            &version,
            &row.profile,
        ],
    )
    .await?;
    write_keys(tx, tenant, kind, id, Some(row.body_value), false).await?;
    Ok(())
}

/// Writes `row` over resource `id` only if its version is still `version`; its `created`.
pub(super) async fn replace_row(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: &TenantId,
    kind: Kind,
    id: &str,
    version: i64,
    stamp: &str,
    row: &Row<'_>,
) -> Result<String, Failure> {
    let statement = tx.prepare_cached(REPLACE_RESOURCE).await?;
    let next = version + 1;
    let found = tx
        .query_opt(
            &statement,
            &[
                &tenant.as_str(),
                &kind.as_str(),
                &id,
                &version,
                row.unique_key,
                &row.body,
                &stamp,
                &next,
                &row.profile,
            ],
        )
        .await?;
    let Some(found) = found else {
        let exists = tx.prepare_cached(RESOURCE_EXISTS).await?;
        let found = tx
            .query_opt(&exists, &[&tenant.as_str(), &kind.as_str(), &id])
            .await?;
        return Err(if found.is_some() {
            StoreError::Stale
        } else {
            StoreError::NotFound
        }
        .into());
    };
    write_keys(tx, tenant, kind, id, Some(row.body_value), false).await?;
    Ok(found.try_get::<_, String>(0)?)
}

/// Deletes resource `id` and takes it out of the `members` of every group of the tenant.
pub(super) async fn delete_row(
    tx: &impl GenericClient,
    tenant: &TenantId,
    kind: Kind,
    id: &str,
) -> Result<(), Failure> {
    let needle = quoted(id)?;
    let statement = tx
        .prepare_cached("DELETE FROM resources WHERE tenant = $1 AND kind = $2 AND id = $3")
        .await?;
    if tx
        .execute(&statement, &[&tenant.as_str(), &kind.as_str(), &id])
        .await?
        == 0
    {
        return Err(StoreError::NotFound.into());
    }
    write_keys(tx, tenant, kind, id, None, false).await?;
    // Groups locked in creation order, as every delete locks them: two deletes cannot wait
    // on each other.
    let statement = tx
        .prepare_cached(
            "SELECT id, body FROM resources
             WHERE tenant = $1 AND kind = 'Group' AND strpos(body, $2) > 0
             ORDER BY seq FOR UPDATE",
        )
        .await?;
    let groups = tx.query(&statement, &[&tenant.as_str(), &needle]).await?;
    let stamp = now();
    let write = tx
        .prepare_cached(
            "UPDATE resources SET body = $3, modified = $4, version = version + 1
             WHERE tenant = $1 AND kind = 'Group' AND id = $2",
        )
        .await?;
    for group in groups {
        let (group_id, body): (String, String) = (group.try_get(0)?, group.try_get(1)?);
        let mut body: serde_json::Value = serde_json::from_str(&body)
            .map_err(|e| StoreError::Backend(format!("stored body of {group_id}: {e}")))?;
        if !remove_member(&mut body, id) {
            continue;
        }
        tx.execute(
            &write,
            &[&tenant.as_str(), &group_id, &encode(&body)?, &stamp],
        )
        .await?;
    }
    Ok(())
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`) and
    /// applies pending migrations.
    pub fn open(url: &str) -> Result<PostgresStore, StoreError> {
        let config: tokio_postgres::Config = url.parse().map_err(|e| {
            StoreError::Backend(format!("`{}` is not a PostgreSQL URL: {e}", redact(url)))
        })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("canon-postgres")
            .enable_all()
            .build()
            .map_err(|e| {
                StoreError::Backend(format!("cannot start the PostgreSQL runtime: {e}"))
            })?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(Duration::from_secs(10)))
            .wait_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(|e| StoreError::Backend(format!("cannot build the PostgreSQL pool: {e}")))?;
        let batcher = batch::Batcher::start(&runtime, &pool);
        let store = PostgresStore {
            batcher,
            pool,
            watch: std::sync::Arc::default(),
            runtime: Some(runtime),
            freshness: std::sync::Arc::default(),
            slow_creates: std::sync::Arc::default(),
        };
        store.block_on(migrations::apply(&store.pool))?;
        if let Some(runtime) = &store.runtime {
            watch::spawn_listener(runtime, config, store.watch.clone());
        }
        Ok(store)
    }

    fn block_on<T>(
        &self,
        future: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match &self.runtime {
            Some(runtime) => runtime.handle().block_on(future),
            // Only `drop` takes the runtime.
            None => Err(StoreError::Backend("the store is closed".into())),
        }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::Backend(format!("no PostgreSQL connection: {e}")))
    }

    /// Runs `body` in a transaction of a pooled connection, again when PostgreSQL failed it
    /// as a deadlock's victim.
    fn transaction<T>(
        &self,
        mut body: impl AsyncFnMut(&deadpool_postgres::Transaction<'_>) -> Result<T, Failure>,
    ) -> Result<T, StoreError> {
        self.block_on(async {
            let mut client = self.client().await?;
            let mut attempt = 1;
            loop {
                let tx = client.transaction().await.map_err(db_error)?;
                let outcome = match body(&tx).await {
                    Ok(value) => tx.commit().await.map(|()| value).map_err(Failure::Db),
                    Err(failure) => Err(failure),
                };
                match outcome {
                    Ok(value) => return Ok(value),
                    Err(Failure::Db(error)) if retryable(&error) && attempt < ATTEMPTS => {
                        attempt += 1;
                    }
                    Err(failure) => return Err(failure.into()),
                }
            }
        })
    }

    /// One read of rows (no transaction needed: a statement sees one snapshot).
    fn read(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        self.block_on(async {
            let client = self.client().await?;
            let statement = client.prepare_cached(sql).await.map_err(db_error)?;
            client.query(&statement, params).await.map_err(db_error)
        })
    }

    fn read_one(
        &self,
        tenant: &TenantId,
        kind: Kind,
        column: &str,
        value: &str,
    ) -> Result<Option<StoredResource>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM resources WHERE tenant = $1 AND kind = $2 AND {column} = $3"
        );
        let rows = self.read(&sql, &[&tenant.as_str(), &kind.as_str(), &value])?;
        rows.first().map(decode).transpose()
    }
}

/// A new resource's id, time-ordered (UUIDv7), as SQLite's: a create's index entries on
/// `id` land on the last pages of each index rather than anywhere, so a commit has fewer
/// pages to write to the WAL (benches/README.md).
pub(super) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The URL without its password, for messages.
pub(super) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl ResourceStore for PostgresStore {
    fn create(
        &self,
        tenant: &TenantId,
        kind: Kind,
        write: Write,
    ) -> Result<StoredResource, StoreError> {
        let id = new_id();
        let stamp = now();
        let row = Row::of(&write, &write.profile)?;
        self.transaction(async |tx| {
            if kind == Kind::User {
                org::forget(tx, tenant).await?;
            }
            insert_row(tx, tenant, kind, &id, &stamp, &row).await
        })?;
        if let Some(runtime) = &self.runtime {
            self.freshness.created(&self.pool, runtime.handle());
        }
        Ok(StoredResource::created(
            id,
            kind,
            write.body,
            stamp,
            write.profile,
        ))
    }

    fn get(
        &self,
        tenant: &TenantId,
        kind: Kind,
        id: &str,
    ) -> Result<Option<StoredResource>, StoreError> {
        self.read_one(tenant, kind, "id", id)
    }

    fn find_unique(
        &self,
        tenant: &TenantId,
        kind: Kind,
        key: &str,
    ) -> Result<Option<StoredResource>, StoreError> {
        self.read_one(tenant, kind, "unique_key", key)
    }

    fn list(&self, tenant: &TenantId, kind: Kind) -> Result<Vec<StoredResource>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM resources WHERE tenant = $1 AND kind = $2 ORDER BY seq");
        decode_all(&self.read(&sql, &[&tenant.as_str(), &kind.as_str()])?)
    }

    fn page(
        &self,
        tenant: &TenantId,
        kind: Kind,
        skip: usize,
        take: usize,
    ) -> Result<(usize, Vec<StoredResource>), StoreError> {
        let (skip, take) = (
            i64::try_from(skip).unwrap_or(i64::MAX),
            i64::try_from(take).unwrap_or(i64::MAX),
        );
        self.block_on(async {
            let mut client = self.client().await?;
            // One snapshot: the count and the page agree.
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(db_error)?;
            let count = tx
                .prepare_cached("SELECT count(*) FROM resources WHERE tenant = $1 AND kind = $2")
                .await
                .map_err(db_error)?;
            let total: i64 = tx
                .query_one(&count, &[&tenant.as_str(), &kind.as_str()])
                .await
                .map_err(db_error)?
                .get(0);
            let sql = format!(
                "SELECT {COLUMNS} FROM resources WHERE tenant = $1 AND kind = $2
                 ORDER BY seq LIMIT $3 OFFSET $4"
            );
            let statement = tx.prepare_cached(&sql).await.map_err(db_error)?;
            let rows = tx
                .query(
                    &statement,
                    &[&tenant.as_str(), &kind.as_str(), &take, &skip],
                )
                .await
                .map_err(db_error)?;
            tx.commit().await.map_err(db_error)?;
            Ok((usize::try_from(total).unwrap_or(0), decode_all(&rows)?))
        })
    }

    fn scan(
        &self,
        tenant: &TenantId,
        kind: Kind,
        visit: &mut dyn FnMut(StoredResource) -> bool,
    ) -> Result<(), StoreError> {
        // Chunks by creation order: no connection or snapshot is held while `visit` runs.
        let sql = format!(
            "SELECT {COLUMNS}, seq FROM resources WHERE tenant = $1 AND kind = $2 AND seq > $3
             ORDER BY seq LIMIT $4"
        );
        let mut after = 0i64;
        loop {
            let rows = self.read(
                &sql,
                &[&tenant.as_str(), &kind.as_str(), &after, &SCAN_CHUNK],
            )?;
            for row in &rows {
                after = row.try_get(7).map_err(db_error)?;
                if !visit(decode(row)?) {
                    return Ok(());
                }
            }
            if i64::try_from(rows.len()).unwrap_or(0) < SCAN_CHUNK {
                return Ok(());
            }
        }
    }

    /// Ids and bodies only, in the chunks [`ResourceStore::scan`] reads: the stored profile
    /// and the times are neither sent nor decoded (benches/README.md).
    fn scan_bodies(
        &self,
        tenant: &TenantId,
        kind: Kind,
        visit: &mut dyn FnMut(String, serde_json::Value) -> bool,
    ) -> Result<(), StoreError> {
        let sql = "SELECT id, body, seq FROM resources WHERE tenant = $1 AND kind = $2
             AND seq > $3 ORDER BY seq LIMIT $4";
        let mut after = 0i64;
        loop {
            let rows = self.read(
                sql,
                &[&tenant.as_str(), &kind.as_str(), &after, &SCAN_CHUNK],
            )?;
            for row in &rows {
                after = row.try_get(2).map_err(db_error)?;
                let id: String = row.try_get(0).map_err(db_error)?;
                let body: &str = row.try_get(1).map_err(db_error)?;
                let body = serde_json::from_str(body)
                    .map_err(|e| StoreError::Backend(format!("stored body of {id}: {e}")))?;
                if !visit(id, body) {
                    return Ok(());
                }
            }
            if i64::try_from(rows.len()).unwrap_or(0) < SCAN_CHUNK {
                return Ok(());
            }
        }
    }

    fn find_by(
        &self,
        tenant: &TenantId,
        kind: Kind,
        attr: IndexedAttr,
        value: &str,
    ) -> Result<Vec<StoredResource>, StoreError> {
        if attr == IndexedAttr::Member {
            // Members are not indexed (keys.rs): the groups whose text holds the id.
            let sql = format!(
                "SELECT {COLUMNS} FROM resources
                 WHERE tenant = $1 AND kind = $2 AND strpos(body, $3) > 0 ORDER BY seq"
            );
            let rows = self.read(&sql, &[&tenant.as_str(), &kind.as_str(), &quoted(value)?])?;
            let mut found = decode_all(&rows)?;
            found.retain(|r| lists_member(&r.body, value));
            return Ok(found);
        }
        let sql = "SELECT r.id, r.kind, r.body, r.created, r.modified, r.version, r.profile
             FROM keys AS k JOIN resources AS r
                ON r.tenant = k.tenant AND r.kind = k.kind AND r.id = k.id
             WHERE k.tenant = $1 AND k.kind = $2 AND k.attr = $3 AND k.value = $4
             ORDER BY r.seq";
        let rows = self.read(
            sql,
            &[
                &tenant.as_str(),
                &kind.as_str(),
                &attr.as_str(),
                &fold(value),
            ],
        )?;
        decode_all(&rows)
    }

    /// The groups whose text holds any of the ids (few members), or every group (many),
    /// then the plain reading of their `members`.
    fn memberships(
        &self,
        tenant: &TenantId,
        members: &[&str],
    ) -> Result<Vec<Membership>, StoreError> {
        const FEW: usize = 32;
        if members.is_empty() {
            return Ok(Vec::new());
        }
        let groups = if members.len() <= FEW {
            let needles = members
                .iter()
                .map(|m| quoted(m))
                .collect::<Result<Vec<_>, _>>()?;
            let sql = format!(
                "SELECT {COLUMNS} FROM resources WHERE tenant = $1 AND kind = 'Group'
                 AND EXISTS (SELECT 1 FROM unnest($2::text[]) AS n WHERE strpos(body, n) > 0)
                 ORDER BY seq"
            );
            decode_all(&self.read(&sql, &[&tenant.as_str(), &needles])?)?
        } else {
            self.list(tenant, Kind::Group)?
        };
        Ok(memberships_in(&groups, members))
    }

    fn update(
        &self,
        tenant: &TenantId,
        kind: Kind,
        id: &str,
        change: &mut UpdateFn<'_>,
    ) -> Result<StoredResource, StoreError> {
        self.transaction(async |tx| {
            // The row lock holds every other instance's update of this resource until the
            // commit: the closure sees the latest version and nothing comes in between.
            let current = locked(tx, tenant, kind, id).await?;
            let write = change(&current).ok_or(StoreError::Aborted)?;
            if kind == Kind::User {
                org::forget(tx, tenant).await?;
            }
            let (stamp, version) = (now(), current.version + 1);
            let row = Row::of(&write, &write.profile)?;
            update_row(tx, tenant, kind, id, &stamp, version, &row).await?;
            Ok(current.rewritten(write.body, write.profile, stamp, version))
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
        let row = Row::of(&write, &write.profile)?;
        let stamp = now();
        let created = self.transaction(async |tx| {
            if kind == Kind::User {
                org::forget(tx, tenant).await?;
            }
            replace_row(tx, tenant, kind, id, version, &stamp, &row).await
        })?;
        Ok(StoredResource {
            id: id.to_string(),
            kind,
            body: write.body,
            created,
            modified: stamp,
            version: version + 1,
            profile: write.profile.into(),
        })
    }

    fn delete(&self, tenant: &TenantId, kind: Kind, id: &str) -> Result<(), StoreError> {
        self.transaction(async |tx| {
            if kind == Kind::User {
                org::forget(tx, tenant).await?;
            }
            delete_row(tx, tenant, kind, id).await
        })
    }

    fn write_user(
        &self,
        tenant: &TenantId,
        rules: &SharedRules,
        write: UserWrite<'_>,
    ) -> Result<Option<StoredResource>, StoreError> {
        org::write_user(self, tenant, rules.as_ref(), write)
    }

    fn queue_user_create(
        &self,
        tenant: &TenantId,
        rules: &SharedRules,
        write: Write,
    ) -> Result<Queued<Created>, Box<Write>> {
        org::queue_create(self, tenant, rules.as_ref(), write)
    }

    fn org_reports(
        &self,
        tenant: &TenantId,
        signature: &str,
        keys: &[crate::eval::org::OrgKey],
        keep: usize,
    ) -> Result<Option<crate::eval::Reports>, StoreError> {
        org::reports(self, tenant, signature, keys, keep)
    }

    fn org_refresh(&self, tenant: &TenantId, rules: &SharedRules) -> Result<bool, StoreError> {
        org::refresh(self, tenant, rules.as_ref())?;
        Ok(true)
    }

    fn org_managers(
        &self,
        tenant: &TenantId,
        signature: &str,
        visit: &mut ManagerRowFn<'_>,
    ) -> Result<bool, StoreError> {
        org::managers(self, tenant, signature, visit)
    }

    fn sessions(&self) -> Option<&dyn crate::store::SessionStore> {
        Some(self)
    }

    fn set_profiles(
        &self,
        tenant: &TenantId,
        profiles: &[(String, ProfileRecord)],
    ) -> Result<(), StoreError> {
        let ids: Vec<&str> = profiles.iter().map(|(id, _)| id.as_str()).collect();
        let texts = profiles
            .iter()
            .map(|(_, profile)| encode(profile))
            .collect::<Result<Vec<_>, _>>()?;
        self.transaction(async |tx| {
            let statement = tx
                .prepare_cached(
                    "UPDATE resources AS r SET profile = p.profile
                     FROM unnest($2::text[], $3::text[]) AS p(id, profile)
                     WHERE r.tenant = $1 AND r.kind = 'User' AND r.id = p.id",
                )
                .await?;
            tx.execute(&statement, &[&tenant.as_str(), &ids, &texts])
                .await?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store on a database of its own, or `None` where no PostgreSQL can be had (never
    /// under `CI=true`: then this fails).
    fn store() -> Option<super::super::testing::TestStore> {
        super::super::testing::fresh_postgres_store().unwrap()
    }

    #[test]
    fn postgres_store_contract() {
        let Some(store) = store() else { return };
        super::super::contract::run(&*store);
    }

    /// A user's write of `body`, unique by its `userName`.
    fn write(body: serde_json::Value) -> Write {
        Write {
            unique_key: body["userName"].as_str().map(str::to_string),
            body,
            profile: None,
        }
    }

    /// Two stores on one database stand for two instances: one `userName` per tenant, and
    /// concurrent updates of one group through both lose no member.
    #[test]
    fn two_instances_share_uniqueness_and_lose_no_member() {
        let Some(url) = super::super::testing::fresh_postgres_database().unwrap() else {
            return;
        };
        let (one, two) = (
            PostgresStore::open(&url).unwrap(),
            PostgresStore::open(&url).unwrap(),
        );
        let acme = TenantId::parse("acme").unwrap();
        let user = |name: &str| Write {
            body: serde_json::json!({"userName": name}),
            unique_key: Some(fold(name)),
            profile: None,
        };
        one.create(&acme, Kind::User, user("Ana")).unwrap();
        assert!(matches!(
            two.create(&acme, Kind::User, user("ANA")),
            Err(StoreError::Conflict)
        ));
        let group = Write {
            body: serde_json::json!({"displayName": "g"}),
            unique_key: None,
            profile: None,
        };
        let group = one.create(&acme, Kind::Group, group).unwrap();
        std::thread::scope(|scope| {
            for n in 0..16 {
                let store = if n % 2 == 0 { &one } else { &two };
                let (acme, id) = (&acme, &group.id);
                scope.spawn(move || {
                    store
                        .update(acme, Kind::Group, id, &mut |current| {
                            let mut body = current.body.clone();
                            let mut members =
                                body["members"].as_array().cloned().unwrap_or_default();
                            members.push(serde_json::json!({"value": format!("m{n}")}));
                            body["members"] = serde_json::Value::Array(members);
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
        let read = two.get(&acme, Kind::Group, &group.id).unwrap().unwrap();
        assert_eq!(read.body["members"].as_array().unwrap().len(), 16);
        assert_eq!(read.version, 17);
        // A second open finds the schema applied and changes nothing.
        drop(PostgresStore::open(&url).unwrap());
    }

    /// Issue 21: reports of one manager written at once through two instances (creates, then
    /// deactivations) each count the others': the manager's stored count is exact after
    /// every round, where two transactions counting past each other would lose some.
    #[test]
    fn two_instances_count_each_others_reports() {
        use crate::store::org::contract::Fake;
        use crate::store::{SharedRules, UserWrite};
        let Some(url) = super::super::testing::fresh_postgres_database().unwrap() else {
            return;
        };
        let (one, two) = (
            PostgresStore::open(&url).unwrap(),
            PostgresStore::open(&url).unwrap(),
        );
        let acme = TenantId::parse("acme").unwrap();
        let rules: SharedRules = std::sync::Arc::new(Fake { flavour: 0 });
        let create = |store: &PostgresStore, name: &str, manager: Option<&str>| {
            let mut body =
                serde_json::json!({"userName": name, "email": format!("{name}@acme.com")});
            if let Some(manager) = manager {
                body["managerEmail"] = serde_json::json!(manager);
            }
            let write = Write {
                body,
                unique_key: Some(name.to_string()),
                profile: None,
            };
            store
                .write_user(&acme, &rules, UserWrite::Create(write))
                .unwrap()
                .unwrap()
        };
        let boss = create(&one, "boss", None);
        let count = || {
            let read = two.get(&acme, Kind::User, &boss.id).unwrap().unwrap();
            read.profile.into_inner().unwrap().fields["reports"].clone()
        };
        let reports: Vec<StoredResource> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..16)
                .map(|n| {
                    let store = if n % 2 == 0 { &one } else { &two };
                    let create = &create;
                    scope.spawn(move || create(store, &format!("r{n}"), Some("boss@acme.com")))
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        assert_eq!(count(), serde_json::json!(16));
        std::thread::scope(|scope| {
            for (n, report) in reports.iter().enumerate().take(10) {
                let store = if n % 2 == 0 { &one } else { &two };
                let (acme, rules) = (&acme, &rules);
                scope.spawn(move || {
                    let mut deactivate = |current: &StoredResource| {
                        let mut body = current.body.clone();
                        body["active"] = serde_json::json!(false);
                        Some(Write {
                            body,
                            unique_key: Some(format!("r{n}")),
                            profile: None,
                        })
                    };
                    let update = UserWrite::Update {
                        id: &report.id,
                        change: &mut deactivate,
                    };
                    store.write_user(acme, rules, update).unwrap();
                });
            }
        });
        assert_eq!(count(), serde_json::json!(6));
    }

    /// Writes of one tenant no longer wait for one lock, so the races the locks must catch
    /// are run here through two instances: the manager created while its reports are, its
    /// reports naming it by two different keys (email, employee number) at once, and the
    /// manager itself rewritten while reports are deactivated. Its stored count is exact
    /// after each round. (Without the dependants' row locks, this failed about every other
    /// run.)
    #[test]
    fn two_instances_count_a_manager_named_two_ways_while_it_is_written() {
        use crate::store::org::contract::Fake;
        use crate::store::{SharedRules, UserWrite};
        let Some(url) = super::super::testing::fresh_postgres_database().unwrap() else {
            return;
        };
        let (one, two) = (
            PostgresStore::open(&url).unwrap(),
            PostgresStore::open(&url).unwrap(),
        );
        const REPORTS: usize = 40;
        let rules: SharedRules = std::sync::Arc::new(Fake { flavour: 0 });
        let boss_body = |title: usize| {
            serde_json::json!({"userName": "boss", "email": "boss@acme.com", "number": "E7",
                "title": format!("t{title}")})
        };
        let report_body = |n: usize, active: bool| {
            let mut body = serde_json::json!({"userName": format!("r{n}"),
                "email": format!("r{n}@acme.com"), "active": active});
            if n.is_multiple_of(2) {
                body["managerEmail"] = serde_json::json!("BOSS@acme.com");
            } else {
                body["managerId"] = serde_json::json!("e7");
            }
            body
        };
        let store_of = |n: usize| if n.is_multiple_of(2) { &one } else { &two };
        for round in 0..6 {
            let tenant = TenantId::parse(&format!("acme{round}")).unwrap();
            let tenant = &tenant;
            let (boss, reports) = std::thread::scope(|scope| {
                let boss = scope.spawn(|| {
                    std::thread::sleep(std::time::Duration::from_millis(5 * round));
                    let create = UserWrite::Create(write(boss_body(0)));
                    one.write_user(tenant, &rules, create).unwrap().unwrap()
                });
                let reports: Vec<_> = (0..REPORTS)
                    .map(|n| {
                        let (rules, write, report_body) = (&rules, &write, &report_body);
                        scope.spawn(move || {
                            let create = UserWrite::Create(write(report_body(n, true)));
                            store_of(n)
                                .write_user(tenant, rules, create)
                                .unwrap()
                                .unwrap()
                        })
                    })
                    .collect();
                let reports: Vec<StoredResource> =
                    reports.into_iter().map(|t| t.join().unwrap()).collect();
                (boss.join().unwrap(), reports)
            });
            let count = || {
                let read = two.get(tenant, Kind::User, &boss.id).unwrap().unwrap();
                read.profile.into_inner().unwrap().fields["reports"].clone()
            };
            assert_eq!(
                count(),
                serde_json::json!(REPORTS),
                "round {round}, creates"
            );
            std::thread::scope(|scope| {
                for (n, report) in reports.iter().enumerate().take(REPORTS - 6) {
                    let (rules, write, report_body) = (&rules, &write, &report_body);
                    scope.spawn(move || {
                        let mut deactivate =
                            |_: &StoredResource| Some(write(report_body(n, false)));
                        let update = UserWrite::Update {
                            id: &report.id,
                            change: &mut deactivate,
                        };
                        store_of(n).write_user(tenant, rules, update).unwrap();
                    });
                }
                for title in 1..4 {
                    let (rules, write, boss_body, boss) = (&rules, &write, &boss_body, &boss);
                    scope.spawn(move || {
                        let mut retitle = |_: &StoredResource| Some(write(boss_body(title)));
                        let update = UserWrite::Update {
                            id: &boss.id,
                            change: &mut retitle,
                        };
                        store_of(title).write_user(tenant, rules, update).unwrap();
                    });
                }
            });
            assert_eq!(
                count(),
                serde_json::json!(6),
                "round {round}, deactivations"
            );
        }
    }

    /// Reports created through two instances while their manager's sent flag is taken out
    /// and put back (its profile reads its count, then not, then does): a write that found
    /// the flag sent skips the count, so the manager's own write must count every report
    /// committed before it, and every later report must see its flag gone. The count is
    /// exact at the end.
    #[test]
    fn two_instances_count_reports_while_the_manager_flag_comes_and_goes() {
        use crate::store::org::contract::{Fake, SENT};
        use crate::store::{SharedRules, UserWrite};
        let Some(url) = super::super::testing::fresh_postgres_database().unwrap() else {
            return;
        };
        let (one, two) = (
            PostgresStore::open(&url).unwrap(),
            PostgresStore::open(&url).unwrap(),
        );
        const REPORTS: usize = 40;
        let rules: SharedRules = std::sync::Arc::new(Fake { flavour: SENT });
        let boss_body = |manages: Option<bool>| {
            let mut body = serde_json::json!({"userName": "boss", "email": "boss@acme.com"});
            if let Some(manages) = manages {
                body["manages"] = serde_json::json!(manages);
            }
            body
        };
        let store_of = |n: usize| if n.is_multiple_of(2) { &one } else { &two };
        for round in 0..4 {
            let tenant = TenantId::parse(&format!("acme{round}")).unwrap();
            let tenant = &tenant;
            let create = UserWrite::Create(write(boss_body(Some(true))));
            let boss = one.write_user(tenant, &rules, create).unwrap().unwrap();
            std::thread::scope(|scope| {
                for n in 0..REPORTS {
                    let (rules, write) = (&rules, &write);
                    scope.spawn(move || {
                        let mut body = serde_json::json!({"userName": format!("r{n}"),
                            "managerEmail": "boss@acme.com"});
                        // Half of them settled without a count: batched (batch.rs), and
                        // refused while the boss's profile reads its count.
                        if n.is_multiple_of(2) {
                            body["manages"] = serde_json::json!(false);
                        }
                        let create = UserWrite::Create(write(body));
                        store_of(n).write_user(tenant, rules, create).unwrap();
                    });
                }
                let (rules, write, boss_body, boss) = (&rules, &write, &boss_body, &boss);
                scope.spawn(move || {
                    for (step, manages) in [None, Some(false), None].into_iter().enumerate() {
                        std::thread::sleep(std::time::Duration::from_millis(2 * round));
                        let mut flag = |_: &StoredResource| Some(write(boss_body(manages)));
                        let update = UserWrite::Update {
                            id: &boss.id,
                            change: &mut flag,
                        };
                        store_of(step).write_user(tenant, rules, update).unwrap();
                    }
                });
            });
            let read = two.get(tenant, Kind::User, &boss.id).unwrap().unwrap();
            assert_eq!(
                read.profile.into_inner().unwrap().fields,
                serde_json::json!({"reports": REPORTS}),
                "round {round}"
            );
        }
    }

    /// A store on a fresh database, and rules under which a sent flag settles a profile
    /// (`None`: no PostgreSQL to test against).
    fn store_with_sent_flags(
    ) -> Option<(super::super::testing::TestStore, crate::store::SharedRules)> {
        use crate::store::org::contract::{Fake, SENT};
        let store = super::super::testing::fresh_postgres_store().unwrap()?;
        let rules: crate::store::SharedRules = std::sync::Arc::new(Fake { flavour: SENT });
        Some((store, rules))
    }

    /// A settled user of `Fake { flavour: SENT }` (its profile reads no count: batched).
    fn settled(name: &str) -> serde_json::Value {
        serde_json::json!({"userName": name, "manages": false, "externalId": format!("x-{name}")})
    }

    /// A create queued without a waiting thread (what the SCIM handlers await): one whose
    /// profile reads its count is given back at once; a settled one is written by a batch;
    /// a taken `userName` fails; one naming a manager whose profile reads its count is
    /// declined by its batch and given back, and the general path writes it and counts; the
    /// tenant's creates then go the general way for a while.
    #[test]
    fn a_queued_create_is_written_refused_or_given_back() {
        use crate::store::{Created, UserWrite};
        let Some((store, rules)) = store_with_sent_flags() else {
            return;
        };
        let acme = TenantId::parse("acme").unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        // The boss's profile reads its count (no flag sent).
        let boss = serde_json::json!({"userName": "boss", "email": "boss@acme.com"});
        let boss = store
            .write_user(&acme, &rules, UserWrite::Create(write(boss)))
            .unwrap()
            .unwrap();
        let queue = |body: serde_json::Value| store.queue_user_create(&acme, &rules, write(body));
        let counted = queue(serde_json::json!({"userName": "c"}));
        assert!(
            counted.is_err(),
            "a profile that reads its count is not batched"
        );
        let settled_answer = |body| match queue(body) {
            Ok(queued) => runtime.block_on(queued),
            Err(_) => panic!("a settled create is queued"),
        };
        let Ok(Created::Stored(u0)) = settled_answer(settled("u0")) else {
            panic!("u0 is written");
        };
        let stored = store.get(&acme, Kind::User, &u0.id).unwrap().unwrap();
        assert_eq!((stored.body, stored.profile), (u0.body, u0.profile));
        assert!(matches!(
            settled_answer(settled("u0")),
            Err(StoreError::Conflict)
        ));
        let mut report = settled("r");
        report["managerEmail"] = serde_json::json!("boss@acme.com");
        let Ok(Created::GivenBack(given)) = settled_answer(report) else {
            panic!("a report of a manager who reads the count is given back");
        };
        let written = store
            .write_user(&acme, &rules, UserWrite::Create(*given))
            .unwrap()
            .unwrap();
        assert_eq!(written.body["userName"], "r");
        let boss = store.get(&acme, Kind::User, &boss.id).unwrap().unwrap();
        assert_eq!(
            boss.profile.into_inner().unwrap().fields,
            serde_json::json!({"reports": 1})
        );
        assert!(
            queue(settled("u1")).is_err(),
            "after a decline for a count, the tenant's creates go the general way"
        );
    }

    /// One batch of creates (batch.rs) in which some fail: a `userName` taken by a committed
    /// user, one taken by a create before it in the batch, a create naming a manager whose
    /// profile reads its count (refused: the general path counts), one in a tenant whose
    /// index is not made (refused). Each is answered for itself; the others are written,
    /// keys and index rows too, in one transaction.
    #[test]
    fn a_batch_of_creates_fails_only_the_creates_that_fail() {
        use crate::store::UserWrite;
        let Some((store, rules)) = store_with_sent_flags() else {
            return;
        };
        let (acme, other) = (
            TenantId::parse("acme").unwrap(),
            TenantId::parse("other").unwrap(),
        );
        // The boss's profile reads its count (no flag sent); ana's does not.
        let boss = serde_json::json!({"userName": "boss", "email": "boss@acme.com"});
        for body in [boss, settled("ana")] {
            let create = UserWrite::Create(write(body));
            store.write_user(&acme, &rules, create).unwrap().unwrap();
        }
        let mut report = settled("r");
        report["managerEmail"] = serde_json::json!("boss@acme.com");
        let creates = [
            (&acme, settled("u0")),
            (&acme, settled("ana")),
            (&acme, settled("u1")),
            (&acme, settled("u1")),
            (&acme, report),
            (&other, settled("v")),
            (&acme, settled("u2")),
        ];
        let (mut ids, mut jobs, mut answers) = (Vec::new(), Vec::new(), Vec::new());
        for (tenant, body) in creates {
            let (create, _) = org::batched_create(tenant, rules.as_ref(), &write(body))
                .unwrap()
                .unwrap();
            ids.push(create.id.clone());
            let (job, answer) = batch::Job::new(create);
            jobs.push(job);
            answers.push(answer);
        }
        store
            .block_on(async {
                batch::commit(&store.pool, jobs).await;
                Ok(())
            })
            .unwrap();
        let outcomes: Vec<String> = answers
            .iter()
            .map(|answer| format!("{:?}", answer.recv().unwrap()))
            .collect();
        assert_eq!(
            outcomes,
            [
                "Written",
                "Failed(Conflict)",
                "Written",
                "Failed(Conflict)",
                "Declined { counted: true }",
                "Declined { counted: false }",
                "Written"
            ]
        );
        let names = |tenant: &TenantId| {
            let mut names: Vec<String> = (store.list(tenant, Kind::User).unwrap().iter())
                .map(|user| user.body["userName"].as_str().unwrap().to_string())
                .collect();
            names.sort();
            names
        };
        assert_eq!(names(&acme), ["ana", "boss", "u0", "u1", "u2"]);
        assert!(names(&other).is_empty());
        let written = vec![ids[0].clone(), ids[2].clone(), ids[6].clone()];
        for (id, name) in written.iter().zip(["u0", "u1", "u2"]) {
            let found = store
                .find_by(
                    &acme,
                    Kind::User,
                    IndexedAttr::ExternalId,
                    &format!("x-{name}"),
                )
                .unwrap();
            assert_eq!(found.len(), 1);
            assert_eq!((&found[0].id, found[0].version), (id, 1));
            let profile = found[0].profile.as_ref().unwrap();
            assert_eq!(profile.fields, serde_json::json!({"manages": false}));
        }
        let rows = store
            .read(
                "SELECT count(DISTINCT r.xmin::text), count(DISTINCT r.id), count(o.id),
                    bool_or(o.reads_reports)
                 FROM resources AS r JOIN org_refs AS o ON o.tenant = r.tenant AND o.id = r.id
                 WHERE r.id = ANY($1)",
                &[&written],
            )
            .unwrap();
        let row = &rows[0];
        // One transaction; each user's index row (its id: no email, no manager), saying its
        // profile reads no count.
        assert_eq!(
            (
                row.get::<_, i64>(0),
                row.get::<_, i64>(1),
                row.get::<_, i64>(2),
                row.get::<_, bool>(3)
            ),
            (1, 3, 3, false)
        );
    }

    /// Creates sent at once through `write_user` share transactions (each its own before),
    /// and each is answered with what was stored.
    #[test]
    fn concurrent_creates_share_commits() {
        use crate::store::UserWrite;
        let Some((store, rules)) = store_with_sent_flags() else {
            return;
        };
        let acme = TenantId::parse("acme").unwrap();
        // The first create makes the tenant's index.
        let first = UserWrite::Create(write(settled("first")));
        store.write_user(&acme, &rules, first).unwrap().unwrap();
        const CREATES: usize = 16;
        let barrier = std::sync::Barrier::new(CREATES);
        let created: Vec<StoredResource> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..CREATES)
                .map(|n| {
                    let (store, rules, acme, barrier) = (&store, &rules, &acme, &barrier);
                    scope.spawn(move || {
                        barrier.wait();
                        let create = UserWrite::Create(write(settled(&format!("u{n}"))));
                        store.write_user(acme, rules, create).unwrap().unwrap()
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        for user in &created {
            let stored = store.get(&acme, Kind::User, &user.id).unwrap().unwrap();
            assert_eq!(
                (
                    &stored.body,
                    stored.version,
                    &stored.created,
                    &stored.profile
                ),
                (&user.body, 1, &user.created, &user.profile)
            );
        }
        let ids: Vec<&str> = created.iter().map(|user| user.id.as_str()).collect();
        let rows = store
            .read(
                "SELECT count(DISTINCT xmin::text) FROM resources WHERE id = ANY($1)",
                &[&ids],
            )
            .unwrap();
        let transactions: i64 = rows[0].get(0);
        assert!(
            transactions < CREATES as i64,
            "{CREATES} creates at once took {transactions} transactions: none were batched"
        );
    }

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redact("postgres://canon:s3cret@db:5432/canon"),
            "postgres://canon:***@db:5432/canon"
        );
        assert_eq!(redact("postgres://db/canon"), "postgres://db/canon");
    }
}
