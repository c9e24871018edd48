//! Issue 17: tenants at run time, through the real binary and a real socket. `canon tenant …`
//! changes the registry in the store; the running `canon serve` follows it without a reload.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};

mod common;

use common::{canon, within, Server};

fn line_value(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("no `{key}:` line in {text:?}"))
        .to_string()
}

/// `canon serve` on the config (stderr discarded).
fn start(config: &Path) -> Server {
    common::serve(config, &[], Stdio::null())
}

struct Reply {
    status: u16,
    head: String,
    body: Value,
}

fn send(address: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut stream = TcpStream::connect(address).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    stream.write_all(request.as_bytes()).unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    Reply {
        status: head.split(' ').nth(1).unwrap().parse().unwrap(),
        head: head.to_string(),
        body: serde_json::from_str(body).unwrap_or(Value::Null),
    }
}

/// A SCIM request with `token`.
fn scim(address: &str, method: &str, path: &str, token: &str, body: Option<&Value>) -> Reply {
    let auth = format!("Bearer {token}");
    let body = body.map(Value::to_string).unwrap_or_default();
    send(
        address,
        method,
        path,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/scim+json"),
        ],
        &body,
    )
}

fn user(name: &str, title: &str) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name,
        "name": {"givenName": "Ana"}, "title": title})
}

/// A folder with `canon.yaml`, tenant `acme` on the test rules, its token and the admin's.
struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
    token: String,
    admin: String,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("canon.yaml");
        let rules = dir.path().join("acme.rules");
        std::fs::copy(common::root().join("tests/corpus/base.rules"), &rules).unwrap();
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
        Setup {
            token: line_value(&out.stdout, "token"),
            admin: line_value(&out.stdout, "admin_token"),
            dir,
            config,
        }
    }

    /// `canon tenant ARGS… --config …`
    fn tenant(&self, args: &[&str]) -> common::Run {
        let mut all = vec!["tenant"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--config", self.config.to_str().unwrap()]);
        canon(&all)
    }

    fn rules(&self) -> PathBuf {
        self.dir.path().join("acme.rules")
    }
}

