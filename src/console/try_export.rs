//! Try an export: upload a CSV export of the customer's (an HRIS or Okta export) and get the
//! dry run's coverage report of the draft or the published rules over it, read as
//! `canon dry-run` reads it (bad rows by row and line).
//!
//! The upload is a multipart form, bounded ([`super::ConsoleOptions::max_upload_bytes`]:
//! beyond, 413 with what to do instead), held in memory for the request only: nothing of it
//! is stored, cached or logged (the activity log gets the counts).

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::activity;
use super::analysis;
use super::auth::{blocking, Signed};
use super::customer::{coverage_view, open, page_context};
use super::live::customer;
use super::page::{render, short_version, ConsoleError};
use super::rules::{diagnostics_view, MAX_DRAFT};
use super::ConsoleRef;
use crate::store::TenantId;

/// `GET /console/customers/{tenant}/try`: the upload form.
pub(super) async fn page(
    State(console): State<ConsoleRef>,
    signed: Signed,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let (customer, summary, ()) = open(&console, id, |_, _| Ok(())).await?;
    render(
        "try.html",
        page_context(
            &signed,
            "try",
            (&customer, &summary),
            json!({
                "published_version": customer.program.version(),
                "limit_mib": console.options.max_upload_bytes / (1024 * 1024),
            }),
        ),
    )
}

/// What the form sent.
#[derive(Default)]
struct Upload {
    csrf: String,
    use_draft: bool,
    draft: String,
    file_name: String,
    bytes: Bytes,
}

