//! The embedded SQLite backend.
//!
//! Durability: WAL journal with `synchronous = FULL`, so every commit is fsynced to the WAL
//! before the handler answers 2xx: a killed process *and* a power cut lose nothing that was
//! acknowledged (`NORMAL` with WAL survives a killed process but may lose the last commits on
//! power loss, which a provisioning system cannot tell its client about).
//!
//! Concurrency: one writer connection, passed from writer to writer, and group commit:
//! concurrent writes share one transaction (a savepoint each) and one fsync (`writer.rs`);
//! a few reader connections serve reads meanwhile (WAL readers see the last committed
//! state).

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

mod checkpointer;
mod org;
mod writer;
use org::SqliteOrg;
use writer::Writer;
mod registry;

use super::org::{self as graph, ManagerRowFn, SharedRules, UserWrite};
use super::{
    fold, index_keys, lists_member, now, remove_member, Created, IndexedAttr, Kind, Membership,
    ProfileRecord, Queued, ResourceStore, StoreError, StoredProfile, StoredResource, TenantId,
    UpdateFn, Write,
};
use crate::eval::org::OrgKey;
use crate::eval::Reports;

mod sessions;

const READERS: usize = 4;

/// Schema migrations, applied in order on open; `PRAGMA user_version` counts the applied ones.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE resources (
    tenant       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    id           TEXT NOT NULL,
    unique_key   TEXT,
    body         TEXT NOT NULL,
    created      TEXT NOT NULL,
    modified     TEXT NOT NULL,
    version      INTEGER NOT NULL,
    profile      TEXT,
    PRIMARY KEY (tenant, kind, id)
);
CREATE UNIQUE INDEX resources_unique ON resources (tenant, kind, unique_key)
    WHERE unique_key IS NOT NULL;
"#,
    // Issue 19: lists page in the store (`resources_order` is in creation order: an index ends
    // with the rowid), and the attributes IdPs filter on are looked up (`keys`, see keys.rs;
    // filled from the stored bodies by `backfill_keys` when this migration runs).
    r#"
CREATE INDEX resources_order ON resources (tenant, kind);
CREATE TABLE keys (
    tenant  TEXT NOT NULL,
    kind    TEXT NOT NULL,
    attr    TEXT NOT NULL,
    value   TEXT NOT NULL,
    id      TEXT NOT NULL,
    PRIMARY KEY (tenant, kind, attr, value, id)
) WITHOUT ROWID;
CREATE INDEX keys_of ON keys (tenant, kind, id);
"#,
    // Issue 17: the tenant registry (tenants, tokens, rule versions, setup links, activity).
    registry::SCHEMA,
    // Issue 20: console sign-in sessions (store/sessions.rs), shared by every instance.
    r#"
CREATE TABLE sessions (
    id_sha256  TEXT PRIMARY KEY,
    csrf       TEXT NOT NULL,
    who        TEXT NOT NULL,
    created    INTEGER NOT NULL,
    expires    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_expiry ON sessions (expires);
"#,
    // Issue 21: the organisation graph's index (store/org.rs), rebuilt per tenant by the
    // first write that keeps it.
    org::SCHEMA,
    // Issue 18: whether a user's profile read its count of reports (org.rs).
    org::READS_REPORTS,
];

/// The migration that creates `keys`, and must fill it from the bodies already stored.
const KEYS_MIGRATION: usize = 1;

pub struct SqliteStore {
    /// Stops the checkpointer thread when the store is dropped.
    _checkpoints: checkpointer::Stop,
    writer: Writer,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

/// The page size of a new database. A user write changes a row in a dozen indexes whose keys
/// sort at random (userName, emails, the organisation graph's keys), so each commit writes a
/// dozen pages per write to the WAL and fsyncs them; at 2 KiB rather than SQLite's 4 KiB
/// default a batch writes and syncs about half the bytes, while a user's row (body and
/// profile) still fits in one page. store_load: +8–13% creates/s, lookups unchanged
/// (benches/README.md). A database made before keeps its page size.
const NEW_DATABASE_PAGE_SIZE: i64 = 2048;

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(std::time::Duration::from_secs(10))?;
    // Only takes effect before the database's first page is written (below, by WAL mode).
    connection.pragma_update(None, "page_size", NEW_DATABASE_PAGE_SIZE)?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    Ok(connection)
}

fn lock(mutex: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A poisoned lock only means another thread panicked mid-call; SQLite rolled its
    // transaction back, so the connection is still usable.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

const COLUMNS: &str = "id, kind, body, created, modified, version, profile";
/// [`COLUMNS`] of `resources AS r`.
const FOUND_COLUMNS: &str = "r.id, r.kind, r.body, r.created, r.modified, r.version, r.profile";

fn kind_of(text: &str) -> Kind {
    if text == "Group" {
        Kind::Group
    } else {
        Kind::User
    }
}

fn row_to_resource(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredRow> {
    Ok(StoredRow {
        id: row.get(0)?,
        kind: row.get(1)?,
        body: row.get(2)?,
        created: row.get(3)?,
        modified: row.get(4)?,
        version: row.get(5)?,
        profile: row.get(6)?,
    })
}

struct StoredRow {
    id: String,
    kind: String,
    body: String,
    created: String,
    modified: String,
    version: i64,
    profile: Option<String>,
}

impl StoredRow {
    fn decode(self) -> Result<StoredResource, StoreError> {
        let body = serde_json::from_str(&self.body)
            .map_err(|e| StoreError::Backend(format!("stored body of {}: {e}", self.id)))?;
        Ok(StoredResource {
            id: self.id,
            kind: kind_of(&self.kind),
            body,
            created: self.created,
            modified: self.modified,
            version: self.version,
            profile: StoredProfile::encoded(self.profile),
        })
    }
}

fn encode_body(body: &serde_json::Value) -> Result<String, StoreError> {
    serde_json::to_string(body).map_err(|e| StoreError::Backend(e.to_string()))
}

fn encode_profile(profile: &Option<ProfileRecord>) -> Result<Option<String>, StoreError> {
    profile
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Backend(e.to_string()))
}

fn query_one(
    connection: &Connection,
    tenant: &TenantId,
    kind: Kind,
    column: &str,
    value: &str,
) -> Result<Option<StoredResource>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM resources WHERE tenant = ?1 AND kind = ?2 AND {column} = ?3"
    );
    let row = connection
        .prepare_cached(&sql)?
        .query_row(
            params![tenant.as_str(), kind.as_str(), value],
            row_to_resource,
        )
        .optional()?;
    row.map(StoredRow::decode).transpose()
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_restarting(path, checkpointer::RESTART_FRAMES)
    }

    /// [`SqliteStore::open`], the WAL started again once it holds `restart_frames`.
    fn open_restarting(path: &Path, restart_frames: i64) -> Result<SqliteStore, StoreError> {
        let mut writer = open_connection(path)?;
        migrate(&mut writer)?;
        // Checkpoints leave the writer thread: they copy the WAL into the database file and
        // fsync it, which stalled a batch for tens of milliseconds when a commit ran them.
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        // Each write of a batch runs in a savepoint, whose journal of the pages it changes
        // spilled to a temporary file past 64 KiB: a pwrite per page on the writer thread
        // (a tenth of its time in store_load). In memory it is only the savepoint's undo
        // log; the WAL and its fsync at the commit are unchanged, so durability is too.
        writer.pragma_update(None, "temp_store", "MEMORY")?;
        let restart = std::sync::Arc::new(checkpointer::WalRestart::after(restart_frames));
        let checkpoints = checkpointer::start(open_connection(path)?, restart.clone())?;
        let readers = (0..READERS)
            .map(|_| open_connection(path).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SqliteStore {
            _checkpoints: checkpoints,
            writer: Writer::start(writer, restart)?,
            readers,
            next_reader: AtomicUsize::new(0),
        })
    }

    /// A free reader, or (all busy) the next one in turn.
    fn reader(&self) -> MutexGuard<'_, Connection> {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        let count = self.readers.len();
        for offset in 0..count {
            match self.readers[(start + offset) % count].try_lock() {
                Ok(reader) => return reader,
                Err(TryLockError::Poisoned(poisoned)) => return poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        lock(&self.readers[start % count])
    }

    /// `ResourceStore::update` without holding the writer while `change` runs: the resource
    /// is read on a reader and changed on the caller's thread, and the writer writes it only
    /// if its version is still the one read (else it is read and changed again). Handing the
    /// current resource to the caller and waiting for its answer inside the transaction held
    /// every other write back for two thread switches (issue 18: PATCHes under load). After
    /// [`OPTIMISTIC_ATTEMPTS`] lost races the writer holds the transaction across `change`,
    /// as before. The closure may so run more than once, as on PostgreSQL.
    fn update_with(
        &self,
        tenant: &TenantId,
        kind: Kind,
        id: &str,
        change: &mut UpdateFn<'_>,
        apply: impl Fn(&Connection, StoredResource, Write) -> Result<StoredResource, StoreError>
            + Send
            + Sync
            + 'static,
    ) -> Result<StoredResource, StoreError> {
        let apply = std::sync::Arc::new(apply);
        for _ in 0..OPTIMISTIC_ATTEMPTS {
            let current = self.get(tenant, kind, id)?.ok_or(StoreError::NotFound)?;
            let write = change(&current).ok_or(StoreError::Aborted)?;
            let (tenant, id, apply) = (tenant.clone(), id.to_string(), apply.clone());
            let written = self.writer.write(move |tx| {
                // Stale: another write came between the read and this one.
                created_at(tx, &tenant, kind, &id, current.version)?;
                apply(tx, current, write)
            });
            match written {
                Err(StoreError::Stale) => continue,
                written => return written,
            }
        }
        let (read_tenant, read_id) = (tenant.clone(), id.to_string());
        self.writer.update(
            move |tx| {
                query_one(tx, &read_tenant, kind, "id", &read_id)?.ok_or(StoreError::NotFound)
            },
            change,
            move |tx, current, write| apply(tx, current, write),
        )
    }
}

