#!/usr/bin/env bash
# POP3 in its container against POP3 on the host (printed, never asserted): what the container
# and podman's published port cost. The same 1,000-message maildrop and 20 argon2id accounts
# are served twice, by `coursemail pop` on the host and by the pop container of
# containers/compose.yaml (the data root moved into volumes with backup.sh | restore.sh
# --volumes), and loadgen drives 20 clients over implicit TLS (the containers' plain port
# requires STLS first): each session logs in, STAT, LIST, UIDL, RETR 10 x 4 KiB, QUIT.
# Needs root, podman, podman-compose and the images (containers/build.sh).
# Usage: loadgen/bench/containers.sh [SECONDS-PER-RUN]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
ROOT=$PWD

cargo build --release -q -p coursemail -p loadgen
cargo build --release -q -p pop --example seed_maildrop
BIN=$ROOT/target/release/coursemail LG=$ROOT/target/release/loadgen SEED=$ROOT/target/release/examples/seed_maildrop
WORK=$(mktemp -d "$ROOT/target/bench-containers.XXXXXX")
export CONTAINERS_CONF=${CONTAINERS_CONF:-$ROOT/tests/e2e/lib/containers.conf}
export CM_PREFIX=cmbench$$- CM_PUBLISH=127.0.0.1 CM_POP3S_PORT=22995 CM_POP3_PORT=22110
# The other services are not started; their ports only need to be free if they were.
export CM_SMTPS_PORT=22465 CM_SUBMISSION_PORT=22587 CM_HTTPS_PORT=22443
COMPOSE=(podman-compose -p "${CM_PREFIX%-}" -f "$ROOT/containers/compose.yaml")
SERVER=
cleanup() {
  [ -z "$SERVER" ] || kill "$SERVER" 2>/dev/null
  wait 2>/dev/null
  "${COMPOSE[@]}" down >/dev/null 2>&1
  local part
  for part in mail logs journal accounts course pop tls grading; do podman volume rm -f "$CM_PREFIX$part" >/dev/null 2>&1; done
  podman network ls -q | grep "^${CM_PREFIX%-}_" | xargs -r podman network rm -f >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_port() {
  for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done
  echo "nothing listens on $1" >&2; exit 1
}
run_load() {
  "$LG" --threads 1 pop --addr "127.0.0.1:$1" --security tls --users 20 --user-prefix user \
    --password 'bench password' --concurrency 20 --duration "${secs}s" --retr 10
}

DATA=$WORK/data
"$SEED" "$DATA" 1000 1000 4096 >/dev/null
for i in $(seq 0 19); do echo 'bench password' | "$BIN" --data "$DATA" user add "user$i" --password-stdin >/dev/null; done
"$BIN" --data "$DATA" init >/dev/null

echo "== POP3 on the host: 20 clients over TLS, 1,000 messages"
COURSEMAIL_POP_TLS_LISTEN=127.0.0.1:21995 COURSEMAIL_POP_STLS_LISTEN= COURSEMAIL_LOG=warn \
  "$BIN" --data "$DATA" pop >"$WORK/pop.log" 2>&1 &
SERVER=$!
wait_port 21995
run_load 21995
kill "$SERVER"
wait "$SERVER" 2>/dev/null || true
SERVER=

echo
echo "== POP3 in its container, through podman's published port"
# The containers run as uid 10000: the state they read is theirs, as in a real deployment.
chown -R 10000:10000 "$DATA"
COURSEMAIL_BIN=$BIN ./backup.sh --data "$DATA" 2>/dev/null |
  COURSEMAIL_BIN=$BIN ./restore.sh --volumes --prefix "$CM_PREFIX" >/dev/null 2>&1
"${COMPOSE[@]}" up -d init pop >"$WORK/compose.log" 2>&1
wait_port "$CM_POP3S_PORT"
run_load "$CM_POP3S_PORT"
