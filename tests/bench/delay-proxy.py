#!/usr/bin/env python3
"""delay-proxy.py - a slow CA made from the real Pebble, for run-bench's
slowca part (issue 12): a TLS-terminating HTTP/1.1 proxy in front of
Pebble's ACME API that holds every finalize POST for DELAY seconds before
passing it on, as Sectigo does for 50 s and more.

    delay-proxy.py PORT UPSTREAM_PORT CERT KEY UPSTREAM_CA DELAY NEWORDER_MAX STATS

It listens on 127.0.0.1:PORT with CERT/KEY (signed by a CA of the bench's
own, which the account's ca_bundle trusts) and opens, for each client
connection, one TLS connection to Pebble on 127.0.0.1:UPSTREAM_PORT
(verified against UPSTREAM_CA).  The Host header goes through unchanged,
so every URL Pebble writes (directory, Location, order bodies) already
names the proxy, and the JWS "url" matches what Pebble checks: nothing is
rewritten.  Requests are parsed (Content-Length bodies only: libcurl sends
its POSTs that way); responses are piped back byte for byte, which is enough
because the client never pipelines: a request is only sent after the
previous response has come.

NEWORDER_MAX > 0 lets at most that many newOrder POSTs (/order-plz) be at
Pebble at once: Debian's Pebble 2.4 deadlocks under many concurrent
newOrder requests (see run-bench's header), which a bench of 1,000 orders
in flight would otherwise hit before it measured anything.  A newOrder
counts as done once the first byte of its response comes back.  This is
the CA's problem worked around in the test rig, not a feature of the
client under test; with it, newOrder at 1,000 in flight is paced by
Pebble's own speed.

Once a second, and on exit, STATS gets one line of JSON: finalizes held
now, the most held at once, finalizes forwarded, requests, connections
open and the most open at once.  Stdlib only.
"""
import asyncio
import os
import json
import signal
import ssl
import sys

HOLD_PREFIX = b"/finalize-order/"
NEW_ORDER = b"/order-plz"
HEAD_MAX = 64 * 1024

stats = {"held": 0, "held_max": 0, "finalized": 0, "requests": 0, "conns": 0,
         "conns_max": 0}


def write_stats(path):
    with open(path + ".tmp", "w") as f:
        json.dump(stats, f)
    # atomic for the reader
    os.replace(path + ".tmp", path)


async def read_request(reader):
    """One request: (head bytes, body bytes, method, path), or None at EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    except asyncio.LimitOverrunError:
        raise ValueError("request head too large")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        raise ValueError("bad request line %r" % lines[0])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        elif name.strip().lower() == b"transfer-encoding":
            raise ValueError("chunked requests are not supported")
    body = await reader.readexactly(length) if length else b""
    return head, body, parts[0], parts[1]


class Conn:
    def __init__(self, args, reader, writer):
        self.args = args
        self.reader = reader
        self.writer = writer
        self.up_reader = self.up_writer = None
        self.pump = None
        self.neworder_pending = False

    async def upstream(self):
        if self.up_writer is None:
            ctx = ssl.create_default_context(cafile=self.args["upstream_ca"])
            self.up_reader, self.up_writer = await asyncio.open_connection(
                "127.0.0.1", self.args["upstream_port"], ssl=ctx,
                server_hostname="localhost", limit=HEAD_MAX)
            self.pump = asyncio.ensure_future(self.pump_back())

    def neworder_done(self):
        if self.neworder_pending:
            self.neworder_pending = False
            self.args["neworder_sem"].release()

    async def pump_back(self):
        try:
            while True:
                data = await self.up_reader.read(65536)
                if not data:
                    break
                self.neworder_done()
                self.writer.write(data)
                await self.writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            self.neworder_done()
            self.writer.close()

    async def run(self):
        try:
            while True:
                req = await read_request(self.reader)
                if req is None:
                    break
                head, body, method, path = req
                stats["requests"] += 1
                if method == b"POST" and path.startswith(HOLD_PREFIX):
                    stats["held"] += 1
                    stats["held_max"] = max(stats["held_max"], stats["held"])
                    try:
                        await asyncio.sleep(self.args["delay"])
                    finally:
                        stats["held"] -= 1
                    stats["finalized"] += 1
                await self.upstream()
                if method == b"POST" and path == NEW_ORDER and self.args["neworder_sem"]:
                    await self.args["neworder_sem"].acquire()
                    self.neworder_pending = True
                self.up_writer.write(head + body)
                await self.up_writer.drain()
        except (ConnectionError, ssl.SSLError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            self.neworder_done()
            if self.up_writer is not None:
                self.up_writer.close()
            if self.pump is not None:
                try:
                    await self.pump
                except Exception:
                    pass
            self.writer.close()


async def main():
    (port, up_port, cert, key, up_ca, delay, neworder_max, stats_path) = sys.argv[1:9]
    args = {"upstream_port": int(up_port), "upstream_ca": up_ca, "delay": float(delay),
            "neworder_sem": asyncio.Semaphore(int(neworder_max)) if int(neworder_max) > 0
            else None}
    sctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    sctx.load_cert_chain(cert, key)
    sctx.set_alpn_protocols(["http/1.1"])

    async def handle(reader, writer):
        stats["conns"] += 1
        stats["conns_max"] = max(stats["conns_max"], stats["conns"])
        try:
            await Conn(args, reader, writer).run()
        finally:
            stats["conns"] -= 1

    server = await asyncio.start_server(handle, "127.0.0.1", int(port), ssl=sctx,
                                        limit=HEAD_MAX, backlog=4096)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with server:
        while not stop.is_set():
            write_stats(stats_path)
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except asyncio.TimeoutError:
                pass
    write_stats(stats_path)


if __name__ == "__main__":
    asyncio.run(main())
