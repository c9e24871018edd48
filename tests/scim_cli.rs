//! `canon tenant`, `canon serve`, `canon export`, `canon remap`, `canon reload` through the
//! real binary, the service over a real socket.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use canon::scim::config::Config;
use serde_json::{json, Value};

mod common;

use common::{canon, free_port, Run, Server};

fn line_value(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("no `{key}:` line in {text:?}"))
        .to_string()
}

fn sha256_hex(text: &str) -> String {
    canon::scim::config::token_hash(text)
}

#[test]
fn tenant_add_and_rotate_token() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("canon.yaml");
    let rules = dir.path().join("acme.rules");
    std::fs::write(&rules, "field x: text\n").unwrap();
    let config_arg = config.to_str().unwrap();
    let out = canon(&[
        "tenant",
        "add",
        "acme",
        "--rules",
        rules.to_str().unwrap(),
        "--config",
        config_arg,
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = out.stdout;
    assert_eq!(
        line_value(&text, "base_url"),
        "http://127.0.0.1:8080/t/acme/scim/v2"
    );
    let token = line_value(&text, "token");
    let admin = line_value(&text, "admin_token");
    assert_eq!(token.len(), 64);
    // The config keeps the admin token's hash; the tenant lives in the store's registry,
    // its token as a hash only.
    let saved = std::fs::read_to_string(&config).unwrap();
    assert!(
        !saved.contains(&token) && !saved.contains(&admin),
        "only hashes are stored"
    );
    assert!(saved.contains(&sha256_hex(&admin)) && !saved.contains("tenants:"));
    let store = canon::store::SqliteStore::open(&dir.path().join("canon.db")).unwrap();
    let acme = canon::store::TenantId::parse("acme").unwrap();
    let tokens = canon::store::TenantRegistry::tokens(&store, &acme).unwrap();
    assert_eq!(tokens[0].sha256, sha256_hex(&token));
    drop(store);
    for file in ["canon.db", "canon.db-wal"] {
        let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
        assert!(!String::from_utf8_lossy(&bytes).contains(&token), "{file}");
    }

    // Twice the same id, a bad id, a missing rule file: usage errors.
    let again = canon(&[
        "tenant",
        "add",
        "acme",
        "--rules",
        rules.to_str().unwrap(),
        "--config",
        config_arg,
    ]);
    assert_eq!(again.code, 2);
    let bad = canon(&[
        "tenant",
        "add",
        "Acme!",
        "--rules",
        rules.to_str().unwrap(),
        "--config",
        config_arg,
    ]);
    assert_eq!(bad.code, 2);
    let missing = canon(&[
        "tenant",
        "add",
        "beta",
        "--rules",
        "/nonexistent.rules",
        "--config",
        config_arg,
    ]);
    assert_eq!(missing.code, 2);
    // A second tenant on an existing config gets no new admin token.
    let beta = canon(&[
        "tenant",
        "add",
        "beta",
        "--rules",
        rules.to_str().unwrap(),
        "--config",
        config_arg,
    ]);
    assert!(!beta.stdout.contains("admin_token"));

    let rotated = canon(&["tenant", "rotate-token", "acme", "--config", config_arg]);
    assert_eq!(rotated.code, 0);
    let new_token = line_value(&rotated.stdout, "token");
    assert_ne!(new_token, token);
    assert!(rotated
        .stdout
        .contains("the previous tokens stopped working now"));
    let shown = canon(&["tenant", "show", "acme", "--config", config_arg]);
    assert!(
        shown.stdout.contains("     1  created ") && shown.stdout.contains("revoked"),
        "{}",
        shown.stdout
    );
    assert!(
        shown.stdout.contains("     3  created ") && shown.stdout.ends_with("never\n"),
        "{}",
        shown.stdout
    );
    assert_eq!(
        canon(&["tenant", "rotate-token", "nope", "--config", config_arg]).code,
        2
    );
}

fn start(config: &Path, port: u16) -> Server {
    start_logging(config, port, "warn", Stdio::null())
}

fn start_logging(config: &Path, port: u16, level: &str, stderr: Stdio) -> Server {
    common::serve_on(port, config, &[], level, stderr)
}

/// A tenant `acme` on the test rules in `dir`: its config file and bearer token.
fn one_tenant(dir: &Path) -> (std::path::PathBuf, String) {
    let config = dir.join("canon.yaml");
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/base.rules");
    let out = canon(&[
        "tenant",
        "add",
        "acme",
        "--rules",
        rules.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    (config, line_value(&out.stdout, "token"))
}

/// Issue 19: when stderr could not be written, tracing's fallback (`eprintln!`) panicked
/// in every request task, so committed creates got no answer; and the start-up line
/// panicked, so `canon serve` exited 101. Logs that cannot be written are dropped.
#[test]
fn a_failing_stderr_never_takes_a_request_down() {
    let dir = tempfile::tempdir().unwrap();
    let (config, token) = one_tenant(dir.path());
    // A full disk, and a log pipe whose reader has gone.
    let full = || Stdio::from(std::fs::File::create("/dev/full").unwrap());
    for (n, how) in ["/dev/full", "closed pipe"].into_iter().enumerate() {
        let mut server = if n == 0 {
            start_logging(&config, free_port(), "debug", full())
        } else {
            let mut server = start_logging(&config, free_port(), "debug", Stdio::piped());
            drop(server.child.stderr.take());
            server
        };
        for i in 0..10 {
            let user = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": format!("u{n}-{i}@example.com"), "title": "VP Sales"});
            let (status, created) = http(
                &server.address,
                "POST",
                "/t/acme/scim/v2/Users",
                &token,
                Some(&user),
            );
            assert_eq!(status, 201, "{how}: {created}");
            let id = created["id"].as_str().unwrap();
            let path = format!("/t/acme/scim/v2/Users/{id}");
            let (status, _) = http(&server.address, "GET", &path, &token, None);
            assert_eq!(status, 200, "{how}");
        }
        assert!(server.child.try_wait().unwrap().is_none(), "{how}");
    }
    // Refusing to start is still exit 2 with nowhere to say why, not a panic's 101.
    let refused = common::command()
        .args(["serve", "--config", "no/such/canon.yaml"])
        .stderr(full())
        .status()
        .unwrap();
    assert_eq!(refused.code(), Some(2));
}

fn http(
    address: &str,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// A raw connection to `server`, reads bounded by `wait`.
fn connect(server: &Server, wait: Duration) -> TcpStream {
    let stream = TcpStream::connect(&server.address).unwrap();
    stream.set_read_timeout(Some(wait)).unwrap();
    stream
}

/// What the server sends on `stream` until it closes it; `None` if it is still open after
/// the stream's read timeout.
fn until_closed(stream: &mut TcpStream) -> Option<String> {
    let mut bytes = Vec::new();
    match stream.read_to_end(&mut bytes) {
        Ok(_) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            None
        }
        // Reset by the server: closed too.
        Err(_) => Some(String::from_utf8_lossy(&bytes).into_owned()),
    }
}

/// `canon serve` with its connection limits set in the config.
fn start_with_limits(config: &Path, limits: &str) -> Server {
    let text = std::fs::read_to_string(config).unwrap();
    let text = format!("{text}connections:\n{limits}");
    let limited = config.with_file_name(format!("limited-{}.yaml", free_port()));
    std::fs::write(&limited, text).unwrap();
    start(&limited, free_port())
}

/// Issue 19: idle and half-sent connections were held for ever (no header-read or idle
/// timeout, no cap), and a half-sent request kept SIGTERM from finishing.
#[test]
fn stalled_connections_are_closed_capped_and_do_not_hold_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let (config, token) = one_tenant(dir.path());
    let users = "/t/acme/scim/v2/Users";
    let head = |length: usize| {
        format!(
            "POST {users} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/scim+json\r\nContent-Length: {length}\r\n\r\n"
        )
    };
    let server = start_with_limits(
        &config,
        "  max: 4\n  head_timeout_secs: 1\n  body_timeout_secs: 1\n  shutdown_grace_secs: 1\n",
    );
    let wait = Duration::from_secs(5);
    // An idle connection, and one that stops inside its request head, are closed.
    let mut idle = connect(&server, wait);
    let mut half_head = connect(&server, wait);
    half_head
        .write_all(b"GET /t/acme/scim/v2/Users HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // A kept-alive connection idle after its response.
    let mut kept = connect(&server, wait);
    write!(
        kept,
        "GET {users} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .unwrap();
    assert!(until_closed(&mut idle).is_some(), "idle connection kept");
    let answer = until_closed(&mut kept).expect("idle kept-alive connection kept");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        until_closed(&mut half_head).is_some(),
        "half-sent head kept"
    );
    // A body that stops coming: 408 with a SCIM error, and the connection closed.
    let mut half_body = connect(&server, wait);
    write!(half_body, "{}{{\"schemas\":", head(100)).unwrap();
    let answer = until_closed(&mut half_body).expect("half-sent body kept");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/scim+json"), "{answer}");
    assert!(answer.contains("did not arrive within 1 s"), "{answer}");

    // Four connections fill the server: a fifth is not served until one of them goes (here
    // when its head timeout closes it).
    let idle: Vec<_> = (0..4).map(|_| connect(&server, wait)).collect();
    std::thread::sleep(Duration::from_millis(100));
    let mut fifth = connect(&server, Duration::from_millis(300));
    let body = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"e@x.io"}"#;
    write!(fifth, "{}{body}", head(body.len())).unwrap();
    let waited = fifth.read(&mut [0u8; 1]).map_err(|e| e.kind());
    assert!(
        matches!(
            waited,
            Err(std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
        ),
        "a fifth connection was served while four were open: {waited:?}"
    );
    fifth.set_read_timeout(Some(wait)).unwrap();
    let mut answer = vec![0u8; 12];
    fifth.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"HTTP/1.1 201");
    drop(idle);
    drop(server);

    // SIGTERM with requests that will not finish by themselves (60 s timeouts): the server
    // waits the 1 s grace for them, then closes them and exits 0.
    let mut server = start_with_limits(
        &config,
        "  head_timeout_secs: 60\n  body_timeout_secs: 60\n  shutdown_grace_secs: 1\n",
    );
    let mut half_head = connect(&server, wait);
    half_head
        .write_all(b"GET /t/acme/scim/v2/Users HTTP/1.1\r\n")
        .unwrap();
    let mut half_body = connect(&server, wait);
    write!(half_body, "{}{{", head(100)).unwrap();
    let _idle = connect(&server, wait);
    std::thread::sleep(Duration::from_millis(100));
    let asked = std::time::Instant::now();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(10),
            "still running after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    assert!(until_closed(&mut half_head).is_some());
    assert!(until_closed(&mut half_body).is_some());
}

/// `canon reload` of tenant `acme`, the admin token in the environment.
fn canon_reload(config: &Path, address: &str, admin: &str) -> Run {
    common::command()
        .args([
            "reload",
            "--tenant",
            "acme",
            "--config",
            config.to_str().unwrap(),
            "--url",
            address,
        ])
        .env("CANON_ADMIN_TOKEN", admin)
        .output()
        .unwrap()
        .into()
}

/// Issue 16: a tenant's `extensions.aliases`, set while the service runs (issue 17:
/// `canon tenant set`, on the registry the service follows), reach the service without a
/// reload and `canon remap` offline; `strict` too.
#[test]
fn tenant_aliases_reach_the_service_and_remap() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("canon.yaml");
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/base.rules");
    let config_arg = config.to_str().unwrap();
    let out = canon(&[
        "tenant",
        "add",
        "acme",
        "--rules",
        rules.to_str().unwrap(),
        "--config",
        config_arg,
    ]);
    let (token, admin) = (
        line_value(&out.stdout, "token"),
        line_value(&out.stdout, "admin_token"),
    );
    let server = start(&config, free_port());
    let globex = "urn:ietf:params:scim:schemas:extension:globex:2.0:User";
    let user = |name: &str| {
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name,
            "name": {"givenName": "Mo"}, "title": "Engineer", (globex): {"managementLevel": "Director"}})
    };
    let users = "/t/acme/scim/v2/Users";
    let level = |id: &str| {
        let (_, profile) = http(
            &server.address,
            "GET",
            &format!("/t/acme/profiles/{id}"),
            &admin,
            None,
        );
        profile["profile"]["management_level"].clone()
    };
    let (status, first) = http(
        &server.address,
        "POST",
        users,
        &token,
        Some(&user("mo@example.com")),
    );
    assert_eq!(status, 201, "{first}");
    let first = first["id"].as_str().unwrap().to_string();
    assert_eq!(level(&first), json!("Individual Contributor"));

    let set = canon(&[
        "tenant",
        "set",
        "acme",
        "--alias",
        &format!("{globex}=canon"),
        "--strict",
        "true",
        "--config",
        config_arg,
    ]);
    assert_eq!(set.code, 0, "{}", set.stderr);
    // The service follows the registry within a second.
    std::thread::sleep(Duration::from_millis(1000));
    let (status, second) = http(
        &server.address,
        "POST",
        users,
        &token,
        Some(&user("jo@example.com")),
    );
    assert_eq!(status, 201, "{second}");
    assert_eq!(level(second["id"].as_str().unwrap()), json!("Director"));
    let mut other = user("al@example.com");
    other["urn:ietf:params:scim:schemas:extension:other:2.0:User"] = json!({"x": "y"});
    let (status, refused) = http(&server.address, "POST", users, &token, Some(&other));
    assert_eq!(
        (status, &refused["scimType"]),
        (400, &json!("invalidValue"))
    );
    drop(server);

    // The user stored before the alias changes only when remapped.
    let remap = canon(&["remap", "--tenant", "acme", "--config", config_arg]);
    assert!(
        remap.stdout.contains(
            "mo@example.com\tmanagement_level\t\"Individual Contributor\" -> \"Director\""
        ),
        "{}",
        remap.stdout
    );
    assert!(
        remap.stdout.contains("1 of 2 users change"),
        "{}",
        remap.stdout
    );
}

