"""The browser journey of tests/e2e/browser.sh, driven through chromedriver.

Usage: browser.py BASE_URL DRIVER_URL SCREENSHOTS DOWNLOADS PROFILE INSTRUCTOR_PASSWORD

The instructor adds bob (student id s2002) on the roster page; bob registers, reads his
one-time password off the page, logs in and uses his oopsie on hw1 through the confirmation
page; the instructor grades him and downloads the gradebook CSV. Screenshots of the main pages
go to SCREENSHOTS at desktop and phone (390 px) widths.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from webdriver import Browser, wait_for  # noqa: E402

base, driver_url, shots, downloads, profile, teach_password = sys.argv[1:7]

# Headless and quiet: no network beyond the site under test, no first-run UI, a fresh profile.
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1280,900"]
PREFS = {"download.default_directory": downloads, "download.prompt_for_download": False,
         "download.directory_upgrade": True, "safebrowsing.enabled": False}
browser = Browser(driver_url, {
    "browserName": "chrome",
    "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": ARGS, "prefs": PREFS},
})


def fail(message):
    raise AssertionError(message)


def expect_in(text, needle, what):
    if needle not in text:
        fail(f"{what}: {needle!r} not in page:\n{text[:3000]}")


def shoot(name):
    """Desktop and phone screenshots of the current page; the phone one must not scroll
    sideways (a broken layout on small screens)."""
    browser.resize(1280, 900)
    browser.screenshot(os.path.join(shots, f"{name}.png"))
    browser.resize(390, 844)
    browser.screenshot(os.path.join(shots, f"{name}-phone.png"))
    scroll_width, viewport = browser.page_width()
    if scroll_width > viewport + 1:
        fail(f"{name}: page is {scroll_width}px wide on a {viewport}px phone viewport")
    browser.resize(1280, 900)


def login(username, password):
    browser.go(f"{base}/login")
    browser.type("input[name=username]", username)
    browser.type("input[name=password]", password)
    browser.click("form[action='/login'] button[type=submit]")
    wait_for("the login to land", lambda: "/login" not in browser.url())


def logout():
    browser.click("form[action='/logout'] button")
    wait_for("the logout", lambda: browser.url().endswith("/login"))


try:
    # The instructor adds a student on the roster page.
    browser.go(f"{base}/login")
    expect_in(browser.source(), "Log in", "login page")
    shoot("login")
    login("teach", teach_password)
    expect_in(browser.url(), "/instructor/", "instructor lands on the instructor index")
    shoot("instructor-index")
    browser.go(f"{base}/instructor/roster")
    browser.type("form[action='/instructor/roster'] input[name=username]", "bob")
    browser.type("form[action='/instructor/roster'] input[name=full_name]", "Bob Builder")
    browser.type("form[action='/instructor/roster'] input[name=student_id]", "s2002")
    browser.click("form[action='/instructor/roster'] button[type=submit]")
    wait_for("bob on the roster", lambda: "Bob Builder" in browser.source())
    shoot("instructor-roster")
    logout()

    # The student registers with the student id and reads the one-time password.
    browser.go(f"{base}/register")
    browser.type("input[name=student_id]", "s2002")
    browser.click("form[action='/register'] button[type=submit]")
    password = wait_for("the one-time password", lambda: re.search(
        r'class="secret">([A-Za-z0-9]{16})<', browser.source()))[1]
    shoot("register-password")
    login("bob", password)
    expect_in(browser.url(), "/dashboard", "student lands on the dashboard")
    page = browser.source()
    expect_in(page, "Bob Builder", "dashboard names the student")
    expect_in(page, "bob@course.localhost", "dashboard shows the address")
    shoot("dashboard")
    browser.go(f"{base}/setup")
    expect_in(browser.source(), "bob@course.localhost", "setup page")
    shoot("setup")

    # The oopsie: a link to a confirmation page, then the POST.
    browser.go(f"{base}/dashboard")
    browser.click("a[href='/oopsie/hw1']")
    wait_for("the oopsie confirmation", lambda: "/oopsie/hw1" in browser.url())
    shoot("oopsie-confirm")
    browser.click("form[action='/oopsie/hw1'] button[type=submit]")
    wait_for("the oopsie to be used",
             lambda: "You used your oopsie here" in browser.source())
    expect_in(browser.source(), "Oopsies left this term: 0", "oopsie counted")
    logout()

    # The instructor grades bob and downloads the gradebook.
    login("teach", teach_password)
    browser.go(f"{base}/instructor/grades")
    browser.select("select[name=assignment]", "hw1")
    browser.select("select[name=component]", "final")
    browser.select("select[name=user]", "bob")
    browser.type("input[name=score]", "87")
    browser.type("textarea[name=feedback]", "Clean series, good commit messages.")
    browser.click("form[action='/instructor/grades'] button[type=submit]")
    wait_for("the grade in the gradebook table",
             lambda: re.search(r"<td>bob</td><td>hw1</td>.*?<td>87</td>", browser.source()))
    shoot("instructor-grades")
    browser.click("a[href='/instructor/gradebook.csv']")
    csv_path = os.path.join(downloads, "gradebook.csv")
    wait_for("the gradebook download", lambda: os.path.exists(csv_path), seconds=30)
    with open(csv_path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    if not lines or not lines[0].startswith("username"):
        fail(f"gradebook header: {lines[:1]}")
    bob = [line for line in lines if line.startswith("bob,")]
    if len(bob) != 1 or ",hw1," not in bob[0] or "87" not in bob[0]:
        fail(f"gradebook row for bob: {lines}")
    print("browser journey ok:", bob[0])
finally:
    browser.quit()
