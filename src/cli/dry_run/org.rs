//! The dry run's first pass, where the rules declare `reports_to`: every record's manager
//! reference is indexed (one entry per distinct manager), so that each person's reports are
//! counted over the whole input, in whatever order rows come and with any `--jobs`.
//! Standard input cannot be read twice: it is first copied to a temporary file.
//!
//! The first pass also keeps, in a temporary file, each record's key hashes, its reference
//! and its first key. Once the index is sealed, one pass over that file counts every
//! record's reports (the lookups a tight loop over hashes, not spread over the mapping
//! pass's evaluation) and notes for the report whom each reference names; the counts go to
//! a second file, which the mapping pass reads a batch at a time. Its batches are the first
//! pass's (the same reader, strictness and batch size), so the mapping pass reads no key
//! and makes no lookup. Memory stays per manager: the files hold what is per record.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::path::PathBuf;
use std::sync::Arc;

use super::pool::{self, InOrder, Names, Turns, Work};
use super::read::{read_batches, BadRows};
use super::worker::Rows;
use crate::eval::{OrgEntry, OrgIndex, OrgReader, ORG_BATCH};
use crate::input::{BlockRecords, CsvRow, Input, InputFormat};
use crate::report::OrgSeen;
use crate::{CsvRecord, JsonRecord, Program, Record};

/// Standard input, copied so that both passes read it: the inputs with `-` replaced by the
/// copy's path, and the copy (deleted when dropped). The format is checked first, so that a
/// missing `--input-format` is said before standard input is read.
pub(super) fn spool_stdin(
    inputs: &[PathBuf],
    format: Option<InputFormat>,
) -> Result<(Vec<PathBuf>, Option<tempfile::TempPath>), String> {
    if !inputs.iter().any(|p| p.as_os_str() == "-") {
        return Ok((inputs.to_vec(), None));
    }
    crate::input::detect_format(std::path::Path::new("-"), format).map_err(|e| e.to_string())?;
    let mut file = tempfile::Builder::new()
        .prefix("canon-stdin-")
        .tempfile()
        .map_err(|e| format!("cannot copy standard input to a temporary file: {e}"))?;
    io::copy(&mut io::stdin().lock(), file.as_file_mut())
        .map_err(|e| format!("cannot copy standard input to a temporary file: {e}"))?;
    let path = file.into_temp_path();
    let inputs = inputs
        .iter()
        .map(|p| {
            if p.as_os_str() == "-" {
                path.to_path_buf()
            } else {
                p.clone()
            }
        })
        .collect();
    Ok((inputs, Some(path)))
}

/// The inputs at `paths` (standard input's copy among them), named as the user gave them.
pub(crate) fn open_inputs(
    given: &[PathBuf],
    paths: &[PathBuf],
    format: Option<InputFormat>,
) -> Result<Vec<Input>, String> {
    given
        .iter()
        .zip(paths)
        .map(|(name, path)| Input::open_as(path, name, format).map_err(|e| e.to_string()))
        .collect()
}

/// The first pass for `canon explain --population`: the index alone, keeping `keep` names
/// per manager for traces.
pub(crate) fn index_population(
    program: &Program,
    keep: usize,
    given: &[PathBuf],
    paths: &[PathBuf],
    format: Option<InputFormat>,
    today: chrono::NaiveDate,
) -> Result<OrgIndex, String> {
    let opened = open_inputs(given, paths, format)?;
    let mut index = OrgIndex::new(keep);
    let pass = Pass {
        today,
        strict: false,
        batch: ORG_BATCH,
        jobs: 1,
    };
    first_pass(program, opened, &mut index, pass, None);
    index.seal();
    Ok(index)
}

/// What a dry run's first pass found: the index, whom each manager reference names (for the
/// report's organisation section), and every record's count of reports, when they could be
/// kept (`None`: the mapping pass counts each record's as it maps it).
pub(crate) struct Population {
    pub(crate) index: OrgIndex,
    pub(crate) seen: OrgSeen,
    pub(crate) counts: Option<RecordCounts>,
}

/// How the first pass reads: as the mapping pass will (`strict` and `batch` alike, so that
/// its batches are the mapping pass's), on `jobs` threads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pass {
    pub(crate) today: chrono::NaiveDate,
    pub(crate) strict: bool,
    pub(crate) batch: usize,
    pub(crate) jobs: usize,
}

