#!/usr/bin/env bash
# Day one of a student, followed literally. `coursemail up` on its defaults (the README's quick
# start); alice logs in with headless Chromium and reads /setup; the shell blocks the page shows
# are run as they are, in a fresh home directory: save the certificate and check its
# fingerprint, set up git, make and send a series with git format-patch and git send-email
# (verifying the certificate; the only edits are the ones the page asks for: the repository's
# path, BASE, ASSIGNMENT and the cover letter). The grader must find nothing wrong with it. After
# the initial deadline bob reads it over POP3 with the page's fetchmail block and with poplib:
# the series threads under its cover letter and says who wrote it. Screenshots of /setup and the
# dashboard at 1280 and 390 px go to target/screenshots/.
source "$(dirname "$0")/lib/common.bash"
for tool in /usr/bin/chromium /usr/bin/chromedriver python3 git openssl fetchmail formail curl; do
  command -v "$tool" >/dev/null || skip "no $tool; .ci/run installs it"
done
usage=$(git send-email -h 2>&1 || true)
expect_contains "$usage" "git send-email" "git send-email is installed (git-email)"

LIB="$(dirname "$0")/lib"
SHOTS="$(cd "$(dirname "$0")/../.." && pwd)/target/screenshots"
mkdir -p "$SHOTS" "$WORK/page" "$WORK/page2" "$WORK/page3" "$WORK/profile" "$WORK/profile2" \
  "$WORK/profile3" "$WORK/bin"

start_up
expect_contains "$(cat "$WORK/up.log")" "mail domain  course.localhost" "the default mail domain"
DOMAIN=course.localhost
WEB_PORT=$(sed -n 's|.*web  *http://[^:]*:\([0-9]*\)/$|\1|p' "$WORK/up.log")
[ -n "$WEB_PORT" ] || fail "no web port in: $(cat "$WORK/up.log")"
echo 'alice password 1' | cm user add alice --full-name 'Alice Liddell' --password-stdin >/dev/null
echo 'bob password 22' | cm user add bob --full-name 'Bob Builder' --password-stdin >/dev/null
echo 'teach password 3' | cm user add teach --full-name 'The Teacher' --instructor --password-stdin >/dev/null
cm assignment dummy hw1 >/dev/null

DRIVER_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
/usr/bin/chromedriver --port="$DRIVER_PORT" >"$WORK/chromedriver.log" 2>&1 &
PIDS+=($!)
wait_for_line "$WORK/chromedriver.log" "started successfully"
python3 "$LIB/setup_journey.py" "http://localhost:$WEB_PORT" "http://127.0.0.1:$DRIVER_PORT" \
  "$SHOTS" "$WORK/profile" "$WORK/page" alice 'alice password 1' \
  || fail "reading /setup in the browser (chromedriver log: $WORK/chromedriver.log)"
for block in cert-commands git-commands send-commands fetchmail-commands mutt-commands; do
  [ -s "$WORK/page/$block.sh" ] || fail "/setup shows no $block block"
done

# A student's machine: a home of its own, git's identity only from what the page set up.
STUDENT_HOME="$WORK/home-alice"
mkdir -p "$STUDENT_HOME"
as_alice() { env -u GIT_CONFIG_GLOBAL HOME="$STUDENT_HOME" GIT_CONFIG_NOSYSTEM=1 "$@"; }

# 1. The certificate, and the fingerprint the page shows.
printed=$(cd "$STUDENT_HOME" && as_alice bash -e "$WORK/page/cert-commands.sh") \
  || fail "the certificate block failed: $printed"
fingerprint=$(tr -d '\n' <"$WORK/page/fingerprint")
[ -n "$fingerprint" ] || fail "/setup shows no fingerprint"
expect_contains "$printed" "$fingerprint" "openssl prints the fingerprint /setup shows"

