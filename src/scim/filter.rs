//! SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2): parse with the grammar in
//! `grammar/scim_filter.pest`, lower to [`Filter`] / [`PatchPath`], evaluate on a resource.

use std::cmp::Ordering;

use pest::iterators::Pair;
use pest::Parser as _;
use serde_json::Value;

use super::schema::{self, ci_get};
use crate::store::{IndexedAttr, Kind};

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/scim_filter.pest"]
struct FilterParser;

/// Longest filter or path accepted, in bytes.
pub const MAX_LEN: usize = 4096;
/// Deepest nesting of parentheses and brackets accepted.
pub const MAX_DEPTH: usize = 16;

/// A SCIM attribute path (RFC 7644 `attrPath`): `[urn:…:]name[.sub]`. `urn` is `None` for
/// the resource's core schema. Not the rules engine's `AttrPath` (in `value`).
#[derive(Debug, Clone, PartialEq)]
pub struct ScimPath {
    pub urn: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

impl ScimPath {
    /// Whether comparisons on the attribute at this path are case-sensitive (`id` always is).
    pub fn case_exact(&self, kind: Kind) -> bool {
        if self.urn.is_none() && self.sub.is_none() && self.name.eq_ignore_ascii_case("id") {
            return true;
        }
        let urn = self.urn.as_deref().unwrap_or(schema::core_urn(kind));
        let Some(defined) = schema::schema_for(kind, urn) else {
            return false;
        };
        let Some(attr) = schema::find_attr(defined.attrs, &self.name) else {
            return false;
        };
        match &self.sub {
            Some(sub) => schema::find_attr(attr.sub, sub).is_some_and(|a| a.case_exact),
            None => attr.case_exact,
        }
    }
}

/// A SCIM filter's comparison operator: `eq ne co sw ew gt ge lt le`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimCompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Or(Box<Filter>, Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Present(ScimPath),
    Compare(ScimPath, ScimCompareOp, Value),
    /// `attr[filter]`: some element of the multi-valued `attr` matches `filter`.
    ValuePath(ScimPath, Box<Filter>),
}

/// A PATCH operation's path: an attribute, or a value path with an optional sub-attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: ScimPath,
    pub filter: Option<Filter>,
    /// The sub-attribute after a value path: `emails[type eq "work"].value`.
    pub sub: Option<String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(pub String);

/// A human name for each grammar rule, for "expected …" messages. No wildcard arm: a new rule
/// without a name fails the build.
fn rule_name(rule: &Rule) -> &'static str {
    match rule {
        Rule::filter => "a filter",
        Rule::patch_path => "a path",
        Rule::expr => "an expression",
        Rule::term => "an expression",
        Rule::factor => "an expression",
        Rule::comp_value => "a value (a quoted string, number, true, false or null)",
        Rule::name_char => "a letter, digit, `_` or `-`",
        Rule::not_expr => "`not (…)`",
        Rule::group => "`(`",
        Rule::value_path => "a value path `attr[…]`",
        Rule::value_path_exp => "a value path comparison `attr[…].sub eq …`",
        Rule::sub_attr => "`.subAttribute`",
        Rule::attr_exp => "an attribute comparison",
        Rule::present => "`pr`",
        Rule::compare_op => "an operator (eq ne co sw ew gt ge lt le pr)",
        Rule::attr_path => "an attribute name",
        Rule::urn => "a schema URN",
        Rule::urn_seg => "a schema URN",
        Rule::attr_name => "an attribute name",
        Rule::or_op => "`or`",
        Rule::and_op => "`and`",
        Rule::not_op => "`not`",
        Rule::true_lit | Rule::false_lit | Rule::null_lit | Rule::number | Rule::string => {
            "a value (a quoted string, number, true, false or null)"
        }
        Rule::EOI => "the end",
        Rule::WHITESPACE => "a space",
    }
}

fn check_bounds(text: &str) -> Result<(), FilterError> {
    if text.len() > MAX_LEN {
        return Err(FilterError(format!("longer than {MAX_LEN} bytes")));
    }
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for c in text.chars() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '(' | '[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' | ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if deepest > MAX_DEPTH {
        return Err(FilterError(format!(
            "nested deeper than {MAX_DEPTH} levels"
        )));
    }
    Ok(())
}

