#!/bin/bash
# Notifications (notify: in the inventory), end to end against Pebble.
#  - A webhook receiver (webhook-receiver.py) records every POST; a fake
#    sendmail (fake-sendmail) keeps every mail it is given.
#  - A certificate Pebble refuses (its name on PEBBLE_BLOCKLIST), with
#    after_failures 2: exactly one renewal_failed, at the second failure,
#    despite more attempts; its JSON's fields checked; the secret header
#    read from a 0600 file is sent.  The receiver answers 500 first: the
#    daemon retries (and logs the outage once); the mailer fails once too
#    and is retried.
#  - Restarted, the daemon tells nothing again.
#  - Fixed by a reload: one recovered.  A broken reload: reload_rejected.
#  - A certificate close to expiry at start: expiring, then recovered once
#    it is renewed; revoke: revoked; account deactivate:
#    account_deactivated.
#  - A secret file readable by others is refused with file:line:col.
export PEBBLE_BLOCKLIST=blocked.example.com
. "$(dirname "$0")/lib.sh"
setup

HOOK_LOG=$WORK/hooks.jsonl
MAIL=$WORK/mail
mkdir -p "$MAIL"
python3 "$TOP/tests/integration/webhook-receiver.py" --port-file "$WORK/hook.port" \
  --log "$HOOK_LOG" --fail-first 1 --limit 600 > "$WORK/receiver.log" 2>&1 &
echo $! > "$WORK/receiver.pid"
wait_for "[ -s '$WORK/hook.port' ]" 10 || { fail "webhook receiver did not start"; finish; }
HOOK_PORT=$(cat "$WORK/hook.port")
(umask 077; echo "Bearer s3cret-token" > "$WORK/hook.secret")
touch "$HOOK_LOG"

write_inv() { # FILE NAME-OF-bad's-DOMAIN
  sed -e "s|@HOOK_PORT@|$HOOK_PORT|g" -e "s|@BAD@|$2|g" <<'YAML' | inventory "$1"
state_dir: @WORK@/state
output_dir: @WORK@/out
control_socket: @WORK@/ctl.sock
http01_listen: "127.0.0.1:@HTTP01_PORT@"
renew_jitter: 0s
notify:
  webhook:
    url: http://127.0.0.1:@HOOK_PORT@/hook
    header: {name: Authorization, secret_file: @WORK@/hook.secret}
    timeout: 5s
  mail:
    program: [@TOP@/tests/integration/fake-sendmail, -t, @WORK@/mail]
    to: [ops@example.com, oncall@example.com]
    from: certfleet@example.com
  after_failures: 2
accounts:
  pebble:
    directory: @DIR_URL@
    contact: mailto:it@example.com
    ca_bundle: @CA@
    eab: {kid: @EAB_KID@, hmac_key_file: @EAB_KEY_FILE@}
certificates:
  - {name: good, domains: [good.example.com]}
  - {name: bad, domains: [@BAD@]}
YAML
}
ctl() { "$CERTFLEETCTL" -c "$WORK/inv.yaml" "$@"; }
start_daemon() { # LOG
  "$CERTFLEETD" -v -c "$WORK/inv.yaml" >> "$1" 2>&1 &
  DAEMON_PID=$!
  wait_for "[ -S '$WORK/ctl.sock' ] && ctl status > /dev/null 2>&1" 20 || fail "daemon did not start"
}
stop_daemon() {
  kill -TERM "$DAEMON_PID" 2>/dev/null; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=""
}
# events [EVENT]: the events the receiver accepted (200), one per line, or
# how many of EVENT.
events() {
  python3 - "$HOOK_LOG" "${1:-}" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ok = [r["body"]["event"] + ":" + str(r["body"].get("certificate")) for r in recs if r["status"] == 200]
print(sum(1 for e in ok if e.split(":")[0] == sys.argv[2]) if sys.argv[2] else "\n".join(ok))
PY
}
# mails EVENT: how many mails of EVENT the fake sendmail kept.
mails() { grep -l "^X-Certfleet-Event: $1\$" "$MAIL"/mail-*.txt 2>/dev/null | wc -l; }
failed_attempts() { grep -c "bad: attempt [0-9]* failed" "$WORK/d.log"; }

