#!/usr/bin/env bash
# `coursemail up` on a fresh data root: it creates the layout with private permissions and a
# self-signed certificate, prints where things are, keeps the certificate on a second start, and
# stops cleanly on SIGTERM.
source "$(dirname "$0")/lib/common.bash"

"$BIN" --data "$DATA" up --hostname course.test --smtps-port 0 --submission-port 0 --pop3s-port 0 --pop3-port 0 --web-port 0 >"$WORK/up.log" 2>&1 &
PIDS+=($!)
up_pid=$!
wait_for_line "$WORK/up.log" "Stop with Ctrl-C"
log=$(cat "$WORK/up.log")
expect_contains "$log" "course.test" "hostname printed"
expect_contains "$log" "$DATA" "data root printed"
expect_contains "$log" "user add" "first instructor hint"
expect_contains "$log" "POP3 (TLS)" "POP3 listener printed"

for dir in "$DATA" "$DATA/mail" "$DATA/logs" "$DATA/journal" "$DATA/accounts" "$DATA/course" "$DATA/pop" "$DATA/tls"; do
  [ -d "$dir" ] || fail "$dir missing"
  expect_eq "$(mode "$dir")" 700 "mode of $dir"
done
expect_eq "$(mode "$DATA/tls/key.pem")" 600 "private key mode"
[ -s "$DATA/tls/cert.pem" ] || fail "no certificate"
[ -f "$DATA/journal/journal" ] || fail "no journal"
[ -f "$DATA/accounts/accounts.db" ] || fail "no accounts database"
case "$(mode "$DATA/accounts/accounts.db")" in 600|640) ;; *) fail "accounts.db mode $(mode "$DATA/accounts/accounts.db")" ;; esac

# The certificate names the hostname.
if command -v openssl >/dev/null; then
  has_line "$(openssl x509 -in "$DATA/tls/cert.pem" -noout -text)" "DNS:course.test" || fail "certificate lacks DNS:course.test"
fi

kill -TERM "$up_pid"
wait "$up_pid" || fail "up exited with $? on SIGTERM"
expect_contains "$(cat "$WORK/up.log")" "stopping" "clean stop"

# A second start keeps the existing certificate.
sum=$(sha256sum "$DATA/tls/cert.pem")
"$BIN" --data "$DATA" up --smtps-port 0 --submission-port 0 --pop3s-port 0 --pop3-port 0 --web-port 0 >"$WORK/up2.log" 2>&1 &
PIDS+=($!)
wait_for_line "$WORK/up2.log" "coursemail is up"
expect_eq "$(sha256sum "$DATA/tls/cert.pem")" "$sum" "certificate kept across starts"
kill -TERM "$!"; wait "$!" || fail "second up did not stop cleanly"
echo "up: ok"
