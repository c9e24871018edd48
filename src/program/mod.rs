//! The compiled program: an immutable intermediate form of a rule file (with everything it
//! extends) and the matchers it is made of. [`crate::check`] builds it, [`crate::eval`] runs it;
//! neither imports the other. Each stage adds its own `impl Program` block: `load` and
//! `from_source` live in `check`, `apply`, `explain` and `evaluator` in `eval`.

pub(crate) mod prefilter;
pub(crate) mod regex_set;
pub mod steps;
pub mod words;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::diag::{Diagnostic, Sources, Span};
use crate::value::{AttrPath, ColumnBinding, CompareOp, DateOp};
use regex_set::{GatedRegex, GatedSet};
use steps::Step;
use words::WordIndex;

pub use crate::value::InputId;

/// The entry for `input` in a small per-input list (a field reads few inputs, so a `Vec`
/// beats a map), made by `make` on first use.
pub(crate) fn per_input<T>(
    list: &mut Vec<(InputId, T)>,
    input: InputId,
    make: impl FnOnce() -> T,
) -> &mut T {
    let position = match list.iter().position(|(i, _)| *i == input) {
        Some(position) => position,
        None => {
            list.push((input, make()));
            list.len() - 1
        }
    };
    &mut list[position].1
}

/// The inputs with attribute sources that `reads` depend on (directly, through `@input`s or
/// joins), one per distinct list of sources, in the order `reads` first reach them.
pub(crate) fn raw_inputs(inputs: &[Input], reads: &[InputId]) -> Vec<InputId> {
    fn visit(inputs: &[Input], id: InputId, seen: &mut Vec<bool>, out: &mut Vec<InputId>) {
        let Some(input) = inputs.get(id.0) else {
            return;
        };
        if std::mem::replace(&mut seen[id.0], true) {
            return;
        }
        let paths: Vec<usize> = input
            .sources
            .iter()
            .filter_map(|s| match s {
                InputSource::Path(path) => Some(path.0),
                _ => None,
            })
            .collect();
        let same_sources = |other: &InputId| {
            inputs.get(other.0).is_some_and(|o| {
                o.sources
                    .iter()
                    .filter_map(|s| match s {
                        InputSource::Path(path) => Some(path.0),
                        _ => None,
                    })
                    .eq(paths.iter().copied())
            })
        };
        if !paths.is_empty() && !out.iter().any(same_sources) {
            out.push(id);
        }
        for source in &input.sources {
            match source {
                InputSource::Input(parent) => visit(inputs, *parent, seen, out),
                InputSource::Join { parts, .. } => {
                    for part in parts {
                        visit(inputs, *part, seen, out);
                    }
                }
                InputSource::Path(_) => {}
            }
        }
    }
    let mut seen = vec![false; inputs.len()];
    let mut out = Vec::new();
    for id in reads {
        visit(inputs, *id, &mut seen, &mut out);
    }
    out
}

/// A compiled rule file (with everything it extends): immutable, `Send + Sync`, shared behind
/// an `Arc` by the CLI and the SCIM service. Build one with [`Program::load`].
#[derive(Debug)]
pub struct Program {
    pub(crate) fields: Vec<Field>,
    pub(crate) inputs: Vec<Input>,
    pub(crate) paths: Vec<AttrPath>,
    pub(crate) tests: Vec<RuleTest>,
    pub(crate) sources: Arc<Sources>,
    pub(crate) warnings: Vec<Diagnostic>,
    pub(crate) version: String,
    /// The organisation graph's links (`reports_to`), in file order: how a record names its
    /// manager. A link's index is its place here.
    pub(crate) reports_to: Vec<ReportsTo>,
}

/// `reports_to manager -> people…`: a record names its manager by its value of `manager`; the
/// person named is one whose value of one of `people` equals it.
#[derive(Debug)]
pub struct ReportsTo {
    pub(crate) manager: InputId,
    pub(crate) people: Vec<InputId>,
}

/// `reports >= 1`: a test of how many people name the record's person as their manager.
#[derive(Debug)]
pub struct ReportsTest {
    pub(crate) op: CompareOp,
    pub(crate) value: f64,
    /// How the test is written (for traces).
    pub(crate) text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldKind {
    /// One of these values, spelled exactly so.
    Enum(Vec<Arc<str>>),
    Text,
    /// `yes` or `no`.
    Flag,
    /// A lower-case email address.
    Email,
}

impl FieldKind {
    pub fn describe(&self) -> String {
        match self {
            Self::Enum(values) => {
                let quoted: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
                format!("one of {}", quoted.join(", "))
            }
            Self::Text => "text".into(),
            Self::Flag => "`yes` or `no`".into(),
            Self::Email => "an email address".into(),
        }
    }
}

/// Whether a profile must have a field, should, or may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Importance {
    Required,
    Recommended,
    Optional,
}

