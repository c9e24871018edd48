//! Two `canon serve` processes on one PostgreSQL database (issue 18), as behind a load
//! balancer: Okta's sequence with each request sent to the other instance than the one
//! before, and 16 concurrent member additions to one group split across both, none lost.
//!
//! Runs where PostgreSQL can be had (`CANON_TEST_POSTGRES`, or `.ci/postgres.sh`); under
//! `CI=true` a missing PostgreSQL fails it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};

mod common;

use common::Server;

/// `canon serve` on the config (stderr discarded: two instances' request logs).
fn start(config: &Path) -> Server {
    common::serve(config, &[], Stdio::null())
}

/// One request; the status, the `ETag` header and the JSON body.
fn http(
    server: &Server,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (u16, String, Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut stream = TcpStream::connect(&server.address).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        server.address,
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let etag = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("etag")
                .then(|| value.trim().to_string())
        })
        .unwrap_or_default();
    (
        status,
        etag,
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

/// The canonical profile the instance stored for a user (admin endpoint).
fn profile(server: &Server, tenant: &str, id: &str) -> Value {
    let (status, _, body) = admin(
        server,
        "GET",
        &format!("/t/{tenant}/profiles/{id}"),
        &Value::Null,
    );
    assert_eq!(status, 200, "{body}");
    body
}

/// An admin request (JSON body unless `Null`).
fn admin(server: &Server, method: &str, path: &str, body: &Value) -> (u16, String, Value) {
    let body = (!body.is_null()).then_some(body);
    http(server, method, path, ADMIN, body)
}

const ADMIN: &str = "admin-token";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

#[test]
fn two_instances_serve_one_database() {
    // Dropped last, after both servers: the database goes with the test.
    let Some(database) = canon::store::testing::fresh_postgres_database().unwrap() else {
        return;
    };
    let url = database.url();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("canon.yaml");
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/base.rules");
    // The config names the database first: `tenant add` registers the tenant there.
    let first = canon::scim::config::Config {
        database: url.into(),
        admin_token_sha256: Some(canon::scim::config::token_hash(ADMIN)),
        ..canon::scim::config::Config::default()
    };
    first.save(&config).unwrap();
    let added = common::canon(&[
        "tenant",
        "add",
        "acme",
        "--rules",
        rules.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--database",
        url,
    ]);
    assert_eq!(added.code, 0, "{}", added.stderr);
    let token = added
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("token: "))
        .unwrap()
        .to_string();
    let servers = [start(&config), start(&config)];
    let base = "/t/acme/scim/v2";

    // Okta's sequence, each step on the other instance.
    let user = json!({"schemas": [USER], "userName": "Ana@Example.com", "title": "VP Sales",
        "name": {"givenName": "Ana", "familyName": "Diaz"}, "active": true});
    let (status, created_etag, created) = http(
        &servers[0],
        "POST",
        &format!("{base}/Users"),
        &token,
        Some(&user),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    // The name is taken on every instance, whatever its case.
    let again = json!({"schemas": [USER], "userName": "ana@EXAMPLE.com"});
    let (status, _, body) = http(
        &servers[1],
        "POST",
        &format!("{base}/Users"),
        &token,
        Some(&again),
    );
    assert_eq!(
        (status, &body["scimType"]),
        (409, &json!("uniqueness")),
        "{body}"
    );
    let filter = format!("{base}/Users?filter=userName%20eq%20%22ana%40example.com%22");
    let (status, _, found) = http(&servers[1], "GET", &filter, &token, None);
    assert_eq!(
        (status, &found["totalResults"]),
        (200, &json!(1)),
        "{found}"
    );
    assert_eq!(found["Resources"][0]["id"], json!(id));
    let user_path = format!("{base}/Users/{id}");
    let (_, etag_on_other, _) = http(&servers[1], "GET", &user_path, &token, None);
    assert_eq!(
        etag_on_other, created_etag,
        "one version, one ETag, on both instances"
    );
    let retitle = json!({"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "title", "value": "Director of Sales"}]});
    let (status, patched_etag, _) = http(&servers[0], "PATCH", &user_path, &token, Some(&retitle));
    assert_eq!(status, 200);
    let (_, etag, read) = http(&servers[1], "GET", &user_path, &token, None);
    assert_eq!(
        (etag, &read["title"]),
        (patched_etag, &json!("Director of Sales"))
    );
    let deactivate = json!({"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "active", "value": false}]});
    let (status, _, read) = http(&servers[1], "PATCH", &user_path, &token, Some(&deactivate));
    assert_eq!((status, &read["active"]), (200, &json!(false)));
    let (_, _, read) = http(&servers[0], "GET", &user_path, &token, None);
    assert_eq!(read["active"], json!(false));

    // 16 member additions to one group at once, half through each instance: none lost.
    let group = json!({"schemas": [GROUP], "displayName": "Everyone"});
    let (status, _, group) = http(
        &servers[1],
        "POST",
        &format!("{base}/Groups"),
        &token,
        Some(&group),
    );
    assert_eq!(status, 201);
    let group_path = format!("{base}/Groups/{}", group["id"].as_str().unwrap());
    std::thread::scope(|scope| {
        for n in 0..16 {
            let (server, token, path) = (&servers[n % 2], &token, &group_path);
            scope.spawn(move || {
                let add = json!({"schemas": [PATCH], "Operations": [
                    {"op": "add", "path": "members", "value": [{"value": format!("member-{n}")}]}]});
                let (status, _, body) = http(server, "PATCH", path, token, Some(&add));
                assert_eq!(status, 200, "{body}");
            });
        }
    });
    for server in &servers {
        let (_, etag, read) = http(server, "GET", &group_path, &token, None);
        let members = read["members"].as_array().unwrap();
        assert_eq!(members.len(), 16, "{read}");
        assert_eq!(etag, "W/\"17\"");
    }
    // A tenant added on the shared database while both run answers on both within 2 s
    // (they follow the registry: a notification, or the polled generation).
    let added = common::canon(&[
        "tenant",
        "add",
        "beta",
        "--rules",
        rules.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(added.code, 0, "{}", added.stderr);
    let beta = added
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("token: "))
        .unwrap()
        .to_string();
    let since = std::time::Instant::now();
    for server in &servers {
        while http(server, "GET", "/t/beta/scim/v2/Users", &beta, None).0 != 200 {
            assert!(
                since.elapsed() < Duration::from_secs(2),
                "a new tenant did not reach {} within 2 s",
                server.address
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // A rule version published through one instance (the admin API of the first) is what
    // the other maps new writes with within 2 s: VPs become SVPs.
    let before = profile(&servers[1], "acme", &id);
    let text = std::fs::read_to_string(&rules)
        .unwrap()
        .replace("-> VP", "-> SVP");
    let publish = json!({"rules": {"name": "acme.rules", "text": text}, "note": "VPs are SVPs"});
    let (status, _, published) = admin(&servers[0], "POST", "/admin/tenants/acme/rules", &publish);
    assert_eq!(status, 201, "{published}");
    let since = std::time::Instant::now();
    let mut round = 0;
    loop {
        // A new user on the other instance each round: its profile is mapped by the rules
        // that instance serves at the time of the write (a stored profile is recomputed by
        // the publish itself, so it would not tell).
        round += 1;
        let user = json!({"schemas": [USER], "userName": format!("vp{round}@example.com"),
            "title": "VP Sales", "name": {"givenName": "Vi"}});
        let (status, _, created) = http(
            &servers[1],
            "POST",
            &format!("{base}/Users"),
            &token,
            Some(&user),
        );
        assert_eq!(status, 201, "{created}");
        let read = profile(&servers[1], "acme", created["id"].as_str().unwrap());
        if read["profile"]["management_level"] == json!("SVP") {
            assert_ne!(read["rule_version"], before["rule_version"], "{read}");
            break;
        }
        assert!(
            since.elapsed() < Duration::from_secs(2),
            "the other instance still maps with the old rules 2 s after the publish: {read}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // A delete through one is gone from the other.
    let (status, _, _) = http(&servers[0], "DELETE", &user_path, &token, None);
    assert_eq!(status, 204);
    assert_eq!(http(&servers[1], "GET", &user_path, &token, None).0, 404);
}
