//! The spanned syntax tree of one rule file, as written (nothing resolved yet).

use crate::diag::Span;
pub use crate::value::{CompareOp, DateOp};

/// A name as written, with its place.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A string literal's value (escapes resolved), with its place.
#[derive(Debug, Clone, PartialEq)]
pub struct Str {
    pub value: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RuleFile {
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Extends(Str),
    Alias {
        name: Ident,
        urn: Str,
    },
    Field(FieldDecl),
    /// `require FIELD` (`required: true`) or `optional FIELD`: a later file changes whether a
    /// field declared before must be set (`optional` also drops `recommended`).
    Requirement {
        field: Ident,
        required: bool,
    },
    Input(InputDecl),
    List(ListDecl),
    Table(TableDecl),
    /// `map FIELD { … }` (define) or `override FIELD { … }` (replace a base file's list).
    Map {
        field: Ident,
        overrides: bool,
        rules: Vec<RuleDef>,
    },
    Insert {
        after: bool,
        target: RuleRef,
        rules: Vec<RuleDef>,
    },
    Replace {
        target: RuleRef,
        rules: Vec<RuleDef>,
    },
    Remove {
        target: RuleRef,
    },
    Test(TestDecl),
    Examples(ExamplesDecl),
    /// `reports_to mgr_email -> email`: a record names its manager through `manager`; the
    /// person named is one whose value of one of `people` equals it.
    ReportsTo {
        manager: Ident,
        people: Vec<Ident>,
        span: Span,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldDecl {
    pub name: Ident,
    pub ty: FieldType,
    pub required: bool,
    /// `recommended`: not required, but worth sending (never with `required`).
    pub recommended: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FieldType {
    Enum(Vec<Str>),
    Text,
    Flag,
    Email,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InputDecl {
    pub name: Ident,
    pub sources: Vec<SourceExpr>,
    pub steps: Vec<StepCall>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SourceExpr {
    /// `@other`: another input's normalised value.
    Input(Ident),
    /// `"First name"`: a column or attribute name, any text.
    Column(Str),
    Path(PathExpr),
    /// `join(", ", "City", "Country")`: the non-blank parts joined by the separator.
    Join {
        separator: Str,
        parts: Vec<SourceExpr>,
    },
}

/// `enterprise:manager.value`, `emails[type eq "work"].value`, `urn:…:User:department`.
#[derive(Debug, Clone, PartialEq)]
pub struct PathExpr {
    /// The part before the last `:`, without it: an alias name or a full `urn:` URN.
    pub prefix: Option<String>,
    pub segments: Vec<SegmentExpr>,
    pub text: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SegmentExpr {
    pub name: String,
    pub filter: Vec<FilterTestExpr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FilterTestExpr {
    pub attribute: String,
    pub op: String,
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StepCall {
    pub name: Ident,
    pub args: Vec<StepArg>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StepArg {
    Regex(RegexLit),
    Str(Str),
    Number(Str),
    Ident(Ident),
}

impl StepArg {
    pub fn span(&self) -> Span {
        match self {
            Self::Regex(r) => r.span,
            Self::Str(s) | Self::Number(s) => s.span,
            Self::Ident(i) => i.span,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RegexLit {
    pub pattern: String,
    pub flags: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListDecl {
    pub name: Ident,
    /// `+=` adds to a list of a base file; `=` defines (or redefines) it.
    pub extends: bool,
    pub words: Vec<Str>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TableDecl {
    pub name: Ident,
    pub source: TableSource,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TableSource {
    Inline(Vec<TableEntry>),
    Csv {
        path: Str,
        key: Option<Str>,
        value: Option<Str>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct TableEntry {
    pub key: Str,
    pub value: Str,
}

/// `field.rule` (or `field.else`).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleRef {
    pub field: Ident,
    pub rule: Ident,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RuleDef {
    /// The rule's id; `else` for a final else.
    pub id: Ident,
    pub condition: Cond,
    pub output: Output,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Else(Span),
    Or(Vec<Cond>),
    And(Vec<Cond>),
    Not(Box<Cond>, Span),
    Test(Predicate),
    /// `number(title, /l(\d+)/) >= 7`
    Number {
        subject: Ident,
        regex: RegexLit,
        op: CompareOp,
        value: f64,
        span: Span,
    },
    /// `reports >= 1`: how many people name this record's person as their manager.
    Reports {
        op: CompareOp,
        value: f64,
        span: Span,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Predicate {
    pub subject: Ident,
    pub test: Test,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// Whole-word match of any term.
    HasAny(WordList),
    Matches(RegexLit),
    Equals(Str),
    NotEquals(Str),
    InTable(Ident),
    InList(WordList),
    StartsWith(WordList),
    EndsWith(WordList),
    Contains(WordList),
    /// `is before today`, `is on or after "2026-01-31"` (`None`: today).
    Date {
        op: DateOp,
        against: Option<Str>,
    },
    IsEmpty,
    IsPresent,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WordList {
    Inline(Vec<Str>),
    Named(Ident),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Unset(Span),
    /// A string literal (`"Sr. Manager"`) or a bare name (`Manager`, or an input such as `title`).
    Value {
        text: Str,
        quoted: bool,
    },
    Lookup {
        table: Ident,
        key: Ident,
    },
}

impl Output {
    pub fn span(&self) -> Span {
        match self {
            Self::Unset(span) => *span,
            Self::Value { text, .. } => text.span,
            Self::Lookup { table, key } => table.span.to(key.span),
        }
    }
}

/// An expected canonical value in a test.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    Unset(Span),
    Value(Str),
}

#[derive(Debug, Clone, PartialEq)]
pub struct TestDecl {
    pub name: Str,
    pub given: Vec<(Given, Str)>,
    pub expect: Vec<(Ident, Expected)>,
    /// `expect complete` / `expect missing FIELD, …`, with its place.
    pub rows: Vec<(ExpectedRow, Span)>,
    pub span: Span,
}

/// What a test expects of the row as a whole.
#[derive(Debug, Clone, PartialEq)]
pub enum ExpectedRow {
    /// Every required field is set.
    Complete,
    /// Exactly these required fields stay unset.
    Missing(Vec<Ident>),
}

/// The attribute a test sets: a column name or a path, as a record would hold it.
#[derive(Debug, Clone, PartialEq)]
pub struct Given {
    pub source: SourceExpr,
}

/// `examples FIELD given ATTR { "raw" -> expected … }`: one test per line.
#[derive(Debug, Clone, PartialEq)]
pub struct ExamplesDecl {
    pub field: Ident,
    pub given: Given,
    pub rows: Vec<(Str, Expected)>,
    pub span: Span,
}
