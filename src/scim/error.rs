//! The one error type of the SCIM service and its one response: the RFC 7644 §3.12 error
//! body, as `application/scim+json`. Internal causes go to the log, never to the client.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::schema;
use crate::store::StoreError;

pub const SCIM_JSON: &str = "application/scim+json";

/// The SCIM error `detail` of a response, kept in its extensions for the activity log
/// (which sees the response, not the error).
#[derive(Clone, Debug)]
pub struct ErrorDetail(pub String);

#[derive(Debug, thiserror::Error)]
pub enum ScimError {
    #[error("{0}")]
    InvalidSyntax(String),
    #[error("{0}")]
    InvalidValue(String),
    #[error("{0}")]
    InvalidFilter(String),
    #[error("{0}")]
    InvalidPath(String),
    #[error("{0}")]
    NoTarget(String),
    #[error("{0}")]
    Mutability(String),
    #[error("{0}")]
    TooMany(String),
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// Authenticated, but not allowed (a disabled tenant).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Uniqueness(String),
    #[error("the resource has changed: its version is not the one in If-Match")]
    PreconditionFailed,
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    /// The body did not arrive within the body timeout (seconds).
    #[error("the request body did not arrive within {0} s")]
    RequestTimeout(u64),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The tenant is over its rate limit: 429 with `Retry-After` (seconds).
    #[error("too many requests for this tenant: retry after {retry_after} s")]
    RateLimited { retry_after: u64 },
    /// The service is at its bound of requests in flight: 503 with `Retry-After` (seconds).
    #[error("the service is busy: retry after {retry_after} s")]
    Overloaded { retry_after: u64 },
    /// The cause is logged; the client sees a generic message.
    #[error("internal error")]
    Internal(String),
}

impl ScimError {
    pub fn status(&self) -> StatusCode {
        match self {
            ScimError::InvalidSyntax(_)
            | ScimError::InvalidValue(_)
            | ScimError::InvalidFilter(_)
            | ScimError::InvalidPath(_)
            | ScimError::NoTarget(_)
            | ScimError::Mutability(_)
            | ScimError::TooMany(_) => StatusCode::BAD_REQUEST,
            ScimError::Unauthorized => StatusCode::UNAUTHORIZED,
            ScimError::Forbidden(_) => StatusCode::FORBIDDEN,
            ScimError::NotFound(_) => StatusCode::NOT_FOUND,
            ScimError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ScimError::Uniqueness(_) => StatusCode::CONFLICT,
            ScimError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ScimError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ScimError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ScimError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ScimError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ScimError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ScimError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn scim_type(&self) -> Option<&'static str> {
        match self {
            ScimError::InvalidSyntax(_) => Some("invalidSyntax"),
            ScimError::InvalidValue(_) => Some("invalidValue"),
            ScimError::InvalidFilter(_) => Some("invalidFilter"),
            ScimError::InvalidPath(_) => Some("invalidPath"),
            ScimError::NoTarget(_) => Some("noTarget"),
            ScimError::Mutability(_) => Some("mutability"),
            ScimError::TooMany(_) => Some("tooMany"),
            ScimError::Uniqueness(_) => Some("uniqueness"),
            _ => None,
        }
    }

    pub fn not_found(kind: crate::store::Kind, id: &str) -> ScimError {
        ScimError::NotFound(format!("{} {id} not found", kind.as_str()))
    }
}

impl From<StoreError> for ScimError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => ScimError::NotFound("resource not found".into()),
            StoreError::Conflict => ScimError::Uniqueness("userName is already taken".into()),
            StoreError::Aborted => ScimError::Internal("update abandoned without a reason".into()),
            StoreError::Stale => ScimError::Internal("the resource changed while written".into()),
            StoreError::Backend(cause) => ScimError::Internal(cause),
        }
    }
}

/// A JSON response with its content type (`application/scim+json` for SCIM bodies).
pub(crate) fn json_body(
    status: StatusCode,
    body: &serde_json::Value,
    content_type: &'static str,
) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A SCIM body (`application/scim+json`).
pub(crate) fn scim_response(status: StatusCode, body: &serde_json::Value) -> Response {
    json_body(status, body, SCIM_JSON)
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ScimError::Internal(cause) = &self {
            tracing::error!(%cause, "internal error");
        } else {
            tracing::debug!(status = status.as_u16(), detail = %self, "scim error");
        }
        let mut body = json!({
            "schemas": [schema::ERROR],
            "status": status.as_u16().to_string(),
            "detail": self.to_string(),
        });
        if let Some(scim_type) = self.scim_type() {
            body["scimType"] = scim_type.into();
        }
        let mut response = json_body(status, &body, SCIM_JSON);
        // For the activity log (activity.rs), which sees the response, not the error.
        response
            .extensions_mut()
            .insert(ErrorDetail(self.to_string()));
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"canon\""),
            );
        }
        if let ScimError::RateLimited { retry_after } | ScimError::Overloaded { retry_after } = self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        response
    }
}
