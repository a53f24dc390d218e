# metrics-lib.sh - helpers for the metrics tests (t_90, t_91), sourced after
# lib.sh.
# shellcheck shell=bash

# free_port: a loopback TCP port nobody listens on now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# mval FILE SERIES: the value of SERIES (name{labels} exactly as certfleetd
# writes it) in the exposition text FILE; empty when absent.
mval() { awk -v s="$2" '$1 == s { print $2; exit }' "$1"; }

# msum FILE REGEX: the sum of the values of the series whose name{labels}
# matches the ERE; 0 when none.
msum() { awk -v re="$2" '$1 ~ re { n += $2 } END { printf "%d\n", n }' "$1"; }

# scrape URL OUT: GET with curl (headers to OUT.headers); 0 on HTTP 200.
scrape() { curl --noproxy '*' -sf --max-time 10 -D "$2.headers" -o "$2" "$1"; }

# epoch_of_cert PEM FIELD: notAfter or notBefore of a certificate, as a Unix time.
epoch_of_cert() {
  date -u -d "$(openssl x509 -in "$1" -noout "-$2" | sed 's/^[^=]*=//')" +%s
}
