#!/usr/bin/env bash
# restore.sh: restores an archive written by backup.sh into a data root or into the containers'
# volumes, then verifies it (SPEC §3, §13).
#
#   ./restore.sh --data DIR [--force] < state.tar.gz
#   ./restore.sh --volumes [--engine podman|docker] [--prefix NAME-] [--force] < state.tar.gz
#
# --volumes restores into the named volumes of the containers, one per part of the data root:
# PREFIX + mail, logs, journal, accounts, course, pop, tls and grading (for grading.git), PREFIX
# being `coursemail-` unless --prefix says otherwise, as podman (the default engine) or docker
# (--engine docker) keeps them. Missing volumes are created. Both modes run the same steps on
# a private directory of links named like a data root (for --volumes, each link leads to where
# the engine keeps a volume's files), and an archive of either restores into either.
#
# 1. Refuses while coursemail seems to run on the target: a lock the services take is held
#    (journal writers, open SMTP session records, POP3 deletions, the deadline runner,
#    first-start TLS), or a process has a file under it open or mapped; for --volumes also while
#    a running container uses one of the volumes.
# 2. Refuses a non-empty DIR, or volumes that hold anything, unless --force; with --force the
#    existing state is moved aside to DIR/.replaced-<time>/ (for volumes, to .replaced-<time>/
#    inside each volume that held something), kept, never deleted: delete it once the restore
#    is checked.
# 3. Extracts into DIR/.restoring.XXXXXX (for --volumes, into the mail volume), on the file
#    system the state goes to, so putting it in place is a rename, with owners, modes and
#    `user.*` xattrs, and checks it there: the manifest that backup.sh writes last is present (an
#    archive cut short has none) and its counts match, `coursemail journal verify` passes
#    (journal consistent, every record's message present with its size and header length),
#    `PRAGMA integrity_check` passes on both databases, and `git fsck --connectivity-only` on
#    grading.git and course/base.git (the course's base repository, when it has one), whose refs
#    and HEAD must be those backup.sh recorded.
# 4. Moves the checked state into DIR, or into the volumes (each volume's own directory taking
#    the owner and mode of the directory it stands for, so the services can write to it), and
#    prints a summary (messages, records, users, repositories).
#
# Session records that were open at backup time are restored under logs/.open/; smtp finalises
# them at its next start, and denis processes the closed records course.db has not recorded yet.
#
# Who runs it: root, or the user the services run as (--data); root for rootful podman's and
# docker's volumes. For rootless podman run it as the user who owns the volumes: it runs itself
# again inside `podman unshare`, where that user is root and the archive's owners become the
# owners the containers see. Volumes must be plain named volumes of the `local` driver.
#
# The coursemail binary (for `journal verify`): $COURSEMAIL_BIN if set, else target/release/ or
# target/debug/coursemail beside this script, else `coursemail` on PATH.
# Needs: bash, GNU tar, gzip, sqlite3 (the CLI), flock (util-linux), find, git; --volumes also
# podman or docker.
# Exit status: 0 restored and verified; 1 restore failed (nothing changed, volumes this run
# created are removed again); 2 usage error; 3 refused (not empty, or services running on it);
# 4 verification failed (nothing put in place, the extracted state is left in the .restoring.*
# directory named for inspection).
set -euo pipefail
shopt -s nullglob dotglob

readonly PROG=restore.sh
source "$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")/state.bash"
# Only a data root's PARTS (state.bash) are put in place; nothing else from an archive is.
# course/ holds course.db and the course's base repository, base.git.

usage() {
  cat >&2 <<'EOF'
Usage: ./restore.sh --data DIR [--force] < state.tar.gz
       ./restore.sh --volumes [--engine podman|docker] [--prefix NAME-] [--force] < state.tar.gz
Restores an archive written by backup.sh into the data root DIR (created if missing), or into the
containers' volumes NAME-mail, NAME-logs, ... NAME-grading (NAME- is coursemail- by default;
missing ones are created), and verifies it. The target must be empty unless --force, which moves
its current state aside to .replaced-TIME/. Stop every coursemail service using it first.
EOF
}


