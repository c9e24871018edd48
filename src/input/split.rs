//! The records of a block (whole CSV records, see [`super::blocks`]) read exactly as the csv
//! crate reads them, for about a third of its instructions.
//!
//! csv-core reads a byte at a time through a state machine: 5,100 instructions for a generated
//! row of 358 bytes, a quarter of a whole dry run. Here each 64 bytes are classified at once
//! with SIMD compares (quotes; commas and line breaks) into bitmasks; a running XOR of the
//! quote bits tells which bytes are inside quotes, and the commas and line breaks outside them
//! cut the fields. A record is copied once, and a field is a span of it (no copy per field).
//!
//! The bitmasks alone cannot tell how csv-core reads a quote in the middle of an unquoted
//! field, text after a closing quote, or a quote left open. So a record is taken this way only
//! when every field either holds no quote or is quoted the RFC 4180 way (opened at its first
//! byte, closed at its last, `""` inside); any other record, and the rest of its block, is read
//! by csv-core itself. Either way a record reads as the csv crate reads it (the tests hold the
//! two to each other on every short text over the bytes that matter, and on long random ones).

use wide::u8x16;

use crate::value::CsvFields;

/// Bytes classified at once.
const CHUNK: usize = 64;

/// One CSV record that is text: its bytes, and where each field is in them.
///
/// A record read the fast way keeps its bytes as they were (quotes, commas and all) and each
/// field is a span of them: a quoted field's span leaves out its quotes, and a field with
/// escaped quotes (`""`) is unescaped into bytes after the record's own. A record read by
/// csv-core keeps its fields' bytes one after the other, as a `csv::ByteRecord` does.
///
/// The bytes are checked as UTF-8 once, when the record is read (a record that is not text is
/// a bad row, and holds no fields), so a field is text at no further cost: the engine asks for
/// a dozen fields of each row, and checking each as it was asked for was 4% of a dry run.
#[derive(Debug, Default, Clone)]
pub struct CsvRow {
    text: String,
    spans: Vec<(usize, usize)>,
}

impl CsvRow {
    /// The field at `index`, if the record has that many.
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        self.text(index).map(str::as_bytes)
    }

    /// The field at `index` as text.
    pub fn text(&self, index: usize) -> Option<&str> {
        let &(start, end) = self.spans.get(index)?;
        self.text.get(start..end)
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.len()).map(|index| self.get(index).unwrap_or_default())
    }

    /// Takes `bytes` (the record as [`split`] or csv-core left them) as the record's text;
    /// when they are not text, the number of the first field that is not, and the record is
    /// left with no fields. `joined`: the fields' bytes follow one another (csv-core's), so
    /// a field may end in the first half of a character whose second half starts the next
    /// (the bytes are text, the fields not). A field read the fast way is bounded by quotes,
    /// commas or the record's ends, all ASCII.
    fn check(&mut self, bytes: Vec<u8>, joined: bool) -> Result<(), usize> {
        let fields_are_text = |text: &str, spans: &[(usize, usize)]| {
            !joined
                || spans
                    .iter()
                    .all(|&(start, end)| text.is_char_boundary(start) && text.is_char_boundary(end))
        };
        match String::from_utf8(bytes) {
            Ok(text) if fields_are_text(&text, &self.spans) => {
                self.text = text;
                Ok(())
            }
            whole => {
                let mut bytes = whole.map_or_else(|e| e.into_bytes(), String::into_bytes);
                let bad = self
                    .spans
                    .iter()
                    .position(|&(start, end)| {
                        bytes
                            .get(start..end)
                            .is_none_or(|field| std::str::from_utf8(field).is_err())
                    })
                    .unwrap_or(0);
                bytes.clear();
                self.text = String::from_utf8(bytes).unwrap_or_default();
                self.spans.clear();
                Err(bad)
            }
        }
    }
}

/// A row read from a block was checked as text once, when it was read.
impl CsvFields for CsvRow {
    fn field(&self, column: usize) -> Option<&[u8]> {
        self.get(column)
    }

    fn text(&self, column: usize) -> Option<&str> {
        CsvRow::text(self, column)
    }

    fn text_bytes(&self, column: usize) -> Option<&[u8]> {
        self.get(column)
    }
}

