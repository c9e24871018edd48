//! The organisation index in SQLite (store/org.rs): `org_refs` holds a row per user and key
//! it has (`role` 0) or manager reference it names (`role` 1), `org_state` the signature
//! each tenant's rows were made under. Writes run on the writer thread, inside the
//! savepoint of the user write they belong to.

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use super::super::org::{ManagerRowFn, OrgPlace, OrgTx, KEY_ROLE, MANAGER_ROLE};
use super::super::{ProfileRecord, StoreError, TenantId};
use crate::eval::org::OrgKey;
use crate::eval::Reports;

pub(super) const SCHEMA: &str = r#"
CREATE TABLE org_refs (
    tenant   TEXT NOT NULL,
    role     INTEGER NOT NULL,
    link     INTEGER NOT NULL,
    value    TEXT NOT NULL,
    id       TEXT NOT NULL,
    counts   INTEGER NOT NULL,
    display  TEXT NOT NULL,
    PRIMARY KEY (tenant, role, link, value, id)
) WITHOUT ROWID;
CREATE INDEX org_refs_of ON org_refs (tenant, id);
CREATE TABLE org_state (
    tenant     TEXT PRIMARY KEY,
    signature  TEXT NOT NULL
) WITHOUT ROWID;
"#;

/// Whether a user's profile, under the rules its tenant's index was made with, read how
/// many report to it (store/org.rs, `OrgTx::note_reads_reports`): kept on its rows, so it
/// goes with them when the index is rebuilt (every row then says 1, unknown). A manager
/// whose profile did not read it (a sent `peopleManager`) is then not counted when one of
/// its reports is written: that count walked all its reports, every create naming it.
pub(super) const READS_REPORTS: &str =
    "ALTER TABLE org_refs ADD COLUMN reads_reports INTEGER NOT NULL DEFAULT 1";

/// A user's rows (in no order). `INDEXED BY`: left to itself, SQLite walked the tenant's rows
/// in the primary key for them (seconds per write on 100,000 users).
pub(super) const PLACE_SQL: &str = "SELECT role, link, value, counts, display, reads_reports
    FROM org_refs INDEXED BY org_refs_of WHERE tenant = ?1 AND id = ?2";
/// Takes a user's rows out.
pub(super) const UNPLACE_SQL: &str =
    "DELETE FROM org_refs INDEXED BY org_refs_of WHERE tenant = ?1 AND id = ?2";
/// How many users count and name any key of a user: its key rows (by `org_refs_of`), each
/// joined to the rows naming it (a lookup in the primary key).
pub(super) const REPORTS_OF_USER_SQL: &str = "SELECT COUNT(DISTINCT r.id)
    FROM org_refs AS k INDEXED BY org_refs_of CROSS JOIN org_refs AS r
      ON r.tenant = k.tenant AND r.role = 1 AND r.link = k.link AND r.value = k.value
     AND r.counts = 1
    WHERE k.tenant = ?1 AND k.id = ?2 AND k.role = 0";
/// The users holding a key.
pub(super) const HOLDERS_SQL: &str = "SELECT id, reads_reports FROM org_refs
    WHERE tenant = ?1 AND role = 0 AND link = ?2 AND value = ?3";

/// One row of a user's place (a key it holds or a manager it names), with its
/// `reads_reports`.
const INSERT_REF_SQL: &str = "INSERT OR IGNORE INTO org_refs
    (tenant, role, link, value, id, counts, display, reads_reports)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

/// Every manager reference row of a tenant.
pub(super) const MANAGERS_SQL: &str =
    "SELECT id, link, value, counts FROM org_refs WHERE tenant = ?1 AND role = 1";

const KEY: i64 = KEY_ROLE as i64;
const MANAGER: i64 = MANAGER_ROLE as i64;

/// The index of one tenant on a connection in a transaction (the writer's, or a reader's).
pub(super) struct SqliteOrg<'c> {
    pub connection: &'c Connection,
    pub tenant: &'c TenantId,
    /// Whether each holder read here may read its reports (`reads_reports`).
    holders_reads: std::collections::HashMap<String, bool>,
    /// The written user's `reads_reports`: as stored (read with its place), as noted.
    stored_reads: Option<(String, bool)>,
    noted_reads: Option<(String, bool)>,
}

impl<'c> SqliteOrg<'c> {
    pub(super) fn new(connection: &'c Connection, tenant: &'c TenantId) -> Self {
        SqliteOrg {
            connection,
            tenant,
            holders_reads: std::collections::HashMap::new(),
            stored_reads: None,
            noted_reads: None,
        }
    }

    /// What [`OrgTx::note_reads_reports`] noted for `id`, else unknown (`true`).
    fn reads_of(&self, id: &str) -> bool {
        match &self.noted_reads {
            Some((noted, reads)) if noted == id => *reads,
            _ => true,
        }
    }
}

/// Forgets a tenant's index (a user written without it): the next write that keeps the
/// graph rebuilds it.
pub(super) fn forget(connection: &Connection, tenant: &TenantId) -> Result<(), StoreError> {
    connection
        .prepare_cached("DELETE FROM org_state WHERE tenant = ?1")?
        .execute([tenant.as_str()])?;
    Ok(())
}