/// A field's bytes, at most `limit` (counted as they arrive: a larger field is refused
/// before it is all read).
async fn field_bytes(
    mut field: axum::extract::multipart::Field<'_>,
    limit: usize,
    too_large: impl Fn() -> ConsoleError,
) -> Result<Vec<u8>, ConsoleError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
        if bytes.len() + chunk.len() > limit {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn unreadable(error: axum::extract::multipart::MultipartError) -> ConsoleError {
    ConsoleError::BadRequest(format!("The form could not be read: {error}"))
}

async fn text_field(
    field: axum::extract::multipart::Field<'_>,
    limit: usize,
    what: &str,
) -> Result<String, ConsoleError> {
    let bytes = field_bytes(field, limit, || {
        ConsoleError::BadRequest(format!("The {what} is larger than {} KiB.", limit / 1024))
    })
    .await?;
    String::from_utf8(bytes)
        .map_err(|_| ConsoleError::BadRequest(format!("The {what} is not UTF-8 text.")))
}

fn forged() -> ConsoleError {
    ConsoleError::Forbidden(
        "This form is stale or did not come from the console (its CSRF token does not match). Reload the page and try again.".into(),
    )
}

/// Reads the form. The CSRF token comes first (the form puts it first): a form without the
/// session's is refused before its export is read.
async fn read_upload(
    mut form: Multipart,
    limit: usize,
    csrf: &str,
) -> Result<Upload, ConsoleError> {
    let mut upload = Upload::default();
    let genuine =
        |upload: &Upload| -> bool { upload.csrf.as_bytes().ct_eq(csrf.as_bytes()).into() };
    while let Some(field) = form.next_field().await.map_err(unreadable)? {
        match field.name().unwrap_or_default() {
            "csrf" => upload.csrf = text_field(field, 256, "CSRF token").await?,
            "rules" => upload.use_draft = text_field(field, 32, "rules choice").await? == "draft",
            "draft" => upload.draft = text_field(field, MAX_DRAFT, "draft").await?,
            "export" => {
                if !genuine(&upload) {
                    return Err(forged());
                }
                upload.file_name = field
                    .file_name()
                    .map(|n| n.rsplit(['/', '\\']).next().unwrap_or(n).to_string())
                    .unwrap_or_default();
                let bytes = field_bytes(field, limit, || {
                    ConsoleError::TooLarge(format!(
                        "The export is larger than {} MiB, the most the console reads. Try a sample of it here, or run `canon dry-run --rules RULES EXPORT.csv` on the whole file.",
                        limit / (1024 * 1024)
                    ))
                })
                .await?;
                upload.bytes = Bytes::from(bytes);
            }
            // Nothing else is read.
            _ => {}
        }
    }
    if !genuine(&upload) {
        return Err(forged());
    }
    Ok(upload)
}

/// `POST /console/customers/{tenant}/try` (multipart: `csrf`, `rules` = `draft` or
/// `published`, `draft`, `export`): the dry run's coverage report over the export.
pub(super) async fn run(
    State(console): State<ConsoleRef>,
    signed: Signed,
    Path(id): Path<String>,
    form: Multipart,
) -> Result<Response, ConsoleError> {
    let started = Instant::now();
    let tenant = TenantId::parse(&id)
        .map_err(|_| ConsoleError::NotFound(format!("There is no customer `{id}`.")))?;
    let upload = read_upload(form, console.options.max_upload_bytes, signed.csrf()).await;
    let refused = |console: &ConsoleRef, error: ConsoleError| {
        let status = match &error {
            ConsoleError::TooLarge(_) => 413,
            _ => 400,
        };
        activity::record(
            console,
            &tenant,
            format!("export refused for {}", signed.who()),
            status,
            Some(error.to_string()),
            started,
        );
        error
    };
    let upload = match upload {
        Ok(upload) => upload,
        Err(error @ ConsoleError::Forbidden(_)) => return Err(error),
        Err(error) => return Err(refused(&console, error)),
    };
    if upload.bytes.is_empty() {
        return Err(refused(
            &console,
            ConsoleError::BadRequest(
                "Choose a CSV export to upload: the file was empty or missing.".into(),
            ),
        ));
    }
    let first = upload.bytes.iter().find(|b| !b.is_ascii_whitespace());
    if matches!(first, Some(b'{') | Some(b'[')) {
        return Err(refused(
            &console,
            ConsoleError::BadRequest("This file looks like JSON. Upload a CSV export here; SCIM JSON goes through `canon dry-run`.".into()),
        ));
    }
    let work = console.clone();
    let size = upload.bytes.len();
    let outcome = blocking(move || {
        let customer = customer(&work.app, &work.programs, &id)?;
        let summary = work.app.store.user_summary(&customer.tenant.id)?;
        let drafted =
            upload.use_draft && !upload.draft.is_empty() && upload.draft != customer.source.text;
        let (program, which) = if drafted {
            match customer.source.compile(&upload.draft) {
                Ok(program) => (std::sync::Arc::new(program), "draft"),
                Err(error) => {
                    let check = diagnostics_view(&error, &customer.source);
                    return Ok((customer, summary, Err(check)));
                }
            }
        } else {
            (customer.program.clone(), "published")
        };
        let name = if upload.file_name.is_empty() {
            "export.csv".to_string()
        } else {
            upload.file_name.clone()
        };
        let run = analysis::coverage_of_export(&program, &name, upload.bytes)
            .map_err(|e| ConsoleError::BadRequest(format!("The export cannot be read: {e}")))?;
        Ok((customer, summary, Ok((run, which, name))))
    })
    .await;
    let (customer, summary, result) = match outcome {
        Ok(outcome) => outcome,
        Err(error) => return Err(refused(&console, error)),
    };
    // Every outcome from here is recorded, then shown on the report page: its common
    // context and what the outcome adds.
    let finish = |action: String, status: StatusCode, shown: serde_json::Value| {
        activity::record(&console, &tenant, action, status.as_u16(), None, started);
        let context = page_context(&signed, "try", (&customer, &summary), shown);
        let mut response = render("try_report.html", context)?;
        *response.status_mut() = status;
        Ok(response)
    };
    let (run, which, name) = match result {
        Ok(done) => done,
        Err(check) => {
            return finish(
                format!(
                    "export tried by {}: the draft does not compile",
                    signed.who()
                ),
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "check": check }),
            );
        }
    };
    let header_view = json!({ "errors": run.header.errors, "warnings": run.header.warnings });
    let size_kib = format!("{:.1}", size as f64 / 1024.0);
    let Some(report) = run.report else {
        // As `canon dry-run`: an error in the header stops the run before any row is mapped.
        return finish(
            format!(
                "export tried by {}: refused, {} header error(s)",
                signed.who(),
                run.header.errors.len()
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "header": header_view, "which": which, "file": name, "size_kib": size_kib }),
        );
    };
    let mut view = coverage_view(&report);
    view["noun"] = json!("rows");
    view["organisation"] = json!(report
        .organisation
        .as_ref()
        .map(|org| org.to_text().trim().to_string()));
    finish(
        format!(
            "export tried by {} with the {which} rules {}: {} rows, {} complete, {} bad",
            signed.who(),
            short_version(&report.rules_version),
            report.rows_out,
            report.rows_complete,
            report.rows_bad
        ),
        StatusCode::OK,
        json!({
            "report": view,
            "header": header_view,
            "which": which,
            "file": name,
            "size_kib": size_kib,
        }),
    )
}