#[test]
fn a_tenant_added_while_serving_answers_within_two_seconds() {
    let setup = Setup::new();
    let server = start(&setup.config);
    let users = "/t/beta/scim/v2/Users";
    let out = setup.tenant(&["add", "beta", "--rules", setup.rules().to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let token = line_value(&out.stdout, "token");
    let took = within(Duration::from_secs(2), || {
        scim(&server.address, "GET", users, &token, None).status == 200
    });
    assert!(took.is_some(), "beta did not answer within 2 s");
    // The same through the admin API, rules sent whole; and it can write at once.
    let admin = format!("Bearer {}", setup.admin);
    let rules = std::fs::read_to_string(setup.rules()).unwrap();
    let body =
        json!({"id": "gamma", "rules": {"name": "gamma.rules", "text": rules}, "rate_limit": "40"});
    let added = send(
        &server.address,
        "POST",
        "/admin/tenants",
        &[
            ("Authorization", &admin),
            ("Content-Type", "application/json"),
        ],
        &body.to_string(),
    );
    assert_eq!(added.status, 201, "{}", added.body);
    assert_eq!(added.body["tenant"]["rate_limit"], "40");
    let token = added.body["token"].as_str().unwrap().to_string();
    let created = scim(
        &server.address,
        "POST",
        "/t/gamma/scim/v2/Users",
        &token,
        Some(&user("a@x.io", "VP Sales")),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    // Rules with errors are refused with every diagnostic; nothing is created.
    let broken = json!({"id": "delta", "rules": {"text": "field x: nonsense(\n"}});
    let refused = send(
        &server.address,
        "POST",
        "/admin/tenants",
        &[
            ("Authorization", &admin),
            ("Content-Type", "application/json"),
        ],
        &broken.to_string(),
    );
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body["detail"].as_str().unwrap().contains("error"),
        "{}",
        refused.body
    );
    let listed = send(
        &server.address,
        "GET",
        "/admin/tenants",
        &[("Authorization", &admin)],
        "",
    );
    let ids: Vec<&str> = listed.body["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["acme", "beta", "gamma"]);
    // Without the admin token: 401.
    let anonymous = send(&server.address, "GET", "/admin/tenants", &[], "");
    assert_eq!(anonymous.status, 401);
}

#[test]
fn a_rotated_token_keeps_working_for_its_grace_period_only() {
    let setup = Setup::new();
    let server = start(&setup.config);
    let users = "/t/acme/scim/v2/Users";
    let old = setup.token.clone();
    let rotated = setup.tenant(&["rotate-token", "acme", "--grace", "3s"]);
    assert_eq!(rotated.code, 0, "{}", rotated.stderr);
    let new = line_value(&rotated.stdout, "token");
    assert!(rotated.stdout.contains("keep working until"));
    // Both work during the grace period (once the service has the new token).
    assert!(within(Duration::from_secs(2), || scim(
        &server.address,
        "GET",
        users,
        &new,
        None
    )
    .status
        == 200)
    .is_some());
    assert_eq!(scim(&server.address, "GET", users, &old, None).status, 200);
    // Then only the new one, without any reload.
    let ended = within(Duration::from_secs(5), || {
        scim(&server.address, "GET", users, &old, None).status == 401
    });
    assert!(
        ended.is_some(),
        "the old token still works after its grace period"
    );
    let refused = scim(&server.address, "GET", users, &old, None);
    assert_eq!(refused.body["status"], "401");
    assert!(
        refused.head.contains("www-authenticate"),
        "{}",
        refused.head
    );
    assert_eq!(scim(&server.address, "GET", users, &new, None).status, 200);
    // Revoking stops a token at once (token 2 is the rotated one).
    let shown = setup.tenant(&["show", "acme"]);
    assert!(shown.stdout.contains("expired"), "{}", shown.stdout);
    let revoked = setup.tenant(&["revoke-token", "acme", "2"]);
    assert_eq!(revoked.code, 0, "{}", revoked.stderr);
    assert!(within(Duration::from_secs(2), || scim(
        &server.address,
        "GET",
        users,
        &new,
        None
    )
    .status
        == 401)
    .is_some());
    assert_eq!(setup.tenant(&["revoke-token", "acme", "99"]).code, 2);
}

#[test]
fn a_disabled_tenant_gets_403_and_the_others_are_served() {
    let setup = Setup::new();
    let other = setup.tenant(&["add", "beta", "--rules", setup.rules().to_str().unwrap()]);
    let beta = line_value(&other.stdout, "token");
    let server = start(&setup.config);
    let disabled = setup.tenant(&["disable", "acme"]);
    assert_eq!(disabled.code, 0, "{}", disabled.stderr);
    let users = "/t/acme/scim/v2/Users";
    assert!(within(Duration::from_secs(2), || scim(
        &server.address,
        "GET",
        users,
        &setup.token,
        None
    )
    .status
        == 403)
    .is_some());
    let reply = scim(
        &server.address,
        "POST",
        users,
        &setup.token,
        Some(&user("a@x.io", "VP")),
    );
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    assert!(reply.body["detail"].as_str().unwrap().contains("disabled"));
    assert!(reply.head.contains("application/scim+json"));
    // A wrong token is still a 401: being disabled tells nothing to strangers.
    assert_eq!(
        scim(&server.address, "GET", users, "nope", None).status,
        401
    );
    assert_eq!(
        scim(&server.address, "GET", "/t/beta/scim/v2/Users", &beta, None).status,
        200
    );
    let list = setup.tenant(&["list"]);
    assert!(
        list.stdout.contains("acme") && list.stdout.contains("disabled"),
        "{}",
        list.stdout
    );
    setup.tenant(&["enable", "acme"]);
    assert!(within(Duration::from_secs(2), || scim(
        &server.address,
        "GET",
        users,
        &setup.token,
        None
    )
    .status
        == 200)
    .is_some());
}

#[test]
fn activity_shows_a_failed_request_with_its_error_and_request_id() {
    let setup = Setup::new();
    let server = start(&setup.config);
    let users = "/t/acme/scim/v2/Users";
    let auth = format!("Bearer {}", setup.token);
    // Okta sends a user without userName: 400, and Okta says "provisioning failed".
    let bad = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "name": {"givenName": "Ana"}});
    let failed = send(
        &server.address,
        "POST",
        users,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/scim+json"),
            ("X-Request-Id", "okta-req-42"),
        ],
        &bad.to_string(),
    );
    assert_eq!(failed.status, 400);
    let created = scim(
        &server.address,
        "POST",
        users,
        &setup.token,
        Some(&user("ana@x.io", "VP Sales")),
    );
    assert_eq!(created.status, 201);
    let id = created.body["id"].as_str().unwrap().to_string();
    // Recorded off the request path: there within a moment.
    let mut text = String::new();
    let seen = within(Duration::from_secs(3), || {
        text = setup.tenant(&["activity", "acme", "--errors"]).stdout;
        text.contains("okta-req-42")
    });
    assert!(seen.is_some(), "{text}");
    assert!(text.contains("POST   /t/acme/scim/v2/Users"), "{text}");
    assert!(text.contains(" 400 "), "{text}");
    assert!(text.contains("error: `userName` is required"), "{text}");
    assert!(
        !text.contains(" 201 "),
        "--errors shows failures only: {text}"
    );
    assert!(text.contains("1 client errors"), "{text}");
    let all = setup.tenant(&["activity", "acme", "--json"]).stdout;
    let entries: Vec<Value> = all
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.len(), 2, "{all}");
    assert_eq!(entries[1]["status"], 201);
    assert_eq!(entries[1]["resource_id"], json!(id));
    assert_eq!(
        entries[1]["body"],
        Value::Null,
        "no bodies unless capture is on"
    );
    // The admin endpoint says the same.
    let admin = format!("Bearer {}", setup.admin);
    let api = send(
        &server.address,
        "GET",
        "/admin/tenants/acme/activity?errors=true",
        &[("Authorization", &admin)],
        "",
    );
    assert_eq!(api.status, 200, "{}", api.body);
    assert_eq!(api.body["entries"][0]["request_id"], "okta-req-42");
    assert_eq!(api.body["entries"][0]["error"], "`userName` is required");
    assert_eq!(api.body["counters"]["requests"], 2);
    // Body capture, for a while: the next failure keeps its body.
    assert_eq!(
        setup.tenant(&["set", "acme", "--body-capture", "1h"]).code,
        0
    );
    let captured = within(Duration::from_secs(3), || {
        scim(&server.address, "POST", users, &setup.token, Some(&bad)).status == 400 && {
            std::thread::sleep(Duration::from_millis(300));
            setup
                .tenant(&["activity", "acme", "--errors", "--json"])
                .stdout
                .contains("givenName")
        }
    });
    assert!(captured.is_some(), "the body was not captured");
}

