#!/usr/bin/env bash
# The web dashboard in a real browser: Debian's headless Chromium driven over WebDriver
# (chromedriver; the client is tests/e2e/lib/webdriver.py, standard library only) against
# `coursemail up`. An instructor adds a student on the roster page, the student registers with
# the student id, logs in with the one-time password shown and uses an oopsie through its
# confirmation page, the instructor enters a grade and downloads the gradebook CSV.
# Screenshots of the main pages (desktop and a 390 px phone) are left in target/screenshots/.
source "$(dirname "$0")/lib/common.bash"
for tool in /usr/bin/chromium /usr/bin/chromedriver python3; do
  command -v "$tool" >/dev/null || skip "no $tool; see .ci/run"
done

SHOTS="$(cd "$(dirname "$0")/../.." && pwd)/target/screenshots"
mkdir -p "$SHOTS" "$WORK/downloads" "$WORK/profile"
rm -f "$SHOTS"/*.png

echo 'teach-password-1' | cm user add teach --full-name 'The Teacher' --instructor --password-stdin >/dev/null
cm assignment dummy hw1 >/dev/null

start_up
WEB_PORT=$(sed -n 's|.*web  *http://[^:]*:\([0-9]*\)/$|\1|p' "$WORK/up.log")
[ -n "$WEB_PORT" ] || fail "no web port in: $(cat "$WORK/up.log")"

# chromedriver does not report a port it picked itself, so pick a free one for it.
DRIVER_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
/usr/bin/chromedriver --port="$DRIVER_PORT" >"$WORK/chromedriver.log" 2>&1 &
PIDS+=($!)
wait_for_line "$WORK/chromedriver.log" "started successfully"

python3 "$(dirname "$0")/lib/browser.py" "http://127.0.0.1:$WEB_PORT" \
  "http://127.0.0.1:$DRIVER_PORT" "$SHOTS" "$WORK/downloads" "$WORK/profile" teach-password-1 \
  || fail "browser journey (chromedriver log: $WORK/chromedriver.log, KEEP_WORK=1 keeps it)"

for page in login dashboard setup instructor-roster instructor-grades; do
  [ -s "$SHOTS/$page.png" ] && [ -s "$SHOTS/$page-phone.png" ] || fail "no screenshot of $page"
done

kill -TERM "$UP_PID"
wait "$UP_PID" || fail "up exited with $? on SIGTERM"
echo "browser: ok (screenshots in $SHOTS)"
