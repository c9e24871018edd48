//! Check and compile: loading the `extends` chain, name resolution, type checks, lints, and the
//! immutable [`Program`]. Every file is read by [`load`]; compiling is a function of the
//! sources read.

mod compile;
mod error;
mod lint;
mod load;
pub mod schema;

use std::path::Path;

pub use error::{summary_line, LoadError};

use crate::program::Program;

impl Program {
    /// Loads, checks and compiles the rule file at `path` and every file it extends. Warnings
    /// are kept in [`Program::warnings`]; any error fails the load with every diagnostic.
    pub fn load(path: &Path) -> Result<Program, LoadError> {
        compile::load_program(path)
    }

    /// Compiles rule-file text held in memory (`name` is how messages cite it; `extends` and
    /// table CSVs resolve against the current directory).
    pub fn from_source(name: &str, text: &str) -> Result<Program, LoadError> {
        compile::compile_source(name, text)
    }
}
