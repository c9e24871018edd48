"""A customer's coverage, its users (paginated, searchable) and a user's explain."""

import re

from conftest import shot, sign_in


def test_customer_coverage_users_and_a_users_explain(page, canon):
    sign_in(page, canon)
    page.click("text=acme")
    page.wait_for_url(re.compile(r".*/console/customers/acme$"))
    # The coverage arrives as a fragment, computed over the 60 stored users.
    page.wait_for_selector("#coverage .summary")
    summary = page.locator("#coverage .summary").inner_text()
    assert "60 users mapped" in summary
    level = page.locator("#field-management_level")
    assert level.locator("h3").inner_text() == "management_level"
    # Every rule of the field is listed with its hits (the customer's own rule catches the
    # one Fellow of the generated users), and the rules that never fire are marked.
    fellow = level.locator("tr", has_text="acme_fellow").locator("td").all_inner_texts()
    assert fellow == ["acme_fellow", "acme.rules:5", "1", "1.7%"]
    never = level.locator("details.never")
    assert "never fire on these users" in never.locator("summary").inner_text()
    never.locator("summary").click()
    assert never.locator("tr.never").count() > 0
    shot(page, "03-customer-coverage")

    page.click("nav.tabs >> text=Users")
    page.wait_for_url(re.compile(r".*/console/customers/acme/users$"))
    rows = page.locator("table.grid tbody tr")
    assert rows.count() == 50
    assert "1–50 of 60" in page.locator(".pager").inner_text()
    shot(page, "04-users")
    page.click("text=Next →")
    assert page.locator("table.grid tbody tr").count() == 10

    # Find one user by userName and open the explain.
    first = canon.scim("acme", "GET", "/Users?count=1")["Resources"][0]
    page.fill("input[name=q]", first["userName"].upper())
    page.click("button:has-text('Find')")
    assert page.locator("table.grid tbody tr").count() == 1
    page.click(f"text={first['userName']}")
    page.wait_for_url(re.compile(r".*/users/" + first["id"] + "$"))
    assert first["userName"] in page.locator("h1").inner_text()
    # The raw body as sent, the profile, and every rule tried for every field.
    assert f'"userName": "{first["userName"]}"' in page.locator("pre.raw").inner_text()
    explain = page.locator("#explain-management_level")
    assert explain.locator("tr.matched").count() == 1
    assert explain.locator("table.trace tr").count() > 1
    shot(page, "05-user-explain")
