//! Running the real `canon` binary: the one helper every integration test that does so shares
//! (`mod common;`).

// Each test crate compiles its own copy of this module and uses only part of it.
#![allow(dead_code)]

mod server;

#[allow(unused_imports)]
pub use server::{free_port, serve, serve_on, within, Server};

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// The crate root. Every run starts there, so the tests' relative paths hold.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `canon`, to start from the crate root, for a test that adds its own environment or pipes.
pub fn command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_canon"));
    command.current_dir(root());
    command
}

/// What a finished run of `canon` left: its exit code (-1 if a signal ended it), stdout and
/// stderr. Both streams must be UTF-8.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8(output.stdout).expect("canon's stdout is UTF-8"),
            stderr: String::from_utf8(output.stderr).expect("canon's stderr is UTF-8"),
        }
    }
}

/// Runs `canon ARGS…` from the crate root, with nothing on stdin.
pub fn canon(args: &[&str]) -> Run {
    command().args(args).output().expect("canon runs").into()
}

/// Runs `canon ARGS…` from the crate root with `stdin` on its standard input.
pub fn canon_stdin(args: &[&str], stdin: &[u8]) -> Run {
    let mut child = command()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("canon runs");
    let mut input = child.stdin.take().expect("stdin is piped");
    input.write_all(stdin).expect("canon reads its stdin");
    drop(input);
    child.wait_with_output().expect("canon runs").into()
}
