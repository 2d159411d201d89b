#!/usr/bin/env bash
# Course git hosting (SPEC §18) with the real git CLI over HTTP against `coursemail up`: the
# base repository exists empty from the first start; anonymous requests are asked to log in
# (401); an instructor's first push creates its history; a student clones it (credentials from a
# credential helper, as /setup would set up) but cannot push; history of the base is never
# rewritten or deleted; grading.git is refused to students (403, no refs) and mirrored by an
# instructor; and a series that changes a file of the pushed base applies in the grader.
source "$(dirname "$0")/lib/common.bash"
source "$(dirname "$0")/lib/intake.bash"
command -v git >/dev/null || skip "no git"
command -v curl >/dev/null || skip "no curl"

start_up --hostname "$DOMAIN"
SEND_PORT=$SMTPS_PORT
WEB_PORT=$(sed -n 's|.*web  *http://[^:]*:\([0-9]*\)/$|\1|p' "$WORK/up.log")
URL="http://127.0.0.1:$WEB_PORT/git"
echo 'prof password 1' | cm user add prof --full-name 'Pat Prof' --instructor --password-stdin >/dev/null
add_student alice "Alice A"
[ -d "$DATA/course/base.git" ] || fail "no empty base.git after the first start"

# git reads credentials from a helper; each "person" has their own, as on their own machine.
helper() { printf '!f() { echo username=%s; echo password="%s"; }; f' "$1" "$2"; }
as() {
  local who=$1 pass=$2
  shift 2
  git -c credential.helper= -c "credential.helper=$(helper "$who" "$pass")" \
    -c user.name="$who" -c user.email="$who@$DOMAIN" "$@"
}

# Anonymous: 401 with a Basic challenge; no refs.
head=$(curl -s -D - -o "$WORK/anon.body" "$URL/base.git/info/refs?service=git-upload-pack")
expect_contains "$head" "401" "anonymous clone is asked to log in"
expect_contains "${head,,}" "www-authenticate: basic" "with a Basic challenge"
# Not a smart-HTTP path: 404, whoever asks.
code=$(curl -s -o /dev/null -w '%{http_code}' -u 'prof:prof password 1' "$URL/base.git/objects/info/packs")
expect_eq "$code" 404 "dumb-protocol paths are not served"
code=$(curl -s -o /dev/null -w '%{http_code}' -u 'prof:prof password 1' "$URL/../../etc/passwd")
[ "$code" = 404 ] || [ "$code" = 400 ] || fail "a path with .. answered $code"

# The instructor's first push creates the base's history.
PROF="$WORK/prof-base"
git init -q -b main "$PROF"
mkdir -p "$PROF/docs" "$PROF/alice"
printf '# Syllabus\n\nWeek 1: [patches](week1.md).\n\n<script>alert("x")</script>\n\n[click](javascript:alert(1))\n' \
  >"$PROF/docs/index.md"
printf '# Week 1\n\nSend a series.\n' >"$PROF/docs/week1.md"
printf 'int existing;\n' >"$PROF/alice/existing.c"
(cd "$PROF" && git add . && as prof 'prof password 1' commit -q -m "course base")
as prof 'prof password 1' -C "$PROF" push -q "$URL/base.git" main 2>"$WORK/push.log" \
  || { cat "$WORK/push.log"; fail "the instructor's first push"; }
expect_eq "$(git -C "$DATA/course/base.git" rev-parse main)" "$(git -C "$PROF" rev-parse main)" \
  "the push reached course/base.git"

# The course site: / renders docs/index.md of the pushed base, publicly, hostile HTML neutralised,
# relative links working.
home=$(curl -sS "http://127.0.0.1:$WEB_PORT/")
expect_contains "$home" "<h1>Syllabus</h1>" "/ shows the syllabus"
expect_contains "$home" 'href="/docs/week1.md"' "relative links resolve under /docs/"
case "$home" in *"<script>alert"*|*"javascript:"*) fail "hostile HTML reached the page: $home" ;; esac
expect_contains "$(curl -sS "http://127.0.0.1:$WEB_PORT/docs/week1.md")" "<h1>Week 1</h1>" "/docs/week1.md"
expect_eq "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$WEB_PORT/docs/../../x.md")" 404 \
  "no path out of docs/"

# A student clones it, but cannot push.
CLONE="$WORK/alice-base"
as alice 'alice password 1' clone -q "$URL/base.git" "$CLONE" 2>"$WORK/clone.log" \
  || { cat "$WORK/clone.log"; fail "a student clones the base"; }
[ -f "$CLONE/docs/index.md" ] || fail "the clone has no docs/index.md"
(cd "$CLONE" && printf 'x\n' >>alice/existing.c && as alice 'alice password 1' commit -q -am "mine")
if as alice 'alice password 1' -C "$CLONE" push -q origin main 2>"$WORK/student-push.log"; then
  fail "a student pushed to the base"
fi
expect_contains "$(cat "$WORK/student-push.log")" "403" "the student's push is refused"
# Wrong password: refused, never a clone.
if as alice 'wrong' clone -q "$URL/base.git" "$WORK/nope" 2>/dev/null; then
  fail "a wrong password cloned"
fi

# History of the base is never rewritten or deleted, even by an instructor.
(cd "$PROF" && as prof 'prof password 1' commit -q --amend -m "rewritten")
if as prof 'prof password 1' -C "$PROF" push -q -f "$URL/base.git" main 2>"$WORK/force.log"; then
  fail "a forced push rewrote the base"
fi
(cd "$PROF" && git reset -q --hard "$(git -C "$DATA/course/base.git" rev-parse main)")
if as prof 'prof password 1' -C "$PROF" push -q "$URL/base.git" :main 2>/dev/null; then
  fail "the base's branch was deleted"
fi

# A series that changes a file of the base applies on it.
assignment_ahead hw1
student_repo alice "Alice A"
commit_file alice alice/existing.c 'int existing = 1;\n'
send_series alice hw1 --rfc -v1 --cover-letter
for _ in $(seq 100); do
  out=$(cm inspect gradeables --user alice 2>&1 || true)
  case "$out" in *hw1*) break ;; esac
  sleep 0.2
done
expect_contains "$out" "applies" "the series applies on the pushed base"
if has_line "$out" "fatal"; then fail "the series did not apply on the pushed base: $out"; fi

# grading.git: students get 403 and no refs; an instructor mirrors it and finds the tag.
reply=$(curl -s -w '\n%{http_code}' -u 'alice:alice password 1' \
  "$URL/grading.git/info/refs?service=git-upload-pack")
expect_eq "$(tail -1 <<<"$reply")" 403 "students are refused grading.git"
case "$reply" in *refs/*) fail "the refusal leaked refs: $reply" ;; esac
as prof 'prof password 1' clone -q --mirror "$URL/grading.git" "$WORK/grading" 2>"$WORK/mirror.log" \
  || { cat "$WORK/mirror.log"; fail "an instructor mirrors grading.git"; }
git -C "$WORK/grading" rev-parse -q --verify "refs/tags/$SESSION" >/dev/null \
  || fail "grading.git has no tag $SESSION"

kill -TERM "$UP_PID"
wait "$UP_PID" || fail "up exited with $? on SIGTERM"
echo "git: ok"
