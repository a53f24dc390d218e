#!/bin/bash
# The nginx hook (contrib/hooks/nginx) against the real nginx (Debian's
# nginx-light), started by the test on a free loopback port with its own
# configuration and pid file: certfleetd --once issues from Pebble, nginx is
# started on it, `--once --force` renews with the hook as post_hook and
# nginx serves the new serial; then a broken nginx configuration: the hook's
# `nginx -t` fails (the daemon logs nginx's message and the failure), nginx
# is not reloaded and still serves the previous certificate while live/ has
# the new one.
. "$(dirname "$0")/lib.sh"
# shellcheck source=webservers-lib.sh
. "$(dirname "$0")/webservers-lib.sh"

command -v nginx >/dev/null || { echo "t_97_nginx.sh: nginx is not installed (apt-get install nginx-light)"; exit 1; }
setup

PORT=$(free_port)
LIVE=$WORK/out/live/ngx

echo "== issue, then nginx serves the certificate"
inventory "$WORK/a.yaml" <<YAML
$INV_HEAD
certificates:
  - name: ngx
    domains: [ngx.example.com]
YAML
# The same with the hook: nginx runs only once there is a certificate.
inventory "$WORK/b.yaml" <<YAML
$INV_HEAD
post_hook: [env, "NGINX_CONF=@WORK@/nginx/nginx.conf", "NGINX_OPTS=-p @WORK@/nginx -e @WORK@/nginx/error.log", @TOP@/contrib/hooks/nginx]
certificates:
  - name: ngx
    domains: [ngx.example.com]
YAML
"$CERTFLEETD" --once -c "$WORK/a.yaml" > "$WORK/run1.log" 2>&1
assert_eq 0 $? "--once issues"
nginx_start ngx "$PORT"
assert_eq 0 $? "nginx starts on 127.0.0.1:$PORT"
s1=$(serial "$LIVE/cert.pem")
assert_eq "$s1" "$(served "$PORT" ngx.example.com)" "nginx serves the live certificate"
pid1=$(cat "$WORK/nginx.pid")

echo "== --once --force: the post hook tests and reloads nginx"
"$CERTFLEETD" --once --force -c "$WORK/b.yaml" > "$WORK/run2.log" 2>&1
assert_eq 0 $? "--once --force exits 0"
s2=$(serial "$LIVE/cert.pem")
[ -n "$s2" ] && [ "$s2" != "$s1" ] && pass "live/ has a new serial" || fail "live serial unchanged ($s1)"
assert_contains "$WORK/run2.log" "post hook: nginx: configuration ok, reload signalled" "the hook tested the configuration and signalled nginx"
assert_contains "$WORK/run2.log" "post hook succeeded" "the daemon logs the hook's success"
served_is "$PORT" ngx.example.com "$s2"
assert_eq "$s2" "$(served "$PORT" ngx.example.com)" "nginx serves the renewed certificate"
assert_eq "$pid1" "$(cat "$WORK/nginx.pid")" "the same nginx master (a reload, not a restart)"
assert_not_contains "$NG/error.log" "\[emerg\]|\[crit\]" "nginx reloaded without errors"

echo "== a broken configuration: the hook fails, nginx keeps the old certificate"
cp "$NG/nginx.conf" "$NG/nginx.conf.good"
echo "garbage here;" >> "$NG/nginx.conf"
"$CERTFLEETD" --once --force -c "$WORK/b.yaml" > "$WORK/run3.log" 2>&1
assert_eq 0 $? "--once --force exits 0 (the certificate is installed; the hook is logged)"
s3=$(serial "$LIVE/cert.pem")
[ -n "$s3" ] && [ "$s3" != "$s2" ] && pass "live/ has the newest serial" || fail "live serial unchanged ($s2)"
assert_contains "$WORK/run3.log" "post hook: nginx: \[emerg\] unknown directive \"garbage\"" "nginx's own message is in the daemon's log"
assert_contains "$WORK/run3.log" "post hook: nginx: the configuration test failed; nginx not reloaded" "the hook says it did not reload"
assert_contains "$WORK/run3.log" "post hook exited with status 1" "the daemon logs the hook as failed"
sleep 1
assert_eq "$s2" "$(served "$PORT" ngx.example.com)" "nginx still serves the previous certificate"
kill -0 "$pid1" 2>/dev/null && pass "nginx still runs" || fail "nginx died"

echo "== fixed again: the next renewal is served"
cp "$NG/nginx.conf.good" "$NG/nginx.conf"
"$CERTFLEETD" --once --force -c "$WORK/b.yaml" > "$WORK/run4.log" 2>&1
assert_eq 0 $? "--once --force exits 0"
s4=$(serial "$LIVE/cert.pem")
assert_contains "$WORK/run4.log" "post hook succeeded" "the hook succeeds"
served_is "$PORT" ngx.example.com "$s4"
assert_eq "$s4" "$(served "$PORT" ngx.example.com)" "nginx serves the newest certificate"

echo "== as post hook after a batch of failures only: nothing to reload"
out=$(env CERTFLEET_RENEWED= CERTFLEET_FAILED=ngx NGINX_CONF="$NG/nginx.conf" \
  NGINX_OPTS="-p $NG -e $NG/error.log" "$TOP/contrib/hooks/nginx" 2>&1)
assert_eq 0 $? "the hook exits 0"
assert_eq "nginx: no certificate renewed in this batch; nginx not reloaded" "$out" "and says why it did nothing"

finish
