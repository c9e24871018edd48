//! The tenant registry and console sessions in PostgreSQL: the same tables as SQLite's
//! (migration 2), one `registry_generation` row bumped by every change, and a `NOTIFY` of the
//! new generation in the same transaction (delivered at its commit) for `watch.rs`.

use tokio_postgres::Row;

use super::watch::CHANNEL;
use super::{db_error, Failure, PostgresStore};
use crate::store::registry::{
    count, ActivityCounters, ActivityEntry, ActivityQuery, LinkSpend, NewRuleVersion, NewTenant,
    RateLimit, RuleBundle, RuleVersion, SetupLink, TenantChange, TenantRecord, TenantRegistry,
    TokenRecord, ACTIVITY_KEPT,
};
use crate::store::sessions::{Session, SessionStore};
use crate::store::{now, StoreError, TenantId};

type Tx<'a> = deadpool_postgres::Transaction<'a>;

/// Bumps the generation and announces it; the new generation.
async fn bump(tx: &Tx<'_>) -> Result<i64, Failure> {
    let statement = tx
        .prepare_cached(
            "UPDATE registry_generation SET generation = generation + 1 RETURNING generation",
        )
        .await?;
    let generation: i64 = tx.query_one(&statement, &[]).await?.try_get(0)?;
    let notify = tx.prepare_cached("SELECT pg_notify($1, $2)").await?;
    tx.execute(&notify, &[&CHANNEL, &generation.to_string()])
        .await?;
    Ok(generation)
}

fn encode_json(value: &serde_json::Value) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(e.to_string()))
}

const TENANT_COLUMNS: &str =
    "id, enabled, extensions, rate_limit, body_capture_until, live_version, created";

fn decode_tenant(row: &Row) -> Result<TenantRecord, StoreError> {
    let id: String = row.try_get(0).map_err(db_error)?;
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        StoreError::Backend(format!("stored {what} of tenant {id}: {e}"))
    };
    let extensions: String = row.try_get(2).map_err(db_error)?;
    let rate_limit: String = row.try_get(3).map_err(db_error)?;
    Ok(TenantRecord {
        id: TenantId::parse(&id).map_err(|e| bad("id", &e))?,
        enabled: row.try_get(1).map_err(db_error)?,
        extensions: serde_json::from_str(&extensions).map_err(|e| bad("extensions", &e))?,
        rate_limit: RateLimit::parse(&rate_limit).map_err(|e| bad("rate limit", &e))?,
        body_capture_until: row.try_get(4).map_err(db_error)?,
        live_version: row.try_get(5).map_err(db_error)?,
        created: row.try_get(6).map_err(db_error)?,
    })
}

async fn read_tenant(
    client: &tokio_postgres::Client,
    id: &str,
) -> Result<Option<TenantRecord>, Failure> {
    let statement = client
        .prepare(&format!(
            "SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1"
        ))
        .await?;
    Ok(client
        .query_opt(&statement, &[&id])
        .await?
        .as_ref()
        .map(decode_tenant)
        .transpose()?)
}

async fn exists(tx: &Tx<'_>, tenant: &TenantId) -> Result<(), Failure> {
    let statement = tx
        .prepare_cached("SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE")
        .await?;
    match tx.query_opt(&statement, &[&tenant.as_str()]).await? {
        Some(_) => Ok(()),
        None => Err(StoreError::NotFound.into()),
    }
}

const TOKEN_COLUMNS: &str = "id, sha256, created, expires, revoked";

fn decode_token(row: &Row) -> Result<TokenRecord, tokio_postgres::Error> {
    Ok(TokenRecord {
        id: row.try_get(0)?,
        sha256: row.try_get(1)?,
        created: row.try_get(2)?,
        expires: row.try_get(3)?,
        revoked: row.try_get(4)?,
    })
}

async fn insert_token(
    tx: &Tx<'_>,
    tenant: &TenantId,
    sha256: &str,
) -> Result<TokenRecord, Failure> {
    let created = now();
    let statement = tx
        .prepare_cached(
            "INSERT INTO tenant_tokens (tenant, sha256, created) VALUES ($1, $2, $3) RETURNING id",
        )
        .await?;
    let id: i64 = tx
        .query_one(&statement, &[&tenant.as_str(), &sha256, &created])
        .await?
        .try_get(0)?;
    Ok(TokenRecord {
        id,
        sha256: sha256.to_string(),
        created,
        expires: None,
        revoked: None,
    })
}

