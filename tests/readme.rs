//! The README's quick start stays true: its test command is the one `.ci/run` runs, and its
//! main command names files that exist.

fn quick_start_commands() -> Vec<String> {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let section = readme
        .split("## Quick start")
        .nth(1)
        .expect("a Quick start section");
    let block = section
        .split("```sh")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a sh block");
    block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn quick_start_is_two_commands_and_ci_runs_the_test_one() {
    let commands = quick_start_commands();
    assert_eq!(commands.len(), 2, "{commands:?}");
    let ci = std::fs::read_to_string(".ci/run").unwrap();
    assert!(
        ci.lines().any(|l| l.trim() == commands[1]),
        ".ci/run does not run `{}`",
        commands[1]
    );
}

#[test]
fn quick_start_files_exist() {
    let commands = quick_start_commands();
    for word in commands[0].split_whitespace() {
        if word.contains('/') {
            assert!(
                std::path::Path::new(word).exists(),
                "the quick start names `{word}`, which does not exist"
            );
        }
    }
}