/// Which of 64 bytes are quotes, and which are commas or line breaks (`\r`, `\n`).
#[inline]
fn classify(chunk: &[u8; CHUNK]) -> (u64, u64) {
    let (quote, comma) = (u8x16::splat(b'"'), u8x16::splat(b','));
    let (lf, cr) = (u8x16::splat(b'\n'), u8x16::splat(b'\r'));
    let mut quotes = 0u64;
    let mut breaks = 0u64;
    for (index, part) in chunk.chunks_exact(16).enumerate() {
        let mut lanes = [0u8; 16];
        lanes.copy_from_slice(part);
        let bytes = u8x16::new(lanes);
        let is_quote = bytes.simd_eq(quote).to_bitmask();
        let is_break = (bytes.simd_eq(comma) | bytes.simd_eq(lf) | bytes.simd_eq(cr)).to_bitmask();
        quotes |= u64::from(is_quote) << (16 * index);
        breaks |= u64::from(is_break) << (16 * index);
    }
    (quotes, breaks)
}

/// Bit `i` is the XOR of bits `0..=i`: with quote bits, whether byte `i` is inside quotes
/// (an opening quote counts as inside, its closing quote as outside).
#[inline]
fn prefix_xor(mut bits: u64) -> u64 {
    bits ^= bits << 1;
    bits ^= bits << 2;
    bits ^= bits << 4;
    bits ^= bits << 8;
    bits ^= bits << 16;
    bits ^= bits << 32;
    bits
}

/// A record's bytes and fields as they are read, before they are checked as text.
struct Fields<'r> {
    bytes: &'r mut Vec<u8>,
    spans: &'r mut Vec<(usize, usize)>,
}

/// Reads the record that starts at `start` (not a line break) the fast way, and returns where
/// it ends (at its line break, or the block's end); `None` when csv-core must read it.
/// `quotes` is scratch space.
fn split(block: &[u8], start: usize, row: &mut Fields, quotes: &mut Vec<usize>) -> Option<usize> {
    row.bytes.clear();
    row.spans.clear();
    quotes.clear();
    let mut field = start;
    // All ones while a quote is open at the end of the last chunk.
    let mut open = 0u64;
    let mut base = start;
    while base < block.len() {
        let rest = &block[base..];
        let (quote_bits, break_bits) = match rest.first_chunk::<CHUNK>() {
            Some(chunk) => classify(chunk),
            None => {
                // Past the block's end the chunk holds zeros, neither quotes nor breaks.
                let mut chunk = [0u8; CHUNK];
                chunk[..rest.len()].copy_from_slice(rest);
                classify(&chunk)
            }
        };
        let inside = if quote_bits == 0 {
            open
        } else {
            let mut bits = quote_bits;
            while bits != 0 {
                quotes.push(base + bits.trailing_zeros() as usize);
                bits &= bits - 1;
            }
            prefix_xor(quote_bits) ^ open
        };
        open = ((inside as i64) >> 63) as u64;
        let mut cuts = break_bits & !inside;
        while cuts != 0 {
            let at = base + cuts.trailing_zeros() as usize;
            cuts &= cuts - 1;
            row.spans.push((field - start, at - start));
            if block.get(at) == Some(&b',') {
                field = at + 1;
            } else {
                return unquote(block, start, at, row, quotes).then_some(at);
            }
        }
        base += CHUNK;
    }
    if open != 0 {
        return None; // a quote left open: csv-core reads the field to the end
    }
    row.spans.push((field - start, block.len() - start));
    unquote(block, start, block.len(), row, quotes).then_some(block.len())
}

/// Copies the record `block[start..end]` into `row` and takes the quotes out of its quoted
/// fields; `false` when a field holds a quote elsewhere than RFC 4180 puts it (csv-core must
/// read the record then). `quotes`: the positions of quotes from `start` on, in order.
fn unquote(block: &[u8], start: usize, end: usize, row: &mut Fields, quotes: &[usize]) -> bool {
    let Some(record) = block.get(start..end) else {
        return false;
    };
    row.bytes.extend_from_slice(record);
    let mut quotes = quotes
        .iter()
        .map(|&at| at - start)
        .take_while(|&at| at < record.len())
        .peekable();
    if quotes.peek().is_none() {
        return true;
    }
    for span in row.spans.iter_mut() {
        let (first, end) = *span;
        if quotes.peek().is_none_or(|&at| at >= end) {
            continue; // no quote in this field
        }
        // Quoted: opened at the first byte and closed at the last, with only `""` between.
        if quotes.next() != Some(first) {
            return false;
        }
        let mut escaped = Vec::new();
        loop {
            match quotes.next() {
                Some(at) if at + 1 == end => break,
                Some(at) if quotes.next() == Some(at + 1) && at + 2 < end => escaped.push(at),
                _ => return false,
            }
        }
        if escaped.is_empty() {
            *span = (first + 1, end - 1);
            continue;
        }
        // `a""b` → `a"b`: each escape's first quote is kept, its second left out.
        let unescaped = row.bytes.len();
        let mut from = first + 1;
        for at in escaped {
            row.bytes.extend_from_within(from..at + 1);
            from = at + 2;
        }
        row.bytes.extend_from_within(from..end - 1);
        *span = (unescaped, row.bytes.len());
    }
    true
}