/// The dry run's first pass.
pub(crate) fn count_population(
    program: &Program,
    given: &[PathBuf],
    paths: &[PathBuf],
    format: Option<InputFormat>,
    pass: Pass,
) -> Result<Population, String> {
    let opened = open_inputs(given, paths, format)?;
    let mut index = OrgIndex::new(1);
    let mut kept = match KeysFile::new() {
        Ok(file) => Some(file),
        Err(error) => {
            warn_uncounted(&error);
            None
        }
    };
    if pass.jobs > 1 {
        first_pass_parallel(program, opened, &mut index, pass, kept.as_mut())?;
    } else {
        first_pass(program, opened, &mut index, pass, kept.as_mut());
    }
    index.seal();
    let counted = kept.and_then(|kept| match kept.count(&index) {
        Ok(counted) => Some(counted),
        Err(error) => {
            warn_uncounted(&error);
            None
        }
    });
    let (seen, counts) = match counted {
        Some((seen, counts)) => (seen, Some(counts)),
        None => (OrgSeen::new(index.len()), None),
    };
    Ok(Population {
        index,
        seen,
        counts,
    })
}

fn warn_uncounted(error: &io::Error) {
    eprintln!(
        "canon: warning: cannot keep the organisation graph's records in a temporary file in \
         `{}` ({error}; TMPDIR sets where); the mapping pass counts each person's reports \
         itself, more slowly",
        std::env::temp_dir().display()
    );
}

/// Reads every record's place in the organisation graph into `index`, and, with `kept`,
/// each record's keys and reference into its file, and how many records each batch held.
/// Bad rows are skipped here; the mapping pass reports them.
fn first_pass(
    program: &Program,
    opened: Vec<Input>,
    index: &mut OrgIndex,
    pass: Pass,
    mut kept: Option<&mut KeysFile>,
) {
    let mut reader = EntryReader::new(program, pass.today);
    let mut entries = Vec::new();
    let mut ids = Vec::new();
    read_pass(program, opened, pass, &mut |mut rows| {
        let len = reader.read(&mut rows, &mut entries);
        add_batch(
            index,
            entries.get(..len).unwrap_or(&[]),
            &mut ids,
            &mut kept,
        );
        Some(rows)
    });
}

/// [`first_pass`] with `pass.jobs` threads reading records' places (the status rules and the
/// links' inputs: most of its work), each batch then added by one thread in input order, so
/// that the index is the one a single thread makes.
fn first_pass_parallel(
    program: &Program,
    opened: Vec<Input>,
    index: &mut OrgIndex,
    pass: Pass,
    mut kept: Option<&mut KeysFile>,
) -> Result<(), String> {
    let names = Names {
        worker: "org-reader",
        consumer: "org-adder",
        what: "the first pass",
    };
    let add = |mut in_order: InOrder<(Vec<OrgEntry>, usize), Vec<OrgEntry>>| {
        let mut ids = Vec::new();
        while let Some((_, (entries, len))) = in_order.next() {
            add_batch(
                index,
                entries.get(..len).unwrap_or(&[]),
                &mut ids,
                &mut kept,
            );
            // The entries' strings, back to the readers for reuse.
            in_order.recycle(entries);
        }
    };
    let read = |turns: &mut Turns<Rows>| {
        read_pass(program, opened, pass, &mut |rows| {
            let back = turns.send(rows).ok()?;
            Some(back.unwrap_or(Rows::Json {
                keys: Arc::new(Vec::new()),
                rows: Vec::new(),
            }))
        });
    };
    let start = || EntryReader::new(program, pass.today);
    pool::run(names, pass.jobs, start, add, read).map(|_| ())
}

/// Reads the inputs in the mapping pass's batches, handing each to `sink` (which gives it
/// back for reuse, or `None` to stop). Bad rows are skipped: the mapping pass reports them.
fn read_pass(
    program: &Program,
    opened: Vec<Input>,
    pass: Pass,
    sink: &mut dyn FnMut(Rows) -> Option<Rows>,
) {
    let mut bad = BadRows::forwarding();
    read_batches(
        program,
        opened,
        &[],
        pass.strict,
        pass.batch,
        &mut bad,
        &mut |rows, _| sink(rows),
    );
}

/// Adds a batch's entries to the index and, with `kept`, to its file.
fn add_batch(
    index: &mut OrgIndex,
    entries: &[OrgEntry],
    ids: &mut Vec<Option<u32>>,
    kept: &mut Option<&mut KeysFile>,
) {
    index.add_all(entries, ids);
    if let Some(file) = kept {
        if let Err(error) = file.write(entries, ids) {
            warn_uncounted(&error);
            file.failed = true;
        }
        file.batches
            .push(u32::try_from(entries.len()).unwrap_or(u32::MAX));
    }
}

