"""Kept-alive callback connections, per checked address: the lanes and their limits.

A pooled connection belongs to one (scheme, checked address, port, host name): it is reused
only by an attempt that resolved and checked the same address for the same host name (the
sender does that), so reuse never skips a check, an SNI or a certificate verification.
Keeping connections alive is what makes bursts cheap: 1,000 callbacks due at once to one
HTTPS handler make 4 TLS handshakes instead of 1,000 (bench/results.md). TLS sessions are
not resumed: asyncio's create_connection takes no session.

Each key is a lane: a queue of requests and up to CONNECTIONS_PER_ADDRESS connections. A
connection whose answer is complete writes the lane's next request from its own protocol
callback, so a request costs no semaphore, timer context or task wake-up of its own; the
handler's deadline is one loop timer from the write. Against the semaphore-per-request pool
this replaced, same run (load average ~7 on 2 cores): mock CPU per callback in a burst of
1,000, HTTP 0.20 vs 0.34 ms, HTTPS 0.28 vs 0.43 ms; with the attempts as callbacks too
(sender.Flight), on a quiet machine: HTTP 0.11 vs 0.20 ms, HTTPS 0.16 vs 0.25 ms against the
mock before both (bench/run.py --only callbacks --baseline-ref).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import Coroutine
from typing import Any

from .connections import Exchange, Request

PoolKey = tuple[str, str, int, str]   # scheme, checked address, port, host name (SNI, Host)
# Connections per (scheme, address, port, host): how many callbacks a handler has on its
# plate at once (4 keeps a handler that takes 100 ms per callback at 40 a second). Each TLS
# handshake costs ~1.5 ms of CPU on each side, and since attempts are callbacks rather than
# tasks (sender.py) more connections no longer make a burst cheaper per request. Three
# same-run pairs on a quiet machine, 4 against 8 connections, 1,000 callbacks due at once to
# one HTTPS handler: due->sent p99 150 / 161 / 141 ms against 162 / 160 / 184 ms, mock CPU
# 0.12-0.13 against 0.14-0.16 ms per callback; 100 at once: p99 26 / 60 / 24 ms against
# 29 / 40 / 39 ms (bench/run.py --only callbacks --baseline-ref).
CONNECTIONS_PER_ADDRESS = 4
# Connections open at once, whatever their address (file descriptors, and the handlers'
# patience): past it a new address waits until another one's connection closes or idles.
MAX_CONNECTIONS = 100
# An idle connection is reused only this soon: below the shortest keep-alive timeout of common
# servers (gunicorn 2 s; uvicorn and Node 5 s; nginx 75 s), so the handler has not closed it
# as the request goes out. A POST is never sent twice, so a stale connection would cost a
# failed attempt (and the retry 1 s later).
IDLE_SECONDS = 1.0


class ConnectFailed(Exception):
    """No connection to this address: the attempt moves on to the host's next address."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(str(cause))
        self.cause = cause