/// Stores a version numbered after the tenant's last and makes it live.
async fn insert_version(
    tx: &Tx<'_>,
    tenant: &TenantId,
    version: &NewRuleVersion,
) -> Result<RuleVersion, Failure> {
    let next = tx
        .prepare_cached("SELECT coalesce(max(number), 0) + 1 FROM rule_versions WHERE tenant = $1")
        .await?;
    let number: i64 = tx.query_one(&next, &[&tenant.as_str()]).await?.try_get(0)?;
    let created = now();
    let insert = tx
        .prepare_cached(
            "INSERT INTO rule_versions (tenant, number, hash, name, text, note, author, created)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .await?;
    tx.execute(
        &insert,
        &[
            &tenant.as_str(),
            &number,
            &version.hash,
            &version.bundle.name,
            &version.bundle.text,
            &version.note,
            &version.author,
            &created,
        ],
    )
    .await?;
    let file = tx
        .prepare_cached(
            "INSERT INTO rule_files (tenant, number, path, bytes) VALUES ($1, $2, $3, $4)",
        )
        .await?;
    for (path, bytes) in &version.bundle.files {
        tx.execute(&file, &[&tenant.as_str(), &number, path, bytes])
            .await?;
    }
    let live = tx
        .prepare_cached("UPDATE tenants SET live_version = $2 WHERE id = $1")
        .await?;
    tx.execute(&live, &[&tenant.as_str(), &number]).await?;
    Ok(RuleVersion {
        number,
        hash: version.hash.clone(),
        bundle: version.bundle.clone(),
        note: version.note.clone(),
        author: version.author.clone(),
        created,
    })
}

async fn read_versions(
    client: &tokio_postgres::Client,
    tenant: &TenantId,
    only: Option<i64>,
) -> Result<Vec<RuleVersion>, Failure> {
    let rows = client
        .query(
            "SELECT number, hash, name, text, note, author, created FROM rule_versions
             WHERE tenant = $1 AND ($2::BIGINT IS NULL OR number = $2) ORDER BY number",
            &[&tenant.as_str(), &only],
        )
        .await?;
    let mut versions = Vec::new();
    for row in rows {
        versions.push(RuleVersion {
            number: row.try_get(0)?,
            hash: row.try_get(1)?,
            bundle: RuleBundle {
                name: row.try_get(2)?,
                text: row.try_get(3)?,
                files: Vec::new(),
            },
            note: row.try_get(4)?,
            author: row.try_get(5)?,
            created: row.try_get(6)?,
        });
    }
    for version in &mut versions {
        let files = client
            .query(
                "SELECT path, bytes FROM rule_files WHERE tenant = $1 AND number = $2 ORDER BY seq",
                &[&tenant.as_str(), &version.number],
            )
            .await?;
        for file in files {
            version
                .bundle
                .files
                .push((file.try_get(0)?, file.try_get(1)?));
        }
    }
    Ok(versions)
}

async fn read_link(
    client: &tokio_postgres::Client,
    secret_sha256: &str,
) -> Result<Option<SetupLink>, Failure> {
    let row = client
        .query_opt(
            "SELECT secret_sha256, tenant, created, expires, spent FROM setup_links
             WHERE secret_sha256 = $1",
            &[&secret_sha256],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let tenant: String = row.try_get(1)?;
    Ok(Some(SetupLink {
        secret_sha256: row.try_get(0)?,
        tenant: TenantId::parse(&tenant)
            .map_err(|e| StoreError::Backend(format!("stored setup link: {e}")))?,
        created: row.try_get(2)?,
        expires: row.try_get(3)?,
        spent: row.try_get(4)?,
    }))
}

async fn read_counters(
    client: &tokio_postgres::Client,
    tenant: &str,
) -> Result<ActivityCounters, Failure> {
    let row = client
        .query_opt(
            "SELECT requests, client_errors, server_errors, last_request, last_error
             FROM activity_counters WHERE tenant = $1",
            &[&tenant],
        )
        .await?;
    let Some(row) = row else {
        return Ok(ActivityCounters::default());
    };
    let count = |i: usize| -> Result<u64, tokio_postgres::Error> {
        Ok(row.try_get::<_, i64>(i)?.max(0).unsigned_abs())
    };
    Ok(ActivityCounters {
        requests: count(0)?,
        client_errors: count(1)?,
        server_errors: count(2)?,
        last_request: row.try_get(3)?,
        last_error: row.try_get(4)?,
    })
}

impl PostgresStore {
    /// A registry change: `change`, then the generation's bump and its notification, in one
    /// transaction; the cached generation follows at once (this instance need not wait for
    /// its own notification).
    fn change<T>(
        &self,
        mut change: impl AsyncFnMut(&Tx<'_>) -> Result<T, Failure>,
    ) -> Result<T, StoreError> {
        let (out, generation) = self.transaction(async |tx| {
            let out = change(tx).await?;
            let generation = bump(tx).await?;
            Ok((out, generation))
        })?;
        self.watch.saw(generation);
        Ok(out)
    }

    /// A read on one pooled connection.
    fn query<T>(
        &self,
        read: impl AsyncFnOnce(&tokio_postgres::Client) -> Result<T, Failure>,
    ) -> Result<T, StoreError> {
        self.block_on(async {
            let client = self.client().await?;
            Ok(read(&client).await?)
        })
    }
}

impl TenantRegistry for PostgresStore {
    fn generation(&self) -> Result<i64, StoreError> {
        if let Some(generation) = self.watch.fresh() {
            return Ok(generation);
        }
        let generation = self.query(async |client| {
            let row = client
                .query_one("SELECT generation FROM registry_generation", &[])
                .await?;
            Ok(row.try_get::<_, i64>(0)?)
        })?;
        self.watch.polled(generation);
        Ok(generation)
    }

    fn create_tenant(
        &self,
        tenant: &NewTenant,
        token_sha256: &str,
        rules: &NewRuleVersion,
    ) -> Result<TenantRecord, StoreError> {
        let extensions = encode_json(&tenant.extensions)?;
        self.change(async |tx| {
            let insert = tx
                .prepare_cached(
                    "INSERT INTO tenants (id, enabled, extensions, rate_limit, created)
                     VALUES ($1, TRUE, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
                )
                .await?;
            let inserted = tx
                .execute(
                    &insert,
                    &[
                        &tenant.id.as_str(),
                        &extensions,
                        &tenant.rate_limit.to_string(),
                        &now(),
                    ],
                )
                .await?;
            if inserted == 0 {
                return Err(StoreError::Conflict.into());
            }
            insert_token(tx, &tenant.id, token_sha256).await?;
            insert_version(tx, &tenant.id, rules).await?;
            read_tenant(tx.client(), tenant.id.as_str())
                .await?
                .ok_or_else(|| StoreError::NotFound.into())
        })
    }

    fn tenant(&self, id: &TenantId) -> Result<Option<TenantRecord>, StoreError> {
        self.query(async |client| read_tenant(client, id.as_str()).await)
    }

    fn tenants(&self) -> Result<Vec<TenantRecord>, StoreError> {
        self.query(async |client| {
            let rows = client
                .query(
                    &format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY id"),
                    &[],
                )
                .await?;
            Ok(rows
                .iter()
                .map(decode_tenant)
                .collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn update_tenant(
        &self,
        id: &TenantId,
        change: &TenantChange,
    ) -> Result<TenantRecord, StoreError> {
        let extensions = change.extensions.as_ref().map(encode_json).transpose()?;
        self.change(async |tx| {
            exists(tx, id).await?;
            let mut tenant = read_tenant(tx.client(), id.as_str())
                .await?
                .ok_or(StoreError::NotFound)?;
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
            tx.execute(
                "UPDATE tenants SET enabled = $2, rate_limit = $3, body_capture_until = $4,
                    extensions = coalesce($5, extensions) WHERE id = $1",
                &[
                    &id.as_str(),
                    &tenant.enabled,
                    &tenant.rate_limit.to_string(),
                    &tenant.body_capture_until,
                    &extensions,
                ],
            )
            .await?;
            Ok(tenant)
        })
    }

    fn remove_tenant(&self, id: &TenantId) -> Result<(), StoreError> {
        self.change(async |tx| {
            exists(tx, id).await?;
            // Every table with a `tenant` column, including tables added after this file.
            let tables = tx
                .query(
                    "SELECT table_name::TEXT FROM information_schema.columns
                     WHERE table_schema = current_schema() AND column_name = 'tenant'
                     ORDER BY table_name",
                    &[],
                )
                .await?;
            for table in tables {
                let name: String = table.try_get(0)?;
                let sql = format!(
                    "DELETE FROM \"{}\" WHERE tenant = $1",
                    name.replace('"', "\"\"")
                );
                tx.execute(&sql, &[&id.as_str()]).await?;
            }
            tx.execute("DELETE FROM tenants WHERE id = $1", &[&id.as_str()])
                .await?;
            Ok(())
        })
    }

    fn tokens(&self, tenant: &TenantId) -> Result<Vec<TokenRecord>, StoreError> {
        self.query(async |client| {
            let rows = client
                .query(
                    &format!(
                        "SELECT {TOKEN_COLUMNS} FROM tenant_tokens WHERE tenant = $1 ORDER BY id"
                    ),
                    &[&tenant.as_str()],
                )
                .await?;
            Ok(rows
                .iter()
                .map(decode_token)
                .collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn rotate_token(
        &self,
        tenant: &TenantId,
        token_sha256: &str,
        others_until: Option<&str>,
    ) -> Result<TokenRecord, StoreError> {
        self.change(async |tx| {
            exists(tx, tenant).await?;
            let stamp = now();
            match others_until {
                // Only shortens: a token already ending sooner keeps its end.
                Some(until) => {
                    tx.execute(
                        "UPDATE tenant_tokens SET expires = $2 WHERE tenant = $1
                         AND revoked IS NULL AND (expires IS NULL OR expires > $2)",
                        &[&tenant.as_str(), &until],
                    )
                    .await?
                }
                None => {
                    tx.execute(
                        "UPDATE tenant_tokens SET revoked = $2 WHERE tenant = $1
                         AND revoked IS NULL AND (expires IS NULL OR expires > $2)",
                        &[&tenant.as_str(), &stamp],
                    )
                    .await?
                }
            };
            insert_token(tx, tenant, token_sha256).await
        })
    }

    fn add_token(&self, tenant: &TenantId, token_sha256: &str) -> Result<TokenRecord, StoreError> {
        self.change(async |tx| {
            exists(tx, tenant).await?;
            insert_token(tx, tenant, token_sha256).await
        })
    }

    fn revoke_token(&self, tenant: &TenantId, token: i64) -> Result<TokenRecord, StoreError> {
        self.change(async |tx| {
            let row = tx
                .query_opt(
                    &format!(
                        "UPDATE tenant_tokens SET revoked = coalesce(revoked, $3)
                         WHERE tenant = $1 AND id = $2 RETURNING {TOKEN_COLUMNS}"
                    ),
                    &[&tenant.as_str(), &token, &now()],
                )
                .await?
                .ok_or(StoreError::NotFound)?;
            Ok(decode_token(&row)?)
        })
    }

    fn publish_rules(
        &self,
        tenant: &TenantId,
        version: &NewRuleVersion,
    ) -> Result<RuleVersion, StoreError> {
        self.change(async |tx| {
            // The tenant's row lock also orders two publications of one tenant.
            exists(tx, tenant).await?;
            insert_version(tx, tenant, version).await
        })
    }

    fn rule_versions(&self, tenant: &TenantId) -> Result<Vec<RuleVersion>, StoreError> {
        self.query(async |client| read_versions(client, tenant, None).await)
    }

    fn rule_version(
        &self,
        tenant: &TenantId,
        number: i64,
    ) -> Result<Option<RuleVersion>, StoreError> {
        self.query(async |client| Ok(read_versions(client, tenant, Some(number)).await?.pop()))
    }

    fn set_live_version(&self, tenant: &TenantId, number: i64) -> Result<(), StoreError> {
        self.change(async |tx| {
            let found = tx
                .query_opt(
                    "SELECT 1 FROM rule_versions WHERE tenant = $1 AND number = $2",
                    &[&tenant.as_str(), &number],
                )
                .await?;
            found.ok_or(StoreError::NotFound)?;
            tx.execute(
                "UPDATE tenants SET live_version = $2 WHERE id = $1",
                &[&tenant.as_str(), &number],
            )
            .await?;
            Ok(())
        })
    }

    fn create_setup_link(
        &self,
        tenant: &TenantId,
        secret_sha256: &str,
        expires: &str,
    ) -> Result<SetupLink, StoreError> {
        self.change(async |tx| {
            exists(tx, tenant).await?;
            let created = now();
            tx.execute(
                "INSERT INTO setup_links (secret_sha256, tenant, created, expires) VALUES ($1, $2, $3, $4)",
                &[&secret_sha256, &tenant.as_str(), &created, &expires],
            )
            .await?;
            Ok(SetupLink {
                secret_sha256: secret_sha256.to_string(),
                tenant: tenant.clone(),
                created,
                expires: expires.to_string(),
                spent: None,
            })
        })
    }

    fn setup_link(&self, secret_sha256: &str) -> Result<Option<SetupLink>, StoreError> {
        self.query(async |client| read_link(client, secret_sha256).await)
    }

    fn spend_setup_link(
        &self,
        secret_sha256: &str,
        token_sha256: &str,
    ) -> Result<LinkSpend, StoreError> {
        // Not `change`: a link that is gone changes nothing, not even the generation.
        let (spend, generation) = self.transaction(async |tx| {
            let locked = tx
                .query_opt(
                    "SELECT 1 FROM setup_links WHERE secret_sha256 = $1 FOR UPDATE",
                    &[&secret_sha256],
                )
                .await?;
            locked.ok_or(StoreError::NotFound)?;
            let mut link = read_link(tx.client(), secret_sha256)
                .await?
                .ok_or(StoreError::NotFound)?;
            let stamp = now();
            if link.spent.is_some() || link.expires <= stamp {
                return Ok((LinkSpend::Gone(link), None));
            }
            tx.execute(
                "UPDATE setup_links SET spent = $2 WHERE secret_sha256 = $1",
                &[&secret_sha256, &stamp],
            )
            .await?;
            insert_token(tx, &link.tenant, token_sha256).await?;
            let generation = bump(tx).await?;
            link.spent = Some(stamp);
            Ok((LinkSpend::Spent(link), Some(generation)))
        })?;
        if let Some(generation) = generation {
            self.watch.saw(generation);
        }
        Ok(spend)
    }

    fn record_activity(&self, entries: &[ActivityEntry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        self.transaction(async |tx| {
            let insert = tx
                .prepare_cached(
                    "INSERT INTO activity (tenant, at, method, path, status, latency_us, error,
                        resource_id, request_id, body)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .await?;
            let mut tenants: Vec<&str> = Vec::new();
            for e in entries {
                tx.execute(
                    &insert,
                    &[
                        &e.tenant,
                        &e.at,
                        &e.method,
                        &e.path,
                        &i32::from(e.status),
                        &i64::try_from(e.latency_us).unwrap_or(i64::MAX),
                        &e.error,
                        &e.resource_id,
                        &e.request_id,
                        &e.body,
                    ],
                )
                .await?;
                if !tenants.contains(&e.tenant.as_str()) {
                    tenants.push(&e.tenant);
                }
            }
            for tenant in tenants {
                // Locked first: two instances counting at once add up, not overwrite.
                tx.execute(
                    "INSERT INTO activity_counters (tenant, requests, client_errors, server_errors)
                     VALUES ($1, 0, 0, 0) ON CONFLICT (tenant) DO NOTHING",
                    &[&tenant],
                )
                .await?;
                tx.execute(
                    "SELECT 1 FROM activity_counters WHERE tenant = $1 FOR UPDATE",
                    &[&tenant],
                )
                .await?;
                let mut counters = read_counters(tx.client(), tenant).await?;
                for e in entries.iter().filter(|e| e.tenant == tenant) {
                    count(&mut counters, e);
                }
                let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
                tx.execute(
                    "UPDATE activity_counters SET requests = $2, client_errors = $3,
                        server_errors = $4, last_request = $5, last_error = $6 WHERE tenant = $1",
                    &[
                        &tenant,
                        &as_i64(counters.requests),
                        &as_i64(counters.client_errors),
                        &as_i64(counters.server_errors),
                        &counters.last_request,
                        &counters.last_error,
                    ],
                )
                .await?;
                // The newest ACTIVITY_KEPT stay.
                tx.execute(
                    "DELETE FROM activity WHERE tenant = $1 AND seq <= (
                        SELECT seq FROM activity WHERE tenant = $1 ORDER BY seq DESC LIMIT 1 OFFSET $2)",
                    &[&tenant, &i64::try_from(ACTIVITY_KEPT).unwrap_or(i64::MAX)],
                )
                .await?;
            }
            Ok(())
        })
    }

    fn activity(
        &self,
        tenant: &TenantId,
        query: &ActivityQuery,
    ) -> Result<Vec<ActivityEntry>, StoreError> {
        self.query(async |client| {
            let rows = client
                .query(
                    "SELECT seq, tenant, at, method, path, status, latency_us, error, resource_id,
                        request_id, body FROM activity
                     WHERE tenant = $1 AND seq > $2 AND (NOT $3 OR status >= 400)
                     ORDER BY seq DESC LIMIT $4",
                    &[
                        &tenant.as_str(),
                        &query.after.unwrap_or(i64::MIN),
                        &query.errors_only,
                        &i64::try_from(query.limit).unwrap_or(i64::MAX),
                    ],
                )
                .await?;
            let mut out = Vec::new();
            for row in rows.iter().rev() {
                out.push(ActivityEntry {
                    seq: row.try_get(0)?,
                    tenant: row.try_get(1)?,
                    at: row.try_get(2)?,
                    method: row.try_get(3)?,
                    path: row.try_get(4)?,
                    status: u16::try_from(row.try_get::<_, i32>(5)?).unwrap_or(0),
                    latency_us: row.try_get::<_, i64>(6)?.max(0).unsigned_abs(),
                    error: row.try_get(7)?,
                    resource_id: row.try_get(8)?,
                    request_id: row.try_get(9)?,
                    body: row.try_get(10)?,
                });
            }
            Ok(out)
        })
    }

    fn activity_counters(&self, tenant: &TenantId) -> Result<ActivityCounters, StoreError> {
        self.query(async |client| read_counters(client, tenant.as_str()).await)
    }
}

impl SessionStore for PostgresStore {
    fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        self.transaction(async |tx| {
            tx.execute(
                "INSERT INTO sessions (id_sha256, csrf, who, created, expires) VALUES ($1, $2, $3, $4, $5)",
                &[&session.id_sha256, &session.csrf, &session.who, &session.created, &session.expires],
            )
            .await?;
            Ok(())
        })
    }

    fn session(&self, id_sha256: &str, now: i64) -> Result<Option<Session>, StoreError> {
        self.query(async |client| {
            let row = client
                .query_opt(
                    "SELECT id_sha256, csrf, who, created, expires FROM sessions
                     WHERE id_sha256 = $1 AND expires > $2",
                    &[&id_sha256, &now],
                )
                .await?;
            let Some(row) = row else { return Ok(None) };
            Ok(Some(Session {
                id_sha256: row.try_get(0)?,
                csrf: row.try_get(1)?,
                who: row.try_get(2)?,
                created: row.try_get(3)?,
                expires: row.try_get(4)?,
            }))
        })
    }

    fn delete_session(&self, id_sha256: &str) -> Result<(), StoreError> {
        self.transaction(async |tx| {
            tx.execute("DELETE FROM sessions WHERE id_sha256 = $1", &[&id_sha256])
                .await?;
            Ok(())
        })
    }

    fn purge_sessions(&self, now: i64) -> Result<usize, StoreError> {
        self.transaction(async |tx| {
            let purged = tx
                .execute("DELETE FROM sessions WHERE expires <= $1", &[&now])
                .await?;
            Ok(usize::try_from(purged).unwrap_or(usize::MAX))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Option<crate::store::testing::TestStore> {
        crate::store::testing::fresh_postgres_store().unwrap()
    }

    #[test]
    fn postgres_registry_contract() {
        let Some(store) = store() else { return };
        crate::store::registry::contract::run(&*store);
    }

    #[test]
    fn postgres_session_contract() {
        let Some(store) = store() else { return };
        crate::store::sessions::contract::run(&*store);
    }

    /// Two instances on one database: a change through one moves the other's generation
    /// within the 2 s the service promises (by notification, well under it).
    #[test]
    fn a_change_reaches_another_instance_by_notification() {
        let Some(url) = crate::store::testing::fresh_postgres_database().unwrap() else {
            return;
        };
        let (one, two) = (
            PostgresStore::open(&url).unwrap(),
            PostgresStore::open(&url).unwrap(),
        );
        let seen = two.generation().unwrap();
        // Give the listener its LISTEN before the change.
        let started = std::time::Instant::now();
        while !two.watch.listening() && started.elapsed() < std::time::Duration::from_secs(5) {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(two.watch.listening(), "the listener never connected");
        let tenant = NewTenant {
            id: TenantId::parse("acme").unwrap(),
            extensions: serde_json::json!({}),
            rate_limit: RateLimit::Default,
        };
        one.create_tenant(&tenant, "ab", &crate::store::registry::contract::rules("x"))
            .unwrap();
        let changed = std::time::Instant::now();
        while two.generation().unwrap() == seen {
            assert!(
                changed.elapsed() < std::time::Duration::from_secs(2),
                "the other instance did not see the change within 2 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(
            changed.elapsed() < std::time::Duration::from_millis(900),
            "seen only by polling ({:?}), not by notification",
            changed.elapsed()
        );
        assert_eq!(two.tenants().unwrap().len(), 1);
    }
}
