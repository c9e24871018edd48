//! The fuzz targets' corpora, replayed on stable Rust: every file of `fuzz/corpus/<target>/`
//! goes through the target's harness (`canon::fuzzing`), oracles and all, as under libFuzzer.
//! A crash libFuzzer found is kept by copying it into the corpus (fuzz/README.md).

use std::path::{Path, PathBuf};

use canon::fuzzing::TARGETS;

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs every corpus file of `target`; fails with the files whose harness panicked.
fn replay(target: &str) {
    let harness = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, harness)| *harness)
        .unwrap_or_else(|| panic!("no fuzz target `{target}`"));
    let files = corpus(target);
    assert!(
        files.len() >= 10,
        "fuzz/corpus/{target} holds {} files",
        files.len()
    );
    let mut failed = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        if std::panic::catch_unwind(|| harness(&bytes)).is_err() {
            failed.push(file.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "fuzz target `{target}` fails on (see the panics above):\n{}",
        failed.join("\n")
    );
}

#[test]
fn rules_corpus() {
    replay("rules");
}

#[test]
fn scim_filter_corpus() {
    replay("scim_filter");
}

#[test]
fn scim_router_corpus() {
    replay("scim_router");
}

#[test]
fn csv_reader_corpus() {
    replay("csv_reader");
}

/// Each target has its `[[bin]]` in fuzz/Cargo.toml, a wrapper in fuzz/fuzz_targets/ that
/// calls its harness, and a corpus; and each of those is a target.
#[test]
fn fuzz_crate_and_targets_agree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let mut wrappers: Vec<String> = std::fs::read_dir(root.join("fuzz_targets"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    wrappers.sort();
    let mut names: Vec<String> = TARGETS.iter().map(|(n, _)| format!("{n}.rs")).collect();
    names.sort();
    assert_eq!(
        wrappers, names,
        "fuzz/fuzz_targets/ and canon::fuzzing::TARGETS"
    );
    for (name, _) in TARGETS {
        assert!(
            manifest.contains(&format!(
                "name = \"{name}\"\npath = \"fuzz_targets/{name}.rs\""
            )),
            "fuzz/Cargo.toml has no [[bin]] for `{name}`"
        );
        let wrapper =
            std::fs::read_to_string(root.join(format!("fuzz_targets/{name}.rs"))).unwrap();
        assert!(
            wrapper.contains(&format!("canon::fuzzing::{name}(data)")),
            "fuzz/fuzz_targets/{name}.rs does not call canon::fuzzing::{name}"
        );
        assert!(root.join("corpus").join(name).is_dir());
    }
}
