//! Every example in docs/ is executed: `rules` blocks must compile and their tests pass;
//! `rules,error` blocks must fail to compile. docs/errors.md lists every diagnostic code.

use canon::diag::Code;
use canon::Program;

/// (line, info string, body) of each fenced block.
fn blocks(markdown: &str) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String, String)> = None;
    for (index, line) in markdown.lines().enumerate() {
        if let Some(info) = line.strip_prefix("```") {
            match current.take() {
                Some(block) => out.push(block),
                None => current = Some((index + 2, info.trim().to_string(), String::new())),
            }
        } else if let Some((_, _, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

#[test]
fn dsl_examples_compile_and_pass_their_tests() {
    let markdown = std::fs::read_to_string("docs/dsl.md").unwrap();
    let mut checked = 0;
    for (line, info, body) in blocks(&markdown) {
        let name = format!("docs/dsl.md:{line}");
        match info.as_str() {
            "rules" => {
                let program = Program::from_source(&name, &body)
                    .unwrap_or_else(|e| panic!("{name} does not compile:\n{e}"));
                assert!(
                    program.warnings().is_empty(),
                    "{name} has warnings: {:?}",
                    program.warnings()
                );
                for test in program.tests().iter().filter(|t| t.own) {
                    let failures = program.run_test(test);
                    assert!(
                        failures.is_empty(),
                        "{name}: test {:?} failed: {failures:?}",
                        test.name
                    );
                }
            }
            "rules,error" => {
                let error = Program::from_source(&name, &body)
                    .err()
                    .unwrap_or_else(|| panic!("{name} should not compile"));
                assert!(
                    error.diagnostics.error_count() >= 2,
                    "{name}: {}",
                    error.render()
                );
            }
            _ => continue,
        }
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} examples found");
}

#[test]
fn errors_page_lists_every_code() {
    let page = std::fs::read_to_string("docs/errors.md").unwrap();
    for code in Code::ALL {
        assert!(
            page.contains(&format!("`{}`", code.as_str())),
            "docs/errors.md does not list {}",
            code.as_str()
        );
    }
}
