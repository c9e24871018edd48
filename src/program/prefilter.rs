//! Which rules of a field are worth trying for a record.
//!
//! A rule whose condition is a word-list test (`t has any [...]`), a regex test that runs in
//! the field's `RegexSet`, or an `or` of those, can only match when one of its words or
//! regexes was found. The field's word indexes and regex sets are scanned once per record
//! anyway; the found terms and regexes then name the few rules that can match, and only those
//! (with every rule of any other shape) are tried, in their order. A field of a thousand title
//! rules costs a record what its handful of candidates cost, not a thousand tests.

use super::{CompiledRule, Cond, InputId, LeafTest};

/// Below this many rules that a found word or regex can name, trying every rule is cheaper.
const MIN_INDEXED_RULES: usize = 16;

#[derive(Debug, Default)]
pub struct Prefilter {
    /// Rules tried whatever was found: conditions of any other shape.
    pub(crate) always: Vec<usize>,
    /// Per input with a word index: term → rules it can make match.
    pub(crate) by_term: Vec<(InputId, Vec<Vec<usize>>)>,
    /// Per input with a regex set: slot → rules it can make match.
    pub(crate) by_slot: Vec<(InputId, Vec<Vec<usize>>)>,
}

enum Trigger {
    Term(InputId, usize),
    Slot(InputId, usize),
}

impl Prefilter {
    /// `None` when the field has too few indexed rules for a prefilter to pay.
    pub fn build(rules: &[CompiledRule]) -> Option<Self> {
        let mut prefilter = Self::default();
        let mut indexed = 0;
        for (index, rule) in rules.iter().enumerate() {
            let mut triggers = Vec::new();
            if !triggers_of(&rule.condition, &mut triggers) || triggers.is_empty() {
                prefilter.always.push(index);
                continue;
            }
            indexed += 1;
            for trigger in triggers {
                let (list, input, at) = match trigger {
                    Trigger::Term(input, term) => (&mut prefilter.by_term, input, term),
                    Trigger::Slot(input, slot) => (&mut prefilter.by_slot, input, slot),
                };
                let rules_of = super::per_input(list, input, Vec::new);
                if rules_of.len() <= at {
                    rules_of.resize(at + 1, Vec::new());
                }
                if rules_of[at].last() != Some(&index) {
                    rules_of[at].push(index);
                }
            }
        }
        (indexed >= MIN_INDEXED_RULES).then_some(prefilter)
    }
}

/// Collects what can make `cond` true; `false` when something else can (any other shape).
fn triggers_of(cond: &Cond, triggers: &mut Vec<Trigger>) -> bool {
    match cond {
        Cond::Leaf(leaf) => match &leaf.test {
            LeafTest::Words(terms) => {
                triggers.extend(terms.iter().map(|t| Trigger::Term(leaf.input, *t)));
                true
            }
            LeafTest::Regex {
                slot: Some(slot), ..
            } => {
                triggers.push(Trigger::Slot(leaf.input, *slot));
                true
            }
            _ => false,
        },
        Cond::Or(parts) => parts.iter().all(|part| triggers_of(part, triggers)),
        Cond::Always | Cond::And(_) | Cond::Not(_) | Cond::Reports(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::{FlatRecord, Program};

    /// With a prefilter, the first matching rule in file order still wins, rules of other
    /// shapes are still tried, and the result equals a trace's (which tries every rule).
    #[test]
    fn the_prefilter_keeps_rule_order() {
        let mut rules = String::from("field f: text\ninput t = title | lower | words\nmap f {\n");
        for n in 0..20 {
            rules.push_str(&format!(
                "  rule w{n}: t has any [\"word{n}\", \"both\"] -> \"w{n}\"\n"
            ));
            if n == 5 {
                rules.push_str("  rule short: t starts with \"zz\" -> \"short\"\n");
                rules.push_str(
                    "  rule either: t has \"alpha\" or t matches /beta\\d/ -> \"either\"\n",
                );
            }
            rules.push_str(&format!("  rule r{n}: t matches /^code{n}x/ -> \"r{n}\"\n"));
        }
        rules.push_str("  else -> \"none\"\n}\n");
        let program = Program::from_source("prefilter.rules", &rules).unwrap();
        assert!(program.fields[0].prefilter.is_some());
        let cases = [
            ("word3", "w3"),
            ("code3x word3", "w3"),
            ("code2x word3", "r2"),
            ("both", "w0"),
            ("zz word9", "short"),
            ("word9 beta7", "either"),
            ("alpha", "either"),
            ("code19x", "r19"),
            ("nothing here", "none"),
        ];
        for (title, expected) in cases {
            let record = FlatRecord::from_pairs([("title", title)]);
            assert_eq!(program.apply(&record).get("f"), Some(expected), "{title}");
            let traced = program.explain(&record);
            assert_eq!(traced.fields[0].value.as_deref(), Some(expected), "{title}");
        }
    }
}
