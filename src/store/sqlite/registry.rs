//! The tenant registry in SQLite: the tables of [`SCHEMA`] (a migration in `mod.rs`), and one
//! `generation` row bumped in the transaction of every change.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::SqliteStore;
use crate::store::registry::{
    count, ActivityCounters, ActivityEntry, ActivityQuery, LinkSpend, NewRuleVersion, NewTenant,
    RateLimit, RuleBundle, RuleVersion, SetupLink, TenantChange, TenantRecord, TenantRegistry,
    TokenRecord, ACTIVITY_KEPT,
};
use crate::store::{now, StoreError, TenantId};

/// The registry's tables.
pub(super) const SCHEMA: &str = r#"
CREATE TABLE registry_generation (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    generation  INTEGER NOT NULL
);
INSERT INTO registry_generation VALUES (1, 0);
CREATE TABLE tenants (
    id                  TEXT PRIMARY KEY,
    enabled             INTEGER NOT NULL,
    extensions          TEXT NOT NULL,
    rate_limit          TEXT NOT NULL,
    body_capture_until  TEXT,
    live_version        INTEGER,
    created             TEXT NOT NULL
);
CREATE TABLE tenant_tokens (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    sha256   TEXT NOT NULL UNIQUE,
    created  TEXT NOT NULL,
    expires  TEXT,
    revoked  TEXT
);
CREATE INDEX tenant_tokens_of ON tenant_tokens (tenant);
CREATE TABLE rule_versions (
    tenant   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    number   INTEGER NOT NULL,
    hash     TEXT NOT NULL,
    name     TEXT NOT NULL,
    text     TEXT NOT NULL,
    note     TEXT NOT NULL,
    author   TEXT NOT NULL,
    created  TEXT NOT NULL,
    PRIMARY KEY (tenant, number)
);
CREATE TABLE rule_files (
    tenant   TEXT NOT NULL,
    number   INTEGER NOT NULL,
    path     TEXT NOT NULL,
    bytes    BLOB NOT NULL,
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
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant       TEXT NOT NULL,
    at           TEXT NOT NULL,
    method       TEXT NOT NULL,
    path         TEXT NOT NULL,
    status       INTEGER NOT NULL,
    latency_us   INTEGER NOT NULL,
    error        TEXT,
    resource_id  TEXT,
    request_id   TEXT,
    body         TEXT
);
CREATE INDEX activity_of ON activity (tenant, seq);
CREATE TABLE activity_counters (
    tenant         TEXT PRIMARY KEY,
    requests       INTEGER NOT NULL,
    client_errors  INTEGER NOT NULL,
    server_errors  INTEGER NOT NULL,
    last_request   TEXT,
    last_error     TEXT
);
"#;

fn bump(tx: &Connection) -> Result<(), StoreError> {
    tx.prepare_cached("UPDATE registry_generation SET generation = generation + 1 WHERE id = 1")?
        .execute([])?;
    Ok(())
}

fn encode_json(value: &serde_json::Value) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(e.to_string()))
}

/// A `tenants` row as read, in [`TENANT_COLUMNS`] order.
type TenantRow = (
    String,
    bool,
    String,
    String,
    Option<String>,
    Option<i64>,
    String,
);

const TENANT_COLUMNS: &str =
    "id, enabled, extensions, rate_limit, body_capture_until, live_version, created";

fn tenant_row(row: &Row<'_>) -> rusqlite::Result<TenantRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
    ))
}

fn read_tenant(connection: &Connection, id: &str) -> Result<Option<TenantRecord>, StoreError> {
    let row = connection
        .prepare_cached(&format!(
            "SELECT {TENANT_COLUMNS} FROM tenants WHERE id = ?1"
        ))?
        .query_row([id], tenant_row)
        .optional()?;
    row.map(decode_tenant).transpose()
}

fn decode_tenant(
    (id, enabled, extensions, rate_limit, body_capture_until, live_version, created): TenantRow,
) -> Result<TenantRecord, StoreError> {
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        StoreError::Backend(format!("stored {what} of tenant {id}: {e}"))
    };
    Ok(TenantRecord {
        id: TenantId::parse(&id).map_err(|e| bad("id", &e))?,
        enabled,
        extensions: serde_json::from_str(&extensions).map_err(|e| bad("extensions", &e))?,
        rate_limit: RateLimit::parse(&rate_limit).map_err(|e| bad("rate limit", &e))?,
        body_capture_until,
        live_version,
        created,
    })
}

