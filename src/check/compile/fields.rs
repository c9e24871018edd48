//! Fields and their rules: conditions, outputs typed against the field, and the matchers a
//! field's rules share (word indexes, regex sets, the prefilter).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use regex::Regex;

use super::{Compiler, Terms, REGEX_SIZE_LIMIT};
use crate::diag::{did_you_mean, Code, Diagnostic, Span};
use crate::program::per_input;
use crate::program::regex_set::{GatedRegex, GatedSet};
use crate::program::steps::{parse_date, Step, ISO_DATE};
use crate::program::words::WordIndex;
use crate::program::*;
use crate::syntax::ast;

impl Compiler<'_> {
    pub(super) fn compile_fields(&mut self) -> Vec<Field> {
        for mapped in self.map_order.clone() {
            if !self.field_decls.iter().any(|f| f.name.name == mapped.name) {
                let help = did_you_mean(
                    &mapped.name,
                    self.field_decls.iter().map(|f| f.name.name.as_str()),
                );
                self.error_help(
                    Code::UnknownField,
                    mapped.span,
                    format!("`{}` is not a declared field", mapped.name),
                    help,
                );
            }
        }
        let mut decls = self.field_decls.clone();
        for (name, required) in std::mem::take(&mut self.requirements) {
            match decls.iter_mut().find(|f| f.name.name == name.name) {
                Some(decl) => {
                    // Either way the field is no longer merely recommended.
                    decl.required = required;
                    decl.recommended = false;
                }
                None => {
                    let help = did_you_mean(&name.name, decls.iter().map(|f| f.name.name.as_str()));
                    self.error_help(
                        Code::UnknownField,
                        name.span,
                        format!("`{}` is not a declared field", name.name),
                        help,
                    );
                }
            }
        }
        decls.iter().map(|decl| self.compile_field(decl)).collect()
    }

    pub(super) fn compile_field(&mut self, decl: &ast::FieldDecl) -> Field {
        let kind = match &decl.ty {
            ast::FieldType::Enum(values) => {
                let mut seen = HashSet::new();
                for value in values {
                    if !seen.insert(value.value.clone()) {
                        self.error(
                            Code::DuplicateName,
                            value.span,
                            format!("`{}` is listed twice", value.value),
                        );
                    }
                }
                FieldKind::Enum(values.iter().map(|v| Arc::from(v.value.as_str())).collect())
            }
            ast::FieldType::Text => FieldKind::Text,
            ast::FieldType::Flag => FieldKind::Flag,
            ast::FieldType::Email => FieldKind::Email,
        };
        let mut field = Field {
            name: Arc::from(decl.name.name.as_str()),
            kind,
            required: decl.required,
            recommended: decl.recommended,
            rules: Vec::new(),
            word_indexes: Vec::new(),
            regex_sets: Vec::new(),
            reads: Vec::new(),
            raw_inputs: Vec::new(),
            prefilter: None,
            uses_reports: false,
        };
        let Some(list) = self.maps.remove(&decl.name.name) else {
            if decl.required {
                self.diagnostics.push(
                    Diagnostic::warning(
                        Code::RequiredUnmapped,
                        decl.name.span,
                        format!(
                            "required field `{}` has no rules, so every profile misses it",
                            decl.name.name
                        ),
                    )
                    .with_help(format!("add `map {} {{ … }}`", decl.name.name)),
                );
            }
            return field;
        };
        let reports_before = self.reports_uses.len();
        let mut terms: Vec<(InputId, Terms)> = Vec::new();
        let mut ids: HashMap<String, Span> = HashMap::new();
        let mut after_else = false;
        for rule in &list.rules {
            if let Some(first) = ids.get(&rule.id.name).copied() {
                // Report it in the later file (the one that added the second rule).
                let rank = |span: Span| {
                    let file = self.file_rank.get(span.file.0).copied().unwrap_or(0);
                    (file, span.start)
                };
                let (here, there) = if rank(first) > rank(rule.id.span) {
                    (first, rule.id.span)
                } else {
                    (rule.id.span, first)
                };
                let at = self.sources.cite(there);
                self.error_help(
                    Code::DuplicateRule,
                    here,
                    format!(
                        "`{}` already has a rule `{}` (at {at})",
                        decl.name.name, rule.id.name
                    ),
                    Some(format!(
                        "give this rule another id, or write `replace {}.{} {{ … }}`",
                        decl.name.name, rule.id.name
                    )),
                );
            }
            ids.insert(rule.id.name.clone(), rule.id.span);
            if after_else {
                self.error_help(
                    Code::Unreachable,
                    rule.span,
                    format!(
                        "rule `{}` comes after the final `else`, so it never runs",
                        rule.id.name
                    ),
                    Some("move the `else` to the end of the list".into()),
                );
            }
            let condition = self.compile_cond(&rule.condition, &mut terms, &mut field.reads);
            if matches!(condition, Cond::Always) {
                after_else = true;
            }
            let output = self.compile_output(&rule.output, &field, &mut field.reads.clone());
            if let Output::Input(input) | Output::Lookup { input, .. } = &output {
                if !field.reads.contains(input) {
                    field.reads.push(*input);
                }
            }
            field.rules.push(CompiledRule {
                id: Arc::from(rule.id.name.as_str()),
                at: Arc::from(self.sources.cite(rule.span).as_str()),
                span: rule.span,
                condition,
                output,
            });
        }
        // Rules whose insertion point is missing: checked, then dropped.
        let orphans: Vec<ast::RuleDef> = self
            .orphans
            .iter()
            .filter(|(f, _)| *f == decl.name.name)
            .flat_map(|(_, r)| r.clone())
            .collect();
        for rule in &orphans {
            let mut scratch_terms = Vec::new();
            let mut scratch_reads = Vec::new();
            self.compile_cond(&rule.condition, &mut scratch_terms, &mut scratch_reads);
            self.compile_output(&rule.output, &field, &mut scratch_reads);
        }
        field.uses_reports = self.reports_uses.len() > reports_before;
        self.check_reports_in(&field, reports_before);
        field.raw_inputs = raw_inputs(&self.inputs, &field.reads);
        index_regexes(&mut field);
        for (input, (words, _)) in terms {
            match WordIndex::new(words) {
                Ok(index) => field.word_indexes.push((input, index)),
                Err(error) => self.error(
                    Code::BadRegex,
                    decl.name.span,
                    format!(
                        "the word lists of `{}` are too large: {error}",
                        decl.name.name
                    ),
                ),
            }
        }
        field.prefilter = crate::program::prefilter::Prefilter::build(&field.rules);
        field
    }

    pub(super) fn compile_cond(
        &mut self,
        cond: &ast::Cond,
        terms: &mut Vec<(InputId, Terms)>,
        reads: &mut Vec<InputId>,
    ) -> Cond {
        match cond {
            ast::Cond::Else(_) => Cond::Always,
            ast::Cond::Or(parts) => Cond::Or(
                parts
                    .iter()
                    .map(|p| self.compile_cond(p, terms, reads))
                    .collect(),
            ),
            ast::Cond::And(parts) => Cond::And(
                parts
                    .iter()
                    .map(|p| self.compile_cond(p, terms, reads))
                    .collect(),
            ),
            ast::Cond::Not(inner, _) => Cond::Not(Box::new(self.compile_cond(inner, terms, reads))),
            ast::Cond::Number {
                subject,
                regex,
                op,
                value,
                span,
            } => {
                let text = self.text_of(*span);
                let (Some(input), Some(compiled)) =
                    (self.input_for(subject, reads), self.compile_regex(regex))
                else {
                    return Cond::Leaf(Leaf {
                        input: InputId(0),
                        test: LeafTest::IsEmpty,
                        text,
                    });
                };
                if compiled.captures_len() < 2 {
                    self.error(
                        Code::BadRegex,
                        regex.span,
                        "`number(…)` reads the first capture group, and this regex has none",
                    );
                }
                Cond::Leaf(Leaf {
                    input,
                    test: LeafTest::Number {
                        regex: GatedRegex::new(compiled),
                        op: *op,
                        value: *value,
                    },
                    text,
                })
            }
            ast::Cond::Test(predicate) => self.compile_predicate(predicate, terms, reads),
            ast::Cond::Reports { op, value, span } => self.compile_reports(*op, *value, *span),
        }
    }

    pub(super) fn compile_predicate(
        &mut self,
        predicate: &ast::Predicate,
        terms: &mut Vec<(InputId, Terms)>,
        reads: &mut Vec<InputId>,
    ) -> Cond {
        let text = self.text_of(predicate.span);
        let Some(input) = self.input_for(&predicate.subject, reads) else {
            return Cond::Leaf(Leaf {
                input: InputId(0),
                test: LeafTest::IsEmpty,
                text,
            });
        };
        let normalize = |this: &Self, words: Vec<ast::Str>| -> Vec<String> {
            words
                .iter()
                .map(|w| this.normalize(input, &w.value))
                .collect()
        };
        let test = match &predicate.test {
            ast::Test::HasAny(list) => {
                let words = {
                    let words = self.words_of(list);
                    normalize(self, words)
                };
                let (all, by_text) = per_input(terms, input, Terms::default);
                let indices = words
                    .into_iter()
                    .filter(|w| !w.is_empty())
                    .map(|word| {
                        *by_text.entry(word.clone()).or_insert_with(|| {
                            all.push(word);
                            all.len() - 1
                        })
                    })
                    .collect();
                LeafTest::Words(indices)
            }
            ast::Test::Matches(regex) => match self.compile_regex(regex) {
                // Gated by `index_regexes` if it does not run in a set.
                Some(compiled) => LeafTest::Regex {
                    regex: GatedRegex::ungated(compiled),
                    slot: None,
                },
                None => LeafTest::IsEmpty,
            },
            ast::Test::Equals(value) => {
                LeafTest::OneOf(std::iter::once(self.normalize(input, &value.value)).collect())
            }
            ast::Test::NotEquals(value) => LeafTest::NotEqual(self.normalize(input, &value.value)),
            ast::Test::InList(list) => LeafTest::OneOf(
                {
                    let words = self.words_of(list);
                    normalize(self, words)
                }
                .into_iter()
                .collect(),
            ),
            ast::Test::InTable(table) => match self.table_for(table, input) {
                Some(map) => LeafTest::InTable(map),
                None => LeafTest::IsEmpty,
            },
            ast::Test::StartsWith(list) => LeafTest::StartsWith({
                let words = self.words_of(list);
                normalize(self, words)
            }),
            ast::Test::EndsWith(list) => LeafTest::EndsWith({
                let words = self.words_of(list);
                normalize(self, words)
            }),
            ast::Test::Contains(list) => LeafTest::Contains({
                let words = self.words_of(list);
                normalize(self, words)
            }),
            ast::Test::Date { op, against } => {
                let format = self
                    .inputs
                    .get(input.0)
                    .and_then(|i| {
                        i.pipeline.iter().rev().find_map(|step| match step {
                            Step::Date(format) => Some(format.clone()),
                            _ => None,
                        })
                    })
                    .flatten()
                    .unwrap_or_else(|| "YYYY-MM-DD".to_string());
                let against = match against {
                    None => None,
                    Some(date) => match parse_date(&date.value, Some(ISO_DATE)) {
                        Some(date) => Some(date),
                        None => {
                            self.error_help(
                                Code::BadLiteral,
                                date.span,
                                format!("`{}` is not a date", date.value),
                                Some("write dates in rule files as \"YYYY-MM-DD\", or compare with `today`".into()),
                            );
                            return Cond::Leaf(Leaf {
                                input,
                                test: LeafTest::IsEmpty,
                                text,
                            });
                        }
                    },
                };
                LeafTest::Date {
                    op: *op,
                    against,
                    format: Arc::from(format),
                }
            }
            ast::Test::IsEmpty => LeafTest::IsEmpty,
            ast::Test::IsPresent => LeafTest::IsPresent,
        };
        Cond::Leaf(Leaf { input, test, text })
    }

    pub(super) fn compile_output(
        &mut self,
        output: &ast::Output,
        field: &Field,
        reads: &mut Vec<InputId>,
    ) -> Output {
        match output {
            ast::Output::Unset(_) => Output::Unset,
            ast::Output::Value { text, quoted } => {
                if !quoted && self.input_decls.contains_key(&text.value) {
                    let ident = ast::Ident {
                        name: text.value.clone(),
                        span: text.span,
                    };
                    return match self.input_for(&ident, reads) {
                        Some(input) => Output::Input(input),
                        None => Output::Unset,
                    };
                }
                match self.check_value(field, &text.value, text.span, !quoted) {
                    Some(value) => Output::Const(value),
                    None => Output::Unset,
                }
            }
            ast::Output::Lookup { table, key } => {
                let Some(input) = self.input_for(key, reads) else {
                    return Output::Unset;
                };
                let Some(map) = self.table_for(table, input) else {
                    return Output::Unset;
                };
                let mut checked: HashSet<Arc<str>> = HashSet::new();
                let rows: Vec<(String, Span)> = self
                    .tables
                    .get(&table.name)
                    .and_then(Option::as_ref)
                    .map(|t| {
                        t.rows
                            .iter()
                            .map(|(_, value, span)| (value.clone(), *span))
                            .collect()
                    })
                    .unwrap_or_default();
                for (value, span) in rows {
                    if checked.insert(Arc::from(value.as_str())) {
                        self.check_value(field, &value, span, false);
                    }
                }
                Output::Lookup { input, table: map }
            }
        }
    }

    /// Checks a constant against the field's type; reports and returns `None` when it is not
    /// allowed.
    pub(super) fn check_value(
        &mut self,
        field: &Field,
        value: &str,
        span: Span,
        bare: bool,
    ) -> Option<Arc<str>> {
        let allowed: Vec<&str> = match &field.kind {
            FieldKind::Enum(values) => values.iter().map(|v| &**v).collect(),
            FieldKind::Flag => vec!["yes", "no"],
            FieldKind::Email => {
                if crate::value::is_email(value) {
                    return Some(Arc::from(value));
                }
                self.error(
                    Code::NotAllowed,
                    span,
                    format!(
                        "`{value}` is not an email address, and `{}` holds emails",
                        field.name
                    ),
                );
                return None;
            }
            FieldKind::Text => {
                if bare {
                    let help = did_you_mean(value, self.input_decls.keys().map(String::as_str));
                    self.error_help(
                        Code::UnknownInput,
                        span,
                        format!("`{value}` is not a declared input"),
                        help.or_else(|| {
                            Some(format!(
                                "write \"{value}\" (quoted) for that text as the value"
                            ))
                        }),
                    );
                    return None;
                }
                return Some(Arc::from(value));
            }
        };
        if allowed.contains(&value) {
            return Some(Arc::from(value));
        }
        let help = did_you_mean(value, allowed.iter().copied())
            .or_else(|| same_words(value, &allowed).map(|v| format!("did you mean `{v}`?")))
            .or_else(|| {
                bare.then(|| did_you_mean(value, self.input_decls.keys().map(String::as_str)))
                    .flatten()
            });
        self.error_help(
            Code::NotAllowed,
            span,
            format!(
                "`{value}` is not an allowed value of `{}` ({})",
                field.name,
                field.kind.describe()
            ),
            help,
        );
        None
    }

    pub(super) fn text_of(&self, span: Span) -> String {
        self.sources
            .get(span.file)
            .and_then(|f| f.text.get(span.start..span.end))
            .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    }
}

