//! Reading inputs into batches, and the bad rows found on the way.

use std::sync::Arc;

use super::worker::Rows;
use crate::input::{BadRow, Input};
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

/// How the reader hands out CSV rows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum CsvBatches {
    /// Parsed records, `n` at a time.
    Records(usize),
    /// Blocks of about `n` bytes of whole records, for the workers to parse.
    Blocks(usize),
}

/// Reads every input into batches and hands each to `sink` with the bad rows `bad` holds for
/// it; `sink` gives the batch back for reuse, or `None` to stop. JSON batches hold `batch`
/// users. Bad rows found after the last batch stay held in `bad`.
#[allow(clippy::too_many_arguments)]
pub(super) fn read_batches(
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
