#!/bin/bash
# certfleetctl against a running certfleetd and Pebble: status/show (their
# JSON parsed and checked), renew NAME and --all --force (new versions),
# reload (an added certificate is issued; a broken inventory is refused),
# revoke (checked on Pebble's management port) with and without re-issue,
# account list / rollover / deactivate (refused without --yes), the
# permission model (a peer as `nobody`: refused at the socket, refused by the
# daemon, read-only through the socket's group), the exit statuses, a client
# hanging up before an asynchronous reply, and status/show after the daemon
# stopped (read from the store).
. "$(dirname "$0")/lib.sh"
setup

# `nobody` must reach the socket under $WORK (everything secret below it
# stays 0700/0600).
chmod 0711 "$WORK"
SOCK=$WORK/run/ctl.sock

write_inv() { # group-line, certificate names...
  local grp=$1; shift
  {
    cat <<'YAML'
state_dir: @WORK@/state
output_dir: @WORK@/out
control_socket: @WORK@/run/ctl.sock
control_socket_mode: "0666"
http01_listen: "127.0.0.1:@HTTP01_PORT@"
renew_jitter: 0s
accounts:
  pebble:
    directory: @DIR_URL@
    contact: mailto:it@example.com
    ca_bundle: @CA@
    eab: {kid: @EAB_KID@, hmac_key_file: @EAB_KEY_FILE@}
  spare:
    directory: @DIR_URL@
    contact: mailto:spare@example.com
    ca_bundle: @CA@
    eab: {kid: @EAB_KID2@, hmac_key_file: @EAB_KEY_FILE2@}
YAML
    [ -n "$grp" ] && echo "$grp"
    echo "certificates:"
    for n in "$@"; do
      printf '  - {name: %s, domains: [%s.example.com, www.%s.example.com], account: pebble}\n' "$n" "$n" "$n"
    done
    printf '  - {name: s1, domains: [s1.example.com], account: spare, key_type: rsa-2048}\n'
  } | inventory "$WORK/inv.yaml"
}

ctl() { "$CERTFLEETCTL" -c "$WORK/inv.yaml" "$@"; }
# py EXPR: evaluates EXPR with d = the JSON on stdin.
py() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
field() { ctl show "$1" --json 2>/dev/null | py "d.get('$2')"; }
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$CERTFLEETCTL" --socket "$SOCK" "$@"; }
installed_all() { # names...: every one installed and idle
  local n
  for n in "$@"; do
    [ "$(ctl show "$n" --json 2>/dev/null | py "d['installed'] and d['state']=='idle'")" = True ] || return 1
  done
}

write_inv "control_socket_group: nogroup" a b
"$CERTFLEETD" -c "$WORK/inv.yaml" > "$WORK/d1.log" 2>&1 &
DAEMON_PID=$!
wait_for "[ -S '$SOCK' ]" 10 || fail "control socket not created"
wait_for "installed_all a b s1" 90 || fail "a, b, s1 not issued in time"

echo "== the socket"
assert_eq "srw-rw-rw- root nogroup" "$(stat -c '%A %U %G' "$SOCK")" "socket mode, owner and group from the inventory"
assert_eq "drwxr-xr-x" "$(stat -c '%A' "$WORK/run")" "socket directory created 0755"

echo "== status"
ctl status > "$WORK/status.txt"
assert_eq 0 $? "status exits 0"
assert_contains "$WORK/status.txt" "^NAME +NAMES +KEY +NOT AFTER \(UTC\) +LEFT +NEXT RENEWAL +LAST RESULT$" "status table header"
assert_contains "$WORK/status.txt" "^a +a\.example\.com \(\+1\) +ec-p256 +20[0-9-]+ [0-9:]+ +[0-9]+d.* +in [0-9]+.* +ok$" "status row for a"
assert_contains "$WORK/status.txt" "^s1 +s1\.example\.com +rsa-2048 " "status row for s1"
assert_not_contains "$WORK/status.txt" "daemon not running" "status from the daemon"
ctl status --json > "$WORK/status.json"
assert_eq "daemon 3 a,b,s1 True" "$(py "' '.join(map(str, [d['source'], d['total'], ','.join(c['name'] for c in d['certificates']), all(c['last_result']=='ok' and c['seconds_left']>0 and c['installed'] for c in d['certificates'])]))" < "$WORK/status.json")" \
  "status --json: source, count, names, results"
assert_eq "a.example.com,www.a.example.com ec-p256 pebble idle 1 ok" \
  "$(py "' '.join(map(str, [(c:=[c for c in d['certificates'] if c['name']=='a'][0]) and ','.join(c['names']), c['key_type'], c['account'], c['state'], c['version'], c['last_result']]))" < "$WORK/status.json")" \
  "status --json: names, key type, account, state, version, last result of a"

