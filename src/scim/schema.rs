//! The schemas Canon serves: exactly the attributes it stores. One definition feeds the
//! discovery endpoints, body validation, `caseExact` in filters and `returned: never`.

use serde_json::{json, Map, Value};

use crate::store::Kind;

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const CANON: &str = "urn:ietf:params:scim:schemas:extension:canon:2.0:User";
pub const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const SPC: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    String,
    Boolean,
    Reference,
    Complex,
    DateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadWrite,
    ReadOnly,
    WriteOnly,
    Immutable,
}

/// One attribute of a schema.
#[derive(Debug, Clone, Copy)]
pub struct Attr {
    pub name: &'static str,
    pub kind: Type,
    pub multi: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub unique: bool,
    pub sub: &'static [Attr],
    pub canonical: &'static [&'static str],
    pub reference_types: &'static [&'static str],
}

const fn s(name: &'static str) -> Attr {
    Attr {
        name,
        kind: Type::String,
        multi: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        unique: false,
        sub: &[],
        canonical: &[],
        reference_types: &[],
    }
}
const fn typed(name: &'static str, kind: Type) -> Attr {
    Attr { kind, ..s(name) }
}
const fn complex(name: &'static str, sub: &'static [Attr]) -> Attr {
    Attr {
        kind: Type::Complex,
        sub,
        ..s(name)
    }
}
const fn multi(name: &'static str, sub: &'static [Attr]) -> Attr {
    Attr {
        multi: true,
        ..complex(name, sub)
    }
}
const fn with_types(name: &'static str, canonical: &'static [&'static str]) -> Attr {
    Attr {
        canonical,
        ..s(name)
    }
}

const MULTI_STRING: &[Attr] = &[
    s("value"),
    s("display"),
    with_types("type", &["work", "home", "other"]),
    typed("primary", Type::Boolean),
];
const PHONES: &[Attr] = &[
    s("value"),
    s("display"),
    with_types("type", &["work", "home", "mobile", "fax", "pager", "other"]),
    typed("primary", Type::Boolean),
];
const ADDRESSES: &[Attr] = &[
    s("formatted"),
    s("streetAddress"),
    s("locality"),
    s("region"),
    s("postalCode"),
    s("country"),
    with_types("type", &["work", "home", "other"]),
    typed("primary", Type::Boolean),
];
const NAME: &[Attr] = &[
    s("formatted"),
    s("familyName"),
    s("givenName"),
    s("middleName"),
    s("honorificPrefix"),
    s("honorificSuffix"),
];

pub const USER_ATTRS: &[Attr] = &[
    Attr {
        required: true,
        unique: true,
        ..s("userName")
    },
    Attr {
        case_exact: true,
        ..s("externalId")
    },
    complex("name", NAME),
    s("displayName"),
    s("nickName"),
    Attr {
        reference_types: &["external"],
        ..typed("profileUrl", Type::Reference)
    },
    s("title"),
    s("userType"),
    s("preferredLanguage"),
    s("locale"),
    s("timezone"),
    typed("active", Type::Boolean),
    // Accepted (Okta sends a placeholder), never stored nor returned.
    Attr {
        mutability: Mutability::WriteOnly,
        case_exact: true,
        ..s("password")
    },
    multi("emails", MULTI_STRING),
    multi("phoneNumbers", PHONES),
    multi("addresses", ADDRESSES),
    // Computed on every read from the groups that list the user; ignored in writes.
    Attr {
        mutability: Mutability::ReadOnly,
        ..multi("groups", GROUPS)
    },
];

const fn read_only(attr: Attr) -> Attr {
    Attr {
        mutability: Mutability::ReadOnly,
        ..attr
    }
}

const GROUPS: &[Attr] = &[
    read_only(s("value")),
    read_only(Attr {
        reference_types: &["Group"],
        ..typed("$ref", Type::Reference)
    }),
    read_only(s("display")),
    read_only(with_types("type", &["direct", "indirect"])),
];

pub const ENTERPRISE_ATTRS: &[Attr] = &[
    s("employeeNumber"),
    s("costCenter"),
    s("organization"),
    s("division"),
    s("department"),
    complex(
        "manager",
        &[
            s("value"),
            Attr {
                reference_types: &["User"],
                ..typed("$ref", Type::Reference)
            },
            Attr {
                mutability: Mutability::ReadOnly,
                ..s("displayName")
            },
        ],
    ),
];

pub const CANON_ATTRS: &[Attr] = &[
    s("managementLevel"),
    s("peopleManager"),
    s("managerEmail"),
    s("jobFunction"),
    s("businessUnit"),
    s("office"),
];

pub const GROUP_ATTRS: &[Attr] = &[
    Attr {
        required: true,
        ..s("displayName")
    },
    Attr {
        case_exact: true,
        ..s("externalId")
    },
    Attr {
        multi: true,
        ..complex(
            "members",
            &[
                Attr {
                    case_exact: true,
                    mutability: Mutability::Immutable,
                    ..s("value")
                },
                Attr {
                    reference_types: &["User", "Group"],
                    mutability: Mutability::Immutable,
                    ..typed("$ref", Type::Reference)
                },
                s("display"),
                Attr {
                    canonical: &["User", "Group"],
                    mutability: Mutability::Immutable,
                    ..s("type")
                },
            ],
        )
    },
];

/// A schema: its URN, name and attributes.
pub struct Schema {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attrs: &'static [Attr],
}

pub const SCHEMAS: &[Schema] = &[
    Schema {
        id: USER,
        name: "User",
        description: "User Account",
        attrs: USER_ATTRS,
    },
    Schema {
        id: ENTERPRISE,
        name: "EnterpriseUser",
        description: "Enterprise User",
        attrs: ENTERPRISE_ATTRS,
    },
    Schema {
        id: CANON,
        name: "CanonUser",
        description: "Raw HRIS values Canon's rules read",
        attrs: CANON_ATTRS,
    },
    Schema {
        id: GROUP,
        name: "Group",
        description: "Group",
        attrs: GROUP_ATTRS,
    },
];

pub fn core_urn(kind: Kind) -> &'static str {
    match kind {
        Kind::User => USER,
        Kind::Group => GROUP,
    }
}