/// Reads the records of the blocks of a [`super::CsvBlocks`] one block at a time, and checks
/// them as [`super::CsvInput::read`] does, with rows and lines counted from the block's start.
pub struct BlockRecords {
    block: Vec<u8>,
    /// Where the next record starts, or blank lines before it.
    at: usize,
    /// Where line breaks have been counted to.
    counted: usize,
    /// Set once a record of the block needed csv-core: it reads the rest of the block. The
    /// bitmasks of a record csv-core must read may have been computed to the block's end, so
    /// a block of such records would otherwise cost that scan per record.
    careful: bool,
    core: csv_core::Reader,
    /// csv-core's output: the fields' bytes and ends.
    fields: Vec<u8>,
    ends: Vec<usize>,
    quotes: Vec<usize>,
    /// The header's cells: a record with another number of cells is a bad row (an unquoted
    /// comma in `Diaz, Ana` shifts every later column). `None` reads records of any width.
    width: Option<usize>,
    /// Records read in the block so far.
    pub rows: u64,
    /// Line breaks before the last record read, or in the whole block once it is read.
    pub lines: u64,
}

/// A record of a block that cannot be used: its row in the block (from 1), the line it
/// starts on (from 0), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockBadRow {
    pub row: u64,
    pub line: u64,
    pub message: String,
}

impl Default for BlockRecords {
    fn default() -> Self {
        Self {
            block: Vec::new(),
            at: 0,
            counted: 0,
            careful: false,
            // csv-core's defaults are the dialect's (`super::dialect`): comma, double quote,
            // `""` escapes, CR, LF or CRLF line ends. Ragged rows are the csv crate's own
            // check, which the dialect turns off.
            core: csv_core::Reader::new(),
            fields: vec![0; 1024],
            ends: vec![0; 64],
            quotes: Vec::new(),
            width: None,
            rows: 0,
            lines: 0,
        }
    }
}

impl BlockRecords {
    /// Starts on `block` (its bytes are taken until [`BlockRecords::finish`]), whose records
    /// must have `width` cells when it is given (the header's).
    pub fn start(&mut self, block: &mut Vec<u8>, width: Option<usize>) {
        self.block = std::mem::take(block);
        self.width = width;
        self.at = 0;
        self.counted = 0;
        self.careful = false;
        self.rows = 0;
        self.lines = 0;
    }

    /// Counts the line breaks up to `end` (a record's start, or the block's end): a record
    /// starts on the line after every line break before it, quoted or not, in blank lines
    /// or ending records. A line break is LF, CRLF or a lone CR.
    fn count_lines_to(&mut self, end: usize) {
        let from = self.counted.min(end);
        self.lines += super::line_breaks(self.block.get(from..).unwrap_or_default(), end - from);
        self.counted = end;
    }

    /// Gives the block's bytes back.
    pub fn finish(&mut self, block: &mut Vec<u8>) {
        *block = std::mem::take(&mut self.block);
    }

    /// Reads the next record: `Ok(false)` at the block's end, `Err` for a record that cannot
    /// be used (the next call goes on after it).
    pub fn read(&mut self, row: &mut CsvRow) -> Result<bool, BlockBadRow> {
        // Blank lines (and the LF of a CRLF) end no record, as csv-core skips them.
        while matches!(self.block.get(self.at), Some(b'\n' | b'\r')) {
            self.at += 1;
        }
        self.count_lines_to(self.at);
        if self.at >= self.block.len() {
            return Ok(false);
        }
        let line = self.lines;
        let mut bytes = std::mem::take(&mut row.text).into_bytes();
        let mut fields = Fields {
            bytes: &mut bytes,
            spans: &mut row.spans,
        };
        let fast = if self.careful {
            None
        } else {
            split(&self.block, self.at, &mut fields, &mut self.quotes)
        };
        self.at = match fast {
            Some(end) => end,
            None => {
                self.careful = true;
                self.read_by_csv_core(&mut fields)
            }
        };
        let joined = fast.is_none();
        self.rows += 1;
        let bad = |message: String| BlockBadRow {
            row: self.rows,
            line,
            message,
        };
        // No field of a record this short can be too long: one compare per record.
        if bytes.len() > super::MAX_FIELD_BYTES {
            let long = row
                .spans
                .iter()
                .position(|&(start, end)| end - start > super::MAX_FIELD_BYTES);
            if let Some(field) = long {
                row.spans.clear();
                row.text = String::new();
                return Err(bad(format!("field {} is longer than 1 MiB", field + 1)));
            }
        }
        row.check(bytes, joined)
            .map_err(|field| bad(format!("field {} is not valid UTF-8", field + 1)))?;
        match self.width {
            Some(width) if row.len() != width => Err(bad(format!(
                "{} cells, but the header has {width} (an unquoted comma, or a cell too few)",
                row.len()
            ))),
            _ => Ok(true),
        }
    }

