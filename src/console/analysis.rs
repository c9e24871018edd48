//! The engine's reports over a customer's stored users: the dry run's coverage report
//! ([`Coverage`]) and `canon diff`'s report ([`DiffStats`]).
//!
//! Users are read as the service maps them (scim/org.rs): through the tenant's extension
//! aliases and, where the rules declare `reports_to`, with their `id` and in their
//! population (who names whom as manager), so `reports` tests and the `people_manager` they
//! derive come out as the service stores them. The users are streamed, so memory stays flat:
//! with an organisation graph in two passes (the populations are indexed before the first
//! user is mapped), else in one.
//!
//! Only ids and bodies are read from the store ([`ResourceStore::scan_bodies`]): decoding
//! the stored profiles cost about as much as the bodies (benches/README.md).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::NaiveDate;
use serde_json::Value;

use crate::eval::{OrgEntry, OrgIndex, OrgReader};
use crate::report::{Coverage, CoverageReport, DiffReport, DiffStats};
use crate::scim::extensions::Extensions;
use crate::store::{Kind, ResourceStore, StoreError, TenantId, UserSummary};
use crate::value::AttrPath;
use crate::{Evaluator, JsonRecord, Program, Record};

/// How many of the most frequent unmapped raw values each input shows.
pub(crate) const TOP_UNMAPPED: usize = 15;

/// The customer's users, streamed from the store for each pass over them.
pub(crate) struct Users<'s> {
    store: &'s dyn ResourceStore,
    tenant: &'s TenantId,
    extensions: &'s Extensions,
    /// Whether a user's record holds its `id` (some program reads the organisation graph;
    /// Okta's and Entra's `manager.value` names ids).
    with_id: bool,
}

/// A user's record as the service reads it: the service maps a user with its `id` only
/// where the rules declare `reports_to` (scim/org.rs), so a program without an
/// organisation graph does not see the `id` added for another one.
struct AsServed<'r, 'a> {
    json: &'r JsonRecord<'a>,
    hide_id: bool,
}

impl Record for AsServed<'_, '_> {
    fn get(&self, path: &AttrPath) -> Option<Cow<'_, str>> {
        if self.hide_id && path.urn.is_none() && path.first_lower() == "id" {
            return None;
        }
        self.json.get(path)
    }
}

/// The record of a stored body as the service's rules read it.
fn as_served(id: &str, mut body: Value, extensions: &Extensions, with_id: bool) -> Value {
    if with_id {
        if let Some(object) = body.as_object_mut() {
            object.insert("id".into(), Value::String(id.to_string()));
        }
    }
    let view = match extensions.view(&body) {
        Cow::Owned(view) => Some(view),
        Cow::Borrowed(_) => None,
    };
    view.unwrap_or(body)
}

impl<'s> Users<'s> {
    /// The customer's users for passes of `programs`.
    pub fn of(
        store: &'s dyn ResourceStore,
        tenant: &'s TenantId,
        extensions: &'s Extensions,
        programs: &[&Program],
    ) -> Self {
        Users {
            store,
            tenant,
            extensions,
            with_id: programs.iter().any(|p| p.has_org_graph()),
        }
    }

    /// Whether `program` must not see the `id` added for another program.
    fn hides_id(&self, program: &Program) -> bool {
        self.with_id && !program.has_org_graph()
    }

