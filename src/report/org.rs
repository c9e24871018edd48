//! The dry run's organisation section: manager references that match no person,
//! self-references, cycles, the deepest chain, people who name no manager.
//!
//! The first pass's [`OrgIndex`] holds one entry per distinct manager reference. The mapping
//! pass notes, per reference, the person it names ([`OrgSeen`]: one slot per reference, so
//! memory stays per manager, not per row) and whom that person names in turn. Each reference
//! then has at most one way up, so the graph is walked once: every cycle is found and
//! reported (never followed twice), and the depth of every chain is known.

use std::fmt::Write as _;

use serde::Serialize;

use crate::eval::org::EXAMPLES;
use crate::eval::{OrgEntry, OrgIndex};

/// The person a manager reference names, as the mapping pass found them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Named {
    /// How the person reads (their first key).
    person: String,
    /// The reference of the manager this person names, if any.
    manager: Option<u32>,
}

/// Per manager reference of the index: the person it names. Workers each keep one; merged,
/// the person whose name sorts first wins where several match (duplicates), so a run's report
/// does not depend on `--jobs`.
#[derive(Debug, Clone, Default)]
pub struct OrgSeen {
    /// Per reference; allocated by the first note (a dry run's workers note nothing where
    /// the first pass noted every record).
    named: Vec<Option<Named>>,
    references: usize,
}

impl OrgSeen {
    pub fn new(references: usize) -> Self {
        Self {
            named: Vec::new(),
            references,
        }
    }

    /// Notes that `person` (naming `manager`) is the one reference `id` names.
    pub fn note(&mut self, id: u32, person: &str, manager: Option<u32>) {
        if self.named.len() < self.references {
            self.named.resize(self.references, None);
        }
        let Some(slot) = self.named.get_mut(id as usize) else {
            return;
        };
        let better = match slot {
            Some(named) => person < named.person.as_str(),
            None => true,
        };
        if better {
            *slot = Some(Named {
                person: person.to_string(),
                manager,
            });
        }
    }

    /// Notes which manager references of `index` name the person of `entry` (a record's
    /// keys and manager reference), and whom that person names in turn (`matched` is
    /// scratch, reused between records).
    pub fn note_entry(&mut self, index: &OrgIndex, entry: &OrgEntry, matched: &mut Vec<u32>) {
        index.matched_into(
            entry
                .keys
                .iter()
                .map(|(link, value)| (*link, value.as_str())),
            matched,
        );
        self.note_matched(index, entry, matched);
    }

    /// [`OrgSeen::note_entry`] with the references the person's keys match already found
    /// (a dry run finds them with the lookup that counted the person's reports).
    pub fn note_matched(&mut self, index: &OrgIndex, entry: &OrgEntry, matched: &[u32]) {
        if matched.is_empty() {
            return;
        }
        let manager = if entry.names_itself() {
            None
        } else {
            index.reference_id(&entry.manager)
        };
        let person = entry.keys.first().map_or("", |(_, value)| value.as_str());
        for id in matched {
            self.note(*id, person, manager);
        }
    }

    pub fn merge(&mut self, other: OrgSeen) {
        self.references = self.references.max(other.references);
        for (id, theirs) in other.named.into_iter().enumerate() {
            if let Some(theirs) = theirs {
                self.note(id as u32, &theirs.person, theirs.manager);
            }
        }
    }
}

/// The organisation section of a dry run's report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OrgReport {
    /// Rows read by the first pass.
    pub people: u64,
    /// Rows that name no manager.
    pub no_manager: u64,
    /// Distinct managers named, and how many of them are people of the input.
    pub managers_named: u64,
    pub managers_found: u64,
    /// Manager references that match no person: distinct, rows naming them, the most named.
    pub unmatched: u64,
    pub unmatched_rows: u64,
    pub unmatched_examples: Vec<(String, u64)>,
    /// Rows that name themselves as manager, and the first of them.
    pub self_references: u64,
    pub self_examples: Vec<String>,
    /// Each cycle once, its people in order, starting at the name that sorts first.
    pub cycles: u64,
    pub cycle_examples: Vec<Vec<String>>,
    /// The longest chain from a person up to someone who names no manager (or into a
    /// cycle, or to a manager who is not in the data): its length in people, and who, the
    /// bottom first.
    pub deepest: u64,
    pub deepest_chain: Vec<String>,
}

/// How many people of the deepest chain the report lists.
const CHAIN_SHOWN: usize = 30;

