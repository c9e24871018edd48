//! A field's regexes on one input, run as one `RegexSet` behind literal gates; and single
//! regexes behind the same kind of gate.
//!
//! Every match of most regexes contains one of a few literal strings (`\bvp\b` begins with
//! `vp`, `(^| )analyst$` with `analyst` or ` analyst`, every match of `\b([a-z])\.([a-z])\b`
//! holds a `.`). One Aho-Corasick scan for the literals of all the regexes of a set tells which
//! of them can match a value; usually none, and nothing runs. That matters beyond saving a
//! pass: with Unicode `\b` in any of its patterns the regex crate's lazy DFA gives up at the
//! first non-ASCII byte and the whole set falls back to a much slower engine — 1,000 title
//! rules cost a Japanese title 147 µs against 2.7 µs for an ASCII one before the gate
//! (benches/README.md). So when only a few regexes can match, or the value is not ASCII, those
//! few run alone, each with its own engines (`シニア\S*マネージャー` has no `\b` and keeps its
//! DFA). A regex with capture groups (`replace` with `$1`, `number(…)`) runs a capture engine
//! on every value it is given; the gate spares it most of them.

use aho_corasick::AhoCorasick;
use regex::{Captures, Regex, RegexSet};
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::{Hir, HirKind};

use super::words::TermSet;

/// Up to this many regexes that can match an ASCII value run one by one rather than as the set.
const ALONE_MAX: usize = 2;

#[derive(Debug)]
pub struct GatedSet {
    set: RegexSet,
    /// The set's regexes one by one, for values only a few of them can match.
    regexes: Vec<Regex>,
    /// The required literals of every regex that has them, in one automaton.
    literals: Option<AhoCorasick>,
    /// Per literal of `literals`: the regex it belongs to.
    owner: Vec<usize>,
    /// Regexes without required literals: they can match any value.
    ungated: Vec<usize>,
}

impl GatedSet {
    /// `regexes` are those the set was built from, in its order.
    pub fn new(set: RegexSet, regexes: Vec<Regex>) -> Self {
        let mut all = Vec::new();
        let mut owner = Vec::new();
        let mut ungated = Vec::new();
        for (index, regex) in regexes.iter().enumerate() {
            let required = regex_syntax::Parser::new()
                .parse(regex.as_str())
                .ok()
                .and_then(|hir| required_literals(&hir));
            match required {
                Some(literals) => {
                    owner.extend(literals.iter().map(|_| index));
                    all.extend(literals);
                }
                None => ungated.push(index),
            }
        }
        let literals = match AhoCorasick::new(all) {
            Ok(automaton) => Some(automaton),
            // Cannot happen with the sizes of rule files; if it did, every regex may match.
            Err(_) => {
                ungated = (0..regexes.len()).collect();
                owner.clear();
                None
            }
        };
        Self {
            set,
            regexes,
            literals,
            owner,
            ungated,
        }
    }

    /// Which regexes match `value`, into `hits` (by index in the set).
    pub fn matches(&self, value: &str, hits: &mut TermSet) {
        let count = self.regexes.len();
        hits.clear(count);
        // First the regexes that can match: the ungated ones and those whose literal occurs.
        let mut candidates = self.ungated.len();
        for &index in &self.ungated {
            hits.insert(index);
        }
        if let Some(literals) = &self.literals {
            for found in literals.find_overlapping_iter(value) {
                if let Some(&index) = self.owner.get(found.pattern().as_usize()) {
                    if !hits.contains(index) {
                        hits.insert(index);
                        candidates += 1;
                    }
                }
            }
        }
        if candidates == 0 {
            return;
        }
        if value.is_ascii() && candidates > ALONE_MAX {
            hits.clear(count);
            for index in self.set.matches(value).iter() {
                hits.insert(index);
            }
            return;
        }
        for (index, regex) in self.regexes.iter().enumerate() {
            if hits.contains(index) && !regex.is_match(value) {
                hits.remove(index);
            }
        }
    }
}

