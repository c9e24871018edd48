//! SCIM resource bodies: validation against the served schemas, rendering with `id` and
//! `meta`, and `attributes` / `excludedAttributes` projection.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{self, ScimPath};
use super::schema::{self, ci_key, find_attr, Attr, Mutability, Type};
use crate::store::{Kind, Membership, StoredResource};

/// Deepest JSON nesting accepted in a request body.
pub const MAX_JSON_DEPTH: usize = 16;

pub fn json_depth(value: &Value) -> usize {
    // Iterative, so a hostile body cannot exhaust the stack here.
    let mut deepest = 0;
    let mut stack = vec![(value, 1usize)];
    while let Some((value, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        match value {
            Value::Array(items) => stack.extend(items.iter().map(|v| (v, depth + 1))),
            Value::Object(map) => stack.extend(map.values().map(|v| (v, depth + 1))),
            _ => {}
        }
    }
    deepest
}

/// Where a path points: an attribute of the core schema or of an extension, or a whole
/// extension. An extension's URN is spelled as served for the schemas Canon defines, as
/// written otherwise.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Core {
        name: String,
        sub: Option<String>,
    },
    Extension {
        urn: String,
        attr: Option<(String, Option<String>)>,
    },
}

/// Resolves a parsed attribute path against the schemas of `kind`.
pub fn target(kind: Kind, path: &ScimPath) -> Result<Target, String> {
    target_in(kind, path, None)
}

/// Like [`target`], in a resource `body`: `urn:acme:custom` names the whole extension (and
/// not attribute `custom` of `urn:acme`) when the body has an extension of that name.
pub fn target_in(
    kind: Kind,
    path: &ScimPath,
    body: Option<&Map<String, Value>>,
) -> Result<Target, String> {
    let Some(urn) = &path.urn else {
        return Ok(Target::Core {
            name: path.name.clone(),
            sub: path.sub.clone(),
        });
    };
    if schema::is_core_urn(kind, urn) {
        return Ok(Target::Core {
            name: path.name.clone(),
            sub: path.sub.clone(),
        });
    }
    // `urn:…:enterprise:2.0:User` parses as URN `urn:…:2.0` + attribute `User`.
    let whole = format!("{urn}:{}", path.name);
    if path.sub.is_none() {
        if let Some(s) = schema::schema_for(kind, &whole) {
            if !schema::is_core_urn(kind, s.id) {
                return Ok(Target::Extension {
                    urn: s.id.to_string(),
                    attr: None,
                });
            }
        }
        // Another namespace is whole when it ends in the resource type's name, as extension
        // URNs do (`urn:…:acme:2.0:User`), or when the body holds it so.
        let ends_in_type = path.name.eq_ignore_ascii_case(kind.as_str());
        let held = body.and_then(|b| ci_key(b, &whole));
        if schema::schema_for(kind, urn).is_none() && (ends_in_type || held.is_some()) {
            return Ok(Target::Extension {
                urn: held.unwrap_or(whole),
                attr: None,
            });
        }
    }
    if schema::is_core_urn(other_kind(kind), urn) {
        return Err(format!("a {} has no `{urn}` attributes", kind.as_str()));
    }
    let urn = match schema::schema_for(kind, urn) {
        Some(s) => s.id.to_string(),
        None => body
            .and_then(|b| ci_key(b, urn))
            .unwrap_or_else(|| urn.clone()),
    };
    Ok(Target::Extension {
        urn,
        attr: Some((path.name.clone(), path.sub.clone())),
    })
}

fn other_kind(kind: Kind) -> Kind {
    match kind {
        Kind::User => Kind::Group,
        Kind::Group => Kind::User,
    }
}

fn type_name(kind: Type) -> &'static str {
    match kind {
        Type::String => "a string",
        Type::Boolean => "a boolean",
        Type::Reference => "a reference (string)",
        Type::Complex => "an object",
        Type::DateTime => "a date-time string",
    }
}

/// A complex attribute with a `value` sub-attribute (`manager`).
fn has_value(attr: &Attr) -> bool {
    find_attr(attr.sub, "value").is_some()
}

/// Checks one attribute value against its definition and returns it with sub-attribute
/// names spelled as in the schema; unknown sub-attributes are dropped. `None`: unassigned.
fn check_value(attr: &Attr, value: Value, at: &str) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    if attr.multi {
        let items = match value {
            Value::Array(items) => items,
            // One value where a list is expected: a list of one.
            other => vec![other],
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(item) = check_single(attr, item, at)? {
                out.push(item);
            }
        }
        return Ok(if out.is_empty() {
            None
        } else {
            Some(Value::Array(out))
        });
    }
    check_single(attr, value, at)
}

