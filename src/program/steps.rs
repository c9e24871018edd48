//! Normalisation steps: the `| step` pipeline of an input.

use std::borrow::Cow;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use regex::Regex;

use super::words::is_boundary;
use unicode_normalization::char::{decompose_canonical, is_combining_mark};
use unicode_normalization::{is_nfc_quick, is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// One compiled step.
#[derive(Debug, Clone)]
pub enum Step {
    /// Remove leading and trailing whitespace.
    Trim,
    /// Every run of whitespace (tabs, line breaks, no-break spaces) becomes one space; trims.
    Collapse,
    /// Unicode lower case (case folding for matching).
    Lower,
    Upper,
    /// Unicode NFKC: full-width letters and the ideographic space become their plain forms.
    Nfkc,
    /// Drop accents and other combining marks (`é` → `e`).
    StripDiacritics,
    /// Every character that is not a letter, digit or combining mark becomes a space, then
    /// spaces collapse: `Sr. Dir., Ops/EMEA` → `Sr Dir Ops EMEA`.
    Words,
    /// Regex replace, all occurrences; `$1`/`${name}` in the replacement are captures.
    Replace {
        regex: Regex,
        with: String,
        /// The literal prefixes of the regex's matches, when it has a finite set: a value
        /// without any of them is left as it is without running the regex (see
        /// `regex_set.rs` for why that matters on non-ASCII values).
        gate: Option<AhoCorasick>,
        /// For a regex whose matches end at the end of the value: the last bytes they can
        /// end with (see `regex_set.rs`).
        last_byte: Option<super::regex_set::LastByteGate>,
    },
    /// Cut the value at the first of these separators (and trim): `Director, Sales - EMEA`
    /// with `cut_after(",")` → `Director`.
    CutAfter(Separators),
    /// The text after the first of these separators (trimmed), empty when none occurs:
    /// `Diaz, Ana` with `after(",")` → `Ana` (the complement of `cut_after`).
    After(Separators),
    /// A date in this `strftime` format (ISO 8601 when `None`) respelled `YYYY-MM-DD`; a
    /// value that is not one is left as it is (a date test then says so).
    Date(Option<String>),
    /// The first word (split on whitespace): `Ana María` → `Ana`.
    FirstWord,
    /// The last word: `Ana María` → `María`.
    LastWord,
    /// Whole-word replacement from a table, in one pass: `replace_words(abbreviations)` with
    /// `"sr" -> "senior"`, `"mgr" -> "manager"`. The longest key wins at each place.
    ReplaceWords(WordTable),
}

impl Step {
    /// A `replace` step, gated by the literal prefixes of the regex's matches.
    pub fn replace(regex: Regex, with: String) -> Self {
        let gate = super::regex_set::literal_gate(&[regex.as_str().to_string()]);
        let last_byte = super::regex_set::LastByteGate::new(regex.as_str());
        Self::Replace {
            regex,
            with,
            gate,
            last_byte,
        }
    }
}

/// How dates are spelled once read: `2026-01-31`.
pub const ISO_DATE: &str = "%Y-%m-%d";

/// `value` (trimmed) read as a date in `format`, or ISO 8601 when `None`: `2026-01-31`, or a
/// date and time such as `2026-01-31T09:30:00Z` (its date). Never guessed: `03/04/2026` is no
/// ISO date, and only a declared format reads it.
pub fn parse_date(value: &str, format: Option<&str>) -> Option<chrono::NaiveDate> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    let value = value.trim();
    match format {
        Some(format) => NaiveDate::parse_from_str(value, format).ok(),
        None => NaiveDate::parse_from_str(value, ISO_DATE)
            .ok()
            .or_else(|| {
                DateTime::parse_from_rfc3339(value)
                    .ok()
                    .map(|d| d.date_naive())
            })
            .or_else(|| {
                NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S")
                    .ok()
                    .map(|d| d.date())
            }),
    }
}

/// The separators of `cut_after`, found in one scan.
#[derive(Debug, Clone)]
pub struct Separators {
    pub texts: Vec<String>,
    automaton: Option<AhoCorasick>,
}

