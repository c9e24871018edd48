//! Compile: merge a file chain (base first), resolve every name, check types, build the
//! immutable [`Program`]. Every problem is collected; nothing stops at the first.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use regex::{Regex, RegexBuilder};
use sha2::{Digest, Sha256};

use super::lint;
use super::load::{load_chain, load_text, Chain};
use super::program::per_input;
use super::program::*;
use super::schema;
use crate::diag::{did_you_mean, Code, Diagnostic, Diagnostics, FileId, Sources, Span};
use crate::eval::regex_set::GatedRegex;
use crate::eval::steps::{run, Separators, Step, WordTable, STEP_NAMES};
use crate::eval::words::WordIndex;
use crate::syntax::ast;
use crate::value::{AttrPath, FilterOp, FilterTest, PathFilter, PathSegment, SourceId};

/// Compiled regexes may not grow past this (bytes of compiled program): a hostile rule file
/// cannot make loading take unbounded memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

pub fn load_program(path: &Path) -> Result<Program, LoadError> {
    let mut sources = Sources::default();
    let mut diagnostics = Diagnostics::default();
    let chain = load_chain(
        path,
        path.to_string_lossy().into_owned(),
        &mut sources,
        &mut diagnostics,
    );
    finish(chain, sources, diagnostics)
}

pub fn compile_source(name: &str, text: &str) -> Result<Program, LoadError> {
    let mut sources = Sources::default();
    let mut diagnostics = Diagnostics::default();
    let chain = load_text(name, text, &mut sources, &mut diagnostics);
    finish(chain, sources, diagnostics)
}

fn finish(
    chain: Chain,
    sources: Sources,
    mut diagnostics: Diagnostics,
) -> Result<Program, LoadError> {
    let sources = Arc::new(sources);
    let program = Compiler::new(&sources, &mut diagnostics).compile(chain);
    diagnostics.sort();
    if diagnostics.has_errors() {
        return Err(LoadError {
            diagnostics,
            sources,
        });
    }
    let mut program = program;
    program.warnings = diagnostics.items;
    Ok(program)
}

/// The distinct terms of one field's `has` tests on one input, and each term's index.
type Terms = (Vec<String>, HashMap<String, usize>);

/// A rule list under construction, with the `map` that started it.
struct RuleList {
    rules: Vec<ast::RuleDef>,
}

struct TableRows {
    rows: Vec<(String, String, Span)>,
    /// Row numbers for CSV tables, for duplicate-key messages.
    lines: Vec<Option<usize>>,
}

struct Compiler<'a> {
    sources: &'a Arc<Sources>,
    diagnostics: &'a mut Diagnostics,
    aliases: HashMap<String, String>,
    field_decls: Vec<ast::FieldDecl>,
    input_decls: HashMap<String, (ast::InputDecl, FileId)>,
    list_decls: HashMap<String, (Vec<ast::Str>, Span)>,
    table_decls: HashMap<String, (ast::TableDecl, FileId)>,
    maps: HashMap<String, RuleList>,
    /// Rules of an `insert`/`replace` whose target is missing: still checked for errors.
    orphans: Vec<(String, Vec<ast::RuleDef>)>,
    map_order: Vec<ast::Ident>,
    tests: Vec<(ast::Item, bool)>,
    // Compilation state.
    inputs: Vec<Input>,
    input_ids: HashMap<String, Option<InputId>>,
    paths: Vec<AttrPath>,
    path_ids: HashMap<String, SourceId>,
    tables: HashMap<String, Option<TableRows>>,
    table_uses: HashMap<(String, InputId), KeyedTable>,
    used_lists: HashSet<String>,
    used_tables: HashSet<String>,
    used_inputs: HashSet<String>,
    hasher: Sha256,
    /// Position of each file in the chain (base first), by FileId: "later" means higher.
    file_rank: Vec<usize>,
}