    /// Reads the record at `self.at` with csv-core into `row`; returns where it ends.
    fn read_by_csv_core(&mut self, row: &mut Fields) -> usize {
        let input = self.block.get(self.at..).unwrap_or_default();
        self.core.reset();
        if input.starts_with(super::blocks::BOM) {
            // A fresh csv-core reader skips a byte-order mark at its start, as at a file's
            // start; a blank line first (which it skips) keeps the mark in the field, as
            // reading the whole file does.
            let _ = self.core.read_record(b"\n", &mut [], &mut []);
        }
        let (mut read, mut written, mut ended) = (0, 0, 0);
        loop {
            // Empty input tells csv-core the input has ended.
            let (result, nin, nout, nend) = self.core.read_record(
                input.get(read..).unwrap_or_default(),
                self.fields.get_mut(written..).unwrap_or_default(),
                self.ends.get_mut(ended..).unwrap_or_default(),
            );
            read += nin;
            written += nout;
            ended += nend;
            match result {
                csv_core::ReadRecordResult::InputEmpty => {}
                csv_core::ReadRecordResult::OutputFull => {
                    self.fields.resize(self.fields.len() * 2, 0);
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    self.ends.resize(self.ends.len() * 2, 0);
                }
                csv_core::ReadRecordResult::Record | csv_core::ReadRecordResult::End => break,
            }
        }
        row.bytes.clear();
        row.bytes
            .extend_from_slice(self.fields.get(..written).unwrap_or_default());
        row.spans.clear();
        let mut from = 0;
        for &end in self.ends.get(..ended).unwrap_or_default() {
            row.spans.push((from, end));
            from = end;
        }
        self.at + read
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a record that is not text reads as, here.
    fn not_text() -> Vec<Vec<u8>> {
        vec![b"(not text)".to_vec()]
    }

    /// The records of `text` as the csv crate reads them.
    fn by_csv_crate(text: &[u8]) -> Vec<Vec<Vec<u8>>> {
        super::super::blocks::block_reader(text)
            .byte_records()
            .map(|r| {
                let record = r.unwrap();
                match record.iter().all(|f| std::str::from_utf8(f).is_ok()) {
                    true => record.iter().map(<[u8]>::to_vec).collect(),
                    false => not_text(),
                }
            })
            .collect()
    }

    /// The records of `text` read as one block by `records`, and whether csv-core was needed.
    fn read_block(records: &mut BlockRecords, text: &[u8]) -> (Vec<Vec<Vec<u8>>>, bool) {
        let mut block = text.to_vec();
        records.start(&mut block, None);
        let mut row = CsvRow::default();
        let mut found = Vec::new();
        loop {
            match records.read(&mut row) {
                Ok(true) => found.push(row.iter().map(<[u8]>::to_vec).collect()),
                Ok(false) => break,
                Err(_) => found.push(not_text()),
            }
        }
        (found, records.careful)
    }

    fn by_blocks(text: &[u8]) -> (Vec<Vec<Vec<u8>>>, bool) {
        read_block(&mut BlockRecords::default(), text)
    }

    /// Whether `records` read `text` as the csv crate does (it panics if not), and needed
    /// csv-core to.
    fn agrees(records: &mut BlockRecords, text: &[u8]) -> bool {
        let (found, careful) = read_block(records, text);
        assert_eq!(
            found,
            by_csv_crate(text),
            "{:?} (csv-core needed: {careful})",
            String::from_utf8_lossy(text)
        );
        careful
    }

    fn agree(text: &[u8]) -> bool {
        agrees(&mut BlockRecords::default(), text)
    }

    #[test]
    fn every_short_text_reads_as_the_csv_crate_reads_it() {
        const BYTES: &[u8] = b"a,\"\r\n ";
        let mut fast = 0;
        let mut text = Vec::new();
        let mut records = BlockRecords::default();
        for len in 0..=7u32 {
            for mut n in 0..BYTES.len().pow(len) {
                text.clear();
                for _ in 0..len {
                    text.push(BYTES[n % BYTES.len()]);
                    n /= BYTES.len();
                }
                fast += usize::from(!agrees(&mut records, &text));
            }
        }
        // Most texts are read the fast way (the others are quoted the way only csv-core reads).
        assert!(fast > 100_000, "{fast}");
    }

    /// A deterministic stream of numbers (xorshift), for random records.
    struct Numbers(u64);

    impl Numbers {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    #[test]
    fn long_records_read_as_the_csv_crate_reads_them() {
        let mut numbers = Numbers(0x9E37_79B9_7F4A_7C15);
        let pieces: [&[u8]; 10] = [
            b"Manager",
            b"\"Smith, Ana\"",
            b"\"say \"\"hi\"\"\"",
            b"\"two\nlines\"",
            b"",
            b"\xE3\x83\x9E\xE3\x83\x8D",
            b"\"\"",
            b"x\"y",
            b"\"a\"b",
            // Half a character: the record is not text.
            b"\xE3\x83",
        ];
        let breaks: [&[u8]; 4] = [b"\n", b"\r\n", b"\r", b"\n\n"];
        for round in 0..400 {
            let mut text = Vec::new();
            // A byte-order mark that starts a block stays in its first field.
            if round % 7 == 0 {
                text.extend_from_slice(b"\xEF\xBB\xBF");
            }
            for _ in 0..numbers.below(6) + 1 {
                for field in 0..numbers.below(40) + 1 {
                    if field > 0 {
                        text.push(b',');
                    }
                    // Rounds of well-quoted fields only, rounds with stray quotes too, and
                    // rounds with some records that are not text.
                    let kinds = [7, 9, 7, 10][round % 4];
                    let piece = pieces[numbers.below(kinds) as usize];
                    text.extend_from_slice(piece);
                }
                text.extend_from_slice(breaks[numbers.below(4) as usize]);
            }
            if round % 5 == 0 {
                text.pop(); // no line break at the end
            }
            agree(&text);
        }
    }

    #[test]
    fn a_quote_left_open_reads_to_the_end_of_the_block() {
        assert!(agree(b"1,ok\n2,\"open,\nstill open\n"));
        assert!(!agree(b"1,\"closed\"\n2,\"\"\"\"\n"));
    }

    #[test]
    fn escaped_quotes_are_unescaped_in_place_of_the_field() {
        let (found, careful) = by_blocks(b"id,\"a \"\"b\"\" c\",\"\"\"\"\n");
        assert!(!careful);
        assert_eq!(
            found,
            [vec![b"id".to_vec(), b"a \"b\" c".to_vec(), b"\"".to_vec()]]
        );
    }

    #[test]
    fn a_byte_order_mark_that_starts_a_block_stays_in_its_first_field() {
        // Read the fast way, and by csv-core (a stray quote sends the record to it).
        for (text, needs_csv_core) in [
            (&b"\xEF\xBB\xBFa,b\n"[..], false),
            (&b"\xEF\xBB\xBFa\"x,b\n"[..], true),
        ] {
            let (found, careful) = by_blocks(text);
            assert_eq!(careful, needs_csv_core);
            assert_eq!(
                found[0][0],
                b"\xEF\xBB\xBFa"[..]
                    .iter()
                    .chain(if needs_csv_core {
                        &b"\"x"[..]
                    } else {
                        &b""[..]
                    })
                    .copied()
                    .collect::<Vec<u8>>()
            );
            agree(text);
        }
    }

    #[test]
    fn bad_rows_and_lines_are_counted_from_the_block_start() {
        let mut records = BlockRecords::default();
        let mut block = b"1,\"a\nb\"\n2,\xFF\n\n3,ok\r\n4,\"x\"y\n5,\xE3\x83,\x9E\n6,z".to_vec();
        records.start(&mut block, None);
        let mut row = CsvRow::default();
        let mut seen = Vec::new();
        loop {
            match records.read(&mut row) {
                Ok(true) => seen.push(format!("ok {:?}", row.get(0))),
                Ok(false) => break,
                Err(bad) => seen.push(format!("{} {} {}", bad.row, bad.line, bad.message)),
            }
        }
        assert_eq!(
            seen,
            [
                "ok Some([49])",
                "2 2 field 2 is not valid UTF-8",
                "ok Some([51])",
                "ok Some([52])",
                "5 6 field 2 is not valid UTF-8",
                "ok Some([54])",
            ]
        );
        assert_eq!((records.rows, records.lines), (6, 7));
    }
}
