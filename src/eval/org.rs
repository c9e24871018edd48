//! The population a record is evaluated in: who names whom as their manager (`reports_to`),
//! and what `reports` tests count.
//!
//! A record's *keys* are its values of a link's person inputs (its email, its id); its
//! *manager reference* is its values of the links' manager inputs. The index keeps one entry
//! per distinct manager reference (so its memory grows with the number of managers, not of
//! rows): how many active people name it, and, when asked, who they are.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde::Serialize;

use super::Run;
use crate::program::Program;
use crate::value::{is_blank, Record};

/// The status value of a deactivated person: they do not count as anyone's report.
pub const INACTIVE: &str = "inactive";

/// How many reporters' names an index keeps per manager for traces.
pub const PEOPLE_SHOWN: usize = 20;

/// A key: the link's index in the program (`reports_to` in file order) and the value.
pub type OrgKey = (u16, String);

/// One record's place in the organisation graph.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgEntry {
    /// Its own keys, per link (the person inputs' values that are not blank).
    pub keys: Vec<OrgKey>,
    /// Whom it names as manager, per link (the manager input's value, when not blank).
    pub manager: Vec<OrgKey>,
    /// `false` when the record's `status` is `inactive`.
    pub active: bool,
}

impl OrgEntry {
    /// Whether the record names itself as its manager.
    pub fn names_itself(&self) -> bool {
        self.manager.iter().any(|m| self.keys.contains(m))
    }

    /// The record as people read it: its first key, or `fallback`.
    pub fn display(&self, fallback: impl FnOnce() -> String) -> String {
        self.keys
            .first()
            .map_or_else(fallback, |(_, value)| value.clone())
    }
}

/// The people who name a record's person as their manager.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reports {
    /// How many (active, not the person themself).
    pub count: u64,
    /// Who, where the population knows (at most [`PEOPLE_SHOWN`]; a dry run's index keeps
    /// counts only).
    pub people: Vec<String>,
}

/// What `reports` tests count.
pub trait Population: Sync {
    /// The people who name one of `keys` as their manager.
    fn reports(&self, keys: &[OrgKey]) -> Reports;
}

impl Program {
    /// The record's keys and manager reference (and, with `status`, whether it is active:
    /// the `status` field's rules run for that).
    pub fn org_entry(
        &self,
        record: &dyn Record,
        status: bool,
        today: Option<NaiveDate>,
    ) -> OrgEntry {
        let mut run = Run::new(self, record).on(today);
        let mut entry = OrgEntry {
            active: true,
            ..OrgEntry::default()
        };
        for (link, reports_to) in self.reports_to.iter().enumerate() {
            let link = link as u16;
            let manager = run.value(reports_to.manager);
            if !is_blank(manager) {
                entry.manager.push((link, manager.to_string()));
            }
            for person in &reports_to.people {
                let value = run.value(*person);
                if !is_blank(value) {
                    let key = (link, value.to_string());
                    if !entry.keys.contains(&key) {
                        entry.keys.push(key);
                    }
                }
            }
        }
        if status {
            if let Some(field) = self.fields.iter().find(|f| &*f.name == "status") {
                let outcome = run.field(field, None);
                entry.active = outcome.value.as_deref() != Some(INACTIVE);
            }
        }
        entry
    }
}

/// A distinct manager reference and who names it.
#[derive(Debug, Default)]
struct Named {
    keys: Vec<OrgKey>,
    /// Active people naming it (self-references left out).
    count: u64,
    /// Every row naming it, inactive ones too (for the report).
    rows: u64,
    /// Up to `keep` of the active people, in input order.
    people: Vec<String>,
}

/// The population of a whole input, indexed per distinct manager reference. Build it with
/// [`OrgIndex::add`] over every record, then ask it as a [`Population`].
#[derive(Debug, Default)]
pub struct OrgIndex {
    refs: HashMap<Vec<OrgKey>, u32>,
    named: Vec<Named>,
    /// Each key that some reference holds → those references.
    by_key: HashMap<OrgKey, Vec<u32>>,
    /// How many reporters' names to keep per reference (0 in a dry run).
    keep: usize,
    /// Records seen, and records that name no manager.
    pub records: u64,
    pub no_manager: u64,
    /// Records that name themselves as manager, and the first few of them.
    pub self_references: u64,
    pub self_examples: Vec<String>,
}

/// How many examples a report lists per finding.
pub const EXAMPLES: usize = 10;

