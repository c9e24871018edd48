//! The fuzz targets' harnesses and their oracles, in the library so that the same code runs
//! under libFuzzer (`fuzz/fuzz_targets/*.rs`, each a one-line wrapper) and, on stable Rust,
//! in `tests/fuzz_corpus.rs`, which replays every file of `fuzz/corpus/<target>/`.
//!
//! Each harness takes any bytes and returns normally, or panics when the code under test
//! panicked or an oracle did not hold (libFuzzer then saves the input as a crash):
//!
//! - [`rules`]: a rule file (with its base and table CSVs) is compiled; when it compiles, its
//!   tests run and each record from them is applied directly, through the cached evaluator
//!   (twice, so cached outcomes are read back), as a flat record and as a CSV row, and
//!   explained: every way gives the same profile.
//! - [`scim_filter`]: users and groups are created, patched and deleted in the memory and the
//!   SQLite store; a filter's matches found through the store's indexes are those found by
//!   applying the filter to every resource, in the same order, in both stores.
//! - [`scim_router`]: requests go through the whole router: no answer is a 500, and every
//!   body a write stored re-validates to itself.
//! - [`csv_reader`]: the CSV reader, fed a few bytes per read, one record at a time and in
//!   blocks, reads the records the csv crate reads from the whole input, and reports as bad
//!   exactly the rows it must (too few or too many cells, not UTF-8, a field over 1 MiB).
//!
//! `fuzz/README.md` says how to run them and how to keep a crash as a regression test.

// A harness reports by panicking: that is what libFuzzer and the replay test catch.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod csv_reader;
mod rules;
mod scim_filter;
mod scim_router;

pub use csv_reader::csv_reader;
pub use rules::rules;
pub use scim_filter::scim_filter;
pub use scim_router::scim_router;

/// A harness: runs one input, panics when something is wrong.
pub type Harness = fn(&[u8]);

/// Every target: its name (the `[[bin]]` in `fuzz/Cargo.toml` and the folder of its corpus)
/// and its harness.
pub const TARGETS: &[(&str, Harness)] = &[
    ("rules", rules),
    ("scim_filter", scim_filter),
    ("scim_router", scim_router),
    ("csv_reader", csv_reader),
];

/// A directory of its own for the SQLite store of one input, removed when dropped.
pub(crate) struct ScratchDir(std::path::PathBuf);

impl ScratchDir {
    pub(crate) fn new(what: &str) -> ScratchDir {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // The stores of one input are thrown away after it: a directory in memory, where
        // there is one, spares them the disk's flushes (one per commit).
        let shm = std::path::Path::new("/dev/shm");
        let parent = match shm.is_dir() {
            true => shm.to_path_buf(),
            false => std::env::temp_dir(),
        };
        let path = parent.join(format!("canon-fuzz-{what}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).expect("a scratch directory");
        ScratchDir(path)
    }

    pub(crate) fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Replaces `$0` … `$9` in `text` with the ids created so far (a `$N` past them is kept).
pub(crate) fn with_ids(text: &str, ids: &[String]) -> String {
    if !text.contains('$') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' {
            if let Some(id) = chars
                .peek()
                .and_then(|d| d.to_digit(10))
                .and_then(|d| ids.get(d as usize))
            {
                out.push_str(id);
                chars.next();
                continue;
            }
        }
        out.push(c);
    }
    out
}
