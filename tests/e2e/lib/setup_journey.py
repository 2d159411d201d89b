"""The browser half of tests/e2e/setup-journey.sh: a student reads /setup as a person would.

Usage: setup_journey.py BASE_URL DRIVER_URL SCREENSHOTS PROFILE OUT USERNAME PASSWORD [PAGE...]

Logs in, opens /setup, takes desktop and phone screenshots (the phone one must not scroll
sideways), and writes what the page shows into OUT: each shell block (`pre` with an id) as
OUT/<id>.sh, exactly as copying it from the page gives it, and the fingerprint as
OUT/fingerprint. Each extra PAGE path (e.g. /dashboard) is screenshotted too.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from webdriver import Browser, wait_for  # noqa: E402

base, driver_url, shots, profile, out, username, password = sys.argv[1:8]
extra_pages = sys.argv[8:]

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1280,900"]
browser = Browser(driver_url, {
    "browserName": "chrome",
    "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": ARGS},
})


def fail(message):
    raise AssertionError(message)


def shoot(name):
    browser.resize(1280, 900)
    browser.screenshot(os.path.join(shots, f"{name}.png"))
    browser.resize(390, 844)
    browser.screenshot(os.path.join(shots, f"{name}-phone.png"))
    scroll_width, viewport = browser.page_width()
    if scroll_width > viewport + 1:
        fail(f"{name}: page is {scroll_width}px wide on a {viewport}px phone viewport")
    browser.resize(1280, 900)


def page_text(script):
    return browser.command("POST", "/execute/sync", {"script": script, "args": []})


try:
    browser.go(f"{base}/login?next=/setup")
    browser.type("input[name=username]", username)
    browser.type("input[name=password]", password)
    browser.click("form[action='/login'] button[type=submit]")
    wait_for("the setup page", lambda: "/login" not in browser.url() and browser.url().endswith("/setup"))
    # What a person copies from a <pre> is its text content: entities decoded, tabs kept.
    blocks = page_text(
        "return Array.from(document.querySelectorAll('pre[id]')).map(p => [p.id, p.textContent]);")
    if not blocks:
        fail("no shell blocks on /setup")
    for block_id, text in blocks:
        with open(os.path.join(out, f"{block_id}.sh"), "w") as f:
            f.write(text + "\n")
    fingerprint = page_text(
        "const f = document.querySelector('.fingerprint code'); return f ? f.textContent : '';")
    with open(os.path.join(out, "fingerprint"), "w") as f:
        f.write(fingerprint + "\n")
    shoot("setup")
    for path in extra_pages:
        browser.go(f"{base}{path}")
        shoot(path.strip("/").replace("/", "-") or "home")
finally:
    browser.quit()