fn check_single(attr: &Attr, value: Value, at: &str) -> Result<Option<Value>, ScimError> {
    let value = match (value, attr.kind) {
        (Value::Null, _) => return Ok(None),
        // Entra ID without `aadOptscim062020` sends booleans as "True" / "False".
        (Value::String(s), Type::Boolean) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
        (Value::String(s), Type::Boolean) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
        // Entra ID sends the enterprise `manager` as the manager's id alone, and clears it
        // with ""; stored (and returned) in the RFC form `{"value": id}`.
        (Value::String(s), Type::Complex) if !attr.multi && has_value(attr) => {
            if s.is_empty() {
                return Ok(None);
            }
            Value::Object(Map::from_iter([("value".to_string(), Value::String(s))]))
        }
        // …and, in Microsoft's tutorial, as a list of one: `[{"$ref": null, "value": id}]`.
        (Value::Array(items), Type::Complex) if !attr.multi && items.len() <= 1 => {
            match items.into_iter().next() {
                None => return Ok(None),
                Some(item) if !item.is_array() => return check_single(attr, item, at),
                Some(nested) => nested,
            }
        }
        (value, _) => value,
    };
    let ok = matches!(
        (&value, attr.kind),
        (
            Value::String(_),
            Type::String | Type::Reference | Type::DateTime
        ) | (Value::Bool(_), Type::Boolean)
            | (Value::Object(_), Type::Complex)
    );
    if !ok {
        return Err(ScimError::InvalidValue(format!(
            "`{at}` must be {}",
            type_name(attr.kind)
        )));
    }
    let Value::Object(map) = value else {
        return Ok(Some(value));
    };
    let mut out = Map::new();
    for (key, sub_value) in map {
        let Some(sub) = find_attr(attr.sub, &key) else {
            tracing::debug!(attribute = %format!("{at}.{key}"), "unknown sub-attribute dropped");
            continue;
        };
        if let Some(checked) = check_single(sub, sub_value, &format!("{at}.{}", sub.name))? {
            out.insert(sub.name.to_string(), checked);
        }
    }
    Ok(if out.is_empty() {
        None
    } else {
        Some(Value::Object(out))
    })
}

fn check_attrs(
    attrs: &[Attr],
    map: Map<String, Value>,
    prefix: &str,
    out: &mut Map<String, Value>,
) -> Result<(), ScimError> {
    for (key, value) in map {
        let Some(attr) = find_attr(attrs, &key) else {
            tracing::debug!(attribute = %format!("{prefix}{key}"), "unknown attribute dropped");
            continue;
        };
        if attr.mutability == Mutability::WriteOnly || attr.mutability == Mutability::ReadOnly {
            // `password`: accepted (Okta sends a placeholder), never stored nor returned.
            continue;
        }
        if let Some(checked) = check_value(attr, value, &format!("{prefix}{}", attr.name))? {
            out.insert(attr.name.to_string(), checked);
        }
    }
    Ok(())
}