/// `SELECT … FROM org_refs` rows of the users who count and name any of `keys` (one
/// `UNION` branch per key, each a lookup in the primary key), as `(id, display)`.
pub(super) fn reporters_sql(keys: usize) -> String {
    let branch = |n: usize| {
        format!(
            "SELECT id, display FROM org_refs WHERE tenant = ?1 AND role = {MANAGER} AND link = ?{} AND value = ?{} AND counts = 1",
            2 * n + 2,
            2 * n + 3
        )
    };
    (0..keys).map(branch).collect::<Vec<_>>().join(" UNION ")
}

fn key_params<'a>(tenant: &'a TenantId, keys: &'a [OrgKey]) -> Vec<Box<dyn rusqlite::ToSql + 'a>> {
    let mut values: Vec<Box<dyn rusqlite::ToSql + 'a>> = vec![Box::new(tenant.as_str())];
    for (link, value) in keys {
        values.push(Box::new(i64::from(*link)));
        values.push(Box::new(value.as_str()));
    }
    values
}

impl SqliteOrg<'_> {
    fn insert(&self, id: &str, place: &OrgPlace) -> Result<(), StoreError> {
        let mut insert = self.connection.prepare_cached(INSERT_REF_SQL)?;
        let reads = self.reads_of(id);
        for (role, (link, value)) in place.rows() {
            insert.execute(params![
                self.tenant.as_str(),
                role,
                i64::from(*link),
                value,
                id,
                place.counts,
                place.display,
                reads
            ])?;
        }
        Ok(())
    }
}