# 2. git: the course repository, with the page's settings included.
REPO="$STUDENT_HOME/course"
as_alice git init -q -b main "$REPO"
as_alice git -C "$REPO" -c user.name=Course -c user.email=course@example.org \
  commit -q --allow-empty -m "course base"
BASE_COMMIT=$(git -C "$REPO" rev-parse HEAD)
sed "s|PATH/TO/YOUR/COURSE/REPOSITORY|$REPO|" "$WORK/page/git-commands.sh" >"$WORK/git.sh"
(cd "$STUDENT_HOME" && as_alice bash -e "$WORK/git.sh") || fail "the git block failed"
expect_eq "$(cd "$REPO" && as_alice git config user.email)" "alice@$DOMAIN" "git's address"

mkdir -p "$REPO/alice"
printf 'int main(void)\n{\n\treturn 0;\n}\n' >"$REPO/alice/hello.c"
(cd "$REPO" && as_alice git add alice/hello.c && as_alice git commit -q -s -m "alice: add hello")
printf 'Alice Liddell\n' >"$REPO/alice/AUTHORS"
(cd "$REPO" && as_alice git add alice/AUTHORS && as_alice git commit -q -s -m "alice: list the author")

# 3. Send: the editor fills in the cover letter as a student would; git asks for the password.
cat >"$WORK/bin/edit-cover" <<'SH'
#!/bin/sh
sed -i 's/\*\*\* SUBJECT HERE \*\*\*/Say hello/; s/\*\*\* BLURB HERE \*\*\*/Two small patches: a program and its author./' "$1"
SH
printf '#!/bin/sh\necho "alice password 1"\n' >"$WORK/bin/askpass"
chmod +x "$WORK/bin/edit-cover" "$WORK/bin/askpass"
sed "s|BASE|$BASE_COMMIT|; s|ASSIGNMENT@|hw1@|" "$WORK/page/send-commands.sh" >"$WORK/send.sh"
(cd "$REPO" && as_alice EDITOR="$WORK/bin/edit-cover" GIT_ASKPASS="$WORK/bin/askpass" \
  bash -e "$WORK/send.sh" </dev/null >"$WORK/send.log" 2>&1) \
  || { cat "$WORK/send.log"; fail "git send-email as /setup says failed"; }
expect_contains "$(cat "$WORK/send.log")" "250" "git send-email got 250"

# The grader takes it in: accepted, nothing to warn about.
for _ in $(seq 100); do
  out=$(cm inspect gradeables --user alice 2>&1 || true)
  case "$out" in *hw1*) break ;; esac
  sleep 0.2
done
expect_contains "$out" "hw1" "alice's series was graded"
if has_line "$out" "warning|fatal"; then
  fail "following /setup literally gave findings: $out"
fi

# bob sends a cover letter of his own (so he is not frozen), then the initial deadline runs.
python3 - "$SMTPS_PORT" "$DATA/tls/cert.pem" "$DOMAIN" <<'PY' || fail "bob's submission"
import smtplib, ssl, sys
port, cafile, domain = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=cafile)
with smtplib.SMTP_SSL("localhost", port, context=ctx, timeout=20) as s:
    s.login("bob", "bob password 22")
    s.sendmail(f"bob@{domain}", [f"hw1@{domain}"],
               f"Subject: [RFC PATCH v1 0/0] bob's plan\r\n\r\nNothing yet.\r\n")
PY
for _ in $(seq 100); do
  case "$(cm inspect gradeables --user bob 2>&1 || true)" in *hw1*) break ;; esac
  sleep 0.2
done
cm assignment trigger hw1 initial >/dev/null || fail "the initial deadline"

# bob reads the list with poplib: alice's patches thread under her cover letter.
python3 - "$POP3S_PORT" "$DATA/tls/cert.pem" <<'PY' || fail "alice's series does not thread for bob"
import poplib, ssl, sys, email
port, cafile = int(sys.argv[1]), sys.argv[2]
pop = poplib.POP3_SSL("localhost", port, context=ssl.create_default_context(cafile=cafile))
pop.user("bob"); pop.pass_("bob password 22")
messages = []
for i in range(1, len(pop.list()[1]) + 1):
    messages.append(email.message_from_bytes(b"\r\n".join(pop.retr(i)[1])))
