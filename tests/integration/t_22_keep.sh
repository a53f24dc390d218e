#!/bin/bash
# An issued certificate is never thrown away (issue 7, section 1):
# (a) a foreign live/NAME (a certbot lineage's directory) fails the
#     preflight with no order sent; (b) so does a deploy hook that does not
#     exist or is not executable; (c) a certificate whose installation fails
#     after issuance (output_dir on a full tmpfs: ENOSPC stops root too, where
#     permissions would not) is held as "issued, not installed", status says
#     so, and once the disk has room the next run installs it with no new
#     order.
. "$(dirname "$0")/lib.sh"
setup

write_inv() { # FILE OUTDIR HOOK
  inventory "$1" <<YAML
state_dir: @WORK@/state
output_dir: $2
http01_listen: "127.0.0.1:@HTTP01_PORT@"
accounts:
  pebble:
    directory: @DIR_URL@
    contact: mailto:it@example.com
    ca_bundle: @CA@
    eab: {kid: @EAB_KID@, hmac_key_file: @EAB_KEY_FILE@}
defaults:
  account: pebble
certificates:
  - name: legacy
    domains: [legacy.example.com]
    combined: true
    deploy_hook: [$3]
YAML
}
printf '#!/bin/sh\ntouch "%s/deployed"\n' "$WORK" > "$WORK/hook"
chmod +x "$WORK/hook"

echo "== (a) output_dir holds a foreign live/legacy: no order"
# A hand-made directory of files (not certbot's links, which would be
# adopted: t_70_certbot).
mkdir -p "$WORK/out-a/live/legacy"
for f in cert chain fullchain privkey; do
  echo old > "$WORK/out-a/live/legacy/$f.pem"
done
write_inv "$WORK/a.yaml" "$WORK/out-a" "$WORK/hook"
"$CERTFLEETD" --once -c "$WORK/a.yaml" > "$WORK/a.log" 2>&1
assert_eq 1 $? "--once fails"
assert_contains "$WORK/a.log" "legacy: not ordering: $WORK/out-a/live/legacy exists and is not a symbolic link made by certfleet" "the preflight names the certificate and the path"
assert_eq 0 "$(count new-order)" "Pebble saw no order"
assert_eq 1 "$(grep -c 'not ordering' "$WORK/a.log")" "logged once"
assert_contains "$WORK/state/certs/legacy/state.json" '"failures":[[:space:]]*1,' "recorded as the certificate's failure"
assert_eq "old" "$(cat "$WORK/out-a/live/legacy/cert.pem")" "the foreign lineage is untouched"

echo "== (b) a deploy hook that does not exist, then one not executable: no order"
write_inv "$WORK/b.yaml" "$WORK/out-b" "$WORK/no-such-hook"
"$CERTFLEETD" --once -c "$WORK/b.yaml" > "$WORK/b1.log" 2>&1
assert_eq 1 $? "--once fails (missing hook)"
assert_contains "$WORK/b1.log" "legacy: not ordering: deploy hook $WORK/no-such-hook: No such file or directory" "missing hook named"
cp "$WORK/hook" "$WORK/noexec-hook"
chmod -x "$WORK/noexec-hook"
write_inv "$WORK/b.yaml" "$WORK/out-b" "$WORK/noexec-hook"
"$CERTFLEETD" --once -c "$WORK/b.yaml" > "$WORK/b2.log" 2>&1
assert_eq 1 $? "--once fails (hook not executable)"
assert_contains "$WORK/b2.log" "legacy: not ordering: deploy hook $WORK/noexec-hook: not executable" "non-executable hook named"
assert_eq 0 "$(count new-order)" "still no order"
[ -e "$WORK/out-b" ] && fail "output_dir created by a failed preflight" || pass "nothing created in output_dir"

echo "== (c) installation fails after issuance: held, then installed without an order"
mkdir -p "$WORK/out-c"
if ! mount -t tmpfs -o size=256k tmpfs "$WORK/out-c" 2>"$WORK/mount.err"; then
  cat "$WORK/mount.err"
  fail "cannot mount a tmpfs (needs root): part (c) not run"
  finish
