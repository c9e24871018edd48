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
                    if expect.len() < test.expect.len() {
                        continue; // its expectations were reported as errors
                    }
                    tests.push(RuleTest {
                        name: test.name.value.clone(),
                        span: test.name.span,
                        given,
                        expect,
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
                            own,
                        });
                    }
                }
                _ => {}
            }
        }
        tests
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
