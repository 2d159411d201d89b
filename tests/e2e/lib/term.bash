# Helpers for tests/e2e/term.sh (sourced after common.bash and intake.bash): what students do
# with real clients (read over POP3 with python's poplib, reply with git send-email) and the
# SPEC §10 total, computed independently of the product.

# pop_view USER: USER's maildrop over POP3 (implicit TLS): the STAT count on the first line,
# then one UIDL (message id) per message, in order.
pop_view() {
  python3 - "$POP3S_PORT" "$DATA/tls/cert.pem" "$1" "$(password "$1")" <<'PY' \
    || fail "POP3: $1 could not read their maildrop"
import poplib, ssl, sys
port, cert, user, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
pop = poplib.POP3_SSL("localhost", port, context=ssl.create_default_context(cafile=cert))
pop.user(user)
pop.pass_(pw)
count, _ = pop.stat()
print(count)
for line in pop.uidl()[1]:
    print(line.split()[1].decode())
pop.quit()
PY
}

# pop_cover USER AUTHOR ASSIGNMENT: what USER does to find AUTHOR's series to ASSIGNMENT over
# POP3: reads every message's header (TOP n 0) and prints the UIDL of the cover letter
# (subject `[... 0/n]`) sent by AUTHOR to ASSIGNMENT. Fails unless there is exactly one.
pop_cover() {
  python3 - "$POP3S_PORT" "$DATA/tls/cert.pem" "$1" "$(password "$1")" "$2@$DOMAIN" \
    "$3@$DOMAIN" <<'PY' || fail "POP3: $1 found no single cover letter of $2 to $3"
import poplib, re, ssl, sys
port, cert, user, pw, author, to = int(sys.argv[1]), *sys.argv[2:7]
pop = poplib.POP3_SSL("localhost", port, context=ssl.create_default_context(cafile=cert))
pop.user(user)
pop.pass_(pw)
uidls = dict(l.decode().split() for l in pop.uidl()[1])
found = []
for n in sorted(uidls, key=int):
    head = {}
    for line in pop.top(int(n), 0)[1]:
        name, _, value = line.decode().partition(":")
        head.setdefault(name.lower(), value.strip())
    # The server's From carries the account's full name (SPEC §4): `Full Name <user@host>`.
    if (head.get("from", "").endswith(f"<{author}>") and head.get("to") == f"<{to}>"
            and re.search(r"\[RFC PATCH v\d+ 0/\d+\]", head.get("subject", ""))):
        found.append(uidls[n])
pop.quit()
assert len(found) == 1, found
print(found[0])
PY
}

# send_review REVIEWER REVIEWEE MESSAGE-ID: REVIEWER replies to the reviewee's message with git
# send-email (--in-reply-to), addressed to the reviewee, as a kernel reviewer would; sets
# SESSION.
send_review() {
  local reviewer=$1 reviewee=$2 id=$3 repo="$WORK/repo-$1" file before
  file="$WORK/review-$reviewer-$reviewee-$RANDOM.eml"
  printf 'Subject: Re: [RFC PATCH v1 0/1] my series\n\n> Please review.\n\nReviewed-by: %s <%s@%s>\n' \
    "$reviewer" "$reviewer" "$DOMAIN" >"$file"
  before=$(records)
  git -C "$repo" send-email --quiet --confirm=never --suppress-cc=all \
    --smtp-server=localhost --smtp-server-port="$SEND_PORT" --smtp-encryption=ssl \
    --smtp-ssl-cert-path="$DATA/tls/cert.pem" --smtp-domain=laptop \
    --smtp-user="$reviewer" --smtp-pass="$(password "$reviewer")" \
    --from="$reviewer@$DOMAIN" --to="$reviewee@$DOMAIN" --in-reply-to="<$id@$DOMAIN>" \
    "$file" >"$file.log" 2>&1 \
    || { cat "$file.log"; fail "git send-email of $reviewer's review of $reviewee failed"; }
  await_new_record "$before"
}

# spec_total FINAL REVIEW1 REVIEW2: the SPEC §10 total of one gradebook row from its cells:
# 0.8·final + 0.1·review1 + 0.1·review2 over the components that apply ("n/a" does not),
# renormalised by the weights used, one decimal rounded half up; "-" while a grade that counts
# is missing (an empty cell). Integer arithmetic in tenths, so nothing depends on floats.
spec_total() {
  local weighted=0 weights=0 weight score cells=("$1" "$2" "$3") w=(8 1 1) i
  for i in 0 1 2; do
    score=${cells[$i]} weight=${w[$i]}
    [ "$score" = n/a ] && continue
    [ -n "$score" ] || { echo -; return; }
    weighted=$((weighted + weight * score))
    weights=$((weights + weight))
  done
  # round(10 · weighted / weights), half up.
  local tenths=$(((20 * weighted + weights) / (2 * weights)))
  echo "$((tenths / 10)).$((tenths % 10))"
}

# expected_row ASSIGNMENT USER INITIAL REVIEW1 REVIEW2 FINAL: one line of the expected export
# (the columns of `grade export --csv` without names and ids), total computed by spec_total.
expected_row() {
  echo "$2,$1,$3,$4,$5,$6,$(spec_total "$6" "$4" "$5")"
}

# exported_rows: `grade export --csv` as the lines expected_row makes, sorted.
exported_rows() {
  cm grade export --csv | tr -d '\r' | tail -n +2 | cut -d, -f1,4-9 | sort
}

# runs_of ASSIGNMENT: `inspect runs --assignment A` without the header: deadline, attempts and
# summary per run.
runs_of() { inspect runs --assignment "$1" | awk 'NR > 1 { $1 = ""; $3 = ""; $4 = ""; print }' | tr -s ' ' | sed 's/^ //'; }