/// How often [`SqliteStore::update_with`] reads and changes a resource beside the writer
/// before it holds the writer across the change.
const OPTIMISTIC_ATTEMPTS: usize = 3;

fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let applied: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let applied = usize::try_from(applied).unwrap_or(0);
    if applied > MIGRATIONS.len() {
        return Err(StoreError::Backend(format!(
            "the database has schema version {applied}, newer than this canon knows ({})",
            MIGRATIONS.len()
        )));
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
        tx.execute_batch(migration)?;
        if index == KEYS_MIGRATION {
            backfill_keys(&tx)?;
        }
        tx.pragma_update(None, "user_version", index + 1)?;
    }
    tx.commit()?;
    Ok(())
}

/// The keys of every stored resource (computed by `index_keys`, as every write does).
fn backfill_keys(tx: &Connection) -> Result<(), StoreError> {
    let mut rows = tx.prepare("SELECT tenant, kind, id, body FROM resources")?;
    let mut insert = tx.prepare(
        "INSERT OR IGNORE INTO keys (tenant, kind, attr, value, id) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut found = rows.query([])?;
    while let Some(row) = found.next()? {
        let (tenant, kind, id, body): (String, String, String, String) =
            (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
        let body = serde_json::from_str(&body)
            .map_err(|e| StoreError::Backend(format!("stored body of {id}: {e}")))?;
        for (attr, value) in index_keys(kind_of(&kind), &body) {
            insert.execute(params![tenant, kind, attr.as_str(), value, id])?;
        }
    }
    Ok(())
}

/// Makes the index hold exactly `keys` for a resource: the rows it has are read and only
/// the difference is written, so a PATCH of one member of a big group writes one row.
fn write_keys(
    tx: &Connection,
    tenant: &TenantId,
    kind: Kind,
    id: &str,
    keys: &[(IndexedAttr, String)],
) -> Result<(), StoreError> {
    let mut wanted: HashSet<(String, String)> = keys
        .iter()
        .map(|(a, v)| (a.as_str().to_string(), v.clone()))
        .collect();
    let mut stale = Vec::new();
    {
        let mut statement = tx.prepare_cached(
            "SELECT attr, value FROM keys WHERE tenant = ?1 AND kind = ?2 AND id = ?3",
        )?;
        let mut rows = statement.query(params![tenant.as_str(), kind.as_str(), id])?;
        while let Some(row) = rows.next()? {
            let key: (String, String) = (row.get(0)?, row.get(1)?);
            if !wanted.remove(&key) {
                stale.push(key);
            }
        }
    }
    let mut delete = tx.prepare_cached(
        "DELETE FROM keys WHERE tenant = ?1 AND kind = ?2 AND attr = ?3 AND value = ?4 AND id = ?5",
    )?;
    for (attr, value) in &stale {
        delete.execute(params![tenant.as_str(), kind.as_str(), attr, value, id])?;
    }
    let mut insert = tx.prepare_cached(
        "INSERT INTO keys (tenant, kind, attr, value, id) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (attr, value) in wanted {
        insert.execute(params![tenant.as_str(), kind.as_str(), attr, value, id])?;
    }
    Ok(())
}

/// `text` as it appears, JSON-quoted, in a stored body.
fn quoted(text: &str) -> Result<String, StoreError> {
    encode_body(&serde_json::Value::from(text))
}

fn decode_rows(
    statement: &mut rusqlite::CachedStatement<'_>,
    params: impl rusqlite::Params,
) -> Result<Vec<StoredResource>, StoreError> {
    let rows = statement.query_map(params, row_to_resource)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row?.decode()?);
    }
    Ok(out)
}

/// A resource row as a write stores it, encoded.
struct Row<'a> {
    unique_key: &'a Option<String>,
    body: &'a str,
    profile: &'a Option<String>,
    keys: &'a [(IndexedAttr, String)],
}

fn insert_row(
    tx: &Connection,
    tenant: &TenantId,
    kind: Kind,
    id: &str,
    stamp: &str,
    row: &Row<'_>,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO resources (tenant, kind, id, unique_key, body, created, modified, version, profile)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, 1, ?7)",
    )?
    .execute(params![
        tenant.as_str(),
        kind.as_str(),
        id,
        row.unique_key,
        row.body,
        stamp,
        row.profile
    ])?;
    // A new id has no keys yet: only inserts (the writer thread is the bottleneck).
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO keys (tenant, kind, attr, value, id) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (attr, value) in row.keys {
        insert.execute(params![
            tenant.as_str(),
            kind.as_str(),
            attr.as_str(),
            value,
            id
        ])?;
    }
    Ok(())
}

/// Writes `row` over resource `id` at `version` (the one after the current), keys too.
fn update_row(
    tx: &Connection,
    tenant: &TenantId,
    kind: Kind,
    id: &str,
    stamp: &str,
    version: i64,
    row: &Row<'_>,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE resources SET unique_key = ?4, body = ?5, modified = ?6, version = ?7, profile = ?8
         WHERE tenant = ?1 AND kind = ?2 AND id = ?3",
    )?
    .execute(params![
        tenant.as_str(),
        kind.as_str(),
        id,
        row.unique_key,
        row.body,
        stamp,
        version,
        row.profile
    ])?;
    write_keys(tx, tenant, kind, id, row.keys)
}