impl Separators {
    pub fn new(texts: Vec<String>) -> Self {
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostFirst)
            .build(&texts)
            .ok();
        Self { texts, automaton }
    }

    fn first(&self, value: &str) -> Option<usize> {
        self.first_match(value).map(|(start, _)| start)
    }

    /// Where the first separator in `value` starts and ends.
    fn first_match(&self, value: &str) -> Option<(usize, usize)> {
        match &self.automaton {
            Some(automaton) => automaton.find(value).map(|m| (m.start(), m.end())),
            None => self
                .texts
                .iter()
                .filter_map(|t| value.find(t.as_str()).map(|at| (at, at + t.len())))
                .min(),
        }
    }
}

/// Keys and replacements of `replace_words`.
#[derive(Debug, Clone)]
pub struct WordTable {
    pub table: String,
    keys: Vec<String>,
    replacements: Vec<String>,
    automaton: AhoCorasick,
}

impl WordTable {
    /// `None` when the automaton cannot be built (far too many keys).
    pub fn new(table: String, pairs: Vec<(String, String)>) -> Option<Self> {
        let (keys, replacements): (Vec<String>, Vec<String>) =
            pairs.into_iter().filter(|(k, _)| !k.is_empty()).unzip();
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&keys)
            .ok()?;
        Some(Self {
            table,
            keys,
            replacements,
            automaton,
        })
    }

    fn apply<'v>(&self, value: &'v str) -> Cow<'v, str> {
        let mut out: Option<String> = None;
        let mut copied = 0;
        for m in self.automaton.find_iter(value) {
            let (Some(key), Some(replacement)) = (
                self.keys.get(m.pattern().as_usize()),
                self.replacements.get(m.pattern().as_usize()),
            ) else {
                continue;
            };
            // A key that begins (ends) with a letter or digit must begin (end) a word, as in
            // `has`: Hangul, Kana and Han are written without spaces, so a key edge in those
            // scripts needs no boundary, and they bound a Latin key.
            let before = value[..m.start()].chars().next_back();
            let after = value[m.end()..].chars().next();
            let bounded = |edge: Option<char>, neighbour: Option<char>| {
                edge.is_none_or(|e| !e.is_alphanumeric() || is_boundary(e, neighbour))
            };
            if !bounded(key.chars().next(), before) || !bounded(key.chars().next_back(), after) {
                continue;
            }
            let buffer = out.get_or_insert_with(|| String::with_capacity(value.len() + 16));
            buffer.push_str(&value[copied..m.start()]);
            buffer.push_str(replacement);
            copied = m.end();
        }
        match out {
            None => Cow::Borrowed(value),
            Some(mut buffer) => {
                buffer.push_str(&value[copied..]);
                Cow::Owned(buffer)
            }
        }
    }
}

/// Names and signatures, for "unknown step" help and `docs/dsl.md`.
pub const STEP_NAMES: &[&str] = &[
    "trim",
    "collapse",
    "lower",
    "upper",
    "nfkc",
    "strip_diacritics",
    "words",
    "replace",
    "cut_after",
    "after",
    "date",
    "first_word",
    "last_word",
    "replace_words",
];

impl Step {
    /// How the step is written, for traces.
    pub fn describe(&self) -> String {
        match self {
            Self::Trim => "trim".into(),
            Self::Collapse => "collapse".into(),
            Self::Lower => "lower".into(),
            Self::Upper => "upper".into(),
            Self::Nfkc => "nfkc".into(),
            Self::StripDiacritics => "strip_diacritics".into(),
            Self::Words => "words".into(),
            Self::Replace { regex, with, .. } => {
                format!("replace(/{}/, {with:?})", regex.as_str())
            }
            Self::CutAfter(separators) => format!("cut_after({})", {
                let quoted: Vec<String> =
                    separators.texts.iter().map(|s| format!("{s:?}")).collect();
                quoted.join(", ")
            }),
            Self::After(separators) => format!("after({})", {
                let quoted: Vec<String> =
                    separators.texts.iter().map(|s| format!("{s:?}")).collect();
                quoted.join(", ")
            }),
            Self::Date(None) => "date".into(),
            Self::Date(Some(format)) => format!("date({format:?})"),
            Self::FirstWord => "first_word".into(),
            Self::LastWord => "last_word".into(),
            Self::ReplaceWords(table) => format!("replace_words({})", table.table),
        }
    }

