#!/usr/bin/env bash
# backup.sh --volumes and restore.sh --volumes with real podman volumes (SPEC §13). A data root
# holding every part of the state (messages, closed records, a journal with a frozen user, both
# databases, a grading tag, the course's base repository in the course volume, POP3 deletions,
# the certificate), owned by the containers' service uid, is backed up with --data and restored
# into fresh volumes; the volumes are backed up while the test holds the journal lock (the
# backup must wait for it: it locks the live file the services lock), and that archive is
# restored into a new data root, which must equal the original: every file and directory with
# its bytes, owner, mode and `user.*` xattrs, the same database content, a journal that
# verifies, the same base repository HEAD. Also: backup --volumes names the missing volume;
# restore --volumes refuses volumes that hold data unless --force, and refuses (even with
# --force) while a running container uses one; a failed restore removes the volumes it created.
#
# The volumes get a random prefix (--prefix), so a deployment's coursemail-* volumes are never
# touched, and every volume and container with that prefix is removed on exit. The container is
# a `sleep` on a root file system of its own (the binary and its libraries), so no image and no
# registry are needed. Needs root (files owned by other uids), podman, and runc.
source "$(dirname "$0")/lib/common.bash"
source "$(dirname "$0")/lib/intake.bash"

command -v podman >/dev/null || skip "no podman; see .ci/run"
[ "$(id -u)" -eq 0 ] || skip "needs root to own files as the service uid"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# Unique per run, and never a real deployment's prefix.
P=cmbackup-$$-$RANDOM-
# The uids the services run as in the containers (containers/*.Containerfile); pop/ gets
# another one here so that owners cannot be mixed up between parts unnoticed.
SERVICE_UID=10000
POP_UID=10001
# podman run on test machines needs the test-only settings of lib/containers.conf (the volume
# commands need none).
container() { CONTAINERS_CONF="$ROOT/tests/e2e/lib/containers.conf" podman "$@"; }

remove_podman_objects() {
  container rm -f -t 0 "${P}sleeper" >/dev/null 2>&1 || true
  local name
  for name in $(podman volume ls --format '{{.Name}}' 2>/dev/null); do
    [[ $name != "$P"* ]] || podman volume rm -f "$name" >/dev/null 2>&1 || true
  done
}
trap 'remove_podman_objects; cleanup' EXIT

backup() { "$ROOT/backup.sh" "$@"; }
restore() { COURSEMAIL_BIN=$BIN "$ROOT/restore.sh" "$@"; }
# volume_dir NAME: where podman keeps the files of volume NAME.
volume_dir() { podman volume inspect --format '{{.Mountpoint}}' "$1"; }
# volumes PREFIX: the names of the existing volumes starting with PREFIX, sorted.
volumes() { podman volume ls --format '{{.Name}}' | awk -v p="$1" 'index($0, p) == 1' | sort; }
# listing DIR: every path under DIR with its type, owner, mode, size and content hash, so that two
# listings are equal only if nothing changed.
listing() { (cd "$1" && find . -printf '%p %y %U:%G %m %s\n' -type f -exec sha256sum {} + | LC_ALL=C sort); }

# --- the original state, made by the services ------------------------------------------------
start_up --hostname "$DOMAIN"
# shellcheck disable=SC2034 # read by send_series and send_mail (lib/intake.bash)
SEND_PORT=$SMTPS_PORT
for who in "alice Alice A" "bob Bob B" "carol Carol C"; do
  read -r user name <<<"$who"
  add_student "$user" "$name"
done
cm assignment create hw1 --initial "$(($(date +%s) + 86400))" --peer-review "$(($(date +%s) + 2 * 86400))" \
  --final "$(($(date +%s) + 3 * 86400))" >/dev/null
student_repo alice "Alice A"
commit_file alice alice/a.c 'int a;\n'
send_series alice hw1 --cover-letter -v1 --subject-prefix="RFC PATCH"
SERIES=$SESSION
send_mail bob list "hello everyone"
LIST_MAIL=$SESSION
wait_processed "$SERIES" "$LIST_MAIL"
git --git-dir="$DATA/grading.git" rev-parse -q --verify "refs/tags/$SERIES" >/dev/null ||
  fail "no grading tag for alice's series"
