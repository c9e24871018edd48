//! `canon dry-run`: map a whole export with a rule file, write one row per record, and report
//! coverage.
//!
//! The pipeline (`read.rs`, `worker.rs`, `parallel.rs`): the reader cuts each CSV input into
//! blocks of whole records without parsing them (JSON inputs and `--strict` runs are read
//! record by record); a worker parses each block (`crate::input::BlockRecords`) and turns its
//! rows into output bytes and coverage counts. With one worker, the main thread does both in
//! turn. With `--jobs N > 1`, N workers each own an evaluator and take their turns of the
//! reader's blocks (batch n to worker n mod N), and a writer thread puts the batches back in
//! input order (`pool.rs`, which the first pass's readers use too). Either way, bad rows are
//! placed in input order by [`read::BlockRows`].

pub(super) mod org;
mod parallel;
mod pool;
mod read;
mod worker;

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use clap::Args;

use super::{fail_usage, load_rules, EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE};
use crate::eval::OrgIndex;
use crate::eval::Row;
use crate::input::{BadRow, Input, InputFormat};
use crate::report::{header, Coverage, OrgReport};
use crate::Program;
use org::RecordCounts;
use parallel::run_parallel;
use read::{read_batches, BadRows, BlockRows};
use worker::Worker;

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
    /// The date that date tests (`is before today`) compare with, instead of the local date:
    /// a run decides every row on one date, and this makes it reproducible.
    #[arg(long, value_name = "YYYY-MM-DD")]
    today: Option<chrono::NaiveDate>,
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
    today: chrono::NaiveDate,
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

/// The default pack, for the passes' tests.
#[cfg(test)]
fn default_pack() -> Program {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/rules/default.rules");
    Program::load(Path::new(path)).unwrap()
}

/// A run's settings in the passes' tests: CSV out, no report, the given workers and date.
#[cfg(test)]
impl Config {
    fn for_test(inputs: Vec<PathBuf>, jobs: usize, strict: bool, today: chrono::NaiveDate) -> Self {
        Self {
            rules: PathBuf::new(),
            inputs,
            input_format: None,
            format: OutFormat::Csv,
            out: None,
            keep: None,
            report: None,
            top: 20,
            jobs,
            strict,
            quiet: true,
            today,
        }
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
        if args.jobs > MAX_JOBS {
            return Err(format!(
                "--jobs {}: at most {MAX_JOBS} worker threads (0 = all cores)",
                args.jobs
            ));
        }
        let jobs = if args.jobs == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get().min(MAX_JOBS))
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
            today: args
                .today
                .unwrap_or_else(|| chrono::Local::now().date_naive()),
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
    // With an organisation graph the inputs are read twice; standard input is copied first.
    let (paths, _stdin_copy) = if program.has_org_graph() {
        match org::spool_stdin(&config.inputs, config.input_format) {
            Ok(spooled) => spooled,
            Err(error) => return fail_usage(error),
        }
    } else {
        (config.inputs.clone(), None)
    };
    let inputs = match org::open_inputs(&config.inputs, &paths, config.input_format) {
        Ok(inputs) => inputs,
        Err(error) => return fail_usage(error),
    };
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
    let headers = header::check_headers(&program, &inputs);
    for warning in &headers.warnings {
        eprintln!("canon: warning: {warning}");
    }
    if !headers.errors.is_empty() {
        for error in &headers.errors {
            eprintln!("canon: {error}");
        }
        return EXIT_USAGE;
    }
    let population = if program.has_org_graph() {
        // Read in the mapping pass's batches, so that its counts line up with them.
        let batch = if config.jobs <= 1 {
            BATCH_ONE_WORKER
        } else {
            BATCH
        };
        let pass = org::Pass {
            today: config.today,
            strict: config.strict,
            batch,
            jobs: config.jobs,
        };
        match org::count_population(&program, &config.inputs, &paths, config.input_format, pass) {
            Ok(population) => Some(population),
            Err(error) => return fail_usage(error),
        }
    } else {
        None
    };
    let (index, seen, counts) = match population {
        Some(found) => (Some(found.index), Some(found.seen), found.counts),
        None => (None, None, None),
    };
    let bytes: Option<u64> = paths
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
    let outcome = execute(&program, &config, inputs, out, index.as_ref(), counts);
    let seconds = started.elapsed().as_secs_f64();
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) => return fail_usage(error),
    };
    let mut report = outcome.coverage.report(
        &program,
        &outcome.bad,
        outcome.bad_total,
        config.top,
        seconds,
        bytes,
    );
    report.unread_columns = headers.unread;
    if let (Some(index), Some(mut seen)) = (&index, seen) {
        // The first pass noted every record, unless its counts could not be kept: then the
        // workers did.
        if let Some(noted) = outcome.coverage.org.clone() {
            seen.merge(noted);
        }
        report.organisation = Some(OrgReport::build(index, &seen));
    }
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

