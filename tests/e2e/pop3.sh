#!/usr/bin/env bash
# POP3 with real clients against `coursemail up`: curl over implicit TLS and over STLS, Python's
# poplib (STLS, UIDL, TOP, DELE persistence, per-user deletions), and fetchmail retrieving every
# message into an mbox.
source "$(dirname "$0")/lib/common.bash"

start_up
echo 'alice password 1' | cm user add alice --full-name "Alice A" --password-stdin >/dev/null
echo 'bob password 22' | cm user add bob --full-name "Bob B" --password-stdin >/dev/null
ids=$(store_messages 3 "course list")
echo "$ids" | cm journal append - >/dev/null
set -- $ids
CERT="$DATA/tls/cert.pem"

# --- curl ----------------------------------------------------------------------------------
# Implicit TLS, verifying the self-signed certificate.
list=$(curl -sS --cacert "$CERT" --user 'alice:alice password 1' "pop3s://localhost:$POP3S_PORT/")
expect_eq "$(echo "$list" | grep -c '^[0-9]')" 3 "curl pop3s LIST"
msg=$(curl -sS --cacert "$CERT" --user 'alice:alice password 1' "pop3s://localhost:$POP3S_PORT/2")
expect_contains "$msg" "Subject: course list 2" "curl pop3s RETR"
expect_contains "$msg" "Message-ID: <$2@localhost>" "curl pop3s RETR id"
# STLS on the plain port.
msg=$(curl -sS --ssl-reqd --cacert "$CERT" --user 'bob:bob password 22' "pop3://localhost:$POP3_PORT/1")
expect_contains "$msg" "Subject: course list 1" "curl pop3 --ssl-reqd RETR"
# Without TLS the server refuses the credentials.
if curl -sS --user 'bob:bob password 22' "pop3://localhost:$POP3_PORT/1" >/dev/null 2>"$WORK/curl.err"; then
  fail "plaintext login accepted on the STLS port"
fi
# A wrong password is refused.
if curl -sS --cacert "$CERT" --user 'alice:wrong' "pop3s://localhost:$POP3S_PORT/" >/dev/null 2>&1; then
  fail "wrong password accepted"
fi

# --- poplib ---------------------------------------------------------------------------------
python3 - "$POP3_PORT" "$CERT" "$1" "$2" "$3" <<'PY'
import poplib, ssl, sys
port, cert, ids = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
ctx = ssl.create_default_context(cafile=cert)

def login(user, password):
    p = poplib.POP3("localhost", port, timeout=10)
    caps = p.capa()
    assert "STLS" in caps, caps
    p.stls(ctx)
    caps = p.capa()
    assert "USER" in caps and "TOP" in caps and "UIDL" in caps, caps
    p.user(user)
    p.pass_(password)
    return p

p = login("alice", "alice password 1")
count, size = p.stat()
assert count == 3, (count, size)
uidl = [line.decode().split() for line in p.uidl()[1]]
assert [u[1] for u in uidl] == ids, uidl
assert p.uidl(2).decode().split()[2] == ids[1]
for n in (0, 1, 3, 100):
    lines = p.top(1, n)[1]
    blank = lines.index(b"")
    body = lines[blank + 1:]
    assert len(body) == min(n, 10), (n, len(body))
    if n >= 2:
        # poplib removes the dot-stuffing: the client sees the original line.
        assert body[1] == b".a line that starts with a dot", body[1]
full = p.retr(3)[1]
assert b"Subject: course list 3" in full
assert full[-1] == b"line 7", full[-1]
p.dele(2)
p.quit()

p = login("alice", "alice password 1")
assert p.stat()[0] == 2, "deletion persists across sessions"
assert [line.decode().split()[1] for line in p.uidl()[1]] == [ids[0], ids[2]]
p.quit()

p = login("bob", "bob password 22")
assert p.stat()[0] == 3, "bob is unaffected by alice's deletion"
p.dele(1)
p.rset()
p.quit()
p = login("bob", "bob password 22")
assert p.stat()[0] == 3, "RSET undid the deletion"
p.quit()
print("poplib: ok")
PY

# --- fetchmail -------------------------------------------------------------------------------
if command -v fetchmail >/dev/null; then
  cat >"$WORK/fetchmailrc" <<RC
poll localhost with proto POP3 port $POP3S_PORT
  user "bob" there with password "bob password 22" is "bob" here
  options ssl sslcertck sslcertfile "$CERT" keep fetchall
  mda "cat >> $WORK/mbox; echo >> $WORK/mbox"
RC
  chmod 600 "$WORK/fetchmailrc"
  HOME="$WORK" fetchmail -f "$WORK/fetchmailrc" --idfile "$WORK/fetchids" --nosyslog -N >"$WORK/fetchmail.log" 2>&1 \
    || { cat "$WORK/fetchmail.log"; fail "fetchmail failed"; }
  expect_eq "$(grep -c '^Subject: course list' "$WORK/mbox")" 3 "fetchmail retrieved every message"
  grep -q '^\.a line that starts with a dot' "$WORK/mbox" || fail "fetchmail did not unstuff dot lines"
else
  fail "fetchmail is not installed (the CI installs it)"
fi
echo "pop3: ok"