/// Fewer regexes than this on one input are cheaper to run one by one than as a set.
const REGEX_SET_MIN: usize = 2;

/// Gives the regex tests of a field one `RegexSet` per input that has many of them, so a
/// record runs them in one pass instead of one by one; gates the regexes left to run alone.
fn index_regexes(field: &mut Field) {
    fn visit(cond: &mut Cond, each: &mut dyn FnMut(InputId, &mut GatedRegex, &mut Option<usize>)) {
        match cond {
            Cond::Always | Cond::Reports(_) => {}
            Cond::Or(parts) | Cond::And(parts) => parts.iter_mut().for_each(|p| visit(p, each)),
            Cond::Not(inner) => visit(inner, each),
            Cond::Leaf(leaf) => {
                if let LeafTest::Regex { regex, slot } = &mut leaf.test {
                    each(leaf.input, regex, slot);
                }
            }
        }
    }
    let mut regexes: Vec<(InputId, Vec<Regex>)> = Vec::new();
    for rule in &mut field.rules {
        visit(&mut rule.condition, &mut |input, regex, slot| {
            let list = per_input(&mut regexes, input, Vec::new);
            *slot = Some(list.len());
            list.push(regex.regex().clone());
        });
    }
    let mut built = Vec::new();
    for (input, regexes) in regexes {
        if regexes.len() < REGEX_SET_MIN {
            continue;
        }
        let list: Vec<&str> = regexes.iter().map(Regex::as_str).collect();
        let set = regex::RegexSetBuilder::new(&list)
            .size_limit(REGEX_SIZE_LIMIT * 8)
            .dfa_size_limit(REGEX_SIZE_LIMIT * 8)
            .build();
        if let Ok(set) = set {
            built.push((input, GatedSet::new(set, regexes)));
        }
    }
    let has_set: Vec<InputId> = built.iter().map(|(i, _)| *i).collect();
    for rule in &mut field.rules {
        visit(&mut rule.condition, &mut |input, regex, slot| {
            if !has_set.contains(&input) {
                *slot = None;
                regex.build_gate();
            }
        });
    }
    field.regex_sets = built;
}