fn parse_rule(rule: Rule, text: &str) -> Result<Pair<'_, Rule>, FilterError> {
    check_bounds(text)?;
    let mut pairs = FilterParser::parse(rule, text).map_err(|error| {
        let column = match error.line_col {
            pest::error::LineColLocation::Pos((_, c))
            | pest::error::LineColLocation::Span((_, c), _) => c,
        };
        let expected = match &error.variant {
            pest::error::ErrorVariant::ParsingError { positives, .. } if !positives.is_empty() => {
                let mut names: Vec<&str> = positives.iter().map(rule_name).collect();
                names.dedup();
                format!("expected {}", names.join(" or "))
            }
            _ => "unexpected text".to_string(),
        };
        FilterError(format!("{expected} at column {column}"))
    })?;
    pairs.next().ok_or_else(|| FilterError("empty".into()))
}

/// Parses a filter (`userName eq "ana"`).
pub fn parse_filter(text: &str) -> Result<Filter, FilterError> {
    let top = parse_rule(Rule::filter, text)?;
    let expr = top
        .into_inner()
        .next()
        .ok_or_else(|| FilterError("empty filter".into()))?;
    lower_expr(expr, false)
}

/// Parses a PATCH path (`members[value eq "42"]`, `name.givenName`, `urn:…:User:department`).
pub fn parse_path(text: &str) -> Result<PatchPath, FilterError> {
    let top = parse_rule(Rule::patch_path, text)?;
    let mut inner = top.into_inner();
    let first = inner
        .next()
        .ok_or_else(|| FilterError("empty path".into()))?;
    match first.as_rule() {
        Rule::value_path => {
            let (attr, filter) = lower_value_path(first)?;
            let sub = match inner.next() {
                Some(pair) if pair.as_rule() == Rule::sub_attr => Some(lower_sub_attr(pair)?),
                _ => None,
            };
            Ok(PatchPath {
                attr,
                filter: Some(filter),
                sub,
            })
        }
        _ => Ok(PatchPath {
            attr: lower_attr_path(first)?,
            filter: None,
            sub: None,
        }),
    }
}

fn next<'a>(pairs: &mut pest::iterators::Pairs<'a, Rule>) -> Result<Pair<'a, Rule>, FilterError> {
    pairs
        .next()
        .ok_or_else(|| FilterError("incomplete expression".into()))
}

fn lower_expr(pair: Pair<'_, Rule>, in_value_path: bool) -> Result<Filter, FilterError> {
    let mut inner = pair.into_inner();
    let mut left = lower_term(next(&mut inner)?, in_value_path)?;
    while let Some(op) = inner.next() {
        debug_assert_eq!(op.as_rule(), Rule::or_op);
        let right = lower_term(next(&mut inner)?, in_value_path)?;
        left = Filter::Or(Box::new(left), Box::new(right));
    }
    Ok(left)
}

fn lower_term(pair: Pair<'_, Rule>, in_value_path: bool) -> Result<Filter, FilterError> {
    let mut inner = pair.into_inner();
    let mut left = lower_factor(next(&mut inner)?, in_value_path)?;
    while let Some(_and) = inner.next() {
        let right = lower_factor(next(&mut inner)?, in_value_path)?;
        left = Filter::And(Box::new(left), Box::new(right));
    }
    Ok(left)
}

fn lower_factor(pair: Pair<'_, Rule>, in_value_path: bool) -> Result<Filter, FilterError> {
    match pair.as_rule() {
        Rule::not_expr => {
            let group = pair
                .into_inner()
                .nth(1)
                .ok_or_else(|| FilterError("`not` needs (…)".into()))?;
            Ok(Filter::Not(Box::new(lower_group(group, in_value_path)?)))
        }
        Rule::group => lower_group(pair, in_value_path),
        Rule::value_path if in_value_path => Err(FilterError(
            "a value path cannot hold another value path".into(),
        )),
        Rule::value_path_exp if in_value_path => Err(FilterError(
            "a value path cannot hold another value path".into(),
        )),
        Rule::value_path => {
            let (attr, filter) = lower_value_path(pair)?;
            Ok(Filter::ValuePath(attr, Box::new(filter)))
        }
        Rule::value_path_exp => lower_value_path_exp(pair),
        _ => lower_attr_exp(pair),
    }
}

fn lower_group(pair: Pair<'_, Rule>, in_value_path: bool) -> Result<Filter, FilterError> {
    lower_expr(next(&mut pair.into_inner())?, in_value_path)
}

