//! The attributes the store looks resources up by, besides the unique key: those IdPs
//! filter on (`externalId`, `emails.value`, `displayName`, `members.value`), so a list with
//! such a filter reads only its candidates.
//!
//! The first three are indexed, their keys case-folded whatever the attribute's `caseExact`:
//! a lookup returns a superset of the matches, and the caller applies the whole filter to
//! it. Members are not: an index row per member made a PATCH adding 40,000 members hold the
//! writer for 0.5 s; the groups that list an id are found by a scan of the tenant's groups'
//! stored text instead (a group is written far more often than it is looked up by member).

use serde_json::Value;

use super::Kind;

/// An indexed attribute of a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IndexedAttr {
    ExternalId,
    /// `emails[*].value` of a user.
    Email,
    /// `displayName` of a group.
    DisplayName,
    /// `members[*].value` of a group: the ids of its members (not indexed: see above).
    Member,
}

impl IndexedAttr {
    pub fn as_str(self) -> &'static str {
        match self {
            IndexedAttr::ExternalId => "externalId",
            IndexedAttr::Email => "emails.value",
            IndexedAttr::DisplayName => "displayName",
            IndexedAttr::Member => "members.value",
        }
    }
}

/// How a key is stored and looked up.
pub fn fold(value: &str) -> String {
    value.to_lowercase()
}

/// The keys of a resource body: each indexed attribute it has (not members), with each of
/// its values.
pub fn index_keys(kind: Kind, body: &Value) -> Vec<(IndexedAttr, String)> {
    let mut keys = Vec::new();
    let mut text = |attr: IndexedAttr, value: Option<&Value>| {
        if let Some(Value::String(value)) = value {
            keys.push((attr, fold(value)));
        }
    };
    text(IndexedAttr::ExternalId, get(body, "externalId"));
    match kind {
        Kind::User => {
            if let Some(Value::Array(emails)) = get(body, "emails") {
                for email in emails {
                    text(IndexedAttr::Email, get(email, "value"));
                }
            }
        }
        Kind::Group => text(IndexedAttr::DisplayName, get(body, "displayName")),
    }
    keys.sort_unstable_by(|a, b| (a.0.as_str(), &a.1).cmp(&(b.0.as_str(), &b.1)));
    keys.dedup();
    keys
}

/// Whether a group's body lists the member `id` (compared exactly: `members.value` is
/// case-exact).
pub fn lists_member(group: &Value, id: &str) -> bool {
    match get(group, "members") {
        Some(Value::Array(members)) => members
            .iter()
            .any(|m| get(m, "value").and_then(Value::as_str) == Some(id)),
        _ => false,
    }
}

/// `object[name]`, the name matched case-insensitively as SCIM attribute names are.
fn get<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    let object = object.as_object()?;
    object.get(name).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_of_users_and_groups() {
        let user = json!({"userName": "Ana", "externalId": "E-1",
            "emails": [{"value": "Ana@X.io"}, {"value": "ana@x.io"}, {"type": "home"}]});
        assert_eq!(
            index_keys(Kind::User, &user),
            [
                (IndexedAttr::Email, "ana@x.io".to_string()),
                (IndexedAttr::ExternalId, "e-1".to_string()),
            ]
        );
        let group = json!({"DisplayName": "Sales", "members": [{"value": "u1"}, {"value": 2}]});
        assert_eq!(
            index_keys(Kind::Group, &group),
            [(IndexedAttr::DisplayName, "sales".to_string())]
        );
        assert!(lists_member(&group, "u1") && !lists_member(&group, "U1"));
    }
}
