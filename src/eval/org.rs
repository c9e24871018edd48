//! The population a record is evaluated in: who names whom as their manager (`reports_to`),
//! and what `reports` tests count.
//!
//! A record's *keys* are its values of a link's person inputs (its email, its id); its
//! *manager reference* is its values of the links' manager inputs. The index keeps one entry
//! per distinct manager reference (so its memory grows with the number of managers, not of
//! rows): how many active people name it, and, when asked, who they are.

use chrono::NaiveDate;
use hashbrown::hash_table::Entry;
use hashbrown::HashTable;
use serde::Serialize;

use super::{Evaluator, Run};
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

    /// How many people name one of `keys` as their manager: what a `reports` test needs
    /// when nobody asks who they are.
    fn report_count(&self, keys: &[OrgKey]) -> u64 {
        self.reports(keys).count
    }

    /// [`Population::report_count`], and into `matches` (cleared first) the ids of the
    /// references that name one of `keys`, where the population has ids (a dry run's index).
    fn report_count_noting(&self, keys: &[OrgKey], matches: &mut Vec<u32>) -> u64 {
        matches.clear();
        self.report_count(keys)
    }
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
        let mut entry = OrgEntry::default();
        read_links(self, &mut run, &mut entry, Reading::Kept);
        entry.active = true;
        if status {
            if let Some(field) = self.status_field().and_then(|i| self.fields.get(i)) {
                let outcome = run.field(field, None);
                entry.active = outcome.value.as_deref() != Some(INACTIVE);
            }
        }
        entry
    }

    /// The index of the `status` field, if the rules have one.
    fn status_field(&self) -> Option<usize> {
        self.fields.iter().position(|f| &*f.name == "status")
    }
}

/// How link inputs are read: through the run, which keeps them for the rules that read
/// them too (a mapping pass), or straight from a bound record where nothing else will
/// (the first pass).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reading {
    Kept,
    Passing,
}

/// Reads a record's keys and manager reference into `entry`, in place of what it held (its
/// strings are reused: a pass over millions of records allocates none per record).
pub(super) fn read_links(program: &Program, run: &mut Run, entry: &mut OrgEntry, reading: Reading) {
    let mut managers = 0;
    for (link, reports_to) in program.reports_to.iter().enumerate() {
        if let Some(value) = next_key(&mut entry.manager, managers, link as u16) {
            read(run, reports_to.manager, value, reading);
            if !is_blank(value) {
                managers += 1;
            }
        }
    }
    entry.manager.truncate(managers);
    let keys = read_person_keys(program, run, &mut entry.keys, reading);
    entry.keys.truncate(keys);
}

/// Reads a record's own keys (each once) into the first places of `keys`, reusing the
/// strings there, and returns how many: strings past that stay for later records.
pub(super) fn read_person_keys(
    program: &Program,
    run: &mut Run,
    keys: &mut Vec<OrgKey>,
    reading: Reading,
) -> usize {
    let mut len = 0;
    for (link, reports_to) in program.reports_to.iter().enumerate() {
        let link = link as u16;
        for person in &reports_to.people {
            let Some(value) = next_key(keys, len, link) else {
                continue;
            };
            read(run, *person, value, reading);
            let (known, this) = keys.split_at(len);
            let fresh = this.first().is_some_and(|(_, value)| {
                !is_blank(value) && !known.iter().any(|(l, v)| *l == link && v == value)
            });
            if fresh {
                len += 1;
            }
        }
    }
    len
}

/// The string of key place `at` (made if new), its link set: the next key is read into it.
fn next_key(list: &mut Vec<OrgKey>, at: usize, link: u16) -> Option<&mut String> {
    if list.len() <= at {
        list.push((link, String::new()));
    }
    let (l, value) = list.get_mut(at)?;
    *l = link;
    Some(value)
}

/// Input `id`'s value into `out`.
fn read(run: &mut Run, id: crate::program::InputId, out: &mut String, reading: Reading) {
    match reading {
        Reading::Kept => {
            let value = run.value(id);
            out.clear();
            out.push_str(value);
        }
        Reading::Passing => run.value_into(id, out),
    }
}

/// Reads records' places in the organisation graph over a whole input: the first pass of
/// a dry run. The status is decided by a cached evaluator (an export repeats a handful of
/// status values), so a record costs its key inputs and a lookup.
pub struct OrgReader<'p> {
    evaluator: Evaluator<'p>,
    status: Option<usize>,
}

impl<'p> OrgReader<'p> {
    pub fn new(program: &'p Program, today: NaiveDate) -> Self {
        Self {
            evaluator: Evaluator::new(program).on(today),
            status: program.status_field(),
        }
    }

    /// The record's keys, manager reference and whether it is active, into `entry`.
    pub fn read(&mut self, record: &dyn Record, entry: &mut OrgEntry) {
        let program = self.evaluator.program();
        self.evaluator
            .visit_field(record, self.status, |run, status| {
                read_links(program, run, entry, Reading::Passing);
                entry.active = status != Some(INACTIVE);
            });
    }
}

