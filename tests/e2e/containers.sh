#!/usr/bin/env bash
# The containerised stack end to end (SPEC §13): containers/build.sh builds the images from this
# checkout, podman-compose brings up containers/compose.yaml, and the course's life runs against
# it with real clients: students send series with git send-email over TLS, the grader (its own
# container, no network) checks them, an instructor triggers the initial deadline, students
# read the released mail over POP3 and see their dashboard over HTTPS, and log in to the course
# chat (compose.chat.yaml: Synapse asking the web's internal check) with their course password.
# It also checks what the compose files promise (read-only mounts, no shell in the static
# images, the check unreachable from outside), and that coursemail.kube.yaml, played by
# `podman kube play` on the same volumes, serves the same data.
#
# Everything runs under a random name prefix on loopback ports, so a real deployment on the same
# machine is never touched; containers, pods, networks and volumes are removed on exit.
# Needs root (podman, debootstrap for the denis image's base on the first run).
source "$(dirname "$0")/lib/common.bash"
source "$(dirname "$0")/lib/intake.bash"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# Test machines need runc and no default ulimits (lib/containers.conf); deployments don't.
export CONTAINERS_CONF="$ROOT/tests/e2e/lib/containers.conf"
PROJECT=cmtest$RANDOM$RANDOM
export CM_PREFIX="$PROJECT-" CM_PUBLISH=127.0.0.1 CM_HOSTNAME=$DOMAIN
COMPOSE=(podman-compose -p "$PROJECT" -f "$ROOT/containers/compose.yaml"
  -f "$ROOT/containers/compose.chat.yaml")
PARTS=(mail logs journal accounts course pop tls grading)
KUBE="$WORK/kube.yaml"

teardown() {
  [ -f "$KUBE" ] && podman kube down "$KUBE" >/dev/null 2>&1
  "${COMPOSE[@]}" down >/dev/null 2>&1
  local part
  for part in "${PARTS[@]}" chat; do podman volume rm -f "$CM_PREFIX$part" >/dev/null 2>&1; done
  podman network ls -q | grep "^${PROJECT}_" | xargs -r podman network rm -f >/dev/null 2>&1
  cleanup
}
trap teardown EXIT

# Seven free loopback ports for the published services.
read -r CM_SMTPS_PORT CM_SUBMISSION_PORT CM_POP3S_PORT CM_POP3_PORT CM_HTTPS_PORT CM_HTTP_PORT \
  CM_CHAT_PORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(7)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
export CM_SMTPS_PORT CM_SUBMISSION_PORT CM_POP3S_PORT CM_POP3_PORT CM_HTTPS_PORT CM_HTTP_PORT \
  CM_CHAT_PORT

"$ROOT/containers/build.sh" --with-chat 2>"$WORK/build.log" || { cat "$WORK/build.log"; fail "containers/build.sh failed"; }
"${COMPOSE[@]}" up -d >"$WORK/compose.log" 2>&1 || { cat "$WORK/compose.log"; fail "podman-compose up failed"; }

# The CLI runs in the container where what it changes is writable (compose.yaml): accounts and
# assignments in web, the journal in denis.
cm() { podman exec -i "${CM_PREFIX}web" coursemail "$@"; }
cm_denis() { podman exec -i "${CM_PREFIX}denis" coursemail "$@"; }

# $DATA mirrors the data root with links to the volumes, so the shared helpers can read the
# certificate and watch logs/ from the host (the containers' own view is read through them).
mkdir -p "$DATA"
for part in "${PARTS[@]}"; do
  dir=$part
  [ "$part" = grading ] && dir=grading.git
  ln -s "$(podman volume inspect --format '{{.Mountpoint}}' "$CM_PREFIX$part")" "$DATA/$dir"
done

# wait_port PORT: until something accepts on 127.0.0.1:PORT.
wait_port() {
  local tries=300
  until python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$1" 2>/dev/null; do
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || { podman ps -a >&2; fail "nothing listens on port $1"; }
    sleep 0.1
  done
}
for port in $CM_SMTPS_PORT $CM_SUBMISSION_PORT $CM_POP3S_PORT $CM_POP3_PORT $CM_HTTPS_PORT $CM_HTTP_PORT $CM_CHAT_PORT; do
  wait_port "$port"
done
expect_eq "$(podman inspect --format '{{.State.ExitCode}}' "${CM_PREFIX}init")" 0 "init container"
CERT="$DATA/tls/cert.pem"
[ -s "$CERT" ] || fail "init made no certificate"

