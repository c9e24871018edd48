//! `--jobs N`: the mapping pass's workers on their own threads (`pool.rs`: batch n to worker
//! n mod N), and a writer that puts their batches back in input order and places the bad
//! rows they found.

use std::io::{self, Write};
use std::sync::Arc;

use super::org::RecordCounts;
use super::pool::{self, InOrder, Names, Turns, Work};
use super::read::{read_batches, BadRows, BlockRows};
use super::worker::{BlockRead, Rows, Worker};
use super::{write_all, Config, BATCH};
use crate::eval::OrgIndex;
use crate::input::{BadRow, Input};
use crate::report::Coverage;
use crate::Program;

/// A batch for a worker: its rows, the bad rows the reader carries with it, and its
/// records' counts of reports.
type Batch = (Rows, Vec<BadRow>, Vec<u64>);
/// A batch mapped: its output bytes, what its block held, and the bad rows it carried.
type Mapped = (Vec<u8>, Option<BlockRead>, Vec<BadRow>);

impl Work<Batch, Mapped, Vec<u8>> for Worker<'_> {
    type Done = Coverage;

    fn work(&mut self, (rows, held, counts): &mut Batch, spare: Option<Vec<u8>>) -> Mapped {
        let buffer = spare.unwrap_or_else(|| Vec::with_capacity(64 * 1024));
        let (bytes, read) = self.process(rows, buffer, counts);
        (bytes, read, std::mem::take(held))
    }

    fn finish(self) -> Coverage {
        self.coverage()
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn run_parallel(
    program: &Program,
    config: &Config,
    inputs: Vec<Input>,
    keep: &[String],
    columns: Arc<Vec<String>>,
    bad: &mut BadRows,
    mut out: io::BufWriter<Box<dyn Write + Send>>,
    progress: Option<&indicatif::ProgressBar>,
    population: Option<&OrgIndex>,
    mut counts: Option<RecordCounts>,
) -> Result<Coverage, String> {
    let jobs = config.jobs;
    // Where each input's rows start, for the bad rows the workers find in blocks.
    let located = BlockRows::of(&inputs);
    let names = Names {
        worker: "worker",
        consumer: "writer",
        what: "the mapping pass",
    };
    let start = || {
        Worker::new(
            program,
            config.format,
            columns.clone(),
            jobs,
            config.today,
            population,
        )
    };
    // The writer puts the batches back in input order and places the bad rows they found.
    let write = move |mut in_order: InOrder<Mapped, Vec<u8>>| -> Result<BlockRows, String> {
        let mut located = located;
        while let Some((seq, (bytes, read, held))) = in_order.next() {
            let rows = located.place(seq, held, read);
            if let (Some(p), Some(rows)) = (progress, rows) {
                p.inc(rows);
            }
            if write_all(&mut out, &bytes)? {
                // Closed pipe: dropping the results' receiver stops the workers.
                return Ok(located);
            }
            in_order.recycle(bytes);
        }
        write_all(&mut out, &[]).map(|_| located)
    };
    let mut sent = 0;
    let read = |turns: &mut Turns<Batch>| {
        read_batches(
            program,
            inputs,
            keep,
            config.strict,
            BATCH,
            bad,
            &mut |rows, held| {
                if let (Some(p), Some(n)) = (progress, rows.len()) {
                    p.inc(n as u64);
                }
                let mut batch_counts = Vec::new();
                if let Some(counts) = &mut counts {
                    counts.next_batch(&mut batch_counts);
                }
                let back = turns.send((rows, held, batch_counts)).ok()?;
                // Reuse a batch a worker has finished with, if one is back; else a new one.
                Some(back.map_or_else(
                    || Rows::Json {
                        keys: Arc::new(Vec::new()),
                        rows: Vec::new(),
                    },
                    |(rows, _, _)| rows,
                ))
            },
        );
        sent = turns.sent();
    };
    let (parts, written) = pool::run(names, jobs, start, write, read)?;
    let mut coverage = Coverage::new(program);
    for part in parts {
        coverage.merge(part);
    }
    written.map(|mut found| {
        // The writer has every bad row carried or found in order; those read after the
        // last batch come last.
        found.take_late(sent, bad);
        *bad = found.into_bad();
        coverage
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{BlockRecords, CsvInput, CsvRow};
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
    /// A record's fields.
    type Fields = Vec<Vec<u8>>;

    fn by_records(text: &[u8]) -> (Vec<Fields>, Vec<String>) {
        let mut csv = input(text, 1000);
        let (mut records, mut bad) = (Vec::new(), Vec::new());
        let mut record = CsvRow::default();
        loop {
            match csv.read(&mut record) {
                Ok(true) => records.push(record.iter().map(<[u8]>::to_vec).collect()),
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
    fn by_blocks(text: &[u8], step: usize, size: usize) -> (Vec<Fields>, Vec<String>) {
        let csv = input(text, step);
        let mut placed = BlockRows::new(vec![("t.csv".into(), csv.first_line())]);
        let width = Some(csv.header().len());
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
            parser.start(&mut bytes, width);
            let mut bad = Vec::new();
            let mut row = CsvRow::default();
            loop {
                match parser.read(&mut row) {
                    Ok(true) => records.push(row.iter().map(<[u8]>::to_vec).collect()),
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
            placed.place(batch, Vec::new(), Some(read));
            if stop {
                break;
            }
        }
        let bad = placed
            .into_bad()
            .into_kept()
            .iter()
            .map(BadRow::to_string)
            .collect();
        (records, bad)
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

    /// With several workers a run's report is the same from run to run, even where the
    /// coverage's tallies reach their bounds (more distinct unmapped titles than a tally keeps,
    /// more than a cache's generation): each worker meets the same batches every time. (When
    /// free workers took the next batch, the reports of two runs differed in their counts.)
    #[test]
    fn reports_of_several_workers_are_the_same_run_after_run() {
        let program = super::super::default_pack();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("people.csv");
        let mut text = b"id,email,title,department,isManager\n".to_vec();
        for n in 0..40_000 {
            // Titles no rule reads (unmapped), most of them distinct; a few departments.
            let title = format!("Widget Wrangler {}", n % 12_000);
            let line = format!("{n},p{n}@acme.com,{title},Dept {},N\n", n % 40);
            text.extend_from_slice(line.as_bytes());
        }
        std::fs::write(&path, text).unwrap();
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        let config = Config::for_test(vec![path.clone()], 2, false, today);
        let report = || {
            let inputs = vec![Input::open(&path, None).unwrap()];
            let out = io::BufWriter::new(Box::new(io::sink()) as Box<dyn Write + Send>);
            let outcome =
                super::super::execute(&program, &config, inputs, out, None, None).unwrap();
            let report =
                outcome
                    .coverage
                    .report(&program, &outcome.bad, outcome.bad_total, 20, 0.0, None);
            serde_json::to_string(&report).unwrap()
        };
        let first = report();
        assert!(first.contains("Widget Wrangler"), "titles go unmapped");
        for _ in 0..4 {
            assert_eq!(report(), first);
        }
    }
}
