#!/bin/bash
# The operator's view of a renewal in flight (issue 9, section 4):
#  - certfleetctl status shows the phase of a certificate in flight and
#    since when: its finalize answer is held by ari-proxy.py
#    (finalize-response-delay), so it stays "finalizing" long enough to see;
#  - certfleetctl renew NAME --wait: exit 0 once renewed; a name Pebble
#    refuses (PEBBLE_BLOCKLIST): exit 1 and the error line; an unknown name:
#    exit 3; --timeout shorter than the held finalize: exit 6;
#  - certfleetd --once under a pty (script(1)) draws its progress line in
#    place; with stderr on a file it writes only its log lines.
export PEBBLE_BLOCKLIST=blocked.example.com
. "$(dirname "$0")/lib.sh"
setup
ari_proxy_start || finish

write_inv() { # FILE STATE-DIR-NAME CERT-LINES...
  local f=$1 sd=$2; shift 2
  {
    sed -e "s|@SD@|$sd|g" <<'YAML'
state_dir: @WORK@/@SD@
output_dir: @WORK@/out-@SD@
control_socket: @WORK@/ctl.sock
http01_listen: "127.0.0.1:@HTTP01_PORT@"
renew_jitter: 0s
accounts:
  pebble:
    directory: @PROXY_DIR_URL@
    contact: mailto:it@example.com
    ca_bundle: @PROXY_CA@
    eab: {kid: @EAB_KID@, hmac_key_file: @EAB_KEY_FILE@}
certificates:
YAML
    printf '%s\n' "$@"
  } | sed -e "s|@PROXY_DIR_URL@|$PROXY_DIR_URL|" -e "s|@PROXY_CA@|$PROXY_CA|" | inventory "$f"
}

ctl() { "$CERTFLEETCTL" -c "$WORK/inv.yaml" "$@"; }
py() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

write_inv "$WORK/inv.yaml" state \
  "  - {name: ok, domains: [ok.example.com], account: pebble}" \
  "  - {name: bad, domains: [blocked.example.com], account: pebble}"
"$CERTFLEETD" -c "$WORK/inv.yaml" > "$WORK/d1.log" 2>&1 &
DAEMON_PID=$!
wait_for "[ -S '$WORK/ctl.sock' ]" 10 || fail "control socket not created"
wait_for "[ \"\$(ctl show ok --json 2>/dev/null | py \"d['installed'] and d['state']=='idle'\")\" = True ]" 90 ||
  fail "ok not issued"
wait_for "[ \"\$(ctl show bad --json 2>/dev/null | py \"d['failures']>0 and d['state']=='idle'\")\" = True ]" 90 ||
  fail "bad did not fail"

echo "== renew --wait"
v1=$(ctl show ok --json | py "d['version']")
ctl renew ok --force --wait > "$WORK/w1.out" 2> "$WORK/w1.err"
assert_eq 0 $? "renew ok --force --wait exits 0"
assert_contains "$WORK/w1.out" "^ok: renewed: serial [0-9A-F]+$" "says it was renewed"
assert_eq $((v1 + 1)) "$(ctl show ok --json | py "d['version']")" "a new version is installed when it returns"

ctl renew bad --wait > "$WORK/w2.out" 2> "$WORK/w2.err"
assert_eq 1 $? "renew bad --wait (Pebble refuses the name) exits 1"
assert_contains "$WORK/w2.err" "^certfleetctl: bad: renewal failed: .*blocked\.example\.com" "the error line names the refusal"

ctl renew nosuch --wait > "$WORK/w3.out" 2> "$WORK/w3.err"
assert_eq 3 $? "renew of an unknown name --wait exits 3"
assert_contains "$WORK/w3.err" "no certificate named nosuch" "and says so"

