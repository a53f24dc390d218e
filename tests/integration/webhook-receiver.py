#!/usr/bin/env python3
"""Test webhook receiver for t_92_notify.sh: an HTTP server on 127.0.0.1 (a
free port, written to --port-file) that records every POST as one JSON line
in --log: {"n": N, "status": the status it answered, "path": ...,
"headers": {...}, "body": the parsed JSON body (or null), "raw": the text}.
It answers 500 to the first --fail-first requests (to show the daemon
retries), and 200 after.  It stops by itself after --limit seconds."""
import argparse
import http.server
import json
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("--port-file", required=True)
ap.add_argument("--log", required=True)
ap.add_argument("--fail-first", type=int, default=0)
ap.add_argument("--limit", type=float, default=900)
args = ap.parse_args()

lock = threading.Lock()
count = 0


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global count
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n).decode("utf-8", "replace")
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with lock:
            count += 1
            status = 500 if count <= args.fail_first else 200
            rec = {"n": count, "status": status, "path": self.path,
                   "headers": {k: v for k, v in self.headers.items()},
                   "body": body, "raw": raw}
            with open(args.log, "a") as f:
                f.write(json.dumps(rec) + "\n")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n" if status == 200 else b"no\n")

    def log_message(self, fmt, *a):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os  # noqa: E402
os.rename(args.port_file + ".tmp", args.port_file)
threading.Thread(target=srv.serve_forever, daemon=True).start()
time.sleep(args.limit)
srv.shutdown()
