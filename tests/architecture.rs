//! The module floors of `src/`: what may import what (docs/architecture.md draws them).
//!
//! Every `crate::…` path in `src/` (and every `super::…` path between sibling files of one
//! module) is read from the source text, comments left out, and checked against the floors
//! below. Names re-exported at the crate root (`crate::Program`) count as imports of the module
//! that defines them. A new import the floors do not allow, or a circle between two top-level
//! modules or between two files of one module, fails this test with the file and line.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use regex::Regex;

/// The core: the rules engine, which knows nothing of files of records, services or stores.
const CORE: &[&str] = &["diag", "value", "syntax", "program", "check", "eval"];

/// Each top-level module and the modules it may import. The core's floors, bottom up: `diag`;
/// `value`; `syntax`; `program` (the compiled IR and its matchers); `check` (builds a
/// `Program`) beside `eval` (runs one), neither importing the other. The edges sit on top.
const ALLOWED: &[(&str, &[&str])] = &[
    ("diag", &[]),
    ("value", &[]),
    ("syntax", &["diag", "value"]),
    ("program", &["diag", "value"]),
    ("check", &["diag", "value", "syntax", "program"]),
    ("eval", &["diag", "value", "program"]),
    ("gen", &[]),
    ("input", &["value"]),
    ("report", &["diag", "value", "program", "eval", "input"]),
    ("store", &["value", "program", "eval"]),
    (
        "scim",
        &["diag", "value", "program", "check", "eval", "store"],
    ),
    // The customer-success console: pages on top of the SCIM service's state.
    (
        "console",
        &[
            "diag", "value", "program", "check", "eval", "input", "report", "store", "scim",
        ],
    ),
    (
        "cli",
        &[
            "diag", "value", "syntax", "program", "check", "eval", "gen", "input", "report",
            "store", "scim", "console",
        ],
    ),
    // The fuzz targets' harnesses (`#[doc(hidden)]`): beside `cli`, on top of what they test.
    (
        "fuzzing",
        &[
            "diag", "value", "syntax", "program", "check", "eval", "input", "store", "scim",
        ],
    ),
];

/// One `crate::` or `super::` path found in a file, with its line.
struct Import {
    file: PathBuf,
    line: usize,
    target: String,
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file under `src/`: `src/eval/cache/runs.rs` → `[eval, cache, runs]`.
fn module_path(file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src()).unwrap();
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" && stem != "main" {
        parts.push(stem.to_string());
    }
    parts
}

/// The source without comments (line comments, doc comments and block comments), so that a
/// path named in prose is not an import. String literals are kept: none of them holds
/// `crate::`.
fn strip_comments(text: &str) -> String {
    let block = Regex::new(r"(?s)/\*.*?\*/").unwrap();
    let text = block.replace_all(text, |m: &regex::Captures| {
        m[0].chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect::<String>()
    });
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every module path a file refers to, absolute (`crate::a::b` → `a::b`), with its line.
fn imports(file: &Path) -> Vec<Import> {
    let text = fs::read_to_string(file).unwrap();
    imports_in(&text, &module_path(file))
        .into_iter()
        .map(|(line, target)| Import {
            file: file.to_path_buf(),
            line,
            target,
        })
        .collect()
}

/// The paths that source `text` of module `own` refers to, absolute, with their lines.
/// Grouped imports (`use crate::{a::X, b::Y}`) give one path per member; `super` paths are
/// made absolute from `own`.
fn imports_in(text: &str, own: &[String]) -> Vec<(usize, String)> {
    let text = strip_comments(text);
    let path = Regex::new(
        r"\b(crate|super)((?:::super)*)::(\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*)",
    )
    .unwrap();
    let member = Regex::new(r"[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*").unwrap();
    let mut found = Vec::new();
    for capture in path.captures_iter(&text) {
        let line = text[..capture.get(0).unwrap().start()]
            .matches('\n')
            .count()
            + 1;
        // The module the path starts from: the crate root, or a parent of this module
        // (`src/a/mod.rs` is module `a`, `src/a/b.rs` module `a::b`).
        let base: &[String] = if &capture[1] == "crate" {
            &[]
        } else {
            let ups = 1 + capture[2].matches("super").count();
            &own[..own.len().saturating_sub(ups)]
        };
        let rest = &capture[3];
        let members: Vec<&str> = match rest.strip_prefix('{') {
            Some(inner) => member.find_iter(inner).map(|m| m.as_str()).collect(),
            None => vec![rest],
        };
        for name in members {
            let mut target = base.to_vec();
            target.extend(name.split("::").map(str::to_string));
            found.push((line, target.join("::")));
        }
    }
    found
}

/// Names the crate root re-exports, and the module each comes from (`Program` → `program`).
fn root_reexports() -> BTreeMap<String, String> {
    let lib = strip_comments(&fs::read_to_string(src().join("lib.rs")).unwrap());
    let reexport = Regex::new(r"pub use ([a-z_]+)(?:::[a-z_]+)*::(\{[^}]*\}|[A-Za-z_]+);").unwrap();
    let name = Regex::new(r"[A-Za-z_][A-Za-z0-9_]*").unwrap();
    let mut names = BTreeMap::new();
    for capture in reexport.captures_iter(&lib) {
        for n in name.find_iter(&capture[2]) {
            names.insert(n.as_str().to_string(), capture[1].to_string());
        }
    }
    names
}

/// The top-level module a path lands in (`eval::cache::Evaluator` → `eval`, `Program` →
/// `program`), if it names one.
fn top_level(
    target: &str,
    reexports: &BTreeMap<String, String>,
    modules: &BTreeSet<String>,
) -> Option<String> {
    let first = target.split("::").next()?;
    if modules.contains(first) {
        Some(first.to_string())
    } else {
        reexports.get(first).cloned()
    }
}

fn top_level_modules() -> BTreeSet<String> {
    fs::read_dir(src())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_stem()?.to_string_lossy().into_owned();
            (p.is_dir() || (name != "lib" && name != "main")).then_some(name)
        })
        .collect()
}