#[test]
fn set_rules_previews_publishes_recomputes_and_rolls_back() {
    let setup = Setup::new();
    let server = start(&setup.config);
    let users = "/t/acme/scim/v2/Users";
    let created = scim(
        &server.address,
        "POST",
        users,
        &setup.token,
        Some(&user("ana@x.io", "VP Sales")),
    );
    let id = created.body["id"].as_str().unwrap().to_string();
    let level = || {
        let admin = format!("Bearer {}", setup.admin);
        let profile = send(
            &server.address,
            "GET",
            &format!("/t/acme/profiles/{id}"),
            &[("Authorization", &admin)],
            "",
        );
        (
            profile.body["profile"]["management_level"].clone(),
            profile.body["rule_version"].clone(),
        )
    };
    assert_eq!(level().0, "VP");
    let v1 = level().1;
    // A broken file: every diagnostic, exit 1, nothing changes.
    let broken = setup.dir.path().join("broken.rules");
    std::fs::write(
        &broken,
        "field x: nonsense(\nfield y: text\nmap y { rule a: nope -> 1 }\n",
    )
    .unwrap();
    let refused = setup.tenant(&[
        "set-rules",
        "acme",
        broken.to_str().unwrap(),
        "--note",
        "typo",
    ]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("broken.rules:1:"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("nothing changed"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        setup.tenant(&["versions", "acme"]).stdout.lines().count(),
        1
    );
    // The new rules: previewed, published, the stored profile recomputed.
    let svp = setup.dir.path().join("svp.rules");
    let text = std::fs::read_to_string(setup.rules())
        .unwrap()
        .replace("-> VP", "-> SVP");
    std::fs::write(&svp, text).unwrap();
    let dry = setup.tenant(&[
        "set-rules",
        "acme",
        svp.to_str().unwrap(),
        "--note",
        "VPs are SVPs",
        "--dry-run",
    ]);
    assert!(
        dry.stdout
            .contains("ana@x.io\tmanagement_level\t\"VP\" -> \"SVP\""),
        "{}",
        dry.stdout
    );
    assert!(dry.stdout.contains("1 of 1 users change") && dry.stdout.contains("not published"));
    assert_eq!(level().0, "VP");
    let published = setup.tenant(&[
        "set-rules",
        "acme",
        svp.to_str().unwrap(),
        "--note",
        "VPs are SVPs",
        "--author",
        "cs@canon.example",
    ]);
    assert_eq!(published.code, 0, "{}", published.stderr);
    assert!(
        published.stdout.contains("published v2"),
        "{}",
        published.stdout
    );
    assert_eq!(level().0, "SVP");
    let versions = setup.tenant(&["versions", "acme"]).stdout;
    assert!(
        versions.contains("* v2") && versions.contains("cs@canon.example  VPs are SVPs"),
        "{versions}"
    );
    // New writes use it once the service has it (within 2 s).
    let served = within(Duration::from_secs(2), || {
        let created = scim(
            &server.address,
            "POST",
            users,
            &setup.token,
            Some(&user(&format!("u{}@x.io", rand_suffix()), "VP Sales")),
        );
        let admin = format!("Bearer {}", setup.admin);
        let read = send(
            &server.address,
            "GET",
            &format!("/t/acme/profiles/{}", created.body["id"].as_str().unwrap()),
            &[("Authorization", &admin)],
            "",
        );
        read.body["profile"]["management_level"] == "SVP"
    });
    assert!(served.is_some());
    // The same rules again: refused, nothing would change.
    assert_eq!(
        setup
            .tenant(&[
                "set-rules",
                "acme",
                svp.to_str().unwrap(),
                "--note",
                "again"
            ])
            .code,
        2
    );
    // Rollback to v1: live again, profiles recomputed.
    let back = setup.tenant(&["rollback", "acme", "1"]);
    assert_eq!(back.code, 0, "{}", back.stderr);
    assert!(back.stdout.contains("v1 is live again"), "{}", back.stdout);
    assert_eq!(level(), (json!("VP"), v1));
    assert!(setup.tenant(&["versions", "acme"]).stdout.contains("* v1 "));
    assert_eq!(setup.tenant(&["rollback", "acme", "7"]).code, 2);
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

#[test]
fn remove_asks_for_confirmation_then_deletes_everything() {
    let setup = Setup::new();
    let server = start(&setup.config);
    let users = "/t/acme/scim/v2/Users";
    assert_eq!(
        scim(
            &server.address,
            "POST",
            users,
            &setup.token,
            Some(&user("ana@x.io", "VP"))
        )
        .status,
        201
    );
    let refused = setup.tenant(&["remove", "acme"]);
    assert_eq!(refused.code, 2);
    assert!(
        refused.stderr.contains("deletes 1 users and 0 groups"),
        "{}",
        refused.stderr
    );
    // A typed id that is not the tenant's: nothing removed.
    let mut args = vec![
        "tenant",
        "remove",
        "acme",
        "--config",
        setup.config.to_str().unwrap(),
    ];
    let run = |args: &[&str], stdin: &[u8]| -> common::Run {
        let mut child = common::command()
            .args(args)
            .env("CANON_CONFIRM_FROM_STDIN", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().unwrap().into()
    };
    let wrong = run(&args, b"acm\n");
    assert_eq!(wrong.code, 2, "{}", wrong.stderr);
    assert_eq!(
        scim(&server.address, "GET", users, &setup.token, None).status,
        200
    );
    let typed = run(&args, b"acme\n");
    assert_eq!(typed.code, 0, "{}", typed.stderr);
    assert!(within(Duration::from_secs(2), || scim(
        &server.address,
        "GET",
        users,
        &setup.token,
        None
    )
    .status
        == 401)
    .is_some());
    assert!(setup.tenant(&["list"]).stdout.lines().count() == 1);
    // Added again, it starts empty.
    let again = setup.tenant(&["add", "acme", "--rules", setup.rules().to_str().unwrap()]);
    let token = line_value(&again.stdout, "token");
    assert!(within(Duration::from_secs(2), || scim(
        &server.address,
        "GET",
        users,
        &token,
        None
    )
    .status
        == 200)
    .is_some());
    assert_eq!(
        scim(&server.address, "GET", users, &token, None).body["totalResults"],
        0
    );
    args.push("--yes");
    let yes = canon(&args);
    assert_eq!(yes.code, 0, "{}", yes.stderr);
    assert!(within(Duration::from_secs(2), || scim(
        &server.address,
        "GET",
        users,
        &token,
        None
    )
    .status
        == 401)
    .is_some());
}

/// Setups from before the registry: `canon.yaml` lists tenants with their rule file and
/// token hash; they are imported at start and serve as before.
#[test]
fn tenants_of_an_existing_config_are_imported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        common::root().join("tests/corpus/base.rules"),
        dir.path().join("acme.rules"),
    )
    .unwrap();
    let token = "a".repeat(64);
    let config = dir.path().join("canon.yaml");
    std::fs::write(
        &config,
        format!(
            "tenants:\n  - id: acme\n    rules: acme.rules\n    token_sha256: {}\n",
            canon::scim::config::token_hash(&token)
        ),
    )
    .unwrap();
    let server = start(&config);
    assert_eq!(
        scim(
            &server.address,
            "GET",
            "/t/acme/scim/v2/Users",
            &token,
            None
        )
        .status,
        200
    );
    let versions = canon(&[
        "tenant",
        "versions",
        "acme",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(
        versions.stdout.contains("* v1 ") && versions.stdout.contains("imported from"),
        "{}",
        versions.stdout
    );
}

#[test]
fn a_setup_link_shows_its_token_once_then_answers_410() {
    let setup = Setup::new();
    let server = start(&setup.config);
    let out = setup.tenant(&["setup-link", "acme", "--expires", "1h"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let url = line_value(&out.stdout, "url");
    let path = url.split_once("127.0.0.1:8080").unwrap().1.to_string();
    // Opening it (a mail scanner, a preview) shows the steps, not the token: nothing spent.
    let page = |method: &str| {
        let mut stream = TcpStream::connect(&server.address).unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: scim.example.com\r\nX-Forwarded-Proto: https\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        // As a browser shows it (minijinja escapes `/` too).
        text.replace("&#x2f;", "/")
    };
    for _ in 0..2 {
        let shown = page("GET");
        assert!(shown.starts_with("HTTP/1.1 200"), "{shown}");
        assert!(shown.contains("https://scim.example.com/t/acme/scim/v2"));
        assert!(
            shown.contains("Reveal the token")
                && shown.contains("SCIM 2.0 Test App (OAuth Bearer Token)")
        );
        assert!(
            shown.contains("<code>title</code>"),
            "the attribute table lists what the rules read"
        );
    }
    // Revealed once: a token that works at once.
    let revealed = page("POST");
    assert!(revealed.starts_with("HTTP/1.1 200"), "{revealed}");
    assert!(revealed.contains("cache-control: no-store"));
    let token = revealed
        .split("<div class=\"value\" id=\"token\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap()
        .to_string();
    assert_eq!(token.len(), 64);
    let users = "/t/acme/scim/v2/Users";
    assert_eq!(
        scim(&server.address, "GET", users, &token, None).status,
        200
    );
    // The old token still works: the link adds one, the operator revokes the others.
    assert_eq!(
        scim(&server.address, "GET", users, &setup.token, None).status,
        200
    );
    // Spent: 410 for a view and for another reveal; no second token.
    for method in ["GET", "POST"] {
        let again = page(method);
        assert!(again.starts_with("HTTP/1.1 410"), "{again}");
        assert!(again.contains("opened already") && !again.contains(&token));
    }
    // The page's status endpoint (the link's own secret) sees the IdP's requests.
    let status = send(&server.address, "GET", &format!("{path}/status"), &[], "");
    assert_eq!(status.status, 200);
    let called = within(Duration::from_secs(3), || {
        send(&server.address, "GET", &format!("{path}/status"), &[], "").body["requests"] == 2
    });
    assert!(called.is_some());
    let status = send(&server.address, "GET", &format!("{path}/status"), &[], "");
    assert_eq!(status.body["recent"][0]["status"], 200);
    // A made-up link: 404; an expired one: 410 and no token.
    let fake = format!("/setup/{}", "ab".repeat(32));
    assert_eq!(send(&server.address, "GET", &fake, &[], "").status, 404);
    assert_eq!(
        send(&server.address, "GET", &format!("{fake}/status"), &[], "").status,
        404
    );
    let store = canon::store::SqliteStore::open(&setup.dir.path().join("canon.db")).unwrap();
    let secret = "cd".repeat(32);
    canon::store::TenantRegistry::create_setup_link(
        &store,
        &canon::store::TenantId::parse("acme").unwrap(),
        &canon::scim::config::token_hash(&secret),
        "2001-01-01T00:00:00.000Z",
    )
    .unwrap();
    let expired = send(
        &server.address,
        "POST",
        &format!("/setup/{secret}"),
        &[],
        "",
    );
    assert_eq!(expired.status, 410);
    assert_eq!(
        setup
            .tenant(&["show", "acme"])
            .stdout
            .matches("  created ")
            .count(),
        2,
        "one token minted in all"
    );
}