    /// Whether the step keeps a part of a value rather than respelling it (literals compared
    /// with the input skip these).
    pub fn takes_a_part(&self) -> bool {
        matches!(self, Self::After(_) | Self::FirstWord | Self::LastWord)
    }

    /// Applies the step. Returns the input itself (borrowed) when the step changes nothing,
    /// which is the common case on clean data: no allocation then.
    pub fn apply<'v>(&self, value: &'v str) -> Cow<'v, str> {
        match self {
            Self::Trim => Cow::Borrowed(value.trim()),
            Self::Collapse => collapse(value),
            // On ASCII the Unicode case mappings are the ASCII ones, which need no table lookups.
            Self::Lower if value.is_ascii() => {
                if value.bytes().any(|b| b.is_ascii_uppercase()) {
                    Cow::Owned(value.to_ascii_lowercase())
                } else {
                    Cow::Borrowed(value)
                }
            }
            Self::Lower if value.chars().all(is_own_lowercase) => Cow::Borrowed(value),
            Self::Lower => Cow::Owned(value.to_lowercase()),
            Self::Upper if value.is_ascii() => {
                if value.bytes().any(|b| b.is_ascii_lowercase()) {
                    Cow::Owned(value.to_ascii_uppercase())
                } else {
                    Cow::Borrowed(value)
                }
            }
            Self::Upper => Cow::Owned(value.to_uppercase()),
            // ASCII is its own NFKC form and has no diacritics.
            Self::Nfkc if value.is_ascii() => Cow::Borrowed(value),
            // Hangul, Kana and most other text is already NFKC: a table lookup per character
            // says so, where normalising decomposes and recomposes every syllable.
            Self::Nfkc if is_nfkc_quick(value.chars()) == IsNormalized::Yes => Cow::Borrowed(value),
            Self::Nfkc => Cow::Owned(value.nfkc().collect()),
            Self::StripDiacritics if value.is_ascii() || strips_nothing(value) => {
                Cow::Borrowed(value)
            }
            Self::StripDiacritics => Cow::Owned(strip_diacritics(value)),
            Self::Words if value.is_ascii() => ascii_words(value),
            Self::Words => {
                let clean = |c: char| c.is_alphanumeric() || is_combining_mark(c);
                let mut previous_space = true;
                let already = value.chars().all(|c| {
                    let ok = clean(c) || (c == ' ' && !previous_space);
                    previous_space = c == ' ';
                    ok
                }) && !value.ends_with(' ');
                if already {
                    return Cow::Borrowed(value);
                }
                let spaced: String = value
                    .chars()
                    .map(|c| if clean(c) { c } else { ' ' })
                    .collect();
                Cow::Owned(collapse(&spaced).into_owned())
            }
            Self::Replace {
                last_byte: Some(gate),
                ..
            } if !gate.may_match(value) => Cow::Borrowed(value),
            Self::Replace {
                gate: Some(gate), ..
            } if !gate.is_match(value) => Cow::Borrowed(value),
            Self::Replace { regex, with, .. } => regex.replace_all(value, with.as_str()),
            Self::CutAfter(separators) => {
                let cut = separators.first(value).unwrap_or(value.len());
                Cow::Borrowed(value[..cut].trim())
            }
            Self::After(separators) => match separators.first_match(value) {
                Some((_, end)) => Cow::Borrowed(value[end..].trim()),
                None => Cow::Borrowed(""),
            },
            Self::Date(format) => match parse_date(value, format.as_deref()) {
                Some(date) => Cow::Owned(date.format(ISO_DATE).to_string()),
                None => Cow::Borrowed(value),
            },
            Self::FirstWord => Cow::Borrowed(value.split_whitespace().next().unwrap_or("")),
            Self::LastWord => Cow::Borrowed(value.split_whitespace().next_back().unwrap_or("")),
            Self::ReplaceWords(table) => table.apply(value),
        }
    }
}

