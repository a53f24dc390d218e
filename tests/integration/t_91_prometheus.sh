#!/bin/bash
# Alerts (issue 9, section 2): contrib/prometheus/certfleet-alerts.yml
# passes `promtool check rules` and its own unit tests
# (certfleet-alerts.test.yml, `promtool test rules`); then a real
# Prometheus (Debian's prometheus, on a free loopback port, its own config
# and storage, scraping and evaluating every second, a copy of the rules
# with every `for:` cut to 2 s) scrapes a running certfleetd.  Through
# Prometheus' HTTP API: the series arrive with their labels, an alert
# fires for a certificate Pebble refuses (PEBBLE_BLOCKLIST) and none for
# the issued one, and CertfleetDown fires once the daemon is gone.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/metrics-lib.sh"
export PEBBLE_BLOCKLIST=blocked.example.com
setup
command -v prometheus >/dev/null && command -v promtool >/dev/null ||
  { fail "prometheus or promtool missing (Debian package prometheus)"; finish; }
RULES=$TOP/contrib/prometheus

echo "== the shipped rules and their unit tests"
promtool check rules "$RULES/certfleet-alerts.yml" > "$WORK/check-rules.log" 2>&1
assert_eq 0 $? "promtool check rules certfleet-alerts.yml"
(cd "$RULES" && promtool test rules certfleet-alerts.test.yml) > "$WORK/test-rules.log" 2>&1
rc=$?
assert_eq 0 "$rc" "promtool test rules certfleet-alerts.test.yml"
[ "$rc" = 0 ] || sed 's/^/    | /' "$WORK/test-rules.log" | head -n 40

echo "== a certfleetd scraped by a real Prometheus"
MPORT=$(free_port)
inventory "$WORK/inv.yaml" <<YAML
state_dir: @WORK@/state
output_dir: @WORK@/out
http01_listen: "127.0.0.1:@HTTP01_PORT@"
control_socket: @WORK@/ctl.sock
metrics_listen: "127.0.0.1:$MPORT"
accounts:
  pebble:
    directory: @DIR_URL@
    contact: mailto:it@example.com
    ca_bundle: @CA@
    eab: {kid: @EAB_KID@, hmac_key_file: @EAB_KEY_FILE@}
certificates:
  - {name: www, domains: [www.example.com]}
  - {name: bad, domains: [blocked.example.com]}
YAML
"$CERTFLEETD" -c "$WORK/inv.yaml" > "$WORK/d.log" 2>&1 &
DAEMON_PID=$!

P=$WORK/prom
mkdir -p "$P/data"
sed -E 's/^( *for: ).*/\12s/' "$RULES/certfleet-alerts.yml" > "$P/rules.yml"
cat > "$P/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [$P/rules.yml]
scrape_configs:
  - job_name: certfleet
    static_configs:
      - targets: ["127.0.0.1:$MPORT"]
YAML
PPORT=$(free_port)
PURL=http://127.0.0.1:$PPORT
prometheus --config.file="$P/prometheus.yml" --storage.tsdb.path="$P/data" \
  --web.listen-address="127.0.0.1:$PPORT" --storage.tsdb.retention.time=1h \
  > "$P/prometheus.log" 2>&1 < /dev/null &
echo $! > "$WORK/prometheus.pid"

# q PROMQL: the query's instant result as lines "name label=value... value".
q() {
  curl --noproxy '*' -sf --max-time 5 --data-urlencode "query=$1" "$PURL/api/v1/query" |
    python3 -c '
import json, sys
d = json.load(sys.stdin)
for r in d["data"]["result"]:
    m = dict(r["metric"])
    name = m.pop("__name__", "")
    print(name, " ".join("%s=%s" % kv for kv in sorted(m.items())), r["value"][1])'
}
# alerts STATE: "alertname name" of each alert in that state, sorted.
alerts() {
  curl --noproxy '*' -sf --max-time 5 "$PURL/api/v1/alerts" | python3 -c '
import json, sys
for a in json.load(sys.stdin)["data"]["alerts"]:
    if a["state"] == sys.argv[1]:
        print(a["labels"]["alertname"], a["labels"].get("name", "-"))' "$1" | sort
}

wait_for "curl --noproxy '*' -sf --max-time 2 -o /dev/null $PURL/-/ready" 60 ||
  { tail -n 20 "$P/prometheus.log"; fail "Prometheus not ready"; finish; }
pass "Prometheus ready on 127.0.0.1:$PPORT"
wait_for "grep -q 'www: installed certificate' $WORK/d.log && grep -q 'bad: attempt 1 failed' $WORK/d.log" 90 ||
  fail "www not issued or bad not failed in time"

wait_for "q 'up{job=\"certfleet\"} == 1' | grep -q ." 30 || fail "target never up"
assert_eq "up instance=127.0.0.1:$MPORT job=certfleet 1" "$(q 'up{job="certfleet"}')" "the target is up"
wait_for "q 'certfleet_certificate_ready{name=\"www\"} == 1' | grep -q ." 30 || true
assert_eq "certfleet_certificate_ready account=pebble instance=127.0.0.1:$MPORT job=certfleet key_type=ec-p256 name=www 1" \
  "$(q 'certfleet_certificate_ready{name="www"}')" "www ready, with its labels, in Prometheus"
assert_eq "0" "$(q 'certfleet_certificate_ready{name="bad"}' | awk '{print $NF}')" "bad not ready in Prometheus"
exp=$(q 'certfleet_certificate_expiration_timestamp_seconds{name="www"}' | awk '{print $NF}')
assert_eq "$(epoch_of_cert "$WORK/out/live/www/cert.pem" enddate)" "$exp" "expiry in Prometheus equals notAfter"
assert_eq "1" "$(q 'sum(certfleet_acme_requests_total{endpoint="finalize",code="200"})' | awk '{print $NF}')" \
  "the finalize counted in Prometheus"
n=$(q 'certfleet_acme_request_duration_seconds_count{endpoint="newOrder"}' | awk '{print $NF}')
[ "${n:-0}" -ge 2 ] && pass "newOrder durations in Prometheus ($n)" || fail "newOrder histogram count '$n'"

wait_for "alerts firing | grep -q 'CertfleetRenewalFailing bad'" 30 || true
firing=$(alerts firing | tr '\n' ';')
case $firing in *"CertfleetRenewalFailing bad;"*) pass "CertfleetRenewalFailing fires for bad" ;;
  *) fail "CertfleetRenewalFailing not firing for bad (firing: $firing)" ;; esac
wait_for "alerts firing | grep -q 'CertfleetCertificateNotReady bad'" 30 || true
firing=$(alerts firing | tr '\n' ';')
case $firing in *"CertfleetCertificateNotReady bad;"*) pass "CertfleetCertificateNotReady fires for bad" ;;
  *) fail "CertfleetCertificateNotReady not firing for bad (firing: $firing)" ;; esac
case $firing in *" www;"*) fail "an alert fires for www: $firing" ;;
  *) pass "no alert for the issued certificate" ;; esac
case $firing in *CertfleetDown*|*CertfleetAbsent*) fail "daemon alerts while it is up: $firing" ;;
  *) pass "no daemon alert while it is scraped" ;; esac

echo "== the daemon stops: CertfleetDown fires"
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID"; DAEMON_PID=""
wait_for "alerts firing | grep -q 'CertfleetDown'" 30 || true
assert_contains <(alerts firing) "^CertfleetDown -$" "CertfleetDown fires once nothing answers"
finish
