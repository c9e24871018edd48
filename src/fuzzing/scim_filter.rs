//! SCIM filters and PATCH paths against the store: a filter's matches found through the
//! store's indexes (`userName`, `externalId`, `emails.value`, `displayName`, `members.value`)
//! are those found by applying the filter to every resource.

use serde_json::Value;

use super::{with_ids, ScratchDir};
use crate::scim::filter::{self, Filter, ScimPath};
use crate::scim::{patch, resource, visit_matches};
use crate::store::{
    Kind, MemoryStore, ResourceStore, SqliteStore, StoreError, StoredResource, TenantId, Write,
};

/// Lines of one input that are read: the writes of a small tenant.
const MAX_STEPS: usize = 64;

const BASE: &str = "https://canon.example/t/fuzz/scim/v2";

/// One write of the input.
enum Step<'a> {
    /// `U {JSON}` / `G {JSON}`: create a user or a group with this body.
    Create(Kind, &'a str),
    /// `P {JSON}`: PATCH the resource created last with this PatchOp request.
    Patch(&'a str),
    /// `D` / `D N`: delete the resource created last / N-th (from 0).
    Delete(Option<usize>),
}

impl<'a> Step<'a> {
    fn parse(line: &'a str) -> Option<Step<'a>> {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "U" => Some(Step::Create(Kind::User, rest)),
            "G" => Some(Step::Create(Kind::Group, rest)),
            "P" => Some(Step::Patch(rest)),
            "D" => Some(Step::Delete(rest.trim().parse().ok())),
            _ => None,
        }
    }
}

/// The input: a filter on the first line (also read as a PATCH path), then one write a
/// line (see [`Step`]). In bodies and the filter, `$0` … `$9` stand for the ids of the
/// resources created so far, in order (`{"members":[{"value":"$0"}]}`).
///
/// The writes are made in the memory store and in the SQLite store; in each, the filter's
/// matches found through the indexes equal those found by applying it to every resource,
/// in the same order (oldest first); every body stored re-validates to itself; and, unless
/// the input names ids or `meta` (which differ between stores), both stores hold the same
/// bodies and the filter matches the same of them.
pub fn scim_filter(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.lines();
    let Some(filter_text) = lines.next() else {
        return;
    };
    let _ = filter::parse_path(filter_text);
    let steps: Vec<Step> = lines.take(MAX_STEPS).filter_map(Step::parse).collect();

    let memory = MemoryStore::new();
    let in_memory = run(&memory, "memory store", filter_text, &steps);
    let dir = ScratchDir::new("filter");
    let sqlite = SqliteStore::open(&dir.path().join("canon.db")).expect("a SQLite store");
    let in_sqlite = run(&sqlite, "SQLite store", filter_text, &steps);

    let names_ids = text.contains('$')
        || filter::parse_filter(filter_text).is_ok_and(|f| mentions_id_or_meta(&f));
    if !names_ids {
        assert_eq!(
            in_memory, in_sqlite,
            "the memory and SQLite stores differ (bodies of users and groups, then the \
             positions of the users and groups the filter matches)"
        );
    }
}

/// What one store ends with: the bodies of its users and groups, and the positions among
/// them of those the filter matches (`None` when the filter does not parse).
type Outcome = (Vec<Value>, Vec<Value>, Option<(Vec<usize>, Vec<usize>)>);

fn run(store: &dyn ResourceStore, what: &str, filter_text: &str, steps: &[Step]) -> Outcome {
    let tenant = TenantId::parse("fuzz").expect("a tenant id");
    let mut created: Vec<(Kind, String)> = Vec::new();
    for step in steps {
        let ids: Vec<String> = created.iter().map(|(_, id)| id.clone()).collect();
        match step {
            Step::Create(kind, json) => {
                let Ok(body) = serde_json::from_str::<Value>(&with_ids(json, &ids)) else {
                    continue;
                };
                let Ok(body) = resource::prepare(*kind, body, None) else {
                    continue;
                };
                revalidates(*kind, &body, None, what);
                let write = Write {
                    unique_key: resource::unique_key(*kind, &body),
                    body,
                    profile: None,
                };
                match store.create(&tenant, *kind, write) {
                    Ok(stored) => created.push((*kind, stored.id)),
                    Err(StoreError::Conflict) => {}
                    Err(error) => panic!("{what}: a create failed: {error}"),
                }
            }
            Step::Patch(json) => {
                let Some((kind, id)) = created.last().cloned() else {
                    continue;
                };
                let Ok(request) = serde_json::from_str::<Value>(&with_ids(json, &ids)) else {
                    continue;
                };
                let result = store.update(&tenant, kind, &id, &mut |current| {
                    let body = patch::apply(kind, &id, &current.body, &request).ok()?;
                    Some(Write {
                        unique_key: resource::unique_key(kind, &body),
                        body,
                        profile: None,
                    })
                });
                match result {
                    Ok(stored) => revalidates(kind, &stored.body, Some(&id), what),
                    Err(StoreError::Aborted | StoreError::Conflict | StoreError::NotFound) => {}
                    Err(error) => panic!("{what}: a PATCH failed: {error}"),
                }
            }
            Step::Delete(n) => {
                let Some((kind, id)) = n.map_or(created.last(), |n| created.get(n)) else {
                    continue;
                };
                match store.delete(&tenant, *kind, id) {
                    Ok(()) | Err(StoreError::NotFound) => {}
                    Err(error) => panic!("{what}: a delete failed: {error}"),
                }
            }
        }
    }

    let list = |kind| store.list(&tenant, kind).expect("a list");
    let (users, groups) = (list(Kind::User), list(Kind::Group));
    let ids: Vec<String> = created.iter().map(|(_, id)| id.clone()).collect();
    let matches = filter::parse_filter(&with_ids(filter_text, &ids))
        .ok()
        .map(|filter| {
            (
                matching(store, what, &tenant, Kind::User, &filter, &users),
                matching(store, what, &tenant, Kind::Group, &filter, &groups),
            )
        });
    let bodies = |all: &[StoredResource]| all.iter().map(|r| r.body.clone()).collect();
    (bodies(&users), bodies(&groups), matches)
}

/// The positions in `all` (every resource of `kind`, oldest first) of those `filter`
/// matches, found both ways, which must agree.
fn matching(
    store: &dyn ResourceStore,
    what: &str,
    tenant: &TenantId,
    kind: Kind,
    filter: &Filter,
    all: &[StoredResource],
) -> Vec<usize> {
    let scanned: Vec<usize> = all
        .iter()
        .enumerate()
        .filter(|(_, r)| filter.matches(&resource::render(r, BASE), kind))
        .map(|(at, _)| at)
        .collect();
    let mut found = Vec::new();
    visit_matches(store, tenant, kind, filter, BASE, &mut |rendered| {
        let id = rendered
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        found.push(all.iter().position(|r| r.id == id).unwrap_or(usize::MAX));
    })
    .unwrap_or_else(|error| panic!("{what}: a list failed: {error}"));
    assert_eq!(
        found,
        scanned,
        "{what}: {filter:?} on the {}s: the lookup by {:?} found the first list, a scan of \
         every {} the second",
        kind.as_str(),
        filter.index_hint(kind),
        kind.as_str()
    );
    scanned
}

/// A body as stored is what validating it again gives.
fn revalidates(kind: Kind, body: &Value, id: Option<&str>, what: &str) {
    match resource::prepare(kind, body.clone(), id) {
        Ok(again) => assert_eq!(&again, body, "{what}: a stored body validates to another"),
        Err(error) => panic!("{what}: a stored body {body} does not validate: {error}"),
    }
}

/// Whether the filter reads `id` or `meta`, which differ from one store to the other.
fn mentions_id_or_meta(filter: &Filter) -> bool {
    let named = |path: &ScimPath| {
        path.name.eq_ignore_ascii_case("id") || path.name.eq_ignore_ascii_case("meta")
    };
    match filter {
        Filter::Or(a, b) | Filter::And(a, b) => mentions_id_or_meta(a) || mentions_id_or_meta(b),
        Filter::Not(a) => mentions_id_or_meta(a),
        Filter::Present(path) | Filter::Compare(path, ..) => named(path),
        Filter::ValuePath(path, inner) => named(path) || mentions_id_or_meta(inner),
    }
}
