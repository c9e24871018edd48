//! Sign-in with the admin token, sessions and CSRF.
//!
//! - A session is a random id in a cookie (`HttpOnly`, `SameSite=Strict`, `Secure` under
//!   TLS, path `/console`); the store keeps its SHA-256 only, with an absolute expiry
//!   ([`crate::store::SessionStore`]), so every instance sharing the store knows it.
//! - Every form that changes something carries the session's CSRF token (a hidden `csrf`
//!   field, or the `X-CSRF-Token` header htmx sends): [`Protected`] refuses it otherwise.
//! - The sign-in form itself is guarded by a double-submit token (a short-lived cookie that
//!   the form repeats), so no other site can sign a browser in.

use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::page::{render, ConsoleError};
use super::ConsoleRef;
use crate::scim::config::{new_token, token_hash, token_matches};
use crate::store::{Session, SessionStore};

pub(crate) const SESSION_COOKIE: &str = "canon_session";
const SIGN_IN_COOKIE: &str = "canon_sign_in";
/// Bodies of console forms (a rule file, a note); uploads have their own limit.
const FORM_LIMIT: usize = 2 * 1024 * 1024;

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The value of cookie `name` in the request.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether the browser reached the console over HTTPS: the service speaks TLS, or a
/// TLS-terminating proxy in front says so.
fn over_tls(console: &ConsoleRef, headers: &HeaderMap) -> bool {
    console.options.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

fn set_cookie(
    console: &ConsoleRef,
    headers: &HeaderMap,
    name: &str,
    value: &str,
    max_age: i64,
) -> HeaderValue {
    let secure = if over_tls(console, headers) {
        "; Secure"
    } else {
        ""
    };
    let text = format!(
        "{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    );
    // Names and values are ours: hex and ASCII.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn equal(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

fn sessions(console: &ConsoleRef) -> Result<&dyn SessionStore, ConsoleError> {
    console
        .app
        .store
        .sessions()
        .ok_or_else(|| ConsoleError::Internal("this store keeps no console sessions".into()))
}

/// Store work off the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ConsoleError> + Send + 'static,
) -> Result<T, ConsoleError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ConsoleError::Internal(format!("worker failed: {e}")))?
}

/// A request from a signed-in browser.
#[derive(Debug, Clone)]
pub(crate) struct Signed {
    pub session: Session,
}

impl Signed {
    /// Who acts, for the activity log.
    pub fn who(&self) -> &str {
        &self.session.who
    }

    pub fn csrf(&self) -> &str {
        &self.session.csrf
    }
}

impl FromRequestParts<ConsoleRef> for Signed {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &ConsoleRef,
    ) -> Result<Self, ConsoleError> {
        let id = cookie(&parts.headers, SESSION_COOKIE).ok_or(ConsoleError::SignIn)?;
        let hash = token_hash(id);
        let console = console.clone();
        let session = blocking(move || Ok(sessions(&console)?.session(&hash, unix_now())?))
            .await?
            .ok_or(ConsoleError::SignIn)?;
        Ok(Signed { session })
    }
}

/// A signed-in form submission carrying the session's CSRF token, and its fields `F`.
pub(crate) struct Protected<F> {
    pub signed: Signed,
    pub form: F,
}

/// The CSRF field every console form carries beside its own.
#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

impl<F: DeserializeOwned + Send> FromRequest<ConsoleRef> for Protected<F> {
    type Rejection = ConsoleError;

    async fn from_request(request: Request, console: &ConsoleRef) -> Result<Self, ConsoleError> {
        let (mut parts, body) = request.into_parts();
        let signed = Signed::from_request_parts(&mut parts, console).await?;
        let header_token = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = axum::body::to_bytes(body, FORM_LIMIT)
            .await
            .map_err(|e| ConsoleError::BadRequest(format!("the form could not be read: {e}")))?;
        let field: CsrfField = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| ConsoleError::BadRequest(format!("the form is malformed: {e}")))?;
        let token = header_token.unwrap_or(field.csrf);
        if !equal(&token, signed.csrf()) {
            return Err(ConsoleError::Forbidden(
                "This form is stale or did not come from the console (its CSRF token does not match). Reload the page and try again.".into(),
            ));
        }
        let form = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| ConsoleError::BadRequest(format!("the form is malformed: {e}")))?;
        Ok(Protected { signed, form })
    }
}

