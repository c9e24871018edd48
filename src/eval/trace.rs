//! What `explain` returns: for each field, where its value came from and why.

use std::fmt::Write as _;

use serde::Serialize;

use super::profile::{FieldNote, RuleRef};

#[derive(Debug, Clone, Serialize)]
pub struct Trace {
    pub fields: Vec<FieldTrace>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FieldTrace {
    pub field: String,
    pub required: bool,
    pub value: Option<String>,
    /// The rule that fired.
    pub rule: Option<RuleRef>,
    pub note: Option<FieldNote>,
    /// Each input the field's rules read: source, raw value and every step's result.
    pub inputs: Vec<InputTrace>,
    /// Every rule tried, in order, up to the one that fired.
    pub rules: Vec<RuleTrace>,
    /// For a field that tests `reports` in a population: the people counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reports: Option<super::Reports>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct InputTrace {
    pub input: String,
    /// The attribute path or `@input` the value came from; none when every source was empty.
    pub source: Option<String>,
    pub raw: Option<String>,
    pub steps: Vec<StepTrace>,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepTrace {
    pub step: String,
    pub result: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleTrace {
    pub id: String,
    pub at: String,
    pub matched: bool,
    /// Each test evaluated, with what it found.
    pub why: String,
}

impl Trace {
    pub fn field(&self, name: &str) -> Option<&FieldTrace> {
        self.fields.iter().find(|f| f.field == name)
    }

    /// The trace for people:
    ///
    /// ```text
    /// management_level = "Sr. Director"   [rule sr_director at default.rules:120]
    ///   input title ← title "Sr. Dir, Ops"
    ///     nfkc              "Sr. Dir, Ops"
    ///     lower             "sr. dir, ops"
    ///   rules
    ///     no   assistant    default.rules:40   title has any assistant_roles: no such word in "…"
    ///     YES  sr_director  default.rules:120  …
    /// ```
    pub fn render(&self) -> String {
        let mut out = String::new();
        for field in &self.fields {
            let value = match &field.value {
                Some(v) => format!("{v:?}"),
                None => "unset".to_string(),
            };
            let _ = write!(out, "{} = {value}", field.field);
            match (&field.rule, &field.note) {
                (Some(rule), _) => {
                    let _ = write!(out, "   [rule {} at {}]", rule.id, rule.at);
                }
                (None, Some(note)) => {
                    let _ = write!(out, "   [{}]", note.describe());
                }
                (None, None) => {}
            }
            out.push('\n');
            if let (Some(_), Some(note)) = (&field.rule, &field.note) {
                let _ = writeln!(out, "  note: {}", note.describe());
            }
            if let Some(reports) = &field.reports {
                let _ = writeln!(out, "  reports: {}", super::describe_reports(reports));
            }
            for input in &field.inputs {
                match (&input.source, &input.raw) {
                    (Some(source), Some(raw)) => {
                        let _ = writeln!(out, "  input {} <- {source} {raw:?}", input.input);
                    }
                    _ => {
                        let _ = writeln!(out, "  input {} <- (every source empty)", input.input);
                    }
                }
                let width = input
                    .steps
                    .iter()
                    .map(|s| s.step.chars().count())
                    .max()
                    .unwrap_or(0);
                for step in &input.steps {
                    let _ = writeln!(out, "    {:width$}  {:?}", step.step, step.result);
                }
            }
            if !field.rules.is_empty() {
                let _ = writeln!(out, "  rules");
                let id_width = field
                    .rules
                    .iter()
                    .map(|r| r.id.chars().count())
                    .max()
                    .unwrap_or(0);
                let at_width = field
                    .rules
                    .iter()
                    .map(|r| r.at.chars().count())
                    .max()
                    .unwrap_or(0);
                for rule in &field.rules {
                    let mark = if rule.matched { "YES" } else { "no " };
                    let _ = writeln!(
                        out,
                        "    {mark} {:id_width$}  {:at_width$}  {}",
                        rule.id, rule.at, rule.why
                    );
                }
            }
            out.push('\n');
        }
        out
    }
}
