#!/usr/bin/env python3
"""Renders submatrix's homeserver.yaml from homeserver.yaml.in and creates the secrets it uses.

    python3 submatrix/render.py --server-name chat.example.org \\
        --check-url https://mail.example.org/internal/check \\
        --ca-file /etc/submatrix/coursemail-cert.pem \\
        --data-dir /var/lib/submatrix > /etc/submatrix/homeserver.yaml

Every value is written as a JSON string (a valid YAML scalar), so no value can change the
file's structure. The data directory is created (mode 0700) with Synapse's macaroon and form
secrets if they are missing; existing secrets are kept, so rendering again is safe. Synapse's
signing key comes from `python -m synapse.app.homeserver -c homeserver.yaml --generate-keys`.
Only Python's standard library is needed.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from pathlib import Path
from string import Template
from urllib.parse import urlsplit

TEMPLATE = Path(__file__).with_name("homeserver.yaml.in")
SECRETS = ("macaroon_secret.key", "form_secret.key")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server-name", required=True, help="the chat's Matrix server name")
    parser.add_argument(
        "--check-url", required=True, help="coursemail's https://HOST:PORT/internal/check"
    )
    parser.add_argument("--ca-file", help="coursemail's tls/cert.pem, trusted for --check-url")
    parser.add_argument(
        "--secret-file",
        required=True,
        help="a copy of coursemail's tls/check.secret, which the check requires",
    )
    parser.add_argument(
        "--tls-server-name",
        help="the name in coursemail's certificate, when --check-url's host is not one of them",
    )
    parser.add_argument(
        "--allow-plain-http",
        action="store_true",
        help="accept an http:// --check-url (passwords travel unencrypted: private links only)",
    )
    parser.add_argument(
        "--data-dir", required=True, type=Path, help="Synapse's state: keys, media, database"
    )
    parser.add_argument(
        "--database", type=Path, help="SQLite file (default DATA_DIR/homeserver.db)"
    )
    parser.add_argument("--listen-address", default="127.0.0.1", help="default 127.0.0.1")
    parser.add_argument(
        "--x-forwarded",
        action="store_true",
        help="believe X-Forwarded-For (only behind a proxy that sets it, which students reach)",
    )
    parser.add_argument("--listen-port", type=int, default=8008, help="default 8008")
    return parser.parse_args(argv)


def values(args: argparse.Namespace) -> dict[str, object]:
    """The template's values; raises ValueError saying what to fix."""
    if urlsplit(args.check_url).scheme == "http" and not args.allow_plain_http:
        raise ValueError(
            "--check-url is plain http, which sends passwords in the clear; "
            "use https or add --allow-plain-http for a private link"
        )
    if args.ca_file is not None and not Path(args.ca_file).is_file():
        raise ValueError(f"--ca-file {args.ca_file} does not exist; copy coursemail's tls/cert.pem")
    if not Path(args.secret_file).is_file():
        raise ValueError(
            f"--secret-file {args.secret_file} does not exist; copy coursemail's tls/check.secret"
        )
    if not 0 < args.listen_port < 65536:
        raise ValueError("--listen-port must be between 1 and 65535")
    data_dir = args.data_dir.resolve()
    database = (args.database or data_dir / "homeserver.db").resolve()
    ca_file = str(Path(args.ca_file).resolve()) if args.ca_file else None
    return {
        "SERVER_NAME": args.server_name,
        "CHECK_URL": args.check_url,
        "CA_FILE": ca_file,
        "SECRET_FILE": str(Path(args.secret_file).resolve()),
        "ALLOW_PLAIN_HTTP": args.allow_plain_http,
        "TLS_SERVER_NAME": args.tls_server_name,
        "DATA_DIR": str(data_dir),
        "DATABASE": str(database),
        "LISTEN_ADDRESS": args.listen_address,
        "LISTEN_PORT": args.listen_port,
        "X_FORWARDED": args.x_forwarded,
    }


def render(template: str, vals: dict[str, object]) -> str:
    """Fills the template. Paths that continue a placeholder (`${DATA_DIR}/media_store`) are
    joined before quoting, so the result stays one quoted scalar."""
    out = []
    for line in template.splitlines(keepends=True):
        key, sep, rest = line.partition(": ")
        if sep and "${" in rest and not line.lstrip().startswith("#"):
            raw = rest.rstrip("\n")
            inner = raw.strip()
            bracketed = inner.startswith("[") and inner.endswith("]")
            if bracketed:
                inner = inner[1:-1]
            value = _fill(inner, vals)
            encoded = json.dumps(value)
            if bracketed:
                encoded = f"[{encoded}]"
            line = f"{key}{sep}{encoded}\n"
        elif "${" in line and not line.lstrip().startswith("#"):
            raise ValueError(f"template line has a placeholder render.py cannot place: {line!r}")
        out.append(line)
    return "".join(out)


def _fill(text: str, vals: dict[str, object]) -> object:
    """A lone placeholder keeps its value's type (number, bool, null); anything else is text."""
    for name, value in vals.items():
        if text == "${" + name + "}":
            return value
    try:
        return Template(text).substitute({k: "" if v is None else str(v) for k, v in vals.items()})
    except (KeyError, ValueError) as e:
        raise ValueError(
            f"the template's {text!r} has a placeholder render.py does not know"
        ) from e


def create_secrets(data_dir: Path) -> None:
    """The data directory and the secrets Synapse reads from it; existing ones are kept."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name in SECRETS:
        path = data_dir / name
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48) + "\n")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        vals = values(args)
        text = render(TEMPLATE.read_text(), vals)
        create_secrets(Path(str(vals["DATA_DIR"])))
    except (ValueError, OSError) as e:
        print(f"render.py: {e}", file=sys.stderr)
        return 1
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
