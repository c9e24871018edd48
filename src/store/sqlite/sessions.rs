//! Console sessions in SQLite (the `sessions` table of the migrations).

use rusqlite::{params, OptionalExtension};

use super::SqliteStore;
use crate::store::sessions::{Session, SessionStore};
use crate::store::StoreError;

impl SessionStore for SqliteStore {
    fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let session = session.clone();
        self.writer.write(move |tx| {
            tx.execute(
                "INSERT INTO sessions (id_sha256, csrf, who, created, expires) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    session.id_sha256,
                    session.csrf,
                    session.who,
                    session.created,
                    session.expires
                ],
            )?;
            Ok(())
        })
    }

    fn session(&self, id_sha256: &str, now: i64) -> Result<Option<Session>, StoreError> {
        Ok(self
            .reader()
            .query_row(
                "SELECT id_sha256, csrf, who, created, expires FROM sessions
                 WHERE id_sha256 = ?1 AND expires > ?2",
                params![id_sha256, now],
                |row| {
                    Ok(Session {
                        id_sha256: row.get(0)?,
                        csrf: row.get(1)?,
                        who: row.get(2)?,
                        created: row.get(3)?,
                        expires: row.get(4)?,
                    })
                },
            )
            .optional()?)
    }

    fn delete_session(&self, id_sha256: &str) -> Result<(), StoreError> {
        let id_sha256 = id_sha256.to_string();
        self.writer.write(move |tx| {
            tx.execute(
                "DELETE FROM sessions WHERE id_sha256 = ?1",
                params![id_sha256],
            )?;
            Ok(())
        })
    }

    fn purge_sessions(&self, now: i64) -> Result<usize, StoreError> {
        self.writer.write(move |tx| {
            Ok(tx.execute("DELETE FROM sessions WHERE expires <= ?1", params![now])?)
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sqlite_session_contract() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::SqliteStore::open(&dir.path().join("canon.db")).unwrap();
        crate::store::sessions::contract::run(&store);
    }
}
