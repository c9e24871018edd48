//! Rendering: the templates (compiled into the binary, HTML-escaped by default), the
//! headers every page carries, and [`ConsoleError`], the one way a console request fails.

use std::sync::OnceLock;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::Environment;
use serde::Serialize;

use crate::scim::ScimError;
use crate::store::StoreError;

/// Every template, by name. `base.html` is the frame the others extend.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("sign_in.html", include_str!("templates/sign_in.html")),
    ("error.html", include_str!("templates/error.html")),
    ("customers.html", include_str!("templates/customers.html")),
    (
        "customer_head.html",
        include_str!("templates/customer_head.html"),
    ),
    ("customer.html", include_str!("templates/customer.html")),
    ("coverage.html", include_str!("templates/coverage.html")),
    ("users.html", include_str!("templates/users.html")),
    ("user.html", include_str!("templates/user.html")),
    ("rules.html", include_str!("templates/rules.html")),
    (
        "diagnostics.html",
        include_str!("templates/diagnostics.html"),
    ),
    ("tests.html", include_str!("templates/tests.html")),
    ("preview.html", include_str!("templates/preview.html")),
    (
        "preview_changed.html",
        include_str!("templates/preview_changed.html"),
    ),
    (
        "publish_refused.html",
        include_str!("templates/publish_refused.html"),
    ),
    ("version.html", include_str!("templates/version.html")),
    ("activity.html", include_str!("templates/activity.html")),
    ("try.html", include_str!("templates/try.html")),
    ("try_report.html", include_str!("templates/try_report.html")),
    (
        "try_header_warnings.html",
        include_str!("templates/try_header_warnings.html"),
    ),
];

fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            // The templates are part of the binary: `templates_compile` tests every one.
            if let Err(error) = env.add_template(name, source) {
                tracing::error!(template = name, %error, "console template does not compile");
            }
        }
        env.add_filter("thousands", thousands);
        env.add_filter("pct", pct);
        env.add_filter("place", place);
        env
    })
}

/// `12345` → `12,345`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A share `part` of `whole` as `12.3%` (`–` of nothing).
pub(crate) fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "–".into();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

/// `/srv/canon/rules/acme.rules:12` → `acme.rules:12`, also inside a longer text
/// (`director (/srv/…/default.rules:654)`): a rule's place as its author knows it (the
/// server's folders are no business of the page).
pub(crate) fn place(at: &str) -> String {
    let mut out = String::with_capacity(at.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(word.rsplit('/').next().unwrap_or_default());
        word.clear();
    };
    for c in at.chars() {
        if c.is_whitespace() || c == '(' || c == ')' {
            flush(&mut word, &mut out);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// The first 12 hex digits of a rule version: enough to tell versions apart on a page.
pub(crate) fn short_version(version: &str) -> String {
    version.chars().take(12).collect()
}

/// A rendered page or fragment.
pub(crate) fn render(name: &str, context: impl Serialize) -> Result<Response, ConsoleError> {
    let html = templates()
        .get_template(name)
        .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(&context))))
        .map_err(|e| ConsoleError::Internal(format!("template `{name}`: {e:#}")))?;
    Ok(html_response(StatusCode::OK, html))
}

pub(crate) fn html_response(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    secure_headers(response.headers_mut());
    response
}

/// Headers of every console page: HTML, never cached, never framed, scripts only from here.
fn secure_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
        ),
    );
}

/// How a console request fails; each renders as a page (or, for htmx, a fragment).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConsoleError {
    /// No session, or an expired one: back to sign-in.
    #[error("sign in first")]
    SignIn,
    /// A form without the session's CSRF token.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// The request cannot be done in the state things are in (say so, and how to fix it).
    #[error("{0}")]
    Conflict(String),
    /// An upload beyond the console's bound (say what to do instead).
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for ConsoleError {
    fn from(error: StoreError) -> Self {
        ConsoleError::Internal(format!("the store failed: {error}"))
    }
}

impl From<ScimError> for ConsoleError {
    fn from(error: ScimError) -> Self {
        ConsoleError::Internal(error.to_string())
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, title) = match &self {
            ConsoleError::SignIn => {
                let mut response = Redirect::to("/console/sign-in").into_response();
                // htmx follows this instead of swapping the sign-in page into a fragment.
                response
                    .headers_mut()
                    .insert("hx-redirect", HeaderValue::from_static("/console/sign-in"));
                return response;
            }
            ConsoleError::Forbidden(_) => (StatusCode::FORBIDDEN, "Not allowed"),
            ConsoleError::NotFound(_) => (StatusCode::NOT_FOUND, "Not found"),
            ConsoleError::BadRequest(_) => (StatusCode::BAD_REQUEST, "That did not work"),
            ConsoleError::Conflict(_) => (StatusCode::CONFLICT, "Not now"),
            ConsoleError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "Too large"),
            ConsoleError::Internal(message) => {
                tracing::error!(%message, "console request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong")
            }
        };
        let message = self.to_string();
        let html = templates()
            .get_template("error.html")
            .and_then(|t| {
                t.render(minijinja::Value::from(minijinja::value::Serde(
                    serde_json::json!({
                        "title": title, "message": message, "status": status.as_u16()
                    }),
                )))
            })
            .unwrap_or_else(|_| format!("<h1>{title}</h1>"));
        html_response(status, html)
    }
}

/// Any other path under `/console`.
pub(super) async fn not_found() -> ConsoleError {
    ConsoleError::NotFound("There is no such page in the console.".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_compile() {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        }
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(pct(1, 3), "33.3%");
        assert_eq!(pct(0, 0), "–");
        assert_eq!(place("/srv/canon/acme.rules:12"), "acme.rules:12");
        assert_eq!(
            place("director (/a/b/default.rules:654)"),
            "director (default.rules:654)"
        );
        assert_eq!(place("acme.rules:3"), "acme.rules:3");
    }
}
