#!/usr/bin/env bash
# The grader's intake end to end (SPEC §8): `coursemail up` runs smtp, pop and denis; students
# send series with real git send-email (one session each) and mail with smtplib; the script
# polls `coursemail inspect` until each session is processed and checks its recorded kind,
# component, severity, status and findings. Then, with smtp and denis run as separate
# processes, denis is killed with SIGKILL in the middle of intake and started again: every
# session is processed exactly once.
source "$(dirname "$0")/lib/common.bash"
source "$(dirname "$0")/lib/intake.bash"

start_up --hostname "$DOMAIN"
SEND_PORT=$SMTPS_PORT
expect_contains "$(cat "$WORK/up.log")" "grader" "up says the grader runs"
add_student alice "Alice A"
add_student bob "Bob B"
add_student carol "Carol C"
# hw1: every deadline ahead (initial submissions).
assignment_ahead hw1
now=$(date +%s)
day=86400
expect_contains "$(cm assignment create alice --initial 1 --peer-review 2 --final 3 --allow-past 2>&1 || true)" \
  "alice is already a username" "assignment named after a user"
expect_contains "$(cm assignment create hw9 --initial 3 --peer-review 2 --final 4 --allow-past 2>&1 || true)" \
  "use initial ≤ peer review ≤ final" "deadlines out of order"
# A typo in the year: a deadline in the past would run at once, so it needs --allow-past.
expect_contains "$(cm assignment create typo --initial 2016-12-01T23:59:00+01:00 \
  --peer-review 2026-12-08T23:59:00+01:00 --final 2026-12-15T23:59:00+01:00 2>&1 || true)" \
  "the initial deadline is in the past" "a past deadline is refused"
expect_eq "$(cm assignment list | grep -c '^typo' || true)" 0 "the refused assignment was not created"
expect_contains "$(cm user add hw1 2>&1 || true)" "is an assignment" "user named after an assignment"
expect_contains "$(cm user add list 2>&1 || true)" "is a list address" "user named after a list"
student_repo alice "Alice A"
student_repo bob "Bob B"
student_repo carol "Carol C"

declare -A ID
# Initial submissions are requests for comments.
rfc=(--subject-prefix="RFC PATCH")

# --- bob's series first: alice will review it ----------------------------------------------
new_case bob
commit_file bob bob/list.c 'int list;\n'
send_series bob hw1 --cover-letter -v1 "${rfc[@]}"
ID[bob]=$SESSION

# --- alice's cases to hw1, in order: version N is her N-th patchset to hw1 --------------------
new_case alice
commit_file alice alice/a.c 'int a;\n'
commit_file alice alice/b.c 'int b;\n'
send_series alice hw1 --cover-letter -v1 "${rfc[@]}"
ID[good]=$SESSION

new_case alice
commit_file alice alice/a.c 'int a;\n'
commit_file alice alice/b.c 'int b;\n'
send_series alice hw1 -v2 "${rfc[@]}"
ID[nocover]=$SESSION

new_case alice
commit_file alice alice/existing.c 'int existing = 1;\n'
commit_file alice alice/b.c 'int b;\n'
send_series alice hw1 -v3 "${rfc[@]}"
ID[nocover_fails]=$SESSION

new_case alice
commit_file alice alice/a.c 'int a;\n'
commit_file alice alice/existing.c 'int existing = 2;\n'
commit_file alice alice/c.c 'int c;\n'
send_series alice hw1 --cover-letter -v4 "${rfc[@]}"
ID[middle_fails]=$SESSION

new_case alice
commit_file alice alice/a.c 'int a;\n'
commit_file alice alice/b.c 'int b;   \n'
commit_file alice alice/c.c 'int c;\n'
send_series alice hw1 --cover-letter -v5 "${rfc[@]}"
ID[ws_one]=$SESSION

new_case alice
commit_file alice alice/a.c 'int a; \n'
commit_file alice alice/b.c 'int b;\n'
commit_file alice alice/c.c 'int c;\t\n'
send_series alice hw1 --cover-letter -v6 "${rfc[@]}"
ID[ws_two]=$SESSION

