"""Try an export: upload a CSV export and get the dry run's coverage report, with the
published rules and with the draft this browser keeps."""

import re
import subprocess

from conftest import BIN, shot, sign_in


def test_an_export_is_dry_run_with_the_published_rules_then_the_draft(page, canon, tmp_path):
    export = tmp_path / "okta-export.csv"
    subprocess.run([BIN, "gen-users", "--rows", "300", "--seed", "11", "--out", export], check=True)
    # One row the reader cannot use (a byte that is not UTF-8), placed by row and line (some
    # generated rows span lines: quoted addresses).
    line = export.read_bytes().count(b"\n") + 1
    with open(export, "ab") as out:
        out.write(b"00ubad,ACTIVE,,,bad@acme.com,bad@acme.com,,B\xffd,Row,,,,Engineer" + b"," * 20 + b"\n")

    sign_in(page, canon)
    page.goto(f"{canon.base}/console/customers/acme/try")
    assert page.locator("#use-draft").is_disabled()
    page.set_input_files("#export", str(export))
    page.click("button:has-text('Run the dry run')")
    page.wait_for_selector("#dry-run")
    heading = page.inner_text("#dry-run h2")
    assert "okta-export.csv" in heading and "published rules" in heading
    assert "300 rows mapped" in page.inner_text("#dry-run .summary")
    bad = page.inner_text("#dry-run .alert.error")
    assert "1 rows could not be read" in bad
    assert f"okta-export.csv: row 301 (line {line}): field 8 is not valid UTF-8" in bad
    shot(page, "30-try-export-report")
    # The dry run's organisation section (the default pack declares `reports_to`).
    org = page.inner_text("[data-section=organisation]")
    assert "organisation (reports_to): 300 people;" in org, org
    assert "deepest chain:" in org, org

    # A draft kept in this browser (as the rules editor keeps it) is offered and run.
    page.goto(f"{canon.base}/console/customers/acme/rules")
    page.wait_for_selector("#diagnostics [data-diagnostics]")
    published = page.input_value("#draft")
    page.fill("#draft", published.replace('["fellow"] -> Director', '["fellow"] -> Director\n  rule acme_staff: t has any ["staff"] -> Manager'))
    page.dispatch_event("#draft", "input")
    page.goto(f"{canon.base}/console/customers/acme/try")
    assert page.locator("#use-draft").is_checked()
    assert re.search(r"Your draft \(kept in this browser, \d+ lines\)", page.inner_text("#try-form"))
    shot(page, "31-try-export-form")
    page.set_input_files("#export", str(export))
    page.click("button:has-text('Run the dry run')")
    page.wait_for_selector("#dry-run")
    assert "draft rules" in page.inner_text("#dry-run h2")
    staff = page.locator("#field-management_level tr", has_text="acme_staff").locator("td").all_inner_texts()
    assert staff[0] == "acme_staff" and int(staff[2]) > 0, staff