/// No entry (the end of a chain, a key no reference holds).
const NONE: u32 = u32::MAX;

/// A sealed key held by several references: its reports are counted the long way, through
/// its holders.
const SHARED: u32 = u32::MAX - 1;

/// Ids run below this (the two values above are markers).
const MAX_ID: u32 = SHARED;

/// One interned key in the table: its 128-bit hash and id, and, once the index is sealed,
/// what a person holding the key is counted. Kept in the table's slot itself, so that a
/// lookup after sealing costs one cache miss.
#[derive(Debug, Clone, Copy)]
struct KeySlot {
    hash: u128,
    id: u32,
    /// The one reference holding this key ([`SHARED`] when several do; [`NONE`] before
    /// sealing).
    holder: u32,
    /// Active reports of the references holding it (of its one holder, where it has one).
    total: u64,
}

/// Where an interned key's value lies in [`Keys::text`], and its link.
#[derive(Debug, Clone, Copy)]
struct KeySpan {
    start: u32,
    len: u32,
    link: u16,
}

/// Every distinct key the index has met, once: its text in one string (for reports), and
/// its 128-bit hash in a table of slots. Lookups compare hashes only: two keys of one input
/// share a 128-bit hash with odds of about 1 in 10^27 at a million keys, and not touching
/// the text saves two cache misses per lookup, which at a million rows were most of the
/// organisation graph's cost.
#[derive(Debug, Default)]
struct Keys {
    text: String,
    spans: Vec<KeySpan>,
    table: HashTable<KeySlot>,
    /// Once sealed: one bit per (hash bits of a) key, 16 bits per key, so about 1 MiB at
    /// half a million keys: it stays in the core's cache where the table cannot. Most keys
    /// asked are absent (most people manage nobody), and the bit says so without the two
    /// cache misses of a table probe. Empty: ask the table.
    present: Vec<u64>,
}

impl Keys {
    fn hash(link: u16, value: &str) -> u128 {
        xxhash_rust::xxh3::xxh3_128_with_seed(value.as_bytes(), u64::from(link))
    }

    fn get(&self, id: u32) -> Option<(u16, &str)> {
        let span = self.spans.get(id as usize)?;
        let start = span.start as usize;
        let value = self.text.get(start..start + span.len as usize)?;
        Some((span.link, value))
    }

    /// The slot of the key of this hash ([`Keys::hash`]), if the index has met it.
    fn find_hashed(&self, hash: u128) -> Option<&KeySlot> {
        if !self.present.is_empty() {
            let bit = (hash >> 64) as usize & (self.present.len() * 64 - 1);
            let word = self.present.get(bit / 64).copied().unwrap_or(u64::MAX);
            if word & (1 << (bit % 64)) == 0 {
                return None;
            }
        }
        self.table.find(hash as u64, |slot| slot.hash == hash)
    }

    /// Sets the presence bits of every key (after which a new key must clear them).
    fn fill_present(&mut self) {
        let words = (self.spans.len() * 16 / 64).max(16).next_power_of_two();
        let mut present = vec![0u64; words];
        let mask = words * 64 - 1;
        for slot in self.table.iter() {
            let bit = (slot.hash >> 64) as usize & mask;
            if let Some(word) = present.get_mut(bit / 64) {
                *word |= 1 << (bit % 64);
            }
        }
        self.present = present;
    }

    /// The key's id, interned if new (`None` past 4 GiB of key text).
    fn intern(&mut self, link: u16, value: &str) -> Option<u32> {
        let hash = Self::hash(link, value);
        match self.table.entry(
            hash as u64,
            |slot| slot.hash == hash,
            |slot| slot.hash as u64,
        ) {
            Entry::Occupied(found) => Some(found.get().id),
            Entry::Vacant(slot) => {
                let start = u32::try_from(self.text.len()).ok()?;
                let len = u32::try_from(value.len()).ok()?;
                start.checked_add(len)?;
                let id = u32::try_from(self.spans.len())
                    .ok()
                    .filter(|id| *id < MAX_ID)?;
                self.text.push_str(value);
                self.spans.push(KeySpan { start, len, link });
                // Presence bits no longer cover every key.
                self.present = Vec::new();
                slot.insert(KeySlot {
                    hash,
                    id,
                    holder: NONE,
                    total: 0,
                });
                Some(id)
            }
        }
    }
}

