//! The dry run's first pass, where the rules declare `reports_to`: every record's manager
//! reference is indexed (one entry per distinct manager), so that the mapping pass counts
//! each person's reports over the whole input, in whatever order rows come and with any
//! `--jobs`. Standard input cannot be read twice: it is first copied to a temporary file.

use std::io;
use std::path::PathBuf;

use super::read::{read_batches, BadRows};
use super::worker::Rows;
use super::BATCH_ONE_WORKER;
use crate::eval::{OrgEntry, OrgIndex, OrgReader, ORG_BATCH};
use crate::input::{BlockRecords, CsvRow, Input, InputFormat};
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

/// The first pass: every record's place in the organisation graph. Bad rows are skipped
/// here; the mapping pass reports them.
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
    let mut bad = BadRows::forwarding();
    let mut records = BlockRecords::default();
    let mut row = CsvRow::default();
    let mut reader = OrgReader::new(program, today);
    // Records are added a batch at a time (see `OrgIndex::add_all`); the entries' strings
    // are reused from batch to batch.
    let mut batch = vec![OrgEntry::default(); ORG_BATCH];
    let mut len = 0;
    let mut add = |record: &dyn Record, index: &mut OrgIndex| {
        if let Some(entry) = batch.get_mut(len) {
            reader.read(record, entry);
            len += 1;
        }
        if len == batch.len() {
            index.add_all(&batch);
            len = 0;
        }
    };
    read_batches(
        program,
        opened,
        &[],
        false,
        BATCH_ONE_WORKER,
        &mut bad,
        &mut |mut rows, _| {
            match &mut rows {
                Rows::Csv {
                    binding, rows, len, ..
                } => {
                    for csv_row in rows.iter().take(*len) {
                        add(&CsvRecord::from_bytes(binding, csv_row), &mut index);
                    }
                }
                Rows::Block {
                    binding,
                    width,
                    bytes,
                    ..
                } => {
                    records.start(bytes, Some(*width));
                    loop {
                        match records.read(&mut row) {
                            Ok(true) => add(&CsvRecord::from_bytes(binding, &row), &mut index),
                            Ok(false) => break,
                            Err(_) => {}
                        }
                    }
                    records.finish(bytes);
                }
                Rows::Json { rows, .. } => {
                    for value in rows.iter() {
                        add(&JsonRecord::new(value), &mut index);
                    }
                }
            }
            Some(rows)
        },
    );
    index.add_all(batch.get(..len).unwrap_or(&[]));
    index.seal();
    Ok(index)
}
