#!/bin/bash
# ACME Renewal Information (RFC 9773) against hand-made renewalInfo answers.
# Debian's Pebble has no ARI, so ari-proxy.py sits between the daemon and
# Pebble, adds renewalInfo to the directory, answers GET /renewal-info/<id>
# from files this test writes and logs every request (newOrder with its
# payload).  Checked: the certID the daemon asks for (against openssl's view
# of the installed certificate); a window already passed renews at once with
# replaces=<certID>; a future window is not renewed, the renewal moment lies
# inside it and the next check honours Retry-After (seconds and HTTP-date)
# clamped to [1 min, 1 day]; HTTP 500 and malformed JSON leave the
# certificate alone, log a warning and check again 6 h later; a CA refusing
# replaces (alreadyReplaced 409, malformed 400) gets the order again without it.
. "$(dirname "$0")/lib.sh"
setup
ari_proxy_start || finish

CERTS="past future short long hdate e500 bad"
write_inv() { # names...
  {
  cat <<YAML
state_dir: @WORK@/state
output_dir: @WORK@/out
control_socket: @WORK@/ctl.sock
http01_listen: "127.0.0.1:@HTTP01_PORT@"
renew_jitter: 0s
accounts:
  pebble:
    directory: $PROXY_DIR_URL
    contact: mailto:it@example.com
    ca_bundle: $PROXY_CA
    eab: {kid: @EAB_KID@, hmac_key_file: @EAB_KEY_FILE@}
certificates:
YAML
  for n in "$@"; do printf '  - {name: %s, domains: [%s.example.com], account: pebble}\n' "$n" "$n"; done
  } | inventory "$WORK/inv.yaml"
}
# shellcheck disable=SC2086
write_inv $CERTS

iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
now=$(date +%s)
# Until the test says otherwise: a far window, checked again in an hour.
printf '{"retry_after": "3600", "body": {"suggestedWindow": {"start": "%s", "end": "%s"}}}\n' \
  "$(iso $((now + 400 * 86400)))" "$(iso $((now + 401 * 86400)))" > "$WORK/ari-ctl/ari.json"

echo "== issue through the proxy (--once: no renewalInfo checks)"
"$CERTFLEETD" --once -c "$WORK/inv.yaml" > "$WORK/once.log" 2>&1
assert_eq 0 $? "--once through the proxy exits 0"
assert_eq 7 "$(grep -c 'installed certificate' "$WORK/once.log")" "seven certificates issued"
grep -q '"renewalInfo": "https://127.0.0.1:'"$PROXY_PORT"'/renewal-info/"' <(curl --noproxy '*' -s --cacert "$PROXY_CA" "$PROXY_DIR_URL") &&
  pass "proxy directory offers renewalInfo" || fail "proxy directory lacks renewalInfo"
[ "$(grep -c '"path": "/order-plz"' "$WORK/ari-proxy.log")" -ge 7 ] &&
  pass "newOrder went through the proxy" || fail "newOrder did not go through the proxy"
assert_not_contains "$WORK/ari-proxy.log" '"replaces"' "first issuance sends no replaces"