impl<'a> Compiler<'a> {
    fn new(sources: &'a Arc<Sources>, diagnostics: &'a mut Diagnostics) -> Self {
        let aliases = schema::BUILTIN_ALIASES
            .iter()
            .map(|(name, urn)| (name.to_string(), urn.to_string()))
            .collect();
        Self {
            sources,
            diagnostics,
            aliases,
            field_decls: Vec::new(),
            input_decls: HashMap::new(),
            list_decls: HashMap::new(),
            table_decls: HashMap::new(),
            maps: HashMap::new(),
            orphans: Vec::new(),
            map_order: Vec::new(),
            tests: Vec::new(),
            inputs: Vec::new(),
            input_ids: HashMap::new(),
            paths: Vec::new(),
            path_ids: HashMap::new(),
            tables: HashMap::new(),
            table_uses: HashMap::new(),
            used_lists: HashSet::new(),
            used_tables: HashSet::new(),
            used_inputs: HashSet::new(),
            hasher: Sha256::new(),
            file_rank: Vec::new(),
        }
    }

    fn error(&mut self, code: Code, span: Span, message: impl Into<String>) {
        self.diagnostics
            .push(Diagnostic::error(code, span, message));
    }

    fn error_help(
        &mut self,
        code: Code,
        span: Span,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        let mut diagnostic = Diagnostic::error(code, span, message);
        diagnostic.help = help;
        self.diagnostics.push(diagnostic);
    }

    fn compile(mut self, chain: Chain) -> Program {
        let top = chain.files.last().map(|(file, _)| *file);
        self.file_rank = vec![0; self.sources.files().len()];
        for (rank, (file, _)) in chain.files.iter().enumerate() {
            if let Some(slot) = self.file_rank.get_mut(file.0) {
                *slot = rank;
            }
        }
        for (file, _) in &chain.files {
            if let Some(source) = self.sources.get(*file) {
                self.hasher.update(source.text.as_bytes());
            }
        }
        for (file, tree) in chain.files {
            self.merge_file(file, tree, Some(file) == top);
        }
        let fields = self.compile_fields();
        // Inputs no rule reads are still checked (and reported unused below).
        let mut declared: Vec<(String, Span)> = self
            .input_decls
            .iter()
            .map(|(name, (decl, _))| (name.clone(), decl.name.span))
            .collect();
        declared.sort_by_key(|(_, span)| (span.file, span.start));
        for (name, span) in declared {
            self.compile_input(&name, span, &mut Vec::new());
        }
        let tests = self.compile_tests(&fields);
        self.lint_unused();
        let version = hex::encode(&self.hasher.clone().finalize()[..8]);
        let program = Program {
            fields,
            inputs: self.inputs,
            paths: self.paths,
            tests,
            sources: Arc::clone(self.sources),
            warnings: Vec::new(),
            version,
        };
        lint::lint(&program, self.diagnostics);
        program
    }

    // ---------------------------------------------------------------- merging the chain

