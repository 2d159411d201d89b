"""A minimal W3C WebDriver client over HTTP (urllib only), enough for tests/e2e/browser.py.

Speaking the protocol directly keeps the test free of PyPI dependencies: chromedriver is the
only thing it needs besides Debian's chromium.
"""
import base64
import json
import time
import urllib.error
import urllib.request

# The W3C element reference key (WebDriver §12.1).
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


class WebDriverError(Exception):
    """A WebDriver command failed; the message carries the driver's error and command."""


class Browser:
    """One chromedriver session."""

    def __init__(self, driver_url, capabilities):
        self.driver_url = driver_url.rstrip("/")
        reply = self._call("POST", "/session", {"capabilities": {"alwaysMatch": capabilities}})
        self.session = reply["sessionId"]

    def _call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.driver_url + path, data=data, method=method,
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.load(response)["value"]
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")
            raise WebDriverError(f"{method} {path}: {e.code} {detail[:500]}") from None

    def command(self, method, path, body=None):
        return self._call(method, f"/session/{self.session}{path}", body)

    def quit(self):
        try:
            self.command("DELETE", "")
        except (WebDriverError, OSError):
            pass

    def go(self, url):
        self.command("POST", "/url", {"url": url})

    def url(self):
        return self.command("GET", "/url")

    def source(self):
        return self.command("GET", "/source")

    def resize(self, width, height):
        self.command("POST", "/window/rect", {"width": width, "height": height})

    def find(self, css):
        found = self.command("POST", "/element", {"using": "css selector", "value": css})
        return found[ELEMENT]

    def type(self, css, text):
        self.command("POST", f"/element/{self.find(css)}/value", {"text": text})

    def click(self, css):
        self.command("POST", f"/element/{self.find(css)}/click", {})

    def text(self, css):
        return self.command("GET", f"/element/{self.find(css)}/text")

    def select(self, css, option_text):
        """Picks the option of a <select> whose text is `option_text`."""
        select = self.find(css)
        found = self.command("POST", f"/element/{select}/elements",
                             {"using": "css selector", "value": "option"})
        for option in found:
            eid = option[ELEMENT]
            if self.command("GET", f"/element/{eid}/text") == option_text:
                self.command("POST", f"/element/{eid}/click", {})
                return
        raise WebDriverError(f"no option {option_text!r} in {css}")

    def screenshot(self, path):
        png = base64.b64decode(self.command("GET", "/screenshot"))
        with open(path, "wb") as f:
            f.write(png)

    def page_width(self):
        """The document's scroll width: wider than the viewport means sideways scrolling."""
        return self.command("POST", "/execute/sync", {
            "script": "return [document.documentElement.scrollWidth, window.innerWidth];",
            "args": []})


def wait_for(what, check, seconds=20):
    """Polls `check` until it returns something true (page loads, downloads land)."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
