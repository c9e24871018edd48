//! `canon dry-run`: map a whole export with a rule file, write one row per record, and report
//! coverage.
//!
//! The pipeline: the main thread reads records into batches (the CSV header is bound to the
//! program once per input); with `--jobs N > 1`, N workers each own an evaluator and turn
//! batches into output bytes plus coverage counts, over bounded channels; a writer thread puts
//! the batches back in input order. With one job everything runs on the main thread.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

use clap::Args;

use super::{fail_usage, load_rules, EXIT_OK, EXIT_PROBLEMS};
use crate::eval::{Row, SharedCache};
use crate::input::{BadRow, BlockBadRow, BlockRecords, Input, InputFormat};
use crate::report::Coverage;
use crate::{ColumnBinding, CsvRecord, JsonRecord, Program};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutFormat {
    Csv,
    Jsonl,
    Table,
}

#[derive(Debug, Args)]
pub struct DryRunArgs {
    /// The customer's rule file.
    #[arg(long)]
    rules: PathBuf,
    /// CSV exports, SCIM JSON (object, array, ListResponse) or JSONL files; `-` reads stdin.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The input format, when the extension does not say.
    #[arg(long, value_enum)]
    input_format: Option<InputFormat>,
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    format: OutFormat,
    /// Write the rows here instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Identifying columns to copy to the output (default: id, login, email when present;
    /// id, externalId, userName for JSON).
    #[arg(long, value_delimiter = ',')]
    keep: Vec<String>,
    /// Also write the coverage report to this file (`.json` or `.md`).
    #[arg(long)]
    report: Option<PathBuf>,
    /// How many unmapped raw values to show per field.
    #[arg(long, default_value_t = 20)]
    top: usize,
    /// Worker threads (0 = all cores).
    #[arg(long, short = 'j', default_value_t = 1)]
    jobs: usize,
    /// Stop at the first bad row.
    #[arg(long)]
    strict: bool,
    /// No coverage report on stderr.
    #[arg(long, short = 'q')]
    quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReportKind {
    Json,
    Markdown,
    Text,
}

/// Validated configuration.
struct Config {
    rules: PathBuf,
    inputs: Vec<PathBuf>,
    input_format: Option<InputFormat>,
    format: OutFormat,
    out: Option<PathBuf>,
    keep: Option<Vec<String>>,
    report: Option<(PathBuf, ReportKind)>,
    top: usize,
    jobs: usize,
    strict: bool,
    quiet: bool,
}

fn report_kind(path: &Path) -> Result<ReportKind, String> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("json") => Ok(ReportKind::Json),
        Some("md") | Some("markdown") => Ok(ReportKind::Markdown),
        Some("txt") => Ok(ReportKind::Text),
        _ => Err(format!(
            "--report `{}`: use a .json, .md or .txt file",
            path.display()
        )),
    }
}

impl Config {
    fn from_args(args: DryRunArgs) -> Result<Self, String> {
        let stdin_count = args.inputs.iter().filter(|p| p.as_os_str() == "-").count();
        if stdin_count > 1 {
            return Err("`-` (stdin) can be given once".into());
        }
        let report = match args.report {
            Some(path) => Some((path.clone(), report_kind(&path)?)),
            None => None,
        };
        let jobs = if args.jobs == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        } else {
            args.jobs
        };
        Ok(Self {
            rules: args.rules,
            inputs: args.inputs,
            input_format: args.input_format,
            format: args.format,
            out: args.out,
            keep: if args.keep.is_empty() {
                None
            } else {
                Some(args.keep)
            },
            report,
            top: args.top,
            jobs,
            strict: args.strict,
            quiet: args.quiet,
        })
    }
}