/// Drops combining marks that sit on letters of alphabetic scripts (`é` → `e`), but keeps
/// those of Kana (the dakuten of `ダ`), where the mark changes the letter.
fn strip_diacritics(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut base_is_unspaced = false;
    for c in value.nfd() {
        if is_combining_mark(c) {
            if base_is_unspaced {
                out.push(c);
            }
            continue;
        }
        base_is_unspaced = super::words::is_unspaced_script(c);
        out.push(c);
    }
    out.nfc().collect()
}

/// Whether `strip_diacritics` would return `value` unchanged: it is NFC, and no combining
/// mark of its canonical decomposition would be dropped (then the decomposition, recomposed,
/// is `value` again). Decides without building either form.
fn strips_nothing(value: &str) -> bool {
    if is_nfc_quick(value.chars()) != IsNormalized::Yes {
        return false;
    }
    let mut base_is_unspaced = false;
    let mut drops_a_mark = false;
    for c in value.chars() {
        decompose_canonical(c, |part| {
            if is_combining_mark(part) {
                drops_a_mark |= !base_is_unspaced;
            } else {
                base_is_unspaced = super::words::is_unspaced_script(part);
            }
        });
        if drops_a_mark {
            return false;
        }
    }
    true
}

/// Whether `c` lower-cases to itself (then `str::to_lowercase` keeps it: its one contextual
/// rule is for `Σ`, which does not).
fn is_own_lowercase(c: char) -> bool {
    let mut lower = c.to_lowercase();
    lower.next() == Some(c) && lower.next().is_none()
}

/// `words` on ASCII text, byte by byte: letters and digits are kept, every run of other
/// bytes becomes one space (the same as the `char` path, without decoding characters or
/// looking up combining marks, which ASCII has none of).
fn ascii_words(value: &str) -> Cow<'_, str> {
    let bytes = value.as_bytes();
    let mut previous_space = true;
    let already = bytes.iter().all(|&b| {
        let ok = b.is_ascii_alphanumeric() || (b == b' ' && !previous_space);
        previous_space = b == b' ';
        ok
    }) && bytes.last() != Some(&b' ');
    if already {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len());
    for word in value
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    Cow::Owned(out)
}

/// Whitespace as `char::is_whitespace` has it in ASCII (with vertical tab, which
/// `u8::is_ascii_whitespace` leaves out).
fn is_ascii_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t'..=b'\r')
}

fn collapse(value: &str) -> Cow<'_, str> {
    if value.is_ascii() {
        let bytes = value.as_bytes();
        let mut previous_space = true;
        let already = bytes.iter().all(|&b| {
            let ok = !is_ascii_space(b) || (b == b' ' && !previous_space);
            previous_space = b == b' ';
            ok
        }) && bytes.last() != Some(&b' ');
        if already {
            return Cow::Borrowed(value);
        }
        let mut out = String::with_capacity(value.len());
        for word in value
            .split(|c: char| is_ascii_space(c as u8))
            .filter(|w| !w.is_empty())
        {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
        return Cow::Owned(out);
    }
    let mut previous_space = true;
    let already = value.chars().all(|c| {
        let ok = !c.is_whitespace() || (c == ' ' && !previous_space);
        previous_space = c == ' ';
        ok
    }) && !value.ends_with(' ');
    if already {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len());
    for word in value.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    Cow::Owned(out)
}

/// Runs `steps` over `value` (no trace).
pub fn run(steps: &[Step], value: &str) -> String {
    run_borrowing(steps, value).into_owned()
}