    /// Notes that this file defines `kind` `name`; a second definition in one file is an error.
    fn define_once(
        &mut self,
        defined_here: &mut HashSet<(&'static str, String)>,
        kind: &'static str,
        name: &ast::Ident,
    ) {
        if !defined_here.insert((kind, name.name.clone())) {
            self.error(
                Code::DuplicateName,
                name.span,
                format!("{kind} `{}` is defined twice in this file", name.name),
            );
        }
    }

    fn merge_file(&mut self, file: FileId, tree: ast::RuleFile, own: bool) {
        let mut defined_here: HashSet<(&'static str, String)> = HashSet::new();
        for item in tree.items {
            match item {
                ast::Item::Extends(_) => {}
                ast::Item::Alias { name, urn } => {
                    self.define_once(&mut defined_here, "alias", &name);
                    if !urn.value.to_ascii_lowercase().starts_with("urn:") {
                        self.error(
                            Code::UnknownAlias,
                            urn.span,
                            "an alias names a schema URN, starting with `urn:`",
                        );
                    }
                    self.aliases.insert(name.name.to_lowercase(), urn.value);
                }
                ast::Item::Field(field) => {
                    if let Some(earlier) = self
                        .field_decls
                        .iter()
                        .find(|f| f.name.name == field.name.name)
                    {
                        let at = self.sources.cite(earlier.name.span);
                        self.error_help(
                            Code::DuplicateField,
                            field.name.span,
                            format!("field `{}` is already declared at {at}", field.name.name),
                            Some("a field is declared once (in the base file); change its rules with `override`, `insert` or `replace`".into()),
                        );
                    } else {
                        self.field_decls.push(field);
                    }
                }
                ast::Item::Input(input) => {
                    self.define_once(&mut defined_here, "input", &input.name);
                    // A later file's input of the same name replaces the base's.
                    self.input_decls
                        .insert(input.name.name.clone(), (input, file));
                }
                ast::Item::List(list) => {
                    let name = list.name.name.clone();
                    if list.extends {
                        match self.list_decls.get_mut(&name) {
                            Some((words, _)) => words.extend(list.words),
                            None => {
                                let help =
                                    did_you_mean(&name, self.list_decls.keys().map(String::as_str));
                                self.error_help(Code::UnknownList, list.name.span, format!("`+=` adds to a list, but no list `{name}` is defined before"), help);
                            }
                        }
                    } else {
                        self.define_once(&mut defined_here, "list", &list.name);
                        self.list_decls.insert(name, (list.words, list.name.span));
                    }
                }
                ast::Item::Table(table) => {
                    self.define_once(&mut defined_here, "table", &table.name);
                    self.table_decls
                        .insert(table.name.name.clone(), (table, file));
                }
                ast::Item::Map {
                    field,
                    overrides,
                    rules,
                } => self.merge_map(field, overrides, rules),
                ast::Item::Insert {
                    after,
                    target,
                    rules,
                } => match self.find_rule(&target) {
                    Some((list, index)) => {
                        let at = if after { index + 1 } else { index };
                        list.rules.splice(at..at, rules);
                    }
                    None => self.orphans.push((target.field.name.clone(), rules)),
                },
                ast::Item::Replace { target, rules } => match self.find_rule(&target) {
                    Some((list, index)) => {
                        list.rules.splice(index..=index, rules);
                    }
                    None => self.orphans.push((target.field.name.clone(), rules)),
                },
                ast::Item::Remove { target } => {
                    if let Some((list, index)) = self.find_rule(&target) {
                        list.rules.remove(index);
                    }
                }
                test @ (ast::Item::Test(_) | ast::Item::Examples(_)) => {
                    self.tests.push((test, own))
                }
            }
        }
    }

    fn merge_map(&mut self, field: ast::Ident, overrides: bool, rules: Vec<ast::RuleDef>) {
        if self.maps.contains_key(&field.name) && !overrides {
            self.error_help(
                Code::AlreadyMapped,
                field.span,
                format!("`{}` already has a rule list (from a base file or earlier in this one)", field.name),
                Some(format!("write `override {} {{ … }}` to replace the whole list, or `insert before {}.RULE {{ … }}` to add to it", field.name, field.name)),
            );
            return;
        }
        if !self.map_order.iter().any(|f| f.name == field.name) {
            self.map_order.push(field.clone());
        }
        self.maps.insert(field.name, RuleList { rules });
    }

    /// The rule list and index a `field.rule` reference names, or a diagnostic.
    fn find_rule(&mut self, target: &ast::RuleRef) -> Option<(&mut RuleList, usize)> {
        let field = &target.field.name;
        if !self.maps.contains_key(field) {
            let help = did_you_mean(field, self.maps.keys().map(String::as_str));
            self.error_help(
                Code::NotMapped,
                target.field.span,
                format!("no rule list for field `{field}`"),
                help,
            );
            return None;
        }
        let ids: Vec<String> = self
            .maps
            .get(field)
            .map(|l| l.rules.iter().map(|r| r.id.name.clone()).collect())
            .unwrap_or_default();
        match ids.iter().position(|id| *id == target.rule.name) {
            Some(index) => self.maps.get_mut(field).map(|list| (list, index)),
            None => {
                let help = did_you_mean(&target.rule.name, ids.iter().map(String::as_str));
                self.error_help(
                    Code::UnknownRule,
                    target.rule.span,
                    format!("`{field}` has no rule `{}`", target.rule.name),
                    help,
                );
                None
            }
        }
    }

    // ---------------------------------------------------------------- fields and rules

    fn compile_fields(&mut self) -> Vec<Field> {
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
        let decls = self.field_decls.clone();
        decls.iter().map(|decl| self.compile_field(decl)).collect()
    }

    fn compile_field(&mut self, decl: &ast::FieldDecl) -> Field {
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
            rules: Vec::new(),
            word_indexes: Vec::new(),
            regex_sets: Vec::new(),
            reads: Vec::new(),
            prefilter: None,
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
        field.prefilter = crate::eval::prefilter::Prefilter::build(&field.rules);
        field
    }

    fn compile_cond(
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
        }
    }

    fn compile_predicate(
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
            ast::Test::IsEmpty => LeafTest::IsEmpty,
            ast::Test::IsPresent => LeafTest::IsPresent,
        };
        Cond::Leaf(Leaf { input, test, text })
    }

