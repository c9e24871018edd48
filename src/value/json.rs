//! Reading attribute paths out of a SCIM resource (or any JSON object).

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::{AttrPath, PathFilter, Record};

/// A SCIM resource as sent by the client. Attribute names and schema URNs match
/// case-insensitively. A multi-valued attribute without a filter yields its `primary` element,
/// else its first.
#[derive(Debug, Clone, Copy)]
pub struct JsonRecord<'a> {
    root: &'a Value,
}

impl<'a> JsonRecord<'a> {
    pub fn new(root: &'a Value) -> Self {
        Self { root }
    }
}

impl Record for JsonRecord<'_> {
    fn get(&self, path: &AttrPath) -> Option<Cow<'_, str>> {
        let root = self.root.as_object()?;
        let mut current: &Value = match &path.urn {
            Some(urn) => member(root, urn)?,
            None => self.root,
        };
        // A flat object (a CSV row as JSON) may hold a dotted or URN path as one key.
        if path.urn.is_none() && path.segments.len() > 1 {
            if let Some(value) = member(root, path.flat_key()) {
                return scalar(value);
            }
        }
        for segment in &path.segments {
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
