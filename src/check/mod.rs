//! Compile: loading the `extends` chain, name resolution, type checks, lints, and the
//! immutable [`Program`].

mod compile;
mod lint;
mod load;
pub mod program;
pub mod schema;

pub use program::{LoadError, Program, RuleTest};
