//! Inputs and the names rules use: attribute paths resolved against the schemas, steps,
//! word lists, regexes, and literals normalised like the input they meet.

use std::fmt::Write as _;
use std::sync::Arc;

use regex::{Regex, RegexBuilder};

use super::{Compiler, REGEX_SIZE_LIMIT};
use crate::check::schema;
use crate::diag::{did_you_mean, Code, Span};
use crate::program::steps::{parse_date, run, Separators, Step, WordTable, STEP_NAMES};
use crate::program::*;
use crate::syntax::ast;
use crate::value::{AttrPath, FilterOp, FilterTest, PathFilter, PathSegment, SourceId};

impl Compiler<'_> {
    pub(super) fn words_of(&mut self, list: &ast::WordList) -> Vec<ast::Str> {
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

    /// A literal compared with `input`, spelled as the input's values are: its pipeline's
    /// steps, except those that take a part of a value (`after`, `first_word`, `last_word`),
    /// which would cut the literal itself (`first == "Ana María"`).
    pub(super) fn normalize(&self, input: InputId, literal: &str) -> String {
        let Some(input) = self.inputs.get(input.0) else {
            return literal.to_string();
        };
        if input.pipeline.iter().any(Step::takes_a_part) {
            let spelling: Vec<Step> = input
                .pipeline
                .iter()
                .filter(|s| !s.takes_a_part())
                .cloned()
                .collect();
            return run(&spelling, literal);
        }
        run(&input.pipeline, literal)
    }

    pub(super) fn compile_regex(&mut self, regex: &ast::RegexLit) -> Option<Regex> {
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
        if let Some(compiled) = self.regexes.get(&pattern) {
            return Some(compiled.clone());
        }
        let mut builder = RegexBuilder::new(&pattern);
        builder
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT);
        match builder.build() {
            Ok(compiled) => {
                self.regexes.insert(pattern, compiled.clone());
                Some(compiled)
            }
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
    pub(super) fn input_for(
        &mut self,
        name: &ast::Ident,
        reads: &mut Vec<InputId>,
    ) -> Option<InputId> {
        let id = self.compile_input(&name.name, name.span, &mut Vec::new())?;
        self.used_inputs.insert(name.name.clone());
        if !reads.contains(&id) {
            reads.push(id);
        }
        Some(id)
    }

    pub(super) fn compile_input(
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
            if let ast::SourceExpr::Join { separator, parts } = source {
                let mut ids = Vec::new();
                for (index, part) in parts.iter().enumerate() {
                    let id = match part {
                        ast::SourceExpr::Input(parent) => {
                            self.used_inputs.insert(parent.name.clone());
                            self.compile_input(&parent.name, parent.span, stack)
                        }
                        // An attribute part is an input of its own, unnamed in the file, so
                        // that records bound to a header read it like any other.
                        other => self.compile_source(other, stack).map(|source| {
                            let id = InputId(self.inputs.len());
                            self.inputs.push(Input {
                                name: Arc::from(format!("{name}[{}]", index + 1)),
                                span: decl.name.span,
                                sources: vec![source],
                                steps: Vec::new(),
                                pipeline: Vec::new(),
                            });
                            id
                        }),
                    };
                    ids.extend(id);
                }
                if ids.len() == parts.len() {
                    sources.push(InputSource::Join {
                        separator: Arc::from(separator.value.as_str()),
                        parts: ids,
                    });
                }
            } else if let Some(source) = self.compile_source(source, stack) {
                sources.push(source);
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
            span: decl.name.span,
            sources,
            steps,
            pipeline,
        });
        self.input_ids.insert(name.to_string(), Some(id));
        Some(id)
    }

    /// One source of an input: another input, a column, or an attribute path (a join is
    /// compiled by the input that holds it).
    fn compile_source(
        &mut self,
        source: &ast::SourceExpr,
        stack: &mut Vec<String>,
    ) -> Option<InputSource> {
        match source {
            ast::SourceExpr::Input(parent) => {
                self.used_inputs.insert(parent.name.clone());
                self.compile_input(&parent.name, parent.span, stack)
                    .map(InputSource::Input)
            }
            ast::SourceExpr::Column(column) => Some(InputSource::Path(
                self.intern(AttrPath::column(&column.value)),
            )),
            ast::SourceExpr::Path(path) => {
                let path = self.resolve_path(path)?;
                Some(InputSource::Path(self.intern(path)))
            }
            // The grammar allows no join inside a join.
            ast::SourceExpr::Join { separator, .. } => {
                self.error(Code::BadStep, separator.span, "a join cannot hold a join");
                None
            }
        }
    }

    pub(super) fn intern(&mut self, path: AttrPath) -> SourceId {
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

    pub(super) fn resolve_path(&mut self, path: &ast::PathExpr) -> Option<AttrPath> {
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

    pub(super) fn compile_step(&mut self, step: &ast::StepCall) -> Option<Step> {
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
                    let key = (compiled.as_str().to_string(), with.value.clone());
                    let step = self
                        .replace_steps
                        .entry(key)
                        .or_insert_with(|| Step::replace(compiled, with.value.clone()));
                    Some(step.clone())
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
            "date" => match args.as_slice() {
                [] => Some(Step::Date(None)),
                [ast::StepArg::Str(format)] => {
                    // A format that reads back the date it writes names a whole date. One
                    // with a field a date cannot fill (`%f`, `%H`, `%z`) cannot be written:
                    // `to_string` would panic on it (found by the `rules` fuzz target).
                    let sample = chrono::NaiveDate::from_ymd_opt(2026, 11, 23)?;
                    let items = chrono::format::StrftimeItems::new(&format.value);
                    let mut written = String::new();
                    let whole = !items.clone().any(|i| i == chrono::format::Item::Error)
                        && write!(written, "{}", sample.format_with_items(items)).is_ok()
                        && parse_date(&written, Some(&format.value)) == Some(sample);
                    if !whole {
                        self.error_help(
                            Code::BadStep,
                            format.span,
                            format!(
                                "`{}` is not a date format with a day, a month and a year",
                                format.value
                            ),
                            Some("a strftime format such as \"%m/%d/%Y\" or \"%d.%m.%Y\"".into()),
                        );
                        return None;
                    }
                    Some(Step::Date(Some(format.value.clone())))
                }
                _ => {
                    self.error_help(
                        Code::BadStep,
                        step.span,
                        "`date` takes one format, or none for ISO 8601 dates",
                        Some("date(\"%m/%d/%Y\")".into()),
                    );
                    None
                }
            },
            "first_word" => no_args(self, Step::FirstWord),
            "last_word" => no_args(self, Step::LastWord),
            "cut_after" | "after" => {
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
                                format!("`{name}` takes non-empty strings"),
                            );
                            return None;
                        }
                    }
                }
                if separators.is_empty() {
                    self.error_help(
                        Code::BadStep,
                        step.span,
                        format!("`{name}` needs at least one separator"),
                        Some(format!("{name}(\" - \", \",\")")),
                    );
                    return None;
                }
                let separators = Separators::new(separators);
                Some(match name {
                    "after" => Step::After(separators),
                    _ => Step::CutAfter(separators),
                })
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
}
