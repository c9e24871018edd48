//! Stable diagnostic codes. Never renumber: people search for them. `docs/errors.md` lists
//! them all; a test keeps that page and this table in step.

macro_rules! codes {
    ($($variant:ident = $code:literal: $summary:literal,)*) => {
        /// A stable diagnostic code (`E0102`, `W0001`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code { $($variant,)* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }

            /// One line on what the code means.
            pub fn summary(self) -> &'static str {
                match self { $(Code::$variant => $summary,)* }
            }
        }
    };
}

codes! {
    Syntax = "E0001": "the file does not follow the rules grammar",
    Io = "E0002": "a file could not be read (rule file, `extends` target or table CSV)",
    TooDeep = "E0003": "conditions nest deeper than the limit",
    BadLiteral = "E0004": "a string, regex or number literal is malformed",
    UnknownField = "E0100": "a name is used as a canonical field but no `field` declares it",
    DuplicateField = "E0101": "a canonical field is declared twice",
    UnknownInput = "E0102": "a condition, output or `@input` names an input that is not declared",
    DuplicateName = "E0103": "an input, list, table or alias is defined twice in one file",
    UnknownList = "E0104": "a word list or table is used but not defined",
    UnknownRule = "E0105": "`insert`, `replace` or `remove` names a rule that does not exist",
    DuplicateRule = "E0106": "two rules of one field have the same id",
    NotAllowed = "E0107": "an output is not one of the field's allowed values",
    BadRegex = "E0108": "a regular expression does not compile or uses an unknown flag",
    DuplicateKey = "E0109": "two table keys are equal once normalised",
    BadStep = "E0110": "an unknown normalisation step, or wrong arguments to one",
    UnknownAttribute = "E0111": "a SCIM attribute path names no attribute of its schema",
    ExtendsCycle = "E0112": "files extend each other in a cycle",
    AlreadyMapped = "E0113": "`map` for a field whose list a base file already defines",
    Unreachable = "E0114": "a rule follows the final `else` of its list",
    UnknownAlias = "E0115": "a path prefix is neither a known alias nor a `urn:` URN",
    InputCycle = "E0116": "inputs read each other (`@a` reads `@b` reads `@a`)",
    BadTable = "E0117": "a table CSV is missing its columns or is malformed",
    BadTest = "E0118": "a test expects a field or value that cannot exist",
    NotMapped = "E0119": "`override` or an insertion targets a field that has no rule list",
    NoReportsTo = "E0120": "`reports` is tested but no `reports_to` says how a record names its manager",
    BadReports = "E0121": "`reports` or `reports_to` is used where it cannot work",
    BadCompare = "E0122": "an input is compared with a number (only `reports` and `number(…)` count)",
    ShadowedRule = "W0001": "a rule can never fire: an earlier rule always matches first",
    Unused = "W0002": "a table, list or input is defined but never used",
    IdleTest = "W0003": "a test exercises no rule",
    RequiredUnmapped = "W0004": "a required field has no rule list, so it is always missing",
    TestFailed = "T0001": "a test in a rule file failed",
}
