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

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use super::profile::{FieldNote, FieldOutcome, Profile};
use super::ways::Ways;
use super::{Decision, Run, RunBuffers};
use crate::check::program::{Cond, Field, InputId, InputSource, Output, Program};
use crate::value::Record;

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
    outcome: Arc<FieldOutcome>,
}

impl Slot {
    fn new(outcome: Arc<FieldOutcome>) -> Self {
        Self {
            rows: 0,
            value: outcome.value.clone(),
            missing_required: outcome.required && outcome.value.is_none(),
            out_of_budget: outcome.note == Some(FieldNote::BudgetExhausted),
            outcome,
        }
    }
}

/// A rule run and its cache of decisions.
struct Segment {
    run: RuleRun,
    /// Decisions by the roots' raw values, and by the normalised values of `reads`: indexes
    /// into `known`. A rule run decides few distinct things (a level, "no match"), so each
    /// entry is a 16-byte index and the table can hold many more titles in the same memory.
    decisions: Ways,
    /// The run's distinct decisions, each with its key in the field's outcome cache.
    known: Vec<Known>,
    numbered: HashMap<Decision, u32, foldhash::fast::RandomState>,
}

/// One distinct decision of a rule run.
struct Known {
    decision: Decision,
    /// The field's outcome key of this decision: a hash of the run's number and the decision
    /// (the rule and its output), so it does not depend on the order decisions were met in.
    key: u128,
    /// Whether the outcome also keeps the field's raw value ([`Decision::falls_through`]):
    /// the raw value is then part of the outcome's key.
    fell_through: bool,
}

/// Entries a rule run's table of decisions grows to: 16 bytes each, 1 MiB. Measured on 1M
/// generated rows (82,000 distinct titles), the title run missed 207,000 times with two
/// generations of 8,192 entries and about half as often with 28,672 (the same memory as this
/// table). One worker's title run reaches it within 100,000 rows, so peak memory stays flat.
const RUN_ENTRIES: usize = 65_536;
/// Distinct decisions a rule run keeps before it starts afresh (a run that outputs an
/// input's text, like an office name, can decide as many things as there are values).
/// Small in unit tests, so that starting afresh is exercised.
const MAX_KNOWN: usize = if cfg!(test) { 64 } else { RUN_ENTRIES * 7 / 8 };

impl Segment {
    /// `share`: of the entries of one evaluator's table (see [`Evaluator::counting_one_of`]).
    fn new(run: RuleRun, share: usize) -> Self {
        Self {
            run,
            decisions: Ways::new((RUN_ENTRIES / share).max(MIN_SHARE)),
            known: Vec::new(),
            numbered: HashMap::default(),
        }
    }

    /// The number of `decision` (made by run `number` of `field`), numbering it if new.
    fn number(
        &mut self,
        field: &Field,
        number: usize,
        decision: Decision,
        hasher: &KeyHasher,
    ) -> u32 {
        if let Some(&id) = self.numbered.get(&decision) {
            return id;
        }
        if self.known.len() >= MAX_KNOWN {
            self.known.clear();
            self.numbered.clear();
            self.decisions.clear();
        }
        let fell_through = decision.falls_through(field);
        let key = hasher.hash(("rule run", number, &decision));
        let id = self.known.len() as u32;
        self.numbered.insert(decision.clone(), id);
        self.known.push(Known {
            decision,
            key,
            fell_through,
        });
        id
    }
}

/// Two generations of at most `capacity` entries each ([`GENERATION`] unless said).
struct Generations<V> {
    young: Table<V>,
    old: Table<V>,
    capacity: usize,
}

/// Keys are 128-bit hashes of the raw values, made with two independently, randomly seeded
/// hashers: an entry then lives inline in the table, and a lookup touches no key bytes
/// elsewhere in memory. At these table sizes a lookup otherwise waits on three cache misses
/// (bucket, key bytes, outcome); comparing inline keys removed one (benches/README.md).
/// The table is indexed by the low 64 bits and each entry keeps 32 more to compare, so an
/// outcome table's entry is 16 bytes (a `u128` key made it 32, with alignment): twice as
/// many entries per cache line. Two distinct raw tuples pass for each other with probability
/// about 2^-96 per pair, far below any error rate that matters, and the seeds are private to
/// the process, so inputs cannot be crafted to collide.
struct Table<V> {
    entries: HashMap<u64, (u32, V), PassThrough>,
}