/// One regex behind the gate of its required literals: a value without any of them does not
/// match, and the regex does not run.
#[derive(Debug, Clone)]
pub struct GatedRegex {
    regex: Regex,
    gate: Option<AhoCorasick>,
    last_byte: Option<LastByteGate>,
}

impl GatedRegex {
    pub fn new(regex: Regex) -> Self {
        let mut gated = Self::ungated(regex);
        gated.build_gate();
        gated
    }

    /// Without its gate yet: a regex that runs in a field's `RegexSet` needs none.
    pub fn ungated(regex: Regex) -> Self {
        Self {
            regex,
            gate: None,
            last_byte: None,
        }
    }

    pub fn build_gate(&mut self) {
        self.gate = literal_gate(&[self.regex.as_str().to_string()]);
        self.last_byte = LastByteGate::new(self.regex.as_str());
    }

    pub fn regex(&self) -> &Regex {
        &self.regex
    }

    /// Whether the gate lets `value` through: `false` means the regex cannot match it.
    fn may_match(&self, value: &str) -> bool {
        self.last_byte
            .as_ref()
            .is_none_or(|gate| gate.may_match(value))
            && self.gate.as_ref().is_none_or(|gate| gate.is_match(value))
    }

    pub fn is_match(&self, value: &str) -> bool {
        self.may_match(value) && self.regex.is_match(value)
    }

    pub fn captures<'h>(&self, value: &'h str) -> Option<Captures<'h>> {
        if self.may_match(value) {
            self.regex.captures(value)
        } else {
            None
        }
    }
}

/// Where every match of a regex ends at the end of the value (`…$`), the last bytes of the
/// literals its matches end with: a value whose last byte is none of them cannot match.
/// Testing one byte spares the regex (a lazy DFA over the whole value) on most titles for
/// `… (i|ii|iii)$` and `…[0-9]{1,2}$`, where the required literals (a space, a digit) occur
/// in almost every value.
#[derive(Debug, Clone)]
pub struct LastByteGate {
    bytes: [u64; 4],
}

impl LastByteGate {
    pub fn new(pattern: &str) -> Option<Self> {
        use regex_syntax::hir::Look;
        let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
        if !hir.properties().look_set_suffix().contains(Look::End) {
            return None;
        }
        let seq = Extractor::new().kind(ExtractKind::Suffix).extract(&hir);
        let mut bytes = [0u64; 4];
        for literal in seq.literals()? {
            let &last = literal.as_bytes().last()?;
            bytes[usize::from(last / 64)] |= 1 << (last % 64);
        }
        Some(Self { bytes })
    }

    /// Whether a value could match: its last byte ends one of the literals.
    pub fn may_match(&self, value: &str) -> bool {
        value
            .as_bytes()
            .last()
            .is_some_and(|&last| self.bytes[usize::from(last / 64)] & (1 << (last % 64)) != 0)
    }
}

/// An automaton of literals one of which occurs in every match of every pattern: a value it
/// does not find matches none of them. `None` when some pattern has no such finite set.
pub(crate) fn literal_gate(patterns: &[String]) -> Option<AhoCorasick> {
    let mut all = Vec::new();
    for pattern in patterns {
        let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
        all.extend(required_literals(&hir)?);
    }
    if all.is_empty() {
        return None;
    }
    AhoCorasick::new(all).ok()
}

/// A finite set of non-empty literals, one of which every match of `hir` contains, if there is
/// one: the literal prefixes of its matches, or those of a part that every match goes through
/// (a member of a concatenation, the body of a group or of a repetition of at least one, every
/// branch of an alternation). Of several, the set whose shortest literal is longest (the
/// rarest, as a guess), then the smallest; on a tie, the prefixes.
fn required_literals(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    let inner = match hir.kind() {
        HirKind::Capture(group) => required_literals(&group.sub),
        HirKind::Repetition(repetition) if repetition.min >= 1 => {
            required_literals(&repetition.sub)
        }
        HirKind::Concat(parts) => parts
            .iter()
            .filter_map(required_literals)
            .fold(None, |best, next| Some(better(best, next))),
        HirKind::Alternation(branches) => {
            let mut all = Vec::new();
            for branch in branches {
                all.extend(required_literals(branch)?);
            }
            Some(all)
        }
        _ => None,
    };
    match (literal_prefixes(hir), inner) {
        (Some(prefixes), Some(inner)) => Some(better(Some(prefixes), inner)),
        (prefixes, inner) => prefixes.or(inner),
    }
}

