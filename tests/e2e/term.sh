#!/usr/bin/env bash
# A whole term end to end (SPEC §9, §10) with real clients only: students submit and review
# with git send-email and read with POP3 (python's poplib); instructors use the CLI. Dummy
# assignments and `assignment trigger` keep it deterministic:
#   hw1  three submitters (each reviews two, one review missing), one student who misses the
#        initial deadline (frozen until an instructor lifts it), one oopsie user (re-allowed at
#        the final deadline after sending a final);
#   hw2  two submitters, each reviewing the other; hw3  one submitter, reviewing nobody.
# Instructor grades override automatic zeros, and `grade export --csv` is compared with totals
# computed here from SPEC §10. Every deadline run a second time changes nothing. Finally a
# scheduled assignment's deadlines pass while denis is stopped: started again (with cron's
# `deadlines run-due` at the same moment), they run exactly once.
source "$(dirname "$0")/lib/common.bash"
source "$(dirname "$0")/lib/intake.bash"
source "$(dirname "$0")/lib/term.bash"

STUDENTS=(alice bob carol dave erin)
declare -A NAME=([alice]="Alice A" [bob]="Bob B" [carol]="Carol C" [dave]="Dave D" [erin]="Erin E")
for s in "${STUDENTS[@]}"; do add_student "$s" "${NAME[$s]}"; done
password prof | cm user add prof --full-name "Pat Prof" --instructor --password-stdin >/dev/null
for a in hw1 hw2 hw3; do cm assignment dummy "$a" >/dev/null; done
# A scheduled assignment a month ahead: what `up` names as the next deadline.
month=$(($(date +%s) + 30 * 86400))
cm assignment create future --initial $month --peer-review $((month + 1)) --final $((month + 2)) \
  >/dev/null

start_up --hostname "$DOMAIN"
SEND_PORT=$SMTPS_PORT
expect_contains "$(cat "$WORK/up.log")" "next deadline: future initial at" "up names the next deadline"
for s in "${STUDENTS[@]}"; do student_repo "$s" "${NAME[$s]}"; done
rfc=(--subject-prefix="RFC PATCH")
declare -A ID

# trigger A DEADLINE EXPECTED: runs it with the CLI and checks the summary it prints.
trigger() {
  expect_eq "$(cm assignment trigger "$1" "$2")" "$1 $2: ran: $3" "$1 $2 deadline"
}

# --- oopsies: erin uses her one oopsie of the term on hw1 --------------------------------------
expect_contains "$(cm oopsie erin hw1)" "erin used an oopsie on hw1 (1 of 1 this term)" "oopsie"
out=$(cm oopsie erin hw2 2>&1) && fail "a second oopsie in the term was accepted"
expect_contains "$out" "erin has used all 1 oopsie(s) of this term (the last on hw1)" "allowance"
out=$(cm oopsie prof hw1 2>&1) && fail "an oopsie for an instructor was accepted"

# --- before the initial deadline: the list is read by everyone --------------------------------
send_mail prof list "Welcome to the course"
wait_processed "$SESSION"
DAVE_BEFORE=$(pop_view dave)
ERIN_BEFORE=$(pop_view erin)
expect_eq "$(head -1 <<<"$DAVE_BEFORE")" 1 "dave reads the welcome before the deadline"

# --- hw1: three students submit; dave and erin (oopsie) do not --------------------------------
for s in alice bob carol; do
  new_case "$s"
  commit_file "$s" "$s/hw1.c" "int $s;\n"
  send_series "$s" hw1 --cover-letter -v1 "${rfc[@]}"
  ID[hw1-$s]=$SESSION
done
trigger hw1 initial "2 delinquent, 3 released, 0 re-allowed, 1 auto-zeroed"
out=$(cm oopsie dave hw1 2>&1) && fail "an oopsie after the initial deadline was accepted"
expect_contains "$out" "the initial deadline of hw1 has passed" "late oopsie"

