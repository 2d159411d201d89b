#!/usr/bin/env bash
# submatrix, the course chat: Synapse from PyPI with submatrix/coursemail_auth.py, checking
# logins against `coursemail up` over HTTPS (trusting only coursemail's certificate) on the web's
# internal listener (`[web] internal_listen`, the only place the check is served then), driven
# with the Matrix client-server API. Course credentials log in and create the user on first
# login (display name = full name), the login after works too; a wrong password, an unknown
# user and a name that is no course username get 403 M_FORBIDDEN; nobody can register or set a
# Synapse password; the end user's address reaches coursemail's throttle; with coursemail's
# web stopped, logins fail cleanly and Synapse keeps answering.
#
# Synapse is installed once into target/e2e-venv/synapse and reused by later runs (a first run
# needs PyPI; delete that directory to reinstall). The module's unit tests run first.
source "$(dirname "$0")/lib/common.bash"
command -v python3 >/dev/null || skip "no python3"
command -v curl >/dev/null || skip "no curl"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# Importing submatrix/ from here must not leave __pycache__ directories in the checkout.
export PYTHONDONTWRITEBYTECODE=1
SUBMATRIX="$ROOT/submatrix"
# The Synapse the chat is tested with (the chat image installs the same one).
SYNAPSE_VERSION=$(cat "$SUBMATRIX/synapse.version")
VENV="$ROOT/target/e2e-venv/synapse"
PY="$VENV/bin/python"
SERVER_NAME=chat.test

# install_synapse: the pinned Synapse in $VENV, installed unless a previous run completed it.
# A lock keeps two runs from installing at once; the marker is written last, so an
# interrupted install is redone.
install_synapse() {
  mkdir -p "$(dirname "$VENV")"
  exec 9>"$VENV.lock"
  flock 9
  if [ "$(cat "$VENV/.installed" 2>/dev/null)" != "$SYNAPSE_VERSION" ]; then
    echo "submatrix: installing matrix-synapse $SYNAPSE_VERSION into $VENV (first run only)"
    rm -rf "$VENV"
    python3 -m venv "$VENV" ||
      fail "cannot create a Python virtualenv; install Debian's python3-venv"
    "$PY" -m pip install --quiet --disable-pip-version-check "matrix-synapse==$SYNAPSE_VERSION" ||
      fail "cannot install matrix-synapse $SYNAPSE_VERSION from PyPI; check the network"
    echo "$SYNAPSE_VERSION" >"$VENV/.installed"
  fi
  exec 9>&-
}

# json_get KEY...: the value under KEY (then the next KEY inside it...) of the JSON object on
# stdin, or nothing; booleans, lists and objects as JSON.
json_get() {
  python3 -c '
import json, sys
value = json.load(sys.stdin)
for key in sys.argv[1:]:
    value = value.get(key, "") if isinstance(value, dict) else ""
print(json.dumps(value) if isinstance(value, (dict, list, bool)) else value)
' "$@"
}