# --- what the compose file promises --------------------------------------------------------
# writable_mounts CONTAINER: the destinations it may write, sorted, space-separated.
writable_mounts() {
  podman inspect --format '{{range .Mounts}}{{if .RW}}{{.Destination}} {{end}}{{end}}' "$1" |
    tr ' ' '\n' | grep -v '^/tmp$' | sed '/^$/d' | sort | tr '\n' ' '
}
D=/var/lib/coursemail
expect_eq "$(writable_mounts "${CM_PREFIX}pop")" "$D/pop " "pop writes only pop/"
expect_eq "$(writable_mounts "${CM_PREFIX}smtp")" "$D/logs $D/mail " "smtp writes mail/ and logs/"
expect_eq "$(writable_mounts "${CM_PREFIX}web")" "$D/accounts $D/course " "web writes the databases"
expect_eq "$(writable_mounts "${CM_PREFIX}denis")" "$D/course $D/grading.git $D/journal " "denis writes course, grading, journal"
for service in smtp pop web; do
  if podman exec "${CM_PREFIX}$service" /bin/sh -c true >/dev/null 2>&1; then
    fail "the $service image has a shell"
  fi
done
expect_eq "$(podman exec "${CM_PREFIX}denis" git --version | cut -d' ' -f1-2)" "git version" "git in the denis image"
# An init, not coursemail, is PID 1 in denis: it reaps the helpers of a git run killed at its
# time limit.
pid1=$(podman exec "${CM_PREFIX}denis" cat /proc/1/comm)
[ "$pid1" != coursemail ] || fail "coursemail is PID 1 in the denis container, so nothing reaps orphans"
# The chat gets the certificate, never tls/ with the key.
expect_eq "$(podman inspect --format '{{range .Mounts}}{{.Destination}} {{end}}' "${CM_PREFIX}submatrix")" \
  "/var/lib/submatrix " "the chat mounts only its own volume"

# --- the course ------------------------------------------------------------------------------
echo 'prof password 1' | cm user add prof --full-name "Pat Prof" --instructor --password-stdin >/dev/null
add_student alice "Alice A"
add_student bob "Bob B"
add_student carol "Carol C"
assignment_ahead hw1

# Students send their series with git send-email over implicit TLS, verifying the certificate.
SEND_PORT=$CM_SMTPS_PORT
for student in alice bob; do
  student_repo "$student" "${student^} ${student:0:1}"
  new_case "$student"
  commit_file "$student" "$student/main.c" 'int main(void) { return 0; }\n'
  send_series "$student" hw1 --cover-letter -v1 --subject-prefix="RFC PATCH"
  declare "SESSION_$student=$SESSION"
done
# The grader, in its own container, checks both sessions.
wait_processed "$SESSION_alice" "$SESSION_bob"
SUBMISSIONS=$(inspect submissions --assignment hw1)
expect_contains "$SUBMISSIONS" "$SESSION_alice" "alice's series recorded"

# Held back until the deadline: bob sees nothing of alice's series yet.
# pop_count USER: how many messages USER's maildrop holds (curl prints LIST's lines).
pop_count() {
  curl -sS --cacert "$CERT" -u "$1:$(password "$1")" "pop3s://localhost:$CM_POP3S_PORT/" | grep -c '^[0-9]' || true
}
# pop_subjects USER: the Subject of every message USER can RETR, one per line.
pop_subjects() {
  local n count
  count=$(pop_count "$1")
  for n in $(seq 1 "$count"); do
    curl -sS --cacert "$CERT" -u "$1:$(password "$1")" "pop3s://localhost:$CM_POP3S_PORT/$n" |
      sed -n 's/^Subject: //p' | tr -d '\r'
  done
}
expect_eq "$(pop_count bob)" 0 "nothing released before the deadline"

# The instructor triggers the initial deadline from the denis container (it writes the journal).
cm_denis assignment trigger hw1 initial >"$WORK/trigger.log" 2>&1 || { cat "$WORK/trigger.log"; fail "trigger failed"; }
bob_sees=$(pop_subjects bob)
expect_contains "$bob_sees" "[RFC PATCH v1 1/1] main.c: change" "bob reads the released series over POP3"
expect_contains "$(pop_subjects alice)" "[RFC PATCH v1 0/1] my series" "alice reads the cover letters"
# carol sent nothing by the initial deadline: her view is frozen (SPEC §1).
expect_eq "$(pop_count carol)" 0 "carol, who did not submit, sees nothing"