impl<V> Default for Table<V> {
    fn default() -> Self {
        Self {
            entries: HashMap::default(),
        }
    }
}

/// A 128-bit key as the table's index and the bits it compares.
pub(super) fn split(key: u128) -> (u64, u32) {
    (key as u64, (key >> 64) as u32)
}

impl<V> Table<V> {
    fn get(&self, key: u128) -> Option<&V> {
        let (index, check) = split(key);
        let (stored, value) = self.entries.get(&index)?;
        (*stored == check).then_some(value)
    }

    fn remove(&mut self, key: u128) -> Option<V> {
        let (index, check) = split(key);
        // Not through `entry`, which makes room for an insert first: a full old table would
        // double its allocation for a removal.
        if self.entries.get(&index)?.0 != check {
            return None;
        }
        self.entries.remove(&index).map(|(_, value)| value)
    }

    /// Stores `value` under `key`, in place of any entry with the same index.
    fn insert(&mut self, key: u128, value: V) {
        let (index, check) = split(key);
        self.entries.insert(index, (check, value));
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn clear(&mut self) {
        self.entries.clear();
    }

    fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.values().map(|(_, value)| value)
    }

    fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.entries.values_mut().map(|(_, value)| value)
    }
}

/// The index is already a hash: hashbrown takes it as it is.
#[derive(Default, Clone, Copy)]
struct PassThrough;

impl std::hash::BuildHasher for PassThrough {
    type Hasher = PassThroughHasher;
    fn build_hasher(&self) -> PassThroughHasher {
        PassThroughHasher(0)
    }
}

struct PassThroughHasher(u64);

impl std::hash::Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; stay a correct (if slow) hasher for anything else.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// Hashes raw-value keys to 128 bits.
#[derive(Clone)]
struct KeyHasher {
    low: foldhash::quality::RandomState,
    high: foldhash::quality::RandomState,
    seed: u64,
}

impl KeyHasher {
    fn new() -> Self {
        use std::hash::BuildHasher;
        let low = foldhash::quality::RandomState::default();
        let seed = low.hash_one("raw values");
        Self {
            low,
            high: foldhash::quality::RandomState::default(),
            seed,
        }
    }

    fn hash<K: std::hash::Hash>(&self, key: K) -> u128 {
        use std::hash::BuildHasher;
        (u128::from(self.high.hash_one(&key)) << 64) | u128::from(self.low.hash_one(&key))
    }

    /// The key of a raw value and the source that gave it: one pass of XXH3's 128-bit hash,
    /// seeded by the source (twice the speed of two 64-bit hashes of the same bytes).
    fn raw(&self, source: usize, raw: &[u8]) -> u128 {
        let seed = self.seed ^ (source as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        xxhash_rust::xxh3::xxh3_128_with_seed(raw, seed)
    }
}

impl<V> Generations<V> {
    fn new(capacity: usize) -> Self {
        Self {
            young: Table::default(),
            old: Table::default(),
            capacity,
        }
    }

    fn is_full(&self) -> bool {
        self.young.len() >= self.capacity
    }

    /// The young generation becomes the old one; the old one's table, emptied, the young
    /// one: its memory is reused rather than freed and faulted in again (page zeroing was
    /// 4% of a dry run). At the first turnover the new young table is sized for a full
    /// generation at once: a cache that fills once fills again, and growing by doubling
    /// would make peak memory creep up with the input's length.
    fn turn_over(&mut self) {
        std::mem::swap(&mut self.young, &mut self.old);
        self.young.clear();
        self.young.entries.reserve(self.capacity);
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
                segments: segments(program, field, &mut groups, share),
                lookups: 0,
                hits: 0,
                enabled: !field.reads.is_empty(),
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
            tally,
        }
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

    /// The tally so far (outcomes still in the caches are not in it yet).
    pub fn tally_mut(&mut self) -> &mut T {
        &mut self.tally
    }

    /// Hands every outcome still counted in the caches to the tally, and returns it.
    pub fn into_tally(mut self) -> T {
        for (field, cache) in self.caches.iter_mut().enumerate() {
            cache.fold(field, &mut self.tally);
        }
        self.tally
    }

