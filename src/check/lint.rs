//! Warnings about a program that compiles: rules that can never fire, tests that exercise
//! nothing.

use std::collections::HashSet;

use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::program::{per_input, Cond, Field, InputId, LeafTest, Program};

pub fn lint(program: &Program, diagnostics: &mut Diagnostics) {
    for field in &program.fields {
        lint_shadowed(field, diagnostics);
    }
    lint_tests(program, diagnostics);
}

/// What an earlier, simple rule already catches on one input: any value equal to one of
/// `exact`, containing one of `substrings` or `words`, starting with one of `prefixes` or
/// ending with one of `suffixes`.
#[derive(Default)]
struct Caught {
    exact: HashSet<String>,
    words: HashSet<String>,
    substrings: Vec<String>,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
}

/// One way a simple condition can be true.
enum Trigger {
    Exact(String),
    Word(String),
    Substring(String),
    Prefix(String),
    Suffix(String),
}

impl Caught {
    fn catches(&self, trigger: &Trigger) -> bool {
        let by_substring = |text: &str| self.substrings.iter().any(|s| text.contains(s.as_str()));
        match trigger {
            Trigger::Exact(value) => {
                self.exact.contains(value)
                    || self.words.contains(value)
                    || by_substring(value)
                    || self.prefixes.iter().any(|p| value.starts_with(p.as_str()))
                    || self.suffixes.iter().any(|s| value.ends_with(s.as_str()))
            }
            Trigger::Word(word) => self.words.contains(word) || by_substring(word),
            Trigger::Substring(text) => by_substring(text),
            Trigger::Prefix(prefix) => {
                by_substring(prefix) || self.prefixes.iter().any(|p| prefix.starts_with(p.as_str()))
            }
            Trigger::Suffix(suffix) => {
                by_substring(suffix) || self.suffixes.iter().any(|s| suffix.ends_with(s.as_str()))
            }
        }
    }

    fn add(&mut self, trigger: Trigger) {
        match trigger {
            Trigger::Exact(v) => {
                self.exact.insert(v);
            }
            Trigger::Word(w) => {
                self.words.insert(w);
            }
            Trigger::Substring(s) => self.substrings.push(s),
            Trigger::Prefix(p) => self.prefixes.push(p),
            Trigger::Suffix(s) => self.suffixes.push(s),
        }
    }
}

/// The triggers of a condition that is a literal test (or an `or` of them) on one input.
fn triggers(field: &Field, cond: &Cond) -> Option<(InputId, Vec<Trigger>)> {
    match cond {
        Cond::Leaf(leaf) => {
            let list = match &leaf.test {
                LeafTest::Words(terms) => {
                    let index = field
                        .word_indexes
                        .iter()
                        .find(|(i, _)| *i == leaf.input)
                        .map(|(_, x)| x)?;
                    terms
                        .iter()
                        .map(|t| Trigger::Word(index.term(*t).to_string()))
                        .collect()
                }
                LeafTest::OneOf(values) => values.iter().cloned().map(Trigger::Exact).collect(),
                LeafTest::Contains(values) => {
                    values.iter().cloned().map(Trigger::Substring).collect()
                }
                LeafTest::StartsWith(values) => {
                    values.iter().cloned().map(Trigger::Prefix).collect()
                }
                LeafTest::EndsWith(values) => values.iter().cloned().map(Trigger::Suffix).collect(),
                _ => return None,
            };
            Some((leaf.input, list))
        }
        Cond::Or(parts) => {
            let mut input = None;
            let mut all = Vec::new();
            for part in parts {
                let (part_input, list) = triggers(field, part)?;
                if input.is_some_and(|i| i != part_input) {
                    return None;
                }
                input = Some(part_input);
                all.extend(list);
            }
            Some((input?, all))
        }
        _ => None,
    }
}

fn lint_shadowed(field: &Field, diagnostics: &mut Diagnostics) {
    let mut caught: Vec<(InputId, Caught)> = Vec::new();
    for rule in &field.rules {
        let Some((input, list)) = triggers(field, &rule.condition) else {
            continue;
        };
        let so_far = per_input(&mut caught, input, Caught::default);
        if !list.is_empty() && list.iter().all(|t| so_far.catches(t)) {
            diagnostics.push(
                Diagnostic::warning(
                    Code::ShadowedRule,
                    rule.span,
                    format!("rule `{}` can never fire: earlier rules of `{}` match everything it matches", rule.id, field.name),
                )
                .with_help("move it before the rule that catches its values, or remove it"),
            );
        }
        for trigger in list {
            so_far.add(trigger);
        }
    }
}

fn lint_tests(program: &Program, diagnostics: &mut Diagnostics) {
    for test in program.tests.iter().filter(|t| t.own) {
        let read = |key: &str| program.paths.iter().any(|p| p.flat_key() == key);
        let reads_something = test.given.iter().any(|(path, _)| read(path.flat_key()));
        let expects_nothing = test.expect.is_empty() && test.row.is_none();
        if expects_nothing || !reads_something {
            let why = if expects_nothing {
                "it expects nothing".to_string()
            } else {
                let names: Vec<&str> = test.given.iter().map(|(p, _)| p.text()).collect();
                format!(
                    "no input reads {}",
                    if names.is_empty() {
                        "anything it sets".into()
                    } else {
                        format!("`{}`", names.join("`, `"))
                    }
                )
            };
            diagnostics.push(Diagnostic::warning(
                Code::IdleTest,
                test.span,
                format!("test exercises no rule: {why}"),
            ));
        }
    }
}
