//! Merging a chain of rule files, base first: each name defined once per file; `insert`,
//! `replace`, `remove` and `override` applied to the base's rule lists.

use std::collections::HashSet;

use super::{Compiler, RuleList};
use crate::diag::{did_you_mean, Code, FileId};
use crate::syntax::ast;

impl Compiler<'_> {
    /// Notes that this file defines `kind` `name`; a second definition in one file is an error.
    pub(super) fn define_once(
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

    pub(super) fn merge_file(&mut self, file: FileId, tree: ast::RuleFile, own: bool) {
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
                ast::Item::Requirement { field, required } => {
                    if !defined_here.insert(("requirement", field.name.clone())) {
                        self.error(
                            Code::DuplicateName,
                            field.span,
                            format!("this file says twice whether `{}` is required", field.name),
                        );
                    }
                    self.requirements.push((field, required));
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
                            Some(format!(
                                "a field is declared once (in the base file); change its rules with `override`, `insert` or `replace`, and whether it must be set with `{} {}`",
                                if field.required { "require" } else { "optional" },
                                field.name.name
                            )),
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
                        let gone: Vec<_> = list.rules.splice(index..=index, rules).collect();
                        self.note_dropped(
                            &gone,
                            target.span,
                            format!("`replace {}.{}`", target.field.name, target.rule.name),
                        );
                    }
                    None => self.orphans.push((target.field.name.clone(), rules)),
                },
                ast::Item::Remove { target } => {
                    if let Some((list, index)) = self.find_rule(&target) {
                        let gone = list.rules.remove(index);
                        self.note_dropped(
                            &[gone],
                            target.span,
                            format!("`remove {}.{}`", target.field.name, target.rule.name),
                        );
                    }
                }
                ast::Item::ReportsTo {
                    manager,
                    people,
                    span,
                } => self.reports_to.push((manager, people, span)),
                test @ (ast::Item::Test(_) | ast::Item::Examples(_)) => {
                    self.tests.push((test, own))
                }
            }
        }
    }

    pub(super) fn merge_map(
        &mut self,
        field: ast::Ident,
        overrides: bool,
        rules: Vec<ast::RuleDef>,
    ) {
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
        let span = field.span;
        let what = format!("`override {}`", field.name);
        if let Some(old) = self.maps.insert(field.name, RuleList { rules }) {
            self.note_dropped(&old.rules, span, what);
        }
    }

    /// The rule list and index a `field.rule` reference names, or a diagnostic.
    pub(super) fn find_rule(&mut self, target: &ast::RuleRef) -> Option<(&mut RuleList, usize)> {
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
}