class Lane:
    """The connections of one :data:`PoolKey` (at most ``CONNECTIONS_PER_ADDRESS``) and the
    requests waiting for one of them, first come first served."""

    def __init__(self, pool: Pool, key: PoolKey) -> None:
        self.pool, self.key = pool, key
        self.waiting: deque[Request] = deque()
        self.idle: list[Exchange] = []   # most recently used last
        self.open: set[Exchange] = set()
        self.connecting = 0

    def submit(self, request: Request) -> None:
        self.waiting.append(request)
        self.serve()

    def serve(self) -> None:
        """Put waiting requests on idle connections, and open connections for the rest."""
        now = time.monotonic()
        while self.waiting and self.idle:
            connection = self.idle.pop()
            if not connection.usable(now, IDLE_SECONDS):
                connection.close()
                continue
            request = self._next()
            if request is None:
                self.idle.append(connection)
                return
            connection.start(request)
        while (self.connecting < len(self.waiting)
               and len(self.open) + self.connecting < self.pool.per_key and self.pool.may_open(self)):
            self.connecting += 1
            self.pool.connecting(self._connect())

    def _next(self) -> Request | None:
        while self.waiting:
            request = self.waiting.popleft()
            if not request.settled:   # an abandoned attempt no longer waits
                return request
        return None

    async def _connect(self) -> None:
        scheme, address, port, host = self.key
        tls: dict[str, Any] = {"ssl": self.pool.tls, "server_hostname": host} if scheme == "https" else {}
        timeout = self.pool.timeout
        try:
            _, connection = await asyncio.wait_for(asyncio.get_running_loop().create_connection(
                lambda: Exchange(self, timeout), address, port, **tls), timeout)
        except (OSError, ValueError) as exc:
            # A refused connection moves the attempt on to its host's next address; a
            # timeout or anything else is the attempt's answer.
            self._connected(None, exc if isinstance(exc, TimeoutError | ValueError) else ConnectFailed(exc))
        except BaseException:
            self._connected(None, None)
            raise
        else:
            self._connected(connection, None)

    def _connected(self, connection: Exchange | None, failure: BaseException | None) -> None:
        self.connecting -= 1
        if connection is None:
            self.pool.count -= 1
            if failure is not None and not self.open and not self.connecting:
                # Nothing else will carry the requests waiting for this address.
                while self.waiting:
                    request = self.waiting.popleft()
                    if not request.settled:
                        request.failed(failure)
            self.pool.slot_freed()
            return
        self.pool.opened += 1
        self.open.add(connection)
        self.released(connection)

    def released(self, connection: Exchange) -> None:
        """``connection`` finished an exchange (or just opened): give it the next request."""
        request = self._next()
        if request is not None:
            connection.start(request)
            return
        connection.idle_since = time.monotonic()
        self.idle.append(connection)
        self.pool.went_idle(self)

    def closed(self, connection: Exchange) -> None:
        if connection in self.open:
            self.open.discard(connection)
            if connection in self.idle:
                self.idle.remove(connection)
            self.pool.count -= 1
            if self.waiting:
                self.serve()
            self.pool.slot_freed()

    def sweep(self, now: float) -> None:
        for connection in [c for c in self.idle if not c.usable(now, IDLE_SECONDS)]:
            connection.close()

    def close(self) -> None:
        for connection in list(self.open):
            connection.close()


class Pool:
    """The lanes of one sender, and the limit on connections open across them."""

    def __init__(self, tls: ssl.SSLContext, timeout: float, *,
                 per_key: int = CONNECTIONS_PER_ADDRESS, most: int = MAX_CONNECTIONS) -> None:
        self.per_key, self.most, self.tls, self.timeout = per_key, most, tls, timeout
        self.lanes: dict[PoolKey, Lane] = {}
        self.count = 0    # connections open or being opened, across the lanes
        self.opened = 0   # connections made, for tests and the bench
        self._connects: set[asyncio.Task[None]] = set()
        self._starved: deque[Lane] = deque()   # lanes with requests and no room to connect
        self._swept = time.monotonic()

    def lane(self, key: PoolKey) -> Lane:
        lane = self.lanes.get(key)
        if lane is None:
            lane = self.lanes[key] = Lane(self, key)
        return lane

    def may_open(self, lane: Lane) -> bool:
        """Room for one more connection (counted as taken on True), if need be by closing
        another address's idle one; otherwise the lane waits for a connection to close."""
        while self.count >= self.most:
            other = next((o for o in self.lanes.values() if o is not lane and o.idle), None)
            if other is None:
                if lane not in self._starved:
                    self._starved.append(lane)
                return False
            other.idle[0].close()
        self.count += 1
        return True

    def connecting(self, connect: Coroutine[None, None, None]) -> None:
        task = asyncio.get_running_loop().create_task(connect)
        self._connects.add(task)
        task.add_done_callback(self._connects.discard)

    def slot_freed(self) -> None:
        while self._starved and self.count < self.most:
            lane = self._starved.popleft()
            if lane.waiting:
                lane.serve()

    def went_idle(self, lane: Lane) -> None:
        if self._starved:   # another address waits for room: this connection makes it
            lane.idle[-1].close()
        now = time.monotonic()
        if now - self._swept > IDLE_SECONDS:   # close what nobody will reuse
            self._swept = now
            for each in list(self.lanes.values()):
                each.sweep(now)
                if not each.open and not each.waiting and not each.connecting:
                    del self.lanes[each.key]

    def close(self) -> None:
        for task in self._connects:
            task.cancel()
        for lane in list(self.lanes.values()):
            lane.close()
        self.lanes.clear()
