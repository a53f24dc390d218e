#!/bin/bash
# The apache2 and haproxy hooks (contrib/hooks/) against the real servers
# (Debian's apache2 and haproxy), each started by the test on a free
# loopback port with its own configuration, pid file and logs under $WORK:
# certfleetd --once issues from Pebble (haproxy's certificate with
# combined: true), both servers serve the live certificates; `--once
# --force` with the hooks as deploy hooks renews, Apache is configtested
# and gracefully restarted, haproxy gets the new combined.pem through its
# runtime API while a client loop connects to it (no failed connection, the
# same haproxy process); the haproxy hook as post_hook with its python3
# client; and without the stats socket the hook's fallback, a reload.
. "$(dirname "$0")/lib.sh"
# shellcheck source=webservers-lib.sh
. "$(dirname "$0")/webservers-lib.sh"

for p in apache2ctl haproxy socat; do
  command -v "$p" >/dev/null || { echo "t_98_apache_haproxy.sh: $p is not installed (apt-get install apache2 haproxy socat)"; exit 1; }
done
setup

AP_PORT=$(free_port)
HAP_PORT=$(free_port)
while [ "$HAP_PORT" = "$AP_PORT" ]; do HAP_PORT=$(free_port); done
APA=$WORK/out/live/apa
HAP=$WORK/out/live/hap

# inv FILE [APA_HOOK_LINE] [HAP_HOOK_LINE] [TOP_LINE] [HAP2_HOOK_LINE]
# (hap2's hook line defaults to hap's: two deploy hooks for one haproxy run
# at the same time)
inv() {
  inventory "$1" <<YAML
$INV_HEAD
${4:-}
certificates:
  - name: apa
    domains: [apa.example.com]
    ${2:-}
  - name: hap
    domains: [hap.example.com]
    combined: true
    ${3:-}
  - name: hap2
    domains: [hap2.example.com]
    combined: true
    ${5:-${3:-}}
YAML
}
inv "$WORK/a.yaml"
inv "$WORK/b.yaml" "deploy_hook: [env, APACHE_CONFDIR=@WORK@/apache2, @TOP@/contrib/hooks/apache2]" \
  "deploy_hook: [env, HAPROXY_SOCKET=@WORK@/haproxy.sock, @TOP@/contrib/hooks/haproxy]"
inv "$WORK/c.yaml" "" "" \
  "post_hook: [env, HAPROXY_SOCKET=@WORK@/haproxy.sock, HAPROXY_CLIENT=python3, @TOP@/contrib/hooks/haproxy]"
inv "$WORK/d.yaml" "" "deploy_hook: [env, HAPROXY_SOCKET=@WORK@/absent.sock, HAPROXY_CONF=@WORK@/haproxy.cfg, HAPROXY_PIDFILE=@WORK@/haproxy.pid, @TOP@/contrib/hooks/haproxy]" \
  "" "# no hook"

echo "== issue, then Apache and haproxy serve the certificates"
"$CERTFLEETD" --once -c "$WORK/a.yaml" > "$WORK/run1.log" 2>&1
assert_eq 0 $? "--once issues"
assert_eq "$(cat "$HAP/privkey.pem" "$HAP/fullchain.pem")" "$(cat "$HAP/combined.pem")" "combined.pem is privkey.pem then fullchain.pem"
assert_eq 600 "$(stat -L -c %a "$HAP/combined.pem")" "combined.pem is mode 0600"
[ -e "$APA/combined.pem" ] && fail "apa has a combined.pem" || pass "no combined.pem without combined: true"
apache_start apa "$AP_PORT"
assert_eq 0 $? "Apache starts on 127.0.0.1:$AP_PORT"
haproxy_start "$HAP_PORT" hap hap2
assert_eq 0 $? "haproxy starts on 127.0.0.1:$HAP_PORT"
a1=$(serial "$APA/cert.pem")
h1=$(serial "$HAP/cert.pem")
assert_eq "$a1" "$(served "$AP_PORT" apa.example.com)" "Apache serves the live certificate"
assert_eq "$h1" "$(served "$HAP_PORT" hap.example.com)" "haproxy serves the live combined.pem"
assert_eq "$(serial "$WORK/out/live/hap2/cert.pem")" "$(served "$HAP_PORT" hap2.example.com)" "and hap2's by SNI"
apid=$(cat "$WORK/apache2.pid")
hpid=$(cat "$WORK/haproxy.pid")

# A client that verifies haproxy's certificate against Pebble's roots and
# fetches a page (curl), in a loop until $WORK/loop.stop exists: one line per
# connection in $WORK/loop.log, "ok SERIAL TIME" or "fail TIME why".
# (`openssl s_client -ign_eof` as the client saw 6 of 900 connections end
# after a verified TLS 1.3 handshake with no HTTP answer, some next to a
# commit, some not; curl saw none in over 1000.  Not understood yet.)
pebble_roots
client_loop() {
  local o rc s err=$WORK/loop-$1.err
  while [ ! -e "$WORK/loop.stop" ]; do
    o=$(curl -sS --max-time 10 --cacert "$WORK/pebble/roots.pem" \
          --resolve "hap.example.com:$HAP_PORT:127.0.0.1" -o /dev/null \
          -w '%{http_code} %{certs}' "https://hap.example.com:$HAP_PORT/" 2>"$err")
    rc=$?
    if [ "$rc" = 0 ] && [ "${o%% *}" = 200 ]; then
      # The leaf's serial, upper case without leading zeros as serial_is compares.
      s=$(printf '%s\n' "$o" | sed -n 's/^Serial Number:[[:space:]]*//p' | head -n 1 | tr -d ':' |
          tr a-f A-F | sed 's/^0*//')
      echo "ok $s $(date +%T.%N)" >> "$WORK/loop.log"
    else
      echo "fail $(date +%T.%N) curl status $rc, HTTP ${o%% *}: $(tr '\n' ' ' < "$err")" >> "$WORK/loop.log"
    fi
  done
}
oks() { grep -c '^ok' "$WORK/loop.log" 2>/dev/null || true; }