#[derive(Debug)]
pub struct Field {
    pub(crate) name: Arc<str>,
    pub(crate) kind: FieldKind,
    pub(crate) required: bool,
    /// Not required, but what an integration should send (`field x: text recommended`).
    pub(crate) recommended: bool,
    pub(crate) rules: Vec<CompiledRule>,
    /// One word index per input that `has any` tests read, keyed by that input.
    pub(crate) word_indexes: Vec<(InputId, WordIndex)>,
    /// Where a field tests many regexes on one input, one `RegexSet` runs them in one pass.
    pub(crate) regex_sets: Vec<(InputId, GatedSet)>,
    /// Inputs the rules read, in first-use order (the cache key of a field's result).
    pub(crate) reads: Vec<InputId>,
    /// The attribute-reading inputs behind `reads`, one per distinct list of sources, in the
    /// order rules first read them: whose raw values a field that fell through keeps, for
    /// the report's unmapped values per input (a level column, then the title).
    pub(crate) raw_inputs: Vec<InputId>,
    /// For fields of many word-list and regex rules: which rules a found word or regex names.
    pub(crate) prefilter: Option<prefilter::Prefilter>,
    /// Whether a rule tests `reports`: the outcome then depends on the population too.
    pub(crate) uses_reports: bool,
}

impl Field {
    pub fn importance(&self) -> Importance {
        if self.required {
            Importance::Required
        } else if self.recommended {
            Importance::Recommended
        } else {
            Importance::Optional
        }
    }
}

#[derive(Debug)]
pub struct CompiledRule {
    pub(crate) id: Arc<str>,
    /// `file:line`
    pub(crate) at: Arc<str>,
    pub(crate) span: Span,
    pub(crate) condition: Cond,
    pub(crate) output: Output,
}

impl CompiledRule {
    pub fn is_else(&self) -> bool {
        matches!(self.condition, Cond::Always)
    }
}

#[derive(Debug)]
pub enum Cond {
    Always,
    Or(Vec<Cond>),
    And(Vec<Cond>),
    Not(Box<Cond>),
    Leaf(Leaf),
    /// A test of the population, not of an input: `reports >= 1`.
    Reports(ReportsTest),
}

/// A test of one input's normalised value.
#[derive(Debug)]
pub struct Leaf {
    pub(crate) input: InputId,
    pub(crate) test: LeafTest,
    /// How the test is written (for traces).
    pub(crate) text: String,
}

/// A table with keys normalised for one input: key → value.
pub type KeyedTable = Arc<HashMap<String, Arc<str>>>;

#[derive(Debug)]
pub enum LeafTest {
    /// Terms of the field's word index for this input (indices into it).
    Words(Vec<usize>),
    /// `slot`: this regex's index in the field's `RegexSet` for the input, when there is one.
    Regex {
        regex: GatedRegex,
        slot: Option<usize>,
    },
    Number {
        regex: GatedRegex,
        op: CompareOp,
        value: f64,
    },
    OneOf(HashSet<String>),
    NotEqual(String),
    InTable(KeyedTable),
    StartsWith(Vec<String>),
    EndsWith(Vec<String>),
    Contains(Vec<String>),
    /// The value read as a date (`YYYY-MM-DD`, as the input's `date` step spells it) and
    /// compared with `against`, or with the run's date when `None`. `format` is how the input
    /// reads dates, for the note on a value that is not one.
    Date {
        op: DateOp,
        against: Option<chrono::NaiveDate>,
        format: Arc<str>,
    },
    IsEmpty,
    IsPresent,
}

#[derive(Debug)]
pub enum Output {
    Unset,
    Const(Arc<str>),
    Input(InputId),
    Lookup { input: InputId, table: KeyedTable },
}

#[derive(Debug)]
pub struct Input {
    pub(crate) name: Arc<str>,
    /// Where the input is declared (its name).
    pub(crate) span: Span,
    pub(crate) sources: Vec<InputSource>,
    pub(crate) steps: Vec<Step>,
    /// Every step a value from this input's first source goes through, ancestors' first:
    /// what literals compared with this input are normalised by.
    pub(crate) pipeline: Vec<Step>,
}

#[derive(Debug, Clone)]
pub enum InputSource {
    Path(crate::value::SourceId),
    Input(InputId),
    /// The normalised values of these inputs that are not blank, joined by the separator.
    Join {
        separator: Arc<str>,
        parts: Vec<InputId>,
    },
}