echo "== a secret file readable by others is refused"
write_inv "$WORK/inv.yaml" blocked.example.com
chmod 0640 "$WORK/hook.secret"
"$CERTFLEETD" --check -c "$WORK/inv.yaml" > "$WORK/check.log" 2>&1
assert_eq 78 $? "--check exits 78"
assert_contains "$WORK/check.log" "inv.yaml:[0-9]+:[0-9]+: notify.webhook.header.secret_file: permissions 0640 for '.*/hook.secret' are too open; it holds the webhook's secret \(chmod 600\)" \
  "error names the file, with file:line:col"
chmod 0600 "$WORK/hook.secret"
"$CERTFLEETD" --check -c "$WORK/inv.yaml" > "$WORK/check.log" 2>&1
assert_eq 0 $? "--check accepts it at 0600"

echo "== failing renewals: one renewal_failed, however many attempts"
touch "$MAIL/fail-once"
start_daemon "$WORK/d.log"
wait_for "grep -q 'good: installed certificate' '$WORK/d.log'" 60 || fail "good not issued"
wait_for "[ \$(failed_attempts) -ge 1 ]" 30 || fail "bad: first attempt did not fail"
assert_eq 0 "$(wc -l < "$HOOK_LOG")" "nothing sent after one failure (after_failures 2)"
ctl renew bad > /dev/null
wait_for "[ \$(failed_attempts) -ge 2 ]" 30 || fail "bad: second attempt did not fail"
wait_for "[ \"\$(events renewal_failed)\" = 1 ]" 30 || fail "no renewal_failed accepted"
assert_eq 1 "$(events renewal_failed)" "one renewal_failed after the second failure"
assert_eq 2 "$(wc -l < "$HOOK_LOG")" "the webhook got it twice: answered 500, retried, 200"
assert_contains "$WORK/d.log" "warning: notifications: webhook http://127.0.0.1:$HOOK_PORT/hook failing: HTTP 500; retrying" \
  "the failing webhook is logged"
assert_contains "$WORK/d.log" "notice: notifications: webhook http://127.0.0.1:$HOOK_PORT/hook works again" \
  "and its recovery"
wait_for "[ \$(mails renewal_failed) = 1 ]" 30 || fail "no renewal_failed mail"
assert_eq 1 "$(mails renewal_failed)" "one renewal_failed mail"
assert_eq 1 "$(wc -l < "$MAIL/failed" 2>/dev/null)" "the mailer failed once and was retried"
assert_contains "$WORK/d.log" "warning: notifications: mail .*/fake-sendmail failing: .*fake-sendmail exited with status 75" \
  "the mailer's exit status is logged"

python3 - "$HOOK_LOG" "$(hostname)" > "$WORK/fields.txt" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
r = [r for r in recs if r["status"] == 200][0]
b = r["body"]
checks = {
    "event": b["event"] == "renewal_failed",
    "reminder": b["reminder"] is False,
    "certificate": b["certificate"] == "bad",
    "names": b["names"] == ["blocked.example.com"],
    "account": b["account"] == "pebble",
    "not_after": b["not_after"] is None and b["seconds_left"] is None,
    "failures": b["failures"] == 2,
    "error": isinstance(b["error"], str) and "rejectedIdentifier" in b["error"],
    "problem": b["problem"]["type"] == "urn:ietf:params:acme:error:rejectedIdentifier",
    "host": b["host"] == sys.argv[2],
    "time": len(b["time"]) == 20 and b["time"].endswith("Z"),
    "header": r["headers"].get("Authorization") == "Bearer s3cret-token",
    "type": r["headers"].get("Content-Type") == "application/json",
    "path": r["path"] == "/hook",
    "same body retried": recs[0]["raw"] == r["raw"],
}
for k, v in checks.items():
    print(("ok " if v else "BAD ") + k + ("" if v else ": " + json.dumps(b)))
PY
while read -r res what; do
  [ "$res" = ok ] && pass "renewal_failed JSON: $what" || fail "renewal_failed JSON: $what"
