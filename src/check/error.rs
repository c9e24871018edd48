//! Why a rule file did not load, and how that reads.

use std::sync::Arc;

use crate::diag::{Diagnostics, Sources};

/// Why a rule file did not load: every diagnostic (errors and warnings), with the sources
/// they point into.
#[derive(Debug, Clone)]
pub struct LoadError {
    pub diagnostics: Diagnostics,
    pub sources: Arc<Sources>,
}

impl LoadError {
    /// Every diagnostic rendered for people, then a summary line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for diagnostic in &self.diagnostics.items {
            out.push_str(&diagnostic.render(&self.sources));
            out.push('\n');
        }
        out.push_str(&summary_line(&self.diagnostics));
        out
    }

    /// The diagnostics as JSON (for the SCIM service's reload answer).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.diagnostics
                .items
                .iter()
                .map(|d| d.to_json(&self.sources))
                .collect(),
        )
    }
}

/// "2 errors, 1 warning"
pub fn summary_line(diagnostics: &Diagnostics) -> String {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    format!(
        "{}, {}\n",
        plural(diagnostics.error_count(), "error"),
        plural(diagnostics.warning_count(), "warning")
    )
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::error::Error for LoadError {}
