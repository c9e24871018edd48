//! Serving safely, through the real binary over real sockets (issue 17 §4): TLS with a
//! certificate made here and its reload while serving, per-tenant rate limits, the bound on
//! requests in flight, `/healthz`, `/readyz`, `/metrics`, JSON logs, graceful shutdown
//! under TLS.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use canon::scim::config::token_hash;
use serde_json::Value;

mod common;

use common::{free_port, Server};

const ACME: &str = "acme-token";
const OTHER: &str = "other-token";
const ADMIN: &str = "admin-token";

/// A config with tenants `acme` (`acme_extra` appended to its entry) and `other`, and
/// `top` appended at the top level; the rules are the test corpus's base rules.
fn config(dir: &Path, acme_extra: &str, top: &str) -> PathBuf {
    let rules = common::root().join("tests/corpus/base.rules");
    let rules = rules.display();
    let text = format!(
        "database: canon.db\nadmin_token_sha256: {}\n{top}tenants:\n- id: acme\n  rules: {rules}\n  token_sha256: {}\n{acme_extra}- id: other\n  rules: {rules}\n  token_sha256: {}\n",
        token_hash(ADMIN),
        token_hash(ACME),
        token_hash(OTHER),
    );
    let path = dir.join("canon.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `canon serve` on a free loopback port with `args`, stderr into `stderr`.
fn start(config: &Path, args: &[&str], stderr: Stdio) -> Server {
    common::serve(config, args, stderr)
}

struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// One request with `Connection: close` over `stream`, the whole answer read.
fn exchange(
    stream: &mut impl ReadWrite,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> Reply {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Type: application/scim+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    read_reply(stream)
}

fn read_reply(stream: &mut impl Read) -> Reply {
    let mut text = Vec::new();
    // A TLS peer that closes without close_notify is an error after the data: keep the data.
    let mut chunk = [0u8; 8192];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8(text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn http(server: &Server, method: &str, path: &str, token: Option<&str>, body: &str) -> Reply {
    let mut stream = TcpStream::connect(&server.address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    exchange(&mut stream, method, path, token, body)
}

fn user(name: &str) -> String {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name, "name": {"givenName": "Ana", "familyName": "Diaz"},
        "title": "VP Sales", "active": true
    })
    .to_string()
}

// ---- TLS -----------------------------------------------------------------------------

/// A self-signed certificate for localhost and 127.0.0.1: (certificate PEM, key PEM, DER).
fn certificate() -> (String, String, Vec<u8>) {
    let made =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    (
        made.cert.pem(),
        made.signing_key.serialize_pem(),
        made.cert.der().to_vec(),
    )
}

/// A TLS client that trusts only `trusted` (DER), speaking only `version`.
fn tls_client(
    trusted: &[u8],
    version: &'static rustls::SupportedProtocolVersion,
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(trusted.to_vec()))
        .unwrap();
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[version])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A TLS connection to the server as `localhost`, the handshake done (or its error).
fn tls_connect(server: &Server, client: Arc<rustls::ClientConfig>) -> Result<TlsStream, String> {
    let tcp = TcpStream::connect(&server.address).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let connection = rustls::ClientConnection::new(client, name).unwrap();
    let mut stream = rustls::StreamOwned::new(connection, tcp);
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .map_err(|e| e.to_string())?;
    }
    Ok(stream)
}

#[test]
fn tls_serves_both_versions_and_reloads_a_new_certificate_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "", "");
    let (cert_a, key_a, der_a) = certificate();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, &cert_a).unwrap();
    std::fs::write(&key_path, &key_a).unwrap();
    let log = dir.path().join("serve.log");
    let mut server = start(
        &config,
        &[
            "--tls-cert",
            cert_path.to_str().unwrap(),
            "--tls-key",
            key_path.to_str().unwrap(),
            "--tls-reload-secs",
            "1",
        ],
        Stdio::from(std::fs::File::create(&log).unwrap()),
    );

    // TLS 1.3 and 1.2 both serve, with the certificate made above.
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let mut stream = tls_connect(&server, tls_client(&der_a, version)).unwrap();
        assert_eq!(
            stream.conn.protocol_version(),
            Some(version.version),
            "negotiated"
        );
        let reply = exchange(
            &mut stream,
            "POST",
            "/t/acme/scim/v2/Users",
            Some(ACME),
            &user(&format!("{:?}@example.com", version.version)),
        );
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = http(&server, "GET", "/healthz", None, "");
    assert_ne!(plain.status, 200);

    // A new pair written while serving is picked up; the old one no longer serves.
    let (cert_b, key_b, der_b) = certificate();
    std::fs::write(&key_path, &key_b).unwrap();
    std::fs::write(&cert_path, &cert_b).unwrap();
    let started = Instant::now();
    loop {
        if let Ok(mut stream) = tls_connect(&server, tls_client(&der_b, &rustls::version::TLS13)) {
            let reply = exchange(&mut stream, "GET", "/healthz", None, "");
            assert_eq!(reply.status, 200);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the new certificate was not picked up"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let old = tls_connect(&server, tls_client(&der_a, &rustls::version::TLS13));
    assert!(old.is_err(), "the old certificate still serves");

    // A bad pair (B's certificate with A's key) is refused and logged; B keeps serving.
    std::fs::write(&key_path, &key_a).unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let mut stream = tls_connect(&server, tls_client(&der_b, &rustls::version::TLS12)).unwrap();
    assert_eq!(
        exchange(&mut stream, "GET", "/readyz", None, "").status,
        200
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("TLS certificate reloaded"), "{text}");
    assert!(
        text.contains("TLS certificate not reloaded; the previous one keeps serving")
            && text.contains("does not go with the certificate"),
        "{text}"
    );

    // Graceful shutdown under TLS: a request in flight (half its body sent) finishes after
    // SIGTERM, then the process exits 0.
    let mut stream = tls_connect(&server, tls_client(&der_b, &rustls::version::TLS13)).unwrap();
    let body = user("late@example.com");
    let (first, rest) = body.split_at(10);
    let head = format!(
        "POST /t/acme/scim/v2/Users HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {ACME}\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{first}",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    server.terminate();
    std::thread::sleep(Duration::from_millis(500));
    stream.write_all(rest.as_bytes()).unwrap();
    let reply = read_reply(&mut stream);
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(server.exit_within(Duration::from_secs(15)), 0);
}

/// `tls:` in the config serves HTTPS without the flags (paths relative to the config).
#[test]
fn tls_from_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, der) = certificate();
    std::fs::write(dir.path().join("cert.pem"), cert).unwrap();
    std::fs::write(dir.path().join("key.pem"), key).unwrap();
    let config = config(dir.path(), "", "tls:\n  cert: cert.pem\n  key: key.pem\n");
    let server = start(&config, &[], Stdio::null());
    let mut stream = tls_connect(&server, tls_client(&der, &rustls::version::TLS13)).unwrap();
    let reply = exchange(&mut stream, "GET", "/healthz", None, "");
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[test]
fn tls_files_that_are_missing_or_do_not_match_stop_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "", "");
    let (cert_a, _, _) = certificate();
    let (_, key_b, _) = certificate();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, &cert_a).unwrap();
    std::fs::write(&key_path, &key_b).unwrap();
    let run = |cert: &Path, key: &Path| {
        common::command()
            .args([
                "serve",
                "--config",
                config.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ])
            .args([
                "--tls-cert",
                cert.to_str().unwrap(),
                "--tls-key",
                key.to_str().unwrap(),
            ])
            .output()
            .unwrap()
    };
    let mismatch = run(&cert_path, &key_path);
    assert_eq!(mismatch.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&mismatch.stderr);
    assert!(
        stderr.contains("does not go with the certificate"),
        "{stderr}"
    );
    let missing = run(&dir.path().join("nope.pem"), &key_path);
    assert_eq!(missing.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("cannot read") && stderr.contains("nope.pem"),
        "{stderr}"
    );
    std::fs::write(&cert_path, "not a certificate").unwrap();
    let garbage = run(&cert_path, &key_path);
    assert_eq!(garbage.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&garbage.stderr);
    assert!(stderr.contains("holds no PEM certificate"), "{stderr}");
}