/// Validates a resource body sent by a client and returns what is stored: schema names
/// spelled as served, `id`/`meta`/`password` and unknown core attributes left out. `id` must
/// match `current_id` when the resource exists already.
///
/// An extension of a namespace Canon does not define (an Okta custom attribute's external
/// namespace, an Entra custom extension) is kept as sent, listed in `schemas` or not: it must
/// be an object, and its null members mean unassigned (RFC 7643 §2.5). A URN listed in
/// `schemas` without an object of its own (Entra's ADSCIM Group URN) says nothing to store.
pub fn prepare(kind: Kind, body: Value, current_id: Option<&str>) -> Result<Value, ScimError> {
    let Value::Object(map) = body else {
        return Err(ScimError::InvalidSyntax(
            "the body must be a JSON object".into(),
        ));
    };
    let mut listed: Vec<String> = Vec::new();
    let mut core = Map::new();
    let mut extensions: Vec<Extension> = Vec::new();
    for (key, value) in map {
        if key.eq_ignore_ascii_case("schemas") {
            let Value::Array(items) = value else {
                return Err(ScimError::InvalidValue(
                    "`schemas` must be a list of URNs".into(),
                ));
            };
            for item in items {
                let Value::String(urn) = item else {
                    return Err(ScimError::InvalidValue(
                        "`schemas` must be a list of URNs".into(),
                    ));
                };
                listed.push(urn);
            }
        } else if key.eq_ignore_ascii_case("id") {
            match (current_id, &value) {
                (Some(current), Value::String(sent)) if sent != current => {
                    return Err(ScimError::Mutability("`id` is read-only".into()));
                }
                _ => {}
            }
        } else if key.eq_ignore_ascii_case("meta") {
        } else if is_urn(&key) {
            if let Some((urn, inner)) = extension(kind, key, value)? {
                extensions.retain(|(seen, _)| !seen.eq_ignore_ascii_case(&urn));
                extensions.push((urn, inner));
            }
        } else {
            let attrs =
                schema::schema_for(kind, schema::core_urn(kind)).map_or(&[][..], |s| s.attrs);
            check_attrs(attrs, Map::from_iter([(key, value)]), "", &mut core)?;
        }
    }
    let required = match kind {
        Kind::User => "userName",
        Kind::Group => "displayName",
    };
    match core.get(required) {
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        _ => {
            return Err(ScimError::InvalidValue(format!("`{required}` is required")));
        }
    }
    let mut schemas: Vec<String> = vec![schema::core_urn(kind).to_string()];
    let mut list = |urn: &str| {
        if !schemas.iter().any(|s| s.eq_ignore_ascii_case(urn)) {
            schemas.push(urn.to_string());
        }
    };
    for urn in &listed {
        match schema::schema_for(kind, urn) {
            Some(known) => list(known.id),
            None => tracing::debug!(%urn, "listed schema without attributes dropped"),
        }
    }
    for (urn, _) in &extensions {
        list(urn);
    }
    let mut out = Map::new();
    out.insert("schemas".into(), schemas.into());
    out.extend(core);
    for (urn, map) in extensions {
        out.insert(urn, Value::Object(map));
    }
    Ok(Value::Object(out))
}

/// Whether a member name is a schema URN (an extension's object).
fn is_urn(key: &str) -> bool {
    key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
}

/// An extension's URN as stored, and its attributes.
type Extension = (String, Map<String, Value>);

/// One extension object of a body, checked; `None` when it holds nothing.
fn extension(kind: Kind, key: String, value: Value) -> Result<Option<Extension>, ScimError> {
    if schema::is_core_urn(kind, &key) {
        return Err(ScimError::InvalidValue(format!(
            "core attributes go at the top level of a {}, not under `{key}`",
            kind.as_str()
        )));
    }
    let inner = match value {
        Value::Null => return Ok(None),
        Value::Object(inner) => inner,
        _ => {
            return Err(ScimError::InvalidValue(format!(
                "`{key}` must be an object (the attributes of that schema extension)"
            )))
        }
    };
    let mut out = Map::new();
    match schema::schema_for(kind, &key) {
        Some(known) => check_attrs(known.attrs, inner, &format!("{}:", known.id), &mut out)?,
        None => out.extend(inner.into_iter().filter(|(_, v)| !v.is_null())),
    }
    let urn = match schema::schema_for(kind, &key) {
        Some(known) => known.id.to_string(),
        None => key,
    };
    Ok((!out.is_empty()).then_some((urn, out)))
}

/// The store's unique key of a prepared body: the case-folded `userName` of a user.
pub fn unique_key(kind: Kind, body: &Value) -> Option<String> {
    match kind {
        Kind::User => body
            .get("userName")
            .and_then(Value::as_str)
            .map(str::to_lowercase),
        Kind::Group => None,
    }
}

