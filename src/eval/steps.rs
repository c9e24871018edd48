//! Normalisation steps: the `| step` pipeline of an input.

use regex::Regex;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

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
    },
    /// Cut the value at the first of these separators (and trim): `Director, Sales - EMEA`
    /// with `cut_after(",")` → `Director`.
    CutAfter(Vec<String>),
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
            Self::Replace { regex, with } => format!("replace(/{}/, {with:?})", regex.as_str()),
            Self::CutAfter(separators) => format!("cut_after({})", {
                let quoted: Vec<String> = separators.iter().map(|s| format!("{s:?}")).collect();
                quoted.join(", ")
            }),
        }
    }

    pub fn apply(&self, value: &str) -> String {
        match self {
            Self::Trim => value.trim().to_string(),
            Self::Collapse => collapse(value),
            Self::Lower => value.to_lowercase(),
            Self::Upper => value.to_uppercase(),
            Self::Nfkc => value.nfkc().collect(),
            Self::StripDiacritics => value
                .nfd()
                .filter(|c| !is_combining_mark(*c))
                .nfc()
                .collect(),
            Self::Words => {
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
                collapse(&spaced)
            }
            Self::Replace { regex, with } => regex.replace_all(value, with.as_str()).into_owned(),
            Self::CutAfter(separators) => {
                let cut = separators
                    .iter()
                    .filter_map(|separator| value.find(separator.as_str()))
                    .min()
                    .unwrap_or(value.len());
                value[..cut].trim().to_string()
            }
        }
    }
}

fn collapse(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for word in value.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Runs `steps` over `value` (no trace).
pub fn run(steps: &[Step], value: &str) -> String {
    let mut current = value.to_string();
    for step in steps {
        current = step.apply(&current);
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

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
            Step::CutAfter(vec![",".into(), " - ".into()]).apply("Director, Sales - EMEA"),
            "Director"
        );
        let replace = Step::Replace {
            regex: Regex::new(r"\bsr\b").unwrap(),
            with: "senior".into(),
        };
        assert_eq!(replace.apply("sr manager"), "senior manager");
        assert_eq!(Step::Lower.apply("ÉCOLE"), "école");
    }
}
