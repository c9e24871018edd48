//! A worker: turns a batch of rows (parsed records, JSON users, or a block of CSV bytes it
//! parses itself) into output bytes, counting coverage in its evaluator.

use std::sync::Arc;

use super::{status_text, OutFormat};
use crate::eval::OrgIndex;
use crate::eval::Row;
use crate::input::{BlockBadRow, BlockRecords, CsvRow};
use crate::report::{Coverage, OrgSeen};
use crate::{ColumnBinding, CsvRecord, JsonRecord, Program};

/// A batch of input as the reader hands it to a worker.
pub(super) enum Rows {
    Csv {
        binding: Arc<ColumnBinding>,
        keys: Arc<Vec<Option<usize>>>,
        rows: Vec<CsvRow>,
        len: usize,
    },
    Json {
        keys: Arc<Vec<String>>,
        rows: Vec<serde_json::Value>,
    },
    /// Whole CSV records of input number `input`, whose header has `width` cells, not parsed
    /// yet; `failed`: reading the input failed after them (the error ends it).
    Block {
        binding: Arc<ColumnBinding>,
        keys: Arc<Vec<Option<usize>>>,
        input: usize,
        width: usize,
        bytes: Vec<u8>,
        failed: Option<String>,
    },
}

impl Rows {
    /// The rows in the batch, when the reader knows (it does not count a block's).
    pub(super) fn len(&self) -> Option<usize> {
        match self {
            Rows::Csv { len, .. } => Some(*len),
            Rows::Json { rows, .. } => Some(rows.len()),
            Rows::Block { .. } => None,
        }
    }
}

/// What a worker read in a block: its rows and lines, and the rows it could not use
/// (placed in the input by the writer, which sees the blocks in order).
#[derive(Debug, Default)]
pub(super) struct BlockRead {
    pub(super) input: usize,
    pub(super) rows: u64,
    pub(super) lines: u64,
    pub(super) bad: Vec<BlockBadRow>,
    pub(super) failed: Option<String>,
}

/// One worker's state: an evaluator that counts coverage, a reusable CSV writer.
pub(super) struct Worker<'p> {
    ev: crate::Evaluator<'p, Coverage>,
    format: OutFormat,
    columns: Arc<Vec<String>>,
    /// How many canonical fields a row has (JSON writes unset ones as null).
    nfields: usize,
    cells: Vec<String>,
    /// Writes CSV output rows.
    csv: CsvRows,
    /// The row being read from a block, reused.
    parsed: CsvRow,
    /// The reader of blocks, reused.
    blocks: Option<BlockRecords>,
    /// The first pass's index, where the rules declare `reports_to`.
    population: Option<&'p OrgIndex>,
}

/// Writes CSV records straight into a batch's bytes, quoted where the csv crate's writer
/// quotes a field (a comma, quote or line break in it). The csv crate's writer, record by
/// record, copied each field twice: into a record, then into its own buffer.
pub(super) struct CsvRows;

/// Whether the csv crate's writer (csv-core's `Necessary` style) quotes `cell`: 16 bytes
/// compared at once (csv-core looks each byte up in a table, 7% of a one-worker run).
fn needs_quotes(cell: &[u8]) -> bool {
    use wide::u8x16;
    let special = |lanes: [u8; 16]| {
        let bytes = u8x16::new(lanes);
        (bytes.simd_eq(u8x16::splat(b','))
            | bytes.simd_eq(u8x16::splat(b'"'))
            | bytes.simd_eq(u8x16::splat(b'\n'))
            | bytes.simd_eq(u8x16::splat(b'\r')))
        .any()
    };
    let mut rest = cell;
    while let Some((chunk, tail)) = rest.split_first_chunk::<16>() {
        if special(*chunk) {
            return true;
        }
        rest = tail;
    }
    // The last bytes, padded with zeros (not special).
    let mut last = [0u8; 16];
    last[..rest.len()].copy_from_slice(rest);
    special(last)
}

impl CsvRows {
    /// Writes one record: `cells`, then `last` (a record always has at least that field, so
    /// no record is empty, which CSV writers write as `""`).
    fn record<'c>(&self, out: &mut Vec<u8>, cells: impl Iterator<Item = &'c [u8]>, last: &[u8]) {
        for cell in cells {
            self.field(out, cell);
            out.push(b',');
        }
        self.field(out, last);
        out.push(b'\n');
    }

    fn field(&self, out: &mut Vec<u8>, cell: &[u8]) {
        if !needs_quotes(cell) {
            out.extend_from_slice(cell);
            return;
        }
        out.push(b'"');
        for part in cell.split_inclusive(|&b| b == b'"') {
            out.extend_from_slice(part);
            if part.ends_with(b"\"") {
                out.push(b'"');
            }
        }
        out.push(b'"');
    }
}

