# Shared helpers for the end-to-end scripts (sourced, not run).
# Each script gets a fresh temporary data root in $DATA and the binary in $BIN; whatever it
# starts in the background is stopped on exit.
set -euo pipefail

BIN=${E2E_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)/target/debug/coursemail}
WORK=$(mktemp -d /tmp/coursemail-e2e.XXXXXX)
DATA="$WORK/data"
PIDS=()

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP_WORK:-}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

cm() { "$BIN" --data "$DATA" "$@"; }

fail() { echo "FAIL: $*" >&2; exit 1; }

# skip REASON: this script cannot run here (a tool is missing). Exit status 77, which test.sh
# counts as skipped, never as passed; under CI a skip fails the run.
skip() { echo "SKIPPED: $(basename "$0"): $*" >&2; exit 77; }

# expect_eq ACTUAL EXPECTED WHAT
expect_eq() { [ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"; }

# expect_contains HAYSTACK NEEDLE WHAT
expect_contains() { case "$1" in *"$2"*) ;; *) fail "$3: '$2' not in: $1" ;; esac; }

# wait_for_line FILE TEXT [SECONDS]: wait until a log file has a line with TEXT.
wait_for_line() {
  local file=$1 text=$2 tries=$(( ${3:-30} * 10 ))
  while ! grep -qF -- "$text" "$file" 2>/dev/null; do
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || { cat "$file" >&2 || true; fail "timed out waiting for '$text' in $file"; }
    sleep 0.1
  done
}

# has_line TEXT REGEX: TEXT has a line matching the extended REGEX. (Takes text, not a pipe:
# `cmd | grep -q` fails under pipefail whenever grep stops reading before cmd has written all.)
has_line() { grep -Eq -- "$2" <<<"$1"; }

# mode PATH: octal permission bits.
mode() { stat -c %a "$1"; }

# store_messages COUNT [SUBJECT-PREFIX]: writes COUNT messages of one session into $DATA/mail in
# stored (wire) form with their header length recorded, as smtp stores them, and prints their
# ids one per line. Bodies include a dot-stuffed line and a long line.
store_messages() {
  python3 - "$DATA/mail" "$1" "${2:-message}" <<'PY'
import os, sys, struct, time, random
mail, count, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sub = f"{int(time.time() * 1e6):014x}{random.getrandbits(48):012x}"
for i in range(1, count + 1):
    name = f"{sub}{i:04x}"
    header = (f"Message-ID: <{name}@localhost>\r\nFrom: <alice@localhost>\r\n"
              f"Subject: {prefix} {i}\r\n\r\n").encode()
    body = (f"body of {prefix} {i}\r\n..a line that starts with a dot\r\n" + "x" * 1200 + "\r\n"
            + "".join(f"line {n}\r\n" for n in range(1, 8))).encode()
    path = os.path.join(mail, name)
    tmp = os.path.join(mail, "." + name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(header + body + b".\r\n")
    os.setxattr(tmp, "user.header_len", struct.pack("<q", len(header)))
    os.rename(tmp, path)
    print(name)
PY
}

# start_up [ARGS...]: runs `coursemail up` on $DATA with every port chosen by the system, waits
# until it is ready, and sets SMTPS_PORT, SUBMISSION_PORT, POP3S_PORT and POP3_PORT from what it
# printed.
start_up() {
  "$BIN" --data "$DATA" up --smtps-port 0 --submission-port 0 --pop3s-port 0 --pop3-port 0 \
    --web-port 0 "$@" \
    >"$WORK/up.log" 2>&1 &
  PIDS+=($!)
  UP_PID=$!
  # The summary's last line: every listener line is written by then.
  wait_for_line "$WORK/up.log" "Stop with Ctrl-C"
  POP3S_PORT=$(sed -n 's/.*POP3 (TLS) .*:\([0-9]*\)$/\1/p' "$WORK/up.log")
  POP3_PORT=$(sed -n 's/.*POP3 (STARTTLS) .*:\([0-9]*\)$/\1/p' "$WORK/up.log")
  [ -n "$POP3S_PORT" ] && [ -n "$POP3_PORT" ] || fail "no POP3 ports in: $(cat "$WORK/up.log")"
  SMTPS_PORT=$(sed -n 's/.*SMTP (TLS) .*:\([0-9]*\)$/\1/p' "$WORK/up.log")
  SUBMISSION_PORT=$(sed -n 's/.*SMTP (STARTTLS) .*:\([0-9]*\)$/\1/p' "$WORK/up.log")
  [ -n "$SMTPS_PORT" ] && [ -n "$SUBMISSION_PORT" ] || fail "no SMTP ports in: $(cat "$WORK/up.log")"
}
