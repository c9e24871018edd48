//! Reports people read after a dry run or a diff: the coverage report and the diff report,
//! as text for a terminal, markdown, or JSON.

mod coverage;
mod diff;

pub use coverage::{Coverage, CoverageReport, FieldStats, RowStatus};
pub use diff::{ChangedRow, DiffReport, DiffStats};

/// Distinct values tracked per field before the rest are counted as "other values": keeps
/// memory flat whatever the input size.
pub const MAX_DISTINCT: usize = 1_000;
/// Distinct raw values tracked per field for "unmapped values".
pub const MAX_DISTINCT_RAW: usize = 5_000;

/// A counter of strings with a bound on distinct keys.
#[derive(Debug, Clone, Default)]
pub struct Counter {
    counts: std::collections::HashMap<std::sync::Arc<str>, u64, foldhash::fast::RandomState>,
    /// Occurrences of keys not tracked because the bound was reached.
    pub other: u64,
}

impl Counter {
    pub fn add(&mut self, key: &std::sync::Arc<str>, n: u64, cap: usize) {
        if let Some(count) = self.counts.get_mut(key) {
            *count += n;
        } else if self.counts.len() < cap {
            self.counts.insert(key.clone(), n);
        } else {
            self.other += n;
        }
    }

    pub fn merge(&mut self, other: Counter, cap: usize) {
        for (key, n) in other.counts {
            self.add(&key, n, cap);
        }
        self.other += other.other;
    }

    pub fn total(&self) -> u64 {
        self.counts.values().sum::<u64>() + self.other
    }

    pub fn distinct(&self) -> usize {
        self.counts.len()
    }

    /// The `n` most frequent keys, most frequent first, ties by key.
    pub fn top(&self, n: usize) -> Vec<(String, u64)> {
        let mut all: Vec<(String, u64)> = self
            .counts
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        all.truncate(n);
        all
    }

    pub fn get(&self, key: &str) -> u64 {
        self.counts.get(key).copied().unwrap_or(0)
    }
}

/// A value shown on one line: control characters escaped, long values cut.
pub fn show(value: &str) -> String {
    let mut out = String::new();
    for (i, c) in value.chars().enumerate() {
        if i >= 60 {
            out.push('…');
            break;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    format!("\"{out}\"")
}

fn md_escape(text: &str) -> String {
    text.replace('|', "\\|")
}
