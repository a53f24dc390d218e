#!/bin/bash
# kill -9 of the pool's lock holder in the middle of an order, at random
# moments, 20 times (issue 10, section 2): every certificate is renewed on
# all three daemons at once (certfleetctl renew --force), the one that takes
# the lock is killed 0..2 s later and restarted once the pool has published
# the certificate.  Another host must resume the order the dead one recorded
# in etcd ("pool: resuming order URL"), never order again while it is
# recorded and never finalize it twice; every certificate ends issued and
# installed everywhere with the same serial.
#
# The daemons reach Pebble through ari-proxy.py, which logs every request
# with its path (Pebble's own log names no order on a finalize): the
# finalize POSTs per order URL are counted from it, and it holds Pebble's
# answer to each finalize for a second, which widens the window where the
# CA has the finalize and the holder does not know yet (a kill there is
# the one a second finalize would follow).  A kill can also lose the
# finalize: between its record in etcd and the POST, or mid-request (the
# proxy then forwards a cut body, which Pebble never answers).  The order stays
# ready with "finalized" recorded, and the next holder finalizes it again
# once it has stayed ready for twice timeouts.finalize (10 s: 5 s here): a
# finalize counts as the order's when Pebble took it (no problem in its
# answer), and one refused with orderNotReady would be a second finalize
# of an order the CA already had.  `etcdctl watch`
# records every P/orders/ write: each order recorded there must be the one
# the next holder goes on with, up to its finalize.
. "$(dirname "$0")/lib.sh"
export PEBBLE_AUTHZREUSE=0
setup
ari_proxy_start || finish
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
now=$(date +%s)
# A renewal window far ahead: renewalInfo schedules nothing during the test.
printf '{"retry_after": "3600", "body": {"suggestedWindow": {"start": "%s", "end": "%s"}}}\n' \
  "$(iso $((now + 400 * 86400)))" "$(iso $((now + 401 * 86400)))" > "$WORK/ari-ctl/ari.json"
echo 1 > "$WORK/ari-ctl/finalize-response-delay"
. "$TOP/tests/integration/pool-lib.sh"
POOL_DIR_URL=$PROXY_DIR_URL
POOL_CA=$PROXY_CA
POOL_LEASE_TTL=5s
POOL_TOP_YAML="timeouts: {finalize: 5s}"
pool_setup 3 2 || finish
KILLS=${CERTFLEET_T87_KILLS:-20}
names=(k1 k2 k3 k4 k5)
for i in 1 2 3; do pool_inventory "$i" "${names[@]}"; done

pool_start 2
wait_for "grep -q 'http-01 responder listening' '$(pool_log 2)'" 20 || fail "daemon 2's responder is not up"
pool_start 1
pool_start 3
for i in 1 2 3; do pool_wait_up "$i"; done
pool_wait_same 90 "${names[@]}" || { fail "the certificates were not installed on the three hosts"; finish; }

# Every write under P/orders/ from now on, one JSON watch response a line.
env -u ETCDCTL_ENDPOINTS etcdctl --endpoints "$ETCD_ENDPOINTS" watch --prefix "${POOL_PREFIX}orders/" \
  -w json > "$WORK/orders.watch" 2>&1 &
echo $! > "$WORK/orders-watch.pid"
pool_etcdctl put "${POOL_PREFIX}orders/-probe" '{}' > /dev/null
wait_for "grep -q '\"kv\"' '$WORK/orders.watch'" 10 || fail "etcdctl watch records nothing"
pool_etcdctl del "${POOL_PREFIX}orders/-probe" > /dev/null