fn lower_value_path(pair: Pair<'_, Rule>) -> Result<(ScimPath, Filter), FilterError> {
    let mut inner = pair.into_inner();
    let attr = lower_attr_path(next(&mut inner)?)?;
    if attr.sub.is_some() {
        return Err(FilterError(
            "a value path filters a multi-valued attribute, not a sub-attribute".into(),
        ));
    }
    let filter = lower_expr(next(&mut inner)?, true)?;
    Ok((attr, filter))
}

fn lower_sub_attr(pair: Pair<'_, Rule>) -> Result<String, FilterError> {
    Ok(next(&mut pair.into_inner())?.as_str().to_string())
}

fn lower_attr_path(pair: Pair<'_, Rule>) -> Result<ScimPath, FilterError> {
    let mut urn = None;
    let mut name = String::new();
    let mut sub = None;
    for part in pair.into_inner() {
        match part.as_rule() {
            Rule::urn => urn = Some(part.as_str().trim_end_matches(':').to_string()),
            Rule::attr_name => name = part.as_str().to_string(),
            Rule::sub_attr => sub = Some(lower_sub_attr(part)?),
            _ => {}
        }
    }
    Ok(ScimPath { urn, name, sub })
}

/// `emails[type eq "work"].value eq "x"` is `emails[type eq "work" and value eq "x"]`: some
/// element passes the filter and its sub-attribute the comparison.
fn lower_value_path_exp(pair: Pair<'_, Rule>) -> Result<Filter, FilterError> {
    let mut inner = pair.into_inner();
    let (attr, filter) = lower_value_path(next(&mut inner)?)?;
    let sub = ScimPath {
        urn: None,
        name: lower_sub_attr(next(&mut inner)?)?,
        sub: None,
    };
    let test = lower_comparison(sub, &mut inner)?;
    Ok(Filter::ValuePath(
        attr,
        Box::new(Filter::And(Box::new(filter), Box::new(test))),
    ))
}

fn lower_attr_exp(pair: Pair<'_, Rule>) -> Result<Filter, FilterError> {
    let mut inner = pair.into_inner();
    let path = lower_attr_path(next(&mut inner)?)?;
    lower_comparison(path, &mut inner)
}

/// `pr`, or an operator and a value, applied to `path`.
fn lower_comparison(
    path: ScimPath,
    inner: &mut pest::iterators::Pairs<'_, Rule>,
) -> Result<Filter, FilterError> {
    let op = next(inner)?;
    if op.as_rule() == Rule::present {
        return Ok(Filter::Present(path));
    }
    let op = match op.as_str().to_ascii_lowercase().as_str() {
        "eq" => ScimCompareOp::Eq,
        "ne" => ScimCompareOp::Ne,
        "co" => ScimCompareOp::Co,
        "sw" => ScimCompareOp::Sw,
        "ew" => ScimCompareOp::Ew,
        "gt" => ScimCompareOp::Gt,
        "ge" => ScimCompareOp::Ge,
        "lt" => ScimCompareOp::Lt,
        _ => ScimCompareOp::Le,
    };
    let value = lower_value(next(inner)?)?;
    match (&value, op) {
        (Value::String(_) | Value::Number(_), _) => {}
        (Value::Bool(_) | Value::Null, ScimCompareOp::Eq | ScimCompareOp::Ne) => {}
        _ => {
            return Err(FilterError(format!(
                "`{}` compares only strings, numbers and dates",
                format!("{op:?}").to_lowercase()
            )))
        }
    }
    Ok(Filter::Compare(path, op, value))
}

fn lower_value(pair: Pair<'_, Rule>) -> Result<Value, FilterError> {
    match pair.as_rule() {
        Rule::true_lit => Ok(Value::Bool(true)),
        Rule::false_lit => Ok(Value::Bool(false)),
        Rule::null_lit => Ok(Value::Null),
        _ => serde_json::from_str(pair.as_str())
            .map_err(|e| FilterError(format!("bad literal `{}`: {e}", pair.as_str()))),
    }
}

// ---- evaluation ----------------------------------------------------------------------