/// A manager reference's hash: its one key's, or its keys' hashes hashed in link order.
/// One probe finds a reference, with no key interned: the first pass over a million rows
/// asks it once per row.
fn reference_hash(manager: &[OrgKey]) -> u128 {
    match manager {
        [(link, value)] => Keys::hash(*link, value),
        _ => {
            let mut bytes = [0u8; 16 * 8];
            let mut heap = Vec::new();
            let buffer: &mut [u8] = match bytes.get_mut(..16 * manager.len()) {
                Some(buffer) => buffer,
                None => {
                    heap.resize(16 * manager.len(), 0);
                    &mut heap
                }
            };
            for (chunk, (link, value)) in buffer.chunks_exact_mut(16).zip(manager) {
                chunk.copy_from_slice(&Keys::hash(*link, value).to_le_bytes());
            }
            xxhash_rust::xxh3::xxh3_128(buffer)
        }
    }
}

/// A distinct manager reference (the keys one or more records name as manager, in link
/// order); how many name it is kept in its [`ReferenceSlot`].
#[derive(Debug, Clone, Copy)]
struct Reference {
    /// Its hash: where its slot is.
    hash: u128,
    /// Its keys: `keys[start..start + len]` of [`OrgIndex::reference_keys`].
    start: u32,
    len: u32,
}

/// A reference's slot in [`OrgIndex::by_hash`]: its hash and id, and who names it, counted
/// in the slot itself so that adding a record costs one probe, one cache miss, where a
/// separate table of counts cost a second. Counts past `u32::MAX` go on in
/// [`OrgIndex::beyond`].
#[derive(Debug, Clone, Copy)]
struct ReferenceSlot {
    hash: u128,
    id: u32,
    /// Active people naming it (self-references left out).
    count: u32,
    /// Every row naming it, inactive ones too (for the report).
    rows: u32,
}

/// How many records an [`OrgIndex::add_all`] batch holds best: enough for the processor to
/// overlap the probes' cache misses, few enough to stay in the core's cache.
pub const ORG_BATCH: usize = 256;

/// A few names per reference, in one string: a `Vec<String>` per reference cost 60 bytes
/// more per manager, a quarter of a dry run's memory at a million rows.
#[derive(Debug, Default)]
struct People {
    text: String,
    /// (start, len, the next name of the same reference).
    names: Vec<(u32, u32, u32)>,
    /// Per reference: its first and last name (`NONE`: none yet).
    ends: Vec<(u32, u32)>,
}

impl People {
    /// Appends `name` to reference `id`'s names (dropped past 4 GiB of names).
    fn push(&mut self, id: u32, name: &str) {
        let (Ok(start), Ok(len), Ok(at)) = (
            u32::try_from(self.text.len()),
            u32::try_from(name.len()),
            u32::try_from(self.names.len()),
        ) else {
            return;
        };
        if start.checked_add(len).is_none() || at == NONE {
            return;
        }
        if self.ends.len() <= id as usize {
            self.ends.resize(id as usize + 1, (NONE, NONE));
        }
        let Some(ends) = self.ends.get_mut(id as usize) else {
            return;
        };
        self.text.push_str(name);
        self.names.push((start, len, NONE));
        match *ends {
            (NONE, _) => *ends = (at, at),
            (_, last) => {
                if let Some(previous) = self.names.get_mut(last as usize) {
                    previous.2 = at;
                }
                ends.1 = at;
            }
        }
    }

    /// Reference `id`'s names, in the order they came.
    fn of(&self, id: u32) -> impl Iterator<Item = &str> {
        let mut at = self.ends.get(id as usize).map_or(NONE, |(first, _)| *first);
        std::iter::from_fn(move || {
            let (start, len, next) = *self.names.get(at as usize)?;
            at = next;
            self.text.get(start as usize..(start + len) as usize)
        })
    }
}

/// The population of a whole input, indexed per distinct manager reference. Build it with
/// [`OrgIndex::add`] over every record, then ask it as a [`Population`].
///
/// Its memory is per distinct manager: each key's text once, and about 60 bytes per
/// reference (benches/README.md has the figures at 1M rows).
#[derive(Debug, Default)]
pub struct OrgIndex {
    keys: Keys,
    references: Vec<Reference>,
    /// The references' key ids, one run per reference.
    reference_keys: Vec<u32>,
    /// The references by hash, with their counts.
    by_hash: HashTable<ReferenceSlot>,
    /// Per reference id: (active, rows) counted past `u32::MAX` in its slot.
    beyond: std::collections::HashMap<u32, (u64, u64)>,
    /// Once sealed: per reference id, its active count (a lookup by id, not by hash).
    settled: Vec<u64>,
    /// Scratch: a batch's reference hashes (`None`: the record is not counted).
    batch_hashes: Vec<Option<u128>>,
    /// Whether the keys' slots hold their holder and total (see [`OrgIndex::seal`]).
    sealed: bool,
    /// Per key id: the first of the references that hold it, chained through `holders`.
    first_holder: Vec<u32>,
    /// (reference, the next holder of the same key).
    holders: Vec<(u32, u32)>,
    /// Per reference, up to `keep` of the active people naming it, in input order (none
    /// when `keep` is 0).
    people: People,
    /// How many reporters' names to keep per reference (0 in a dry run).
    keep: usize,
    /// Scratch: the key ids of the record being added.
    scratch: Vec<u32>,
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
    pub fn add(&mut self, entry: &OrgEntry, who: impl Fn() -> String) {
        self.sealed = false;
        if let Some(hash) = self.counted_hash(entry, &who) {
            self.count(hash, entry, &who);
        }
    }

