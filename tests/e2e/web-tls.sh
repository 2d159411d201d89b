#!/usr/bin/env bash
# The dashboard over HTTPS (`[web] tls = true`): curl trusts only the certificate in tls/ (the
# one SMTP and POP3 use), the session cookie comes back Secure, plain HTTP on that port fails,
# and a client that never finishes its handshake does not hold up the others.
source "$(dirname "$0")/lib/common.bash"
command -v curl >/dev/null || skip "no curl"

echo 'teach-password-1' | cm user add teach --full-name 'The Teacher' --instructor --password-stdin >/dev/null

COURSEMAIL_WEB_TLS=true start_up
WEB_PORT=$(sed -n 's|.*web  *https://[^:]*:\([0-9]*\)/$|\1|p' "$WORK/up.log")
[ -n "$WEB_PORT" ] || fail "no https web port in: $(cat "$WORK/up.log")"
URL="https://localhost:$WEB_PORT"
CERT="$DATA/tls/cert.pem"

# A silent client holding a TCP connection open (its handshake never starts) must not block
# the accept loop.
exec 3<>"/dev/tcp/127.0.0.1/$WEB_PORT"

page=$(curl -sS --cacert "$CERT" -c "$WORK/anon" "$URL/login")
expect_contains "$page" 'name="csrf"' "login page over https"
token=$(sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' <<<"$page" | head -n1)
headers=$(curl -sS --cacert "$CERT" -D - -o /dev/null -b "$WORK/anon" \
  --data-urlencode "username=teach" --data-urlencode "password=teach-password-1" \
  --data "csrf=$token" "$URL/login")
expect_contains "$headers" "location: /instructor/" "instructor login over https"
has_line "$headers" '^set-cookie: cm_session=[^;]*;.*Secure' || fail "session cookie not Secure: $headers"

# Without the certificate curl refuses (it is self-signed), and plain HTTP gets no page.
curl -sS -o /dev/null "$URL/login" 2>/dev/null && fail "curl accepted an untrusted certificate"
code=$(curl -sS -o /dev/null -w '%{http_code}' "http://localhost:$WEB_PORT/login" 2>/dev/null || true)
[ "$code" != 200 ] || fail "plain HTTP served a page on the TLS port"
exec 3>&-

kill -TERM "$UP_PID"
wait "$UP_PID" || fail "up exited with $? on SIGTERM"
echo "web-tls: ok"