/// A test written in a rule file: a record and the expected canonical values.
#[derive(Debug, Clone)]
pub struct RuleTest {
    pub name: String,
    pub span: Span,
    /// Attribute name or path (as a flat record key) → value.
    pub given: Vec<(AttrPath, String)>,
    pub expect: Vec<(String, Option<String>, Span)>,
    /// What the test expects of the row as a whole (`expect complete`, `expect missing …`).
    pub row: Option<(RowExpectation, Span)>,
    /// Whether the test is written in the file that was loaded (not in a base it extends).
    pub own: bool,
}

/// A test's expectation of the row: complete, or exactly these required fields unset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowExpectation {
    Complete,
    Missing(Vec<String>),
}

impl RowExpectation {
    /// `complete`, or `missing first_name, last_name` (fields in declaration order).
    pub fn describe(&self) -> String {
        match self {
            Self::Complete => "complete".into(),
            Self::Missing(fields) => format!("missing {}", fields.join(", ")),
        }
    }
}

impl Program {
    /// Every attribute path the program reads, indexed by [`crate::value::SourceId`].
    pub fn paths(&self) -> &[AttrPath] {
        &self.paths
    }

    /// Each input's name, where it is declared, and the attribute paths it reads itself (its
    /// `@input` sources left out): what a dry run checks a CSV header against.
    pub fn input_paths(&self) -> Vec<(&str, Span, Vec<&AttrPath>)> {
        self.inputs
            .iter()
            .map(|input| {
                let paths = input
                    .sources
                    .iter()
                    .filter_map(|source| match source {
                        InputSource::Path(id) => self.paths.get(id.0),
                        InputSource::Input(_) | InputSource::Join { .. } => None,
                    })
                    .collect();
                (&*input.name, input.span, paths)
            })
            .collect()
    }

    /// Binds a CSV header to the program's paths, once per file.
    pub fn bind_columns<'h>(&self, header: impl IntoIterator<Item = &'h str>) -> ColumnBinding {
        let inputs = self.inputs.iter().map(|input| {
            input.sources.iter().map(|source| match source {
                InputSource::Path(id) => Some(*id),
                InputSource::Input(_) | InputSource::Join { .. } => None,
            })
        });
        ColumnBinding::new(&self.paths, header).with_inputs(inputs)
    }

    /// Content hash of every file the program was built from (rule files and table CSVs).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Canonical field names in declaration order.
    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|f| &*f.name)
    }

    pub fn required_fields(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().filter(|f| f.required).map(|f| &*f.name)
    }

    /// How much a field matters to an integration: `required`, `recommended` or `optional`
    /// (`None`: no such field).
    pub fn field_importance(&self, name: &str) -> Option<Importance> {
        self.fields
            .iter()
            .find(|f| &*f.name == name)
            .map(Field::importance)
    }

    /// What each field reads: field → attribute paths as an IdP sends them (aliases expanded
    /// to their URN), in the order the rules try them.
    pub fn reads(&self) -> Vec<(&str, Vec<&str>)> {
        self.fields
            .iter()
            .map(|field| {
                let mut paths = Vec::new();
                for input in &field.reads {
                    self.collect_paths(*input, &mut paths);
                }
                (&*field.name, paths)
            })
            .collect()
    }

    fn collect_paths<'a>(&'a self, input: InputId, out: &mut Vec<&'a str>) {
        let Some(input) = self.inputs.get(input.0) else {
            return;
        };
        for source in &input.sources {
            match source {
                InputSource::Path(id) => {
                    if let Some(path) = self.paths.get(id.0) {
                        if !out.contains(&path.scim_path()) {
                            out.push(path.scim_path());
                        }
                    }
                }
                InputSource::Input(parent) => self.collect_paths(*parent, out),
                InputSource::Join { parts, .. } => {
                    for part in parts {
                        self.collect_paths(*part, out);
                    }
                }
            }
        }
    }

    /// Fields that have rules (the ones the program writes).
    pub fn writes(&self) -> impl Iterator<Item = &str> {
        self.fields
            .iter()
            .filter(|f| !f.rules.is_empty())
            .map(|f| &*f.name)
    }

    /// Rule ids per field, in order, with `file:line` (for "rules that never fired").
    pub fn rules(&self) -> Vec<(&str, &str, &str)> {
        self.fields
            .iter()
            .flat_map(|field| {
                field
                    .rules
                    .iter()
                    .map(move |rule| (&*field.name, &*rule.id, &*rule.at))
            })
            .collect()
    }

    /// Lints found while compiling.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    pub fn tests(&self) -> &[RuleTest] {
        &self.tests
    }

    /// Whether the file declares how records name their managers (`reports_to`): a dry run
    /// then indexes the population first and reports on the organisation.
    pub fn has_org_graph(&self) -> bool {
        !self.reports_to.is_empty()
    }

    /// Whether a field's rules test `reports` (its values depend on the population).
    pub fn uses_reports(&self) -> bool {
        self.fields.iter().any(|f| f.uses_reports)
    }

    /// Whether a profile mapped with `a` reports is the one mapped with `b`: every `reports`
    /// test in the rules answers alike for both (`reports >= 1` tells 3 from 4 apart not).
    /// A profile depends on its count through these tests alone, so the store need not
    /// remap a manager whose count moved inside one such class.
    pub fn reports_alike(&self, a: u64, b: u64) -> bool {
        fn alike(cond: &Cond, a: f64, b: f64) -> bool {
            match cond {
                Cond::Reports(test) => test.op.holds(a, test.value) == test.op.holds(b, test.value),
                Cond::Or(conds) | Cond::And(conds) => conds.iter().all(|c| alike(c, a, b)),
                Cond::Not(cond) => alike(cond, a, b),
                Cond::Always | Cond::Leaf(_) => true,
            }
        }
        let (a, b) = (a as f64, b as f64);
        self.fields
            .iter()
            .filter(|f| f.uses_reports)
            .flat_map(|f| &f.rules)
            .all(|rule| alike(&rule.condition, a, b))
    }
}

