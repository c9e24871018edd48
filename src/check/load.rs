//! Reading a rule file, the chain of files it `extends` (base first) and the table CSVs they
//! name: every file read of a load happens here, so compiling is a function of what was read.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use crate::diag::{Code, Diagnostic, Diagnostics, FileId, SourceFile, Sources, Span};
use crate::syntax::ast::{Item, RuleFile, TableDecl, TableSource};
use crate::syntax::parse;

/// The bytes of each table CSV a loaded file declares, keyed by that file and the path as
/// written (relative to the file); or why it could not be read, as the message to report.
pub type TableFiles = HashMap<(FileId, String), Result<Vec<u8>, String>>;

/// Where a load reads the files a rule file names (its base, its table CSVs).
#[derive(Debug, Clone, Copy)]
pub enum Files<'a> {
    Disk,
    /// Files held in memory, by path (as a rule file names them, from the loaded file's
    /// directory): nothing is read from disk, and a file not here cannot be read.
    Memory(&'a [(String, Vec<u8>)]),
}

impl Files<'_> {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        match self {
            Files::Disk => std::fs::read(path),
            Files::Memory(files) => {
                let wanted = tidy(path);
                files
                    .iter()
                    .find(|(name, _)| tidy(Path::new(name)) == wanted)
                    .map(|(_, bytes)| bytes.clone())
                    .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))
            }
        }
    }

    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        match self {
            Files::Disk => std::fs::read_to_string(path),
            Files::Memory(_) => String::from_utf8(self.read(path)?).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "stream did not contain valid UTF-8",
                )
            }),
        }
    }

    /// One name for a file however a path spells it, to find `extends` cycles.
    fn canonical(&self, path: &Path) -> PathBuf {
        match self {
            Files::Disk => std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
            Files::Memory(_) => PathBuf::from(tidy(path)),
        }
    }
}

/// The parsed files of one load, base first; the last is the file that was asked for.
pub struct Chain {
    pub files: Vec<(FileId, RuleFile)>,
    pub tables: TableFiles,
}

/// One load in progress: where it reads, what it has read, and the `extends` being followed.
struct Load<'a> {
    files: Files<'a>,
    sources: &'a mut Sources,
    diagnostics: &'a mut Diagnostics,
    stack: Vec<PathBuf>,
    chain: Chain,
}

impl<'a> Load<'a> {
    fn new(files: Files<'a>, sources: &'a mut Sources, diagnostics: &'a mut Diagnostics) -> Self {
        Load {
            files,
            sources,
            diagnostics,
            stack: Vec::new(),
            chain: Chain {
                files: Vec::new(),
                tables: TableFiles::new(),
            },
        }
    }
}

/// Loads `path` and, recursively, its base.
pub fn load_chain(
    path: &Path,
    name: String,
    sources: &mut Sources,
    diagnostics: &mut Diagnostics,
) -> Chain {
    let mut load = Load::new(Files::Disk, sources, diagnostics);
    load.load_into(path, name, None);
    load.chain
}

/// Like [`load_chain`] for text already in memory; its base and tables are read from `files`.
pub fn load_text(
    name: &str,
    text: &str,
    files: Files<'_>,
    sources: &mut Sources,
    diagnostics: &mut Diagnostics,
) -> Chain {
    let mut load = Load::new(files, sources, diagnostics);
    load.add_and_parse(&PathBuf::from(name), name.to_string(), text.to_string());
    load.chain
}

impl Load<'_> {
    /// Loads `path` and its base. `cited_by` is the `extends` that named it.
    fn load_into(&mut self, path: &Path, name: String, cited_by: Option<Span>) {
        let text = match self.files.read_to_string(path) {
            Ok(text) => text,
            Err(error) => {
                let message = format!("cannot read `{name}`: {error}");
                self.diagnostics.push(match cited_by {
                    Some(span) => Diagnostic::error(Code::Io, span, message),
                    None => Diagnostic::unplaced(Code::Io, message),
                });
                return;
            }
        };
        let canonical = self.files.canonical(path);
        if self.stack.contains(&canonical) {
            let cycle: Vec<String> = self
                .stack
                .iter()
                .chain(std::iter::once(&canonical))
                .map(|p| {
                    p.file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
                })
                .collect();
            let message = format!("`extends` cycle: {}", cycle.join(" → "));
            self.diagnostics.push(match cited_by {
                Some(span) => Diagnostic::error(Code::ExtendsCycle, span, message),
                None => Diagnostic::unplaced(Code::ExtendsCycle, message),
            });
            return;
        }
        self.stack.push(canonical);
        self.add_and_parse(path, name, text);
        self.stack.pop();
    }

    fn add_and_parse(&mut self, path: &Path, name: String, text: String) {
        let file = self.sources.add(SourceFile {
            path: path.to_path_buf(),
            name: name.clone(),
            text,
        });
        let text = self
            .sources
            .get(file)
            .map(|f| f.text.clone())
            .unwrap_or_default();
        let (tree, parse_diagnostics) = parse(&text, file);
        for diagnostic in parse_diagnostics {
            self.diagnostics.push(diagnostic);
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
            self.load_into(&base_path, base_name, Some(base.span));
        }
        self.read_tables(path, file, &tree);
        for extra in bases {
            self.diagnostics.push(
                Diagnostic::error(
                    Code::Syntax,
                    extra.span,
                    "a rule file extends at most one base",
                )
                .with_help(
                    "put shared rules in the base, or chain the files: a extends b extends c",
                ),
            );
        }
        self.chain.files.push((file, tree));
    }

    /// Reads every CSV table that `tree` (the file `file`, at `path`) declares; the compiler
    /// reports a failed read where the table is used, as it reports the table's other
    /// problems.
    fn read_tables(&mut self, path: &Path, file: FileId, tree: &RuleFile) {
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
            let read = self
                .files
                .read(&full)
                .map_err(|error| format!("cannot read table CSV `{}`: {error}", full.display()));
            self.chain.tables.insert((file, csv.value.clone()), read);
        }
    }
}

/// `rules/examples/../default.rules` → `rules/default.rules`, for messages (lexical only).
pub(super) fn tidy(path: &Path) -> String {
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
