//! The SCIM attributes Canon knows (RFC 7643 core User, the enterprise User extension and
//! Canon's own extension), for checking attribute paths when rules load.

pub const CORE_USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_USER_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const CANON_USER_URN: &str = "urn:ietf:params:scim:schemas:extension:canon:2.0:User";

/// Aliases every rule file has: `enterprise:department`, `canon:managementLevel`.
pub const BUILTIN_ALIASES: &[(&str, &str)] = &[
    ("core", CORE_USER_URN),
    ("enterprise", ENTERPRISE_USER_URN),
    ("canon", CANON_USER_URN),
];

/// Core User attributes and their sub-attributes (RFC 7643 §4.1).
pub const CORE_USER: &[(&str, &[&str])] = &[
    ("id", &[]),
    ("externalId", &[]),
    (
        "meta",
        &[
            "resourceType",
            "created",
            "lastModified",
            "location",
            "version",
        ],
    ),
    ("userName", &[]),
    (
        "name",
        &[
            "formatted",
            "familyName",
            "givenName",
            "middleName",
            "honorificPrefix",
            "honorificSuffix",
        ],
    ),
    ("displayName", &[]),
    ("nickName", &[]),
    ("profileUrl", &[]),
    ("title", &[]),
    ("userType", &[]),
    ("preferredLanguage", &[]),
    ("locale", &[]),
    ("timezone", &[]),
    ("active", &[]),
    ("password", &[]),
    ("emails", MULTI),
    ("phoneNumbers", MULTI),
    ("ims", MULTI),
    ("photos", MULTI),
    (
        "addresses",
        &[
            "formatted",
            "streetAddress",
            "locality",
            "region",
            "postalCode",
            "country",
            "type",
            "primary",
        ],
    ),
    ("groups", &["value", "$ref", "display", "type"]),
    ("entitlements", MULTI),
    ("roles", MULTI),
    ("x509Certificates", MULTI),
];

const MULTI: &[&str] = &["value", "display", "type", "primary"];

/// Enterprise User extension attributes (RFC 7643 §4.3).
pub const ENTERPRISE_USER: &[(&str, &[&str])] = &[
    ("employeeNumber", &[]),
    ("costCenter", &[]),
    ("organization", &[]),
    ("division", &[]),
    ("department", &[]),
    ("manager", &["value", "$ref", "displayName"]),
];

/// Canon's extension: raw HRIS values that Okta sends as custom attributes.
pub const CANON_USER: &[(&str, &[&str])] = &[
    ("managementLevel", &[]),
    ("peopleManager", &[]),
    ("managerEmail", &[]),
    ("jobFunction", &[]),
    ("businessUnit", &[]),
    ("office", &[]),
];

/// The attribute table of a schema URN Canon knows, if it knows it.
pub fn schema_attributes(urn: &str) -> Option<&'static [(&'static str, &'static [&'static str])]> {
    if urn.eq_ignore_ascii_case(CORE_USER_URN) {
        Some(CORE_USER)
    } else if urn.eq_ignore_ascii_case(ENTERPRISE_USER_URN) {
        Some(ENTERPRISE_USER)
    } else if urn.eq_ignore_ascii_case(CANON_USER_URN) {
        Some(CANON_USER)
    } else {
        None
    }
}

/// Checks `segments` (attribute names) against `schema`. On failure returns the segment that
/// is unknown and the names it could have been.
pub fn check_path<'s>(
    schema: &'s [(&'s str, &'s [&'s str])],
    segments: &[&str],
) -> Result<(), (String, Vec<&'s str>)> {
    let Some(first) = segments.first() else {
        return Ok(());
    };
    let Some((_, subs)) = schema
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(first))
    else {
        return Err((
            first.to_string(),
            schema.iter().map(|(name, _)| *name).collect(),
        ));
    };
    if let Some(second) = segments.get(1) {
        if !subs.iter().any(|s| s.eq_ignore_ascii_case(second)) {
            return Err((format!("{first}.{second}"), subs.to_vec()));
        }
    }
    if segments.len() > 2 {
        return Err((segments.join("."), Vec::new()));
    }
    Ok(())
}
