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
use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use serde_json::Value;

use crate::eval::org::{OrgKey, INACTIVE};
use crate::eval::{OrgEntry, OrgIndex, OrgReader, Tally};
use crate::report::header::{check_headers, HeaderCheck};
use crate::report::{Coverage, CoverageReport, DiffReport, DiffStats, OrgReport, OrgSeen};
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

    /// The users' population under each program of `programs` that reads the organisation
    /// graph (who names whom as manager, as counts), read from every user in one pass.
    pub fn populations(
        &self,
        programs: &[&Program],
        today: NaiveDate,
    ) -> Result<Vec<Option<KnownPopulation>>, StoreError> {
        let mut readers: Vec<Option<(OrgReader, KnownPopulation, bool)>> = programs
            .iter()
            .map(|program| {
                program.has_org_graph().then(|| {
                    (
                        OrgReader::new(program, today),
                        KnownPopulation::default(),
                        self.hides_id(program),
                    )
                })
            })
            .collect();
        if readers.iter().any(Option::is_some) {
            let mut entry = OrgEntry::default();
            let mut scratch = Vec::new();
            self.each(&mut |_, json| {
                for (reader, known, hide_id) in readers.iter_mut().flatten() {
                    let record = AsServed {
                        json,
                        hide_id: *hide_id,
                    };
                    reader.read(&record, &mut entry);
                    known.index.add(&entry, String::new);
                    let counts = entry.active && !entry.names_itself();
                    known.census.note(&entry.manager, counts, &mut scratch);
                }
            })?;
        }
        Ok(readers
            .into_iter()
            .map(|reader| {
                reader.map(|(_, mut known, _)| {
                    known.index.seal();
                    known
                })
            })
            .collect())
    }
}

/// What a population counts, as one number: the sum, over the users who count toward a
/// manager reference (active, not naming themselves), of a 128-bit hash of that reference.
/// Two populations whose users count toward the same references as many times each have one
/// census, whatever the order of their users, and so count the same reports for every key;
/// two that do not share one with the odds of a collision of 128-bit hashes (those the
/// index finds keys by). A pass that maps users in a population it did not read (kept, or
/// the store's) takes the census of the population it meets, to check it was the right one.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Census(u128);

impl Census {
    /// One user, naming `manager` (sorted, as a user's reference is: one key per link, in
    /// link order), counting toward it or not (`scratch` is reused between users).
    fn note(&mut self, manager: &[OrgKey], counts: bool, scratch: &mut Vec<u8>) {
        if !counts || manager.is_empty() {
            return;
        }
        let sorted;
        let manager = if manager.is_sorted() {
            manager
        } else {
            sorted = {
                let mut keys = manager.to_vec();
                keys.sort();
                keys
            };
            &sorted[..]
        };
        scratch.clear();
        for (link, value) in manager {
            scratch.extend_from_slice(&link.to_le_bytes());
            scratch.extend_from_slice(&(value.len() as u64).to_le_bytes());
            scratch.extend_from_slice(value.as_bytes());
        }
        self.0 = self.0.wrapping_add(xxhash_rust::xxh3::xxh3_128(scratch));
    }
}

/// The customer's population under one program, kept between requests (per tenant, for
/// the program, its aliases and the users it was read from): the index (sealed) and its
/// [`Census`].
#[derive(Default)]
pub struct KnownPopulation {
    index: OrgIndex,
    census: Census,
}