DATA='' FORCE=0 VOLUMES='' ENGINE='' PREFIX='' TARGET=''
parse_args() {
  while [ $# -gt 0 ]; do
    case $1 in
      --data | --engine | --prefix)
        # `--data DIR` is read as `--data=DIR`.
        [ $# -ge 2 ] || { usage; die 2 "$1 needs a value"; }
        set -- "$1=$2" "${@:3}"
        ;;
      --data=*) DATA=${1#--data=}; shift ;;
      --volumes) VOLUMES=1; shift ;;
      --engine=*) ENGINE=${1#--engine=}; shift ;;
      --prefix=*) PREFIX=${1#--prefix=}; shift ;;
      --force) FORCE=1; shift ;;
      -h | --help) usage; exit 0 ;;
      *) usage; die 2 "unknown argument '$1'" ;;
    esac
  done
  check_state_options "say where to restore"
  [ -z "$VOLUMES" ] || TARGET="the $ENGINE volumes $PREFIX*"
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
  for tool in tar gzip sqlite3 flock find git; do
    command -v "$tool" >/dev/null || die 2 "$tool is not installed; install it (Debian: tar gzip sqlite3 util-linux findutils git)"
  done
  tar --version 2>/dev/null | grep -q 'GNU tar' || die 2 "tar is not GNU tar, which is needed to restore xattrs"
  [ -z "$VOLUMES" ] || command -v "$ENGINE" >/dev/null ||
    die 2 "$ENGINE is not installed; install it, or pass --engine to name the one that holds the volumes"
  find_binary
}

# PLACES: the directories the state goes into (DIR, or each volume's own directory), with the
# names they are given in messages. MOUNTS: each part's volume directory; NEW_VOLUMES: the
# parts whose volume this run created.
PLACES=() PLACE_NAMES=() LINKS=''
declare -A MOUNTS=() NEW_VOLUMES=()

# link_volumes: refuses volumes a running container uses, creates the missing ones, and makes
# DATA a private directory of links, one per part of a data root, each to its volume's own
# directory, so that the steps below treat the volumes as they treat a data root: the locks they
# test are the live files the services lock (the same inodes, whatever mount namespace opened
# them) and the emptiness check sees each volume's content. Removing LINKS removes the links,
# never their targets.
link_volumes() {
  local names
  names=$(volume_names)
  local part name filters=() users
  for part in "${PARTS[@]}"; do
    name=$(volume_name "$part")
    ! grep -qxF -- "$name" <<<"$names" || filters+=(--filter "volume=$name")
  done
  if [ ${#filters[@]} -gt 0 ]; then
    users=$("$ENGINE" ps "${filters[@]}" --format '{{.Names}}' 2>&1) ||
      die 1 "$ENGINE cannot list its containers ($(tail -n1 <<<"$users")); check that $ENGINE works for this user"
    [ -z "$users" ] ||
      die 3 "running containers use $TARGET ($(tr '\n' ' ' <<<"$users" | sed 's/ $//')); stop them first ($ENGINE stop NAME)"
  fi
  LINKS=$(mktemp -d "${TMPDIR:-/tmp}/coursemail-restore.XXXXXX") ||
    die 1 "cannot create a directory under ${TMPDIR:-/tmp}; set TMPDIR to a writable directory"
  DATA=$LINKS
  local mount
  for part in "${PARTS[@]}"; do
    name=$(volume_name "$part")
    if ! grep -qxF -- "$name" <<<"$names"; then
      "$ENGINE" volume create "$name" >/dev/null || die 1 "$ENGINE cannot create volume $name (see its message above)"
      NEW_VOLUMES[$part]=$name
      say "created volume $name"
    fi
    mount=$(volume_dir "$name")
    ln -s -- "$mount" "$DATA/$part"
    MOUNTS[$part]=$mount
    PLACES+=("$mount")
    PLACE_NAMES+=("volume $name")
  done
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

# services_using: prints one line for each sign that coursemail is running on DATA.
services_using() {
  local root=$DATA lock
  for lock in "$root/journal/journal.lock" "$root/course/deadlines.lock" "$root/tls/.lock" \
    "$root"/pop/*.lock "$root"/logs/.open/*; do
    if is_locked "$lock"; then echo "${lock#"$root"/} is locked"; fi
  done
  # The services keep the databases (and pop the journal) open or mapped while they run, even
  # when idle, so an open descriptor or mapping under a place is the surest sign. Processes in
  # other PID namespaces (containers) are invisible here, and name their files by their own
  # paths; their locks above are not.
  local place pid
  for place in "${PLACES[@]}"; do
    for pid in $(find /proc/[0-9]*/fd -maxdepth 1 -lname "$place/*" 2>/dev/null | cut -d/ -f3 | sort -u) \
      $(grep -lF -- "$place/" /proc/[0-9]*/maps 2>/dev/null | cut -d/ -f3 | sort -u); do
      [ "$pid" != "$$" ] || continue
      echo "process $pid ($(cat "/proc/$pid/comm" 2>/dev/null || echo '?')) has files under $place open"
    done
  done | sort -u
}

# existing_state PLACE: sets EXISTING to the entries of PLACE, apart from a file system's own
# lost+found and what an earlier --force set aside.
EXISTING=()
existing_state() {
  local entry
  EXISTING=()
  for entry in "$1"/*; do
    case ${entry##*/} in
      lost+found | .replaced-*) ;;
      *) EXISTING+=("$entry") ;;
    esac
  done
}