    /// Evaluates every field into `self.row`. Returns whether a required field stayed unset
    /// and whether the record ran out of budget.
    fn evaluate(&mut self, record: &dyn Record) -> (bool, bool) {
        let buffers = std::mem::take(&mut self.buffers);
        let mut run = Run::with_buffers(self.program, record, buffers);
        self.record_number += 1;
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
                    }
                    missing_required |= slot.missing_required;
                    error |= slot.out_of_budget;
                }
                None => {
                    if let Some(outcome) = &cache.fresh {
                        self.tally.outcome(index, outcome, 1);
                        missing_required |= outcome.required && outcome.value.is_none();
                        error |= outcome.note == Some(FieldNote::BudgetExhausted);
                    }
                }
            }
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
        let key = keys.key(run, &cache.roots);
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
    /// decision that fired (plus the raw value, when the outcome keeps it). So a new pair of
    /// an explicit level and a title, each seen before, costs lookups only.
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
        let (key, fell_through) = match known {
            Some(known) => (known.key, known.fell_through),
            None => (keys.hasher.hash("no rule run fired"), true),
        };
        let key = match (fell_through, field.reads.first()) {
            (true, Some(&first)) => {
                let (_, raw) = run.raw(first);
                keys.hasher.hash((key, raw.as_deref()))
            }
            _ => key,
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

/// What a field's rule runs decided for a record.
enum Decided {
    /// Decision `id` of run `run` fired.
    Known { run: usize, id: u32 },
    /// No run's rules fired.
    NoMatch,
    /// The record ran out of budget: the decision holds for this record only.
    Uncached(Decision),
}

/// The first decision of the field's rule runs that fires, each cached by its own roots and
/// by the normalised values its rules read.
fn decide_by_run(run: &mut Run, field: &Field, cache: &mut FieldCache, keys: &mut Keys) -> Decided {
    for (number, segment) in cache.segments.iter_mut().enumerate() {
        let hashed = keys.key(run, &segment.run.roots);
        let id = match segment.decisions.get(hashed) {
            Some(id) => id,
            None => {
                // New raw values: their normalised values may have been decided before. The
                // inputs are computed here rather than by the rules, at no extra cost.
                let by_values = keys.values(run, &segment.run.reads);
                let id = match segment.decisions.get(by_values) {
                    Some(id) => id,
                    None => {
                        let decision = run.decide(field, segment.run.rules.clone(), None);
                        if run.out_of_fuel() {
                            return Decided::Uncached(decision);
                        }
                        let id = segment.number(field, number, decision, keys.hasher);
                        segment.decisions.insert(by_values, id);
                        id
                    }
                };
                segment.decisions.insert(hashed, id);
                id
            }
        };
        if let Some(Known {
            decision: Decision::Fired { .. },
            ..
        }) = segment.known.get(id as usize)
        {
            return Decided::Known { run: number, id };
        }
    }
    Decided::NoMatch
}

/// One record's cache keys, from its groups' hashes, each computed once.
struct Keys<'e> {
    groups: &'e [InputId],
    hashes: &'e mut [u128],
    hashed: &'e mut [u64],
    record: u64,
    hasher: &'e KeyHasher,
}

