//! Streaming readers for dry runs: CSV exports and SCIM JSON (one object, an array, a
//! ListResponse) or JSON Lines. A row that cannot be read is returned as a [`BadRow`] with its
//! row or line number, and reading goes on.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

mod blocks;
mod split;

pub use blocks::CsvBlocks;
pub use split::{BlockBadRow, BlockRecords, CsvRow};

/// The format of one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    Csv,
    Json,
    Jsonl,
}

/// Why an input cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read `{path}`: {source}")]
    Io { path: String, source: io::Error },
    #[error(
        "cannot tell the format of `{path}` from its extension; use --input-format csv|json|jsonl"
    )]
    UnknownFormat { path: String },
    #[error("`{path}` has no header row")]
    NoHeader { path: String },
    #[error("`{path}` is not SCIM JSON: {message}")]
    NotScim { path: String, message: String },
    #[error("`{path}`: the CSV header row cannot be read: {message}")]
    BadHeader { path: String, message: String },
}

/// A row that could not be read, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BadRow {
    /// The input's name (`-` for stdin).
    pub input: String,
    /// `row N (line L)` for CSV, `line N` for JSONL, `item N` for a JSON array.
    pub at: String,
    pub message: String,
}

impl BadRow {
    /// A record of a block that cannot be used, placed in `input`: the block starts after
    /// `rows` rows, on line `line`. Both CSV readers place rows this way.
    pub fn from_block(input: &str, bad: BlockBadRow, rows: u64, line: u64) -> Self {
        Self {
            input: input.to_string(),
            at: format!("row {} (line {})", rows + bad.row, line + bad.line),
            message: bad.message,
        }
    }

    /// A read error that ended `input` after `rows` rows, the next one due on line `line`.
    pub fn read_stopped(input: &str, error: &str, rows: u64, line: u64) -> Self {
        Self {
            input: input.to_string(),
            at: format!("row {} (line {line})", rows + 1),
            message: format!("{error} (reading stopped)"),
        }
    }
}

impl std::fmt::Display for BadRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.input, self.at, self.message)
    }
}

/// The format of `path`: `--input-format` when given, else from the extension.
pub fn detect_format(path: &Path, given: Option<InputFormat>) -> Result<InputFormat, InputError> {
    if let Some(format) = given {
        return Ok(format);
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("csv") | Some("txt") | Some("tsv") => Ok(InputFormat::Csv),
        Some("json") => Ok(InputFormat::Json),
        Some("jsonl") | Some("ndjson") => Ok(InputFormat::Jsonl),
        _ => Err(InputError::UnknownFormat {
            path: path.display().to_string(),
        }),
    }
}

fn open(path: &Path) -> Result<Box<dyn Read + Send>, InputError> {
    if path == Path::new("-") {
        return Ok(Box::new(io::stdin()));
    }
    File::open(path)
        .map(|f| Box::new(f) as Box<dyn Read + Send>)
        .map_err(|source| InputError::Io {
            path: path.display().to_string(),
            source,
        })
}

/// A CSV export: the header is read when it opens; then its records one by one
/// ([`CsvInput::read`]), or blocks of whole records for workers to parse
/// ([`CsvInput::into_blocks`]). Either way the records are read by [`BlockRecords`], so they
/// read, and bad rows are placed, the same way.
pub struct CsvInput {
    pub name: String,
    header: Vec<String>,
    /// The line after the header.
    first_line: u64,
    blocks: CsvBlocks,
    /// Whether a record has been read (the blocks are no longer whole).
    started: bool,
    /// Boxed: csv-core's reader inside is most of its size.
    records: Box<BlockRecords>,
    block: Vec<u8>,
    /// Rows and line breaks before the current block.
    rows: u64,
    lines: u64,
    stopped: bool,
}

/// Bytes of CSV per block, at least, for the dry run's workers and for [`CsvInput::read`]: a
/// block takes whole 64 KiB reads until a record ends past this size, so it is about 190 KiB
/// (1,800 blocks for 1M generated rows, each evaluated while it is in the CPU's L2 cache). With `--jobs N` each block costs a few channel
/// operations and thread wake-ups: with blocks of about 64 KiB (a size of 48 KiB) they were 8%
/// of a two-worker run's time, and this size ran it in 1.19-1.22 s against 1.26-1.38 s (twice
/// this size: no faster, and more memory in flight).
pub const BLOCK_BYTES: usize = 128 * 1024;

