"""The whole tuning loop, as customer success does it: sign in, open a customer, open a user's
explain, edit a draft with an error and see it flagged at its line, fix it, preview, publish,
see the new version served by the SCIM endpoint, roll back and see the old mapping served
again. Runs last on `acme` of the shared server and leaves version 1 live."""

import re

from conftest import shot, sign_in

STAFF_RULE = '["fellow"] -> Director\n  rule acme_staff: t has any ["staff"] -> Manager'


def type_draft(page, text):
    page.fill("#draft", text)
    page.dispatch_event("#draft", "input")


def staff_user(canon):
    """A generated user whose title says Staff and whom the published rules do not make a
    Manager."""
    users = canon.scim("acme", "GET", "/Users?startIndex=1&count=100")["Resources"]
    for user in users:
        if "staff" in (user.get("title") or "").lower():
            if canon.profile("acme", user["id"])["profile"]["management_level"] != "Manager":
                return user
    raise AssertionError("the generated users have no Staff title")


def write_title(canon, user, title):
    """An IdP's write: a PATCH of the user's title, mapped by the rules serving."""
    canon.scim(
        "acme",
        "PATCH",
        f"/Users/{user['id']}",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "title", "value": title}],
        },
    )
    return canon.profile("acme", user["id"])


def test_edit_preview_publish_serve_and_roll_back(page, canon):
    user = staff_user(canon)
    before = canon.profile("acme", user["id"])
    v1 = before["rule_version"]

    # Sign in, named: the history and the activity log say who published.
    sign_in(page, canon, name="Casey CS")
    page.click("table.grid >> text=acme")
    page.wait_for_url(re.compile(r".*/console/customers/acme$"))
    page.wait_for_selector("#coverage .summary")
    assert "Provisioning activity" in page.inner_text("#activity")
    shot(page, "19-flow-customer")

    # The user's explain: the published rules do not make this Staff title a Manager.
    page.goto(f"{canon.base}/console/customers/acme/users/{user['id']}")
    explain = page.locator("#explain-management_level")
    assert "acme_staff" not in explain.inner_text()

    # A draft with an error, flagged at its line; then fixed with a rule for Staff titles.
    page.click("nav.crumbs >> text=acme")
    page.click("nav.tabs >> text=Rules")
    page.wait_for_selector("#diagnostics [data-diagnostics=ok]")
    published = page.input_value("#draft")
    broken = published.replace('["fellow"] -> Director', '["fellow"] -> Director\n  rule acme_staff: t has any ["staff"] -> Manger')
    type_draft(page, broken)
    page.wait_for_selector("#diagnostics [data-diagnostics=errors]")
    line = broken.splitlines().index('  rule acme_staff: t has any ["staff"] -> Manger') + 1
    assert f"line {line}, column" in page.locator("#diagnostics .problem.error").first.inner_text()
    assert page.locator(".gutter span.error").inner_text() == str(line)
    shot(page, "20-flow-draft-error")
    draft = published.replace('["fellow"] -> Director', STAFF_RULE)
    type_draft(page, draft)
    page.wait_for_selector("#diagnostics [data-diagnostics=ok]")

    # Preview over every stored user, then publish it with a note.
    page.click("button:has-text('Preview on')")
    page.wait_for_selector("#preview .summary")
    summary = page.inner_text("#preview .summary")
    assert re.search(r"\d+ of 60 users change", summary), summary
    assert page.locator("#publish-form").is_visible()
    page.fill("#publish-note", "Staff engineers are managers at Acme")
    shot(page, "21-flow-preview-publish")
    page.click("#publish-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/rules\?published=2&recomputed=\d+$"))
    assert "Version 2 is published and live" in page.inner_text("#flash")
    live = page.locator("#history tr.live")
    assert "v2" in live.inner_text()
    assert "Casey CS (console)" in live.inner_text()
    assert "Staff engineers are managers at Acme" in live.inner_text()
    assert "acme_staff" in page.input_value("#draft")
    page.wait_for_selector("#diagnostics [data-diagnostics=ok]")
    shot(page, "22-flow-published-history")

    # The SCIM service serves version 2: the stored profile was recomputed, and a new write
    # from the IdP is mapped by the new rules.
    after = canon.profile("acme", user["id"])
    assert after["profile"]["management_level"] == "Manager"
    assert after["rule_version"] != v1
    v2 = after["rule_version"]
    written = write_title(canon, user, "Staff Data Engineer")
    assert written["profile"]["management_level"] == "Manager"
    assert written["rules"]["management_level"]["rule"] == "acme_staff"
    assert written["rule_version"] == v2

    # The customer page lists the console's actions in the activity log.
    page.goto(f"{canon.base}/console/customers/acme")
    page.eval_on_selector("#activity details.latest", "d => { d.open = true; }")
    latest = page.inner_text("#activity .activity-latest")
    assert "publish v2" in latest and "by Casey CS" in latest
    shot(page, "23-flow-customer-activity")

    # Roll back: review version 1 (what making it live again does), then confirm.
    page.goto(f"{canon.base}/console/customers/acme/rules")
    page.click("#history tr[data-version='1'] >> text=v1")
    page.wait_for_url(re.compile(r".*/rules/versions/1$"))
    assert "Rolling back to v1" in page.inner_text("#preview h2")
    shot(page, "24-flow-rollback-review")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#rollback")
    page.wait_for_url(re.compile(r".*/rules\?rolled_back=1&recomputed=\d+$"))
    assert "Version 1 is live again" in page.inner_text("#flash")
    assert "v1" in page.locator("#history tr.live").inner_text()
    page.wait_for_selector("#diagnostics [data-diagnostics=ok]")
    shot(page, "25-flow-rolled-back")

    # The old mapping is served again: recomputed, and for a new write.
    assert canon.profile("acme", user["id"])["rule_version"] == v1
    written = write_title(canon, user, user["title"])
    assert written["rule_version"] == v1
    assert written["profile"]["management_level"] == before["profile"]["management_level"]
    assert "acme_staff" not in str(written["rules"])
