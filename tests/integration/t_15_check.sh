#!/bin/bash
# certfleetd --check as an operator meets it, and what the daemon does with
# the same mistakes at start: the answer is plain text (no timestamp or pid),
# counts are singular or plural; hooks that do not exist or are written as
# one string with spaces, a state_dir that is a file, an inventory that is a
# FIFO (under timeout: a regression fails instead of hanging), a domain
# written as a URL and a tab in the YAML are refused with FILE:LINE:COL and
# exit 78.  Then the temporary files a crash leaves (state, archive, the
# live switch link) are swept at the next start, with one line and a count,
# and nothing that only looks like them.
. "$(dirname "$0")/lib.sh"
setup

cat > "$WORK/hook" <<'SH'
#!/bin/sh
exit 0
SH
chmod +x "$WORK/hook"

write_inv() { # extra top-level line (or "")
  {
    printf '%s\n' "$1"
    cat <<'YAML'
state_dir: @WORK@/state
output_dir: @WORK@/out
control_socket: @WORK@/ctl.sock
http01_listen: "127.0.0.1:@HTTP01_PORT@"
accounts:
  pebble:
    directory: @DIR_URL@
    contact: mailto:it@example.com
    ca_bundle: @CA@
    eab: {kid: @EAB_KID@, hmac_key_file: @EAB_KEY_FILE@}
certificates:
  - name: web
    domains: [web.example.com]
    deploy_hook: [@WORK@/hook]
YAML
  } | inventory "$WORK/inv.yaml"
}

# check: runs --check on inv.yaml; stdout in check.out, stderr in check.err.
check() {
  timeout 20 "$CERTFLEETD" --check -c "${1:-$WORK/inv.yaml}" > "$WORK/check.out" 2> "$WORK/check.err"
}

echo "== a good inventory: one plain answer line, singular counts"
write_inv ""
check
assert_eq 0 $? "--check exits 0"
assert_eq "$WORK/inv.yaml: OK (1 account, 1 certificate)" "$(cat "$WORK/check.out")" "the answer, exactly"
assert_eq "" "$(cat "$WORK/check.err")" "nothing on stderr"
sed 's/^certificates:$/&\n  - {name: two, domains: [two.example.com]}/' "$WORK/inv.yaml" > "$WORK/two.yaml"
chmod 600 "$WORK/two.yaml"
check "$WORK/two.yaml"
assert_eq "$WORK/two.yaml: OK (1 account, 2 certificates)" "$(cat "$WORK/check.out")" "plural for two"

echo "== hooks"
write_inv "post_hook: [@WORK@/no-such-hook]"
check
assert_eq 78 $? "a missing post hook: exit 78"
assert_eq "certfleetd: $WORK/inv.yaml:1:13: post_hook[0]: program '$WORK/no-such-hook' does not exist" \
  "$(cat "$WORK/check.err")" "named with its position, without a log prefix"
write_inv "post_hook: systemctl reload nginx"
check
assert_eq 78 $? "a hook as one string with spaces: exit 78"
assert_contains "$WORK/check.err" "^certfleetd: $WORK/inv\.yaml:1:12: post_hook: 'systemctl reload nginx' is one string with spaces, but hooks run without a shell; write the program and its arguments as a list: \[systemctl, reload, nginx\]$" \
  "and says to write it as a list"
write_inv "post_hook: [no-such-program-certfleet]"
check
assert_eq 78 $? "a bare name not in PATH: exit 78"
assert_contains "$WORK/check.err" "post_hook\[0\]: program 'no-such-program-certfleet' is not in PATH" "says so"
write_inv "post_hook: [true]"
check
assert_eq 0 $? "a bare name in PATH is fine"
chmod -x "$WORK/hook"
write_inv ""
check
assert_eq 78 $? "a deploy hook without the x bit: exit 78"
assert_contains "$WORK/check.err" "inv\.yaml:[0-9]+:[0-9]+: certificates\[0\]\.deploy_hook\[0\]: program '$WORK/hook' is not executable" "names the certificate's hook"
timeout 20 "$CERTFLEETD" --once -c "$WORK/inv.yaml" > "$WORK/once-hook.log" 2>&1
assert_eq 1 $? "--once fails that certificate (one broken hook does not stop the daemon)"
assert_contains "$WORK/once-hook.log" "not ordering: .*$WORK/hook: not executable" "its preflight says why"
assert_eq 0 "$(count new-order)" "no order was sent"
chmod +x "$WORK/hook"

echo "== directories"
write_inv "" && sed -i "s|^state_dir: .*|state_dir: /etc/hostname|" "$WORK/inv.yaml"
check
assert_eq 78 $? "state_dir that is a file: --check exits 78"
assert_eq "certfleetd: $WORK/inv.yaml:2:12: state_dir: '/etc/hostname' exists and is not a directory" \
  "$(cat "$WORK/check.err")" "with its position"
timeout 20 "$CERTFLEETD" --once -c "$WORK/inv.yaml" > "$WORK/once-state.log" 2>&1
assert_eq 78 $? "and the daemon exits 78 at start (not 69)"
assert_contains "$WORK/once-state.log" "inv\.yaml:2:12: state_dir: '/etc/hostname' exists and is not a directory" "with the same position"
write_inv "" && sed -i "s|^output_dir: .*|output_dir: /etc/hostname/certs|" "$WORK/inv.yaml"
check
assert_eq 78 $? "output_dir under a file: exit 78"
assert_contains "$WORK/check.err" "output_dir: cannot create '/etc/hostname/certs': '/etc/hostname' is not a directory" "names the file in the way"
write_inv "" && sed -i "s|^control_socket: .*|control_socket: /etc/hostname/ctl.sock|" "$WORK/inv.yaml"
check
assert_eq 78 $? "control socket under a file: exit 78"