// ---- rate limits, the bound in flight ------------------------------------------------

#[test]
fn a_tenant_over_its_rate_limit_gets_429_while_the_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "  rate_limit: 2\n", "");
    let server = start(&config, &[], Stdio::null());
    let list = "/t/acme/scim/v2/Users?filter=userName%20eq%20%22x%22";
    let other_list = "/t/other/scim/v2/Users?filter=userName%20eq%20%22x%22";
    // acme's bucket holds 4 requests (2 per second, two seconds of burst); it bursts 12
    // requests from two threads while `other` keeps asking.
    let burst = std::thread::scope(|scope| {
        let acme: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    (0..6)
                        .map(|_| http(&server, "GET", list, Some(ACME), ""))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let other = scope.spawn(|| {
            (0..12)
                .map(|_| http(&server, "GET", other_list, Some(OTHER), "").status)
                .collect::<Vec<_>>()
        });
        let other = other.join().unwrap();
        assert!(other.iter().all(|&s| s == 200), "other: {other:?}");
        acme.into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect::<Vec<_>>()
    });
    let limited: Vec<&Reply> = burst.iter().filter(|r| r.status == 429).collect();
    let served = burst.iter().filter(|r| r.status == 200).count();
    assert!(served >= 4, "the burst is served first: {served}");
    assert!(limited.len() >= 4, "{} limited", limited.len());
    assert_eq!(served + limited.len(), 12);
    for reply in &limited {
        let wait: u64 = reply.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=2).contains(&wait), "Retry-After {wait}");
        assert_eq!(reply.header("content-type"), Some("application/scim+json"));
        let body = reply.json();
        assert_eq!(
            body["schemas"][0],
            "urn:ietf:params:scim:api:messages:2.0:Error"
        );
        assert_eq!(body["status"], "429");
        assert!(body["detail"].as_str().unwrap().contains("retry after"));
    }
    // After the wait, acme is served again.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(http(&server, "GET", list, Some(ACME), "").status, 200);
    // A wrong token is 401 and takes nothing from the bucket.
    for _ in 0..10 {
        assert_eq!(http(&server, "GET", list, Some("wrong"), "").status, 401);
    }

    let metrics = http(&server, "GET", "/metrics", Some(ADMIN), "");
    assert_eq!(metrics.status, 200);
    let expected = format!(
        "canon_rate_limited_total{{tenant=\"acme\"}} {}",
        limited.len()
    );
    assert!(metrics.body.contains(&expected), "{}", metrics.body);
    assert!(!metrics
        .body
        .contains("canon_rate_limited_total{tenant=\"other\"}"));
}