/// Reads the places of a batch's records, parsing a block itself.
struct EntryReader<'p> {
    reader: OrgReader<'p>,
    records: BlockRecords,
    row: CsvRow,
}

impl<'p> EntryReader<'p> {
    fn new(program: &'p Program, today: chrono::NaiveDate) -> Self {
        Self {
            reader: OrgReader::new(program, today),
            records: BlockRecords::default(),
            row: CsvRow::default(),
        }
    }

    /// Reads the places of `rows`' records into the first places of `entries` (their
    /// strings reused), and returns how many.
    fn read(&mut self, rows: &mut Rows, entries: &mut Vec<OrgEntry>) -> usize {
        let mut len = 0;
        let reader = &mut self.reader;
        let mut add = |record: &dyn Record| {
            if entries.len() <= len {
                entries.push(OrgEntry::default());
            }
            if let Some(entry) = entries.get_mut(len) {
                reader.read(record, entry);
                len += 1;
            }
        };
        match rows {
            Rows::Csv {
                binding,
                rows,
                len: filled,
                ..
            } => {
                for csv_row in rows.iter().take(*filled) {
                    add(&CsvRecord::from_bytes(binding, csv_row));
                }
            }
            Rows::Block {
                binding,
                width,
                bytes,
                ..
            } => {
                self.records.start(bytes, Some(*width));
                loop {
                    match self.records.read(&mut self.row) {
                        Ok(true) => add(&CsvRecord::from_bytes(binding, &self.row)),
                        Ok(false) => break,
                        Err(_) => {}
                    }
                }
                self.records.finish(bytes);
            }
            Rows::Json { rows, .. } => {
                for value in rows.iter() {
                    add(&JsonRecord::new(value));
                }
            }
        }
        len
    }
}

impl Work<Rows, (Vec<OrgEntry>, usize), Vec<OrgEntry>> for EntryReader<'_> {
    type Done = ();

    fn work(&mut self, rows: &mut Rows, spare: Option<Vec<OrgEntry>>) -> (Vec<OrgEntry>, usize) {
        let mut entries = spare.unwrap_or_default();
        let len = self.read(rows, &mut entries);
        (entries, len)
    }

    fn finish(self) {}
}

/// Each record's key hashes, manager reference and first key, in input order, in a
/// temporary file (deleted when dropped); and how many records each batch held.
struct KeysFile {
    out: BufWriter<File>,
    batches: Vec<u32>,
    records: u64,
    /// A write failed: the file is not used.
    failed: bool,
}

/// No manager reference (the record names none, or itself).
const NO_REFERENCE: u32 = u32::MAX;

impl KeysFile {
    fn new() -> io::Result<Self> {
        Ok(Self {
            out: BufWriter::with_capacity(1 << 16, tempfile::tempfile()?),
            batches: Vec::new(),
            records: 0,
            failed: false,
        })
    }

    /// Writes the records of a batch added to the index, with the ids it gave their
    /// references.
    fn write(&mut self, entries: &[OrgEntry], ids: &[Option<u32>]) -> io::Result<()> {
        if self.failed {
            return Ok(());
        }
        for (entry, id) in entries.iter().zip(ids) {
            let keys = u32::try_from(entry.keys.len()).unwrap_or(u32::MAX);
            self.out.write_all(&keys.to_le_bytes())?;
            for (link, value) in entry.keys.iter().take(keys as usize) {
                self.out
                    .write_all(&OrgIndex::key_hash(*link, value).to_le_bytes())?;
            }
            self.out
                .write_all(&id.unwrap_or(NO_REFERENCE).to_le_bytes())?;
            let person = entry.keys.first().map_or("", |(_, value)| value.as_str());
            let person_len = u32::try_from(person.len()).unwrap_or(0);
            self.out.write_all(&person_len.to_le_bytes())?;
            self.out
                .write_all(person.as_bytes().get(..person_len as usize).unwrap_or(&[]))?;
            self.records += 1;
        }
        Ok(())
    }