# The list mail is released (one journal record); carol's view is frozen after it; bob deletes
# it from his view.
data_end() { getfattr --absolute-names --only-values -n user.data_end "$DATA/journal/journal" | od -An -t u8 --endian=little | tr -d ' '; }
for _ in $(seq 300); do
  [ "$(data_end)" -lt 48 ] || break
  sleep 0.1
done
expect_eq "$(data_end)" 48 "journal end once the list mail is released"
cm journal restrict deny carol >/dev/null
python3 - "$POP3S_PORT" "$DATA/tls/cert.pem" "$(password bob)" <<'PY'
import poplib, ssl, sys
pop = poplib.POP3_SSL("localhost", int(sys.argv[1]), context=ssl.create_default_context(cafile=sys.argv[2]))
pop.user("bob"); pop.pass_(sys.argv[3])
assert pop.stat()[0] == 1, f"bob sees {pop.stat()[0]} messages, expected the list mail"
pop.dele(1)
pop.quit()
PY
kill "$UP_PID"
wait "$UP_PID" 2>/dev/null || true
[ -n "$(find "$DATA/pop" -type f ! -name '*.lock')" ] || fail "bob's deletion left nothing under pop/"
has_line "$(cm journal show)" '^cap carol ' || fail "carol is not frozen"
# The course's base repository (course/base.git, in the course volume beside course.db), as an
# instructor places it: the commit alice's series starts from.
git init -q --bare "$DATA/course/base.git"
git -C "$WORK/repo-alice" push -q "$DATA/course/base.git" base:refs/heads/main
git --git-dir="$DATA/course/base.git" symbolic-ref HEAD refs/heads/main
BASE_HEAD=$(git --git-dir="$DATA/course/base.git" rev-parse HEAD)
# As in the containers: the service uid owns the state.
chown -R "$SERVICE_UID:$SERVICE_UID" "$DATA"
chown -R "$POP_UID:$POP_UID" "$DATA/pop"
backup --data "$DATA" >"$WORK/a.tar.gz" 2>"$WORK/backup-a.log" || fail "backup --data: $(cat "$WORK/backup-a.log")"

# --- arguments and a missing volume ----------------------------------------------------------
status=0
backup --volumes --engine nosuch >/dev/null 2>"$WORK/err" || status=$?
expect_eq "$status" 2 "backup with an unknown engine"
expect_contains "$(cat "$WORK/err")" "podman or docker" "unknown engine"
for part in mail logs journal accounts course pop tls; do podman volume create "${P}two-$part" >/dev/null; done
status=0
backup --volumes --prefix "${P}two-" >/dev/null 2>"$WORK/err" || status=$?
expect_eq "$status" 2 "backup with a volume missing"
expect_contains "$(cat "$WORK/err")" "no podman volume ${P}two-grading;" "the missing volume is named"

# --- restore into fresh volumes --------------------------------------------------------------
restore --volumes --prefix "$P" <"$WORK/a.tar.gz" >"$WORK/restore-v.out" 2>"$WORK/restore-v.log" ||
  fail "restore --volumes: $(cat "$WORK/restore-v.log")"
expect_eq "$(volumes "$P" | grep -v -- "${P}two-" | tr '\n' ' ')" \
  "${P}accounts ${P}course ${P}grading ${P}journal ${P}logs ${P}mail ${P}pop ${P}tls " "volumes created"
expect_contains "$(cat "$WORK/restore-v.out")" "0 journal problem(s); 0 mismatch(es) with mail/" "journal verified"
has_line "$(cat "$WORK/restore-v.out")" '^  users +3$' || fail "summary lacks the 3 users: $(cat "$WORK/restore-v.out")"
# Each volume's own directory is the part's directory: its owner and mode, so the services can
# write to it, and its content.
for part in mail logs journal accounts course pop tls grading.git; do
  vol=$(volume_dir "$P${part%.git}")
  expect_eq "$(stat -c '%u:%g %a' "$vol")" "$(stat -c '%u:%g %a' "$DATA/$part")" "owner and mode of volume ${part%.git}"
done
expect_eq "$(listing "$(volume_dir "${P}mail")")" "$(listing "$DATA/mail")" "the mail volume"
expect_eq "$(listing "$(volume_dir "${P}grading")")" "$(listing "$DATA/grading.git")" "the grading volume"
expect_eq "$(listing "$(volume_dir "${P}course")/base.git")" "$(listing "$DATA/course/base.git")" "base.git in the course volume"
expect_contains "$(cat "$WORK/restore-v.out")" "course/base.git 1 ref, HEAD ${BASE_HEAD:0:12}" "base.git verified"

