#!/usr/bin/env bash
# backup.sh and restore.sh on a running system (SPEC §13): `coursemail up` takes SMTP load from
# loadgen, and an instructor keeps pushing to the course's base repository (course/base.git),
# while backup.sh runs; the archive is restored into a fresh root, which must hold every message
# stored and every record line written before the backup began, byte for byte with their xattrs,
# a journal that verifies and keeps a restricted user's cap, sound databases with the users, a
# base repository whose branch is one that was pushed, no older than at the start of the backup,
# with every object it needs, and must come up, serve POP3, and check a new series on top of
# that base. restore.sh must refuse a running or non-empty root, an archive cut short and one
# whose base repository lacks objects, and both scripts a request for a data root and volumes
# at once; backup.sh must refuse a broken base repository. (--volumes has its own test:
# backup-volumes.sh.)
source "$(dirname "$0")/lib/common.bash"
source "$(dirname "$0")/lib/intake.bash"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# loadgen from this checkout (a no-op build when it is fresh), unless E2E_LOADGEN names one.
if [ -z "${E2E_LOADGEN:-}" ]; then
  (cd "$ROOT" && cargo build -q -j "${CARGO_BUILD_JOBS:-2}" -p loadgen)
fi
LOADGEN=${E2E_LOADGEN:-$ROOT/target/debug/loadgen}
PASSWORD='backup password'
RESTORED=$WORK/restored