fn exists(tx: &Connection, tenant: &TenantId) -> Result<(), StoreError> {
    let found: Option<i64> = tx
        .prepare_cached("SELECT 1 FROM tenants WHERE id = ?1")?
        .query_row([tenant.as_str()], |row| row.get(0))
        .optional()?;
    found.map(|_| ()).ok_or(StoreError::NotFound)
}

const TOKEN_COLUMNS: &str = "id, sha256, created, expires, revoked";

fn token_row(row: &Row<'_>) -> rusqlite::Result<TokenRecord> {
    Ok(TokenRecord {
        id: row.get(0)?,
        sha256: row.get(1)?,
        created: row.get(2)?,
        expires: row.get(3)?,
        revoked: row.get(4)?,
    })
}

fn insert_token(
    tx: &Connection,
    tenant: &TenantId,
    sha256: &str,
) -> Result<TokenRecord, StoreError> {
    let created = now();
    tx.prepare_cached("INSERT INTO tenant_tokens (tenant, sha256, created) VALUES (?1, ?2, ?3)")?
        .execute(params![tenant.as_str(), sha256, created])?;
    Ok(TokenRecord {
        id: tx.last_insert_rowid(),
        sha256: sha256.to_string(),
        created,
        expires: None,
        revoked: None,
    })
}

/// Stores a version numbered after the tenant's last and makes it live.
fn insert_version(
    tx: &Connection,
    tenant: &TenantId,
    version: &NewRuleVersion,
) -> Result<RuleVersion, StoreError> {
    let number: i64 = tx
        .prepare_cached("SELECT coalesce(max(number), 0) + 1 FROM rule_versions WHERE tenant = ?1")?
        .query_row([tenant.as_str()], |row| row.get(0))?;
    let created = now();
    tx.prepare_cached(
        "INSERT INTO rule_versions (tenant, number, hash, name, text, note, author, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        tenant.as_str(),
        number,
        version.hash,
        version.bundle.name,
        version.bundle.text,
        version.note,
        version.author,
        created
    ])?;
    let mut file = tx.prepare_cached(
        "INSERT INTO rule_files (tenant, number, path, bytes) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (path, bytes) in &version.bundle.files {
        file.execute(params![tenant.as_str(), number, path, bytes])?;
    }
    tx.prepare_cached("UPDATE tenants SET live_version = ?2 WHERE id = ?1")?
        .execute(params![tenant.as_str(), number])?;
    Ok(RuleVersion {
        number,
        hash: version.hash.clone(),
        bundle: version.bundle.clone(),
        note: version.note.clone(),
        author: version.author.clone(),
        created,
    })
}

fn read_versions(
    connection: &Connection,
    tenant: &TenantId,
    only: Option<i64>,
) -> Result<Vec<RuleVersion>, StoreError> {
    let mut versions = Vec::new();
    let mut statement = connection.prepare_cached(
        "SELECT number, hash, name, text, note, author, created FROM rule_versions
         WHERE tenant = ?1 AND (?2 IS NULL OR number = ?2) ORDER BY number",
    )?;
    let rows = statement.query_map(params![tenant.as_str(), only], |row| {
        Ok(RuleVersion {
            number: row.get(0)?,
            hash: row.get(1)?,
            bundle: RuleBundle {
                name: row.get(2)?,
                text: row.get(3)?,
                files: Vec::new(),
            },
            note: row.get(4)?,
            author: row.get(5)?,
            created: row.get(6)?,
        })
    })?;
    for row in rows {
        versions.push(row?);
    }
    let mut files = connection.prepare_cached(
        "SELECT path, bytes FROM rule_files WHERE tenant = ?1 AND number = ?2 ORDER BY rowid",
    )?;
    for version in &mut versions {
        let rows = files.query_map(params![tenant.as_str(), version.number], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, Vec<u8>>(1)?))
        })?;
        for row in rows {
            version.bundle.files.push(row?);
        }
    }
    Ok(versions)
}

