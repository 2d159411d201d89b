#!/usr/bin/env bash
# POP3 benchmarks (printed, never asserted). Runs coursemail's POP3 server alone from a release
# build on loopback and drives it with loadgen:
#   1. sessions/s and latency: 20 clients, each session login, STAT, LIST, UIDL, RETR of 10
#      messages of ~4 KiB from a 1,000-message maildrop; 20 accounts hashed with argon2id;
#   2. login-to-STAT latency with journals of 1k and 1M messages;
#   3. server memory per idle logged-in connection, 10,000 plain and 10,000 TLS.
# Usage: loadgen/bench/pop3.sh [SECONDS-PER-RUN] [IDLE-CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
idle=${2:-10000}

cargo build --release -q -p coursemail -p loadgen
cargo build --release -q -p pop --example seed_maildrop
BIN=$PWD/target/release/coursemail LG=$PWD/target/release/loadgen SEED=$PWD/target/release/examples/seed_maildrop
WORK=$(mktemp -d "$PWD/target/bench-pop3.XXXXXX")
SERVER=
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT

# start_pop DATA: the POP3 server alone, plain listener trusted (loopback) and implicit TLS.
start_pop() {
  [ -n "$SERVER" ] && { kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; }
  COURSEMAIL_POP_TRUSTED=true COURSEMAIL_POP_STLS_LISTEN=127.0.0.1:21110 \
  COURSEMAIL_POP_TLS_LISTEN=127.0.0.1:21995 COURSEMAIL_LOG=warn \
    "$BIN" --data "$1" pop >"$WORK/pop.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/21110) 2>/dev/null && return; sleep 0.1; done
  cat "$WORK/pop.log"; exit 1
}

# users DATA: 20 students and one more, passwords hashed with argon2id (loadgen gives every user
# the same password).
users() {
  for i in $(seq 0 19); do echo 'bench password' | "$BIN" --data "$1" user add "user$i" --password-stdin >/dev/null; done
  echo 'bench password' | "$BIN" --data "$1" user add bench --password-stdin >/dev/null
}

echo "== 1. sessions: 20 clients, login + STAT + LIST + UIDL + RETR 10 x 4 KiB, 1,000 messages"
"$SEED" "$WORK/d1k" 1000 1000 4096 >/dev/null
users "$WORK/d1k"
start_pop "$WORK/d1k"
"$LG" --threads 1 pop --addr 127.0.0.1:21110 --users 20 --user-prefix user --password 'bench password' \
  --concurrency 20 --duration "${secs}s" --retr 10
echo "-- the same over implicit TLS"
"$LG" --threads 1 pop --addr 127.0.0.1:21995 --security tls --users 20 --user-prefix user --password 'bench password' \
  --concurrency 20 --duration "${secs}s" --retr 10

echo
echo "== 2. login-to-STAT latency (one client), journal of 1k messages"
"$LG" pop --addr 127.0.0.1:21110 --user-prefix bench --password 'bench password' \
  --concurrency 1 --duration "${secs}s" --retr 0 --stat-only
echo "-- journal of 1M messages"
"$SEED" "$WORK/d1m" 1000000 1000 4096 >/dev/null
users "$WORK/d1m"
start_pop "$WORK/d1m"
"$LG" pop --addr 127.0.0.1:21110 --user-prefix bench --password 'bench password' \
  --concurrency 1 --duration "${secs}s" --retr 0 --stat-only

echo
echo "== 3. $idle idle logged-in connections, plain"
start_pop "$WORK/d1k"
"$LG" pop-idle --addr 127.0.0.1:21110 --user-prefix bench --password 'bench password' \
  --connections "$idle" --hold 1s --server-pid "$SERVER"
echo "-- TLS"
start_pop "$WORK/d1k"
"$LG" pop-idle --addr 127.0.0.1:21995 --security tls --user-prefix bench --password 'bench password' \
  --connections "$idle" --hold 1s --server-pid "$SERVER"