#[test]
fn past_the_bound_in_flight_requests_get_503_and_probes_still_answer() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        "",
        "connections:\n  max_in_flight: 1\n  in_flight_wait_secs: 0\n",
    );
    let server = start(&config, &[], Stdio::null());
    // One request in flight: its head sent, its body not yet.
    let mut held = TcpStream::connect(&server.address).unwrap();
    held.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let body = user("held@example.com");
    let head = format!(
        "POST /t/acme/scim/v2/Users HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {ACME}\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    held.write_all(head.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));

    let shed = http(&server, "GET", "/t/other/scim/v2/Users", Some(OTHER), "");
    assert_eq!(shed.status, 503, "{}", shed.body);
    assert_eq!(shed.header("retry-after"), Some("1"));
    assert_eq!(shed.json()["status"], "503");
    assert_eq!(http(&server, "GET", "/healthz", None, "").status, 200);
    assert_eq!(http(&server, "GET", "/readyz", None, "").status, 200);
    let metrics = http(&server, "GET", "/metrics", Some(ADMIN), "");
    assert!(
        metrics.body.contains("canon_overloaded_total 1"),
        "{}",
        metrics.body
    );
    assert!(
        metrics.body.contains("canon_requests_in_flight 1"),
        "{}",
        metrics.body
    );

    held.write_all(body.as_bytes()).unwrap();
    assert_eq!(read_reply(&mut held).status, 201);
    assert_eq!(
        http(&server, "GET", "/t/other/scim/v2/Users", Some(OTHER), "").status,
        200
    );
}

// ---- health, readiness, metrics, logs -------------------------------------------------

