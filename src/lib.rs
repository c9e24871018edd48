//! Canon turns the raw employee attributes customers send (SCIM 2.0 from Okta, HRIS/Okta CSV
//! exports) into one clean canonical profile per person, driven by a rule file per customer.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod check;
pub mod eval;
pub mod value;

pub use check::Program;
pub use eval::profile::{FieldNote, FieldOutcome, Profile, RuleRef};
pub use value::{ColumnBinding, CsvRecord, FlatRecord, JsonRecord, Record};
