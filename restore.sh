#!/usr/bin/env bash
# restore.sh: restores an archive written by backup.sh into a data root, then verifies it
# (SPEC §3, §13).
#
#   ./restore.sh --data DIR [--force] < state.tar.gz
#   ./restore.sh --volumes < state.tar.gz   (compose volumes: not implemented yet, exits 2)
#
# 1. Refuses while coursemail seems to run on DIR: a lock the services take is held (journal
#    writers, open SMTP session records, POP3 deletions, the deadline runner, first-start TLS),
#    or a process has a file under DIR open or mapped.
# 2. Refuses a non-empty DIR unless --force; with --force the existing state is moved aside to
#    DIR/.replaced-<time>/ (kept, never deleted: delete it once the restore is checked).
# 3. Extracts into DIR/.restoring.XXXXXX (on DIR's file system, so putting it in place is a
#    rename) with owners, modes and `user.*` xattrs, and checks it there: the manifest that
#    backup.sh writes last is present (an archive cut short has none) and its counts match,
#    `coursemail journal verify` passes (journal consistent, every record's message present
#    with its size and header length), and `PRAGMA integrity_check` passes on both databases.
# 4. Moves the checked state into DIR and prints a summary (messages, records, users).
#
# Session records that were open at backup time are restored under logs/.open/; smtp finalises
# them at its next start, and denis processes the closed records course.db has not recorded yet.
#
# The coursemail binary (for `journal verify`): $COURSEMAIL_BIN if set, else target/release/ or
# target/debug/coursemail beside this script, else `coursemail` on PATH.
# Needs: bash, GNU tar, gzip, sqlite3 (the CLI), flock (util-linux), find.
# Exit status: 0 restored and verified; 1 restore failed (DIR unchanged); 2 usage error;
# 3 refused (DIR not empty, or services running on it); 4 verification failed (DIR unchanged,
# the extracted state is left in DIR/.restoring.XXXXXX for inspection).
set -euo pipefail
shopt -s nullglob dotglob

readonly PROG=restore.sh
readonly ID_RE='^[0-9a-f]{30}$'
readonly MANIFEST=.coursemail-backup
# What a data root holds (SPEC §3); nothing else from an archive is put in place.
readonly STATE_ENTRIES=(mail logs journal accounts course pop tls grading.git)
readonly TAR_META=(--format=posix --xattrs --xattrs-include='user.*' --numeric-owner)

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
# die STATUS MESSAGE: one sentence saying what went wrong and what to do.
die() {
  local status=$1
  shift
  printf '%s: error: %s\n' "$PROG" "$*" >&2
  exit "$status"
}

usage() {
  cat >&2 <<'EOF'
Usage: ./restore.sh --data DIR [--force] < state.tar.gz
       ./restore.sh --volumes < state.tar.gz   (compose volumes; not implemented yet)
Restores an archive written by backup.sh into the data root DIR (created if missing) and verifies
it. DIR must be empty unless --force, which moves its current state aside to DIR/.replaced-TIME/.
Stop every coursemail service using DIR first.
EOF
}

DATA='' FORCE=0
parse_args() {
  while [ $# -gt 0 ]; do
    case $1 in
      --data)
        [ $# -ge 2 ] || { usage; die 2 "--data needs a directory"; }
        DATA=$2
        shift 2
        ;;
      --data=*) DATA=${1#--data=}; shift ;;
      --force) FORCE=1; shift ;;
      --volumes)
        die 2 "--volumes (compose volumes) is not implemented yet; mount the volumes under one directory and use --data DIR"
        ;;
      -h | --help) usage; exit 0 ;;
      *) usage; die 2 "unknown argument '$1'" ;;
    esac
  done
  [ -n "$DATA" ] || { usage; die 2 "say which data root to restore into with --data DIR"; }
}

BIN=
# run_coursemail ARGS...: the binary, without COURSEMAIL_BIN in its environment (it reads
# COURSEMAIL_* variables as its own options and warns about unknown ones).
run_coursemail() { env -u COURSEMAIL_BIN "$BIN" "$@"; }

find_binary() {
  local here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  if [ -n "${COURSEMAIL_BIN:-}" ]; then
    BIN=$COURSEMAIL_BIN
  elif [ -x "$here/target/release/coursemail" ]; then
    BIN=$here/target/release/coursemail
  elif [ -x "$here/target/debug/coursemail" ]; then
    BIN=$here/target/debug/coursemail
  else
    BIN=$(command -v coursemail) || true
  fi
  [ -n "$BIN" ] && run_coursemail --version >/dev/null 2>&1 ||
    die 2 "cannot run the coursemail binary${BIN:+ at $BIN}, needed to verify the journal; build it (cargo build --release) or set COURSEMAIL_BIN"
}

