#!/bin/bash
# The Debian package on this machine, as an operator gets it: built from a
# copy of the tree (build-aux/make-deb, no unit tests: make check ran them)
# or taken from $CERTFLEET_DEB, lintian without errors, `dpkg -i`, then the
# files and their modes (the inventory a 0600 conffile), the certfleet group
# and the enabled unit; `certfleetd --check` on the shipped sample; the
# unit's own start command on the sample and on a broken inventory (exit 78,
# which RestartPreventExitStatus= sees); the hardening score; a member of
# the certfleet group reaching the control socket in a 0755 runtime
# directory (and turned away by the old 0750 root one); the bash
# completions; and `dpkg -P`, after which every path the package listed is
# gone again (directories other packages share excepted) and only the
# system group stays, as policy has it.
#
# It changes this machine, so it runs only as root and only where no
# certfleet is installed already (package or `make install`), and it puts
# the machine back as it found it, on failure too: purge, the runtime
# directory, the group if it created it.
. "$(dirname "$0")/lib.sh"

skip() {
  echo "$T_NAME: SKIP: $*"
  # shellcheck disable=SC2034  # read by lib.sh's _cleanup
  T_FINISHED=1
  echo "$T_NAME: 0 passed, 0 failed"
  exit 0
}

[ "$(id -u)" = 0 ] || skip "not root (dpkg -i needs it)"
command -v dpkg > /dev/null || skip "no dpkg"
if [ -z "${CERTFLEET_DEB:-}" ] && ! command -v dpkg-buildpackage > /dev/null; then
  skip "dpkg-buildpackage missing (apt-get install dpkg-dev debhelper) and no \$CERTFLEET_DEB"
fi
if dpkg-query -W -f='${Status}' certfleet 2>/dev/null | grep -q 'ok installed\|config-files'; then
  skip "a certfleet package is installed here already: not touching it"
fi
for p in /usr/sbin/certfleetd /usr/bin/certfleetctl /etc/certfleet /lib/systemd/system/certfleetd.service; do
  [ -e "$p" ] && skip "$p exists (a make install?): not touching it"
done

WORK=$(mktemp -d /tmp/certfleet-it.XXXXXX) || exit 1
[ -n "${CERTFLEET_IT_WORKFILE:-}" ] && echo "$WORK" > "$CERTFLEET_IT_WORKFILE"
# nobody must reach the control socket under $WORK.
chmod 0711 "$WORK"
had_group=0
getent group certfleet > /dev/null && had_group=1
had_run=0
[ -e /run/certfleet ] && had_run=1
installed=0

# dpkg_run LOG ARGS...: dpkg, waiting out (up to a minute) another
# dpkg or apt-get holding the lock, e.g. a colleague's ensure-deps.
dpkg_run() {
  local log=$1 i rc
  shift
  for ((i = 0; i < 30; i++)); do
    DEBIAN_FRONTEND=noninteractive dpkg "$@" > "$log" 2>&1
    rc=$?
    [ "$rc" != 0 ] && grep -q 'lock' "$log" || return "$rc"
    sleep 2
  done
  return "$rc"
}