impl KnownPopulation {
    /// The population the store's index of the organisation graph holds for the tenant,
    /// if it is made under `signature` (the published rules and aliases): each user's
    /// manager reference and whether it counts, read in one query instead of a pass that
    /// decodes and maps every user.
    fn of_store(
        store: &dyn ResourceStore,
        tenant: &TenantId,
        signature: &str,
    ) -> Result<Option<KnownPopulation>, StoreError> {
        let mut named: HashMap<String, (Vec<OrgKey>, bool)> = HashMap::new();
        let current = store.org_managers(tenant, signature, &mut |id, (link, value), counts| {
            let user = match named.get_mut(id) {
                Some(user) => user,
                None => named.entry(id.to_string()).or_default(),
            };
            user.0.push((link, value.to_string()));
            user.1 = counts;
        })?;
        if !current {
            return Ok(None);
        }
        let mut known = KnownPopulation::default();
        let (mut entry, mut scratch) = (OrgEntry::default(), Vec::new());
        for (_, (mut manager, counts)) in named {
            manager.sort();
            known.census.note(&manager, counts, &mut scratch);
            // Without its keys: whether it names itself is in `counts` already.
            entry.manager = manager;
            entry.active = counts;
            known.index.add(&entry, String::new);
        }
        known.index.seal();
        Ok(Some(known))
    }
}

/// Where a pass over the customer's users finds the published rules' population before
/// reading it from every user.
#[derive(Default)]
pub struct Start {
    /// The population kept from a previous pass (for these rules, aliases and users).
    pub known: Option<Arc<KnownPopulation>>,
    /// What the store's index of the organisation graph is made under when it is the
    /// published rules' (their [`org_signature`]); `None`: do not ask the store.
    pub signature: Option<String>,
}

/// What the store's index of the graph is made under for `program` read through
/// `extensions`' aliases (as the service's writes keep it).
pub fn org_signature(program: &Arc<Program>, extensions: &Arc<Extensions>) -> String {
    crate::scim::extensions::aliased(program.clone(), extensions.clone()).org_signature()
}

/// Each customer's last population of its published rules, for the rules and aliases it
/// was read under and the users it was read from ([`population_key`]): the customer page's
/// coverage keeps it, and every preview after it starts from it.
pub(crate) type PopulationCache = super::kept::Kept<KnownPopulation>;

/// What a population is kept for: the rules and aliases that read it (as the store's index
/// of the graph names them, [`org_signature`]), and the users it was read from.
pub(crate) fn population_key(signature: &str, users: &UserSummary) -> String {
    format!(
        "{signature}|{}|{}",
        users.users,
        users.last_modified.as_deref().unwrap_or_default()
    )
}

/// The published rules' population to map users in first (`None`: they read no graph):
/// the one kept, else the store's index of the graph where it is made under these rules,
/// else read from every user. A pass in it checks its census.
fn first_population(
    users: &Users<'_>,
    program: &Program,
    start: Start,
    today: NaiveDate,
) -> Result<Option<Arc<KnownPopulation>>, StoreError> {
    if !program.has_org_graph() {
        return Ok(None);
    }
    if let Some(known) = start.known {
        return Ok(Some(known));
    }
    if let Some(signature) = &start.signature {
        if let Some(known) = KnownPopulation::of_store(users.store, users.tenant, signature)? {
            return Ok(Some(Arc::new(known)));
        }
    }
    Ok(users
        .populations(&[program], today)?
        .pop()
        .flatten()
        .map(Arc::new))
}

/// A program mapping the users of a pass in a population (where it reads the graph),
/// taking the census of the population it meets: each user's place under the program, as
/// the run that mapped the user read it.
struct Mapping<'p, T: Tally> {
    evaluator: Evaluator<'p, T>,
    hide_id: bool,
    /// The `status` field's place among the fields, where it has one.
    status: Option<usize>,
    /// The census of the users' places (`None`: the program reads no graph).
    census: Option<Census>,
    scratch: Vec<u8>,
}

impl<'p, T: Tally> Mapping<'p, T> {
    fn new(
        users: &Users<'_>,
        evaluator: Evaluator<'p, T>,
        population: Option<&'p KnownPopulation>,
        today: NaiveDate,
    ) -> Self {
        let program = evaluator.program();
        let graph = program.has_org_graph();
        let mut evaluator = evaluator.on(today);
        if let (true, Some(known)) = (graph, population) {
            evaluator = evaluator.among(&known.index).noting_org();
        }
        Mapping {
            hide_id: users.hides_id(program),
            status: program.field_names().position(|name| name == "status"),
            census: graph.then(Census::default),
            evaluator,
            scratch: Vec::new(),
        }
    }