# --- refusals: volumes that hold data, a running container -----------------------------------
before=$(for part in mail journal accounts; do listing "$(volume_dir "$P$part")"; done)
status=0
restore --volumes --prefix "$P" <"$WORK/a.tar.gz" 2>"$WORK/err" || status=$?
expect_eq "$status" 3 "restore into volumes that hold data"
expect_contains "$(cat "$WORK/err")" "not empty (${P}mail, ${P}logs," "refusal names the volumes"
expect_eq "$(for part in mail journal accounts; do listing "$(volume_dir "$P$part")"; done)" "$before" "volumes after the refusal"

# A root file system with nothing but sleep and the libraries it loads.
rootfs=$WORK/rootfs
mkdir "$rootfs"
for file in /usr/bin/sleep $(ldd /usr/bin/sleep | grep -o '/[^ ]*'); do cp --parents -L "$file" "$rootfs"; done
container run -d --rm --name "${P}sleeper" --network none \
  -v "${P}journal:/var/lib/coursemail/journal" --rootfs "$rootfs" /usr/bin/sleep 600 >/dev/null ||
  fail "podman could not start the test container"
# Podman gives a new volume's own directory the container user's owner at its first mount.
before=$(for part in mail journal accounts; do listing "$(volume_dir "$P$part")"; done)
status=0
restore --volumes --prefix "$P" --force <"$WORK/a.tar.gz" 2>"$WORK/err" || status=$?
expect_eq "$status" 3 "restore while a container uses a volume"
expect_contains "$(cat "$WORK/err")" "${P}sleeper" "refusal names the container"
expect_eq "$(for part in mail journal accounts; do listing "$(volume_dir "$P$part")"; done)" "$before" "volumes after the refusal"
container rm -f -t 0 "${P}sleeper" >/dev/null

# --force sets the current state aside in each volume and restores.
restore --volumes --prefix "$P" --force <"$WORK/a.tar.gz" >/dev/null 2>"$WORK/restore-f.log" ||
  fail "restore --volumes --force: $(cat "$WORK/restore-f.log")"