/// `GET /console/sign-in`: the form, with a fresh double-submit token.
pub(super) async fn sign_in_page(
    State(console): State<ConsoleRef>,
    headers: HeaderMap,
) -> Response {
    sign_in_form(&console, &headers, None, axum::http::StatusCode::OK)
}

fn sign_in_form(
    console: &ConsoleRef,
    headers: &HeaderMap,
    error: Option<&str>,
    status: axum::http::StatusCode,
) -> Response {
    let token = new_token();
    let configured = console.app.admin_token_sha256.is_some();
    let mut response = match render(
        "sign_in.html",
        serde_json::json!({ "token": token, "error": error, "configured": configured }),
    ) {
        Ok(response) => response,
        Err(error) => return error.into_response(),
    };
    *response.status_mut() = status;
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(console, headers, SIGN_IN_COOKIE, &token, 600),
    );
    response
}

#[derive(Deserialize)]
pub(super) struct SignInForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    admin_token: String,
    /// Who signs in, as they want to be named in the rule history and the activity log.
    #[serde(default)]
    name: String,
}

/// The name a person gave at sign-in, made safe to show and store (printable, at most 64
/// characters); `admin` when none was given.
fn who_from(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if cleaned.is_empty() {
        "admin".into()
    } else {
        cleaned
    }
}

/// `POST /console/sign-in`: the admin token for a session.
pub(super) async fn sign_in(
    State(console): State<ConsoleRef>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, ConsoleError> {
    let fresh = cookie(&headers, SIGN_IN_COOKIE).is_some_and(|c| equal(c, &form.token));
    if !fresh {
        return Ok(sign_in_form(
            &console,
            &headers,
            Some("The sign-in form had expired. Enter the token again."),
            axum::http::StatusCode::FORBIDDEN,
        ));
    }
    let Some(expected) = console.app.admin_token_sha256.clone() else {
        return Ok(sign_in_form(
            &console,
            &headers,
            Some("No admin token is configured: set `admin_token_sha256` in canon.yaml."),
            axum::http::StatusCode::FORBIDDEN,
        ));
    };
    if !token_matches(form.admin_token.trim(), &expected) {
        tracing::warn!("console sign-in refused: wrong admin token");
        return Ok(sign_in_form(
            &console,
            &headers,
            Some("That is not the admin token."),
            axum::http::StatusCode::UNAUTHORIZED,
        ));
    }
    let id = new_token();
    let now = unix_now();
    let lifetime = i64::try_from(console.options.session_lifetime.as_secs()).unwrap_or(i64::MAX);
    let session = Session {
        id_sha256: token_hash(&id),
        csrf: new_token(),
        who: who_from(&form.name),
        created: now,
        expires: now.saturating_add(lifetime),
    };
    let who = session.who.clone();
    let store = console.clone();
    blocking(move || {
        let sessions = sessions(&store)?;
        sessions.purge_sessions(now)?;
        Ok(sessions.create_session(&session)?)
    })
    .await?;
    tracing::info!(%who, "console sign-in");
    let mut response = Redirect::to("/console").into_response();
    let session_cookie = set_cookie(&console, &headers, SESSION_COOKIE, &id, lifetime);
    let spent = set_cookie(&console, &headers, SIGN_IN_COOKIE, "", 0);
    let out = response.headers_mut();
    out.append(header::SET_COOKIE, session_cookie);
    out.append(header::SET_COOKIE, spent);
    Ok(response)
}

/// `POST /console/sign-out`: the session ends in the store (for every instance) and the
/// cookie is cleared.
pub(super) async fn sign_out(
    State(console): State<ConsoleRef>,
    headers: HeaderMap,
    Protected {
        signed,
        form: CsrfOnly {},
    }: Protected<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    let hash = signed.session.id_sha256.clone();
    let store = console.clone();
    blocking(move || Ok(sessions(&store)?.delete_session(&hash)?)).await?;
    let mut response = Redirect::to("/console/sign-in").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&console, &headers, SESSION_COOKIE, "", 0),
    );
    Ok(response)
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
pub(crate) struct CsrfOnly {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::testing::{harness, ADMIN};
    use axum::http::StatusCode;