/// The allowed value that says the same words as `value` once case, punctuation and common
/// title abbreviations are set aside: `"Senior Manager"` → `Sr. Manager`, `"vice president"`
/// → `VP` (edit distance alone finds neither).
fn same_words<'a>(value: &str, allowed: &[&'a str]) -> Option<&'a str> {
    const SPELLED_OUT: &[(&str, &str)] = &[
        ("sr", "senior"),
        ("snr", "senior"),
        ("jr", "junior"),
        ("vp", "vice president"),
        ("svp", "senior vice president"),
        ("evp", "executive vice president"),
        ("avp", "assistant vice president"),
        ("dir", "director"),
        ("mgr", "manager"),
        ("exec", "executive"),
        ("ic", "individual contributor"),
        ("asst", "assistant"),
        ("assoc", "associate"),
    ];
    let words = |text: &str| -> Vec<String> {
        text.to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .flat_map(|w| {
                let spelled = SPELLED_OUT
                    .iter()
                    .find(|(short, _)| *short == w)
                    .map_or(w, |(_, long)| *long);
                spelled.split(' ').map(str::to_string).collect::<Vec<_>>()
            })
            .collect()
    };
    let wanted = words(value);
    if wanted.is_empty() {
        return None;
    }
    allowed.iter().copied().find(|a| words(a) == wanted)
}

#[cfg(test)]
mod tests {
    use super::same_words;

    #[test]
    fn values_that_say_the_same_words_are_suggested() {
        let levels = [
            "Sr. Manager",
            "VP",
            "Individual Contributor",
            "Sr. Director",
        ];
        assert_eq!(same_words("Senior Manager", &levels), Some("Sr. Manager"));
        assert_eq!(
            same_words("senior  director", &levels),
            Some("Sr. Director")
        );
        assert_eq!(same_words("Vice-President", &levels), Some("VP"));
        assert_eq!(same_words("IC", &levels), Some("Individual Contributor"));
        assert_eq!(same_words("Senior", &levels), None);
        assert_eq!(same_words("...", &levels), None);
    }
}
