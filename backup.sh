#!/usr/bin/env bash
# backup.sh: one archive of a coursemail data root, taken while the services run (SPEC §3, §13).
#
#   ./backup.sh --data DIR > state.tar.gz
#   ./backup.sh --volumes [--engine podman|docker] [--prefix NAME-] > state.tar.gz
#
# --data backs up the data root DIR. --volumes backs up the containers' named volumes, one per
# part of the data root: PREFIX + mail, logs, journal, accounts, course, pop, tls and grading
# (for grading.git), PREFIX being `coursemail-` unless --prefix says otherwise, as podman (the
# default engine) or docker (--engine docker) keeps them. Every one of them must exist. The
# volumes are read in place, where the engine keeps their files (`volume inspect`'s mount
# point), through a private directory of links named like a data root, so both modes run the
# same steps and give the same guarantees and the same archive; the containers need not stop.
#
# The archive is a gzip'd POSIX tar whose members are the data root's own paths (mail/, logs/,
# journal/journal, accounts/accounts.db, course/course.db, course/base.git/ when the course has a
# base repository, pop/, tls/, grading.git/) with their owners (numeric), modes and `user.*`
# xattrs, followed by a manifest, `.coursemail-backup`, that restore.sh checks the archive
# against. Progress goes to stderr, the archive only to stdout.
# An archive of volumes restores into a data root and the other way round.
#
# What the archive guarantees. Let T0 be the moment backup.sh starts:
#  1. Everything made durable before T0 is in it: every message that got SMTP `250` (its mail/
#     file with `user.header_len`, and its line in a session record, open or closed), every
#     closed session record, every journal append and restriction (with `user.data_end`, the caps
#     and their running totals), every committed database transaction, every POP3 deletion,
#     every grading.git tag, and every push to course/base.git, the course's base repository
#     that series apply on top of (an instructor may push to it while the services run).
#  2. The journal and both databases are one cut: they are copied while this script holds the
#     journal lock, so no journal write lands between them, and the two databases are read in
#     one SQLite read transaction.
#  3. Nothing in the archive points outside it: every message the journal or a session record
#     names, every grading tag course.db relies on, and every object a ref of grading.git or
#     course/base.git names, is in the archive. This follows from the order of the copies, each
#     store copied after the stores that refer to it: databases and journal, then grading.git
#     (denis tags before it records a submission), then course/base.git (nothing refers to it: a
#     grading tag holds the base commits it was built on), then session records (open ones
#     before closed ones: a record only ever moves from logs/.open/ to logs/), then mail/. mail/
#     files and records are created whole and never changed or removed, so what a store referred
#     to earlier is still there when it is copied. In a repository the refs are copied before
#     the objects (git writes objects before the ref that names them), refs/ before packed-refs
#     (`git pack-refs` writes a ref into packed-refs before it deletes the loose one), and the
#     copy is checked with `git fsck --connectivity-only`: a `git gc` that packed and pruned
#     objects meanwhile leaves the copy incomplete, and it is then copied again.
#  4. Work after the cut may be partly in it: messages and records newer than the databases.
#     A restored root picks them up as after a crash: smtp finalises the records that were open
#     (logs/.open/) at its next start, and denis processes the closed records course.db has not
#     recorded yet. A message stored after mail/ was listed is not in the archive; the journal
#     and the records never name it, so nothing dangles.
#
# Who runs it. --data: root, or the user the services run as. --volumes: root for rootful podman
# and for docker (their volumes are readable by root only). For rootless podman run it as the
# user who owns the volumes: it runs itself again inside `podman unshare`, the user namespace in
# which that user is root and the volume files have the owners the containers see, so the
# archive records those owners, and it restores the same into rootful volumes or a data root.
# Volumes must be plain named volumes of the `local` driver: one mounted from elsewhere (a
# `device` option, another driver) is only reachable while a container mounts it.
#
# Needs: bash, GNU tar, gzip, sqlite3 (the CLI), flock (util-linux), getfattr/setfattr (attr),
# git (to check the copied repositories); --volumes also podman or docker.
# Staging: the databases, journal, records, pop/, tls/, grading.git and course/base.git are
# staged under $TMPDIR (default /tmp), which must support `user.*` xattrs and hold a copy of
# them (a large base repository counts); mail/ is read in place.
# Exit status: 0 the archive is complete; 1 the backup failed (discard what was written);
# 2 usage error (bad arguments, stdout is a terminal, not a data root, a volume is missing).
set -euo pipefail
shopt -s nullglob

