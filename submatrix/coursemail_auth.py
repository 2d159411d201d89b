"""Synapse password-auth module for submatrix, the course chat (coursemail SPEC §1).

Students log in to the chat with their coursemail username and password. For every
`m.login.password` login this module asks the coursemail web's internal endpoint
`POST /internal/check`; when coursemail accepts, the Matrix user is created on its first login,
named after the account's full name. Synapse's own password database must stay disabled
(`password_config.localdb_enabled: false`, see homeserver.yaml.in), so the course account is
the only way in.

Enable it in homeserver.yaml, with this file on Synapse's PYTHONPATH (Synapse 1.140 or later):

    modules:
      - module: coursemail_auth.CoursemailAuthProvider
        config:
          check_url: https://mail.example.org/internal/check
          ca_file: /etc/submatrix/coursemail-cert.pem   # coursemail's tls/cert.pem
          timeout_seconds: 30
          # Only when check_url's host is not a name in the certificate (a container's
          # service name, say): the name to verify the certificate against instead.
          tls_server_name: mail.example.org

`check_url` must be https, unless `allow_plain_http: true` is set (a loopback-only or otherwise
private link). `ca_file` is the only certificate trusted for it; without one, the system's
trust store is used. A coursemail that is down, slow or untrusted makes the login fail with
Synapse's usual 403 `M_FORBIDDEN` and a warning in Synapse's log; it never blocks Synapse.

Usernames: `alice` and `@alice:<server_name>` both mean coursemail's `alice`. Anything that is
not a valid coursemail username (`^[a-z][a-z0-9._-]{0,63}$`) is refused without asking.

Every check carries the student's own address (`client`), as Synapse saw it: coursemail then
throttles failed logins per student rather than per chat server, so one student's typos do not
lock the whole course out of the chat.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import re
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from synapse.module_api import ModuleApi
from synapse.module_api.errors import Codes, ConfigError, SynapseError
from twisted.python.threadpool import ThreadPool

logger = logging.getLogger(__name__)

# coursemail's username rule (journal::Username): the only localparts this chat accepts.
USERNAME = re.compile(r"[a-z][a-z0-9._-]{0,63}")

# Checks in flight at once. coursemail runs one argon2 check per core anyway; more threads
# would only queue there.
MAX_CONCURRENT_CHECKS = 8

# coursemail answers within its throttle's longest wait (20 s) plus a password check, so the
# default leaves room for a throttled but healthy server.
DEFAULT_TIMEOUT_SECONDS = 30.0

# A valid answer is a few dozen bytes; anything much larger is not coursemail.
MAX_ANSWER_BYTES = 64 * 1024

CONFIG_KEYS = {
    "check_url",
    "ca_file",
    "timeout_seconds",
    "allow_plain_http",
    "tls_server_name",
    "secret_file",
}


@dataclass(frozen=True)
class Config:
    """The module's settings, validated."""

    check_url: str
    ca_file: str | None
    timeout_seconds: float
    tls: ssl.SSLContext | None  # None for an explicitly allowed plain-http URL
    # The name coursemail's certificate is verified against, when not check_url's host.
    tls_server_name: str | None = None
    # The secret coursemail shares with this server (its tls/check.secret): the check answers
    # only requests that carry it.
    secret: str = ""


@dataclass(frozen=True)
class Verdict:
    """coursemail's answer: `user` and `full_name` are set when the login is valid."""

    accepted: bool
    throttled: bool = False
    user: str = ""
    full_name: str = ""


class Unreachable(Exception):
    """No usable answer from coursemail: down, too slow, untrusted, or not coursemail at all."""


def course_username(identifier: str, server_name: str) -> str | None:
    """The coursemail username a Matrix login identifier stands for, or None if it is none.

    `alice` and `@alice:<server_name>` map to `alice`; other servers' users, upper case and
    anything outside coursemail's username rule map to None.
    """
    localpart = identifier
    if identifier.startswith("@"):
        localpart, colon, server = identifier[1:].partition(":")
        # Server names are DNS names (or literals): compared without regard to case.
        if not colon or server.lower() != server_name.lower():
            return None
    if USERNAME.fullmatch(localpart) is None:
        return None
    return localpart


