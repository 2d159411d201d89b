#!/usr/bin/env bash
# No lockouts (issue: failed logins for a victim locked them out of SMTP, POP3 and the web):
# against `coursemail up`, 50 loopback addresses spray wrong passwords for alice over SMTP and
# the web's login form for 20 seconds, while alice, from the address she has logged in from
# before, logs in with her password over SMTP, POP3 and the web every second. Every one of
# her logins must succeed, and the spray must get at most a few dozen password checks (the
# README's figure: an account's budget for unknown addresses is a few guesses a minute).
source "$(dirname "$0")/lib/common.bash"
command -v python3 >/dev/null || skip "no python3"

start_up
WEB_PORT=$(sed -n 's|.*web  *http://[^:]*:\([0-9]*\)/$|\1|p' "$WORK/up.log")
echo 'alice password 1' | cm user add alice --full-name 'Alice A' --password-stdin >/dev/null

python3 - "$SMTPS_PORT" "$POP3S_PORT" "$WEB_PORT" "$DATA/tls/cert.pem" <<'PY' || fail "lockout"
import base64, http.client, poplib, re, smtplib, ssl, socket, sys, threading, time
smtps, pop3s, web, cafile = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ctx = ssl.create_default_context(cafile=cafile)

def smtp_login(source, password):
    """One AUTH over implicit TLS from `source`: 'ok', 'rejected' or 'throttled'."""
    raw = socket.create_connection(("127.0.0.1", smtps), timeout=60, source_address=(source, 0))
    s = smtplib.SMTP_SSL(context=ctx, timeout=60)
    s.sock = ctx.wrap_socket(raw, server_hostname="localhost")
    s.file = None
    s.getreply()
    s.ehlo("spray")
    try:
        s.login("alice", password)
        return "ok"
    except smtplib.SMTPAuthenticationError:
        return "rejected"
    except smtplib.SMTPResponseException as e:
        return "throttled" if e.smtp_code == 454 else f"error {e.smtp_code}"
    except smtplib.SMTPServerDisconnected:
        return "throttled"
    finally:
        try:
            s.close()
        except Exception:
            pass

def web_login(source, password):
    conn = http.client.HTTPConnection("127.0.0.1", web, timeout=60, source_address=(source, 0))
    conn.request("GET", "/login")
    r = conn.getresponse()
    page = r.read().decode()
    cookie = r.getheader("Set-Cookie", "").split(";")[0]
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    body = f"csrf={token}&username=alice&password={password.replace(' ', '+')}"
    conn.request("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded",
                                         "Cookie": cookie})
    r = conn.getresponse()
    r.read()
    return "ok" if r.status == 303 else ("throttled" if r.status == 429 else "rejected")

def pop_login():
    p = poplib.POP3_SSL("127.0.0.1", pop3s, context=ctx, timeout=60)
    try:
        p.user("alice"); p.pass_("alice password 1")
        return "ok"
    except poplib.error_proto as e:
        return f"refused: {e}"
    finally:
        p.close()

# alice logs in once from her own address: it becomes known.
assert smtp_login("127.0.0.1", "alice password 1") == "ok"

stop = time.monotonic() + 20
counts = {"rejected": 0, "throttled": 0, "ok": 0}
lock = threading.Lock()

def spray(n):
    source = f"127.0.1.{n}"
    login = smtp_login if n % 2 else web_login
    while time.monotonic() < stop:
        outcome = login(source, f"guess {n} {time.monotonic()}")
        with lock:
            counts[outcome.split()[0] if outcome.split()[0] in counts else "rejected"] += 1
        if outcome == "throttled":
            time.sleep(0.2)

threads = [threading.Thread(target=spray, args=(n,)) for n in range(1, 51)]
for t in threads:
    t.start()
victim = []
time.sleep(2)
while time.monotonic() < stop - 1:
    victim.append(("smtp", smtp_login("127.0.0.1", "alice password 1")))
    victim.append(("pop3", pop_login()))
    victim.append(("web", web_login("127.0.0.1", "alice password 1")))
    time.sleep(1)
for t in threads:
    t.join()
failed = [v for v in victim if v[1] != "ok"]
print(f"alice: {len(victim) - len(failed)} of {len(victim)} logins succeeded during the spray")
print(f"spray: {counts['rejected']} passwords checked and wrong, {counts['throttled']} refused "
      f"unchecked, {counts['ok']} accepted")
assert not failed, f"alice was locked out: {failed}"
assert counts["ok"] == 0
assert counts["rejected"] <= 40, f"the spray got {counts['rejected']} password checks"
PY
echo "lockout: ok"
