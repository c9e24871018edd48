//! What a dry run checks in each CSV header before it maps a row: two columns of one name
//! (the rules would silently read the first), inputs that read none of the header's columns
//! (a typo in a column name shows only as a rule that never fires), and the columns that no
//! input reads (listed in the report).

use std::collections::BTreeMap;

use crate::diag::closest;
use crate::input::Input;
use crate::value::column_key;
use crate::Program;

/// The header problems of a run's inputs.
#[derive(Debug, Default)]
pub struct HeaderCheck {
    /// Problems that stop the run before any row is mapped.
    pub errors: Vec<String>,
    /// Problems worth saying, printed on stderr.
    pub warnings: Vec<String>,
    /// Per CSV input (its name): the header columns no input of the rules reads.
    pub unread: Vec<(String, Vec<String>)>,
}

pub fn check_headers(program: &Program, inputs: &[Input]) -> HeaderCheck {
    let mut check = HeaderCheck::default();
    let read: Vec<&str> = program.paths().iter().map(|p| p.flat_key()).collect();
    for input in inputs {
        let Input::Csv(csv) = input else {
            continue;
        };
        let header = csv.header();
        let mut positions: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (index, name) in header.iter().enumerate() {
            positions
                .entry(column_key(name))
                .or_default()
                .push(index + 1);
        }
        let mut twice: Vec<(&Vec<usize>, &str, bool)> = positions
            .iter()
            .filter(|(_, at)| at.len() > 1)
            .map(|(k, at)| {
                let name = header[at[0] - 1].as_str();
                (at, name, read.contains(&k.as_str()))
            })
            .collect();
        twice.sort_by_key(|(at, _, _)| at[0]);
        for (at, name, is_read) in twice {
            let columns = numbered(at);
            if is_read {
                check.errors.push(format!(
                    "`{}`: columns {columns} are all named `{name}`, and the rules read `{name}`: rename all but one (Canon will not guess which is meant)",
                    csv.name
                ));
            } else {
                check.warnings.push(format!(
                    "`{}`: columns {columns} are all named `{name}` (no rule reads it)",
                    csv.name
                ));
            }
        }
        for (name, span, paths) in program.input_paths() {
            if paths.is_empty() || paths.iter().any(|p| positions.contains_key(p.flat_key())) {
                continue;
            }
            let place = program.sources().locate(span);
            let mut written: Vec<String> = Vec::new();
            for path in &paths {
                let text = format!("`{}`", path.text());
                if !written.contains(&text) {
                    written.push(text);
                }
            }
            let suggestion = paths
                .iter()
                .filter_map(|p| near_column(p.text(), header))
                .next()
                .map(|c| format!("; did you mean `{c}`?"))
                .unwrap_or_default();
            check.warnings.push(format!(
                "{}:{}:{}: input `{name}` reads none of `{}`'s columns ({}){suggestion}",
                place.file,
                place.line,
                place.column,
                csv.name,
                written.join(", ")
            ));
        }
        let unread: Vec<String> = header
            .iter()
            .filter(|name| !read.contains(&column_key(name).as_str()))
            .cloned()
            .collect();
        check.unread.push((csv.name.clone(), unread));
    }
    check
}

/// The header column a source most likely meant: a slip of a character or two (`Termination
/// Dat`), not another column that shares a word (`Business Unit` is not `Business Title`).
fn near_column<'h>(source: &str, header: &'h [String]) -> Option<&'h str> {
    let found = closest(source, header.iter().map(String::as_str))?;
    let distance = strsim::damerau_levenshtein(&source.to_lowercase(), &found.to_lowercase());
    (distance <= (source.chars().count() / 6).max(2)).then_some(found)
}

/// `3 and 7`, `2, 5 and 9`.
fn numbered(at: &[usize]) -> String {
    match at {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => {
            let rest: Vec<String> = rest.iter().map(usize::to_string).collect();
            format!("{} and {last}", rest.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::CsvInput;

    fn check(rules: &str, csv: &str) -> HeaderCheck {
        let program = Program::from_source("h.rules", rules).unwrap();
        let input = CsvInput::from_reader("t.csv", Box::new(std::io::Cursor::new(csv.to_string())))
            .unwrap();
        check_headers(&program, &[Input::Csv(input)])
    }

    const RULES: &str = r#"
field title: text
field gone: text
input t = "Title" | trim
input end = "Termination Dat", termDate | trim
map title { rule t: t is present -> t }
map gone { rule g: end is present -> end }
"#;

    #[test]
    fn a_name_the_rules_read_twice_is_an_error() {
        let found = check(RULES, "id,Title,Dept,title\n1,VP,Ops,CEO\n");
        assert_eq!(
            found.errors,
            ["`t.csv`: columns 2 and 4 are all named `Title`, and the rules read `Title`: rename all but one (Canon will not guess which is meant)"]
        );
    }

    #[test]
    fn a_column_that_only_shares_a_word_is_no_suggestion() {
        let header = ["Business Title".to_string(), "Termination Date".to_string()];
        assert_eq!(near_column("Business Unit", &header), None);
        assert_eq!(
            near_column("Termination Dat", &header),
            Some("Termination Date")
        );
        assert_eq!(
            near_column("termination_date", &header),
            Some("Termination Date")
        );
    }

    #[test]
    fn a_name_no_rule_reads_twice_is_a_warning() {
        let found = check(RULES, "Notes,Title,notes ,NOTES\nx,VP,y,z\n");
        assert!(found.errors.is_empty());
        assert_eq!(
            found.warnings[0],
            "`t.csv`: columns 1, 3 and 4 are all named `Notes` (no rule reads it)"
        );
    }

    #[test]
    fn an_input_that_reads_no_column_is_named_with_its_place_and_a_suggestion() {
        let found = check(RULES, "id,Title,Termination Date\n1,VP,2026-01-01\n");
        assert_eq!(
            found.warnings,
            ["h.rules:5:7: input `end` reads none of `t.csv`'s columns (`Termination Dat`, `termDate`); did you mean `Termination Date`?"]
        );
        assert_eq!(
            found.unread,
            [(
                "t.csv".to_string(),
                vec!["id".to_string(), "Termination Date".to_string()]
            )]
        );
    }
}
