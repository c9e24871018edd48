//! The bulk evaluator: each field's outcome cached by the raw values it depends on.
//!
//! Real exports repeat the same titles, flags, departments and locales across many rows, and a
//! field's outcome is a pure function of the raw values of the path-sourced inputs it reads
//! (directly or through `@input`s). So a field is evaluated once per distinct tuple of those
//! raw values; every later row with the same tuple shares the same `Arc<FieldOutcome>`, which
//! also lets the dry-run report count outcomes by identity instead of hashing their strings.
//!
//! Memory stays bounded whatever the input size: each field keeps two generations of at most
//! [`GENERATION`] entries; when the young one is full, the old one is dropped and the young one
//! becomes old. An entry found in the old generation moves back to the young one, so values
//! that keep coming back stay cached (an LRU approximation without per-hit bookkeeping).
//! Fields whose values rarely repeat (names, emails) stop caching after a sample.

use std::collections::HashMap;
use std::sync::Arc;

use super::profile::{FieldNote, FieldOutcome, Profile};
use super::Run;
use crate::check::program::{Field, InputId, InputSource, Program};
use crate::value::Record;

/// Entries per generation and field: a cache holds at most twice this.
///
/// Measured on 1M generated rows (110k distinct titles): 8,192 keeps the title fields' hit
/// rate within a few points of an unbounded cache, and the cache reaches its full size within
/// the first 100,000 rows, so peak memory is the same for 100k and 1M rows.
pub const GENERATION: usize = 8_192;
/// Lookups after which a field's hit rate is judged.
const SAMPLE: u32 = 4_096;
/// Below this share of hits in the sample (1 in 5), a field stops caching.
const MIN_HITS: u32 = SAMPLE / 5;

type Table = HashMap<Box<[u8]>, Arc<FieldOutcome>, foldhash::fast::RandomState>;

/// Evaluation with a cache per field; use one per worker thread.
pub struct Evaluator<'p> {
    program: &'p Program,
    caches: Vec<FieldCache>,
    key: Vec<u8>,
}

struct FieldCache {
    /// The path-sourced inputs the field depends on, sorted: their sources and raw values are
    /// the cache key.
    roots: Vec<InputId>,
    young: Table,
    old: Table,
    lookups: u32,
    hits: u32,
    enabled: bool,
}

impl FieldCache {
    fn get(&mut self, key: &[u8]) -> Option<Arc<FieldOutcome>> {
        if let Some(hit) = self.young.get(key) {
            return Some(hit.clone());
        }
        let (key, hit) = self.old.remove_entry(key)?;
        self.insert(key, hit.clone());
        Some(hit)
    }

    fn insert(&mut self, key: Box<[u8]>, outcome: Arc<FieldOutcome>) {
        if self.young.len() >= GENERATION {
            let young = std::mem::replace(
                &mut self.young,
                Table::with_capacity_and_hasher(GENERATION, Default::default()),
            );
            self.old = young;
        }
        self.young.insert(key, outcome);
    }
}

impl<'p> Evaluator<'p> {
    pub fn new(program: &'p Program) -> Self {
        let caches = program
            .fields
            .iter()
            .map(|field| FieldCache {
                roots: roots(program, field),
                young: Table::default(),
                old: Table::default(),
                lookups: 0,
                hits: 0,
                enabled: !field.reads.is_empty(),
            })
            .collect();
        Self {
            program,
            caches,
            key: Vec::new(),
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
            self.key.clear();
            for root in &cache.roots {
                let (source, raw) = run.raw(*root);
                let raw = raw.as_deref().unwrap_or("");
                // Length-prefixed, so that no raw value can spell another tuple's key.
                let tag = source.map_or(0, |s| s as u32 + 1);
                self.key.extend_from_slice(&tag.to_le_bytes());
                self.key
                    .extend_from_slice(&(raw.len() as u32).to_le_bytes());
                self.key.extend_from_slice(raw.as_bytes());
            }
            cache.lookups = cache.lookups.saturating_add(1);
            if let Some(hit) = cache.get(&self.key) {
                cache.hits += 1;
                fields.push(hit);
                continue;
            }
            let outcome = Arc::new(run.field(field, None));
            // A record that ran out of fuel says nothing about other records with this value.
            if outcome.note != Some(FieldNote::BudgetExhausted) {
                cache.insert(self.key.as_slice().into(), outcome.clone());
            }
            if cache.lookups == SAMPLE && cache.hits < MIN_HITS {
                cache.enabled = false;
                cache.young = Table::default();
                cache.old = Table::default();
            }
            fields.push(outcome);
        }
        Profile { fields }
    }
}

/// The inputs with attribute sources that `field`'s rules read, directly or through `@input`
/// sources: a field's outcome depends on nothing else.
fn roots(program: &Program, field: &Field) -> Vec<InputId> {
    let mut seen = vec![false; program.inputs.len()];
    let mut stack: Vec<InputId> = field.reads.clone();
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
        let cache = &evaluator.caches[level];
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
        assert!(evaluator.caches.iter().all(|c| c.young.is_empty()));
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
}
