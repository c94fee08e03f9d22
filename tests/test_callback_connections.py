"""Callback connections are kept alive and reused, and reuse never skips a check: a pooled
connection serves only the checked address and the host name it was checked for."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from typing import Any

from mock_server.callbacks.policy import CallbackPolicy
from mock_server.callbacks.pool import CONNECTIONS_PER_ADDRESS
from mock_server.callbacks.sender import Sender
from mock_server.callbacks.urls import parse_allowed_host

from .receivers import CLOSE_AFTER, HANG, Receiver
from .test_callbacks import TAKES, advance, create, deliveries, running_mock


async def _to_loopback(url: str) -> list[str]:
    """DNS as a test wants it: every name is 127.0.0.1 (where the receiver listens)."""
    return ["127.0.0.1"]


def send_all(sender: Sender, *urls: str) -> list[Any]:
    """Send one empty JSON body to each URL in turn, on one loop, then close the sender."""
    async def run() -> list[Any]:
        try:
            return [await sender.send(url, b"{}") for url in urls]
        finally:
            await sender.aclose()

    return asyncio.run(run())


def sender_for(*allowed: str, timeout: float = 5.0) -> Sender:
    policy = CallbackPolicy(tuple(parse_allowed_host(host) for host in allowed))
    return Sender(policy, timeout=timeout, resolver=_to_loopback)


def test_a_burst_to_one_handler_goes_over_a_few_kept_alive_connections() -> None:
    count = 60
    with Receiver(keep_alive=True) as receiver, \
            running_mock(receiver.host_port) as (server, http):
        ids = [create(http, receiver.url(f"/hook/{n}")) for n in range(count)]
        advance(server, http, TAKES)
        receiver.wait_for(count)
        sent = deliveries(http)
    assert Counter(request.path for request in receiver.requests) == {
        f"/hook/{n}": 1 for n in range(count)}, "every callback arrives exactly once"
    assert sorted(d["task_id"] for d in sent) == sorted(ids)
    assert all(d["state"] == "delivered" and len(d["attempts"]) == 1 for d in sent)
    assert 1 <= receiver.connections <= CONNECTIONS_PER_ADDRESS


def test_a_pooled_connection_serves_only_the_host_name_it_was_checked_for() -> None:
    with Receiver(keep_alive=True) as receiver:
        port = receiver.port
        outcomes = send_all(sender_for(f"a.example:{port}", f"b.example:{port}"),
                            f"http://a.example:{port}/1", f"http://b.example:{port}/2",
                            f"http://a.example:{port}/3", f"http://b.example:{port}/4")
    assert [o.status for o in outcomes] == [200, 200, 200, 200]
    # Same address, two names: two connections, each reused by its own name only.
    assert receiver.connections == 2
    assert [r.headers["host"] for r in receiver.requests] == [
        f"{name}.example:{port}" for name in "abab"]


def test_every_attempt_is_checked_again_while_a_connection_to_that_address_is_pooled() -> None:
    with Receiver(keep_alive=True) as receiver:
        port = receiver.port
        allowed, refused = send_all(sender_for(f"a.example:{port}"),
                                    f"http://a.example:{port}/ok",
                                    f"https://hooks.evil-rebind.net:{port}/rebound")
    assert allowed.status == 200
    assert refused.status is None and refused.address is None
    assert refused.error == ("callback_url host hooks.evil-rebind.net resolves to a loopback address "
                             "(127.0.0.1); refusing to deliver")
    assert [r.path for r in receiver.requests] == ["/ok"]


def test_a_connection_the_handler_closes_is_not_used_again() -> None:
    with Receiver(CLOSE_AFTER, 200, keep_alive=True) as receiver:
        url = receiver.url(host="a.example")
        outcomes = send_all(sender_for(f"a.example:{receiver.port}"), url, url)
    assert [o.status for o in outcomes] == [200, 200]
    assert receiver.connections == 2


def test_a_connection_whose_answer_timed_out_is_not_used_again() -> None:
    with Receiver(HANG, 200, keep_alive=True) as receiver:
        url = receiver.url(host="a.example")
        hung, answered = send_all(sender_for(f"a.example:{receiver.port}", timeout=0.3), url, url)
    assert hung.status is None and hung.error == "no answer within 0.3 s"
    assert answered.status == 200
    assert receiver.connections == 2 and len(receiver.requests) == 2


def test_a_name_that_now_resolves_to_another_address_does_not_reuse_the_old_connection() -> None:
    answers = [["127.0.0.1"], ["127.0.0.2"]]

    async def moving(url: str) -> list[str]:
        """The name's address changes between the two attempts (both are allowed here)."""
        return answers.pop(0)

    with Receiver(keep_alive=True) as receiver:   # listens on 127.0.0.1 only
        port = receiver.port
        policy = CallbackPolicy((parse_allowed_host(f"a.example:{port}"),))
        first, second = send_all(Sender(policy, timeout=5.0, resolver=moving),
                                 f"http://a.example:{port}/1", f"http://a.example:{port}/2")
    assert first.status == 200 and first.address == "127.0.0.1"
    # The kept-alive connection to 127.0.0.1 would have carried it; the new address refuses.
    assert second.status is None and second.error is not None and "ConnectionRefusedError" in second.error
    assert [r.path for r in receiver.requests] == ["/1"] and receiver.connections == 1


