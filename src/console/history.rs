//! The history of a customer's rule versions: who published each, when, its content hash
//! and note, and which is live.

use serde_json::{json, Value};

use super::live::Customer;
use super::page::{short_version, ConsoleError};
use super::ConsoleRef;
use crate::store::registry::RuleVersion;

/// A version as the history lists it.
pub(super) fn version_view(version: &RuleVersion, live: Option<i64>) -> Value {
    json!({
        "number": version.number,
        "hash": version.hash,
        "short": short_version(&version.hash),
        "live": live == Some(version.number),
        "note": version.note,
        "author": version.author,
        "created": version.created,
        "file": version.bundle.name,
    })
}

/// The customer's versions, newest first, and which is live (`None` without a registry).
pub(super) fn history(
    console: &ConsoleRef,
    customer: &Customer,
) -> Result<Option<Vec<Value>>, ConsoleError> {
    let Some(registry) = &console.app.registry else {
        return Ok(None);
    };
    let live = customer.tenant.rule_version_number();
    let mut versions: Vec<Value> = registry
        .store
        .rule_versions(&customer.tenant.id)?
        .iter()
        .map(|v| version_view(v, live))
        .collect();
    versions.reverse();
    Ok(Some(versions))
}
