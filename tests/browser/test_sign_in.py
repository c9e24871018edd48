"""Sign-in, the customers page, sign-out: in a real browser against the real binary."""

import re

from conftest import ADMIN_TOKEN, shot, sign_in


def test_a_wrong_token_is_refused_clearly(page, canon):
    page.goto(f"{canon.base}/console")
    # Not signed in: sent to the form.
    assert page.url.endswith("/console/sign-in")
    page.fill("#admin_token", "not-the-token")
    page.click("button[type=submit]")
    assert page.locator(".alert.error").inner_text() == "That is not the admin token."
    shot(page, "01-sign-in-refused")


def test_sign_in_lists_customers_then_sign_out(page, canon):
    page.goto(f"{canon.base}/console/sign-in")
    shot(page, "00-sign-in")
    sign_in(page, canon)
    rows = page.locator("table.grid tbody tr")
    assert rows.count() == 2
    acme = rows.filter(has_text="acme")
    cells = acme.locator("td").all_inner_texts()
    assert cells[0] == "acme"
    assert cells[1] == "60"
    assert re.fullmatch(r"\d+\.\d%", cells[2])
    assert "UTC" in cells[3]
    shot(page, "02-customers")
    cookies = page.context.cookies()
    session = next(c for c in cookies if c["name"] == "canon_session")
    assert session["httpOnly"] and session["sameSite"] == "Strict"

    page.click("text=Sign out")
    page.wait_for_url(re.compile(r".*/console/sign-in$"))
    page.goto(f"{canon.base}/console")
    assert page.url.endswith("/console/sign-in")
    assert ADMIN_TOKEN not in page.content()