    fn compile_output(
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
    fn check_value(
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
                if crate::eval::is_email(value) {
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
        let help = did_you_mean(value, allowed.iter().copied()).or_else(|| {
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

    fn text_of(&self, span: Span) -> String {
        self.sources
            .get(span.file)
            .and_then(|f| f.text.get(span.start..span.end))
            .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    }

    // ---------------------------------------------------------------- names

    fn words_of(&mut self, list: &ast::WordList) -> Vec<ast::Str> {
        match list {
            ast::WordList::Inline(words) => words.clone(),
            ast::WordList::Named(name) => match self.list_decls.get(&name.name) {
                Some((words, _)) => {
                    self.used_lists.insert(name.name.clone());
                    words.clone()
                }
                None => {
                    let help = did_you_mean(&name.name, self.list_decls.keys().map(String::as_str));
                    self.error_help(
                        Code::UnknownList,
                        name.span,
                        format!("no word list `{}`", name.name),
                        help,
                    );
                    Vec::new()
                }
            },
        }
    }

    fn normalize(&self, input: InputId, literal: &str) -> String {
        self.inputs
            .get(input.0)
            .map_or_else(|| literal.to_string(), |i| run(&i.pipeline, literal))
    }

    fn compile_regex(&mut self, regex: &ast::RegexLit) -> Option<Regex> {
        // Flags go inline, so that the pattern text alone (for a `RegexSet`) keeps them.
        for flag in regex.flags.chars() {
            if !matches!(flag, 'i' | 'm' | 's' | 'x') {
                self.error_help(
                    Code::BadRegex,
                    regex.span,
                    format!("unknown regex flag `{flag}`"),
                    Some("flags are i (ignore case), m (multi-line), s (dot matches newline), x (verbose)".into()),
                );
                return None;
            }
        }
        let pattern = if regex.flags.is_empty() {
            regex.pattern.clone()
        } else {
            format!("(?{}){}", regex.flags, regex.pattern)
        };
        let mut builder = RegexBuilder::new(&pattern);
        builder
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT);
        match builder.build() {
            Ok(compiled) => Some(compiled),
            Err(error) => {
                let first_line = error
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or("invalid regex")
                    .trim()
                    .trim_start_matches("error: ")
                    .to_string();
                self.error(
                    Code::BadRegex,
                    regex.span,
                    format!("invalid regex: {first_line}"),
                );
                None
            }
        }
    }

    /// The input a condition or output names, compiled on first use.
    fn input_for(&mut self, name: &ast::Ident, reads: &mut Vec<InputId>) -> Option<InputId> {
        let id = self.compile_input(&name.name, name.span, &mut Vec::new())?;
        self.used_inputs.insert(name.name.clone());
        if !reads.contains(&id) {
            reads.push(id);
        }
        Some(id)
    }

    fn compile_input(
        &mut self,
        name: &str,
        used_at: Span,
        stack: &mut Vec<String>,
    ) -> Option<InputId> {
        if let Some(done) = self.input_ids.get(name) {
            return *done;
        }
        let Some((decl, file)) = self.input_decls.get(name).cloned() else {
            let help = did_you_mean(name, self.input_decls.keys().map(String::as_str));
            self.error_help(
                Code::UnknownInput,
                used_at,
                format!("no input `{name}`"),
                help.or_else(|| {
                    Some(format!(
                        "declare it: input {name} = \"Column name\", scimAttribute | trim"
                    ))
                }),
            );
            return None;
        };
        if stack.iter().any(|s| s == name) {
            let mut cycle = stack.clone();
            cycle.push(name.to_string());
            self.error(
                Code::InputCycle,
                used_at,
                format!("inputs read each other: @{}", cycle.join(" → @")),
            );
            self.input_ids.insert(name.to_string(), None);
            return None;
        }
        stack.push(name.to_string());
        let mut sources = Vec::new();
        for source in &decl.sources {
            match source {
                ast::SourceExpr::Input(parent) => {
                    self.used_inputs.insert(parent.name.clone());
                    if let Some(id) = self.compile_input(&parent.name, parent.span, stack) {
                        sources.push(InputSource::Input(id));
                    }
                }
                ast::SourceExpr::Column(column) => sources.push(InputSource::Path(
                    self.intern(AttrPath::column(&column.value)),
                )),
                ast::SourceExpr::Path(path) => {
                    if let Some(path) = self.resolve_path(path) {
                        sources.push(InputSource::Path(self.intern(path)));
                    }
                }
            }
        }
        stack.pop();
        let _ = file;
        let steps: Vec<Step> = decl
            .steps
            .iter()
            .filter_map(|step| self.compile_step(step))
            .collect();
        let mut pipeline = match sources.first() {
            Some(InputSource::Input(parent)) => self
                .inputs
                .get(parent.0)
                .map(|p| p.pipeline.clone())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        pipeline.extend(steps.iter().cloned());
        let id = InputId(self.inputs.len());
        self.inputs.push(Input {
            name: Arc::from(name),
            sources,
            steps,
            pipeline,
        });
        self.input_ids.insert(name.to_string(), Some(id));
        Some(id)
    }

    fn intern(&mut self, path: AttrPath) -> SourceId {
        let key = format!(
            "{}\u{0}{}",
            path.urn.as_deref().unwrap_or(""),
            path.text().to_lowercase()
        );
        if let Some(id) = self.path_ids.get(&key) {
            return *id;
        }
        let id = SourceId(self.paths.len());
        self.paths.push(path.with_id(id));
        self.path_ids.insert(key, id);
        id
    }

    fn resolve_path(&mut self, path: &ast::PathExpr) -> Option<AttrPath> {
        let urn = match &path.prefix {
            None => None,
            Some(prefix) if prefix.to_ascii_lowercase().starts_with("urn:") => Some(prefix.clone()),
            Some(alias) => match self.aliases.get(&alias.to_lowercase()) {
                Some(urn) => Some(urn.clone()),
                None => {
                    let help = did_you_mean(alias, self.aliases.keys().map(String::as_str));
                    self.error_help(
                        Code::UnknownAlias,
                        path.span,
                        format!("`{alias}:` is not a known alias"),
                        help.or_else(|| Some(format!("declare it: alias {alias} = \"urn:…\""))),
                    );
                    return None;
                }
            },
        };
        let names: Vec<&str> = path.segments.iter().map(|s| s.name.as_str()).collect();
        let schema_table = match &urn {
            Some(urn) => schema::schema_attributes(urn),
            None if names.len() > 1 || path.segments.iter().any(|s| !s.filter.is_empty()) => {
                Some(schema::CORE_USER)
            }
            None => None,
        };
        if let Some(table) = schema_table {
            if let Err((unknown, candidates)) = schema::check_path(table, &names) {
                let help = did_you_mean(
                    unknown.rsplit('.').next().unwrap_or(&unknown),
                    candidates.iter().copied(),
                )
                .or_else(|| {
                    urn.is_none().then(|| {
                        format!(
                            "to read a CSV column of that name, quote it: \"{}\"",
                            path.text
                        )
                    })
                });
                self.error_help(
                    Code::UnknownAttribute,
                    path.span,
                    format!("unknown SCIM attribute `{unknown}`"),
                    help,
                );
                return None;
            }
        }
        let mut segments = Vec::new();
        for segment in &path.segments {
            let filter = if segment.filter.is_empty() {
                None
            } else {
                let mut all_of = Vec::new();
                for test in &segment.filter {
                    let Some(op) = FilterOp::from_keyword(&test.op) else {
                        self.error(
                            Code::Syntax,
                            path.span,
                            format!("unknown filter operator `{}`", test.op),
                        );
                        return None;
                    };
                    all_of.push(FilterTest {
                        attribute: test.attribute.clone(),
                        op,
                        value: test.value.clone().unwrap_or_default(),
                    });
                }
                Some(PathFilter { all_of })
            };
            segments.push(PathSegment {
                name: segment.name.clone(),
                filter,
            });
        }
        let urn = urn.filter(|u| !u.eq_ignore_ascii_case(schema::CORE_USER_URN));
        Some(AttrPath::new(urn, segments, path.text.clone()))
    }

    fn compile_step(&mut self, step: &ast::StepCall) -> Option<Step> {
        let name = step.name.name.as_str();
        let args = &step.args;
        let no_args = |this: &mut Self, step_value: Step| -> Option<Step> {
            if let Some(arg) = args.first() {
                this.error(
                    Code::BadStep,
                    arg.span(),
                    format!("`{name}` takes no arguments"),
                );
                return None;
            }
            Some(step_value)
        };
        match name {
            "trim" => no_args(self, Step::Trim),
            "collapse" => no_args(self, Step::Collapse),
            "lower" => no_args(self, Step::Lower),
            "upper" => no_args(self, Step::Upper),
            "nfkc" => no_args(self, Step::Nfkc),
            "strip_diacritics" => no_args(self, Step::StripDiacritics),
            "words" => no_args(self, Step::Words),
            "replace" => match args.as_slice() {
                [ast::StepArg::Regex(regex), ast::StepArg::Str(with)] => {
                    let compiled = self.compile_regex(regex)?;
                    Some(Step::replace(compiled, with.value.clone()))
                }
                _ => {
                    self.error_help(
                        Code::BadStep,
                        step.span,
                        "`replace` takes a regex and a replacement",
                        Some("replace(/\\bsr\\b/, \"senior\")".into()),
                    );
                    None
                }
            },
            "cut_after" => {
                let mut separators = Vec::new();
                for arg in args {
                    match arg {
                        ast::StepArg::Str(s) if !s.value.is_empty() => {
                            separators.push(s.value.clone())
                        }
                        other => {
                            self.error(
                                Code::BadStep,
                                other.span(),
                                "`cut_after` takes non-empty strings",
                            );
                            return None;
                        }
                    }
                }
                if separators.is_empty() {
                    self.error_help(
                        Code::BadStep,
                        step.span,
                        "`cut_after` needs at least one separator",
                        Some("cut_after(\" - \", \",\")".into()),
                    );
                    return None;
                }
                Some(Step::CutAfter(Separators::new(separators)))
            }
            "replace_words" => match args.as_slice() {
                [ast::StepArg::Ident(table)] => {
                    let pairs = self
                        .use_table(table)
                        .map(|t| {
                            t.rows
                                .iter()
                                .map(|(k, v, _)| (k.clone(), v.clone()))
                                .collect()
                        })
                        .unwrap_or_default();
                    let built = WordTable::new(table.name.clone(), pairs);
                    if built.is_none() {
                        self.error(
                            Code::BadStep,
                            table.span,
                            format!("table `{}` is too large for `replace_words`", table.name),
                        );
                    }
                    built.map(Step::ReplaceWords)
                }
                _ => {
                    self.error_help(Code::BadStep, step.span, "`replace_words` takes the name of a table", Some("table abbreviations = { \"sr\" -> \"senior\" }  …  | replace_words(abbreviations)".into()));
                    None
                }
            },
            _ => {
                let help = did_you_mean(name, STEP_NAMES.iter().copied());
                self.error_help(
                    Code::BadStep,
                    step.name.span,
                    format!("unknown step `{name}`"),
                    help.or_else(|| Some(format!("steps are: {}", STEP_NAMES.join(", ")))),
                );
                None
            }
        }
    }

    // ---------------------------------------------------------------- tables

    /// The table's entries with keys normalised by `input`'s pipeline (once per pair).
    fn table_for(
        &mut self,
        name: &ast::Ident,
        input: InputId,
    ) -> Option<Arc<HashMap<String, Arc<str>>>> {
        if let Some(map) = self.table_uses.get(&(name.name.clone(), input)) {
            return Some(map.clone());
        }
        self.use_table(name)?;
        let rows = self.tables.get(&name.name)?.as_ref()?;
        let mut map: HashMap<String, Arc<str>> = HashMap::new();
        let mut first_at: HashMap<String, (String, Span, Option<usize>)> = HashMap::new();
        let mut duplicates = Vec::new();
        for ((key, value, span), line) in rows.rows.iter().zip(&rows.lines) {
            let normalized = self.normalize(input, key);
            if let Some((first_key, first_span, first_line)) = first_at.get(&normalized) {
                duplicates.push((
                    key.clone(),
                    *span,
                    *line,
                    first_key.clone(),
                    *first_span,
                    *first_line,
                    normalized.clone(),
                ));
                continue;
            }
            first_at.insert(normalized.clone(), (key.clone(), *span, *line));
            map.insert(normalized, Arc::from(value.as_str()));
        }
        let input_name = self
            .inputs
            .get(input.0)
            .map(|i| i.name.to_string())
            .unwrap_or_default();
        for (key, span, line, first_key, first_span, first_line, normalized) in duplicates {
            let (here, there) = match (line, first_line) {
                (Some(l), Some(f)) => (format!("row {l}"), format!("row {f}")),
                _ => (format!("`{key}`"), self.sources.cite(first_span)),
            };
            self.error_help(
                Code::DuplicateKey,
                span,
                format!("table `{}`: {here} (`{key}`) and {there} (`{first_key}`) are the same key `{normalized}` once normalised like input `{input_name}`", name.name),
                Some("keep one of them".into()),
            );
        }
        let map = Arc::new(map);
        self.table_uses
            .insert((name.name.clone(), input), map.clone());
        Some(map)
    }

    /// A table's rows, loaded (and its problems reported) on first use; marks it used.
    fn use_table(&mut self, name: &ast::Ident) -> Option<&TableRows> {
        if !self.tables.contains_key(&name.name) {
            let rows = self.load_table(name);
            self.tables.insert(name.name.clone(), rows);
        }
        self.used_tables.insert(name.name.clone());
        self.tables.get(&name.name)?.as_ref()
    }

    fn load_table(&mut self, name: &ast::Ident) -> Option<TableRows> {
        let Some((decl, file)) = self.table_decls.get(&name.name).cloned() else {
            let help = did_you_mean(&name.name, self.table_decls.keys().map(String::as_str));
            self.error_help(
                Code::UnknownList,
                name.span,
                format!("no table `{}`", name.name),
                help,
            );
            return None;
        };
        match &decl.source {
            ast::TableSource::Inline(entries) => Some(TableRows {
                rows: entries
                    .iter()
                    .map(|e| (e.key.value.clone(), e.value.value.clone(), e.key.span))
                    .collect(),
                lines: vec![None; entries.len()],
            }),
            ast::TableSource::Csv { path, key, value } => {
                self.load_table_csv(file, path, key.as_ref(), value.as_ref())
            }
        }
    }

    fn load_table_csv(
        &mut self,
        file: FileId,
        path: &ast::Str,
        key: Option<&ast::Str>,
        value: Option<&ast::Str>,
    ) -> Option<TableRows> {
        let base = self
            .sources
            .get(file)
            .map(|f| f.path.clone())
            .unwrap_or_default();
        let full: PathBuf = base.parent().unwrap_or(Path::new("")).join(&path.value);
        let bytes = match std::fs::read(&full) {
            Ok(bytes) => bytes,
            Err(error) => {
                self.error(
                    Code::Io,
                    path.span,
                    format!("cannot read table CSV `{}`: {error}", full.display()),
                );
                return None;
            }
        };
        self.hasher.update(&bytes);
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(bytes.as_slice());
        let header: Vec<String> = match reader.headers() {
            Ok(h) => h
                .iter()
                .map(|c| c.trim_start_matches('\u{feff}').trim().to_string())
                .collect(),
            Err(error) => {
                self.error(
                    Code::BadTable,
                    path.span,
                    format!("`{}`: {error}", path.value),
                );
                return None;
            }
        };
        let column =
            |wanted: Option<&ast::Str>, default: usize, this: &mut Self| -> Option<usize> {
                match wanted {
                    None if header.len() > default => Some(default),
                    None => {
                        this.error(
                            Code::BadTable,
                            path.span,
                            format!("`{}` needs at least two columns (key, value)", path.value),
                        );
                        None
                    }
                    Some(name) => match header
                        .iter()
                        .position(|h| h.eq_ignore_ascii_case(&name.value))
                    {
                        Some(index) => Some(index),
                        None => {
                            let help = did_you_mean(&name.value, header.iter().map(String::as_str));
                            this.error_help(
                                Code::BadTable,
                                name.span,
                                format!("`{}` has no column `{}`", path.value, name.value),
                                help,
                            );
                            None
                        }
                    },
                }
            };
        let key_column = column(key, 0, self)?;
        let value_column = column(value, 1, self)?;
        let mut rows = Vec::new();
        let mut lines = Vec::new();
        for (index, record) in reader.records().enumerate() {
            let line = index + 2;
            match record {
                Ok(record) => match (record.get(key_column), record.get(value_column)) {
                    (Some(k), Some(v)) => {
                        rows.push((k.to_string(), v.to_string(), path.span));
                        lines.push(Some(line));
                    }
                    _ => self.error(
                        Code::BadTable,
                        path.span,
                        format!(
                            "`{}` row {line}: missing the key or value column",
                            path.value
                        ),
                    ),
                },
                Err(error) => self.error(
                    Code::BadTable,
                    path.span,
                    format!("`{}` row {line}: {error}", path.value),
                ),
            }
        }
        Some(TableRows { rows, lines })
    }

    // ---------------------------------------------------------------- tests

    fn compile_tests(&mut self, fields: &[Field]) -> Vec<RuleTest> {
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

    fn given_path(&mut self, given: &ast::Given) -> Option<AttrPath> {
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

    fn expectation(
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

    // ---------------------------------------------------------------- lints

    fn lint_unused(&mut self) {
        let mut unused = Vec::new();
        for (name, (_, span)) in &self.list_decls {
            if !self.used_lists.contains(name) {
                unused.push((*span, format!("word list `{name}` is never used")));
            }
        }
        for (name, (decl, _)) in &self.table_decls {
            if !self.used_tables.contains(name) {
                unused.push((decl.name.span, format!("table `{name}` is never used")));
            }
        }
        for (name, (decl, _)) in &self.input_decls {
            if !self.used_inputs.contains(name) {
                unused.push((decl.name.span, format!("input `{name}` is never used")));
            }
        }
        unused.sort_by_key(|(span, _)| (span.file, span.start));
        for (span, message) in unused {
            self.diagnostics
                .push(Diagnostic::warning(Code::Unused, span, message));
        }
    }
}

/// Fewer regexes than this on one input are cheaper to run one by one than as a set.
const REGEX_SET_MIN: usize = 2;

/// Gives the regex tests of a field one `RegexSet` per input that has many of them, so a
/// record runs them in one pass instead of one by one; gates the regexes left to run alone.
fn index_regexes(field: &mut Field) {
    fn visit(cond: &mut Cond, each: &mut dyn FnMut(InputId, &mut GatedRegex, &mut Option<usize>)) {
        match cond {
            Cond::Always => {}
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
            built.push((input, crate::eval::regex_set::GatedSet::new(set, regexes)));
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