/// Rows per batch handed to a worker thread: enough to amortise the channels, few enough that
/// a batch is still in cache when a worker takes it (512 rows took 5.6 s of wall time and
/// 10.4 s of CPU on 1M rows with two workers; 128 rows, 3.4–4.2 s and 6.2–7.5 s).
const BATCH: usize = 128;
/// Worker threads a run may ask for: each is a thread (that the system may refuse to start)
/// and a share of the caches.
const MAX_JOBS: usize = 256;
/// Rows per batch with one worker (JSON, and `--strict` CSV): few enough that a row is still
/// in the CPU cache when it is evaluated right after being read (512 rows of a 33-column
/// export are ~300 KB).
const BATCH_ONE_WORKER: usize = 32;
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
                let cells: Vec<String> = self
                    .columns
                    .iter()
                    .map(|c| crate::report::fit(c, crate::report::TABLE_CELL))
                    .collect();
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
    population: Option<&OrgIndex>,
    mut counts: Option<RecordCounts>,
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
    // The reader holds the bad rows it finds for the batch that follows them, so that they
    // are put in input order with those found in blocks (by the one worker, or by the
    // workers of a parallel run).
    let mut bad = BadRows::forwarding();
    if write_all(&mut out, &head)? {
        return Ok(Outcome {
            coverage: Coverage::new(program),
            bad: Vec::new(),
            bad_total: 0,
        });
    }
    let progress = progress_bar(config.quiet);

    let coverage = if config.jobs <= 1 {
        let mut worker = Worker::new(
            program,
            config.format,
            columns.clone(),
            1,
            config.today,
            population,
        );
        let mut located = BlockRows::of(&inputs);
        let mut buf = Vec::new();
        let mut batch_counts = Vec::new();
        let mut batches = 0u64;
        let mut failed = None;
        read_batches(
            program,
            inputs,
            &keep,
            config.strict,
            BATCH_ONE_WORKER,
            &mut bad,
            &mut |mut rows, held| {
                if let Some(counts) = &mut counts {
                    counts.next_batch(&mut batch_counts);
                }
                let (bytes, read) =
                    worker.process(&mut rows, std::mem::take(&mut buf), &batch_counts);
                buf = bytes;
                let rows_read = rows.len().map(|n| n as u64);
                let block_rows = located.place(batches, held, read);
                batches += 1;
                if let (Some(p), Some(n)) = (&progress, rows_read.or(block_rows)) {
                    p.inc(n);
                }
                // A closed pipe stops reading; so does a failed write, which the run reports.
                match write_all(&mut out, &buf) {
                    Ok(false) => Some(rows),
                    Ok(true) => None,
                    Err(error) => {
                        failed = Some(error);
                        None
                    }
                }
            },
        );
        if let Some(error) = failed {
            return Err(error);
        }
        // The last bytes, flushed here so that an error is reported, not lost in a drop.
        write_all(&mut out, &[])?;
        located.take_late(batches, &mut bad);
        bad = located.into_bad();
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
            population,
            counts,
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
