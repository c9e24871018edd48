//! Reports people read after a dry run or a diff: the coverage report and the diff report,
//! as text for a terminal, markdown, or JSON.

mod coverage;
mod diff;
pub mod header;
mod org;

pub use coverage::{Coverage, CoverageReport, FieldStats, RowStatus};
pub use diff::{ChangedRow, DiffReport, DiffStats};
pub use org::{OrgReport, OrgSeen};

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

    /// [`Counter::add`] of a borrowed key: no allocation unless the key is new and tracked.
    pub fn add_str(&mut self, key: &str, n: u64, cap: usize) {
        if let Some(count) = self.counts.get_mut(key) {
            *count += n;
        } else if self.counts.len() < cap {
            self.counts.insert(std::sync::Arc::from(key), n);
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

/// Display columns of a `--format table` cell.
pub const TABLE_CELL: usize = 22;

/// `value` in exactly `width` terminal columns: padded, or cut with `…` when longer. Korean,
/// Japanese and other wide characters take two columns, so rows of any script line up.
pub fn fit(value: &str, width: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    let shown = show(value);
    let text = shown.trim_matches('"');
    let total: usize = text.chars().map(|c| c.width().unwrap_or(0)).sum();
    let mut out = String::new();
    let mut used = 0;
    if total <= width {
        out.push_str(text);
        used = total;
    } else {
        for c in text.chars() {
            let w = c.width().unwrap_or(0);
            if used + w > width.saturating_sub(1) {
                break;
            }
            out.push(c);
            used += w;
        }
        out.push('…');
        used += 1;
    }
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(used)));
    out
}

fn md_escape(text: &str) -> String {
    text.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::fit;
    use unicode_width::UnicodeWidthStr;

    /// Cells of every script take the same columns, so a table's rows line up.
    #[test]
    fn cells_fit_their_columns() {
        for value in [
            "Director",
            "経理部 部長",
            "재무팀 과장",
            "",
            "Senior Director of FP&A Operations",
            "部長代理部長代理部長代理部長代理",
            "a\nb",
        ] {
            assert_eq!(fit(value, 22).width(), 22, "{value:?}");
        }
        assert_eq!(fit("経理部 部長", 22).trim_end(), "経理部 部長");
        assert_eq!(fit("Senior Director of FP&A Operations", 10), "Senior Di…");
        assert_eq!(fit("部長代理部長代理", 9), "部長代理…");
    }
}
