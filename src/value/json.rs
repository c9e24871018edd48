//! Reading attribute paths out of a SCIM resource (or any JSON object).

use std::borrow::Cow;
use std::cell::OnceCell;

use serde_json::{Map, Value};

use super::{AttrPath, PathFilter, Record};

/// A SCIM resource as sent by the client. Attribute names and schema URNs match
/// case-insensitively. A multi-valued attribute without a filter yields its `primary` element,
/// else its first.
#[derive(Debug, Clone)]
pub struct JsonRecord<'a> {
    root: &'a Value,
    /// The root object's members by name length, built on the first lookup: a rule file
    /// names many alternative attributes (most absent), and each is then a comparison with
    /// the one or two members of its length instead of a scan of every member.
    by_length: OnceCell<RootMembers<'a>>,
}

/// The root object's members, without a copy of any name: a map of lower-cased names (a
/// `String` per member and record) was 8% of `apply` on SCIM users.
#[derive(Debug, Clone, Default)]
struct RootMembers<'a> {
    /// Members with ASCII names: (name length, place in the object, name, value), by length.
    ascii: Vec<(usize, usize, &'a str, &'a Value)>,
    /// Members with other names (rare: SCIM names are ASCII), in object order.
    other: Vec<(usize, &'a str, &'a Value)>,
}

impl<'a> RootMembers<'a> {
    fn of(root: &'a Map<String, Value>) -> Self {
        let mut members = Self::default();
        for (place, (key, value)) in root.iter().enumerate() {
            match key.is_ascii() {
                true => members.ascii.push((key.len(), place, key, value)),
                false => members.other.push((place, key, value)),
            }
        }
        // Stable: members of one length stay in object order.
        members.ascii.sort_by_key(|&(len, ..)| len);
        members
    }
}

impl<'a> JsonRecord<'a> {
    pub fn new(root: &'a Value) -> Self {
        Self {
            root,
            by_length: OnceCell::new(),
        }
    }

    /// The value the record reads.
    pub fn root(&self) -> &'a Value {
        self.root
    }

    /// The root member named `name` (`lower` in lower case, as paths keep it): the member
    /// of exactly that name, else the first whose lower-cased name is `lower`.
    fn root_member(&self, name: &str, lower: &str) -> Option<&'a Value> {
        let root = self.root.as_object()?;
        let members = self.by_length.get_or_init(|| RootMembers::of(root));
        // An ASCII name lower-cases to `lower` exactly when it has its length and equals it
        // ignoring ASCII case (`lower` is lower case already).
        let from = members
            .ascii
            .partition_point(|&(len, ..)| len < lower.len());
        let same_length = members.ascii[from..]
            .iter()
            .take_while(|&&(len, ..)| len == lower.len());
        let ascii = same_length
            .filter(|(_, _, key, _)| key.eq_ignore_ascii_case(lower))
            .map(|&(_, place, key, value)| (place, key, value));
        let other = members
            .other
            .iter()
            .filter(|(_, key, _)| key.to_lowercase() == lower)
            .copied();
        let mut first: Option<(usize, &'a Value)> = None;
        for (place, key, value) in ascii.chain(other) {
            if key == name {
                return Some(value);
            }
            if first.is_none_or(|(earliest, _)| place < earliest) {
                first = Some((place, value));
            }
        }
        first.map(|(_, value)| value)
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

/// The member of `object` named `name`, else the first whose name differs only in case. A
/// scan, not the map's own lookup: these objects (a name, an address, the enterprise
/// extension) hold a handful of members, and the map hashes with SipHash.
fn member<'v>(object: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    let found = |same: &dyn Fn(&str) -> bool| {
        object
            .iter()
            .find(|(key, _)| same(key))
            .map(|(_, value)| value)
    };
    found(&|key| key == name).or_else(|| found(&|key| same_name(key, name)))
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
            "NAME": {"givenname": "lower", "GivenName": "Ana", "familyName": "Ruiz"},
            "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER": {"department": "R&D"},
            "Ünit": "Ü",
            "ÖRT": "Wien",
        });
        let record = JsonRecord::new(&user);
        let get = |p: &AttrPath| record.get(p).map(|v| v.into_owned());
        assert_eq!(get(&path(None, &["title"])).as_deref(), Some("second"));
        assert_eq!(get(&path(None, &["TITLE"])).as_deref(), Some("Engineer"));
        assert_eq!(
            get(&path(None, &["name", "givenName"])).as_deref(),
            Some("lower")
        );
        let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user";
        assert_eq!(
            get(&path(Some(enterprise), &["department"])).as_deref(),
            Some("R&D")
        );
        assert_eq!(get(&path(None, &["ünit"])).as_deref(), Some("Ü"));
        assert_eq!(get(&path(None, &["ört"])).as_deref(), Some("Wien"));
        // In a nested object too, the exact name wins, else the first in another case.
        assert_eq!(
            get(&path(None, &["name", "GivenName"])).as_deref(),
            Some("Ana")
        );
        assert_eq!(
            get(&path(None, &["name", "FAMILYNAME"])).as_deref(),
            Some("Ruiz")
        );
        assert_eq!(get(&path(None, &["missing"])), None);
    }
}
