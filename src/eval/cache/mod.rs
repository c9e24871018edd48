//! The bulk evaluator: each field's outcome cached by the raw values it depends on.
//!
//! Real exports repeat the same titles, flags, departments and locales across many rows, and a
//! field's outcome is a pure function of the raw values of the path-sourced inputs it reads
//! (directly or through `@input`s). So a field is evaluated once per distinct tuple of those
//! raw values; every later row with the same tuple gets the same slot, which holds the
//! outcome and counts the rows that got it (the dry-run report's coverage, see [`Tally`]).
//!
//! Where a field's rules fall into runs that read different inputs (an explicit level
//! column, then the title), each run's decision is cached by that run's own inputs, and the
//! field's outcome by the decision that fired: a new pair of a level and a title, each seen
//! before, costs lookups only. A field of many rules with constant outputs is cached the same
//! way as one run, since its decisions are few and each costs many rules.
//!
//! Memory stays bounded whatever the input size: each cache keeps two generations of at most
//! [`GENERATION`] entries (a rule run's decisions: a set-associative table of up to
//! [`RUN_ENTRIES`], see `ways.rs`); when the young one is full, the old one is dropped and
//! the young one becomes old. An entry found in the old
//! generation moves back to the young one, so values that keep coming back stay cached (an
//! LRU approximation without per-hit bookkeeping). Fields whose values rarely repeat (names,
//! emails) stop caching after a sample.

mod runs;
mod tables;

use std::collections::HashMap;
use std::sync::Arc;

use super::profile::{FieldNote, FieldOutcome, Profile};
use super::{Decision, OrgEntry, Population, Run, RunBuffers};
use crate::program::{Field, InputId, Program};
use crate::value::Record;
use runs::{decide_by_run, grouped, roots, segments, Decided, Keys, Segment};
use tables::{Generations, KeyHasher, PassThrough};

/// Entries per generation and cache: a cache holds at most twice this.
///
/// Measured on generated rows (about 17,000 distinct titles in 100,000 rows, 110,000 in 1M):
/// at 8,192 the caches are full within the first 100,000 rows, so peak memory is the same for
/// 100k and 1M rows; 16,384 ran 1M rows about 10% faster but grew 12% past 100k (with 51-53
/// MiB, one worker, before the allocator's huge pages were turned off). benches/README.md has
/// the figures.
pub const GENERATION: usize = 8_192;
/// Entries a worker's share of a cache keeps at least, however many workers share the rows.
const MIN_SHARE: usize = 256;
/// Lookups after which a field's hit rate is judged.
const SAMPLE: u32 = 4_096;
/// Below this share of hits in the sample (1 in 5), a field stops caching.
const MIN_HITS: u32 = SAMPLE / 5;

/// What an evaluator counts as it goes: the dry run's coverage. `()` counts nothing.
///
/// Counting happens inside the caches: a row that hits a cached outcome adds one to that
/// outcome's counter, in the cache line the lookup has just read, and the counters are
/// handed to the tally in first-seen order when the cache turns over and at the end. So the
/// tally sees each distinct outcome once per turnover instead of once per row, and new values
/// in the order rows first brought them (bounded counters keep the same values as counting
/// row by row would).
pub trait Tally {
    /// Whether outcomes are counted at all (the plain evaluator skips the bookkeeping).
    const COUNTS: bool;
    /// `rows` more rows got `outcome` for the field at `field` (declaration order).
    fn outcome(&mut self, field: usize, outcome: &FieldOutcome, rows: u64);
    /// One row's raw value of `input` was not mapped by the field at `field` (the outcome
    /// fell to the final `else` or left the field unset). Counted row by row, in row order.
    fn unmapped(&mut self, field: usize, input: &Arc<str>, raw: &str) {
        let _ = (field, input, raw);
    }
    /// One more row: whether a required field stayed unset, whether evaluation ran out of
    /// budget.
    fn row(&mut self, missing_required: bool, error: bool);
    /// Whether the order in which `outcome` reaches the tally no longer matters (its bounded
    /// counters are full, so what they keep is settled). A cache then hands over such an
    /// outcome's rows only when its slot goes, not at every turnover.
    fn settled(&self, field: usize, outcome: &FieldOutcome) -> bool {
        let _ = (field, outcome);
        false
    }
}