/// The longest CSV field, and JSONL line, read: a longer one is a bad row (docs/dsl.md).
pub const MAX_FIELD_BYTES: usize = 1024 * 1024;

/// The longest CSV row: the block reader holds a row whole before it can tell where its
/// fields end, so a row that has not ended after this many bytes (checked at each read of
/// 64 KiB) ends the input, after the rows before it, as a read error does; a header that
/// long is refused. Memory then stays bounded whatever a row holds.
pub const MAX_ROW_BYTES: usize = 8 * 1024 * 1024;

/// Line breaks in `bytes[..end]`: LF, CRLF or a lone CR (a CR just before `end` pairs with
/// an LF just after it). The header's and every block's lines are counted by this one rule.
pub(crate) fn line_breaks(bytes: &[u8], end: usize) -> u64 {
    let Some(counted) = bytes.get(..end) else {
        return 0;
    };
    memchr::memchr2_iter(b'\n', b'\r', counted)
        .filter(|&at| bytes[at] == b'\n' || bytes.get(at + 1) != Some(&b'\n'))
        .count() as u64
}

/// Reads the header: the first record that is not a blank line. Returns it, the line breaks
/// up to its end, and the bytes read after it.
fn read_header(
    name: &str,
    read: &mut Box<dyn Read + Send>,
) -> Result<(csv::StringRecord, u64, Vec<u8>), InputError> {
    let bad = |message: String| InputError::BadHeader {
        path: name.to_string(),
        message,
    };
    let mut bytes = Vec::new();
    let mut ends = blocks::RecordEnds::default();
    let mut scanned = None;
    let mut eof = false;
    loop {
        if !eof {
            eof = blocks::read_more(read, &mut bytes).map_err(|e| bad(e.to_string()))? == 0;
        }
        // csv-core skips a byte-order mark at the start: so does the scan (once 3 bytes are
        // known, or the input ended before).
        if scanned.is_none() && (bytes.len() >= blocks::BOM.len() || eof) {
            scanned = Some(if bytes.starts_with(blocks::BOM) { 3 } else { 0 });
        }
        let Some(at) = scanned.as_mut() else {
            continue;
        };
        while let Some(end) = ends.next_end(&bytes[*at..]) {
            *at += end;
            // A blank line ends no record: the header is the first record read.
            if let Some(header) = first_record(&bytes[..*at]).map_err(bad)? {
                let lines = line_breaks(&bytes, *at);
                let rest = bytes.split_off(*at);
                return Ok((header, lines, rest));
            }
        }
        *at = bytes.len();
        if bytes.len() > MAX_ROW_BYTES {
            return Err(bad("the header row is longer than 8 MiB".into()));
        }
        if eof {
            return match first_record(&bytes).map_err(bad)? {
                Some(header) => Ok((header, line_breaks(&bytes, bytes.len()), Vec::new())),
                None => Err(InputError::NoHeader {
                    path: name.to_string(),
                }),
            };
        }
    }
}

/// How the csv crate reads a CSV input's header (and, in tests, the records the block reader
/// is compared with): one place, because both must read the bytes as the block reader does
/// (csv-core's defaults; [`blocks::RecordEnds`] keeps the quote state of exactly this dialect).
pub(crate) fn dialect() -> csv::ReaderBuilder {
    let mut builder = csv::ReaderBuilder::new();
    builder
        .flexible(true) // ragged rows: missing cells read as absent, extra cells are ignored
        .has_headers(false);
    builder
}

