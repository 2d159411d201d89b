#!/usr/bin/env bash
# SMTP submission with real clients against `coursemail up`: git send-email sending a series
# (cover letter + 3 patches) over implicit TLS and over STARTTLS, curl over implicit TLS, Python's
# smtplib (STARTTLS, LOGIN, an 8-bit body), and swaks (STARTTLS, AUTH PLAIN, a refused
# recipient). Checks the stored files (server header fields on top, the original body bytes
# below) and the session records in logs/, read directly rather than through coursemail.
source "$(dirname "$0")/lib/common.bash"

# A dotted domain: git send-email (Email::Valid) refuses addresses @localhost. The certificate
# names localhost too, which is where the clients connect.
DOMAIN=course.example
start_up --hostname "$DOMAIN"
echo 'alice password 1' | cm user add alice --full-name "Alice A" --password-stdin >/dev/null
echo 'bob password 22' | cm user add bob --full-name "Bob B" --password-stdin >/dev/null
CERT="$DATA/tls/cert.pem"
MAIL="$DATA/mail"
LOGS="$DATA/logs"

# new_ids BEFORE: message ids stored since BEFORE (a sorted list of ids), one per line.
stored_ids() { ls "$MAIL" | grep -E '^[0-9a-f]{30}$' | sort || true; }
new_ids() { comm -13 <(echo "$1") <(stored_ids); }
records() { ls "$LOGS" | grep -E '^[0-9a-f]{30}$' | sort || true; }

# check_stored ID ORIGINAL: the stored file carries the server's header fields and, below the
# client's header, exactly the ORIGINAL file's body (line ends aside; dot-stuffing undone).
check_stored() {
  python3 - "$MAIL/$1" "$2" "$1" "$DOMAIN" <<'PY'
import os, struct, sys
path, original, mid, domain = sys.argv[1:5]
stored = open(path, "rb").read()
header_len = struct.unpack("<q", os.getxattr(path, "user.header_len"))[0]
head, body = stored[:header_len], stored[header_len:]
assert body.endswith(b".\r\n"), "stored form ends in .CRLF"
for field in (b"Received: from ", b"Message-ID: <" + mid.encode() + b"@" + domain.encode() + b">\r\n",
              b"X-Coursemail-Submission: " + mid[:-4].encode() + b"0000\r\n"):
    assert field in head, (field, head)
assert head.startswith(b"Received: from "), head[:80]
raw = open(original, "rb").read().replace(b"\r\n", b"\n")
orig_head, orig_body = raw.split(b"\n\n", 1)
for line in orig_head.split(b"\n"):
    if line.lower().startswith((b"message-id:", b"from:", b"to:")):
        assert b"\r\nX-Original-" + line + b"\r\n" in head, (line, head)
def unstuff(text):
    lines = text.split(b"\r\n")
    return b"\n".join(l[1:] if l.startswith(b".") else l for l in lines)
got = unstuff(body[:-3])
assert got == orig_body, (got[:200], orig_body[:200])
PY
}

# --- git send-email: a series in one session ---------------------------------------------------
repo="$WORK/repo"
git init -q "$repo"
git -C "$repo" config user.name "Alice A"
git -C "$repo" config user.email alice@$DOMAIN
mkdir -p "$repo/alice"
for i in 1 2 3; do
  printf 'line %s\n.a line that starts with a dot\ncaf\xc3\xa9 %s\n' "$i" "$i" >"$repo/alice/file$i.c"
  git -C "$repo" add "alice/file$i.c"
  git -C "$repo" commit -q -s -m "alice: add file $i"
done
git -C "$repo" format-patch -q --cover-letter -3 -o "$WORK/series" >/dev/null
sed -i 's/\*\*\* SUBJECT HERE \*\*\*/hw1: three files/; s/\*\*\* BLURB HERE \*\*\*/Please review./' \
  "$WORK/series/0000-cover-letter.patch"