readonly PROG=backup.sh
source "$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")/state.bash"
# How long to wait for a journal writer (a rebuild of a large journal can take seconds).
readonly LOCK_WAIT_SECS=60
# How many times a repository is copied before a copy that keeps failing its check is given up:
# one `git gc` can spoil a copy, several in a row mean something else is wrong.
readonly REPO_COPY_ATTEMPTS=3

usage() {
  cat >&2 <<'EOF'
Usage: ./backup.sh --data DIR > state.tar.gz
       ./backup.sh --volumes [--engine podman|docker] [--prefix NAME-] > state.tar.gz
Writes one gzip'd tar archive of the coursemail data root DIR, or of the containers' volumes
(NAME-mail, NAME-logs, ... NAME-grading; NAME- is coursemail- by default), to stdout while the
services run. Restore it with ./restore.sh --data DIR or ./restore.sh --volumes < state.tar.gz.
EOF
}

DATA='' VOLUMES='' ENGINE='' PREFIX='' SOURCE=''
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
      -h | --help) usage; exit 0 ;;
      *) usage; die 2 "unknown argument '$1'" ;;
    esac
  done
  check_state_options "say which state to back up"
  [ -z "$VOLUMES" ] || SOURCE="the $ENGINE volumes $PREFIX*"
}

preflight() {
  # A tar.gz on a terminal is garbage on the screen and no backup.
  [ ! -t 1 ] || die 2 "stdout is a terminal; redirect the archive to a file: ./backup.sh --data DIR > state.tar.gz"
  local tool
  for tool in tar gzip sqlite3 flock getfattr setfattr git; do
    command -v "$tool" >/dev/null || die 2 "$tool is not installed; install it (Debian: tar gzip sqlite3 util-linux attr git)"
  done
  tar --version 2>/dev/null | grep -q 'GNU tar' || die 2 "tar is not GNU tar, which is needed for xattrs and ordered member lists"
  [ -z "$VOLUMES" ] || command -v "$ENGINE" >/dev/null ||
    die 2 "$ENGINE is not installed; install it, or pass --engine to name the one that holds the volumes"
}

# check_data_root: DATA (a directory, or the links to the volumes) holds a coursemail state.
check_data_root() {
  if [ -n "$VOLUMES" ]; then
    [ -f "$DATA/journal/journal" ] ||
      die 2 "volume ${PREFIX}journal has no journal file; back up the volumes of a deployment that has started once"
    return 0
  fi
  [ -f "$DATA/journal/journal" ] ||
    die 2 "$DATA is not a coursemail data root (no journal/journal); pass the directory 'coursemail up' prints as its data root"
  [ -d "$DATA/mail" ] || die 2 "$DATA has no mail/ directory; is it a complete data root?"
  DATA=$(cd "$DATA" && pwd -P)
  SOURCE=$DATA
}

STAGE=
cleanup() { [ -z "$STAGE" ] || rm -rf -- "$STAGE"; }

make_stage() {
  STAGE=$(mktemp -d "${TMPDIR:-/tmp}/coursemail-backup.XXXXXX") ||
    die 1 "cannot create a staging directory under ${TMPDIR:-/tmp}; set TMPDIR to a writable directory"
  # Absolute, because tar's -C options are relative to each other.
  STAGE=$(cd "$STAGE" && pwd -P)
  # The journal's state lives in its xattrs: a staging file system that drops them would make an
  # archive whose journal is empty. Fail now rather than after copying.
  local probe=$STAGE/.xattr-probe
  : >"$probe"
  setfattr -n user.coursemail -v 1 "$probe" 2>/dev/null ||
    die 1 "the staging directory $STAGE does not support user xattrs; set TMPDIR to a directory on ext4, xfs or btrfs"
  rm -f -- "$probe"
}

