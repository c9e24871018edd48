//! Console sign-in sessions, kept in the store so several instances behind one balancer
//! share them: a session signed in on one is valid on every other, and a sign-out anywhere
//! ends it everywhere.
//!
//! Only a hash of the session id is stored (a copy of the database gives no one a cookie);
//! the CSRF token that the session's forms carry is stored beside it.

use super::StoreError;

/// One signed-in session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 (hex) of the id the cookie carries.
    pub id_sha256: String,
    /// The token every form of this session must send back.
    pub csrf: String,
    /// Who signed in (`admin` for the admin token).
    pub who: String,
    /// Unix seconds.
    pub created: i64,
    /// Unix seconds; from then on the session is gone.
    pub expires: i64,
}

/// Where sessions live. Times are passed in, so tests need no clock.
pub trait SessionStore: Send + Sync {
    fn create_session(&self, session: &Session) -> Result<(), StoreError>;
    /// The session whose id hashes to `id_sha256`, if it has not expired by `now`.
    fn session(&self, id_sha256: &str, now: i64) -> Result<Option<Session>, StoreError>;
    /// Ends a session (sign-out); ending one that is gone is no error.
    fn delete_session(&self, id_sha256: &str) -> Result<(), StoreError>;
    /// Forgets every session expired by `now`; how many there were.
    fn purge_sessions(&self, now: i64) -> Result<usize, StoreError>;
}

#[cfg(test)]
pub(crate) mod contract {
    //! The same session behaviour, run against every backend.
    use super::*;

    fn session(id: &str, expires: i64) -> Session {
        Session {
            id_sha256: id.into(),
            csrf: format!("csrf-{id}"),
            who: "admin".into(),
            created: 100,
            expires,
        }
    }

    pub fn run(store: &dyn SessionStore) {
        store.create_session(&session("a", 200)).unwrap();
        store.create_session(&session("b", 1_000)).unwrap();
        assert_eq!(store.session("a", 150).unwrap(), Some(session("a", 200)));
        // Expired at its `expires` second, and unknown ids are simply absent.
        assert_eq!(store.session("a", 200).unwrap(), None);
        assert_eq!(store.session("nope", 150).unwrap(), None);
        assert_eq!(store.purge_sessions(500).unwrap(), 1);
        assert_eq!(store.session("a", 150).unwrap(), None);
        assert!(store.session("b", 500).unwrap().is_some());
        store.delete_session("b").unwrap();
        store.delete_session("b").unwrap();
        assert_eq!(store.session("b", 500).unwrap(), None);
        // The same id twice is refused, never a silent overwrite of another's session.
        store.create_session(&session("c", 1_000)).unwrap();
        assert!(store.create_session(&session("c", 2_000)).is_err());
    }
}