impl OrgIndex {
    /// An index that keeps up to `keep` names per manager (for traces; 0 for counts only).
    pub fn new(keep: usize) -> Self {
        Self {
            keep,
            ..Self::default()
        }
    }

    /// Adds one record (`who` names it, for traces and the report).
    pub fn add(&mut self, entry: &OrgEntry, who: impl FnOnce() -> String) {
        self.records += 1;
        if entry.manager.is_empty() {
            self.no_manager += 1;
            return;
        }
        if entry.names_itself() {
            self.self_references += 1;
            if self.self_examples.len() < EXAMPLES {
                self.self_examples.push(entry.display(who));
            }
            return;
        }
        let id = match self.refs.get(&entry.manager) {
            Some(id) => *id,
            None => {
                let id = self.named.len() as u32;
                self.refs.insert(entry.manager.clone(), id);
                self.named.push(Named {
                    keys: entry.manager.clone(),
                    ..Named::default()
                });
                for key in &entry.manager {
                    self.by_key.entry(key.clone()).or_default().push(id);
                }
                id
            }
        };
        let Some(named) = self.named.get_mut(id as usize) else {
            return;
        };
        named.rows += 1;
        if entry.active {
            named.count += 1;
            if named.people.len() < self.keep {
                named.people.push(entry.display(who));
            }
        }
    }