/// The values an attribute path reaches in a resource (multi-valued attributes flattened).
fn resolve<'a>(resource: &'a Value, kind: Kind, path: &ScimPath) -> Vec<&'a Value> {
    let container = match &path.urn {
        Some(urn) if !schema::is_core_urn(kind, urn) => match ci_get(resource, urn) {
            Some(extension) => extension,
            None => return Vec::new(),
        },
        _ => resource,
    };
    let Some(top) = ci_get(container, &path.name) else {
        return Vec::new();
    };
    let elements: Vec<&Value> = match top {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    match &path.sub {
        Some(sub) => elements
            .into_iter()
            .filter_map(|e| ci_get(e, sub))
            .collect(),
        None => elements
            .into_iter()
            // A multi-valued complex attribute compares by its `value` sub-attribute.
            .map(|e| {
                if e.is_object() {
                    ci_get(e, "value").unwrap_or(e)
                } else {
                    e
                }
            })
            .collect(),
    }
}

fn present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn compare(actual: &Value, op: ScimCompareOp, expected: &Value, case_exact: bool) -> bool {
    let fold = |s: &str| {
        if case_exact {
            s.to_string()
        } else {
            s.to_lowercase()
        }
    };
    match (actual, expected) {
        (Value::String(a), Value::String(e)) => {
            let (a, e) = (fold(a), fold(e));
            match op {
                ScimCompareOp::Eq => a == e,
                ScimCompareOp::Ne => a != e,
                ScimCompareOp::Co => a.contains(&e),
                ScimCompareOp::Sw => a.starts_with(&e),
                ScimCompareOp::Ew => a.ends_with(&e),
                ScimCompareOp::Gt => a > e,
                ScimCompareOp::Ge => a >= e,
                ScimCompareOp::Lt => a < e,
                ScimCompareOp::Le => a <= e,
            }
        }
        (Value::Number(a), Value::Number(e)) => {
            let (Some(a), Some(e)) = (a.as_f64(), e.as_f64()) else {
                return false;
            };
            let order = a.partial_cmp(&e);
            match op {
                ScimCompareOp::Eq => order == Some(Ordering::Equal),
                ScimCompareOp::Ne => order != Some(Ordering::Equal),
                ScimCompareOp::Gt => order == Some(Ordering::Greater),
                ScimCompareOp::Ge => matches!(order, Some(Ordering::Greater | Ordering::Equal)),
                ScimCompareOp::Lt => order == Some(Ordering::Less),
                ScimCompareOp::Le => matches!(order, Some(Ordering::Less | Ordering::Equal)),
                ScimCompareOp::Co | ScimCompareOp::Sw | ScimCompareOp::Ew => false,
            }
        }
        (Value::Bool(a), Value::Bool(e)) => match op {
            ScimCompareOp::Eq => a == e,
            ScimCompareOp::Ne => a != e,
            _ => false,
        },
        _ => op == ScimCompareOp::Ne,
    }
}

impl Filter {
    /// Whether `resource` (a full SCIM resource with `id` and `meta`) matches.
    pub fn matches(&self, resource: &Value, kind: Kind) -> bool {
        match self {
            Filter::Or(a, b) => a.matches(resource, kind) || b.matches(resource, kind),
            Filter::And(a, b) => a.matches(resource, kind) && b.matches(resource, kind),
            Filter::Not(a) => !a.matches(resource, kind),
            Filter::Present(path) => resolve(resource, kind, path).into_iter().any(present),
            Filter::Compare(path, op, expected) => {
                let values = resolve(resource, kind, path);
                let case_exact = path.case_exact(kind);
                if expected.is_null() {
                    let any = values.into_iter().any(present);
                    return if *op == ScimCompareOp::Eq { !any } else { any };
                }
                if *op == ScimCompareOp::Ne {
                    return !values
                        .into_iter()
                        .any(|v| compare(v, ScimCompareOp::Eq, expected, case_exact));
                }
                values
                    .into_iter()
                    .any(|v| compare(v, *op, expected, case_exact))
            }
            Filter::ValuePath(path, inner) => {
                let Some(items) = resolve_container(resource, kind, path) else {
                    return false;
                };
                items
                    .iter()
                    .any(|item| inner.matches_element(item, kind, path))
            }
        }
    }