/// `best` unless `next` is strictly better: a longer shortest literal, then fewer literals.
fn better(best: Option<Vec<Vec<u8>>>, next: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let score = |set: &[Vec<u8>]| {
        let shortest = set.iter().map(Vec::len).min().unwrap_or(0);
        (shortest, std::cmp::Reverse(set.len()))
    };
    match best {
        Some(best) if score(&best) >= score(&next) => best,
        _ => next,
    }
}

/// The literal prefixes of every match of `hir`, if they are a finite set of non-empty ones.
fn literal_prefixes(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    let seq = Extractor::new().kind(ExtractKind::Prefix).extract(hir);
    let literals = seq.literals()?;
    if literals.is_empty() || literals.iter().any(|l| l.as_bytes().is_empty()) {
        return None;
    }
    Some(literals.iter().map(|l| l.as_bytes().to_vec()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gated(patterns: &[&str]) -> GatedSet {
        let regexes: Vec<Regex> = patterns.iter().map(|p| Regex::new(p).unwrap()).collect();
        GatedSet::new(RegexSet::new(patterns).unwrap(), regexes)
    }

    fn found(set: &GatedSet, value: &str) -> Vec<usize> {
        let mut hits = TermSet::default();
        set.matches(value, &mut hits);
        hits.iter().collect()
    }

    /// Whether the set runs, or a few of its regexes run alone, the same regexes match.
    #[test]
    fn the_gates_never_hide_a_match() {
        let sets = [
            gated(&[
                r"\bvp\b",
                r"(^| )analyst$",
                r"(?i)^chief\b",
                r"シニア\S*マネージャー",
                r"\bsenior ([a-z]+ ){0,4}(manager|supervisor)\b",
            ]),
            gated(&[r"\bvp\b", r"^m ?\d+$", r"\d+$", r"(?i)\bk\b"]),
        ];
        for set in &sets {
            for value in [
                "vp sales",
                "senior analyst",
                "CHIEF of staff",
                "chief vp analyst",
                "senior vp of product manager",
                "シニアプロダクトマネージャー",
                "シニア vp マネージャー",
                "営業部長",
                "engineer",
                "m3",
                "m 12",
                "営業 12",
                "\u{212a}",
                "",
            ] {
                let plain: Vec<usize> = set.set.matches(value).iter().collect();
                assert_eq!(found(set, value), plain, "{value}");
            }
        }
    }

    #[test]
    fn a_regex_without_a_required_literal_is_always_tried() {
        let set = gated(&[r"\bvp\b", r"\d+$", r"^$", r"x*"]);
        assert_eq!(set.ungated, [1, 2, 3]);
        assert_eq!(found(&set, "vp 3"), [0, 1, 3]);
        assert_eq!(found(&set, ""), [2, 3]);
        assert!(gated(&[r"\bvp\b", r"(^|,)\s*(x+|[a-z]{2})"]).ungated == [1]);
    }

    fn required(pattern: &str) -> Option<Vec<String>> {
        let hir = regex_syntax::Parser::new().parse(pattern).unwrap();
        let mut literals: Vec<String> = required_literals(&hir)?
            .into_iter()
            .map(|l| String::from_utf8(l).unwrap())
            .collect();
        literals.sort();
        Some(literals)
    }

    #[test]
    fn required_literals_come_from_any_part_every_match_goes_through() {
        assert_eq!(required(r"\bsr\b").unwrap(), ["sr"]);
        // Not a prefix: the literal after a class.
        assert_eq!(required(r"\b([a-z])\.\s?([a-z])\b").unwrap(), ["."]);
        // Inside a group after an optional anchor: every branch of the alternation.
        assert_eq!(
            required(r"(^|,)\s*(?:english|en)(?:[-_][a-z]+)*\b").unwrap(),
            ["en", "english"]
        );
        assert_eq!(required(r"(?:x\d|y)+z?").unwrap(), ["x", "y"]);
        assert_eq!(required(r"^[^@]*@([a-z]{2})@.*$").unwrap(), ["@"]);
        assert_eq!(required(r"\d+"), None);
        assert_eq!(required(r"a?b*"), None);
        assert_eq!(required(r"a|\d"), None);
    }

    #[test]
    fn end_anchored_regexes_are_gated_by_their_last_byte() {
        let gate = |p: &str| LastByteGate::new(p);
        let roman = gate(r"([a-z]{2,}) (?:i|ii|iii|iv|v|[0-9]{1,2})$").unwrap();
        assert!(roman.may_match("analyst iii"));
        assert!(roman.may_match("engineer 12"));
        assert!(!roman.may_match("engineer"));
        assert!(!roman.may_match(""));
        let code = gate(r"([a-z]{2,})(?: *\(?(?:l|ic|p)[0-9]{1,2}\)?)+$").unwrap();
        assert!(code.may_match("engineer (ic4)"));
        assert!(!code.may_match("engineer ic"));
        // Not anchored at the end, or anchored only at a line's end; a match may be empty.
        assert!(gate(r"\bvp\b").is_none());
        assert!(gate(r"(?m)analyst$").is_none());
        assert!(gate(r"a *$").is_none_or(|g| g.may_match("a  ") && g.may_match("a")));
        assert!(gate(r"^$").is_none());
        assert!(gate(r"(?i)analyst$").unwrap().may_match("ANALYST"));
        assert!(gate(r"(x$|y$)").unwrap().may_match("ay"));
        assert!(gate(r"部長$").unwrap().may_match("営業部長"));
        assert!(!gate(r"部長$").unwrap().may_match("部長代理"));
    }

    /// Whatever its gate, a single regex answers as the regex does: on ASCII and non-ASCII
    /// values, with and without case folding, and for captures.
    #[test]
    fn a_gated_regex_never_hides_a_match() {
        let patterns = [
            r"\bvp\b",
            r"(?i)\bvp\b",
            r"\b([a-z])\.\s?([a-z])\b",
            r"(^|,)\s*(?:japanese|日本語|ja)(?:[-_][a-z0-9]+)*\b",
            r"(?i)straße|ǅ",
            r"(?i)\bk\b",
            r"^\+?(\d+)(?:\.0+)?$",
            r"シニア\S*マネー?ジャー",
            r"([a-z]{2,}) (?:i|ii|iii|iv|v|vi|vii|viii|ix|[0-9]{1,2})$",
            r"(?i)(^| )analyst$",
            r"部長$|\d$",
        ];
        let values = [
            "analyst ii",
            "Senior ANALYST",
            "engineer 7",
            "営業部長",
            "部長 x",
            "vp sales",
            "VP Sales",
            "svp",
            "s.r manager",
            "営業 v.p",
            "ja-jp",
            "de,日本語",
            "français, ja_JP",
            "STRASSE",
            "STRAẞE",
            "Straße",
            "ǆ",
            "ǅ",
            "\u{212a}",
            "K",
            "12",
            "+3.00",
            "١٢",
            "シニアプロダクトマネージャー",
            "シニアマネジャー",
            "",
        ];
        for pattern in patterns {
            let regex = Regex::new(pattern).unwrap();
            let gated = GatedRegex::new(regex.clone());
            for value in values {
                assert_eq!(
                    gated.is_match(value),
                    regex.is_match(value),
                    "{pattern} on {value:?}"
                );
                let group = |c: Option<Captures>| c.and_then(|c| c.get(1)).map(|m| m.range());
                assert_eq!(
                    group(gated.captures(value)),
                    group(regex.captures(value)),
                    "{pattern} on {value:?}"
                );
            }
        }
        assert!(GatedRegex::new(Regex::new(r"\bvp\b").unwrap())
            .gate
            .is_some());
        assert!(GatedRegex::new(Regex::new(r"^\d+$").unwrap())
            .gate
            .is_none());
    }
}