pop.quit()
series = [m for m in messages if "Alice Liddell" in (m["From"] or "")]
assert len(series) == 3, [(m["From"], m["Subject"]) for m in messages]
cover = next(m for m in series if "0/2" in m["Subject"])
assert "Say hello" in cover["Subject"], cover["Subject"]
for patch in series:
    if patch is cover:
        continue
    assert patch["In-Reply-To"] == cover["Message-ID"], (patch["In-Reply-To"], cover["Message-ID"])
    assert cover["Message-ID"] in (patch["References"] or ""), patch["References"]
print("threaded:", cover["Message-ID"])
PY

# bob's fetchmail, as the page writes it (the password from ~/.netrc, as fetchmail reads it).
BOB_HOME="$WORK/home-bob"
mkdir -p "$BOB_HOME/.config/coursemail"
cp "$STUDENT_HOME/.config/coursemail/cert.pem" "$BOB_HOME/.config/coursemail/cert.pem"
printf 'machine localhost login bob password "bob password 22"\n' >"$BOB_HOME/.netrc"
chmod 600 "$BOB_HOME/.netrc"
sed "s|user \"alice\"|user \"bob\"|" "$WORK/page/fetchmail-commands.sh" \
  | sed "s|^fetchmail$|fetchmail --nosyslog -N --idfile $BOB_HOME/.fetchids|" >"$WORK/fetch.sh"
(cd "$BOB_HOME" && HOME="$BOB_HOME" bash -e "$WORK/fetch.sh" >"$WORK/fetchmail.log" 2>&1) \
  || { cat "$WORK/fetchmail.log"; fail "the page's fetchmail block failed"; }
expect_eq "$(grep -c '^Subject: .*PATCH v1' "$BOB_HOME/Mail/course.mbox")" 4 \
  "fetchmail filled ~/Mail/course.mbox with both series"

# What alice sees afterwards, in the browser.
python3 "$LIB/setup_journey.py" "http://localhost:$WEB_PORT" "http://127.0.0.1:$DRIVER_PORT" \
  "$SHOTS" "$WORK/profile2" "$WORK/page2" alice 'alice password 1' /dashboard /activity \
  || fail "alice's dashboard in the browser"
# The instructor's side of it: the overview, every session, and alice's series on one page.
ALICE_SERIES=$(cm inspect submissions --user alice | awk '/hw1/ && /patchset/ {print $1; exit}')
[ -n "$ALICE_SERIES" ] || fail "no patchset of alice in: $(cm inspect submissions --user alice)"
python3 "$LIB/setup_journey.py" "http://localhost:$WEB_PORT" "http://127.0.0.1:$DRIVER_PORT" \
  "$SHOTS" "$WORK/profile3" "$WORK/page3" teach 'teach password 3' \
  /instructor/ /instructor/submissions "/instructor/submissions/$ALICE_SERIES" \
  || fail "the instructor's pages in the browser"
mv "$SHOTS/instructor-submissions-$ALICE_SERIES.png" "$SHOTS/instructor-submission.png"
mv "$SHOTS/instructor-submissions-$ALICE_SERIES-phone.png" "$SHOTS/instructor-submission-phone.png"
for page in setup dashboard activity instructor instructor-submissions instructor-submission; do
  [ -s "$SHOTS/$page.png" ] && [ -s "$SHOTS/$page-phone.png" ] || fail "no screenshot of $page"
done

kill -TERM "$UP_PID"
wait "$UP_PID" || fail "up exited with $? on SIGTERM"
echo "setup-journey: ok (screenshots in $SHOTS)"