    /// Every user, in store order, as one record for all the programs of a pass (its
    /// index of member names is built once). Each is decoded, used and freed in turn: a
    /// pass over users kept decoded in memory was twice as slow (every read a cache miss,
    /// and freeing them took a second per 100,000 users).
    pub fn each(&self, each: &mut dyn FnMut(&str, &JsonRecord<'_>)) -> Result<(), StoreError> {
        self.store
            .scan_bodies(self.tenant, Kind::User, &mut |id, body| {
                let record = as_served(&id, body, self.extensions, self.with_id);
                each(&id, &JsonRecord::new(&record));
                true
            })
    }

    /// The users' population under each program (who names whom as manager, as counts)
    /// that reads the organisation graph, in one pass.
    pub fn populations(
        &self,
        programs: &[&Program],
        today: NaiveDate,
    ) -> Result<Vec<Option<KnownPopulation>>, StoreError> {
        let mut readers: Vec<Option<(OrgReader, KnownPopulation, bool)>> = programs
            .iter()
            .map(|program| {
                program.has_org_graph().then(|| {
                    let known = KnownPopulation {
                        index: OrgIndex::new(0),
                        places: Vec::new(),
                    };
                    (
                        OrgReader::new(program, today),
                        known,
                        self.hides_id(program),
                    )
                })
            })
            .collect();
        if readers.iter().any(Option::is_some) {
            let mut entry = OrgEntry::default();
            let mut scratch = Vec::new();
            self.each(&mut |id, json| {
                for (reader, known, hide_id) in readers.iter_mut().flatten() {
                    reader.read(
                        &AsServed {
                            json,
                            hide_id: *hide_id,
                        },
                        &mut entry,
                    );
                    known.index.add(&entry, String::new);
                    known.places.push(place(id, &entry, &mut scratch));
                }
            })?;
        }
        Ok(readers
            .into_iter()
            .map(|reader| reader.map(|(_, known, _)| known))
            .collect())
    }
}

/// The customer's population under one program, kept between requests (per tenant, for
/// the program, its aliases and the users it was read from): the index, and each user's
/// place in the graph (a hash of its id, keys, manager reference and whether it is active)
/// in store order. A draft whose users all have the same places has the same population, so
/// a preview checks that while it maps them instead of reading every user once more.
pub struct KnownPopulation {
    index: OrgIndex,
    places: Vec<u128>,
}

/// Each customer's last population of its published rules, for the rules and aliases it
/// was read under and the users it was read from: the customer page's coverage reads it,
/// and every preview after it starts from it.
#[derive(Default)]
pub(crate) struct PopulationCache(Mutex<HashMap<TenantId, (String, Arc<KnownPopulation>)>>);

impl PopulationCache {
    pub fn get(&self, tenant: &TenantId, key: &str) -> Option<Arc<KnownPopulation>> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(tenant)
            .filter(|(k, _)| k == key)
            .map(|(_, known)| known.clone())
    }

    pub fn put(&self, tenant: &TenantId, key: String, known: Option<Arc<KnownPopulation>>) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match known {
            Some(known) => map.insert(tenant.clone(), (key, known)),
            None => map.remove(tenant),
        };
    }

    /// What a population is kept for: the rules and aliases that read it (as the store's
    /// index of the graph names them), and the users it was read from.
    pub fn key(
        program: &Arc<Program>,
        extensions: &Arc<Extensions>,
        users: &UserSummary,
    ) -> String {
        let mapper = crate::scim::extensions::aliased(program.clone(), extensions.clone());
        format!(
            "{}|{}|{}",
            mapper.org_signature(),
            users.users,
            users.last_modified.as_deref().unwrap_or_default()
        )
    }
}

/// A user's place in the organisation graph, hashed (`scratch` is reused between users).
fn place(id: &str, entry: &OrgEntry, scratch: &mut Vec<u8>) -> u128 {
    scratch.clear();
    let mut put = |tag: u8, text: &str| {
        scratch.push(tag);
        scratch.extend_from_slice(&(text.len() as u64).to_le_bytes());
        scratch.extend_from_slice(text.as_bytes());
    };
    put(b'u', id);
    for (link, value) in &entry.keys {
        put(b'k', &link.to_string());
        put(b'v', value);
    }
    for (link, value) in &entry.manager {
        put(b'm', &link.to_string());
        put(b'v', value);
    }
    put(if entry.active { b'a' } else { b'i' }, "");
    xxhash_rust::xxh3::xxh3_128(scratch)
}

/// The coverage report of `program` over the customer's stored users, with the population
/// it was mapped in (where the rules read the organisation graph): `known`, if given (it
/// must be of this program, aliases and users), else read in a first pass.
pub fn coverage(
    program: &Program,
    extensions: &Extensions,
    store: &dyn ResourceStore,
    tenant: &TenantId,
    known: Option<Arc<KnownPopulation>>,
) -> Result<(CoverageReport, Option<Arc<KnownPopulation>>), StoreError> {
    let started = Instant::now();
    let today = chrono::Local::now().date_naive();
    let users = Users::of(store, tenant, extensions, &[program]);
    let population = match known {
        Some(known) if program.has_org_graph() => Some(known),
        _ => users
            .populations(&[program], today)?
            .pop()
            .flatten()
            .map(Arc::new),
    };
    let mut evaluator = Evaluator::counting(program, Coverage::new(program)).on(today);
    if let Some(known) = &population {
        evaluator = evaluator.among(&known.index);
    }
    let hide_id = users.hides_id(program);
    users.each(&mut |_, json| {
        evaluator.apply_row(&AsServed { json, hide_id });
    })?;
    let tally = evaluator.into_tally();
    let report = tally.report(
        program,
        &[],
        0,
        TOP_UNMAPPED,
        started.elapsed().as_secs_f64(),
        None,
    );
    Ok((report, population))
}