    /// Adds records as [`OrgIndex::add`] does (named by their keys), a batch at a time: the
    /// references' hashes first, then the probes in a tight loop, where the processor
    /// overlaps their cache misses. Taken one record at a time, between two rows' parsing,
    /// each probe waited alone: at a million rows, most of the first pass's cost. Writes into
    /// `ids` (cleared first) each record's manager reference id, [`OrgIndex::reference_id`]'s
    /// answer for it: `None` where the record names no manager or names itself.
    pub fn add_all(&mut self, entries: &[OrgEntry], ids: &mut Vec<Option<u32>>) {
        self.sealed = false;
        let mut hashes = std::mem::take(&mut self.batch_hashes);
        hashes.clear();
        hashes.extend(
            entries
                .iter()
                .map(|entry| self.counted_hash(entry, &String::new)),
        );
        ids.clear();
        for (entry, hash) in entries.iter().zip(&hashes) {
            ids.push(hash.and_then(|hash| self.count(hash, entry, &String::new)));
        }
        self.batch_hashes = hashes;
    }

    /// Counts the record's row, and returns its reference's hash when the record names a
    /// manager other than itself.
    fn counted_hash(&mut self, entry: &OrgEntry, who: &dyn Fn() -> String) -> Option<u128> {
        self.records += 1;
        if entry.manager.is_empty() {
            self.no_manager += 1;
            return None;
        }
        if entry.names_itself() {
            self.self_references += 1;
            if self.self_examples.len() < EXAMPLES {
                self.self_examples.push(entry.display(who));
            }
            return None;
        }
        Some(reference_hash(&entry.manager))
    }

    /// Counts the record under its reference (of hash `hash`), new or not, and returns the
    /// reference's id (`None` past 4 billion references).
    fn count(&mut self, hash: u128, entry: &OrgEntry, who: &dyn Fn() -> String) -> Option<u32> {
        let mut slot = self.by_hash.find_mut(hash as u64, |slot| slot.hash == hash);
        if slot.is_none() {
            self.insert_reference(hash, &entry.manager)?;
            slot = self.by_hash.find_mut(hash as u64, |slot| slot.hash == hash);
        }
        let slot = slot?;
        let id = slot.id;
        let rows_full = slot.rows == u32::MAX;
        slot.rows = slot.rows.saturating_add(1);
        let mut before = 0;
        let mut count_full = false;
        if entry.active {
            before = slot.count;
            count_full = slot.count == u32::MAX;
            slot.count = slot.count.saturating_add(1);
        }
        if rows_full || count_full {
            let beyond = self.beyond.entry(id).or_default();
            beyond.0 += u64::from(count_full);
            beyond.1 += u64::from(rows_full);
        }
        // The people kept so far: one per active row, up to `keep`.
        if entry.active && (before as usize) < self.keep {
            match entry.keys.first() {
                Some((_, name)) => self.people.push(id, name),
                None => self.people.push(id, &who()),
            }
        }
        Some(id)
    }

    /// Reference `id`'s active people and rows naming it.
    fn counts(&self, id: u32) -> (u64, u64) {
        let Some(hash) = self.references.get(id as usize).map(|r| r.hash) else {
            return (0, 0);
        };
        let (count, rows) = self
            .by_hash
            .find(hash as u64, |slot| slot.hash == hash)
            .map_or((0, 0), |slot| (u64::from(slot.count), u64::from(slot.rows)));
        let (more_count, more_rows) = self.beyond.get(&id).copied().unwrap_or_default();
        (count + more_count, rows + more_rows)
    }

    /// A person key's hash, as [`OrgIndex::count_hashed`] takes them: a pass can hash a
    /// record's keys once, keep the hashes, and count the record's reports later.
    pub fn key_hash(link: u16, value: &str) -> u128 {
        Keys::hash(link, value)
    }

    /// The reports of a person whose keys have these hashes ([`OrgIndex::key_hash`]), and
    /// into `matches` (cleared first, sorted) the ids of the references that name them: what
    /// [`Population::report_count_noting`] answers for the keys themselves.
    pub fn count_hashed(&self, hashes: &[u128], matches: &mut Vec<u32>) -> u64 {
        matches.clear();
        if let Some(total) = self.sealed_count(hashes, |holder| matches.push(holder)) {
            matches.sort_unstable();
            return total;
        }
        matches.clear();
        self.count_through_holders(hashes, matches)
    }