aside=("$(volume_dir "${P}mail")"/.replaced-*)
[ ${#aside[@]} -eq 1 ] && [ -d "${aside[0]}" ] || fail "expected one .replaced-* in the mail volume: ${aside[*]}"
expect_eq "$(listing "${aside[0]}" | tail -n +2)" "$(listing "$DATA/mail" | tail -n +2)" "the state --force set aside"
expect_eq "$(listing "$(volume_dir "${P}mail")" | grep -v '/.replaced-')" "$(listing "$DATA/mail")" "the mail volume after --force"

# --- backup the volumes, waiting for the journal lock ----------------------------------------
lock=$(volume_dir "${P}journal")/journal.lock
inode=$(stat -c %i "$lock")
exec {held}<"$lock"
flock -x "$held"
# The backup must not inherit the descriptor holding the lock, or it would hold it too.
backup --volumes --prefix "$P" >"$WORK/b.tar.gz" 2>"$WORK/backup-b.log" {held}<&- &
BACKUP_PID=$!
PIDS+=("$BACKUP_PID")
# A lock request blocked on the live journal.lock (/proc/locks marks waiters with `->`): the
# backup waits for the lock the services take. One that locked another file never blocks.
until grep -Eq -- "-> FLOCK .* [0-9a-f]+:[0-9a-f]+:$inode " /proc/locks; do
  kill -0 "$BACKUP_PID" 2>/dev/null ||
    fail "backup --volumes finished without waiting for the journal lock: $(cat "$WORK/backup-b.log")"
  sleep 0.05
done
exec {held}<&-
wait "$BACKUP_PID" || fail "backup --volumes: $(cat "$WORK/backup-b.log")"
expect_contains "$(cat "$WORK/backup-b.log")" "backing up the podman volumes $P*" "backup names its source"
if tar -tzf "$WORK/b.tar.gz" | grep -F .replaced-; then fail "what --force set aside is in the backup"; fi

# --- restore that into a data root: the original, exactly ------------------------------------
RESTORED=$WORK/restored
restore --data "$RESTORED" <"$WORK/b.tar.gz" >"$WORK/restore-d.out" 2>"$WORK/restore-d.log" ||
  fail "restore --data of the volumes' backup: $(cat "$WORK/restore-d.log")"
expect_contains "$(cat "$WORK/restore-d.out")" "from the backup of the podman volumes $P*" "summary names the source"
python3 - "$DATA" "$RESTORED" <<'PY'
import os, re, stat, sys
orig, rest = sys.argv[1], sys.argv[2]
ID = re.compile(r"^[0-9a-f]{30}$")

def state(root):
    """What backup.sh keeps of a data root: relative path -> lstat, for files and directories."""
    out = {}
    def add(rel):
        out[rel] = os.lstat(os.path.join(root, rel))
    add(".")
    for part in ("mail", "logs", "journal", "accounts", "course", "pop", "tls", "grading.git"):
        add(part)
    for d in ("mail", "logs"):
        for name in os.listdir(os.path.join(root, d)):
            if ID.match(name):
                add(f"{d}/{name}")
    for rel in ("journal/journal", "journal/journal.lock", "accounts/accounts.db", "course/course.db"):
        add(rel)
    for d in ("pop", "tls"):
        for name in os.listdir(os.path.join(root, d)):
            if not name.startswith(".") and not name.endswith(".lock") and os.path.isfile(os.path.join(root, d, name)):
                add(f"{d}/{name}")
    add("course/base.git")
    for repo in ("grading.git", "course/base.git"):
        for top, dirs, files in os.walk(os.path.join(root, repo)):
            for name in dirs + files:
                if not name.endswith(".lock"):
                    add(os.path.relpath(os.path.join(top, name), root))
    return out

a, b = state(orig), state(rest)
assert a.keys() == b.keys(), f"paths differ: only original {sorted(a.keys() - b.keys())[:5]}, only restored {sorted(b.keys() - a.keys())[:5]}"
for rel, sa in a.items():
    sb = b[rel]
    who = lambda s: (stat.S_IFMT(s.st_mode), stat.S_IMODE(s.st_mode), s.st_uid, s.st_gid)
    assert who(sa) == who(sb), f"{rel}: type, mode or owner {who(sa)} became {who(sb)}"
    pa, pb = os.path.join(orig, rel), os.path.join(rest, rel)
    xa = {x: os.getxattr(pa, x) for x in os.listxattr(pa) if x.startswith("user.")}
    xb = {x: os.getxattr(pb, x) for x in os.listxattr(pb) if x.startswith("user.")}
    assert xa == xb, f"{rel}: xattrs {sorted(xa)} became {sorted(xb)}"
    if stat.S_ISREG(sa.st_mode) and not rel.endswith(".db"):
        assert open(pa, "rb").read() == open(pb, "rb").read(), f"{rel}: content differs"
mail = sum(1 for r in a if r.startswith("mail/"))
print(f"{len(a)} paths round-tripped through the volumes ({mail} messages), owners, modes and xattrs included")
PY
for db in accounts/accounts.db course/course.db; do
  expect_eq "$(sqlite3 "file:$RESTORED/$db?mode=ro" 'PRAGMA integrity_check')" ok "integrity_check of $db"
  expect_eq "$(sqlite3 "file:$RESTORED/$db?mode=ro" .dump)" "$(sqlite3 "file:$DATA/$db?mode=ro" .dump)" "content of $db"
done
"$BIN" --data "$RESTORED" journal verify >/dev/null || fail "journal verify on the restored root"
git --git-dir="$RESTORED/grading.git" rev-parse -q --verify "refs/tags/$SERIES^{commit}" >/dev/null ||
  fail "the grading tag of alice's series does not resolve in the restored root"
expect_eq "$(git --git-dir="$RESTORED/course/base.git" rev-parse -q --verify 'HEAD^{commit}')" "$BASE_HEAD" \
  "HEAD of the restored base.git"

# --- a failed restore removes the volumes it created -----------------------------------------
head -c 4000 "$WORK/a.tar.gz" >"$WORK/cut.tar.gz"
status=0
restore --volumes --prefix "${P}three-" <"$WORK/cut.tar.gz" 2>/dev/null || status=$?
expect_eq "$status" 1 "restore of an archive cut short into volumes"
expect_eq "$(volumes "${P}three-")" "" "volumes left by the failed restore"
echo "backup-volumes: ok"
