//! Compile: name resolution, type checks, lints, and the immutable [`Program`].
mod program;
pub use program::{Evaluator, Program};