new_case alice
commit_file alice alice/a.c 'int a;\n'
commit_file alice README 'notes\n'
send_series alice hw1 --cover-letter -v7 "${rfc[@]}"
ID[outside]=$SESSION

# A patch submitted as a file: its lines carry a diff's trailing blanks, which are not the
# student's whitespace errors.
new_case alice
commit_file alice alice/fix.patch 'diff --git a/x.c b/x.c\n--- a/x.c\n+++ b/x.c\n@@ -1,2 +1,2 @@\n \n-old \n+new \n'
send_series alice hw1 --cover-letter -v8 "${rfc[@]}"
ID[patchfile]=$SESSION

new_case alice
commit_file alice alice/a.c 'int a;\n' --no-signoff
send_series alice hw1 --cover-letter -v9 "${rfc[@]}"
ID[nosignoff]=$SESSION

new_case alice
commit_file alice alice/a.c 'int a;\n' -m "Signed-off-by: Alice Wrong <alice@$DOMAIN>"
send_series alice hw1 --cover-letter -v10 "${rfc[@]}"
ID[wrongname]=$SESSION

new_case alice
commit_file alice alice/a.c 'int a;\n'
send_series alice hw1 --cover-letter -v11 --subject-prefix=PATCH
ID[wrongtag]=$SESSION

new_case alice
commit_file alice alice/a.c 'int a;\n'
send_series alice hw1 --cover-letter -v1 "${rfc[@]}"
ID[wrongversion]=$SESSION

# --- the list -------------------------------------------------------------------------------
send_mail bob list "Question about hw1"
ID[list]=$SESSION
# Released at once: carol reads it over POP3, while the series stay held back.
wait_processed "${ID[list]}"
python3 - "$POP3S_PORT" "$DATA/tls/cert.pem" "$(password carol)" <<'PY' || fail "POP3: list mail"
import poplib, ssl, sys
port, cert, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3]
pop = poplib.POP3_SSL("localhost", port, context=ssl.create_default_context(cafile=cert))
pop.user("carol")
pop.pass_(pw)
count, _ = pop.stat()
subjects = [l for i in range(1, count + 1) for l in pop.top(i, 0)[1] if l.startswith(b"Subject:")]
assert subjects == [b"Subject: Question about hw1"], subjects
pop.quit()
PY

# --- other assignments: a final, and a series after the final deadline ------------------------
# Created only now: once their past deadlines run, students without an initial are frozen, and
# carol had to read the list first. hw2: initial passed (finals); old: every deadline passed.
cm assignment create hw2 --initial $((now - day)) --peer-review $((now + day)) \
  --final $((now + 2 * day)) --allow-past >/dev/null
cm assignment create old --initial $((now - 3 * day)) --peer-review $((now - 2 * day)) \
  --final $((now - 3600)) --allow-past >/dev/null
new_case alice
commit_file alice alice/a.c 'int a;\n'
send_series alice hw2 --cover-letter -v1 --subject-prefix=PATCH
ID[final]=$SESSION

new_case alice
commit_file alice alice/a.c 'int a;\n'
send_series alice old --cover-letter -v1 "${rfc[@]}"
ID[pastdue]=$SESSION

# --- peer reviews of bob's series --------------------------------------------------------------
wait_processed "${ID[bob]}"
# The initial deadline assigns reviewers (the deadline code); here the row is written directly.
python3 - "$DATA/course/course.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=10)
with db:
    db.execute("INSERT INTO peer_reviews (assignment, reviewer, reviewee, slot) "
               "VALUES ('hw1', 'alice', 'bob', 1)")
PY
bob_patch="${ID[bob]%0000}0002"
send_mail alice bob "Re: [RFC PATCH v1 1/1] list.c: change" "$bob_patch"
ID[review]=$SESSION
send_mail carol bob "Re: [RFC PATCH v1 1/1] list.c: change" "$bob_patch"
ID[unassigned]=$SESSION

wait_processed "${ID[@]}"
SUBMISSIONS=$(inspect submissions)
GRADEABLES=$(inspect gradeables)