# Frozen before the release: dave and erin see exactly what they saw before.
expect_eq "$(pop_view dave)" "$DAVE_BEFORE" "dave frozen at the initial deadline"
expect_eq "$(pop_view erin)" "$ERIN_BEFORE" "erin (oopsie, no initial) frozen too"
missing=$(inspect missing --assignment hw1)
has_line "$missing" '^hw1 +dave$' && has_line "$missing" '^hw1 +erin$' \
  || fail "dave and erin missing the initial of hw1: $missing"

# Each submitter reviews the two others: read their series over POP3, reply to the cover letter.
REVIEWS=$(inspect reviews --assignment hw1)
for s in alice bob carol; do
  reviewees=$(awk -v r="$s" '$2 == r { print $3 }' <<<"$REVIEWS" | sort | tr '\n' ' ')
  expect_eq "$reviewees" "$(printf '%s\n' alice bob carol | grep -vx "$s" | tr '\n' ' ')" \
    "$s reviews the two others"
  expect_eq "$(head -1 <<<"$(pop_view "$s")")" 7 "$s reads the welcome and three series"
done
while read -r _ reviewer reviewee component; do
  # carol leaves her second review out: an automatic zero at the peer-review deadline.
  [ "$reviewer/$component" = carol/review2 ] && continue
  cover=$(pop_cover "$reviewer" "$reviewee" hw1)
  expect_eq "$cover" "${ID[hw1-$reviewee]%0000}0001" "$reviewer finds $reviewee's cover letter"
  send_review "$reviewer" "$reviewee" "$cover"
  ID[review-$reviewer-$component]=$SESSION
done < <(tail -n +2 <<<"$REVIEWS")
wait_processed "${ID[@]}"
SUBMISSIONS=$(inspect submissions)
for key in "${!ID[@]}"; do
  case $key in
    review-*) expect_submission "${ID[$key]}" review "${key##*-}" ok accepted "$key" ;;
  esac
done

send_mail prof list "Reviews are due"
wait_processed "$SESSION"
trigger hw1 peer-review "0 delinquent, 5 released, 0 re-allowed, 1 auto-zeroed"
ALICE_VIEW=$(pop_view alice)
expect_eq "$(head -1 <<<"$ALICE_VIEW")" 13 "7 messages, the reminder and five reviews"
expect_eq "$(pop_view dave)" "$DAVE_BEFORE" "dave still frozen after the peer-review release"

# Finals: everyone but carol; dave and erin send theirs while frozen.
for s in alice bob dave erin; do
  version=2
  case $s in dave | erin) version=1 ;; esac
  new_case "$s"
  commit_file "$s" "$s/hw1.c" "int $s = 1;\n"
  send_series "$s" hw1 --cover-letter -v$version --subject-prefix=PATCH
  ID[final-$s]=$SESSION
done
wait_processed "${ID[final-alice]}" "${ID[final-bob]}" "${ID[final-dave]}" "${ID[final-erin]}"
SUBMISSIONS=$(inspect submissions)
for s in alice bob dave erin; do
  expect_submission "${ID[final-$s]}" patchset final ok accepted "$s's final"
done
trigger hw1 final "0 delinquent, 4 released, 1 re-allowed, 1 auto-zeroed"
EVERYTHING=$(pop_view alice)
expect_eq "$(head -1 <<<"$EVERYTHING")" 21 "13 messages and four finals of two messages"
expect_eq "$(pop_view erin)" "$EVERYTHING" "erin re-allowed at the final deadline"
expect_eq "$(pop_view dave)" "$DAVE_BEFORE" "dave stays frozen until an instructor lifts it"
expect_eq "$(cm journal restrict allow dave)" "dave sees the whole journal" "lifting dave"
expect_eq "$(pop_view dave)" "$EVERYTHING" "dave re-allowed by the instructor"