#[cfg(test)]
mod tests {
    /// Two counts of reports are alike where every `reports` test answers alike: the store
    /// then keeps a manager's profile as it is (store/org.rs).
    #[test]
    fn counts_of_reports_are_alike_where_every_test_answers_alike() {
        use super::Program;
        let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/default.rules");
        let program = Program::load(&shipped).unwrap();
        // The default pack reads `reports >= 1` only.
        assert!(program.reports_alike(3, 4) && program.reports_alike(1, 2));
        assert!(!program.reports_alike(0, 1) && !program.reports_alike(1, 0));
        let rules = "input title = title\ninput mgr = manager\ninput email = email\n\
                     reports_to mgr -> email\nfield size: text\n\
                     map size {\n  rule big: reports > 5 -> \"big\"\n  \
                     rule lead: title == \"lead\" and not reports == 0 -> \"lead\"\n  else -> \"none\"\n}\n";
        let program = Program::from_source("x.rules", rules).unwrap();
        assert!(program.reports_alike(1, 5) && program.reports_alike(6, 60));
        assert!(!program.reports_alike(5, 6) && !program.reports_alike(0, 1));
        // No `reports` test: every count maps alike.
        let plain = Program::from_source(
            "y.rules",
            "input t = title\nfield a: text\nmap a {\n  rule t: t == \"x\" -> \"x\"\n}\n",
        )
        .unwrap();
        assert!(plain.reports_alike(0, 7));
    }

    /// The CLI's worker threads and the SCIM service share one compiled program.
    #[test]
    fn program_is_send_and_sync() {
        fn shared<T: Send + Sync>() {}
        shared::<super::Program>();
        shared::<std::sync::Arc<super::Program>>();
    }

    /// `recommended` on a declaration; `optional` or `require` in a later file replace it.
    #[test]
    fn a_field_is_required_recommended_or_optional() {
        use super::{Importance, Program};
        let dir = tempfile::tempdir().unwrap();
        let base = "field a: text required\nfield b: text recommended\n\
                    field c: text recommended\nfield d: text recommended\nfield e: text\n";
        std::fs::write(dir.path().join("base.rules"), base).unwrap();
        let program = Program::load(&dir.path().join("base.rules")).unwrap();
        let tiers: Vec<_> = ["a", "b", "e", "z"]
            .iter()
            .map(|f| program.field_importance(f))
            .collect();
        assert_eq!(
            tiers,
            [
                Some(Importance::Required),
                Some(Importance::Recommended),
                Some(Importance::Optional),
                None
            ]
        );
        let customer = "extends \"base.rules\"\noptional c\nrequire d\n";
        std::fs::write(dir.path().join("customer.rules"), customer).unwrap();
        let program = Program::load(&dir.path().join("customer.rules")).unwrap();
        assert_eq!(program.field_importance("b"), Some(Importance::Recommended));
        assert_eq!(program.field_importance("c"), Some(Importance::Optional));
        assert_eq!(program.field_importance("d"), Some(Importance::Required));
        assert!(
            Program::from_source("x.rules", "field a: text required recommended\n").is_err(),
            "one or the other"
        );
    }
}
