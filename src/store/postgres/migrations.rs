//! The PostgreSQL schema, as versioned migrations applied on open.
//!
//! `canon_schema` holds the number of migrations applied. Several instances may start at
//! once: each takes a transaction-scoped advisory lock first, so one applies the pending
//! migrations and the others then find nothing to do.

use deadpool_postgres::Pool;

use super::super::StoreError;
use super::db_error;

/// The advisory lock key of migrations (any constant; "canon" in ASCII).
const MIGRATION_LOCK: i64 = 0x63_61_6e_6f_6e;

/// Applied in order; never edit one that has shipped, add another.
const MIGRATIONS: &[&str] = &[
    // Resources as the SQLite store keeps them: the body as the client's JSON text (key
    // order kept byte for byte, which `jsonb` would not), `seq` for creation order, the
    // case-folded unique key (users: `userName`) unique per tenant and kind by an index,
    // and the lookup keys of keys.rs.
    r#"
CREATE TABLE resources (
    seq         BIGSERIAL NOT NULL,
    tenant      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    id          TEXT NOT NULL,
    unique_key  TEXT,
    body        TEXT NOT NULL,
    created     TEXT NOT NULL,
    modified    TEXT NOT NULL,
    version     BIGINT NOT NULL,
    profile     TEXT,
    PRIMARY KEY (tenant, kind, id)
);
CREATE UNIQUE INDEX resources_unique ON resources (tenant, kind, unique_key)
    WHERE unique_key IS NOT NULL;
CREATE INDEX resources_order ON resources (tenant, kind, seq);
CREATE TABLE keys (
    tenant  TEXT NOT NULL,
    kind    TEXT NOT NULL,
    attr    TEXT NOT NULL,
    value   TEXT NOT NULL,
    id      TEXT NOT NULL,
    PRIMARY KEY (tenant, kind, attr, value, id)
);
CREATE INDEX keys_of ON keys (tenant, kind, id);
"#,
    // The tenant registry (store/registry.rs) and console sessions (store/sessions.rs), as
    // SQLite keeps them; `registry_generation` is bumped (and notified) by every change.
    r#"
CREATE TABLE registry_generation (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    generation  BIGINT NOT NULL
);
INSERT INTO registry_generation VALUES (1, 0);
CREATE TABLE tenants (
    id                  TEXT PRIMARY KEY,
    enabled             BOOLEAN NOT NULL,
    extensions          TEXT NOT NULL,
    rate_limit          TEXT NOT NULL,
    body_capture_until  TEXT,
    live_version        BIGINT,
    created             TEXT NOT NULL
);
CREATE TABLE tenant_tokens (
    id       BIGSERIAL PRIMARY KEY,
    tenant   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    sha256   TEXT NOT NULL UNIQUE,
    created  TEXT NOT NULL,
    expires  TEXT,
    revoked  TEXT
);
CREATE INDEX tenant_tokens_of ON tenant_tokens (tenant);
CREATE TABLE rule_versions (
    tenant   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    number   BIGINT NOT NULL,
    hash     TEXT NOT NULL,
    name     TEXT NOT NULL,
    text     TEXT NOT NULL,
    note     TEXT NOT NULL,
    author   TEXT NOT NULL,
    created  TEXT NOT NULL,
    PRIMARY KEY (tenant, number)
);
CREATE TABLE rule_files (
    seq      BIGSERIAL NOT NULL,
    tenant   TEXT NOT NULL,
    number   BIGINT NOT NULL,
    path     TEXT NOT NULL,
    bytes    BYTEA NOT NULL,
    PRIMARY KEY (tenant, number, path),
    FOREIGN KEY (tenant, number) REFERENCES rule_versions (tenant, number) ON DELETE CASCADE
);
CREATE TABLE setup_links (
    secret_sha256  TEXT PRIMARY KEY,
    tenant         TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    created        TEXT NOT NULL,
    expires        TEXT NOT NULL,
    spent          TEXT
);
CREATE TABLE activity (
    seq          BIGSERIAL PRIMARY KEY,
    tenant       TEXT NOT NULL,
    at           TEXT NOT NULL,
    method       TEXT NOT NULL,
    path         TEXT NOT NULL,
    status       INTEGER NOT NULL,
    latency_us   BIGINT NOT NULL,
    error        TEXT,
    resource_id  TEXT,
    request_id   TEXT,
    body         TEXT
);
CREATE INDEX activity_of ON activity (tenant, seq);
CREATE TABLE activity_counters (
    tenant         TEXT PRIMARY KEY,
    requests       BIGINT NOT NULL,
    client_errors  BIGINT NOT NULL,
    server_errors  BIGINT NOT NULL,
    last_request   TEXT,
    last_error     TEXT
);
CREATE TABLE sessions (
    id_sha256  TEXT PRIMARY KEY,
    csrf       TEXT NOT NULL,
    who        TEXT NOT NULL,
    created    BIGINT NOT NULL,
    expires    BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires);
"#,
    // Issue 21: the organisation graph's index (store/org.rs), rebuilt per tenant by the
    // first write that keeps it.
    super::org::SCHEMA,
    // Whether a user's profile reads its count of reports: writes that move the count of a
    // manager whose profile does not skip it (store/org.rs).
    super::org::READS_REPORTS,
    // A check that fails its transaction where a condition does not hold: a create sent
    // whole with its COMMIT (store/postgres/org.rs, `CREATE_HOLDS`).
    super::org::REQUIRE,
    // Creates are batched (store/postgres/batch.rs decides each create in the statement
    // that writes it): nothing calls that check any more.
    "DROP FUNCTION IF EXISTS canon_require(boolean, text)",
];

/// Applies the pending migrations, each with its bump of `canon_schema`, in one transaction.
pub(super) async fn apply(pool: &Pool) -> Result<(), StoreError> {
    let mut client = pool
        .get()
        .await
        .map_err(|e| StoreError::Backend(format!("cannot connect to PostgreSQL: {e}")))?;
    let tx = client.transaction().await.map_err(db_error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db_error)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS canon_schema (applied INTEGER NOT NULL)")
        .await
        .map_err(db_error)?;
    let applied: Option<i32> = tx
        .query_opt("SELECT applied FROM canon_schema", &[])
        .await
        .map_err(db_error)?
        .map(|row| row.get(0));
    let applied = match applied {
        Some(applied) => usize::try_from(applied).unwrap_or(0),
        None => {
            tx.execute("INSERT INTO canon_schema (applied) VALUES (0)", &[])
                .await
                .map_err(db_error)?;
            0
        }
    };
    if applied > MIGRATIONS.len() {
        return Err(StoreError::Backend(format!(
            "the database has schema version {applied}, newer than this canon knows ({})",
            MIGRATIONS.len()
        )));
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
        tx.batch_execute(migration).await.map_err(db_error)?;
        let version = i32::try_from(index + 1).unwrap_or(i32::MAX);
        tx.execute("UPDATE canon_schema SET applied = $1", &[&version])
            .await
            .map_err(db_error)?;
    }
    tx.commit().await.map_err(db_error)
}