const LINK_COLUMNS: &str = "secret_sha256, tenant, created, expires, spent";

fn read_link(
    connection: &Connection,
    secret_sha256: &str,
) -> Result<Option<SetupLink>, StoreError> {
    let row = connection
        .prepare_cached(&format!(
            "SELECT {LINK_COLUMNS} FROM setup_links WHERE secret_sha256 = ?1"
        ))?
        .query_row([secret_sha256], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, Option<String>>(4)?,
            ))
        })
        .optional()?;
    row.map(|(secret_sha256, tenant, created, expires, spent)| {
        Ok(SetupLink {
            secret_sha256,
            tenant: TenantId::parse(&tenant)
                .map_err(|e| StoreError::Backend(format!("stored setup link: {e}")))?,
            created,
            expires,
            spent,
        })
    })
    .transpose()
}

fn read_counters(connection: &Connection, tenant: &str) -> Result<ActivityCounters, StoreError> {
    let row = connection
        .prepare_cached(
            "SELECT requests, client_errors, server_errors, last_request, last_error
             FROM activity_counters WHERE tenant = ?1",
        )?
        .query_row([tenant], |row| {
            Ok(ActivityCounters {
                requests: row.get::<_, i64>(0)?.max(0) as u64,
                client_errors: row.get::<_, i64>(1)?.max(0) as u64,
                server_errors: row.get::<_, i64>(2)?.max(0) as u64,
                last_request: row.get(3)?,
                last_error: row.get(4)?,
            })
        })
        .optional()?;
    Ok(row.unwrap_or_default())
}

/// Every table with a `tenant` column: a removed tenant leaves no row in any of them, including
/// tables added after this file was written.
fn tenant_tables(tx: &Connection) -> Result<Vec<String>, StoreError> {
    let mut statement = tx.prepare(
        "SELECT m.name FROM sqlite_master AS m, pragma_table_info(m.name) AS c
         WHERE m.type = 'table' AND c.name = 'tenant' ORDER BY m.name",
    )?;
    let names = statement
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(names)
}

impl SqliteStore {
    /// A registry change: one write of the group-commit writer (owned data only: it runs on
    /// the writer thread), with its bump of the generation.
    fn write<T: Send + 'static>(
        &self,
        change: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.writer.write(move |tx| {
            let out = change(tx)?;
            bump(tx)?;
            Ok(out)
        })
    }
}

impl TenantRegistry for SqliteStore {
    fn generation(&self) -> Result<i64, StoreError> {
        Ok(self
            .reader()
            .prepare_cached("SELECT generation FROM registry_generation WHERE id = 1")?
            .query_row([], |row| row.get(0))?)
    }