    /// The reports of the keys of these hashes the long way: the references holding each
    /// key (into `ids`, sorted, each once), each one's count summed.
    fn count_through_holders(&self, hashes: &[u128], ids: &mut Vec<u32>) -> u64 {
        self.matched_hashed_into(hashes.iter().copied(), ids);
        ids.iter().map(|id| self.active_count(*id)).sum()
    }

    /// The reports of the keys of these hashes from the sealed key slots alone, each
    /// distinct holder handed to `noted`: when every key has one holder, one probe per key,
    /// and a reference that holds two of them (a manager named by email and id) counted
    /// once. `None`: count the long way (not sealed, or a key several references hold).
    fn sealed_count(&self, hashes: &[u128], mut noted: impl FnMut(u32)) -> Option<u64> {
        if !self.sealed {
            return None;
        }
        let mut total = 0u64;
        let mut holders = [NONE; 8];
        let mut distinct = 0;
        for hash in hashes {
            match self.keys.find_hashed(*hash) {
                Some(slot) if slot.holder >= MAX_ID => return None,
                Some(slot) => {
                    let seen = holders.get(..distinct).unwrap_or(&[]);
                    if seen.contains(&slot.holder) {
                        continue;
                    }
                    *holders.get_mut(distinct)? = slot.holder;
                    distinct += 1;
                    total += slot.total;
                    noted(slot.holder);
                }
                None => {}
            }
        }
        Some(total)
    }

    /// Reference `id`'s active people: by id once sealed, else by its slot.
    fn active_count(&self, id: u32) -> u64 {
        match self.settled.get(id as usize) {
            Some(count) if self.sealed => *count,
            _ => self.counts(id).0,
        }
    }

    fn keys_of(&self, id: u32) -> &[u32] {
        self.references.get(id as usize).map_or(&[], |r| {
            let start = r.start as usize;
            self.reference_keys
                .get(start..start + r.len as usize)
                .unwrap_or(&[])
        })
    }

    /// A new reference of these keys (`None` past 4 billion of them).
    fn insert_reference(&mut self, hash: u128, manager: &[OrgKey]) -> Option<u32> {
        let id = u32::try_from(self.references.len())
            .ok()
            .filter(|id| *id < MAX_ID)?;
        let start = u32::try_from(self.reference_keys.len()).ok()?;
        let len = u32::try_from(manager.len()).ok()?;
        let mut ids = std::mem::take(&mut self.scratch);
        ids.clear();
        for (link, value) in manager {
            match self.keys.intern(*link, value) {
                Some(key) => ids.push(key),
                None => {
                    self.scratch = ids;
                    return None;
                }
            }
        }
        self.reference_keys.extend_from_slice(&ids);
        self.references.push(Reference { hash, start, len });
        self.by_hash.insert_unique(
            hash as u64,
            ReferenceSlot {
                hash,
                id,
                count: 0,
                rows: 0,
            },
            |slot| slot.hash as u64,
        );
        if self.first_holder.len() < self.keys.spans.len() {
            self.first_holder.resize(self.keys.spans.len(), NONE);
        }
        for key in &ids {
            if let Some(first) = self.first_holder.get_mut(*key as usize) {
                let holder = u32::try_from(self.holders.len()).ok()?;
                self.holders.push((id, *first));
                *first = holder;
            }
        }
        self.scratch = ids;
        Some(id)
    }

    /// Writes into each key's slot the one reference holding it alone and the active reports
    /// of its holders, so that counting a person's reports costs a probe per key. Call it
    /// once every record is added: a later [`OrgIndex::add`] unseals the index (lookups stay
    /// right, the long way).
    pub fn seal(&mut self) {
        let mut settled = std::mem::take(&mut self.settled);
        settled.clear();
        settled.resize(self.references.len(), 0);
        for slot in self.by_hash.iter() {
            if let Some(count) = settled.get_mut(slot.id as usize) {
                *count = u64::from(slot.count);
            }
        }
        for (id, (more, _)) in &self.beyond {
            if let Some(count) = settled.get_mut(*id as usize) {
                *count += more;
            }
        }
        self.settled = settled;
        let mut holder = vec![NONE; self.keys.spans.len()];
        let mut total = vec![0u64; self.keys.spans.len()];
        for id in 0..self.references.len() as u32 {
            let count = self.settled.get(id as usize).copied().unwrap_or(0);
            let keys = self.keys_of(id);
            for key in keys {
                let (Some(holder), Some(total)) =
                    (holder.get_mut(*key as usize), total.get_mut(*key as usize))
                else {
                    continue;
                };
                *total += count;
                *holder = if *holder == NONE { id } else { SHARED };
            }
        }
        for slot in self.keys.table.iter_mut() {
            slot.holder = holder.get(slot.id as usize).copied().unwrap_or(SHARED);
            slot.total = total.get(slot.id as usize).copied().unwrap_or(0);
        }
        self.keys.fill_present();
        self.sealed = true;
    }