echo "== show"
ctl show a --json > "$WORK/show.json"
assert_eq 0 $? "show exits 0"
assert_eq "a True http-01" "$(py "' '.join(map(str, [d['name'], d['serial'] is not None and d['not_after'] > d['not_before'], d['config']['challenges'][0]]))" < "$WORK/show.json")" \
  "show --json: name, serial, validity, challenges"
serial=$(py "d['serial']" < "$WORK/show.json")
[ "$(openssl x509 -in "$WORK/out/live/a/cert.pem" -noout -serial | cut -d= -f2 | tr A-F a-f | sed 's/^0*//')" = \
  "$(echo "$serial" | tr A-F a-f | sed 's/^0*//')" ] && pass "show serial is the installed certificate's" || fail "show serial $serial differs from the installed one"
ctl show a > "$WORK/show.txt"
assert_contains "$WORK/show.txt" "^names: +a\.example\.com, www\.a\.example\.com$" "show lists the names"
assert_contains "$WORK/show.txt" "^fullchain: +.*/out/live/a/fullchain\.pem$" "show gives the live path"
ctl show nosuch > /dev/null 2> "$WORK/err.txt"
assert_eq 3 $? "show of an unknown certificate exits 3"
assert_eq 1 "$(wc -l < "$WORK/err.txt")" "one error line"
assert_contains "$WORK/err.txt" "^certfleetctl: no certificate named 'nosuch'$" "error names the certificate"

echo "== renew"
v_a=$(field a version); v_b=$(field b version)
ctl renew a --force > "$WORK/renew.txt"
assert_eq 0 $? "renew a --force exits 0"
assert_contains "$WORK/renew.txt" "^a: renewal requested \(forced\)$" "renew reports the request"
wait_for "[ \"\$(field a version)\" = $((v_a + 1)) ] && installed_all a" 60 || fail "a not renewed"
assert_eq $((v_a + 1)) "$(field a version)" "renew a issued a new version of a"
assert_eq "$v_b" "$(field b version)" "b left alone"
assert_eq "$WORK/out/archive/a/.live$((v_a + 1))" "$(readlink -f "$WORK/out/live/a")" "live/a switched to it"
ctl renew a nosuch > /dev/null 2> "$WORK/err.txt"
assert_eq 3 $? "renew with an unknown name exits 3"
assert_contains "$WORK/err.txt" "no certificate named nosuch" "and names it"
ctl renew > /dev/null 2>&1
assert_eq 2 $? "renew without names exits 2"
ctl renew a --all > /dev/null 2>&1
assert_eq 2 $? "renew with names and --all exits 2"
v_a=$(field a version); v_s=$(field s1 version)
ctl renew --all --force > "$WORK/renew.txt"
assert_eq 0 $? "renew --all --force exits 0"
assert_eq 3 "$(grep -c 'renewal requested (forced)' "$WORK/renew.txt")" "renew --all names every certificate"
wait_for "[ \"\$(field a version)\" = $((v_a + 1)) ] && [ \"\$(field b version)\" = $((v_b + 1)) ] && [ \"\$(field s1 version)\" = $((v_s + 1)) ] && installed_all a b s1" 90 ||
  fail "renew --all did not renew everything"
assert_eq "$((v_a + 1)) $((v_b + 1)) $((v_s + 1))" "$(field a version) $(field b version) $(field s1 version)" "renew --all --force: a new version of each"

echo "== permissions"
as_nobody status > "$WORK/nobody.txt" 2>&1
assert_eq 0 $? "socket group member (nobody via nogroup) may run status"
assert_contains "$WORK/nobody.txt" "^a +a\.example\.com" "and sees the table"
as_nobody renew a > "$WORK/nobody.txt" 2>&1
assert_eq 5 $? "read-only peer: renew denied, exit 5"
assert_contains "$WORK/nobody.txt" "^certfleetctl: permission denied: 'renew' changes state" "one clear line"
assert_contains "$WORK/d1.log" "control: denied 'renew' to uid 65534 pid [0-9]+ \(read-only access\)" "daemon logs the refusal"
write_inv "control_socket_group: nogroup
control_admin_group: nogroup" a b
ctl reload > /dev/null
as_nobody renew a > "$WORK/nobody.txt" 2>&1
assert_eq 0 $? "control_admin_group member may renew"
assert_contains "$WORK/d1.log" "control: 'renew' from uid 65534 pid [0-9]+" "daemon logs who asked"