# shellcheck disable=SC2317  # restore and on_exit run from the EXIT trap
restore() {
  if [ -n "$DAEMON_PID" ]; then
    kill -TERM "$DAEMON_PID" 2>/dev/null
    wait "$DAEMON_PID" 2>/dev/null
    DAEMON_PID=""
  fi
  if [ "$installed" = 1 ] && dpkg-query -W certfleet > /dev/null 2>&1; then
    echo "   (restoring: dpkg -P certfleet)"
    dpkg_run "$WORK/purge-restore.log" -P certfleet || cat "$WORK/purge-restore.log"
  fi
  [ "$had_run" = 0 ] && rm -rf /run/certfleet
  if [ "$had_group" = 0 ] && getent group certfleet > /dev/null; then
    groupdel certfleet || echo "   (could not remove the group certfleet)"
  fi
}
# _cleanup (lib.sh) takes the exit status from $?: hand it on.
# shellcheck disable=SC2317
on_exit() {
  local rc=$?
  restore
  (exit "$rc")
  _cleanup
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

echo "== the package"
if [ -n "${CERTFLEET_DEB:-}" ]; then
  deb=$CERTFLEET_DEB
  echo "   (prebuilt: $deb)"
  assert_file "$deb" "the given package exists"
  if command -v lintian > /dev/null; then
    lintian "$deb" > "$WORK/lintian.log" 2>&1
    assert_eq 0 $? "lintian: no error"
  fi
else
  start=$SECONDS
  DEB_BUILD_OPTIONS="nocheck parallel=2" "$TOP/build-aux/make-deb" "$WORK/deb" \
    > "$WORK/build.log" 2>&1
  rc=$?
  echo "   (built in $((SECONDS - start))s)"
  [ "$rc" = 0 ] || tail -n 30 "$WORK/build.log"
  assert_eq 0 "$rc" "make-deb builds the package and lintian finds no error"
  debs=("$WORK"/deb/certfleet_*_*.deb)
  deb=${debs[0]}
  assert_not_contains "$WORK/build.log" "^E: " "no lintian error tag"
  grep -E '^[EW]: ' "$WORK/build.log" | sed 's/^/    lintian: /'
fi
[ -f "$deb" ] || { fail "no package to install"; finish; }
# The paths the package holds, and which of them this machine already had.
dpkg-deb -c "$deb" | awk '{ $1 = $2 = $3 = $4 = $5 = ""; sub(/^ +/, ""); print }' |
  sed -e 's|^\./|/|' -e 's|/$||' -e 's| -> .*||' | grep -v '^$' | sort > "$WORK/contents"
while read -r p; do
  [ -e "$p" ] || [ -L "$p" ] && echo "$p"
done < "$WORK/contents" > "$WORK/existed"

echo "== dpkg -i"
installed=1
dpkg_run "$WORK/install.log" -i "$deb"
rc=$?
[ "$rc" = 0 ] || cat "$WORK/install.log"
assert_eq 0 "$rc" "dpkg -i installs it"
assert_eq "install ok installed" "$(dpkg-query -W -f='${Status}' certfleet 2>/dev/null)" "dpkg says installed"
dpkg -L certfleet | grep -v '^/\.$' | sort > "$WORK/listed"
assert_eq "" "$(comm -3 "$WORK/contents" "$WORK/listed")" "dpkg -L lists what the .deb holds"

mode() { stat -c '%a %U:%G' "$1" 2>&1; }
assert_eq "600 root:root" "$(mode /etc/certfleet/certfleet.yaml)" "the inventory is 0600 root:root"
assert_contains <(dpkg-query -W -f='${Conffiles}\n' certfleet) "^ /etc/certfleet/certfleet.yaml [0-9a-f]{32}$" \
  "and a conffile"
assert_eq "755 root:root" "$(mode /usr/sbin/certfleetd)" "/usr/sbin/certfleetd 0755"
assert_eq "755 root:root" "$(mode /usr/bin/certfleetctl)" "/usr/bin/certfleetctl 0755"
assert_eq "644 root:root" "$(mode /lib/systemd/system/certfleetd.service)" "the unit 0644"
for m in /usr/share/man/man1/certfleetctl.1.gz /usr/share/man/man5/certfleet.yaml.5.gz \
         /usr/share/man/man8/certfleetd.8.gz /usr/share/doc/certfleet/copyright \
         /usr/share/doc/certfleet/prometheus/certfleet-alerts.yml \
         /usr/share/doc/certfleet/examples/certfleet.yaml \
         /usr/share/bash-completion/completions/certfleetd \
         /usr/share/bash-completion/completions/certfleetctl; do
  assert_file "$m"
done
for h in "$TOP"/contrib/hooks/*; do
  [ -e "$h" ] || continue
  assert_eq "755 root:root" "$(mode "/usr/share/certfleet/hooks/$(basename "$h")")" \
    "hook $(basename "$h") in /usr/share/certfleet/hooks, 0755"
done
if [ -e /usr/share/certfleet/hooks/deploy-hook ]; then
  fail "the demo hook is installed"
else
  pass "the demo hook stays out"
fi
assert_contains <(getent group certfleet) "^certfleet:x:[0-9]+:" "the certfleet group exists"
gid=$(getent group certfleet | cut -d: -f3)
if [ -n "$gid" ] && [ "$gid" -lt 1000 ]; then
  pass "a system group (gid $gid)"
else
  fail "gid '$gid' is not a system gid"
fi
assert_eq /lib/systemd/system/certfleetd.service \
  "$(readlink /etc/systemd/system/multi-user.target.wants/certfleetd.service)" "the unit is enabled"
# No systemd runs here to show it: the maintainer scripts say it.
assert_not_contains /var/lib/dpkg/info/certfleet.postinst "deb-systemd-invoke (start|restart) " \
  "not started on installation"
assert_contains /var/lib/dpkg/info/certfleet.postinst "deb-systemd-invoke try-restart 'certfleetd.service'" \
  "restarted on upgrade only if running"
assert_contains /var/lib/dpkg/info/certfleet.prerm "deb-systemd-invoke stop certfleetd.service" \
  "stopped on removal"

echo "== the unit"
unit=/lib/systemd/system/certfleetd.service
assert_contains "$unit" "^ConditionPathExists=/etc/certfleet/certfleet\.yaml$" "waits for an inventory"
assert_contains "$unit" "^RestartPreventExitStatus=78$" "no restart loop on exit 78"
assert_contains "$unit" "^RuntimeDirectoryMode=0755$" "runtime directory 0755"
assert_not_contains "$unit" "^ExecStartPre=" "no ExecStartPre (its 78 would be restarted)"
if command -v systemd-analyze > /dev/null; then
  score=$(systemd-analyze security --offline=yes "$unit" 2>/dev/null |
    sed -n 's/.*Overall exposure level for certfleetd.service: \([0-9.]*\).*/\1/p')
  echo "   (systemd-analyze security: $score)"
  if [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 3.0) }'; then
    pass "hardening exposure $score <= 3.0"
  else
    fail "hardening exposure '$score' above 3.0"
  fi