/// The resource as served: `schemas`, `id`, the stored attributes, `meta`.
pub fn render(stored: &StoredResource, base: &str) -> Value {
    let mut out = Map::new();
    let body = stored.body.as_object();
    if let Some(schemas) = body.and_then(|b| b.get("schemas")) {
        out.insert("schemas".into(), schemas.clone());
    }
    out.insert("id".into(), stored.id.clone().into());
    if let Some(body) = body {
        for (key, value) in body {
            if key != "schemas" {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    let endpoint = match stored.kind {
        Kind::User => "Users",
        Kind::Group => "Groups",
    };
    out.insert(
        "meta".into(),
        serde_json::json!({
            "resourceType": stored.kind.as_str(),
            "created": stored.created,
            "lastModified": stored.modified,
            "location": format!("{base}/{endpoint}/{}", stored.id),
            "version": etag(stored.version),
        }),
    );
    Value::Object(out)
}

/// Sets a rendered user's read-only `groups` (RFC 7643 §4.1.2) from the `memberships` of
/// it, direct ones only; none: no `groups`, as an empty multi-valued attribute is omitted.
pub fn set_groups<'m>(
    resource: &mut Value,
    memberships: impl IntoIterator<Item = &'m Membership>,
    base: &str,
) {
    let groups: Vec<Value> = memberships
        .into_iter()
        .map(|m| {
            let mut group = Map::new();
            group.insert("value".into(), m.group.clone().into());
            group.insert("$ref".into(), format!("{base}/Groups/{}", m.group).into());
            if let Some(display) = &m.display {
                group.insert("display".into(), display.clone().into());
            }
            group.insert("type".into(), "direct".into());
            Value::Object(group)
        })
        .collect();
    let Some(object) = resource.as_object_mut() else {
        return;
    };
    // Before `meta`, where a reader looks for attributes.
    object.remove("groups");
    let meta = object.remove("meta");
    if !groups.is_empty() {
        object.insert("groups".into(), Value::Array(groups));
    }
    if let Some(meta) = meta {
        object.insert("meta".into(), meta);
    }
}

pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5), parsed once per request.
#[derive(Debug, Default)]
pub struct Projection {
    include: Vec<Target>,
    exclude: Vec<Target>,
}

/// `lenient`: attributes of schemas `kind` does not have are skipped, not refused (a search
/// over several resource types names attributes of each).
fn parse_list(kind: Kind, text: Option<&str>, lenient: bool) -> Result<Vec<Target>, ScimError> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    let mut targets = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let path = filter::parse_path(item)
            .map_err(|e| ScimError::InvalidValue(format!("bad attribute `{item}`: {e}")))?;
        if path.filter.is_some() {
            return Err(ScimError::InvalidValue(format!("bad attribute `{item}`")));
        }
        match target(kind, &path.attr) {
            Ok(target) => targets.push(target),
            Err(_) if lenient => {}
            Err(message) => return Err(ScimError::InvalidValue(message)),
        }
    }
    Ok(targets)
}

impl Projection {
    pub fn parse(
        kind: Kind,
        attributes: Option<&str>,
        excluded: Option<&str>,
    ) -> Result<Projection, ScimError> {
        Ok(Projection {
            include: parse_list(kind, attributes, false)?,
            exclude: parse_list(kind, excluded, false)?,
        })
    }

    /// Like [`Projection::parse`], skipping attributes of schemas `kind` does not have.
    pub fn parse_lenient(
        kind: Kind,
        attributes: Option<&str>,
        excluded: Option<&str>,
    ) -> Result<Projection, ScimError> {
        Ok(Projection {
            include: parse_list(kind, attributes, true)?,
            exclude: parse_list(kind, excluded, true)?,
        })
    }

    /// Whether the projected resource keeps the core attribute `name` (whole): worth
    /// computing `groups` for.
    pub fn returns(&self, name: &str) -> bool {
        let whole = |t: &Target| matches!(t, Target::Core { name: n, sub: None } if n.eq_ignore_ascii_case(name));
        let part =
            |t: &Target| matches!(t, Target::Core { name: n, .. } if n.eq_ignore_ascii_case(name));
        !self.exclude.iter().any(whole)
            && (self.include.is_empty() || self.include.iter().any(part))
    }

    pub fn apply(&self, resource: Value) -> Value {
        let Value::Object(mut map) = resource else {
            return resource;
        };
        if !self.include.is_empty() {
            let mut out = Map::new();
            for always in ["schemas", "id"] {
                if let Some(v) = map.get(always) {
                    out.insert(always.into(), v.clone());
                }
            }
            for target in &self.include {
                copy_target(&map, &mut out, target);
            }
            map = out;
        }
        for target in &self.exclude {
            remove_target(&mut map, target);
        }
        Value::Object(map)
    }
}