echo "== reload"
write_inv "" a b c
ctl reload > "$WORK/reload.txt"
assert_eq 0 $? "reload exits 0"
assert_contains "$WORK/reload.txt" "^reloaded: 4 certificates$" "reload reports the new count"
assert_contains "$WORK/d1.log" "certfleetctl reload: reloading" "reload logged as coming from certfleetctl"
wait_for "installed_all c" 60 || fail "c not issued after reload"
assert_eq True "$(field c installed)" "reload picked up the added certificate c"
# The socket's group is back to the daemon's: nobody is no longer a member.
assert_eq "root" "$(stat -c '%G' "$SOCK")" "socket group follows the reloaded inventory"
as_nobody status > "$WORK/nobody.txt" 2>&1
assert_eq 5 $? "a peer outside the socket's group: status denied, exit 5"
assert_contains "$WORK/nobody.txt" "^certfleetctl: permission denied: 'status' needs root" "denied with a reason"
assert_contains "$WORK/d1.log" "control: denied 'status' to uid 65534" "daemon logs it"
cp "$WORK/inv.yaml" "$WORK/inv.good"
printf '  - {name: x, domainz: [x.example.com]}\n' >> "$WORK/inv.yaml"
ctl --socket "$SOCK" reload > /dev/null 2> "$WORK/err.txt"
assert_eq 1 $? "reload of a broken inventory exits 1"
assert_contains "$WORK/err.txt" "^certfleetctl: reload failed, the running configuration stays: .*inv\.yaml:[0-9]+:[0-9]+: " "with the file:line:col of the error"
cp "$WORK/inv.good" "$WORK/inv.yaml"
ctl status > /dev/null 2>&1
assert_eq 0 $? "daemon still answers after the failed reload"
# Connection-level refusal: a socket mode that shuts others out.
sed -i 's/^control_socket_mode: "0666"/control_socket_mode: "0660"/' "$WORK/inv.yaml"
ctl reload > /dev/null
as_nobody status > "$WORK/nobody.txt" 2>&1
assert_eq 5 $? "mode 0660: nobody cannot open the socket, exit 5"
assert_contains "$WORK/nobody.txt" "^certfleetctl: permission denied on the control socket " "one clear line"

echo "== account"
ctl account list --json > "$WORK/acct.json"
assert_eq 0 $? "account list exits 0"
assert_eq "pebble,spare True" "$(py "','.join(a['name'] for a in d) + ' ' + str(all((a.get('url') or '').startswith('https://') for a in d))" < "$WORK/acct.json")" \
  "account list --json: both accounts, registered"
ctl account list > "$WORK/acct.txt"
assert_contains "$WORK/acct.txt" "^NAME +STATUS +KEY +URL$" "account list table"
ctl account deactivate spare > /dev/null 2> "$WORK/err.txt"
assert_eq 2 $? "deactivate without --yes refused, exit 2"
assert_contains "$WORK/err.txt" "cannot be undone.*--yes" "refusal says why"
ctl account rollover nosuch > /dev/null 2>&1
assert_eq 3 $? "rollover of an unknown account exits 3"

key_before=$(sha256sum < "$WORK/state/accounts/pebble/key.pem")
ctl account rollover pebble > "$WORK/roll.txt" 2> "$WORK/err.txt"
rc=$?
assert_eq 0 $rc "account rollover exits 0"
[ $rc = 0 ] || sed 's/^/    | /' "$WORK/err.txt"
[ "$key_before" != "$(sha256sum < "$WORK/state/accounts/pebble/key.pem")" ] && pass "rollover stored a new account key" || fail "account key unchanged after rollover"
v_b=$(field b version)
ctl renew b --force > /dev/null
wait_for "[ \"\$(field b version)\" = $((v_b + 1)) ] && installed_all b" 60 || fail "b not renewed after rollover"
assert_eq $((v_b + 1)) "$(field b version)" "a new order after the rollover succeeds with the new key"

ctl account deactivate spare --yes > /dev/null 2> "$WORK/err.txt"
rc=$?
assert_eq 0 $rc "account deactivate --yes exits 0"
[ $rc = 0 ] || sed 's/^/    | /' "$WORK/err.txt"
assert_eq deactivated "$(ctl account list --json | py "[a for a in d if a['name']=='spare'][0].get('status')")" "account list shows spare deactivated"