impl Tally for () {
    const COUNTS: bool = false;
    fn outcome(&mut self, _: usize, _: &FieldOutcome, _: u64) {}
    fn row(&mut self, _: bool, _: bool) {}
}

/// Evaluation with a cache per field; use one per worker thread.
pub struct Evaluator<'p, T: Tally = ()> {
    program: &'p Program,
    caches: Vec<FieldCache>,
    /// Root inputs with the same sources read the same raw value (the display title and the
    /// normalised title both read `title, "Job Title", …`): each such group's raw value is
    /// found and hashed once per record, whichever fields and rule runs key on it.
    groups: Vec<InputId>,
    /// This record's hash of each group, valid where `hashed` holds the record's number.
    group_hashes: Vec<u128>,
    hashed: Vec<u64>,
    record_number: u64,
    hasher: KeyHasher,
    /// The last row's outcome of each field: a slot of the field's cache, or `None` for the
    /// cache's `fresh` outcome.
    row: Vec<Option<u32>>,
    /// The last record's evaluation buffers, for the next.
    buffers: RunBuffers,
    /// The date `is before today` compares with (the local date of each record when `None`).
    today: Option<chrono::NaiveDate>,
    /// What `reports` tests count (none: they do not hold).
    population: Option<&'p dyn Population>,
    /// The last record's place in the organisation graph, when asked for (the dry run's
    /// organisation report reads it from the run that mapped the record).
    org_entry: Option<OrgEntry>,
    /// The next record's count of reports, when counted beforehand
    /// ([`Evaluator::apply_row_counted`]).
    counted: Option<u64>,
    tally: T,
}

struct FieldCache {
    /// The groups of path-sourced inputs the field depends on, sorted: their sources and
    /// raw values are the cache key.
    roots: Vec<usize>,
    /// Key → slot.
    keys: Generations<u32>,
    /// The distinct outcomes the keys point at, in first-seen order, with rows not yet
    /// handed to the tally. Equal outcomes share a slot: a thousand titles that all read
    /// "Manager" through the same rule give one outcome, which keeps what each row touches
    /// small and hot.
    slots: Vec<Slot>,
    /// Slots by a hash of their outcome. A slot whose hash another slot already has is not
    /// listed (it is simply not shared), so the map holds plain numbers, and a turnover
    /// renumbers it in place instead of hashing every outcome again.
    interned: HashMap<u64, u32, PassThrough>,
    outcome_hasher: foldhash::fast::RandomState,
    /// The last row's outcome when it was not cached (a field of unique values).
    fresh: Option<Arc<FieldOutcome>>,
    /// Where the field's rules fall into runs that read different inputs (an explicit level
    /// column, then the title), each run's decision is also cached by its own inputs: a new
    /// pair of values that were each seen before costs no rule evaluation.
    segments: Vec<Segment>,
    lookups: u32,
    hits: u32,
    enabled: bool,
}

/// A distinct outcome, with what a row needs of it beside it: a row that hits the cache
/// reads this one cache line and the value's text, not the outcome.
struct Slot {
    /// Rows that got this outcome since the tally last saw it.
    rows: u64,
    value: Option<Arc<str>>,
    missing_required: bool,
    out_of_budget: bool,
    /// The outcome left the record's raw values unmapped: a counting evaluator hands them
    /// to the tally row by row (they are no part of the outcome, which many titles share).
    fell_through: bool,
    outcome: Arc<FieldOutcome>,
}

