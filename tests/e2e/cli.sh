#!/usr/bin/env bash
# The administrative CLI end to end: `user ...` and `journal ...` on a real data root, including
# the errors an operator can run into and the exit statuses of `journal verify`.
source "$(dirname "$0")/lib/common.bash"

# --- users -------------------------------------------------------------------------------
cm user add alice --full-name "Alice Anders" --student-id S001 >/dev/null
echo 'correct horse battery' | cm user add prof --full-name "Pat Prof" --instructor --password-stdin >/dev/null
cm user add bob --student-id S002 >/dev/null

out=$(cm user add alice 2>&1) && fail "duplicate user accepted"
expect_contains "$out" "alice" "duplicate user error names the user"
out=$(cm user add carol --student-id S001 2>&1) && fail "duplicate student id accepted"
expect_contains "$out" "S001" "duplicate student id error names the id"
out=$(cm user add 'Bad/Name' 2>&1) && fail "invalid username accepted"
expect_contains "$out" "not a valid username" "invalid username explained"
out=$(echo 'short' | cm user passwd alice --password-stdin 2>&1) && fail "short password accepted"
out=$(cm user passwd nobody --password-stdin </dev/null 2>&1) && fail "passwd with empty stdin accepted"

list=$(cm user list 2>/dev/null)
expect_contains "$list" "alice" "list has alice"
has_line "$list" '^prof +instructor +active' || fail "prof not an active instructor: $list"
has_line "$list" '^alice +student +unregistered +S001 +Alice Anders' || fail "alice row wrong: $list"

echo 'a much better password' | cm user passwd alice --password-stdin >/dev/null
has_line "$(cm user list 2>/dev/null)" '^alice +student +active' || fail "alice not active after passwd"
cm user clear-password alice >/dev/null
has_line "$(cm user list 2>/dev/null)" '^alice +student +unregistered' || fail "alice still active after clear-password"
cm user remove bob >/dev/null
has_line "$(cm user list 2>/dev/null)" '^bob ' && fail "bob still listed after remove"
out=$(cm user remove bob 2>&1) && fail "removing a missing user succeeded"
expect_contains "$out" "bob" "missing user error names the user"

# Global options after the subcommand work too.
has_line "$("$BIN" user list --data "$DATA" 2>/dev/null)" '^alice ' || fail "--data after the subcommand ignored"

# --- journal -----------------------------------------------------------------------------
cm journal init >/dev/null
ids=$(store_messages 5)
set -- $ids
out=$(cm journal append "$1" "$2" "$3")
expect_contains "$out" "released 3" "first append"
out=$(cm journal append "$2" "$3")
expect_contains "$out" "released 0" "repeated append is a no-op"
expect_contains "$out" "2 already" "repeated append counted"

cm journal restrict deny carol >/dev/null
printf '%s\n%s\n' "$4" "$5" | cm journal append - >/dev/null
expect_eq "$(cm journal show --user carol | grep -c ' size ')" 3 "frozen user sees the prefix"
expect_eq "$(cm journal show --user dave | grep -c ' size ')" 5 "others see everything"
cm journal restrict deny carol >/dev/null
expect_eq "$(cm journal show --user carol | grep -c ' size ')" 3 "deny does not move an existing cap"
cm journal restrict update carol >/dev/null
expect_eq "$(cm journal show --user carol | grep -c ' size ')" 5 "update moves the cap"
cm journal restrict allow carol >/dev/null
has_line "$(cm journal show)" '^cap carol' && fail "allow left a cap"
out=$(cm journal restrict deny '../etc' 2>&1) && fail "bad username accepted by restrict"

cm journal verify >/dev/null || fail "fresh journal does not verify"

# External inconsistency: a message file changes size.
echo "extra" >> "$DATA/mail/$2"
set +e; cm journal verify >"$WORK/verify.out" 2>&1; status=$?; set -e
expect_eq "$status" 4 "verify exit status for a mail mismatch"
expect_contains "$(cat "$WORK/verify.out")" "$2" "mismatch names the message"

# Rebuild re-reads sizes from mail/ and keeps the released set (not message 6, never released).
cm journal restrict deny carol >/dev/null
cm journal rebuild >/dev/null
cm journal verify >/dev/null || fail "journal does not verify after rebuild"
expect_eq "$(cm journal show | grep -c ' size ')" 5 "rebuild keeps the released set"
has_line "$(cm journal show)" '^cap carol' || fail "rebuild lost carol's cap"

# Internal inconsistency: data_end not a multiple of 48.
python3 -c 'import os,struct,sys; os.setxattr(sys.argv[1], "user.data_end", struct.pack("<q", 100))' "$DATA/journal/journal"
set +e; cm journal verify >"$WORK/verify.out" 2>&1; status=$?; set -e
expect_eq "$status" 3 "verify exit status for an inconsistent journal"
out=$(cm journal show --user carol 2>&1) && fail "reader accepted a misaligned data_end"
expect_contains "$out" "48" "misaligned data_end explained"

# A missing journal is explained, not a stack trace.
rm "$DATA/journal/journal"
out=$(cm journal append "$1" 2>&1) && fail "append without a journal succeeded"
expect_contains "$out" "journal init" "missing journal tells what to do"
echo "cli: ok"