impl OrgReport {
    pub fn build(index: &OrgIndex, seen: &OrgSeen) -> Self {
        let n = index.len();
        let named = |id: usize| seen.named.get(id).and_then(Option::as_ref);
        // A reference's way up: the reference its person names (not itself).
        let up = |id: usize| -> Option<usize> {
            let next = named(id)?.manager? as usize;
            (next != id && next < n).then_some(next)
        };
        let mut report = OrgReport {
            people: index.records,
            no_manager: index.no_manager,
            managers_named: n as u64,
            self_references: index.self_references,
            self_examples: index.self_examples.clone(),
            ..OrgReport::default()
        };
        let mut unmatched = Vec::new();
        for id in 0..n {
            match named(id) {
                Some(_) => report.managers_found += 1,
                None => {
                    if let Some((keys, rows)) = index.reference(id as u32) {
                        report.unmatched += 1;
                        report.unmatched_rows += rows;
                        unmatched.push((keys.join(" / "), rows));
                    }
                }
            }
        }
        unmatched.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        unmatched.truncate(EXAMPLES);
        report.unmatched_examples = unmatched;

        // depth[id]: people from the reference's person up to the top (0: not computed).
        let mut depth = vec![0u64; n];
        let mut on_path = vec![false; n];
        let mut cycles: Vec<Vec<String>> = Vec::new();
        for start in 0..n {
            if depth[start] != 0 || named(start).is_none() {
                continue;
            }
            let mut path = Vec::new();
            let mut at = start;
            // Walk up until a reference already known, the top, or one on this walk.
            let base = loop {
                if depth[at] != 0 {
                    break depth[at];
                }
                if on_path[at] {
                    // A cycle: its people count once, and each of them has that depth.
                    let from = path.iter().position(|p| *p == at).unwrap_or(0);
                    let members: Vec<usize> = path.split_off(from);
                    let length = members.len() as u64;
                    let mut names: Vec<String> = members
                        .iter()
                        .filter_map(|m| named(*m).map(|x| x.person.clone()))
                        .collect();
                    if let Some(first) = (0..names.len()).min_by(|a, b| names[*a].cmp(&names[*b])) {
                        names.rotate_left(first);
                    }
                    cycles.push(names);
                    for member in members {
                        on_path[member] = false;
                        depth[member] = length;
                    }
                    break length;
                }
                on_path[at] = true;
                path.push(at);
                match up(at) {
                    Some(next) if named(next).is_some() => at = next,
                    _ => break 0,
                }
            };
            let mut below = base;
            for id in path.into_iter().rev() {
                on_path[id] = false;
                below += 1;
                depth[id] = below;
            }
        }
        report.cycles = cycles.len() as u64;
        cycles.sort();
        cycles.truncate(EXAMPLES);
        report.cycle_examples = cycles;

        // The deepest: a report of the deepest reference, then its person and those above.
        let deepest = (0..n).filter(|id| named(*id).is_some()).max_by(|a, b| {
            depth[*a].cmp(&depth[*b]).then_with(|| {
                let name = |id: usize| named(id).map(|x| x.person.as_str());
                name(*b).cmp(&name(*a))
            })
        });
        if let Some(top) = deepest {
            report.deepest = depth[top] + 1;
            let mut chain = vec![index
                .first_report(top as u32)
                .unwrap_or("(a report)")
                .to_string()];
            let mut at = Some(top);
            let mut visited = vec![false; n];
            while let Some(id) = at {
                if visited[id] || chain.len() >= CHAIN_SHOWN {
                    break;
                }
                visited[id] = true;
                if let Some(x) = named(id) {
                    chain.push(x.person.clone());
                }
                at = up(id).filter(|next| named(*next).is_some());
            }
            report.deepest_chain = chain;
        } else if report.people > 0 {
            report.deepest = 1;
        }
        report
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\norganisation (reports_to): {} people; {} name a manager, {} do not",
            self.people,
            self.people - self.no_manager,
            self.no_manager
        );
        let _ = writeln!(
            out,
            "  manager references: {} distinct, {} of them name a person of the input",
            self.managers_named, self.managers_found
        );
        if self.unmatched > 0 {
            let _ = writeln!(
                out,
                "  manager references that match no person: {} distinct, named in {} rows",
                self.unmatched, self.unmatched_rows
            );
            for (reference, rows) in &self.unmatched_examples {
                let _ = writeln!(out, "  {rows:>8}  {reference}");
            }
        }
        if self.self_references > 0 {
            let _ = writeln!(
                out,
                "  people who name themselves as manager: {} ({})",
                self.self_references,
                self.self_examples.join(", ")
            );
        }
        if self.cycles > 0 {
            let _ = writeln!(out, "  cycles (reported, not followed): {}", self.cycles);
            for cycle in &self.cycle_examples {
                let mut names = cycle.clone();
                if let Some(first) = cycle.first() {
                    names.push(first.clone());
                }
                let _ = writeln!(out, "    {}", names.join(" → "));
            }
        }
        let _ = writeln!(
            out,
            "  deepest chain: {} people{}",
            self.deepest,
            if self.deepest_chain.is_empty() {
                String::new()
            } else {
                format!(" ({}, the top last)", self.deepest_chain.join(" → "))
            }
        );
        out
    }

    pub fn to_markdown(&self) -> String {
        let mut out = String::from("## Organisation (`reports_to`)\n\n");
        let _ = writeln!(
            out,
            "{} people; {} name a manager, {} do not. Manager references: {} distinct, {} of them name a person of the input.\n",
            self.people,
            self.people - self.no_manager,
            self.no_manager,
            self.managers_named,
            self.managers_found
        );
        if self.unmatched > 0 {
            let _ = writeln!(
                out,
                "Manager references that match no person: {} distinct, named in {} rows.\n\n| reference | rows |\n|---|---:|",
                self.unmatched, self.unmatched_rows
            );
            for (reference, rows) in &self.unmatched_examples {
                let _ = writeln!(out, "| {} | {rows} |", super::md_escape(reference));
            }
            out.push('\n');
        }
        if self.self_references > 0 {
            let _ = writeln!(
                out,
                "People who name themselves as manager: {} ({}).\n",
                self.self_references,
                super::md_escape(&self.self_examples.join(", "))
            );
        }
        if self.cycles > 0 {
            let _ = writeln!(out, "Cycles (reported, not followed): {}.\n", self.cycles);
            for cycle in &self.cycle_examples {
                let mut names = cycle.clone();
                if let Some(first) = cycle.first() {
                    names.push(first.clone());
                }
                let _ = writeln!(out, "- {}", super::md_escape(&names.join(" → ")));
            }
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "Deepest chain: {} people ({}, the top last).\n",
            self.deepest,
            super::md_escape(&self.deepest_chain.join(" → "))
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::OrgEntry;

    fn entry(me: &str, manager: Option<&str>) -> OrgEntry {
        OrgEntry {
            keys: vec![(0, me.to_string())],
            manager: manager
                .map(|m| vec![(0, m.to_string())])
                .unwrap_or_default(),
            active: true,
        }
    }

    /// Both passes over a list of (person, manager) in memory.
    fn report(people: &[(&str, Option<&str>)]) -> OrgReport {
        let mut index = OrgIndex::new(1);
        for (me, manager) in people {
            index.add(&entry(me, *manager), String::new);
        }
        let mut seen = OrgSeen::new(index.len());
        for (me, manager) in people {
            let entry = entry(me, *manager);
            let up = if entry.names_itself() {
                None
            } else {
                index.reference_id(&entry.manager)
            };
            for id in index.matched_by(&entry.keys) {
                seen.note(id, me, up);
            }
        }
        OrgReport::build(&index, &seen)
    }

    /// c → b → a → c is one cycle, found once whichever member the walk starts from; d and e
    /// hang below it, and the chain that ends in the cycle counts its people once.
    #[test]
    fn a_cycle_is_reported_once_and_never_followed() {
        let report = report(&[
            ("e", Some("d")),
            ("a", Some("c")),
            ("b", Some("a")),
            ("c", Some("b")),
            ("d", Some("a")),
        ]);
        assert_eq!(report.cycles, 1);
        assert_eq!(report.cycle_examples, vec![vec!["a", "c", "b"]]);
        // e → d → (a, c, b): five people.
        assert_eq!(report.deepest, 5);
        assert_eq!(report.deepest_chain, vec!["e", "d", "a", "c", "b"]);
        assert_eq!(report.unmatched, 0);
        assert_eq!(report.no_manager, 0);
    }

    #[test]
    fn chains_references_and_self_references() {
        let report = report(&[
            ("top", None),
            ("mid", Some("top")),
            ("low", Some("mid")),
            ("x", Some("nobody")),
            ("me", Some("me")),
        ]);
        assert_eq!(report.deepest, 3);
        assert_eq!(report.deepest_chain, vec!["low", "mid", "top"]);
        assert_eq!(report.unmatched_examples, vec![("nobody".to_string(), 1)]);
        assert_eq!(report.self_references, 1);
        assert_eq!(report.no_manager, 1);
        assert_eq!(report.people, 5);
    }

    /// A long chain is walked without recursion (no stack to overflow).
    #[test]
    fn a_chain_of_a_hundred_thousand_people() {
        let names: Vec<String> = (0..100_000).map(|n| format!("p{n:06}")).collect();
        let people: Vec<(&str, Option<&str>)> = names
            .iter()
            .enumerate()
            .map(|(n, me)| (me.as_str(), n.checked_sub(1).map(|m| names[m].as_str())))
            .collect();
        let report = report(&people);
        assert_eq!(report.deepest, 100_000);
        assert_eq!(report.deepest_chain.len(), CHAIN_SHOWN);
    }
}
