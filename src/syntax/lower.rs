//! Lowering: pest pairs → the spanned syntax tree. One function per grammar rule.
//!
//! The grammar guarantees each pair's shape, so a mismatch here is a bug in this file; it is
//! still reported as a diagnostic rather than a panic.

use pest::iterators::Pair;

use super::ast::*;
use super::names::is_keyword;
use super::Rule;
use crate::diag::{Code, Diagnostic, FileId, Span};

type Result<T> = std::result::Result<T, Diagnostic>;

pub(super) struct Lowerer {
    pub file: FileId,
}

/// The meaningful children of a pair: keyword tokens dropped.
fn children(pair: Pair<'_, Rule>) -> Vec<Pair<'_, Rule>> {
    pair.into_inner()
        .filter(|p| !is_keyword(p.as_rule()))
        .collect()
}

impl Lowerer {
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let span = pair.as_span();
        Span::new(self.file, span.start(), span.end())
    }

    fn shape(&self, pair: &Pair<'_, Rule>, what: &str) -> Diagnostic {
        Diagnostic::error(
            Code::Syntax,
            self.span(pair),
            format!(
                "internal: unexpected {:?} while reading {what}",
                pair.as_rule()
            ),
        )
    }

    fn missing(&self, span: Span, what: &str) -> Diagnostic {
        Diagnostic::error(Code::Syntax, span, format!("internal: missing {what}"))
    }

    /// The `index`th child, which must exist.
    fn nth<'i>(
        &self,
        parts: &[Pair<'i, Rule>],
        index: usize,
        span: Span,
        what: &str,
    ) -> Result<Pair<'i, Rule>> {
        parts
            .get(index)
            .cloned()
            .ok_or_else(|| self.missing(span, what))
    }

    pub fn lower_file(&self, pair: Pair<'_, Rule>, diagnostics: &mut Vec<Diagnostic>) -> RuleFile {
        let mut items = Vec::new();
        for item in children(pair) {
            if item.as_rule() == Rule::EOI {
                continue;
            }
            match self.lower_item(item) {
                Ok(item) => items.push(item),
                Err(diagnostic) => diagnostics.push(diagnostic),
            }
        }
        RuleFile { items }
    }

    fn lower_item(&self, pair: Pair<'_, Rule>) -> Result<Item> {
        match pair.as_rule() {
            Rule::extends_decl => self.lower_extends_decl(pair),
            Rule::alias_decl => self.lower_alias_decl(pair),
            Rule::field_decl => self.lower_field_decl(pair).map(Item::Field),
            Rule::require_decl | Rule::optional_decl => self.lower_requirement(pair),
            Rule::input_decl => self.lower_input_decl(pair).map(Item::Input),
            Rule::list_decl => self.lower_list_decl(pair).map(Item::List),
            Rule::table_decl => self.lower_table_decl(pair).map(Item::Table),
            Rule::map_decl | Rule::override_decl => self.lower_map_decl(pair),
            Rule::insert_decl => self.lower_insert_decl(pair),
            Rule::replace_decl => self.lower_replace_decl(pair),
            Rule::remove_decl => self.lower_remove_decl(pair),
            Rule::test_decl => self.lower_test_decl(pair).map(Item::Test),
            Rule::examples_decl => self.lower_examples_decl(pair).map(Item::Examples),
            Rule::reports_to_decl => self.lower_reports_to_decl(pair),
            _ => Err(self.shape(&pair, "a top-level item")),
        }
    }

    // ------------------------------------------------------------ tokens

    fn lower_ident(&self, pair: Pair<'_, Rule>) -> Result<Ident> {
        match pair.as_rule() {
            Rule::ident | Rule::k_else | Rule::attr_name => Ok(Ident {
                name: pair.as_str().to_string(),
                span: self.span(&pair),
            }),
            _ => Err(self.shape(&pair, "a name")),
        }
    }

    fn lower_string(&self, pair: Pair<'_, Rule>) -> Result<Str> {
        if pair.as_rule() != Rule::string {
            return Err(self.shape(&pair, "a string"));
        }
        let span = self.span(&pair);
        let raw = &pair.as_str()[1..pair.as_str().len() - 1];
        Ok(Str {
            value: unescape(raw)
                .map_err(|message| Diagnostic::error(Code::BadLiteral, span, message))?,
            span,
        })
    }

    fn lower_regex(&self, pair: Pair<'_, Rule>) -> Result<RegexLit> {
        if pair.as_rule() != Rule::regex {
            return Err(self.shape(&pair, "a regex"));
        }
        let span = self.span(&pair);
        let mut pattern = String::new();
        let mut flags = String::new();
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::regex_body => pattern = part.as_str().replace("\\/", "/"),
                Rule::regex_flags => flags = part.as_str().to_string(),
                _ => return Err(self.shape(&part, "a regex")),
            }
        }
        Ok(RegexLit {
            pattern,
            flags,
            span,
        })
    }

    fn lower_string_list(&self, pair: Pair<'_, Rule>) -> Result<Vec<Str>> {
        children(pair)
            .into_iter()
            .map(|p| self.lower_string(p))
            .collect()
    }

    // ------------------------------------------------------------ header

    fn lower_extends_decl(&self, pair: Pair<'_, Rule>) -> Result<Item> {
        let span = self.span(&pair);
        let parts = children(pair);
        Ok(Item::Extends(self.lower_string(self.nth(
            &parts,
            0,
            span,
            "file name",
        )?)?))
    }

    fn lower_alias_decl(&self, pair: Pair<'_, Rule>) -> Result<Item> {
        let span = self.span(&pair);
        let parts = children(pair);
        Ok(Item::Alias {
            name: self.lower_ident(self.nth(&parts, 0, span, "alias name")?)?,
            urn: self.lower_string(self.nth(&parts, 1, span, "alias URN")?)?,
        })
    }

    // ------------------------------------------------------------ the organisation graph

    fn lower_reports_to_decl(&self, pair: Pair<'_, Rule>) -> Result<Item> {
        let span = self.span(&pair);
        let parts: Vec<_> = children(pair)
            .into_iter()
            .filter(|p| p.as_rule() == Rule::ident)
            .collect();
        let manager = self.lower_ident(self.nth(&parts, 0, span, "manager input")?)?;
        let people = parts
            .into_iter()
            .skip(1)
            .map(|p| self.lower_ident(p))
            .collect::<Result<Vec<_>>>()?;
        if people.is_empty() {
            return Err(self.missing(span, "person input"));
        }
        Ok(Item::ReportsTo {
            manager,
            people,
            span,
        })
    }

    // ------------------------------------------------------------ fields

    fn lower_field_decl(&self, pair: Pair<'_, Rule>) -> Result<FieldDecl> {
        let span = self.span(&pair);
        let parts = children(pair);
        let name = self.lower_ident(self.nth(&parts, 0, span, "field name")?)?;
        let ty = self.lower_field_type(self.nth(&parts, 1, span, "field type")?)?;
        let required = parts.iter().any(|p| p.as_rule() == Rule::required);
        let recommended = parts.iter().any(|p| p.as_rule() == Rule::recommended);
        Ok(FieldDecl {
            name,
            ty,
            required,
            recommended,
        })
    }

    fn lower_requirement(&self, pair: Pair<'_, Rule>) -> Result<Item> {
        let span = self.span(&pair);
        let required = pair.as_rule() == Rule::require_decl;
        let parts = children(pair);
        Ok(Item::Requirement {
            field: self.lower_ident(self.nth(&parts, 0, span, "field name")?)?,
            required,
        })
    }

    fn lower_field_type(&self, pair: Pair<'_, Rule>) -> Result<FieldType> {
        let span = self.span(&pair);
        let inner = self.nth(&children(pair), 0, span, "type")?;
        match inner.as_rule() {
            Rule::enum_type => children(inner)
                .into_iter()
                .map(|value| self.lower_enum_value(value))
                .collect::<Result<Vec<_>>>()
                .map(FieldType::Enum),
            Rule::simple_type => match inner.as_str() {
                "text" => Ok(FieldType::Text),
                "flag" => Ok(FieldType::Flag),
                "email" => Ok(FieldType::Email),
                _ => Err(self.shape(&inner, "a field type")),
            },
            _ => Err(self.shape(&inner, "a field type")),
        }
    }

    fn lower_enum_value(&self, pair: Pair<'_, Rule>) -> Result<Str> {
        self.lower_out_value(pair).map(|(text, _)| text)
    }

    /// A string or a bare name, and whether it was quoted.
    fn lower_out_value(&self, pair: Pair<'_, Rule>) -> Result<(Str, bool)> {
        let span = self.span(&pair);
        let inner = self.nth(&children(pair), 0, span, "value")?;
        match inner.as_rule() {
            Rule::string => Ok((self.lower_string(inner)?, true)),
            Rule::ident => {
                let ident = self.lower_ident(inner)?;
                Ok((
                    Str {
                        value: ident.name,
                        span: ident.span,
                    },
                    false,
                ))
            }
            _ => Err(self.shape(&inner, "a value")),
        }
    }

    // ------------------------------------------------------------ inputs

    fn lower_input_decl(&self, pair: Pair<'_, Rule>) -> Result<InputDecl> {
        let span = self.span(&pair);
        let parts = children(pair);
        let name = self.lower_ident(self.nth(&parts, 0, span, "input name")?)?;
        let sources = children(self.nth(&parts, 1, span, "sources")?)
            .into_iter()
            .map(|source| self.lower_source(source))
            .collect::<Result<Vec<_>>>()?;
        let steps = parts
            .into_iter()
            .skip(2)
            .map(|step| self.lower_step(step))
            .collect::<Result<Vec<_>>>()?;
        Ok(InputDecl {
            name,
            sources,
            steps,
        })
    }

    fn lower_source(&self, pair: Pair<'_, Rule>) -> Result<SourceExpr> {
        let span = self.span(&pair);
        let inner = match pair.as_rule() {
            Rule::source | Rule::given_name | Rule::join_part => {
                self.nth(&children(pair), 0, span, "source")?
            }
            _ => pair,
        };
        match inner.as_rule() {
            Rule::input_ref => {
                let span = self.span(&inner);
                let ident =
                    self.lower_ident(self.nth(&children(inner), 0, span, "input name")?)?;
                Ok(SourceExpr::Input(ident))
            }
            Rule::column => {
                let string = self.nth(&children(inner), 0, span, "column name")?;
                Ok(SourceExpr::Column(self.lower_string(string)?))
            }
            Rule::path => self.lower_path(inner).map(SourceExpr::Path),
            Rule::join => {
                let span = self.span(&inner);
                let parts = children(inner);
                let separator = self.lower_string(self.nth(&parts, 0, span, "separator")?)?;
                let parts = parts
                    .into_iter()
                    .skip(1)
                    .map(|part| self.lower_source(part))
                    .collect::<Result<Vec<_>>>()?;
                Ok(SourceExpr::Join { separator, parts })
            }
            _ => Err(self.shape(&inner, "a source")),
        }
    }

    fn lower_path(&self, pair: Pair<'_, Rule>) -> Result<PathExpr> {
        let span = self.span(&pair);
        let text = pair.as_str().to_string();
        let mut prefix = None;
        let mut segments = Vec::new();
        for part in children(pair) {
            match part.as_rule() {
                Rule::path_prefix => {
                    let raw = part.as_str();
                    prefix = Some(raw.strip_suffix(':').unwrap_or(raw).to_string());
                }
                Rule::segment => segments.push(self.lower_segment(part)?),
                _ => return Err(self.shape(&part, "a path")),
            }
        }
        Ok(PathExpr {
            prefix,
            segments,
            text,
            span,
        })
    }

    fn lower_segment(&self, pair: Pair<'_, Rule>) -> Result<SegmentExpr> {
        let mut name = String::new();
        let mut filter = Vec::new();
        for part in children(pair) {
            match part.as_rule() {
                Rule::attr_name => name = part.as_str().to_string(),
                Rule::value_filter => {
                    for test in children(part) {
                        filter.push(self.lower_filter_test(test)?);
                    }
                }
                _ => return Err(self.shape(&part, "a path segment")),
            }
        }
        Ok(SegmentExpr { name, filter })
    }

    fn lower_filter_test(&self, pair: Pair<'_, Rule>) -> Result<FilterTestExpr> {
        let mut attribute = String::new();
        let mut op = String::new();
        let mut value = None;
        for part in children(pair) {
            match part.as_rule() {
                Rule::attr_name => attribute = part.as_str().to_string(),
                Rule::filter_op | Rule::filter_pr => op = part.as_str().to_string(),
                Rule::filter_value => {
                    let span = self.span(&part);
                    let inner = self.nth(&children(part), 0, span, "filter value")?;
                    value = Some(match inner.as_rule() {
                        Rule::string => self.lower_string(inner)?.value,
                        _ => inner.as_str().to_string(),
                    });
                }
                _ => return Err(self.shape(&part, "a value filter")),
            }
        }
        Ok(FilterTestExpr {
            attribute,
            op,
            value,
        })
    }

    fn lower_step(&self, pair: Pair<'_, Rule>) -> Result<StepCall> {
        let span = self.span(&pair);
        let parts = children(pair);
        let name = self.lower_ident(self.nth(&parts, 0, span, "step name")?)?;
        let mut args = Vec::new();
        if let Some(list) = parts.get(1).cloned() {
            for arg in children(list) {
                args.push(self.lower_step_arg(arg)?);
            }
        }
        Ok(StepCall { name, args, span })
    }

    fn lower_step_arg(&self, pair: Pair<'_, Rule>) -> Result<StepArg> {
        let span = self.span(&pair);
        let inner = self.nth(&children(pair), 0, span, "step argument")?;
        match inner.as_rule() {
            Rule::regex => self.lower_regex(inner).map(StepArg::Regex),
            Rule::string => self.lower_string(inner).map(StepArg::Str),
            Rule::number => Ok(StepArg::Number(Str {
                value: inner.as_str().to_string(),
                span: self.span(&inner),
            })),
            Rule::ident => self.lower_ident(inner).map(StepArg::Ident),
            _ => Err(self.shape(&inner, "a step argument")),
        }
    }

    // ------------------------------------------------------------ lists and tables

    fn lower_list_decl(&self, pair: Pair<'_, Rule>) -> Result<ListDecl> {
        let span = self.span(&pair);
        let parts = children(pair);
        Ok(ListDecl {
            name: self.lower_ident(self.nth(&parts, 0, span, "list name")?)?,
            extends: self.nth(&parts, 1, span, "`=` or `+=`")?.as_str() == "+=",
            words: self.lower_string_list(self.nth(&parts, 2, span, "words")?)?,
        })
    }

    fn lower_table_decl(&self, pair: Pair<'_, Rule>) -> Result<TableDecl> {
        let span = self.span(&pair);
        let parts = children(pair);
        let name = self.lower_ident(self.nth(&parts, 0, span, "table name")?)?;
        let body = self.nth(&parts, 1, span, "table body")?;
        let source = match body.as_rule() {
            Rule::table_inline => TableSource::Inline(
                children(body)
                    .into_iter()
                    .map(|entry| self.lower_table_entry(entry))
                    .collect::<Result<Vec<_>>>()?,
            ),
            Rule::table_csv => self.lower_table_csv(body)?,
            _ => return Err(self.shape(&body, "a table")),
        };
        Ok(TableDecl { name, source })
    }

    fn lower_table_entry(&self, pair: Pair<'_, Rule>) -> Result<TableEntry> {
        let span = self.span(&pair);
        let parts = children(pair);
        Ok(TableEntry {
            key: self.lower_string(self.nth(&parts, 0, span, "key")?)?,
            value: self.lower_out_value(self.nth(&parts, 1, span, "value")?)?.0,
        })
    }

    fn lower_table_csv(&self, pair: Pair<'_, Rule>) -> Result<TableSource> {
        let span = self.span(&pair);
        let parts = children(pair);
        let path = self.lower_string(self.nth(&parts, 0, span, "CSV file name")?)?;
        let (mut key, mut value) = (None, None);
        for option in parts.into_iter().skip(1) {
            let option_span = self.span(&option);
            let option_parts = children(option);
            let name = self.nth(&option_parts, 0, option_span, "option name")?;
            let column = self.lower_string(self.nth(&option_parts, 1, option_span, "column")?)?;
            match name.as_str() {
                "key" => key = Some(column),
                _ => value = Some(column),
            }
        }
        Ok(TableSource::Csv { path, key, value })
    }

    // ------------------------------------------------------------ rule lists

    fn lower_map_decl(&self, pair: Pair<'_, Rule>) -> Result<Item> {
        let overrides = pair.as_rule() == Rule::override_decl;
        let span = self.span(&pair);
        let parts = children(pair);
        Ok(Item::Map {
            field: self.lower_ident(self.nth(&parts, 0, span, "field name")?)?,
            overrides,
            rules: self.lower_rule_block(self.nth(&parts, 1, span, "rule block")?)?,
        })
    }

    fn lower_insert_decl(&self, pair: Pair<'_, Rule>) -> Result<Item> {
        let span = self.span(&pair);
        let parts = children(pair);
        Ok(Item::Insert {
            after: self.nth(&parts, 0, span, "position")?.as_str() == "after",
            target: self.lower_rule_ref(self.nth(&parts, 1, span, "rule reference")?)?,
            rules: self.lower_rule_block(self.nth(&parts, 2, span, "rule block")?)?,
        })
    }

    fn lower_replace_decl(&self, pair: Pair<'_, Rule>) -> Result<Item> {
        let span = self.span(&pair);
        let parts = children(pair);
        Ok(Item::Replace {
            target: self.lower_rule_ref(self.nth(&parts, 0, span, "rule reference")?)?,
            rules: self.lower_rule_block(self.nth(&parts, 1, span, "rule block")?)?,
        })
    }

    fn lower_remove_decl(&self, pair: Pair<'_, Rule>) -> Result<Item> {
        let span = self.span(&pair);
        let parts = children(pair);
        Ok(Item::Remove {
            target: self.lower_rule_ref(self.nth(&parts, 0, span, "rule reference")?)?,
        })
    }

    fn lower_rule_ref(&self, pair: Pair<'_, Rule>) -> Result<RuleRef> {
        let span = self.span(&pair);
        let parts = children(pair);
        Ok(RuleRef {
            field: self.lower_ident(self.nth(&parts, 0, span, "field name")?)?,
            rule: self.lower_ident(self.nth(&parts, 1, span, "rule id")?)?,
            span,
        })
    }

    fn lower_rule_block(&self, pair: Pair<'_, Rule>) -> Result<Vec<RuleDef>> {
        children(pair)
            .into_iter()
            .map(|rule| match rule.as_rule() {
                Rule::rule => self.lower_rule(rule),
                Rule::else_rule => self.lower_else_rule(rule),
                _ => Err(self.shape(&rule, "a rule block")),
            })
            .collect()
    }

    fn lower_rule(&self, pair: Pair<'_, Rule>) -> Result<RuleDef> {
        let span = self.span(&pair);
        let parts = children(pair);
        Ok(RuleDef {
            id: self.lower_ident(self.nth(&parts, 0, span, "rule id")?)?,
            condition: self.lower_condition(self.nth(&parts, 1, span, "condition")?)?,
            output: self.lower_output(self.nth(&parts, 2, span, "output")?)?,
            span,
        })
    }

    fn lower_else_rule(&self, pair: Pair<'_, Rule>) -> Result<RuleDef> {
        let span = self.span(&pair);
        let parts = children(pair);
        let keyword = self.nth(&parts, 0, span, "`else`")?;
        let id = self.lower_ident(keyword.clone())?;
        Ok(RuleDef {
            condition: Cond::Else(self.span(&keyword)),
            id,
            output: self.lower_output(self.nth(&parts, 1, span, "output")?)?,
            span,
        })
    }

    fn lower_output(&self, pair: Pair<'_, Rule>) -> Result<Output> {
        let span = self.span(&pair);
        let inner = self.nth(&children(pair), 0, span, "output")?;
        match inner.as_rule() {
            Rule::k_unset => Ok(Output::Unset(self.span(&inner))),
            Rule::table_lookup => {
                let lookup_span = self.span(&inner);
                let parts = children(inner);
                Ok(Output::Lookup {
                    table: self.lower_ident(self.nth(&parts, 0, lookup_span, "table name")?)?,
                    key: self.lower_ident(self.nth(&parts, 1, lookup_span, "key input")?)?,
                })
            }
            Rule::out_value => {
                let (text, quoted) = self.lower_out_value(inner)?;
                Ok(Output::Value { text, quoted })
            }
            _ => Err(self.shape(&inner, "an output")),
        }
    }

    // ------------------------------------------------------------ conditions

    fn lower_condition(&self, pair: Pair<'_, Rule>) -> Result<Cond> {
        let span = self.span(&pair);
        self.lower_disjunction(self.nth(&children(pair), 0, span, "condition")?)
    }

    fn lower_disjunction(&self, pair: Pair<'_, Rule>) -> Result<Cond> {
        let mut parts = children(pair)
            .into_iter()
            .map(|p| self.lower_conjunction(p))
            .collect::<Result<Vec<_>>>()?;
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Cond::Or(parts)
        })
    }

    fn lower_conjunction(&self, pair: Pair<'_, Rule>) -> Result<Cond> {
        let mut parts = children(pair)
            .into_iter()
            .map(|p| self.lower_negation(p))
            .collect::<Result<Vec<_>>>()?;
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Cond::And(parts)
        })
    }

    fn lower_negation(&self, pair: Pair<'_, Rule>) -> Result<Cond> {
        let span = self.span(&pair);
        let mut nots = Vec::new();
        let mut atom = None;
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::k_not => nots.push(self.span(&part)),
                Rule::p_open_paren | Rule::p_close_paren => {}
                Rule::disjunction => atom = Some(self.lower_disjunction(part)?),
                Rule::number_test => atom = Some(self.lower_number_test(part)?),
                Rule::reports_test => atom = Some(self.lower_reports_test(part)?),
                Rule::bad_compare => return Err(self.bad_compare(part)),
                Rule::predicate => atom = Some(self.lower_predicate(part)?),
                _ => return Err(self.shape(&part, "a condition")),
            }
        }
        if nots.len() > super::MAX_NESTING {
            return Err(Diagnostic::error(
                Code::TooDeep,
                span,
                format!("more than {} `not`s in a row", super::MAX_NESTING),
            )
            .with_help("two `not`s cancel out"));
        }
        let mut cond = atom.ok_or_else(|| self.missing(span, "condition"))?;
        for not_span in nots.into_iter().rev() {
            cond = Cond::Not(Box::new(cond), not_span.to(span));
        }
        Ok(cond)
    }

    /// `reprots >= 1` or `title == 5`: what to write instead.
    fn bad_compare(&self, pair: Pair<'_, Rule>) -> Diagnostic {
        let span = self.span(&pair);
        let text = pair.as_str().to_string();
        let parts = children(pair);
        let name = parts.first().map_or("", |p| p.as_str());
        let op = parts.get(1).map_or("==", |p| p.as_str());
        let number = parts.get(2).map_or("0", |p| p.as_str());
        let help = crate::diag::did_you_mean(name, ["reports"]).unwrap_or_else(|| {
            if op == "==" || op == "!=" {
                format!("compare text with a quoted string: `{name} {op} \"{number}\"`; or read a number with `number({name}, /(\\d+)/) {op} {number}`")
            } else {
                format!("read a number with `number({name}, /(\\d+)/) {op} {number}`; `reports {op} {number}` counts the people who report to the person")
            }
        });
        Diagnostic::error(
            Code::BadCompare,
            span,
            format!("`{text}`: an input is text and is not compared with a number"),
        )
        .with_help(help)
    }

    fn lower_reports_test(&self, pair: Pair<'_, Rule>) -> Result<Cond> {
        let span = self.span(&pair);
        let parts = children(pair);
        let op = compare_op(self.nth(&parts, 1, span, "comparison")?.as_str());
        let number = self.nth(&parts, 2, span, "number")?;
        let value = number
            .as_str()
            .parse::<f64>()
            .map_err(|_| Diagnostic::error(Code::BadLiteral, self.span(&number), "not a number"))?;
        Ok(Cond::Reports { op, value, span })
    }

    fn lower_number_test(&self, pair: Pair<'_, Rule>) -> Result<Cond> {
        let span = self.span(&pair);
        let parts = children(pair);
        let subject = self.lower_ident(self.nth(&parts, 0, span, "input")?)?;
        let regex = self.lower_regex(self.nth(&parts, 1, span, "regex")?)?;
        let op = compare_op(self.nth(&parts, 2, span, "comparison")?.as_str());
        let number = self.nth(&parts, 3, span, "number")?;
        let value = number
            .as_str()
            .parse::<f64>()
            .map_err(|_| Diagnostic::error(Code::BadLiteral, self.span(&number), "not a number"))?;
        Ok(Cond::Number {
            subject,
            regex,
            op,
            value,
            span,
        })
    }

    fn lower_predicate(&self, pair: Pair<'_, Rule>) -> Result<Cond> {
        let span = self.span(&pair);
        let parts = children(pair);
        let subject = self.lower_ident(self.nth(&parts, 0, span, "input")?)?;
        let test_pair = self.nth(&parts, 1, span, "test")?;
        let test_span = self.span(&test_pair);
        let test_rule = test_pair.as_rule();
        let args = children(test_pair);
        let arg = |i: usize| self.nth(&args, i, test_span, "test argument");
        let test = match test_rule {
            Rule::has_any => Test::HasAny(self.lower_word_list(arg(0)?)?),
            Rule::has_word => Test::HasAny(WordList::Inline(vec![self.lower_string(arg(0)?)?])),
            Rule::matches => Test::Matches(self.lower_regex(arg(0)?)?),
            Rule::equals => Test::Equals(self.lower_string(arg(0)?)?),
            Rule::not_equals => Test::NotEquals(self.lower_string(arg(0)?)?),
            Rule::in_table => Test::InTable(self.lower_ident(arg(0)?)?),
            Rule::in_list => Test::InList(self.lower_word_list(arg(0)?)?),
            Rule::starts_with => Test::StartsWith(self.lower_literal_set(arg(0)?)?),
            Rule::ends_with => Test::EndsWith(self.lower_literal_set(arg(0)?)?),
            Rule::contains => Test::Contains(self.lower_literal_set(arg(0)?)?),
            Rule::is_empty => Test::IsEmpty,
            Rule::is_present => Test::IsPresent,
            Rule::is_date => {
                let words: Vec<Rule> = children(arg(0)?).iter().map(Pair::as_rule).collect();
                let op = match words.as_slice() {
                    [Rule::k_on, Rule::k_before] => DateOp::OnOrBefore,
                    [Rule::k_on, Rule::k_after] => DateOp::OnOrAfter,
                    [Rule::k_before] => DateOp::Before,
                    _ => DateOp::After,
                };
                let against = self.nth(&children(arg(1)?), 0, test_span, "date")?;
                let against = match against.as_rule() {
                    Rule::k_today => None,
                    _ => Some(self.lower_string(against)?),
                };
                Test::Date { op, against }
            }
            _ => return Err(self.shape(&arg(0)?, "a test")),
        };
        Ok(Cond::Test(Predicate {
            subject,
            test,
            span,
        }))
    }

    fn lower_word_list(&self, pair: Pair<'_, Rule>) -> Result<WordList> {
        let span = self.span(&pair);
        let inner = self.nth(&children(pair), 0, span, "word list")?;
        match inner.as_rule() {
            Rule::string_list => self.lower_string_list(inner).map(WordList::Inline),
            Rule::ident => self.lower_ident(inner).map(WordList::Named),
            _ => Err(self.shape(&inner, "a word list")),
        }
    }

    fn lower_literal_set(&self, pair: Pair<'_, Rule>) -> Result<WordList> {
        let span = self.span(&pair);
        let inner = self.nth(&children(pair), 0, span, "literal")?;
        match inner.as_rule() {
            Rule::string => Ok(WordList::Inline(vec![self.lower_string(inner)?])),
            Rule::word_list => self.lower_word_list(inner),
            _ => Err(self.shape(&inner, "a literal")),
        }
    }

    // ------------------------------------------------------------ tests

    fn lower_test_decl(&self, pair: Pair<'_, Rule>) -> Result<TestDecl> {
        let span = self.span(&pair);
        let parts = children(pair);
        let name = self.lower_string(self.nth(&parts, 0, span, "test name")?)?;
        let mut given = Vec::new();
        let mut expect = Vec::new();
        let mut rows = Vec::new();
        for part in parts.into_iter().skip(1) {
            let part_span = self.span(&part);
            match part.as_rule() {
                Rule::given => {
                    let inner = children(part);
                    let source =
                        self.lower_source(self.nth(&inner, 0, part_span, "attribute")?)?;
                    let value = self.lower_string(self.nth(&inner, 1, part_span, "value")?)?;
                    given.push((Given { source }, value));
                }
                Rule::expect => {
                    let inner = children(part);
                    let first = self.nth(&inner, 0, part_span, "field")?;
                    if first.as_rule() == Rule::row_status {
                        rows.push((self.lower_row_status(first)?, part_span));
                        continue;
                    }
                    let field = self.lower_ident(first)?;
                    let value = self.lower_expected(self.nth(&inner, 1, part_span, "value")?)?;
                    expect.push((field, value));
                }
                _ => return Err(self.shape(&part, "a test")),
            }
        }
        Ok(TestDecl {
            name,
            given,
            expect,
            rows,
            span,
        })
    }

    fn lower_row_status(&self, pair: Pair<'_, Rule>) -> Result<ExpectedRow> {
        let parts = children(pair);
        match parts.first().map(Pair::as_rule) {
            Some(Rule::k_complete) => Ok(ExpectedRow::Complete),
            _ => parts
                .into_iter()
                .map(|p| self.lower_ident(p))
                .collect::<Result<Vec<_>>>()
                .map(ExpectedRow::Missing),
        }
    }

    fn lower_expected(&self, pair: Pair<'_, Rule>) -> Result<Expected> {
        match pair.as_rule() {
            Rule::k_unset => Ok(Expected::Unset(self.span(&pair))),
            Rule::out_value => Ok(Expected::Value(self.lower_out_value(pair)?.0)),
            _ => Err(self.shape(&pair, "an expected value")),
        }
    }

    fn lower_examples_decl(&self, pair: Pair<'_, Rule>) -> Result<ExamplesDecl> {
        let span = self.span(&pair);
        let parts = children(pair);
        let field = self.lower_ident(self.nth(&parts, 0, span, "field")?)?;
        let given = Given {
            source: self.lower_source(self.nth(&parts, 1, span, "attribute")?)?,
        };
        let mut rows = Vec::new();
        for example in parts.into_iter().skip(2) {
            let example_span = self.span(&example);
            let inner = children(example);
            let raw = self.lower_string(self.nth(&inner, 0, example_span, "example input")?)?;
            let expected =
                self.lower_expected(self.nth(&inner, 1, example_span, "expected value")?)?;
            rows.push((raw, expected));
        }
        Ok(ExamplesDecl {
            field,
            given,
            rows,
            span,
        })
    }
}

/// Resolves `\"`, `\\`, `\n`, `\t`, `\r` and `\u{…}` escapes.
fn unescape(raw: &str) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('u') => {
                let hex: String = chars
                    .by_ref()
                    .skip_while(|c| *c == '{')
                    .take_while(|c| *c != '}')
                    .collect();
                let code = u32::from_str_radix(&hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("`\\u{{{hex}}}` is not a Unicode scalar value"))?;
                out.push(code);
            }
            other => return Err(format!("unknown escape `\\{}`", other.unwrap_or(' '))),
        }
    }
    Ok(out)
}

/// The comparison a `compare_op` token spells.
fn compare_op(text: &str) -> CompareOp {
    match text {
        "<" => CompareOp::Lt,
        "<=" => CompareOp::Le,
        ">" => CompareOp::Gt,
        ">=" => CompareOp::Ge,
        "==" => CompareOp::Eq,
        _ => CompareOp::Ne,
    }
}
