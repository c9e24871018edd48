//! The floor of `canon dry-run`: read a CSV and write every record back, with the `csv` crate
//! only (ByteRecord, one reused record, buffered writer). Nothing can map faster than this.
//!
//! `cargo bench --bench floor -- INPUT.csv [OUTPUT]` (OUTPUT defaults to /dev/null); prints
//! `floor rows=N seconds=S rows_per_s=R`.

use std::io::BufWriter;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(input) = args.first() else {
        eprintln!("usage: floor INPUT.csv [OUTPUT]");
        return Ok(()); // `cargo bench` without arguments runs nothing
    };
    let output = args.get(1).map(String::as_str).unwrap_or("/dev/null");
    let started = Instant::now();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .buffer_capacity(1 << 16)
        .from_path(input)?;
    let mut writer =
        csv::WriterBuilder::new()
            .flexible(true)
            .from_writer(BufWriter::with_capacity(
                1 << 16,
                std::fs::File::create(output)?,
            ));
    writer.write_byte_record(reader.byte_headers()?)?;
    let mut record = csv::ByteRecord::new();
    let mut rows = 0u64;
    while reader.read_byte_record(&mut record)? {
        writer.write_byte_record(&record)?;
        rows += 1;
    }
    writer.flush()?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "floor rows={rows} seconds={seconds:.3} rows_per_s={:.0}",
        rows as f64 / seconds
    );
    Ok(())
}