fn copy_target(from: &Map<String, Value>, to: &mut Map<String, Value>, target: &Target) {
    let (from, to, name, sub) = match target {
        Target::Core { name, sub } => (from, to, name, sub),
        Target::Extension { urn, attr } => {
            let Some(urn) = ci_key(from, urn) else { return };
            let Some(Value::Object(ext)) = from.get(&urn) else {
                return;
            };
            let Some((name, sub)) = attr else {
                to.insert(urn, Value::Object(ext.clone()));
                return;
            };
            let slot = to.entry(urn).or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(slot) = slot else { return };
            copy_attr(ext, slot, name, sub);
            return;
        }
    };
    copy_attr(from, to, name, sub);
}

fn copy_attr(
    from: &Map<String, Value>,
    to: &mut Map<String, Value>,
    name: &str,
    sub: &Option<String>,
) {
    let Some(key) = ci_key(from, name) else {
        return;
    };
    let Some(value) = from.get(&key) else { return };
    let Some(sub) = sub else {
        to.insert(key, value.clone());
        return;
    };
    let pick = |v: &Value| -> Option<Value> {
        let object = v.as_object()?;
        let sub_key = ci_key(object, sub)?;
        Some(Value::Object(Map::from_iter([(
            sub_key.clone(),
            object.get(&sub_key)?.clone(),
        )])))
    };
    let picked = match value {
        Value::Array(items) => Some(Value::Array(items.iter().filter_map(pick).collect())),
        other => pick(other),
    };
    if let Some(picked) = picked {
        to.insert(key, picked);
    }
}

fn remove_target(map: &mut Map<String, Value>, target: &Target) {
    match target {
        Target::Core { name, sub } => {
            if name.eq_ignore_ascii_case("id") || name.eq_ignore_ascii_case("schemas") {
                return;
            }
            remove_attr(map, name, sub);
        }
        Target::Extension { urn, attr: None } => {
            if let Some(urn) = ci_key(map, urn) {
                map.remove(&urn);
            }
        }
        Target::Extension {
            urn,
            attr: Some((name, sub)),
        } => {
            let urn = ci_key(map, urn).unwrap_or_default();
            if let Some(Value::Object(ext)) = map.get_mut(&urn) {
                remove_attr(ext, name, sub);
            }
        }
    }
}

