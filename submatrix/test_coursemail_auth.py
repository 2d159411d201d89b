"""Unit tests of coursemail_auth: username mapping, configuration checks, the HTTP exchange
with coursemail (against small local servers) and the auth checker's decisions (with a
stand-in for Synapse's ModuleApi).

Run with the Python that has Synapse installed (tests/e2e/submatrix.sh does):

    PYTHONPATH=submatrix python -m unittest discover -s submatrix -p 'test_*.py'
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import subprocess
import tempfile
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock

import coursemail_auth as ca
from synapse.module_api.errors import Codes, ConfigError, SynapseError

# The shared secret every valid configuration names (coursemail's tls/check.secret).
_SECRET = tempfile.NamedTemporaryFile("w", suffix=".secret", delete=False)
_SECRET.write("0123456789abcdef\n")
_SECRET.close()
SECRET_FILE = _SECRET.name


def parse_config(raw):
    """ca.parse_config with the shared secret added to a mapping that names no secret_file."""
    if isinstance(raw, dict) and "secret_file" not in raw:
        raw = {**raw, "secret_file": SECRET_FILE}
    return ca.parse_config(raw)


class CourseUsername(unittest.TestCase):
    def test_bare_and_qualified_names_map_to_the_course_account(self):
        self.assertEqual(ca.course_username("alice", "chat.test"), "alice")
        self.assertEqual(ca.course_username("@alice:chat.test", "chat.test"), "alice")
        self.assertEqual(ca.course_username("@a.b-c_9:CHAT.test", "chat.test"), "a.b-c_9")

    def test_everything_else_is_refused(self):
        for bad in [
            "",
            "Alice",
            "@Alice:chat.test",
            "@alice:other.test",
            "@alice",
            "@alice:",
            "alice:chat.test",
            "9lives",
            "-x",
            "a b",
            "alice\n",
            "al/ice",
            "é",
            "a" * 65,
        ]:
            self.assertIsNone(ca.course_username(bad, "chat.test"), repr(bad))
        self.assertEqual(ca.course_username("a" * 64, "chat.test"), "a" * 64)


class ParseConfig(unittest.TestCase):
    def test_https_with_the_system_trust_store(self):
        config = parse_config({"check_url": "https://web:8080/internal/check"})
        self.assertIsNotNone(config.tls)
        self.assertEqual(config.timeout_seconds, ca.DEFAULT_TIMEOUT_SECONDS)

    def test_plain_http_needs_to_be_allowed_explicitly(self):
        with self.assertRaisesRegex(ConfigError, "allow_plain_http"):
            parse_config({"check_url": "http://web:8080/internal/check"})
        config = parse_config(
            {"check_url": "http://web:8080/internal/check", "allow_plain_http": True}
        )
        self.assertIsNone(config.tls)

    def test_mistakes_are_named(self):
        cases = [
            (None, "check_url"),
            ({}, "check_url"),
            ({"check_url": "web:8080"}, "not an http"),
            ({"check_url": "ftp://web/"}, "not an http"),
            ({"check_url": "https://web/", "ca-file": "x"}, "unknown option"),
            ({"check_url": "https://web/", "timeout_seconds": 0}, "timeout_seconds"),
            ({"check_url": "https://web/", "timeout_seconds": "5"}, "timeout_seconds"),
            ({"check_url": "https://web/", "allow_plain_http": "yes"}, "allow_plain_http"),
            ({"check_url": "https://web/", "ca_file": "/nonexistent.pem"}, "ca_file"),
            (
                {"check_url": "http://web/", "allow_plain_http": True, "ca_file": "/x.pem"},
                "only used with an https",
            ),
        ]
        for raw, message in cases:
            with self.subTest(raw=raw), self.assertRaisesRegex(ConfigError, message):
                parse_config(raw)

    def test_the_shared_secret_is_required(self):
        with self.assertRaisesRegex(ConfigError, "secret_file"):
            ca.parse_config({"check_url": "https://web/"})
        with self.assertRaisesRegex(ConfigError, "cannot read secret_file"):
            ca.parse_config({"check_url": "https://web/", "secret_file": "/nonexistent"})
        self.assertEqual(parse_config({"check_url": "https://web/"}).secret, "0123456789abcdef")

    def test_a_ca_file_that_is_not_a_certificate_is_refused(self):
        with tempfile.NamedTemporaryFile("w", suffix=".pem") as f:
            f.write("not a certificate\n")
            f.flush()
            with self.assertRaisesRegex(ConfigError, "cannot load ca_file"):
                parse_config({"check_url": "https://web/", "ca_file": f.name})


class FakeCoursemail(BaseHTTPRequestHandler):
    """Answers with the status and body the test put on the server; records what it got."""

    def do_POST(self):  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length", "0"))
        self.server.received.append(json.loads(self.rfile.read(length)))
        status, body, headers = self.server.answer
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class AskCoursemail(unittest.TestCase):
    def setUp(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), FakeCoursemail)
        self.server.received = []
        self.server.answer = (200, b"", {})
        # A short poll interval: shutdown() waits up to one interval.
        serve = {"poll_interval": 0.02}
        threading.Thread(target=self.server.serve_forever, kwargs=serve, daemon=True).start()
        self.addCleanup(self.server.server_close)
        self.addCleanup(self.server.shutdown)
        port = self.server.server_address[1]
        self.config = parse_config(
            {
                "check_url": f"http://127.0.0.1:{port}/internal/check",
                "allow_plain_http": True,
                "timeout_seconds": 5,
            }
        )

    def answer(self, status, body, headers=None):
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.server.answer = (status, body, headers or {})

    def test_accepted_with_the_full_name_and_the_end_users_address_forwarded(self):
        self.answer(200, {"user": "alice", "full_name": "Alice Liddell"})
        verdict = ca.ask_coursemail(self.config, "alice", "pw", "203.0.113.7")
        self.assertEqual(
            verdict, ca.Verdict(accepted=True, user="alice", full_name="Alice Liddell")
        )
        self.assertEqual(
            self.server.received, [{"user": "alice", "password": "pw", "client": "203.0.113.7"}]
        )

    def test_no_address_is_sent_when_there_is_none(self):
        self.answer(403, {"error": "invalid username or password"})
        verdict = ca.ask_coursemail(self.config, "alice", "pw", None)
        self.assertEqual(verdict, ca.Verdict(accepted=False))
        self.assertEqual(self.server.received, [{"user": "alice", "password": "pw"}])

    def test_throttled(self):
        self.answer(429, {"error": "too many failed attempts"})
        verdict = ca.ask_coursemail(self.config, "alice", "pw", None)
        self.assertEqual(verdict, ca.Verdict(accepted=False, throttled=True))

    def test_anything_but_coursemails_answers_is_unreachable(self):
        for status, body, headers in [
            (500, b"oops", {}),
            (400, b"bad", {}),
            (200, b"<html>a captive portal</html>", {}),
            (200, {"full_name": "no user"}, {}),
            (307, b"", {"Location": "http://127.0.0.1:1/elsewhere"}),
            (200, b"x" * (ca.MAX_ANSWER_BYTES + 10), {}),
        ]:
            with self.subTest(status=status, body=body[:40] if isinstance(body, bytes) else body):
                self.answer(status, body, headers)
                with self.assertRaises(ca.Unreachable):
                    ca.ask_coursemail(self.config, "alice", "pw", None)

    def test_a_proxy_in_the_environment_is_never_used(self):
        self.answer(200, {"user": "alice", "full_name": ""})
        dead = "http://127.0.0.1:9"
        with mock.patch.dict(os.environ, {"http_proxy": dead, "HTTP_PROXY": dead, "no_proxy": ""}):
            verdict = ca.ask_coursemail(self.config, "alice", "pw", None)
        self.assertTrue(verdict.accepted)

    def test_a_refused_connection_is_unreachable(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # closed again before the request: nothing listens
        config = parse_config(
            {"check_url": f"http://127.0.0.1:{port}/", "allow_plain_http": True}
        )
        with self.assertRaisesRegex(ca.Unreachable, "cannot reach"):
            ca.ask_coursemail(config, "alice", "pw", None)

    def test_a_server_that_never_answers_times_out(self):
        silent = socket.socket()
        self.addCleanup(silent.close)
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # connections complete in the kernel's backlog; nothing ever replies
        config = parse_config(
            {
                "check_url": f"http://127.0.0.1:{silent.getsockname()[1]}/",
                "allow_plain_http": True,
                "timeout_seconds": 0.3,
            }
        )
        with self.assertRaisesRegex(ca.Unreachable, "timed out"):
            ca.ask_coursemail(config, "alice", "pw", None)


class AskCoursemailOverTls(unittest.TestCase):
    """coursemail's certificate names its hostname, not the name a container network gives it."""

    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.cert = os.path.join(tmp.name, "cert.pem")
        key = os.path.join(tmp.name, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-days", "1", "-subj", "/CN=mail.course.test", "-addext",
             "subjectAltName=DNS:mail.course.test", "-keyout", key, "-out", self.cert],
            check=True, capture_output=True,
        )
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), FakeCoursemail)
        self.server.received = []
        self.server.answer = (200, json.dumps({"user": "alice", "full_name": "A"}).encode(), {})
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(self.cert, key)
        self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        self.addCleanup(self.server.server_close)
        self.addCleanup(self.server.shutdown)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}/internal/check"

    def test_the_certificate_is_checked_against_tls_server_name(self):
        config = parse_config(
            {"check_url": self.url, "ca_file": self.cert, "tls_server_name": "mail.course.test"}
        )
        self.assertTrue(ca.ask_coursemail(config, "alice", "pw", None).accepted)

    def test_without_it_a_certificate_for_another_name_is_refused(self):
        config = parse_config({"check_url": self.url, "ca_file": self.cert})
        with self.assertRaisesRegex(ca.Unreachable, "cannot reach"):
            ca.ask_coursemail(config, "alice", "pw", None)
        wrong = parse_config(
            {"check_url": self.url, "ca_file": self.cert, "tls_server_name": "other.test"}
        )
        with self.assertRaisesRegex(ca.Unreachable, "cannot reach"):
            ca.ask_coursemail(wrong, "alice", "pw", None)
        self.assertEqual(self.server.received, [])

    def test_tls_server_name_needs_https(self):
        with self.assertRaisesRegex(ConfigError, "tls_server_name"):
            parse_config(
                {
                    "check_url": "http://web:8443/internal/check",
                    "allow_plain_http": True,
                    "tls_server_name": "mail.course.test",
                }
            )