fi
trap 'rc=$?; umount "$WORK/out-c" 2>/dev/null; (exit $rc); _cleanup' EXIT
# Fill it: the preflight passes (the directory is writable, live/legacy
# absent), the first certificate file cannot be written.
dd if=/dev/zero of="$WORK/out-c/filler" bs=4k 2>/dev/null
write_inv "$WORK/c.yaml" "$WORK/out-c" "$WORK/hook"
"$CERTFLEETD" --once -c "$WORK/c.yaml" > "$WORK/c1.log" 2>&1
assert_eq 1 $? "--once fails: the disk is full"
assert_eq 1 "$(count new-order)" "one order"
assert_contains "$WORK/c1.log" "No space left on device" "the ENOSPC is logged"
assert_contains "$WORK/c1.log" "legacy: certificate [0-9A-F]+ issued, not installed; held in $WORK/state/certs/legacy/held.pem" "log says it is held"
assert_file "$WORK/state/certs/legacy/held.pem" "held.pem kept"
assert_eq 600 "$(stat -c %a "$WORK/state/certs/legacy/held-key.pem" 2>/dev/null)" "held key is 0600"
[ -e "$WORK/state/certs/legacy/order-key.pem" ] && fail "order key still there" || pass "the order is forgotten once the certificate is held"
"$CERTFLEETCTL" -c "$WORK/c.yaml" status > "$WORK/status.txt" 2>&1
assert_contains "$WORK/status.txt" "legacy .*issued, not installed" "status says issued, not installed"
"$CERTFLEETCTL" -c "$WORK/c.yaml" show legacy > "$WORK/show.txt" 2>&1
assert_contains "$WORK/show.txt" "^held: +issued, not installed: serial [0-9A-F]+" "show says issued, not installed"
"$CERTFLEETCTL" -c "$WORK/c.yaml" status --json > "$WORK/status.json" 2>&1
assert_contains "$WORK/status.json" '"status":[[:space:]]*"issued, not installed"' "status --json has held"
held_serial=$(openssl x509 -in "$WORK/state/certs/legacy/held.pem" -noout -serial | cut -d= -f2)

echo "   still full: a second run installs nothing and orders nothing"
"$CERTFLEETD" --once -c "$WORK/c.yaml" > "$WORK/c2.log" 2>&1
assert_eq 1 $? "second --once fails again"
assert_contains "$WORK/c2.log" "installing the held certificate" "it tries the held certificate"
assert_contains "$WORK/c2.log" "the certificate stays held" "and keeps it"
assert_eq 1 "$(count new-order)" "no new order while it is held"

echo "   room again: installed, no new order"
rm -f "$WORK/out-c/filler"
"$CERTFLEETD" --once -c "$WORK/c.yaml" > "$WORK/c3.log" 2>&1
assert_eq 0 $? "third --once exits 0"
assert_eq 1 "$(count new-order)" "still one order"
verify_live "$WORK/out-c" legacy
assert_eq "$held_serial" "$(openssl x509 -in "$WORK/out-c/live/legacy/cert.pem" -noout -serial | cut -d= -f2)" "the held certificate is the one installed"
assert_eq "$held_serial" "$(openssl x509 -in "$WORK/out-c/live/legacy/combined.pem" -noout -serial | cut -d= -f2)" "its combined.pem is installed with it"
assert_file "$WORK/deployed" "the deploy hook ran"
[ -e "$WORK/state/certs/legacy/held.pem" ] && fail "held.pem left behind" || pass "held copy removed after installation"
"$CERTFLEETCTL" -c "$WORK/c.yaml" status > "$WORK/status2.txt" 2>&1
assert_not_contains "$WORK/status2.txt" "not installed" "status no longer says held"