done < "$WORK/fields.txt"
m=$(grep -l "^X-Certfleet-Event: renewal_failed$" "$MAIL"/mail-*.txt | head -n 1)
assert_contains "$m" "^To: ops@example.com, oncall@example.com$" "mail: To"
assert_contains "$m" "^From: certfleet@example.com$" "mail: From"
assert_contains "$m" "^Subject: \[certfleet\] bad: renewal failing \(2 attempts in a row\)$" "mail: Subject"
assert_contains "$m" "^Last error: .*rejectedIdentifier" "mail: the error"
assert_contains "$m" "^CA problem: +rejectedIdentifier: .*blocked.example.com" "mail: the CA's problem"
assert_eq "-t" "$(head -n 1 "$MAIL/mail-1.args")" "mail program run as argv (-t)"

ctl renew bad > /dev/null
wait_for "[ \$(failed_attempts) -ge 3 ]" 30 || fail "bad: third attempt did not fail"
sleep 3
assert_eq 2 "$(wc -l < "$HOOK_LOG")" "a third failure tells nothing"
assert_eq 1 "$(mails renewal_failed)" "and mails nothing"

echo "== restart: nothing told again"
stop_daemon
start_daemon "$WORK/d2.log"
ctl renew bad > /dev/null
wait_for "grep -q 'bad: attempt 4 failed' '$WORK/d2.log'" 30 || fail "bad: fourth attempt did not fail"
sleep 3
assert_eq 2 "$(wc -l < "$HOOK_LOG")" "restarted daemon tells nothing again"
assert_eq 1 "$(mails renewal_failed)" "and mails nothing again"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d['notified']['renewal_failed'] else 1)" \
  "$WORK/state/certs/bad/state.json" && pass "what was told is in state.json" || fail "no notified in state.json"
ctl show bad --json | python3 -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if d['notified']['renewal_failed'] else 1)" &&
  pass "certfleetctl show --json says what was told" || fail "show --json has no notified"

echo "== fixed by a reload: one recovered"
write_inv "$WORK/inv.yaml" fixed.example.com
kill -HUP "$DAEMON_PID"
wait_for "grep -q 'reloaded:' '$WORK/d2.log'" 10 || fail "reload not done"
ctl renew bad > /dev/null
wait_for "grep -q 'bad: installed certificate' '$WORK/d2.log'" 60 || fail "bad not issued after the fix"
wait_for "[ \"\$(events recovered)\" = 1 ]" 30 || fail "no recovered"
assert_eq 1 "$(events recovered)" "one recovered"
wait_for "[ \$(mails recovered) = 1 ]" 30 || fail "no recovered mail"
assert_eq 1 "$(mails recovered)" "one recovered mail"
python3 - "$HOOK_LOG" > "$WORK/rec.txt" <<'PY'
import json, sys
b = [json.loads(l)["body"] for l in open(sys.argv[1]) if l.strip()][-1]
ok = (b["event"] == "recovered" and b["certificate"] == "bad" and b["names"] == ["fixed.example.com"]
      and b["failures"] == 0 and b["error"] is None and b["seconds_left"] > 0 and b["not_after"])
print("ok" if ok else "BAD " + json.dumps(b))
PY
assert_eq ok "$(cat "$WORK/rec.txt")" "recovered JSON: certificate, names, not_after, no error"
assert_eq 0 "$(events expiring)" "no expiring for a fresh certificate"
assert_not_contains "$HOOK_LOG" '"certificate": "good"' "nothing about the healthy certificate"

echo "== a broken reload: reload_rejected"
printf 'certificates: [\n' > "$WORK/inv.yaml"
kill -HUP "$DAEMON_PID"
wait_for "[ \"\$(events reload_rejected)\" = 1 ]" 30 || fail "no reload_rejected"
python3 - "$HOOK_LOG" > "$WORK/rej.txt" <<'PY'
import json, sys
b = [json.loads(l)["body"] for l in open(sys.argv[1]) if l.strip()][-1]
ok = (b["event"] == "reload_rejected" and b["inventory"].endswith("/inv.yaml")
      and "inv.yaml:2:1: YAML syntax error" in b["error"])
print("ok" if ok else "BAD " + json.dumps(b))
PY
assert_eq ok "$(cat "$WORK/rej.txt")" "reload_rejected JSON: the inventory and its file:line:col error"
wait_for "[ \$(mails reload_rejected) = 1 ]" 30 || fail "no reload_rejected mail"
assert_eq 1 "$(mails reload_rejected)" "one reload_rejected mail"
kill -0 "$DAEMON_PID" 2>/dev/null && pass "daemon still running" || fail "daemon died"
write_inv "$WORK/inv.yaml" fixed.example.com
stop_daemon