def test_a_refused_connection_moves_the_attempt_to_the_next_checked_address() -> None:
    async def two(url: str) -> list[str]:
        return ["127.0.0.2", "127.0.0.1"]   # nothing listens on the first

    with Receiver(keep_alive=True) as receiver:   # listens on 127.0.0.1 only
        port = receiver.port
        policy = CallbackPolicy((parse_allowed_host(f"a.example:{port}"),))
        [outcome] = send_all(Sender(policy, timeout=5.0, resolver=two), f"http://a.example:{port}/x")
    assert outcome.status == 200 and outcome.address == "127.0.0.1"
    assert [r.path for r in receiver.requests] == ["/x"]


def test_a_lookup_that_fails_is_the_attempts_answer_and_sends_nothing() -> None:
    async def broken(url: str) -> list[str]:
        raise OSError("no such host")

    with Receiver(keep_alive=True) as receiver:
        port = receiver.port
        policy = CallbackPolicy((parse_allowed_host(f"a.example:{port}"),))
        [outcome] = send_all(Sender(policy, timeout=5.0, resolver=broken), f"http://a.example:{port}/x")
    assert outcome.status is None and outcome.address is None
    assert outcome.error == "OSError: no such host"
    assert receiver.requests == []


def test_attempts_asking_at_the_same_time_share_one_lookup() -> None:
    lookups = []

    async def counted(url: str) -> list[str]:
        lookups.append(url)
        await asyncio.sleep(0)   # still in progress while the other attempts ask
        return ["127.0.0.1"]

    async def burst(sender: Sender, port: int) -> list[Any]:
        try:
            return await asyncio.gather(*(sender.send(f"http://a.example:{port}/{n}", b"{}")
                                          for n in range(5)))
        finally:
            await sender.aclose()

    with Receiver(keep_alive=True) as receiver:
        policy = CallbackPolicy((parse_allowed_host(f"a.example:{receiver.port}"),))
        outcomes = asyncio.run(burst(Sender(policy, timeout=5.0, resolver=counted), receiver.port))
        receiver.wait_for(5)
    assert [o.status for o in outcomes] == [200] * 5
    assert len(lookups) == 1


class HangingResolver:
    """A resolver that never answers, and notes which lookups were stopped (cancelled)."""

    def __init__(self) -> None:
        self.stopped: list[str] = []
        self.any_stopped = asyncio.Event()

    async def __call__(self, url: str) -> list[str]:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.stopped.append(url)
            self.any_stopped.set()
            raise
        return []

    async def stopped_soon(self) -> list[str]:
        """The stopped lookups, once one is (or after 1 s), before the loop's end cancels
        whatever is left."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.any_stopped.wait(), 1.0)
        return list(self.stopped)


def test_a_lookup_slower_than_the_timeout_is_the_attempts_answer_and_is_stopped() -> None:
    resolver = HangingResolver()

    async def run(port: int) -> tuple[Any, list[str]]:
        sender = Sender(CallbackPolicy((parse_allowed_host(f"a.example:{port}"),)),
                        timeout=0.05, resolver=resolver)
        outcome = await sender.send(f"http://a.example:{port}/x", b"{}")
        return outcome, await resolver.stopped_soon()

    with Receiver(keep_alive=True) as receiver:
        outcome, stopped = asyncio.run(run(receiver.port))
    assert outcome.status is None and outcome.error == "no answer within 0.05 s"
    assert stopped == [f"http://a.example:{receiver.port}/x"]
    assert receiver.requests == []


def test_closing_the_sender_stops_a_lookup_in_progress() -> None:
    resolver = HangingResolver()

    async def run() -> list[str]:
        sender = Sender(CallbackPolicy((parse_allowed_host("a.example:9"),)), timeout=5.0,
                        resolver=resolver)
        attempt = asyncio.ensure_future(sender.send("http://a.example:9/x", b"{}"))
        await asyncio.sleep(0.01)
        await sender.aclose()
        stopped = await resolver.stopped_soon()
        attempt.cancel()
        return stopped

    assert asyncio.run(run()) == ["http://a.example:9/x"]


def test_connections_across_addresses_stay_within_the_sender_limit() -> None:
    """Three host names on one receiver, room for two connections: the third name's request
    waits until a connection closes or idles (then closed to make room), and still goes out."""
    open_now, most_open, hosts = 0, 0, []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal open_now, most_open
        open_now += 1
        most_open = max(most_open, open_now)
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                lines = head.decode().split("\r\n")
                fields = dict(line.lower().split(": ", 1) for line in lines[1:] if line)
                await reader.readexactly(int(fields["content-length"]))
                hosts.append(fields["host"].split(":")[0])
                await asyncio.sleep(0.05)   # answers take a while: the requests overlap
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            open_now -= 1
            writer.close()

    async def run() -> list[Any]:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        names = ("a.example", "b.example", "c.example")
        policy = CallbackPolicy(tuple(parse_allowed_host(f"{name}:{port}") for name in names))
        sender = Sender(policy, timeout=5.0, resolver=_to_loopback, max_connections=2)
        try:
            return await asyncio.gather(*(sender.send(f"http://{name}:{port}/{n}", b"{}")
                                          for n in range(2) for name in names))
        finally:
            await sender.aclose()
            server.close()

    outcomes = asyncio.run(run())
    assert [o.status for o in outcomes] == [200] * 6
    assert most_open == 2
    assert sorted(hosts) == sorted(["a.example", "b.example", "c.example"] * 2)