echo "== a FIFO as the inventory"
mkfifo "$WORK/fifo.yaml"
check "$WORK/fifo.yaml"
assert_eq 78 $? "--check on a FIFO returns 78 at once (124 would be a hang)"
assert_eq "certfleetd: $WORK/fifo.yaml: cannot read: not a regular file (a FIFO)" "$(cat "$WORK/check.err")" "and says what it is"
timeout 20 "$CERTFLEETD" -c "$WORK/fifo.yaml" > "$WORK/daemon-fifo.log" 2>&1
assert_eq 78 $? "the daemon too"

echo "== domains and YAML"
write_inv "" && sed -i "s|\[web.example.com\]|[https://api.example.org]|" "$WORK/inv.yaml"
check
assert_eq 78 $? "a URL as a domain: exit 78"
assert_contains "$WORK/check.err" "domains\[0\]: 'https://api.example.org' looks like a URL; write the host name only \(api.example.org\)$" "says to write the host name"
write_inv "" && sed -i "s|^  - name: web$|\t- name: web|" "$WORK/inv.yaml"
check
assert_eq 78 $? "a tab: exit 78"
assert_contains "$WORK/check.err" "inv\.yaml:[0-9]+:1: YAML syntax error: tab characters are not allowed for indentation" "names the tab"
write_inv "max_inflight: 1.5"
check
assert_contains "$WORK/check.err" "max_inflight: expected an integer, got 1.5, a decimal$" "a decimal is a decimal"

echo "== temporaries left by a crash are swept at start"
write_inv ""
"$CERTFLEETD" --once -c "$WORK/inv.yaml" > "$WORK/run1.log" 2>&1
assert_eq 0 $? "first --once issues the certificate"
assert_not_contains "$WORK/run1.log" "temporary file" "nothing to sweep on a fresh store"
# What kill -9 leaves between create and rename, named as the code names it.
touch "$WORK/state/certs/web/.state.json.tmp.0a1b2c3d4e5f" \
      "$WORK/state/accounts/pebble/.key.pem.tmp.ffffffffffff" \
      "$WORK/out/archive/web/.privkey2.pem.tmp.123456abcdef"
ln -s ../archive/web/.live2 "$WORK/out/live/.web.tmp"
# Look-alikes that are not ours.
touch "$WORK/state/certs/web/.state.json.tmp.0A1B2C3D4E5F" "$WORK/state/certs/web/state.json.tmp.0a1b2c3d4e5f" \
      "$WORK/out/archive/web/.privkey2.pem.tmp" "$WORK/out/live/.web.tmp.keep"
mkdir "$WORK/out/archive/web/.cert2.pem.tmp.0a1b2c3d4e5f"
"$CERTFLEETD" --once -c "$WORK/inv.yaml" > "$WORK/run2.log" 2>&1
assert_eq 0 $? "second --once exits 0"
assert_eq 1 "$(grep -c 'removed 4 temporary files left by an interrupted write' "$WORK/run2.log")" "one line with the count"
for f in state/certs/web/.state.json.tmp.0a1b2c3d4e5f state/accounts/pebble/.key.pem.tmp.ffffffffffff \
         out/archive/web/.privkey2.pem.tmp.123456abcdef out/live/.web.tmp; do
  if [ -e "$WORK/$f" ] || [ -L "$WORK/$f" ]; then fail "$f was not removed"; else pass "$f removed"; fi
done
for f in state/certs/web/.state.json.tmp.0A1B2C3D4E5F state/certs/web/state.json.tmp.0a1b2c3d4e5f \
         out/archive/web/.privkey2.pem.tmp out/live/.web.tmp.keep out/archive/web/.cert2.pem.tmp.0a1b2c3d4e5f; do
  assert_file "$WORK/$f" "look-alike $f kept"
done
assert_eq "../archive/web/.live1" "$(readlink "$WORK/out/live/web")" "live/web untouched"
assert_eq 1 "$(count new-order)" "the sweep ordered nothing"

echo "== the daemon sweeps after READY=1, in the background"
touch "$WORK/state/certs/web/.state.json.tmp.00aa11bb22cc" \
      "$WORK/out/archive/web/.privkey2.pem.tmp.00aa11bb22cc"
ln -s ../archive/web/.live2 "$WORK/out/live/.web.tmp"
"$CERTFLEETD" -c "$WORK/inv.yaml" > "$WORK/run3.log" 2>&1 &
DPID=$!
wait_for "grep -q 'temporary file' '$WORK/run3.log'" 20 || fail "no sweep line within 20 s"
kill -TERM "$DPID"; wait "$DPID"
assert_eq 0 $? "the daemon stops cleanly"
assert_eq 1 "$(grep -c 'removed 3 temporary files left by an interrupted write' "$WORK/run3.log")" "one line with the count"
for f in state/certs/web/.state.json.tmp.00aa11bb22cc out/archive/web/.privkey2.pem.tmp.00aa11bb22cc out/live/.web.tmp; do
  if [ -e "$WORK/$f" ] || [ -L "$WORK/$f" ]; then fail "$f was not removed"; else pass "$f removed"; fi
done
assert_file "$WORK/state/certs/web/.state.json.tmp.0A1B2C3D4E5F" "look-alike kept by the daemon too"
assert_eq 1 "$(count new-order)" "the daemon's sweep ordered nothing"

finish
