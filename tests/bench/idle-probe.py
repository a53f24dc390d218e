#!/usr/bin/env python3
"""idle-probe.py HOST PORT OUT: asks the daemon's built-in http-01 responder
for a token every 5 ms until it receives SIGTERM, then writes to OUT the
longest time one request took (connect to the end of the answer) and the
longest gap between two answers, in milliseconds, and how many requests
were made.  The responder runs on the daemon's event loop, so a request
that waits is a loop that is busy: the longest one bounds the longest
stall a renewal in flight (its challenges, its polls) saw meanwhile."""
import signal
import socket
import sys
import time

host, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
req = ("GET /.well-known/acme-challenge/probe HTTP/1.1\r\nHost: probe\r\n"
       "Connection: close\r\n\r\n").encode()
longest = gap = 0.0
n = errors = 0
last = time.monotonic()
while not stop:
    t0 = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=30) as s:
            s.sendall(req)
            while s.recv(4096):
                pass
    except OSError:
        errors += 1
    t1 = time.monotonic()
    n += 1
    longest = max(longest, t1 - t0)
    gap = max(gap, t1 - last)
    last = t1
    time.sleep(0.005)
with open(out, "w") as f:
    f.write("%.1f %.1f %d %d\n" % (longest * 1000, gap * 1000, n, errors))