echo "== a held certificate that no longer matches the inventory is moved aside, not deleted"
dd if=/dev/zero of="$WORK/out-c/filler" bs=4k 2>/dev/null
sed -i 's/domains: \[legacy.example.com\]/domains: [legacy.example.com, more.example.com]/' "$WORK/c.yaml"
"$CERTFLEETD" --once -c "$WORK/c.yaml" > "$WORK/c4.log" 2>&1
assert_eq 2 "$(count new-order)" "names changed: one new order"
assert_file "$WORK/state/certs/legacy/held.pem" "the new certificate is held (disk full again)"
rm -f "$WORK/out-c/filler"
sed -i 's/domains: \[legacy.example.com, more.example.com\]/domains: [legacy.example.com, other.example.com]/' "$WORK/c.yaml"
"$CERTFLEETD" --once -c "$WORK/c.yaml" > "$WORK/c5.log" 2>&1
assert_eq 0 $? "names changed again: --once exits 0"
assert_contains "$WORK/c5.log" "the held certificate cannot be used .*moved to $WORK/state/certs/legacy/unusable-" "the held one is moved aside with a reason"
assert_eq 1 "$(ls "$WORK"/state/certs/legacy/unusable-*[0-9].pem 2>/dev/null | wc -l)" "kept as unusable-*.pem"
assert_eq 1 "$(ls "$WORK"/state/certs/legacy/unusable-*-key.pem 2>/dev/null | wc -l)" "with its key"
assert_eq 3 "$(count new-order)" "and a new order made"
assert_eq "legacy.example.com other.example.com" "$(sans "$WORK/out-c/live/legacy/cert.pem")" "the new names are installed"

echo "== the daemon: held while the disk is full, installed by certfleetctl renew"
dd if=/dev/zero of="$WORK/out-c/filler" bs=4k 2>/dev/null
{
  cat "$WORK/c.yaml"
  echo "control_socket: $WORK/run/ctl.sock"
} > "$WORK/d.yaml"
sed -i 's/domains: \[legacy.example.com, other.example.com\]/domains: [legacy.example.com, daemon.example.com]/' "$WORK/d.yaml"
orders=$(count new-order)
"$CERTFLEETD" -c "$WORK/d.yaml" > "$WORK/daemon.log" 2>&1 &
DAEMON_PID=$!
dctl() { "$CERTFLEETCTL" -c "$WORK/d.yaml" "$@"; }
wait_for "grep -q 'issued, not installed; held' '$WORK/daemon.log'" 60 || fail "the daemon did not hold the certificate"
wait_for "dctl status 2>/dev/null | grep -q 'issued, not installed'" 10 || fail "status from the daemon does not say held"
assert_contains <(dctl status --json 2>/dev/null) '"source":[[:space:]]*"daemon"' "that status came from the daemon"
assert_eq $((orders + 1)) "$(count new-order)" "one order"
rm -f "$WORK/out-c/filler"
dctl renew legacy > "$WORK/renew.out" 2>&1
wait_for "grep -q 'legacy: installed certificate' '$WORK/daemon.log'" 30 || fail "the held certificate was not installed"
assert_eq $((orders + 1)) "$(count new-order)" "installed without a new order"
assert_eq "daemon.example.com legacy.example.com" "$(sans "$WORK/out-c/live/legacy/cert.pem")" "the held certificate is live"
wait_for "! dctl status 2>/dev/null | grep -q 'not installed'" 10 && pass "status no longer says held" || fail "status still says held"
echo "   the deploy hook removed while the daemon runs: a forced renewal orders nothing"
wait_for "grep -q 'legacy: deploy hook succeeded' '$WORK/daemon.log'" 30 || fail "deploy hook did not finish"
mv "$WORK/hook" "$WORK/hook.away"
dctl renew legacy --force > "$WORK/renew2.out" 2>&1
wait_for "grep -q 'legacy: not ordering: deploy hook $WORK/hook: No such file or directory' '$WORK/daemon.log'" 30 && pass "preflight failure logged by the daemon" || fail "no preflight failure in the daemon log"
assert_eq $((orders + 1)) "$(count new-order)" "no order for a certificate whose hook is gone"
mv "$WORK/hook.away" "$WORK/hook"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
assert_eq 0 $? "daemon stops cleanly"
DAEMON_PID=""
umount "$WORK/out-c"

finish