impl OrgTx for SqliteOrg<'_> {
    fn signature(&mut self) -> Result<Option<String>, StoreError> {
        Ok(self
            .connection
            .prepare_cached("SELECT signature FROM org_state WHERE tenant = ?1")?
            .query_row([self.tenant.as_str()], |row| row.get(0))
            .optional()?)
    }

    fn reset(&mut self, signature: &str) -> Result<(), StoreError> {
        self.connection
            .prepare_cached("DELETE FROM org_refs WHERE tenant = ?1")?
            .execute([self.tenant.as_str()])?;
        self.connection
            .prepare_cached("INSERT OR REPLACE INTO org_state (tenant, signature) VALUES (?1, ?2)")?
            .execute([self.tenant.as_str(), signature])?;
        Ok(())
    }

    fn users(&mut self, visit: &mut dyn FnMut(&str, &Value)) -> Result<(), StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT id, body FROM resources WHERE tenant = ?1 AND kind = 'User' ORDER BY rowid",
        )?;
        let mut rows = statement.query([self.tenant.as_str()])?;
        while let Some(row) = rows.next()? {
            let (id, body): (String, String) = (row.get(0)?, row.get(1)?);
            let body: Value = serde_json::from_str(&body)
                .map_err(|e| StoreError::Backend(format!("stored body of {id}: {e}")))?;
            visit(&id, &body);
        }
        Ok(())
    }

    fn place(&mut self, id: &str) -> Result<Option<OrgPlace>, StoreError> {
        let mut statement = self.connection.prepare_cached(PLACE_SQL)?;
        let mut rows = statement.query(params![self.tenant.as_str(), id])?;
        let mut place: Option<OrgPlace> = None;
        while let Some(row) = rows.next()? {
            let (role, link, value): (i64, i64, String) = (row.get(0)?, row.get(1)?, row.get(2)?);
            self.stored_reads = Some((id.to_string(), row.get(5)?));
            let place = place.get_or_insert_with(OrgPlace::default);
            place.counts = row.get(3)?;
            place.display = row.get(4)?;
            let key = (u16::try_from(link).unwrap_or(u16::MAX), value);
            if role == KEY {
                place.keys.push(key);
            } else {
                place.manager.push(key);
            }
        }
        if let Some(place) = &mut place {
            place.keys.sort();
            place.manager.sort();
        }
        Ok(place)
    }

    fn set_place(&mut self, id: &str, place: Option<&OrgPlace>) -> Result<(), StoreError> {
        self.connection
            .prepare_cached(UNPLACE_SQL)?
            .execute(params![self.tenant.as_str(), id])?;
        match place {
            Some(place) => self.insert(id, place),
            None => Ok(()),
        }
    }

    fn add_places(&mut self, places: &[(String, OrgPlace)]) -> Result<(), StoreError> {
        // In the primary key's order: the B-tree grows at one end instead of everywhere.
        let mut rows: Vec<(i64, u16, &str, &str, &OrgPlace)> = Vec::new();
        for (id, place) in places {
            for (role, (link, value)) in place.rows() {
                rows.push((i64::from(role), *link, value, id, place));
            }
        }
        rows.sort_unstable_by(|a, b| (a.0, a.1, a.2, a.3).cmp(&(b.0, b.1, b.2, b.3)));
        let mut insert = self.connection.prepare_cached(INSERT_REF_SQL)?;
        for (role, link, value, id, place) in rows {
            insert.execute(params![
                self.tenant.as_str(),
                role,
                i64::from(link),
                value,
                id,
                place.counts,
                place.display,
                self.reads_of(id)
            ])?;
        }
        Ok(())
    }

    fn holders(&mut self, keys: &[OrgKey]) -> Result<Vec<(String, OrgKey)>, StoreError> {
        let mut statement = self.connection.prepare_cached(HOLDERS_SQL)?;
        let mut ids = Vec::new();
        for key in keys {
            let (link, value) = key;
            let rows = statement.query_map(
                params![self.tenant.as_str(), i64::from(*link), value],
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, bool>(1)?)),
            )?;
            for row in rows {
                let (id, reads) = row?;
                // Every row of a user says the same; `true` wins should they not.
                *self.holders_reads.entry(id.clone()).or_insert(reads) |= reads;
                ids.push((id, key.clone()));
            }
        }
        Ok(ids)
    }

    fn reports(&mut self, keys: &[OrgKey], keep: usize) -> Result<Reports, StoreError> {
        let mut reports = Reports::default();
        if keys.is_empty() {
            return Ok(reports);
        }
        let reporters = reporters_sql(keys.len());
        let values = key_params(self.tenant, keys);
        let count: i64 = self
            .connection
            .prepare_cached(&format!("SELECT COUNT(DISTINCT id) FROM ({reporters})"))?
            .query_row(rusqlite::params_from_iter(values.iter()), |row| row.get(0))?;
        reports.count = u64::try_from(count).unwrap_or(0);
        if keep > 0 && count > 0 {
            // Oldest user first, as a pass over the users in order lists them.
            let sql = format!(
                "SELECT u.display FROM ({reporters}) AS u CROSS JOIN resources AS r
                   ON r.tenant = ?1 AND r.kind = 'User' AND r.id = u.id
                 GROUP BY u.id ORDER BY MIN(r.rowid) LIMIT {keep}"
            );
            let mut statement = self.connection.prepare_cached(&sql)?;
            let rows = statement.query_map(rusqlite::params_from_iter(values.iter()), |row| {
                row.get::<_, String>(0)
            })?;
            for display in rows {
                reports.people.push(display?);
            }
        }
        Ok(reports)
    }

    fn managers(&mut self, visit: &mut ManagerRowFn<'_>) -> Result<(), StoreError> {
        // In the primary key's order: one walk of the tenant's manager rows.
        let mut statement = self.connection.prepare_cached(MANAGERS_SQL)?;
        let mut rows = statement.query([self.tenant.as_str()])?;
        while let Some(row) = rows.next()? {
            let link = u16::try_from(row.get::<_, i64>(1)?).unwrap_or(u16::MAX);
            let text = |at: usize| {
                row.get_ref(at)?
                    .as_str()
                    .map_err(|e| StoreError::Backend(format!("org_refs: {e}")))
            };
            let (id, value) = (text(0)?, text(2)?);
            visit(id, (link, value), row.get(3)?);
        }
        Ok(())
    }

    fn reports_of_user(&mut self, id: &str) -> Result<u64, StoreError> {
        let count: i64 = self
            .connection
            .prepare_cached(REPORTS_OF_USER_SQL)?
            .query_row(params![self.tenant.as_str(), id], |row| row.get(0))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    fn user(&mut self, id: &str) -> Result<Option<(Value, Option<ProfileRecord>)>, StoreError> {
        let row: Option<(String, Option<String>)> = self
            .connection
            .prepare_cached(
                "SELECT body, profile FROM resources WHERE tenant = ?1 AND kind = 'User' AND id = ?2",
            )?
            .query_row(params![self.tenant.as_str(), id], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()?;
        let Some((body, profile)) = row else {
            return Ok(None);
        };
        let body = serde_json::from_str(&body)
            .map_err(|e| StoreError::Backend(format!("stored body of {id}: {e}")))?;
        let profile = profile
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|e| StoreError::Backend(format!("stored profile of {id}: {e}")))?;
        Ok(Some((body, profile)))
    }

    fn note_reads_reports(&mut self, id: &str, reads: bool) -> Result<(), StoreError> {
        self.noted_reads = Some((id.to_string(), reads));
        match &self.stored_reads {
            // Rows that stay as they are keep what they say unless it changed.
            Some((stored, flag)) if stored == id && *flag != reads => {
                self.connection
                    .prepare_cached(
                        "UPDATE org_refs INDEXED BY org_refs_of SET reads_reports = ?3
                         WHERE tenant = ?1 AND id = ?2",
                    )?
                    .execute(params![self.tenant.as_str(), id, reads])?;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn reads_reports(&mut self, id: &str) -> Result<bool, StoreError> {
        Ok(self.holders_reads.get(id).copied().unwrap_or(true))
    }

    fn set_profile(&mut self, id: &str, profile: &ProfileRecord) -> Result<(), StoreError> {
        let text =
            serde_json::to_string(profile).map_err(|e| StoreError::Backend(e.to_string()))?;
        self.connection
            .prepare_cached(
                "UPDATE resources SET profile = ?3 WHERE tenant = ?1 AND kind = 'User' AND id = ?2",
            )?
            .execute(params![self.tenant.as_str(), id, text])?;
        Ok(())
    }
}
