//! "Never used" warnings, each where its reader can act on it.
//!
//! In the file that was asked for, an unused definition is reported where it is defined. In a
//! base it extends (the shared default a customer cannot edit), it is reported only when the
//! customer's own `override`, `replace` or `remove` dropped the base rules that read it, and
//! then at that change. After a syntax error nothing is reported: the broken text may well be
//! what used the name.

use std::collections::{HashMap, HashSet};

use super::Compiler;
use crate::diag::{Code, Diagnostic, Span};
use crate::syntax::ast;

/// What a definition is, as the warnings name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Kind {
    Input,
    List,
    Table,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Self::Input => "input",
            Self::List => "word list",
            Self::Table => "table",
        }
    }
}

/// The names the rules a later file dropped had read, and the change that dropped them.
#[derive(Debug)]
pub(super) struct Dropped {
    names: HashSet<(Kind, String)>,
    span: Span,
    what: String,
}

impl Compiler<'_> {
    /// Notes the names `rules` read, now that `what` (at `span`) has dropped them.
    pub(super) fn note_dropped(&mut self, rules: &[ast::RuleDef], span: Span, what: String) {
        let mut names = HashSet::new();
        for rule in rules {
            names_in_cond(&rule.condition, &mut names);
            match &rule.output {
                ast::Output::Value {
                    text,
                    quoted: false,
                } => {
                    names.insert((Kind::Input, text.value.clone()));
                }
                ast::Output::Lookup { table, key } => {
                    names.insert((Kind::Table, table.name.clone()));
                    names.insert((Kind::Input, key.name.clone()));
                }
                _ => {}
            }
        }
        if !names.is_empty() {
            self.dropped.push(Dropped { names, span, what });
        }
    }

    pub(super) fn lint_unused(&mut self) {
        if self
            .diagnostics
            .items
            .iter()
            .any(|d| d.code == Code::Syntax)
        {
            return;
        }
        let mut unused: Vec<(Kind, String, Span)> = Vec::new();
        for (name, (_, span)) in &self.list_decls {
            if !self.used_lists.contains(name) {
                unused.push((Kind::List, name.clone(), *span));
            }
        }
        for (name, (decl, _)) in &self.table_decls {
            if !self.used_tables.contains(name) {
                unused.push((Kind::Table, name.clone(), decl.name.span));
            }
        }
        for (name, (decl, _)) in &self.input_decls {
            if !self.used_inputs.contains(name) {
                unused.push((Kind::Input, name.clone(), decl.name.span));
            }
        }
        unused.sort_by_key(|(_, _, span)| (span.file, span.start));
        let blamed = self.blame(&unused);
        for (kind, name, span) in unused {
            let noun = kind.noun();
            if Some(span.file) == self.top || self.top.is_none() {
                self.diagnostics.push(Diagnostic::warning(
                    Code::Unused,
                    span,
                    format!("{noun} `{name}` is never used"),
                ));
            } else if let Some((at, what)) = blamed.get(&(kind, name.clone())) {
                let at = *at;
                let defined = self.sources.cite(span);
                self.diagnostics.push(Diagnostic::warning(
                    Code::Unused,
                    at,
                    format!("after {what}, {noun} `{name}` ({defined}) is never used"),
                ));
            }
        }
    }

    /// For each unused base definition that a later file's change left unused, that change:
    /// the names its dropped rules read, and the inputs only those inputs read (`@input`).
    fn blame(&self, unused: &[(Kind, String, Span)]) -> HashMap<(Kind, String), (Span, String)> {
        let unused_names: HashSet<(Kind, &str)> =
            unused.iter().map(|(k, n, _)| (*k, n.as_str())).collect();
        let mut blamed: HashMap<(Kind, String), (Span, String)> = HashMap::new();
        for dropped in &self.dropped {
            for (kind, name) in &dropped.names {
                if unused_names.contains(&(*kind, name.as_str())) {
                    blamed
                        .entry((*kind, name.clone()))
                        .or_insert_with(|| (dropped.span, dropped.what.clone()));
                }
            }
        }
        // An unused input read only by a blamed input is blamed on the same change.
        loop {
            let mut more = Vec::new();
            for ((kind, name), change) in &blamed {
                if *kind != Kind::Input {
                    continue;
                }
                let Some((decl, _)) = self.input_decls.get(name) else {
                    continue;
                };
                for source in &decl.sources {
                    if let ast::SourceExpr::Input(parent) = source {
                        let key = (Kind::Input, parent.name.clone());
                        if unused_names.contains(&(Kind::Input, parent.name.as_str()))
                            && !blamed.contains_key(&key)
                        {
                            more.push((key, change.clone()));
                        }
                    }
                }
            }
            if more.is_empty() {
                break;
            }
            blamed.extend(more);
        }
        blamed
    }
}

/// The inputs, word lists and tables a condition reads.
fn names_in_cond(cond: &ast::Cond, names: &mut HashSet<(Kind, String)>) {
    match cond {
        ast::Cond::Else(_) | ast::Cond::Reports { .. } => {}
        ast::Cond::Or(parts) | ast::Cond::And(parts) => {
            parts.iter().for_each(|p| names_in_cond(p, names));
        }
        ast::Cond::Not(inner, _) => names_in_cond(inner, names),
        ast::Cond::Number { subject, .. } => {
            names.insert((Kind::Input, subject.name.clone()));
        }
        ast::Cond::Test(predicate) => {
            names.insert((Kind::Input, predicate.subject.name.clone()));
            match &predicate.test {
                ast::Test::HasAny(list)
                | ast::Test::InList(list)
                | ast::Test::StartsWith(list)
                | ast::Test::EndsWith(list)
                | ast::Test::Contains(list) => {
                    if let ast::WordList::Named(name) = list {
                        names.insert((Kind::List, name.name.clone()));
                    }
                }
                ast::Test::InTable(table) => {
                    names.insert((Kind::Table, table.name.clone()));
                }
                _ => {}
            }
        }
    }
}