    /// The reference ids a record's keys match.
    pub fn matched_by(&self, keys: &[OrgKey]) -> Vec<u32> {
        let mut ids: Vec<u32> = keys
            .iter()
            .filter_map(|key| self.by_key.get(key))
            .flatten()
            .copied()
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The id of a manager reference, if some record named it.
    pub fn reference_id(&self, manager: &[OrgKey]) -> Option<u32> {
        self.refs.get(manager).copied()
    }

    /// How many distinct references there are (ids run from 0 below it).
    pub fn len(&self) -> usize {
        self.named.len()
    }

    pub fn is_empty(&self) -> bool {
        self.named.is_empty()
    }

    /// The first active person who names reference `id` (when the index keeps names).
    pub fn first_report(&self, id: u32) -> Option<&str> {
        self.named
            .get(id as usize)?
            .people
            .first()
            .map(String::as_str)
    }

    /// A reference's keys and how many rows name it (inactive ones too).
    pub fn reference(&self, id: u32) -> Option<(&[OrgKey], u64)> {
        let named = self.named.get(id as usize)?;
        Some((&named.keys, named.rows))
    }
}

impl Population for OrgIndex {
    fn reports(&self, keys: &[OrgKey]) -> Reports {
        let mut reports = Reports::default();
        for id in self.matched_by(keys) {
            if let Some(named) = self.named.get(id as usize) {
                reports.count += named.count;
                for person in &named.people {
                    if reports.people.len() < PEOPLE_SHOWN {
                        reports.people.push(person.clone());
                    }
                }
            }
        }
        reports
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{FlatRecord, JsonRecord};

    fn default_pack() -> Program {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/rules/default.rules");
        Program::load(std::path::Path::new(path)).expect("the default pack loads")
    }

    fn row(pairs: &[(&str, &str)]) -> FlatRecord {
        let mut record = FlatRecord::new();
        for (name, value) in pairs {
            record.set(name, *value);
        }
        record
    }

    fn index(program: &Program, records: &[FlatRecord]) -> OrgIndex {
        let mut index = OrgIndex::new(PEOPLE_SHOWN);
        for (n, record) in records.iter().enumerate() {
            let entry = program.org_entry(record, true, None);
            index.add(&entry, || format!("row {}", n + 1));
        }
        index
    }

    fn people_manager(program: &Program, record: &FlatRecord, index: &OrgIndex) -> Option<String> {
        let profile = program.apply_in(record, index, None);
        profile.get("people_manager").map(str::to_string)
    }

    /// Ana (no flag) is named by two people; Bo sent `no` and is named by one; Cy is named
    /// by a deactivated report only; Dee names herself.
    fn population() -> Vec<FlatRecord> {
        vec![
            row(&[("email", "Ana@Acme.com"), ("status", "ACTIVE")]),
            row(&[
                ("email", "bo@acme.com"),
                ("isManager", "No"),
                ("managerEmail", "ana@acme.com"),
            ]),
            row(&[("email", "cy@acme.com"), ("managerEmail", " ANA@acme.com ")]),
            row(&[("email", "di@acme.com"), ("managerEmail", "bo@acme.com")]),
            row(&[
                ("email", "ed@acme.com"),
                ("managerEmail", "cy@acme.com"),
                ("status", "TERMINATED"),
            ]),
            row(&[("email", "dee@acme.com"), ("managerEmail", "dee@acme.com")]),
        ]
    }

    #[test]
    fn a_manager_named_by_two_reports_becomes_yes() {
        let program = default_pack();
        let people = population();
        let index = index(&program, &people);
        assert_eq!(
            people_manager(&program, &people[0], &index).as_deref(),
            Some("yes")
        );
        let trace = program.explain_in(&people[0], &index, None);
        let field = trace.field("people_manager").expect("traced");
        let reports = field.reports.as_ref().expect("the people counted");
        assert_eq!(reports.count, 2);
        assert_eq!(reports.people, vec!["bo@acme.com", "cy@acme.com"]);
        assert!(trace
            .render()
            .contains("2 people report to this person: bo@acme.com, cy@acme.com"));
    }

    #[test]
    fn a_sent_no_stays_no_under_the_default_pack() {
        let program = default_pack();
        let people = population();
        let index = index(&program, &people);
        assert_eq!(
            people_manager(&program, &people[1], &index).as_deref(),
            Some("no")
        );
    }

    #[test]
    fn deactivated_reports_and_self_references_do_not_count() {
        let program = default_pack();
        let people = population();
        let index = index(&program, &people);
        assert_eq!(people_manager(&program, &people[2], &index), None);
        assert_eq!(people_manager(&program, &people[5], &index), None);
        assert_eq!(index.self_references, 1);
        assert_eq!(index.self_examples, vec!["dee@acme.com"]);
        assert_eq!(index.no_manager, 1);
    }

    #[test]
    fn a_customer_file_may_let_the_count_win() {
        let rules = "field people_manager: flag\n\
                     input flag = isManager | lower\n\
                     input me = email | lower\n\
                     input mgr = managerEmail | trim | lower\n\
                     reports_to mgr -> me\n\
                     map people_manager {\n\
                       rule counted: reports >= 1 -> yes\n\
                       rule nobody: reports == 0 -> no\n\
                       rule sent_no: flag == \"no\" -> no\n\
                       else -> unset\n\
                     }\n";
        let program = Program::from_source("count_wins.rules", rules).expect("compiles");
        let people = population();
        let index = index(&program, &people);
        assert_eq!(
            people_manager(&program, &people[1], &index).as_deref(),
            Some("yes")
        );
        assert_eq!(
            people_manager(&program, &people[3], &index).as_deref(),
            Some("no")
        );
        // Alone (no population), `reports` tests do not hold either way.
        assert_eq!(program.apply(&people[1]).get("people_manager"), Some("no"));
    }

    #[test]
    fn scim_users_are_matched_by_the_enterprise_manager_id() {
        let program = default_pack();
        let boss = serde_json::json!({"id": "u-1", "userName": "boss@acme.com"});
        let report = |id: &str| {
            serde_json::json!({
                "id": id,
                "userName": format!("{id}@acme.com"),
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                    "manager": {"value": "u-1"}
                }
            })
        };
        let (a, b) = (report("u-2"), report("u-3"));
        let mut index = OrgIndex::new(PEOPLE_SHOWN);
        for user in [&boss, &a, &b] {
            let record = JsonRecord::new(user);
            index.add(&program.org_entry(&record, true, None), String::new);
        }
        let profile = program.apply_in(&JsonRecord::new(&boss), &index, None);
        assert_eq!(profile.get("people_manager"), Some("yes"));
        let reports = index.reports(&program.org_entry(&JsonRecord::new(&boss), false, None).keys);
        assert_eq!(reports.people, vec!["u-2@acme.com", "u-3@acme.com"]);
    }

    /// The cached evaluator keys a field that tests `reports` by the count too.
    #[test]
    fn the_evaluator_agrees_with_apply_in() {
        let program = default_pack();
        let people = population();
        let index = index(&program, &people);
        let mut evaluator = program.evaluator().among(&index);
        for _ in 0..3 {
            for person in &people {
                let cached = evaluator.apply(person);
                let direct = program.apply_in(person, &index, None);
                assert_eq!(cached.get("people_manager"), direct.get("people_manager"));
            }
        }
    }
}
