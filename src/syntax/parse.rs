//! Parsing with recovery: every syntax error of a file in one run.
//!
//! pest stops at the first error. To report the next ones, the broken top-level item (from the
//! last line that starts at column 0 before the error to the next such line) is blanked out
//! with spaces, keeping every byte offset, and the file is parsed again.

use pest::error::{ErrorVariant, InputLocation};
use pest::Parser;

use super::ast::RuleFile;
use super::lower::Lowerer;
use super::names::rule_name;
use super::{Rule, RulesParser};
use crate::diag::{Code, Diagnostic, FileId, Span};

/// Conditions and lists may nest this deep; deeper input is refused before pest sees it, so
/// no rule file can exhaust the parser's stack.
pub const MAX_NESTING: usize = 32;

/// How many syntax errors one file reports before giving up on it.
const MAX_SYNTAX_ERRORS: usize = 50;

/// Parses one rule file. Always returns a tree (of the items that parsed) and every problem.
pub fn parse(text: &str, file: FileId) -> (RuleFile, Vec<Diagnostic>) {
    let mut working = text.to_string();
    let mut diagnostics = Vec::new();
    loop {
        let failure = match too_deep(&working) {
            Some(offset) => Some((
                offset,
                Diagnostic::error(
                    Code::TooDeep,
                    Span::new(file, offset, offset + 1),
                    format!("nesting deeper than {MAX_NESTING} levels"),
                )
                .with_help("split the condition into several rules or named lists"),
            )),
            None => match RulesParser::parse(Rule::file, &working) {
                Ok(mut pairs) => {
                    let lowerer = Lowerer { file };
                    let tree = match pairs.next() {
                        Some(pair) => lowerer.lower_file(pair, &mut diagnostics),
                        None => RuleFile { items: Vec::new() },
                    };
                    return (tree, diagnostics);
                }
                Err(error) => {
                    let offset = match error.location {
                        InputLocation::Pos(p) => p,
                        InputLocation::Span((start, _)) => start,
                    };
                    Some((offset, syntax_error(&error.variant, &working, offset, file)))
                }
            },
        };
        let Some((offset, diagnostic)) = failure else {
            continue;
        };
        diagnostics.push(diagnostic);
        if diagnostics.len() >= MAX_SYNTAX_ERRORS || !blank_item(&mut working, offset) {
            return (RuleFile { items: Vec::new() }, diagnostics);
        }
    }
}

fn syntax_error(
    variant: &ErrorVariant<Rule>,
    text: &str,
    offset: usize,
    file: FileId,
) -> Diagnostic {
    let found = found_at(text, offset);
    let end = offset + found.len().max(1);
    let expected = match variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let mut names: Vec<&str> = Vec::new();
            if positives.contains(&Rule::k_field) && positives.contains(&Rule::k_map) {
                // At the top level: one phrase instead of every keyword.
                return Diagnostic::error(Code::Syntax, Span::new(file, offset, end.min(text.len()).max(offset)), format!("expected {}, found {}", rule_name(Rule::item), describe_found(found)))
                    .with_help(help_for(text, offset).unwrap_or("each declaration starts a line: field, input, list, table, map, override, insert, replace, remove, test, examples"));
            }
            for expected_rule in positives {
                let name = rule_name(*expected_rule);
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            names
        }
        ErrorVariant::CustomError { .. } => Vec::new(),
    };
    let found_text = describe_found(found);
    let message = if expected.is_empty() {
        format!("unexpected {found_text}")
    } else {
        format!("expected {}, found {found_text}", join_or(&expected))
    };
    let mut diagnostic = Diagnostic::error(
        Code::Syntax,
        Span::new(file, offset, end.min(text.len()).max(offset)),
        message,
    );
    if let Some(help) = help_for(text, offset) {
        diagnostic = diagnostic.with_help(help);
    }
    diagnostic
}

/// Concrete help for the mistakes people make most.
fn help_for(text: &str, offset: usize) -> Option<&'static str> {
    let rest = &text[offset..];
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let before = text[line_start..offset].trim();
    if rest.starts_with('\'') {
        return Some("strings use double quotes: \"…\"");
    }
    if rest.starts_with("=>") {
        return Some("rules and tables use `->` between condition and value");
    }
    if line_start == offset && rest.starts_with("rule") {
        return Some("rules go inside a block: map FIELD { rule ID: CONDITION -> VALUE }");
    }
    if before.starts_with("rule") && !before.contains(':') {
        return Some("a rule reads `rule ID: CONDITION -> VALUE`");
    }
    if rest.starts_with('"') && before.ends_with("has") {
        return None;
    }
    None
}

/// The token at `offset`, for "found …": a word, or one character.
fn found_at(text: &str, offset: usize) -> &str {
    let rest = text.get(offset..).unwrap_or("");
    let word_len = rest
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
        .map_or(rest.len(), |(i, _)| i);
    if word_len > 0 {
        return &rest[..word_len];
    }
    rest.chars().next().map_or("", |c| &rest[..c.len_utf8()])
}

fn describe_found(found: &str) -> String {
    if found.is_empty() {
        "end of file".to_string()
    } else {
        format!("`{found}`")
    }
}

fn join_or(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Blanks the top-level item around `offset`; false when nothing could be blanked.
fn blank_item(text: &mut String, offset: usize) -> bool {
    let offset = offset.min(text.len());
    let starts_item = |line: &str| line.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    let mut line_starts = vec![0];
    line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
    let start = line_starts
        .iter()
        .copied()
        .rfind(|&s| s <= offset && starts_item(&text[s..]))
        .unwrap_or(0);
    let end = line_starts
        .iter()
        .copied()
        .find(|&s| s > offset && s > start && starts_item(&text[s..]))
        .unwrap_or(text.len());
    let region = &text[start..end];
    if region.trim().is_empty() {
        return false;
    }
    // Keep byte offsets: each character becomes as many spaces as it had bytes.
    let blanked: String = region
        .chars()
        .map(|c| {
            if c == '\n' {
                "\n".to_string()
            } else {
                " ".repeat(c.len_utf8())
            }
        })
        .collect();
    text.replace_range(start..end, &blanked);
    true
}

/// The offset of the first bracket that opens deeper than [`MAX_NESTING`], skipping strings,
/// regexes and comments.
fn too_deep(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut chars = text.char_indices().peekable();
    let mut previous_significant = ' ';
    while let Some((index, c)) = chars.next() {
        match c {
            '#' => {
                for (_, c) in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '"' | '/' if c == '"' || matches!(previous_significant, '(' | ',' | 's' | '|') => {
                // A string, or a regex after `matches`, `(`, `,` or `|`.
                let mut escaped = false;
                for (_, inner) in chars.by_ref() {
                    if inner == '\n' || (!escaped && inner == c) {
                        break;
                    }
                    escaped = !escaped && inner == '\\';
                }
            }
            '(' | '[' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(index);
                }
            }
            ')' | ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if !c.is_whitespace() {
            previous_significant = c;
        }
    }
    None
}
