//! Whole-word matching of many terms at once.
//!
//! Every term of every `has any` test on one input of one field goes into a single
//! Aho-Corasick automaton, so a record costs one scan of its value whatever the number of
//! rules. A match counts when it stands as a whole word: the characters around it are not
//! letters or digits of the same kind of script. Korean and Japanese have no spaces, so a term
//! that begins or ends with a Hangul, Kana or Han character needs no boundary on that side;
//! instead the longest term wins: a match lying inside a longer match of the same index is
//! dropped (`사장` inside `부사장`, `president` inside `vice president`).

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

/// Term index → whether it matched, for one value (also: which regexes of a set matched).
#[derive(Debug, Clone, Default)]
pub struct TermSet {
    bits: Vec<u64>,
}

impl TermSet {
    pub fn contains(&self, term: usize) -> bool {
        self.bits
            .get(term / 64)
            .is_some_and(|word| word & (1 << (term % 64)) != 0)
    }

    /// The terms found, in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.bits.iter().enumerate().flat_map(|(at, &word)| {
            (0..64)
                .filter(move |bit| word & (1 << bit) != 0)
                .map(move |bit| at * 64 + bit)
        })
    }

    pub(crate) fn clear(&mut self, terms: usize) {
        self.bits.clear();
        self.bits.resize(terms.div_ceil(64), 0);
    }

    pub(crate) fn insert(&mut self, term: usize) {
        if let Some(word) = self.bits.get_mut(term / 64) {
            *word |= 1 << (term % 64);
        }
    }

    pub(crate) fn remove(&mut self, term: usize) {
        if let Some(word) = self.bits.get_mut(term / 64) {
            *word &= !(1 << (term % 64));
        }
    }
}

#[derive(Debug)]
pub struct WordIndex {
    automaton: Option<AhoCorasick>,
    terms: Vec<String>,
}

/// Hangul, Kana and CJK ideographs: scripts written without spaces between words.
pub fn is_unspaced_script(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x11FF | 0x3040..=0x30FF | 0x3130..=0x318F | 0x31F0..=0x31FF
        | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xA960..=0xA97F | 0xAC00..=0xD7AF
        | 0xF900..=0xFAFF | 0xFF66..=0xFF9F)
}

/// Whether `neighbour` ends a word that `edge` (the term's first or last character) is in.
pub(crate) fn is_boundary(edge: char, neighbour: Option<char>) -> bool {
    if is_unspaced_script(edge) {
        return true;
    }
    match neighbour {
        None => true,
        Some(n) => !n.is_alphanumeric() || is_unspaced_script(n),
    }
}

impl WordIndex {
    /// Builds the index; `terms` are already normalised like the values they will meet.
    /// Returns an error text when the automaton cannot be built (too large).
    pub fn new(terms: Vec<String>) -> Result<Self, String> {
        let automaton = if terms.iter().any(|t| !t.is_empty()) {
            Some(
                AhoCorasickBuilder::new()
                    .match_kind(MatchKind::Standard)
                    .build(&terms)
                    .map_err(|e| e.to_string())?,
            )
        } else {
            None
        };
        Ok(Self { automaton, terms })
    }

    pub fn len(&self) -> usize {
        self.terms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    pub fn term(&self, index: usize) -> &str {
        self.terms.get(index).map_or("", String::as_str)
    }

    /// Fills `found` with the terms that occur in `text` as whole words.
    pub fn scan(&self, text: &str, found: &mut TermSet, spans: &mut Vec<(usize, usize, usize)>) {
        found.clear(self.terms.len());
        spans.clear();
        let Some(automaton) = &self.automaton else {
            return;
        };
        for m in automaton.find_overlapping_iter(text) {
            let (start, end) = (m.start(), m.end());
            if start == end {
                continue;
            }
            let term = &text[start..end];
            let (Some(first), Some(last)) = (term.chars().next(), term.chars().next_back()) else {
                continue;
            };
            let before = text[..start].chars().next_back();
            let after = text[end..].chars().next();
            if is_boundary(first, before) && is_boundary(last, after) {
                spans.push((start, end, m.pattern().as_usize()));
            }
        }
        // Drop matches inside a longer match: sort by start, longest first, and sweep with the
        // furthest end seen so far (linear after the sort, whatever the number of matches).
        spans.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let mut furthest_end = 0;
        let mut any = false;
        for &(_, end, term) in spans.iter() {
            if !any || end > furthest_end {
                found.insert(term);
                furthest_end = end;
                any = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(terms: &[&str], text: &str) -> Vec<String> {
        let index = WordIndex::new(terms.iter().map(|t| t.to_string()).collect()).unwrap();
        let mut set = TermSet::default();
        let mut spans = Vec::new();
        index.scan(text, &mut set, &mut spans);
        (0..index.len())
            .filter(|&i| set.contains(i))
            .map(|i| index.term(i).to_string())
            .collect()
    }

    #[test]
    fn words_not_substrings() {
        assert!(found(&["director"], "directory services").is_empty());
        assert!(found(&["vp"], "vpn engineer").is_empty());
        assert!(found(&["vp"], "svp sales").is_empty());
        assert!(found(&["intern"], "internal audit").is_empty());
        assert_eq!(found(&["vp"], "vp, sales"), ["vp"]);
    }

    #[test]
    fn longest_term_wins() {
        assert_eq!(
            found(&["president", "vice president"], "vice president sales"),
            ["vice president"]
        );
        assert_eq!(found(&["사장", "부사장"], "부사장"), ["부사장"]);
        assert_eq!(found(&["社長", "副社長"], "代表取締役副社長"), ["副社長"]);
    }

    #[test]
    fn unspaced_scripts_need_no_boundary() {
        assert_eq!(found(&["部長"], "営業部長"), ["部長"]);
        assert_eq!(found(&["ceo"], "ceo社長"), ["ceo"]);
    }
}
