//! Canon turns the raw employee attributes customers send (SCIM 2.0 from Okta, HRIS/Okta CSV
//! exports) into one clean canonical profile per person, driven by a rule file per customer.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod check;
pub mod cli;
pub mod diag;
pub mod eval;
pub mod syntax;
pub mod value;

pub use check::{LoadError, Program};
pub use eval::profile::{FieldNote, FieldOutcome, Profile, RuleRef};
pub use eval::{Evaluator, Trace};
pub use value::{ColumnBinding, CsvRecord, FlatRecord, JsonRecord, Record};
