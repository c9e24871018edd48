//! The organisation graph: `reports_to` links resolved to inputs, and `reports` tests checked
//! against them.

use super::Compiler;
use crate::diag::{Code, Span};
use crate::program::{Cond, Field, ReportsTest, ReportsTo};
use crate::value::CompareOp;

/// The field whose value says who is deactivated: a deactivated report does not count, so
/// this field cannot itself depend on the count.
const STATUS_FIELD: &str = "status";

impl Compiler<'_> {
    /// `reports OP N`: N counts people, so it is a whole number ≥ 0.
    pub(super) fn compile_reports(&mut self, op: CompareOp, value: f64, span: Span) -> Cond {
        if value < 0.0 || value.fract() != 0.0 {
            self.error_help(
                Code::BadReports,
                span,
                format!("`reports` counts people, so it is compared with a whole number ≥ 0, not {value}"),
                Some("write e.g. `reports >= 1`".into()),
            );
        }
        self.reports_uses.push(span);
        Cond::Reports(ReportsTest {
            op,
            value,
            text: self.text_of(span),
        })
    }

    /// `status` decides who counts as a report, so it may not read `reports` (the uses since
    /// `from` are `field`'s).
    pub(super) fn check_reports_in(&mut self, field: &Field, from: usize) {
        if &*field.name != STATUS_FIELD {
            return;
        }
        let uses: Vec<Span> = self.reports_uses.get(from..).unwrap_or_default().to_vec();
        for span in uses {
            self.error_help(
                Code::BadReports,
                span,
                "`status` cannot test `reports`: a deactivated person does not count as a report, so the count depends on `status`",
                Some("decide `status` from the record's own attributes".into()),
            );
        }
    }

    /// The `reports_to` links, their inputs resolved (with "did you mean" for a typo), and an
    /// error at each `reports` test when no link exists.
    pub(super) fn compile_reports_to(&mut self) -> Vec<ReportsTo> {
        let declared = std::mem::take(&mut self.reports_to);
        if declared.is_empty() {
            let uses = self.reports_uses.clone();
            for span in uses {
                self.error_help(
                    Code::NoReportsTo,
                    span,
                    "`reports` counts the people who name this person as their manager, but no `reports_to` says how a record names its manager",
                    Some("declare the link, e.g. `reports_to mgr_email -> email` (a record's `mgr_email` names the person whose `email` it is)".into()),
                );
            }
        }
        let mut links = Vec::new();
        for (manager, people, span) in declared {
            let manager_id = self.input_for(&manager, &mut Vec::new());
            let mut people_ids = Vec::new();
            for person in &people {
                if person.name == manager.name {
                    self.error_help(
                        Code::BadReports,
                        person.span,
                        format!("`reports_to {0} -> {0}` matches every record with itself", manager.name),
                        Some("on the right, name the input that holds the person's own key (their email or id)".into()),
                    );
                    continue;
                }
                if let Some(id) = self.input_for(person, &mut Vec::new()) {
                    people_ids.push(id);
                }
            }
            if let Some(manager) = manager_id {
                if !people_ids.is_empty() {
                    links.push(ReportsTo {
                        manager,
                        people: people_ids,
                    });
                }
            }
            let _ = span;
        }
        links
    }
}
