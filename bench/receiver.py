"""A callback receiver for the callback-burst measurement, in a process of its own.

    python bench/receiver.py --port P [--certs DIR]   # prints "ready" when it listens

Answers every POST with 200 (keeping the connection alive, as a real web server does) and
notes when it arrived and on which path; ``GET /_arrivals`` answers them as JSON
``[[wall time, path], ...]``. An asyncio Protocol on uvloop with a hand-rolled HTTP/1.1
reader (Content-Length framing only, which is what the mock sends), so that the receiver
costs little next to the sender it measures: it has a core of its own, the mock the other.
With ``--certs`` (``evolink-mock certs DIR``) it serves HTTPS with ``localhost-cert.pem``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import time
from pathlib import Path
from typing import ClassVar, cast

OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


class Receiving(asyncio.Protocol):
    arrivals: ClassVar[list[tuple[float, str]]] = []   # one list for every connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream connection's transport writes; uvloop's is no asyncio.Transport subclass.
        self.transport = cast(asyncio.Transport, transport)
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length:]
            method, path, _ = head.split(" ", 2)
            if method == "GET" and path == "/_arrivals":
                body = json.dumps(Receiving.arrivals).encode()
                self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                     b"Content-Length: %d\r\n\r\n" % len(body) + body)
            else:
                Receiving.arrivals.append((time.time(), path))
                self.transport.write(OK)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--certs", type=Path, help="directory written by `evolink-mock certs`")
    args = parser.parse_args()
    context = None
    if args.certs:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.certs / "localhost-cert.pem", args.certs / "localhost-key.pem")
    server = await asyncio.get_running_loop().create_server(
        Receiving, "127.0.0.1", args.port, ssl=context, backlog=2048)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        import uvloop
        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