#[test]
fn health_readiness_and_metrics_reflect_the_requests() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "", "");
    let log = dir.path().join("serve.log");
    let server = start(
        &config,
        &["--log-format", "json"],
        Stdio::from(std::fs::File::create(&log).unwrap()),
    );
    let health = http(&server, "GET", "/healthz", None, "");
    assert_eq!(
        (health.status, health.json()["status"].clone()),
        (200, "alive".into())
    );
    let ready = http(&server, "GET", "/readyz", None, "");
    assert_eq!(ready.status, 200);
    assert_eq!(
        ready.json(),
        serde_json::json!({"status": "ready", "store": "ok", "rules": "loaded", "tenants": 2,
            "tenants_without_live_rules": 0})
    );

    // Metrics need the admin token; a tenant's token is not enough.
    assert_eq!(http(&server, "GET", "/metrics", None, "").status, 401);
    assert_eq!(http(&server, "GET", "/metrics", Some(ACME), "").status, 401);

    let mut stream = TcpStream::connect(&server.address).unwrap();
    let request = format!(
        "POST /t/acme/scim/v2/Users HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {ACME}\r\nx-request-id: trace-me-42\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        user("ana@example.com").len(),
        user("ana@example.com")
    );
    stream.write_all(request.as_bytes()).unwrap();
    let created = read_reply(&mut stream);
    assert_eq!(created.status, 201);
    assert_eq!(created.header("x-request-id"), Some("trace-me-42"));
    let id = created.json()["id"].as_str().unwrap().to_string();
    let patch = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"Director"}]}"#;
    let path = format!("/t/acme/scim/v2/Users/{id}");
    assert_eq!(http(&server, "PATCH", &path, Some(ACME), patch).status, 200);
    assert_eq!(http(&server, "GET", &path, Some(ACME), "").status, 200);
    assert_eq!(
        http(&server, "GET", "/t/acme/scim/v2/Users/nope", Some(ACME), "").status,
        404
    );
    // An unknown tenant and a made-up method add no series of their own.
    assert_eq!(
        http(&server, "GET", "/t/ghost-123/scim/v2/Users", Some(ACME), "").status,
        401
    );
    assert_eq!(
        http(&server, "BREW", "/t/acme/scim/v2/Users", Some(ACME), "").status,
        405
    );

    let metrics = http(&server, "GET", "/metrics", Some(ADMIN), "");
    assert_eq!(metrics.status, 200);
    assert!(metrics
        .header("content-type")
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = &metrics.body;
    let version = canon::Program::load(&common::root().join("tests/corpus/base.rules"))
        .unwrap()
        .version()
        .to_string();
    for line in [
        "canon_http_requests_total{tenant=\"acme\",resource=\"Users\",method=\"POST\",status=\"201\"} 1",
        "canon_http_requests_total{tenant=\"acme\",resource=\"Users\",method=\"PATCH\",status=\"200\"} 1",
        "canon_http_requests_total{tenant=\"acme\",resource=\"Users\",method=\"GET\",status=\"200\"} 1",
        "canon_http_requests_total{tenant=\"acme\",resource=\"Users\",method=\"GET\",status=\"404\"} 1",
        "canon_http_requests_total{tenant=\"-\",resource=\"Users\",method=\"GET\",status=\"401\"} 1",
        "canon_http_requests_total{tenant=\"acme\",resource=\"Users\",method=\"other\",status=\"405\"} 1",
        "canon_http_requests_total{tenant=\"-\",resource=\"healthz\",method=\"GET\",status=\"200\"} 1",
        "canon_http_request_duration_seconds_count{tenant=\"acme\",resource=\"Users\",method=\"POST\"} 1",
        // One create and one PATCH of a user: the engine ran twice.
        "canon_engine_seconds_count 2",
        "canon_store_seconds_count{operation=\"create\"} 1",
        "canon_store_seconds_count{operation=\"replace\"} 1",
        "canon_requests_in_flight 0",
        "canon_overloaded_total 0",
    ] {
        assert!(text.contains(line), "missing `{line}` in\n{text}");
    }
    for tenant in ["acme", "other"] {
        let line =
            format!("canon_rule_version_info{{tenant=\"{tenant}\",version=\"{version}\"}} 1");
        assert!(text.contains(&line), "missing `{line}` in\n{text}");
    }
    assert!(!text.contains("ghost") && !text.contains(&id) && !text.contains("ana@"));
    assert!(text.trim_end().ends_with("# EOF"));

    // JSON logs: one object per line, the request id in the request's span.
    let logs = std::fs::read_to_string(&log).unwrap();
    let traced: Vec<Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line.to_string().contains("trace-me-42"))
        .collect();
    assert!(!traced.is_empty(), "{logs}");
    assert!(traced.iter().any(|line| line["span"]["id"] == "trace-me-42"
        && line["span"]["path"] == "/t/acme/scim/v2/Users"));
    // Every line is JSON but the one for people at start-up.
    assert!(
        logs.lines()
            .filter(|line| !line.starts_with("canon: listening on "))
            .all(|line| serde_json::from_str::<Value>(line).is_ok()),
        "{logs}"
    );
}