# --- hw2: two submitters, each reviewing the other; bob's review is missing -------------------
for s in alice bob; do
  new_case "$s"
  commit_file "$s" "$s/hw2.c" "int $s;\n"
  send_series "$s" hw2 --cover-letter -v1 "${rfc[@]}"
  ID[hw2-$s]=$SESSION
done
trigger hw2 initial "3 delinquent, 2 released, 0 re-allowed, 3 auto-zeroed"
expect_eq "$(inspect reviews --assignment hw2 | tail -n +2 | awk '{print $2, $3, $4}')" \
  "$(printf 'alice bob review1\nbob alice review1')" "two submitters review each other"
cover=$(pop_cover alice bob hw2)
expect_eq "$cover" "${ID[hw2-bob]%0000}0001" "alice finds bob's hw2 cover letter"
send_review alice bob "$cover"
wait_processed "$SESSION"
trigger hw2 peer-review "0 delinquent, 1 released, 0 re-allowed, 1 auto-zeroed"
trigger hw2 final "0 delinquent, 0 released, 0 re-allowed, 5 auto-zeroed"

# --- hw3: one submitter, reviewing nobody ------------------------------------------------------
new_case carol
commit_file carol carol/hw3.c 'int carol;\n'
send_series carol hw3 --cover-letter -v1 "${rfc[@]}"
trigger hw3 initial "4 delinquent, 1 released, 0 re-allowed, 4 auto-zeroed"
expect_eq "$(inspect reviews --assignment hw3 | wc -l)" 1 "a lone submitter reviews nobody"
trigger hw3 peer-review "0 delinquent, 0 released, 0 re-allowed, 0 auto-zeroed"
trigger hw3 final "0 delinquent, 0 released, 0 re-allowed, 5 auto-zeroed"

# --- grades: instructors grade the work; their scores replace automatic zeros ----------------
grade() { cm grade set "$@" >/dev/null; }
for c in final:90 review1:100 review2:80; do grade hw1 "${c%:*}" alice "${c#*:}"; done
for c in final:80 review1:70 review2:90; do grade hw1 "${c%:*}" bob "${c#*:}"; done
expect_eq "$(cm grade set hw1 final carol 75 --feedback 'sent late by mail')" \
  "carol hw1 final: 75 (replaces an automatic 0: no final submission by the deadline)" \
  "an instructor grade replaces an automatic zero"
grade hw1 review1 carol 60
grade hw1 final dave 50
grade hw1 final erin 88
grade hw2 final alice 90
grade hw2 review1 alice 100
grade hw2 final bob 75
grade hw3 final carol 85
out=$(cm grade set hw1 final prof 50 2>&1) && fail "a grade for an instructor was accepted"
out=$(cm grade set hw1 final alice 101 2>&1) && fail "a score over 100 was accepted"
expect_contains "$out" "whole number from 0 to 100" "score range explained"

# Expected rows: the components (automatic zeros where SPEC §9 gives them, n/a where they do
# not count) and the total computed here.
expected=$(
  {
    expected_row hw1 alice "" 100 80 90
    expected_row hw1 bob "" 70 90 80
    expected_row hw1 carol "" 60 0 75
    expected_row hw1 dave 0 n/a n/a 50
    expected_row hw1 erin n/a n/a n/a 88
    expected_row hw2 alice "" 100 n/a 90
    expected_row hw2 bob "" 0 n/a 75
    for s in carol dave erin; do expected_row hw2 $s 0 n/a n/a 0; done
    expected_row hw3 carol "" n/a n/a 85
    for s in alice bob dave erin; do expected_row hw3 $s 0 n/a n/a 0; done
    for s in "${STUDENTS[@]}"; do expected_row future $s "" n/a n/a ""; done
  } | sort
)
expect_eq "$(exported_rows)" "$expected" "grade export --csv"
has_line "$(cm grade export 2>/dev/null)" '^carol +hw1 +- +60 +0\* +75 +66\.0 +Carol C$' \
  || fail "readable export: $(cm grade export 2>&1)"
