//! `canon serve` as a child process on a free loopback port: the one way the integration
//! tests start the real service.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A running `canon serve`, killed (and reaped) when dropped.
pub struct Server {
    pub child: Child,
    /// `127.0.0.1:PORT`
    pub address: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// SIGTERM: the graceful shutdown.
    pub fn terminate(&mut self) {
        let kill = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
    }

    /// The exit code, waiting at most `limit`.
    pub fn exit_within(&mut self, limit: Duration) -> i32 {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(started.elapsed() < limit, "still running after {limit:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `canon serve --config CONFIG --listen 127.0.0.1:PORT ARGS…` on a free port
/// (`RUST_LOG=info`, stdout discarded, stderr into `stderr`): see [`serve_on`].
pub fn serve(config: &Path, args: &[&str], stderr: Stdio) -> Server {
    serve_on(free_port(), config, args, "info", stderr)
}

/// `canon serve` on `port` (`RUST_LOG=log`); returns once it accepts connections, and fails
/// the test if it exits first or is not listening within 20 s.
pub fn serve_on(port: u16, config: &Path, args: &[&str], log: &str, stderr: Stdio) -> Server {
    let address = format!("127.0.0.1:{port}");
    let child = super::command()
        .args([
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            &address,
        ])
        .args(args)
        .env("RUST_LOG", log)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut server = Server { child, address };
    let started = Instant::now();
    while TcpStream::connect(&server.address).is_err() {
        if let Some(status) = server.child.try_wait().unwrap() {
            panic!("canon serve exited before it listened: {status}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "canon serve did not listen within 20 s"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    server
}

/// Polls `check` until it holds or `limit` passes; how long it took.
pub fn within(limit: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    loop {
        if check() {
            return Some(started.elapsed());
        }
        if started.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
