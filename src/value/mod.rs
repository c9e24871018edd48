//! The record model: what the engine reads from.
//!
//! A record is anything that can answer "what is the value at this attribute path?": a SCIM
//! user as JSON ([`JsonRecord`]), a CSV row bound to its header ([`ColumnRecord`]), or a plain
//! map of names to strings ([`FlatRecord`], used by tests and `canon explain --set`). Attribute
//! names compare case-insensitively everywhere (RFC 7643 §2.1).

mod compare;
mod json;
mod path;
mod text;

pub use compare::{CompareOp, DateOp};
pub use json::JsonRecord;
pub use path::{AttrPath, FilterOp, FilterTest, PathFilter, PathSegment, SourceId};
pub use text::{is_blank, is_blank_bytes, is_email};

use std::borrow::Cow;
use std::collections::HashMap;

/// An input of a compiled program, by position: what a record bound to a program's columns
/// is asked for ([`Record::first_bound`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InputId(pub usize);

/// A source of raw attribute values.
pub trait Record {
    /// The raw value at `path`, if the record has one. Strings are returned as sent; numbers
    /// and booleans in their JSON spelling. Objects and absent attributes give `None`.
    fn get(&self, path: &AttrPath) -> Option<Cow<'_, str>>;

    /// For a record bound to a program's columns: the first non-blank value among the
    /// sources of `input` (with the source's index), without asking for each path in turn.
    /// `None` when the record cannot tell; the engine then reads the sources one by one.
    fn first_bound(&self, input: InputId) -> Option<Option<(usize, Cow<'_, str>)>> {
        let _ = input;
        None
    }

    /// [`Record::first_bound`] as bytes, for a record that can give them without checking
    /// them as text again (a CSV row): what the bulk evaluator's cache keys hash.
    fn first_bound_bytes(&self, input: InputId) -> Option<Option<(usize, &[u8])>> {
        let _ = input;
        None
    }
}

impl<R: Record + ?Sized> Record for &R {
    fn get(&self, path: &AttrPath) -> Option<Cow<'_, str>> {
        (**self).get(path)
    }

    fn first_bound(&self, input: InputId) -> Option<Option<(usize, Cow<'_, str>)>> {
        (**self).first_bound(input)
    }

    fn first_bound_bytes(&self, input: InputId) -> Option<Option<(usize, &[u8])>> {
        (**self).first_bound_bytes(input)
    }
}

/// A record of named string values, keyed case-insensitively: a CSV row turned into a map, or
/// the `--set NAME=VALUE` pairs of `canon explain`. Dotted and URN-qualified paths are looked up
/// by their full spelling, as a flat export would name the column.
#[derive(Debug, Clone, Default)]
pub struct FlatRecord {
    values: HashMap<String, String>,
}