    #[tokio::test]
    async fn pages_need_a_session() {
        let h = harness();
        let reply = h.get("/console", None).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER);
        assert_eq!(reply.location(), Some("/console/sign-in"));
        let reply = h.get("/console", Some("canon_session=forged")).await;
        assert_eq!(reply.location(), Some("/console/sign-in"));
    }

    #[tokio::test]
    async fn sign_in_sets_a_strict_http_only_cookie_and_sign_out_ends_it() {
        let h = harness();
        let form = h.get("/console/sign-in", None).await;
        assert_eq!(form.status, StatusCode::OK);
        assert!(form.body.contains("Admin token"));
        let set = form
            .headers
            .get(header::SET_COOKIE)
            .unwrap()
            .to_str()
            .unwrap();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict"),
            "{set}"
        );
        assert!(!set.contains("Secure"));

        let (session, csrf) = h.sign_in().await;
        let page = h.get("/console", Some(&session)).await;
        assert!(page.body.contains("acme") && page.body.contains("globex"));

        // Sign-out without the token is refused and the session lives on.
        let refused = h.post_form("/console/sign-out", Some(&session), &[]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert!(refused.body.contains("CSRF"));
        assert_eq!(
            h.get("/console", Some(&session)).await.status,
            StatusCode::OK
        );

        let out = h
            .post_form("/console/sign-out", Some(&session), &[("csrf", &csrf)])
            .await;
        assert_eq!(out.location(), Some("/console/sign-in"));
        assert!(out.cookies().contains(&"canon_session=".to_string()));
        // The old cookie names no session any more.
        assert_eq!(
            h.get("/console", Some(&session)).await.location(),
            Some("/console/sign-in")
        );
    }

    #[tokio::test]
    async fn behind_a_tls_proxy_the_cookies_are_secure() {
        let h = harness();
        let reply = h
            .send(
                axum::http::Request::get("/console/sign-in")
                    .header("x-forwarded-proto", "https")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await;
        let set = reply
            .headers
            .get(header::SET_COOKIE)
            .unwrap()
            .to_str()
            .unwrap();
        assert!(set.contains("; Secure"), "{set}");
    }

    #[tokio::test]
    async fn a_wrong_token_or_a_forged_form_signs_no_one_in() {
        let h = harness();
        let form = h.get("/console/sign-in", None).await;
        let pre = form.cookies().into_iter().next().unwrap();
        let token = form.input("token").unwrap();
        let wrong = h
            .post_form(
                "/console/sign-in",
                Some(&pre),
                &[("token", &token), ("admin_token", "guess")],
            )
            .await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert!(wrong.body.contains("That is not the admin token."));
        assert!(!wrong
            .cookies()
            .iter()
            .any(|c| c.starts_with("canon_session")));
        // Another site's form has no sign-in cookie to match.
        let forged = h
            .post_form(
                "/console/sign-in",
                None,
                &[("token", &token), ("admin_token", ADMIN)],
            )
            .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        assert!(!forged
            .cookies()
            .iter()
            .any(|c| c.starts_with("canon_session")));
    }

    #[tokio::test]
    async fn an_expired_session_is_gone() {
        let h = harness();
        let (session, _) = h.sign_in().await;
        let id = session.trim_start_matches("canon_session=");
        let sessions = h.state.store.sessions().unwrap();
        let stored = sessions
            .session(&token_hash(id), unix_now())
            .unwrap()
            .unwrap();
        assert!(stored.expires - stored.created == 8 * 60 * 60);
        assert!(sessions
            .session(&token_hash(id), stored.expires)
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn htmx_requests_are_sent_to_sign_in_whole() {
        let h = harness();
        let reply = h
            .send(
                axum::http::Request::get("/console")
                    .header("hx-request", "true")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(
            reply.headers.get("hx-redirect").unwrap(),
            "/console/sign-in"
        );
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; canon_session=abc; b=2"),
        );
        assert_eq!(cookie(&headers, "canon_session"), Some("abc"));
        assert_eq!(cookie(&headers, "canon"), None);
    }
}
