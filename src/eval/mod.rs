//! Apply: the interpreter, its budget, the per-thread cache, and traces (explain).

mod cache;
mod dates;
pub mod org;
pub mod profile;
mod rule_tests;
mod trace;
mod ways;

pub use cache::{Evaluator, Row, Tally, GENERATION};
pub use org::{OrgEntry, OrgIndex, OrgReader, Population, Reports, ORG_BATCH};
pub use rule_tests::TestFailure;
pub use trace::{FieldTrace, InputTrace, RuleTrace, StepTrace, Trace};

use std::borrow::Cow;
use std::sync::Arc;

use crate::program::prefilter::Prefilter;
use crate::program::steps;
use crate::program::words::TermSet;
use crate::program::{
    per_input, Cond, Field, FieldKind, InputId, InputSource, Leaf, LeafTest, Output, Program,
    ReportsTest,
};
use crate::value::{is_blank, is_email, Record};
use chrono::NaiveDate;
use dates::date_test;
use profile::{FieldNote, FieldOutcome, Profile, RuleRef};

/// Leaf tests one record may evaluate before the rest count as false: bounds the work of any
/// rule file on any record.
pub const FUEL_PER_RECORD: u32 = 200_000;

impl Program {
    /// Applies the program to one record (date tests compare with the local date).
    pub fn apply(&self, record: &dyn Record) -> Profile {
        apply(self, record, None)
    }

    /// Applies the program to one record as on `today` (for date tests).
    pub fn apply_on(&self, record: &dyn Record, today: NaiveDate) -> Profile {
        apply(self, record, Some(today))
    }

    /// Applies the program to one record of `population` (what `reports` tests count).
    pub fn apply_in(
        &self,
        record: &dyn Record,
        population: &dyn Population,
        today: Option<NaiveDate>,
    ) -> Profile {
        let mut run = Run::new(self, record).on(today).among(Some(population));
        Profile {
            fields: self
                .fields
                .iter()
                .map(|field| Arc::new(run.field(field, None)))
                .collect(),
        }
    }

    /// [`Program::explain`] of one record of `population`: `reports` tests say whom they
    /// counted.
    pub fn explain_in(
        &self,
        record: &dyn Record,
        population: &dyn Population,
        today: Option<NaiveDate>,
    ) -> Trace {
        explain_among(self, record, today, Some(population))
    }

    /// Applies the program and records why each field got its value.
    pub fn explain(&self, record: &dyn Record) -> Trace {
        explain(self, record, None)
    }

    /// [`Program::explain`] as on `today`.
    pub fn explain_on(&self, record: &dyn Record, today: NaiveDate) -> Trace {
        explain(self, record, Some(today))
    }

    /// A per-thread evaluator that caches results per distinct raw value (real exports repeat
    /// the same titles and flags); use one per worker thread in bulk runs.
    pub fn evaluator(&self) -> Evaluator<'_> {
        Evaluator::new(self)
    }
}

pub fn apply(program: &Program, record: &dyn Record, today: Option<NaiveDate>) -> Profile {
    let mut run = Run::new(program, record).on(today);
    Profile {
        fields: program
            .fields
            .iter()
            .map(|field| Arc::new(run.field(field, None)))
            .collect(),
    }
}

pub fn explain(program: &Program, record: &dyn Record, today: Option<NaiveDate>) -> Trace {
    explain_among(program, record, today, None)
}

fn explain_among(
    program: &Program,
    record: &dyn Record,
    today: Option<NaiveDate>,
    population: Option<&dyn Population>,
) -> Trace {
    let mut run = Run::new(program, record).on(today).among(population);
    let fields = program
        .fields
        .iter()
        .map(|field| {
            let mut rules = Vec::new();
            let outcome = run.field(field, Some(&mut rules));
            let inputs = field
                .reads
                .iter()
                .map(|input| run.input_trace(*input))
                .collect();
            FieldTrace {
                field: field.name.to_string(),
                required: field.required,
                value: outcome.value.as_deref().map(str::to_string),
                rule: outcome.rule,
                note: outcome.note,
                inputs,
                rules,
                reports: if field.uses_reports {
                    run.reports().cloned()
                } else {
                    None
                },
            }
        })
        .collect();
    Trace { fields }
}

