//! The engine's reports over a customer's stored users: the dry run's coverage report
//! ([`Coverage`]) and `canon diff`'s report ([`DiffStats`]), each in one pass over the
//! users as the store streams them (nothing but the report is kept, so memory stays flat
//! whatever the customer's size).
//!
//! Users are read as the service reads them: through the tenant's extension aliases.

use std::time::Instant;

use serde_json::Value;

use crate::report::{Coverage, CoverageReport, DiffReport, DiffStats};
use crate::scim::extensions::Extensions;
use crate::store::{Kind, ResourceStore, StoreError, StoredResource, TenantId};
use crate::{Evaluator, JsonRecord, Program};

/// How many of the most frequent unmapped raw values each input shows.
pub(crate) const TOP_UNMAPPED: usize = 15;

/// Every stored user of `tenant`, handed to `each` as the rules see it (aliases applied).
fn each_user(
    store: &dyn ResourceStore,
    tenant: &TenantId,
    extensions: &Extensions,
    each: &mut dyn FnMut(&StoredResource, &Value),
) -> Result<(), StoreError> {
    store.scan(tenant, Kind::User, &mut |user| {
        let view = extensions.view(&user.body);
        each(&user, &view);
        true
    })
}

/// The coverage report of `program` over the customer's stored users.
pub(crate) fn coverage(
    program: &Program,
    extensions: &Extensions,
    store: &dyn ResourceStore,
    tenant: &TenantId,
) -> Result<CoverageReport, StoreError> {
    let started = Instant::now();
    let today = chrono::Local::now().date_naive();
    let mut evaluator = Evaluator::counting(program, Coverage::new(program)).on(today);
    each_user(store, tenant, extensions, &mut |_, view| {
        evaluator.apply_row(&JsonRecord::new(view));
    })?;
    let tally = evaluator.into_tally();
    Ok(tally.report(
        program,
        &[],
        0,
        TOP_UNMAPPED,
        started.elapsed().as_secs_f64(),
        None,
    ))
}

/// What replacing `published` by `draft` does to the customer's stored users: transitions
/// per field and the first `keep` changed users (`at` is the user's id, the keys its
/// `userName`).
pub(crate) fn preview(
    published: &Program,
    draft: &Program,
    extensions: &Extensions,
    store: &dyn ResourceStore,
    tenant: &TenantId,
    keep: usize,
) -> Result<DiffReport, StoreError> {
    // Both programs decide every user on one date.
    let today = chrono::Local::now().date_naive();
    let (mut before, mut after) = (published.evaluator().on(today), draft.evaluator().on(today));
    let mut stats = DiffStats::default();
    each_user(store, tenant, extensions, &mut |user, view| {
        let record = JsonRecord::new(view);
        let old = before.apply(&record);
        let new = after.apply(&record);
        stats.add(
            || {
                let name = user
                    .body
                    .get("userName")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                (user.id.clone(), vec![("userName".to_string(), name)])
            },
            &old,
            &new,
            keep,
        );
    })?;
    Ok(stats.report(0))
}
