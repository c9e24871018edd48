//! Reading inputs into batches, and the bad rows found on the way.

use std::sync::Arc;

use super::worker::{BlockRead, Rows};
use crate::input::{BadRow, CsvRow, Input, BLOCK_BYTES};
use crate::Program;

/// Bad rows kept for the report (all are counted).
const KEEP_BAD: usize = 100;

/// Bad rows seen so far; prints the first few on stderr as they come.
#[derive(Default)]
pub(super) struct BadRows {
    /// The first rows kept, each with the batch it came in (for a parallel run, whose rows
    /// are found by two threads: the reader and, for blocks, the writer).
    kept: Vec<(u64, BadRow)>,
    pub(super) total: u64,
    /// The reader's bad rows in a parallel run: held for the next batch, which carries them
    /// to the writer, so that they are printed and kept in input order with the rows the
    /// workers find.
    forward: Option<Vec<BadRow>>,
}

impl BadRows {
    /// Bad rows held for the batches that carry them (see `forward`).
    pub(super) fn forwarding() -> Self {
        Self {
            forward: Some(Vec::new()),
            ..Self::default()
        }
    }

    /// Records a bad row that came in batch `batch`.
    pub(super) fn push(&mut self, batch: u64, bad: BadRow) {
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
    pub(super) fn take_held(&mut self) -> Vec<BadRow> {
        self.forward
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    pub(super) fn into_kept(self) -> Vec<BadRow> {
        self.kept.into_iter().map(|(_, bad)| bad).collect()
    }
}

/// Puts the bad rows of a run in input order, and places those workers find in blocks: it
/// sees the blocks of an input in order, so it knows the row and line each block starts on.
pub(super) struct BlockRows {
    /// Per input: its name, the rows before its next block, and the line that block starts on.
    inputs: Vec<(String, u64, u64)>,
    bad: BadRows,
}

impl BlockRows {
    /// For inputs whose first rows start on the lines given.
    pub(super) fn new(starts: Vec<(String, u64)>) -> Self {
        Self {
            inputs: starts
                .into_iter()
                .map(|(name, line)| (name, 0, line))
                .collect(),
            bad: BadRows::default(),
        }
    }

    pub(super) fn of(inputs: &[Input]) -> Self {
        Self::new(
            inputs
                .iter()
                .map(|input| match input {
                    Input::Csv(csv) => (csv.name.clone(), csv.first_line()),
                    Input::Json(json) => (json.name.clone(), 1),
                })
                .collect(),
        )
    }

    /// Records the bad rows batch `batch` carried from the reader (`held`), then those a
    /// worker found in it if it was a block (`read`), whose rows it counts. Returns the rows
    /// of the block.
    pub(super) fn place(
        &mut self,
        batch: u64,
        held: Vec<BadRow>,
        read: Option<BlockRead>,
    ) -> Option<u64> {
        for bad in held {
            self.bad.push(batch, bad);
        }
        let read = read?;
        let rows = read.rows;
        let (name, before, line) = self.inputs.get_mut(read.input)?;
        for bad in read.bad {
            self.bad
                .push(batch, BadRow::from_block(name, bad, *before, *line));
        }
        *before += read.rows;
        *line += read.lines;
        if let Some(error) = read.failed {
            let stopped = BadRow::read_stopped(name, &error, *before, *line);
            self.bad.push(batch, stopped);
        }
        Some(rows)
    }

    /// The rows the reader found after the last batch (`batches` were sent), held in
    /// `reader`: they come last.
    pub(super) fn take_late(&mut self, batches: u64, reader: &mut BadRows) {
        for late in reader.take_held() {
            self.bad.push(batches, late);
        }
    }

    pub(super) fn into_bad(self) -> BadRows {
        self.bad
    }
}

/// Reads every input into batches and hands each to `sink` with the bad rows `bad` holds for
/// it; `sink` gives the batch back for reuse, or `None` to stop. A CSV input is cut into
/// blocks of about [`BLOCK_BYTES`] of whole records, which the worker parses; with `strict`
/// its records are read here, `batch` at a time (only the reader can stop at the first bad
/// row), as are JSON users. Bad rows found after the last batch stay held in `bad`.
#[allow(clippy::too_many_arguments)]
pub(super) fn read_batches(
    program: &Program,
    inputs: Vec<Input>,
    keep: &[String],
    strict: bool,
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
                let width = csv.header().len();
                let keys = Arc::new(
                    keep.iter()
                        .map(|k| lower.iter().position(|h| *h == k.to_lowercase()))
                        .collect::<Vec<_>>(),
                );
                // `--strict` stops at the first bad row, which only the reader can do.
                let blocks = if strict {
                    Err(Box::new(csv))
                } else {
                    csv.into_blocks()
                };
                let mut csv = match blocks {
                    Ok(mut blocks) => {
                        let mut bytes = match spare.take() {
                            Some(Rows::Block { bytes, .. }) => bytes,
                            _ => Vec::new(),
                        };
                        loop {
                            let (more, failed) = match blocks.next_block(BLOCK_BYTES, &mut bytes) {
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
                                width,
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
                            width,
                            bytes,
                            failed: None,
                        });
                        continue;
                    }
                    Err(csv) => *csv,
                };
                let mut rows = match spare.take() {
                    Some(Rows::Csv { rows, .. }) => rows,
                    _ => Vec::new(),
                };
                let mut len = 0;
                loop {
                    if rows.len() <= len {
                        rows.push(CsvRow::default());
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