/// "3 people report to this person: a, b, c" (the names the population knows).
pub fn describe_reports(reports: &Reports) -> String {
    let people = match reports.count {
        0 => return "nobody reports to this person".into(),
        1 => "1 person reports".to_string(),
        n => format!("{n} people report"),
    };
    if reports.people.is_empty() {
        return format!("{people} to this person");
    }
    let more = reports.count.saturating_sub(reports.people.len() as u64);
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!(
        "{people} to this person: {}{tail}",
        reports.people.join(", ")
    )
}

/// What a run of rules decided: the first rule that matched (by index in the field) and its
/// output, or that none did.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Decision {
    Fired {
        rule: usize,
        output: Result<Arc<str>, FieldNote>,
    },
    NoMatch,
}

/// One record's evaluation: input values are computed once and shared by every field.
pub(crate) struct Run<'p, 'r> {
    program: &'p Program,
    record: &'r dyn Record,
    /// Per input: 0 when not computed yet, else 1 + its place in `values`. Allocated on the
    /// first normalised value (a row whose fields all hit the evaluator's cache reads raw
    /// values only), and small: a row that computes one input clears a few hundred bytes,
    /// not a value's worth per input of the program.
    computed: Vec<u32>,
    /// The inputs computed so far, in the order they were.
    values: Vec<InputValue<'r>>,
    fuel: u32,
    terms: Vec<(InputId, TermSet)>,
    spans: Vec<(usize, usize, usize)>,
    regex_hits: Vec<(InputId, TermSet)>,
    /// The rules the field's prefilter lets through, reused from field to field.
    candidates: Vec<usize>,
    /// The date `is before today` compares with: given, or the local date when first needed.
    today: Option<NaiveDate>,
    /// Set by a test that met a value it cannot read (a date that is not one): the rule being
    /// tried decides the field as unset, with this note.
    bad_value: Option<FieldNote>,
    /// What `reports` tests count; `None` for a record evaluated alone.
    population: Option<&'p dyn Population>,
    /// The record's reports, asked of the population once per record.
    reports: Option<Reports>,
    /// Their count alone, when no trace asked who they are.
    report_count: Option<u64>,
    /// The keys `reports` asks about (strings reused from record to record).
    report_keys: Vec<org::OrgKey>,
    /// The population's references the record's keys match, when the caller notes them
    /// (see [`Run::note_report_matches`]).
    report_matches: Vec<u32>,
    /// Whether counting notes the matches too, and whether it did for this record.
    wants_matches: bool,
    matches_noted: bool,
}

/// Per-field scan results of a record, reused by every test of the field.
struct Scratch<'s> {
    terms: &'s mut Vec<(InputId, TermSet)>,
    spans: &'s mut Vec<(usize, usize, usize)>,
    regex_hits: &'s mut Vec<(InputId, TermSet)>,
    today: &'s mut Option<NaiveDate>,
    bad_value: &'s mut Option<FieldNote>,
}

#[derive(Clone)]
struct InputValue<'r> {
    source: Option<usize>,
    raw: Option<Cow<'r, str>>,
    value: String,
}

/// The buffers of a record's evaluation, handed from one record's [`Run`] to the next, so
/// that evaluating a record allocates nothing once they have grown. Fresh buffers per record
/// (their growth, the zeroing of `computed`, and freeing them) were 7% of a dry run's
/// instructions.
#[derive(Default)]
pub(crate) struct RunBuffers {
    computed: Vec<u32>,
    /// Always empty: a record's values borrow the record, so only the allocation is kept.
    values: Vec<InputValue<'static>>,
    terms: Vec<(InputId, TermSet)>,
    spans: Vec<(usize, usize, usize)>,
    regex_hits: Vec<(InputId, TermSet)>,
    candidates: Vec<usize>,
    report_keys: Vec<org::OrgKey>,
    report_matches: Vec<u32>,
}

