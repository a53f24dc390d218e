#!/usr/bin/env python3
"""Test listener for sd_notify: binds an AF_UNIX datagram socket and appends
every message it receives to a file, one message per record, separated by a
line holding only '--'.  Stops after a bounded time."""
import os
import socket
import sys
import time

path, out, limit = sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 300
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
if os.path.exists(path):
    os.unlink(path)
s.bind(path)
s.settimeout(1.0)
end = time.time() + limit
with open(out, "a", buffering=1) as f:
    while time.time() < end:
        try:
            msg = s.recv(4096)
        except socket.timeout:
            continue
        f.write(msg.decode(errors="replace") + "\n--\n")