impl FlatRecord {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` (case-insensitive) to `value`, replacing an earlier value of the same name.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.values.insert(name.to_lowercase(), value.into());
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut record = Self::new();
        for (name, value) in pairs {
            record.set(name, value);
        }
        record
    }
}

impl Record for FlatRecord {
    fn get(&self, path: &AttrPath) -> Option<Cow<'_, str>> {
        self.values
            .get(path.flat_key())
            .map(|value| Cow::Borrowed(value.as_str()))
    }
}

/// Which column of a CSV header holds each source path of a program: computed once per header
/// by [`crate::Program::bind_columns`], so that reading a row costs one index per source.
#[derive(Debug, Clone)]
pub struct ColumnBinding {
    pub(crate) columns: Vec<Option<usize>>,
    /// Per input of the program: (source index, column) of each source the header has, in
    /// source order; `None` for an input with `@input` sources (read one by one).
    inputs: Vec<Option<Vec<(usize, usize)>>>,
}

impl ColumnBinding {
    /// Binds every source path (indexed by [`SourceId`]) to the first header column whose name
    /// equals the path's flat key, case-insensitively.
    pub fn new<'h>(paths: &[AttrPath], header: impl IntoIterator<Item = &'h str>) -> Self {
        let mut by_name: HashMap<String, usize> = HashMap::new();
        for (index, name) in header.into_iter().enumerate() {
            by_name.entry(column_key(name)).or_insert(index);
        }
        let columns = paths
            .iter()
            .map(|path| by_name.get(path.flat_key()).copied())
            .collect();
        Self {
            columns,
            inputs: Vec::new(),
        }
    }

    /// Also binds each input to the columns of its sources: one item per input, listing its
    /// sources in order, each a path or `None` for an `@input` source (read one by one).
    pub(crate) fn with_inputs<I, S>(mut self, inputs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: IntoIterator<Item = Option<SourceId>>,
    {
        self.inputs = inputs
            .into_iter()
            .map(|sources| {
                sources
                    .into_iter()
                    .enumerate()
                    .map(|(index, source)| {
                        source.map(|id| {
                            self.columns
                                .get(id.0)
                                .copied()
                                .flatten()
                                .map(|c| (index, c))
                        })
                    })
                    .collect::<Option<Vec<_>>>()
                    .map(|bound| bound.into_iter().flatten().collect())
            })
            .collect();
        self
    }

    /// The column bound to `path`, if the header has one.
    pub fn column(&self, path: &AttrPath) -> Option<usize> {
        self.columns.get(path.id().0).copied().flatten()
    }
}

/// A header name as a column is bound by: no byte-order mark, trimmed, lower case (attribute
/// names compare case-insensitively).
pub fn column_key(name: &str) -> String {
    name.trim_start_matches('\u{feff}').trim().to_lowercase()
}

/// One CSV row read through a [`ColumnBinding`].
pub struct ColumnRecord<'a, F: AsRef<str>> {
    binding: &'a ColumnBinding,
    fields: &'a [F],
}

impl<'a, F: AsRef<str>> ColumnRecord<'a, F> {
    pub fn new(binding: &'a ColumnBinding, fields: &'a [F]) -> Self {
        Self { binding, fields }
    }
}

impl<F: AsRef<str>> Record for ColumnRecord<'_, F> {
    fn get(&self, path: &AttrPath) -> Option<Cow<'_, str>> {
        let column = self.binding.column(path)?;
        self.fields
            .get(column)
            .map(|field| Cow::Borrowed(field.as_ref()))
    }
}

/// A CSV record's fields by column: a `csv::ByteRecord`, or a row read from a block (the
/// CSV reader implements it for its rows).
pub trait CsvFields {
    fn field(&self, column: usize) -> Option<&[u8]>;

    /// A field as text (`None` when it is not).
    fn text(&self, column: usize) -> Option<&str> {
        std::str::from_utf8(self.field(column)?).ok()
    }

    /// A field's bytes when they are text, checked the cheap way: ASCII at once, anything
    /// else with the SIMD check (std's goes character by character through Japanese, Korean
    /// or accented names and titles; the text checks of cache keys were 4% of a dry run).
    fn text_bytes(&self, column: usize) -> Option<&[u8]> {
        let bytes = self.field(column)?;
        (bytes.is_ascii() || simdutf8::basic::from_utf8(bytes).is_ok()).then_some(bytes)
    }
}

impl CsvFields for csv::ByteRecord {
    fn field(&self, column: usize) -> Option<&[u8]> {
        self.get(column)
    }
}

/// A CSV row bound to its header. A field that is not valid UTF-8 reads as absent (the CSV
/// reader reports such rows before they get here).
pub struct CsvRecord<'a, R: CsvFields = csv::ByteRecord> {
    binding: &'a ColumnBinding,
    row: &'a R,
}

impl<'a> CsvRecord<'a> {
    pub fn new(binding: &'a ColumnBinding, row: &'a csv::StringRecord) -> Self {
        Self::from_bytes(binding, row.as_byte_record())
    }
}

impl<'a, R: CsvFields> CsvRecord<'a, R> {
    /// A row read as bytes: fields are checked as they are read, not all of them up front.
    pub fn from_bytes(binding: &'a ColumnBinding, row: &'a R) -> Self {
        Self { binding, row }
    }

    fn text(&self, column: usize) -> Option<&'a str> {
        self.row.text(column)
    }

    fn text_bytes(&self, column: usize) -> Option<&'a [u8]> {
        self.row.text_bytes(column)
    }
}

impl<R: CsvFields> Record for CsvRecord<'_, R> {
    fn get(&self, path: &AttrPath) -> Option<Cow<'_, str>> {
        let column = self.binding.column(path)?;
        self.text(column).map(Cow::Borrowed)
    }

    fn first_bound(&self, input: InputId) -> Option<Option<(usize, Cow<'_, str>)>> {
        let bound = self.binding.inputs.get(input.0)?.as_ref()?;
        Some(bound.iter().find_map(|&(source, column)| {
            let value = self.text(column)?;
            (!is_blank(value)).then_some((source, Cow::Borrowed(value)))
        }))
    }

    fn first_bound_bytes(&self, input: InputId) -> Option<Option<(usize, &[u8])>> {
        let bound = self.binding.inputs.get(input.0)?.as_ref()?;
        Some(bound.iter().find_map(|&(source, column)| {
            let value = self.text_bytes(column)?;
            (!is_blank_bytes(value)).then_some((source, value))
        }))
    }
}
