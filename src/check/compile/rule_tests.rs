//! The `test` and `examples` blocks of a rule file, checked and kept in the program.

use super::Compiler;
use crate::diag::{did_you_mean, Code, Span};
use crate::program::*;
use crate::syntax::ast;
use crate::value::AttrPath;

impl Compiler<'_> {
    pub(super) fn compile_tests(&mut self, fields: &[Field]) -> Vec<RuleTest> {
        let mut tests = Vec::new();
        for (item, own) in std::mem::take(&mut self.tests) {
            match item {
                ast::Item::Test(test) => {
                    let given = test
                        .given
                        .iter()
                        .filter_map(|(g, value)| Some((self.given_path(g)?, value.value.clone())))
                        .collect();
                    let expect: Vec<_> = test
                        .expect
                        .iter()
                        .filter_map(|(field, expected)| self.expectation(fields, field, expected))
                        .collect();
                    let row = self.row_expectation(fields, &test.rows);
                    if expect.len() < test.expect.len() || row.is_err() {
                        continue; // its expectations were reported as errors
                    }
                    tests.push(RuleTest {
                        name: test.name.value.clone(),
                        span: test.name.span,
                        given,
                        expect,
                        row: row.ok().flatten(),
                        own,
                    });
                }
                ast::Item::Examples(examples) => {
                    let Some(path) = self.given_path(&examples.given) else {
                        continue;
                    };
                    for (raw, expected) in &examples.rows {
                        let Some(expect) = self.expectation(fields, &examples.field, expected)
                        else {
                            continue;
                        };
                        tests.push(RuleTest {
                            name: format!("{} given {:?}", examples.field.name, raw.value),
                            span: raw.span,
                            given: vec![(path.clone(), raw.value.clone())],
                            expect: vec![(expect.0, expect.1, raw.span)],
                            row: None,
                            own,
                        });
                    }
                }
                _ => {}
            }
        }
        tests
    }

    /// A test's one expectation of the row, checked: each field named as missing must be a
    /// required field (another could never make a row incomplete). `Err` once reported.
    fn row_expectation(
        &mut self,
        fields: &[Field],
        rows: &[(ast::ExpectedRow, Span)],
    ) -> Result<Option<(RowExpectation, Span)>, ()> {
        let Some(((first, span), more)) = rows.split_first() else {
            return Ok(None);
        };
        let mut ok = true;
        for (_, again) in more {
            self.error(
                Code::BadTest,
                *again,
                "a test expects one row status (`expect complete` or `expect missing …`)",
            );
            ok = false;
        }
        let expectation = match first {
            ast::ExpectedRow::Complete => RowExpectation::Complete,
            ast::ExpectedRow::Missing(names) => {
                for name in names {
                    match fields.iter().find(|f| *f.name == name.name) {
                        Some(field) if field.required => {}
                        Some(field) => {
                            self.error_help(
                                Code::BadTest,
                                name.span,
                                format!("`{}` is not required, so it never makes a row incomplete", field.name),
                                Some(format!("expect `{} = unset` instead, or make it required with `require {}`", field.name, field.name)),
                            );
                            ok = false;
                        }
                        None => {
                            let help = did_you_mean(&name.name, fields.iter().map(|f| &*f.name));
                            self.error_help(
                                Code::BadTest,
                                name.span,
                                format!("no field `{}`", name.name),
                                help,
                            );
                            ok = false;
                        }
                    }
                }
                // Declaration order, as the run reports them.
                RowExpectation::Missing(
                    fields
                        .iter()
                        .filter(|f| names.iter().any(|n| n.name == *f.name))
                        .map(|f| f.name.to_string())
                        .collect(),
                )
            }
        };
        if ok {
            Ok(Some((expectation, *span)))
        } else {
            Err(())
        }
    }

    pub(super) fn given_path(&mut self, given: &ast::Given) -> Option<AttrPath> {
        match &given.source {
            ast::SourceExpr::Column(column) => Some(AttrPath::column(&column.value)),
            ast::SourceExpr::Path(path) => self.resolve_path(path),
            ast::SourceExpr::Input(input) => {
                self.error(
                    Code::BadTest,
                    input.span,
                    "a test sets record attributes, not inputs",
                );
                None
            }
            // The grammar gives a test only attribute names; a join is never one.
            ast::SourceExpr::Join { separator, .. } => {
                self.error(
                    Code::BadTest,
                    separator.span,
                    "a test sets record attributes, not joins",
                );
                None
            }
        }
    }

    pub(super) fn expectation(
        &mut self,
        fields: &[Field],
        field: &ast::Ident,
        expected: &ast::Expected,
    ) -> Option<(String, Option<String>, Span)> {
        let Some(target) = fields.iter().find(|f| *f.name == field.name) else {
            let help = did_you_mean(&field.name, fields.iter().map(|f| &*f.name));
            self.error_help(
                Code::BadTest,
                field.span,
                format!("no field `{}`", field.name),
                help,
            );
            return None;
        };
        match expected {
            ast::Expected::Unset(span) => Some((field.name.clone(), None, *span)),
            ast::Expected::Value(value) => {
                let allowed = match &target.kind {
                    FieldKind::Enum(values) => values.iter().any(|v| **v == value.value),
                    FieldKind::Flag => value.value == "yes" || value.value == "no",
                    FieldKind::Email | FieldKind::Text => true,
                };
                if !allowed {
                    let candidates: Vec<String> = match &target.kind {
                        FieldKind::Enum(values) => values.iter().map(|v| v.to_string()).collect(),
                        _ => vec!["yes".into(), "no".into()],
                    };
                    let help = did_you_mean(&value.value, candidates.iter().map(String::as_str));
                    self.error_help(
                        Code::BadTest,
                        value.span,
                        format!(
                            "`{}` can never be a value of `{}` ({})",
                            value.value,
                            target.name,
                            target.kind.describe()
                        ),
                        help,
                    );
                    return None;
                }
                Some((field.name.clone(), Some(value.value.clone()), value.span))
            }
        }
    }
}