#[test]
fn serve_durability_export_remap_and_reload() {
    durability_export_remap_and_reload(None);
}

/// The same on PostgreSQL (issue 18): the config's `database` is a URL; `export` also takes
/// it from `--database`.
#[test]
fn serve_durability_export_remap_and_reload_on_postgres() {
    let Some(url) = canon::store::testing::fresh_postgres_database().unwrap() else {
        return;
    };
    durability_export_remap_and_reload(Some(&url));
}

/// `database`: a PostgreSQL URL to use instead of the config's SQLite file.
fn durability_export_remap_and_reload(database: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("canon.yaml");
    let rules = dir.path().join("acme.rules");
    let base_rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/base.rules");
    std::fs::copy(&base_rules, &rules).unwrap();
    let port = free_port();
    let out = canon(&[
        "tenant",
        "add",
        "acme",
        "--rules",
        rules.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    let token = line_value(&out.stdout, "token");
    let admin = line_value(&out.stdout, "admin_token");
    if let Some(url) = database {
        // A tenant listed in `canon.yaml`, the way setups before issue 17 declared them: the
        // PostgreSQL registry imports it at start, and `canon reload` re-reads its entry.
        let mut written = canon::scim::config::Config::load(&config).unwrap();
        written.database = url.into();
        written.tenants.push(canon::scim::config::TenantConfig {
            id: canon::store::TenantId::parse("acme").unwrap(),
            rules: rules.clone(),
            token_sha256: sha256_hex(&token),
            extensions: Default::default(),
            rate_limit: Default::default(),
        });
        written.save(&config).unwrap();
    }

    let mut server = start(&config, port);
    let user = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ana@example.com",
        "title": "VP Sales", "name": {"givenName": "Ana"}});
    let (status, created) = http(
        &server.address,
        "POST",
        "/t/acme/scim/v2/Users",
        &token,
        Some(&user),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();

    // Killed right after the 2xx: nothing acknowledged is lost.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let server = start(&config, port);
    let (status, read) = http(
        &server.address,
        "GET",
        &format!("/t/acme/scim/v2/Users/{id}"),
        &token,
        None,
    );
    assert_eq!(
        (status, &read["userName"]),
        (200, &json!("ana@example.com"))
    );
    let (status, profile) = http(
        &server.address,
        "GET",
        &format!("/t/acme/profiles/{id}"),
        &admin,
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(profile["profile"]["management_level"], json!("VP"));

    let config_arg = config.to_str().unwrap();
    let rules_arg = rules.to_str().unwrap();
    let changed = std::fs::read_to_string(&base_rules)
        .unwrap()
        .replace("-> VP", "-> SVP");
    if database.is_some() {
        // Config tenants: `canon reload` publishes the changed rule file; a broken one is
        // refused (exit 1) and the old rules keep serving.
        std::fs::write(&rules, "field x: nonsense(\n").unwrap();
        let reload = canon_reload(&config, &server.address, &admin);
        assert_eq!(reload.code, 1);
        assert!(reload.stderr.contains("error"));
        std::fs::write(&rules, &changed).unwrap();
        let reload = canon_reload(&config, &server.address, &admin);
        assert_eq!(reload.code, 0, "{}", reload.stderr);
    } else {
        // Rules are published with `canon tenant set-rules` (tests/tenants.rs); a broken file is
        // refused (exit 1) with its diagnostics and nothing changes.
        std::fs::write(&rules, "field x: nonsense(\n").unwrap();
        let refused = canon(&[
            "tenant",
            "set-rules",
            "acme",
            rules_arg,
            "--note",
            "broken",
            "--config",
            config_arg,
        ]);
        assert_eq!(refused.code, 1);
        assert!(refused.stderr.contains("error"), "{}", refused.stderr);
        std::fs::write(&rules, &changed).unwrap();
        // `canon reload` still asks the service to re-read its tenants (a no-op here).
        let reload = canon_reload(&config, &server.address, &admin);
        assert_eq!(reload.code, 0, "{}", reload.stderr);
        // A rotated token takes effect without a reload; the old one stops working.
        let rotated = canon(&[
            "tenant",
            "rotate-token",
            "acme",
            "--config",
            config.to_str().unwrap(),
        ]);
        let new_token = line_value(&rotated.stdout, "token");
        std::thread::sleep(Duration::from_millis(1000));
        let users = "/t/acme/scim/v2/Users";
        assert_eq!(http(&server.address, "GET", users, &token, None).0, 401);
        assert_eq!(http(&server.address, "GET", users, &new_token, None).0, 200);
    }
    drop(server);

    // Export reads the store offline (on PostgreSQL, from `--database`, the config
    // pointing at a SQLite file meanwhile).
    let mut export = vec![
        "export",
        "--tenant",
        "acme",
        "--config",
        config.to_str().unwrap(),
    ];
    if let Some(url) = database {
        let mut written = canon::scim::config::Config::load(&config).unwrap();
        written.database = "elsewhere.db".into();
        written.save(&config).unwrap();
        export.extend(["--database", url]);
    }
    let jsonl = canon(&export);
    if let Some(url) = database {
        let mut written = canon::scim::config::Config::load(&config).unwrap();
        written.database = url.into();
        written.save(&config).unwrap();
    }
    let row: Value = serde_json::from_str(jsonl.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(row["profile"]["management_level"], json!("VP"));
    let csv = canon(&[
        "export",
        "--tenant",
        "acme",
        "--config",
        config.to_str().unwrap(),
        "--format",
        "csv",
    ]);
    let csv = csv.stdout;
    assert!(
        csv.starts_with("id,userName,rule_version,complete,first_name,management_level"),
        "{csv}"
    );
    assert!(csv.contains(",ana@example.com,"));

    // Remap prints the per-field change, writes only with --apply. In the registry, the SVP
    // rules become the live version first (dry run of set-rules: a preview, nothing stored).
    if database.is_none() {
        let preview = canon(&[
            "tenant",
            "set-rules",
            "acme",
            rules_arg,
            "--note",
            "SVP",
            "--dry-run",
            "--config",
            config_arg,
        ]);
        assert!(
            preview
                .stdout
                .contains("ana@example.com\tmanagement_level\t\"VP\" -> \"SVP\""),
            "{}",
            preview.stdout
        );
        let db = Config::resolve(&config, Path::new("canon.db"));
        let store = canon::store::SqliteStore::open(&db).unwrap();
        let acme = canon::store::TenantId::parse("acme").unwrap();
        let (program, bundle) = canon::scim::mapper::load_for_publishing(&rules).unwrap();
        canon::store::TenantRegistry::publish_rules(
            &store,
            &acme,
            &canon::store::registry::NewRuleVersion {
                hash: program.version().to_string(),
                bundle,
                note: "published without recomputing, as an older canon would leave it".into(),
                author: "test".into(),
            },
        )
        .unwrap();
        drop(store);
    }
    let dry = canon(&[
        "remap",
        "--tenant",
        "acme",
        "--config",
        config.to_str().unwrap(),
    ]);
    let text = dry.stdout;
    assert!(
        text.contains("ana@example.com\tmanagement_level\t\"VP\" -> \"SVP\""),
        "{text}"
    );
    assert!(text.contains("1 of 1 users change"));
    let still = canon(&[
        "export",
        "--tenant",
        "acme",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(still.stdout.contains("\"VP\""));
    let apply = canon(&[
        "remap",
        "--tenant",
        "acme",
        "--config",
        config.to_str().unwrap(),
        "--apply",
    ]);
    assert_eq!(apply.code, 0);
    let after = canon(&[
        "export",
        "--tenant",
        "acme",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(after.stdout.contains("\"SVP\""));
    let again = canon(&[
        "remap",
        "--tenant",
        "acme",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(again.stdout.contains("0 of 1 users change"));
    assert_eq!(
        canon(&[
            "export",
            "--tenant",
            "nope",
            "--config",
            config.to_str().unwrap()
        ])
        .code,
        2
    );
}

/// Issue 21: people_manager derived from who names whom as manager, in the running service
/// after a sequence of creates, manager changes (by email, and by the enterprise
/// extension's `manager.value` id, as Okta and Entra send it), a deactivation and a delete;
/// the same as a dry run over an export of the users at each step, and as `canon remap`.
#[test]
fn the_organisation_graph_in_the_service_equals_the_dry_run_and_remap() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("canon.yaml");
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/default.rules");
    let config_arg = config.to_str().unwrap();
    let out = canon(&[
        "tenant",
        "add",
        "acme",
        "--rules",
        rules.to_str().unwrap(),
        "--config",
        config_arg,
    ]);
    let (token, admin) = (
        line_value(&out.stdout, "token"),
        line_value(&out.stdout, "admin_token"),
    );
    let server = start(&config, free_port());
    let users = "/t/acme/scim/v2/Users";
    let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let person = |name: &str, manager_email: Option<&str>| {
        let mut user = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": format!("{name}@acme.com"),
            "name": {"givenName": name, "familyName": "Test"},
            "title": "Engineer",
            "active": true,
        });
        if let Some(manager) = manager_email {
            user["urn:ietf:params:scim:schemas:extension:canon:2.0:User"] =
                json!({"managerEmail": manager});
        }
        user
    };
    let create = |user: Value| {
        let (status, body) = http(&server.address, "POST", users, &token, Some(&user));
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_string()
    };
    let patch = |id: &str, path: &str, value: Value| {
        let op = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": path, "value": value}]});
        let (status, body) = http(
            &server.address,
            "PATCH",
            &format!("{users}/{id}"),
            &token,
            Some(&op),
        );
        assert_eq!(status, 200, "{body}");
    };
    // people_manager per userName, as the service stores it.
    let served = || -> Vec<(String, Value)> {
        let (status, list) = http(
            &server.address,
            "GET",
            &format!("{users}?count=100"),
            &token,
            None,
        );
        assert_eq!(status, 200, "{list}");
        let mut out: Vec<(String, Value)> = list["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|user| {
                let id = user["id"].as_str().unwrap();
                let (_, profile) = http(
                    &server.address,
                    "GET",
                    &format!("/t/acme/profiles/{id}"),
                    &admin,
                    None,
                );
                (
                    user["userName"].as_str().unwrap().to_string(),
                    profile["profile"]["people_manager"].clone(),
                )
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    };
    // The same users exported (with their ids) and dry-run.
    let dried = || -> Vec<(String, Value)> {
        let (_, list) = http(
            &server.address,
            "GET",
            &format!("{users}?count=100"),
            &token,
            None,
        );
        let export = dir.path().join("export.jsonl");
        let lines: Vec<String> = list["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(Value::to_string)
            .collect();
        std::fs::write(&export, lines.join("\n")).unwrap();
        let run = canon(&[
            "dry-run",
            "-q",
            "--rules",
            rules.to_str().unwrap(),
            "--format",
            "jsonl",
            "--keep",
            "userName",
            export.to_str().unwrap(),
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let mut out: Vec<(String, Value)> = run
            .stdout
            .lines()
            .map(|line| {
                let row: Value = serde_json::from_str(line).unwrap();
                (
                    row["userName"].as_str().unwrap().to_string(),
                    row["people_manager"].clone(),
                )
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    };
    let flag = |all: &[(String, Value)], name: &str| {
        all.iter()
            .find(|(n, _)| n == &format!("{name}@acme.com"))
            .map(|(_, f)| f.clone())
            .unwrap()
    };

    // Reports created before their manager: the manager's create counts them.
    let ana = create(person("ana", Some("Boss@acme.com")));
    let bo = create(person("bo", Some("boss@acme.com")));
    let boss = create(person("boss", None));
    let step = served();
    assert_eq!(flag(&step, "boss"), json!("yes"));
    assert_eq!(step, dried());
    // The profile endpoint says whom the derived value came from.
    let (_, profile) = http(
        &server.address,
        "GET",
        &format!("/t/acme/profiles/{boss}"),
        &admin,
        None,
    );
    assert_eq!(
        profile["rules"]["people_manager"]["rule"],
        json!("named_as_manager")
    );
    assert_eq!(profile["reports"]["count"], json!(2));
    assert_eq!(
        profile["reports"]["people"],
        json!(["ana@acme.com", "bo@acme.com"])
    );
    assert_eq!(
        profile["reports"]["text"],
        json!("2 people report to this person: ana@acme.com, bo@acme.com")
    );

    // A new manager named by id (the enterprise extension, as Entra sends it).
    let lead = create(person("lead", None));
    patch(
        &ana,
        &format!("{enterprise}:manager"),
        json!({"value": lead}),
    );
    patch(
        &ana,
        "urn:ietf:params:scim:schemas:extension:canon:2.0:User:managerEmail",
        json!(""),
    );
    let step = served();
    assert_eq!(flag(&step, "lead"), json!("yes"));
    assert_eq!(
        flag(&step, "boss"),
        json!("yes"),
        "bo still reports to boss"
    );
    assert_eq!(step, dried());

    // bo is deactivated: boss has no active report left, and loses the derived yes.
    patch(&bo, "active", json!(false));
    let step = served();
    assert_eq!(flag(&step, "boss"), Value::Null);
    assert_eq!(step, dried());

    // bo comes back, then ana (lead's only report) is deleted.
    patch(&bo, "active", json!(true));
    let (status, _) = http(
        &server.address,
        "DELETE",
        &format!("{users}/{ana}"),
        &token,
        None,
    );
    assert_eq!(status, 204);
    let step = served();
    assert_eq!(flag(&step, "boss"), json!("yes"));
    assert_eq!(flag(&step, "lead"), Value::Null);
    assert_eq!(step, dried());
    let _ = (boss, lead);
    drop(server);

    // `canon remap` maps every user in the tenant's population: nothing to change.
    let remap = canon(&["remap", "--tenant", "acme", "--config", config_arg]);
    assert_eq!(remap.code, 0, "{}", remap.stderr);
    assert!(
        remap.stdout.contains("0 of 3 users change"),
        "{}",
        remap.stdout
    );
}

/// Issue 21, the service half: Okta's and Entra's writes (creates, the enterprise manager
/// replaced in Okta's two PATCH shapes and added as Entra's bare id, deactivations, a cleared
/// manager, deletes) each recompute the managers they touch in their own transaction. After
/// every step, people_manager as served equals a dry run of the exported users and `canon
/// remap` finds nothing to change; a write that fails changes no one's profile.
#[test]
fn every_okta_and_entra_write_keeps_people_manager_equal_to_the_dry_run_and_remap() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("canon.yaml");
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/default.rules");
    let config_arg = config.to_str().unwrap();
    let out = canon(&[
        "tenant",
        "add",
        "acme",
        "--rules",
        rules.to_str().unwrap(),
        "--config",
        config_arg,
    ]);
    let (token, admin) = (
        line_value(&out.stdout, "token"),
        line_value(&out.stdout, "admin_token"),
    );
    let server = start(&config, free_port());
    let users = "/t/acme/scim/v2/Users";
    let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let send = |method: &str, path: &str, body: Option<&Value>| {
        http(&server.address, method, path, &token, body)
    };
    let create = |name: &str, extra: Value| {
        let mut user = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", enterprise],
            "userName": format!("{name}@acme.com"),
            "name": {"givenName": name, "familyName": "Test"},
            "emails": [{"value": format!("{name}@acme.com"), "type": "work", "primary": true}],
            "title": "Engineer",
            "active": true,
        });
        for (key, value) in extra.as_object().unwrap() {
            user[key] = value.clone();
        }
        let (status, body) = send("POST", users, Some(&user));
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_string()
    };
    let patch = |id: &str, operations: Value| {
        let op = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": operations});
        let (status, body) = send("PATCH", &format!("{users}/{id}"), Some(&op));
        assert_eq!(status, 200, "{body}");
    };
    let exported = || -> Vec<Value> {
        let (status, list) = send("GET", &format!("{users}?count=1000"), None);
        assert_eq!(status, 200, "{list}");
        list["Resources"].as_array().unwrap().clone()
    };
    // userName → people_manager, as stored.
    let served = || -> Vec<(String, Value)> {
        let mut out: Vec<(String, Value)> = exported()
            .iter()
            .map(|user| {
                let id = user["id"].as_str().unwrap();
                let (_, profile) = http(
                    &server.address,
                    "GET",
                    &format!("/t/acme/profiles/{id}"),
                    &admin,
                    None,
                );
                let name = user["userName"].as_str().unwrap().to_string();
                (name, profile["profile"]["people_manager"].clone())
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    };
    let dried = || -> Vec<(String, Value)> {
        let export = dir.path().join("export.jsonl");
        let lines: Vec<String> = exported().iter().map(Value::to_string).collect();
        std::fs::write(&export, lines.join("\n")).unwrap();
        let run = canon(&[
            "dry-run",
            "-q",
            "--rules",
            rules.to_str().unwrap(),
            "--format",
            "jsonl",
            "--keep",
            "userName",
            export.to_str().unwrap(),
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let mut out: Vec<(String, Value)> = run
            .stdout
            .lines()
            .map(|line| {
                let row: Value = serde_json::from_str(line).unwrap();
                let flag = match &row["people_manager"] {
                    Value::String(s) if s.is_empty() => Value::Null,
                    other => other.clone(),
                };
                (row["userName"].as_str().unwrap().to_string(), flag)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    };
    // The three places agree, and `expect` holds: (userName, people_manager) pairs.
    let check = |step: &str, expect: &[(&str, Value)]| -> Vec<(String, Value)> {
        let now = served();
        assert_eq!(now, dried(), "{step}: the service and the dry run differ");
        let remap = canon(&["remap", "--tenant", "acme", "--config", config_arg]);
        assert_eq!(remap.code, 0, "{step}: {}", remap.stderr);
        assert!(
            remap
                .stdout
                .starts_with(&format!("0 of {} users change", now.len())),
            "{step}: remap would change {}",
            remap.stdout
        );
        for (name, flag) in expect {
            let found = now.iter().find(|(n, _)| n == &format!("{name}@acme.com"));
            assert_eq!(found.map(|(_, f)| f), Some(flag), "{step}: {name}");
        }
        now
    };

    // Okta creates a manager, then reports naming it by id in the enterprise extension
    // and by email (in another case than its own).
    let boss = create("boss", json!({}));
    let ana = create("ana", json!({enterprise: {"manager": {"value": boss}}}));
    let bo = create(
        "bo",
        json!({"urn:ietf:params:scim:schemas:extension:canon:2.0:User": {"managerEmail": "BOSS@acme.com"}}),
    );
    check("creates", &[("boss", json!("yes")), ("ana", Value::Null)]);

    // Okta replaces ana's manager (path form), then bo's (no path: the extension whole).
    let lead = create("lead", json!({}));
    patch(
        &ana,
        json!([{"op": "replace", "path": format!("{enterprise}:manager"), "value": {"value": lead}}]),
    );
    check(
        "Okta PATCH with a path",
        &[("lead", json!("yes")), ("boss", json!("yes"))],
    );
    patch(
        &bo,
        json!([{"op": "replace", "value": {enterprise: {"manager": {"value": lead}}}},
               {"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:canon:2.0:User:managerEmail"}]),
    );
    check(
        "Okta PATCH without a path",
        &[("lead", json!("yes")), ("boss", Value::Null)],
    );

    // Entra names the manager by its bare id; a report created inactive does not count.
    let cy = create("cy", json!({}));
    patch(
        &cy,
        json!([{"op": "Add", "path": format!("{enterprise}:manager"), "value": boss}]),
    );
    create(
        "dee",
        json!({"active": false, enterprise: {"manager": {"value": cy}}}),
    );
    check(
        "Entra PATCH of the manager",
        &[("boss", json!("yes")), ("cy", Value::Null)],
    );

    // Entra deactivates ana and bo ("False", a string): lead has no active report left.
    patch(
        &ana,
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    );
    check("one deactivation", &[("lead", json!("yes"))]);
    patch(
        &bo,
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    );
    check("both deactivated", &[("lead", Value::Null)]);

    // bo comes back; Entra clears cy's manager with "".
    patch(
        &bo,
        json!([{"op": "Replace", "path": "active", "value": "True"}]),
    );
    patch(
        &cy,
        json!([{"op": "Replace", "path": format!("{enterprise}:manager"), "value": ""}]),
    );
    check(
        "a reactivation and a cleared manager",
        &[("lead", json!("yes")), ("boss", Value::Null)],
    );

    // A create that fails (the userName is taken) while naming boss changes nobody.
    let before = served();
    let taken = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "ANA@acme.com", enterprise: {"manager": {"value": boss}}});
    let (status, body) = send("POST", users, Some(&taken));
    assert_eq!(status, 409, "{body}");
    assert_eq!(served(), before, "a failed write recomputed a profile");

    // Deleting bo, lead's only active report, and then lead.
    let (status, _) = send("DELETE", &format!("{users}/{bo}"), None);
    assert_eq!(status, 204);
    check("bo deleted", &[("lead", Value::Null)]);
    let (status, _) = send("DELETE", &format!("{users}/{lead}"), None);
    assert_eq!(status, 204);
    // ana (inactive) names a manager that is gone; dee (inactive) names cy.
    check(
        "lead deleted",
        &[("boss", Value::Null), ("cy", Value::Null)],
    );
}
