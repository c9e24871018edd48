//! Canon turns the raw employee attributes customers send (SCIM 2.0 from Okta, HRIS/Okta CSV
//! exports) into one clean canonical profile per person, driven by a rule file per customer.
//!
//! Three stages, one entry each: a rule file is **loaded** (parsed and checked, every problem
//! reported with its place), **compiled** once into an immutable [`Program`] (`Send + Sync`,
//! share it as `Arc<Program>`), then **applied** to any number of records:
//!
//! ```
//! use canon::{FlatRecord, JsonRecord, Program};
//!
//! let program = Program::from_source("example.rules", r#"
//!     field management_level: enum(Manager, Director, VP, "Individual Contributor") required
//!     field manager_email: email
//!     input title = title, "Job Title" | nfkc | lower | words
//!     input boss = enterprise:manager.value, managerEmail | trim | lower
//!     map management_level {
//!       rule vp: title has any ["vp", "vice president"] -> VP
//!       rule director: title has "director" -> Director
//!       else -> "Individual Contributor"
//!     }
//!     map manager_email { rule given: boss is present -> boss }
//! "#).expect("the rules compile");
//!
//! // A CSV row (column names) …
//! let row = FlatRecord::from_pairs([("Job Title", "Vice-President, Sales"), ("managerEmail", " Ana@Example.com ")]);
//! let profile = program.apply(&row);
//! assert_eq!(profile.get("management_level"), Some("VP"));
//! assert_eq!(profile.get("manager_email"), Some("ana@example.com"));
//!
//! // … or a SCIM user, with the rule that decided each field.
//! let user = serde_json::json!({"title": "Directory Services Engineer"});
//! let profile = program.apply(&JsonRecord::new(&user));
//! assert_eq!(profile.get("management_level"), Some("Individual Contributor"));
//! assert_eq!(profile.field("management_level").unwrap().rule.as_ref().unwrap().id.as_ref(), "else");
//!
//! // `explain` says why, step by step.
//! let trace = program.explain(&JsonRecord::new(&user));
//! assert!(trace.render().contains("no such word"));
//! ```
//!
//! Rule files on disk load with [`Program::load`], which follows `extends` and reads table CSVs;
//! its error renders every diagnostic as `file:line:col: error[CODE]: message`. For bulk runs,
//! [`Program::evaluator`] gives a per-thread evaluator that caches results per distinct raw
//! value.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod check;
pub mod cli;
pub mod console;
pub mod diag;
pub mod eval;
#[doc(hidden)]
pub mod fuzzing;
pub mod gen;
pub mod input;
pub mod program;
pub mod report;
pub mod scim;
pub mod store;
pub mod syntax;
pub mod value;

pub use check::LoadError;
pub use eval::profile::{FieldNote, FieldOutcome, Profile, RuleRef};
pub use eval::{Evaluator, Trace};
pub use program::Program;
pub use value::{ColumnBinding, CsvFields, CsvRecord, FlatRecord, JsonRecord, Record};