expect_submission "${ID[bob]}" patchset initial ok accepted "bob's good series"
expect_submission "${ID[good]}" patchset initial ok accepted "good series"
expect_finding "${ID[good]}" "cover letter present" "good series"
expect_finding "${ID[good]}" "all 2 patches apply" "good series"
expect_finding "${ID[good]}" "every patch is signed off by Alice A <alice@$DOMAIN>" "good series"
expect_finding "${ID[good]}" 'subject tags are correct ([RFC PATCH v1 0/2])' "good series"

expect_submission "${ID[nocover]}" patchset initial fatal accepted "no cover letter"
expect_finding "${ID[nocover]}" "fatal    missing cover letter" "no cover letter"
expect_finding "${ID[nocover]}" "all 2 patches apply" "no cover letter, patches fine"
expect_finding "${ID[nocover]}" 'subject tags are correct ([RFC PATCH v2 1/2])' "no cover letter"

expect_submission "${ID[nocover_fails]}" patchset initial fatal accepted "no cover, patch 1 fails"
expect_finding "${ID[nocover_fails]}" "missing cover letter" "no cover, patch 1 fails"
expect_finding "${ID[nocover_fails]}" "patch 1 does not apply" "no cover, patch 1 fails"
expect_finding "${ID[nocover_fails]}" "(the 1 patch after it was not tried)" "no cover, patch 1 fails"

expect_submission "${ID[middle_fails]}" patchset initial fatal accepted "middle patch fails"
expect_finding "${ID[middle_fails]}" "fatal    patch 2 does not apply" "middle patch fails"
expect_no_finding "${ID[middle_fails]}" "patch 1 does not apply" "middle patch fails"

expect_submission "${ID[ws_one]}" patchset initial warning accepted "whitespace in one patch"
expect_finding "${ID[ws_one]}" "warning  whitespace errors in patch 2 (" "whitespace in one patch"
expect_finding "${ID[ws_one]}" "all 3 patches apply" "whitespace in one patch"
expect_submission "${ID[ws_two]}" patchset initial warning accepted "whitespace in two patches"
expect_finding "${ID[ws_two]}" "whitespace errors in patches 1 and 3 (" "whitespace in two patches"

expect_submission "${ID[outside]}" patchset initial fatal accepted "path outside alice/"
expect_finding "${ID[outside]}" "patch 2 touches README, outside your directory alice/" "path outside"

expect_submission "${ID[patchfile]}" patchset initial ok accepted "a .patch file"
expect_finding "${ID[patchfile]}" "no whitespace errors" "a .patch file"

expect_submission "${ID[nosignoff]}" patchset initial warning accepted "no Signed-off-by"
expect_finding "${ID[nosignoff]}" "patch 1 has no Signed-off-by line; add \`Signed-off-by: Alice A <alice@$DOMAIN>\`" "no Signed-off-by"
expect_submission "${ID[wrongname]}" patchset initial warning accepted "wrong sign-off"
expect_finding "${ID[wrongname]}" "patch 1 is signed off by \`Alice Wrong <alice@$DOMAIN>\`, expected \`Alice A <alice@$DOMAIN>\`" "wrong sign-off"

expect_submission "${ID[wrongtag]}" patchset initial warning accepted "PATCH for an initial"
expect_finding "${ID[wrongtag]}" 'message 1: subject tag is `[PATCH v11 0/1]`, expected `[RFC PATCH v11 0/1]`' "PATCH for an initial"
expect_finding "${ID[wrongtag]}" 'message 2: subject tag is `[PATCH v11 1/1]`' "PATCH for an initial"
expect_submission "${ID[wrongversion]}" patchset initial warning accepted "wrong version"
expect_finding "${ID[wrongversion]}" 'subject tag is `[RFC PATCH v1 0/1]`, expected `[RFC PATCH v12 0/1]`' "wrong version"

expect_submission "${ID[final]}" patchset final ok accepted "a final"
expect_finding "${ID[final]}" 'subject tags are correct ([PATCH v1 0/1])' "a final"
expect_submission "${ID[pastdue]}" patchset - fatal "past due" "after the final deadline"
[ -z "$(findings_of "${ID[pastdue]}")" ] || fail "a past-due series has no gradeable"