/// What replacing `published` by `draft` does to the customer's stored users: transitions
/// per field and the first `keep` changed users (`at` is the user's id, the keys its
/// `userName`), each program mapping the users in its own population; with the published
/// rules' population (`known`, if given, as for [`coverage`]).
///
/// Without `known`, a first pass reads both populations. With it, the draft is mapped in the
/// published population while each user's place under the draft is checked against it; only
/// where a draft changes who reports to whom (its links, or whom its `status` deactivates)
/// is its population read and the draft mapped again.
pub fn preview(
    published: &Program,
    draft: &Program,
    extensions: &Extensions,
    store: &dyn ResourceStore,
    tenant: &TenantId,
    keep: usize,
    known: Option<Arc<KnownPopulation>>,
) -> Result<(DiffReport, Option<Arc<KnownPopulation>>), StoreError> {
    // Both programs decide every user on one date.
    let today = chrono::Local::now().date_naive();
    let users = Users::of(store, tenant, extensions, &[published, draft]);
    let (before, after) = match known {
        Some(known) if published.has_org_graph() => (Some(known), None),
        _ if !published.has_org_graph() && !draft.has_org_graph() => (None, None),
        _ => {
            let mut read = users.populations(&[published, draft], today)?.into_iter();
            let before = read.next().flatten().map(Arc::new);
            (before, read.next().flatten().map(Arc::new))
        }
    };
    // The draft in the published population, checked as it goes.
    let speculate = draft.has_org_graph() && after.is_none();
    let first = mapped(
        &users,
        (published, before.as_deref()),
        (draft, after.as_deref().or(before.as_deref())),
        speculate,
        keep,
        today,
    )?;
    let stats = match first {
        (stats, true) => stats,
        (_, false) => {
            let after = users.populations(&[draft], today)?.pop().flatten();
            mapped(
                &users,
                (published, before.as_deref()),
                (draft, after.as_ref()),
                false,
                keep,
                today,
            )?
            .0
        }
    };
    Ok((stats.report(0), before))
}

/// One pass of the preview: each user under `published` and `draft`, each program in the
/// population given. With `check`, also whether every user's place under the draft is its
/// place in the draft's population (else the pass is to be run again in the right one).
fn mapped(
    users: &Users<'_>,
    (published, before_population): (&Program, Option<&KnownPopulation>),
    (draft, after_population): (&Program, Option<&KnownPopulation>),
    check: bool,
    keep: usize,
    today: NaiveDate,
) -> Result<(DiffStats, bool), StoreError> {
    let mut before = published.evaluator().on(today);
    if let Some(known) = before_population {
        before = before.among(&known.index);
    }
    let mut after = draft.evaluator().on(today);
    if let Some(known) = after_population {
        after = after.among(&known.index);
    }
    let (hide_before, hide_after) = (users.hides_id(published), users.hides_id(draft));
    let mut stats = DiffStats::default();
    let mut checker = check.then(|| OrgReader::new(draft, today));
    let (mut entry, mut scratch, mut at, mut same) = (OrgEntry::default(), Vec::new(), 0, true);
    let places = after_population.map_or(&[][..], |known| &known.places[..]);
    users.each(&mut |id, json| {
        let old = before.apply(&AsServed {
            json,
            hide_id: hide_before,
        });
        let new = after.apply(&AsServed {
            json,
            hide_id: hide_after,
        });
        if let Some(reader) = checker.as_mut().filter(|_| same) {
            reader.read(
                &AsServed {
                    json,
                    hide_id: hide_after,
                },
                &mut entry,
            );
            same = places.get(at) == Some(&place(id, &entry, &mut scratch));
        }
        at += 1;
        stats.add(
            || {
                let name = json
                    .root()
                    .get("userName")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                (id.to_string(), vec![("userName".to_string(), name)])
            },
            &old,
            &new,
            keep,
        );
    })?;
    Ok((stats, !check || (same && at == places.len())))
}

/// Bad rows of an uploaded export kept for the report (the count covers all), as the dry run.
pub(crate) const BAD_ROWS_KEPT: usize = 100;