orders0=$(count new-order)
issued0=$(count certificates-issued)
proxy0=$(wc -l < "$WORK/ari-proxy.log")
kills=0 mid=0 recorded=0 resumed=0 renewals=0 it=0
echo "== $KILLS kills of the lock holder"
t0=$(date +%s)
while [ "$kills" -lt "$KILLS" ] && [ "$it" -lt $((KILLS + 10)) ]; do
  it=$((it + 1))
  n=${names[$(( (it - 1) % ${#names[@]} ))]}
  v0=$(pool_field "certs/$n" version)
  pids=()
  for i in 1 2 3; do pool_ctl "$i" renew "$n" --force > /dev/null & pids+=($!); done
  wait "${pids[@]}"
  renewals=$((renewals + 1))
  wait_for "[ -n \"\$(pool_holder $n)\" ] || [ \"\$(pool_field certs/$n version)\" != '$v0' ]" 20
  holder=$(pool_holder "$n")
  if [ -z "$holder" ]; then
    # Published before the test saw a lock: nobody to kill this time.
    echo "   $n: published before a holder was seen"
    pool_wait_same 30 "$n" > /dev/null
    continue
  fi
  h=$(pool_index "$holder")
  delay=$((RANDOM % 2001))
  sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
  pool_kill "$h" KILL
  kills=$((kills + 1))
  url=$(pool_field "orders/$n" url)
  what="after publication"
  if [ "$(pool_field "certs/$n" version)" = "$v0" ]; then
    mid=$((mid + 1))
    what="mid-order"
  fi
  if ! wait_for "[ \"\$(pool_field certs/$n version)\" != '$v0' ]" 60; then
    fail "kill $kills: $n not published within 60 s of killing $holder"
    for i in 1 2 3; do grep -h "$n: " "$(pool_log "$i")" | tail -n 4 | sed "s/^/    node$i | /"; done
    pool_start "$h"
    pool_wait_up "$h"
    break
  fi
  by=$(pool_field "certs/$n" node)
  line="   kill $kills: $n held by $holder, killed after ${delay} ms ($what)"
  if [ -n "$url" ]; then
    recorded=$((recorded + 1))
    found=""
    for i in 1 2 3; do
      [ "$i" = "$h" ] && continue
      grep -qF "$n: pool: resuming order $url" "$(pool_log "$i")" && found=node$i
    done
    if [ -n "$found" ]; then
      resumed=$((resumed + 1))
      line="$line; order ${url##*/} resumed by $found"
    else
      fail "kill $kills: $holder left order $url in etcd; no other host resumed it"
    fi
  fi
  [ "$what" = mid-order ] && [ "$by" = "$holder" ] && fail "kill $kills: $n published by the dead $holder"
  echo "$line; published by $by"
  pool_start "$h"
  pool_wait_up "$h" 30 || break
done
secs=$(( $(date +%s) - t0 ))
if pool_wait_same 60 "${names[@]}"; then
  pass "every certificate installed on the three hosts with the same certificate and key"
else
  fail "not every certificate is the same on the three hosts"
fi
# Whatever a restarted host was still doing has settled.
sleep 3
kill -0 "$(cat "$WORK/orders-watch.pid")" 2>/dev/null && pass "etcdctl watch ran throughout" ||
  fail "etcdctl watch stopped: the record of P/orders/ is incomplete"
kill "$(cat "$WORK/orders-watch.pid")" 2>/dev/null
rm -f "$WORK/orders-watch.pid"

for n in "${names[@]}"; do
  es=$(pool_field "certs/$n" serial | sed 's/^0*//' | tr a-f A-F)
  assert_eq "$es" "$(pool_same "$n")" "$n: the serial published in etcd is installed everywhere"
done

tail -n +"$((proxy0 + 1))" "$WORK/ari-proxy.log" > "$WORK/proxy.run"
grep -oE 'Issued certificate serial [0-9a-f]+ for order [^ ]+' "$PEBBLE_LOG" |
  awk '{print $NF}' > "$WORK/issued-orders"
python3 - "$WORK/orders.watch" "$WORK/proxy.run" "$WORK/issued-orders" "${POOL_PREFIX}orders/" \
  > "$WORK/analysis.txt" <<'PY'
import base64, json, sys
watch, proxy, issued_f, prefix = sys.argv[1:5]
# The finalize POSTs Pebble took, per order (answered below 400): those it
# refused with a problem (badNonce) did nothing, nor did one it never
# answered (a body cut by a kill: Pebble waits for the rest until the proxy
# gives up); one refused with orderNotReady came after Pebble already had
# the order's finalize.
fin, not_ready, refused = {}, [], 0
for line in open(proxy):
    r = json.loads(line)
    if r.get("method") == "POST" and r.get("path", "").startswith("/finalize-order/"):
        oid = r["path"].rsplit("/", 1)[1]
        problem = r.get("problem") or ""
        if problem.endswith("orderNotReady"):
            not_ready.append(oid)
        if r.get("upstream") is None or r["upstream"] >= 400:
            refused += 1
            continue
        fin[oid] = fin.get(oid, 0) + 1
issued = set(l.strip() for l in open(issued_f) if l.strip())
# The P/orders/ writes in order: a PUT of another order while one is
# recorded (no DELETE in between) is a second newOrder for a live order.
live, recorded, dups = {}, {}, []
for line in open(watch):
    line = line.strip()
    if not line.startswith("{"):
        continue
    for ev in json.loads(line).get("Events") or []:
        kv = ev["kv"]
        key = base64.b64decode(kv["key"]).decode()
        if not key.startswith(prefix) or key.endswith("/-probe"):
            continue
        name = key[len(prefix):]
        if ev.get("type") == 1:
            live.pop(name, None)
            continue
        v = json.loads(base64.b64decode(kv.get("value", "")) or b"{}")
        url = v.get("url")
        if not url:
            continue
        oid = url.rsplit("/", 1)[1]
        if name in live and live[name] != oid:
            dups.append("%s: %s recorded while %s was" % (name, oid, live[name]))
        live[name] = oid
        recorded.setdefault(oid, name)
unfinalized = sorted("%s (%s)" % (o, n) for o, n in recorded.items() if o not in fin)
unissued = sorted("%s (%s)" % (o, n) for o, n in recorded.items() if o not in issued)
print("finalize_posts", sum(fin.values()))
print("finalized_orders", len(fin))
print("max_finalize_per_order", max(fin.values()) if fin else 0)
print("twice", " ".join(o for o, c in fin.items() if c > 1) or "-")
print("not_ready", " ".join(not_ready) or "-")
print("refused", refused)
print("recorded_orders", len(recorded))
print("dups", "; ".join(dups) or "-")
print("unfinalized", " ".join(unfinalized) or "-")
print("unissued", " ".join(unissued) or "-")
PY
val() { sed -n "s/^$1 //p" "$WORK/analysis.txt"; }
relost=$(for i in 1 2 3; do pool_logs "$i"; done | grep -c 'the CA never took it; finalizing again' || true)
created=$(( $(count new-order) - orders0 ))
issued=$(( $(count certificates-issued) - issued0 ))
echo "   $kills kills in ${secs}s ($mid mid-order), $renewals forced renewals; orders created $created," \
  "recorded in etcd $(val recorded_orders), finalize POSTs $(val finalize_posts) for" \
  "$(val finalized_orders) orders ($(val refused) refused or never answered by Pebble), certificates issued $issued;" \
  "$recorded kills left an order recorded, $resumed resumed by another host; $relost lost" \
  "finalizes sent again"
assert_eq "$KILLS" "$kills" "$KILLS lock holders killed"
assert_eq 1 "$(count new-account)" "one ACME account for the pool (an order is its account's only)"
[ "$mid" -ge 1 ] && pass "$mid kills came in the middle of an order" ||
  fail "no kill came in the middle of an order: the test proved nothing"
[ "$resumed" -ge 1 ] && pass "$resumed orders resumed by another host after the kill" ||
  fail "no order was resumed by another host"
assert_eq "$recorded" "$resumed" "every order the dead holder left in etcd was resumed by another host"
assert_eq 1 "$(val max_finalize_per_order)" "no order finalized twice (twice: $(val twice))"
assert_eq - "$(val not_ready)" "no finalize sent again for an order Pebble already had"
assert_eq - "$(val dups)" "no second newOrder while an order was recorded"
assert_eq - "$(val unfinalized)" "every order recorded in etcd was finalized"
assert_eq - "$(val unissued)" "every order recorded in etcd was issued"
assert_eq "$renewals" "$issued" "one certificate issued per forced renewal"
# An order created and never recorded is one whose holder died between the
# newOrder and the record: at most one per kill.
orphans=$((created - $(val recorded_orders)))
[ "$orphans" -ge 0 ] && [ "$orphans" -le "$kills" ] &&
  pass "$orphans order(s) created but never recorded (holder killed right after newOrder), at most one per kill" ||
  fail "$orphans orders created but never recorded in etcd, with $kills kills"
for i in 1 2 3; do
  pool_alive "$i" && pass "daemon $i still runs" || fail "daemon $i is gone"
done
for i in 1 2 3; do pool_stop "$i"; done
finish
