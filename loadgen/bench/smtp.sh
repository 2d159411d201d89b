#!/usr/bin/env bash
# SMTP submission benchmarks (printed, never asserted). Runs coursemail's SMTP server alone from
# a release build on loopback and drives it with loadgen:
#   1. messages/s and per-message latency: 50 clients, 4 KiB messages, each client logged in once
#      (AUTH PLAIN, 20 accounts hashed with argon2id) and submitting back to back; plain on a
#      trusted listener, then implicit TLS. Every message is durably committed before its 250.
#   2. server memory per idle connection (EHLO + AUTH, then silence), 5,000 sessions, all as one
#      user and one login at a time (--ramp 1): every argon2id check leaves its 19 MiB in the
#      allocator, and a burst of first logins runs ~100 blocking threads in the accounts' password
#      check; either would dwarf the sessions' own few KiB (POP3 shows the same effect). That
#      cost is per password check, not per connection.
# After each run the server's own commit statistics (batch sizes, commit times) are shown.
# Usage: loadgen/bench/smtp.sh [SECONDS-PER-RUN] [IDLE-CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
idle=${2:-5000}

cargo build --release -q -p coursemail -p loadgen
BIN=$PWD/target/release/coursemail LG=$PWD/target/release/loadgen
# Under target/ (the same file system the data root lives on in production matters: fsync cost).
WORK=$(mktemp -d "$PWD/target/bench-smtp.XXXXXX")
SERVER=
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT

# start_smtp DATA: the SMTP server alone, plain listener trusted (loopback) and implicit TLS.
start_smtp() {
  [ -n "$SERVER" ] && { kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; }
  COURSEMAIL_SMTP_TRUSTED=true COURSEMAIL_SMTP_STARTTLS_LISTEN=127.0.0.1:21587 \
  COURSEMAIL_SMTP_TLS_LISTEN=127.0.0.1:21465 COURSEMAIL_LOG=info,net=warn,accounts=warn \
    "$BIN" --data "$1" smtp >"$WORK/smtp.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/21587) 2>/dev/null && return; sleep 0.1; done
  cat "$WORK/smtp.log"; exit 1
}

# commit_stats: the committer's statistics lines logged during the last run.
commit_stats() {
  grep -a 'smtp commit statistics' "$WORK/smtp.log" | sed 's/.*INFO smtp::commit: /  server: /' || true
  : >"$WORK/smtp.log"
}

DATA=$WORK/data
for i in $(seq 0 19); do echo 'bench password' | "$BIN" --data "$DATA" user add "user$i" --password-stdin >/dev/null; done

echo "== 1. submissions: 50 clients x 4 KiB messages, plain (trusted listener)"
start_smtp "$DATA"
"$LG" --threads 1 smtp --addr 127.0.0.1:21587 --users 20 --user-prefix user --password 'bench password' \
  --concurrency 50 --duration "${secs}s" --size 4096 --rcpt list --server-pid "$SERVER"
commit_stats
echo "-- the same over implicit TLS"
"$LG" --threads 1 smtp --addr 127.0.0.1:21465 --security tls --users 20 --user-prefix user \
  --password 'bench password' --concurrency 50 --duration "${secs}s" --size 4096 --rcpt list \
  --server-pid "$SERVER"
commit_stats
echo "   stored: $(ls "$DATA/mail" | wc -l) messages in $(ls "$DATA/logs" | grep -c '^[0-9a-f]' || true) closed session records"

echo
echo "== 2. $idle idle sessions (EHLO + AUTH), plain"
start_smtp "$DATA"
"$LG" smtp-idle --addr 127.0.0.1:21587 --user-prefix user0 --password 'bench password' \
  --connections "$idle" --ramp 1 --hold 1s --server-pid "$SERVER"
echo "-- TLS"
start_smtp "$DATA"
"$LG" smtp-idle --addr 127.0.0.1:21465 --security tls --user-prefix user0 \
  --password 'bench password' --connections "$idle" --ramp 1 --hold 1s --server-pid "$SERVER"