#[test]
fn readiness_fails_when_the_store_cannot_be_read() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "", "");
    let server = start(&config, &[], Stdio::null());
    assert_eq!(http(&server, "GET", "/readyz", None, "").status, 200);
    // The database file overwritten with what is not a database (a disk gone bad).
    for name in ["canon.db", "canon.db-wal", "canon.db-shm"] {
        let path = dir.path().join(name);
        if path.exists() {
            let size = std::fs::metadata(&path).unwrap().len().max(4096) as usize;
            std::fs::write(&path, vec![0x5a; size]).unwrap();
        }
    }
    let ready = http(&server, "GET", "/readyz", None, "");
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.json()["status"], "not ready");
    assert_eq!(ready.json()["store"], "failing");
    // Alive all the same.
    assert_eq!(http(&server, "GET", "/healthz", None, "").status, 200);
}

/// A live rule version that does not compile on this instance (written into the store as a
/// newer canon might have) leaves its tenant on the version before and the instance not
/// ready, until a version that compiles is live again.
#[test]
fn readiness_fails_while_a_live_rule_version_does_not_compile() {
    use canon::store::registry::{NewRuleVersion, RuleBundle};
    use canon::store::{TenantId, TenantRegistry};
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "", "");
    let server = start(&config, &[], Stdio::null());
    let ready = http(&server, "GET", "/readyz", None, "");
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.json()["rules"], "loaded");
    let store = canon::store::SqliteStore::open(&dir.path().join("canon.db")).unwrap();
    let acme = TenantId::parse("acme").unwrap();
    let broken = NewRuleVersion {
        hash: "broken".into(),
        bundle: RuleBundle {
            name: "acme.rules".into(),
            text: "field x: nonsense(\n".into(),
            files: Vec::new(),
        },
        note: "from a newer canon".into(),
        author: "test".into(),
    };
    store.publish_rules(&acme, &broken).unwrap();
    let not_ready = common::within(Duration::from_secs(2), || {
        let ready = http(&server, "GET", "/readyz", None, "");
        ready.status == 503
            && ready.json()["rules"] == "not loaded"
            && ready.json()["tenants_without_live_rules"] == 1
    });
    assert!(
        not_ready.is_some(),
        "still ready with a live version that does not compile"
    );
    // The tenant is served all the same, at the version before.
    assert_eq!(
        http(&server, "GET", "/t/acme/scim/v2/Users", Some(ACME), "").status,
        200
    );
    store.set_live_version(&acme, 1).unwrap();
    let ready_again = common::within(Duration::from_secs(2), || {
        http(&server, "GET", "/readyz", None, "").status == 200
    });
    assert!(
        ready_again.is_some(),
        "not ready after a rollback to rules that compile"
    );
}

#[test]
fn plain_http_on_a_non_loopback_address_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "", "");
    let port = free_port();
    let mut child = common::command()
        .args(["serve", "--config", config.to_str().unwrap(), "--listen"])
        .arg(format!("0.0.0.0:{port}"))
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "not listening");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    let mut text = String::new();
    stderr.read_to_string(&mut text).unwrap();
    assert!(
        text.contains("canon: warning: plain HTTP on 0.0.0.0:") && text.contains("--tls-cert"),
        "{text}"
    );
}

#[test]
fn a_tls_handshake_that_does_not_finish_in_time_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        "",
        "connections:\n  tls_handshake_timeout_secs: 1\n",
    );
    let (cert, key, der) = certificate();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert).unwrap();
    std::fs::write(&key_path, key).unwrap();
    let server = start(
        &config,
        &[
            "--tls-cert",
            cert_path.to_str().unwrap(),
            "--tls-key",
            key_path.to_str().unwrap(),
        ],
        Stdio::null(),
    );
    // A client that connects and never says hello is closed after the handshake timeout.
    let mut silent = TcpStream::connect(&server.address).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut byte = [0u8; 1];
    let read = silent.read(&mut byte);
    let waited = started.elapsed();
    assert!(matches!(read, Ok(0)) || read.is_err(), "{read:?}");
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(5),
        "closed after {waited:?}"
    );
    // Meanwhile and after, handshakes that do finish are served.
    let mut stream = tls_connect(&server, tls_client(&der, &rustls::version::TLS13)).unwrap();
    assert_eq!(
        exchange(&mut stream, "GET", "/healthz", None, "").status,
        200
    );
}