expect_submission "${ID[review]}" review review1 ok accepted "assigned review"
expect_finding "${ID[review]}" "review of bob's submission ${ID[bob]}, counted as review1" "assigned review"
expect_submission "${ID[unassigned]}" review - fatal "review not assigned" "unassigned reviewer"
expect_submission "${ID[list]}" discussion - - released "list mail"

# Filters, and the students without an initial submission.
expect_eq "$(inspect submissions --user bob --assignment hw1 | awk 'NR > 1 {print $1}')" \
  "${ID[bob]}" "--user and --assignment filters"
expect_eq "$(inspect gradeables --assignment hw2 | awk 'NR == 2 {print $1}')" "${ID[final]}" \
  "--assignment filter"
missing=$(inspect missing --assignment hw1)
has_line "$missing" '^hw1 +carol$' || fail "carol has no initial for hw1: $missing"
! has_line "$missing" 'alice|bob' || fail "alice and bob submitted: $missing"

# --- denis killed during intake, then restarted: each session processed exactly once ----------
kill -TERM "$UP_PID"
wait "$UP_PID" || fail "up did not stop cleanly"
COURSEMAIL_HOSTNAME=$DOMAIN COURSEMAIL_SMTP_TLS_LISTEN=127.0.0.1:0 COURSEMAIL_SMTP_STARTTLS_LISTEN= \
  "$BIN" --data "$DATA" smtp >"$WORK/smtp.log" 2>&1 &
PIDS+=($!)
wait_for_line "$WORK/smtp.log" "SMTP (TLS)"
SEND_PORT=$(sed -n 's/.*SMTP (TLS) .*:\([0-9]*\)$/\1/p' "$WORK/smtp.log")
start_denis() {
  COURSEMAIL_HOSTNAME=$DOMAIN COURSEMAIL_DENIS_CONCURRENCY=1 "$BIN" --data "$DATA" denis \
    >>"$WORK/denis.log" 2>&1 &
  PIDS+=($!)
  DENIS_PID=$!
}
# A backlog of sessions closed while denis is down (the catch-up scan at start finds them).
batch=()
for n in 1 2 3 4; do
  new_case carol
  commit_file carol "carol/f$n.c" "int f$n;\n"
  send_series carol hw1 --cover-letter -v$n "${rfc[@]}"
  batch+=("$SESSION")
  send_mail bob list "announcement $n"
  batch+=("$SESSION")
done
# processed: how many sessions of the batch are recorded.
processed() {
  inspect submissions | awk 'NR > 1 {print $1}' | grep -cFx -f <(printf '%s\n' "${batch[@]}") || true
}
start_denis
# Kill it as soon as it has recorded one of them, while the rest are queued or in git.
tries=600
until [ "$(processed)" -gt 0 ]; do
  tries=$((tries - 1)); [ "$tries" -gt 0 ] || fail "denis processed nothing"; sleep 0.02
done
kill -KILL "$DENIS_PID"
wait "$DENIS_PID" 2>/dev/null || true
echo "denis killed after $(processed) of ${#batch[@]} sessions"
start_denis
wait_processed "${batch[@]}"

SUBMISSIONS=$(inspect submissions)
for id in "${batch[@]}"; do
  expect_eq "$(awk -v id="$id" '$1 == id' <<<"$SUBMISSIONS" | wc -l)" 1 "session $id listed once"
done
expect_eq "$(tail -n +2 <<<"$SUBMISSIONS" | wc -l)" "$(records | wc -l)" "every session recorded once"
# Versions count patchsets once each: v1..v4 are all correct.
for n in 1 2 3 4; do
  expect_submission "${batch[$(((n - 1) * 2))]}" patchset initial ok accepted "carol's v$n after the restart"
done
journal=$(cm journal show)
tags=$(git --git-dir="$DATA/grading.git" tag -l)
for n in 0 1 2 3; do
  id=${batch[$((n * 2))]}
  has_line "$tags" "^$id$" || fail "grading.git has no tag $id"
  mail=${batch[$((n * 2 + 1))]%0000}0001
  expect_eq "$(grep -c "$mail" <<<"$journal")" 1 "list message $mail released exactly once"
done
cm journal verify >/dev/null || fail "journal inconsistent after the kill"
echo "intake: ok"