/// The dry run's coverage report of `program` over an uploaded CSV export, read as
/// `canon dry-run` reads it (the same reader: bad rows reported by row and line, reading goes
/// on after them). With an organisation graph, the export's population is indexed first, as
/// the dry run's first pass does, so `reports` tests count within the export. The bytes are
/// the caller's: nothing is kept.
pub(crate) fn coverage_of_export(
    program: &Program,
    name: &str,
    bytes: axum::body::Bytes,
) -> Result<CoverageReport, crate::input::InputError> {
    use crate::input::{BadRow, CsvInput, CsvRow};
    use crate::CsvRecord;

    let started = Instant::now();
    let today = chrono::Local::now().date_naive();
    // Each pass reads the one copy of the bytes.
    let open = || CsvInput::from_reader(name, Box::new(std::io::Cursor::new(bytes.clone())));
    let population = if program.has_org_graph() {
        let mut csv = open()?;
        let binding = program.bind_columns(csv.header().iter().map(String::as_str));
        let mut index = crate::eval::OrgIndex::new(1);
        let mut row = CsvRow::default();
        loop {
            match csv.read(&mut row) {
                Ok(true) => {
                    let entry = program.org_entry(
                        &CsvRecord::from_bytes(&binding, &row),
                        true,
                        Some(today),
                    );
                    index.add(&entry, String::new);
                }
                Ok(false) => break,
                // The mapping pass reports it.
                Err(_) => {}
            }
        }
        Some(index)
    } else {
        None
    };
    let mut csv = open()?;
    let binding = program.bind_columns(csv.header().iter().map(String::as_str));
    let mut evaluator = Evaluator::counting(program, Coverage::new(program)).on(today);
    if let Some(index) = &population {
        evaluator = evaluator.among(index);
    }
    let mut bad: Vec<BadRow> = Vec::new();
    let mut bad_total = 0u64;
    let mut row = CsvRow::default();
    loop {
        match csv.read(&mut row) {
            Ok(true) => {
                evaluator.apply_row(&CsvRecord::from_bytes(&binding, &row));
            }
            Ok(false) => break,
            Err(bad_row) => {
                bad_total += 1;
                if bad.len() < BAD_ROWS_KEPT {
                    bad.push(bad_row);
                }
            }
        }
    }
    let tally = evaluator.into_tally();
    Ok(tally.report(
        program,
        &bad,
        bad_total,
        TOP_UNMAPPED,
        started.elapsed().as_secs_f64(),
        Some(bytes.len() as u64),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MemoryStore, Write};

    /// people_manager counted from who names whom (`managerEmail`).
    const RULES: &str = "field people_manager: flag\n\
                         input me = userName | lower\n\
                         input mgr = managerEmail | trim | lower\n\
                         reports_to mgr -> me\n\
                         map people_manager {\n\
                           rule counted: reports >= 1 -> yes\n\
                           else -> unset\n\
                         }\n";

    /// Ana is named by Bo and Cy; under `otherManager`, Ana names Bo instead.
    fn store() -> (MemoryStore, TenantId) {
        let store = MemoryStore::new();
        let tenant = TenantId::parse("acme").unwrap();
        let users = [
            serde_json::json!({"userName": "ana@acme.com", "otherManager": "bo@acme.com"}),
            serde_json::json!({"userName": "bo@acme.com", "managerEmail": "ana@acme.com"}),
            serde_json::json!({"userName": "cy@acme.com", "managerEmail": "ANA@acme.com"}),
        ];
        for body in users {
            let write = Write {
                unique_key: body["userName"].as_str().map(str::to_string),
                body,
                profile: None,
            };
            store.create(&tenant, Kind::User, write).unwrap();
        }
        (store, tenant)
    }

    fn summary(report: &DiffReport) -> String {
        serde_json::to_string(report).unwrap()
    }

    /// A preview from the kept population of the published rules answers as one that reads
    /// both populations: where the draft keeps the graph, and where it changes who names whom
    /// (the draft is then mapped again in its own population).
    #[test]
    fn a_kept_population_gives_the_answer_of_a_fresh_one() {
        let (store, tenant) = store();
        let extensions = Extensions::default();
        let published = Program::from_source("acme.rules", RULES).unwrap();
        let drafts = [
            (RULES.replace("reports >= 1", "reports >= 3"), 1),
            (RULES.replace("managerEmail", "otherManager"), 2),
        ];
        for (draft, changed) in drafts {
            let draft = Program::from_source("acme.rules", &draft).unwrap();
            let (fresh, _) =
                preview(&published, &draft, &extensions, &store, &tenant, 10, None).unwrap();
            let (coverage, known) =
                coverage(&published, &extensions, &store, &tenant, None).unwrap();
            assert_eq!(coverage.rows_out, 3);
            assert!(known.is_some());
            let (kept, _) =
                preview(&published, &draft, &extensions, &store, &tenant, 10, known).unwrap();
            assert_eq!(fresh.changed_rows, changed);
            assert_eq!(summary(&kept), summary(&fresh));
        }
    }
}
