//! The CSV reader against the csv crate: fed a few bytes per read, record by record and in
//! blocks, it reads what the csv crate reads from the whole input.

use std::io::{self, Read};

use crate::input::{BadRow, BlockRecords, CsvInput, CsvRow, InputError, MAX_FIELD_BYTES};

/// Read sizes the reader is fed in: every boundary of a short input is some read's end.
const STEPS: [usize; 5] = [1, 2, 3, 7, 64];
/// Block sizes the records are cut into (the dry run's are about 190 KiB).
const BLOCKS: [usize; 3] = [1, 8, 1 << 20];

/// A reader that hands out at most `step` bytes per read, as a pipe may.
struct Slices {
    bytes: Vec<u8>,
    at: usize,
    step: usize,
}

impl Read for Slices {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let rest = self.bytes.get(self.at..).unwrap_or_default();
        let n = rest.len().min(self.step).min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.at += n;
        Ok(n)
    }
}

/// What reading a record gives: its fields, or a bad row (where, and why).
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Record(Vec<Vec<u8>>),
    Bad { at: String, message: String },
}

/// The input: any bytes, read as a CSV export (its first record the header).
///
/// The csv crate reads the whole input (the dialect of `canon dry-run`: RFC 4180, ragged
/// rows allowed) and says what each row must give: a record with the same fields, or a bad
/// row, placed at its row and line (every LF, CRLF or lone CR before it counts), for a field
/// over 1 MiB, a field that is not UTF-8, or another number of cells than the header's.
/// The reader, fed 1, 2, 3, 7 and 64 bytes per read, reading records one by one and in
/// blocks of 1 byte, 8 bytes and 1 MiB, gives exactly that.
pub fn csv_reader(data: &[u8]) {
    let Some((header, expected)) = expected(data) else {
        for step in STEPS {
            match open(data, step) {
                Err(InputError::NoHeader { .. } | InputError::BadHeader { .. }) => {}
                Err(error) => panic!("reads of {step}: {error}, but the csv crate found no header or a header that is not text"),
                Ok(input) => panic!(
                    "reads of {step}: header {:?}, but the csv crate found no header or a header that is not text",
                    input.header()
                ),
            }
        }
        return;
    };
    for step in STEPS {
        let what = format!("{:?} in reads of {step}", String::from_utf8_lossy(data));
        let mut input = open(data, step).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(input.header(), header, "{what}: the header");
        let mut row = CsvRow::default();
        let mut got = Vec::new();
        loop {
            match input.read(&mut row) {
                Ok(true) => got.push(Outcome::Record(row.iter().map(<[u8]>::to_vec).collect())),
                Ok(false) => break,
                Err(bad) => got.push(bad_outcome(bad)),
            }
            assert!(
                got.len() <= expected.len(),
                "{what}: more rows than the csv crate reads: {got:?}"
            );
        }
        assert_eq!(got, expected, "{what}, record by record");

        for size in BLOCKS {
            let input = open(data, step).unwrap_or_else(|e| panic!("{what}: {e}"));
            let first_line = input.first_line();
            let Ok(mut blocks) = input.into_blocks() else {
                panic!("{what}: no record was read, yet the input is not in blocks");
            };
            let (mut block, mut reader, mut got) =
                (Vec::new(), BlockRecords::default(), Vec::new());
            let (mut rows, mut lines) = (0, 0);
            while blocks
                .next_block(size, &mut block)
                .unwrap_or_else(|e| panic!("{what}: {e}"))
            {
                reader.start(&mut block, Some(header.len()));
                loop {
                    match reader.read(&mut row) {
                        Ok(true) => {
                            got.push(Outcome::Record(row.iter().map(<[u8]>::to_vec).collect()))
                        }
                        Ok(false) => break,
                        Err(bad) => got.push(bad_outcome(BadRow::from_block(
                            "-",
                            bad,
                            rows,
                            first_line + lines,
                        ))),
                    }
                    assert!(
                        got.len() <= expected.len(),
                        "{what}: more rows than the csv crate reads: {got:?}"
                    );
                }
                rows += reader.rows;
                lines += reader.lines;
                reader.finish(&mut block);
            }
            assert_eq!(got, expected, "{what}, in blocks of {size}");
        }
    }
}

fn open(data: &[u8], step: usize) -> Result<CsvInput, InputError> {
    let read = Slices {
        bytes: data.to_vec(),
        at: 0,
        step,
    };
    CsvInput::from_reader("-", Box::new(read))
}

fn bad_outcome(bad: BadRow) -> Outcome {
    Outcome::Bad {
        at: bad.at,
        message: bad.message,
    }
}

/// The header and what each record after it must give, as the csv crate reads `data`;
/// `None` when it has no header, or one that is not text.
fn expected(data: &[u8]) -> Option<(Vec<String>, Vec<Outcome>)> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .from_reader(data);
    let mut records = Vec::new();
    let mut record = csv::ByteRecord::new();
    while reader
        .read_byte_record(&mut record)
        .expect("the csv crate reads bytes")
    {
        let start = record.position().map_or(0, |p| p.byte() as usize);
        records.push((record.iter().map(<[u8]>::to_vec).collect::<Vec<_>>(), start));
    }
    let mut records = records.into_iter();
    let (header, _) = records.next()?;
    let header: Vec<String> = header
        .iter()
        .map(|h| std::str::from_utf8(h).ok().map(str::to_string))
        .collect::<Option<_>>()?;
    let header: Vec<String> = header
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
        .collect();
    let outcomes = records
        .enumerate()
        .map(|(n, (fields, start))| {
            let at = format!(
                "row {} (line {})",
                n + 1,
                1 + line_breaks_before(data, start)
            );
            let bad = |message: String| Outcome::Bad {
                at: at.clone(),
                message,
            };
            if let Some(long) = fields.iter().position(|f| f.len() > MAX_FIELD_BYTES) {
                return bad(format!("field {} is longer than 1 MiB", long + 1));
            }
            if let Some(field) = fields.iter().position(|f| std::str::from_utf8(f).is_err()) {
                return bad(format!("field {} is not valid UTF-8", field + 1));
            }
            if fields.len() != header.len() {
                return bad(format!(
                    "{} cells, but the header has {} (an unquoted comma, or a cell too few)",
                    fields.len(),
                    header.len()
                ));
            }
            Outcome::Record(fields)
        })
        .collect();
    Some((header, outcomes))
}

/// Line breaks before a record that the csv crate says starts at `start` (or at the blank
/// lines before it): every LF, and every CR not followed by an LF.
fn line_breaks_before(data: &[u8], start: usize) -> usize {
    let mut start = start.min(data.len());
    while matches!(data.get(start), Some(b'\r' | b'\n')) {
        start += 1;
    }
    let before = &data[..start];
    before
        .iter()
        .enumerate()
        .filter(|&(at, &b)| b == b'\n' || (b == b'\r' && data.get(at + 1) != Some(&b'\n')))
        .count()
}