# serve ROOT [ARGS...]: `coursemail up` on ROOT with every port chosen by the system (the web's
# too: other tests may run beside this one) and ARGS; sets UP_PID, SMTPS_PORT and POP3S_PORT.
# Like start_up in lib/common.bash, but waits for the last line up prints, so the listener lines
# are all there, and logs to a file of its own per start, so a start never reads another's log.
SERVES=0
serve() {
  SERVES=$((SERVES + 1))
  local log=$WORK/up-$SERVES-${1##*/}.log
  "$BIN" --data "$1" up --smtps-port 0 --submission-port 0 --pop3s-port 0 --pop3-port 0 \
    --web-port 0 "${@:2}" >"$log" 2>&1 &
  UP_PID=$!
  PIDS+=("$UP_PID")
  wait_for_line "$log" "Stop with"
  SMTPS_PORT=$(sed -n 's/.*SMTP (TLS) .*:\([0-9]*\)$/\1/p' "$log")
  POP3S_PORT=$(sed -n 's/.*POP3 (TLS) .*:\([0-9]*\)$/\1/p' "$log")
  [ -n "$SMTPS_PORT" ] && [ -n "$POP3S_PORT" ] || fail "no SMTP or POP3 port in: $(cat "$log")"
}
# restore ARGS...: restore.sh verifying with the binary under test.
restore() { COURSEMAIL_BIN=$BIN "$ROOT/restore.sh" "$@"; }
# data_end FILE: the journal's committed length in bytes.
data_end() { getfattr --absolute-names --only-values -n user.data_end "$1" | od -An -t u8 --endian=little | tr -d ' '; }
# ids DIR: the message or submission ids in DIR.
ids() { ls "$1" | grep -E '^[0-9a-f]{30}$' || true; }

for user in user0 user1 user2 user3; do
  echo "$PASSWORD" | cm user add "$user" --password-stdin >/dev/null
done
echo "$PASSWORD" | cm user add prof --full-name 'Pat Prof' --instructor --password-stdin >/dev/null
serve "$DATA" --hostname "$DOMAIN"
# loadgen over implicit TLS: four clients as user0..user2, each in one session for the whole run.
# A command, not a function, so that `"${send[@]}" &` leaves loadgen's own pid in $!.
send=("$LOADGEN" smtp --addr "127.0.0.1:$SMTPS_PORT" --security tls --users 3 --user-prefix user
  --password "$PASSWORD" --concurrency 4 --size 2048 --rcpt list --domain "$DOMAIN")

# Closed sessions first, released by denis into the journal; then user3's view is frozen there.
"${send[@]}" --duration 1s >"$WORK/warmup.log"
stored=$(ids "$DATA/mail" | wc -l)
[ "$stored" -gt 0 ] || fail "the warm-up stored nothing: $(cat "$WORK/warmup.log")"
for _ in $(seq 300); do
  [ "$(data_end "$DATA/journal/journal")" -lt $((stored * 48)) ] || break
  sleep 0.1
done
expect_eq "$(data_end "$DATA/journal/journal")" $((stored * 48)) "journal end after the warm-up's release"
cm journal restrict deny user3 >/dev/null
cap_before=$(cm journal show | grep '^cap user3 ')

# The course's base repository. It has alice/existing.c, which a series below changes: that series
# applies only on top of this base (denis' empty base has no such file).
git init -q --bare "$DATA/course/base.git"
instructor=$WORK/instructor
git init -q "$instructor"
git -C "$instructor" config user.name 'Pat Prof'
git -C "$instructor" config user.email prof@localhost
mkdir "$instructor/alice"
printf 'int existing;\n' >"$instructor/alice/existing.c"
git -C "$instructor" add . && git -C "$instructor" commit -q -m "course skeleton"
git -C "$instructor" push -q "$DATA/course/base.git" HEAD:refs/heads/main
git --git-dir="$DATA/course/base.git" symbolic-ref HEAD refs/heads/main
# push_base: the instructor's pushes, one new commit each, until $WORK/stop-pushing exists. Each
# commit is listed in $WORK/base-pushed before it is pushed, so whatever the backup saw is listed.
push_base() {
  local n=0
  while [ ! -e "$WORK/stop-pushing" ]; do
    n=$((n + 1))
    printf 'note %s\n' "$n" >"$instructor/notes"
    git -C "$instructor" add notes
    git -C "$instructor" commit -q -m "notes, take $n"
    git -C "$instructor" rev-parse HEAD >>"$WORK/base-pushed"
    git -C "$instructor" push -q "$DATA/course/base.git" HEAD:refs/heads/main
  done
}

# Sessions that stay open across the backup, then what was stored and recorded before it began.
"${send[@]}" --duration 30s >"$WORK/load.log" 2>&1 &
LOAD_PID=$!
PIDS+=("$LOAD_PID")
for _ in $(seq 300); do
  [ "$(ids "$DATA/logs/.open" | wc -l)" -lt 4 ] || [ "$(ids "$DATA/mail" | wc -l)" -lt $((stored + 500)) ] || break
  sleep 0.1
done
# Records before mail: a record line is written only once its message is stored, so every
# recorded id is in the mail listing too.
ids "$DATA/logs" >"$WORK/records-before"
{ cat "$DATA"/logs/.open/* "$DATA"/logs/[0-9a-f]* 2>/dev/null || true; } | awk '$1 == "message" { print $2 }' >"$WORK/recorded-before"
ids "$DATA/mail" >"$WORK/mail-before"
end_before=$(data_end "$DATA/journal/journal")
[ "$(ids "$DATA/logs/.open" | wc -l)" -ge 1 ] || fail "no session open when the backup began"
base_before=$(git --git-dir="$DATA/course/base.git" rev-parse main)
push_base 2>"$WORK/push.log" &
PUSH_PID=$!
PIDS+=("$PUSH_PID")

"$ROOT/backup.sh" --data "$DATA" >"$WORK/state.tar.gz" 2>"$WORK/backup.log" ||
  fail "backup.sh failed: $(cat "$WORK/backup.log")"
kill -0 "$LOAD_PID" 2>/dev/null || fail "loadgen stopped before the backup finished: $(cat "$WORK/load.log")"
kill "$LOAD_PID"
wait "$LOAD_PID" 2>/dev/null || true
touch "$WORK/stop-pushing"
wait "$PUSH_PID" || fail "the instructor's pushes to base.git failed: $(cat "$WORK/push.log")"
expect_contains "$(cat "$WORK/backup.log")" "done" "backup progress on stderr"
[ "$(ids "$DATA/mail" | wc -l)" -gt "$(wc -l <"$WORK/mail-before")" ] || fail "no mail arrived while the backup ran"

# Refusals: the running root, a non-empty root, an archive cut short, two targets at once.
status=0
restore --data "$DATA" <"$WORK/state.tar.gz" 2>"$WORK/refused.log" || status=$?
expect_eq "$status" 3 "restore into the running root"
expect_contains "$(cat "$WORK/refused.log")" "running" "refusal names the running services"
head -c 20000 "$WORK/state.tar.gz" >"$WORK/cut.tar.gz"
status=0
restore --data "$WORK/cut" <"$WORK/cut.tar.gz" 2>/dev/null || status=$?
expect_eq "$status" 1 "restore of an archive cut short"
[ ! -e "$WORK/cut" ] || fail "a failed restore left $WORK/cut behind"
for script in backup.sh restore.sh; do
  status=0
  "$ROOT/$script" --data "$WORK/both" --volumes <"$WORK/state.tar.gz" >"$WORK/both.tar.gz" 2>"$WORK/both.log" || status=$?
  expect_eq "$status" 2 "$script with both --data and --volumes"
  expect_contains "$(cat "$WORK/both.log")" "exclude each other" "$script says why"
  [ ! -e "$WORK/both" ] || fail "$script with both --data and --volumes created $WORK/both"
done

restore --data "$RESTORED" <"$WORK/state.tar.gz" >"$WORK/restore.out" 2>"$WORK/restore.log" ||
  fail "restore.sh failed: $(cat "$WORK/restore.log")"
summary=$(cat "$WORK/restore.out")
expect_contains "$summary" "0 journal problem(s); 0 mismatch(es) with mail/" "journal verified by restore"
has_line "$summary" '^  users +5$' || fail "restore summary lacks the 5 users: $summary"
status=0
restore --data "$RESTORED" <"$WORK/state.tar.gz" 2>"$WORK/refused.log" || status=$?
expect_eq "$status" 3 "restore into a non-empty root"
expect_contains "$(cat "$WORK/refused.log")" "not empty" "refusal names the non-empty root"

# Every message stored and every record line written before the backup began, byte for byte
# with header_len; closed records unchanged; the journal a prefix of the live one with its caps.
python3 - "$DATA" "$RESTORED" "$WORK" "$end_before" <<'PY'
import os, sys
live, restored, work, end_before = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
lines = lambda name: open(os.path.join(work, name)).read().split()
def same_file(rel, xattrs=()):
    a, b = os.path.join(live, rel), os.path.join(restored, rel)
    assert os.path.exists(b), f"{rel} is missing from the restored root"
    assert open(a, "rb").read() == open(b, "rb").read(), f"{rel} differs from the original"
    for x in xattrs:
        assert os.getxattr(a, x) == os.getxattr(b, x), f"{rel}: xattr {x} differs"
mail = lines("mail-before")
for mid in mail:
    same_file(f"mail/{mid}", ["user.header_len"])
for sub in lines("records-before"):
    same_file(f"logs/{sub}")
named = set()
for d in ("logs", "logs/.open"):
    for name in os.listdir(os.path.join(restored, d)):
        if len(name) == 30:
            for line in open(os.path.join(restored, d, name)):
                if line.startswith("message "):
                    named.add(line.split()[1])
recorded = lines("recorded-before")
assert set(recorded) <= set(mail), "a record named a message missing from mail/"
missing = [m for m in recorded if m not in named]
assert not missing, f"{len(missing)} recorded messages not in any restored record, e.g. {missing[0]}"
j_live, j_rest = os.path.join(live, "journal/journal"), os.path.join(restored, "journal/journal")
end = int.from_bytes(os.getxattr(j_rest, "user.data_end"), "little")
assert end >= end_before, f"restored journal ends at {end}, before the backup it was at {end_before}"
assert open(j_rest, "rb").read()[:end] == open(j_live, "rb").read()[:end], "journal differs"
# Caps live in journal.caps, which names the journal's generation (an xattr on the journal).
assert os.getxattr(j_rest, "user.caps_generation") == os.getxattr(j_live, "user.caps_generation")
assert open(j_rest + ".caps", "rb").read() == open(j_live + ".caps", "rb").read(), "caps differ"
assert len(os.getxattr(j_rest, "user.data_end_octets")) == 16, "user.data_end_octets lost"
print(f"{len(mail)} messages and {len(named)} recorded ids restored, journal end {end}")
PY
expect_eq "$("$BIN" --data "$RESTORED" journal show | grep '^cap user3 ')" "$cap_before" "user3's cap"
expect_contains "$summary" "course/base.git 1 ref, HEAD" "base repository verified by restore"
# The base as pushed at some moment of the backup: a commit the instructor pushed, no older than
# the one before the backup began, with every object it needs.
base_git() { git --git-dir="$RESTORED/course/base.git" "$@"; }
base_restored=$(base_git rev-parse --verify -q 'HEAD^{commit}') || fail "the restored base.git has no HEAD commit"
grep -qxF -- "$base_restored" <(echo "$base_before"; cat "$WORK/base-pushed") ||
  fail "the restored base.git is at $base_restored, which the instructor never pushed"
base_git merge-base --is-ancestor "$base_before" "$base_restored" ||
  fail "the restored base.git is older than it was when the backup began"
base_git fsck --connectivity-only --no-dangling >/dev/null 2>&1 || fail "the restored base.git lacks objects"
cm_restored() { "$BIN" --data "$RESTORED" "$@"; }
cm_restored journal verify >/dev/null || fail "journal verify on the restored root"
for db in accounts/accounts.db course/course.db; do
  expect_eq "$(sqlite3 "file:$RESTORED/$db?mode=ro" 'PRAGMA integrity_check')" ok "integrity_check of $db"
  # Read-only readers (smtp, pop) need them, and restore.sh must not have deleted them.
  [ -f "$RESTORED/$db-wal" ] && [ -f "$RESTORED/$db-shm" ] || fail "$db has no -wal/-shm after restore"
  expect_eq "$(mode "$RESTORED/$db")" "$(mode "$DATA/$db")" "mode of $db"
done
users=$(cm_restored user list 2>"$WORK/user-list.err")
for user in user0 user1 user2 user3; do has_line "$users" "^$user +student" || fail "$user missing: $users"; done
has_line "$users" '^prof +instructor' || fail "prof missing: $users"
for dir in "" mail logs journal accounts tls; do expect_eq "$(mode "$RESTORED/$dir")" 700 "mode of restored /$dir"; done
expect_eq "$(mode "$RESTORED/tls/key.pem")" 600 "mode of the private key"
cmp -s "$DATA/tls/cert.pem" "$RESTORED/tls/cert.pem" || fail "certificate differs"

# The restored root runs: open records are finalised (each recorded message in exactly one closed
# record), and POP3 shows user3 only the frozen prefix.
kill "$UP_PID"
wait "$UP_PID" 2>/dev/null || true
serve "$RESTORED"
expect_eq "$(ids "$RESTORED/logs/.open" | wc -l)" 0 "open records left after the restored root started"
python3 - "$RESTORED" "$WORK/recorded-before" "$POP3S_PORT" "$PASSWORD" "$cap_before" <<'PY'
import collections, os, poplib, ssl, sys
root, recorded, port, password, cap = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
seen = collections.Counter()
for name in os.listdir(os.path.join(root, "logs")):
    if len(name) == 30:
        seen.update(l.split()[1] for l in open(os.path.join(root, "logs", name)) if l.startswith("message "))
for mid in open(recorded).read().split():
    assert seen[mid] == 1, f"{mid} is in {seen[mid]} closed records after the restart"
ctx = ssl.create_default_context()
ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
pop = poplib.POP3_SSL("127.0.0.1", port, context=ctx)
pop.user("user3"); pop.pass_(password)
count = pop.stat()[0]
pop.quit()
frozen = int(cap.split()[2]) // 48  # `cap user3 BYTES (N record(s))`
assert count == frozen, f"user3 sees {count} messages, the cap allows {frozen}"
print(f"restored root serves: user3 sees {count} messages (frozen)")
PY

# The restored root checks a new series on top of the restored base: it changes alice/existing.c,
# so it applies only there, and its grading tag descends from the base's HEAD. From here on the
# restored root is the one the helpers of lib/intake.bash work on, under their mail domain (git
# send-email wants a dot in it), recorded in the data root at its first start.
kill "$UP_PID"
wait "$UP_PID" 2>/dev/null || true
serve "$RESTORED" --hostname "$DOMAIN"
DATA=$RESTORED
SEND_PORT=$SMTPS_PORT
add_student alice "Alice A"
cm assignment create hw1 --initial "$(($(date +%s) + 86400))" --peer-review "$(($(date +%s) + 2 * 86400))" \
  --final "$(($(date +%s) + 3 * 86400))" >/dev/null
student_repo alice "Alice A"
commit_file alice alice/existing.c 'int existing = 1;\n'
send_series alice hw1 --cover-letter -v1 --subject-prefix="RFC PATCH"
wait_processed "$SESSION"
SUBMISSIONS=$(inspect submissions)
expect_submission "$SESSION" patchset initial ok accepted "alice's series on the restored base"
git --git-dir="$RESTORED/grading.git" merge-base --is-ancestor "$base_restored" "refs/tags/$SESSION" ||
  fail "alice's series was not applied on top of the restored base"
kill "$UP_PID"
wait "$UP_PID" 2>/dev/null || true

# A base repository that lacks objects: backup.sh will not archive it, restore.sh will not
# restore it (nor an archive that lost the base repository its manifest names).
mkdir "$WORK/tampered"
tar -C "$WORK/tampered" -xzf "$WORK/state.tar.gz" --xattrs --xattrs-include='user.*' --numeric-owner
find "$WORK/tampered/course/base.git/objects" -type f -delete
tar -C "$WORK/tampered" -czf "$WORK/tampered.tar.gz" --format=posix --xattrs --xattrs-include='user.*' --numeric-owner .
status=0
restore --data "$WORK/bad" <"$WORK/tampered.tar.gz" 2>"$WORK/bad.log" || status=$?
expect_eq "$status" 4 "restore of an archive whose base.git lacks objects"
expect_contains "$(cat "$WORK/bad.log")" "course/base.git fails git fsck" "restore names the broken repository"
[ ! -e "$WORK/bad/course" ] || fail "a restore that failed verification put course/ in place"
rm -rf "$WORK/tampered/course/base.git" "$WORK/bad"
tar -C "$WORK/tampered" -czf "$WORK/tampered.tar.gz" --format=posix --xattrs --xattrs-include='user.*' --numeric-owner .
status=0
restore --data "$WORK/bad" <"$WORK/tampered.tar.gz" 2>"$WORK/bad.log" || status=$?
expect_eq "$status" 4 "restore of an archive without the base.git its manifest names"
expect_contains "$(cat "$WORK/bad.log")" "no course/base.git" "restore names the missing repository"
find "$RESTORED/course/base.git/objects" -type f -delete
status=0
"$ROOT/backup.sh" --data "$RESTORED" >"$WORK/broken.tar.gz" 2>"$WORK/broken.log" || status=$?
expect_eq "$status" 1 "backup of a root whose base.git lacks objects"
expect_contains "$(cat "$WORK/broken.log")" "course/base.git is broken in $RESTORED itself" "backup names the broken repository"
echo "backup: ok"