fn remove_attr(map: &mut Map<String, Value>, name: &str, sub: &Option<String>) {
    let Some(key) = ci_key(map, name) else { return };
    match sub {
        None => {
            map.remove(&key);
        }
        Some(sub) => match map.get_mut(&key) {
            Some(Value::Object(object)) => {
                if let Some(k) = ci_key(object, sub) {
                    object.remove(&k);
                }
            }
            Some(Value::Array(items)) => {
                for item in items {
                    if let Value::Object(object) = item {
                        if let Some(k) = ci_key(object, sub) {
                            object.remove(&k);
                        }
                    }
                }
            }
            _ => {}
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prepare_drops_placeholders_and_checks_types() {
        let body = json!({
            "schemas": [schema::USER], "USERNAME": "ana@example.com", "password": "x",
            "groups": [], "id": "client-id", "meta": {}, "active": true, "unknown": 1,
            "name": {"givenName": "Ana", "bogus": 1},
            "urn:ietf:params:scim:schemas:extension:canon:2.0:User": {"managementLevel": "VP"}
        });
        let out = prepare(Kind::User, body, None).unwrap();
        assert_eq!(
            out,
            json!({
                "schemas": [schema::USER, schema::CANON], "userName": "ana@example.com", "active": true,
                "name": {"givenName": "Ana"}, schema::CANON: {"managementLevel": "VP"}
            })
        );
        assert!(matches!(
            prepare(Kind::User, json!({"userName": 1}), None),
            Err(ScimError::InvalidValue(_))
        ));
        assert!(matches!(
            prepare(Kind::User, json!({"active": true}), None),
            Err(ScimError::InvalidValue(_))
        ));
        assert!(matches!(
            prepare(Kind::User, json!({"userName": "a", "active": "yes"}), None),
            Err(ScimError::InvalidValue(_))
        ));
        assert!(matches!(
            prepare(Kind::User, json!({"userName": "a", "urn:x:y": 5}), None),
            Err(ScimError::InvalidValue(_))
        ));
        assert!(matches!(
            prepare(
                Kind::User,
                json!({"userName": "a", schema::USER: {"title": "t"}}),
                None
            ),
            Err(ScimError::InvalidValue(_))
        ));
        assert!(matches!(
            prepare(Kind::User, json!({"userName": "a", "id": "2"}), Some("1")),
            Err(ScimError::Mutability(_))
        ));
        assert!(matches!(
            prepare(Kind::User, json!([]), None),
            Err(ScimError::InvalidSyntax(_))
        ));
    }

    /// Entra ID's spellings, stored in the RFC's: string booleans, `manager` as a bare id
    /// (`""` clears it) or a list of one; anything else of the wrong type is still refused.
    #[test]
    fn entra_spellings_are_stored_in_rfc_form() {
        let body = json!({"userName": "a", "active": "False",
            "emails": [{"value": "a@w.com", "primary": "True"}],
            schema::ENTERPRISE: {"manager": "m1", "department": null}});
        let out = prepare(Kind::User, body, None).unwrap();
        assert_eq!(out["active"], json!(false));
        assert_eq!(out["emails"][0]["primary"], json!(true));
        assert_eq!(out[schema::ENTERPRISE], json!({"manager": {"value": "m1"}}));
        let manager = |value: Value| {
            let body =
                json!({"userName": "a", schema::ENTERPRISE: {"manager": value, "division": "d"}});
            prepare(Kind::User, body, None)
                .map(|out| out[schema::ENTERPRISE].get("manager").cloned())
        };
        assert_eq!(manager(json!("")).unwrap(), None);
        assert_eq!(manager(json!(null)).unwrap(), None);
        assert_eq!(manager(json!([])).unwrap(), None);
        assert_eq!(
            manager(json!([{"$ref": null, "value": "m2"}])).unwrap(),
            Some(json!({"value": "m2"}))
        );
        assert_eq!(
            manager(json!(["m3"])).unwrap(),
            Some(json!({"value": "m3"}))
        );
        for bad in [
            json!(5),
            json!([[{"value": "m"}]]),
            json!([{"value": 1}]),
            json!(true),
        ] {
            assert!(matches!(manager(bad), Err(ScimError::InvalidValue(_))));
        }
        for bad in [json!("yes"), json!("1"), json!(""), json!(1)] {
            assert!(matches!(
                prepare(Kind::User, json!({"userName": "a", "active": bad}), None),
                Err(ScimError::InvalidValue(_))
            ));
        }
        // A list of two for a single-valued attribute is not a spelling of one value.
        assert!(matches!(
            manager(json!([{"value": "a"}, {"value": "b"}])),
            Err(ScimError::InvalidValue(_))
        ));
    }

    /// Issue 16: an extension of any namespace is stored as sent, listed in `schemas` or
    /// not; a URN listed without an object (Entra's ADSCIM Group URN) is dropped.
    #[test]
    fn extensions_of_any_namespace_are_kept_as_sent() {
        let acme = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";
        let body = json!({"schemas": [schema::USER, "urn:scim:schemas:core:1.0"], "userName": "a",
            (acme): {"managementLevel": "M3", "tags": [{"value": "x"}], "cleared": null, "n": 2},
            "urn:other:custom": {"flag": true}, "urn:empty:User": {"gone": null}});
        let out = prepare(Kind::User, body, None).unwrap();
        assert_eq!(
            out,
            json!({"schemas": [schema::USER, acme, "urn:other:custom"], "userName": "a",
                (acme): {"managementLevel": "M3", "tags": [{"value": "x"}], "n": 2},
                "urn:other:custom": {"flag": true}})
        );
        let entra = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";
        let group = json!({"schemas": [schema::GROUP, entra], "displayName": "G"});
        assert_eq!(
            prepare(Kind::Group, group, None).unwrap(),
            json!({"schemas": [schema::GROUP], "displayName": "G"})
        );
        // One namespace sent twice in different cases: the later object wins.
        let twice = json!({"userName": "a", "urn:x:User": {"a": 1}, "URN:X:USER": {"b": 2}});
        let out = prepare(Kind::User, twice, None).unwrap();
        assert_eq!(out["schemas"], json!([schema::USER, "URN:X:USER"]));
        assert_eq!(out["URN:X:USER"], json!({"b": 2}));
        assert_eq!(out.get("urn:x:User"), None);
    }

    #[test]
    fn targets_in_other_namespaces() {
        let parse = |p: &str| filter::parse_path(p).unwrap().attr;
        let acme = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";
        assert_eq!(
            target(Kind::User, &parse(acme)).unwrap(),
            Target::Extension {
                urn: acme.into(),
                attr: None
            }
        );
        assert_eq!(
            target(Kind::User, &parse(&format!("{acme}:level.code"))).unwrap(),
            Target::Extension {
                urn: acme.into(),
                attr: Some(("level".into(), Some("code".into())))
            }
        );
        // Without the type's name at its end, a namespace is whole when the body holds it.
        let body = json!({"urn:acme:custom": {"level": "M3"}});
        let path = parse("urn:acme:custom");
        assert_eq!(
            target(Kind::User, &path).unwrap(),
            Target::Extension {
                urn: "urn:acme".into(),
                attr: Some(("custom".into(), None))
            }
        );
        assert_eq!(
            target_in(Kind::User, &path, body.as_object()).unwrap(),
            Target::Extension {
                urn: "urn:acme:custom".into(),
                attr: None
            }
        );
        assert!(target(
            Kind::User,
            &parse("urn:ietf:params:scim:schemas:core:2.0:Group:displayName")
        )
        .is_err());
    }

    #[test]
    fn groups_are_rendered_before_meta() {
        let mut user = json!({"id": "u1", "userName": "a", "meta": {"version": "W/\"1\""}});
        let memberships = [
            Membership {
                member: "u1".into(),
                group: "g1".into(),
                display: Some("Sales".into()),
            },
            Membership {
                member: "u1".into(),
                group: "g2".into(),
                display: None,
            },
        ];
        set_groups(&mut user, &memberships, "http://h/t/a/scim/v2");
        assert_eq!(
            serde_json::to_string(&user).unwrap(),
            json!({"id": "u1", "userName": "a", "groups": [
                {"value": "g1", "$ref": "http://h/t/a/scim/v2/Groups/g1", "display": "Sales", "type": "direct"},
                {"value": "g2", "$ref": "http://h/t/a/scim/v2/Groups/g2", "type": "direct"}],
                "meta": {"version": "W/\"1\""}}).to_string()
        );
        set_groups(&mut user, &[], "http://h");
        assert_eq!(user.get("groups"), None);
    }

    #[test]
    fn non_ascii_attribute_names_are_dropped_not_sliced() {
        // Regression: the URN check sliced the name at byte 4, inside `é`.
        let body = json!({"userName": "a", "aéé": 1, "é": 2, "urné": 3});
        assert_eq!(
            prepare(Kind::User, body, None).unwrap()["userName"],
            json!("a")
        );
    }

    #[test]
    fn projection() {
        let user = json!({"schemas": [schema::USER], "id": "1", "userName": "a", "title": "t",
            "name": {"givenName": "g", "familyName": "f"}, "meta": {"version": "W/\"1\""},
            schema::ENTERPRISE: {"department": "d", "costCenter": "c"}});
        let p = Projection::parse(Kind::User, Some("userName,name.givenName,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"), None).unwrap();
        assert_eq!(
            p.apply(user.clone()),
            json!({"schemas": [schema::USER], "id": "1", "userName": "a",
            "name": {"givenName": "g"}, schema::ENTERPRISE: {"department": "d"}})
        );
        let p = Projection::parse(Kind::User, None, Some("title,name.familyName,id,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")).unwrap();
        assert_eq!(
            p.apply(user),
            json!({"schemas": [schema::USER], "id": "1", "userName": "a",
            "name": {"givenName": "g"}, "meta": {"version": "W/\"1\""}})
        );
        assert!(Projection::parse(Kind::User, Some("a[b pr]"), None).is_err());
        // Other namespaces, whatever the case they were stored in.
        let user =
            json!({"id": "1", "userName": "a", "URN:ACME:2.0:User": {"level": "M3", "x": 1}});
        let p = Projection::parse(Kind::User, Some("urn:acme:2.0:User:level"), None).unwrap();
        assert_eq!(
            p.apply(user.clone()),
            json!({"id": "1", "URN:ACME:2.0:User": {"level": "M3"}})
        );
        let p = Projection::parse(Kind::User, None, Some("urn:acme:2.0:user")).unwrap();
        assert_eq!(p.apply(user), json!({"id": "1", "userName": "a"}));
        // Whether `groups` is worth computing.
        let returns = |attributes: Option<&str>, excluded: Option<&str>| {
            Projection::parse(Kind::User, attributes, excluded)
                .unwrap()
                .returns("groups")
        };
        assert!(returns(None, None));
        assert!(returns(Some("userName,Groups.display"), None));
        assert!(returns(None, Some("groups.type")));
        assert!(!returns(Some("userName"), None));
        assert!(!returns(None, Some("GROUPS")));
    }
}