echo "== --once --force with the hooks, two clients connecting to haproxy all along"
: > "$WORK/loop.log"
client_loop 1 &
echo $! > "$WORK/loop1.pid"
client_loop 2 &
echo $! > "$WORK/loop2.pid"
wait_for "[ \"\$(oks)\" -ge 5 ]" 20 || fail "the client loop does not connect"
"$CERTFLEETD" --once --force -c "$WORK/b.yaml" > "$WORK/run2.log" 2>&1
assert_eq 0 $? "--once --force exits 0"
a2=$(serial "$APA/cert.pem")
h2=$(serial "$HAP/cert.pem")
[ "$a2" != "$a1" ] && [ "$h2" != "$h1" ] && pass "both have new serials in live/" || fail "a serial did not change"
served_is "$HAP_PORT" hap.example.com "$h2"
n=$(oks)
wait_for "[ \"\$(oks)\" -ge $((n + 5)) ]" 20
touch "$WORK/loop.stop"
wait "$(cat "$WORK/loop1.pid")" "$(cat "$WORK/loop2.pid")"
rm -f "$WORK/loop1.pid" "$WORK/loop2.pid"
total=$(grep -c . "$WORK/loop.log")
failed=$(grep -c '^fail' "$WORK/loop.log")
echo "   (client loops: $total connections, $failed failed)"
grep '^fail' "$WORK/loop.log" | sed 's/^/    | /'
assert_eq 0 "$failed" "no failed connection to haproxy during the renewal ($total made)"
nozero() { printf '%s' "$1" | sed 's/^0*//'; }
assert_contains "$WORK/loop.log" "^ok $(nozero "$h1") " "the loop saw the old certificate"
assert_contains "$WORK/loop.log" "^ok $(nozero "$h2") " "and the new one, verified against Pebble's roots"
assert_eq "$h2" "$(served "$HAP_PORT" hap.example.com)" "haproxy serves the renewed certificate"
assert_contains "$WORK/run2.log" "deploy hook for hap: haproxy: updated $HAP/combined.pem through $WORK/haproxy.sock" "it names the certificate it updated"
assert_contains "$WORK/run2.log" "hap2: deploy hook succeeded" "hap2's hook, run beside hap's, succeeded too"
h2b=$(serial "$WORK/out/live/hap2/cert.pem")
served_is "$HAP_PORT" hap2.example.com "$h2b"
assert_eq "$h2b" "$(served "$HAP_PORT" hap2.example.com)" "haproxy serves hap2's renewed certificate"
assert_eq "$hpid" "$(cat "$WORK/haproxy.pid")" "haproxy's pid file unchanged"
kill -0 "$hpid" 2>/dev/null && pass "the same haproxy process runs" || fail "haproxy $hpid is gone"
assert_eq 1 "$(pgrep -c -f "haproxy -D -f $WORK/haproxy.cfg")" "no second haproxy (no reload)"
served_is "$AP_PORT" apa.example.com "$a2"
assert_eq "$a2" "$(served "$AP_PORT" apa.example.com)" "Apache serves the renewed certificate"
assert_contains "$WORK/run2.log" "deploy hook for apa: apache2: configuration ok, graceful restart signalled" "the apache2 hook tested and restarted Apache"
assert_eq "$apid" "$(cat "$WORK/apache2.pid")" "the same Apache parent (graceful)"
assert_contains "$WORK/run2.log" "apa: deploy hook succeeded" "the daemon logs the apache2 hook's success"

echo "== the haproxy hook as post_hook, through python3"
"$CERTFLEETD" --once --force -c "$WORK/c.yaml" > "$WORK/run3.log" 2>&1
assert_eq 0 $? "--once --force exits 0"
h3=$(serial "$HAP/cert.pem")
assert_contains "$WORK/run3.log" "post hook: haproxy: updated $HAP/combined.pem through $WORK/haproxy.sock" "the post hook found haproxy's certificate for the renewed name"
assert_contains "$WORK/run3.log" "post hook: haproxy: updated $WORK/out/live/hap2/combined.pem through" "and hap2's"
assert_contains "$WORK/run3.log" "post hook succeeded" "and succeeded"
served_is "$HAP_PORT" hap.example.com "$h3"
assert_eq "$h3" "$(served "$HAP_PORT" hap.example.com)" "haproxy serves it"
assert_eq "$hpid" "$(cat "$WORK/haproxy.pid")" "still the same haproxy"

echo "== without the stats socket: the hook reloads haproxy"
"$CERTFLEETD" --once --force -c "$WORK/d.yaml" > "$WORK/run4.log" 2>&1
assert_eq 0 $? "--once --force exits 0"
h4=$(serial "$HAP/cert.pem")
assert_contains "$WORK/run4.log" "haproxy: no socket $WORK/absent.sock; reloaded haproxy" "the hook says it reloaded"
served_is "$HAP_PORT" hap.example.com "$h4"
assert_eq "$h4" "$(served "$HAP_PORT" hap.example.com)" "the new haproxy serves the renewed certificate"
[ "$(cat "$WORK/haproxy.pid")" != "$hpid" ] && pass "a new haproxy process" || fail "haproxy's pid did not change"
wait_for "! kill -0 $hpid 2>/dev/null" 10 && pass "the old one finished" || fail "the old haproxy $hpid still runs"

finish
