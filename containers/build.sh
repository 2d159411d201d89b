#!/usr/bin/env bash
# containers/build.sh: turns a checkout into the coursemail images, with no image registry.
#
#   containers/build.sh            build localhost/coursemail-{smtp,pop,web,denis}:latest
#   containers/build.sh --rebase   also rebuild the Debian base of the denis image
#   containers/build.sh --with-chat  also build localhost/coursemail-submatrix:latest, the
#                                    course chat (Synapse from PyPI, version submatrix/synapse.version)
#
# 1. Builds the coursemail binary on the host, statically linked (glibc's crt-static), so the
#    smtp, pop and web images can be FROM scratch: the binary and nothing else, no shell.
# 2. Makes the Debian base of the denis image with debootstrap (minbase plus git and
#    ca-certificates, and the service user, uid 10000), imported as
#    localhost/coursemail-debian:latest. It is made once and reused; --rebase makes it anew
#    (say, for security updates). Packages come from the host's own Debian mirror (its apt
#    sources) unless DEBIAN_MIRROR names another.
# 3. Stages a build context under target/containers/ (the binary, the data root's empty
#    directories owned by uid 10000, an empty /tmp) and builds one image per service from
#    containers/<service>.Containerfile.
#
# Needs: cargo, podman (or ENGINE=docker), and for the base debootstrap and root; --with-chat
# also needs the Debian mirror and PyPI reachable from inside a build.
# Exit status: 0 every image is built; 1 a step failed (the message says which); 2 usage.
set -euo pipefail

readonly PROG=containers/build.sh
readonly ROOT=$(cd "$(dirname "$0")/.." && pwd)
readonly ENGINE=${ENGINE:-podman}
readonly STAGE=$ROOT/target/containers
readonly BASE_IMAGE=localhost/coursemail-debian:latest
# The service user of every image; the data root's directories belong to it.
readonly SERVICE_UID=10000
readonly SERVICES=(smtp pop web denis)
# The data root's parts (SPEC §3), one volume each in compose.yaml and coursemail.kube.yaml.
readonly DATA_PARTS=(mail logs journal accounts course pop tls grading.git)

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
  printf '%s: error: %s\n' "$PROG" "$*" >&2
  exit 1
}

REBASE=0
CHAT=0
for arg in "$@"; do
  case $arg in
    --rebase) REBASE=1 ;;
    --with-chat) CHAT=1 ;;
    -h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    *) printf '%s: error: unknown argument %q; see --help\n' "$PROG" "$arg" >&2; exit 2 ;;
  esac
done

command -v "$ENGINE" >/dev/null || die "$ENGINE is not installed; install it (apt-get install podman) or set ENGINE"

build_binary() {
  local host
  host=$(rustc -vV | sed -n 's/^host: //p')
  say "building the static coursemail binary for $host"
  # An explicit --target keeps RUSTFLAGS off build scripts and proc macros, which must stay
  # dynamic, and keeps these artifacts apart from the ordinary target/release ones.
  (cd "$ROOT" && RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --locked -j "${CARGO_BUILD_JOBS:-2}" --target "$host" --bin coursemail)
  BINARY=$ROOT/target/$host/release/coursemail
  # A scratch image has no loader: a dynamic binary would fail there with a bare "not found".
  if ldd "$BINARY" 2>&1 | grep -q '=>'; then
    die "$BINARY is dynamically linked; a scratch image cannot run it"
  fi
}

# The Debian mirror the host's apt uses: deb822 sources first, then the classic list.
host_mirror() {
  local uri
  uri=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null |
    grep -v security | head -n 1 || true)
  [ -n "$uri" ] || uri=$(awk '$1 == "deb" && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
  printf '%s\n' "$uri"
}