    /// Adds to `ids` the references that hold key `key` (unsorted, maybe repeated).
    fn holders_of(&self, key: u32, ids: &mut Vec<u32>) {
        let mut at = self.first_holder.get(key as usize).copied().unwrap_or(NONE);
        while let Some((reference, next)) = self.holders.get(at as usize) {
            ids.push(*reference);
            at = *next;
        }
    }

    /// The reference ids a record's keys match, sorted.
    pub fn matched_by(&self, keys: &[OrgKey]) -> Vec<u32> {
        let mut ids = Vec::new();
        self.matched_into(
            keys.iter().map(|(link, value)| (*link, value.as_str())),
            &mut ids,
        );
        ids
    }

    /// The reference ids a record's keys match, sorted, into `ids` (cleared first): what
    /// a pass over millions of records asks without allocating.
    pub fn matched_into<'k>(
        &self,
        keys: impl IntoIterator<Item = (u16, &'k str)>,
        ids: &mut Vec<u32>,
    ) {
        ids.clear();
        self.matched_hashed_into(
            keys.into_iter()
                .map(|(link, value)| Keys::hash(link, value)),
            ids,
        );
    }

    /// [`OrgIndex::matched_into`] for keys of these hashes, added to `ids`.
    fn matched_hashed_into(&self, hashes: impl IntoIterator<Item = u128>, ids: &mut Vec<u32>) {
        for hash in hashes {
            if let Some(slot) = self.keys.find_hashed(hash) {
                if self.sealed && slot.holder < MAX_ID {
                    ids.push(slot.holder);
                } else {
                    self.holders_of(slot.id, ids);
                }
            }
        }
        ids.sort_unstable();
        ids.dedup();
    }

    /// The id of a manager reference, if some record named it.
    pub fn reference_id(&self, manager: &[OrgKey]) -> Option<u32> {
        if manager.is_empty() {
            return None;
        }
        let hash = reference_hash(manager);
        self.by_hash
            .find(hash as u64, |slot| slot.hash == hash)
            .map(|slot| slot.id)
    }

    /// How many distinct references there are (ids run from 0 below it).
    pub fn len(&self) -> usize {
        self.references.len()
    }

    pub fn is_empty(&self) -> bool {
        self.references.is_empty()
    }

    /// The first active person who names reference `id` (when the index keeps names).
    pub fn first_report(&self, id: u32) -> Option<&str> {
        self.people.of(id).next()
    }

    /// A reference's key values (in link order) and how many rows name it (inactive ones
    /// too).
    pub fn reference(&self, id: u32) -> Option<(Vec<&str>, u64)> {
        self.references.get(id as usize)?;
        let values = self
            .keys_of(id)
            .iter()
            .filter_map(|key| self.keys.get(*key).map(|(_, value)| value))
            .collect();
        Some((values, self.counts(id).1))
    }
}

impl Population for OrgIndex {
    fn reports(&self, keys: &[OrgKey]) -> Reports {
        let mut reports = Reports::default();
        let mut ids = Vec::new();
        self.matched_into(keys.iter().map(|(l, v)| (*l, v.as_str())), &mut ids);
        for id in ids {
            reports.count += self.active_count(id);
            for person in self.people.of(id) {
                if reports.people.len() < PEOPLE_SHOWN {
                    reports.people.push(person.to_string());
                }
            }
        }
        reports
    }

    fn report_count_noting(&self, keys: &[OrgKey], matches: &mut Vec<u32>) -> u64 {
        with_key_hashes(keys, |hashes| self.count_hashed(hashes, matches))
    }

    fn report_count(&self, keys: &[OrgKey]) -> u64 {
        with_key_hashes(keys, |hashes| {
            if let Some(total) = self.sealed_count(hashes, |_| {}) {
                return total;
            }
            self.count_through_holders(hashes, &mut Vec::new())
        })
    }
}

