//! Running the tests written inside rule files.

use crate::program::{RowExpectation, RuleTest};
use crate::value::FlatRecord;
use crate::Program;
use chrono::NaiveDate;

/// One expectation of a test that did not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestFailure {
    pub field: String,
    pub expected: Option<String>,
    pub actual: Option<String>,
    /// The rule that decided (`rule ID at file:line`), or why the field is unset.
    pub decided_by: Option<String>,
}

impl Program {
    /// Runs one test of the program; returns its failures (empty when it passed). Date tests
    /// compare with the local date.
    pub fn run_test(&self, test: &RuleTest) -> Vec<TestFailure> {
        self.run_test_as_of(test, None)
    }

    /// [`Program::run_test`] as on `today`, when given.
    pub fn run_test_as_of(&self, test: &RuleTest, today: Option<NaiveDate>) -> Vec<TestFailure> {
        let mut record = FlatRecord::new();
        for (path, value) in &test.given {
            record.set(path.flat_key(), value.clone());
        }
        let profile = super::apply(self, &record, today);
        let mut failures: Vec<TestFailure> = test
            .expect
            .iter()
            .filter_map(|(field, expected, _)| {
                let outcome = profile.field(field)?;
                let actual = outcome.value.as_deref().map(str::to_string);
                (actual != *expected).then(|| TestFailure {
                    field: field.clone(),
                    expected: expected.clone(),
                    actual,
                    decided_by: outcome
                        .rule
                        .as_ref()
                        .map(|r| format!("rule {} at {}", r.id, r.at))
                        .or_else(|| outcome.note.as_ref().map(|n| n.describe())),
                })
            })
            .collect();
        if let Some((expected, _)) = &test.row {
            let missing: Vec<String> = profile
                .missing_required()
                .into_iter()
                .map(str::to_string)
                .collect();
            let actual = match missing.is_empty() {
                true => RowExpectation::Complete,
                false => RowExpectation::Missing(missing),
            };
            if actual != *expected {
                failures.push(TestFailure {
                    field: "row".into(),
                    expected: Some(expected.describe()),
                    actual: Some(actual.describe()),
                    decided_by: None,
                });
            }
        }
        failures
    }
}
