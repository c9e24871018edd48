//! Diagnostics: a place in a source file, a stable code, a message and concrete help.
//!
//! Every stage reports into a [`Diagnostics`] list instead of stopping at the first problem.
//! Rendering for people (`file:line:col: error[CODE]: message`, the source line and a caret)
//! lives here too, without colours, so snapshots and the SCIM service see the same text; the
//! SCIM service sends [`Diagnostic::to_json`] instead.

mod code;
mod source;

pub use code::Code;
pub use source::{FileId, SourceFile, Sources, Span};

use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// One problem: where, what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    pub message: String,
    pub span: Option<Span>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: Code, span: Span, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code,
            message: message.into(),
            span: Some(span),
            help: None,
        }
    }

    pub fn warning(code: Code, span: Span, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, span, message)
        }
    }

    /// An error about a file as a whole (cannot be read), with no position inside it.
    pub fn unplaced(code: Code, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code,
            message: message.into(),
            span: None,
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `{"file": …, "line": …, "column": …, "severity": …, "code": …, "message": …, "help": …}`
    pub fn to_json(&self, sources: &Sources) -> serde_json::Value {
        let place = self.span.map(|span| sources.locate(span));
        serde_json::json!({
            "file": place.as_ref().map(|p| p.file.clone()),
            "line": place.as_ref().map(|p| p.line),
            "column": place.as_ref().map(|p| p.column),
            "severity": self.severity,
            "code": self.code.as_str(),
            "message": self.message,
            "help": self.help,
        })
    }

    /// The diagnostic as people read it:
    ///
    /// ```text
    /// rules/acme.rules:12:9: error[E0102]: unknown input `titel`
    ///    |
    /// 12 |   rule ceo: titel has "ceo" -> Executive
    ///    |             ^^^^^
    ///    = help: did you mean `title`?
    /// ```
    pub fn render(&self, sources: &Sources) -> String {
        let mut out = String::new();
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let header = format!("{severity}[{}]: {}", self.code.as_str(), self.message);
        match self.span {
            Some(span) => {
                let place = sources.locate(span);
                let _ = writeln!(
                    out,
                    "{}:{}:{}: {header}",
                    place.file, place.line, place.column
                );
                let gutter = place.line.to_string().len();
                let pad = " ".repeat(gutter);
                let _ = writeln!(out, "{pad} |");
                let _ = writeln!(out, "{} | {}", place.line, place.line_text);
                let caret_pad: String = place.line_text[..place.column_byte]
                    .chars()
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                let _ = writeln!(
                    out,
                    "{pad} | {caret_pad}{}",
                    "^".repeat(place.caret_width.max(1))
                );
                if let Some(help) = &self.help {
                    let _ = writeln!(out, "{pad} = help: {help}");
                }
            }
            None => {
                let _ = writeln!(out, "{header}");
                if let Some(help) = &self.help {
                    let _ = writeln!(out, "  = help: {help}");
                }
            }
        }
        out
    }
}

/// Every diagnostic of one load, with the sources they point into.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }

    pub fn warning_count(&self) -> usize {
        self.items.len() - self.error_count()
    }

    /// Sorted by file and position, so reports read top to bottom.
    pub fn sort(&mut self) {
        self.items.sort_by_key(|d| {
            d.span
                .map(|s| (s.file.0, s.start, s.end))
                .unwrap_or_default()
        });
    }
}

/// The closest of `candidates` to `name`, if one is close enough to be a likely typo.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lowered = name.to_lowercase();
    candidates
        .into_iter()
        .map(|candidate| {
            let distance = strsim::damerau_levenshtein(&lowered, &candidate.to_lowercase());
            (distance, candidate)
        })
        .filter(|(distance, candidate)| {
            *distance <= (candidate.chars().count().max(lowered.chars().count()) / 3).max(1)
        })
        // Ties go to the first name in order: candidates often come from a hash map, and the
        // same typo must get the same help every time.
        .min_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)))
        .map(|(_, candidate)| candidate)
}

/// "did you mean `x`?" help for an unknown name.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    closest(name, candidates).map(|c| format!("did you mean `{c}`?"))
}