/// Asks `query` about the hashes of `keys`, on the stack for the few keys a person has.
fn with_key_hashes<T>(keys: &[OrgKey], query: impl FnOnce(&[u128]) -> T) -> T {
    let hash = |(link, value): &OrgKey| Keys::hash(*link, value);
    let mut stack = [0u128; 8];
    match stack.get_mut(..keys.len()) {
        Some(hashes) => {
            for (slot, key) in hashes.iter_mut().zip(keys) {
                *slot = hash(key);
            }
            query(hashes)
        }
        None => query(&keys.iter().map(hash).collect::<Vec<_>>()),
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

    /// A manager named by email alone by one record and by email and id by two others is
    /// two references sharing a key: both count for them, each once, and a reference is
    /// found again by exactly its keys.
    #[test]
    fn references_sharing_a_key_both_count() {
        let entry = |manager: &[(u16, &str)], active| OrgEntry {
            keys: Vec::new(),
            manager: manager.iter().map(|(l, v)| (*l, v.to_string())).collect(),
            active,
        };
        let mut index = OrgIndex::new(0);
        index.add(&entry(&[(0, "ana@acme.com")], true), String::new);
        index.add(&entry(&[(0, "ana@acme.com"), (1, "17")], true), String::new);
        index.add(
            &entry(&[(0, "ana@acme.com"), (1, "17")], false),
            String::new,
        );
        index.add(&entry(&[(1, "ana@acme.com")], true), String::new);
        assert_eq!(index.len(), 3);
        let ana = vec![(0, "ana@acme.com".to_string())];
        assert_eq!(index.reports(&ana).count, 2);
        assert_eq!(index.matched_by(&ana), vec![0, 1]);
        let both = vec![(0, "ana@acme.com".to_string()), (1, "17".to_string())];
        assert_eq!(index.reference_id(&both), Some(1));
        assert_eq!(index.reference(1), Some((vec!["ana@acme.com", "17"], 2)));
        // The same value under another link is another key.
        assert_eq!(index.reports(&[(1, "17".to_string())]).count, 1);
        assert_eq!(index.reference_id(&[(0, "17".to_string())]), None);
    }

    /// Sealing changes how a count is found, never what it is: over references of one and
    /// two keys, shared keys, inactive and repeated rows, every person's count and matched
    /// references are the same before and after, and agree with a count by brute force.
    #[test]
    fn a_sealed_index_counts_as_the_long_way_does() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let key = |link: u16, n: u64| (link, format!("k{n}"));
        let mut entries = Vec::new();
        for _ in 0..3_000 {
            let mut manager = Vec::new();
            if next(4) != 0 {
                manager.push(key(0, next(400)));
            }
            if next(3) == 0 {
                manager.push(key(1, next(300)));
            }
            entries.push(OrgEntry {
                keys: vec![key(0, 1_000 + next(1_000))],
                manager,
                active: next(5) != 0,
            });
        }
        let mut index = OrgIndex::new(0);
        for entry in &entries {
            index.add(entry, String::new);
        }
        let people: Vec<Vec<OrgKey>> = (0..500)
            .map(|n| {
                let mut keys = vec![key(0, n)];
                if n % 2 == 0 {
                    keys.push(key(1, n % 300));
                }
                if n % 7 == 0 {
                    keys.push(key(1, 5_000 + n));
                }
                keys
            })
            .collect();
        let before: Vec<(u64, Vec<u32>)> = people
            .iter()
            .map(|keys| (index.report_count(keys), index.matched_by(keys)))
            .collect();
        index.seal();
        let mut shared = 0;
        for (keys, (count, matched)) in people.iter().zip(&before) {
            assert_eq!(index.report_count(keys), *count, "{keys:?}");
            assert_eq!(&index.matched_by(keys), matched, "{keys:?}");
            assert_eq!(index.reports(keys).count, *count, "{keys:?}");
            // A key asked twice counts once.
            let twice = [keys.as_slice(), keys.as_slice()].concat();
            assert_eq!(index.report_count(&twice), *count, "{keys:?}");
            let mut noted = Vec::new();
            assert_eq!(index.report_count_noting(&twice, &mut noted), *count);
            assert_eq!(&noted, matched, "{keys:?}");
            let brute = entries
                .iter()
                .filter(|e| e.active && e.manager.iter().any(|m| keys.contains(m)))
                .count() as u64;
            assert_eq!(*count, brute, "{keys:?}");
            shared += usize::from(matched.len() > 1);
        }
        assert!(shared > 10, "the data exercises shared keys: {shared}");
        for entry in &entries {
            let id = index.reference_id(&entry.manager);
            assert_eq!(id.is_some(), !entry.manager.is_empty());
        }
        // A record added after sealing is counted too.
        let late = OrgEntry {
            keys: Vec::new(),
            manager: vec![key(0, 3)],
            active: true,
        };
        let three = vec![key(0, 3)];
        let was = index.report_count(&three);
        index.add(&late, String::new);
        assert_eq!(index.report_count(&three), was + 1);
        index.seal();
        assert_eq!(index.report_count(&three), was + 1);
    }

    /// The first pass reads a bound CSV row's link inputs straight from the row; it reads
    /// the same keys, manager reference and status as the evaluator does: blanks, a source
    /// that falls back to the next column, a login equal to the email (kept once), case
    /// and spaces normalised, an inactive status.
    #[test]
    fn the_first_pass_reads_csv_rows_as_the_evaluator_does() {
        let program = default_pack();
        let header = [
            "id",
            "status",
            "login",
            "email",
            "Work Email",
            "employeeNumber",
            "managerId",
            "managerEmail",
            "Manager Email",
        ];
        let binding = program.bind_columns(header.iter().copied());
        let rows = [
            [
                "u1",
                "ACTIVE",
                "Ana@Acme.com",
                "ana@acme.com",
                "",
                "17",
                "",
                " BO@acme.com ",
                "",
            ],
            [
                "u2",
                "TERMINATED",
                "",
                "",
                "cy@acme.com",
                "",
                "17",
                "",
                "bo@acme.com",
            ],
            ["", "", "", "", "", "", "", "", ""],
            [
                "u4",
                "active",
                "dee@acme.com",
                "DEE@acme.com",
                "",
                "4",
                "4",
                "dee@acme.com",
                "",
            ],
            [
                "  ",
                "On Leave",
                "ed",
                "",
                "",
                " 5 ",
                " 17 ",
                "",
                "ANA@ACME.COM",
            ],
        ];
        let today = NaiveDate::from_ymd_opt(2026, 12, 6).expect("a date");
        let mut reader = OrgReader::new(&program, today);
        let mut entry = OrgEntry::default();
        for _ in 0..2 {
            for row in &rows {
                let record: csv::ByteRecord = row.iter().collect();
                let record = crate::CsvRecord::from_bytes(&binding, &record);
                reader.read(&record, &mut entry);
                let expected = program.org_entry(&record, true, Some(today));
                assert_eq!(entry, expected, "{row:?}");
            }
        }
    }

    /// Records added a batch at a time are counted, kept and reported exactly as records
    /// added one by one, whatever the batches' sizes.
    #[test]
    fn batches_count_as_single_records_do() {
        let key = |link: u16, n: usize| (link, format!("k{n}"));
        let entries: Vec<OrgEntry> = (0..2_000)
            .map(|n| OrgEntry {
                keys: vec![key(0, 10_000 + n)],
                manager: match n % 5 {
                    0 => Vec::new(),
                    1 => vec![key(0, 10_000 + n)],
                    2 => vec![key(0, n % 97), key(1, n % 13)],
                    _ => vec![key(0, n % 89)],
                },
                active: n % 7 != 0,
            })
            .collect();
        let mut one_by_one = OrgIndex::new(3);
        for entry in &entries {
            one_by_one.add(entry, String::new);
        }
        one_by_one.seal();
        for size in [1, 7, ORG_BATCH, 5_000] {
            let mut batched = OrgIndex::new(3);
            let mut ids = Vec::new();
            for batch in entries.chunks(size) {
                batched.add_all(batch, &mut ids);
                let expected: Vec<Option<u32>> = batch
                    .iter()
                    .map(|entry| {
                        (!entry.names_itself())
                            .then(|| batched.reference_id(&entry.manager))
                            .flatten()
                    })
                    .collect();
                assert_eq!(ids, expected);
            }
            batched.seal();
            assert_eq!(batched.len(), one_by_one.len());
            assert_eq!(batched.records, one_by_one.records);
            assert_eq!(batched.no_manager, one_by_one.no_manager);
            assert_eq!(batched.self_references, one_by_one.self_references);
            assert_eq!(batched.self_examples, one_by_one.self_examples);
            for id in 0..one_by_one.len() as u32 {
                assert_eq!(batched.reference(id), one_by_one.reference(id));
                let names: Vec<&str> = batched.people.of(id).collect();
                let expected: Vec<&str> = one_by_one.people.of(id).collect();
                assert_eq!(names, expected);
            }
            for n in 0..100 {
                let keys = vec![key(0, n), key(1, n % 13)];
                assert_eq!(batched.reports(&keys), one_by_one.reports(&keys));
                let (mut a, mut b) = (Vec::new(), Vec::new());
                assert_eq!(
                    batched.report_count_noting(&keys, &mut a),
                    one_by_one.report_count_noting(&keys, &mut b)
                );
                assert_eq!(a, b);
            }
        }
    }

    /// A reference's counts go on past what its slot holds.
    #[test]
    fn counts_go_on_past_a_slots_capacity() {
        let ana = vec![(0, "ana@acme.com".to_string())];
        let named = |active| OrgEntry {
            keys: Vec::new(),
            manager: ana.clone(),
            active,
        };
        let mut index = OrgIndex::new(0);
        index.add(&named(true), String::new);
        for slot in index.by_hash.iter_mut() {
            slot.count = u32::MAX - 1;
            slot.rows = u32::MAX - 1;
        }
        for active in [true, true, false, true] {
            index.add(&named(active), String::new);
        }
        let expected = u64::from(u32::MAX) + 2;
        assert_eq!(index.report_count(&ana), expected);
        assert_eq!(index.reference(0).map(|(_, rows)| rows), Some(expected + 1));
        index.seal();
        assert_eq!(index.report_count(&ana), expected);
        let mut matches = Vec::new();
        assert_eq!(index.report_count_noting(&ana, &mut matches), expected);
        assert_eq!(matches, vec![0]);
        assert_eq!(index.reports(&ana).count, expected);
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