impl Keys<'_> {
    /// The key of a tuple of groups: the group's own hash for one group (the common case),
    /// else a hash of the groups' hashes.
    fn key(&mut self, run: &mut Run, groups: &[usize]) -> u128 {
        match groups {
            [one] => self.group(run, *one),
            _ => {
                let mut tuple = [0u128; 4];
                if groups.len() > tuple.len() {
                    let all: Vec<u128> = groups.iter().map(|g| self.group(run, *g)).collect();
                    return self.hasher.hash(all);
                }
                for (slot, group) in tuple.iter_mut().zip(groups) {
                    *slot = self.group(run, *group);
                }
                self.hasher.hash(&tuple[..groups.len()])
            }
        }
    }

    /// The key of the normalised values of `inputs` (a key space of its own: values are
    /// hashed with a tag that no raw-value key has).
    fn values(&mut self, run: &mut Run, inputs: &[InputId]) -> u128 {
        use std::hash::{BuildHasher, Hash, Hasher};
        let mut low = self.hasher.low.build_hasher();
        let mut high = self.hasher.high.build_hasher();
        "normalised values".hash(&mut low);
        "normalised values".hash(&mut high);
        for &input in inputs {
            let value = run.value(input);
            value.hash(&mut low);
            value.hash(&mut high);
        }
        (u128::from(high.finish()) << 64) | u128::from(low.finish())
    }

    /// A group's hash: which of its sources gave the raw value, and the value.
    fn group(&mut self, run: &mut Run, group: usize) -> u128 {
        if self.hashed.get(group) == Some(&self.record) {
            return self.hashes[group];
        }
        let Some(&input) = self.groups.get(group) else {
            return 0;
        };
        // Which source gave the raw value, and its bytes: straight from the row where the
        // record can give them (a CSV row), as the engine reads them otherwise.
        let hash = match run.record().first_bound_bytes(input) {
            Some(found) => {
                let (source, raw) = found.map_or((0, &b""[..]), |(s, raw)| (s + 1, raw));
                self.hasher.raw(source, raw)
            }
            None => {
                let (source, raw) = run.raw(input);
                let raw = raw.as_deref().unwrap_or("").as_bytes();
                self.hasher.raw(source.map_or(0, |s| s + 1), raw)
            }
        };
        self.hashes[group] = hash;
        self.hashed[group] = self.record;
        hash
    }
}

/// The groups of `roots`, sorted and without repeats: a root joins the group of an earlier
/// input with the same sources, or starts one.
fn grouped(program: &Program, roots: &[InputId], groups: &mut Vec<InputId>) -> Vec<usize> {
    let sources = |id: InputId| -> Vec<(bool, usize)> {
        program.inputs.get(id.0).map_or(Vec::new(), |input| {
            input
                .sources
                .iter()
                .map(|s| match s {
                    InputSource::Path(path) => (true, path.0),
                    InputSource::Input(parent) => (false, parent.0),
                })
                .collect()
        })
    };
    let mut found: Vec<usize> = roots
        .iter()
        .map(|&root| {
            let mine = sources(root);
            match groups.iter().position(|&other| sources(other) == mine) {
                Some(group) => group,
                None => {
                    groups.push(root);
                    groups.len() - 1
                }
            }
        })
        .collect();
    found.sort_unstable();
    found.dedup();
    found
}

/// The inputs with attribute sources that `reads` depend on, directly or through `@input`
/// sources, sorted: an outcome depends on nothing else.
fn roots(program: &Program, reads: &[InputId]) -> Vec<InputId> {
    let mut seen = vec![false; program.inputs.len()];
    let mut stack: Vec<InputId> = reads.to_vec();
    let mut roots = Vec::new();
    while let Some(id) = stack.pop() {
        let Some(input) = program.inputs.get(id.0) else {
            continue;
        };
        if std::mem::replace(&mut seen[id.0], true) {
            continue;
        }
        if input
            .sources
            .iter()
            .any(|s| matches!(s, InputSource::Path(_)))
        {
            roots.push(id);
        }
        for source in &input.sources {
            if let InputSource::Input(parent) = source {
                stack.push(*parent);
            }
        }
    }
    roots.sort();
    roots
}

/// Consecutive rules of a field that read the same root inputs: what a [`Segment`] caches.
struct RuleRun {
    rules: Range<usize>,
    /// Groups of root inputs, as [`FieldCache::roots`].
    roots: Vec<usize>,
    /// The inputs the run's rules read themselves, sorted: a decision is a function of their
    /// normalised values, so raw values that normalise alike ("SOFTWARE DEVELOPER II",
    /// "Software  Developer II") share one decision.
    reads: Vec<InputId>,
}

/// The field's rule runs, each with its cache (see [`rule_runs`]).
fn segments(
    program: &Program,
    field: &Field,
    groups: &mut Vec<InputId>,
    share: usize,
) -> Vec<Segment> {
    rule_runs(program, field, groups)
        .into_iter()
        .map(|run| Segment::new(run, share))
        .collect()
}

