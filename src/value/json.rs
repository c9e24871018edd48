//! Reading attribute paths out of a SCIM resource (or any JSON object).

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::HashMap;

use serde_json::{Map, Value};

use super::{AttrPath, PathFilter, Record};

/// A SCIM resource as sent by the client. Attribute names and schema URNs match
/// case-insensitively. A multi-valued attribute without a filter yields its `primary` element,
/// else its first.
#[derive(Debug, Clone)]
pub struct JsonRecord<'a> {
    root: &'a Value,
    /// The root object's members by lower-case name, built on the first lookup: a rule file
    /// names many alternative attributes (most absent), and each is then one hash lookup
    /// instead of a scan of every member.
    by_name: OnceCell<ByName<'a>>,
}

/// Lower-case name → the first member of that name, and whether other members differ from
/// it only in case (then an exact match wins). Hashed with foldhash: with the object's own
/// SipHash lookup first, name lookups were about half of `apply` on SCIM users.
type ByName<'a> = HashMap<String, (&'a Value, bool), foldhash::fast::RandomState>;

impl<'a> JsonRecord<'a> {
    pub fn new(root: &'a Value) -> Self {
        Self {
            root,
            by_name: OnceCell::new(),
        }
    }

    /// The root member named `name` (`lower` in lower case, as paths keep it): the member
    /// of exactly that name, else the first whose name differs only in case (as in `member`).
    fn root_member(&self, name: &str, lower: &str) -> Option<&'a Value> {
        let root = self.root.as_object()?;
        let by_name = self.by_name.get_or_init(|| {
            let mut by_name = ByName::with_capacity_and_hasher(root.len(), Default::default());
            for (key, value) in root {
                by_name
                    .entry(key.to_lowercase())
                    .and_modify(|(_, several)| *several = true)
                    .or_insert((value, false));
            }
            by_name
        });
        let (first, several) = *by_name.get(lower)?;
        match several {
            false => Some(first),
            true => root.get(name).or(Some(first)),
        }
    }
}

impl Record for JsonRecord<'_> {
    fn get(&self, path: &AttrPath) -> Option<Cow<'_, str>> {
        self.root.as_object()?;
        // A flat object (a CSV row as JSON) may hold a dotted or URN path as one key.
        if path.urn.is_none() && path.segments.len() > 1 {
            if let Some(value) = self.root_member(path.flat_key(), path.flat_key()) {
                return scalar(value);
            }
        }
        let mut segments = path.segments.iter();
        let mut current: &Value = match &path.urn {
            Some(urn) => self.root_member(urn, urn)?,
            None => {
                let first = segments.next()?;
                let mut value = single(self.root_member(&first.name, path.first_lower())?)?;
                if let Some(filter) = &first.filter {
                    value = select(value, filter)?;
                }
                value
            }
        };
        for segment in segments {
            current = single(member(primary_object(current)?, &segment.name)?)?;
            if let Some(filter) = &segment.filter {
                current = select(current, filter)?;
            }
        }
        scalar(current)
    }
}

/// The member of `object` named `name`, compared case-insensitively.
fn member<'v>(object: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    object.get(name).or_else(|| {
        object
            .iter()
            .find(|(key, _)| same_name(key, name))
            .map(|(_, value)| value)
    })
}

/// Whether two attribute names are equal ignoring case, without allocating: this runs for
/// every source a rule file names that the record lacks (most of them), on every write.
fn same_name(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// A multi-valued attribute before a filter stays an array; anything else passes through.
fn single(value: &Value) -> Option<&Value> {
    match value {
        Value::Null => None,
        other => Some(other),
    }
}

/// An object, or the `primary` (else first) object of a multi-valued attribute.
fn primary_object(value: &Value) -> Option<&Map<String, Value>> {
    match value {
        Value::Object(object) => Some(object),
        Value::Array(items) => items
            .iter()
            .find(|item| item.get("primary").and_then(Value::as_bool) == Some(true))
            .or_else(|| items.first())
            .and_then(Value::as_object),
        _ => None,
    }
}

/// The element of a multi-valued attribute chosen by `filter` (the first that passes).
fn select<'v>(value: &'v Value, filter: &PathFilter) -> Option<&'v Value> {
    let passes = |element: &Value| {
        filter.all_of.iter().all(|test| {
            let actual = element
                .as_object()
                .and_then(|o| member(o, &test.attribute))
                .and_then(|v| scalar(v).map(Cow::into_owned));
            test.op.test(actual.as_deref(), &test.value)
        })
    };
    match value {
        Value::Array(items) => items.iter().find(|item| passes(item)),
        other if passes(other) => Some(other),
        _ => None,
    }
}

fn scalar(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(s) => Some(Cow::Borrowed(s.as_str())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Array(items) => {
            let chosen = items
                .iter()
                .find(|item| item.get("primary").and_then(Value::as_bool) == Some(true))
                .or_else(|| items.first())?;
            match chosen {
                Value::Object(o) => member(o, "value").and_then(scalar),
                other => scalar(other),
            }
        }
        Value::Null | Value::Object(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(urn: Option<&str>, names: &[&str]) -> AttrPath {
        let segments = names
            .iter()
            .map(|n| crate::value::PathSegment {
                name: n.to_string(),
                filter: None,
            })
            .collect();
        AttrPath::new(urn.map(str::to_string), segments, names.join("."))
    }

    /// Names match whatever their case, through the root index as well as nested objects;
    /// the first of two members differing only in case wins.
    #[test]
    fn attribute_names_match_case_insensitively() {
        let user = serde_json::json!({
            "Title": "Engineer",
            "title": "second",
            "NAME": {"GivenName": "Ana"},
            "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER": {"department": "R&D"},
            "Ünit": "Ü",
        });
        let record = JsonRecord::new(&user);
        let get = |p: &AttrPath| record.get(p).map(|v| v.into_owned());
        assert_eq!(get(&path(None, &["title"])).as_deref(), Some("second"));
        assert_eq!(get(&path(None, &["TITLE"])).as_deref(), Some("Engineer"));
        assert_eq!(
            get(&path(None, &["name", "givenName"])).as_deref(),
            Some("Ana")
        );
        let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user";
        assert_eq!(
            get(&path(Some(enterprise), &["department"])).as_deref(),
            Some("R&D")
        );
        assert_eq!(get(&path(None, &["ünit"])).as_deref(), Some("Ü"));
        assert_eq!(get(&path(None, &["missing"])), None);
    }
}
