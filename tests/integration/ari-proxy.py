#!/usr/bin/env python3
"""ari-proxy.py - an HTTPS front for Pebble that adds ACME Renewal Information.

Debian's Pebble (2.4) has no renewalInfo, so the ARI tests put this proxy
between certfleetd and Pebble.  Every request is forwarded to Pebble
(method, headers, body) and the answer passed back (status, headers such as
Replay-Nonce, Location, Link and Retry-After, body), except:

  GET <dir path>           Pebble's directory plus
                           "renewalInfo": "https://HOST:PORT/renewal-info/"
  GET /renewal-info/<id>   answered from the control directory (below)
  POST <newOrder>          logged with its decoded JWS payload (so a test sees
                           "replaces"); refused with an ACME problem when the
                           control directory says so and the payload carries
                           "replaces"

The Host header goes to Pebble unchanged, so the URLs Pebble builds (and
checks against each JWS "url") already name the proxy; Pebble's own
host:port is still rewritten to ours in bodies and in Location/Link headers
so that nothing ever leads the client past the proxy.

Control directory (written by the test, read on every request):
  ari-<certID>.json, else ari.json: the renewalInfo answer,
      {"status": 200, "retry_after": "3600", "body": {...} or "raw text"}
      (status defaults to 200; retry_after omitted = no header); neither
      file: 404 with a "malformed" problem.
  reject-replaces: "TYPE STATUS", e.g. "alreadyReplaced 409": newOrder with
      "replaces" gets urn:ietf:params:acme:error:TYPE with that status.
  reject-new-order: "TYPE STATUS [RETRY-AFTER]", e.g. "rateLimited 429 3600":
      every newOrder gets that problem (and Retry-After header).
  poll-retry-after: "SECONDS": Pebble's answers about an order (/my-order/,
      /finalize-order/) or an authorization (/authZ/) get "Retry-After:
      SECONDS" when they carry none (Debian's Pebble sends none).
  finalize-delay: "SECONDS": a finalize POST (/finalize-order/) is held that
      long before it is forwarded, as a slow CA (Sectigo) would; the proxy
      creates the file "finalize-held" here when it starts holding one and
      removes it once that request is forwarded, answered and logged.
  finalize-drop: present: the next finalize POST is read and never
      forwarded nor answered (the file removed; the connection is closed
      30 s later, by when the client has timed out: an answerless close
      would make libcurl send the POST again on a new connection): a
      finalize lost on its way, as when its sender dies.
  finalize-response-delay: "SECONDS": a finalize POST is forwarded at once
      and Pebble's answer held that long (the CA has the finalize, the
      client does not know yet: the crash-after-finalize window).

Log (--log): one JSON object per line per request:
  {"t": unix time (answered), "t0": unix time (received), "method", "path", "status", "payload": {...} (newOrder),
   "problem": TYPE (Pebble's error answers, e.g. badNonce), "upstream": Pebble's
   status (absent when Pebble never answered)}

Usage: ari-proxy.py --upstream https://127.0.0.1:PORT --upstream-ca FILE
           --cert FILE --key FILE --control DIR --log FILE --port-file FILE
Python 3 standard library only.
"""
import argparse
import base64
import http.client
import http.server
import json
import os
import re
import ssl
import sys
import threading
import time
import urllib.parse

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer",
              "upgrade", "proxy-authorization", "proxy-authenticate",
              "content-length", "host"}


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class Proxy:
    def __init__(self, args):
        u = urllib.parse.urlsplit(args.upstream)
        self.up_host = u.hostname
        self.up_port = u.port or 443
        self.up_hostport = "%s:%d" % (self.up_host, self.up_port)
        self.dir_path = u.path or "/dir"
        self.up_ctx = ssl.create_default_context(cafile=args.upstream_ca)
        self.control = args.control
        self.log_path = args.log
        self.log_lock = threading.Lock()
        self.me = None              # "127.0.0.1:PORT", set once bound
        self.new_order_path = None  # learnt from the directory

    def log(self, rec):
        rec["t"] = round(time.time(), 3)
        with self.log_lock, open(self.log_path, "a") as f:
            f.write(json.dumps(rec, sort_keys=True) + "\n")

    def rewrite(self, text):
        return text.replace(self.up_hostport, self.me)

    def upstream(self, method, path, headers, body):
        c = http.client.HTTPSConnection(self.up_host, self.up_port,
                                        context=self.up_ctx, timeout=60)
        try:
            c.request(method, path, body=body, headers=headers)
            r = c.getresponse()
            data = r.read()
            return r.status, r.getheaders(), data
        finally:
            c.close()

    def control_file(self, name):
        p = os.path.join(self.control, name)
        try:
            with open(p) as f:
                return f.read()
        except FileNotFoundError:
            return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ari-proxy"

    def log_message(self, fmt, *args):  # the JSON log is enough
        pass

    def send(self, status, headers, body):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def problem(self, status, ptype, detail, nonce=True, retry_after=None):
        px = self.server.proxy
        headers = [("Content-Type", "application/problem+json")]
        if retry_after is not None:
            headers.append(("Retry-After", retry_after))
        if nonce:
            # A fresh nonce from Pebble, as a real CA sends with every error.
            try:
                st, hs, _ = px.upstream("HEAD", "/nonce-plz",
                                        {"Host": self.headers.get("Host", px.me)}, None)
                for k, v in hs:
                    if k.lower() == "replay-nonce":
                        headers.append(("Replay-Nonce", v))
            except OSError:
                pass
        body = json.dumps({"type": "urn:ietf:params:acme:error:" + ptype,
                           "detail": detail, "status": status}).encode()
        self.send(status, headers, body)
        return status

    def renewal_info(self, cert_id):
        px = self.server.proxy
        raw = px.control_file("ari-%s.json" % cert_id)
        if raw is None:
            raw = px.control_file("ari.json")
        if raw is None:
            return self.problem(404, "malformed", "no renewalInfo for %s" % cert_id,
                                nonce=False)
        spec = json.loads(raw)
        status = int(spec.get("status", 200))
        body = spec.get("body", "")
        if not isinstance(body, str):
            body = json.dumps(body)
        headers = [("Content-Type", "application/json")]
        if spec.get("retry_after") is not None:
            headers.append(("Retry-After", str(spec["retry_after"])))
        self.send(status, headers, body.encode())
        return status

    def forward(self, body):
        px = self.server.proxy
        headers = {}
        for k, v in self.headers.items():
            if k.lower() not in HOP_BY_HOP:
                headers[k] = v
        # Pebble derives its URLs (and the JWS "url" it expects) from Host.
        headers["Host"] = self.headers.get("Host", px.me)
        if self.command == "POST" and self.path.startswith("/finalize-order/"):
            try:
                os.remove(os.path.join(px.control, "finalize-drop"))
                self.rec["dropped"] = True
                time.sleep(30)
                self.close_connection = True
                return 0
            except FileNotFoundError:
                pass
            delay = (px.control_file("finalize-delay") or "").strip()
            if delay:
                open(os.path.join(px.control, "finalize-held"), "w").close()
                self.rec["held"] = True
                time.sleep(float(delay))
        st, hs, data = px.upstream(self.command, self.path, headers, body)
        # Pebble's own answer, before ours can fail (a client killed while
        # it waits): the test tells a finalize Pebble took from one it never
        # got (a body cut by the kill, which Pebble waits on until the proxy
        # gives up) by this alone.
        self.rec["upstream"] = st
        if self.command == "POST" and self.path.startswith("/finalize-order/"):
            delay = (px.control_file("finalize-response-delay") or "").strip()
            if delay:
                time.sleep(float(delay))
        ra = (px.control_file("poll-retry-after") or "").strip()
        if (ra and self.command == "POST" and st == 200 and
                self.path.startswith(("/my-order/", "/authZ/", "/finalize-order/")) and
                not any(k.lower() == "retry-after" for k, _ in hs)):
            hs = list(hs) + [("Retry-After", ra)]
        out = []
        for k, v in hs:
            lk = k.lower()
            if lk in HOP_BY_HOP:
                continue
            if lk in ("location", "link"):
                v = px.rewrite(v)
            out.append((k, v))
        if self.path == px.dir_path and st == 200:
            d = json.loads(data)
            d = json.loads(px.rewrite(json.dumps(d)))
            d["renewalInfo"] = "https://%s/renewal-info/" % px.me
            px.new_order_path = urllib.parse.urlsplit(d.get("newOrder", "")).path
            data = json.dumps(d, indent=2).encode()
        else:
            try:
                data = px.rewrite(data.decode()).encode()
            except UnicodeDecodeError:
                pass
        self.send(st, out, data)
        if st >= 400:
            try:
                self.rec["problem"] = json.loads(data).get("type")
            except ValueError:
                pass
        return st

    def handle_any(self):
        px = self.server.proxy
        rec = self.rec = {"method": self.command, "path": self.path, "t0": time.time()}
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n > 0 else None
        try:
            m = re.fullmatch(r"/renewal-info/([^/?]+)", self.path)
            if m and self.command == "GET":
                rec["status"] = self.renewal_info(m.group(1))
                return
            if self.command == "POST" and self.path == px.new_order_path and body:
                payload = json.loads(b64url_decode(json.loads(body)["payload"]))
                rec["payload"] = payload
                rej = (px.control_file("reject-new-order") or "").split()
                if len(rej) >= 2:
                    rec["status"] = self.problem(
                        int(rej[1]), rej[0], "refusing newOrder (test)",
                        retry_after=rej[2] if len(rej) > 2 else None)
                    rec["rejected"] = True
                    return
                rej = px.control_file("reject-replaces")
                if rej and rej.split() and "replaces" in payload:
                    ptype, status = rej.split()[0], int(rej.split()[1])
                    rec["status"] = self.problem(
                        status, ptype, "refusing replaces=%s (test)" % payload["replaces"])
                    rec["rejected"] = True
                    return
            rec["status"] = self.forward(body)
        except Exception as e:  # noqa: BLE001 - the test reads the log
            rec["error"] = repr(e)
            try:
                rec["status"] = self.problem(502, "serverInternal", "proxy: %r" % e,
                                             nonce=False)
            except OSError:
                pass
        finally:
            px.log(rec)
            if rec.get("held"):
                try:
                    os.remove(os.path.join(px.control, "finalize-held"))
                except FileNotFoundError:  # another held finalize ended first
                    pass

    do_GET = do_POST = do_HEAD = handle_any


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True, help="Pebble's directory URL")
    ap.add_argument("--upstream-ca", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--control", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--port-file", required=True)
    args = ap.parse_args()

    px = Proxy(args)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.proxy = px
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    port = srv.server_address[1]
    px.me = "127.0.0.1:%d" % port
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