build_base() {
  if [ "$REBASE" = 0 ] && "$ENGINE" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    say "reusing $BASE_IMAGE (--rebase makes it anew)"
    return
  fi
  command -v debootstrap >/dev/null || die "debootstrap is not installed; apt-get install debootstrap"
  [ "$(id -u)" = 0 ] || die "debootstrap needs root to make the denis image's base; run as root once"
  local mirror suite rootfs
  mirror=${DEBIAN_MIRROR:-$(host_mirror)}
  [ -n "$mirror" ] || die "cannot find a Debian mirror in the host's apt sources; set DEBIAN_MIRROR"
  suite=${DEBIAN_SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-}")}
  [ -n "$suite" ] || die "cannot tell the host's Debian release; set DEBIAN_SUITE (e.g. bookworm)"
  rootfs=$STAGE/debian-rootfs
  rm -rf "$rootfs"
  mkdir -p "$rootfs"
  say "making the Debian $suite base with debootstrap (a few minutes, once)"
  debootstrap --variant=minbase --include=git,ca-certificates "$suite" "$rootfs" "$mirror" \
    >"$STAGE/debootstrap.log" 2>&1 ||
    die "debootstrap failed; see $STAGE/debootstrap.log"
  # The service user: git wants a passwd entry for whoever runs it.
  echo "coursemail:x:$SERVICE_UID:$SERVICE_UID:coursemail:/var/lib/coursemail:/usr/sbin/nologin" >>"$rootfs/etc/passwd"
  echo "coursemail:x:$SERVICE_UID:" >>"$rootfs/etc/group"
  # Nothing the image needs at run time: apt's caches and the documentation.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*
  tar -C "$rootfs" --numeric-owner -c . | "$ENGINE" import --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
}

stage_context() {
  local context=$STAGE/context part
  rm -rf "$context"
  mkdir -p "$context/data" "$context/tmp"
  cp "$BINARY" "$context/coursemail"
  for part in "${DATA_PARTS[@]}"; do
    mkdir -m 0700 "$context/data/$part"
  done
  chmod 0700 "$context/data"
  chmod 1777 "$context/tmp"
  # The chat's files (only its image uses them) and its empty state directory.
  mkdir -p "$context/submatrix" "$context/chat"
  cp "$ROOT"/submatrix/{coursemail_auth.py,render.py,homeserver.yaml.in,submatrix-start} "$context/submatrix/"
  chmod 0700 "$context/chat"
  CONTEXT=$context
}

build_images() {
  local service image previous services=("${SERVICES[@]}")
  # The host's trust store, for the chat image's pip: a host behind a TLS-inspecting proxy
  # trusts the proxy's CA there, and the build should too.
  local HOST_CA=()
  # (podman's build takes volumes; docker's does not, and gets none.)
  [ "$ENGINE" != podman ] || [ ! -s /etc/ssl/certs/ca-certificates.crt ] ||
    HOST_CA=(--volume /etc/ssl/certs/ca-certificates.crt:/host-ca.crt:ro)
  [ "$CHAT" = 0 ] || services+=(submatrix)
  for service in "${services[@]}"; do
    image=localhost/coursemail-$service:latest
    previous=$("$ENGINE" image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
    say "building $image"
    "$ENGINE" build --quiet -f "$ROOT/containers/$service.Containerfile" -t "$image" \
      --build-arg SYNAPSE_VERSION="$(cat "$ROOT/submatrix/synapse.version")" "${HOST_CA[@]}" \
      "$CONTEXT" >/dev/null || die "building the $service image failed"
    # The image this build replaced, unless a container still uses it: rebuilds would
    # otherwise pile up untagged images.
    if [ -n "$previous" ] && [ "$previous" != "$("$ENGINE" image inspect --format '{{.Id}}' "$image")" ]; then
      "$ENGINE" rmi "$previous" >/dev/null 2>&1 || true
    fi
  done
}

mkdir -p "$STAGE"
build_binary
build_base
stage_context
build_images
say "built the images; start them with podman-compose -p coursemail -f containers/compose.yaml up -d"