def parse_config(raw: Any) -> Config:
    """Validates the module's `config:` block; raises ConfigError saying what to fix."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError("coursemail_auth: config must be a mapping with at least check_url")
    unknown = sorted(set(raw) - CONFIG_KEYS)
    if unknown:
        raise ConfigError(
            f"coursemail_auth: unknown option(s) {', '.join(unknown)}; "
            f"the options are {', '.join(sorted(CONFIG_KEYS))}"
        )
    url = raw.get("check_url")
    if not isinstance(url, str) or not url:
        raise ConfigError(
            "coursemail_auth: set check_url to coursemail's check endpoint, "
            "e.g. https://mail.example.org/internal/check",
            ("check_url",),
        )
    parts = urlsplit(url)
    allow_plain = raw.get("allow_plain_http", False)
    if not isinstance(allow_plain, bool):
        raise ConfigError("coursemail_auth: allow_plain_http must be true or false")
    if not parts.hostname or parts.scheme not in ("https", "http"):
        raise ConfigError(
            f"coursemail_auth: check_url {url!r} is not an http(s) URL with a host",
            ("check_url",),
        )
    if parts.scheme == "http" and not allow_plain:
        raise ConfigError(
            "coursemail_auth: check_url uses plain http, which would send passwords in the "
            "clear; use https, or set allow_plain_http: true for a private link",
            ("check_url",),
        )
    timeout = raw.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ConfigError("coursemail_auth: timeout_seconds must be a positive number")
    ca_file = raw.get("ca_file")
    if ca_file is not None and not isinstance(ca_file, str):
        raise ConfigError("coursemail_auth: ca_file must be the path of a PEM certificate file")
    tls = None
    if parts.scheme == "https":
        try:
            # With a ca_file, only that file is trusted (coursemail's self-signed certificate);
            # without, the system's trust store.
            tls = ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as e:
            raise ConfigError(
                f"coursemail_auth: cannot load ca_file {ca_file!r} ({e}); "
                "point it at coursemail's tls/cert.pem",
                ("ca_file",),
            ) from e
    elif ca_file is not None:
        raise ConfigError(
            "coursemail_auth: ca_file is only used with an https check_url; remove it",
            ("ca_file",),
        )
    server_name = raw.get("tls_server_name")
    if server_name is not None and (not isinstance(server_name, str) or not server_name):
        raise ConfigError(
            "coursemail_auth: tls_server_name must be a name in coursemail's certificate",
            ("tls_server_name",),
        )
    if server_name is not None and tls is None:
        raise ConfigError(
            "coursemail_auth: tls_server_name is only used with an https check_url; remove it",
            ("tls_server_name",),
        )
    secret_file = raw.get("secret_file")
    if not isinstance(secret_file, str) or not secret_file:
        raise ConfigError(
            "coursemail_auth: set secret_file to a copy of coursemail's tls/check.secret "
            "(made by `coursemail init`): the check answers only the chat server that has it",
            ("secret_file",),
        )
    try:
        with open(secret_file, encoding="ascii") as f:
            secret = f.read().strip()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(
            f"coursemail_auth: cannot read secret_file {secret_file!r} ({e})", ("secret_file",)
        ) from e
    if not secret or any(c.isspace() for c in secret):
        raise ConfigError(
            f"coursemail_auth: secret_file {secret_file!r} holds no secret", ("secret_file",)
        )
    return Config(
        check_url=url,
        ca_file=ca_file,
        timeout_seconds=float(timeout),
        tls=tls,
        tls_server_name=server_name,
        secret=secret,
    )


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """coursemail never redirects this endpoint; following one would send the password on."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise Unreachable(f"{req.full_url} answered with a redirect ({code}) to {newurl}")


class _NamedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection that verifies the server's certificate against a configured name
    rather than the URL's host: inside a compose network the web is reached by its service
    name, which coursemail's certificate does not carry."""

    def __init__(self, *args: Any, tls_server_name: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._tls_server_name = tls_server_name

    def connect(self) -> None:
        # The TCP connection as plain HTTP makes it (no proxy: the opener has none), then TLS
        # with the configured name for SNI and the hostname check.
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._tls_server_name)


class _NamedHTTPSHandler(urllib.request.HTTPSHandler):
    """urllib's HTTPS handler with `_NamedHTTPSConnection`."""

    def __init__(self, context: ssl.SSLContext, tls_server_name: str):
        super().__init__(context=context)
        self._tls = context
        self._tls_server_name = tls_server_name

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        name = self._tls_server_name

        def connection(host: str, **kwargs: Any) -> _NamedHTTPSConnection:
            return _NamedHTTPSConnection(host, tls_server_name=name, **kwargs)

        return self.do_open(connection, req, context=self._tls)


