//! CSV input cut into blocks of whole records without parsing them, so that the workers of a
//! parallel dry run can each parse their own block: a row is then read and evaluated on the
//! same core, instead of parsed on the reader's core and read again on a worker's.
//!
//! Finding where records end needs only the quote state of csv-core's reader (RFC 4180
//! quoting, `""` escapes, a quote opening a quoted field only at the start of a field), which
//! a scan for quotes and line breaks keeps with memchr instead of a state per byte.

use std::io::{self, Read};

/// A UTF-8 byte-order mark, which csv-core skips at the start of the first input it reads.
pub(crate) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Where records end in a CSV byte stream fed in slices: the quote state between slices.
#[derive(Debug, Default, Clone)]
pub(crate) struct RecordEnds {
    state: Quoting,
    /// The last byte scanned, if any: a quote opens a field only after a delimiter or a
    /// line break, or at the start of the stream.
    previous: Option<u8>,
    /// The last slice ended in an unquoted `\r`: whether it ends a record (alone) or not
    /// (the CR of a CRLF) is told by the first byte of the next slice.
    cr_pending: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Quoting {
    #[default]
    Unquoted,
    Quoted,
    /// A quote inside a quoted field: the next byte says whether it closes the field or is
    /// the first of an escaped `""`.
    QuoteInQuoted,
}

impl RecordEnds {
    /// The length of the shortest prefix of `bytes` that ends a record (just after its line
    /// break), scanning past it; `None` when no record ends in `bytes`, all of it scanned.
    ///
    /// A `\r` ends a record when the byte after it is known and is not `\n` (a `\r\n` ends
    /// at its `\n`). A `\r` that is the last byte of a slice is decided by the next slice:
    /// when it is a lone CR, that call returns `Some(0)`, the record having ended just before
    /// its slice. (Forgetting it lost the records up to the next line break: issue 19.)
    pub(crate) fn next_end(&mut self, bytes: &[u8]) -> Option<usize> {
        if self.cr_pending {
            let &first = bytes.first()?;
            self.cr_pending = false;
            if first != b'\n' {
                return Some(0);
            }
        }
        let mut at = 0;
        while at < bytes.len() {
            match self.state {
                Quoting::Quoted => match memchr::memchr(b'"', &bytes[at..]) {
                    Some(offset) => {
                        at += offset + 1;
                        self.state = Quoting::QuoteInQuoted;
                    }
                    None => at = bytes.len(),
                },
                Quoting::QuoteInQuoted => {
                    if bytes[at] == b'"' {
                        at += 1;
                        self.state = Quoting::Quoted;
                    } else {
                        // The field is closed; this byte is read unquoted (a later quote in
                        // the same field is a literal character, as csv-core reads it).
                        self.state = Quoting::Unquoted;
                        self.previous = Some(b'"');
                    }
                }
                Quoting::Unquoted => {
                    let Some(offset) = memchr::memchr3(b'"', b'\n', b'\r', &bytes[at..]) else {
                        break;
                    };
                    let found = at + offset;
                    let before = match found {
                        0 => self.previous,
                        _ => Some(bytes[found - 1]),
                    };
                    at = found + 1;
                    match bytes[found] {
                        b'"' => {
                            if matches!(before, None | Some(b',' | b'\n' | b'\r')) {
                                self.state = Quoting::Quoted;
                            }
                        }
                        b'\n' => {
                            self.previous = Some(b'\n');
                            return Some(at);
                        }
                        _ => match bytes.get(at) {
                            Some(b'\n') => {}
                            Some(_) => {
                                self.previous = Some(b'\r');
                                return Some(at);
                            }
                            None => self.cr_pending = true,
                        },
                    }
                }
            }
        }
        if let Some(&last) = bytes.last() {
            self.previous = Some(last);
        }
        None
    }

    /// The end of the last record that ends in `bytes`, all of it scanned.
    pub(crate) fn last_end(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut scanned = 0;
        let mut last = None;
        while let Some(end) = self.next_end(&bytes[scanned..]) {
            scanned += end;
            last = Some(scanned);
        }
        last
    }
}

/// Bytes read from a CSV input and handed out as blocks of whole records.
pub struct CsvBlocks {
    read: Box<dyn Read + Send>,
    /// Bytes read and not handed out yet, all of them scanned.
    pending: Vec<u8>,
    /// The end of the last record in `pending`.
    last_end: Option<usize>,
    ends: RecordEnds,
    eof: bool,
    /// A read error, reported after the whole records read before it.
    failed: Option<io::Error>,
}

/// Bytes asked of the input at a time.
const READ_SIZE: usize = 64 * 1024;

impl CsvBlocks {
    /// Blocks of `read` after `pending`, which are the bytes read so far past the header.
    pub(crate) fn new(read: Box<dyn Read + Send>, pending: Vec<u8>) -> Self {
        let mut ends = RecordEnds::default();
        let last_end = ends.last_end(&pending);
        Self {
            read,
            pending,
            last_end,
            ends,
            eof: false,
            failed: None,
        }
    }

