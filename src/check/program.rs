use std::path::Path;

use crate::eval::profile::Profile;
use crate::value::{AttrPath, ColumnBinding, Record};

/// A compiled rule file: immutable, `Send + Sync`, shared behind an `Arc`.
#[derive(Debug)]
pub struct Program {
    paths: Vec<AttrPath>,
    version: String,
}

/// Errors found while loading a rule file (placeholder until the checker lands).
#[derive(Debug)]
pub struct LoadError(pub String);

impl Program {
    pub fn load(path: &Path) -> Result<Program, LoadError> {
        Err(LoadError(format!("{}: not implemented yet", path.display())))
    }
    pub fn apply(&self, _record: &dyn Record) -> Profile {
        Profile { fields: Vec::new() }
    }
    /// A per-thread evaluator that caches results per distinct raw value (real exports repeat
    /// the same titles and flags); use one per worker thread in bulk runs.
    pub fn evaluator(&self) -> Evaluator<'_> {
        Evaluator { program: self }
    }
    pub fn paths(&self) -> &[AttrPath] {
        &self.paths
    }
    pub fn bind_columns<'h>(&self, header: impl IntoIterator<Item = &'h str>) -> ColumnBinding {
        ColumnBinding::new(&self.paths, header)
    }
    pub fn version(&self) -> &str {
        &self.version
    }
}

/// Cached evaluation of one program, for one thread.
pub struct Evaluator<'p> {
    program: &'p Program,
}

impl Evaluator<'_> {
    pub fn apply(&mut self, record: &dyn Record) -> Profile {
        self.program.apply(record)
    }
}