pub fn run(args: DryRunArgs) -> u8 {
    let config = match Config::from_args(args) {
        Ok(config) => config,
        Err(message) => return fail_usage(message),
    };
    let program = match load_rules(&config.rules) {
        Ok(program) => program,
        Err(code) => return code,
    };
    // Open every input first: a missing file is a usage error before any output.
    let mut inputs = Vec::new();
    for path in &config.inputs {
        match Input::open(path, config.input_format) {
            Ok(input) => inputs.push(input),
            Err(error) => return fail_usage(error),
        }
    }
    // A `--keep` column that no CSV header has is a typo, not an empty column.
    if let Some(keep) = &config.keep {
        let headers: Vec<&[String]> = inputs
            .iter()
            .filter_map(|i| {
                if let Input::Csv(c) = i {
                    Some(c.header())
                } else {
                    None
                }
            })
            .collect();
        if headers.len() == inputs.len() {
            for k in keep {
                if !headers
                    .iter()
                    .any(|h| h.iter().any(|c| c.eq_ignore_ascii_case(k)))
                {
                    return fail_usage(format!("--keep `{k}`: no input has that column"));
                }
            }
        }
    }
    let bytes: Option<u64> = config
        .inputs
        .iter()
        .map(|p| {
            if p.as_os_str() == "-" {
                None
            } else {
                Input::size(p)
            }
        })
        .sum();
    let out: Box<dyn Write + Send> = match &config.out {
        Some(path) => match std::fs::File::create(path) {
            Ok(file) => Box::new(file),
            Err(error) => return fail_usage(format!("cannot write `{}`: {error}", path.display())),
        },
        None => Box::new(io::stdout()),
    };
    let out = io::BufWriter::with_capacity(1 << 16, out);
    let started = Instant::now();
    let outcome = execute(&program, &config, inputs, out);
    let seconds = started.elapsed().as_secs_f64();
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) => return fail_usage(error),
    };
    let report = outcome.coverage.report(
        &program,
        &outcome.bad,
        outcome.bad_total,
        config.top,
        seconds,
        bytes,
    );
    if !config.quiet {
        eprint!("{}", report.to_text());
    }
    if let Some((path, kind)) = &config.report {
        let text = match kind {
            ReportKind::Json => {
                serde_json::to_string_pretty(&report.to_json()).unwrap_or_default() + "\n"
            }
            ReportKind::Markdown => report.to_markdown(),
            ReportKind::Text => report.to_text(),
        };
        if let Err(error) = std::fs::write(path, text) {
            return fail_usage(format!("cannot write `{}`: {error}", path.display()));
        }
    }
    if outcome.bad_total > 0 {
        EXIT_PROBLEMS
    } else {
        EXIT_OK
    }
}

/// What a run returns: the merged coverage and the bad rows.
struct Outcome {
    coverage: Coverage,
    bad: Vec<BadRow>,
    bad_total: u64,
}

/// Bad rows kept for the report (all are counted).
const KEEP_BAD: usize = 100;
/// Rows per batch handed to a worker thread: enough to amortise the channels, few enough that
/// a batch is still in cache when a worker takes it (512 rows took 5.6 s of wall time and
/// 10.4 s of CPU on 1M rows with two workers; 128 rows, 3.4–4.2 s and 6.2–7.5 s).
const BATCH: usize = 128;
/// Rows per batch with one worker: few enough that a row is still in the CPU cache when it
/// is evaluated right after being read (512 rows of a 33-column export are ~300 KB).
const BATCH_ONE_WORKER: usize = 32;

enum Rows {
    Csv {
        binding: Arc<ColumnBinding>,
        keys: Arc<Vec<Option<usize>>>,
        rows: Vec<csv::ByteRecord>,
        len: usize,
    },
    Json {
        keys: Arc<Vec<String>>,
        rows: Vec<serde_json::Value>,
    },
    /// Whole CSV records of input number `input`, not parsed yet; `failed`: reading the
    /// input failed after them (the error ends it).
    Block {
        binding: Arc<ColumnBinding>,
        keys: Arc<Vec<Option<usize>>>,
        input: usize,
        bytes: Vec<u8>,
        failed: Option<String>,
    },
}

impl Rows {
    /// The rows in the batch, when the reader knows (it does not count a block's).
    fn len(&self) -> Option<usize> {
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
struct BlockRead {
    input: usize,
    rows: u64,
    lines: u64,
    bad: Vec<BlockBadRow>,
    failed: Option<String>,
}

/// Formats rows of output.
struct Formatter {
    format: OutFormat,
    columns: Vec<String>,
}

impl Formatter {
    fn header(&self, out: &mut Vec<u8>) {
        match self.format {
            OutFormat::Csv => {
                let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
                let _ = w.write_record(&self.columns);
                if let Ok(bytes) = w.into_inner() {
                    out.extend_from_slice(&bytes);
                }
            }
            OutFormat::Table => {
                let cells: Vec<String> = self.columns.iter().map(|c| format!("{c:<20}")).collect();
                out.extend_from_slice(cells.join(" ").trim_end().as_bytes());
                out.push(b'\n');
            }
            OutFormat::Jsonl => {}
        }
    }
}

/// The `row_status` column: complete, `missing:FIELD+FIELD`, or error.
fn status_text(row: &Row) -> std::borrow::Cow<'static, str> {
    if row.is_error() {
        return "error".into();
    }
    if !row.is_missing_required() {
        return "complete".into();
    }
    let mut text = String::from("missing:");
    for (n, field) in row.missing_required().enumerate() {
        if n > 0 {
            text.push('+');
        }
        text.push_str(field);
    }
    text.into()
}

/// One worker's state: an evaluator that counts coverage, a reusable CSV writer.
struct Worker<'p> {
    ev: crate::Evaluator<'p, Coverage>,
    format: OutFormat,
    columns: Arc<Vec<String>>,
    /// How many canonical fields a row has (JSON writes unset ones as null).
    nfields: usize,
    cells: Vec<String>,
    /// Writes CSV output rows.
    csv: CsvRows,
    /// The row being read from a block, reused.
    parsed: csv::ByteRecord,
    /// The reader of blocks, reused.
    blocks: Option<BlockRecords>,
}