impl Slot {
    fn new(outcome: Arc<FieldOutcome>) -> Self {
        Self {
            rows: 0,
            value: outcome.value.clone(),
            missing_required: outcome.required && outcome.value.is_none(),
            out_of_budget: outcome.note == Some(FieldNote::BudgetExhausted),
            fell_through: outcome.fell_through(),
            outcome,
        }
    }
}

impl FieldCache {
    /// The slot of a cached key; an old key moves to the young generation.
    fn lookup<T: Tally>(&mut self, key: u128, field: usize, tally: &mut T) -> Option<u32> {
        if let Some(&slot) = self.keys.young.get(key) {
            return Some(slot);
        }
        let mut slot = self.keys.old.remove(key)?;
        if self.keys.is_full() {
            slot = self.turn_over(field, tally, Some(slot))?;
        }
        self.keys.young.insert(key, slot);
        Some(slot)
    }

    /// Stores a new outcome: in a slot (shared with an equal outcome), and under `key` unless
    /// the outcome must not be reused.
    fn store<T: Tally>(
        &mut self,
        key: u128,
        outcome: Arc<FieldOutcome>,
        cacheable: bool,
        field: usize,
        tally: &mut T,
    ) -> u32 {
        // Slots: those of both generations' keys, and as many again for outcomes that are
        // counted but not cached (records out of budget).
        if self.keys.is_full() || self.slots.len() >= 4 * self.keys.capacity {
            self.turn_over(field, tally, None);
        }
        let hash = {
            use std::hash::BuildHasher;
            self.outcome_hasher.hash_one(&*outcome)
        };
        let found = self.interned.get(&hash).copied();
        let slot = match found {
            Some(slot)
                if self
                    .slots
                    .get(slot as usize)
                    .is_some_and(|s| s.outcome == outcome) =>
            {
                slot
            }
            _ => {
                let slot = self.slots.len() as u32;
                if found.is_none() {
                    self.interned.insert(hash, slot);
                }
                self.slots.push(Slot::new(outcome));
                slot
            }
        };
        if cacheable {
            self.keys.young.insert(key, slot);
        }
        slot
    }

    /// Hands every slot's rows to the tally, in slot (first-seen) order.
    fn fold<T: Tally>(&mut self, field: usize, tally: &mut T) {
        if !T::COUNTS {
            return;
        }
        for slot in &mut self.slots {
            if slot.rows > 0 {
                tally.outcome(field, &slot.outcome, slot.rows);
                slot.rows = 0;
            }
        }
    }

    /// Turns the key generations over and keeps only the slots the remaining keys (and
    /// `keep`) point at, in their order. Returns `keep`'s new number.
    fn turn_over<T: Tally>(
        &mut self,
        field: usize,
        tally: &mut T,
        keep: Option<u32>,
    ) -> Option<u32> {
        self.keys.turn_over();
        let mut renumbered = vec![u32::MAX; self.slots.len()];
        for &slot in self.keys.old.values().chain(keep.as_ref()) {
            if let Some(mark) = renumbered.get_mut(slot as usize) {
                *mark = 0;
            }
        }
        // In slot (first-seen) order: the rows of every slot that goes, and of every kept
        // slot whose order still matters to the tally. A kept, settled slot keeps counting.
        if T::COUNTS {
            for (slot, mark) in self.slots.iter_mut().zip(&renumbered) {
                let goes = *mark == u32::MAX;
                if slot.rows > 0 && (goes || !tally.settled(field, &slot.outcome)) {
                    tally.outcome(field, &slot.outcome, slot.rows);
                    slot.rows = 0;
                }
            }
        }
        let mut next = 0u32;
        let mut kept = Vec::with_capacity(self.slots.len().min(2 * GENERATION));
        for (slot, mark) in self.slots.drain(..).zip(renumbered.iter_mut()) {
            if *mark == 0 {
                *mark = next;
                next += 1;
                kept.push(slot);
            }
        }
        self.slots = kept;
        for slot in self.keys.old.values_mut() {
            *slot = renumbered.get(*slot as usize).copied().unwrap_or(u32::MAX);
        }
        self.interned
            .retain(|_, slot| match renumbered.get(*slot as usize) {
                Some(&number) if number != u32::MAX => {
                    *slot = number;
                    true
                }
                _ => false,
            });
        keep.and_then(|slot| renumbered.get(slot as usize).copied())
    }

