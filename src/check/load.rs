//! Reading a rule file, the chain of files it `extends` (base first) and the table CSVs they
//! name: every file read of a load happens here, so compiling is a function of what was read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::diag::{Code, Diagnostic, Diagnostics, FileId, SourceFile, Sources, Span};
use crate::syntax::ast::{Item, RuleFile, TableDecl, TableSource};
use crate::syntax::parse;

/// The bytes of each table CSV a loaded file declares, keyed by that file and the path as
/// written (relative to the file); or why it could not be read, as the message to report.
pub type TableFiles = HashMap<(FileId, String), Result<Vec<u8>, String>>;

/// The parsed files of one load, base first; the last is the file that was asked for.
pub struct Chain {
    pub files: Vec<(FileId, RuleFile)>,
    pub tables: TableFiles,
}

/// Loads `path` and, recursively, its base. `cited_by` is the `extends` that named it.
pub fn load_chain(
    path: &Path,
    name: String,
    sources: &mut Sources,
    diagnostics: &mut Diagnostics,
) -> Chain {
    let mut chain = Chain {
        files: Vec::new(),
        tables: TableFiles::new(),
    };
    let mut stack = Vec::new();
    load_into(
        path,
        name,
        None,
        sources,
        diagnostics,
        &mut stack,
        &mut chain,
    );
    chain
}

/// Like [`load_chain`] for text already in memory.
pub fn load_text(
    name: &str,
    text: &str,
    sources: &mut Sources,
    diagnostics: &mut Diagnostics,
) -> Chain {
    let mut chain = Chain {
        files: Vec::new(),
        tables: TableFiles::new(),
    };
    let mut stack = Vec::new();
    let path = PathBuf::from(name);
    add_and_parse(
        &path,
        name.to_string(),
        text.to_string(),
        sources,
        diagnostics,
        &mut stack,
        &mut chain,
    );
    chain
}

fn load_into(
    path: &Path,
    name: String,
    cited_by: Option<Span>,
    sources: &mut Sources,
    diagnostics: &mut Diagnostics,
    stack: &mut Vec<PathBuf>,
    chain: &mut Chain,
) {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => {
            let message = format!("cannot read `{name}`: {error}");
            diagnostics.push(match cited_by {
                Some(span) => Diagnostic::error(Code::Io, span, message),
                None => Diagnostic::unplaced(Code::Io, message),
            });
            return;
        }
    };
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if stack.contains(&canonical) {
        let cycle: Vec<String> = stack
            .iter()
            .chain(std::iter::once(&canonical))
            .map(|p| {
                p.file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            })
            .collect();
        let message = format!("`extends` cycle: {}", cycle.join(" → "));
        diagnostics.push(match cited_by {
            Some(span) => Diagnostic::error(Code::ExtendsCycle, span, message),
            None => Diagnostic::unplaced(Code::ExtendsCycle, message),
        });
        return;
    }
    stack.push(canonical);
    add_and_parse(path, name, text, sources, diagnostics, stack, chain);
    stack.pop();
}

fn add_and_parse(
    path: &Path,
    name: String,
    text: String,
    sources: &mut Sources,
    diagnostics: &mut Diagnostics,
    stack: &mut Vec<PathBuf>,
    chain: &mut Chain,
) {
    let file = sources.add(SourceFile {
        path: path.to_path_buf(),
        name: name.clone(),
        text,
    });
    let text = sources
        .get(file)
        .map(|f| f.text.clone())
        .unwrap_or_default();
    let (tree, parse_diagnostics) = parse(&text, file);
    for diagnostic in parse_diagnostics {
        diagnostics.push(diagnostic);
    }
    let mut bases = tree.items.iter().filter_map(|item| match item {
        Item::Extends(target) => Some(target.clone()),
        _ => None,
    });
    if let Some(base) = bases.next() {
        let base_path = path.parent().unwrap_or(Path::new("")).join(&base.value);
        let base_name = tidy(
            &Path::new(&name)
                .parent()
                .unwrap_or(Path::new(""))
                .join(&base.value),
        );
        load_into(
            &base_path,
            base_name,
            Some(base.span),
            sources,
            diagnostics,
            stack,
            chain,
        );
    }
    read_tables(path, file, &tree, &mut chain.tables);
    for extra in bases {
        diagnostics.push(
            Diagnostic::error(
                Code::Syntax,
                extra.span,
                "a rule file extends at most one base",
            )
            .with_help("put shared rules in the base, or chain the files: a extends b extends c"),
        );
    }
    chain.files.push((file, tree));
}

/// Reads every CSV table that `tree` (the file `file`, at `path`) declares; the compiler
/// reports a failed read where the table is used, as it reports the table's other problems.
fn read_tables(path: &Path, file: FileId, tree: &RuleFile, tables: &mut TableFiles) {
    let dir = path.parent().unwrap_or(Path::new(""));
    for item in &tree.items {
        let Item::Table(TableDecl {
            source: TableSource::Csv { path: csv, .. },
            ..
        }) = item
        else {
            continue;
        };
        let full = dir.join(&csv.value);
        let read = std::fs::read(&full)
            .map_err(|error| format!("cannot read table CSV `{}`: {error}", full.display()));
        tables.insert((file, csv.value.clone()), read);
    }
}

/// `rules/examples/../default.rules` → `rules/default.rules`, for messages (lexical only).
fn tidy(path: &Path) -> String {
    use std::path::Component;
    let mut parts: Vec<Component> = Vec::new();
    for component in path.components() {
        match component {
            Component::ParentDir if matches!(parts.last(), Some(Component::Normal(_))) => {
                parts.pop();
            }
            Component::CurDir => {}
            other => parts.push(other),
        }
    }
    parts
        .iter()
        .collect::<PathBuf>()
        .to_string_lossy()
        .into_owned()
}