fi
# ExecStart= as systemd would run it: the line(s) after "ExecStart=", the
# continuation joined, then the argv as a shell splits it (the unit's own
# quoting is shell-compatible here).
execstart=$(sed -n '/^ExecStart=/,/[^\\]$/p' "$unit" | sed -e 's/^ExecStart=//' -e 's/\\$//' | tr '\n' ' ')

echo "== the shipped sample"
/usr/sbin/certfleetd --check -c /etc/certfleet/certfleet.yaml > "$WORK/check.out" 2>&1
assert_eq 0 $? "certfleetd --check passes on the shipped sample"
assert_eq "/etc/certfleet/certfleet.yaml: OK (0 accounts, 0 certificates)" "$(cat "$WORK/check.out")" \
  "and finds it inert"
eval "set -- $execstart"
"$@" > "$WORK/start.log" 2>&1 &
DAEMON_PID=$!
wait_for "grep -q '0 certificates, 0 accounts' '$WORK/start.log'" 10
assert_contains "$WORK/start.log" "notice: certfleetd [0-9.]+: 0 certificates, 0 accounts" \
  "the unit's ExecStart runs the daemon on it"
assert_eq "srw-rw---- root:certfleet" "$(stat -c '%A %U:%G' /run/certfleet/control.sock 2>&1)" \
  "its socket belongs to the certfleet group"
# An operator in the group, with no option: the inventory (0600) is not
# hers to read, so certfleetctl goes to the default socket.
setpriv --reuid=nobody --regid=nogroup --groups="$gid" /usr/bin/certfleetctl status \
  > "$WORK/operator.txt" 2>&1
assert_eq 0 $? "a certfleet member's plain 'certfleetctl status' works"
assert_contains "$WORK/operator.txt" "^NAME +NAMES +KEY" "and prints the (empty) table"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
assert_eq 0 $? "and stops cleanly on SIGTERM"
DAEMON_PID=""
printf 'state_dir: [\n' >> /etc/certfleet/certfleet.yaml
"$@" > "$WORK/start-bad.log" 2>&1
assert_eq 78 $? "a broken inventory: ExecStart exits 78 itself"
assert_contains "$WORK/start-bad.log" "^certfleetd: /etc/certfleet/certfleet\.yaml:[0-9]+:[0-9]+: " \
  "with the file:line:column"

echo "== the control socket for the certfleet group"
mkdir -m 0755 "$WORK/run"
# lib.sh's inventory() wants a Pebble; this one needs only @WORK@.
(umask 077 && sed "s|@WORK@|$WORK|g" > "$WORK/inv.yaml") <<'YAML'
state_dir: @WORK@/state
output_dir: @WORK@/out
control_socket: @WORK@/run/certfleet/control.sock
control_socket_group: certfleet
accounts:
  local:
    # Nothing listens there: the daemon only keeps retrying.
    directory: https://127.0.0.1:1/directory
    contact: mailto:it@example.com
certificates:
  - name: web
    domains: [web.example.com]
    challenge: {http01: webroot, webroot: "@WORK@/www"}