    /// Stops caching: the field's values rarely repeat. Only a field without rule runs gets
    /// here: a field of runs caches its outcomes by decision, which repeat.
    fn disable<T: Tally>(&mut self, field: usize, tally: &mut T) {
        self.fold(field, tally);
        self.enabled = false;
        self.keys = Generations::new(self.keys.capacity);
        self.slots = Vec::new();
        self.interned = HashMap::default();
    }

    fn outcome(&self, slot: Option<u32>) -> Option<&Arc<FieldOutcome>> {
        match slot {
            Some(slot) => self.slots.get(slot as usize).map(|s| &s.outcome),
            None => self.fresh.as_ref(),
        }
    }
}

/// One record's outcomes, borrowed from the evaluator until its next record.
pub struct Row<'e> {
    caches: &'e [FieldCache],
    slots: &'e [Option<u32>],
    /// Whether a required field stayed unset, whether the record ran out of budget.
    flags: (bool, bool),
}

impl<'e> Row<'e> {
    /// Every field's outcome, in declaration order.
    pub fn fields(&self) -> impl Iterator<Item = &'e FieldOutcome> + 'e {
        let caches = self.caches;
        self.slots
            .iter()
            .zip(caches)
            .filter_map(|(slot, cache)| cache.outcome(*slot).map(|o| &**o))
    }

    /// Every field's canonical value, in declaration order, from the slots alone.
    pub fn values(&self) -> impl Iterator<Item = Option<&'e str>> + 'e {
        let caches = self.caches;
        self.slots
            .iter()
            .zip(caches)
            .map(|(slot, cache)| match slot {
                Some(slot) => cache.slots.get(*slot as usize)?.value.as_deref(),
                None => cache.fresh.as_ref()?.value.as_deref(),
            })
    }

    /// Names of required fields that stayed unset.
    pub fn missing_required(&self) -> impl Iterator<Item = &'e str> + 'e {
        self.fields()
            .filter(|f| f.required && f.value.is_none())
            .map(|f| &*f.name)
    }

    /// Whether a required field stayed unset.
    pub fn is_missing_required(&self) -> bool {
        self.flags.0
    }

    /// Whether the record ran out of evaluation budget.
    pub fn is_error(&self) -> bool {
        self.flags.1
    }
}

impl<'p> Evaluator<'p> {
    pub fn new(program: &'p Program) -> Self {
        Self::counting(program, ())
    }
}

impl<'p, T: Tally> Evaluator<'p, T> {
    /// An evaluator that counts every record's outcomes into `tally`.
    pub fn counting(program: &'p Program, tally: T) -> Self {
        Self::counting_one_of(program, tally, 1)
    }

