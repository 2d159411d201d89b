#!/usr/bin/env bash
# Web dashboard benchmark (printed, never asserted): `coursemail web` alone from a release build
# on loopback, 1,000 students and 10 assignments, driven by wrk (apt: wrk) with 50 connections
# on GET /dashboard (one student), the instructors' overview GET /instructor/, and on the first
# and the last page of GET /instructor/grades
# (100 students x 10 assignments a page, with the charts of the whole course's 10,000 totals;
# the two pages should cost the same).
#
# Seeding: the instructor and the benchmark student (argon2 passwords) and the 10 dummy
# assignments with the CLI; the other 999 students through the roster page's CSV import (one
# POST; the CLI would open the database 999 times); their 40,000 grades (every component of
# every assignment) straight into course/course.db with Python's sqlite3, as the CLI has no bulk
# grade entry. No submissions are seeded.
# Usage: loadgen/bench/web.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
conns=${2:-50}
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }

cargo build --release -q -p coursemail
BIN=$PWD/target/release/coursemail
WORK=$(mktemp -d "$PWD/target/bench-web.XXXXXX")
DATA=$WORK/data
PORT=${WEB_BENCH_PORT:-28080}
URL=http://127.0.0.1:$PORT
SERVER=
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
cm() { "$BIN" --data "$DATA" "$@"; }

echo "== seeding: 1,000 students, 10 assignments, 40,000 grades"
echo 'bench-teach-pw' | cm user add teach --full-name 'The Teacher' --instructor --password-stdin >/dev/null
echo 'bench-student-pw' | cm user add s0000 --full-name 'Student 0' --student-id 100000 --password-stdin >/dev/null
for a in $(seq -w 1 10); do cm assignment dummy "hw$a" >/dev/null; done

# The dashboard alone, quiet; the login throttle is left at its defaults (two logins only).
COURSEMAIL_WEB_LISTEN=127.0.0.1:$PORT COURSEMAIL_LOG=warn "$BIN" --data "$DATA" web >"$WORK/web.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done

csrf_of() { sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' | head -n1; }
# login USER PASSWORD JAR
login() {
  local token
  token=$(curl -sS -c "$3" "$URL/login" | csrf_of)
  curl -sS -o /dev/null -b "$3" -c "$3" --data-urlencode "username=$1" \
    --data-urlencode "password=$2" --data "csrf=$token" "$URL/login"
}
login teach bench-teach-pw "$WORK/teach"
login s0000 bench-student-pw "$WORK/student"

token=$(curl -sS -b "$WORK/teach" "$URL/instructor/roster" | csrf_of)
for i in $(seq 1 999); do printf 's%04d,Student %d,%d\n' "$i" "$i" $((100000 + i)); done >"$WORK/roster.csv"
curl -sS -o /dev/null -w 'roster import: HTTP %{http_code}\n' -b "$WORK/teach" \
  --data "csrf=$token" --data-urlencode "csv@$WORK/roster.csv" "$URL/instructor/roster/import"

python3 - "$DATA/course/course.db" <<'PY'
import random, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=30)
now = int(time.time())
rows = [(f"hw{a:02d}", c, f"s{u:04d}", random.randint(40, 100), "seeded", 0, now)
        for a in range(1, 11) for c in ("initial", "review1", "review2", "final")
        for u in range(1000)]
with db:
    db.executemany("INSERT OR REPLACE INTO grades (assignment, component, username, score, "
                   "feedback, automatic, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
print(f"grades: {db.execute('SELECT count(*) FROM grades').fetchone()[0]} rows")
PY

cookie() { sed -n 's/.*\tcm_session\t\(.*\)$/cm_session=\1/p' "$1"; }
for page in dashboard instructor/ 'instructor/grades?page=1' 'instructor/grades?page=10'; do
  jar=$WORK/student; [ "$page" = dashboard ] || jar=$WORK/teach
  c=$(cookie "$jar")
  code=$(curl -sS -o "$WORK/page.html" -w '%{http_code}' -H "Cookie: $c" "$URL/$page")
  [ "$code" = 200 ] || { echo "GET /$page answered $code" >&2; exit 1; }
  echo
  echo "== GET /$page ($(wc -c <"$WORK/page.html") bytes): wrk -t2 -c$conns -d${secs}s --timeout 30s --latency"
  wrk -t2 -c"$conns" -d"${secs}s" --timeout 30s --latency -H "Cookie: $c" "$URL/$page" |
    grep -E 'Requests/sec|Latency |^ +(50|90|99)%|requests in|Non-2xx|Socket errors'
done