impl<'p> Worker<'p> {
    /// One of `workers` workers of a run (each keeps that share of the caches).
    pub(super) fn new(
        program: &'p Program,
        format: OutFormat,
        columns: Arc<Vec<String>>,
        workers: usize,
        today: chrono::NaiveDate,
        population: Option<&'p OrgIndex>,
    ) -> Self {
        let mut coverage = Coverage::new(program);
        let mut ev = crate::Evaluator::counting_one_of(program, Coverage::new(program), workers);
        if let Some(index) = population {
            coverage.org = Some(OrgSeen::new(index.len()));
            ev = crate::Evaluator::counting_one_of(program, coverage, workers)
                .among(index)
                .noting_org();
        }
        Self {
            ev: ev.on(today),
            population,
            format,
            columns,
            nfields: program.fields.len(),
            cells: Vec::new(),
            csv: CsvRows,
            parsed: CsvRow::default(),
            blocks: None,
        }
    }

    /// Turns a batch into output bytes (in `out`, reused); for a block, also says what was
    /// read in it. `counts`: its records' counts of reports, in order, where the first pass
    /// counted them (a record past them is counted as it is mapped).
    pub(super) fn process(
        &mut self,
        rows: &mut Rows,
        mut out: Vec<u8>,
        counts: &[u64],
    ) -> (Vec<u8>, Option<BlockRead>) {
        out.clear();
        let mut read = None;
        let mut counts = counts.iter().copied();
        match rows {
            Rows::Csv {
                binding,
                keys,
                rows,
                len,
            } => {
                for row in &rows[..*len] {
                    self.csv_row(binding, keys, row, counts.next(), &mut out);
                }
            }
            Rows::Block {
                binding,
                keys,
                input,
                width,
                bytes,
                failed,
            } => {
                // Lent out while the rows are evaluated (a `take` of the reader itself would
                // build a new csv-core reader per block).
                let mut records = self.blocks.take().unwrap_or_default();
                let mut row = std::mem::take(&mut self.parsed);
                let mut bad = Vec::new();
                records.start(bytes, Some(*width));
                loop {
                    match records.read(&mut row) {
                        Ok(true) => self.csv_row(binding, keys, &row, counts.next(), &mut out),
                        Ok(false) => break,
                        Err(b) => bad.push(b),
                    }
                }
                records.finish(bytes);
                read = Some(BlockRead {
                    input: *input,
                    rows: records.rows,
                    lines: records.lines,
                    bad,
                    failed: failed.take(),
                });
                self.parsed = row;
                self.blocks = Some(records);
            }
            Rows::Json { keys, rows } => {
                for value in rows {
                    let found: Vec<String> = keys.iter().map(|k| json_key(value, k)).collect();
                    let record = JsonRecord::new(value);
                    let reports = counts.next();
                    let outcomes = self.ev.apply_row_counted(&record, reports);
                    Self::fill(&mut self.cells, found.iter().map(String::as_str), &outcomes);
                    self.write(&mut out);
                    if reports.is_none() {
                        self.note_org();
                    }
                }
            }
        }
        (out, read)
    }

    /// Evaluates one CSV row (its fields checked as text) and writes its output row;
    /// `reports`: its count of reports, if the first pass counted it.
    fn csv_row(
        &mut self,
        binding: &ColumnBinding,
        keys: &[Option<usize>],
        row: &CsvRow,
        reports: Option<u64>,
        out: &mut Vec<u8>,
    ) {
        self.write_csv_row(binding, keys, row, reports, out);
        if reports.is_none() {
            self.note_org();
        }
    }

    fn write_csv_row(
        &mut self,
        binding: &ColumnBinding,
        keys: &[Option<usize>],
        row: &CsvRow,
        reports: Option<u64>,
        out: &mut Vec<u8>,
    ) {
        let record = CsvRecord::from_bytes(binding, row);
        let outcomes = self.ev.apply_row_counted(&record, reports);
        if self.format == OutFormat::Csv {
            // The common case: kept columns (bytes the reader has checked as text), fields
            // and status, written straight into the batch's bytes.
            let cells = keys
                .iter()
                .map(|k| k.and_then(|i| row.get(i)).unwrap_or_default())
                .chain(outcomes.values().map(|v| v.unwrap_or("").as_bytes()));
            self.csv
                .record(out, cells, status_text(&outcomes).as_bytes());
            return;
        }
        let keep = keys
            .iter()
            .map(|k| k.and_then(|i| row.text(i)))
            .map(|cell| cell.unwrap_or(""));
        Self::fill(&mut self.cells, keep, &outcomes);
        self.write(out);
    }

