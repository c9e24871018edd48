//! The coverage report of a dry run.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;

use super::{md_escape, show, Counter, MAX_DISTINCT, MAX_DISTINCT_RAW};
use crate::eval::profile::FieldOutcome;
use crate::eval::Tally;
use crate::input::BadRow;
use crate::Program;

/// Counts of one field, accumulated per worker and merged.
#[derive(Debug, Clone, Default)]
pub struct FieldStats {
    pub values: Counter,
    pub unset: u64,
    /// Per input (by name, in the order first met): the raw values of rows that fell to the
    /// final `else` or left the field unset.
    pub unmapped: Vec<(Arc<str>, Counter)>,
    pub rules: Counter,
    pub missing_required: u64,
}

/// Unmapped values per input in the order the rules declare the inputs: workers meet them in
/// whatever order their rows bring them, and a report must not depend on `--jobs`.
fn by_declaration<'c>(
    program: &Program,
    unmapped: &'c [(Arc<str>, Counter)],
) -> impl Iterator<Item = &'c (Arc<str>, Counter)> {
    let place = |name: &str| program.inputs.iter().position(|i| &*i.name == name);
    let mut sorted: Vec<_> = unmapped.iter().collect();
    sorted.sort_by_key(|(name, _)| place(name));
    sorted.into_iter()
}

/// The counter of `input`'s unmapped raw values, added on first use.
fn unmapped_of<'c>(
    unmapped: &'c mut Vec<(Arc<str>, Counter)>,
    input: &Arc<str>,
) -> &'c mut Counter {
    let at = match unmapped.iter().position(|(name, _)| name == input) {
        Some(at) => at,
        None => {
            unmapped.push((input.clone(), Counter::default()));
            unmapped.len() - 1
        }
    };
    &mut unmapped[at].1
}

/// What a dry run has seen so far: one per worker, merged at the end.
///
/// A bulk evaluator counts into it as a [`Tally`]: each distinct outcome arrives with its
/// number of rows, in the order rows first brought it, so the bounded counters keep the same
/// values as counting row by row would.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    pub rows: u64,
    pub complete: u64,
    pub errors: u64,
    pub fields: Vec<FieldStats>,
    /// The person each manager reference names, where the run has an organisation graph.
    pub org: Option<super::OrgSeen>,
}

impl Coverage {
    pub fn new(program: &Program) -> Self {
        let fields = program.field_names().count();
        Self {
            fields: vec![FieldStats::default(); fields],
            ..Self::default()
        }
    }

    pub fn merge(&mut self, other: Coverage) {
        self.rows += other.rows;
        self.complete += other.complete;
        self.errors += other.errors;
        match (&mut self.org, other.org) {
            (Some(mine), Some(theirs)) => mine.merge(theirs),
            (mine @ None, Some(theirs)) => *mine = Some(theirs),
            _ => {}
        }
        for (mine, theirs) in self.fields.iter_mut().zip(other.fields) {
            mine.values.merge(theirs.values, MAX_DISTINCT);
            mine.unset += theirs.unset;
            for (input, counter) in theirs.unmapped {
                unmapped_of(&mut mine.unmapped, &input).merge(counter, MAX_DISTINCT_RAW);
            }
            mine.rules.merge(theirs.rules, usize::MAX);
            mine.missing_required += theirs.missing_required;
        }
    }

