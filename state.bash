# state.bash: what backup.sh and restore.sh share (sourced by both, never run): the archive's
# format, messages, the options that name container volumes, and the volumes and repositories
# they read through. Each script sets PROG (its name, for messages) before sourcing this.

# A message id and a submission id (SPEC §4): the only names mail/ and logs/ hold for good;
# anything else there (a `.tmp.` file being written) is not part of the state.
readonly ID_RE='^[0-9a-f]{30}$'
readonly MANIFEST=.coursemail-backup
# The same tar options on every pass, so staging and extraction keep what the archive keeps.
readonly TAR_META=(--format=posix --xattrs --xattrs-include='user.*' --numeric-owner)
# The parts of a data root (SPEC §3) in the order the containers' volumes are listed.
readonly PARTS=(mail logs journal accounts course pop tls grading.git)
# Volume names (podman's and docker's rule), so that a prefix can never become an option.
readonly VOLUME_NAME_RE='^[A-Za-z0-9][A-Za-z0-9_.-]*$'

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
# die STATUS MESSAGE: one sentence saying what went wrong and what to do.
die() {
  local status=$1
  shift
  printf '%s: error: %s\n' "$PROG" "$*" >&2
  exit "$status"
}

# check_state_options WHICH: after parsing DATA, VOLUMES, ENGINE and PREFIX, checks that exactly
# one state is named and fills in the volume defaults; WHICH ends the sentence that asks for one
# ("say which state to back up"). Prints usage and exits 2 on a mistake.
check_state_options() {
  if [ -n "$VOLUMES" ]; then
    [ -z "$DATA" ] || { usage; die 2 "--data and --volumes exclude each other; $1"; }
    ENGINE=${ENGINE:-podman} PREFIX=${PREFIX:-coursemail-}
    case $ENGINE in podman | docker) ;; *) die 2 "--engine must be podman or docker, not '$ENGINE'" ;; esac
    [[ $PREFIX =~ $VOLUME_NAME_RE ]] ||
      die 2 "--prefix '$PREFIX' cannot start a volume name; use letters, digits, '_', '.' and '-', starting with a letter or digit"
  else
    [ -n "$DATA" ] || { usage; die 2 "$1: --data DIR or --volumes"; }
    [ -z "$ENGINE$PREFIX" ] || { usage; die 2 "--engine and --prefix name volumes; use them with --volumes"; }
  fi
}

# as_volume_owner SCRIPT ARGS...: for rootless podman, runs SCRIPT again with ARGS inside
# `podman unshare`. The volumes' files belong to the user's sub-uids there, which only that user
# namespace can read, create and chown; in it the files have the owners the containers see,
# which is what an archive keeps. Docker's volumes need root.
as_volume_owner() {
  [ "$(id -u)" -ne 0 ] || return 0
  [ "$ENGINE" = podman ] ||
    die 2 "docker keeps its volumes where only root can use them; run $PROG --volumes as root (sudo)"
  command -v podman >/dev/null || die 2 "podman is not installed; install it or pass --engine docker"
  local self
  self=$(realpath -- "$1")
  exec podman unshare bash "$self" "${@:2}"
}

# volume_name PART: the volume that holds the data root's PART.
volume_name() { printf '%s%s' "$PREFIX" "${1%.git}"; }

# volume_names: every volume ENGINE has, one per line.
volume_names() {
  local names
  names=$("$ENGINE" volume ls --format '{{.Name}}' 2>&1) ||
    die 1 "$ENGINE cannot list its volumes ($(tail -n1 <<<"$names")); check that $ENGINE works for this user"
  printf '%s\n' "$names"
}

# volume_dir NAME: where the files of volume NAME are on this machine. Only plain local volumes:
# another driver's, or one with a device option, is mounted from elsewhere only while a
# container uses it, so its files are not there to read or fill.
volume_dir() {
  local mount device
  mount=$("$ENGINE" volume inspect --format '{{.Mountpoint}}' "$1") ||
    die 1 "$ENGINE cannot inspect volume $1 (see its message above)"
  device=$("$ENGINE" volume inspect --format '{{.Driver}} {{index .Options "device"}}' "$1") || device=
  [ "$device" = "local " ] ||
    die 2 "volume $1 is not a plain local volume ($device): $ENGINE mounts its files from elsewhere only while a container uses it; keep the state in plain named volumes (as the compose file does)"
  [ -d "$mount" ] ||
    die 1 "volume $1's files are not at $mount on this machine; run $PROG where $ENGINE keeps them (not through a remote $ENGINE)"
  printf '%s\n' "$mount"
}

# git_dir REPO: the git directory of the repository at REPO: REPO itself when it is bare (as
# grading.git always is and course/base.git should be), REPO/.git when it has a work tree.
git_dir() { if [ -d "$1/.git" ]; then printf '%s/.git' "$1"; else printf '%s' "$1"; fi; }

# repo_git GITDIR ARGS...: git on the repository GITDIR, named explicitly (git then never looks
# for one above it, and accepts one owned by the service user) and without this machine's
# system and user configuration, so that the checks mean the same on every machine.
repo_git() { GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null git --git-dir="$1" "${@:2}"; }