/// An empty vector of another lifetime in the same allocation (the standard library collects
/// a vector's `into_iter` into one of the same layout in place).
fn recycle<'a, 'b>(mut values: Vec<InputValue<'a>>) -> Vec<InputValue<'b>> {
    values.clear();
    // `filter_map`, not `filter`: it is what changes the lifetime (and it never runs).
    #[allow(clippy::unnecessary_filter_map)]
    values.into_iter().filter_map(|_| None).collect()
}

impl<'p, 'r> Run<'p, 'r> {
    pub(crate) fn new(program: &'p Program, record: &'r dyn Record) -> Self {
        Self::with_buffers(program, record, RunBuffers::default())
    }

    /// A run that evaluates in `buffers` (give them back with [`Run::into_buffers`]).
    pub(crate) fn with_buffers(
        program: &'p Program,
        record: &'r dyn Record,
        buffers: RunBuffers,
    ) -> Self {
        let RunBuffers {
            mut computed,
            values,
            terms,
            spans,
            regex_hits,
            candidates,
            report_keys,
            mut report_matches,
        } = buffers;
        report_matches.clear();
        computed.clear();
        Self {
            program,
            record,
            computed,
            values: recycle(values),
            fuel: FUEL_PER_RECORD,
            terms,
            spans,
            regex_hits,
            candidates,
            today: None,
            bad_value: None,
            population: None,
            reports: None,
            report_count: None,
            report_keys,
            report_matches,
            wants_matches: false,
            matches_noted: false,
        }
    }

    /// Evaluates `reports` tests against `population` (none: they do not hold).
    pub(crate) fn among(mut self, population: Option<&'p dyn Population>) -> Self {
        self.population = population;
        self
    }

    /// Evaluates date tests against `today` instead of the local date.
    pub(crate) fn on(mut self, today: Option<NaiveDate>) -> Self {
        self.today = today;
        self
    }

    pub(crate) fn into_buffers(self) -> RunBuffers {
        RunBuffers {
            computed: self.computed,
            values: recycle(self.values),
            terms: self.terms,
            spans: self.spans,
            regex_hits: self.regex_hits,
            candidates: self.candidates,
            report_keys: self.report_keys,
            report_matches: self.report_matches,
        }
    }

    /// The raw values of `field`'s attribute-reading inputs that have one, by input name:
    /// what the report lists as unmapped when the field fell through.
    pub(crate) fn raw_values(&mut self, field: &Field, mut each: impl FnMut(&Arc<str>, &str)) {
        let program = self.program;
        for id in &field.raw_inputs {
            if let (Some(input), (_, Some(raw))) = (program.inputs.get(id.0), self.raw(*id)) {
                each(&input.name, &raw);
            }
        }
    }

    /// The record being evaluated.
    pub(crate) fn record(&self) -> &'r dyn Record {
        self.record
    }

    /// The raw value an input reads (first non-blank source) and which source gave it.
    pub(crate) fn raw(&mut self, id: InputId) -> (Option<usize>, Option<Cow<'r, str>>) {
        if let Some(done) = self.computed(id) {
            return (done.source, done.raw.clone());
        }
        self.find_raw(id)
    }

    fn find_raw(&mut self, id: InputId) -> (Option<usize>, Option<Cow<'r, str>>) {
        if let Some(found) = self.record.first_bound(id) {
            return match found {
                Some((source, raw)) => (Some(source), Some(raw)),
                None => (None, None),
            };
        }
        let Some(input) = self.program.inputs.get(id.0) else {
            return (None, None);
        };
        for (index, source) in input.sources.iter().enumerate() {
            match source {
                InputSource::Path(path) => {
                    let Some(path) = self.program.paths.get(path.0) else {
                        continue;
                    };
                    if let Some(raw) = self.record.get(path) {
                        if !is_blank(&raw) {
                            return (Some(index), Some(raw));
                        }
                    }
                }
                InputSource::Input(parent) => {
                    if let (_, Some(raw)) = self.raw(*parent) {
                        return (Some(index), Some(raw));
                    }
                }
                InputSource::Join { separator, parts } => {
                    let joined = self.joined(separator, parts);
                    if !joined.is_empty() {
                        return (Some(index), Some(Cow::Owned(joined)));
                    }
                }
            }
        }
        (None, None)
    }

    /// The normalised values of `parts` that are not blank, joined by `separator`.
    fn joined(&mut self, separator: &str, parts: &[InputId]) -> String {
        let mut joined = String::new();
        for part in parts {
            let value = self.value(*part);
            if is_blank(value) {
                continue;
            }
            if !joined.is_empty() {
                joined.push_str(separator);
            }
            joined.push_str(value);
        }
        joined
    }

    /// The input's value, if computed.
    fn computed(&self, id: InputId) -> Option<&InputValue<'r>> {
        let place = self.computed.get(id.0)?.checked_sub(1)?;
        self.values.get(place as usize)
    }

    /// The record's reports in its population (`None` when evaluated alone), asked once.
    fn reports(&mut self) -> Option<&Reports> {
        let population = self.population?;
        if self.reports.is_none() {
            let reports = self.with_report_keys(|keys| population.reports(keys));
            self.report_count = Some(reports.count);
            self.reports = Some(reports);
        }
        self.reports.as_ref()
    }

    /// Asks `query` about the record's own keys (their strings reused from record to record).
    fn with_report_keys<T>(&mut self, query: impl FnOnce(&[org::OrgKey]) -> T) -> T {
        let program = self.program;
        let mut keys = std::mem::take(&mut self.report_keys);
        let len = org::read_person_keys(program, self, &mut keys, org::Reading::Kept);
        // Strings past `len` stay for later records.
        let answer = query(keys.get(..len).unwrap_or(&[]));
        self.report_keys = keys;
        answer
    }

    /// The record's count of reports (`u64::MAX` when evaluated alone): part of the cache key
    /// of a field that tests it. Who they are is not asked: a dry run counts only.
    pub(crate) fn report_count(&mut self) -> u64 {
        let Some(population) = self.population else {
            return u64::MAX;
        };
        match self.report_count {
            Some(count) => count,
            None if self.wants_matches => {
                self.note_report_matches();
                self.report_count.unwrap_or(0)
            }
            None => {
                let count = self.with_report_keys(|keys| population.report_count(keys));
                self.report_count = Some(count);
                count
            }
        }
    }

    /// Takes `count` (when known) as the record's count of reports: a dry run counts every
    /// record's after its first pass, so the mapping pass neither reads nor looks up keys.
    pub(crate) fn knowing_reports(mut self, count: Option<u64>) -> Self {
        if count.is_some() {
            self.report_count = count;
            self.matches_noted = true;
        }
        self
    }

    /// Counts the record's reports with the ids of the references its keys match (see
    /// [`Run::note_report_matches`]).
    pub(crate) fn noting_matches(mut self, yes: bool) -> Self {
        self.wants_matches = yes;
        self
    }

    /// Counts the record's reports (if no test did) and keeps the ids of the references its
    /// keys match: a dry run's report notes them, with the lookup that counted.
    pub(crate) fn note_report_matches(&mut self) {
        let Some(population) = self.population else {
            return;
        };
        if self.matches_noted {
            return;
        }
        let mut matches = std::mem::take(&mut self.report_matches);
        let count =
            self.with_report_keys(|keys| population.report_count_noting(keys, &mut matches));
        self.report_matches = matches;
        self.report_count = Some(count);
        self.matches_noted = true;
    }

    /// `reports OP N`; with `explain`, who was counted.
    fn reports_test(&mut self, test: &ReportsTest, explain: bool) -> (bool, Option<String>) {
        if !explain && self.population.is_some() {
            let count = self.report_count();
            return (test.op.holds(count as f64, test.value), None);
        }
        let Some(reports) = self.reports() else {
            return (
                false,
                explain.then(|| {
                    format!(
                        "{}: no population (a record alone has no reports)",
                        test.text
                    )
                }),
            );
        };
        let holds = test.op.holds(reports.count as f64, test.value);
        let reason = explain.then(|| format!("{}: {}", test.text, describe_reports(reports)));
        (holds, reason)
    }

    /// An input's normalised value, into `out` (cleared first). Where the record gives the
    /// raw value at once (a bound CSV row) and the run has not computed it, the value is
    /// written straight into `out` and not kept in the run: a first pass over millions of
    /// rows reads each link input once.
    pub(crate) fn value_into(&mut self, id: InputId, out: &mut String) {
        out.clear();
        if self.computed(id).is_none() {
            if let (Some(input), Some(found)) =
                (self.program.inputs.get(id.0), self.record.first_bound(id))
            {
                if let Some((_, raw)) = found {
                    out.push_str(&steps::run_borrowing(&input.steps, &raw));
                }
                return;
            }
        }
        out.push_str(self.value(id));
    }

    /// The normalised value of an input ("" when absent).
    fn value(&mut self, id: InputId) -> &str {
        if self.computed.is_empty() {
            self.computed.resize(self.program.inputs.len(), 0);
        }
        if self.computed.get(id.0) == Some(&0) {
            let program = self.program;
            let (source, raw) = self.raw(id);
            let value = match (source, &raw, program.inputs.get(id.0)) {
                (Some(index), Some(raw), Some(input)) => match input.sources.get(index) {
                    Some(InputSource::Input(parent)) => {
                        steps::run(&input.steps, self.value(*parent))
                    }
                    _ => steps::run(&input.steps, raw),
                },
                _ => String::new(),
            };
            self.values.push(InputValue { source, raw, value });
            if let Some(slot) = self.computed.get_mut(id.0) {
                *slot = self.values.len() as u32;
            }
        }
        self.computed(id).map_or("", |v| v.value.as_str())
    }

    /// An input's normalised value and the matchers' scratch space, borrowed apart: tests
    /// read the value while their word and regex scans fill the scratch, with no copy.
    fn value_and_scratch(&mut self, id: InputId) -> (&str, Scratch<'_>) {
        self.value(id);
        let Run {
            computed,
            values,
            terms,
            spans,
            regex_hits,
            today,
            bad_value,
            ..
        } = self;
        let value = computed
            .get(id.0)
            .and_then(|place| place.checked_sub(1))
            .and_then(|place| values.get(place as usize))
            .map_or("", |v| v.value.as_str());
        (
            value,
            Scratch {
                terms,
                spans,
                regex_hits,
                today,
                bad_value,
            },
        )
    }

    pub(crate) fn field(
        &mut self,
        field: &Field,
        trace: Option<&mut Vec<RuleTrace>>,
    ) -> FieldOutcome {
        let decision = self.decide(field, 0..field.rules.len(), trace);
        self.finish(field, decision)
    }

    /// Tries `rules` of `field` in order: the first that matches, and its output.
    pub(crate) fn decide(
        &mut self,
        field: &Field,
        rules: std::ops::Range<usize>,
        trace: Option<&mut Vec<RuleTrace>>,
    ) -> Decision {
        self.terms.clear();
        self.regex_hits.clear();
        match (&field.prefilter, &trace) {
            (Some(prefilter), None) => {
                // Lent out of `self` while the rules run; kept for the next field's candidates.
                let mut candidates = std::mem::take(&mut self.candidates);
                self.fill_candidates(field, prefilter, &rules, &mut candidates);
                let decision = self.first_match(field, candidates.iter().copied(), None);
                self.candidates = candidates;
                decision
            }
            _ => self.first_match(field, rules, trace),
        }
    }

    /// The first rule of `order` that matches, and its output.
    fn first_match(
        &mut self,
        field: &Field,
        order: impl Iterator<Item = usize>,
        mut trace: Option<&mut Vec<RuleTrace>>,
    ) -> Decision {
        for index in order {
            let Some(rule) = field.rules.get(index) else {
                break;
            };
            let mut why = trace.as_ref().map(|_| Vec::new());
            let matched = self.cond(field, &rule.condition, why.as_mut());
            if let (Some(trace), Some(why)) = (trace.as_deref_mut(), why) {
                trace.push(RuleTrace {
                    id: rule.id.to_string(),
                    at: rule.at.to_string(),
                    matched,
                    why: if rule.is_else() {
                        "final else".into()
                    } else {
                        why.join("; ")
                    },
                });
            }
            if let Some(note) = self.bad_value.take() {
                return Decision::Fired {
                    rule: index,
                    output: Err(note),
                };
            }
            if matched {
                let output = self.output(field, &rule.output);
                return Decision::Fired {
                    rule: index,
                    output,
                };
            }
        }
        Decision::NoMatch
    }

    /// The rules of `range` that can match this record, in order: those a found word or
    /// regex names, and every rule the prefilter cannot rule out.
    fn fill_candidates(
        &mut self,
        field: &Field,
        prefilter: &Prefilter,
        range: &std::ops::Range<usize>,
        candidates: &mut Vec<usize>,
    ) {
        candidates.clear();
        candidates.extend(prefilter.always.iter().filter(|r| range.contains(r)));
        for (input, by_term) in &prefilter.by_term {
            let (value, scratch) = self.value_and_scratch(*input);
            let found = term_set(scratch.terms, scratch.spans, field, *input, value);
            for term in found.iter() {
                if let Some(rules) = by_term.get(term) {
                    candidates.extend(rules.iter().filter(|r| range.contains(r)));
                }
            }
        }
        for (input, by_slot) in &prefilter.by_slot {
            let (value, scratch) = self.value_and_scratch(*input);
            if let Some(hits) = regex_matches(scratch.regex_hits, field, *input, value) {
                for slot in hits.iter() {
                    if let Some(rules) = by_slot.get(slot) {
                        candidates.extend(rules.iter().filter(|r| range.contains(r)));
                    }
                }
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
    }

    /// The field's outcome for a decision, with the raw value it read when it fell through.
    pub(crate) fn finish(&mut self, field: &Field, decision: Decision) -> FieldOutcome {
        let mut outcome = FieldOutcome {
            name: field.name.clone(),
            required: field.required,
            value: None,
            rule: None,
            note: None,
        };
        match decision {
            Decision::NoMatch => {
                outcome.note = Some(if self.fuel == 0 {
                    FieldNote::BudgetExhausted
                } else {
                    FieldNote::NoRuleMatched
                })
            }
            Decision::Fired { rule, output } => {
                if let Some(rule) = field.rules.get(rule) {
                    outcome.rule = Some(RuleRef {
                        id: rule.id.clone(),
                        at: rule.at.clone(),
                        is_else: rule.is_else(),
                    });
                }
                match output {
                    Ok(value) => outcome.value = Some(value),
                    Err(note) => outcome.note = Some(note),
                }
            }
        }
        outcome
    }

    /// Whether the record's evaluation budget is spent (a decision made then may be partial).
    pub(crate) fn out_of_fuel(&self) -> bool {
        self.fuel == 0
    }

    fn output(&mut self, field: &Field, output: &Output) -> Result<Arc<str>, FieldNote> {
        match output {
            Output::Unset => Err(FieldNote::Undetermined),
            Output::Const(value) => Ok(value.clone()),
            Output::Input(input) => {
                let value = self.value(*input);
                if value.is_empty() {
                    return Err(FieldNote::EmptyInput);
                }
                typed(&field.kind, value)
            }
            Output::Lookup { input, table } => {
                let key = self.value(*input);
                if key.is_empty() {
                    return Err(FieldNote::EmptyInput);
                }
                table
                    .get(key)
                    .cloned()
                    .ok_or_else(|| FieldNote::MissingKey {
                        key: key.to_string(),
                    })
            }
        }
    }

    fn cond(&mut self, field: &Field, cond: &Cond, mut why: Option<&mut Vec<String>>) -> bool {
        match cond {
            Cond::Always => true,
            Cond::Or(parts) => parts
                .iter()
                .any(|p| self.cond(field, p, why.as_deref_mut())),
            Cond::And(parts) => parts
                .iter()
                .all(|p| self.cond(field, p, why.as_deref_mut())),
            Cond::Not(inner) => !self.cond(field, inner, why),
            Cond::Reports(test) => {
                if self.fuel == 0 {
                    return false;
                }
                self.fuel -= 1;
                let (result, reason) = self.reports_test(test, why.is_some());
                if let Some(why) = why {
                    why.push(reason.unwrap_or_default());
                }
                result
            }
            Cond::Leaf(leaf) => {
                if self.fuel == 0 {
                    return false;
                }
                self.fuel -= 1;
                let (result, reason) = self.leaf(field, leaf, why.is_some());
                if let Some(why) = why {
                    why.push(reason.unwrap_or_default());
                }
                result
            }
        }
    }

    /// Evaluates one test; with `explain`, also says why it did or did not hold.
    fn leaf(&mut self, field: &Field, leaf: &Leaf, explain: bool) -> (bool, Option<String>) {
        let (
            value,
            Scratch {
                terms,
                spans,
                regex_hits,
                today,
                bad_value,
            },
        ) = self.value_and_scratch(leaf.input);
        let shown = || format!("{value:?}");
        let result = match &leaf.test {
            LeafTest::Words(term_ids) => {
                let found = term_set(terms, spans, field, leaf.input, value);
                let terms = term_ids;
                let hit = terms.iter().copied().find(|t| found.contains(*t));
                if explain {
                    let index = field
                        .word_indexes
                        .iter()
                        .find(|(i, _)| *i == leaf.input)
                        .map(|(_, x)| x);
                    let reason = match (hit, index) {
                        (Some(t), Some(index)) => {
                            format!("{}: found {:?} in {}", leaf.text, index.term(t), shown())
                        }
                        _ => format!("{}: no such word in {}", leaf.text, shown()),
                    };
                    return (hit.is_some(), Some(reason));
                }
                hit.is_some()
            }
            LeafTest::Regex { regex, slot } => {
                let from_set = slot.and_then(|slot| {
                    regex_matches(regex_hits, field, leaf.input, value)
                        .map(|hits| hits.contains(slot))
                });
                from_set.unwrap_or_else(|| regex.is_match(value))
            }
            LeafTest::Number {
                regex,
                op,
                value: limit,
            } => {
                let number = regex
                    .captures(value)
                    .and_then(|c| c.get(1))
                    .and_then(|m| m.as_str().trim().parse::<f64>().ok());
                if explain {
                    let reason = match number {
                        Some(n) => format!("{}: captured {n} in {}", leaf.text, shown()),
                        None => format!("{}: no number captured in {}", leaf.text, shown()),
                    };
                    return (number.is_some_and(|n| op.holds(n, *limit)), Some(reason));
                }
                number.is_some_and(|n| op.holds(n, *limit))
            }
            LeafTest::OneOf(values) => values.contains(value),
            LeafTest::NotEqual(other) => value != other.as_str(),
            LeafTest::InTable(table) => !value.is_empty() && table.contains_key(value),
            LeafTest::StartsWith(prefixes) => {
                prefixes.iter().any(|p| value.starts_with(p.as_str()))
            }
            LeafTest::EndsWith(suffixes) => suffixes.iter().any(|s| value.ends_with(s.as_str())),
            LeafTest::Contains(parts) => parts.iter().any(|p| value.contains(p.as_str())),
            LeafTest::Date {
                op,
                against,
                format,
            } => {
                let (holds, why) =
                    date_test(value, *op, *against, format, today, bad_value, explain);
                if let Some(why) = why {
                    let verdict = if holds { "true" } else { "false" };
                    return (holds, Some(format!("{}: {verdict}: {why}", leaf.text)));
                }
                holds
            }
            LeafTest::IsEmpty => value.is_empty(),
            LeafTest::IsPresent => !value.is_empty(),
        };
        let reason = explain.then(|| {
            format!(
                "{}: {} for {}",
                leaf.text,
                if result { "true" } else { "false" },
                shown()
            )
        });
        (result, reason)
    }

    fn input_trace(&mut self, id: InputId) -> InputTrace {
        let program = self.program;
        let Some(input) = program.inputs.get(id.0) else {
            return InputTrace::default();
        };
        let (source, raw) = self.raw(id);
        let mut trace = InputTrace {
            input: input.name.to_string(),
            source: None,
            raw: raw.as_deref().map(str::to_string),
            steps: Vec::new(),
            value: self.value(id).to_string(),
        };
        if let Some(index) = source {
            let mut current = match input.sources.get(index) {
                Some(InputSource::Path(path)) => {
                    trace.source = program.paths.get(path.0).map(|p| p.text().to_string());
                    raw.as_deref().unwrap_or("").to_string()
                }
                Some(InputSource::Input(parent)) => {
                    trace.source = program.inputs.get(parent.0).map(|p| format!("@{}", p.name));
                    let parent_value = self.value(*parent).to_string();
                    trace.raw = Some(parent_value.clone());
                    parent_value
                }
                // `join(", ", "City" = "Paris", "Country" = "")`: each part and its value.
                Some(InputSource::Join { separator, parts }) => {
                    let mut shown = Vec::new();
                    for part in parts {
                        let value = self.value(*part).to_string();
                        let name = match program.inputs.get(part.0) {
                            Some(input) => match input.sources.first() {
                                Some(InputSource::Path(path)) if input.steps.is_empty() => program
                                    .paths
                                    .get(path.0)
                                    .map_or_else(String::new, |p| format!("{:?}", p.text())),
                                _ => format!("@{}", input.name),
                            },
                            None => String::new(),
                        };
                        shown.push(format!("{name} = {value:?}"));
                    }
                    trace.source = Some(format!("join({separator:?}, {})", shown.join(", ")));
                    raw.as_deref().unwrap_or("").to_string()
                }
                None => String::new(),
            };
            for step in &input.steps {
                current = step.apply(&current).into_owned();
                trace.steps.push(StepTrace {
                    step: step.describe(),
                    result: current.clone(),
                });
            }
        }
        trace
    }
}

/// Which terms of the field's word index for `input` occur in `value`: scanned once per
/// field and input, then shared by every `has` test of the field.
fn term_set<'t>(
    terms: &'t mut Vec<(InputId, TermSet)>,
    spans: &mut Vec<(usize, usize, usize)>,
    field: &Field,
    input: InputId,
    value: &str,
) -> &'t TermSet {
    per_input(terms, input, || {
        let mut set = TermSet::default();
        if let Some((_, index)) = field.word_indexes.iter().find(|(i, _)| *i == input) {
            index.scan(value, &mut set, spans);
        }
        set
    })
}