    /// A counting evaluator for one of `workers` threads that share an input's rows: each
    /// sees about one row in `workers`, so each keeps that share of the entries one evaluator
    /// keeps. Together they hold as much, and each cache is as full after 100,000 rows of the
    /// input as one evaluator's (with whole caches each, two workers' memory grew until about
    /// 300,000 rows; the hit rates are the same).
    pub fn counting_one_of(program: &'p Program, tally: T, workers: usize) -> Self {
        let share = workers.max(1);
        let mut groups = Vec::new();
        let caches = program
            .fields
            .iter()
            .map(|field| FieldCache {
                roots: grouped(program, &roots(program, &field.reads), &mut groups),
                keys: Generations::new((GENERATION / share).max(MIN_SHARE)),
                slots: Vec::new(),
                interned: HashMap::default(),
                outcome_hasher: foldhash::fast::RandomState::default(),
                fresh: None,
                // A field that tests `reports` is cached whole, by its inputs and the count.
                segments: if field.uses_reports {
                    Vec::new()
                } else {
                    segments(program, field, &mut groups, share)
                },
                lookups: 0,
                hits: 0,
                enabled: !field.reads.is_empty() || field.uses_reports,
            })
            .collect();
        Self {
            program,
            caches,
            group_hashes: vec![0; groups.len()],
            hashed: vec![u64::MAX; groups.len()],
            groups,
            record_number: 0,
            hasher: KeyHasher::new(),
            row: vec![None; program.fields.len()],
            buffers: RunBuffers::default(),
            today: None,
            population: None,
            org_entry: None,
            counted: None,
            tally,
        }
    }

