//! Attribute paths: `title`, `name.givenName`, `emails[type eq "work"].value`,
//! `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`, or a CSV column
//! name such as `"First name"`.

use std::fmt;

fn starts_with_urn(text: &str) -> bool {
    text.get(..4)
        .is_some_and(|head| head.eq_ignore_ascii_case("urn:"))
}

/// Dense index of a distinct source path within one compiled program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(pub usize);

/// A comparison inside a value filter: `type eq "work"`, `primary eq true`, `display pr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathFilter {
    /// Conjunction of comparisons (`[type eq "work" and primary eq true]`).
    pub all_of: Vec<FilterTest>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterTest {
    pub attribute: String,
    pub op: FilterOp,
    /// The compared value in its JSON spelling: `work`, `true`, `42`. Empty for `pr`.
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Pr,
}

impl FilterOp {
    pub fn from_keyword(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "co" => Self::Co,
            "sw" => Self::Sw,
            "ew" => Self::Ew,
            "pr" => Self::Pr,
            _ => return None,
        })
    }

    /// Case-insensitive comparison of `actual` against `expected` (SCIM's caseExact=false).
    pub fn test(self, actual: Option<&str>, expected: &str) -> bool {
        let Some(actual) = actual else {
            return false;
        };
        let actual = actual.to_lowercase();
        let expected = expected.to_lowercase();
        match self {
            Self::Eq => actual == expected,
            Self::Ne => actual != expected,
            Self::Co => actual.contains(&expected),
            Self::Sw => actual.starts_with(&expected),
            Self::Ew => actual.ends_with(&expected),
            Self::Pr => !actual.is_empty(),
        }
    }
}

/// One step of a path: an attribute name and an optional value filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathSegment {
    pub name: String,
    pub filter: Option<PathFilter>,
}

/// A resolved attribute path. Built by the compiler from rule-file syntax; aliases such as
/// `enterprise:` are already expanded to their URN.
#[derive(Debug, Clone)]
pub struct AttrPath {
    /// Lower-cased schema URN for URN-qualified paths (`urn:…:enterprise:2.0:user`).
    pub urn: Option<String>,
    pub segments: Vec<PathSegment>,
    /// The path as written (for messages and traces).
    text: String,
    /// The path as an IdP sends it: aliases expanded to their URN in its own spelling
    /// (`urn:ietf:params:scim:schemas:extension:canon:2.0:User:managementLevel`).
    scim_path: String,
    /// Lower-cased name under which a flat record (a CSV column) holds this path.
    flat_key: String,
    /// The first segment's name, lower-cased once here rather than on every lookup.
    first_lower: String,
    id: SourceId,
}

impl AttrPath {
    /// `text` is the path as written. A flat record (a CSV row) holds the path under its
    /// written name; URN-qualified paths under `urn:…:attr.sub` whichever alias spelled them.
    pub fn new(urn: Option<String>, segments: Vec<PathSegment>, text: String) -> Self {
        let flat_key = match &urn {
            Some(urn) if segments.iter().all(|s| s.filter.is_none()) => {
                let names: Vec<&str> = segments.iter().map(|s| s.name.as_str()).collect();
                format!("{urn}:{}", names.join(".")).to_lowercase()
            }
            _ => text.to_lowercase(),
        };
        let first_lower = segments
            .first()
            .map_or(String::new(), |s| s.name.to_lowercase());
        let scim_path = match &urn {
            Some(urn) if !starts_with_urn(&text) => match text.split_once(':') {
                Some((_alias, rest)) => format!("{urn}:{rest}"),
                None => format!("{urn}:{text}"),
            },
            _ => text.clone(),
        };
        Self {
            urn: urn.map(|u| u.to_lowercase()),
            segments,
            text,
            scim_path,
            flat_key,
            first_lower,
            id: SourceId(0),
        }
    }

    /// A CSV column name (written quoted in rule files): a single segment holding any text.
    pub fn column(name: &str) -> Self {
        Self::new(
            None,
            vec![PathSegment {
                name: name.to_string(),
                filter: None,
            }],
            name.to_string(),
        )
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The path with its alias expanded: what an IdP administrator types, and what an IdP
    /// sends (`enterprise:department` is
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`).
    pub fn scim_path(&self) -> &str {
        &self.scim_path
    }

    pub fn flat_key(&self) -> &str {
        &self.flat_key
    }

    /// The first segment's name in lower case ("" without segments).
    pub fn first_lower(&self) -> &str {
        &self.first_lower
    }

    pub fn id(&self) -> SourceId {
        self.id
    }

    pub(crate) fn with_id(mut self, id: SourceId) -> Self {
        self.id = id;
        self
    }

    /// Two paths that name the same attribute (ids aside).
    pub fn same_attribute(&self, other: &AttrPath) -> bool {
        self.flat_key == other.flat_key
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