/// The field's rules in runs of consecutive rules with the same roots (a rule that reads no
/// input, like the final `else`, joins the run before it). Empty when there is only one run
/// of cheap or varied decisions: the field's own cache says everything then.
fn rule_runs(program: &Program, field: &Field, groups: &mut Vec<InputId>) -> Vec<RuleRun> {
    let mut runs: Vec<RuleRun> = Vec::new();
    for (index, rule) in field.rules.iter().enumerate() {
        let mut reads = Vec::new();
        cond_reads(&rule.condition, &mut reads);
        match &rule.output {
            Output::Input(input) | Output::Lookup { input, .. } => reads.push(*input),
            Output::Unset | Output::Const(_) => {}
        }
        let roots = grouped(program, &roots(program, &reads), groups);
        match runs.last_mut() {
            Some(last) if roots.is_empty() || last.roots == roots => {
                last.rules.end = index + 1;
                last.reads.extend(reads);
            }
            _ => runs.push(RuleRun {
                rules: index..index + 1,
                roots,
                reads,
            }),
        }
    }
    for run in &mut runs {
        run.reads.sort();
        run.reads.dedup();
    }
    // One run is worth caching by its decisions too when they are few and each costs many
    // rules: a title's family out of a thousand word-list and regex rules. The run's cache
    // then holds four times the titles an outcome cache does, and outcomes are looked up by
    // the decision. A run that outputs its input's text decides as many things as it reads.
    let few_costly_decisions = field.rules.len() >= MANY_RULES
        && field
            .rules
            .iter()
            .all(|rule| !matches!(rule.output, Output::Input(_)));
    if runs.len() < 2 && !few_costly_decisions {
        runs.clear();
    }
    runs
}

/// Rules in a field from which a single run of them is cached by its decisions.
const MANY_RULES: usize = 16;

