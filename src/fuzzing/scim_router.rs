//! Requests through the whole SCIM router, against the SQLite store and the rules engine:
//! no answer is a 500, and every body a write stored re-validates to itself.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

use super::{with_ids, ScratchDir};
use crate::scim::config::token_hash;
use crate::scim::mapper::ProfileMapper;
use crate::scim::{app, resource, AppState, Tenant};
use crate::store::{Kind, ResourceStore, SqliteStore, TenantId};
use crate::Program;

/// Requests of one input that are sent.
const MAX_REQUESTS: usize = 32;

/// The tenant's token, and the admin token too, so admin endpoints are reached.
const TOKEN: &str = "fuzz-token";

/// The rules the tenant's users are mapped with: SCIM paths, value paths, an extension.
pub const RULES: &str = r#"
field management_level: enum(Manager, Director, VP, "Individual Contributor") required
field manager_email: email
field work_email: email
input title = title, "Job Title" | nfkc | lower | words
input boss = enterprise:manager.value, managerEmail | trim | lower
input mail = emails[type eq "work"].value, userName | trim | lower
map management_level {
  rule vp: title has any ["vp", "vice president"] -> VP
  rule director: title has "director" -> Director
  rule manager: title has "manager" -> Manager
  else -> "Individual Contributor"
}
map manager_email { rule given: boss is present -> boss }
map work_email { rule given: mail is present -> mail }
test "a director" {
  title = "Director of Sales"
  expect management_level = Director
}
"#;

fn program() -> Arc<Program> {
    static PROGRAM: OnceLock<Arc<Program>> = OnceLock::new();
    PROGRAM
        .get_or_init(|| {
            Arc::new(Program::from_source("fuzz.rules", RULES).expect("the fuzz rules compile"))
        })
        .clone()
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
}

/// The input: one request a line, `METHOD PATH` or `METHOD PATH BODY`. A path that starts
/// with `/t/` or `/admin/` is sent as it is, any other under the tenant's SCIM base
/// (`/t/fuzz/scim/v2`); `$0` … `$9` in paths and bodies stand for the ids of the resources
/// created so far. Every request carries the tenant's token (which is the admin token too)
/// and `Content-Type: application/scim+json`.
pub fn scim_router(data: &[u8]) {
    let dir = ScratchDir::new("router");
    let store: Arc<SqliteStore> =
        Arc::new(SqliteStore::open(&dir.path().join("canon.db")).expect("a SQLite store"));
    let tenant = TenantId::parse("fuzz").expect("a tenant id");
    let mapper: Arc<dyn ProfileMapper> = program();
    let mut tenants = HashMap::new();
    tenants.insert(
        tenant.clone(),
        Arc::new(
            Tenant::new(
                tenant.clone(),
                token_hash(TOKEN),
                "fuzz.rules".into(),
                mapper,
            )
            // A run sends thousands of requests: none may be cut short by the rate limit.
            .with_rate_limit(crate::scim::rate_limit::RateLimit::Off),
        ),
    );
    let state = AppState {
        store: store.clone(),
        tenants: tenants.into(),
        registry: None,
        admin_token_sha256: Some(token_hash(TOKEN)),
        max_body_bytes: 64 * 1024,
        body_timeout: Duration::from_secs(5),
        loader: Arc::new(|_: &Path| Err("no reloads while fuzzing".to_string())),
        config_path: None,
        serving: Default::default(),
    };
    let router = app(Arc::new(state));

    let mut ids: Vec<String> = Vec::new();
    for line in data.split(|&b| b == b'\n').take(MAX_REQUESTS) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some((method, rest)) = split_word(line) else {
            continue;
        };
        let (path, body) = split_word(rest).unwrap_or((rest, &[]));
        let (Ok(method), Ok(path)) = (Method::from_bytes(method), std::str::from_utf8(path)) else {
            continue;
        };
        let path = with_ids(path, &ids);
        let uri = if path.starts_with("/t/") || path.starts_with("/admin/") {
            path.clone()
        } else {
            format!("/t/fuzz/scim/v2{path}")
        };
        let body = match std::str::from_utf8(body) {
            Ok(text) => with_ids(text, &ids).into_bytes(),
            Err(_) => body.to_vec(),
        };
        let Ok(request) = Request::builder()
            .method(method.clone())
            .uri(&uri)
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .header(header::CONTENT_TYPE, "application/scim+json")
            .body(Body::from(body))
        else {
            continue;
        };
        let (status, answer) = RUNTIME.with(|runtime| {
            runtime.block_on(async {
                let response = router.clone().oneshot(request).await.expect("infallible");
                let status = response.status();
                let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                    .await
                    .expect("a body");
                (status, bytes)
            })
        });
        assert_ne!(
            status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{method} {uri}: {}",
            String::from_utf8_lossy(&answer)
        );
        if !status.is_success() || !matches!(method, Method::POST | Method::PUT | Method::PATCH) {
            continue;
        }
        // A write answers with the resource: what the store now holds re-validates to itself.
        let Some(kind) = written_kind(&uri) else {
            continue;
        };
        let answer: Value = serde_json::from_slice(&answer).expect("a JSON answer");
        let Some(id) = answer.get("id").and_then(Value::as_str) else {
            continue;
        };
        let stored = store
            .get(&tenant, kind, id)
            .expect("a read")
            .unwrap_or_else(|| panic!("{method} {uri} answered {status} for {id}, not stored"));
        match resource::prepare(kind, stored.body.clone(), Some(id)) {
            Ok(again) => assert_eq!(
                again, stored.body,
                "{method} {uri}: the stored body validates to another"
            ),
            Err(error) => panic!(
                "{method} {uri}: the stored body {} does not validate: {error}",
                stored.body
            ),
        }
        if status == StatusCode::CREATED {
            ids.push(id.to_string());
        }
    }
}

/// The first word of `line` and the rest after one space.
fn split_word(line: &[u8]) -> Option<(&[u8], &[u8])> {
    if line.is_empty() {
        return None;
    }
    Some(match line.iter().position(|&b| b == b' ') {
        Some(at) => (&line[..at], &line[at + 1..]),
        None => (line, &[]),
    })
}

/// The kind of resource a write to `uri` makes or changes (not a search).
fn written_kind(uri: &str) -> Option<Kind> {
    let path = uri.split('?').next()?;
    let rest = path.strip_prefix("/t/fuzz/scim/v2/")?;
    let (collection, id) = rest.split_once('/').unwrap_or((rest, ""));
    if id.contains('/') || id.starts_with('.') {
        return None;
    }
    match collection {
        "Users" => Some(Kind::User),
        "Groups" => Some(Kind::Group),
        _ => None,
    }
}
