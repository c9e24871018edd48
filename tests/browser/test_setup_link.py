"""The setup page a customer's IdP administrator opens (issue 17): in a real browser against
the real binary. The link is minted by `canon tenant setup-link`, the token revealed once, the
"Test your connection" section follows the IdP's first requests live."""

import json
import re
import subprocess
import urllib.request

from conftest import BIN, shot


def setup_link(canon, tenant):
    out = subprocess.run(
        [BIN, "tenant", "setup-link", tenant, "--expires", "2h", "--config", canon.dir / "canon.yaml"],
        check=True,
        capture_output=True,
    ).stdout.decode()
    return re.search(r"^url: (\S+)$", out, re.M).group(1)


def scim_with(canon, tenant, token, method, path, body=None):
    request = urllib.request.Request(
        f"{canon.base}/t/{tenant}/scim/v2{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_the_setup_page_reveals_its_token_once_and_follows_the_connection(page, canon):
    url = setup_link(canon, "globex")
    page.goto(url)
    assert page.locator("#base-url").inner_text() == f"{canon.base}/t/globex/scim/v2"
    assert page.locator("#token").count() == 0
    # The attribute table comes from globex's rules (the default pack).
    # One row per field, the first attribute shown, the fallbacks folded away.
    attributes = page.locator("#attributes tbody tr")
    assert 5 <= attributes.count() <= page.locator("#fields tbody tr").count()
    first_name = page.locator("#attributes tbody tr", has_text="first_name")
    assert "name.givenName" in first_name.inner_text()
    assert "required" in first_name.inner_text()
    def tier(field):
        cell = page.locator("#attributes tbody tr td:first-child", has_text=field)
        return cell.filter(has=page.get_by_text(field, exact=True)).locator(".tag").inner_text()

    assert tier("first_name") == "required"
    assert tier("job_title") == "recommended"
    assert tier("locale") == "optional"
    level_row = page.locator("#attributes tbody tr", has_text="management_level")
    assert level_row.locator("details").get_attribute("open") is None
    # Extension attributes by the names an Okta admin types, never by a rule-file alias.
    canon_urn = "urn:ietf:params:scim:schemas:extension:canon:2.0:User"
    assert f"{canon_urn}:managementLevel" in level_row.inner_text()
    okta = level_row.locator(".okta").inner_text()
    assert "External name managementLevel" in okta and f"External namespace {canon_urn}" in okta
    assert "canon:managementLevel" not in page.locator("#attributes").inner_text().replace(
        canon_urn, ""
    )
    levels = page.locator("#fields tr", has_text="management_level").inner_text()
    for level in ["Student", "Intern", "Individual Contributor", "Sr. Director", "Executive"]:
        assert level in levels
    assert "yes, no" in page.locator("#fields tr", has_text="people_manager").inner_text()
    # The harness seeded globex with 12 users over SCIM: the page has seen them already.
    page.locator("#connection-summary").get_by_text("Connected").wait_for(timeout=10_000)
    assert "12 requests, 0 failed" in page.locator("#connection-summary").inner_text()
    shot(page, "10-setup-before-reveal")
    # A row's fallbacks open on a click.
    level_row.locator("summary").click()
    assert level_row.locator("details").get_attribute("open") is not None
    assert level_row.get_by_text("title", exact=True).first.is_visible()
    shot(page, "10b-setup-attribute-fallbacks-open")

    page.click("#reveal")
    token = page.locator("#token").inner_text()
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    assert "shown only once" in page.content()

    # Okta's "Test API Credentials" (a list), then a create that fails and one that works.
    assert scim_with(canon, "globex", token, "GET", "/Users?startIndex=1&count=1") == 200
    bad = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "name": {"givenName": "Ana"}}
    assert scim_with(canon, "globex", token, "POST", "/Users", bad) == 400
    summary = page.locator("#connection-summary")
    summary.get_by_text("last request failed").wait_for(timeout=10_000)
    assert "userName" in page.locator("#activity").inner_text()
    shot(page, "11-setup-after-reveal-and-a-failed-request")

    # The link is spent: opening it again is a 410 without the token.
    response = page.goto(url)
    assert response.status == 410
    assert "opened already" in page.locator("#gone").inner_text()
    assert token not in page.content()
    shot(page, "12-setup-link-spent")
