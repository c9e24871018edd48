//! The customer-success console under `/console` of `canon serve` (issue 20, docs/console.md):
//! server-rendered pages (minijinja templates compiled into the binary) with htmx, vendored in
//! `assets/`, for the parts that update in place. Nothing is fetched at run time.
//!
//! Every page but sign-in needs a session ([`auth::Signed`]); every form that changes
//! anything also carries the session's CSRF token ([`auth::Protected`]). The pages call the
//! engine's own code: coverage from `report`, explain from `eval`, diagnostics from `check`.

mod activity;
mod analysis;
mod assets;
mod auth;
mod customer;
mod customers;
mod history;
mod kept;
mod live;
mod page;
mod publish;
mod rules;
mod try_export;
mod user;

/// The engine work behind the coverage and preview pages, for their benchmark
/// (`benches/console_preview.rs`).
#[doc(hidden)]
pub use analysis::{
    coverage as coverage_of_stored_users, org_signature, preview as preview_over_stored_users,
    KnownPopulation, Start,
};

use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;

use crate::scim::AppState;

/// How the console runs, from `canon serve`'s config.
#[derive(Debug, Clone)]
pub struct ConsoleOptions {
    /// Cookies carry `Secure` (the service is reached over TLS).
    pub secure_cookies: bool,
    /// How long a sign-in lasts, whatever is done meanwhile.
    pub session_lifetime: Duration,
    /// The largest export "Try an export" reads (bytes).
    pub max_upload_bytes: usize,
}

impl Default for ConsoleOptions {
    fn default() -> Self {
        ConsoleOptions {
            secure_cookies: false,
            session_lifetime: Duration::from_secs(8 * 60 * 60),
            max_upload_bytes: 64 * 1024 * 1024,
        }
    }
}

/// What the console's handlers share: the service's state and the console's options.
pub struct Console {
    pub app: Arc<AppState>,
    pub options: ConsoleOptions,
    /// Each customer's compiled rules, for the version serving.
    programs: live::Programs,
    /// Each customer's last coverage report, for the users and rules it was computed on.
    coverage: customer::CoverageCache,
    /// Each customer's last preview of a draft.
    previews: rules::PreviewCache,
    /// Each customer's population under its published rules.
    populations: analysis::PopulationCache,
}

pub(crate) type ConsoleRef = Arc<Console>;

/// The console's routes, all under `/console`, to merge beside the SCIM service's.
pub fn router(app: Arc<AppState>, options: ConsoleOptions) -> Router {
    // The upload's own bound is counted as it arrives (a clear 413); this one only stops a
    // form that is far larger than any the console sends.
    let upload_limit = options.max_upload_bytes + 2 * rules::MAX_DRAFT + 64 * 1024;
    let console = Arc::new(Console {
        app,
        options,
        programs: live::Programs::default(),
        coverage: customer::CoverageCache::default(),
        previews: rules::PreviewCache::default(),
        populations: analysis::PopulationCache::default(),
    });
    Router::new()
        .route("/console", get(customers::list))
        .route("/console/", get(customers::list))
        .route(
            "/console/sign-in",
            get(auth::sign_in_page).post(auth::sign_in),
        )
        .route("/console/sign-out", post(auth::sign_out))
        .route("/console/customers/{tenant}", get(customer::overview))
        .route(
            "/console/customers/{tenant}/coverage",
            get(customer::coverage),
        )
        .route("/console/customers/{tenant}/users", get(customer::users))
        .route("/console/customers/{tenant}/users/{id}", get(user::show))
        .route("/console/customers/{tenant}/rules", get(rules::page))
        .route(
            "/console/customers/{tenant}/rules/check",
            post(rules::check),
        )
        .route("/console/customers/{tenant}/rules/test", post(rules::test))
        .route(
            "/console/customers/{tenant}/rules/preview",
            get(rules::preview_page).post(rules::preview),
        )
        .route(
            "/console/customers/{tenant}/rules/publish",
            post(publish::publish),
        )
        .route(
            "/console/customers/{tenant}/rules/versions/{number}",
            get(publish::version),
        )
        .route(
            "/console/customers/{tenant}/rules/versions/{number}/rollback",
            post(publish::rollback),
        )
        .route(
            "/console/customers/{tenant}/try",
            get(try_export::page)
                .post(try_export::run)
                .layer(axum::extract::DefaultBodyLimit::max(upload_limit)),
        )
        .route("/console/assets/{name}", get(assets::serve))
        .route(
            "/console/{*rest}",
            get(page::not_found).post(page::not_found),
        )
        .with_state(console)
}

#[cfg(test)]
pub(crate) mod testing;