echo "== status: the phase in flight"
HOLD=20
echo "$HOLD" > "$WORK/ari-ctl/finalize-response-delay"
ctl renew ok --force > /dev/null
wait_for "ctl status | grep -q '^ok: finalizing since '" 60 || fail "status never showed ok finalizing"
ctl status > "$WORK/status.txt"
assert_contains "$WORK/status.txt" "^NAME +NAMES +KEY +NOT AFTER \(UTC\) +LEFT +NEXT RENEWAL +LAST RESULT$" "the table's header is unchanged"
assert_contains "$WORK/status.txt" "^ok +ok\.example\.com +ec-p256 .* renewing +ok$" "the row of ok is unchanged"
assert_contains "$WORK/status.txt" "^IN FLIGHT$" "an IN FLIGHT block below the table"
assert_contains "$WORK/status.txt" "^ok: finalizing since 20[0-9-]+ [0-9:]+ UTC \([0-9]+[smh]" "ok: its phase and since when"
ctl show ok --json > "$WORK/show.json"
assert_eq "finalizing True" "$(py "d['phase'], bool(d['phase_since'])" < "$WORK/show.json" | tr -d "(),'")" "show --json: phase and phase_since"
ctl show ok > "$WORK/show.txt"
assert_contains "$WORK/show.txt" "^phase: +finalizing since " "show prints the phase"
rm -f "$WORK/ari-ctl/finalize-response-delay"
ctl renew ok --wait --timeout 1 > "$WORK/w4.out" 2> "$WORK/w4.err"
assert_eq 6 $? "renew --wait --timeout 1 while the finalize answer is held: exit 6"
assert_contains "$WORK/w4.err" "^certfleetctl: ok: still renewing after the --timeout" "and says it is still renewing"
ctl renew ok --wait --timeout 120 > "$WORK/w5.out" 2> "$WORK/w5.err"
assert_eq 0 $? "waiting again follows it to its end (exit 0)"
ctl status > "$WORK/status2.txt"
assert_not_contains "$WORK/status2.txt" "^IN FLIGHT$" "nothing in flight afterwards"

assert_not_contains "$WORK/d1.log" $'\r' "the daemon's log (not a terminal) has no progress line"

echo "== renew --wait when the daemon goes away"
echo "$HOLD" > "$WORK/ari-ctl/finalize-response-delay"
ctl renew ok --force --wait --timeout 0 > "$WORK/w6.out" 2> "$WORK/w6.err" &
waiter=$!
wait_for "ctl status | grep -q '^ok: finalizing since '" 60 || fail "status never showed ok finalizing again"
# Killed, not stopped: a graceful stop could let the held renewal finish.
kill -KILL "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=""
wait "$waiter"
assert_eq 4 $? "renew --wait exits 4 when the daemon goes away"
assert_contains "$WORK/w6.err" "^certfleetctl: ok: the daemon stopped before the renewal settled$" "and says so"
rm -f "$WORK/ari-ctl/finalize-response-delay" "$WORK/ctl.sock"

echo "== --once: a progress line on a terminal only"
certs=()
for i in 1 2 3; do certs+=("  - {name: p$i, domains: [p$i.example.com], account: pebble}"); done
write_inv "$WORK/once.yaml" once-tty "${certs[@]}"
write_inv "$WORK/once2.yaml" once-file "${certs[@]}"
script -qec "'$CERTFLEETD' --once -c '$WORK/once.yaml'" /dev/null > "$WORK/tty.out" 2>&1
assert_eq 0 $? "--once under a pty exits 0"
assert_contains "$WORK/tty.out" $'\r[0-9]+ done, [0-9]+ failed, [0-9]+ in flight, [0-9]+ queued, of 3\033\\[K' "the progress line, drawn in place"
# Every log line starts at the left margin or right after the erase of the
# progress line ("\r", clear to end of line): never glued to its text.
assert_eq ok "$(python3 -c '
import re, sys
text = open(sys.argv[1], errors="replace", newline="").read()
bad = [l for l in text.split("\n")
       for m in [re.search(r"20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z certfleetd\[", l)]
       if m and m.start() > 0 and not l[:m.start()].endswith("\r\x1b[K")]
last = text.rfind("of 3\x1b[K")
if last < 0 or "\r\x1b[K" not in text[last:]:
    bad.append("the last progress line is never erased")
print("ok" if not bad else repr(bad[:3]))' "$WORK/tty.out")" "the progress line is erased before every log line and at the end"
assert_contains "$WORK/tty.out" "notice: done: 3 issued or renewed, 0 failed" "the closing line"
"$CERTFLEETD" --once -c "$WORK/once2.yaml" > "$WORK/file.out" 2>&1
assert_eq 0 $? "--once to a file exits 0"
assert_not_contains "$WORK/file.out" $'\r' "no carriage return in the file"
assert_not_contains "$WORK/file.out" "queued, of " "no progress text in the file"
assert_eq "$(grep -c ': p[123]: installed certificate' "$WORK/file.out")" 3 "its log lines as always"
finish
