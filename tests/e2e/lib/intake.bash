# Helpers for tests/e2e/intake.sh (sourced after common.bash): students' repositories, series
# sent with git send-email, plain mail with smtplib, and waiting for the grader through
# `coursemail inspect`.

DOMAIN=course.example
# Set by start_smtp_port (or by start_up): where git send-email connects (implicit TLS).
SEND_PORT=""

# password USER: every test student's password.
password() { echo "$1 password 1"; }

# add_student USER FULL-NAME
add_student() { password "$1" | cm user add "$1" --full-name "$2" --password-stdin >/dev/null; }

# assignment_ahead NAME: creates assignment NAME whose three deadlines fall one, two and three
# days from now (students can still submit the initial version).
assignment_ahead() {
  local now day=86400
  now=$(date +%s)
  cm assignment create "$1" --initial "$(rfc3339 $((now + day)))" \
    --peer-review "$(rfc3339 $((now + 2 * day)))" --final "$(rfc3339 $((now + 3 * day)))" >/dev/null
}

# rfc3339 UNIX-SECONDS: the time as RFC 3339 in UTC.
rfc3339() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

# student_repo USER FULL-NAME: a repository in $WORK/repo-USER whose first commit (tag `base`)
# adds USER/existing.c, which the grader's empty base does not have: patches that change it do
# not apply there. Cases branch off `base`.
student_repo() {
  local repo="$WORK/repo-$1"
  git init -q "$repo"
  git -C "$repo" config user.name "$2"
  git -C "$repo" config user.email "$1@$DOMAIN"
  mkdir -p "$repo/$1"
  printf 'int existing;\n' >"$repo/$1/existing.c"
  git -C "$repo" add . && git -C "$repo" commit -q -m "start" && git -C "$repo" tag base
}

# new_case USER: start a new branch of USER's repository at `base`.
new_case() { git -C "$WORK/repo-$1" checkout -q -B "case$RANDOM$RANDOM" base; }

# commit_file USER PATH CONTENT [git-commit args...]: writes CONTENT (printf %b) to PATH and
# commits it; with no extra args the commit is signed off (-s).
commit_file() {
  local user=$1 path=$2 content=$3 repo="$WORK/repo-$1"
  shift 3
  [ $# -gt 0 ] || set -- -s
  mkdir -p "$(dirname "$repo/$path")"
  printf '%b' "$content" >"$repo/$path"
  git -C "$repo" add "$path"
  git -C "$repo" commit -q -m "$(basename "$path"): change" "$@"
}

# records: closed session records in logs/, sorted.
records() { ls "$DATA/logs" | grep -E '^[0-9a-f]{30}$' | sort || true; }

# await_new_record BEFORE: waits until logs/ has exactly one record not in BEFORE (the session
# is closed a moment after the client has seen the reply to QUIT) and sets SESSION to its id.
await_new_record() {
  local tries=100 fresh
  while :; do
    fresh=$(comm -13 <(echo "$1") <(records))
    [ -z "$fresh" ] || break
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || fail "no session record appeared in logs/"
    sleep 0.1
  done
  [ "$(echo "$fresh" | wc -l)" -eq 1 ] || fail "expected one new session, got: $fresh"
  SESSION=$fresh
}

# send_series USER TO [format-patch args...]: formats USER's current branch since `base` and
# sends it to TO@DOMAIN with git send-email in one session; sets SESSION.
send_series() {
  local user=$1 to=$2 repo="$WORK/repo-$1" out="$WORK/series-$RANDOM$RANDOM" before
  shift 2
  git -C "$repo" format-patch -q -o "$out" "$@" base..HEAD >/dev/null
  sed -i 's/\*\*\* SUBJECT HERE \*\*\*/my series/; s/\*\*\* BLURB HERE \*\*\*/Please review./' \
    "$out"/*.patch
  before=$(records)
  git -C "$repo" send-email --quiet --confirm=never --suppress-cc=all \
    --smtp-server=localhost --smtp-server-port="$SEND_PORT" --smtp-encryption=ssl \
    --smtp-ssl-cert-path="$DATA/tls/cert.pem" --smtp-domain=laptop \
    --smtp-user="$user" --smtp-pass="$(password "$user")" \
    --from="$user@$DOMAIN" --to="$to@$DOMAIN" "$out"/*.patch >"$out.log" 2>&1 \
    || { cat "$out.log"; fail "git send-email of $user's series to $to failed"; }
  await_new_record "$before"
}

# send_mail USER TO SUBJECT [IN-REPLY-TO]: one plain message with smtplib; sets SESSION.
send_mail() {
  local before
  before=$(records)
  python3 - "$SEND_PORT" "$DATA/tls/cert.pem" "$1" "$(password "$1")" "$2@$DOMAIN" "$3" \
    "${4:-}" "$DOMAIN" <<'PY' || fail "smtplib: $1 could not send to $2"
import smtplib, ssl, sys
port, cert, user, pw, to, subject, reply, domain = sys.argv[1:9]
head = f"From: {user}@{domain}\r\nTo: {to}\r\nSubject: {subject}\r\n"
if reply:
    head += f"In-Reply-To: <{reply}@{domain}>\r\nReferences: <{reply}@{domain}>\r\n"
body = "> quoted line\r\n\r\nLooks good to me; one nit below.\r\n"
with smtplib.SMTP_SSL("localhost", int(port), context=ssl.create_default_context(cafile=cert),
                      local_hostname="laptop", timeout=10) as s:
    s.login(user, pw)
    s.sendmail(f"{user}@{domain}", [to], (head + "\r\n" + body).encode())
PY
  await_new_record "$before"
}

# inspect ARGS...: `coursemail inspect` without its count line on stderr (errors are kept in
# $WORK/inspect.err; an empty table then fails the assertion that reads it).
inspect() { cm inspect "$@" 2>"$WORK/inspect.err"; }

# wait_processed ID...: polls `coursemail inspect submissions` until every ID is listed.
wait_processed() {
  local tries=600 listed id missing
  while :; do
    listed=$(inspect submissions | awk '{print $1}')
    missing=""
    for id in "$@"; do grep -qx "$id" <<<"$listed" || missing="$missing $id"; done
    [ -z "$missing" ] && return 0
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || fail "the grader did not process:$missing"
    sleep 0.1
  done
}

# expect_submission ID KIND COMPONENT SEVERITY STATUS WHAT: checks the row of `inspect
# submissions` (in $SUBMISSIONS) for session ID.
expect_submission() {
  local row
  row=$(awk -v id="$1" '$1 == id' <<<"$SUBMISSIONS")
  [ -n "$row" ] || fail "$6: submission $1 not listed"
  # Columns: id, time, user, to, kind, assignment, component, severity, status (may have spaces).
  read -r _ _ _ _ kind _ component severity status <<<"$row"
  expect_eq "$kind $component $severity $status" "$2 $3 $4 $5" "$6"
}

# findings_of ID: the findings listed under gradeable ID in $GRADEABLES.
findings_of() {
  awk -v id="$1" '$1 == id { on = 1; next } /^[^ ]/ { on = 0 } on' <<<"$GRADEABLES"
}

# expect_finding ID TEXT WHAT
expect_finding() { expect_contains "$(findings_of "$1")" "$2" "$3"; }

# expect_no_finding ID TEXT WHAT
expect_no_finding() {
  case "$(findings_of "$1")" in *"$2"*) fail "$3: unexpected '$2' in: $(findings_of "$1")" ;; esac
}
