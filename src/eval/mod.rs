//! Apply: the interpreter, its budget, and traces (explain).
pub mod profile;