/// The first record of `bytes`, as text.
fn first_record(bytes: &[u8]) -> Result<Option<csv::StringRecord>, String> {
    let mut reader = dialect().from_reader(bytes);
    let mut record = csv::StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(true) => Ok(Some(record)),
        Ok(false) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

impl CsvInput {
    pub fn open(path: &Path) -> Result<Self, InputError> {
        Self::from_reader(&path.display().to_string(), open(path)?)
    }

    pub fn from_reader(name: &str, mut read: Box<dyn Read + Send>) -> Result<Self, InputError> {
        let (first, lines, pending) = read_header(name, &mut read)?;
        let header = first
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
            .collect();
        Ok(Self {
            name: name.to_string(),
            header,
            first_line: 1 + lines,
            blocks: CsvBlocks::new(read, pending),
            started: false,
            records: Box::default(),
            block: Vec::new(),
            rows: 0,
            lines: 0,
            stopped: false,
        })
    }

    /// The header, without a byte-order mark or padding.
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// The line after the header: where the first record starts, unless blank lines do.
    pub fn first_line(&self) -> u64 {
        self.first_line
    }

    /// The rest of the input as blocks of whole records, when no record has been read yet;
    /// else the input back. Read each block with [`BlockRecords`].
    pub fn into_blocks(self) -> Result<CsvBlocks, Box<Self>> {
        match self.started {
            false => Ok(self.blocks),
            true => Err(Box::new(self)),
        }
    }

    /// Reads the next record into `row`: `Ok(false)` at the end, `Err` for a row that
    /// cannot be read (the next call goes on after it; after a read error, which ends the
    /// input, there is none).
    ///
    /// Every field of a record read is valid UTF-8 (a row that is not is reported here), so
    /// callers may read fields as text, e.g. with [`crate::CsvRecord`].
    pub fn read(&mut self, row: &mut CsvRow) -> Result<bool, BadRow> {
        self.started = true;
        loop {
            if self.stopped {
                return Ok(false);
            }
            // Before the first block, the reader's block is empty.
            match self.records.read(row) {
                Ok(true) => return Ok(true),
                Err(bad) => {
                    let line = self.first_line + self.lines;
                    return Err(BadRow::from_block(&self.name, bad, self.rows, line));
                }
                Ok(false) => {
                    self.rows += self.records.rows;
                    self.lines += self.records.lines;
                    self.records.finish(&mut self.block);
                }
            }
            match self.blocks.next_block(BLOCK_BYTES, &mut self.block) {
                Ok(true) => {
                    let width = Some(self.header.len());
                    self.records.start(&mut self.block, width)
                }
                Ok(false) => {
                    self.stopped = true;
                    return Ok(false);
                }
                Err(error) => {
                    // A read error ends the input: reported once, at the row it was reading.
                    self.stopped = true;
                    let line = self.first_line + self.lines;
                    let error = error.to_string();
                    return Err(BadRow::read_stopped(&self.name, &error, self.rows, line));
                }
            }
        }
    }

    /// Whether the input has ended (after a read error, too).
    pub fn stopped(&self) -> bool {
        self.stopped
    }
}

/// SCIM users from JSON: one object, an array of objects, or a ListResponse (`Resources`);
/// or JSON Lines, one object per line.
pub struct JsonInput {
    pub name: String,
    kind: JsonKind,
}

enum JsonKind {
    /// `stopped`: a read error ended the input; every later call returns `None`, so a
    /// persistent error (a directory given as a file, a dead pipe) is reported once.
    Lines {
        reader: BufReader<Box<dyn Read + Send>>,
        line: u64,
        buf: Vec<u8>,
        stopped: bool,
    },
    Items {
        items: std::vec::IntoIter<serde_json::Value>,
        index: u64,
        label: &'static str,
    },
}

impl JsonInput {
    pub fn open(path: &Path, format: InputFormat) -> Result<Self, InputError> {
        let name = path.display().to_string();
        let read = open(path)?;
        Self::from_reader(&name, read, format)
    }

    pub fn from_reader(
        name: &str,
        read: Box<dyn Read + Send>,
        format: InputFormat,
    ) -> Result<Self, InputError> {
        if format == InputFormat::Jsonl {
            return Ok(Self {
                name: name.to_string(),
                kind: JsonKind::Lines {
                    reader: BufReader::with_capacity(1 << 16, read),
                    line: 0,
                    buf: Vec::new(),
                    stopped: false,
                },
            });
        }
        let not_scim = |message: String| InputError::NotScim {
            path: name.to_string(),
            message,
        };
        let value: serde_json::Value =
            serde_json::from_reader(BufReader::new(read)).map_err(|e| not_scim(e.to_string()))?;
        let (items, label) = match value {
            serde_json::Value::Array(items) => (items, "item"),
            serde_json::Value::Object(mut object) => {
                let resources = object
                    .keys()
                    .find(|k| k.eq_ignore_ascii_case("Resources"))
                    .cloned()
                    .and_then(|k| object.remove(&k));
                match resources {
                    Some(serde_json::Value::Array(items)) => (items, "resource"),
                    Some(_) => return Err(not_scim("`Resources` is not an array".into())),
                    None => (vec![serde_json::Value::Object(object)], "object"),
                }
            }
            _ => {
                return Err(not_scim(
                    "expected an object, an array or a ListResponse".into(),
                ))
            }
        };
        Ok(Self {
            name: name.to_string(),
            kind: JsonKind::Items {
                items: items.into_iter(),
                index: 0,
                label,
            },
        })
    }

    /// The next user object: `None` at the end, `Some(Err)` for one that is not an object.
    pub fn next_user(&mut self) -> Option<Result<serde_json::Value, BadRow>> {
        let name = &self.name;
        match &mut self.kind {
            JsonKind::Items {
                items,
                index,
                label,
            } => {
                let item = items.next()?;
                *index += 1;
                Some(match item {
                    serde_json::Value::Object(_) => Ok(item),
                    _ => Err(BadRow {
                        input: name.clone(),
                        at: format!("{label} {index}"),
                        message: "not a JSON object".into(),
                    }),
                })
            }
            JsonKind::Lines {
                reader,
                line,
                buf,
                stopped,
            } => loop {
                if *stopped {
                    return None;
                }
                buf.clear();
                // At most one byte past the limit is kept: a longer line is skipped to its end.
                let limit = MAX_FIELD_BYTES as u64 + 1;
                match reader.by_ref().take(limit).read_until(b'\n', buf) {
                    Ok(0) => return None,
                    Ok(_) if buf.len() > MAX_FIELD_BYTES => {
                        *line += 1;
                        let skipped = match buf.last() {
                            Some(b'\n') => Ok(()),
                            _ => skip_line(reader),
                        };
                        buf.clear();
                        let message = match skipped {
                            Ok(()) => "the line is longer than 1 MiB".to_string(),
                            Err(e) => {
                                *stopped = true;
                                format!("the line is longer than 1 MiB; {e} (reading stopped)")
                            }
                        };
                        return Some(Err(BadRow {
                            input: name.clone(),
                            at: format!("line {line}"),
                            message,
                        }));
                    }
                    Ok(_) => {}
                    Err(e) => {
                        *stopped = true;
                        return Some(Err(BadRow {
                            input: name.clone(),
                            at: format!("line {}", *line + 1),
                            message: format!("{e} (reading stopped)"),
                        }));
                    }
                }
                *line += 1;
                let text = buf.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(buf);
                if text.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let at = || format!("line {line}");
                return Some(match serde_json::from_slice::<serde_json::Value>(text) {
                    Ok(value @ serde_json::Value::Object(_)) => Ok(value),
                    Ok(_) => Err(BadRow {
                        input: name.clone(),
                        at: at(),
                        message: "not a JSON object".into(),
                    }),
                    Err(e) => Err(BadRow {
                        input: name.clone(),
                        at: at(),
                        message: format!("not JSON: {e}"),
                    }),
                });
            },
        }
    }
}

/// Reads past the end of the current line (its `\n`, or the input's end), keeping nothing.
fn skip_line(reader: &mut impl BufRead) -> io::Result<()> {
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(());
        }
        let (used, found) = match memchr::memchr(b'\n', available) {
            Some(at) => (at + 1, true),
            None => (available.len(), false),
        };
        reader.consume(used);
        if found {
            return Ok(());
        }
    }
}