#[cfg(test)]
mod tests {
    use crate::console::activity::tests::console_actions;
    use crate::console::testing::{acme_rules, harness, registry_harness};
    use crate::console::ConsoleOptions;
    use axum::http::StatusCode;

    const TRY: &str = "/console/customers/acme/try";

    /// An export with Okta's columns (as `canon gen-users` writes them): `rows` people with
    /// everyday titles (one in ten a Staff engineer), then the `extra` rows.
    fn export(rows: usize, extra: &[u8]) -> Vec<u8> {
        const TITLES: [&str; 10] = [
            "Software Engineer",
            "Account Executive",
            "VP Sales",
            "Director of Finance",
            "Staff Software Engineer",
            "Recruiter",
            "Product Manager",
            "Data Analyst",
            "Engineering Manager",
            "Support Specialist",
        ];
        let mut out = b"id,status,created,lastUpdated,login,email,secondEmail,firstName,lastName,middleName,displayName,nickName,title,department,division,organization,costCenter,userType,employeeNumber,managerId,manager,managerEmail,isManager,managementLevel,streetAddress,city,state,zipCode,countryCode,preferredLanguage,locale,timezone,mobilePhone\n".to_vec();
        for i in 0..rows {
            out.extend(row(
                &format!("person{i}"),
                TITLES[i % TITLES.len()].as_bytes(),
            ));
        }
        out.extend_from_slice(extra);
        out
    }

    /// A row of the generated export's 33 columns with this title (and a bad byte, if asked).
    fn row(login: &str, title: &[u8]) -> Vec<u8> {
        let mut out = format!("00u{login},ACTIVE,,,{login}@acme.com,{login}@acme.com,,Sam,Doe,,,,")
            .into_bytes();
        out.extend_from_slice(title);
        out.extend_from_slice(b",,,,,,,,,,,,,,,,,,,,\n");
        out
    }

    async fn try_csv(
        h: &crate::console::testing::Harness,
        file: &str,
        csv: &str,
    ) -> crate::console::testing::Reply {
        let (session, csrf) = h.sign_in().await;
        h.post_multipart(
            TRY,
            Some(&session),
            &[("csrf", &csrf), ("rules", "published"), ("draft", "")],
            Some(("export", file, csv.as_bytes())),
        )
        .await
    }

    /// As `canon dry-run`: two columns of a name the rules read stop the run.
    #[tokio::test]
    async fn a_header_naming_a_read_column_twice_stops_the_run() {
        let h = harness();
        let reply = try_csv(
            &h,
            "dup.csv",
            "login,email,firstName,lastName,title,Title
ana,ana@acme.com,Ana,Doe,VP,CEO
",
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reply.body
        );
        let body = &reply.body;
        assert!(body.contains("data-refused=\"header\""), "{body}");
        assert!(
            body.contains("columns 5 and 6 are all named `title`, and the rules read `title`"),
            "{body}"
        );
        assert!(!body.contains("rows mapped"), "{body}");
    }