/// A circle in `graph`, as the nodes around it, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(cycle);
        }
    }
    None
}

struct Layering {
    /// Top-level module → the modules it imports, with one place each import is made.
    uses: BTreeMap<String, BTreeMap<String, String>>,
    /// Per top-level module: sibling file → the siblings it imports.
    siblings: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
}

fn layering() -> Layering {
    let modules = top_level_modules();
    let reexports = root_reexports();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut uses: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut siblings: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for file in &files {
        let own = module_path(file);
        let Some(from) = own.first().cloned() else {
            continue; // lib.rs and main.rs: the crate root re-exports every floor.
        };
        for import in imports(file) {
            let Some(to) = top_level(&import.target, &reexports, &modules) else {
                continue;
            };
            if to != from {
                let place = format!(
                    "{}:{}",
                    import
                        .file
                        .strip_prefix(src().parent().unwrap())
                        .unwrap()
                        .display(),
                    import.line
                );
                uses.entry(from.clone())
                    .or_default()
                    .entry(to)
                    .or_insert(place);
                continue;
            }
            // Within one module: which of its direct submodules (files or folders) refers to
            // which other.
            let target: Vec<&str> = import.target.split("::").collect();
            if let (Some(a), Some(b)) = (own.get(1), target.get(1)) {
                if a != b && modules_has_child(&from, b) {
                    siblings
                        .entry(from.clone())
                        .or_default()
                        .entry(a.clone())
                        .or_default()
                        .insert(b.to_string());
                }
            }
        }
    }
    Layering { uses, siblings }
}

fn modules_has_child(module: &str, child: &str) -> bool {
    let dir = src().join(module);
    dir.join(format!("{child}.rs")).is_file() || dir.join(child).is_dir()
}

#[test]
fn every_import_follows_the_floors() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let layering = layering();
    let mut wrong = Vec::new();
    for module in top_level_modules() {
        let Some(may) = allowed.get(module.as_str()) else {
            wrong.push(format!(
                "`{module}` is a new top-level module: give it its floor in ALLOWED"
            ));
            continue;
        };
        for (to, place) in layering.uses.get(&module).into_iter().flatten() {
            if !may.contains(&to.as_str()) {
                let why = if CORE.contains(&module.as_str()) && !CORE.contains(&to.as_str()) {
                    " (the core never imports an edge)"
                } else {
                    ""
                };
                wrong.push(format!("{place}: `{module}` imports `{to}`{why}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports across the floors:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_circle_between_top_level_modules() {
    let layering = layering();
    let graph: BTreeMap<String, BTreeSet<String>> = layering
        .uses
        .iter()
        .map(|(from, to)| (from.clone(), to.keys().cloned().collect()))
        .collect();
    if let Some(cycle) = find_cycle(&graph) {
        panic!("top-level modules import each other: {}", cycle.join(" → "));
    }
}

#[test]
fn no_circle_between_files_of_one_module() {
    let layering = layering();
    for (module, graph) in &layering.siblings {
        if let Some(cycle) = find_cycle(graph) {
            panic!(
                "in `{module}`, files import each other: {}",
                cycle.join(" → ")
            );
        }
    }
}

#[test]
fn the_allowed_floors_have_no_circle_and_the_core_no_edge() {
    let graph: BTreeMap<String, BTreeSet<String>> = ALLOWED
        .iter()
        .map(|(m, may)| (m.to_string(), may.iter().map(|s| s.to_string()).collect()))
        .collect();
    assert_eq!(find_cycle(&graph), None);
    for (module, may) in ALLOWED {
        if CORE.contains(module) {
            for to in *may {
                assert!(
                    CORE.contains(to),
                    "core `{module}` may not import edge `{to}`"
                );
            }
        }
    }
}

/// The checker itself: it finds a reintroduced core → edge import, grouped and re-exported
/// paths, `super` paths, and a circle; it ignores paths in comments.
#[test]
fn the_checker_sees_imports_and_circles() {
    let text = "// use crate::cli::run;\n/// [`crate::scim`]\nuse crate::{input::CsvRow, value::Record};\nfn f() { crate::Program::load(p); }\nuse super::ways::split;\n";
    let own = ["eval".to_string(), "cache".to_string()];
    assert_eq!(
        imports_in(text, &own),
        vec![
            (3, "input::CsvRow".to_string()),
            (3, "value::Record".to_string()),
            (4, "Program::load".to_string()),
            (5, "eval::ways::split".to_string()),
        ]
    );
    let reexports = root_reexports();
    let modules = top_level_modules();
    let top = |path: &str| top_level(path, &reexports, &modules);
    assert_eq!(top("Program::load").as_deref(), Some("program"));
    assert_eq!(top("input::CsvRow").as_deref(), Some("input"));
    assert_eq!(top("std::fs").as_deref(), None);
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("check".to_string(), BTreeSet::from(["eval".to_string()])),
        ("eval".to_string(), BTreeSet::from(["check".to_string()])),
    ]
    .into();
    assert_eq!(
        find_cycle(&graph),
        Some(vec![
            "check".to_string(),
            "eval".to_string(),
            "check".to_string()
        ])
    );
}