/// Which regexes of the field's set for `input` match `value`: one pass, then shared.
fn regex_matches<'h>(
    hits: &'h mut Vec<(InputId, TermSet)>,
    field: &Field,
    input: InputId,
    value: &str,
) -> Option<&'h TermSet> {
    if !hits.iter().any(|(i, _)| *i == input) {
        let (_, set) = field.regex_sets.iter().find(|(i, _)| *i == input)?;
        let mut found = TermSet::default();
        set.matches(value, &mut found);
        hits.push((input, found));
    }
    hits.iter()
        .find(|(i, _)| *i == input)
        .map(|(_, matches)| matches)
}

/// Checks an input-derived value against the field's type (constants were checked at load).
fn typed(kind: &FieldKind, value: &str) -> Result<Arc<str>, FieldNote> {
    match kind {
        FieldKind::Text => Ok(Arc::from(value)),
        FieldKind::Email => {
            if is_email(value) {
                Ok(Arc::from(value))
            } else {
                Err(FieldNote::InvalidEmail {
                    value: value.to_string(),
                })
            }
        }
        FieldKind::Flag => {
            if value.eq_ignore_ascii_case("yes") {
                Ok(Arc::from("yes"))
            } else if value.eq_ignore_ascii_case("no") {
                Ok(Arc::from("no"))
            } else {
                Err(FieldNote::NotAllowed {
                    value: value.to_string(),
                })
            }
        }
        FieldKind::Enum(values) => values
            .iter()
            .find(|v| ***v == *value)
            .or_else(|| {
                let lower = value.to_lowercase();
                values.iter().find(|v| v.to_lowercase() == lower)
            })
            .cloned()
            .ok_or_else(|| FieldNote::NotAllowed {
                value: value.to_string(),
            }),
    }
}