    /// Notes the last user's place (`active`: its status is not `inactive`).
    fn note(&mut self, active: bool) {
        let (Some(census), Some(entry)) = (&mut self.census, self.evaluator.org_entry()) else {
            return;
        };
        let counts = active && !entry.names_itself();
        census.note(&entry.manager, counts, &mut self.scratch);
    }

    /// Whether the population the users were mapped in is the one they make.
    fn met(&self, population: Option<&KnownPopulation>) -> bool {
        match (self.census, population) {
            (Some(census), Some(known)) => census == known.census,
            (None, _) => true,
            (Some(_), None) => false,
        }
    }
}

impl<'p> Mapping<'p, ()> {
    fn apply(&mut self, json: &JsonRecord<'_>) -> crate::Profile {
        let profile = self.evaluator.apply(&AsServed {
            json,
            hide_id: self.hide_id,
        });
        let status = self.status.and_then(|at| profile.fields().get(at));
        self.note(status.and_then(|f| f.value.as_deref()) != Some(INACTIVE));
        profile
    }
}

/// The coverage report of `program` over the customer's stored users, with the population
/// it was mapped in (where the rules read the organisation graph), found from `start`.
///
/// One pass maps the users in the population found first (kept, or the store's index of
/// the graph), checking its census as it goes; only where it was not theirs (users written
/// meanwhile, a status that depends on the date) is it read from every user and the pass
/// made again.
pub fn coverage(
    program: &Program,
    extensions: &Extensions,
    store: &dyn ResourceStore,
    tenant: &TenantId,
    start: Start,
) -> Result<(CoverageReport, Option<Arc<KnownPopulation>>), StoreError> {
    let started = Instant::now();
    let today = chrono::Local::now().date_naive();
    let users = Users::of(store, tenant, extensions, &[program]);
    let mut population = first_population(&users, program, start, today)?;
    let mut tries = 0;
    loop {
        tries += 1;
        let evaluator = Evaluator::counting(program, Coverage::new(program));
        let mut mapping = Mapping::new(&users, evaluator, population.as_deref(), today);
        users.each(&mut |_, json| {
            let row = mapping.evaluator.apply_row(&AsServed {
                json,
                hide_id: mapping.hide_id,
            });
            let status = mapping.status.and_then(|at| row.values().nth(at).flatten());
            let active = status != Some(INACTIVE);
            mapping.note(active);
        })?;
        if tries == 1 && !mapping.met(population.as_deref()) {
            population = users
                .populations(&[program], today)?
                .pop()
                .flatten()
                .map(Arc::new);
            continue;
        }
        let tally = mapping.evaluator.into_tally();
        let report = tally.report(
            program,
            &[],
            0,
            TOP_UNMAPPED,
            started.elapsed().as_secs_f64(),
            None,
        );
        return Ok((report, population));
    }
}

/// What replacing `published` by `draft` does to the customer's stored users: transitions
/// per field and the first `keep` changed users (`at` is the user's id, the keys its
/// `userName`), each program mapping the users in its own population; the published
/// rules' population found from `start`.
///
/// One pass maps every user under both programs in the published rules' population, each
/// taking the census of the population it meets. Where a census differs (the draft changes
/// who reports to whom, its links or whom its `status` deactivates; or the population found
/// was not the users'), that program's population is read from every user and the pass
/// made again.
pub fn preview(
    published: &Program,
    draft: &Program,
    extensions: &Extensions,
    store: &dyn ResourceStore,
    tenant: &TenantId,
    keep: usize,
    start: Start,
) -> Result<(DiffReport, Option<Arc<KnownPopulation>>), StoreError> {
    // Both programs decide every user on one date.
    let today = chrono::Local::now().date_naive();
    let users = Users::of(store, tenant, extensions, &[published, draft]);
    let mut before = first_population(&users, published, start, today)?;
    let mut after = match (&before, draft.has_org_graph()) {
        (_, false) => None,
        (Some(before), true) => Some(before.clone()),
        // The published rules read no graph: the draft's own population, first.
        (None, true) => users
            .populations(&[draft], today)?
            .pop()
            .flatten()
            .map(Arc::new),
    };
    let mut tries = 0;
    loop {
        tries += 1;
        let (stats, met) = mapped(
            &users,
            (published, before.as_deref()),
            (draft, after.as_deref()),
            keep,
            today,
        )?;
        if tries > 1 || met == (true, true) {
            return Ok((stats.report(0), before));
        }
        let programs = [(!met.0).then_some(published), (!met.1).then_some(draft)];
        let wanted: Vec<&Program> = programs.iter().flatten().copied().collect();
        let mut read = users.populations(&wanted, today)?.into_iter();
        if !met.0 {
            before = read.next().flatten().map(Arc::new);
        }
        if !met.1 {
            after = read.next().flatten().map(Arc::new);
        }
    }
}