/// [`run`], the value kept borrowed while every step keeps (a part of) it.
pub fn run_borrowing<'v>(steps: &[Step], value: &'v str) -> Cow<'v, str> {
    let mut current = Cow::Borrowed(value);
    for step in steps {
        current = match current {
            Cow::Borrowed(value) => step.apply(value),
            Cow::Owned(value) => match step.apply(&value) {
                Cow::Borrowed(same) if same.len() == value.len() => Cow::Owned(value),
                changed => Cow::Owned(changed.into_owned()),
            },
        };
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shortcuts that return a value as it is agree with the full computations.
    #[test]
    fn unchanged_values_are_recognised_exactly() {
        for value in [
            "데이터 분석가",
            "シニアエンジニア",
            "ｼﾆｱｴﾝｼﾞﾆｱ",
            "ダイレクター Zoë",
            "Présidente",
            "Pre\u{301}sidente",
            "営業部長",
            "ǅ",
            "ǆ",
            "ΣΑΣ",
            "σας",
            "İstanbul",
            "\u{212a}elvin",
            "ﬁnance",
            "①",
            "a\u{308}\u{323}",
            "\u{1100}\u{1161}",
        ] {
            assert_eq!(
                Step::Nfkc.apply(value),
                value.nfkc().collect::<String>(),
                "{value}"
            );
            assert_eq!(Step::Lower.apply(value), value.to_lowercase(), "{value}");
            assert_eq!(
                Step::StripDiacritics.apply(value),
                strip_diacritics(value),
                "{value}"
            );
        }
        assert!(strips_nothing("데이터 분석가"));
        assert!(strips_nothing("シニアエンジニア"));
        assert!(!strips_nothing("Zoë"));
    }

    /// The byte-wise paths for ASCII text give what the `char` paths give.
    #[test]
    fn ascii_words_and_collapse_agree_with_the_char_paths() {
        let bytes: Vec<u8> = (0u8..128).collect();
        let mut values: Vec<String> = Vec::new();
        for &a in &bytes {
            for &b in b" \t\x0bx.7\r" {
                values.push(String::from_utf8(vec![a, b, b'y', a]).unwrap());
                values.push(String::from_utf8(vec![b, a, a, b' ', b]).unwrap());
            }
        }
        values.extend(
            [
                "",
                " ",
                "a",
                "a  b",
                " a b ",
                "Sr. Dir., Ops/EMEA",
                "a\x0bb",
            ]
            .map(String::from),
        );
        for value in &values {
            let spaced: String = value
                .chars()
                .map(|c| {
                    if c.is_alphanumeric() || is_combining_mark(c) {
                        c
                    } else {
                        ' '
                    }
                })
                .collect();
            let words: String = spaced.split_whitespace().collect::<Vec<_>>().join(" ");
            assert_eq!(Step::Words.apply(value), words, "{value:?}");
            let collapsed: String = value.split_whitespace().collect::<Vec<_>>().join(" ");
            assert_eq!(Step::Collapse.apply(value), collapsed, "{value:?}");
        }
    }

    #[test]
    fn steps_do_what_they_say() {
        assert_eq!(Step::Collapse.apply(" a \t b\u{a0}\nc "), "a b c");
        assert_eq!(Step::Nfkc.apply("ＣＥＯ\u{3000}x"), "CEO x");
        assert_eq!(
            Step::StripDiacritics.apply("Présidente Directrice générale"),
            "Presidente Directrice generale"
        );
        assert_eq!(
            Step::Words.apply("Sr. Dir., Ops/EMEA (Contract)"),
            "Sr Dir Ops EMEA Contract"
        );
        assert_eq!(
            Step::CutAfter(Separators::new(vec![",".into(), " - ".into()]))
                .apply("Director, Sales - EMEA"),
            "Director"
        );
        let replace = Step::replace(Regex::new(r"\bsr\b").unwrap(), "senior".into());
        assert_eq!(replace.apply("sr manager"), "senior manager");
        assert_eq!(replace.apply("営業 sr"), "営業 senior");
        assert_eq!(replace.apply("営業"), "営業");
        let shout = Step::replace(Regex::new(r"(?i)\bsr\b").unwrap(), "senior".into());
        assert_eq!(shout.apply("SR manager"), "senior manager");
        assert_eq!(Step::Lower.apply("ÉCOLE"), "école");
        let table = WordTable::new(
            "abbreviations".into(),
            vec![
                ("sr".into(), "senior".into()),
                ("sr.".into(), "senior".into()),
                ("v.p.".into(), "vp".into()),
                ("mgr".into(), "manager".into()),
            ],
        )
        .unwrap();
        let expand = Step::ReplaceWords(table);
        assert_eq!(expand.apply("sr. v.p. sales"), "senior vp sales");
        assert_eq!(expand.apply("srv mgr, sr"), "srv manager, senior");
        assert_eq!(expand.apply("nothing here"), "nothing here");
        // Keys in scripts written without spaces need no word boundary (as `has`).
        let ranks = WordTable::new(
            "ranks".into(),
            vec![
                ("부장".into(), "rkdir".into()),
                ("부행장".into(), "rksvp".into()),
                ("部長".into(), "rkdir".into()),
                ("ceo".into(), "rkexec".into()),
            ],
        )
        .unwrap();
        let ranks = Step::ReplaceWords(ranks);
        assert_eq!(ranks.apply("인사부장"), "인사rkdir");
        assert_eq!(ranks.apply("마케팅본부 부행장보"), "마케팅본부 rksvp보");
        assert_eq!(ranks.apply("副看護部長"), "副看護rkdir");
        assert_eq!(ranks.apply("ceo社長 ceos"), "rkexec社長 ceos");
        assert_eq!(
            Step::StripDiacritics.apply("ダイレクター Zoë"),
            "ダイレクター Zoe"
        );
        assert_eq!(Step::Words.apply("a b"), "a b");
        assert_eq!(Step::Lower.apply("ǅ Σ"), "ǆ σ");
        assert_eq!(Step::Nfkc.apply("ｼﾆｱ ①"), "シニア 1");
        assert_eq!(Step::Words.apply("a  b "), "a b");
        assert_eq!(Step::Collapse.apply("a b"), "a b");
        assert_eq!(
            run(&[Step::Trim, Step::Lower, Step::Words], "  Sr. VP "),
            "sr vp"
        );
    }

    #[test]
    fn after_keeps_the_text_past_the_first_separator() {
        let after = Step::After(Separators::new(vec![",".into(), ";".into()]));
        assert_eq!(after.apply("Diaz, Ana María"), "Ana María");
        assert_eq!(after.apply("Diaz;Ana, Jr"), "Ana, Jr");
        assert_eq!(after.apply("Okonkwo"), "");
        assert_eq!(after.apply("Diaz,"), "");
    }

    #[test]
    fn first_and_last_words() {
        assert_eq!(Step::FirstWord.apply("  Ana\u{3000}María "), "Ana");
        assert_eq!(Step::LastWord.apply("  Ana María de la Cruz "), "Cruz");
        assert_eq!(Step::FirstWord.apply("   "), "");
        assert_eq!(Step::LastWord.apply(""), "");
    }

    /// Dates are read only as declared, and respelled ISO; anything else is left as it is.
    #[test]
    fn dates_are_read_as_declared_and_never_guessed() {
        let iso = Step::Date(None);
        assert_eq!(iso.apply("2026-01-31"), "2026-01-31");
        assert_eq!(iso.apply(" 2026-01-31T09:30:00Z "), "2026-01-31");
        assert_eq!(iso.apply("2026-01-31T23:30:00-05:00"), "2026-01-31");
        assert_eq!(iso.apply("03/04/2026"), "03/04/2026");
        assert_eq!(iso.apply("2026-02-30"), "2026-02-30");
        let us = Step::Date(Some("%m/%d/%Y".into()));
        assert_eq!(us.apply("03/04/2026"), "2026-03-04");
        assert_eq!(us.apply("3/4/2026"), "2026-03-04");
        assert_eq!(us.apply("31/12/2025"), "31/12/2025");
        assert_eq!(us.apply("2026-03-04"), "2026-03-04");
        let european = Step::Date(Some("%d.%m.%Y".into()));
        assert_eq!(european.apply("31.12.2025"), "2025-12-31");
        assert_eq!(describe_all(&[iso, us]), "date, date(\"%m/%d/%Y\")");
    }

    fn describe_all(steps: &[Step]) -> String {
        steps
            .iter()
            .map(Step::describe)
            .collect::<Vec<_>>()
            .join(", ")
    }
}