# The dashboard over HTTPS with the same certificate.
URL="https://localhost:$CM_HTTPS_PORT"
csrf_of() { sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' <<<"$1" | head -n1; }
page=$(curl -sS --cacert "$CERT" -c "$WORK/alice.jar" "$URL/login")
token=$(csrf_of "$page")
[ -n "$token" ] || fail "no csrf token on /login"
status=$(curl -sS --cacert "$CERT" -b "$WORK/alice.jar" -c "$WORK/alice.jar" -o /dev/null -w '%{http_code}' \
  --data-urlencode "username=alice" --data-urlencode "password=$(password alice)" \
  --data "csrf=$token" "$URL/login")
expect_eq "$status" 303 "alice logs in to the dashboard"
dashboard=$(curl -sS --cacert "$CERT" -b "$WORK/alice.jar" "$URL/dashboard")
expect_contains "$dashboard" "hw1" "the dashboard lists hw1"
expect_contains "$(curl -sS --cacert "$CERT" -b "$WORK/alice.jar" "$URL/activity")" "${SESSION_alice:0:14}" \
  "alice's activity lists her submission"
# Port 80 sends browsers to the HTTPS dashboard on the course's hostname, whatever Host says.
expect_eq "$(curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' -H 'Host: evil.example' \
  "http://127.0.0.1:$CM_HTTP_PORT/login?next=%2Fdashboard")" \
  "308 https://$DOMAIN/login?next=%2Fdashboard" "port 80 redirects to HTTPS"
# The credentials check is not on the published port.
expect_eq "$(curl -sS --cacert "$CERT" -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
  --data "{\"user\":\"alice\",\"password\":\"$(password alice)\"}" "$URL/internal/check")" 404 \
  "the published web does not serve /internal/check"

# --- the course chat -------------------------------------------------------------------------
# chat_login USER PASSWORD: Matrix password login on the chat's published port; prints the
# status and the body.
chat_login() {
  python3 - "$CM_CHAT_PORT" "$1" "$2" <<'PY'
import json, sys, time, urllib.error, urllib.request
port, user, password = sys.argv[1:4]
body = json.dumps({"type": "m.login.password", "password": password,
                   "identifier": {"type": "m.id.user", "user": user}}).encode()
request = urllib.request.Request(f"http://127.0.0.1:{port}/_matrix/client/v3/login", data=body,
                                 headers={"Content-Type": "application/json"})
for attempt in range(300):
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            print(answer.status, answer.read().decode())
        break
    except urllib.error.HTTPError as e:
        print(e.code, e.read().decode())
        break
    except (ConnectionError, urllib.error.URLError):
        time.sleep(0.1)  # Synapse accepts connections a moment before it answers them
PY
}
chat=$(chat_login alice "$(password alice)")
expect_contains "$chat" "200 " "alice logs in to the chat with her course password"
expect_contains "$chat" "\"user_id\":\"@alice:$DOMAIN\"" "alice's chat user"
chat=$(chat_login alice "not her password")
expect_contains "$chat" "403 " "a wrong chat password"
expect_contains "$chat" "M_FORBIDDEN" "a wrong chat password"

# --- the same volumes under podman kube play ---------------------------------------------------
"${COMPOSE[@]}" down >/dev/null 2>&1
# The manifest with this test's names and ports instead of the standard ones.
python3 - "$ROOT/containers/coursemail.kube.yaml" "$KUBE" "$CM_PREFIX" "$DOMAIN" \
  "$CM_SMTPS_PORT" "$CM_SUBMISSION_PORT" "$CM_POP3S_PORT" "$CM_POP3_PORT" "$CM_HTTPS_PORT" \
  "$CM_HTTP_PORT" <<'PY'
import re, sys
src, dst, prefix, domain, *ports = sys.argv[1:]
text = open(src).read()
text = re.sub(r"(?<!localhost/)coursemail-(mail|logs|journal|accounts|course|pop|tls|grading|denis|smtp|web)\b",
              lambda m: prefix + m.group(1), text)
# The mail domain the compose stack recorded in these volumes.
text = text.replace("value: course.localhost}", f"value: {domain}}}")
for standard, port in zip(("465", "587", "995", "110", "443", "80"), ports):
    text = text.replace(f"hostPort: {standard}}}", f"hostPort: {port}}}")
open(dst, "w").write(text)
PY
podman kube play "$KUBE" >"$WORK/kube.log" 2>&1 || { cat "$WORK/kube.log"; fail "podman kube play refused the manifest"; }
for port in $CM_SMTPS_PORT $CM_SUBMISSION_PORT $CM_POP3S_PORT $CM_POP3_PORT $CM_HTTPS_PORT; do
  wait_port "$port"
done
expect_eq "$(pop_subjects bob)" "$bob_sees" "the kube pods serve the same maildrop"
expect_eq "$(curl -sS --cacert "$CERT" -o /dev/null -w '%{http_code}' "$URL/login")" 200 "the kube web pod"
expect_eq "$(curl -sS --cacert "$CERT" -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
  --data "{\"user\":\"alice\",\"password\":\"$(password alice)\"}" "$URL/internal/check")" 404 \
  "the kube web pod does not publish /internal/check"
echo "containers: ok"
