#!/usr/bin/env bash
# Initial-deadline benchmark (printed, never asserted): a release build runs `coursemail
# assignment trigger hw initial` on a course of N students (default 1,000 and 10,000) who all
# missed it: every one is frozen in one step (the caps file beside the journal), given an
# automatic zero, and the run recorded. Students are seeded straight into accounts.db (no
# password, as a roster import makes them).
# Usage: loadgen/bench/deadline.sh [N...]
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v sqlite3 >/dev/null || { echo "sqlite3 is needed (apt-get install sqlite3)" >&2; exit 1; }
cargo build --release -q -p coursemail
BIN=$PWD/target/release/coursemail
WORK=$(mktemp -d /tmp/coursemail-bench-deadline.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
for n in "${@:-1000 10000}"; do
  for count in $n; do
    data=$WORK/data-$count
    "$BIN" --data "$data" init >/dev/null
    {
      echo "BEGIN;"
      for i in $(seq 1 "$count"); do
        printf "INSERT INTO users (username, full_name, role, created_at) VALUES ('s%05d', 'Student %d', 'student', 0);\n" "$i" "$i"
      done
      echo "COMMIT;"
    } | sqlite3 "$data/accounts/accounts.db"
    "$BIN" --data "$data" assignment dummy hw >/dev/null
    start=$(date +%s.%N)
    "$BIN" --data "$data" assignment trigger hw initial >"$WORK/trigger.log"
    end=$(date +%s.%N)
    caps=$("$BIN" --data "$data" journal show | grep -c '^cap ' || true)
    printf '%6d students, all delinquent: initial deadline in %.2f s (%d frozen; caps file %d bytes)\n' \
      "$count" "$(echo "$end - $start" | bc)" "$caps" "$(stat -c %s "$data/journal/journal.caps")"
  done
done