class FakeModuleApi:
    """What the provider uses of Synapse's ModuleApi, with users kept in a set."""

    server_name = "chat.test"

    def __init__(self, verdict=None, error=None):
        self.verdict, self.error = verdict, error
        self.users: dict[str, str | None] = {}
        self.asked: list[tuple] = []
        self.callbacks = None

    def register_password_auth_provider_callbacks(self, auth_checkers):
        self.callbacks = auth_checkers

    async def defer_to_threadpool(self, pool, f, config, user, password, client):
        self.asked.append((user, password, client))
        if self.error:
            raise self.error
        return self.verdict

    def get_qualified_user_id(self, localpart):
        return f"@{localpart}:{self.server_name}"

    async def get_userinfo_by_id(self, user_id):
        return {"user_id": user_id} if user_id in self.users else None

    async def register_user(self, localpart, displayname=None):
        user_id = self.get_qualified_user_id(localpart)
        if user_id in self.users:
            raise SynapseError(400, "User ID already taken.", Codes.USER_IN_USE)
        self.users[user_id] = displayname
        return user_id


class Provider(unittest.TestCase):
    def provider(self, api):
        config = parse_config({"check_url": "https://web/"})
        provider = ca.CoursemailAuthProvider(config, api)
        self.addCleanup(provider._pool.stop)
        return provider

    def login(self, provider, username, password="pw"):
        return asyncio.run(
            provider.check_password(username, "m.login.password", {"password": password})
        )

    def test_registers_for_password_logins(self):
        api = FakeModuleApi()
        self.provider(api)
        self.assertEqual(list(api.callbacks), [("m.login.password", ("password",))])

    def test_first_login_creates_the_user_with_the_full_name_and_the_next_finds_it(self):
        api = FakeModuleApi(ca.Verdict(accepted=True, user="alice", full_name="Alice Liddell"))
        provider = self.provider(api)
        self.assertEqual(self.login(provider, "alice"), ("@alice:chat.test", None))
        self.assertEqual(api.users, {"@alice:chat.test": "Alice Liddell"})
        self.assertEqual(self.login(provider, "@alice:chat.test"), ("@alice:chat.test", None))
        self.assertEqual(len(api.users), 1)
        self.assertEqual([a[0] for a in api.asked], ["alice", "alice"])

    def test_a_concurrent_first_login_is_not_an_error(self):
        api = FakeModuleApi(ca.Verdict(accepted=True, user="alice"))
        provider = self.provider(api)
        api.get_userinfo_by_id = mock.AsyncMock(return_value=None)  # both saw "no such user"
        api.users["@alice:chat.test"] = None
        self.assertEqual(self.login(provider, "alice"), ("@alice:chat.test", None))

    def test_refusals_create_nobody(self):
        for verdict, error in [
            (ca.Verdict(accepted=False), None),
            (ca.Verdict(accepted=False, throttled=True), None),
            (ca.Verdict(accepted=True, user="bob"), None),  # an answer for someone else
            (None, ca.Unreachable("cannot reach https://web/: refused")),
        ]:
            with self.subTest(verdict=verdict, error=error):
                api = FakeModuleApi(verdict, error)
                with self.assertLogs(ca.logger, "INFO") as logs:
                    self.assertIsNone(self.login(self.provider(api), "alice"))
                self.assertIn("chat login of alice", logs.output[0])
                self.assertEqual(api.users, {})

    def test_names_that_are_not_course_usernames_are_not_sent_to_coursemail(self):
        api = FakeModuleApi(ca.Verdict(accepted=True, user="alice"))
        provider = self.provider(api)
        for name in ["Alice", "@alice:other.test", "x y"]:
            self.assertIsNone(self.login(provider, name))
        self.assertEqual(api.asked, [])

    def test_no_address_is_forwarded_outside_a_request(self):
        api = FakeModuleApi(ca.Verdict(accepted=False))
        self.login(self.provider(api), "alice")
        self.assertEqual(api.asked, [("alice", "pw", None)])


if __name__ == "__main__":
    unittest.main()
