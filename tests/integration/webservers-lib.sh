# webservers-lib.sh - the real web servers of the hook tests (t_97, t_98),
# each started by the test on a free loopback port with its own
# configuration, pid file and logs under $WORK, never the system's
# instances.  Sourced after lib.sh.
# shellcheck shell=bash

# free_port: a loopback TCP port nobody listens on now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# serial FILE: the serial of the (first) certificate in FILE.
serial() { openssl x509 -in "$1" -noout -serial 2>/dev/null | cut -d= -f2; }

# served PORT NAME: the serial of the certificate served on 127.0.0.1:PORT
# for the server name NAME; empty when nothing answers.
served() {
  openssl s_client -connect "127.0.0.1:$1" -servername "$2" < /dev/null 2>/dev/null |
    openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}

# served_is PORT NAME SERIAL: polls (up to 10 s: a reload is asynchronous)
# until SERIAL is served; 0 when it is.
served_is() { wait_for "[ \"\$(served $1 $2)\" = '$3' ]" 10; }

# pebble_roots: $WORK/pebble/roots.pem, Pebble's roots, for clients that
# verify.
pebble_roots() {
  [ -f "$WORK/pebble/roots.pem" ] || "$PEBBLE_CTL" roots "$WORK/pebble"
}

# The inventory's head: one Pebble account, the built-in http-01 responder.
# shellcheck disable=SC2034  # used by the tests that source this
INV_HEAD='state_dir: @WORK@/state
output_dir: @WORK@/out
http01_listen: "127.0.0.1:@HTTP01_PORT@"
accounts:
  pebble:
    directory: @DIR_URL@
    contact: mailto:it@example.com
    ca_bundle: @CA@
    eab: {kid: @EAB_KID@, hmac_key_file: @EAB_KEY_FILE@}
defaults:
  account: pebble'

# nginx_start NAME PORT: nginx in $WORK/nginx serving live/NAME on PORT
# (pid $WORK/nginx.pid, which lib.sh's cleanup stops).
NG=""
nginx_start() {
  NG=$WORK/nginx
  mkdir -p "$NG"
  cat > "$NG/nginx.conf" <<CONF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $NG/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $NG/body;
  proxy_temp_path $NG/proxy;
  fastcgi_temp_path $NG/fastcgi;
  uwsgi_temp_path $NG/uwsgi;
  scgi_temp_path $NG/scgi;
  server {
    listen 127.0.0.1:$2 ssl;
    server_name $1.example.com;
    ssl_certificate $WORK/out/live/$1/fullchain.pem;
    ssl_certificate_key $WORK/out/live/$1/privkey.pem;
    return 200 "$1\n";
  }
}
CONF
  nginx -p "$NG" -e "$NG/error.log" -c "$NG/nginx.conf" > "$WORK/nginx-start.log" 2>&1 &&
    wait_for "[ -n \"\$(served $2 $1.example.com)\" ]" 10
}

# apache_start NAME PORT: Apache with its own APACHE_CONFDIR ($WORK/apache2,
# which apache2ctl and the hook read) serving live/NAME on PORT (pid
# $WORK/apache2.pid).
AP=""
apache_start() {
  AP=$WORK/apache2
  mkdir -p "$AP/run" "$AP/lock" "$AP/log"
  cat > "$AP/envvars" <<ENV
export APACHE_RUN_USER=www-data
export APACHE_RUN_GROUP=www-data
export APACHE_PID_FILE=$WORK/apache2.pid
export APACHE_RUN_DIR=$AP/run
export APACHE_LOCK_DIR=$AP/lock
export APACHE_LOG_DIR=$AP/log
export LANG=C
ENV
  cat > "$AP/apache2.conf" <<CONF
ServerName localhost
DefaultRuntimeDir \${APACHE_RUN_DIR}
PidFile \${APACHE_PID_FILE}
User \${APACHE_RUN_USER}
Group \${APACHE_RUN_GROUP}
ErrorLog \${APACHE_LOG_DIR}/error.log
LogLevel warn
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule socache_shmcb_module /usr/lib/apache2/modules/mod_socache_shmcb.so
LoadModule ssl_module /usr/lib/apache2/modules/mod_ssl.so
SSLSessionCache shmcb:\${APACHE_RUN_DIR}/ssl_scache(512000)
StartServers 1
ServerLimit 2
ThreadsPerChild 4
MaxRequestWorkers 8
Listen 127.0.0.1:$2
<VirtualHost 127.0.0.1:$2>
  ServerName $1.example.com
  SSLEngine on
  SSLCertificateFile $WORK/out/live/$1/fullchain.pem
  SSLCertificateKeyFile $WORK/out/live/$1/privkey.pem
</VirtualHost>
CONF
  APACHE_CONFDIR=$AP apache2ctl start > "$WORK/apache2-start.log" 2>&1 &&
    wait_for "[ -n \"\$(served $2 $1.example.com)\" ]" 10
}

# haproxy_start PORT NAME...: haproxy serving live/NAME/combined.pem of each
# NAME on PORT (chosen by SNI) with an admin stats socket $WORK/haproxy.sock
# (pid $WORK/haproxy.pid).
HAP_CFG=""
haproxy_start() {
  local port=$1 crts="" n
  shift
  for n in "$@"; do crts="$crts crt $WORK/out/live/$n/combined.pem"; done
  HAP_CFG=$WORK/haproxy.cfg
  cat > "$HAP_CFG" <<CONF
global
  stats socket $WORK/haproxy.sock level admin
defaults
  mode http
  timeout connect 5s
  timeout client 10s
  timeout server 10s
frontend fe
  bind 127.0.0.1:$port ssl$crts
  http-request return status 200 content-type text/plain string ok
CONF
  haproxy -D -f "$HAP_CFG" -p "$WORK/haproxy.pid" > "$WORK/haproxy-start.log" 2>&1 &&
    wait_for "[ -n \"\$(served $port $1.example.com)\" ]" 10
}
