//! The embedded SCIM 2.0 service (RFC 7643 / RFC 7644) that Okta provisions into.
//!
//! `router::app` builds the axum router; every write validates the resource, runs the
//! tenant's [`mapper::ProfileMapper`] and stores the resource exactly as sent beside its
//! canonical profile. See `docs/scim.md`.

pub mod activity;
mod activity_layer;
pub mod admin;
mod admin_tenants;
pub mod config;
mod crud;
mod discovery;
pub mod error;
pub mod extensions;
pub mod extract;
pub mod filter;
pub mod in_flight;
pub mod manage;
pub mod mapper;
pub mod metrics;
mod observe;
pub mod org;
pub mod patch;
mod probes;
pub mod rate_limit;
pub mod registry;
pub mod resource;
pub mod router;
pub mod schema;
pub mod serve;
pub mod setup;
pub mod state;
pub mod tenants;
pub mod timed_store;
pub mod tls;

pub(crate) use crud::visit_matches;
pub use error::ScimError;
pub use mapper::{MappedProfile, ProfileMapper};
pub use router::app;
pub use state::{AppState, Loader, Tenant};
