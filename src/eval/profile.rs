//! The canonical profile: what [`crate::Program::apply`] returns for one record.

use std::sync::Arc;

use serde::ser::{Serialize, SerializeMap, Serializer};

/// Why a field has no value, or what was wrong with the value the rules produced.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FieldNote {
    /// No rule of the field's list matched (there is no final `else`).
    NoRuleMatched,
    /// The rule that fired says the value cannot be determined (`-> unset`).
    Undetermined,
    /// The rule read an input that is empty or absent in the record.
    EmptyInput,
    /// A table lookup found no entry for the key.
    MissingKey { key: String },
    /// The value is not one of the field's allowed values (enum, flag) and was dropped.
    NotAllowed { value: String },
    /// The value is not an email address and was dropped.
    InvalidEmail { value: String },
    /// The record needed more evaluation work than one record may use.
    BudgetExhausted,
    /// A rule compares the input as a date, and its value is not one in the input's format:
    /// the field stays unset rather than fall to a later rule.
    BadDate { value: String, format: String },
}

impl FieldNote {
    /// One line for people: used by dry-run reports and `canon explain`.
    pub fn describe(&self) -> String {
        match self {
            Self::NoRuleMatched => "no rule matched".into(),
            Self::Undetermined => "cannot be determined (the rule says unset)".into(),
            Self::EmptyInput => "the input it reads is empty".into(),
            Self::MissingKey { key } => format!("no table entry for `{key}`"),
            Self::NotAllowed { value } => format!("`{value}` is not an allowed value"),
            Self::InvalidEmail { value } => format!("`{value}` is not an email address"),
            Self::BudgetExhausted => "evaluation budget exhausted".into(),
            Self::BadDate { value, format } => {
                format!("`{value}` is not a date ({format})")
            }
        }
    }
}

/// Which rule produced a field's value: the field's name, the rule id, where it is written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct RuleRef {
    /// The rule id within its field (`else` for a final else).
    pub id: Arc<str>,
    /// `file:line` of the rule.
    pub at: Arc<str>,
    /// Whether this is the list's final `else` (the report counts values that fell to it).
    pub is_else: bool,
}

/// One canonical field of a profile.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldOutcome {
    pub name: Arc<str>,
    pub required: bool,
    pub value: Option<Arc<str>>,
    /// The rule that fired, if one did.
    pub rule: Option<RuleRef>,
    pub note: Option<FieldNote>,
}

impl FieldOutcome {
    /// Whether the record's raw values were not mapped: no value, or the final `else`'s
    /// (the dry-run report lists such raw values per input).
    pub fn fell_through(&self) -> bool {
        self.value.is_none() || self.rule.as_ref().is_some_and(|r| r.is_else)
    }
}

/// The canonical profile of one record: every declared field, in declaration order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub(crate) fields: Vec<Arc<FieldOutcome>>,
}

impl Profile {
    /// The canonical value of `field`, if set.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.field(field).and_then(|f| f.value.as_deref())
    }

    pub fn field(&self, field: &str) -> Option<&FieldOutcome> {
        self.fields.iter().find(|f| &*f.name == field).map(|f| &**f)
    }

    /// All fields in declaration order, set or not.
    /// Outcomes are shared: a bulk run's evaluator hands the same one to every row with the
    /// same raw values.
    pub fn fields(&self) -> &[Arc<FieldOutcome>] {
        &self.fields
    }

    /// Names of required fields that stayed unset.
    pub fn missing_required(&self) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|f| f.required && f.value.is_none())
            .map(|f| &*f.name)
            .collect()
    }

    pub fn is_complete(&self) -> bool {
        self.fields.iter().all(|f| !f.required || f.value.is_some())
    }

    /// `{"first_name": "Ana", "management_level": null, …}`: every field, unset ones as null.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.fields
                .iter()
                .map(|f| {
                    let value = f
                        .value
                        .as_deref()
                        .map_or(serde_json::Value::Null, |v| v.into());
                    (f.name.to_string(), value)
                })
                .collect(),
        )
    }

    /// `{"management_level": "default.rules:88 title_vp", …}`: the rule behind each set field.
    pub fn rules_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.fields
                .iter()
                .filter_map(|f| {
                    let rule = f.rule.as_ref()?;
                    Some((
                        f.name.to_string(),
                        serde_json::json!({"rule": &*rule.id, "at": &*rule.at}),
                    ))
                })
                .collect(),
        )
    }
}

/// Serialises as [`Profile::to_json`]: field name → value or null.
impl Serialize for Profile {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.fields.len()))?;
        for field in &self.fields {
            map.serialize_entry(&*field.name, &field.value.as_deref())?;
        }
        map.end()
    }
}