def ask_coursemail(config: Config, user: str, password: str, client: str | None) -> Verdict:
    """Asks coursemail whether `user`/`password` is a valid login. Blocking: run it off the
    reactor. `client` is the end user's address, which coursemail throttles on instead of the
    chat server's own. Raises Unreachable when there is no usable answer."""
    body = {"user": user, "password": password}
    if client is not None:
        body["client"] = client
    request = urllib.request.Request(
        config.check_url,
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Authorization": f"Bearer {config.secret}",
        },
        method="POST",
    )
    if config.tls is not None and config.tls_server_name is not None:
        https = _NamedHTTPSHandler(config.tls, config.tls_server_name)
    else:
        https = urllib.request.HTTPSHandler(context=config.tls)
    opener = urllib.request.build_opener(
        # An empty ProxyHandler: never route a password through an http(s)_proxy from the
        # environment.
        urllib.request.ProxyHandler({}),
        https,
        _NoRedirects(),
    )
    try:
        with opener.open(request, timeout=config.timeout_seconds) as response:
            answer = response.read(MAX_ANSWER_BYTES + 1)
    except urllib.error.HTTPError as e:
        e.close()
        if e.code == 403:
            return Verdict(accepted=False)
        if e.code == 429:
            return Verdict(accepted=False, throttled=True)
        if e.code == 401:
            raise Unreachable(
                f"{config.check_url} refused this chat server's secret: copy coursemail's "
                "tls/check.secret to secret_file again"
            ) from e
        raise Unreachable(f"{config.check_url} answered HTTP {e.code}") from e
    except (urllib.error.URLError, OSError, ValueError) as e:
        # URLError covers refused connections and certificate failures; OSError timeouts and
        # resets in the middle of the answer.
        reason = getattr(e, "reason", e)
        raise Unreachable(f"cannot reach {config.check_url}: {reason}") from e
    try:
        if len(answer) > MAX_ANSWER_BYTES:
            raise ValueError("answer too large")
        parsed = json.loads(answer)
        verdict = Verdict(
            accepted=True, user=str(parsed["user"]), full_name=str(parsed.get("full_name") or "")
        )
    except (ValueError, KeyError, TypeError) as e:
        raise Unreachable(f"{config.check_url} gave an answer that is not coursemail's: {e}") from e
    return verdict


def end_user_address() -> str | None:
    """The address of the client whose request Synapse is serving, if Synapse knows it.

    The module API does not hand auth checkers the request, but Synapse attaches it to the
    logging context of every request it serves. If a future Synapse moves it, nothing is
    forwarded and coursemail counts the chat server's own address, as for any caller.
    """
    try:
        from synapse.logging.context import current_context

        request = current_context().request
        address = getattr(request, "ip_address", None)
        return str(ipaddress.ip_address(address)) if address else None
    except (ImportError, AttributeError, ValueError):
        return None


class CoursemailAuthProvider:
    """Checks `m.login.password` logins against coursemail and creates users on first login."""

    def __init__(self, config: Config, api: ModuleApi):
        if not hasattr(api, "defer_to_threadpool"):
            raise ConfigError("coursemail_auth needs Synapse 1.140 or later; upgrade Synapse")
        self._config = config
        self._api = api
        # A pool of our own: a hung coursemail must not tie up the reactor's default pool,
        # which Synapse needs for its own work.
        self._pool = ThreadPool(minthreads=0, maxthreads=MAX_CONCURRENT_CHECKS, name="coursemail")
        self._pool.start()
        # Imported here, not at the top: importing it installs a reactor, which must be the one
        # Synapse chose, not a default one installed by merely importing this module.
        from twisted.internet import reactor

        reactor.addSystemEventTrigger("during", "shutdown", self._pool.stop)
        api.register_password_auth_provider_callbacks(
            auth_checkers={("m.login.password", ("password",)): self.check_password},
        )

    @staticmethod
    def parse_config(config: Any) -> Config:
        """Called by Synapse at start-up with the module's `config:` block."""
        return parse_config(config)

    async def check_password(
        self, username: str, login_type: str, login_dict: dict[str, Any]
    ) -> tuple[str, None] | None:
        """The auth checker: the Matrix user id for valid course credentials, None otherwise
        (Synapse then answers 403 M_FORBIDDEN)."""
        user = course_username(username, self._api.server_name)
        password = login_dict.get("password")
        if user is None or not isinstance(password, str):
            logger.info("chat login refused: not a course username")
            return None
        client = end_user_address()
        try:
            verdict = await self._api.defer_to_threadpool(
                self._pool, ask_coursemail, self._config, user, password, client
            )
        except Unreachable as e:
            logger.warning("chat login of %s failed: coursemail gave no answer: %s", user, e)
            return None
        if verdict.throttled:
            logger.info("chat login of %s refused: coursemail is throttling it", user)
            return None
        if not verdict.accepted:
            logger.info("chat login of %s refused by coursemail", user)
            return None
        if verdict.user != user:
            # Never log someone in under a name other than the one they gave.
            logger.warning(
                "chat login of %s refused: coursemail answered for %r", user, verdict.user
            )
            return None
        return await self._matrix_user(user, verdict.full_name), None

    async def _matrix_user(self, user: str, full_name: str) -> str:
        """The Matrix user id of `user`, registering the user on their first login."""
        user_id = self._api.get_qualified_user_id(user)
        # An exact lookup: localparts here are lowercase course usernames, and unlike
        # check_user_exists it does not log a warning for every first login.
        if await self._api.get_userinfo_by_id(user_id) is not None:
            return user_id
        try:
            created = await self._api.register_user(user, displayname=full_name or None)
        except SynapseError as e:
            # Two first logins at once: the other one created the user.
            if e.errcode != Codes.USER_IN_USE:
                raise
            return user_id
        logger.info("created chat user %s for course account %s", created, user)
        return created