#[cfg(test)]
mod tests {
    use crate::{FlatRecord, Program};

    /// The point of handing buffers on: a record's values reuse the last record's allocation.
    #[test]
    fn recycled_values_keep_their_allocation() {
        let values: Vec<super::InputValue<'static>> = Vec::with_capacity(16);
        let place = values.as_ptr() as usize;
        let recycled: Vec<super::InputValue<'_>> = super::recycle(values);
        assert_eq!(recycled.capacity(), 16);
        assert_eq!(recycled.as_ptr() as usize, place);
    }

    /// Ten regex rules on one input run as one `RegexSet`; flags and order must behave exactly
    /// as when each regex runs alone.
    #[test]
    fn regex_sets_keep_flags_and_order() {
        let mut rules = String::from("field f: text\ninput t = title | trim\nmap f {\n");
        for n in 0..10 {
            rules.push_str(&format!(
                "  rule r{n}: t matches /^code{n}$/ -> \"plain {n}\"\n"
            ));
        }
        rules.push_str("  rule ci: t matches /^shout$/i -> \"ignored case\"\n");
        rules.push_str("  rule capture: number(t, /^l(\\d+)$/i) >= 7 -> \"level\"\n");
        rules.push_str("  else -> unset\n}\n");
        let program = Program::from_source("set.rules", &rules).unwrap();
        assert!(program.fields[0].regex_sets.len() == 1, "a set is built");
        let map = |title: &str| {
            program
                .apply(&FlatRecord::from_pairs([("title", title)]))
                .get("f")
                .map(str::to_string)
        };
        assert_eq!(map("code3").as_deref(), Some("plain 3"));
        assert_eq!(map("CODE3"), None);
        assert_eq!(map("SHOUT").as_deref(), Some("ignored case"));
        assert_eq!(map("L9").as_deref(), Some("level"));
        assert_eq!(map("code10"), None);
    }
}
