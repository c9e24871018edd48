//! Compile: merge a file chain (base first), resolve every name, check types, build the
//! immutable [`Program`]. Every problem is collected; nothing stops at the first.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::lint;
use super::load::{load_chain, load_text, Chain, Files, TableFiles};
mod fields;
mod inputs;
mod merge;
mod org;
mod rule_tests;
mod tables;
mod unused;

use super::error::LoadError;
use super::schema;
use crate::diag::{Code, Diagnostic, Diagnostics, FileId, Sources, Span};
use crate::program::steps::Step;
use crate::program::*;
use crate::syntax::ast;
use crate::value::{AttrPath, SourceId};
use regex::Regex;

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

/// [`load_program`], and every file the load read besides `path` itself (its `extends`
/// chain, the table CSVs), each named by its path relative to `path`'s folder: what
/// [`compile_source`] with [`Files::Memory`] needs to build the same program without files.
pub fn load_program_and_files(path: &Path) -> Result<(Program, super::FilesRead), LoadError> {
    let mut sources = Sources::default();
    let mut diagnostics = Diagnostics::default();
    let chain = load_chain(
        path,
        path.to_string_lossy().into_owned(),
        &mut sources,
        &mut diagnostics,
    );
    let folder = path.parent().unwrap_or(Path::new(""));
    let relative = |read: &Path| -> String {
        let name = read.strip_prefix(folder).unwrap_or(read);
        super::load::tidy(name)
    };
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: String, bytes: Vec<u8>| {
        if !files.iter().any(|(n, _)| *n == name) {
            files.push((name, bytes));
        }
    };
    // The last file of the chain is `path` itself.
    let bases = chain.files.len().saturating_sub(1);
    for (file, _) in &chain.files[..bases] {
        if let Some(source) = sources.get(*file) {
            add(relative(&source.path), source.text.clone().into_bytes());
        }
    }
    let mut tables: Vec<_> = chain.tables.iter().collect();
    tables.sort_by(|a, b| a.0.cmp(b.0));
    for ((file, csv), read) in tables {
        if let (Some(source), Ok(bytes)) = (sources.get(*file), read) {
            let dir = source.path.parent().unwrap_or(Path::new(""));
            add(relative(&dir.join(csv)), bytes.clone());
        }
    }
    Ok((finish(chain, sources, diagnostics)?, files))
}

pub fn compile_source(name: &str, text: &str, files: Files<'_>) -> Result<Program, LoadError> {
    let mut sources = Sources::default();
    let mut diagnostics = Diagnostics::default();
    let chain = load_text(name, text, files, &mut sources, &mut diagnostics);
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
    /// The file that was asked for (the customer's), the last of the chain.
    top: Option<FileId>,
    /// Names that base rules dropped by a later file's `override`, `replace` or `remove` read,
    /// with the place and words of that change: what a "never used" warning points at.
    dropped: Vec<unused::Dropped>,
    /// `require FIELD` / `optional FIELD`, base first: the last one for a field wins.
    requirements: Vec<(ast::Ident, bool)>,
    tests: Vec<(ast::Item, bool)>,
    /// `reports_to` declarations of the whole chain, base first (a customer file adds links).
    reports_to: Vec<(ast::Ident, Vec<ast::Ident>, Span)>,
    /// Where `reports` is tested, in compile order.
    reports_uses: Vec<Span>,
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
    /// Table CSVs as `load` read them.
    table_files: TableFiles,
    /// Position of each file in the chain (base first), by FileId: "later" means higher.
    file_rank: Vec<usize>,
    /// Regexes compiled so far, by pattern (flags inline): a pattern written twice is
    /// compiled once (a regex shares its engines when cloned). Building a regex's engines
    /// is most of what loading a rule file costs.
    regexes: HashMap<String, Regex>,
    /// `replace` steps built so far, by pattern and replacement, with their gates.
    replace_steps: HashMap<(String, String), Step>,
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
            top: None,
            dropped: Vec::new(),
            requirements: Vec::new(),
            tests: Vec::new(),
            reports_to: Vec::new(),
            reports_uses: Vec::new(),
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
            table_files: TableFiles::new(),
            file_rank: Vec::new(),
            regexes: HashMap::new(),
            replace_steps: HashMap::new(),
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
        self.table_files = chain.tables;
        let top = chain.files.last().map(|(file, _)| *file);
        self.top = top;
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
        let reports_to = self.compile_reports_to();
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
            reports_to,
        };
        lint::lint(&program, self.diagnostics);
        program
    }
}