/// One pass of the preview: each user under `published` and `draft`, each program in the
/// population given; and whether each program met its population (see [`Census`]).
fn mapped(
    users: &Users<'_>,
    (published, before_population): (&Program, Option<&KnownPopulation>),
    (draft, after_population): (&Program, Option<&KnownPopulation>),
    keep: usize,
    today: NaiveDate,
) -> Result<(DiffStats, (bool, bool)), StoreError> {
    let mut before = Mapping::new(users, published.evaluator(), before_population, today);
    let mut after = Mapping::new(users, draft.evaluator(), after_population, today);
    let mut stats = DiffStats::default();
    users.each(&mut |id, json| {
        let old = before.apply(json);
        let new = after.apply(json);
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
    let met = (before.met(before_population), after.met(after_population));
    Ok((stats, met))
}

/// Bad rows of an uploaded export kept for the report (the count covers all), as the dry run.
pub(crate) const BAD_ROWS_KEPT: usize = 100;

/// What a dry run of an uploaded export answers: the header's problems (as `canon dry-run`
/// finds them), and the coverage report unless an error in the header stopped the run.
pub(crate) struct ExportRun {
    pub header: HeaderCheck,
    pub report: Option<CoverageReport>,
}

/// The dry run of `program` over an uploaded CSV export, read as `canon dry-run` reads it:
/// the same header checks (two columns of one name that the rules read stop the run; other
/// duplicates, and inputs that read none of the columns, are warnings), the same reader (bad
/// rows reported by row and line, reading goes on after them), the same coverage report with
/// the columns no rule reads and, where the rules declare `reports_to`, the organisation
/// section (the export's population indexed first, as the dry run's first pass does, so
/// `reports` tests count within the export). The bytes are the caller's: nothing is kept.
pub(crate) fn coverage_of_export(
    program: &Program,
    name: &str,
    bytes: axum::body::Bytes,
) -> Result<ExportRun, crate::input::InputError> {
    use crate::input::{BadRow, CsvInput, CsvRow, Input};
    use crate::CsvRecord;

    let started = Instant::now();
    let today = chrono::Local::now().date_naive();
    // Each pass reads the one copy of the bytes.
    let open = || CsvInput::from_reader(name, Box::new(std::io::Cursor::new(bytes.clone())));
    let header = check_headers(program, &[Input::Csv(open()?)]);
    if !header.errors.is_empty() {
        return Ok(ExportRun {
            header,
            report: None,
        });
    }
    let population = if program.has_org_graph() {
        let mut csv = open()?;
        let binding = program.bind_columns(csv.header().iter().map(String::as_str));
        // One name per manager: the first report, for the deepest chain of the report.
        let mut index = crate::eval::OrgIndex::new(1);
        let mut reader = OrgReader::new(program, today);
        let mut entry = OrgEntry::default();
        let mut row = CsvRow::default();
        loop {
            match csv.read(&mut row) {
                Ok(true) => {
                    reader.read(&CsvRecord::from_bytes(&binding, &row), &mut entry);
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
    // The organisation section's notes: whom each manager reference names.
    let mut seen = population.as_ref().map(|index| {
        (
            OrgSeen::new(index.len()),
            OrgReader::new(program, today),
            OrgEntry::default(),
        )
    });
    let mut bad: Vec<BadRow> = Vec::new();
    let mut bad_total = 0u64;
    let mut row = CsvRow::default();
    let mut matched = Vec::new();
    loop {
        match csv.read(&mut row) {
            Ok(true) => {
                let record = CsvRecord::from_bytes(&binding, &row);
                evaluator.apply_row(&record);
                if let (Some(index), Some((seen, reader, entry))) = (&population, &mut seen) {
                    reader.read(&record, entry);
                    seen.note_entry(index, entry, &mut matched);
                }
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
    let mut report = tally.report(
        program,
        &bad,
        bad_total,
        TOP_UNMAPPED,
        started.elapsed().as_secs_f64(),
        Some(bytes.len() as u64),
    );
    report.unread_columns = header.unread.clone();
    if let (Some(index), Some((seen, _, _))) = (&population, &seen) {
        report.organisation = Some(OrgReport::build(index, seen));
    }
    Ok(ExportRun {
        header,
        report: Some(report),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::ProfileMapper;
    use crate::store::{MemoryStore, UserWrite, Write};

    /// people_manager counted from who names whom (`managerEmail`); `active: false` is
    /// inactive.
    const RULES: &str = "field people_manager: flag\n\
                         field status: enum(active, inactive)\n\
                         input me = userName | lower\n\
                         input mgr = managerEmail | trim | lower\n\
                         input on = active | lower\n\
                         reports_to mgr -> me\n\
                         map people_manager {\n\
                           rule counted: reports >= 1 -> yes\n\
                           else -> unset\n\
                         }\n\
                         map status {\n\
                           rule off: on == \"false\" -> inactive\n\
                           else -> active\n\
                         }\n";

    fn write(body: Value) -> Write {
        Write {
            unique_key: body["userName"].as_str().map(str::to_string),
            body,
            profile: None,
        }
    }

    /// Ana is named by Bo, Cy and Di (Di is inactive); under `otherManager`, Ana names Bo
    /// instead. Written as the service writes them: the store keeps its index of the graph
    /// under `program`.
    fn store(program: &Arc<Program>) -> (MemoryStore, TenantId) {
        let store = MemoryStore::new();
        let tenant = TenantId::parse("acme").unwrap();
        let mapper: Arc<dyn ProfileMapper> = program.clone();
        let rules = crate::scim::org::rules(&mapper).unwrap();
        let users = [
            serde_json::json!({"userName": "ana@acme.com", "otherManager": "bo@acme.com"}),
            serde_json::json!({"userName": "bo@acme.com", "managerEmail": "ana@acme.com"}),
            serde_json::json!({"userName": "cy@acme.com", "managerEmail": "ANA@acme.com"}),
            serde_json::json!({"userName": "di@acme.com", "managerEmail": "ana@acme.com",
                "active": false}),
        ];
        for body in users {
            let create = UserWrite::Create(write(body));
            store.write_user(&tenant, &rules, create).unwrap();
        }
        (store, tenant)
    }

    fn summary(report: &DiffReport) -> String {
        serde_json::to_string(report).unwrap()
    }

    /// Drafts that keep the graph, that change who names whom, and that change whom the
    /// status deactivates; each with the users it changes.
    fn drafts() -> Vec<(String, u64)> {
        vec![
            (RULES.replace("reports >= 1", "reports >= 3"), 1),
            (RULES.replace("managerEmail", "otherManager"), 2),
            (RULES.replace("on == \"false\"", "on == \"true\""), 1),
        ]
    }

    /// The answer read the long way: each program's population from every user first.
    fn long_way(
        published: &Program,
        draft: &Program,
        store: &MemoryStore,
        tenant: &TenantId,
    ) -> DiffReport {
        let extensions = Extensions::default();
        let today = chrono::Local::now().date_naive();
        let users = Users::of(store, tenant, &extensions, &[published, draft]);
        let mut read = users.populations(&[published, draft], today).unwrap();
        let after = read.pop().flatten();
        let before = read.pop().flatten();
        let (stats, met) = mapped(
            &users,
            (published, before.as_ref()),
            (draft, after.as_ref()),
            10,
            today,
        )
        .unwrap();
        assert_eq!(met, (true, true));
        stats.report(0)
    }

    /// However the published rules' population is found (read from every user, from the
    /// store's index of the graph, kept by the customer page), a preview answers as one
    /// that reads each program's population from every user: where the draft keeps the
    /// graph, and where it changes who names whom or who is active (the draft is then
    /// mapped again in its own population).
    #[test]
    fn every_way_to_the_population_gives_one_answer() {
        let published = Arc::new(Program::from_source("acme.rules", RULES).unwrap());
        let (store, tenant) = store(&published);
        let extensions = Arc::new(Extensions::default());
        let signature = org_signature(&published, &extensions);
        assert!(KnownPopulation::of_store(&store, &tenant, &signature)
            .unwrap()
            .is_some());
        for (draft, changed) in drafts() {
            let draft = Program::from_source("acme.rules", &draft).unwrap();
            let expected = long_way(&published, &draft, &store, &tenant);
            assert_eq!(expected.changed_rows, changed, "{}", summary(&expected));
            let preview_from = |start: Start| {
                preview(&published, &draft, &extensions, &store, &tenant, 10, start)
                    .unwrap()
                    .0
            };
            let read = preview_from(Start::default());
            let indexed = preview_from(Start {
                known: None,
                signature: Some(signature.clone()),
            });
            let (coverage, known) = coverage(
                &published,
                &extensions,
                &store,
                &tenant,
                Start {
                    known: None,
                    signature: Some(signature.clone()),
                },
            )
            .unwrap();
            assert_eq!(coverage.rows_out, 4);
            assert!(known.is_some());
            let kept = preview_from(Start {
                known,
                signature: None,
            });
            for answer in [read, indexed, kept] {
                assert_eq!(summary(&answer), summary(&expected));
            }
        }
    }

    /// A population that is not the users' (kept before a write that changed who names
    /// whom, or a store's index that says otherwise) is found out by its census: the
    /// answer is the right one, from the population read again.
    #[test]
    fn a_population_that_is_not_the_users_is_read_again() {
        let published = Arc::new(Program::from_source("acme.rules", RULES).unwrap());
        let (store, tenant) = store(&published);
        let extensions = Arc::new(Extensions::default());
        let (_, stale) =
            coverage(&published, &extensions, &store, &tenant, Start::default()).unwrap();
        // Cy now names Bo: Bo manages someone, Ana one fewer.
        let cy = store
            .find_unique(&tenant, Kind::User, "cy@acme.com")
            .unwrap()
            .unwrap();
        store
            .replace(
                &tenant,
                Kind::User,
                &cy.id,
                cy.version,
                write(serde_json::json!({"userName": "cy@acme.com",
                    "managerEmail": "bo@acme.com"})),
            )
            .unwrap();
        let from_stale = || Start {
            known: stale.clone(),
            signature: None,
        };
        let (fresh, _) =
            coverage(&published, &extensions, &store, &tenant, Start::default()).unwrap();
        let (checked, known) =
            coverage(&published, &extensions, &store, &tenant, from_stale()).unwrap();
        assert_eq!(
            serde_json::to_string(&checked.fields).unwrap(),
            serde_json::to_string(&fresh.fields).unwrap()
        );
        assert_ne!(known.map(|k| k.census), stale.as_ref().map(|k| k.census));
        for (draft, _) in drafts() {
            let draft = Program::from_source("acme.rules", &draft).unwrap();
            let expected = long_way(&published, &draft, &store, &tenant);
            let (answer, _) = preview(
                &published,
                &draft,
                &extensions,
                &store,
                &tenant,
                10,
                from_stale(),
            )
            .unwrap();
            assert_eq!(summary(&answer), summary(&expected));
        }
        // The write went around the index (a plain replace): the store no longer offers it.
        let signature = org_signature(&published, &extensions);
        assert!(KnownPopulation::of_store(&store, &tenant, &signature)
            .unwrap()
            .is_none());
    }
}