CREATED=0
prepare_target() {
  if [ -z "$VOLUMES" ]; then
    if [ ! -e "$DATA" ]; then
      { mkdir -p -- "$(dirname -- "$DATA")" && mkdir -m 700 -- "$DATA"; } ||
        die 1 "cannot create $DATA; check the permissions of the directory above it"
      CREATED=1
    fi
    [ -d "$DATA" ] || die 2 "$DATA is not a directory"
    DATA=$(cd "$DATA" && pwd -P)
    TARGET=$DATA PLACES=("$DATA") PLACE_NAMES=("$DATA")
  fi
  local signs
  signs=$(services_using)
  [ -z "$signs" ] ||
    die 3 "coursemail seems to be running on $TARGET ($(tr '\n' ';' <<<"$signs" | sed 's/;$//; s/;/; /g')); stop its services first"
  local i full=()
  for i in "${!PLACES[@]}"; do
    existing_state "${PLACES[$i]}"
    [ ${#EXISTING[@]} -eq 0 ] || full+=("$i")
  done
  [ ${#full[@]} -gt 0 ] || return 0
  if [ "$FORCE" -ne 1 ]; then
    [ -n "$VOLUMES" ] ||
      die 3 "$DATA is not empty; restore into an empty directory, or pass --force to move its current state aside"
    local what=''
    for i in "${full[@]}"; do what+="${what:+, }${PLACE_NAMES[$i]#volume }"; done
    die 3 "the volumes are not empty ($what); restore into fresh volumes, or pass --force to move their current state aside"
  fi
  local stamp aside
  stamp=.replaced-$(date -u +%Y%m%dT%H%M%SZ)
  for i in "${full[@]}"; do
    existing_state "${PLACES[$i]}"
    aside=${PLACES[$i]}/$stamp
    mkdir -m 700 -- "$aside"
    mv -- "${EXISTING[@]}" "$aside/" || die 1 "cannot move the current state of ${PLACE_NAMES[$i]} aside to $aside"
    say "moved the current state of ${PLACE_NAMES[$i]} aside to $aside; delete it once the restore is checked"
  done
}

STAGE='' KEEP_STAGE=0 DONE=0
cleanup() {
  [ -z "$STAGE" ] || [ "$KEEP_STAGE" -eq 1 ] || rm -rf -- "$STAGE"
  # The links only: rm never follows them.
  [ -z "$LINKS" ] || rm -rf -- "$LINKS"
  # A root or volumes this run created but could not fill are removed again, so a retry finds
  # them as before.
  if [ "$DONE" -eq 0 ] && [ "$KEEP_STAGE" -eq 0 ]; then
    [ "$CREATED" -eq 0 ] || rmdir -- "$DATA" 2>/dev/null || true
    [ ${#NEW_VOLUMES[@]} -eq 0 ] || "$ENGINE" volume rm "${NEW_VOLUMES[@]}" >/dev/null 2>&1 || true
  fi
}

# extract: the archive into a new directory in the first place the state goes to (DIR, or the
# mail volume, the largest part), so that putting mail/ in place is a rename.
extract() {
  STAGE=$(mktemp -d "${PLACES[0]}/.restoring.XXXXXX") || die 1 "cannot create a directory in ${PLACE_NAMES[0]}"
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
  ls -U -- "$1/" | { grep -cE "$ID_RE" || true; }
}

# fail_verify MESSAGE: verification failed; nothing is put in place and the extracted state is
# kept.
fail_verify() {
  KEEP_STAGE=1
  die 4 "$1; nothing was put in place in $TARGET, the extracted state is in $STAGE for inspection"
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

# check_repo KEY REL: the extracted repository REL passes `git fsck --connectivity-only` (every
# object its refs reach is there) and has the number of refs and the HEAD that backup.sh wrote
# in the manifest as KEY_refs and KEY_head (an archive of an older backup.sh has neither: then
# fsck alone). Adds a line about it to REPOS.
REPOS=''
check_repo() {
  local key=$1 rel=$2 want_refs want_head git out refs head
  want_refs=$(manifest "${key}_refs") want_head=$(manifest "${key}_head")
  if [ ! -d "$STAGE/$rel" ]; then
    [ -z "$want_refs" ] || fail_verify "the archive has no $rel, though backup.sh archived one"
    return 0
  fi
  git=$(git_dir "$STAGE/$rel")
  out=$(repo_git "$git" fsck --connectivity-only --no-dangling --no-progress 2>&1) ||
    fail_verify "$rel fails git fsck --connectivity-only: $(grep -v '^notice:' <<<"$out" | head -n2 | tr '\n' ' ' | sed 's/ $//')"
  refs=$(repo_git "$git" for-each-ref --format='%(refname)' | wc -l) ||
    fail_verify "git cannot list the refs of $rel"
  head=$(repo_git "$git" rev-parse -q --verify 'HEAD^{commit}') || head=unborn
  [ -z "$want_refs" ] || [ "$refs" = "$want_refs" ] ||
    fail_verify "$rel has $refs refs but backup.sh archived $want_refs"
  [ -z "$want_head" ] || [ "$head" = "$want_head" ] ||
    fail_verify "$rel's HEAD is $head but backup.sh archived $want_head"
  REPOS+="${REPOS:+; }$rel $refs ref"
  [ "$refs" = 1 ] || REPOS+=s
  [ "$head" = unborn ] || REPOS+=", HEAD ${head:0:12}"
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
  say "checking the git repositories"
  check_repo grading grading.git
  check_repo base course/base.git
}

# fill_volume SRC VOLUME: moves the content of the extracted directory SRC into the volume's
# own directory, which cannot be replaced, and gives it SRC's owner and mode: a new volume is
# root's, and the services (not root in their containers) must be able to write to it.
fill_volume() {
  local src=$1 dst=$2
  find "$src" -mindepth 1 -maxdepth 1 -exec mv -t "$dst" -- {} + ||
    die 1 "cannot move the restored $(basename -- "$src")/ into $dst (see mv's message above); restore again, with --force if the volumes kept part of it"
  chmod --reference="$src" -- "$dst"
  [ "$(id -u)" -ne 0 ] || chown --reference="$src" -- "$dst"
}

put_in_place() {
  local entry
  for entry in "${PARTS[@]}"; do
    if [ -n "$VOLUMES" ]; then
      if [ -e "$STAGE/$entry" ]; then
        fill_volume "$STAGE/$entry" "${MOUNTS[$entry]}"
      elif [ -n "${NEW_VOLUMES[$entry]:-}" ]; then
        # A part the backup had none of yet (course/ before denis ran): the new volume gets
        # the owner and mode of the root, as a directory the services create would.
        chmod --reference="$STAGE" -- "${MOUNTS[$entry]}"
        [ "$(id -u)" -ne 0 ] || chown --reference="$STAGE" -- "${MOUNTS[$entry]}"
      fi
    elif [ -e "$STAGE/$entry" ]; then
      mv -- "$STAGE/$entry" "$DATA/$entry"
    fi
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
  [ -z "$VOLUMES" ] || as_volume_owner "${BASH_SOURCE[0]}" "$@"
  preflight
  trap cleanup EXIT
  [ -z "$VOLUMES" ] || link_volumes
  prepare_target
  extract
  verify
  local created source open
  created=$(manifest created) source=$(manifest source) open=$(manifest open_records)
  put_in_place
  STAGE='' DONE=1
  cat <<EOF
restored $TARGET from the backup of $source taken $created
  messages     $(count_ids "$DATA/mail")
  records      $(count_ids "$DATA/logs") closed, $open open (smtp finalises open ones at its next start)
  journal      $JOURNAL_SUMMARY
  users        $USERS
  databases    $DATABASES
  git          ${REPOS:-no repositories (denis had not run yet)}
EOF
}

main "$@"
