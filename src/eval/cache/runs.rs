//! Rule runs: a field's rules split where they start reading other inputs, each run's
//! decisions cached by that run's own inputs, and the keys a record hashes for them.

use std::collections::HashMap;
use std::ops::Range;

use super::tables::KeyHasher;
use super::{FieldCache, MIN_SHARE};
use crate::eval::ways::Ways;
use crate::eval::{Decision, Run};
use crate::program::{steps, Cond, Field, InputId, InputSource, Output, Program};

/// A rule run and its cache of decisions.
pub(super) struct Segment {
    pub(super) run: RuleRun,
    /// Decisions by the roots' raw values, and by the normalised values of `reads`: indexes
    /// into `known`. A rule run decides few distinct things (a level, "no match"), so each
    /// entry is a 16-byte index and the table can hold many more titles in the same memory.
    pub(super) decisions: Ways,
    /// The run's distinct decisions, each with its key in the field's outcome cache.
    pub(super) known: Vec<Known>,
    pub(super) numbered: HashMap<Decision, u32, foldhash::fast::RandomState>,
}

/// One distinct decision of a rule run.
pub(super) struct Known {
    pub(super) decision: Decision,
    /// The field's outcome key of this decision: a hash of the run's number and the decision
    /// (the rule and its output), so it does not depend on the order decisions were met in.
    pub(super) key: u128,
}

/// Entries a rule run's table of decisions grows to: 16 bytes each, 1 MiB. Measured on 1M
/// generated rows (82,000 distinct titles), the title run missed 207,000 times with two
/// generations of 8,192 entries and about half as often with 28,672 (the same memory as this
/// table). One worker's title run reaches it within 100,000 rows, so peak memory stays flat.
pub(super) const RUN_ENTRIES: usize = 65_536;
/// Distinct decisions a rule run keeps before it starts afresh (a run that outputs an
/// input's text, like an office name, can decide as many things as there are values).
/// Small in unit tests, so that starting afresh is exercised.
pub(super) const MAX_KNOWN: usize = if cfg!(test) { 64 } else { RUN_ENTRIES * 7 / 8 };

impl Segment {
    /// `share`: of the entries of one evaluator's table (see [`Evaluator::counting_one_of`]).
    pub(super) fn new(run: RuleRun, share: usize) -> Self {
        Self {
            run,
            decisions: Ways::new((RUN_ENTRIES / share).max(MIN_SHARE)),
            known: Vec::new(),
            numbered: HashMap::default(),
        }
    }

    /// The number of `decision` (made by run `number`), numbering it if new.
    pub(super) fn number(&mut self, number: usize, decision: Decision, hasher: &KeyHasher) -> u32 {
        if let Some(&id) = self.numbered.get(&decision) {
            return id;
        }
        if self.known.len() >= MAX_KNOWN {
            self.known.clear();
            self.numbered.clear();
            self.decisions.clear();
        }
        let key = hasher.hash(("rule run", number, &decision));
        let id = self.known.len() as u32;
        self.numbered.insert(decision.clone(), id);
        self.known.push(Known { decision, key });
        id
    }
}

/// What a field's rule runs decided for a record.
pub(super) enum Decided {
    /// Decision `id` of run `run` fired.
    Known { run: usize, id: u32 },
    /// No run's rules fired.
    NoMatch,
    /// The record ran out of budget: the decision holds for this record only.
    Uncached(Decision),
}