# send_series ENCRYPTION PORT: git send-email of the whole series, one SMTP session.
send_series() {
  git -C "$repo" send-email --quiet --confirm=never --suppress-cc=all \
    --smtp-server=localhost --smtp-server-port="$2" --smtp-encryption="$1" \
    --smtp-ssl-cert-path="$CERT" --smtp-domain=laptop \
    --smtp-user=alice --smtp-pass='alice password 1' --8bit-encoding=UTF-8 \
    --from="Alice A <alice@$DOMAIN>" --to=list@$DOMAIN \
    "$WORK"/series/*.patch >"$WORK/send-email.log" 2>&1 \
    || { cat "$WORK/send-email.log"; fail "git send-email --smtp-encryption=$1 failed"; }
}

for mode in ssl:$SMTPS_PORT tls:$SUBMISSION_PORT; do
  before=$(stored_ids)
  records_before=$(records)
  send_series "${mode%%:*}" "${mode##*:}"
  ids=$(new_ids "$before")
  expect_eq "$(echo "$ids" | wc -l)" 4 "git send-email ($mode) stored the whole series"
  subs=$(echo "$ids" | cut -c1-26 | sort -u)
  expect_eq "$(echo "$subs" | wc -l)" 1 "the series is one submission"
  new_records=$(comm -13 <(echo "$records_before") <(records))
  expect_eq "$new_records" "${subs}0000" "one closed record for the session"
  set -- $ids
  n=0
  for patch in "$WORK"/series/*.patch; do
    n=$((n + 1))
    check_stored "${!n}" "$patch"
  done
  grep -q "with ESMTPSA id" "$MAIL/$1" || fail "Received header does not say ESMTPSA"
  grep -q "^Subject: \[PATCH 0/3\] hw1: three files" "$MAIL/$1" || fail "cover letter subject"
done

# --- curl: implicit TLS -----------------------------------------------------------------------
printf 'From: Alice <alice@%s>\r\nTo: list@%s\r\nSubject: via curl\r\nMessage-ID: <curl@laptop>\r\n\r\nhello from curl\r\n..two dots\r\n' "$DOMAIN" "$DOMAIN" >"$WORK/curl.eml"
before=$(stored_ids)
curl -sS --cacert "$CERT" "smtps://localhost:$SMTPS_PORT" --user 'alice:alice password 1' \
  --mail-from alice@$DOMAIN --mail-rcpt list@$DOMAIN --upload-file "$WORK/curl.eml"
id=$(new_ids "$before")
[ -n "$id" ] || fail "curl stored nothing"
check_stored "$id" "$WORK/curl.eml"
grep -q '^X-Original-Message-ID: <curl@laptop>' "$MAIL/$id" || fail "client Message-ID not renamed"
# Sending as someone else is refused.
if curl -sS --cacert "$CERT" "smtps://localhost:$SMTPS_PORT" --user 'alice:alice password 1' \
  --mail-from bob@$DOMAIN --mail-rcpt list@$DOMAIN --upload-file "$WORK/curl.eml" 2>"$WORK/curl.err"; then
  fail "curl sent as bob while logged in as alice"
fi
expect_contains "$(cat "$WORK/curl.err")" "553" "curl forged sender"

# --- Python smtplib: STARTTLS, LOGIN, 8-bit body ---------------------------------------------
before=$(stored_ids)
python3 - "$SUBMISSION_PORT" "$CERT" "$WORK/py.eml" "$DOMAIN" <<'PY'
import smtplib, ssl, sys
port, cert, out, domain = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
message = (b"From: Bob <bob@course.example>\r\nTo: list@course.example\r\nSubject: 8-bit\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           b"Gr\xc3\xbc\xc3\x9fe, caf\xc3\xa9 \xe2\x82\xac\r\n.leading dot\r\n" + b"y" * 2000 + b"\r\n")
open(out, "wb").write(message)
s = smtplib.SMTP("localhost", port, local_hostname="laptop", timeout=10)
s.ehlo()
assert s.has_extn("starttls") and not s.has_extn("auth"), s.esmtp_features
s.starttls(context=ssl.create_default_context(cafile=cert))
s.ehlo()
assert "LOGIN" in s.esmtp_features["auth"] and s.has_extn("8bitmime"), s.esmtp_features
s.login("bob", "bob password 22")
try:
    s.sendmail(f"bob@{domain}", [f"nobody@{domain}"], message)
    raise SystemExit("unknown recipient accepted")
except smtplib.SMTPRecipientsRefused as e:
    assert e.recipients[f"nobody@{domain}"][0] == 550, e.recipients
s.sendmail(f"bob@{domain}", [f"list@{domain}", f"alice@{domain}"], message,
           mail_options=["BODY=8BITMIME"])
s.quit()
PY
id=$(new_ids "$before")
expect_eq "$(echo "$id" | wc -l)" 1 "smtplib stored one message"
check_stored "$id" "$WORK/py.eml"
grep -q "^To: <list@$DOMAIN>," "$MAIL/$id" || fail "To lists every recipient"

# --- swaks: STARTTLS, AUTH PLAIN ---------------------------------------------------------------
before=$(stored_ids)
swaks --server "localhost:$SUBMISSION_PORT" --tls --auth PLAIN --auth-user bob \
  --auth-password 'bob password 22' --from bob@$DOMAIN --to list@$DOMAIN \
  --helo laptop --header 'Subject: via swaks' --body 'hello from swaks' >"$WORK/swaks.log" 2>&1 \
  || { cat "$WORK/swaks.log"; fail "swaks failed"; }
expect_eq "$(new_ids "$before" | wc -l)" 1 "swaks stored one message"
if swaks --server "localhost:$SUBMISSION_PORT" --tls --auth PLAIN --auth-user bob \
  --auth-password 'bob password 22' --from bob@$DOMAIN --to someone@example.org \
  --helo laptop >"$WORK/swaks2.log" 2>&1; then
  fail "swaks relayed to a foreign domain"
fi
grep -q '^<~\* *550 5.7.1' "$WORK/swaks2.log" || { cat "$WORK/swaks2.log"; fail "foreign domain not 550 5.7.1"; }
# Without TLS the server refuses the credentials (RFC 4954 538).
if swaks --server "localhost:$SUBMISSION_PORT" --auth PLAIN --auth-user bob \
  --auth-password 'bob password 22' --from bob@$DOMAIN --to list@$DOMAIN \
  --helo laptop >"$WORK/swaks3.log" 2>&1; then
  fail "AUTH accepted without TLS"
fi

# --- logs/: one record per session that stored something ---------------------------------------
python3 - "$LOGS" "$MAIL" <<'PY'
import os, sys
logs, mail = sys.argv[1], sys.argv[2]
records = sorted(n for n in os.listdir(logs) if len(n) == 30 and n.endswith("0000"))
assert not os.listdir(os.path.join(logs, ".open")), "no session is left open"
listed = []
for name in records:
    lines = open(os.path.join(logs, name)).read().splitlines()
    assert lines[0] == "coursemail-session 1", lines
    assert lines[1].split()[0] == "auth" and lines[1].split()[2] in ("alice", "bob"), lines
    msgs = [l.split() for l in lines[2:-1]]
    assert lines[-1] == f"end {len(msgs)}", lines
    for kind, mid, rcpt in msgs:
        assert kind == "message" and mid[:26] == name[:26] and rcpt == "list", (name, lines)
        assert os.path.exists(os.path.join(mail, mid)), mid
    listed += [m[1] for m in msgs]
stored = sorted(n for n in os.listdir(mail) if len(n) == 30)
assert sorted(listed) == stored, "every stored message is in exactly one record"
# git send-email twice, curl, smtplib, swaks: five sessions stored something.
assert len(records) == 5, records
PY
echo "smtp: ok"