fn cond_reads(cond: &Cond, reads: &mut Vec<InputId>) {
    match cond {
        Cond::Always => {}
        Cond::Or(parts) | Cond::And(parts) => parts.iter().for_each(|p| cond_reads(p, reads)),
        Cond::Not(inner) => cond_reads(inner, reads),
        Cond::Leaf(leaf) => reads.push(leaf.input),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FlatRecord;

    const RULES: &str = r#"
field level: enum(Manager, Other)
field title: text
input base = title | lower
input words = @base | words
map level {
  rule m: words has "manager" -> Manager
  else -> Other
}
map title {
  rule t: base is present -> base
  else -> unset
}
"#;

    /// The cache key is the raw title (the root of `@base` and `@words`), and results equal
    /// the uncached evaluation, including after generations turn over.
    #[test]
    fn cached_results_equal_uncached_ones_across_generations() {
        let program = Program::from_source("cache.rules", RULES).unwrap();
        let level = program
            .fields
            .iter()
            .position(|f| &*f.name == "level")
            .unwrap();
        let mut evaluator = program.evaluator();
        let base = program
            .inputs
            .iter()
            .position(|i| &*i.name == "base")
            .unwrap();
        let roots = &evaluator.caches[level].roots;
        assert_eq!(roots.len(), 1);
        assert_eq!(evaluator.groups[roots[0]], InputId(base));
        for round in 0..2 {
            for n in 0..(GENERATION * 2 + 10) {
                let title = if n % 3 == 0 {
                    format!("Manager {}", n % 50)
                } else {
                    format!("Engineer {n}")
                };
                let record = FlatRecord::from_pairs([("title", title.as_str())]);
                let cached = evaluator.apply(&record);
                assert_eq!(cached, program.apply(&record), "round {round}, {title}");
            }
        }
        let cache = &evaluator.caches[level].keys;
        assert!(cache.young.len() <= GENERATION && cache.old.len() <= GENERATION);
        // The 50 manager titles come back every 150 rows: they stay cached.
        let record = FlatRecord::from_pairs([("title", "Manager 7")]);
        let first = evaluator.apply(&record);
        let again = evaluator.apply(&record);
        assert!(Arc::ptr_eq(&first.fields[level], &again.fields[level]));
    }

    /// One of three workers' evaluators keeps a third of the entries, and its answers are
    /// the same.
    #[test]
    fn a_worker_of_several_keeps_its_share_of_the_caches() {
        let program = Program::from_source("cache.rules", RULES).unwrap();
        let mut evaluator = Evaluator::counting_one_of(&program, (), 3);
        for n in 0..GENERATION {
            let title = format!("Engineer {n}");
            let record = FlatRecord::from_pairs([("title", title.as_str())]);
            assert_eq!(evaluator.apply(&record), program.apply(&record), "{title}");
        }
        for cache in &evaluator.caches {
            assert_eq!(cache.keys.capacity, GENERATION / 3);
            assert!(cache.keys.young.len() <= GENERATION / 3);
            assert!(cache.keys.old.len() <= GENERATION / 3);
        }
    }

    /// An explicit level column, then title rules: a field whose rules fall into two runs.
    const LEVEL_THEN_TITLE: &str = r#"
field level: enum(Manager, Director, Other)
input explicit = level | lower
input title = title | lower | words
table names = { "manager" -> Manager  "director" -> Director }
map level {
  rule named: explicit in table names -> names[explicit]
  rule director: title has "director" -> Director
  rule manager: title has "manager" -> Manager
  else -> Other
}
"#;

    /// A tally that records what it is handed: totals per (field, value, rule) and the order
    /// in which values first arrived.
    #[derive(Default, PartialEq, Debug)]
    struct Record {
        totals: std::collections::BTreeMap<(usize, Option<String>, Option<String>), u64>,
        first_seen: Vec<(usize, Option<String>)>,
        rows: u64,
        missing: u64,
    }

    impl Tally for Record {
        const COUNTS: bool = true;
        fn outcome(&mut self, field: usize, outcome: &FieldOutcome, rows: u64) {
            let value = outcome.value.as_deref().map(str::to_string);
            let rule = outcome.rule.as_ref().map(|r| r.id.to_string());
            let seen = (field, value.clone());
            if !self.first_seen.contains(&seen) {
                self.first_seen.push(seen);
            }
            *self.totals.entry((field, value, rule)).or_default() += rows;
        }
        fn row(&mut self, missing_required: bool, _: bool) {
            self.rows += 1;
            self.missing += u64::from(missing_required);
        }
    }

    /// Counts kept inside the caches reach the tally with the same totals, and new values in
    /// the same order, as counting every row's profile would, across generation turnovers
    /// and for a field that stops caching.
    #[test]
    fn counting_in_the_caches_equals_counting_row_by_row() {
        let program = Program::from_source("cache.rules", RULES).unwrap();
        let mut counting = Evaluator::counting(&program, Record::default());
        let mut by_row = Record::default();
        for n in 0..(GENERATION * 3) {
            // Titles that come back (and some that do not) keep `level` cached and turn its
            // generations over; `title` outcomes are as many as titles.
            let title = match n % 4 {
                0 => format!("Manager {}", n % 700),
                1 => format!("Engineer {}", n % 9_000),
                _ => format!("Person {n}"),
            };
            let record = FlatRecord::from_pairs([("title", title.as_str())]);
            let row: Vec<FieldOutcome> = counting.apply_row(&record).fields().cloned().collect();
            let profile = program.apply(&record);
            assert_eq!(
                row,
                profile
                    .fields()
                    .iter()
                    .map(|f| (**f).clone())
                    .collect::<Vec<_>>()
            );
            for (field, outcome) in profile.fields().iter().enumerate() {
                by_row.outcome(field, outcome, 1);
            }
            by_row.row(!profile.is_complete(), false);
        }
        // The level cache turned over (unique titles filled it) and kept caching.
        assert!(counting.caches[0].enabled && !counting.caches[0].keys.old.is_empty());
        let counted = counting.into_tally();
        assert_eq!(
            (counted.rows, counted.missing),
            (by_row.rows, by_row.missing)
        );
        let differ: Vec<_> = by_row
            .totals
            .iter()
            .filter(|(k, v)| counted.totals.get(*k) != Some(*v))
            .take(5)
            .collect();
        assert!(differ.is_empty(), "{differ:?}");
        assert_eq!(counted.totals.len(), by_row.totals.len());
        // Each field's counters see its new values in row order (fields are folded apart).
        for field in 0..2 {
            let of_field = |r: &Record| -> Vec<Option<String>> {
                r.first_seen
                    .iter()
                    .filter(|(f, _)| *f == field)
                    .map(|(_, v)| v.clone())
                    .collect()
            };
            assert!(
                of_field(&counted) == of_field(&by_row),
                "field {field}: first-seen order differs"
            );
        }
    }

    /// The dry run's coverage counted in the caches, where full counters let kept slots go
    /// on counting across turnovers, equals counting row by row: the same values make the
    /// capped lists (over 1,000 distinct titles) and every total agrees.
    #[test]
    fn coverage_counted_in_the_caches_equals_coverage_counted_row_by_row() {
        use crate::report::Coverage;
        let program = Program::from_source("cache.rules", RULES).unwrap();
        let mut counting = Evaluator::counting(&program, Coverage::new(&program));
        let mut by_row = Coverage::new(&program);
        // "Manager 0" comes first and stays cached throughout; unique titles fill the
        // bounded counters in between. Handed over late, it would miss the capped list.
        // Three turnovers: the second drops the first generation's unique titles.
        for n in 0..(GENERATION * 7) {
            let title = match n % 2 {
                0 => "Manager 0".to_string(),
                _ => format!("Person {n}"),
            };
            let record = FlatRecord::from_pairs([("title", title.as_str())]);
            counting.apply_row(&record);
            let profile = program.apply(&record);
            for (field, outcome) in profile.fields().iter().enumerate() {
                by_row.outcome(field, outcome, 1);
            }
            by_row.row(!profile.is_complete(), false);
        }
        assert!(!counting.caches[1].keys.old.is_empty(), "title turned over");
        let counted = counting.into_tally();
        let report = |c: &Coverage| c.report(&program, &[], 0, 50, 0.0, None).to_json();
        assert_eq!(report(&counted), report(&by_row));
    }

    /// Unique values (names) turn the cache off after the sample instead of filling it.
    #[test]
    fn a_field_of_unique_values_stops_caching() {
        let program = Program::from_source("cache.rules", RULES).unwrap();
        let mut evaluator = program.evaluator();
        for n in 0..SAMPLE + 1 {
            let title = format!("Person {n}");
            evaluator.apply(&FlatRecord::from_pairs([("title", title.as_str())]));
        }
        assert!(evaluator.caches.iter().all(|c| !c.enabled));
        assert!(evaluator.caches.iter().all(|c| c.keys.young.is_empty()));
    }

    /// A value in one source and the same text in another may normalise differently: the
    /// source is part of the key.
    #[test]
    fn the_source_is_part_of_the_key() {
        let rules = r#"
field f: text
input a = first, second
input shout = second | upper
map f {
  rule s: shout is present -> shout
  rule a: a is present -> a
  else -> unset
}
"#;
        let program = Program::from_source("key.rules", rules).unwrap();
        let mut evaluator = program.evaluator();
        let one = FlatRecord::from_pairs([("first", "x")]);
        let two = FlatRecord::from_pairs([("second", "x")]);
        assert_eq!(evaluator.apply(&one).get("f"), Some("x"));
        assert_eq!(evaluator.apply(&two).get("f"), Some("X"));
        assert_eq!(evaluator.apply(&one).get("f"), Some("x"));
    }

    /// An explicit level column, then title rules: each run of rules is cached by its own
    /// input, so every (level, title) pair evaluates the title rules once per title.
    #[test]
    fn rule_runs_are_cached_by_their_own_inputs() {
        let program = Program::from_source("runs.rules", LEVEL_THEN_TITLE).unwrap();
        let mut evaluator = program.evaluator();
        let cache = &evaluator.caches[0];
        assert_eq!(cache.segments.len(), 2);
        assert_eq!(cache.segments[0].run.rules, 0..1);
        assert_eq!(cache.segments[1].run.rules, 1..4);
        let levels = ["", "Manager", "DIRECTOR", "band 7", "M3"];
        let titles = [
            "Engineer",
            "Director, Sales",
            "Manager",
            "",
            "Office Manager",
        ];
        for level in levels {
            for title in titles {
                let record = FlatRecord::from_pairs([("level", level), ("title", title)]);
                assert_eq!(
                    evaluator.apply(&record),
                    program.apply(&record),
                    "{level} / {title}"
                );
            }
        }
        let cache = &evaluator.caches[0];
        // Titles are decided once each, whatever level they came with; levels once each. Each
        // decision is kept under its raw value and its normalised value ("M3" and "band 7" are
        // "m3" and "band 7"; "" is "" both ways, a key of each kind).
        assert_eq!(cache.segments[1].decisions.len(), 2 * titles.len());
        assert_eq!(cache.segments[0].decisions.len(), 2 * levels.len());
        // Outcomes are cached by the decision that fired, not by the (level, title) pair:
        // `named` twice (Manager, Director), `director`, `manager`, and `else` once per raw
        // level it came with ("", "band 7", "M3"), since a fallen-through outcome keeps the
        // raw value for the report.
        assert_eq!(cache.keys.young.len(), 7);
    }

    /// A rule run that outputs its input's text decides as many things as there are values:
    /// past [`MAX_KNOWN`] it starts afresh, and outcomes stay those of evaluating alone.
    #[test]
    fn a_run_with_many_distinct_decisions_starts_afresh() {
        let rules = r#"
field place: text
input office = office | collapse
input city = city | collapse
map place {
  rule office: office is present -> office
  rule city: city is present -> city
  else -> unset
}
"#;
        let program = Program::from_source("places.rules", rules).unwrap();
        let mut evaluator = program.evaluator();
        for round in 0..2 {
            for n in 0..(3 * MAX_KNOWN) {
                let (office, city) = match n % 3 {
                    0 => (format!("Office {n}"), String::new()),
                    1 => (String::new(), format!("City {}", n % (2 * MAX_KNOWN))),
                    _ => (String::new(), String::new()),
                };
                let record =
                    FlatRecord::from_pairs([("office", office.as_str()), ("city", city.as_str())]);
                assert_eq!(
                    evaluator.apply(&record),
                    program.apply(&record),
                    "round {round}, record {n}"
                );
            }
        }
        let cache = &evaluator.caches[0];
        assert_eq!(cache.segments.len(), 2);
        assert!(cache.segments.iter().all(|s| s.known.len() <= MAX_KNOWN));
    }

    /// A single run of many rules with constant outputs is cached by its decisions: titles
    /// that the rules do not place share one decision and stay what evaluating alone gives
    /// (their outcomes keep the raw title).
    #[test]
    fn one_run_of_many_constant_rules_is_cached_by_decision() {
        let mut rules =
            String::from("field family: text\ninput t = title | lower | words\nmap family {\n");
        for n in 0..MANY_RULES {
            rules.push_str(&format!(
                "  rule r{n}: t has \"word{n}\" -> \"family {n}\"\n"
            ));
        }
        rules.push_str("  else -> unset\n}\n");
        let program = Program::from_source("family.rules", &rules).unwrap();
        let mut evaluator = program.evaluator();
        assert_eq!(evaluator.caches[0].segments.len(), 1);
        let titles: Vec<String> = (0..200)
            .map(|n| match n % 3 {
                0 => format!("Word{} Lead", n % MANY_RULES),
                1 => format!("Clerk {n}"),
                _ => format!("WORD{}  lead", n % MANY_RULES),
            })
            .collect();
        for title in titles.iter().chain(titles.iter().rev()) {
            let record = FlatRecord::from_pairs([("title", title.as_str())]);
            assert_eq!(evaluator.apply(&record), program.apply(&record), "{title}");
        }
        // The run knows each family and "no match" once: the clerks share a decision.
        let run = &evaluator.caches[0].segments[0];
        assert_eq!(run.known.len(), MANY_RULES + 1);
    }

    /// Raw values that normalise alike share one decision of a rule run: the rules run once.
    #[test]
    fn rule_runs_decide_once_per_normalised_value() {
        let rules = r#"
field level: enum(Manager, Director, Other)
input explicit = level | lower
input title = title | lower | words
table names = { "manager" -> Manager  "director" -> Director }
map level {
  rule named: explicit in table names -> names[explicit]
  rule manager: title has "manager" -> Manager
  else -> Other
}
"#;
        let program = Program::from_source("normalised.rules", rules).unwrap();
        let mut evaluator = program.evaluator();
        let titles = [
            "Office Manager",
            "OFFICE MANAGER",
            "office  manager",
            "Clerk",
            "CLERK",
        ];
        for title in titles {
            let record = FlatRecord::from_pairs([("title", title)]);
            assert_eq!(evaluator.apply(&record), program.apply(&record), "{title}");
        }
        // Five raw titles, two normalised ones: seven keys, and two rule evaluations.
        let decisions = &evaluator.caches[0].segments[1].decisions;
        assert_eq!(decisions.len(), titles.len() + 2);
    }
}