/// The first decision of the field's rule runs that fires, each cached by its own roots and
/// by the normalised values its rules read.
pub(super) fn decide_by_run(
    run: &mut Run,
    field: &Field,
    cache: &mut FieldCache,
    keys: &mut Keys,
) -> Decided {
    for (number, segment) in cache.segments.iter_mut().enumerate() {
        let hashed = keys.key(run, &segment.run.roots);
        let id = match segment.decisions.get(hashed) {
            Some(id) => id,
            None => {
                // New raw values: their normalised values may have been decided before. Only
                // the inputs the others derive from are computed here (the rules compute the
                // rest if they need them).
                let by_values = keys.values(run, &segment.run.keyed);
                let id = match segment.decisions.get(by_values) {
                    Some(id) => id,
                    None => {
                        let decision = run.decide(field, segment.run.rules.clone(), None);
                        if run.out_of_fuel() {
                            return Decided::Uncached(decision);
                        }
                        let id = segment.number(number, decision, keys.hasher);
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
pub(super) struct Keys<'e> {
    pub(super) groups: &'e [InputId],
    pub(super) hashes: &'e mut [u128],
    pub(super) hashed: &'e mut [u64],
    pub(super) record: u64,
    pub(super) hasher: &'e KeyHasher,
}

impl Keys<'_> {
    /// The key of a tuple of groups: the group's own hash for one group (the common case),
    /// else a hash of the groups' hashes.
    pub(super) fn key(&mut self, run: &mut Run, groups: &[usize]) -> u128 {
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
    pub(super) fn values(&mut self, run: &mut Run, inputs: &[InputId]) -> u128 {
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
    pub(super) fn group(&mut self, run: &mut Run, group: usize) -> u128 {
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
pub(super) fn grouped(
    program: &Program,
    roots: &[InputId],
    groups: &mut Vec<InputId>,
) -> Vec<usize> {
    // Each source as (kind, id): a path, an input, or each part of a join (a join's raw
    // value also depends on its parts, which are roots of their own).
    let sources = |id: InputId| -> Vec<(u8, usize)> {
        program.inputs.get(id.0).map_or(Vec::new(), |input| {
            input
                .sources
                .iter()
                .flat_map(|s| match s {
                    InputSource::Path(path) => vec![(0, path.0)],
                    InputSource::Input(parent) => vec![(1, parent.0)],
                    InputSource::Join { parts, .. } => parts.iter().map(|p| (2, p.0)).collect(),
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
pub(super) fn roots(program: &Program, reads: &[InputId]) -> Vec<InputId> {
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
            match source {
                InputSource::Input(parent) => stack.push(*parent),
                InputSource::Join { parts, .. } => stack.extend(parts.iter().copied()),
                InputSource::Path(_) => {}
            }
        }
    }
    roots.sort();
    roots
}

/// Consecutive rules of a field that read the same root inputs: what a [`Segment`] caches.
pub(super) struct RuleRun {
    pub(super) rules: Range<usize>,
    /// Groups of root inputs, as [`FieldCache::roots`].
    pub(super) roots: Vec<usize>,
    /// The inputs the run's rules read themselves, sorted: a decision is a function of their
    /// normalised values, so raw values that normalise alike ("SOFTWARE DEVELOPER II",
    /// "Software  Developer II") share one decision.
    pub(super) reads: Vec<InputId>,
    /// The reads that are not functions of other reads: what the decisions are keyed by.
    pub(super) keyed: Vec<InputId>,
}

/// The field's rule runs, each with its cache (see [`rule_runs`]).
pub(super) fn segments(
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
pub(super) fn rule_runs(
    program: &Program,
    field: &Field,
    groups: &mut Vec<InputId>,
) -> Vec<RuleRun> {
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
                keyed: Vec::new(),
            }),
        }
    }
    for run in &mut runs {
        run.reads.sort();
        run.reads.dedup();
        run.keyed = independent(program, &run.reads);
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

/// `reads` without those that are functions of another of them: an input whose one source is
/// `@parent` (directly or through inputs not read), where the parent is read too. The steps
/// make it a function of the parent's value, as long as they leave an empty value empty (an
/// absent parent and a present one that normalises to nothing then give the same value).
/// Keying a run's decisions by the rest keys them as finely, and a title that normalises like
/// one decided before costs only the inputs the others derive from: `full` and `head`, not
/// the rank pass over `t` (benches/README.md).
pub(super) fn independent(program: &Program, reads: &[InputId]) -> Vec<InputId> {
    let derived_from_a_read = |id: InputId| {
        let mut current = id;
        // Inputs cannot depend on themselves (the compiler rejects cycles); the bound only
        // guards this walk.
        for _ in 0..program.inputs.len() {
            let Some(input) = program.inputs.get(current.0) else {
                return false;
            };
            let [InputSource::Input(parent)] = input.sources[..] else {
                return false;
            };
            if !steps::run(&input.steps, "").is_empty() {
                return false;
            }
            if reads.contains(&parent) {
                return true;
            }
            current = parent;
        }
        false
    };
    reads
        .iter()
        .copied()
        .filter(|&id| !derived_from_a_read(id))
        .collect()
}

/// Rules in a field from which a single run of them is cached by its decisions.
pub(super) const MANY_RULES: usize = 16;

pub(super) fn cond_reads(cond: &Cond, reads: &mut Vec<InputId>) {
    match cond {
        // The count is mixed into the field's key (a field that tests it is cached whole).
        Cond::Always | Cond::Reports(_) => {}
        Cond::Or(parts) | Cond::And(parts) => parts.iter().for_each(|p| cond_reads(p, reads)),
        Cond::Not(inner) => cond_reads(inner, reads),
        Cond::Leaf(leaf) => reads.push(leaf.input),
    }
}