    fn create_tenant(
        &self,
        tenant: &NewTenant,
        token_sha256: &str,
        rules: &NewRuleVersion,
    ) -> Result<TenantRecord, StoreError> {
        let extensions = encode_json(&tenant.extensions)?;
        let (tenant, token_sha256, rules) =
            (tenant.clone(), token_sha256.to_string(), rules.clone());
        self.write(move |tx| {
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO tenants (id, enabled, extensions, rate_limit, created)
                     VALUES (?1, 1, ?2, ?3, ?4) ON CONFLICT (id) DO NOTHING",
                )?
                .execute(params![
                    tenant.id.as_str(),
                    extensions,
                    tenant.rate_limit.to_string(),
                    now()
                ])?;
            if inserted == 0 {
                return Err(StoreError::Conflict);
            }
            insert_token(tx, &tenant.id, &token_sha256)?;
            insert_version(tx, &tenant.id, &rules)?;
            read_tenant(tx, tenant.id.as_str())?.ok_or(StoreError::NotFound)
        })
    }

    fn tenant(&self, id: &TenantId) -> Result<Option<TenantRecord>, StoreError> {
        read_tenant(&self.reader(), id.as_str())
    }

    fn tenants(&self) -> Result<Vec<TenantRecord>, StoreError> {
        let connection = self.reader();
        let mut statement = connection
            .prepare_cached(&format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY id"))?;
        let rows = statement.query_map([], tenant_row)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(decode_tenant(row?)?);
        }
        Ok(out)
    }

    fn update_tenant(
        &self,
        id: &TenantId,
        change: &TenantChange,
    ) -> Result<TenantRecord, StoreError> {
        let extensions = change.extensions.as_ref().map(encode_json).transpose()?;
        let (id, change) = (id.clone(), change.clone());
        self.write(move |tx| {
            let mut tenant = read_tenant(tx, id.as_str())?.ok_or(StoreError::NotFound)?;
            if let Some(enabled) = change.enabled {
                tenant.enabled = enabled;
            }
            if let Some(rate_limit) = change.rate_limit {
                tenant.rate_limit = rate_limit;
            }
            if let Some(until) = &change.body_capture_until {
                tenant.body_capture_until = until.clone();
            }
            if let Some(extensions) = &change.extensions {
                tenant.extensions = extensions.clone();
            }
            tx.prepare_cached(
                "UPDATE tenants SET enabled = ?2, rate_limit = ?3, body_capture_until = ?4,
                    extensions = coalesce(?5, extensions) WHERE id = ?1",
            )?
            .execute(params![
                id.as_str(),
                tenant.enabled,
                tenant.rate_limit.to_string(),
                tenant.body_capture_until,
                extensions
            ])?;
            Ok(tenant)
        })
    }

    fn remove_tenant(&self, id: &TenantId) -> Result<(), StoreError> {
        let id = id.clone();
        self.write(move |tx| {
            exists(tx, &id)?;
            for table in tenant_tables(tx)? {
                tx.execute(
                    &format!(
                        "DELETE FROM \"{}\" WHERE tenant = ?1",
                        table.replace('"', "\"\"")
                    ),
                    [id.as_str()],
                )?;
            }
            tx.execute("DELETE FROM tenants WHERE id = ?1", [id.as_str()])?;
            Ok(())
        })
    }

    fn tokens(&self, tenant: &TenantId) -> Result<Vec<TokenRecord>, StoreError> {
        let connection = self.reader();
        let mut statement = connection.prepare_cached(&format!(
            "SELECT {TOKEN_COLUMNS} FROM tenant_tokens WHERE tenant = ?1 ORDER BY id"
        ))?;
        let rows = statement.query_map([tenant.as_str()], token_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn rotate_token(
        &self,
        tenant: &TenantId,
        token_sha256: &str,
        others_until: Option<&str>,
    ) -> Result<TokenRecord, StoreError> {
        let (tenant, token_sha256) = (tenant.clone(), token_sha256.to_string());
        let others_until = others_until.map(str::to_string);
        self.write(move |tx| {
            exists(tx, &tenant)?;
            let stamp = now();
            match &others_until {
                // Only shortens: a token already ending sooner keeps its end.
                Some(until) => tx
                    .prepare_cached(
                        "UPDATE tenant_tokens SET expires = ?2 WHERE tenant = ?1
                         AND revoked IS NULL AND (expires IS NULL OR expires > ?2)",
                    )?
                    .execute(params![tenant.as_str(), until])?,
                None => tx
                    .prepare_cached(
                        "UPDATE tenant_tokens SET revoked = ?2 WHERE tenant = ?1
                         AND revoked IS NULL AND (expires IS NULL OR expires > ?2)",
                    )?
                    .execute(params![tenant.as_str(), stamp])?,
            };
            insert_token(tx, &tenant, &token_sha256)
        })
    }

    fn add_token(&self, tenant: &TenantId, token_sha256: &str) -> Result<TokenRecord, StoreError> {
        let (tenant, token_sha256) = (tenant.clone(), token_sha256.to_string());
        self.write(move |tx| {
            exists(tx, &tenant)?;
            insert_token(tx, &tenant, &token_sha256)
        })
    }

    fn revoke_token(&self, tenant: &TenantId, token: i64) -> Result<TokenRecord, StoreError> {
        let tenant = tenant.clone();
        self.write(move |tx| {
            tx.prepare_cached(
                "UPDATE tenant_tokens SET revoked = coalesce(revoked, ?3) WHERE tenant = ?1 AND id = ?2",
            )?
            .execute(params![tenant.as_str(), token, now()])?;
            tx.prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM tenant_tokens WHERE tenant = ?1 AND id = ?2"
            ))?
            .query_row(params![tenant.as_str(), token], token_row)
            .optional()?
            .ok_or(StoreError::NotFound)
        })
    }

    fn publish_rules(
        &self,
        tenant: &TenantId,
        version: &NewRuleVersion,
    ) -> Result<RuleVersion, StoreError> {
        let (tenant, version) = (tenant.clone(), version.clone());
        self.write(move |tx| {
            exists(tx, &tenant)?;
            insert_version(tx, &tenant, &version)
        })
    }

    fn rule_versions(&self, tenant: &TenantId) -> Result<Vec<RuleVersion>, StoreError> {
        let mut connection = self.reader();
        let tx = connection.transaction()?;
        read_versions(&tx, tenant, None)
    }

    fn rule_version(
        &self,
        tenant: &TenantId,
        number: i64,
    ) -> Result<Option<RuleVersion>, StoreError> {
        let mut connection = self.reader();
        let tx = connection.transaction()?;
        Ok(read_versions(&tx, tenant, Some(number))?.pop())
    }

    fn set_live_version(&self, tenant: &TenantId, number: i64) -> Result<(), StoreError> {
        let tenant = tenant.clone();
        self.write(move |tx| {
            let found: Option<i64> = tx
                .prepare_cached("SELECT 1 FROM rule_versions WHERE tenant = ?1 AND number = ?2")?
                .query_row(params![tenant.as_str(), number], |row| row.get(0))
                .optional()?;
            found.ok_or(StoreError::NotFound)?;
            tx.prepare_cached("UPDATE tenants SET live_version = ?2 WHERE id = ?1")?
                .execute(params![tenant.as_str(), number])?;
            Ok(())
        })
    }

    fn create_setup_link(
        &self,
        tenant: &TenantId,
        secret_sha256: &str,
        expires: &str,
    ) -> Result<SetupLink, StoreError> {
        let (tenant, secret_sha256, expires) = (
            tenant.clone(),
            secret_sha256.to_string(),
            expires.to_string(),
        );
        self.write(move |tx| {
            exists(tx, &tenant)?;
            let created = now();
            tx.prepare_cached(
                "INSERT INTO setup_links (secret_sha256, tenant, created, expires) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![secret_sha256, tenant.as_str(), created, expires])?;
            Ok(SetupLink {
                secret_sha256,
                tenant,
                created,
                expires,
                spent: None,
            })
        })
    }

    fn setup_link(&self, secret_sha256: &str) -> Result<Option<SetupLink>, StoreError> {
        read_link(&self.reader(), secret_sha256)
    }

    fn spend_setup_link(
        &self,
        secret_sha256: &str,
        token_sha256: &str,
    ) -> Result<LinkSpend, StoreError> {
        let (secret_sha256, token_sha256) = (secret_sha256.to_string(), token_sha256.to_string());
        // Not `self.write`: a link that is gone changes nothing, not even the generation.
        self.writer.write(move |tx| {
            let mut link = read_link(tx, &secret_sha256)?.ok_or(StoreError::NotFound)?;
            let stamp = now();
            if link.spent.is_some() || link.expires <= stamp {
                return Ok(LinkSpend::Gone(link));
            }
            tx.prepare_cached("UPDATE setup_links SET spent = ?2 WHERE secret_sha256 = ?1")?
                .execute(params![secret_sha256, stamp])?;
            insert_token(tx, &link.tenant, &token_sha256)?;
            bump(tx)?;
            link.spent = Some(stamp);
            Ok(LinkSpend::Spent(link))
        })
    }

    fn record_activity(&self, entries: &[ActivityEntry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let entries = entries.to_vec();
        self.writer.write(move |tx| record(tx, &entries))
    }

    fn activity(
        &self,
        tenant: &TenantId,
        query: &ActivityQuery,
    ) -> Result<Vec<ActivityEntry>, StoreError> {
        activity_of(&self.reader(), tenant, query)
    }

    fn activity_counters(&self, tenant: &TenantId) -> Result<ActivityCounters, StoreError> {
        read_counters(&self.reader(), tenant.as_str())
    }
}

/// Appends the entries and their counts, keeping each tenant's newest [`ACTIVITY_KEPT`].
fn record(tx: &Connection, entries: &[ActivityEntry]) -> Result<(), StoreError> {
    let mut tenants: Vec<&str> = Vec::new();
    {
        let mut insert = tx.prepare_cached(
                "INSERT INTO activity (tenant, at, method, path, status, latency_us, error,
                    resource_id, request_id, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
        for e in entries {
            insert.execute(params![
                e.tenant,
                e.at,
                e.method,
                e.path,
                e.status,
                i64::try_from(e.latency_us).unwrap_or(i64::MAX),
                e.error,
                e.resource_id,
                e.request_id,
                e.body
            ])?;
            if !tenants.contains(&e.tenant.as_str()) {
                tenants.push(&e.tenant);
            }
        }
    }
    for tenant in tenants {
        let mut counters = read_counters(tx, tenant)?;
        for e in entries.iter().filter(|e| e.tenant == tenant) {
            count(&mut counters, e);
        }
        tx.prepare_cached(
            "INSERT INTO activity_counters (tenant, requests, client_errors, server_errors,
                    last_request, last_error) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (tenant) DO UPDATE SET requests = ?2, client_errors = ?3,
                    server_errors = ?4, last_request = ?5, last_error = ?6",
        )?
        .execute(params![
            tenant,
            i64::try_from(counters.requests).unwrap_or(i64::MAX),
            i64::try_from(counters.client_errors).unwrap_or(i64::MAX),
            i64::try_from(counters.server_errors).unwrap_or(i64::MAX),
            counters.last_request,
            counters.last_error
        ])?;
        // The newest ACTIVITY_KEPT stay.
        tx.prepare_cached(
                "DELETE FROM activity WHERE tenant = ?1 AND seq <= (
                    SELECT seq FROM activity WHERE tenant = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
            )?
            .execute(params![tenant, ACTIVITY_KEPT as i64])?;
    }
    Ok(())
}

fn activity_of(
    connection: &Connection,
    tenant: &TenantId,
    query: &ActivityQuery,
) -> Result<Vec<ActivityEntry>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT seq, tenant, at, method, path, status, latency_us, error, resource_id,
                request_id, body FROM activity
             WHERE tenant = ?1 AND seq > ?2 AND (?3 = 0 OR status >= 400)
             ORDER BY seq DESC LIMIT ?4",
    )?;
    let rows = statement.query_map(
        params![
            tenant.as_str(),
            query.after.unwrap_or(i64::MIN),
            query.errors_only,
            i64::try_from(query.limit).unwrap_or(i64::MAX)
        ],
        |row| {
            Ok(ActivityEntry {
                seq: row.get(0)?,
                tenant: row.get(1)?,
                at: row.get(2)?,
                method: row.get(3)?,
                path: row.get(4)?,
                status: row.get(5)?,
                latency_us: row.get::<_, i64>(6)?.max(0) as u64,
                error: row.get(7)?,
                resource_id: row.get(8)?,
                request_id: row.get(9)?,
                body: row.get(10)?,
            })
        },
    )?;
    let mut out = rows.collect::<Result<Vec<_>, _>>()?;
    out.reverse();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_registry_contract() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("canon.db")).unwrap();
        crate::store::registry::contract::run(&store);
    }

    /// Two handles on one database (two `canon serve`, or the CLI beside one) see each
    /// other's changes, and the generation tells them something changed.
    #[test]
    fn a_second_handle_sees_changes_through_the_generation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("canon.db");
        let cli = SqliteStore::open(&path).unwrap();
        let service = SqliteStore::open(&path).unwrap();
        let seen = service.generation().unwrap();
        let tenant = NewTenant {
            id: TenantId::parse("acme").unwrap(),
            extensions: serde_json::json!({}),
            rate_limit: RateLimit::Default,
        };
        cli.create_tenant(&tenant, "ab", &crate::store::registry::contract::rules("x"))
            .unwrap();
        assert!(service.generation().unwrap() > seen);
        assert_eq!(service.tenants().unwrap().len(), 1);
    }
}