    /// Puts the next block in `block` (emptied first): whole records, at least `size` bytes of them unless
    /// the input ends first (its last record may lack a line break). `Ok(false)` at the end;
    /// `Err` when reading failed, after every whole record read before the failure was
    /// handed out (the rest of the input is not read).
    pub fn next_block(&mut self, size: usize, block: &mut Vec<u8>) -> io::Result<bool> {
        block.clear();
        while !self.eof && self.failed.is_none() && self.last_end.is_none_or(|end| end < size) {
            self.fill();
        }
        let end = match (self.eof, self.last_end) {
            (true, _) => self.pending.len(),
            (false, Some(end)) => end,
            (false, None) => {
                return match self.failed.take() {
                    Some(error) => {
                        self.eof = true;
                        self.pending.clear();
                        Err(error)
                    }
                    None => Ok(false),
                }
            }
        };
        if end == 0 {
            return Ok(false);
        }
        // The block takes the buffer; the bytes after its last record start the next one.
        std::mem::swap(block, &mut self.pending);
        self.pending.extend_from_slice(&block[end..]);
        block.truncate(end);
        self.last_end = None;
        Ok(true)
    }

    /// Reads more of the input and scans it. A row that has not ended within
    /// [`MAX_ROW_BYTES`](super::MAX_ROW_BYTES) fails the input as a read error would, so
    /// the bytes held stay bounded.
    fn fill(&mut self) {
        let old = self.pending.len();
        match read_more(&mut self.read, &mut self.pending) {
            Ok(0) => self.eof = true,
            Ok(_) => {
                if let Some(end) = self.ends.last_end(&self.pending[old..]) {
                    self.last_end = Some(old + end);
                }
                let unended = self.pending.len() - self.last_end.unwrap_or(0);
                if unended > super::MAX_ROW_BYTES {
                    self.failed = Some(io::Error::other("a row is longer than 8 MiB"));
                }
            }
            Err(error) => self.failed = Some(error),
        }
    }
}

/// Appends up to [`READ_SIZE`] bytes of `read` to `bytes` (a read interrupted by a signal is
/// made again); how many, 0 at the end of the input.
pub(crate) fn read_more(read: &mut dyn Read, bytes: &mut Vec<u8>) -> io::Result<usize> {
    let old = bytes.len();
    bytes.resize(old + READ_SIZE, 0);
    let got = loop {
        match read.read(&mut bytes[old..]) {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            other => break other,
        }
    };
    bytes.truncate(old + got.as_ref().map_or(0, |n| *n));
    got
}

#[cfg(test)]
/// The csv crate's reader of one block's records, for tests to compare with. A fresh reader
/// skips a byte-order mark at its start, as csv-core does at a file's start: the block is
/// read after a blank line (which csv-core skips), so a mark that starts a block stays in its
/// record's first field, as when the file is read whole.
pub(crate) fn block_reader(block: &[u8]) -> csv::Reader<io::Cursor<Vec<u8>>> {
    let mut bytes = b"\n".to_vec();
    bytes.extend_from_slice(block);
    super::dialect().from_reader(io::Cursor::new(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every record end of `text`, found by feeding it in slices of `step` bytes.
    fn ends(text: &[u8], step: usize) -> Vec<usize> {
        let mut ends = RecordEnds::default();
        let mut found = Vec::new();
        for (n, chunk) in text.chunks(step).enumerate() {
            let mut scanned = 0;
            while let Some(end) = ends.next_end(&chunk[scanned..]) {
                scanned += end;
                found.push(n * step + scanned);
            }
        }
        found
    }

    /// The records of `text`, read whole by the csv crate.
    fn records(text: &[u8]) -> Vec<Vec<Vec<u8>>> {
        block_reader(text)
            .byte_records()
            .map(|r| r.unwrap().iter().map(<[u8]>::to_vec).collect())
            .collect()
    }

    /// Where the csv crate ends each record that a line break ends: after its LF, or after a
    /// lone CR.
    fn line_break_ends(text: &[u8]) -> Vec<usize> {
        let mut reader = block_reader(text);
        let mut record = csv::ByteRecord::new();
        let mut found = Vec::new();
        while reader.read_byte_record(&mut record).unwrap() {
            // Less the blank line `block_reader` reads first.
            let end = reader.position().byte() as usize - 1;
            if record.as_slice().ends_with(b"\n") {
                continue; // an unterminated quote: the record ends where the input does
            }
            match (text.get(end.wrapping_sub(1)), text.get(end)) {
                (Some(b'\r'), Some(b'\n')) => found.push(end + 1),
                (Some(b'\n' | b'\r'), _) => found.push(end),
                _ => {}
            }
        }
        found
    }

    #[test]
    fn record_ends_agree_with_the_csv_crate_whatever_the_slices() {
        let texts: [&[u8]; 9] = [
            b"a,b\n1,2\n",
            b"a,\"b\nc\",d\n2,3",
            b"\"x\"\"\ny\",1\r\n2,\"\"\r\n3,4\r\n",
            // A quote inside an unquoted field is a character, not the start of quoting.
            b"5\" pipe,ok\n6,\"q\"\n7,x\"\"y\n",
            // Text after a closing quote is read unquoted: its quote does not open a field.
            b"\"a\"b\"c,d\ne,f\n",
            // Blank lines, a lone CR ending a record, CRLF.
            b"a\n\n\nb\rc\r\nd\n",
            b"\"\",\"\"\n,\n\"\n\"\n",
            b"one field\nno end",
            b"x,\"unterminated\n,quote\n",
        ];
        for text in texts {
            let whole = records(text);
            for step in [1, 2, 3, 5, 64] {
                let got = ends(text, step);
                // Cutting the text at any end found leaves every record whole.
                for &end in &got {
                    let mut cut = records(&text[..end]);
                    cut.extend(records(&text[end..]));
                    assert_eq!(
                        cut,
                        whole,
                        "{:?} cut at {end}",
                        String::from_utf8_lossy(text)
                    );
                }
                // No line break that ends a record is missed, but a lone CR that ends the
                // text (no byte after it tells that it is alone).
                for end in line_break_ends(text) {
                    let lone_cr_at_text_end = text[end - 1] == b'\r' && end == text.len();
                    assert!(
                        got.contains(&end) || lone_cr_at_text_end,
                        "{:?} step {step}: missed {end} ({got:?})",
                        String::from_utf8_lossy(text)
                    );
                }
            }
        }
    }

    /// Reads `text` through `CsvBlocks` in slices of `read` bytes and blocks of `size`.
    fn blocks(text: &'static [u8], read: usize, size: usize) -> Vec<Vec<u8>> {
        struct Slices(&'static [u8], usize);
        impl Read for Slices {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(self.1).min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut blocks = CsvBlocks::new(Box::new(Slices(text, read)), Vec::new());
        let mut all = Vec::new();
        let mut block = Vec::new();
        while blocks.next_block(size, &mut block).unwrap() {
            all.push(block.clone());
        }
        all
    }

    #[test]
    fn blocks_hold_whole_records_and_every_byte_once() {
        let text: &[u8] = b"1,\"a\nb\",x\n2,\"c\"\"\n\",y\r\n3,z\n4,\"w\"\n5,last";
        for read in [1, 3, 7, 100] {
            for size in [1, 8, 20, 1000] {
                let got = blocks(text, read, size);
                assert_eq!(got.concat(), text, "read {read} size {size}");
                let parsed: Vec<_> = got.iter().flat_map(|block| records(block)).collect();
                assert_eq!(parsed, records(text), "read {read} size {size}");
            }
        }
    }

    #[test]
    fn a_read_error_comes_after_the_records_read_before_it() {
        struct FailsLater(bool);
        impl Read for FailsLater {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if std::mem::replace(&mut self.0, true) {
                    return Err(io::Error::other("disk gone"));
                }
                let text = b"1,a\n2,b\n3,partial";
                buf[..text.len()].copy_from_slice(text);
                Ok(text.len())
            }
        }
        let mut blocks = CsvBlocks::new(Box::new(FailsLater(false)), Vec::new());
        let mut block = Vec::new();
        assert!(blocks.next_block(1 << 20, &mut block).unwrap());
        assert_eq!(block, b"1,a\n2,b\n");
        let error = blocks.next_block(1 << 20, &mut block).unwrap_err();
        assert_eq!(error.to_string(), "disk gone");
        assert!(!blocks.next_block(1 << 20, &mut block).unwrap());
    }
}
