//! Parse: the pest grammar, human names for its rules, and lowering to a spanned tree.

pub mod ast;
#[cfg(test)]
mod grammar_tests;
mod lower;
mod names;
mod parse;
mod parser;
pub mod sexpr;

pub use names::rule_name;
pub use parse::{parse, MAX_NESTING};
pub use parser::{Rule, RulesParser};