    /// Counts every record's reports in the sealed `index` (written, in order, to a new
    /// file the mapping pass reads), and notes whom each reference names.
    fn count(self, index: &OrgIndex) -> io::Result<(OrgSeen, RecordCounts)> {
        if self.failed {
            return Err(io::Error::other("a write failed before"));
        }
        let mut file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.rewind()?;
        let mut keys = BufReader::with_capacity(1 << 16, file);
        let mut counts = BufWriter::with_capacity(1 << 16, tempfile::tempfile()?);
        let mut seen = OrgSeen::new(index.len());
        let mut hashes = Vec::new();
        let mut person = Vec::new();
        let mut matches = Vec::new();
        for _ in 0..self.records {
            let n = read_u32(&mut keys)?;
            hashes.clear();
            for _ in 0..n {
                let mut hash = [0u8; 16];
                keys.read_exact(&mut hash)?;
                hashes.push(u128::from_le_bytes(hash));
            }
            let reference = Some(read_u32(&mut keys)?).filter(|id| *id != NO_REFERENCE);
            person.resize(read_u32(&mut keys)? as usize, 0);
            keys.read_exact(&mut person)?;
            let count = index.count_hashed(&hashes, &mut matches);
            if !matches.is_empty() {
                let person = std::str::from_utf8(&person).unwrap_or_default();
                for id in &matches {
                    seen.note(*id, person, reference);
                }
            }
            counts.write_all(&count.to_le_bytes())?;
        }
        let mut file = counts.into_inner().map_err(|e| e.into_error())?;
        file.rewind()?;
        Ok((
            seen,
            RecordCounts {
                batches: self.batches,
                next: 0,
                file: BufReader::with_capacity(1 << 16, file),
            },
        ))
    }
}

fn read_u32(from: &mut impl Read) -> io::Result<u32> {
    let mut bytes = [0u8; 4];
    from.read_exact(&mut bytes)?;
    Ok(u32::from_le_bytes(bytes))
}

/// Every record's count of reports, in input order, read back a batch at a time.
pub(crate) struct RecordCounts {
    /// How many records each of the first pass's batches held.
    batches: Vec<u32>,
    /// The next batch.
    next: usize,
    file: BufReader<File>,
}