    /// Evaluates a value-path filter on one element of a multi-valued attribute: its
    /// attribute names are the element's sub-attributes.
    pub fn matches_element(&self, element: &Value, kind: Kind, parent: &ScimPath) -> bool {
        match self {
            Filter::Or(a, b) => {
                a.matches_element(element, kind, parent) || b.matches_element(element, kind, parent)
            }
            Filter::And(a, b) => {
                a.matches_element(element, kind, parent) && b.matches_element(element, kind, parent)
            }
            Filter::Not(a) => !a.matches_element(element, kind, parent),
            Filter::Present(path) => ci_get(element, &path.name).is_some_and(present),
            Filter::Compare(path, op, expected) => {
                let value = ci_get(element, &path.name);
                let full = ScimPath {
                    urn: parent.urn.clone(),
                    name: parent.name.clone(),
                    sub: Some(path.name.clone()),
                };
                let case_exact = full.case_exact(kind);
                match (value, expected.is_null()) {
                    (None, true) => *op == ScimCompareOp::Eq,
                    (None, false) => *op == ScimCompareOp::Ne,
                    (Some(v), _) => compare(v, *op, expected, case_exact),
                }
            }
            Filter::ValuePath(..) => false,
        }
    }

    /// Whether the filter reads the core attribute `name` (`groups.value eq "…"`).
    pub fn reads(&self, name: &str) -> bool {
        let names = |path: &ScimPath| {
            path.name.eq_ignore_ascii_case(name)
                && (path.urn.as_deref()).is_none_or(|u| schema::is_core_urn(Kind::User, u))
        };
        match self {
            Filter::Or(a, b) | Filter::And(a, b) => a.reads(name) || b.reads(name),
            Filter::Not(a) => a.reads(name),
            Filter::Present(path) | Filter::Compare(path, ..) => names(path),
            Filter::ValuePath(path, _) => names(path),
        }
    }

    /// What the store's indexes can answer of this filter: an attribute it indexes and a
    /// value every matching resource has there. The resources found are candidates (the
    /// index folds case); the filter decides. `None`: the filter must see every resource.
    pub fn index_hint(&self, kind: Kind) -> Option<IndexHint> {
        match self {
            Filter::And(a, b) => a.index_hint(kind).or_else(|| b.index_hint(kind)),
            Filter::Compare(path, ScimCompareOp::Eq, Value::String(value)) => {
                indexed(kind, path, path.sub.as_deref()).map(|attr| attr.hint(value))
            }
            // `members[value eq "…"]`, `emails[type eq "work" and value eq "…"]`.
            Filter::ValuePath(path, inner) if path.sub.is_none() => {
                let attr = indexed(kind, path, Some("value"))?;
                inner.element_value_eq().map(|value| attr.hint(value))
            }
            _ => None,
        }
    }

    /// In a value path: the string its element's `value` must equal, if it says so.
    fn element_value_eq(&self) -> Option<&str> {
        match self {
            Filter::And(a, b) => a.element_value_eq().or_else(|| b.element_value_eq()),
            Filter::Compare(path, ScimCompareOp::Eq, Value::String(value))
                if path.urn.is_none()
                    && path.sub.is_none()
                    && path.name.eq_ignore_ascii_case("value") =>
            {
                Some(value)
            }
            _ => None,
        }
    }
}

/// A lookup that finds every resource a filter can match (see [`Filter::index_hint`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexHint {
    /// The unique, case-folded `userName` of a user.
    UserName(String),
    Key(IndexedAttr, String),
}

/// What an index holds for the attribute at `path` (its sub-attribute `sub`) of a `kind`.
enum Indexed {
    UserName,
    Key(IndexedAttr),
}

impl Indexed {
    fn hint(self, value: &str) -> IndexHint {
        match self {
            Indexed::UserName => IndexHint::UserName(value.to_lowercase()),
            Indexed::Key(attr) => IndexHint::Key(attr, value.to_string()),
        }
    }
}

fn indexed(kind: Kind, path: &ScimPath, sub: Option<&str>) -> Option<Indexed> {
    if path
        .urn
        .as_deref()
        .is_some_and(|u| !schema::is_core_urn(kind, u))
    {
        return None;
    }
    let is = |name: &str| path.name.eq_ignore_ascii_case(name);
    let value = sub.is_none_or(|s| s.eq_ignore_ascii_case("value"));
    match kind {
        Kind::User if is("userName") && sub.is_none() => Some(Indexed::UserName),
        Kind::User if is("emails") && value => Some(Indexed::Key(IndexedAttr::Email)),
        Kind::Group if is("displayName") && sub.is_none() => {
            Some(Indexed::Key(IndexedAttr::DisplayName))
        }
        // Found by exact text: only where the comparison is exact, on `value` (`members eq`
        // compares the complex attribute, case-insensitively).
        Kind::Group if is("members") && sub.is_some_and(|s| s.eq_ignore_ascii_case("value")) => {
            Some(Indexed::Key(IndexedAttr::Member))
        }
        _ if is("externalId") && sub.is_none() => Some(Indexed::Key(IndexedAttr::ExternalId)),
        _ => None,
    }
}

