"""The browser tests' harness: the real `canon serve` binary on a temporary config and SQLite
database, seeded over SCIM with generated users, and Debian's Chromium driven by Playwright.

Environment:
  CANON_BIN        the binary to run (default: target/debug/canon)
  CANON_ARTIFACTS  where screenshots go (default: target/browser-artifacts)
  CHROMIUM         the browser (default: /usr/bin/chromium)
"""

import hashlib
import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest
from playwright.sync_api import sync_playwright

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(os.environ.get("CANON_BIN", ROOT / "target" / "debug" / "canon"))
ARTIFACTS = pathlib.Path(os.environ.get("CANON_ARTIFACTS", ROOT / "target" / "browser-artifacts"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

ADMIN_TOKEN = "browser-test-admin-token"
# Chromium's background connections are refused on a closed network; keep it quiet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--font-render-hinting=none",
]

# A customer's own rules on top of the default pack: what the console edits.
ACME_RULES = """extends "{pack}"

# Acme's research track: a Fellow is Director-level.
insert before management_level.explicit {{
  rule acme_fellow: t has any ["fellow"] -> Director
}}

test "a fellow is a director" {{
  title = "Research Fellow"
  expect management_level = Director
}}
"""


def sha256(text):
    return hashlib.sha256(text.encode()).hexdigest()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Canon:
    """A running `canon serve` and what the tests need to reach it."""

    def __init__(self, base, dir, tokens, process):
        self.base = base
        self.dir = dir
        self.tokens = tokens
        self.process = process

    def scim(self, tenant, method, path, body=None):
        request = urllib.request.Request(
            f"{self.base}/t/{tenant}/scim/v2{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {self.tokens[tenant]}",
                "Content-Type": "application/scim+json",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")


    def profile(self, tenant, id):
        """The stored canonical profile of a user (the admin endpoint)."""
        request = urllib.request.Request(
            f"{self.base}/t/{tenant}/profiles/{id}",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())


def generated_users(rows, seed):
    out = subprocess.run(
        [BIN, "gen-users", "--rows", str(rows), "--seed", str(seed), "--format", "scim-jsonl"],
        check=True,
        capture_output=True,
    ).stdout.decode()
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture(scope="session")
def canon():
    assert BIN.exists(), f"{BIN} is missing: run `cargo build` first"
    dir = pathlib.Path(tempfile.mkdtemp(prefix="canon-browser-"))
    # The default pack and its word tables beside the customers' files, so the rules name
    # it as a customer's file would (`extends "default.rules"`), with no machine path.
    for name in ["default.rules", "spellings.csv", "ranks.csv", "not_titles.csv"]:
        shutil.copy(ROOT / "rules" / name, dir / name)
    (dir / "acme.rules").write_text(ACME_RULES.format(pack="default.rules"))
    (dir / "globex.rules").write_text('extends "default.rules"\n')
    tokens = {"acme": "acme-scim-token", "globex": "globex-scim-token"}
    port = free_port()
    config = {
        "listen": f"127.0.0.1:{port}",
        "database": "canon.db",
        "admin_token_sha256": sha256(ADMIN_TOKEN),
        "tenants": [
            {"id": t, "rules": f"{t}.rules", "token_sha256": sha256(tok)} for t, tok in tokens.items()
        ],
    }
    (dir / "canon.yaml").write_text(json.dumps(config))  # JSON is YAML
    log = open(dir / "serve.log", "wb")
    process = subprocess.Popen(
        [BIN, "serve", "--config", dir / "canon.yaml"], stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/console/sign-in", timeout=2).read()
            break
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                process.kill()
                raise RuntimeError((dir / "serve.log").read_text())
            time.sleep(0.2)
    server = Canon(base, dir, tokens, process)
    for user in generated_users(60, seed=7):
        server.scim("acme", "POST", "/Users", user)
    for user in generated_users(12, seed=8):
        server.scim("globex", "POST", "/Users", user)
    yield server
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    yield page
    context.close()


def shot(page, name):
    """Keeps a full-page screenshot as a test artefact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page, canon, name=None):
    page.goto(f"{canon.base}/console/sign-in")
    page.fill("#admin_token", ADMIN_TOKEN)
    if name:
        page.fill("#name", name)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/console/?$"))