    /// The report people read.
    pub fn report(
        &self,
        program: &Program,
        bad: &[BadRow],
        bad_total: u64,
        top: usize,
        seconds: f64,
        bytes: Option<u64>,
    ) -> CoverageReport {
        let rules = program.rules();
        let fields = program
            .field_names()
            .zip(&self.fields)
            .map(|(name, stats)| {
                let mut values = spellings(stats.values.top(usize::MAX));
                if stats.values.other > 0 {
                    values.push(ValueCount::single(
                        "(other values)".into(),
                        stats.values.other,
                    ));
                }
                let fired = rules
                    .iter()
                    .filter(|(field, _, _)| *field == name)
                    .map(|(_, id, at)| RuleCount {
                        rule: id.to_string(),
                        at: at.to_string(),
                        fired: stats.rules.get(id),
                    })
                    .collect::<Vec<_>>();
                let else_fired = stats.rules.get("else");
                FieldReport {
                    field: name.to_string(),
                    values,
                    unset: stats.unset,
                    missing_required: stats.missing_required,
                    unmapped: by_declaration(program, &stats.unmapped)
                        .map(|(input, counter)| {
                            let mut values = spellings(counter.top(usize::MAX));
                            values.truncate(top);
                            UnmappedValues {
                                input: input.to_string(),
                                distinct: counter.distinct() as u64,
                                values,
                            }
                        })
                        .collect(),
                    never_fired: fired
                        .iter()
                        .filter(|r| r.fired == 0)
                        .map(|r| format!("{} ({})", r.rule, r.at))
                        .collect(),
                    rules: fired,
                    else_fired,
                }
            })
            .collect();
        CoverageReport {
            rules_version: program.version().to_string(),
            rows_in: self.rows + bad_total,
            rows_out: self.rows,
            rows_complete: self.complete,
            rows_missing_required: self.rows - self.complete - self.errors,
            rows_error: self.errors,
            rows_bad: bad_total,
            bad_rows: bad.to_vec(),
            unread_columns: Vec::new(),
            organisation: None,
            fields,
            seconds,
            rows_per_second: if seconds > 0.0 {
                (self.rows + bad_total) as f64 / seconds
            } else {
                0.0
            },
            megabytes_per_second: bytes
                .filter(|_| seconds > 0.0)
                .map(|b| b as f64 / 1e6 / seconds),
        }
    }
}

impl Tally for Coverage {
    const COUNTS: bool = true;

    fn outcome(&mut self, field: usize, outcome: &FieldOutcome, rows: u64) {
        let Some(stats) = self.fields.get_mut(field) else {
            return;
        };
        match &outcome.value {
            Some(value) => stats.values.add(value, rows, MAX_DISTINCT),
            None => {
                stats.unset += rows;
                if outcome.required {
                    stats.missing_required += rows;
                }
            }
        }
        if let Some(rule) = &outcome.rule {
            stats.rules.add(&rule.id, rows, usize::MAX);
        }
    }

    /// Full counters keep what they keep whatever comes next; rule counts are not bounded.
    fn settled(&self, field: usize, outcome: &FieldOutcome) -> bool {
        self.fields
            .get(field)
            .is_some_and(|stats| outcome.value.is_none() || stats.values.distinct() >= MAX_DISTINCT)
    }

    fn unmapped(&mut self, field: usize, input: &Arc<str>, raw: &str) {
        if let Some(stats) = self.fields.get_mut(field) {
            unmapped_of(&mut stats.unmapped, input).add_str(raw, 1, MAX_DISTINCT_RAW);
        }
    }

    fn row(&mut self, missing_required: bool, error: bool) {
        self.rows += 1;
        match RowStatus::of(missing_required, error) {
            RowStatus::Complete => self.complete += 1,
            RowStatus::Error => self.errors += 1,
            RowStatus::Missing => {}
        }
    }
}

/// The status column of a dry run's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowStatus {
    Complete,
    Missing,
    Error,
}

