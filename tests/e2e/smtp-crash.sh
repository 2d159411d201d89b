#!/usr/bin/env bash
# Crash safety of SMTP submission (SPEC §6): `coursemail smtp` is SIGKILLed while concurrent
# clients send, then every message that got `250` must be complete under mail/, no half-written
# file may be visible, and after a restart (which finalises the records the dead process left
# open) every record names only stored messages and every acknowledged message is in exactly
# one record.
source "$(dirname "$0")/lib/common.bash"

for i in 0 1 2 3; do
  echo 'crash password' | cm user add "user$i" --password-stdin >/dev/null
done

# start_smtp LOG: `coursemail smtp` alone on a trusted plain listener with a free port; sets
# SMTP_PID and SMTP_PORT.
start_smtp() {
  COURSEMAIL_SMTP_TRUSTED=true COURSEMAIL_SMTP_TLS_LISTEN= \
  COURSEMAIL_SMTP_STARTTLS_LISTEN=127.0.0.1:0 \
    "$BIN" --data "$DATA" smtp >"$1" 2>&1 &
  SMTP_PID=$!
  PIDS+=("$SMTP_PID")
  wait_for_line "$1" "SMTP (STARTTLS)"
  SMTP_PORT=$(sed -n 's/.*SMTP (STARTTLS) .*:\([0-9]*\)$/\1/p' "$1")
}

start_smtp "$WORK/smtp1.log"

# Eight clients send 4 KiB messages, some sessions ending with QUIT after a few messages and
# some still open, until the server is killed under them. Prints every acknowledged id with the
# token its message carries.
python3 - "$SMTP_PORT" "$SMTP_PID" >"$WORK/acked" <<'PY'
import base64, os, signal, socket, sys, threading, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
acked, lock = [], threading.Lock()
stop = threading.Event()

def reply(f):
    while True:
        line = f.readline()
        if not line:
            raise ConnectionError("closed")
        if line[3:4] != b"-":
            return line.decode()

def client(n):
    user = f"user{n % 4}"
    auth = base64.b64encode(f"\0{user}\0crash password".encode()).decode()
    count = 0
    while not stop.is_set():
        try:
            s = socket.create_connection(("127.0.0.1", port))
            f = s.makefile("rb")
            reply(f)
            for cmd in ("EHLO crash", f"AUTH PLAIN {auth}"):
                s.sendall(cmd.encode() + b"\r\n")
                assert reply(f)[0] in "23"
            for _ in range(3 + n % 4):
                count += 1
                token = f"token-{n}-{count}"
                body = f"Subject: {token}\r\n\r\n{token}\r\n" + ("x" * 78 + "\r\n") * 50
                s.sendall(f"MAIL FROM:<{user}@course.localhost>\r\nRCPT TO:<list@course.localhost>\r\nDATA\r\n".encode())
                for _ in range(3):
                    assert reply(f)[0] in "23"
                s.sendall(body.encode() + b".\r\n")
                r = reply(f)
                if r.startswith("250"):
                    mid = r.split("<", 1)[1][:30]
                    with lock:
                        acked.append((mid, token))
            if n % 2 == 0:
                s.sendall(b"QUIT\r\n")
                reply(f)
            s.close()
        except (ConnectionError, OSError, AssertionError):
            if stop.is_set():
                return
            time.sleep(0.01)

threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
for t in threads:
    t.start()
# Kill only once a good number of messages has been acknowledged; a server that acknowledges
# nothing fails the test within a minute instead of hanging it.
deadline = time.monotonic() + 60
while len(acked) < 150 and time.monotonic() < deadline:
    time.sleep(0.01)
os.kill(pid, signal.SIGKILL)
stop.set()
for t in threads:
    t.join()
for mid, token in acked:
    print(mid, token)
PY
wait "$SMTP_PID" 2>/dev/null || true
acked=$(wc -l <"$WORK/acked")
[ "$acked" -ge 150 ] || fail "only $acked messages acknowledged before the kill"

# check_store: every acknowledged message complete; every visible message file complete.
check_store() {
  python3 - "$DATA" "$WORK/acked" <<'PY'
import os, struct, sys
data, acked_file = sys.argv[1], sys.argv[2]
mail = os.path.join(data, "mail")
for line in open(acked_file):
    mid, token = line.split()
    path = os.path.join(mail, mid)
    assert os.path.exists(path), f"acknowledged message {mid} is missing"
    text = open(path, "rb").read()
    assert f"\r\n\r\n{token}\r\n".encode() in text and text.endswith(b"x\r\n.\r\n"), mid
for name in os.listdir(mail):
    if name.startswith("."):
        continue  # temporaries are invisible by name
    path = os.path.join(mail, name)
    text = open(path, "rb").read()
    header_len = struct.unpack("<q", os.getxattr(path, "user.header_len"))[0]
    assert text.endswith(b".\r\n") and text[header_len - 4:header_len] == b"\r\n\r\n", name
    assert len(text) > 4000, f"{name} is shorter than any message sent"
PY
}
check_store
# Records closed before the kill name only stored messages.
for record in $(ls "$DATA/logs" | grep -E '^[0-9a-f]{30}$' || true); do
  for id in $(awk '$1 == "message" { print $2 }' "$DATA/logs/$record"); do
    [ -f "$DATA/mail/$id" ] || fail "record $record names missing message $id"
  done
done
open_before=$(ls "$DATA/logs/.open" | wc -l)

# Restart: the new process finalises the records the killed one left open.
start_smtp "$WORK/smtp2.log"
kill "$SMTP_PID"
wait "$SMTP_PID" 2>/dev/null || true
expect_eq "$(ls "$DATA/logs/.open" | wc -l)" 0 "open records left after restart (had $open_before)"
check_store

python3 - "$DATA" "$WORK/acked" <<'PY'
import collections, os, sys
data, acked_file = sys.argv[1], sys.argv[2]
logs, mail = os.path.join(data, "logs"), os.path.join(data, "mail")
seen = collections.Counter()
for name in os.listdir(logs):
    if len(name) != 30:
        continue
    lines = open(os.path.join(logs, name)).read().splitlines()
    assert lines[0] == "coursemail-session 1" and lines[1].startswith("auth "), (name, lines[:2])
    msgs = [l.split()[1] for l in lines[2:-1]]
    assert lines[-1] == f"end {len(msgs)}", (name, lines[-1])
    for mid in msgs:
        assert mid[:26] == name[:26], (name, mid)
        assert os.path.exists(os.path.join(mail, mid)), f"{name} names missing {mid}"
        seen[mid] += 1
acked = [line.split()[0] for line in open(acked_file)]
for mid in acked:
    assert seen[mid] == 1, f"acknowledged {mid} is in {seen[mid]} records"
assert all(n == 1 for n in seen.values()), "a message is in two records"
print(f"{len(acked)} acknowledged messages, all stored and recorded once "
      f"({len(seen)} recorded in {len([n for n in os.listdir(logs) if len(n) == 30])} sessions)")
PY
echo "smtp-crash: ok"
