//! How a value read from a record compares with a rule's constant: a number
//! (`number(t, /l(\d+)/) >= 7`) or a date (`term is before today`).

/// A numeric comparison, written `<`, `<=`, `>`, `>=`, `==` or `!=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl CompareOp {
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Eq => "==",
            Self::Ne => "!=",
        }
    }

    pub fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Self::Lt => left < right,
            Self::Le => left <= right,
            Self::Gt => left > right,
            Self::Ge => left >= right,
            Self::Eq => left == right,
            Self::Ne => left != right,
        }
    }
}

/// How a date compares with another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateOp {
    Before,
    After,
    OnOrBefore,
    OnOrAfter,
}

impl DateOp {
    pub fn words(self) -> &'static str {
        match self {
            Self::Before => "before",
            Self::After => "after",
            Self::OnOrBefore => "on or before",
            Self::OnOrAfter => "on or after",
        }
    }

    /// Whether `date` stands so to `against`.
    pub fn holds<T: Ord>(self, date: T, against: T) -> bool {
        match self {
            Self::Before => date < against,
            Self::After => date > against,
            Self::OnOrBefore => date <= against,
            Self::OnOrAfter => date >= against,
        }
    }
}