# api METHOD PATH [BODY] [CURL-ARGS...]: a client-server API call; prints the body, then the
# status on a line of its own.
api() {
  local method=$1 path=$2 data=()
  [ -z "${3:-}" ] || data=(--data-binary "$3")
  shift $(( $# < 3 ? $# : 3 ))
  curl -sS -X "$method" -H 'Content-Type: application/json' "${data[@]}" \
    -w '\n%{http_code}' "$@" "$MATRIX$path"
}

# login USER PASSWORD [CURL-ARGS...]: POST /login with m.login.password.
login() {
  local body
  body=$(python3 -c '
import json, sys
print(json.dumps({"type": "m.login.password",
                  "identifier": {"type": "m.id.user", "user": sys.argv[1]},
                  "password": sys.argv[2]}))' "$1" "$2")
  shift 2
  api POST /_matrix/client/v3/login "$body" "$@"
}

# status_of REPLY / body_of REPLY: the two parts of what `api` printed.
status_of() { tail -n1 <<<"$1"; }
body_of() { sed '$d' <<<"$1"; }

# expect_refused REPLY WHAT: 403 with M_FORBIDDEN.
expect_refused() {
  expect_eq "$(status_of "$1")" 403 "$2: status"
  expect_eq "$(body_of "$1" | json_get errcode)" M_FORBIDDEN "$2: errcode"
}

install_synapse

# The module's own tests (username mapping, configuration, the HTTP exchange, decisions).
PYTHONPATH="$SUBMATRIX" "$PY" -m unittest discover -s "$SUBMATRIX" -p 'test_*.py' \
  >"$WORK/unittest.log" 2>&1 || { cat "$WORK/unittest.log" >&2; fail "submatrix unit tests"; }

echo 'alice-password-1' | cm user add alice --full-name 'Alice Liddell' --password-stdin >/dev/null
echo 'bob-password-1' | cm user add bob --full-name 'Bob Builder' --password-stdin >/dev/null

# Port 0: `up` prints the port the system chose, as for every other listener.
COURSEMAIL_WEB_TLS=true COURSEMAIL_WEB_INTERNAL_LISTEN=127.0.0.1:0 start_up
WEB_PORT=$(sed -n 's|.*web  *https://[^:]*:\([0-9]*\)/$|\1|p' "$WORK/up.log")
[ -n "$WEB_PORT" ] || fail "no https web port in: $(cat "$WORK/up.log")"
INTERNAL_PORT=$(sed -n 's|.*web internal https://127\.0\.0\.1:\([0-9]*\)/internal/check$|\1|p' \
  "$WORK/up.log")
[ -n "$INTERNAL_PORT" ] || fail "no internal listener in: $(cat "$WORK/up.log")"
CHECK_URL="https://localhost:$INTERNAL_PORT/internal/check"
CERT="$DATA/tls/cert.pem"

# https_status PORT METHOD PATH [BODY]: the status of one request to coursemail's web on PORT.
SECRET_FILE="$DATA/tls/check.secret"
[ -s "$SECRET_FILE" ] || fail "coursemail made no tls/check.secret"
https_status() {
  local data=()
  [ -z "${4:-}" ] || data=(-H 'Content-Type: application/json' --data-binary "$4"
    -H "Authorization: Bearer ${5:-$(cat "$SECRET_FILE")}")
  curl -sS --cacert "$CERT" -o /dev/null -w '%{http_code}' -X "$2" "${data[@]}" \
    "https://localhost:$1$3"
}

# Each listener serves its own: the check is gone from the dashboard's (valid credentials get
# 404 there), and the internal one serves nothing but the check.
bob='{"user": "bob", "password": "bob-password-1"}'
expect_eq "$(https_status "$WEB_PORT" POST /internal/check "$bob")" 404 "check on the dashboard"
expect_eq "$(https_status "$INTERNAL_PORT" POST /internal/check "$bob")" 200 "check on its own"
expect_eq "$(https_status "$INTERNAL_PORT" POST /internal/check "$bob" not-the-secret)" 401 \
  "the check refuses a caller without the chat server's secret"
expect_eq "$(https_status "$WEB_PORT" GET /login)" 200 "login page on the dashboard"
expect_eq "$(https_status "$INTERNAL_PORT" GET /login)" 404 "login page on the internal listener"

# The module trusts coursemail's certificate only when given it: with the system's trust store
# the self-signed certificate is refused before any password is sent.
trust=$(PYTHONPATH="$SUBMATRIX" "$PY" - "$CHECK_URL" "$CERT" "$SECRET_FILE" <<'PY'
import sys
import coursemail_auth as ca
url, cert, secret = sys.argv[1:]
good = ca.parse_config({"check_url": url, "ca_file": cert, "secret_file": secret})
print("with ca_file:", ca.ask_coursemail(good, "bob", "bob-password-1", None).full_name)
try:
    system = ca.parse_config({"check_url": url, "secret_file": secret})
    ca.ask_coursemail(system, "bob", "bob-password-1", None)
    print("system trust store: accepted")
except ca.Unreachable as e:
    print("system trust store: refused" if "CERTIFICATE_VERIFY_FAILED" in str(e) else e)
PY
)
expect_eq "$trust" $'with ca_file: Bob Builder\nsystem trust store: refused' "certificate trust"

# Synapse, configured from the template as a deployment would be, plus a test-only file that
# keeps Synapse's own login rate limits out of the way.
MATRIX_PORT=$(python3 -c '
import socket
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])')
MATRIX="http://127.0.0.1:$MATRIX_PORT"
python3 "$SUBMATRIX/render.py" --server-name "$SERVER_NAME" --check-url "$CHECK_URL" \
  --ca-file "$CERT" --secret-file "$SECRET_FILE" --data-dir "$WORK/synapse" --listen-port "$MATRIX_PORT" \
  >"$WORK/homeserver.yaml" || fail "render.py failed"
cat >"$WORK/test-limits.yaml" <<'YAML'
rc_login:
  address: {per_second: 1000, burst_count: 1000}
  account: {per_second: 1000, burst_count: 1000}
  failed_attempts: {per_second: 1000, burst_count: 1000}
YAML
synapse=("$PY" -m synapse.app.homeserver -c "$WORK/homeserver.yaml" -c "$WORK/test-limits.yaml")
(cd "$WORK" && "${synapse[@]}" --generate-keys) >"$WORK/keys.log" 2>&1 ||
  { cat "$WORK/keys.log" >&2; fail "synapse --generate-keys"; }
(cd "$WORK" && PYTHONPATH="$SUBMATRIX" exec "${synapse[@]}") >"$WORK/synapse.log" 2>&1 &
SYNAPSE_PID=$!
PIDS+=("$SYNAPSE_PID")
for _ in $(seq 600); do
  curl -fsS -o /dev/null "$MATRIX/_matrix/client/versions" 2>/dev/null && break
  kill -0 "$SYNAPSE_PID" 2>/dev/null ||
    { cat "$WORK/synapse.log" >&2; fail "synapse exited at start-up"; }
  sleep 0.2
done
curl -fsS -o /dev/null "$MATRIX/_matrix/client/versions" ||
  { tail -n 50 "$WORK/synapse.log" >&2; fail "synapse did not start answering"; }
grep -q 'Loaded module <coursemail_auth.CoursemailAuthProvider' "$WORK/synapse.log" ||
  fail "synapse did not load coursemail_auth"

reply=$(api GET /_matrix/client/v3/login)
expect_contains "$(body_of "$reply")" '"m.login.password"' "password logins offered"

# First login, from a loopback address of its own: the user is created with the full name,
# and coursemail counted the attempt under that address, not under Synapse's.
reply=$(login alice alice-password-1 --interface 127.0.0.3)
expect_eq "$(status_of "$reply")" 200 "first login: $(body_of "$reply")"
expect_eq "$(body_of "$reply" | json_get user_id)" "@alice:$SERVER_NAME" "first login user id"
token=$(body_of "$reply" | json_get access_token)
[ -n "$token" ] || fail "first login gave no access token"
has_line "$(cat "$WORK/up.log")" 'chat login checked user=alice client=127\.0\.0\.3' ||
  fail "coursemail did not see the end user's address: $(grep 'chat login' "$WORK/up.log")"
reply=$(api GET "/_matrix/client/v3/profile/@alice:$SERVER_NAME/displayname" '' \
  -H "Authorization: Bearer $token")
expect_eq "$(body_of "$reply" | json_get displayname)" "Alice Liddell" "display name"

# Later logins find the user, whether named bare or in full.
reply=$(login "@alice:$SERVER_NAME" alice-password-1)
expect_eq "$(status_of "$reply")" 200 "second login: $(body_of "$reply")"
expect_eq "$(body_of "$reply" | json_get user_id)" "@alice:$SERVER_NAME" "second login user id"

expect_refused "$(login alice wrong-password)" "wrong password"
expect_refused "$(login mallory alice-password-1)" "unknown user"
expect_refused "$(login Alice alice-password-1)" "upper-case name"
expect_refused "$(login '@alice:elsewhere.test' alice-password-1)" "another server's user"
reply=$(api GET "/_matrix/client/v3/profile/@mallory:$SERVER_NAME" '' \
  -H "Authorization: Bearer $token")
expect_eq "$(status_of "$reply")" 404 "no user created for a refused login"

# No way around the course account: registration is closed, and a password cannot be set here.
reply=$(api POST /_matrix/client/v3/register '{"username": "eve", "password": "eve-password-1"}')
expect_refused "$reply" "registration"
change=$(python3 -c '
import json, sys
print(json.dumps({"new_password": "a-chat-only-password",
                  "auth": {"type": "m.login.password", "password": "alice-password-1",
                           "identifier": {"type": "m.id.user", "user": sys.argv[1]}}}))' \
  "@alice:$SERVER_NAME")
reply=$(api POST /_matrix/client/v3/account/password "$change" -H "Authorization: Bearer $token")
expect_refused "$reply" "password change"
expect_refused "$(login alice a-chat-only-password)" "login with a chat-only password"
reply=$(api GET /_matrix/client/v3/capabilities '' -H "Authorization: Bearer $token")
expect_eq "$(body_of "$reply" | json_get capabilities m.change_password enabled)" false \
  "capabilities: password change"

# coursemail's web stopped: the login fails with a Matrix error, and Synapse keeps serving.
kill -TERM "$UP_PID"
wait "$UP_PID" || fail "up exited with $? on SIGTERM"
reply=$(login alice alice-password-1)
expect_refused "$reply" "login while coursemail is down"
kill -0 "$SYNAPSE_PID" 2>/dev/null || fail "synapse died when coursemail went away"
expect_eq "$(status_of "$(api GET /_matrix/client/versions)")" 200 "synapse answers after that"
grep -q 'chat login of alice failed: coursemail gave no answer' "$WORK/synapse.log" ||
  fail "synapse's log does not say why the login failed"

kill -TERM "$SYNAPSE_PID"
wait "$SYNAPSE_PID" || true
echo "submatrix: ok"
