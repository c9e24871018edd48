//! The diff report: what a rule change does to real data.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::{md_escape, show};
use crate::Profile;

/// One field of one row that changed.
#[derive(Debug, Clone, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub rule_before: Option<String>,
    pub rule_after: Option<String>,
}

/// A changed row: where it is, its identifying values, what changed.
#[derive(Debug, Clone, Serialize)]
pub struct ChangedRow {
    pub at: String,
    pub keys: Vec<(String, String)>,
    pub changes: Vec<FieldChange>,
}

/// Rows per (value before, value after) of one field.
pub type TransitionCounts = BTreeMap<(Option<String>, Option<String>), u64>;

/// Accumulates transitions over a run.
#[derive(Debug, Default)]
pub struct DiffStats {
    pub rows: u64,
    pub changed_rows: u64,
    /// field → (before, after) → rows; `None` is unset.
    pub transitions: BTreeMap<String, TransitionCounts>,
    pub shown: Vec<ChangedRow>,
}

fn rule_name(outcome: &crate::FieldOutcome) -> Option<String> {
    outcome
        .rule
        .as_ref()
        .map(|r| format!("{} ({})", r.id, r.at))
}

impl DiffStats {
    /// Compares the two profiles of one row; keeps the row when fewer than `keep` are kept.
    pub fn add(
        &mut self,
        at: impl FnOnce() -> (String, Vec<(String, String)>),
        old: &Profile,
        new: &Profile,
        keep: usize,
    ) {
        self.rows += 1;
        let mut changes = Vec::new();
        for before in old.fields() {
            let after = new.field(&before.name);
            let after_value = after.and_then(|a| a.value.as_deref());
            if before.value.as_deref() != after_value {
                changes.push(FieldChange {
                    field: before.name.to_string(),
                    before: before.value.as_deref().map(str::to_string),
                    after: after_value.map(str::to_string),
                    rule_before: rule_name(before),
                    rule_after: after.and_then(rule_name),
                });
            }
        }
        // Fields only the new rules declare.
        for after in new.fields() {
            if old.field(&after.name).is_none() && after.value.is_some() {
                changes.push(FieldChange {
                    field: after.name.to_string(),
                    before: None,
                    after: after.value.as_deref().map(str::to_string),
                    rule_before: None,
                    rule_after: rule_name(after),
                });
            }
        }
        if changes.is_empty() {
            return;
        }
        self.changed_rows += 1;
        for change in &changes {
            *self
                .transitions
                .entry(change.field.clone())
                .or_default()
                .entry((change.before.clone(), change.after.clone()))
                .or_insert(0) += 1;
        }
        if self.shown.len() < keep {
            let (at, keys) = at();
            self.shown.push(ChangedRow { at, keys, changes });
        }
    }

    pub fn report(self, bad_rows: u64) -> DiffReport {
        let transitions = self
            .transitions
            .into_iter()
            .map(|(field, map)| {
                let mut rows: Vec<Transition> = map
                    .into_iter()
                    .map(|((before, after), rows)| Transition {
                        before,
                        after,
                        rows,
                    })
                    .collect();
                rows.sort_by(|a, b| {
                    b.rows
                        .cmp(&a.rows)
                        .then_with(|| (&a.before, &a.after).cmp(&(&b.before, &b.after)))
                });
                (field, rows)
            })
            .collect();
        DiffReport {
            rows: self.rows,
            changed_rows: self.changed_rows,
            rows_bad: bad_rows,
            transitions,
            changed: self.shown,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Transition {
    pub before: Option<String>,
    pub after: Option<String>,
    pub rows: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    pub rows: u64,
    pub changed_rows: u64,
    pub rows_bad: u64,
    pub transitions: BTreeMap<String, Vec<Transition>>,
    pub changed: Vec<ChangedRow>,
}

fn value(v: &Option<String>) -> String {
    v.as_deref().map(show).unwrap_or_else(|| "(unset)".into())
}

impl DiffReport {
    pub fn summary(&self) -> String {
        let fields: Vec<String> = self
            .transitions
            .iter()
            .map(|(f, t)| format!("{f} {}", t.iter().map(|t| t.rows).sum::<u64>()))
            .collect();
        if self.changed_rows == 0 {
            format!("no change in {} rows", self.rows)
        } else {
            format!(
                "{} of {} rows change ({})",
                self.changed_rows,
                self.rows,
                fields.join(", ")
            )
        }
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (field, transitions) in &self.transitions {
            let _ = writeln!(out, "{field}:");
            for t in transitions {
                let _ = writeln!(
                    out,
                    "  {} → {}: {} rows",
                    value(&t.before),
                    value(&t.after),
                    t.rows
                );
            }
        }
        if !self.changed.is_empty() {
            let _ = writeln!(out, "\nchanged rows (first {}):", self.changed.len());
        }
        for row in &self.changed {
            let keys: Vec<String> = row
                .keys
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let _ = writeln!(out, "  {} {}", row.at, keys.join(" "));
            for c in &row.changes {
                let _ = writeln!(
                    out,
                    "    {}: {} → {}  [{} → {}]",
                    c.field,
                    value(&c.before),
                    value(&c.after),
                    c.rule_before.as_deref().unwrap_or("no rule"),
                    c.rule_after.as_deref().unwrap_or("no rule")
                );
            }
        }
        if self.rows_bad > 0 {
            let _ = writeln!(out, "\n{} bad rows skipped (see stderr)", self.rows_bad);
        }
        let _ = writeln!(out, "\n{}", self.summary());
        out
    }

    pub fn to_markdown(&self) -> String {
        let mut out = format!("# Rule change\n\n{}\n", self.summary());
        for (field, transitions) in &self.transitions {
            let _ = writeln!(
                out,
                "\n## `{field}`\n\n| before | after | rows |\n|---|---|---:|"
            );
            for t in transitions {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} |",
                    md_escape(&value(&t.before)),
                    md_escape(&value(&t.after)),
                    t.rows
                );
            }
        }
        out
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}