    /// The program it evaluates.
    pub(crate) fn program(&self) -> &'p Program {
        self.program
    }

    /// Evaluates `reports` tests in `population` (each record's count is then part of the
    /// cache key of the fields that test it).
    pub fn among(mut self, population: &'p dyn Population) -> Self {
        self.population = Some(population);
        self
    }

    /// Also reads each record's keys and manager reference, for [`Evaluator::org_entry`].
    pub fn noting_org(mut self) -> Self {
        self.org_entry = Some(OrgEntry::default());
        self
    }

    /// The last record's keys and manager reference (with [`Evaluator::noting_org`]; its
    /// `active` is not read).
    pub fn org_entry(&self) -> Option<&OrgEntry> {
        self.org_entry.as_ref()
    }

    /// The tally, the last record's keys and manager reference (see
    /// [`Evaluator::org_entry`]), and the ids of the population's references its keys match
    /// (found by the lookup that counted its reports; empty unless the population is an
    /// index).
    pub fn tally_and_org_entry(&mut self) -> (&mut T, Option<&OrgEntry>, &[u32]) {
        (
            &mut self.tally,
            self.org_entry.as_ref(),
            &self.buffers.report_matches,
        )
    }

    /// The record's profile.
    pub fn apply(&mut self, record: &dyn Record) -> Profile {
        self.evaluate(record);
        let fields = self
            .row
            .iter()
            .zip(&self.caches)
            .filter_map(|(slot, cache)| cache.outcome(*slot).cloned())
            .collect();
        Profile { fields }
    }

    /// The record's outcomes, without building a profile: what a bulk run writes out.
    pub fn apply_row(&mut self, record: &dyn Record) -> Row<'_> {
        let flags = self.evaluate(record);
        Row {
            caches: &self.caches,
            slots: &self.row,
            flags,
        }
    }

    /// [`Evaluator::apply_row`], for a record whose count of reports is known where
    /// `reports` is `Some`: a dry run counts every record's in one pass over the first pass's
    /// keys, in batches. Its keys are then neither read nor looked up, and its place is not
    /// noted for [`Evaluator::org_entry`] (that pass noted it).
    pub fn apply_row_counted(&mut self, record: &dyn Record, reports: Option<u64>) -> Row<'_> {
        self.counted = reports;
        self.apply_row(record)
    }

    /// The tally so far (outcomes still in the caches are not in it yet).
    pub fn tally_mut(&mut self) -> &mut T {
        &mut self.tally
    }

    /// Whether field `field`'s cache has turned over at least once (for tests that need a
    /// turnover to have happened).
    #[cfg(test)]
    pub(crate) fn has_turned_over(&self, field: usize) -> bool {
        self.caches
            .get(field)
            .is_some_and(|cache| !cache.keys.old.is_empty())
    }

    /// Compares dates with `today` rather than the local date: a run over a whole export
    /// decides every row on the same date, and tests and dry runs can pin it.
    pub fn on(mut self, today: chrono::NaiveDate) -> Self {
        self.today = Some(today);
        self
    }

    /// Hands every outcome still counted in the caches to the tally, and returns it.
    pub fn into_tally(mut self) -> T {
        for (field, cache) in self.caches.iter_mut().enumerate() {
            cache.fold(field, &mut self.tally);
        }
        self.tally
    }

    /// A run over the next record, in the last record's buffers (give them back with
    /// [`Run::into_buffers`]).
    fn start<'r>(&mut self, record: &'r dyn Record) -> Run<'p, 'r> {
        self.record_number += 1;
        let buffers = std::mem::take(&mut self.buffers);
        let counted = self.counted.take();
        Run::with_buffers(self.program, record, buffers)
            .on(self.today)
            .among(self.population)
            .noting_matches(self.org_entry.is_some() && counted.is_none())
            .knowing_reports(counted)
    }

    /// Field `field`'s value for `record`, cached as [`Evaluator::apply_row`] caches it, and
    /// the run that decided it, for `visit` to read more of the record's inputs from (the
    /// first pass over a population needs a record's keys and status only).
    pub(crate) fn visit_field<R>(
        &mut self,
        record: &dyn Record,
        field: Option<usize>,
        visit: impl FnOnce(&mut Run<'p, '_>, Option<&str>) -> R,
    ) -> R {
        let mut run = self.start(record);
        let mut keys = Keys {
            groups: &self.groups,
            hashes: &mut self.group_hashes,
            hashed: &mut self.hashed,
            record: self.record_number,
            hasher: &self.hasher,
        };
        let mut value = None;
        if let Some((index, (field, cache))) = field.and_then(|index| {
            let field = self.program.fields.get(index)?;
            Some((index, (field, self.caches.get_mut(index)?)))
        }) {
            value = if cache.enabled {
                Self::cached(&mut run, field, index, cache, &mut keys, &mut self.tally)
                    .and_then(|slot| cache.slots.get(slot as usize))
                    .map_or_else(
                        || cache.fresh.as_ref().and_then(|o| o.value.clone()),
                        |slot| slot.value.clone(),
                    )
            } else {
                run.field(field, None).value
            };
        }
        let result = visit(&mut run, value.as_deref());
        self.buffers = run.into_buffers();
        result
    }

    /// Evaluates every field into `self.row`. Returns whether a required field stayed unset
    /// and whether the record ran out of budget.
    fn evaluate(&mut self, record: &dyn Record) -> (bool, bool) {
        let counted = self.counted.is_some();
        let mut run = self.start(record);
        let mut keys = Keys {
            groups: &self.groups,
            hashes: &mut self.group_hashes,
            hashed: &mut self.hashed,
            record: self.record_number,
            hasher: &self.hasher,
        };
        let mut missing_required = false;
        let mut error = false;
        for (index, ((field, cache), row)) in self
            .program
            .fields
            .iter()
            .zip(self.caches.iter_mut())
            .zip(self.row.iter_mut())
            .enumerate()
        {
            let slot = if cache.enabled {
                Self::cached(&mut run, field, index, cache, &mut keys, &mut self.tally)
            } else {
                let outcome = run.field(field, None);
                // The last record's outcome, if nothing else holds it, takes this one's place:
                // a field of unique values (a manager's email) allocates no outcome per row.
                match cache.fresh.as_mut().and_then(Arc::get_mut) {
                    Some(fresh) => *fresh = outcome,
                    None => cache.fresh = Some(Arc::new(outcome)),
                }
                None
            };
            *row = slot;
            match slot {
                Some(slot) => {
                    let Some(slot) = cache.slots.get_mut(slot as usize) else {
                        continue;
                    };
                    if T::COUNTS {
                        slot.rows += 1;
                        if slot.fell_through {
                            let tally = &mut self.tally;
                            run.raw_values(field, |input, raw| tally.unmapped(index, input, raw));
                        }
                    }
                    missing_required |= slot.missing_required;
                    error |= slot.out_of_budget;
                }
                None => {
                    if let Some(outcome) = &cache.fresh {
                        self.tally.outcome(index, outcome, 1);
                        if T::COUNTS && outcome.fell_through() {
                            let tally = &mut self.tally;
                            run.raw_values(field, |input, raw| tally.unmapped(index, input, raw));
                        }
                        missing_required |= outcome.required && outcome.value.is_none();
                        error |= outcome.note == Some(FieldNote::BudgetExhausted);
                    }
                }
            }
        }
        if let Some(entry) = self.org_entry.as_mut().filter(|_| !counted) {
            run.note_report_matches();
            super::org::read_links(self.program, &mut run, entry, super::org::Reading::Kept);
        }
        self.buffers = run.into_buffers();
        self.tally.row(missing_required, error);
        (missing_required, error)
    }

    /// The field's slot for this record: a cached outcome, or a new one, stored. `None` when
    /// the field stops caching here (its outcome is then the cache's `fresh` one).
    #[allow(clippy::too_many_arguments)]
    fn cached(
        run: &mut Run,
        field: &Field,
        index: usize,
        cache: &mut FieldCache,
        keys: &mut Keys,
        tally: &mut T,
    ) -> Option<u32> {
        if !cache.segments.is_empty() {
            return Self::cached_by_run(run, field, index, cache, keys, tally);
        }
        let mut key = keys.key(run, &cache.roots);
        if field.uses_reports {
            let count = run.report_count();
            key = keys.hasher.mix(key, count);
        }
        cache.lookups = cache.lookups.saturating_add(1);
        if let Some(slot) = cache.lookup(key, index, tally) {
            cache.hits += 1;
            return Some(slot);
        }
        let outcome = Arc::new(run.field(field, None));
        if cache.lookups == SAMPLE && cache.hits < MIN_HITS {
            cache.disable(index, tally);
            cache.fresh = Some(outcome);
            return None;
        }
        // A record that ran out of fuel says nothing about other records with this value.
        let cacheable = outcome.note != Some(FieldNote::BudgetExhausted);
        Some(cache.store(key, outcome, cacheable, index, tally))
    }

    /// The slot of a field whose rules fall into runs that read different inputs: the runs
    /// decide in order, each cached by its own inputs, and the outcome is cached by the
    /// decision that fired (raw values that fell through are counted row by row, apart). So
    /// a new pair of an explicit level and a title, each seen before, costs lookups only.
    #[allow(clippy::too_many_arguments)]
    fn cached_by_run(
        run: &mut Run,
        field: &Field,
        index: usize,
        cache: &mut FieldCache,
        keys: &mut Keys,
        tally: &mut T,
    ) -> Option<u32> {
        let decided = decide_by_run(run, field, cache, keys);
        let known = match &decided {
            Decided::Known { run, id } => cache.segments.get(*run)?.known.get(*id as usize),
            Decided::NoMatch => None,
            Decided::Uncached(decision) => {
                let outcome = Arc::new(run.finish(field, decision.clone()));
                return Some(cache.store(0, outcome, false, index, tally));
            }
        };
        let key = match known {
            Some(known) => known.key,
            None => keys.hasher.hash("no rule run fired"),
        };
        cache.lookups = cache.lookups.saturating_add(1);
        if let Some(slot) = cache.lookup(key, index, tally) {
            cache.hits += 1;
            return Some(slot);
        }
        let decision = match decided {
            Decided::Known { run, id } => cache
                .segments
                .get(run)
                .and_then(|segment| segment.known.get(id as usize))
                .map_or(Decision::NoMatch, |known| known.decision.clone()),
            _ => Decision::NoMatch,
        };
        let outcome = Arc::new(run.finish(field, decision));
        Some(cache.store(key, outcome, true, index, tally))
    }
}

#[cfg(test)]
mod tests;
