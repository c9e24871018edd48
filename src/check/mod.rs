//! Check and compile: loading the `extends` chain, name resolution, type checks, lints, and the
//! immutable [`Program`]. Every file is read by [`load`]; compiling is a function of the
//! sources read.

mod compile;
mod error;
mod lint;
mod load;
pub mod schema;

use std::path::Path;

pub use error::{summary_line, LoadError};

/// Files a load read besides the rule file itself, by path relative to its folder, with
/// their bytes.
pub type FilesRead = Vec<(String, Vec<u8>)>;

use crate::program::Program;

impl Program {
    /// Loads, checks and compiles the rule file at `path` and every file it extends. Warnings
    /// are kept in [`Program::warnings`]; any error fails the load with every diagnostic.
    pub fn load(path: &Path) -> Result<Program, LoadError> {
        compile::load_program(path)
    }

    /// Compiles rule-file text held in memory (`name` is how messages cite it; `extends` and
    /// table CSVs resolve against the current directory).
    pub fn from_source(name: &str, text: &str) -> Result<Program, LoadError> {
        compile::compile_source(name, text, load::Files::Disk)
    }

    /// Loads like [`Program::load`], and returns beside the program every other file the load
    /// read (the `extends` chain, the table CSVs) by its path relative to `path`'s folder:
    /// with `path`'s own text, [`Program::from_memory`] builds the same program from them
    /// alone (same [`Program::version`]), on any machine.
    pub fn load_with_files(path: &Path) -> Result<(Program, FilesRead), LoadError> {
        compile::load_program_and_files(path)
    }

    /// Compiles rule-file text whose base (`extends`) and table CSVs are held in memory too:
    /// `files` pairs each path, as the text names it, with its bytes. Nothing is read from
    /// disk; a file `files` lacks is a diagnostic where it is named.
    pub fn from_memory(
        name: &str,
        text: &str,
        files: &[(String, Vec<u8>)],
    ) -> Result<Program, LoadError> {
        compile::compile_source(name, text, load::Files::Memory(files))
    }
}

#[cfg(test)]
mod tests {
    use crate::diag::Code;
    use crate::value::FlatRecord;
    use crate::Program;

    fn codes(result: Result<Program, super::LoadError>) -> Vec<Code> {
        let error = result.expect_err("the load fails");
        error.diagnostics.items.iter().map(|d| d.code).collect()
    }

    /// A rule file's bundle (the files its load read) builds the same program from memory,
    /// wherever the base and the tables were.
    #[test]
    fn a_load_with_files_rebuilds_from_memory_alone() {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared");
        let customer = dir.path().join("customers");
        std::fs::create_dir_all(shared.join("tables")).unwrap();
        std::fs::create_dir_all(&customer).unwrap();
        std::fs::write(
            shared.join("base.rules"),
            "field level: enum(VP, Manager)\ninput code = \"Band Code\" | trim | upper\ntable bands = csv(\"tables/bands.csv\", key = \"code\", value = \"level\")\n",
        )
        .unwrap();
        std::fs::write(shared.join("tables/bands.csv"), "code,level\nV1,VP\n").unwrap();
        let path = customer.join("acme.rules");
        let text = "extends \"../shared/base.rules\"\nmap level { rule band: code in table bands -> bands[code] }\n";
        std::fs::write(&path, text).unwrap();
        let (program, files) = Program::load_with_files(&path).unwrap();
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["../shared/base.rules", "../shared/tables/bands.csv"]
        );
        let again = Program::from_memory("acme.rules", text, &files).unwrap();
        assert_eq!(again.version(), program.version());
        let row = FlatRecord::from_pairs([("Band Code", "v1")]);
        assert_eq!(again.apply(&row).get("level"), Some("VP"));
    }

    /// The fuzz target `rules` compiles a file with its base and tables held in memory: the
    /// chain and the CSV are read from there, and nothing from disk.
    #[test]
    fn a_load_from_memory_reads_its_base_and_tables_there_only() {
        let files = vec![
            (
                "base/base.rules".to_string(),
                b"field level: enum(VP, Manager)\ninput code = \"Band Code\" | trim | upper\n"
                    .to_vec(),
            ),
            (
                "base/bands.csv".to_string(),
                b"code,level\nV1,VP\n".to_vec(),
            ),
            ("a.rules".to_string(), b"extends \"./a.rules\"\n".to_vec()),
        ];
        let text = "extends \"base/base.rules\"\ntable bands = csv(\"base/bands.csv\", key = \"code\", value = \"level\")\nmap level { rule band: code in table bands -> bands[code] }\n";
        let program = Program::from_memory("customer.rules", text, &files).unwrap();
        let row = FlatRecord::from_pairs([("Band Code", " v1 ")]);
        assert_eq!(program.apply(&row).get("level"), Some("VP"));

        // A file it lacks is a diagnostic, even one the disk has.
        let text = "extends \"/etc/hostname\"\nfield a: text\n";
        assert!(codes(Program::from_memory("c.rules", text, &files)).contains(&Code::Io));
        // A file that extends itself, however spelled, is a cycle (not an endless chain).
        let text = "extends \"a.rules\"\n";
        assert!(codes(Program::from_memory("c.rules", text, &files)).contains(&Code::ExtendsCycle));
    }
}

#[cfg(test)]
mod date_format_tests {
    use crate::diag::Code;
    use crate::Program;

    /// Found by the `rules` fuzz target: a `date` format with a field a date cannot fill
    /// (`%f`, fractions of a second; `%H`; `%z`) panicked the compiler when it wrote its
    /// sample date. It is a bad step, like any format without a day, a month and a year.
    #[test]
    fn a_date_format_a_date_cannot_fill_is_a_bad_step_not_a_panic() {
        for format in ["%m/%f/%Y", "%d.%m.%Y %H:%M", "%Y-%m-%d%z", "%s"] {
            let text = format!(
                "field ended: text\ninput end = \"End\" | date(\"{format}\")\nmap ended {{ rule e: end is present -> end }}\n"
            );
            let error = Program::from_source("d.rules", &text)
                .err()
                .unwrap_or_else(|| panic!("`{format}` was taken as a date format"));
            let codes: Vec<Code> = error.diagnostics.items.iter().map(|d| d.code).collect();
            assert_eq!(codes, [Code::BadStep], "`{format}`");
        }
        let good = "field ended: text\ninput end = \"End\" | date(\"%d.%m.%Y\")\nmap ended { rule e: end is present -> end }\n";
        assert!(Program::from_source("d.rules", good).is_ok());
    }
}
