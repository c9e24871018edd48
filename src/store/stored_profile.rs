//! A stored user's canonical profile, decoded from the store's JSON the first time it is read.
//!
//! A store reads a resource's row whole, profile included, but SCIM's answers never show the
//! profile: decoding it on every read was 8.5% of a `userName eq` lookup's CPU and 4% of a
//! PATCH's (benches/README.md, ninth session). Only the profile endpoint, exports, `remap`
//! and the console look at it, and they decode it by reading it as before.

use std::fmt;
use std::ops::Deref;
use std::sync::OnceLock;

use super::ProfileRecord;

/// A user's profile as stored: read it as an `Option<ProfileRecord>` (it derefs to one).
///
/// A stored text that does not decode (a row edited by hand, a profile written by a newer
/// Canon) reads as no profile and is logged; the resource itself is served as stored, and
/// `canon remap --apply` writes the profile again.
#[derive(Clone, Default)]
pub struct StoredProfile {
    /// The JSON as stored, until it is decoded.
    encoded: Option<String>,
    decoded: OnceLock<Option<ProfileRecord>>,
}

impl StoredProfile {
    /// A profile as a store holds it, `None` where the resource has none.
    pub(crate) fn encoded(text: Option<String>) -> StoredProfile {
        match text {
            Some(text) => StoredProfile {
                encoded: Some(text),
                decoded: OnceLock::new(),
            },
            None => StoredProfile::from(None),
        }
    }

    /// The profile, owned.
    pub fn into_inner(self) -> Option<ProfileRecord> {
        self.decode();
        self.decoded.into_inner().flatten()
    }

    fn decode(&self) -> &Option<ProfileRecord> {
        self.decoded.get_or_init(|| {
            let text = self.encoded.as_deref()?;
            serde_json::from_str(text)
                .map_err(|error| tracing::error!(%error, "a stored profile does not decode"))
                .ok()
        })
    }
}

impl From<Option<ProfileRecord>> for StoredProfile {
    fn from(profile: Option<ProfileRecord>) -> StoredProfile {
        StoredProfile {
            encoded: None,
            decoded: OnceLock::from(profile),
        }
    }
}

impl Deref for StoredProfile {
    type Target = Option<ProfileRecord>;

    fn deref(&self) -> &Option<ProfileRecord> {
        self.decode()
    }
}

impl PartialEq for StoredProfile {
    fn eq(&self, other: &StoredProfile) -> bool {
        **self == **other
    }
}

impl PartialEq<Option<ProfileRecord>> for StoredProfile {
    fn eq(&self, other: &Option<ProfileRecord>) -> bool {
        **self == *other
    }
}

impl fmt::Debug for StoredProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn profile() -> ProfileRecord {
        ProfileRecord {
            fields: json!({"management_level": "VP"}),
            rules: json!({"management_level": {"rule": "vp", "at": "default.rules:630"}}),
            rule_version: "v1".into(),
            missing: vec![],
        }
    }

    #[test]
    fn a_stored_profile_reads_as_the_profile_it_encodes() {
        let text = serde_json::to_string(&profile()).unwrap();
        let stored = StoredProfile::encoded(Some(text));
        assert_eq!(*stored, Some(profile()));
        assert_eq!(stored, StoredProfile::from(Some(profile())));
        assert_eq!(stored.into_inner(), Some(profile()));
        assert_eq!(*StoredProfile::encoded(None), None);
    }

    #[test]
    fn a_profile_that_does_not_decode_reads_as_none() {
        let stored = StoredProfile::encoded(Some("{\"fields\": [".into()));
        assert_eq!(*stored, None);
        assert_eq!(stored.clone().into_inner(), None);
    }

    #[test]
    fn into_inner_decodes_a_profile_never_read() {
        let text = serde_json::to_string(&profile()).unwrap();
        assert_eq!(
            StoredProfile::encoded(Some(text)).into_inner(),
            Some(profile())
        );
    }
}