echo "== revoke"
serial=$(field b serial)
ctl revoke b --reason bogus > /dev/null 2> "$WORK/err.txt"
assert_eq 2 $? "unknown revocation reason exits 2"
ctl revoke nosuch > /dev/null 2>&1
assert_eq 3 $? "revoke of an unknown certificate exits 3"
ctl revoke b --reason superseded --no-reissue > "$WORK/revoke.txt" 2> "$WORK/err.txt"
rc=$?
assert_eq 0 $rc "revoke b --reason superseded --no-reissue exits 0"
[ $rc = 0 ] || sed 's/^/    | /' "$WORK/err.txt"
status_of() { curl -s --cacert "$PEBBLE_CA" "$PEBBLE_MGMT/cert-status-by-serial/$1" | py "d.get('Status')"; }
assert_eq Revoked "$(status_of "$serial")" "Pebble reports b's certificate revoked"
assert_eq True "$(field b revoked)" "show reports b revoked"
v_a=$(field a version); serial_a=$(field a serial)
ctl revoke a --reason 4 > /dev/null 2> "$WORK/err.txt"
assert_eq 0 $? "revoke a (reason 4, re-issue) exits 0"
assert_eq Revoked "$(status_of "$serial_a")" "Pebble reports a's certificate revoked"
wait_for "[ \"\$(field a version)\" = $((v_a + 1)) ] && installed_all a" 60 || fail "a not re-issued after revocation"
assert_eq "$((v_a + 1)) False" "$(field a version) $(field a revoked)" "revoked a re-issued at once"

echo "== a client that hangs up before an asynchronous reply"
serial_c=$(field c serial)
python3 - "$SOCK" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b'{"v":1,"cmd":"revoke","args":{"name":"c","reason":0,"no_reissue":true}}\n')
s.close()
PY
wait_for "[ \"\$(status_of "$serial_c")\" = Revoked ]" 30 || fail "revocation of c not completed"
assert_eq Revoked "$(status_of "$serial_c")" "the operation completed without its client"
sleep 1
kill -0 "$DAEMON_PID" 2>/dev/null && pass "daemon survived the dropped reply" || fail "daemon died"
ctl status > /dev/null 2>&1
assert_eq 0 $? "and still answers"
printf 'not json\n' | python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(sys.argv[1])
s.sendall(sys.stdin.buffer.read()); print(s.makefile().readline().strip())' "$SOCK" > "$WORK/raw.txt"
assert_contains "$WORK/raw.txt" '^\{"v":1,"ok":false,"code":"protocol","error":"request is not a JSON object"\}$' "garbage gets a protocol error reply"

echo "== daemon stopped"
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID"; DAEMON_PID=""
[ -e "$SOCK" ] && fail "socket left behind" || pass "socket removed at exit"
ctl status > "$WORK/status.txt"
assert_eq 0 $? "offline status exits 0"
assert_contains "$WORK/status.txt" "^\(daemon not running; from the store\)$" "offline status says so"
assert_contains "$WORK/status.txt" "^a +a\.example\.com \(\+1\) +ec-p256 " "offline status lists a"
ctl status --json > "$WORK/status.json" 2> "$WORK/err.txt"
assert_eq "store 4" "$(py "d['source'] + ' ' + str(d['total'])" < "$WORK/status.json")" "offline status --json parses: source store, 4 certificates"
assert_contains "$WORK/err.txt" "daemon not running" "offline note on stderr with --json"
assert_eq "stopped $((v_a + 1)) True" "$(ctl show a --json 2>/dev/null | py "' '.join(map(str, [d['state'], d['version'], d['installed']]))")" "offline show --json of a"
assert_eq True "$(ctl show b --json 2>/dev/null | py "d['revoked']")" "offline show remembers b revoked"
ctl show nosuch > /dev/null 2>&1
assert_eq 3 $? "offline show of an unknown certificate exits 3"
ctl renew a > /dev/null 2> "$WORK/err.txt"
assert_eq 4 $? "renew without a daemon exits 4"
assert_contains "$WORK/err.txt" "^certfleetctl: certfleetd is not running" "and says so"
ctl account list > /dev/null 2>&1
assert_eq 4 $? "account list without a daemon exits 4"
"$CERTFLEETCTL" -c "$WORK/nonexistent.yaml" status > /dev/null 2>&1
assert_eq 78 $? "an unreadable inventory exits 78"
ctl bogus > /dev/null 2>&1
assert_eq 2 $? "an unknown command exits 2"

echo "== control socket settings are checked"
sed -i 's/^control_socket_mode: .*/control_socket_mode: "0440"/' "$WORK/inv.yaml"
"$CERTFLEETD" --check -c "$WORK/inv.yaml" > "$WORK/check.txt" 2>&1
assert_eq 78 $? "a socket mode without owner write is refused"
assert_contains "$WORK/check.txt" "inv\.yaml:[0-9]+:[0-9]+: control_socket_mode: mode 0440: a socket needs owner read and write" "with file:line and the reason"
sed -i 's/^control_socket_mode: .*/control_admin_group: no-such-group-xyz/' "$WORK/inv.yaml"
"$CERTFLEETD" --check -c "$WORK/inv.yaml" > "$WORK/check.txt" 2>&1
assert_eq 78 $? "an unknown admin group is refused"
assert_contains "$WORK/check.txt" "control_admin_group: unknown group 'no-such-group-xyz'" "naming the group"

finish