impl RowStatus {
    pub fn of(missing_required: bool, error: bool) -> Self {
        if error {
            Self::Error
        } else if missing_required {
            Self::Missing
        } else {
            Self::Complete
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleCount {
    pub rule: String,
    pub at: String,
    pub fired: u64,
}

/// A value and the rows that had it; values that differ only in case and spacing are one
/// entry, shown as its most frequent spelling, with the others and their rows.
#[derive(Debug, Clone, Serialize)]
pub struct ValueCount {
    pub value: String,
    /// Rows of every spelling.
    pub rows: u64,
    /// The other spellings and their rows (`san  francisco` beside `San Francisco`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<(String, u64)>,
}

impl ValueCount {
    fn single(value: String, rows: u64) -> Self {
        Self {
            value,
            rows,
            variants: Vec::new(),
        }
    }
}

/// Counted values (most frequent first) grouped by their spelling once case and runs of
/// whitespace are set aside, most rows first.
fn spellings(counted: Vec<(String, u64)>) -> Vec<ValueCount> {
    let mut groups: Vec<ValueCount> = Vec::new();
    let mut by_key: HashMap<String, usize, foldhash::fast::RandomState> = HashMap::default();
    for (value, rows) in counted {
        let key = spelling_key(&value);
        match by_key.get(key.as_ref()) {
            Some(&at) => {
                groups[at].rows += rows;
                groups[at].variants.push((value, rows));
            }
            None => {
                by_key.insert(key.into_owned(), groups.len());
                groups.push(ValueCount::single(value, rows));
            }
        }
    }
    // Stable: equal totals keep the order of their most frequent spellings.
    groups.sort_by_key(|group| std::cmp::Reverse(group.rows));
    groups
}

/// A value with case and runs of whitespace set aside; most values are that already.
fn spelling_key(value: &str) -> Cow<'_, str> {
    let plain = !value.starts_with(' ')
        && !value.ends_with(' ')
        && !value.contains("  ")
        && !value
            .chars()
            .any(|c| c.is_uppercase() || (c.is_whitespace() && c != ' '));
    if plain {
        return Cow::Borrowed(value);
    }
    Cow::Owned(
        value
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase(),
    )
}

/// One input's raw values that fell through: how many distinct, and the most frequent.
#[derive(Debug, Clone, Serialize)]
pub struct UnmappedValues {
    pub input: String,
    pub distinct: u64,
    pub values: Vec<ValueCount>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FieldReport {
    pub field: String,
    /// Canonical values and how many rows got each, most frequent first.
    pub values: Vec<ValueCount>,
    pub unset: u64,
    pub missing_required: u64,
    /// Per input the rules read: raw values of the rows that fell to the final `else` or
    /// left the field unset, most frequent first.
    pub unmapped: Vec<UnmappedValues>,
    pub rules: Vec<RuleCount>,
    pub else_fired: u64,
    pub never_fired: Vec<String>,
}

/// The coverage report of a dry run.
#[derive(Debug, Clone, Serialize)]
pub struct CoverageReport {
    pub rules_version: String,
    pub rows_in: u64,
    pub rows_out: u64,
    pub rows_complete: u64,
    pub rows_missing_required: u64,
    pub rows_error: u64,
    pub rows_bad: u64,
    /// The first bad rows (all are counted in `rows_bad`).
    pub bad_rows: Vec<BadRow>,
    pub fields: Vec<FieldReport>,
    /// Per CSV input: the header's columns that no input of the rules reads.
    pub unread_columns: Vec<(String, Vec<String>)>,
    /// Who reports to whom, where the rules declare `reports_to`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organisation: Option<super::OrgReport>,
    pub seconds: f64,
    pub rows_per_second: f64,
    pub megabytes_per_second: Option<f64>,
}

/// ` (12 so; also "san francisco" 3, "SAN FRANCISCO" 1)` for a value of other spellings.
fn variants_text(value: &ValueCount) -> String {
    if value.variants.is_empty() {
        return String::new();
    }
    let others: u64 = value.variants.iter().map(|(_, rows)| rows).sum();
    let listed: Vec<String> = value
        .variants
        .iter()
        .map(|(spelling, rows)| format!("{} {rows}", show(spelling)))
        .collect();
    format!(" ({} so; also {})", value.rows - others, listed.join(", "))
}

fn pct(n: u64, of: u64) -> String {
    if of == 0 {
        return "0.0%".into();
    }
    format!("{:.1}%", n as f64 * 100.0 / of as f64)
}

impl CoverageReport {
    pub fn summary(&self) -> String {
        format!(
            "{} rows in: {} out ({} complete, {} missing a required field, {} errors), {} bad rows skipped; {:.2} s, {:.0} rows/s{}",
            self.rows_in,
            self.rows_out,
            self.rows_complete,
            self.rows_missing_required,
            self.rows_error,
            self.rows_bad,
            self.seconds,
            self.rows_per_second,
            self.megabytes_per_second.map(|m| format!(", {m:.1} MB/s")).unwrap_or_default()
        )
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "coverage of {} rows (rules version {})",
            self.rows_out, self.rules_version
        );
        let _ = writeln!(
            out,
            "Every count is of rows; every percentage is a share of the {} rows mapped. Values that differ only in case or spacing are counted together.",
            self.rows_out
        );
        for field in &self.fields {
            let _ = writeln!(
                out,
                "\n{}: {} set, {} unset ({} of rows unset)",
                field.field,
                self.rows_out - field.unset,
                field.unset,
                pct(field.unset, self.rows_out)
            );
            if field.missing_required > 0 {
                let _ = writeln!(
                    out,
                    "  required, missing in {} rows",
                    field.missing_required
                );
            }
            let shown = field.values.len().min(20);
            for value in &field.values[..shown] {
                let _ = writeln!(
                    out,
                    "  {:>8}  {:>6}  {}{}",
                    value.rows,
                    pct(value.rows, self.rows_out),
                    value.value,
                    variants_text(value)
                );
            }
            if field.values.len() > shown {
                let _ = writeln!(out, "  … {} more values", field.values.len() - shown);
            }
            let _ = writeln!(out, "  rules fired:");
            for rule in &field.rules {
                let _ = writeln!(out, "  {:>8}  {} ({})", rule.fired, rule.rule, rule.at);
            }
            if !field.never_fired.is_empty() {
                let _ = writeln!(out, "  never fired: {}", field.never_fired.join(", "));
            }
            for unmapped in &field.unmapped {
                let _ = writeln!(
                    out,
                    "  unmapped raw values of input `{}` (rows that fell to else or stayed unset; {} distinct):",
                    unmapped.input, unmapped.distinct
                );
                for raw in &unmapped.values {
                    let _ = writeln!(
                        out,
                        "  {:>8}  {}{}",
                        raw.rows,
                        show(&raw.value),
                        variants_text(raw)
                    );
                }
            }
        }
        for (input, columns) in &self.unread_columns {
            if !columns.is_empty() {
                let _ = writeln!(
                    out,
                    "\ncolumns of {input} that no input reads ({}): {}",
                    columns.len(),
                    columns.join(", ")
                );
            }
        }
        if let Some(org) = &self.organisation {
            out.push_str(&org.to_text());
        }
        if self.rows_bad > 0 {
            let _ = writeln!(out, "\nbad rows ({}):", self.rows_bad);
            for bad in &self.bad_rows {
                let _ = writeln!(out, "  {bad}");
            }
            if self.rows_bad > self.bad_rows.len() as u64 {
                let _ = writeln!(
                    out,
                    "  … {} more",
                    self.rows_bad - self.bad_rows.len() as u64
                );
            }
        }
        let _ = writeln!(out, "\n{}", self.summary());
        out
    }

    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Dry-run coverage\n\n{}\n", self.summary());
        let _ = writeln!(
            out,
            "Every count is of rows; every share is of the {} rows mapped. Values that differ only in case or spacing are counted together.\n",
            self.rows_out
        );
        for field in &self.fields {
            let _ = writeln!(
                out,
                "## `{}`\n\n{} rows unset ({} of rows); {} missing where required.\n",
                field.field,
                field.unset,
                pct(field.unset, self.rows_out),
                field.missing_required
            );
            let _ = writeln!(out, "| value | rows | share of rows |\n|---|---:|---:|");
            for value in field.values.iter().take(50) {
                let _ = writeln!(
                    out,
                    "| {}{} | {} | {} |",
                    md_escape(&value.value),
                    md_escape(&variants_text(value)),
                    value.rows,
                    pct(value.rows, self.rows_out)
                );
            }
            let _ = writeln!(out, "\n| rule | at | fired |\n|---|---|---:|");
            for rule in &field.rules {
                let _ = writeln!(out, "| `{}` | {} | {} |", rule.rule, rule.at, rule.fired);
            }
            for unmapped in &field.unmapped {
                let _ = writeln!(
                    out,
                    "\nUnmapped raw values of input `{}` ({} distinct):\n\n| raw | rows |\n|---|---:|",
                    unmapped.input, unmapped.distinct
                );
                for raw in &unmapped.values {
                    let _ = writeln!(
                        out,
                        "| {}{} | {} |",
                        md_escape(&show(&raw.value)),
                        md_escape(&variants_text(raw)),
                        raw.rows
                    );
                }
            }
            out.push('\n');
        }
        for (input, columns) in &self.unread_columns {
            if !columns.is_empty() {
                let listed: Vec<String> = columns.iter().map(|c| md_escape(c)).collect();
                let _ = writeln!(
                    out,
                    "## Columns of {} that no input reads ({})\n\n{}\n",
                    md_escape(input),
                    columns.len(),
                    listed.join(", ")
                );
            }
        }
        if let Some(org) = &self.organisation {
            out.push_str(&org.to_markdown());
        }
        if !self.bad_rows.is_empty() {
            let _ = writeln!(out, "## Bad rows ({})\n", self.rows_bad);
            for bad in &self.bad_rows {
                let _ = writeln!(out, "- {}", md_escape(&bad.to_string()));
            }
        }
        out
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::Coverage;
    use crate::eval::{Tally, GENERATION};
    use crate::{Evaluator, FlatRecord, Program};

    const RULES: &str = r#"
field level: enum(Manager, Other)
field title: text
input base = title | lower
input words = @base | words
map level {
  rule m: words has "manager" -> Manager
  else -> Other
}
map title {
  rule t: base is present -> base
  else -> unset
}
"#;

    /// The dry run's coverage counted in the caches, where full counters let kept slots go
    /// on counting across turnovers, equals counting row by row: the same values make the
    /// capped lists (over 1,000 distinct titles) and every total agrees.
    #[test]
    fn coverage_counted_in_the_caches_equals_coverage_counted_row_by_row() {
        let program = Program::from_source("cache.rules", RULES).unwrap();
        let mut counting = Evaluator::counting(&program, Coverage::new(&program));
        let mut by_row = Coverage::new(&program);
        // "Manager 0" comes first and stays cached throughout; unique titles fill the
        // bounded counters in between. Handed over late, it would miss the capped list.
        // Three turnovers: the second drops the first generation's unique titles.
        for n in 0..(GENERATION * 7) {
            let title = match n % 2 {
                0 => "Manager 0".to_string(),
                _ => format!("Person {n}"),
            };
            let record = FlatRecord::from_pairs([("title", title.as_str())]);
            counting.apply_row(&record);
            let profile = program.apply(&record);
            for (field, outcome) in profile.fields().iter().enumerate() {
                by_row.outcome(field, outcome, 1);
                if outcome.fell_through() {
                    let mut run = crate::eval::Run::new(&program, &record);
                    run.raw_values(&program.fields[field], |input, raw| {
                        by_row.unmapped(field, input, raw)
                    });
                }
            }
            by_row.row(!profile.is_complete(), false);
        }
        assert!(counting.has_turned_over(1), "title turned over");
        let counted = counting.into_tally();
        let report = |c: &Coverage| c.report(&program, &[], 0, 50, 0.0, None).to_json();
        assert_eq!(report(&counted), report(&by_row));
    }
}