/// A new resource's id: a UUID, version 7 (time-ordered), not 4 (random). Every index on
/// `id` (the resources' primary key, `keys_of`, `org_refs_of`, the index rows naming a user
/// by id) then grows at its end, so the writes of a batch share their last pages, and each
/// commit (one fsync of the WAL) writes fewer of them: 48 WAL frames a commit against 76 in
/// issue 18's bench, creates 12–17% faster (benches/README.md). The id tells when the
/// resource was made, which `meta.created` says anyway.
fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The `created` stamp of resource `id` if its version is still `version`:
/// [`StoreError::Stale`] if not, [`StoreError::NotFound`] if it is gone.
fn created_at(
    tx: &Connection,
    tenant: &TenantId,
    kind: Kind,
    id: &str,
    version: i64,
) -> Result<String, StoreError> {
    let current: Option<(i64, String)> = tx
        .prepare_cached(
            "SELECT version, created FROM resources WHERE tenant = ?1 AND kind = ?2 AND id = ?3",
        )?
        .query_row(params![tenant.as_str(), kind.as_str(), id], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    match current {
        None => Err(StoreError::NotFound),
        Some((stored, _)) if stored != version => Err(StoreError::Stale),
        Some((_, created)) => Ok(created),
    }
}

/// A new resource's write, everything but its statements done on the caller's thread: the
/// writer thread runs it and answers with the resource as stored.
type CreateOp = Box<dyn FnOnce(&Connection) -> Result<StoredResource, StoreError> + Send>;

/// [`ResourceStore::create`]'s write.
fn plain_create(tenant: &TenantId, kind: Kind, write: Write) -> Result<CreateOp, StoreError> {
    let id = new_id();
    let stamp = now();
    let keys = index_keys(kind, &write.body);
    let body = encode_body(&write.body)?;
    let profile = encode_profile(&write.profile)?;
    let tenant = tenant.clone();
    Ok(Box::new(move |tx| {
        if kind == Kind::User {
            org::forget(tx, &tenant)?;
        }
        let row = Row {
            unique_key: &write.unique_key,
            body: &body,
            profile: &profile,
            keys: &keys,
        };
        insert_row(tx, &tenant, kind, &id, &stamp, &row)?;
        Ok(StoredResource::created(
            id,
            kind,
            write.body,
            stamp,
            write.profile,
        ))
    }))
}

/// [`ResourceStore::write_user`]'s write of a new user, mapped here (beside the writer
/// thread every write waits for) as if nobody reported to it yet.
fn user_create(
    tenant: &TenantId,
    rules: &SharedRules,
    write: Write,
) -> Result<CreateOp, StoreError> {
    let kind = Kind::User;
    let id = new_id();
    let stamp = now();
    let keys = index_keys(kind, &write.body);
    let body = encode_body(&write.body)?;
    let prepared = graph::prepare(rules.as_ref(), &id, &write.body);
    let (tenant, rules) = (tenant.clone(), rules.clone());
    Ok(Box::new(move |tx| {
        let mut org = SqliteOrg::new(tx, &tenant);
        let profile = graph::write_prepared(
            &mut org,
            rules.as_ref(),
            &id,
            Some(&write.body),
            Some(prepared),
            |_, profile| {
                let row = Row {
                    unique_key: &write.unique_key,
                    body: &body,
                    profile: &encode_profile(&profile)?,
                    keys: &keys,
                };
                insert_row(tx, &tenant, kind, &id, &stamp, &row)?;
                Ok(profile)
            },
        )?;
        Ok(StoredResource::created(
            id, kind, write.body, stamp, profile,
        ))
    }))
}

impl ResourceStore for SqliteStore {
    fn create(
        &self,
        tenant: &TenantId,
        kind: Kind,
        write: Write,
    ) -> Result<StoredResource, StoreError> {
        self.writer.write(plain_create(tenant, kind, write)?)
    }

    fn queue_create(
        &self,
        tenant: &TenantId,
        kind: Kind,
        write: Write,
    ) -> Result<Queued<StoredResource>, Box<Write>> {
        Ok(match plain_create(tenant, kind, write) {
            Ok(create) => self.writer.submit(create),
            Err(error) => Queued::answered(Err(error)),
        })
    }

    fn queue_user_create(
        &self,
        tenant: &TenantId,
        rules: &SharedRules,
        write: Write,
    ) -> Result<Queued<Created>, Box<Write>> {
        Ok(match user_create(tenant, rules, write) {
            Ok(create) => self
                .writer
                .submit(move |tx| create(tx).map(Created::Stored)),
            Err(error) => Queued::answered(Err(error)),
        })
    }

    fn get(
        &self,
        tenant: &TenantId,
        kind: Kind,
        id: &str,
    ) -> Result<Option<StoredResource>, StoreError> {
        query_one(&self.reader(), tenant, kind, "id", id)
    }

    fn find_unique(
        &self,
        tenant: &TenantId,
        kind: Kind,
        key: &str,
    ) -> Result<Option<StoredResource>, StoreError> {
        query_one(&self.reader(), tenant, kind, "unique_key", key)
    }

    fn list(&self, tenant: &TenantId, kind: Kind) -> Result<Vec<StoredResource>, StoreError> {
        let connection = self.reader();
        let sql = format!(
            "SELECT {COLUMNS} FROM resources WHERE tenant = ?1 AND kind = ?2 ORDER BY rowid"
        );
        let mut statement = connection.prepare_cached(&sql)?;
        decode_rows(&mut statement, params![tenant.as_str(), kind.as_str()])
    }

    fn page(
        &self,
        tenant: &TenantId,
        kind: Kind,
        skip: usize,
        take: usize,
    ) -> Result<(usize, Vec<StoredResource>), StoreError> {
        let mut connection = self.reader();
        // One read transaction: the count and the page see the same state.
        let tx = connection.transaction()?;
        let total: i64 = tx
            .prepare_cached("SELECT count(*) FROM resources WHERE tenant = ?1 AND kind = ?2")?
            .query_row(params![tenant.as_str(), kind.as_str()], |row| row.get(0))?;
        let sql = format!(
            "SELECT {COLUMNS} FROM resources WHERE tenant = ?1 AND kind = ?2
             ORDER BY rowid LIMIT ?3 OFFSET ?4"
        );
        let (take, skip) = (
            i64::try_from(take).unwrap_or(i64::MAX),
            i64::try_from(skip).unwrap_or(i64::MAX),
        );
        let page = decode_rows(
            &mut tx.prepare_cached(&sql)?,
            params![tenant.as_str(), kind.as_str(), take, skip],
        )?;
        Ok((usize::try_from(total).unwrap_or(0), page))
    }

    fn scan(
        &self,
        tenant: &TenantId,
        kind: Kind,
        visit: &mut dyn FnMut(StoredResource) -> bool,
    ) -> Result<(), StoreError> {
        let connection = self.reader();
        let sql = format!(
            "SELECT {COLUMNS} FROM resources WHERE tenant = ?1 AND kind = ?2 ORDER BY rowid"
        );
        let mut statement = connection.prepare_cached(&sql)?;
        let rows = statement.query_map(params![tenant.as_str(), kind.as_str()], row_to_resource)?;
        for row in rows {
            if !visit(row?.decode()?) {
                break;
            }
        }
        Ok(())
    }

    /// Only the id and body columns, the body parsed where SQLite holds it (no copy).
    fn scan_bodies(
        &self,
        tenant: &TenantId,
        kind: Kind,
        visit: &mut dyn FnMut(String, serde_json::Value) -> bool,
    ) -> Result<(), StoreError> {
        let connection = self.reader();
        let mut statement = connection.prepare_cached(
            "SELECT id, body FROM resources WHERE tenant = ?1 AND kind = ?2 ORDER BY rowid",
        )?;
        let mut rows = statement.query(params![tenant.as_str(), kind.as_str()])?;
        while let Some(row) = rows.next()? {
            let id: String = row.get(0)?;
            let text = row
                .get_ref(1)?
                .as_str()
                .map_err(|e| StoreError::Backend(format!("stored body of {id}: {e}")))?;
            let body = serde_json::from_str(text)
                .map_err(|e| StoreError::Backend(format!("stored body of {id}: {e}")))?;
            if !visit(id, body) {
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
        let connection = self.reader();
        if attr == IndexedAttr::Member {
            let sql = format!(
                "SELECT {COLUMNS} FROM resources
                 WHERE tenant = ?1 AND kind = ?2 AND instr(body, ?3) > 0 ORDER BY rowid"
            );
            let mut statement = connection.prepare_cached(&sql)?;
            let quoted = quoted(value)?;
            let mut found = decode_rows(
                &mut statement,
                params![tenant.as_str(), kind.as_str(), quoted],
            )?;
            found.retain(|r| lists_member(&r.body, value));
            return Ok(found);
        }
        // CROSS JOIN keeps the keys as the outer loop: left to itself, SQLite walked the
        // tenant's resources in order and tested each id (40 ms for 100,000 users).
        let sql = format!(
            "SELECT {FOUND_COLUMNS} FROM keys AS k CROSS JOIN resources AS r
                ON r.tenant = k.tenant AND r.kind = k.kind AND r.id = k.id
             WHERE k.tenant = ?1 AND k.kind = ?2 AND k.attr = ?3 AND k.value = ?4
             ORDER BY r.rowid"
        );
        let mut statement = connection.prepare_cached(&sql)?;
        let key = fold(value);
        decode_rows(
            &mut statement,
            params![tenant.as_str(), kind.as_str(), attr.as_str(), key],
        )
    }

    /// A few members (a read, a page of a list): per member, only the groups whose text holds
    /// its id, JSON-quoted, and among them those whose `members` list it (SQLite's
    /// `json_each`). Many members: one pass over every membership of the tenant.
    fn memberships(
        &self,
        tenant: &TenantId,
        members: &[&str],
    ) -> Result<Vec<Membership>, StoreError> {
        const FEW: usize = 32;
        const COLUMNS: &str = "json_extract(m.value, '$.value'), g.id,
            json_extract(g.body, '$.displayName'), g.rowid, m.key
            FROM resources g, json_each(g.body, '$.members') m
            WHERE g.tenant = ?1 AND g.kind = 'Group'";
        type Row = (Option<String>, String, Option<String>, i64, i64);
        let read = |row: &rusqlite::Row<'_>| -> rusqlite::Result<Row> {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        };
        let connection = self.reader();
        let mut rows: Vec<Row> = Vec::new();
        if members.len() <= FEW {
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {COLUMNS} AND instr(g.body, ?2) > 0 AND json_extract(m.value, '$.value') = ?3"
            ))?;
            for member in members {
                let quoted = encode_body(&serde_json::Value::from(*member))?;
                for row in statement.query_map(params![tenant.as_str(), quoted, member], read)? {
                    rows.push(row?);
                }
            }
            // Groups oldest first, members in their list's order: as the single pass reads.
            rows.sort_by_key(|row| (row.3, row.4));
        } else {
            let wanted: std::collections::HashSet<&str> = members.iter().copied().collect();
            let mut statement =
                connection.prepare_cached(&format!("SELECT {COLUMNS} ORDER BY g.rowid, m.key"))?;
            for row in statement.query_map(params![tenant.as_str()], read)? {
                let row = row?;
                if row.0.as_deref().is_some_and(|m| wanted.contains(m)) {
                    rows.push(row);
                }
            }
        }
        Ok(rows
            .into_iter()
            .filter_map(|(member, group, display, _, _)| {
                Some(Membership {
                    member: member?,
                    group,
                    display,
                })
            })
            .collect())
    }

    fn update(
        &self,
        tenant: &TenantId,
        kind: Kind,
        id: &str,
        change: &mut UpdateFn<'_>,
    ) -> Result<StoredResource, StoreError> {
        // Written only over the version the closure saw: no other write comes between.
        let (owned_tenant, owned_id) = (tenant.clone(), id.to_string());
        self.update_with(tenant, kind, id, change, move |tx, current, write| {
            let (tenant, id) = (&owned_tenant, &owned_id);
            if kind == Kind::User {
                org::forget(tx, tenant)?;
            }
            let stamp = now();
            let (body, profile) = (encode_body(&write.body)?, encode_profile(&write.profile)?);
            let keys = index_keys(kind, &write.body);
            let row = Row {
                unique_key: &write.unique_key,
                body: &body,
                profile: &profile,
                keys: &keys,
            };
            let version = current.version + 1;
            update_row(tx, tenant, kind, id, &stamp, version, &row)?;
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
        // Encoded before the writer is taken: it then holds only the version check and the
        // write itself.
        let body = encode_body(&write.body)?;
        let profile = encode_profile(&write.profile)?;
        let keys = index_keys(kind, &write.body);
        let stamp = now();
        let (tenant_owned, id_owned, unique_key) =
            (tenant.clone(), id.to_string(), write.unique_key.clone());
        let stored_stamp = stamp.clone();
        let created = self.writer.write(move |tx| {
            let (tenant, id) = (&tenant_owned, id_owned.as_str());
            let created = created_at(tx, tenant, kind, id, version)?;
            if kind == Kind::User {
                org::forget(tx, tenant)?;
            }
            let row = Row {
                unique_key: &unique_key,
                body: &body,
                profile: &profile,
                keys: &keys,
            };
            update_row(tx, tenant, kind, id, &stored_stamp, version + 1, &row)?;
            Ok(created)
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

    fn write_user(
        &self,
        tenant: &TenantId,
        rules: &SharedRules,
        write: UserWrite<'_>,
    ) -> Result<Option<StoredResource>, StoreError> {
        let (tenant, rules) = (tenant.clone(), rules.clone());
        let kind = Kind::User;
        match write {
            UserWrite::Create(write) => {
                let create = user_create(&tenant, &rules, write)?;
                self.writer.write(create).map(Some)
            }
            UserWrite::Replace { id, version, write } => {
                let stamp = now();
                let keys = index_keys(kind, &write.body);
                let body = encode_body(&write.body)?;
                let (stored_id, stored_stamp, stored_body) =
                    (id.to_string(), stamp.clone(), write.body.clone());
                let unique_key = write.unique_key.clone();
                let prepared = graph::prepare(rules.as_ref(), id, &write.body);
                let (created, profile) = self.writer.write(move |tx| {
                    let created = created_at(tx, &tenant, kind, &stored_id, version)?;
                    let mut org = SqliteOrg::new(tx, &tenant);
                    let (id, tenant) = (&stored_id, &tenant);
                    graph::write_prepared(
                        &mut org,
                        rules.as_ref(),
                        id,
                        Some(&stored_body),
                        Some(prepared),
                        |_, profile| {
                            let row = Row {
                                unique_key: &unique_key,
                                body: &body,
                                profile: &encode_profile(&profile)?,
                                keys: &keys,
                            };
                            update_row(tx, tenant, kind, id, &stored_stamp, version + 1, &row)?;
                            Ok((created, profile))
                        },
                    )
                })?;
                Ok(Some(StoredResource {
                    id: id.to_string(),
                    kind,
                    body: write.body,
                    created,
                    modified: stamp,
                    version: version + 1,
                    profile: profile.into(),
                }))
            }
            UserWrite::Update { id, change } => {
                let owned_id = id.to_string();
                let written_tenant = tenant.clone();
                let tenant = written_tenant.clone();
                self.update_with(
                    &written_tenant,
                    kind,
                    id,
                    change,
                    move |tx, current, write| {
                        let stamp = now();
                        let body = encode_body(&write.body)?;
                        let keys = index_keys(kind, &write.body);
                        let version = current.version + 1;
                        let mut org = SqliteOrg::new(tx, &tenant);
                        let (id, tenant) = (&owned_id, &tenant);
                        let profile = graph::write_user(
                            &mut org,
                            rules.as_ref(),
                            id,
                            Some(&write.body),
                            |_, profile| {
                                let row = Row {
                                    unique_key: &write.unique_key,
                                    body: &body,
                                    profile: &encode_profile(&profile)?,
                                    keys: &keys,
                                };
                                update_row(tx, tenant, kind, id, &stamp, version, &row)?;
                                Ok(profile)
                            },
                        )?;
                        Ok(current.rewritten(write.body, profile, stamp, version))
                    },
                )
                .map(Some)
            }
            UserWrite::Delete { id } => {
                let id = id.to_string();
                self.writer.write(move |tx| {
                    let mut org = SqliteOrg::new(tx, &tenant);
                    graph::write_user(&mut org, rules.as_ref(), &id, None, |_, _| {
                        delete_in(tx, &tenant, kind, &id)
                    })
                })?;
                Ok(None)
            }
        }
    }

    fn org_reports(
        &self,
        tenant: &TenantId,
        signature: &str,
        keys: &[OrgKey],
        keep: usize,
    ) -> Result<Option<Reports>, StoreError> {
        let mut connection = self.reader();
        // One read transaction: the signature and the rows agree.
        let tx = connection.transaction()?;
        let mut org = SqliteOrg::new(&tx, tenant);
        graph::reports_of(&mut org, signature, keys, keep)
    }

    fn org_refresh(&self, tenant: &TenantId, rules: &SharedRules) -> Result<bool, StoreError> {
        let (tenant, rules) = (tenant.clone(), rules.clone());
        self.writer.write(move |tx| {
            let mut org = SqliteOrg::new(tx, &tenant);
            graph::ensure_current(&mut org, rules.as_ref())
        })?;
        Ok(true)
    }

    fn org_managers(
        &self,
        tenant: &TenantId,
        signature: &str,
        visit: &mut ManagerRowFn<'_>,
    ) -> Result<bool, StoreError> {
        let mut connection = self.reader();
        // One read transaction: the signature and the rows agree.
        let tx = connection.transaction()?;
        let mut org = SqliteOrg::new(&tx, tenant);
        graph::managers_of(&mut org, signature, visit)
    }

    fn delete(&self, tenant: &TenantId, kind: Kind, id: &str) -> Result<(), StoreError> {
        // One write: an error anywhere rolls back its savepoint, user and groups alike.
        let (tenant, id) = (tenant.clone(), id.to_string());
        self.writer.write(move |tx| {
            if kind == Kind::User {
                org::forget(tx, &tenant)?;
            }
            delete_in(tx, &tenant, kind, &id)
        })
    }

    /// Counted in SQL: no body or profile leaves SQLite.
    fn user_summary(&self, tenant: &TenantId) -> Result<super::UserSummary, StoreError> {
        let connection = self.reader();
        let (users, complete, last_modified): (i64, Option<i64>, Option<String>) = connection
            .prepare_cached(
                "SELECT COUNT(*),
                        SUM(profile IS NOT NULL AND json_array_length(profile, '$.missing') = 0),
                        MAX(modified)
                 FROM resources WHERE tenant = ?1 AND kind = 'User'",
            )?
            .query_row(params![tenant.as_str()], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })?;
        Ok(super::UserSummary {
            users: u64::try_from(users).unwrap_or(0),
            complete: complete.and_then(|c| u64::try_from(c).ok()).unwrap_or(0),
            last_modified,
        })
    }

    fn sessions(&self) -> Option<&dyn crate::store::SessionStore> {
        Some(self)
    }

    fn set_profiles(
        &self,
        tenant: &TenantId,
        profiles: &[(String, ProfileRecord)],
    ) -> Result<(), StoreError> {
        let encoded = profiles
            .iter()
            .map(|(id, profile)| Ok((id.clone(), encode_profile(&Some(profile.clone()))?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let tenant = tenant.clone();
        self.writer.write(move |tx| {
            let mut statement = tx.prepare_cached(
                "UPDATE resources SET profile = ?3 WHERE tenant = ?1 AND kind = 'User' AND id = ?2",
            )?;
            for (id, text) in &encoded {
                statement.execute(params![tenant.as_str(), id, text])?;
            }
            Ok(())
        })
    }
}

fn delete_in(tx: &Connection, tenant: &TenantId, kind: Kind, id: &str) -> Result<(), StoreError> {
    let deleted = tx
        .prepare_cached("DELETE FROM resources WHERE tenant = ?1 AND kind = ?2 AND id = ?3")?
        .execute(params![tenant.as_str(), kind.as_str(), id])?;
    if deleted == 0 {
        return Err(StoreError::NotFound);
    }
    write_keys(tx, tenant, kind, id, &[])?;
    // Only groups whose stored text holds the id, JSON-quoted as the bodies are, can list
    // it; `remove_member` decides.
    let groups = tx
        .prepare_cached(
            "SELECT id, body, version FROM resources
                 WHERE tenant = ?1 AND kind = 'Group' AND instr(body, ?2) > 0",
        )?
        .query_map(params![tenant.as_str(), quoted(id)?], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let stamp = now();
    for (group, body, version) in groups {
        let mut body: serde_json::Value = serde_json::from_str(&body)
            .map_err(|e| StoreError::Backend(format!("stored body of {group}: {e}")))?;
        if !remove_member(&mut body, id) {
            continue;
        }
        tx.prepare_cached(
            "UPDATE resources SET body = ?3, modified = ?4, version = ?5
                 WHERE tenant = ?1 AND kind = 'Group' AND id = ?2",
        )?
        .execute(params![
            tenant.as_str(),
            group,
            encode_body(&body)?,
            stamp,
            version + 1
        ])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store on a database of its own in a temporary directory, the database's path (for
    /// connections opened beside the store), and the tenant `acme`. Bound in this order, the
    /// store is dropped (closed) before its directory.
    fn acme_store() -> (tempfile::TempDir, std::path::PathBuf, SqliteStore, TenantId) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("canon.db");
        let store = SqliteStore::open(&path).unwrap();
        (dir, path, store, TenantId::parse("acme").unwrap())
    }

    #[test]
    fn sqlite_store_contract() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("canon.db")).unwrap();
        super::super::contract::run(&store);
    }

    /// A stored profile is decoded when it is read, not with its resource: SCIM reads never
    /// look at it, and a profile that does not decode (edited by hand) no longer fails them.
    #[test]
    fn a_profile_is_decoded_only_when_read_and_a_bad_one_reads_as_none() {
        let (_dir, path, store, acme) = acme_store();
        let profile = ProfileRecord {
            fields: serde_json::json!({"management_level": "VP"}),
            rules: serde_json::json!({}),
            rule_version: "v1".into(),
            missing: vec![],
        };
        let write = |name: &str| Write {
            body: serde_json::json!({"userName": name}),
            unique_key: Some(name.into()),
            profile: Some(profile.clone()),
        };
        let ana = store.create(&acme, Kind::User, write("ana")).unwrap();
        let bob = store.create(&acme, Kind::User, write("bob")).unwrap();
        let read = store.get(&acme, Kind::User, &ana.id).unwrap().unwrap();
        assert_eq!(*read.profile, Some(profile.clone()));

        Connection::open(&path)
            .unwrap()
            .execute(
                "UPDATE resources SET profile = '{\"fields\": [' WHERE id = ?1",
                [&bob.id],
            )
            .unwrap();
        let read = store
            .find_unique(&acme, Kind::User, "bob")
            .unwrap()
            .unwrap();
        assert_eq!(read.body["userName"], "bob");
        assert_eq!(*read.profile, None);
        let listed = store.list(&acme, Kind::User).unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].profile, Some(profile));
    }

    /// Issue 19: a failure while the deleted user is taken out of its groups (here a trigger
    /// refusing to change the second group) leaves everything as it was: the user and every
    /// membership. Each group used to change in a transaction of its own, so a crash midway
    /// left groups listing a user that was gone, for good.
    #[test]
    fn a_failed_delete_changes_nothing() {
        let (_dir, path, store, acme) = acme_store();
        let write = |body: serde_json::Value| Write {
            body,
            unique_key: None,
            profile: None,
        };
        let ana = store
            .create(
                &acme,
                Kind::User,
                write(serde_json::json!({"userName": "ana"})),
            )
            .unwrap();
        let groups: Vec<_> = (0..3)
            .map(|n| {
                let body = serde_json::json!({"displayName": n, "members": [{"value": ana.id}]});
                store.create(&acme, Kind::Group, write(body)).unwrap()
            })
            .collect();
        Connection::open(&path)
            .unwrap()
            .execute_batch(&format!(
                "CREATE TRIGGER fail BEFORE UPDATE ON resources WHEN OLD.id = '{}'
                 BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
                groups[1].id
            ))
            .unwrap();
        let error = store.delete(&acme, Kind::User, &ana.id).unwrap_err();
        assert!(error.to_string().contains("injected failure"), "{error}");
        assert!(store.get(&acme, Kind::User, &ana.id).unwrap().is_some());
        for group in &groups {
            let read = store.get(&acme, Kind::Group, &group.id).unwrap().unwrap();
            assert_eq!(read, *group, "a group changed by a delete that failed");
        }
    }

    /// Issue 21: a user write whose recomputation of its manager fails (here a trigger
    /// refusing to change the manager's row) leaves nothing behind: not the user, not its
    /// place in the index, not a recomputed profile. The index is read by lookups.
    #[test]
    fn a_write_whose_dependants_fail_leaves_nothing() {
        use crate::store::org::contract::Fake;
        use crate::store::{SharedRules, UserWrite};
        let (_dir, path, store, acme) = acme_store();
        let rules: SharedRules = std::sync::Arc::new(Fake { flavour: 0 });
        let user = |name: &str, manager: Option<&str>| {
            let mut body =
                serde_json::json!({"userName": name, "email": format!("{name}@acme.com")});
            if let Some(manager) = manager {
                body["managerEmail"] = serde_json::json!(manager);
            }
            UserWrite::Create(Write {
                body,
                unique_key: Some(name.into()),
                profile: None,
            })
        };
        let boss = store
            .write_user(&acme, &rules, user("boss", None))
            .unwrap()
            .unwrap();
        store
            .write_user(&acme, &rules, user("ana", Some("boss@acme.com")))
            .unwrap();
        let count = |store: &SqliteStore| {
            let read = store.get(&acme, Kind::User, &boss.id).unwrap().unwrap();
            let indexed = store
                .org_reports(&acme, "fake-0", &[(0, "boss@acme.com".into())], 0)
                .unwrap()
                .unwrap()
                .count;
            (
                read.profile.into_inner().unwrap().fields["reports"].clone(),
                indexed,
            )
        };
        assert_eq!(count(&store), (serde_json::json!(1), 1));
        Connection::open(&path)
            .unwrap()
            .execute_batch(&format!(
                "CREATE TRIGGER fail BEFORE UPDATE ON resources WHEN OLD.id = '{}'
                 BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
                boss.id
            ))
            .unwrap();
        let error = store
            .write_user(&acme, &rules, user("bo", Some("boss@acme.com")))
            .unwrap_err();
        assert!(error.to_string().contains("injected failure"), "{error}");
        assert!(store
            .find_unique(&acme, Kind::User, "bo")
            .unwrap()
            .is_none());
        assert_eq!(count(&store), (serde_json::json!(1), 1));
        let rows: i64 = Connection::open(&path)
            .unwrap()
            .query_row(
                "SELECT count(*) FROM org_refs WHERE display = 'bo@acme.com'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(rows, 0, "the failed write's place in the index stayed");

        let reader = store.reader();
        let plan = |sql: &str| -> String {
            let mut statement = reader
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap();
            let rows = statement
                .query_map(rusqlite::params!["acme", 0, "a", 1, "b"], |row| {
                    row.get::<_, String>(3)
                })
                .unwrap();
            rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
        };
        let counted = plan(&format!(
            "SELECT COUNT(DISTINCT id) FROM ({})",
            org::reporters_sql(2)
        ));
        assert!(
            counted.contains("USING PRIMARY KEY") && !counted.contains("SCAN org_refs"),
            "{counted}"
        );
        // A user's rows, and a key's holders, are looked up, never walked to.
        let one = |sql: &str, params: &[&dyn rusqlite::ToSql]| -> String {
            let mut statement = reader
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap();
            let rows = statement
                .query_map(params, |row| row.get::<_, String>(3))
                .unwrap();
            rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
        };
        let place = one(org::PLACE_SQL, &[&"acme", &"u1"]);
        assert!(place.contains("org_refs_of (tenant=? AND id=?)"), "{place}");
        let holders = one(org::HOLDERS_SQL, &[&"acme", &0, &"a"]);
        assert!(
            holders.contains("PRIMARY KEY (tenant=? AND role=? AND link=? AND value=?)"),
            "{holders}"
        );
        let forget = one(org::UNPLACE_SQL, &[&"acme", &"u1"]);
        assert!(forget.contains("org_refs_of"), "{forget}");
        let reporting = one(org::REPORTS_OF_USER_SQL, &[&"acme", &"u1"]);
        assert!(
            reporting.contains("org_refs_of (tenant=? AND id=?")
                && reporting.contains("PRIMARY KEY (tenant=? AND role=? AND link=? AND value=?)"),
            "{reporting}"
        );
    }

    /// Group commit (issue 18): writes that queue up while one holds the writer share its
    /// commit; a write that fails in the batch (a taken name, a declined update, a
    /// panicking closure) fails alone; and each write is committed when its call returns.
    #[test]
    fn queued_writes_share_a_commit_and_fail_alone() {
        let (_dir, path, store, acme) = acme_store();
        let user = |name: &str| Write {
            body: serde_json::json!({"userName": name}),
            unique_key: Some(name.to_string()),
            profile: None,
        };
        let ana = store.create(&acme, Kind::User, user("ana")).unwrap();
        let before = store.writer.commits();
        std::thread::scope(|scope| {
            let (store, acme) = (&store, &acme);
            let release = hold_writer(scope, store);
            let updated = scope.spawn(move || {
                store.update(acme, Kind::User, &ana.id, &mut |current| {
                    let mut body = current.body.clone();
                    body["title"] = serde_json::json!("VP");
                    Some(Write {
                        body,
                        unique_key: Some("ana".into()),
                        profile: None,
                    })
                })
            });
            let creates: Vec<_> = (0..8)
                .map(|n| {
                    scope.spawn(move || store.create(acme, Kind::User, user(&format!("u{n}"))))
                })
                .collect();
            let taken = scope.spawn(move || store.create(acme, Kind::User, user("ana")));
            let declined = scope.spawn(move || {
                store.update(acme, Kind::User, &ana_id_of(store, acme), &mut |_| None)
            });
            let panicking = scope.spawn(move || {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    store.update(acme, Kind::User, &ana_id_of(store, acme), &mut |_| {
                        panic!("a closure that panics")
                    })
                }))
            });
            // Time for every thread to queue its write behind the held one.
            std::thread::sleep(std::time::Duration::from_millis(200));
            drop(release);
            let created: Vec<StoredResource> = creates
                .into_iter()
                .map(|c| c.join().unwrap().unwrap())
                .collect();
            assert!(matches!(taken.join().unwrap(), Err(StoreError::Conflict)));
            assert!(matches!(declined.join().unwrap(), Err(StoreError::Aborted)));
            assert!(panicking.join().unwrap().is_err());
            assert_eq!(updated.join().unwrap().unwrap().version, 2);
            // Committed when the call returned.
            assert_committed(&path, &created);
        });
        let commits = store.writer.commits() - before;
        assert!(
            commits < 6,
            "11 queued writes took {commits} commits: they were not batched"
        );
        assert_eq!(store.list(&acme, Kind::User).unwrap().len(), 9);
        let ana = store
            .find_unique(&acme, Kind::User, "ana")
            .unwrap()
            .unwrap();
        assert_eq!(
            (ana.version, &ana.body["title"]),
            (2, &serde_json::json!("VP"))
        );
        // The writer still works after the panic.
        store.create(&acme, Kind::User, user("after")).unwrap();
    }

    /// Creates queued without a waiting thread (what the SCIM handlers await): none is
    /// answered while the writer is held, then each is answered once the commit holding it
    /// is done, sharing commits; a taken name fails alone; a user written through its
    /// population (`queue_user_create`) is mapped and indexed as `write_user` does.
    #[test]
    fn queued_creates_are_answered_once_their_commit_is_done() {
        let (_dir, path, store, acme) = acme_store();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let user = |name: &str| Write {
            body: serde_json::json!({"userName": name, "managerEmail": "boss@acme.com"}),
            unique_key: Some(name.to_string()),
            profile: None,
        };
        let rules: SharedRules = std::sync::Arc::new(graph::contract::Fake { flavour: 0 });
        let boss = Write {
            body: serde_json::json!({"userName": "boss", "email": "boss@acme.com"}),
            unique_key: Some("boss".into()),
            profile: None,
        };
        let boss = store
            .write_user(&acme, &rules, UserWrite::Create(boss))
            .unwrap()
            .unwrap();
        store.create(&acme, Kind::User, user("ana")).unwrap();
        let before = store.writer.commits();
        std::thread::scope(|scope| {
            let (store, acme) = (&store, &acme);
            // Dropped by a failed assertion too, which then releases the writer.
            let release = hold_writer(scope, store);
            fn ok<T>(queued: Result<Queued<T>, Box<Write>>) -> Queued<T> {
                match queued {
                    Ok(queued) => queued,
                    Err(_) => panic!("SQLite queues its creates"),
                }
            }
            let mut plain: Vec<_> = (0..4)
                .map(|n| ok(store.queue_create(acme, Kind::User, user(&format!("p{n}")))))
                .collect();
            let mut mapped: Vec<_> = (0..4)
                .map(|n| ok(store.queue_user_create(acme, &rules, user(&format!("m{n}")))))
                .collect();
            let taken = ok(store.queue_create(acme, Kind::User, user("ana")));
            runtime.block_on(async {
                let held = std::time::Duration::from_millis(100);
                for queued in &mut plain {
                    let early = tokio::time::timeout(held, queued).await;
                    assert!(early.is_err(), "answered while the writer was held");
                }
                for queued in &mut mapped {
                    let early = tokio::time::timeout(held, queued).await;
                    assert!(early.is_err(), "answered while the writer was held");
                }
            });
            drop(release);
            let (plain, mapped, taken) = runtime.block_on(async {
                let mut answers = Vec::new();
                for queued in plain {
                    answers.push(queued.await.unwrap());
                }
                let mut users = Vec::new();
                for queued in mapped {
                    match queued.await.unwrap() {
                        Created::Stored(user) => users.push(user),
                        Created::GivenBack(write) => panic!("SQLite gave back {}", write.body),
                    }
                }
                (answers, users, taken.await)
            });
            assert!(matches!(taken, Err(StoreError::Conflict)), "{taken:?}");
            // Committed when answered.
            assert_committed(&path, &plain);
            assert_committed(&path, &mapped);
            let fresh = Connection::open(&path).unwrap();
            // Mapped in the population, and indexed.
            let stored = store.get(acme, Kind::User, &mapped[0].id).unwrap().unwrap();
            assert_eq!(stored.profile, mapped[0].profile);
            assert!(mapped[0].profile.is_some());
            let places: i64 = fresh
                .query_row(
                    "SELECT count(DISTINCT id) FROM org_refs WHERE id IN (?1, ?2, ?3, ?4)",
                    rusqlite::params![mapped[0].id, mapped[1].id, mapped[2].id, mapped[3].id],
                    |row| row.get(0),
                )
                .unwrap();
            assert_eq!(places, 4, "every mapped user has its place in the graph");
            // The manager they all name is recomputed in their transactions: ana and the
            // plain creates (whose writes set the graph to be rebuilt) count too.
            let boss = store.get(acme, Kind::User, &boss.id).unwrap().unwrap();
            let fields = boss.profile.into_inner().map(|profile| profile.fields);
            assert_eq!(fields, Some(serde_json::json!({"reports": 9})));
        });
        let commits = store.writer.commits() - before;
        assert!(
            commits < 5,
            "10 writes took {commits} commits: the queued creates were not batched"
        );
    }

    /// Ids grow with creation, so the writes of a batch share the last pages of every index
    /// on `id` (`new_id`); they are still UUIDs, and each user write gets one.
    #[test]
    fn ids_are_uuids_in_creation_order() {
        let (_dir, _, store, acme) = acme_store();
        let rules: SharedRules = std::sync::Arc::new(graph::contract::Fake { flavour: 0 });
        let mut ids = Vec::new();
        for n in 0..40 {
            let write = Write {
                body: serde_json::json!({"userName": format!("u{n}")}),
                unique_key: Some(format!("u{n}")),
                profile: None,
            };
            let stored = if n % 2 == 0 {
                store.create(&acme, Kind::User, write).unwrap()
            } else {
                store
                    .write_user(&acme, &rules, UserWrite::Create(write))
                    .unwrap()
                    .unwrap()
            };
            let uuid = uuid::Uuid::parse_str(&stored.id).unwrap();
            assert_eq!(uuid.get_version_num(), 7, "{}", stored.id);
            ids.push(stored.id);
        }
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, ids, "ids in creation order, none twice");
    }

    /// A user whose profile did not read its count (its flag was sent) says so on its index
    /// rows, so the writes of its reports do not count them; one whose profile read it, or
    /// whose flag is taken out, says it may.
    #[test]
    fn index_rows_say_whether_the_profile_read_its_count() {
        let (_dir, path, store, acme) = acme_store();
        let rules: SharedRules = std::sync::Arc::new(graph::contract::Fake {
            flavour: graph::contract::SENT,
        });
        let write = |body: serde_json::Value| Write {
            unique_key: body["userName"].as_str().map(str::to_string),
            body,
            profile: None,
        };
        let create = |body| {
            let created = store.write_user(&acme, &rules, UserWrite::Create(write(body)));
            created.unwrap().unwrap().id
        };
        let boss = create(
            serde_json::json!({"userName": "boss", "email": "boss@acme.com", "manages": true}),
        );
        let plain = create(serde_json::json!({"userName": "ana", "managerEmail": "boss@acme.com"}));
        let fresh = Connection::open(&path).unwrap();
        let reads = |id: &str| -> Vec<bool> {
            let mut statement = fresh
                .prepare("SELECT reads_reports FROM org_refs WHERE id = ?1")
                .unwrap();
            let rows = statement.query_map([id], |row| row.get(0)).unwrap();
            rows.map(Result::unwrap).collect()
        };
        assert!(!reads(&boss).is_empty() && reads(&boss).iter().all(|r| !r));
        assert!(!reads(&plain).is_empty() && reads(&plain).iter().all(|r| *r));
        // The flag taken out, the place in the graph the same: the rows are updated.
        let mut change = |_: &StoredResource| {
            Some(write(
                serde_json::json!({"userName": "boss", "email": "boss@acme.com"}),
            ))
        };
        let update = UserWrite::Update {
            id: &boss,
            change: &mut change,
        };
        store.write_user(&acme, &rules, update).unwrap();
        assert!(reads(&boss).iter().all(|r| *r));
    }

    /// Every one of `resources` is committed: a connection of its own sees it.
    fn assert_committed(path: &std::path::Path, resources: &[StoredResource]) {
        let fresh = Connection::open(path).unwrap();
        for resource in resources {
            let found: i64 = fresh
                .query_row(
                    "SELECT count(*) FROM resources WHERE id = ?1",
                    [&resource.id],
                    |row| row.get(0),
                )
                .unwrap();
            assert_eq!(found, 1, "{}", resource.body);
        }
    }

    /// Holds the writer thread (a write that waits) until the returned sender is dropped, so
    /// that the writes made meanwhile queue up behind it.
    fn hold_writer<'scope>(
        scope: &'scope std::thread::Scope<'scope, '_>,
        store: &'scope SqliteStore,
    ) -> std::sync::mpsc::Sender<()> {
        let (entered_tx, entered) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        scope.spawn(move || {
            store.writer.write(move |_| {
                let _ = entered_tx.send(());
                // Released when the sender is dropped.
                let _ = released.recv();
                Ok(())
            })
        });
        entered.recv().unwrap();
        release
    }

    fn ana_id_of(store: &SqliteStore, acme: &TenantId) -> String {
        store
            .find_unique(acme, Kind::User, "ana")
            .unwrap()
            .unwrap()
            .id
    }

    /// A database of the first schema gets the index of what it already holds.
    #[test]
    fn the_keys_migration_indexes_what_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("canon.db");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(MIGRATIONS[0]).unwrap();
        old.pragma_update(None, "user_version", 1).unwrap();
        old.execute(
            "INSERT INTO resources VALUES ('acme', 'User', 'u1', 'ana', ?1, 't', 't', 1, NULL)",
            [r#"{"userName":"ana","externalId":"X-1"}"#],
        )
        .unwrap();
        drop(old);
        let store = SqliteStore::open(&path).unwrap();
        let acme = TenantId::parse("acme").unwrap();
        let found = store
            .find_by(&acme, Kind::User, IndexedAttr::ExternalId, "x-1")
            .unwrap();
        assert_eq!(found[0].id, "u1");
        // The lookups and pages read through their indexes, not the whole table.
        let reader = store.reader();
        let plan = |sql: &str| -> String {
            let mut statement = reader
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap();
            let rows = statement
                .query_map([], |row| row.get::<_, String>(3))
                .unwrap();
            rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
        };
        let page = plan(
            "SELECT id FROM resources WHERE tenant = 'a' AND kind = 'User' ORDER BY rowid LIMIT 1 OFFSET 5",
        );
        assert!(
            page.contains("resources_order") && !page.contains("TEMP B-TREE"),
            "{page}"
        );
        let find = plan(
            "SELECT r.id FROM keys AS k CROSS JOIN resources AS r
                ON r.tenant = k.tenant AND r.kind = k.kind AND r.id = k.id
             WHERE k.tenant = 'a' AND k.kind = 'User' AND k.attr = 'x' AND k.value = 'y'
             ORDER BY r.rowid",
        );
        assert!(
            find.starts_with("SEARCH k USING PRIMARY KEY")
                && find.contains("sqlite_autoindex_resources_1 (tenant=? AND kind=? AND id=?)"),
            "{find}"
        );
    }

    /// The per-member reads (few members) and the single pass (many) find the same
    /// memberships in the same order, and agree with the plain reading of every group.
    #[test]
    fn memberships_agree_for_few_and_many_members() {
        let (_dir, _, store, acme) = acme_store();
        let ids: Vec<String> = (0..40).map(|i| format!("u{i}")).collect();
        for (n, step) in [3usize, 7, 1].into_iter().enumerate() {
            let members: Vec<_> = ids
                .iter()
                .rev()
                .step_by(step)
                .map(|id| serde_json::json!({"value": id}))
                .collect();
            let body = serde_json::json!({"displayName": format!("g{n}"), "members": members});
            let write = Write {
                body,
                unique_key: None,
                profile: None,
            };
            store.create(&acme, Kind::Group, write).unwrap();
        }
        let all: Vec<&str> = ids.iter().map(String::as_str).collect();
        let groups = store.list(&acme, Kind::Group).unwrap();
        for members in [&all[..], &all[..5], &all[30..31]] {
            let found = store.memberships(&acme, members).unwrap();
            let plain = super::super::memberships_in(&groups, members);
            assert_eq!(found, plain, "{} members", members.len());
        }
        assert_eq!(store.memberships(&acme, &all).unwrap().len(), 14 + 6 + 40);
    }

    #[test]
    fn sqlite_store_reopens_and_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("canon.db");
        let acme = TenantId::parse("acme").unwrap();
        let id = {
            let store = SqliteStore::open(&path).unwrap();
            store
                .create(
                    &acme,
                    Kind::User,
                    Write {
                        body: serde_json::json!({"userName": "ana"}),
                        unique_key: Some("ana".into()),
                        profile: None,
                    },
                )
                .unwrap()
                .id
        };
        let store = SqliteStore::open(&path).unwrap();
        assert!(store.get(&acme, Kind::User, &id).unwrap().is_some());
    }

    /// A new database gets the smaller pages; one made with SQLite's default keeps them and
    /// works as before.
    #[test]
    fn new_databases_get_small_pages_and_older_ones_keep_theirs() {
        let page_size = |path: &std::path::Path| -> i64 {
            let connection = Connection::open(path).unwrap();
            connection
                .query_row("PRAGMA page_size", [], |row| row.get(0))
                .unwrap()
        };
        let (_dir, path, store, acme) = acme_store();
        drop(store);
        assert_eq!(page_size(&path), NEW_DATABASE_PAGE_SIZE);

        let dir = tempfile::tempdir().unwrap();
        let older = dir.path().join("older.db");
        {
            let made = Connection::open(&older).unwrap();
            made.pragma_update(None, "page_size", 4096).unwrap();
            made.pragma_update(None, "journal_mode", "WAL").unwrap();
            made.execute_batch("CREATE TABLE made_before (x)").unwrap();
        }
        let store = SqliteStore::open(&older).unwrap();
        let user = Write {
            body: serde_json::json!({"userName": "ana"}),
            unique_key: Some("ana".into()),
            profile: None,
        };
        let created = store.create(&acme, Kind::User, user).unwrap();
        assert!(store.get(&acme, Kind::User, &created.id).unwrap().is_some());
        drop(store);
        assert_eq!(page_size(&older), 4096);
    }

    /// Under sustained writes (the writer never idle between batches) the WAL starts again
    /// from its beginning, its header's checkpoint sequence counting the restarts, instead of
    /// growing with every write until the writes stop.
    #[test]
    fn the_wal_starts_again_under_sustained_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("canon.db");
        let store = SqliteStore::open_restarting(&path, 64).unwrap();
        let acme = TenantId::parse("acme").unwrap();
        let restarts = || -> u32 {
            let wal = std::fs::read(dir.path().join("canon.db-wal")).unwrap_or_default();
            wal.get(12..16)
                .map_or(0, |bytes| u32::from_be_bytes(bytes.try_into().unwrap()))
        };
        let written = std::sync::atomic::AtomicUsize::new(0);
        let until = std::time::Instant::now() + std::time::Duration::from_millis(1500);
        std::thread::scope(|scope| {
            for writer in 0..8 {
                let (store, acme, written) = (&store, &acme, &written);
                scope.spawn(move || {
                    let mut n = 0;
                    while std::time::Instant::now() < until {
                        let name = format!("w{writer}-{n}");
                        let user = Write {
                            body: serde_json::json!({"userName": name, "title": "x".repeat(500)}),
                            unique_key: Some(name),
                            profile: None,
                        };
                        store.create(acme, Kind::User, user).unwrap();
                        n += 1;
                        written.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                });
            }
        });
        let written = written.into_inner();
        assert!(
            restarts() >= 2,
            "{written} writes; the WAL started again {} times",
            restarts()
        );
        assert_eq!(store.list(&acme, Kind::User).unwrap().len(), written);
    }
}