YAML
# What systemd makes of RuntimeDirectory=certfleet, RuntimeDirectoryMode=0755.
install -d -m 0755 "$WORK/run/certfleet"
SOCK=$WORK/run/certfleet/control.sock
/usr/sbin/certfleetd -c "$WORK/inv.yaml" > "$WORK/daemon.log" 2>&1 &
DAEMON_PID=$!
wait_for "[ -S '$SOCK' ]" 10
as_member() { setpriv --reuid=nobody --regid=nogroup --groups="$gid" /usr/bin/certfleetctl --socket "$SOCK" "$@"; }
as_other() { setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/certfleetctl --socket "$SOCK" "$@"; }
as_member status > "$WORK/member.txt" 2>&1
assert_eq 0 $? "a member of certfleet runs certfleetctl status"
assert_contains "$WORK/member.txt" "^web +web\.example\.com" "and sees the certificate"
as_member renew web > "$WORK/member.txt" 2>&1
assert_eq 5 $? "but not renew (read-only)"
as_other status > "$WORK/other.txt" 2>&1
assert_eq 5 $? "a non-member is refused (exit 5)"
chmod 0750 "$WORK/run/certfleet"
as_member status > "$WORK/member.txt" 2>&1
assert_eq 5 $? "with the old 0750 root directory even a member is refused"
chmod 0755 "$WORK/run/certfleet"

echo "== bash completion"
if [ -f /usr/share/bash-completion/bash_completion ]; then
  # complete WORDS...: what <TAB> offers after them (the last word is the one
  # being completed, "" for a new word).
  complete_words() {
    local prog=$1
    shift
    bash -c '. /usr/share/bash-completion/bash_completion
      . /usr/share/bash-completion/completions/$1
      shift
      COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
      COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
      _${COMP_WORDS[0]} "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
      [ ${#COMPREPLY[@]} = 0 ] || printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' \
      bash "$prog" "$@"
  }
  assert_eq "account import-certbot reload renew revoke show status " \
    "$(complete_words certfleetctl certfleetctl "")" "certfleetctl: the commands"
  assert_eq "deactivate list rollover " "$(complete_words certfleetctl certfleetctl account "")" \
    "account: its subcommands"
  assert_eq "web " "$(complete_words certfleetctl certfleetctl --socket "$SOCK" show "")" \
    "show: certificate names from the daemon"
  assert_eq "local " "$(complete_words certfleetctl certfleetctl --socket "$SOCK" account rollover "")" \
    "account rollover: account names"
  assert_eq "--all --force --timeout --wait " \
    "$(complete_words certfleetctl certfleetctl --socket "$SOCK" renew --)" "renew: its options"
  assert_eq "keyCompromise " "$(complete_words certfleetctl certfleetctl revoke web --reason key)" \
    "revoke --reason: the reasons"
  assert_eq "--check --config " "$(complete_words certfleetd certfleetd --c)" "certfleetd: its options"
  assert_eq "" "$(complete_words certfleetd certfleetd --f)" "no --force without --once"
  assert_eq "--force " "$(complete_words certfleetd certfleetd --once --f)" "--force after --once"
else
  echo "   (bash-completion not installed: completions not tried)"
fi
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
DAEMON_PID=""

echo "== dpkg -P"
rm -rf /run/certfleet
dpkg_run "$WORK/purge.log" -P certfleet
rc=$?
[ "$rc" = 0 ] || cat "$WORK/purge.log"
assert_eq 0 "$rc" "dpkg -P purges it"
installed=0
assert_eq "" "$(dpkg-query -W -f='${Status}' certfleet 2>/dev/null)" "dpkg knows it no more"
left=""
while read -r p; do
  grep -qxF "$p" "$WORK/existed" && continue
  if [ -e "$p" ] || [ -L "$p" ]; then left="$left $p"; fi
done < "$WORK/listed"
assert_eq "" "$left" "every path the package brought is gone"
gone=""
while read -r p; do
  [ -e "$p" ] || [ -L "$p" ] || gone="$gone $p"
done < "$WORK/existed"
assert_eq "" "$gone" "and every shared one it found is still there"
for p in /etc/certfleet /var/lib/certfleet /etc/systemd/system/multi-user.target.wants/certfleetd.service \
         /var/lib/systemd/deb-systemd-helper-enabled/certfleetd.service.dsh-also \
         /var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/certfleetd.service; do
  if [ -e "$p" ] || [ -L "$p" ]; then fail "$p left behind"; else pass "$p gone"; fi
done
if getent group certfleet > /dev/null; then
  pass "the certfleet group stays (system groups are not removed on purge)"
else
  fail "the certfleet group was removed"
fi

finish