    /// As `canon dry-run`: an input that reads none of the columns is said, with the column
    /// meant; the run goes on, and the columns no rule reads are listed.
    #[tokio::test]
    async fn a_header_missing_a_column_the_rules_read_is_warned_with_a_suggestion() {
        let h = harness();
        let reply = try_csv(
            &h,
            "typo.csv",
            "login,email,firstName,lastName,titel,shoeSize
ana,ana@acme.com,Ana,Doe,VP Sales,42
",
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let body = &reply.body;
        assert!(body.contains("data-header=\"warnings\""), "{body}");
        assert!(body.contains("reads none of `typo.csv`"), "{body}");
        assert!(body.contains("did you mean `titel`?"), "{body}");
        assert!(body.contains("<b>1</b> rows mapped"), "{body}");
        assert!(body.contains("Columns no rule reads"), "{body}");
        assert!(body.contains("<code>shoeSize</code>"), "{body}");
    }

    /// The organisation section of `canon dry-run`: who names whom, and the manager no
    /// person of the export is.
    #[tokio::test]
    async fn an_export_gets_the_organisation_section() {
        let h = harness();
        let reply = try_csv(
            &h,
            "org.csv",
            "login,email,firstName,lastName,title,managerEmail
\
             ana,ana@acme.com,Ana,Doe,VP Sales,\n\
             bo,bo@acme.com,Bo,Doe,Account Executive,ana@acme.com\n\
             cy,cy@acme.com,Cy,Doe,Account Executive,ANA@acme.com\n\
             dee,dee@acme.com,Dee,Doe,Recruiter,ghost@acme.com\n",
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let body = &reply.body;
        let section = &body[body.find("data-section=\"organisation\"").expect(body)..];
        let section = &section[..section.find("</pre>").unwrap()];
        assert!(
            section.contains("4 people; 3 name a manager, 1 do not"),
            "{section}"
        );
        assert!(
            section.contains("match no person: 1 distinct, named in 1 rows"),
            "{section}"
        );
        assert!(section.contains("ghost@acme.com"), "{section}");
        // Ana is a people manager within the export.
        let manager = &body[body.find("id=\"field-people_manager\"").unwrap()..];
        assert!(manager.contains("<tr><td>yes</td><td class=\"num\">1</td>"));
    }

    #[tokio::test]
    async fn the_page_offers_the_draft_kept_in_this_browser_and_the_published_rules() {
        let h = harness();
        let (session, _) = h.sign_in().await;
        let page = h.get(TRY, Some(&session)).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("enctype=\"multipart/form-data\""));
        assert!(page.body.contains("name=\"csrf\""));
        assert!(page.body.contains("At most 64 MiB"));
        let signed_out = h.get(TRY, None).await;
        assert_eq!(signed_out.location(), Some("/console/sign-in"));
    }

    #[tokio::test]
    async fn an_export_gets_the_dry_runs_coverage_with_bad_rows_by_row_and_line() {
        let h = registry_harness();
        let (session, csrf) = h.sign_in_as("Robin").await;
        let mut extra = row("staff1", b"Staff Engineer");
        extra.extend(row("broken", b"Eng\xffineer"));
        extra.extend(row("fellow1", b"Research Fellow"));
        let bytes = export(20, &extra);
        let published = h
            .post_multipart(
                TRY,
                Some(&session),
                &[("csrf", &csrf), ("rules", "published"), ("draft", "")],
                Some(("export", "C:\\exports\\okta.csv", &bytes)),
            )
            .await;
        assert_eq!(published.status, StatusCode::OK, "{}", published.body);
        let body = &published.body;
        assert!(body.contains("Dry run of <code>okta.csv</code>"), "{body}");
        assert!(body.contains("with the published rules"));
        assert!(body.contains("<b>22</b> rows mapped"), "{body}");
        // The bad row, placed as the CLI places it: the 22nd record, on line 23.
        assert!(body.contains("1 rows could not be read"), "{body}");
        assert!(body.contains("okta.csv: row 22 (line 23)"), "{body}");
        let level = &body[body.find("id=\"field-management_level\"").unwrap()..];
        assert!(level.contains("<code>acme_fellow</code>"));
        assert!(!level.contains("acme_staff"));

        // The same export with a draft that makes Staff titles Managers.
        let draft = acme_rules().replace(
            "-> Director\n",
            "-> Director\n  rule acme_staff: t has any [\"staff\"] -> Manager\n",
        );
        let drafted = h
            .post_multipart(
                TRY,
                Some(&session),
                &[("csrf", &csrf), ("rules", "draft"), ("draft", &draft)],
                Some(("export", "okta.csv", &bytes)),
            )
            .await;
        assert_eq!(drafted.status, StatusCode::OK, "{}", drafted.body);
        assert!(drafted.body.contains("with the draft rules"));
        let level = &drafted.body[drafted.body.find("id=\"field-management_level\"").unwrap()..];
        let staff = &level[level.find("<code>acme_staff</code>").unwrap()..];
        let staff = &staff[..staff.find("</tr>").unwrap()];
        // Ours and two of the 20 people before it are Staff engineers.
        assert!(staff.contains("<td class=\"num\">3</td>"), "{staff}");

        // Both runs are in the activity log, with counts and no data.
        let actions = console_actions(&h.state, "acme", 2);
        assert!(
            actions[0]
                .path
                .starts_with("export tried by Robin with the published rules"),
            "{:?}",
            actions[0]
        );
        assert!(actions[0].path.contains(": 22 rows, "), "{:?}", actions[0]);
        assert!(actions[0].path.ends_with(", 1 bad"), "{:?}", actions[0]);
        assert!(actions[1].path.contains("with the draft rules"));
        assert!(actions
            .iter()
            .all(|a| !a.path.contains("Staff") && a.body.is_none()));
    }

    #[tokio::test]
    async fn a_draft_with_errors_is_not_run_and_its_diagnostics_are_shown() {
        let h = harness();
        let (session, csrf) = h.sign_in().await;
        let broken = acme_rules().replace(": t has any", ": ful has any");
        let reply = h
            .post_multipart(
                TRY,
                Some(&session),
                &[("csrf", &csrf), ("rules", "draft"), ("draft", &broken)],
                Some(("export", "okta.csv", &export(3, b""))),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(reply.body.contains("Your draft does not compile"));
        assert!(
            reply.body.contains("data-line=\"4\" data-column=\"21\""),
            "{}",
            reply.body
        );
    }

    #[tokio::test]
    async fn uploads_are_bounded_checked_and_need_the_csrf_token() {
        let h = harness().with_options(ConsoleOptions {
            max_upload_bytes: 1024 * 1024,
            ..ConsoleOptions::default()
        });
        let (session, csrf) = h.sign_in().await;
        let big = export(16_000, b"");
        assert!(big.len() > 1024 * 1024);
        let reply = h
            .post_multipart(
                TRY,
                Some(&session),
                &[("csrf", &csrf)],
                Some(("export", "big.csv", &big)),
            )
            .await;
        assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(
            reply.body.contains("The export is larger than 1 MiB"),
            "{}",
            reply.body
        );
        assert!(reply.body.contains("canon dry-run"));

        let small = export(2, b"");
        let forged = h
            .post_multipart(
                TRY,
                Some(&session),
                &[("csrf", "forged")],
                Some(("export", "a.csv", &small)),
            )
            .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        let without = h
            .post_multipart(TRY, Some(&session), &[], Some(("export", "a.csv", &small)))
            .await;
        assert_eq!(without.status, StatusCode::FORBIDDEN);
        let signed_out = h
            .post_multipart(
                TRY,
                None,
                &[("csrf", &csrf)],
                Some(("export", "a.csv", &small)),
            )
            .await;
        assert_eq!(signed_out.location(), Some("/console/sign-in"));

        let json = h
            .post_multipart(
                TRY,
                Some(&session),
                &[("csrf", &csrf)],
                Some(("export", "users.json", b"[{\"userName\": \"a\"}]")),
            )
            .await;
        assert_eq!(json.status, StatusCode::BAD_REQUEST);
        assert!(json.body.contains("looks like JSON"));
        let empty = h
            .post_multipart(
                TRY,
                Some(&session),
                &[("csrf", &csrf)],
                Some(("export", "e.csv", b"")),
            )
            .await;
        assert_eq!(empty.status, StatusCode::BAD_REQUEST);
        assert!(empty.body.contains("Choose a CSV export"));
    }
}
