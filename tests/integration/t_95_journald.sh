#!/bin/bash
# journald end to end: a real systemd-journald, started in a private mount
# namespace (its sockets under a tmpfs /run/systemd, the journal under a
# tmpfs /run/log, so nothing on the host sees it), takes certfleetd's
# stderr as a stream (systemd-cat) with JOURNAL_STREAM naming it, as a
# systemd unit would.  The entries carry the structured fields and
# `journalctl CERTFLEET_CERT=www` selects them; the messages are the plain
# lines' text.  No systemd as PID 1 is needed (journald runs on its own).
. "$(dirname "$0")/lib.sh"
setup

for p in /lib/systemd/systemd-journald journalctl systemd-cat unshare; do
  command -v "$p" > /dev/null || { fail "$p missing (build-aux/ensure-deps check installs it)"; finish; }
done

# The CA is unreachable on purpose: the run logs its lines and fails fast.
inventory "$WORK/inv.yaml" <<'YAML'
state_dir: @WORK@/state
output_dir: @WORK@/out
http01_listen: "127.0.0.1:@HTTP01_PORT@"
renew_jitter: 0s
accounts:
  acct1: {directory: 'https://127.0.0.1:9/dir', contact: mailto:a@example.com}
certificates:
  - {name: www, domains: [www.example.com], account: acct1}
  - {name: api, domains: [api.example.com], account: acct1}
YAML

cat > "$WORK/in-ns.sh" <<'SH'
# Runs inside the private mount namespace.
set -u
mkdir -p /run/systemd /run/log
mount -t tmpfs tmpfs /run/systemd && mount -t tmpfs tmpfs /run/log || exit 90
/lib/systemd/systemd-journald > "$WORK/journald.out" 2>&1 &
jpid=$!
for _ in $(seq 100); do [ -S /run/systemd/journal/stdout ] && [ -S /run/systemd/journal/socket ] && break; sleep 0.1; done
[ -S /run/systemd/journal/stdout ] || exit 91
# As systemd does for a unit: stderr is a journal stream, JOURNAL_STREAM
# names its device and inode.
systemd-cat -t certfleetd bash -c 'export JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2); exec "$CERTFLEETD" --once --once-deadline 0 -c "$WORK/inv.yaml"'
echo "$?" > "$WORK/rc"
journalctl --sync 2>/dev/null || sleep 1
journalctl -D /run/log/journal --no-pager -o json SYSLOG_IDENTIFIER=certfleetd > "$WORK/all.json"
journalctl -D /run/log/journal --no-pager -o json CERTFLEET_CERT=www > "$WORK/www.json"
journalctl -D /run/log/journal --no-pager -o json CERTFLEET_EVENT=renewal_failed > "$WORK/failed.json"
kill "$jpid"; wait "$jpid" 2>/dev/null
SH
WORK=$WORK CERTFLEETD=$CERTFLEETD unshare -m --propagation private bash "$WORK/in-ns.sh"
rc=$?
assert_eq 0 "$rc" "journald ran in its namespace (90: no tmpfs, 91: journald did not start)"
[ "$rc" = 0 ] || { cat "$WORK/journald.out" 2>/dev/null; finish; }
assert_eq 1 "$(cat "$WORK/rc")" "certfleetd --once failed (the CA is unreachable)"

# The same run with stderr on a file: the plain lines.
rm -rf "$WORK/state" "$WORK/out"
"$CERTFLEETD" --once --once-deadline 0 -c "$WORK/inv.yaml" > "$WORK/plain.log" 2>&1

j() { python3 - "$@" <<'PY'
import json, sys
mode, path = sys.argv[1], sys.argv[2]
entries = [json.loads(l) for l in open(path) if l.strip()]
if mode == "certs":
    print(",".join(sorted({e.get("CERTFLEET_CERT", "-") for e in entries})))
elif mode == "journal":
    print(all(e.get("_TRANSPORT") == "journal" for e in entries) and len(entries) > 0)
elif mode == "started":
    e = [e for e in entries if e.get("CERTFLEET_EVENT") == "renewal_started" and e["CERTFLEET_CERT"] == "www"][0]
    print(e["PRIORITY"], e["CERTFLEET_ACCOUNT"], e["MESSAGE"].split(" (")[0])
elif mode == "failed":
    print(",".join(sorted(e["CERTFLEET_CERT"] + ":" + e["PRIORITY"] for e in entries)))
elif mode == "messages":
    for e in entries:
        print(e["MESSAGE"])
PY
}
assert_eq True "$(j journal "$WORK/all.json")" "every line came through sd_journal_send (_TRANSPORT=journal), none as a stream line"
assert_eq www "$(j certs "$WORK/www.json")" "journalctl CERTFLEET_CERT=www selects www's entries only"
assert_eq "6 acct1 www: starting renewal" "$(j started "$WORK/www.json")" "renewal_started: PRIORITY, CERTFLEET_ACCOUNT, the message with its prefix"
assert_eq "api:3,www:3" "$(j failed "$WORK/failed.json")" "CERTFLEET_EVENT=renewal_failed: one entry per certificate, at error priority"
# The messages are the plain lines without their timestamp and level.
j messages "$WORK/all.json" | grep -E '^(www|api): ' | sed 's/[0-9.]*s user.*//' | sort > "$WORK/msg.journal"
sed -n 's/^[0-9TZ:-]* certfleetd\[[0-9]*\]: [a-z]*: //p' "$WORK/plain.log" | grep -E '^(www|api): ' | sort > "$WORK/msg.plain"
assert_eq "" "$(diff "$WORK/msg.journal" "$WORK/msg.plain" | grep -v 'once-deadline (20' | grep '^[<>]')" "the journal's messages are the plain lines' text"
[ -s "$WORK/msg.plain" ] && pass "the plain run logged its lines" || fail "no plain lines"
assert_not_contains "$WORK/plain.log" "CERTFLEET_" "no fields in the plain lines"
finish
