#!/usr/bin/env bash
# The web dashboard against `coursemail up` with curl: a student registers with their student id
# and logs in with a cookie jar, sees the dashboard; the instructor downloads the gradebook CSV;
# a student asking for an instructor page gets 403; a foreign ?next= is not followed.
source "$(dirname "$0")/lib/common.bash"
command -v curl >/dev/null || skip "no curl"

echo 'teach-password-1' | cm user add teach --full-name 'The Teacher' --instructor --password-stdin >/dev/null
cm user add alice --full-name 'Alice Liddell' --student-id s1001 >/dev/null

start_up
WEB_PORT=$(sed -n 's|.*web  *http://[^:]*:\([0-9]*\)/$|\1|p' "$WORK/up.log")
[ -n "$WEB_PORT" ] || fail "no web port in: $(cat "$WORK/up.log")"
URL="http://127.0.0.1:$WEB_PORT"

# csrf_of PAGE: the first hidden csrf field of a page.
csrf_of() { sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' <<<"$1" | head -n1; }

# Register: the one-time password is shown once.
page=$(curl -sS -c "$WORK/anon" "$URL/register")
token=$(csrf_of "$page")
[ -n "$token" ] || fail "no csrf token on /register"
page=$(curl -sS -b "$WORK/anon" --data-urlencode "student_id=s1001" --data "csrf=$token" "$URL/register")
password=$(sed -n 's/.*class="secret">\([A-Za-z0-9]*\)<.*/\1/p' <<<"$page")
[ ${#password} -eq 16 ] || fail "no one-time password in: $page"

# login USER PASSWORD JAR: logs in, leaves the session cookie in JAR, prints the redirect target.
login() {
  local page token
  page=$(curl -sS -c "$3" "$URL/login")
  token=$(csrf_of "$page")
  curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' -b "$3" -c "$3" \
    --data-urlencode "username=$1" --data-urlencode "password=$2" \
    --data-urlencode "next=${4:-}" --data "csrf=$token" "$URL/login"
}

expect_eq "$(login alice "$password" "$WORK/alice")" "303 $URL/dashboard" "student login"
page=$(curl -sS -b "$WORK/alice" "$URL/dashboard")
expect_contains "$page" "Alice Liddell" "dashboard shows the student"
expect_contains "$page" "alice@course.localhost" "dashboard shows the address"
expect_eq "$(curl -sS -o /dev/null -w '%{http_code}' -b "$WORK/alice" "$URL/instructor/")" 403 "student on an instructor page"
expect_eq "$(curl -sS -o /dev/null -w '%{http_code}' "$URL/dashboard")" 303 "anonymous dashboard"
headers=$(curl -sS -D - -o /dev/null -b "$WORK/alice" "$URL/setup")
expect_contains "$headers" "content-security-policy: default-src 'self'" "CSP header"

# A foreign next is replaced by the default.
expect_eq "$(login teach teach-password-1 "$WORK/teach" '//evil.example')" "303 $URL/instructor/" "instructor login, foreign next ignored"
csv=$(curl -sS -b "$WORK/teach" -w '\n%{http_code} %{content_type}' "$URL/instructor/gradebook.csv")
expect_contains "$csv" "200 text/csv" "gradebook download"
expect_contains "$(head -n1 <<<"$csv")" "username" "gradebook header"

xml=$(curl -sS "$URL/.well-known/autoconfig/mail/config-v1.1.xml")
expect_contains "$xml" "<hostname>localhost</hostname>" "autoconfig"

# Sessions from the command line: alice's session, with the address she logged in from, ended
# by `user logout` (her password stays).
sessions=$(cm user sessions alice 2>/dev/null)
expect_contains "$sessions" "127.0.0.1" "user sessions shows the address"
expect_contains "$(cm user logout alice)" "ended 1 web session(s) of alice" "user logout"
expect_eq "$(curl -sS -o /dev/null -w '%{http_code}' -b "$WORK/alice" "$URL/dashboard")" 303 \
  "alice's browser is logged out"
expect_eq "$(login alice "$password" "$WORK/alice")" "303 $URL/dashboard" "alice logs in again"

kill -TERM "$UP_PID"
wait "$UP_PID" || fail "up exited with $? on SIGTERM"
echo "web: ok"
