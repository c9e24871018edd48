//! The bulk evaluator: each field's outcome cached by the raw values it depends on.
//!
//! Real exports repeat the same titles, flags, departments and locales across many rows, and a
//! field's outcome is a pure function of the raw values of the path-sourced inputs it reads
//! (directly or through `@input`s). So a field is evaluated once per distinct tuple of those
//! raw values; every later row with the same tuple shares the same `Arc<FieldOutcome>`, which
//! also lets the dry-run report count outcomes by identity instead of hashing their strings.
//!
//! Memory stays bounded whatever the input size: each cache keeps two generations of at most
//! [`GENERATION`] entries; when the young one is full, the old one is dropped and the young one
//! becomes old. An entry found in the old generation moves back to the young one, so values
//! that keep coming back stay cached (an LRU approximation without per-hit bookkeeping).
//! Fields whose values rarely repeat (names, emails) stop caching after a sample.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

use super::profile::{FieldNote, FieldOutcome, Profile};
use super::{Decision, Run};
use crate::check::program::{Cond, Field, InputId, InputSource, Output, Program};
use crate::value::Record;

/// Entries per generation and cache: a cache holds at most twice this.
///
/// Measured on generated rows (about 17,000 distinct titles in 100,000 rows, 110,000 in 1M):
/// at 8,192 the caches are full within the first 100,000 rows, so peak memory is the same for
/// 100k and 1M rows (51-53 MiB, one worker); 16,384 ran 1M rows about 10% faster but grew
/// 12% past 100k. benches/README.md has the figures.
pub const GENERATION: usize = 8_192;
/// Lookups after which a field's hit rate is judged.
const SAMPLE: u32 = 4_096;
/// Below this share of hits in the sample (1 in 5), a field stops caching.
const MIN_HITS: u32 = SAMPLE / 5;

/// Evaluation with a cache per field; use one per worker thread.
pub struct Evaluator<'p> {
    program: &'p Program,
    caches: Vec<FieldCache>,
    key: Vec<u8>,
    segment_key: Vec<u8>,
    hasher: KeyHasher,
}

struct FieldCache {
    /// The path-sourced inputs the field depends on, sorted: their sources and raw values are
    /// the cache key.
    roots: Vec<InputId>,
    outcomes: Generations<Arc<FieldOutcome>>,
    /// Where the field's rules fall into runs that read different inputs (an explicit level
    /// column, then the title), each run's decision is also cached by its own inputs: a new
    /// pair of values that were each seen before costs no rule evaluation.
    segments: Vec<Segment>,
    /// Equal outcomes share one `Arc`: a thousand titles that all read "Manager" through the
    /// same rule give one outcome, which keeps what each row touches small and hot.
    interned: HashSet<Arc<FieldOutcome>, foldhash::fast::RandomState>,
    lookups: u32,
    hits: u32,
    enabled: bool,
}

/// Consecutive rules of a field that read the same root inputs.
struct Segment {
    rules: Range<usize>,
    roots: Vec<InputId>,
    decisions: Generations<Decision>,
}

/// Two generations of at most [`GENERATION`] entries each.
struct Generations<V> {
    young: Table<V>,
    old: Table<V>,
}

/// Keys are 128-bit hashes of the raw values, made with two independently, randomly seeded
/// hashers: an entry then lives inline in the table, and a lookup touches no key bytes
/// elsewhere in memory. At these table sizes a lookup otherwise waits on three cache misses
/// (bucket, key bytes, outcome); comparing inline keys removed one (benches/README.md).
/// Two distinct raw tuples collide with probability about 2^-128 per pair, far below any
/// error rate that matters, and the seeds are private to the process, so inputs cannot be
/// crafted to collide.
type Table<V> = HashMap<u128, V, PassThrough>;

/// The key is already a hash: hashbrown takes its low 64 bits as they are.
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
        // Only `write_u128` is used; stay a correct (if slow) hasher for anything else.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u128(&mut self, value: u128) {
        self.0 = value as u64;
    }
}

/// Hashes raw-value keys to 128 bits.
struct KeyHasher {
    low: foldhash::quality::RandomState,
    high: foldhash::quality::RandomState,
}

impl KeyHasher {
    fn new() -> Self {
        Self {
            low: foldhash::quality::RandomState::default(),
            high: foldhash::quality::RandomState::default(),
        }
    }

    fn hash(&self, key: &[u8]) -> u128 {
        use std::hash::BuildHasher;
        (u128::from(self.high.hash_one(key)) << 64) | u128::from(self.low.hash_one(key))
    }
}

impl<V: Clone> Generations<V> {
    fn new() -> Self {
        Self {
            young: Table::default(),
            old: Table::default(),
        }
    }

    fn get(&mut self, key: u128) -> Option<V> {
        if let Some(hit) = self.young.get(&key) {
            return Some(hit.clone());
        }
        let hit = self.old.remove(&key)?;
        self.insert(key, hit.clone());
        Some(hit)
    }

    fn insert(&mut self, key: u128, value: V) {
        if self.young.len() >= GENERATION {
            let young = std::mem::replace(
                &mut self.young,
                Table::with_capacity_and_hasher(GENERATION, PassThrough),
            );
            self.old = young;
        }
        self.young.insert(key, value);
    }

    fn clear(&mut self) {
        *self = Self::new();
    }
}

impl FieldCache {
    fn intern(&mut self, outcome: FieldOutcome) -> Arc<FieldOutcome> {
        if let Some(shared) = self.interned.get(&outcome) {
            return shared.clone();
        }
        if self.interned.len() >= GENERATION {
            self.interned.clear();
        }
        let shared = Arc::new(outcome);
        self.interned.insert(shared.clone());
        shared
    }
}