/// Writes CSV records straight into a batch's bytes, quoted where csv-core's writer says a
/// field must be (a delimiter, quote or line break in it). The csv crate's writer, record by
/// record, copied each field twice: into a record, then into its own buffer.
struct CsvRows {
    quoting: csv_core::Writer,
}

impl Default for CsvRows {
    fn default() -> Self {
        Self {
            quoting: csv_core::Writer::new(),
        }
    }
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
        if !self.quoting.should_quote(cell) {
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
    /// `shared`: the cache the workers of a parallel run share behind their own.
    fn new(
        program: &'p Program,
        format: OutFormat,
        columns: Arc<Vec<String>>,
        shared: Option<&'p SharedCache>,
    ) -> Self {
        let coverage = Coverage::new(program);
        Self {
            ev: match shared {
                Some(shared) => crate::Evaluator::sharing(program, coverage, shared),
                None => crate::Evaluator::counting(program, coverage),
            },
            format,
            columns,
            nfields: program.fields.len(),
            cells: Vec::new(),
            csv: CsvRows::default(),
            parsed: csv::ByteRecord::new(),
            blocks: None,
        }
    }

    /// Turns a batch into output bytes (in `out`, reused); for a block, also says what was
    /// read in it.
    fn process(&mut self, rows: &mut Rows, mut out: Vec<u8>) -> (Vec<u8>, Option<BlockRead>) {
        out.clear();
        let mut read = None;
        match rows {
            Rows::Csv {
                binding,
                keys,
                rows,
                len,
            } => {
                for row in &rows[..*len] {
                    self.csv_row(binding, keys, row, &mut out);
                }
            }
            Rows::Block {
                binding,
                keys,
                input,
                bytes,
                failed,
            } => {
                // Lent out while the rows are evaluated (a `take` of the reader itself would
                // build a new csv-core reader per block).
                let mut records = self.blocks.take().unwrap_or_default();
                let mut row = std::mem::take(&mut self.parsed);
                let mut bad = Vec::new();
                records.start(bytes);
                loop {
                    match records.read(&mut row) {
                        Ok(true) => self.csv_row(binding, keys, &row, &mut out),
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
                    let outcomes = self.ev.apply_row(&JsonRecord::new(value));
                    Self::fill(&mut self.cells, found.iter().map(String::as_str), &outcomes);
                    self.write(&mut out);
                }
            }
        }
        (out, read)
    }

    /// Evaluates one CSV row (its fields checked as text) and writes its output row.
    fn csv_row(
        &mut self,
        binding: &ColumnBinding,
        keys: &[Option<usize>],
        row: &csv::ByteRecord,
        out: &mut Vec<u8>,
    ) {
        let outcomes = self.ev.apply_row(&CsvRecord::from_bytes(binding, row));
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
            .map(|k| {
                k.and_then(|i| row.get(i))
                    .and_then(|b| std::str::from_utf8(b).ok())
            })
            .map(|cell| cell.unwrap_or(""));
        Self::fill(&mut self.cells, keep, &outcomes);
        self.write(out);
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
    fn coverage(self) -> Coverage {
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
                    .map(|c| format!("{:<20}", crate::report::show(c).trim_matches('"')))
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

/// Bad rows seen so far; prints the first few on stderr as they come.
#[derive(Default)]
struct BadRows {
    /// The first rows kept, each with the batch it came in (for a parallel run, whose rows
    /// are found by two threads: the reader and, for blocks, the writer).
    kept: Vec<(u64, BadRow)>,
    total: u64,
    /// The reader's bad rows in a parallel run: held for the next batch, which carries them
    /// to the writer, so that they are printed and kept in input order with the rows the
    /// workers find.
    forward: Option<Vec<BadRow>>,
}

impl BadRows {
    /// Bad rows held for the batches that carry them (see `forward`).
    fn forwarding() -> Self {
        Self {
            forward: Some(Vec::new()),
            ..Self::default()
        }
    }

    /// Records a bad row that came in batch `batch`.
    fn push(&mut self, batch: u64, bad: BadRow) {
        self.total += 1;
        if let Some(held) = &mut self.forward {
            held.push(bad);
            return;
        }
        if self.total <= 20 {
            eprintln!("canon: {bad} (skipped)");
        }
        if self.kept.len() < KEEP_BAD {
            self.kept.push((batch, bad));
        }
    }

    /// The rows held for the next batch.
    fn take_held(&mut self) -> Vec<BadRow> {
        self.forward
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    fn into_kept(self) -> Vec<BadRow> {
        self.kept.into_iter().map(|(_, bad)| bad).collect()
    }
}

fn default_keys(format_is_csv: bool) -> Vec<String> {
    if format_is_csv {
        vec!["id".into(), "login".into(), "email".into()]
    } else {
        vec!["id".into(), "externalId".into(), "userName".into()]
    }
}

fn execute(
    program: &Program,
    config: &Config,
    inputs: Vec<Input>,
    mut out: io::BufWriter<Box<dyn Write + Send>>,
) -> Result<Outcome, String> {
    // The output columns: the kept columns of the first input, then the fields, then status.
    let keep: Vec<String> = match (&config.keep, inputs.first()) {
        (Some(keep), _) => keep.clone(),
        (None, Some(Input::Csv(csv))) => {
            let header: Vec<String> = csv.header().iter().map(|h| h.to_lowercase()).collect();
            default_keys(true)
                .into_iter()
                .filter(|k| header.contains(k))
                .collect()
        }
        (None, _) => default_keys(false),
    };
    // A kept column named like a canonical field (`status`) or `row_status` is written as
    // `raw_NAME`, so no output has two columns (or JSON keys) of the same name.
    let fields: Vec<String> = program.field_names().map(str::to_string).collect();
    let mut columns: Vec<String> = keep
        .iter()
        .map(|k| {
            let clash = k.eq_ignore_ascii_case("row_status")
                || fields.iter().any(|f| f.eq_ignore_ascii_case(k));
            if clash {
                format!("raw_{k}")
            } else {
                k.clone()
            }
        })
        .collect();
    columns.extend(fields);
    // `row_status`, not `status`: `status` is a canonical field (active/inactive).
    columns.push("row_status".into());
    let columns = Arc::new(columns);
    let formatter = Formatter {
        format: config.format,
        columns: columns.as_ref().clone(),
    };
    let mut head = Vec::new();
    formatter.header(&mut head);
    let mut bad = if config.jobs <= 1 {
        BadRows::default()
    } else {
        BadRows::forwarding()
    };
    if write_all(&mut out, &head)? {
        return Ok(Outcome {
            coverage: Coverage::new(program),
            bad: Vec::new(),
            bad_total: 0,
        });
    }
    let progress = progress_bar(config.quiet);

    let coverage = if config.jobs <= 1 {
        let mut worker = Worker::new(program, config.format, columns.clone(), None);
        let mut buf = Vec::new();
        let mut closed = false;
        read_batches(
            program,
            inputs,
            &keep,
            config.strict,
            CsvBatches::Records(BATCH_ONE_WORKER),
            BATCH_ONE_WORKER,
            &mut bad,
            &mut |mut rows, _held| {
                buf.clear();
                buf = worker.process(&mut rows, std::mem::take(&mut buf)).0;
                if let (Some(p), Some(n)) = (&progress, rows.len()) {
                    p.inc(n as u64);
                }
                match write_all(&mut out, &buf) {
                    Ok(false) => Some(rows),
                    _ => {
                        closed = true;
                        None
                    }
                }
            },
        );
        let _ = closed;
        worker.coverage()
    } else {
        run_parallel(
            program,
            config,
            inputs,
            &keep,
            columns.clone(),
            &mut bad,
            out,
            progress.as_ref(),
        )?
    };
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    let bad_total = bad.total;
    Ok(Outcome {
        coverage,
        bad: bad.into_kept(),
        bad_total,
    })
}

/// Writes bytes; `Ok(true)` when the reader has gone (a closed pipe is not an error).
fn write_all(out: &mut impl Write, bytes: &[u8]) -> Result<bool, String> {
    match out.write_all(bytes).and_then(|_| {
        if bytes.is_empty() {
            out.flush()
        } else {
            Ok(())
        }
    }) {
        Ok(()) => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(true),
        Err(e) => Err(format!("cannot write the output: {e}")),
    }
}

fn progress_bar(quiet: bool) -> Option<indicatif::ProgressBar> {
    if quiet || !io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{spinner} {human_pos} rows  {per_sec}  {elapsed}")
    {
        bar.set_style(style);
    }
    Some(bar)
}

/// How the reader hands out CSV rows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CsvBatches {
    /// Parsed records, `n` at a time.
    Records(usize),
    /// Blocks of about `n` bytes of whole records, for the workers to parse.
    Blocks(usize),
}

/// Reads every input into batches and hands each to `sink` with the bad rows `bad` holds for
/// it; `sink` gives the batch back for reuse, or `None` to stop. JSON batches hold `batch`
/// users. Bad rows found after the last batch stay held in `bad`.
#[allow(clippy::too_many_arguments)]
fn read_batches(
    program: &Program,
    inputs: Vec<Input>,
    keep: &[String],
    strict: bool,
    csv_batches: CsvBatches,
    batch: usize,
    bad: &mut BadRows,
    sink: &mut dyn FnMut(Rows, Vec<BadRow>) -> Option<Rows>,
) {
    let mut spare: Option<Rows> = None;
    // Batches handed out so far: the number of the one being filled.
    let mut sent = 0u64;
    // A batch carries the bad rows held for it (in a parallel run, see `BadRows::forward`).
    let mut send = |rows: Rows, sent: &mut u64, bad: &mut BadRows| {
        *sent += 1;
        sink(rows, bad.take_held())
    };
    for (index, input) in inputs.into_iter().enumerate() {
        match input {
            Input::Csv(csv) => {
                let binding =
                    Arc::new(program.bind_columns(csv.header().iter().map(String::as_str)));
                let lower: Vec<String> = csv.header().iter().map(|h| h.to_lowercase()).collect();
                let keys = Arc::new(
                    keep.iter()
                        .map(|k| lower.iter().position(|h| *h == k.to_lowercase()))
                        .collect::<Vec<_>>(),
                );
                let mut csv = match (csv_batches, strict) {
                    // `--strict` stops at the first bad row, which only the reader can do.
                    (CsvBatches::Blocks(size), false) => match csv.into_blocks() {
                        Ok(mut blocks) => {
                            let mut bytes = match spare.take() {
                                Some(Rows::Block { bytes, .. }) => bytes,
                                _ => Vec::new(),
                            };
                            loop {
                                let (more, failed) = match blocks.next_block(size, &mut bytes) {
                                    Ok(more) => (more, None),
                                    Err(error) => (true, Some(error.to_string())),
                                };
                                if !more {
                                    break;
                                }
                                let stop = failed.is_some();
                                let rows = Rows::Block {
                                    binding: binding.clone(),
                                    keys: keys.clone(),
                                    input: index,
                                    bytes,
                                    failed,
                                };
                                bytes = match send(rows, &mut sent, bad) {
                                    Some(Rows::Block { bytes, .. }) => bytes,
                                    Some(_) => Vec::new(),
                                    None => return,
                                };
                                if stop {
                                    break;
                                }
                            }
                            spare = Some(Rows::Block {
                                binding,
                                keys,
                                input: index,
                                bytes,
                                failed: None,
                            });
                            continue;
                        }
                        Err(csv) => csv,
                    },
                    _ => csv,
                };
                let batch = match csv_batches {
                    CsvBatches::Records(n) => n,
                    CsvBatches::Blocks(_) => batch,
                };
                let mut rows = match spare.take() {
                    Some(Rows::Csv { rows, .. }) => rows,
                    _ => Vec::new(),
                };
                let mut len = 0;
                loop {
                    if rows.len() <= len {
                        rows.push(csv::ByteRecord::new());
                    }
                    match csv.read(&mut rows[len]) {
                        Ok(true) => len += 1,
                        Ok(false) => break,
                        Err(b) => {
                            bad.push(sent, b);
                            if strict || csv.stopped() {
                                break;
                            }
                        }
                    }
                    if len == batch {
                        let full = Rows::Csv {
                            binding: binding.clone(),
                            keys: keys.clone(),
                            rows,
                            len,
                        };
                        match send(full, &mut sent, bad) {
                            Some(Rows::Csv { rows: back, .. }) => rows = back,
                            Some(_) => rows = Vec::new(),
                            None => return,
                        }
                        len = 0;
                    }
                }
                if len > 0 {
                    let last = Rows::Csv {
                        binding: binding.clone(),
                        keys: keys.clone(),
                        rows,
                        len,
                    };
                    match send(last, &mut sent, bad) {
                        Some(back) => spare = Some(back),
                        None => return,
                    }
                }
                if strict && bad.total > 0 {
                    return;
                }
            }
            Input::Json(mut json) => {
                let keys = Arc::new(keep.to_vec());
                let mut rows = Vec::with_capacity(batch);
                while let Some(item) = json.next_user() {
                    match item {
                        Ok(value) => rows.push(value),
                        Err(b) => {
                            let stop = b.message.ends_with("(reading stopped)");
                            bad.push(sent, b);
                            if strict || stop {
                                break;
                            }
                        }
                    }
                    if rows.len() == batch {
                        let full = Rows::Json {
                            keys: keys.clone(),
                            rows: std::mem::take(&mut rows),
                        };
                        if send(full, &mut sent, bad).is_none() {
                            return;
                        }
                    }
                }
                if !rows.is_empty()
                    && send(
                        Rows::Json {
                            keys: keys.clone(),
                            rows,
                        },
                        &mut sent,
                        bad,
                    )
                    .is_none()
                {
                    return;
                }
                if strict && bad.total > 0 {
                    return;
                }
            }
        }
    }
}

/// Bytes of CSV per block of a parallel run: about `BATCH` generated rows (360 bytes each).
const BLOCK_BYTES: usize = 48 * 1024;

#[allow(clippy::too_many_arguments)]
fn run_parallel(
    program: &Program,
    config: &Config,
    inputs: Vec<Input>,
    keep: &[String],
    columns: Arc<Vec<String>>,
    bad: &mut BadRows,
    mut out: io::BufWriter<Box<dyn Write + Send>>,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<Coverage, String> {
    let jobs = config.jobs;
    let (work_tx, work_rx) = mpsc::sync_channel::<(u64, Rows, Vec<BadRow>)>(jobs * 2);
    let work_rx = Arc::new(Mutex::new(work_rx));
    type Done = (u64, Vec<u8>, Option<BlockRead>, Vec<BadRow>);
    let (done_tx, done_rx) = mpsc::sync_channel::<Done>(jobs * 4);
    let (back_tx, back_rx) = mpsc::channel::<Rows>();
    // The writer says when it has written a batch: the reader stays at most `in_flight`
    // batches ahead of it, so a worker that falls behind (a descheduled thread) cannot make
    // the batches waiting for it to be put back in order pile up in memory.
    let (written_tx, written_rx) = mpsc::channel::<()>();
    // Output buffers written, back to the workers for reuse.
    let (spent_tx, spent_rx) = mpsc::channel::<Vec<u8>>();
    let spent_rx = Arc::new(Mutex::new(spent_rx));
    let in_flight = (jobs * 4) as u64;
    let shared = &SharedCache::new(program);
    // Where each input's rows start, for the bad rows the workers find in blocks.
    let starts: Vec<(String, u64)> = inputs
        .iter()
        .map(|input| match input {
            Input::Csv(csv) => (csv.name.clone(), csv.first_line()),
            Input::Json(json) => (json.name.clone(), 1),
        })
        .collect();
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> Result<BadRows, String> {
            let mut pending = std::collections::BTreeMap::new();
            let mut next = 0u64;
            let mut located = BlockRows::new(starts);
            for (seq, bytes, read, held) in done_rx {
                pending.insert(seq, (bytes, read, held));
                while let Some((bytes, read, held)) = pending.remove(&next) {
                    for bad in held {
                        located.bad.push(next, bad);
                    }
                    if let Some(read) = read {
                        let rows = read.rows;
                        located.place(next, read);
                        if let Some(p) = progress {
                            p.inc(rows);
                        }
                    }
                    next += 1;
                    if write_all(&mut out, &bytes)? {
                        // Closed pipe: dropping done_rx stops the workers.
                        return Ok(located.bad);
                    }
                    let _ = spent_tx.send(bytes);
                    let _ = written_tx.send(());
                }
            }
            write_all(&mut out, &[]).map(|_| located.bad)
        });
        let workers: Vec<_> = (0..jobs)
            .map(|_| {
                let work_rx = work_rx.clone();
                let done_tx = done_tx.clone();
                let back_tx = back_tx.clone();
                let spent_rx = spent_rx.clone();
                let columns = columns.clone();
                let format = config.format;
                scope.spawn(move || {
                    let mut worker = Worker::new(program, format, columns, Some(shared));
                    loop {
                        let job = match work_rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => break,
                        };
                        let Ok((seq, mut rows, held)) = job else {
                            break;
                        };
                        // A buffer the writer is done with, rather than one allocated here
                        // and freed on the writer's thread for every batch.
                        let spent = spent_rx.lock().ok().and_then(|rx| rx.try_recv().ok());
                        let buffer = spent.unwrap_or_else(|| Vec::with_capacity(64 * 1024));
                        let (bytes, read) = worker.process(&mut rows, buffer);
                        if done_tx.send((seq, bytes, read, held)).is_err() {
                            break;
                        }
                        let _ = back_tx.send(rows);
                    }
                    worker.coverage()
                })
            })
            .collect();
        drop(done_tx);
        drop(back_tx);
        // Only the workers may hold the receiver: when they all stop (the writer met a closed
        // pipe), `work_tx.send` must fail instead of blocking on a full channel forever.
        drop(work_rx);
        let mut seq = 0u64;
        let mut written = 0u64;
        read_batches(
            program,
            inputs,
            keep,
            config.strict,
            CsvBatches::Blocks(BLOCK_BYTES),
            BATCH,
            bad,
            &mut |rows, held| {
                if let (Some(p), Some(n)) = (progress, rows.len()) {
                    p.inc(n as u64);
                }
                if work_tx.send((seq, rows, held)).is_err() {
                    return None;
                }
                seq += 1;
                while seq - written >= in_flight {
                    written_rx.recv().ok()?;
                    written += 1;
                }
                // Reuse a batch a worker has finished with, if one is back; else start a new one.
                Some(back_rx.try_recv().unwrap_or(Rows::Json {
                    keys: Arc::new(Vec::new()),
                    rows: Vec::new(),
                }))
            },
        );
        drop(work_tx);
        let mut coverage = Coverage::new(program);
        for worker in workers {
            if let Ok(part) = worker.join() {
                coverage.merge(part);
            }
        }
        match writer.join() {
            Ok(result) => result.map(|mut found| {
                // The writer has every bad row carried or found in order; those read after
                // the last batch come last.
                let last = seq;
                for late in bad.take_held() {
                    found.push(last, late);
                }
                *bad = found;
                coverage
            }),
            Err(_) => Err("the output writer stopped".into()),
        }
    })
}

/// Places the bad rows that workers find in blocks: the writer sees the blocks of an input in
/// order, so it knows the row and line each block starts on.
struct BlockRows {
    /// Per input: its name, and the row and line its next block starts on.
    inputs: Vec<(String, u64, u64)>,
    bad: BadRows,
}

impl BlockRows {
    fn new(starts: Vec<(String, u64)>) -> Self {
        Self {
            inputs: starts
                .into_iter()
                .map(|(name, line)| (name, 1, line))
                .collect(),
            bad: BadRows::default(),
        }
    }

    /// Counts the block that came in batch `batch`, and records its bad rows.
    fn place(&mut self, batch: u64, read: BlockRead) {
        let Some((name, row, line)) = self.inputs.get_mut(read.input) else {
            return;
        };
        for bad in read.bad {
            self.bad.push(
                batch,
                BadRow {
                    input: name.clone(),
                    at: format!("row {} (line {})", *row + bad.row - 1, *line + bad.line),
                    message: bad.message,
                },
            );
        }
        *row += read.rows;
        *line += read.lines;
        if let Some(error) = read.failed {
            // As the record-by-record reader reports it: the row it was reading.
            self.bad.push(
                batch,
                BadRow {
                    input: name.clone(),
                    at: format!("row {} (line {})", *row, *line),
                    message: format!("{error} (reading stopped)"),
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::CsvInput;
    use std::io::Read;

    /// `rows` records with quoted line breaks, CRLF and LF, a record that starts with a
    /// byte-order mark, a stray quote, and a row that is not UTF-8 every 97th.
    fn export(rows: usize) -> Vec<u8> {
        let mut text = b"id,title,note\n".to_vec();
        for n in 1..=rows {
            let row = match n % 7 {
                0 => format!("{n},\"Sr. Manager,\nSales\",x\r\n"),
                1 => format!("\u{feff}{n},VP,\"a \"\"b\"\"\"\n"),
                2 => format!("{n},5\" pipe fitter,y\n"),
                _ => format!("{n},Analyst,\n"),
            };
            text.extend_from_slice(row.as_bytes());
            if n % 97 == 0 {
                text.extend_from_slice(b"bad,\xFF\xFE,z\n");
            }
        }
        text
    }

    /// Gives `text` `step` bytes at a time, then fails.
    struct FailsAtTheEnd {
        text: Vec<u8>,
        at: usize,
        step: usize,
    }

    impl Read for FailsAtTheEnd {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.at == self.text.len() {
                return Err(io::Error::other("device gone"));
            }
            let n = self.step.min(buf.len()).min(self.text.len() - self.at);
            buf[..n].copy_from_slice(&self.text[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn input(text: &[u8], step: usize) -> CsvInput {
        let read = FailsAtTheEnd {
            text: text.to_vec(),
            at: 0,
            step,
        };
        CsvInput::from_reader("t.csv", Box::new(read)).unwrap()
    }

    /// Records and bad rows (as printed) read one by one, as one worker reads them.
    fn by_records(text: &[u8]) -> (Vec<csv::ByteRecord>, Vec<String>) {
        let mut csv = input(text, 1000);
        let (mut records, mut bad) = (Vec::new(), Vec::new());
        let mut record = csv::ByteRecord::new();
        loop {
            match csv.read(&mut record) {
                Ok(true) => records.push(record.clone()),
                Ok(false) => break,
                Err(b) => {
                    bad.push(b.to_string());
                    if csv.stopped() {
                        break;
                    }
                }
            }
        }
        (records, bad)
    }

    /// The same, read in blocks of `size` bytes, parsed apart and placed as a parallel run
    /// does: the reader cuts blocks, a worker parses each, the writer places its bad rows.
    fn by_blocks(text: &[u8], step: usize, size: usize) -> (Vec<csv::ByteRecord>, Vec<String>) {
        let csv = input(text, step);
        let mut placed = BlockRows::new(vec![("t.csv".into(), csv.first_line())]);
        let Ok(mut blocks) = csv.into_blocks() else {
            panic!("nothing was read yet");
        };
        let mut parser = BlockRecords::default();
        let mut records = Vec::new();
        let mut bytes = Vec::new();
        for batch in 0.. {
            let (more, failed) = match blocks.next_block(size, &mut bytes) {
                Ok(more) => (more, None),
                Err(error) => (true, Some(error.to_string())),
            };
            if !more {
                break;
            }
            parser.start(&mut bytes);
            let mut bad = Vec::new();
            let mut record = csv::ByteRecord::new();
            loop {
                match parser.read(&mut record) {
                    Ok(true) => records.push(record.clone()),
                    Ok(false) => break,
                    Err(b) => bad.push(b),
                }
            }
            parser.finish(&mut bytes);
            let stop = failed.is_some();
            let read = BlockRead {
                input: 0,
                rows: parser.rows,
                lines: parser.lines,
                bad,
                failed,
            };
            placed.place(batch, read);
            if stop {
                break;
            }
        }
        let bad = placed
            .bad
            .into_kept()
            .iter()
            .map(BadRow::to_string)
            .collect();
        (records, bad)
    }

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
            CsvRows::default().record(&mut rows, record.iter().copied(), last);
            let mut all = record.to_vec();
            all.push(last);
            expected.write_record(&all).unwrap();
        }
        assert_eq!(rows, expected.into_inner().unwrap());
    }

    #[test]
    fn blocks_read_what_one_reader_reads_with_the_same_bad_rows() {
        let text = export(400);
        let (records, bad) = by_records(&text);
        assert_eq!(records.len(), 400);
        // Four rows that are not UTF-8, then the read error, each where one reader says.
        assert_eq!(bad.len(), 5, "{bad:?}");
        assert!(bad[4].ends_with("device gone (reading stopped)"), "{bad:?}");
        for (step, size) in [(1000, 64), (7, 1), (4096, 5000), (100_000, 100_000)] {
            let (got, got_bad) = by_blocks(&text, step, size);
            assert_eq!(got.len(), records.len(), "step {step} size {size}");
            let differs = got.iter().zip(&records).position(|(a, b)| a != b);
            assert_eq!(differs, None, "step {step} size {size}");
            assert_eq!(got_bad, bad, "step {step} size {size}");
        }
    }
}