echo "== close to expiry at start: expiring, then recovered by the renewal"
# good: a 9.5-day certificate with 12 hours left (warn_before 10%: 22.8 h).
state_set() { # FILE KEY=OFFSET...: time fields of a state file set to now+OFFSET
  python3 - "$@" <<'PY'
import datetime, json, sys, time
p = sys.argv[1]
st = json.load(open(p))
now = int(time.time())
for kv in sys.argv[2:]:
    k, off = kv.split("=")
    st[k] = datetime.datetime.fromtimestamp(now + int(off), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
json.dump(st, open(p, "w"))
PY
}
state_set "$WORK/state/certs/good/state.json" not_before=-777600 not_after=43200
start_daemon "$WORK/d3.log"
wait_for "[ \"\$(events expiring)\" = 1 ]" 30 || fail "no expiring"
wait_for "[ \"\$(events recovered)\" = 2 ]" 60 || fail "no recovered for good"
python3 - "$HOOK_LOG" > "$WORK/exp.txt" <<'PY'
import json, sys
b = [json.loads(l)["body"] for l in open(sys.argv[1]) if l.strip()]
b = [x for x in b if x["event"] == "expiring"][0]
ok = (b["certificate"] == "good" and 43000 < b["seconds_left"] <= 43200 and b["failures"] == 0
      and b["error"] is None and b["reminder"] is False)
print("ok" if ok else "BAD " + json.dumps(b))
PY
assert_eq ok "$(cat "$WORK/exp.txt")" "expiring JSON: 12 hours left, no failures"
wait_for "[ \$(mails expiring) = 1 ]" 30 || fail "no expiring mail"
m=$(grep -l "^X-Certfleet-Event: expiring$" "$MAIL"/mail-*.txt | head -n 1)
assert_contains "$m" "^Subject: \[certfleet\] good: certificate expires in 1[12]h" "expiring mail: Subject with the time left"

echo "== revoked, account deactivated"
ctl revoke good --no-reissue > "$WORK/revoke.log" 2>&1
assert_eq 0 $? "revoke good exits 0"
wait_for "[ \"\$(events revoked)\" = 1 ]" 30 || fail "no revoked"
python3 - "$HOOK_LOG" "$(openssl x509 -in "$WORK/out/live/good/cert.pem" -noout -serial | cut -d= -f2)" > "$WORK/rev.txt" <<'PY'
import json, sys
b = [json.loads(l)["body"] for l in open(sys.argv[1]) if l.strip()][-1]
ok = (b["event"] == "revoked" and b["certificate"] == "good" and b["reason"] == 0
      and b["revoked_serial"].lstrip("0").lower() == sys.argv[2].lstrip("0").lower())
print("ok" if ok else "BAD " + sys.argv[2] + " " + json.dumps(b))
PY
assert_eq ok "$(cat "$WORK/rev.txt")" "revoked JSON: the serial revoked, the reason"
ctl account deactivate pebble --yes > "$WORK/deact.log" 2>&1
assert_eq 0 $? "account deactivate exits 0"
wait_for "[ \"\$(events account_deactivated)\" = 1 ]" 30 || fail "no account_deactivated"
python3 - "$HOOK_LOG" > "$WORK/deact.txt" <<'PY'
import json, sys
b = [json.loads(l)["body"] for l in open(sys.argv[1]) if l.strip()][-1]
ok = b["event"] == "account_deactivated" and b["account"] == "pebble" and b["certificates"] == ["good", "bad"]
print("ok" if ok else "BAD " + json.dumps(b))
PY
assert_eq ok "$(cat "$WORK/deact.txt")" "account_deactivated JSON: the account and its certificates"
wait_for "[ \$(mails account_deactivated) = 1 ]" 30 || fail "no account_deactivated mail"
stop_daemon

echo "   events: $(events | tr '\n' ' ')"
assert_eq "renewal_failed:bad recovered:bad reload_rejected:None expiring:good recovered:good revoked:good account_deactivated:None" \
  "$(events | tr '\n' ' ' | sed 's/ $//')" "exactly these events, in order"
n_mail=$(ls "$MAIL"/mail-*.txt | wc -l)
assert_eq 7 "$n_mail" "one mail per event"

finish