preflight() {
  [ ! -t 0 ] || die 2 "stdin is a terminal; feed the archive in: ./restore.sh --data DIR < state.tar.gz"
  local tool
  for tool in tar gzip sqlite3 flock find; do
    command -v "$tool" >/dev/null || die 2 "$tool is not installed; install it (Debian: tar gzip sqlite3 util-linux findutils)"
  done
  tar --version 2>/dev/null | grep -q 'GNU tar' || die 2 "tar is not GNU tar, which is needed to restore xattrs"
  find_binary
}

# is_locked FILE: FILE exists and another process holds a lock on it that excludes ours. A
# shared lock on a read-only descriptor is enough to find out and cannot disturb anyone.
is_locked() {
  [ -f "$1" ] || return 1
  local fd held=1
  { exec {fd}<"$1"; } 2>/dev/null || return 1
  flock -n -s "$fd" || held=0
  exec {fd}<&-
  return "$held"
}

# services_using ROOT: prints one line for each sign that coursemail is running on ROOT.
services_using() {
  local root=$1 lock
  for lock in "$root/journal/journal.lock" "$root/course/deadlines.lock" "$root/tls/.lock" \
    "$root"/pop/*.lock "$root"/logs/.open/*; do
    if is_locked "$lock"; then echo "${lock#"$root"/} is locked"; fi
  done
  # The services keep the databases (and pop the journal) open or mapped while they run, even
  # when idle, so an open descriptor or mapping under ROOT is the surest sign. Processes in
  # other PID namespaces (containers) are invisible here; their locks above are not.
  local pid
  for pid in $(find /proc/[0-9]*/fd -maxdepth 1 -lname "$root/*" 2>/dev/null | cut -d/ -f3 | sort -u) \
    $(grep -lF -- "$root/" /proc/[0-9]*/maps 2>/dev/null | cut -d/ -f3 | sort -u); do
    [ "$pid" != "$$" ] || continue
    echo "process $pid ($(cat "/proc/$pid/comm" 2>/dev/null || echo '?')) has files under $root open"
  done | sort -u
}

