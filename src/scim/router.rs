//! The route table: every endpoint of the service, its handler, and the layers around them.
//! Handlers live by what they serve: `discovery`, `crud` (Users and Groups), `admin`.

use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get, post, MethodRouter};
use axum::Router;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use super::error::ScimError;
use super::state::{AppState, AppStateRef};
use super::{
    activity_layer, admin, admin_tenants, crud, discovery, in_flight, observe, probes, setup,
};
use crate::store::Kind::{Group, User};

pub fn app(state: Arc<AppState>) -> Router {
    let scim = Router::new()
        .route(
            "/ServiceProviderConfig",
            only(get(discovery::service_provider_config)),
        )
        .route("/ResourceTypes", only(get(discovery::resource_types)))
        .route("/ResourceTypes/{id}", only(get(discovery::resource_type)))
        .route("/Schemas", only(get(discovery::schemas)))
        .route("/Schemas/{id}", only(get(discovery::schema_one)))
        .route("/Users", only(crud::collection(User)))
        .route("/.search", only(post(crud::search_all)))
        .route("/Users/.search", only(crud::search(User)))
        .route("/Users/{id}", only(crud::by_id(User)))
        .route("/Groups", only(crud::collection(Group)))
        .route("/Groups/.search", only(crud::search(Group)))
        .route("/Groups/{id}", only(crud::by_id(Group)));
    let bounded = Router::new()
        .nest(
            "/t/{tenant}/scim/v2",
            scim.layer(from_fn_with_state(state.clone(), activity_layer::record)),
        )
        .route("/t/{tenant}/profiles", only(get(admin::list_profiles)))
        .route("/t/{tenant}/profiles/{id}", only(get(admin::get_profile)))
        .route("/admin/tenants/{tenant}/reload", only(post(admin::reload)))
        .route(
            "/admin/tenants",
            only(get(admin_tenants::list).post(admin_tenants::add)),
        )
        .route(
            "/admin/tenants/{tenant}",
            only(
                get(admin_tenants::show)
                    .patch(admin_tenants::set)
                    .delete(admin_tenants::remove),
            ),
        )
        .route(
            "/admin/tenants/{tenant}/tokens",
            only(post(admin_tenants::rotate)),
        )
        .route(
            "/admin/tenants/{tenant}/tokens/{token}",
            only(delete(admin_tenants::revoke)),
        )
        .route(
            "/admin/tenants/{tenant}/rules",
            only(get(admin_tenants::versions).post(admin_tenants::publish)),
        )
        .route(
            "/admin/tenants/{tenant}/rules/{number}/rollback",
            only(post(admin_tenants::rollback)),
        )
        .route(
            "/admin/tenants/{tenant}/activity",
            only(get(admin_tenants::activity)),
        )
        .route(
            "/admin/tenants/{tenant}/setup-links",
            only(post(admin_tenants::setup_link)),
        )
        .route(
            "/setup/{secret}",
            only(get(setup::show).post(setup::reveal)),
        )
        .route("/setup/{secret}/status", only(get(setup::status)))
        .fallback(not_found)
        .layer(from_fn_with_state(
            state.serving.in_flight.clone(),
            in_flight::bound,
        ));
    // Probes stay outside the bound on requests in flight: a busy service still answers them.
    Router::new()
        .route("/healthz", only(get(probes::healthz)))
        .route("/readyz", only(get(probes::readyz)))
        .route("/metrics", only(get(probes::metrics)))
        .merge(bounded)
        .layer(from_fn_with_state(state.clone(), observe::record))
        .with_state(state)
        .layer(
            TraceLayer::new_for_http()
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO))
                .make_span_with(request_span),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// These methods only: any other is a SCIM 405, not axum's empty one.
fn only(methods: MethodRouter<AppStateRef>) -> MethodRouter<AppStateRef> {
    methods.fallback(method_not_allowed)
}

async fn method_not_allowed() -> ScimError {
    ScimError::MethodNotAllowed("method not allowed on this endpoint".into())
}

async fn not_found() -> ScimError {
    ScimError::NotFound("no such endpoint".into())
}

/// The span every request's logs carry: its id, method and path. The path only: queries
/// carry filters with user names; headers carry tokens.
fn request_span(request: &Request) -> tracing::Span {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("request", id, method = %request.method(), path = %request.uri().path())
}