impl<'p> Evaluator<'p> {
    pub fn new(program: &'p Program) -> Self {
        let caches = program
            .fields
            .iter()
            .map(|field| FieldCache {
                roots: roots(program, &field.reads),
                outcomes: Generations::new(),
                segments: segments(program, field),
                interned: HashSet::default(),
                lookups: 0,
                hits: 0,
                enabled: !field.reads.is_empty(),
            })
            .collect();
        Self {
            program,
            caches,
            key: Vec::new(),
            segment_key: Vec::new(),
            hasher: KeyHasher::new(),
        }
    }

    pub fn apply(&mut self, record: &dyn Record) -> Profile {
        let mut run = Run::new(self.program, record);
        let mut fields = Vec::with_capacity(self.program.fields.len());
        for (field, cache) in self.program.fields.iter().zip(self.caches.iter_mut()) {
            if !cache.enabled {
                fields.push(Arc::new(run.field(field, None)));
                continue;
            }
            key(&mut run, &cache.roots, &mut self.key);
            let key = self.hasher.hash(&self.key);
            cache.lookups = cache.lookups.saturating_add(1);
            if let Some(hit) = cache.outcomes.get(key) {
                cache.hits += 1;
                fields.push(hit);
                continue;
            }
            let outcome = if cache.segments.is_empty() {
                run.field(field, None)
            } else {
                let decision = decide_by_segment(
                    &mut run,
                    field,
                    &mut cache.segments,
                    &mut self.segment_key,
                    &self.hasher,
                );
                run.finish(field, decision)
            };
            let outcome = cache.intern(outcome);
            // A record that ran out of fuel says nothing about other records with this value.
            if outcome.note != Some(FieldNote::BudgetExhausted) {
                cache.outcomes.insert(key, outcome.clone());
            }
            if cache.lookups == SAMPLE && cache.hits < MIN_HITS {
                cache.enabled = false;
                cache.outcomes.clear();
                cache.interned = HashSet::default();
                for segment in &mut cache.segments {
                    segment.decisions.clear();
                }
            }
            fields.push(outcome);
        }
        Profile { fields }
    }
}

/// The first decision of the field's segments that fires, each cached by its own roots.
fn decide_by_segment(
    run: &mut Run,
    field: &Field,
    segments: &mut [Segment],
    key: &mut Vec<u8>,
    hasher: &KeyHasher,
) -> Decision {
    for segment in segments {
        self::key(run, &segment.roots, key);
        let hashed = hasher.hash(key);
        let decision = match segment.decisions.get(hashed) {
            Some(decision) => decision,
            None => {
                let decision = run.decide(field, segment.rules.clone(), None);
                if !run.out_of_fuel() {
                    segment.decisions.insert(hashed, decision.clone());
                }
                decision
            }
        };
        if let Decision::Fired { .. } = decision {
            return decision;
        }
        if run.out_of_fuel() {
            break;
        }
    }
    Decision::NoMatch
}

/// The cache key of a record: each root's source and raw value, length-prefixed, so that no
/// raw value can spell another tuple's key.
fn key(run: &mut Run, roots: &[InputId], key: &mut Vec<u8>) {
    key.clear();
    for root in roots {
        let (source, raw) = run.raw(*root);
        let raw = raw.as_deref().unwrap_or("");
        let tag = source.map_or(0, |s| s as u32 + 1);
        key.extend_from_slice(&tag.to_le_bytes());
        key.extend_from_slice(&(raw.len() as u32).to_le_bytes());
        key.extend_from_slice(raw.as_bytes());
    }
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

/// The field's rules in runs of consecutive rules with the same roots (a rule that reads no
/// input, like the final `else`, joins the run before it). Empty when there is only one run:
/// the field's own cache says everything then.
fn segments(program: &Program, field: &Field) -> Vec<Segment> {
    let mut segments: Vec<Segment> = Vec::new();
    for (index, rule) in field.rules.iter().enumerate() {
        let mut reads = Vec::new();
        cond_reads(&rule.condition, &mut reads);
        match &rule.output {
            Output::Input(input) | Output::Lookup { input, .. } => reads.push(*input),
            Output::Unset | Output::Const(_) => {}
        }
        let roots = roots(program, &reads);
        match segments.last_mut() {
            Some(last) if roots.is_empty() || last.roots == roots => last.rules.end = index + 1,
            _ => segments.push(Segment {
                rules: index..index + 1,
                roots,
                decisions: Generations::new(),
            }),
        }
    }
    if segments.len() < 2 {
        segments.clear();
    }
    segments
}

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
        assert_eq!(evaluator.caches[level].roots, vec![InputId(base)]);
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
        let cache = &evaluator.caches[level].outcomes;
        assert!(cache.young.len() <= GENERATION && cache.old.len() <= GENERATION);
        // The 50 manager titles come back every 150 rows: they stay cached.
        let record = FlatRecord::from_pairs([("title", "Manager 7")]);
        let first = evaluator.apply(&record);
        let again = evaluator.apply(&record);
        assert!(Arc::ptr_eq(&first.fields[level], &again.fields[level]));
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
        assert!(evaluator.caches.iter().all(|c| c.outcomes.young.is_empty()));
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
        let rules = r#"
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
        let program = Program::from_source("runs.rules", rules).unwrap();
        let mut evaluator = program.evaluator();
        let cache = &evaluator.caches[0];
        assert_eq!(cache.segments.len(), 2);
        assert_eq!(cache.segments[0].rules, 0..1);
        assert_eq!(cache.segments[1].rules, 1..4);
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
        // Titles are decided once each, whatever level they came with; levels once each.
        assert_eq!(cache.segments[1].decisions.young.len(), titles.len());
        assert_eq!(cache.segments[0].decisions.young.len(), levels.len());
    }
}