CREATED=0
prepare_target() {
  if [ ! -e "$DATA" ]; then
    { mkdir -p -- "$(dirname -- "$DATA")" && mkdir -m 700 -- "$DATA"; } ||
      die 1 "cannot create $DATA; check the permissions of the directory above it"
    CREATED=1
  fi
  [ -d "$DATA" ] || die 2 "$DATA is not a directory"
  DATA=$(cd "$DATA" && pwd -P)
  local signs
  signs=$(services_using "$DATA")
  [ -z "$signs" ] ||
    die 3 "coursemail seems to be running on $DATA ($(tr '\n' ';' <<<"$signs" | sed 's/;$//; s/;/; /g')); stop its services first"
  local existing=() entry
  for entry in "$DATA"/*; do
    case ${entry##*/} in
      lost+found | .replaced-*) ;; # a volume's own directory; an earlier --force's leftovers
      *) existing+=("$entry") ;;
    esac
  done
  [ ${#existing[@]} -gt 0 ] || return 0
  [ "$FORCE" -eq 1 ] ||
    die 3 "$DATA is not empty; restore into an empty directory, or pass --force to move its current state aside"
  local aside
  aside=$DATA/.replaced-$(date -u +%Y%m%dT%H%M%SZ)
  mkdir -m 700 -- "$aside"
  mv -- "${existing[@]}" "$aside/" || die 1 "cannot move the current state of $DATA aside to $aside"
  say "moved the current state of $DATA aside to $aside; delete it once the restore is checked"
}

STAGE='' KEEP_STAGE=0 DONE=0
cleanup() {
  [ -z "$STAGE" ] || [ "$KEEP_STAGE" -eq 1 ] || rm -rf -- "$STAGE"
  # A root this run created but could not fill is removed again, so a retry finds it as before.
  if [ "$CREATED" -eq 1 ] && [ "$DONE" -eq 0 ] && [ "$KEEP_STAGE" -eq 0 ]; then
    rmdir -- "$DATA" 2>/dev/null || true
  fi
}

extract() {
  STAGE=$(mktemp -d "$DATA/.restoring.XXXXXX") || die 1 "cannot create a directory in $DATA"
  say "extracting into $STAGE"
  # GNU tar refuses `..` and strips leading `/` from member names, so an archive cannot write
  # outside STAGE; only the entries of a data root are moved on from there.
  tar -C "$STAGE" --extract --gzip --file=- "${TAR_META[@]}" --same-permissions ||
    die 1 "cannot extract the archive (is it a complete backup.sh archive? see tar's message above)"
  [ "$(head -n1 "$STAGE/$MANIFEST" 2>/dev/null)" = "coursemail-backup 1" ] ||
    die 1 "the archive has no backup.sh manifest: it is not a coursemail backup, or backup.sh did not finish writing it"
}

# manifest KEY: a value backup.sh recorded.
manifest() { sed -n "s/^$1 //p" "$STAGE/$MANIFEST"; }

# count_ids DIR
count_ids() {
  [ -d "$1" ] || { echo 0; return; }
  ls -U -- "$1" | { grep -cE "$ID_RE" || true; }
}

# fail_verify MESSAGE: verification failed; DIR is unchanged and the extracted state is kept.
fail_verify() {
  KEEP_STAGE=1
  die 4 "$1; $DATA is unchanged, the extracted state is in $STAGE for inspection"
}

# sql DB STATEMENT...: runs the statements on DB and prints their output.
#
# Opened read-write with SQLITE_FCNTL_PERSIST_WAL, as the services open it: the `-wal` and `-shm`
# files that read-only readers (smtp and pop on read-only mounts) need are created and kept when
# sqlite3 closes. Without it a read-write sqlite3 that is the last connection to close deletes
# them. Run as root, SQLite gives them the database's owner.
sql() {
  local db=$1
  shift
  # The first line is persist_wal's answer (1).
  sqlite3 -batch "$db" '.timeout 10000' '.filectrl persist_wal 1' "$@" 2>&1 | tail -n +2
}

# check_database DB: PRAGMA integrity_check.
check_database() {
  local db=$1 result
  result=$(sql "$db" 'PRAGMA integrity_check') ||
    fail_verify "SQLite cannot open ${db#"$STAGE"/}: $result"
  [ "$result" = ok ] || fail_verify "${db#"$STAGE"/} fails integrity_check: $(head -n3 <<<"$result" | tr '\n' ' ')"
}

JOURNAL_SUMMARY='' USERS='' DATABASES=''
verify() {
  local messages records
  messages=$(count_ids "$STAGE/mail")
  records=$(count_ids "$STAGE/logs")
  [ "$messages" = "$(manifest messages)" ] ||
    fail_verify "the archive holds $messages messages but backup.sh wrote $(manifest messages)"
  [ "$records" = "$(manifest records)" ] ||
    fail_verify "the archive holds $records session records but backup.sh wrote $(manifest records)"
  say "verifying the journal against mail/"
  local out status=0
  out=$(run_coursemail --data "$STAGE" journal verify 2>&1) || status=$?
  case $status in
    0) JOURNAL_SUMMARY=$(tail -n1 <<<"$out") ;;
    3) fail_verify "the journal is inconsistent (coursemail journal verify: $(tail -n1 <<<"$out"))" ;;
    4) fail_verify "the journal and mail/ disagree (coursemail journal verify: $(tail -n1 <<<"$out"))" ;;
    *) fail_verify "coursemail journal verify failed with status $status: $(tail -n1 <<<"$out")" ;;
  esac
  say "checking the databases"
  # backup.sh always archives accounts.db; without this check sqlite3 would create an empty one.
  [ -f "$STAGE/accounts/accounts.db" ] || fail_verify "the archive has no accounts/accounts.db"
  check_database "$STAGE/accounts/accounts.db"
  DATABASES=accounts.db
  if [ -f "$STAGE/course/course.db" ]; then
    check_database "$STAGE/course/course.db"
    DATABASES+=" and course.db pass integrity_check"
  else
    DATABASES+=" passes integrity_check (the backup had no course.db: denis had not run yet)"
  fi
  USERS=$(sql "$STAGE/accounts/accounts.db" 'SELECT count(*) FROM users') || USERS=unknown
}

put_in_place() {
  local entry
  for entry in "${STATE_ENTRIES[@]}"; do
    [ ! -e "$STAGE/$entry" ] || mv -- "$STAGE/$entry" "$DATA/$entry"
  done
  # The archive carries the original root's owner and mode as its `./` entry; a root we created
  # gets them, one that existed (a volume, a prepared directory) keeps its own.
  if [ "$CREATED" -eq 1 ]; then
    chmod --reference="$STAGE" -- "$DATA"
    [ "$(id -u)" -ne 0 ] || chown --reference="$STAGE" -- "$DATA"
  fi
  rm -rf -- "$STAGE"
}

main() {
  parse_args "$@"
  preflight
  trap cleanup EXIT
  prepare_target
  extract
  verify
  local created source open
  created=$(manifest created) source=$(manifest source) open=$(manifest open_records)
  put_in_place
  STAGE='' DONE=1
  cat <<EOF
restored $DATA from the backup of $source taken $created
  messages     $(count_ids "$DATA/mail")
  records      $(count_ids "$DATA/logs") closed, $open open (smtp finalises open ones at its next start)
  journal      $JOURNAL_SUMMARY
  users        $USERS
  databases    $DATABASES
EOF
}

main "$@"
