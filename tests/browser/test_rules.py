"""The rules editor: a draft with an error is flagged at its line; fixed, its tests run and
its preview shows what it does to the customer's stored users."""

import re

from conftest import shot, sign_in


def open_rules(page, canon):
    sign_in(page, canon)
    page.goto(f"{canon.base}/console/customers/acme/rules")
    page.wait_for_selector("#diagnostics [data-diagnostics=ok]")


def type_draft(page, text):
    page.fill("#draft", text)
    page.dispatch_event("#draft", "input")


def test_an_error_is_flagged_at_its_line_then_fixed_tested_and_previewed(page, canon):
    open_rules(page, canon)
    published = page.input_value("#draft")
    assert "acme_fellow" in published
    assert "identical to the published rules" in page.inner_text("#diagnostics")
    shot(page, "06-rules-published")

    # A typo in an input's name, on line 5 of the draft.
    broken = published.replace('rule acme_fellow: t has any ["fellow"]', 'rule acme_fellow: tt has any ["fellow"]')
    assert broken.splitlines()[4].strip().startswith("rule acme_fellow: tt")
    type_draft(page, broken)
    page.wait_for_selector("#diagnostics [data-diagnostics=errors]")
    problem = page.locator("#diagnostics .problem.error").first
    assert "line 5, column" in problem.inner_text()
    assert "`tt`" in problem.locator(".message").inner_text()
    # The gutter marks line 5.
    assert page.locator(".gutter span.error").inner_text() == "5"
    shot(page, "07-rules-error")

    # Clicking the diagnostic puts the cursor on line 5.
    problem.locator(".goto").click()
    caret = page.evaluate("document.getElementById('draft').selectionStart")
    assert broken[:caret].count("\n") == 4

    # Fixed, and changed: the customer's "Staff" engineers become Managers.
    draft = published.replace('["fellow"] -> Director', '["fellow"] -> Director\n  rule acme_staff: t has any ["staff"] -> Manager')
    type_draft(page, draft)
    page.wait_for_selector("#diagnostics [data-diagnostics=ok]")
    assert "draft version" in page.inner_text("#diagnostics")
    assert page.locator(".gutter span.error").count() == 0

    page.click("text=Run the file's tests")
    page.wait_for_selector("#results h2:has-text('Tests')")
    assert "1 passed, 0 failed" in page.inner_text("#results h2")

    page.click("button:has-text('Preview on')")
    page.wait_for_selector("#preview .summary")
    summary = page.inner_text("#preview .summary")
    assert re.search(r"\d+ of 60 users change \(management_level \d+\)", summary), summary
    transitions = page.locator(".transitions table tbody tr").all_inner_texts()
    assert any("→\tManager" in t for t in transitions), transitions
    changed = page.locator("table.changed tbody tr")
    assert changed.count() >= 1
    assert "acme_staff" in changed.first.inner_text()
    shot(page, "08-rules-preview")


def test_the_draft_survives_a_reload_and_can_be_discarded(page, canon):
    open_rules(page, canon)
    published = page.input_value("#draft")
    type_draft(page, published + "\n# a note\n")
    page.reload()
    page.wait_for_selector("#diagnostics [data-diagnostics]")
    assert page.input_value("#draft").endswith("# a note\n")
    page.click("#discard-draft")
    assert page.input_value("#draft") == published