/// The array a value path filters.
fn resolve_container<'a>(
    resource: &'a Value,
    kind: Kind,
    path: &ScimPath,
) -> Option<&'a Vec<Value>> {
    let container = match &path.urn {
        Some(urn) if !schema::is_core_urn(kind, urn) => ci_get(resource, urn)?,
        _ => resource,
    };
    ci_get(container, &path.name)?.as_array()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn accepts(rule: Rule, texts: &[&str]) {
        for text in texts {
            let parsed = FilterParser::parse(rule, text);
            assert!(
                parsed.is_ok(),
                "{rule:?} should accept {text:?}: {parsed:?}"
            );
        }
    }

    fn rejects(rule: Rule, texts: &[&str]) {
        for text in texts {
            assert!(
                FilterParser::parse(rule, text).is_err(),
                "{rule:?} should reject {text:?}"
            );
        }
    }

    #[test]
    fn grammar_attr_path() {
        accepts(
            Rule::attr_path,
            &[
                "userName",
                "name.givenName",
                "$ref",
                "urn:ietf:params:scim:schemas:core:2.0:User:userName",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
                "meta.lastModified",
                "x-custom_1",
            ],
        );
        rejects(
            Rule::filter,
            &["1abc pr", ".name pr", "name. pr", "urn: pr"],
        );
    }

    #[test]
    fn grammar_attr_exp() {
        accepts(
            Rule::filter,
            &[
                "userName eq \"bjensen\"",
                "USERNAME EQ \"x\"",
                "title pr",
                "title PR",
                "meta.lastModified gt \"2011-05-13T04:42:34Z\"",
                "x ne true",
                "x eq false",
                "x eq null",
                "age ge 10",
                "n lt -1.5e3",
                "name.familyName co \"O'Malley\"",
                "s sw \"a\\\"b\"",
            ],
        );
        rejects(
            Rule::filter,
            &[
                "userName",
                "userName eq",
                "userName eq bjensen",
                "userName === \"x\"",
                "userName eqx \"a\"",
                "userName eq \"unterminated",
                "title pr pr",
                "x eq 1.",
                "x eq 'single'",
            ],
        );
    }

    #[test]
    fn grammar_logic_and_groups() {
        accepts(
            Rule::filter,
            &[
                "a pr and b pr",
                "a pr or b pr and c pr",
                "not (a pr)",
                "NOT(a pr)",
                "(a pr or b pr) and not (c eq \"x\")",
                "((a pr))",
            ],
        );
        rejects(
            Rule::filter,
            &[
                "a pr and",
                "or a pr",
                "not a pr",
                "(a pr",
                "a pr)",
                "a pr andb pr",
                "()",
            ],
        );
    }

    #[test]
    fn grammar_value_path() {
        accepts(
            Rule::filter,
            &[
                "emails[type eq \"work\" and value co \"@example.com\"]",
                "members[value eq \"2819c223\"]",
                "userType eq \"Employee\" and emails[type eq \"work\"]",
            ],
        );
        rejects(
            Rule::filter,
            &[
                "emails[]",
                "emails[type eq \"work\"",
                "emails type eq \"x\"]",
            ],
        );
        // Entra ID's filter on a sub-attribute of the selected elements.
        accepts(
            Rule::filter,
            &[
                "emails[type eq \"work\"].value eq \"a@b.c\"",
                "emails[type eq \"work\"].value pr",
                "emails[type eq \"work\"].value EQ \"x\" and userName sw \"a\"",
                "not (emails[type eq \"work\"].value co \"x\")",
            ],
        );
        rejects(
            Rule::filter,
            &[
                "emails[type eq \"work\"].value",
                "emails[type eq \"work\"].value eq",
                "emails[type eq \"work\"]. eq \"x\"",
                "emails[type eq \"work\"].value.x eq \"x\"",
            ],
        );
        accepts(
            Rule::patch_path,
            &[
                "members",
                "name.givenName",
                "members[value eq \"1\"]",
                "emails[type eq \"work\"].value",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            ],
        );
        rejects(
            Rule::patch_path,
            &[
                "",
                "members[",
                "a pr",
                "emails[type eq \"w\"].",
                "members value",
            ],
        );
    }

    #[test]
    fn lowering_precedence_and_paths() {
        let f = parse_filter("a pr or b pr and not (c pr)").unwrap();
        assert!(
            matches!(f, Filter::Or(_, ref r) if matches!(**r, Filter::And(_, ref n) if matches!(**n, Filter::Not(_))))
        );
        let p =
            parse_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value")
                .unwrap();
        assert_eq!(
            p.attr.urn.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        );
        assert_eq!(p.attr.name, "manager");
        assert_eq!(p.attr.sub.as_deref(), Some("value"));
        let p = parse_path("emails[type eq \"work\"].value").unwrap();
        assert_eq!(p.sub.as_deref(), Some("value"));
        assert!(parse_filter("emails[members[value pr]]").is_err());
        assert!(parse_filter("active gt true").is_err());
    }

    #[test]
    fn hostile_filters_are_refused_not_crashed() {
        let deep = format!("{}a pr{}", "(".repeat(1000), ")".repeat(1000));
        assert!(parse_filter(&deep).unwrap_err().0.contains("nested"));
        let long = format!("a eq \"{}\"", "x".repeat(10_000));
        assert!(parse_filter(&long).is_err());
        let ok = format!("{}a pr{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(parse_filter(&ok).is_ok());
        // Brackets inside strings do not count.
        assert!(parse_filter(&format!("a eq \"{}\"", "(".repeat(100))).is_ok());
        let error = parse_filter("userName eq").unwrap_err();
        assert!(error.0.starts_with("expected a value"), "{error}");
    }

    #[test]
    fn evaluation() {
        let user = json!({
            "id": "1", "userName": "Bjensen@Example.com", "active": false, "title": "",
            "name": {"givenName": "Barbara"},
            "emails": [{"value": "b@work.com", "type": "work"}, {"value": "b@home.org", "type": "home"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales"},
            "meta": {"lastModified": "2024-05-01T00:00:00Z"}
        });
        let yes = |f: &str| assert!(parse_filter(f).unwrap().matches(&user, Kind::User), "{f}");
        let no = |f: &str| assert!(!parse_filter(f).unwrap().matches(&user, Kind::User), "{f}");
        yes("userName eq \"bjensen@example.com\"");
        yes("USERNAME sw \"BJ\"");
        yes("urn:ietf:params:scim:schemas:core:2.0:User:userName ew \"COM\"");
        yes("active eq false");
        no("active eq true");
        no("title pr");
        yes("name.givenName pr");
        yes("emails[type eq \"work\" and value co \"@work\"]");
        no("emails[type eq \"other\"]");
        yes("emails co \"home.org\"");
        yes("emails.type eq \"home\"");
        yes("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"sales\"");
        yes("meta.lastModified gt \"2024-01-01T00:00:00Z\"");
        yes("not (userName eq \"x\") and nickName eq null");
        no("id eq \"1\" and nickName pr");
        yes("id eq \"1\" or nickName pr");
        no("id eq \"1 \"");
        // Entra ID: the work email, not any email, must equal the value.
        yes("emails[type eq \"work\"].value eq \"B@WORK.com\"");
        no("emails[type eq \"work\"].value eq \"b@home.org\"");
        yes("emails[type eq \"home\"].value ew \"org\"");
        no("emails[type eq \"other\"].value pr");
        assert!(parse_filter("emails[members[x eq 1].value eq 1]").is_err());
    }

    #[test]
    fn filters_say_what_they_read() {
        let reads = |f: &str| parse_filter(f).unwrap().reads("groups");
        assert!(reads("groups.value eq \"g1\""));
        assert!(reads("userName pr and not (GROUPS[display sw \"S\"])"));
        assert!(reads(
            "urn:ietf:params:scim:schemas:core:2.0:User:groups pr"
        ));
        assert!(!reads("userName eq \"groups\""));
        assert!(!reads("urn:x:2.0:User:groups pr"));
    }
}