pub fn extensions(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::User => &[ENTERPRISE, CANON],
        Kind::Group => &[],
    }
}

pub fn is_core_urn(kind: Kind, urn: &str) -> bool {
    core_urn(kind).eq_ignore_ascii_case(urn)
}

/// The schema a URN names for `kind` (core or one of its extensions), matched case-insensitively.
pub fn schema_for(kind: Kind, urn: &str) -> Option<&'static Schema> {
    if !is_core_urn(kind, urn) && !extensions(kind).iter().any(|e| e.eq_ignore_ascii_case(urn)) {
        return None;
    }
    SCHEMAS.iter().find(|s| s.id.eq_ignore_ascii_case(urn))
}

pub fn find_attr<'a>(attrs: &'a [Attr], name: &str) -> Option<&'a Attr> {
    attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// A member of a JSON object, its name matched case-insensitively (RFC 7643 §2.1).
pub fn ci_get<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    let object = value.as_object()?;
    object.get(name).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// The actual key under which `name` is stored in `object`, if any.
pub fn ci_key(object: &Map<String, Value>, name: &str) -> Option<String> {
    if object.contains_key(name) {
        return Some(name.to_string());
    }
    object
        .keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
}

// ---- discovery documents --------------------------------------------------------------

fn attr_json(attr: &Attr) -> Value {
    let mut out = json!({
        "name": attr.name,
        "type": match attr.kind {
            Type::String => "string",
            Type::Boolean => "boolean",
            Type::Reference => "reference",
            Type::Complex => "complex",
            Type::DateTime => "dateTime",
        },
        "multiValued": attr.multi,
        "description": attr.name,
        "required": attr.required,
        "mutability": match attr.mutability {
            Mutability::ReadWrite => "readWrite",
            Mutability::ReadOnly => "readOnly",
            Mutability::WriteOnly => "writeOnly",
            Mutability::Immutable => "immutable",
        },
        "returned": if attr.mutability == Mutability::WriteOnly { "never" } else { "default" },
        "uniqueness": if attr.unique { "server" } else { "none" },
    });
    if attr.kind != Type::Complex && attr.kind != Type::Boolean {
        out["caseExact"] = json!(attr.case_exact);
    }
    if !attr.canonical.is_empty() {
        out["canonicalValues"] = json!(attr.canonical);
    }
    if attr.kind == Type::Reference {
        out["referenceTypes"] = json!(attr.reference_types);
    }
    if attr.kind == Type::Complex {
        out["subAttributes"] = Value::Array(attr.sub.iter().map(attr_json).collect());
    }
    out
}

/// The discovery form of a list of attributes.
pub fn attributes_json(attrs: &[Attr]) -> Vec<Value> {
    attrs.iter().map(attr_json).collect()
}

pub fn schema_json(schema: &Schema, base: &str) -> Value {
    json!({
        "schemas": [SCHEMA],
        "id": schema.id,
        "name": schema.name,
        "description": schema.description,
        "attributes": schema.attrs.iter().map(attr_json).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{}", schema.id)},
    })
}

/// A resource type; `more` are a tenant's own extension namespaces (its aliases), and
/// `stores_others` says that extension objects of any other namespace are kept as sent.
pub fn resource_type_json(kind: Kind, base: &str, more: &[&str], stores_others: bool) -> Value {
    let (name, endpoint) = match kind {
        Kind::User => ("User", "/Users"),
        Kind::Group => ("Group", "/Groups"),
    };
    let description = if stores_others {
        format!("{name}; extension objects of other namespaces are stored as sent")
    } else {
        name.to_string()
    };
    json!({
        "schemas": [RESOURCE_TYPE],
        "id": name,
        "name": name,
        "description": description,
        "endpoint": endpoint,
        "schema": core_urn(kind),
        "schemaExtensions": extensions(kind)
            .iter()
            .chain(more)
            .map(|urn| json!({"schema": urn, "required": false}))
            .collect::<Vec<_>>(),
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{name}")},
    })
}

/// What the service supports, truthfully: PATCH, filters, ETags; no bulk, sort or password
/// change.
pub fn service_provider_config_json(base: &str, max_results: usize, max_body: usize) -> Value {
    json!({
        "schemas": [SPC],
        "documentationUri": "https://github.com/canon/canon/blob/main/docs/scim.md",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": max_body},
        "filter": {"supported": true, "maxResults": max_results},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with the tenant's bearer token",
            "primary": true,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
    })
}