# link_volumes: makes DATA a directory of links, one per part of a data root, each to the mount
# point of its volume, so that the steps below read the volumes in place exactly as they read a
# data root: the journal lock they take is the live journal/journal.lock the services lock (the
# same inode, whatever mount namespace opened it), SQLite reads the live databases beside their
# -wal and -shm, tar's paths go through the links. The directory is inside STAGE (mode 700), so
# nobody else can swap a link; it takes mail's owner and mode, which the archive keeps as its
# root's (for a data root restored from it). Removing STAGE removes the links, never their targets.
link_volumes() {
  local names
  names=$(volume_names)
  local part name missing=()
  for part in "${PARTS[@]}"; do
    name=$(volume_name "$part")
    grep -qxF -- "$name" <<<"$names" || missing+=("$name")
  done
  [ ${#missing[@]} -eq 0 ] ||
    die 2 "there is no $ENGINE volume ${missing[*]}; start the deployment once (it creates its volumes) or pass the --prefix its volumes have"
  DATA=$STAGE/volumes
  mkdir -m 700 -- "$DATA"
  local mount
  for part in "${PARTS[@]}"; do
    mount=$(volume_dir "$(volume_name "$part")")
    ln -s -- "$mount" "$DATA/$part"
  done
  chmod --reference="$DATA/mail" -- "$DATA"
  [ "$(id -u)" -ne 0 ] || chown --reference="$DATA/mail" -- "$DATA"
}

# stage_root: the staging root, with the root's and mail/'s own entries. They come from here,
# not from the live directories, whose times change as mail arrives (tar would call that a
# failed read); their files are read live.
stage_root() {
  mkdir "$STAGE/root"
  stage_dir .
  stage_dir mail
}

# The ownership part of cp's --preserve: only root may give files away, and only root needs to
# (a backup run as the service user owns what it copies already).
if [ "$(id -u)" -eq 0 ]; then PRESERVE=mode,ownership,timestamps,xattr; else PRESERVE=mode,timestamps,xattr; fi

# stage_dir REL: creates REL under the staging root with the owner and mode of the data root's
# REL, so the restored directory is as private as the original.
stage_dir() {
  mkdir -p -- "$STAGE/root/$1"
  chmod --reference="$DATA/$1" -- "$STAGE/root/$1"
  [ "$(id -u)" -ne 0 ] || chown --reference="$DATA/$1" -- "$STAGE/root/$1"
}

# match_attrs SRC DST: gives DST the owner and mode of SRC (sqlite3 creates its output with the
# umask's mode and our owner).
match_attrs() {
  chmod --reference="$1" -- "$2"
  [ "$(id -u)" -ne 0 ] || chown --reference="$1" -- "$2"
}

# sqlite_uri PATH [PARAMS]: a read-only SQLite URI for PATH (`%`, `?` and `#` are URI syntax).
sqlite_uri() {
  local path=$1
  path=${path//%/%25}
  path=${path//\?/%3f}
  path=${path//#/%23}
  printf 'file:%s?mode=ro%s' "$path" "${2:-}"
}

# sql_quote TEXT: TEXT as an SQL string literal.
sql_quote() { printf "'%s'" "${1//\'/\'\'}"; }

# snapshot_databases: both databases through SQLite's online backup, in one read transaction.
#
# The source is opened with `mode=ro` on purpose. The services keep `-wal` and `-shm` beside each
# database because read-only readers (smtp and pop mount the databases read-only) cannot read a
# WAL database without them; a read-write sqlite3 shell that happened to be the last connection
# to close would checkpoint and delete both, breaking those readers until a writer reopens. A
# read-only connection never deletes them, and it still sees every committed transaction (it
# reads through the WAL). The output files are self-contained databases, still marked WAL.
#
# course.db is read first: it names users, so the accounts snapshot, taken just after, has every
# user the course snapshot refers to.
snapshot_databases() {
  local course=$DATA/course/course.db accounts=$DATA/accounts/accounts.db
  [ -f "$accounts" ] || die 1 "$accounts is missing; is $DATA a complete data root?"
  stage_dir accounts
  local script
  script=".bail on
.timeout 10000"
  if [ -f "$course" ]; then
    stage_dir course
    script+="
ATTACH $(sql_quote "$(sqlite_uri "$accounts")") AS accounts;
BEGIN;
SELECT count(*) FROM main.sqlite_schema;
SELECT count(*) FROM accounts.sqlite_schema;
.backup main course/course.db
.backup accounts accounts/accounts.db
COMMIT;"
    (cd "$STAGE/root" && sqlite3 -batch "$(sqlite_uri "$course")" <<<"$script" >/dev/null) ||
      die 1 "SQLite could not back up $course and $accounts (see its message above)"
    match_attrs "$course" "$STAGE/root/course/course.db"
  else
    # denis has never run on this root: there is no course state to keep yet.
    say "no course/course.db yet; backing up accounts only"
    script+="
.backup main accounts/accounts.db"
    (cd "$STAGE/root" && sqlite3 -batch "$(sqlite_uri "$accounts")" <<<"$script" >/dev/null) ||
      die 1 "SQLite could not back up $accounts (see its message above)"
  fi
  match_attrs "$accounts" "$STAGE/root/accounts/accounts.db"
}

# snapshot_journal_and_databases: the cut of guarantee 2. Holds the writers' lock (a shared
# flock on journal/journal.lock excludes denis and the CLI, which lock it exclusively for every
# append, restriction and rebuild) while the databases are read and the journal is copied with
# its xattrs. Rebuild swaps the journal's inode, so the lock file, not the journal, is locked.
# Only denis and the CLI wait meanwhile (for as long as the databases take to copy: milliseconds
# for megabytes); smtp and pop never take this lock.
snapshot_journal_and_databases() {
  local journal=$DATA/journal/journal lock=$DATA/journal/journal.lock
  if [ ! -e "$lock" ]; then
    # No writer has run yet. Create the lock as the journal's owner: writers open it read-write,
    # and a root-owned lock would lock the services out of their own journal.
    : >"$lock"
    chmod 600 -- "$lock"
    [ "$(id -u)" -ne 0 ] || chown --reference="$journal" -- "$lock"
  fi
  stage_dir journal
  local fd
  # Read-only is enough for flock, and never creates or modifies anything.
  { exec {fd}<"$lock"; } 2>/dev/null ||
    die 1 "cannot open $lock; run backup.sh as root or as the user the services run as"
  flock -s -w "$LOCK_WAIT_SECS" "$fd" ||
    die 1 "the journal stayed locked for $LOCK_WAIT_SECS s (a rebuild of a large journal?); try again in a minute"
  say "journal locked: copying the databases and the journal"
  snapshot_databases
  cp --preserve="$PRESERVE" -- "$journal" "$STAGE/root/journal/journal" ||
    die 1 "cannot copy $journal with its xattrs"
  # Every user's cap, beside the journal whose generation it names (coursemail's caps file).
  if [ -f "$journal.caps" ]; then
    cp --preserve="$PRESERVE" -- "$journal.caps" "$STAGE/root/journal/journal.caps" ||
      die 1 "cannot copy $journal.caps"
  fi
  cp --preserve="$PRESERVE" -- "$lock" "$STAGE/root/journal/journal.lock"
  exec {fd}<&-
  getfattr --absolute-names --only-values -n user.data_end -- "$STAGE/root/journal/journal" >/dev/null 2>&1 ||
    die 1 "the copied journal has no user.data_end xattr; check that $journal has one (coursemail journal verify)"
}

# tolerant_copy SRC_DIR LIST: copies the paths named in the file LIST (relative to SRC_DIR, one a
# line) into the staging root, in list order, skipping files that vanish while being read: git
# writes `*.lock` and temporary objects and renames them into place, and records leave
# logs/.open/ when their session closes. Directories in LIST are copied recursively. `*.lock`
# files are left out: a stale git lock would block its ref after a restore, and the lock files
# of pop/ are recreated on demand.
tolerant_copy() {
  local src=$1 list=$2
  local status=0
  tar -C "$src" --create --file=- "${TAR_META[@]}" --ignore-failed-read \
    --warning=no-failed-read --warning=no-file-removed --warning=no-file-changed \
    --exclude='*.lock' --exclude='tmp_*' --exclude='incoming-*' --verbatim-files-from \
    --files-from="$list" |
    tar -C "$STAGE/root" --extract --file=- "${TAR_META[@]}" --same-permissions --same-owner ||
    status=$?
  # Status 1 from the reading tar only means "a file changed while it was read"; git replaces
  # files by rename, so every file read is whole. Anything else is a real failure.
  [ "$status" -le 1 ] || die 1 "cannot copy from $src (tar failed, see above)"
}

# repo_members REL: what to copy of the repository REL (relative to DATA), one path a line, in
# the order guarantee 3 needs: the work tree if any, the git directory's files, then refs/, then
# packed-refs, then objects/. What restore.sh --force set aside in a grading volume is not state.
repo_members() {
  local rel=$1 git entry name
  git=$(git_dir "$rel")
  if [ "$git" != "$rel" ]; then
    for entry in "$DATA/$rel"/* "$DATA/$rel"/.[!.]*; do
      [ "${entry##*/}" = .git ] || printf '%s/%s\n' "$rel" "${entry##*/}"
    done
  fi
  for entry in "$DATA/$git"/* "$DATA/$git"/.[!.]*; do
    name=${entry##*/}
    case $name in
      refs | packed-refs | objects | .replaced-*) ;;
      *) printf '%s/%s\n' "$git" "$name" ;;
    esac
  done
  for name in refs packed-refs objects; do
    [ ! -e "$DATA/$git/$name" ] || printf '%s/%s\n' "$git" "$name"
  done
}

# copy_repo REL ABSENT: the git repository REL (grading.git, course/base.git) in the order of
# repo_members, or says ABSENT if there is none. It is copied again while `git fsck
# --connectivity-only` finds objects missing from the copy (objects that a `git gc` packed and
# pruned while they were read). A repository that fails the check in place is broken, not busy:
# the backup stops, as restore.sh would refuse the archive anyway.
copy_repo() {
  local rel=$1 attempt out parent=${1%/*}
  [ -d "$DATA/$rel" ] || { say "$2"; return 0; }
  [ "$parent" = "$rel" ] || [ -d "$STAGE/root/$parent" ] || stage_dir "$parent"
  local list=$STAGE/repo.list
  for ((attempt = 1; attempt <= REPO_COPY_ATTEMPTS; attempt++)); do
    rm -rf -- "${STAGE:?}/root/$rel"
    stage_dir "$rel"
    [ "$(git_dir "$DATA/$rel")" = "$DATA/$rel" ] || stage_dir "$rel/.git"
    repo_members "$rel" >"$list"
    tolerant_copy "$DATA" "$list"
    out=$(fsck_repo "$STAGE/root/$rel") && return 0
    say "the copy of $rel is incomplete (it changed while it was read: a git gc?); copying it again"
  done
  local live
  live=$(fsck_repo "$DATA/$rel") ||
    die 1 "$rel is broken in $SOURCE itself (git fsck: $live); repair it, or move it away if the course does not need it, and back up again"
  die 1 "$rel kept changing while it was copied ($REPO_COPY_ATTEMPTS attempts, git fsck: $out); back up again once pushes and git gc on it have stopped"
}

# fsck_repo REPO: `git fsck --connectivity-only` on the repository at REPO (every object its refs
# reach is present); on failure prints git's first complaints on one line.
fsck_repo() {
  local out
  out=$(repo_git "$(git_dir "$1")" fsck --connectivity-only --no-dangling --no-progress 2>&1) && return 0
  grep -v '^notice:' <<<"$out" | head -n2 | tr '\n' ' ' | sed 's/ $//'
  return 1
}

# repo_facts KEY REL: manifest lines for the staged repository REL: how many refs it has and
# what its HEAD is, which restore.sh checks the restored repository against.
repo_facts() {
  local key=$1 git refs head
  [ -d "$STAGE/root/$2" ] || return 0
  git=$(git_dir "$STAGE/root/$2")
  refs=$(repo_git "$git" for-each-ref --format='%(refname)' | wc -l) ||
    die 1 "git cannot list the refs of the copied $2 (see its message above)"
  head=$(repo_git "$git" rev-parse -q --verify 'HEAD^{commit}') || head=unborn
  echo "${key}_refs $refs"
  echo "${key}_head $head"
}

# list_ids DIR: the message or submission ids in DIR, sorted (so in order of sessions).
list_ids() {
  [ -d "$1" ] || return 0
  # grep finding nothing is an empty directory, not an error; ls failing is.
  ls -U -- "$1/" | { grep -E "$ID_RE" || true; } | LC_ALL=C sort || die 1 "cannot list $1"
}

# copy_session_records: logs/.open/ first, then logs/. A record moves from .open/ to logs/ when
# its session closes, so copying in that order cannot miss one; a record caught in both places
# keeps only its closed (complete) copy, as smtp's finaliser would.
copy_session_records() {
  stage_dir logs
  local open_list=$STAGE/open.list closed_list=$STAGE/closed.list id
  if [ -d "$DATA/logs/.open" ]; then
    stage_dir logs/.open
    list_ids "$DATA/logs/.open" | sed 's|^|logs/.open/|' >"$open_list"
    tolerant_copy "$DATA" "$open_list"
  fi
  list_ids "$DATA/logs" | sed 's|^|logs/|' >"$closed_list"
  # Closed records are never removed: one that cannot be read is a real error.
  tar -C "$DATA" --create --file=- "${TAR_META[@]}" --no-recursion --files-from="$closed_list" |
    tar -C "$STAGE/root" --extract --file=- "${TAR_META[@]}" --same-permissions --same-owner ||
    die 1 "cannot copy the session records under $DATA/logs"
  for id in $(list_ids "$STAGE/root/logs/.open"); do
    [ ! -e "$STAGE/root/logs/$id" ] || rm -f -- "$STAGE/root/logs/.open/$id"
  done
}

# copy_plain_dir REL: a directory of small files replaced atomically by their writers (pop/'s
# per-user deletions, tls/'s certificate and key); names starting with `.` are temporaries or
# locks, recreated on demand.
copy_plain_dir() {
  local rel=$1
  [ -d "$DATA/$rel" ] || return 0
  stage_dir "$rel"
  local list=$STAGE/plain.list entry
  for entry in "$DATA/$rel"/*; do
    if [ -f "$entry" ]; then printf '%s/%s\n' "$rel" "${entry##*/}"; fi
  done >"$list"
  tolerant_copy "$DATA" "$list"
}

# count_lines FILE
count_lines() { wc -l <"$1" | tr -d ' '; }

# write_manifest MAIL_LIST: what restore.sh checks the archive against; written last, so an
# archive cut short has none.
write_manifest() {
  local mail_list=$1 end users
  end=$(getfattr --absolute-names --only-values -n user.data_end -- "$STAGE/root/journal/journal" | od -An -t u8 --endian=little | tr -d ' ')
  # immutable: the staged copy has no writers, and a plain read-only open would leave
  # -wal and -shm files beside it, into the archive.
  users=$(sqlite3 -batch "$(sqlite_uri "$STAGE/root/accounts/accounts.db" '&immutable=1')" 'SELECT count(*) FROM users' 2>/dev/null || echo unknown)
  {
    echo "coursemail-backup 1"
    echo "created $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "source $SOURCE"
    echo "messages $(count_lines "$mail_list")"
    echo "records $(list_ids "$STAGE/root/logs" | wc -l)"
    echo "open_records $(list_ids "$STAGE/root/logs/.open" | wc -l)"
    echo "journal_end $end"
    echo "users $users"
    repo_facts grading grading.git
    repo_facts base course/base.git
  } >"$STAGE/$MANIFEST"
}

# write_archive MAIL_LIST: the staged state (with the root's own entry, whose owner and mode
# restore.sh gives a root it creates), then the messages read in place from the list, then the
# manifest, as one gzip'd tar on stdout. Nothing read here changes while it is read (a message
# file never changes or disappears once listed), so any complaint from tar is a real failure.
write_archive() {
  local mail_list=$1 staged=() entry
  for entry in journal accounts course grading.git logs pop tls; do
    [ ! -e "$STAGE/root/$entry" ] || staged+=("$entry")
  done
  tar --create --gzip --file=- "${TAR_META[@]}" \
    -C "$STAGE/root" --no-recursion . mail --recursion "${staged[@]}" \
    -C "$DATA" --verbatim-files-from --files-from="$mail_list" \
    -C "$STAGE" "$MANIFEST" ||
    die 1 "writing the archive failed (see tar's message above); discard the output"
}

main() {
  parse_args "$@"
  [ -z "$VOLUMES" ] || as_volume_owner "${BASH_SOURCE[0]}" "$@"
  preflight
  trap cleanup EXIT
  make_stage
  [ -z "$VOLUMES" ] || link_volumes
  check_data_root
  stage_root
  local started=$SECONDS
  say "backing up $SOURCE"
  snapshot_journal_and_databases
  copy_repo grading.git "no grading.git yet"
  copy_repo course/base.git "no course/base.git: the course has no base repository"
  copy_session_records
  copy_plain_dir pop
  copy_plain_dir tls
  local mail_list=$STAGE/mail.list
  list_ids "$DATA/mail" | sed 's|^|mail/|' >"$mail_list"
  write_manifest "$mail_list"
  say "writing the archive: $(count_lines "$mail_list") messages"
  write_archive "$mail_list"
  local m
  m=$(tr '\n' ' ' <"$STAGE/$MANIFEST")
  say "done in $((SECONDS - started)) s: ${m#coursemail-backup 1 }"
}

main "$@"