/// One input of a run, opened.
pub enum Input {
    Csv(CsvInput),
    Json(JsonInput),
}

impl Input {
    pub fn open(path: &Path, given: Option<InputFormat>) -> Result<Self, InputError> {
        match detect_format(path, given)? {
            InputFormat::Csv => CsvInput::open(path).map(Input::Csv),
            format => JsonInput::open(path, format).map(Input::Json),
        }
    }

    /// The file at `path`, read as the input called `name` in messages (standard input's
    /// copy is still `-`), in the format `name` says.
    pub fn open_as(
        path: &Path,
        name: &Path,
        given: Option<InputFormat>,
    ) -> Result<Self, InputError> {
        let shown = name.display().to_string();
        match detect_format(name, given)? {
            InputFormat::Csv => CsvInput::from_reader(&shown, open(path)?).map(Input::Csv),
            format => JsonInput::from_reader(&shown, open(path)?, format).map(Input::Json),
        }
    }

    /// Every input, opened before any is read: a missing file is a usage error before any
    /// output.
    pub fn open_all(
        paths: &[PathBuf],
        given: Option<InputFormat>,
    ) -> Result<Vec<Self>, InputError> {
        paths.iter().map(|path| Self::open(path, given)).collect()
    }

    /// The size in bytes when it is a file (for progress and MB/s).
    pub fn size(path: &PathBuf) -> Option<u64> {
        std::fs::metadata(path).ok().map(|m| m.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &'static [u8]) -> CsvInput {
        CsvInput::from_reader("t.csv", Box::new(text)).unwrap()
    }

    #[test]
    fn csv_with_bom_crlf_quoted_newlines_and_rows_of_the_wrong_width() {
        let mut input = csv(
            b"\xEF\xBB\xBFid,title\r\n1,\"Sr. Manager,\r\nSales\"\r\n2\r\n3,VP,extra\r\n4,CEO\r\n",
        );
        assert_eq!(input.header(), ["id", "title"]);
        let mut rec = CsvRow::default();
        assert!(input.read(&mut rec).unwrap());
        assert_eq!(rec.get(1), Some(&b"Sr. Manager,\r\nSales"[..]));
        let short = input.read(&mut rec).unwrap_err();
        assert_eq!(short.at, "row 2 (line 4)");
        assert!(short.message.starts_with("1 cells, but the header has 2"));
        let long = input.read(&mut rec).unwrap_err();
        assert_eq!(long.at, "row 3 (line 5)");
        assert!(long.message.starts_with("3 cells, but the header has 2"));
        assert!(input.read(&mut rec).unwrap());
        assert_eq!(rec.get(1), Some(&b"CEO"[..]));
        assert!(!input.read(&mut rec).unwrap());
        // The end stays the end.
        assert!(!input.read(&mut rec).unwrap());
        assert!(input.stopped());
    }

    /// Checking the row's bytes at once must still catch a character cut in two by a field
    /// boundary (each half is invalid on its own), and name the field.
    #[test]
    fn a_character_split_across_fields_is_not_valid_utf8() {
        let mut input = csv(b"id,a,b\n1,\xE3\x83,\x9E\n2,\xE3\x83\x9E,ok\n");
        let mut rec = CsvRow::default();
        let bad = input.read(&mut rec).unwrap_err();
        assert_eq!(bad.message, "field 2 is not valid UTF-8");
        assert!(input.read(&mut rec).unwrap());
        assert_eq!(rec.text(1), Some("マ"));
    }

    #[test]
    fn line_breaks_are_lf_crlf_or_a_lone_cr() {
        for (text, expected) in [
            (&b"a,b"[..], 0),
            (b"a\nb", 1),
            (b"a\r\nb\rc\n\n", 4),
            (b"\"q\r\nq\",\r", 2),
        ] {
            assert_eq!(line_breaks(text, text.len()), expected, "{text:?}");
        }
    }

    #[test]
    fn csv_bad_utf8_row_is_reported_and_skipped() {
        let mut input = csv(b"id,title\n1,ok\n2,\xFF\xFE\n3,ok\n");
        let mut rec = CsvRow::default();
        assert!(input.read(&mut rec).unwrap());
        let bad = input.read(&mut rec).unwrap_err();
        assert_eq!(bad.at, "row 2 (line 3)");
        assert!(input.read(&mut rec).unwrap());
        assert_eq!(rec.get(0), Some(&b"3"[..]));
    }

    /// A bad row's line counts every line break before it: blank lines (before the header
    /// too), quoted line breaks, CRLF and lone CR line ends.
    #[test]
    fn bad_rows_are_placed_on_their_line_after_blank_lines() {
        let text = b"\n\nid,title\r\n\r\n1,\"a\nb\"\r2,ok\n\n\n3,\xFF\n4,ok\n";
        let mut input = CsvInput::from_reader("t.csv", Box::new(&text[..])).unwrap();
        assert_eq!(input.first_line(), 4);
        let mut rec = CsvRow::default();
        assert!(input.read(&mut rec).unwrap());
        assert!(input.read(&mut rec).unwrap());
        let bad = input.read(&mut rec).unwrap_err();
        assert_eq!(bad.at, "row 3 (line 10)");
        assert!(input.read(&mut rec).unwrap());
        assert!(!input.read(&mut rec).unwrap());
    }

    /// A reader that hands out at most `step` bytes per read, as a pipe may.
    struct Slices(&'static [u8], usize);
    impl Read for Slices {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    /// The header and records of `text` as the csv crate reads it whole.
    fn csv_crate(text: &[u8]) -> (Vec<String>, Vec<Vec<Vec<u8>>>) {
        let mut records = dialect()
            .from_reader(text)
            .into_byte_records()
            .map(|r| r.unwrap().iter().map(<[u8]>::to_vec).collect::<Vec<_>>());
        let header = records.next().unwrap_or_default();
        let header = header
            .iter()
            .map(|h| String::from_utf8_lossy(h).trim().to_string())
            .collect();
        (header, records.collect())
    }

    /// Issue 19: a header line ended by a lone CR that was the last byte of a read lost the
    /// records up to the next line break (no output, no bad row, exit 0). Every read size, the
    /// three line ends, records read one by one and in blocks: all as the csv crate reads them.
    #[test]
    fn records_are_whole_at_every_read_boundary_whatever_the_line_ends() {
        let shapes = [
            "id,title{}1,VP{}2,CEO{}",
            "id,title{}1,VP{}2,CEO",
            "{}{}id,title{}{}1,\"Sr.{}Dir\"{}{}2,\"a\"\"b\"{}3,{}",
            "\"id\",\"ti{}tle\"{}1,x{}",
            "id{}",
        ];
        for eol in ["\r", "\n", "\r\n"] {
            for shape in shapes {
                let mut text = String::new();
                for (n, part) in shape.split("{}").enumerate() {
                    if n > 0 {
                        text.push_str(eol);
                    }
                    text.push_str(part);
                }
                let text: &'static [u8] = Box::leak(text.into_bytes().into_boxed_slice());
                let (header, records) = csv_crate(text);
                let first_line = csv(text).first_line();
                for step in [1, 2, 3, 4, 5, 7, 64] {
                    let what = format!("{:?} in reads of {step}", String::from_utf8_lossy(text));
                    let open = || CsvInput::from_reader("-", Box::new(Slices(text, step))).unwrap();
                    let mut input = open();
                    assert_eq!(input.header(), header, "{what}");
                    assert_eq!(input.first_line(), first_line, "{what}");
                    let mut row = CsvRow::default();
                    let mut got = Vec::new();
                    while input.read(&mut row).unwrap() {
                        got.push(row.iter().map(<[u8]>::to_vec).collect::<Vec<_>>());
                    }
                    assert_eq!(got, records, "{what}, read one by one");
                    for size in [1, 8, 1 << 20] {
                        let Ok(mut blocks) = open().into_blocks() else {
                            unreachable!("no record read yet")
                        };
                        let (mut block, mut reader, mut got) =
                            (Vec::new(), BlockRecords::default(), Vec::new());
                        while blocks.next_block(size, &mut block).unwrap() {
                            reader.start(&mut block, Some(header.len()));
                            while reader.read(&mut row).unwrap() {
                                got.push(row.iter().map(<[u8]>::to_vec).collect::<Vec<_>>());
                            }
                            reader.finish(&mut block);
                        }
                        assert_eq!(got, records, "{what}, in blocks of {size}");
                    }
                }
            }
        }
    }

    /// Issue 19: a 50 MB field was read whole (487 MB peak RSS) and mapped. A field over
    /// 1 MiB is a bad row, and reading goes on; a row over 8 MiB ends the input, after the
    /// rows before it (a header that long is refused), so memory stays bounded whatever one
    /// row holds.
    #[test]
    fn a_field_over_1_mib_is_a_bad_row_and_a_row_over_8_mib_ends_the_input() {
        let big = |n: usize| "x".repeat(n);
        let text = format!(
            "id,title\n1,{}\n2,\"{}\"\n3,ok\n\"{}\"\n",
            big(MAX_FIELD_BYTES),
            big(MAX_FIELD_BYTES + 1),
            big(MAX_FIELD_BYTES / 2) + "\",\"" + &big(MAX_FIELD_BYTES / 2 + 1),
        );
        let text: &'static [u8] = Box::leak(text.into_bytes().into_boxed_slice());
        let mut input = csv(text);
        let mut row = CsvRow::default();
        assert!(
            input.read(&mut row).unwrap(),
            "a field of exactly 1 MiB is read"
        );
        assert_eq!(row.get(1).map(<[u8]>::len), Some(MAX_FIELD_BYTES));
        let bad = input.read(&mut row).unwrap_err();
        assert_eq!(
            bad.to_string(),
            "t.csv: row 2 (line 3): field 2 is longer than 1 MiB"
        );
        assert!(input.read(&mut row).unwrap());
        assert_eq!(row.get(0), Some(&b"3"[..]));
        // Over 1 MiB as a row, no field over it: read.
        assert!(input.read(&mut row).unwrap());
        assert!(!input.read(&mut row).unwrap());

        let text = format!("id,title\n1,ok\n2,\"{}\n3,ok\n", big(MAX_ROW_BYTES + 1));
        let text: &'static [u8] = Box::leak(text.into_bytes().into_boxed_slice());
        let mut input = CsvInput::from_reader("t.csv", Box::new(Slices(text, 64 * 1024))).unwrap();
        assert!(input.read(&mut row).unwrap());
        let bad = input.read(&mut row).unwrap_err();
        assert_eq!(
            bad.to_string(),
            "t.csv: row 2 (line 3): a row is longer than 8 MiB (reading stopped)"
        );
        assert!(!input.read(&mut row).unwrap());

        // Checked at each read of 64 KiB: a header longer by more than one read.
        let text = format!("id,{}\n1,ok\n", big(MAX_ROW_BYTES + (128 << 10)));
        let text: &'static [u8] = Box::leak(text.into_bytes().into_boxed_slice());
        let Err(error) = CsvInput::from_reader("t.csv", Box::new(text)) else {
            panic!("a header over 8 MiB was read")
        };
        assert_eq!(
            error.to_string(),
            "`t.csv`: the CSV header row cannot be read: the header row is longer than 8 MiB"
        );
    }

    #[test]
    fn a_jsonl_line_over_1_mib_is_a_bad_row() {
        let text = format!(
            "{{\"a\":1}}\n{{\"b\":\"{}\"}}\n{{\"c\":3}}\n",
            "x".repeat(MAX_FIELD_BYTES)
        );
        let text: &'static [u8] = Box::leak(text.into_bytes().into_boxed_slice());
        let mut input =
            JsonInput::from_reader("t.jsonl", Box::new(text), InputFormat::Jsonl).unwrap();
        assert!(input.next_user().unwrap().is_ok());
        // Not `unwrap_err`: on failure it would print the megabyte.
        let Some(Err(bad)) = input.next_user() else {
            panic!("a line over 1 MiB was read")
        };
        assert_eq!(
            bad.to_string(),
            "t.jsonl: line 2: the line is longer than 1 MiB"
        );
        assert_eq!(input.next_user().unwrap().unwrap()["c"], 3);
        assert!(input.next_user().is_none());
    }

    #[test]
    fn json_shapes() {
        for (text, n) in [
            (&br#"{"userName":"a"}"#[..], 1),
            (&br#"[{"userName":"a"},{"userName":"b"}]"#[..], 2),
            (&br#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"Resources":[{"userName":"a"}]}"#[..], 1),
        ] {
            let mut input = JsonInput::from_reader("t.json", Box::new(text), InputFormat::Json).unwrap();
            let mut count = 0;
            while let Some(item) = input.next_user() {
                item.unwrap();
                count += 1;
            }
            assert_eq!(count, n);
        }
    }

    #[test]
    fn jsonl_bad_lines() {
        let mut input = JsonInput::from_reader(
            "t.jsonl",
            Box::new(&b"{\"a\":1}\n\n[1]\n{oops\n{\"b\":2}\n"[..]),
            InputFormat::Jsonl,
        )
        .unwrap();
        let got: Vec<_> = std::iter::from_fn(|| input.next_user())
            .map(|r| r.map_err(|b| b.at))
            .collect();
        assert!(got[0].is_ok());
        assert_eq!(got[1].clone().unwrap_err(), "line 3");
        assert_eq!(got[2].clone().unwrap_err(), "line 4");
        assert!(got[3].is_ok());
    }

    /// A reader whose every read fails, like a directory opened as a file.
    struct Broken;
    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("Is a directory"))
        }
    }

    #[test]
    fn csv_header_read_error_is_not_called_scim() {
        let err = CsvInput::from_reader("d.csv", Box::new(Broken))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("CSV header row cannot be read") && !err.contains("SCIM"),
            "{err}"
        );
    }

    #[test]
    fn jsonl_read_error_is_reported_once_then_the_input_ends() {
        let mut input =
            JsonInput::from_reader("d.jsonl", Box::new(Broken), InputFormat::Jsonl).unwrap();
        let first = input.next_user().unwrap().unwrap_err();
        assert!(
            first.message.ends_with("(reading stopped)"),
            "{}",
            first.message
        );
        assert!(
            input.next_user().is_none(),
            "a persistent error must not repeat forever"
        );
    }
}