impl RecordCounts {
    /// The next batch's counts into `counts` (cleared first). Left empty when the batch is
    /// past the first pass's last or the file cannot be read: the mapping pass then counts
    /// that batch's records itself.
    pub(crate) fn next_batch(&mut self, counts: &mut Vec<u64>) {
        counts.clear();
        let Some(records) = self.batches.get(self.next).copied() else {
            return;
        };
        self.next += 1;
        for _ in 0..records {
            let mut bytes = [0u8; 8];
            if self.file.read_exact(&mut bytes).is_err() {
                // Nothing after a failed read can be trusted to line up.
                self.batches.clear();
                counts.clear();
                return;
            }
            counts.push(u64::from_le_bytes(bytes));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::super::{execute, Config, BATCH, BATCH_ONE_WORKER};
    use super::*;
    use crate::report::OrgReport;

    /// Output bytes shared with the test (the run takes its writer by value).
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// An export of `rows` people over many blocks: managers named by email in any case and
    /// spacing or by employee number, people naming themselves or nobody, deactivated
    /// people, flags sent or not, quoted line breaks, and bad rows (a cell that is not
    /// UTF-8, a row of the wrong width) that both passes must skip alike.
    fn export(rows: usize) -> Vec<u8> {
        let mut text =
            b"email,employeeNumber,status,isManager,managerEmail,managerId,title,note\n".to_vec();
        for n in 1..=rows {
            let boss = n / 7;
            let (manager_email, manager_id) = match n % 6 {
                0 => (String::new(), String::new()),
                1 => (format!(" P{boss}@Acme.com "), String::new()),
                2 => (String::new(), format!("{boss}")),
                3 => (format!("p{n}@acme.com"), String::new()),
                _ => (format!("p{}@acme.com", n % 97), String::new()),
            };
            let status = if n % 11 == 0 { "TERMINATED" } else { "ACTIVE" };
            let flag = ["", "", "No", "yes", "N/A"][n % 5];
            let row = format!(
                "p{n}@acme.com,{n},{status},{flag},{manager_email},{manager_id},\
                 \"Sales Manager,\nEMEA\",\"note {n} \"\"quoted\"\"\"\n"
            );
            text.extend_from_slice(row.as_bytes());
            if n % 389 == 0 {
                text.extend_from_slice(b"bad@acme.com,x,ACTIVE,,\xFF\xFE,,Analyst,\n");
            }
            if n % 521 == 0 {
                text.extend_from_slice(b"short@acme.com,1\n");
            }
        }
        text
    }

    fn users(count: usize) -> Vec<u8> {
        let users: Vec<serde_json::Value> = (1..=count)
            .map(|n| {
                serde_json::json!({
                    "id": format!("u-{n}"),
                    "userName": format!("j{n}@acme.com"),
                    "active": n % 9 != 0,
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                        "manager": {"value": format!("u-{}", n / 5)}
                    }
                })
            })
            .collect();
        serde_json::to_vec(&users).unwrap()
    }

    /// One dry run: its output, its report as text, and its organisation section.
    fn run(
        program: &Program,
        paths: &[PathBuf],
        jobs: usize,
        strict: bool,
        counted: bool,
    ) -> (Vec<u8>, String, OrgReport) {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        let batch = if jobs <= 1 { BATCH_ONE_WORKER } else { BATCH };
        let pass = Pass {
            today,
            strict,
            batch,
            jobs,
        };
        let population = count_population(program, paths, paths, None, pass).unwrap();
        let config = Config::for_test(paths.to_vec(), jobs, strict, today);
        let shared = Shared::default();
        let out = io::BufWriter::new(Box::new(shared.clone()) as Box<dyn Write + Send>);
        let inputs = open_inputs(paths, paths, None).unwrap();
        let counts = if counted {
            assert!(population.counts.is_some(), "the counts were kept");
            population.counts
        } else {
            None
        };
        let outcome = execute(
            program,
            &config,
            inputs,
            out,
            Some(&population.index),
            counts,
        )
        .unwrap();
        let report = outcome
            .coverage
            .report(program, &outcome.bad, outcome.bad_total, 20, 0.0, None)
            .to_text();
        let mut seen = if counted {
            population.seen
        } else {
            OrgSeen::new(population.index.len())
        };
        if let Some(noted) = outcome.coverage.org.clone() {
            seen.merge(noted);
        }
        let org = OrgReport::build(&population.index, &seen);
        let bytes = shared.0.lock().unwrap().clone();
        (bytes, report, org)
    }

    /// The counts the first pass keeps give every row, the coverage and the organisation
    /// section exactly as counting each record while mapping it does: over many blocks with
    /// bad rows, several inputs, JSON users, one to three workers, `--strict`; and the rows
    /// and organisation section are the same whatever the workers.
    #[test]
    fn counts_kept_by_the_first_pass_map_as_counting_while_mapping_does() {
        let program = super::super::default_pack();
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("people.csv");
        let second = dir.path().join("more.csv");
        let json = dir.path().join("users.json");
        std::fs::write(&csv, export(6_000)).unwrap();
        std::fs::write(&second, export(300)).unwrap();
        std::fs::write(&json, users(700)).unwrap();
        assert!(
            std::fs::metadata(&csv).unwrap().len() > 3 * crate::input::BLOCK_BYTES as u64,
            "several blocks"
        );
        for paths in [vec![csv.clone(), second.clone()], vec![json.clone()]] {
            for strict in [false, true] {
                let mut by_jobs = Vec::new();
                for jobs in [1, 2, 3] {
                    let counted = run(&program, &paths, jobs, strict, true);
                    let mapped = run(&program, &paths, jobs, strict, false);
                    let what = format!("{paths:?}, --jobs {jobs}, strict {strict}");
                    assert_eq!(
                        String::from_utf8_lossy(&counted.0),
                        String::from_utf8_lossy(&mapped.0),
                        "{what}"
                    );
                    assert_eq!(counted.1, mapped.1, "{what}");
                    assert_eq!(counted.2, mapped.2, "{what}");
                    by_jobs.push(counted);
                }
                // The first pass on several threads makes the index one thread makes.
                for other in &by_jobs[1..] {
                    assert_eq!(other.0, by_jobs[0].0, "{paths:?}, strict {strict}");
                    assert_eq!(other.2, by_jobs[0].2, "{paths:?}, strict {strict}");
                }
            }
        }
        // The population is not trivial: people are derived managers, references go
        // unmatched, some name themselves.
        let (rows, _, org) = run(&program, &[csv], 1, false, true);
        let rows = String::from_utf8(rows).unwrap();
        assert!(rows.lines().filter(|l| l.contains(",yes,")).count() > 100);
        assert!(org.unmatched > 0 && org.self_references > 0 && org.deepest > 2);
    }
}