# cert_id NAME: base64url(AKI keyIdentifier) "." base64url(serial DER
# content octets), computed here from what openssl prints.
cert_id() {
  local pem=$WORK/out/live/$1/cert.pem aki serial
  aki=$(openssl x509 -in "$pem" -noout -ext authorityKeyIdentifier | sed -n '2p' |
    sed 's/^ *//; s/^keyid://' | tr -d ':\n ')
  serial=$(openssl x509 -in "$pem" -noout -serial | sed 's/^serial=//')
  python3 - "$aki" "$serial" <<'PY'
import base64, sys
b = lambda x: base64.urlsafe_b64encode(x).rstrip(b"=").decode()
aki = bytes.fromhex(sys.argv[1])
n = int(sys.argv[2], 16)
# DER INTEGER contents: minimal two's complement, so a leading 0x00 when the
# top bit is set.
ser = n.to_bytes(n.bit_length() // 8 + 1, "big")
print(b(aki) + "." + b(ser))
PY
}
declare -A ID VER
for n in $CERTS; do
  ID[$n]=$(cert_id "$n")
  VER[$n]=$(readlink "$WORK/out/live/$n")
done
echo "   certID of past: ${ID[past]}"
assert_eq "${ID[past]}" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cert_id"])' "$WORK/state/certs/past/state.json")" \
  "certID in the state matches openssl's view"

# ari NAME JSON: the renewalInfo answer for NAME's certificate.
ari() { printf '%s\n' "$2" > "$WORK/ari-ctl/ari-${ID[$1]}.json"; }
win() { printf '{"suggestedWindow": {"start": "%s", "end": "%s"}}' "$(iso "$1")" "$(iso "$2")"; }
now=$(date +%s)
F0=$((now + 30 * 86400)) F1=$((now + 31 * 86400))
ari past  "{\"retry_after\": \"3600\", \"body\": $(win $((now - 2 * 86400)) $((now - 86400)))}"
ari future "{\"retry_after\": \"7200\", \"body\": $(win $F0 $F1)}"
ari short "{\"retry_after\": \"5\", \"body\": $(win $F0 $F1)}"
ari long  "{\"retry_after\": \"864000\", \"body\": $(win $F0 $F1)}"
ari hdate "{\"retry_after\": \"$(date -u -d "@$((now + 10800))" '+%a, %d %b %Y %H:%M:%S GMT')\", \"body\": $(win $F0 $F1)}"
ari e500  '{"status": 500, "retry_after": "60", "body": {"type": "urn:ietf:params:acme:error:serverInternal", "detail": "test"}}'
ari bad   '{"retry_after": "60", "body": "{\"suggestedWindow\": {\"start\": "}'

start_daemon() { # log
  : > "$1"
  "$CERTFLEETD" -v -c "$WORK/inv.yaml" > "$1" 2>&1 &
  DAEMON_PID=$!
}
stop_daemon() {
  kill -TERM "$DAEMON_PID" 2>/dev/null; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=""
}

echo "== daemon: every certificate's window checked at start"
# fresh: first issued by the running daemon, polled 6 h later.
# shellcheck disable=SC2086
write_inv $CERTS fresh
orders0=$(count new-order)
: > "$WORK/ari-proxy.log"
t0=$(date +%s)
start_daemon "$WORK/d1.log"
wait_for "grep -q 'past: installed certificate' $WORK/d1.log" 60 || fail "past window: not renewed"
took=$(( $(date +%s) - t0 ))
[ "$took" -le 20 ] && pass "past window: renewed at once (${took}s after start)" ||
  fail "past window: renewed only ${took}s after start"
for n in $CERTS; do
  grep -qF "\"path\": \"/renewal-info/${ID[$n]}\"" "$WORK/ari-proxy.log" &&
    pass "$n: renewalInfo fetched at the certID computed by openssl" ||
    fail "$n: no GET /renewal-info/${ID[$n]} (proxy saw: $(grep -o '"/renewal-info/[^"]*"' "$WORK/ari-proxy.log" | sort -u | tr '\n' ' '))"
done
replaces=$(python3 - "$WORK/ari-proxy.log" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    p = r.get("payload") or {}
    if str(r.get("problem", "")).endswith(":badNonce"):
        continue
    if "past.example.com" in json.dumps(p.get("identifiers")):
        print(p.get("replaces", "-"))
PY
)
assert_eq "${ID[past]}" "$replaces" "past: one newOrder, with replaces = its certID"
assert_contains "$WORK/d1.log" "past: due now \(inside the CA's renewal window\)" "past: due because of the window"

# next_check NAME: "SECONDS-UNTIL-RENEWAL SECONDS-UNTIL-CHECK" from the last
# debug line scheduling NAME, relative to that line's own time stamp.
next_check() {
  local line ts r c
  line=$(grep -E "debug: $1: next renewal at " "$WORK/d1.log" | tail -n 1)
  [ -n "$line" ] || { echo "none none"; return; }
  ts=$(log_epoch "$line")
  r=$(printf '%s' "$line" | sed -E 's/.*next renewal at ([^ ]+) .*/\1/')
  c=$(printf '%s' "$line" | sed -E 's/.*next renewalInfo check at ([^ ]+)$/\1/')
  echo "$(( $(iso_epoch "$r") - ts )) $(( $(iso_epoch "$c") - ts ))"
}
# near WHAT ACTUAL EXPECTED: within 5 s.
near() {
  if [ "$2" != none ] && [ $(( $2 - $3 )) -ge -5 ] && [ $(( $2 - $3 )) -le 5 ]; then
    pass "$1 (${2}s, expected ${3}s)"
  else
    fail "$1: ${2}s, expected ${3}s"
  fi
}
wait_for "[ \$(grep -c 'next renewalInfo check at' $WORK/d1.log) -ge 14 ]" 20
sleep 2
read -r ren chk <<< "$(next_check future)"
near "future window, Retry-After 7200: next check" "$chk" 7200
now=$(date +%s)
if [ "$ren" != none ] && [ $((now + ren)) -ge $((F0 - 5)) ] && [ $((now + ren)) -le $((F1 + 5)) ]; then
  pass "future window: renewal moment inside the window"
else
  fail "future window: renewal moment ${ren}s from now is outside [$((F0 - now)), $((F1 - now))]"
fi
read -r _ chk <<< "$(next_check short)"
near "Retry-After 5 clamped to 1 min" "$chk" 60
read -r _ chk <<< "$(next_check long)"
near "Retry-After 10 days clamped to 1 day" "$chk" 86400
read -r _ chk <<< "$(next_check hdate)"
near "Retry-After as an HTTP-date 3 h ahead" "$chk" 10800
assert_contains "$WORK/d1.log" "warning: e500: renewalInfo for ${ID[e500]}: HTTP 500; checking again in 6h" "HTTP 500: warning logged"
read -r _ chk <<< "$(next_check e500)"
near "HTTP 500: next check 6 h later (its Retry-After ignored)" "$chk" 21600
assert_contains "$WORK/d1.log" "warning: bad: .*renewalInfo.*; checking again in 6h" "malformed JSON: warning logged"
read -r _ chk <<< "$(next_check bad)"
near "malformed JSON: next check 6 h later" "$chk" 21600
for n in future short long hdate e500 bad; do
  assert_eq "${VER[$n]}" "$(readlink "$WORK/out/live/$n")" "$n: certificate untouched"
done
wait_for "grep -q 'fresh: installed certificate' $WORK/d1.log" 30 || fail "fresh: not issued"
read -r _ chk <<< "$(next_check fresh)"
near "fresh certificate: first renewalInfo check 6 h after issuance" "$chk" 21600
assert_eq 2 "$(( $(count new-order) - orders0 ))" "exactly two orders (past, fresh) reached Pebble"
assert_eq 1 "$(grep -c 'past: installed certificate' "$WORK/d1.log")" "no renewal loop after renewing past"
newid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cert_id"])' "$WORK/state/certs/past/state.json")
[ -n "$newid" ] && [ "$newid" != "${ID[past]}" ] && pass "past: state carries the new certificate's certID" ||
  fail "past: certID in the state not updated ($newid)"

echo "== the 1-minute re-check of short really happens (and only re-checks)"
gets() { grep -F "\"path\": \"/renewal-info/${ID[short]}\"" "$WORK/ari-proxy.log"; }
wait_for "[ \$(gets | wc -l) -ge 2 ]" 80 || fail "short: renewalInfo not fetched again"
gap=$(gets | python3 -c 'import json,sys; t=[json.loads(l)["t"] for l in sys.stdin]; print(int(round(t[1]-t[0])) if len(t) > 1 else "none")')
near "short: second renewalInfo fetch after the 1-minute clamp" "$gap" 60
sleep 1
assert_eq "${VER[short]}" "$(readlink "$WORK/out/live/short")" "short: the re-check timer did not renew it"
assert_not_contains "$WORK/d1.log" "short: renewal due" "short: the re-check was not taken for a renewal"
stop_daemon

# rejected NAME TYPE STATUS: the window of NAME passes, the proxy refuses
# newOrder carrying replaces with TYPE/STATUS; the daemon orders again
# without replaces.
rejected() {
  local n=$1 log=$WORK/d-$1.log before
  printf '%s %s\n' "$2" "$3" > "$WORK/ari-ctl/reject-replaces"
  now=$(date +%s)
  ari "$n" "{\"retry_after\": \"3600\", \"body\": $(win $((now - 3600)) $((now - 60)))}"
  before=$(count new-order)
  : > "$WORK/ari-proxy.log"
  start_daemon "$log"
  wait_for "grep -q '$n: installed certificate' $log" 60 || fail "$n: not renewed after $2 refusal"
  assert_contains "$log" "$n: newOrder with replaces=${ID[$n]} refused \(.*$2.*\); ordering without it" \
    "$2 ($3): refusal logged"
  got=$(python3 - "$WORK/ari-proxy.log" "$n" <<'PY'
import json, sys
out = []
for l in open(sys.argv[1]):
    r = json.loads(l)
    p = r.get("payload")
    # Pebble rejects some nonces on purpose: those retries are not orders.
    if str(r.get("problem", "")).endswith(":badNonce"):
        continue
    if p is not None and (sys.argv[2] + ".example.com") in json.dumps(p.get("identifiers")):
        out.append("%s:%s" % (r.get("status"), "replaces" if "replaces" in p else "plain"))
print(" ".join(out))
PY
)
  assert_eq "$3:replaces 201:plain" "$got" "$2 ($3): refused with replaces, then ordered without it"
  assert_eq 1 "$(( $(count new-order) - before ))" "$2 ($3): one order reached Pebble"
  [ "${VER[$n]}" != "$(readlink "$WORK/out/live/$n")" ] && pass "$n: new version installed" ||
    fail "$n: still the old version"
  stop_daemon
  rm -f "$WORK/ari-ctl/reject-replaces"
}
echo "== the CA refuses replaces: alreadyReplaced (409)"
rejected future alreadyReplaced 409
echo "== the CA refuses replaces: malformed (400)"
rejected short malformed 400

finish