    /// Notes, for the report's organisation section, which manager references name the
    /// last record's person, and whom the person names in turn.
    fn note_org(&mut self) {
        let Some(index) = self.population.filter(|index| !index.is_empty()) else {
            return;
        };
        // The references the person's keys match came with the lookup that counted their
        // reports.
        let (coverage, entry, matched) = self.ev.tally_and_org_entry();
        let (Some(seen), Some(entry)) = (&mut coverage.org, entry) else {
            return;
        };
        seen.note_matched(index, entry, matched);
    }

    /// Puts the row's cells in `cells`: kept columns, fields, status.
    fn fill<'a>(cells: &mut Vec<String>, keep: impl Iterator<Item = &'a str>, row: &Row) {
        cells.clear();
        cells.extend(keep.map(str::to_string));
        for value in row.values() {
            cells.push(value.unwrap_or("").to_string());
        }
        cells.push(status_text(row).into_owned());
    }

    /// The worker's coverage, every outcome counted.
    pub(super) fn coverage(self) -> Coverage {
        self.ev.into_tally()
    }

    /// Writes the row in `cells`.
    fn write(&self, out: &mut Vec<u8>) {
        match self.format {
            OutFormat::Csv => {
                let (status, cells) = self.cells.split_last().unzip();
                let cells = cells.unwrap_or_default().iter().map(|c| c.as_bytes());
                self.csv
                    .record(out, cells, status.map_or(&[][..], |s| s.as_bytes()));
            }
            OutFormat::Jsonl => {
                let mut map = serde_json::Map::new();
                let nkeep = self.cells.len().saturating_sub(self.nfields + 1);
                for (i, (name, cell)) in self.columns.iter().zip(&self.cells).enumerate() {
                    let is_field = i >= nkeep && i < self.cells.len() - 1;
                    let value = if is_field && cell.is_empty() {
                        serde_json::Value::Null
                    } else {
                        serde_json::Value::String(cell.clone())
                    };
                    map.insert(name.clone(), value);
                }
                let _ = serde_json::to_writer(&mut *out, &map);
                out.push(b'\n');
            }
            _ => {
                let line: Vec<String> = self
                    .cells
                    .iter()
                    .map(|c| crate::report::fit(c, crate::report::TABLE_CELL))
                    .collect();
                out.extend_from_slice(line.join(" ").trim_end().as_bytes());
                out.push(b'\n');
            }
        }
    }
}

fn json_key(value: &serde_json::Value, key: &str) -> String {
    let Some(object) = value.as_object() else {
        return String::new();
    };
    let found = object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    });
    match found {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows written straight into bytes read back, and are written, as the csv crate's
    /// writer writes them.
    #[test]
    fn csv_rows_are_written_as_the_csv_crate_writes_them() {
        let cells: [&[u8]; 11] = [
            b"plain",
            b"",
            b"a,b",
            b"say \"hi\"",
            b"\"",
            b"line\nbreak",
            b"cr\rhere",
            b" padded ",
            b"#hash",
            "Gerente de Operación 営業部長".as_bytes(),
            b"'quote'",
        ];
        let mut rows = Vec::new();
        let mut expected = csv::WriterBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_writer(Vec::new());
        for last in 0..cells.len() {
            let (record, rest) = cells.split_at(last);
            let last = rest[0];
            CsvRows.record(&mut rows, record.iter().copied(), last);
            let mut all = record.to_vec();
            all.push(last);
            expected.write_record(&all).unwrap();
        }
        assert_eq!(rows, expected.into_inner().unwrap());
    }

    /// Every byte value at every place of cells of up to 40 bytes (across the 16-byte
    /// chunks), against csv-core's own test.
    #[test]
    fn cells_are_quoted_where_csv_core_quotes_them() {
        let csv_core = csv_core::Writer::new();
        for len in 0..=40 {
            for at in 0..len {
                for byte in 0..=255u8 {
                    let mut cell = vec![b'a'; len];
                    cell[at] = byte;
                    assert_eq!(
                        needs_quotes(&cell),
                        csv_core.should_quote(&cell),
                        "{cell:?}"
                    );
                }
            }
            assert!(!needs_quotes(&vec![b'a'; len]));
        }
    }
}