has_line "$(cm grade export 2>/dev/null)" '^erin +hw1 \(oopsie\) +n/a +n/a +n/a +88 +88\.0' \
  || fail "readable export marks the oopsie: $(cm grade export 2>&1)"

# --- every deadline a second time: nothing changes ---------------------------------------------
state() { cm grade export --csv; inspect runs; inspect reviews; cm journal show; }
BEFORE=$(state)
for a in hw1 hw2 hw3; do
  for d in initial peer-review final; do
    expect_contains "$(cm assignment trigger $a $d)" "$a $d: already done at " "$a $d again"
  done
done
expect_eq "$(cm deadlines run-due)" "" "run-due with nothing due"
expect_eq "$(state)" "$BEFORE" "state after running every deadline twice"
expect_eq "$(inspect runs | tail -n +2 | wc -l)" 9 "nine deadline runs"

# --- denis stopped across a deadline ------------------------------------------------------------
kill -TERM "$UP_PID"
wait "$UP_PID" || fail "up did not stop cleanly"
due=$(($(date +%s) + 2))
cm assignment create late --initial $due --peer-review $due --final $due >/dev/null
while [ "$(date +%s)" -le "$due" ]; do sleep 0.2; done
expect_eq "$(runs_of late)" "" "nothing runs while denis is stopped"
# denis starts and catches up, and cron's run-due fires at the same moment: whichever takes
# the deadline lock first runs each deadline, the other finds it done.
COURSEMAIL_HOSTNAME=$DOMAIN "$BIN" --data "$DATA" denis >"$WORK/denis.log" 2>&1 &
PIDS+=($!)
DENIS_PID=$!
wait_for_line "$WORK/denis.log" \
  "3 deadline(s) passed while the grader was down, running them now: late initial, late peer-review, late final"
cm deadlines run-due >"$WORK/cron.log" || fail "run-due failed: $(cat "$WORK/cron.log")"
tries=300
until [ "$(runs_of late | grep -c ' 1 ')" -eq 3 ]; do
  tries=$((tries - 1)); [ "$tries" -gt 0 ] || fail "late deadlines did not run: $(runs_of late)"
  sleep 0.1
done
# (Sorted: the three started in the same second, and runs are listed by start time.)
expect_eq "$(runs_of late | sort)" "$(printf '%s\n' \
  "final 1 0 delinquent, 0 released, 0 re-allowed, 5 auto-zeroed" \
  "initial 1 5 delinquent, 0 released, 0 re-allowed, 5 auto-zeroed" \
  "peer-review 1 0 delinquent, 0 released, 0 re-allowed, 0 auto-zeroed")" "late deadlines ran once"
# Each run has one attempt (above), so cron ran only what the daemon did not.
while read -r _ assignment deadline _; do
  expect_eq "$assignment" late "cron ran only the late deadlines"
done <"$WORK/cron.log"
kill -TERM "$DENIS_PID"
wait "$DENIS_PID" || fail "denis did not stop cleanly"
COURSEMAIL_HOSTNAME=$DOMAIN "$BIN" --data "$DATA" denis >"$WORK/denis2.log" 2>&1 &
PIDS+=($!)
DENIS_PID=$!
wait_for_line "$WORK/denis2.log" "next deadline: future initial at"
wait_for_line "$WORK/denis2.log" "deadline scheduler running"
expect_eq "$(cm deadlines run-due)" "" "nothing left due after the restart"
expect_eq "$(runs_of late | awk '{print $2}' | sort -u)" 1 "each late deadline attempted once"
expect_eq "$(exported_rows | grep ',late,')" \
  "$(for s in "${STUDENTS[@]}"; do expected_row late $s 0 n/a n/a 0; done)" "late grades"
kill -TERM "$DENIS_PID"
wait "$DENIS_PID" || fail "denis did not stop cleanly"
cm journal verify >/dev/null || fail "journal inconsistent at the end of the term"
echo "term: ok"
