"""Callback bursts: N tasks turn terminal at the same mock instant (one clock advance) and the
mock sends N callbacks to one receiver on loopback (bench/receiver.py, its own process).

Lag is measured from the wall time just before the advance request: *sent* is when the
mock wrote the request to the connection (the attempt's ``sent_real_at``), *received* when
the receiver had read it. Exactly once: every callback path arrives once at the receiver,
and every delivery is ``delivered`` after one attempt. With ``--baseline-ref REF`` the same
bursts also run against the mock as it was at that git commit, in the same run.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.processes import free_port

from ..runner import (
    BENCH,
    HEADERS,
    POST_PATH,
    TMP,
    Context,
    Proc,
    checkout,
    mark,
    percentile,
    start_mock,
)

NAME = "callbacks"
# (result key, scheme, share of --callbacks, p99 due→sent target in ms or None for info)
BURSTS = (("callbacks", "http", 1, 50.0), ("callbacks_small_burst", "http", 10, None),
          ("callbacks_https", "https", 1, 150.0), ("callbacks_https_small_burst", "https", 10, 20.0))


def run(ctx: Context) -> dict[str, Any]:
    out: dict[str, Any] = {}
    certs = TMP / "certs"
    if not (certs / "ca.pem").exists():
        subprocess.run([str(Path(sys.executable).parent / "evolink-mock"), "certs", str(certs)],
                       check=True, stdout=subprocess.DEVNULL)
    sources: dict[str, Path | None] = {"": None}
    if ctx.args.baseline_ref:
        sources["baseline_"] = checkout(ctx.args.baseline_ref, ("mock_server", "spec"))
    for key, scheme, share, _target in BURSTS:
        count = max(1, ctx.args.callbacks // share)
        for prefix, source in sources.items():
            result = measure(ctx, count, scheme, certs, source)
            if prefix:
                result["ref"] = ctx.args.baseline_ref
            out[prefix + key] = result
            ctx.progress(f"callbacks over {scheme}, {count} due at once"
                         + (f" (mock at {ctx.args.baseline_ref})" if prefix else "") + ": " + (
                f"{result['delivered']}/{count} delivered, {result['received_unique']} received once, "
                f"due→sent p50 {result['sent_lag_ms']['p50']} ms p99 {result['sent_lag_ms']['p99']} ms, "
                f"received p99 {result['arrival_lag_ms']['p99']} ms; mock CPU "
                f"{result['mock_cpu_ms_per_callback']} ms per callback"
                if result.get("measured") else result["reason"]))
    return out


def start_receiver(port: int, certs: Path | None) -> Proc:
    proc = Proc(f"receiver-{port}", [sys.executable, str(BENCH / "receiver.py"), "--port", str(port),
                                     *(["--certs", str(certs)] if certs else [])],
                stdout=subprocess.PIPE)
    assert proc.popen.stdout is not None
    if proc.popen.stdout.readline().strip() != b"ready":
        raise SystemExit(f"the callback receiver did not start:\n{proc.tail()}")
    return proc


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(ctx: Context, count: int, scheme: str, certs: Path, source: Path | None) -> dict[str, Any]:
    receiver_port, port = free_port(), free_port()
    receiver = start_receiver(receiver_port, certs if scheme == "https" else None)
    host = "localhost" if scheme == "https" else "127.0.0.1"   # the certificate's name
    allow = ["--allow-callback-host", f"{host}:{receiver_port}"]
    if scheme == "https":
        allow += ["--callback-ca", str(certs / "ca.pem")]
    env = {"PYTHONPATH": str(source)} if source else None
    mock = start_mock(f"mock-callbacks-{scheme}", port, *allow, env=env)
    base = f"http://127.0.0.1:{port}"
    receiver_url = f"{scheme}://{host}:{receiver_port}"
    verify: Any = str(certs / "ca.pem") if scheme == "https" else True
    try:
        bodies = [json.dumps({**ctx.body_dict, "callback_url": f"{receiver_url}/cb/{i}"}).encode()
                  for i in range(count)]
        statuses = asyncio.run(_create_many(base, bodies, ctx.args.connections))
        if any(status != 200 for status in statuses):
            raise SystemExit(f"creating callback tasks: statuses {dict(collections.Counter(statuses))}")
        # A client whose connection is already open, so that nothing but the request itself
        # (no client set-up, no TCP handshake) lies between `advanced_at` and the advance.
        with httpx.Client(base_url=base, timeout=30) as admin:
            tasks = admin.get("/_mock/tasks", params={"limit": 1}).json()
            # Every task has the same plan, so they all turn terminal at the same mock instant.
            finish = max(t["plan"]["finishes_at"] for t in tasks["tasks"])
            seconds = max(1.0, finish - admin.get("/_mock/clock").json()["now"] + 60)
            time.sleep(0.5)   # let the create burst settle
            cpu_before = process_cpu_seconds(mock.pid)
            advanced_at = time.time()
            response = admin.post("/_mock/clock/advance", json={"seconds": seconds})
        if response.status_code != 200:
            raise SystemExit(f"clock advance answered {response.status_code}: {response.text}")
        deadline = time.monotonic() + 120
        arrivals: list[list[Any]] = []
        with httpx.Client(verify=verify, timeout=30) as probe:
            while time.monotonic() < deadline:
                arrivals = probe.get(f"{receiver_url}/_arrivals").json()
                if len(arrivals) >= count:
                    break
                time.sleep(0.05)
        cpu_used = process_cpu_seconds(mock.pid) - cpu_before
        deliveries: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            deliveries = httpx.get(base + "/_mock/deliveries", timeout=30).json()["deliveries"]
            if len(deliveries) >= count and all(d["state"] != "pending" for d in deliveries):
                break
            time.sleep(0.2)
        time.sleep(0.5)   # anything sent twice would arrive by now
        with httpx.Client(verify=verify, timeout=30) as probe:
            arrivals = probe.get(f"{receiver_url}/_arrivals").json()
    finally:
        mock.stop()
        receiver.stop()
    attempts = [d["attempts"][0] for d in deliveries if d["attempts"]]
    lags = [(a["sent_real_at"] - advanced_at) * 1000 for a in attempts]
    received = [(at - advanced_at) * 1000 for at, _path in arrivals]
    paths = collections.Counter(path for _at, path in arrivals)
    delivered = sum(1 for d in deliveries if d["state"] == "delivered")
    if not lags:
        return {"measured": False, "tasks": count, "reason": "no delivery attempt was recorded within 120 s"}
    once = (delivered == count and len(paths) == count and set(paths.values()) == {1}
            and all(len(d["attempts"]) == 1 for d in deliveries))
    return {
        "measured": True,
        "scheme": scheme,
        "tasks": count,
        "deliveries": len(deliveries),
        "delivered": delivered,
        "received": len(arrivals),
        "received_unique": len(paths),
        "exactly_once": once,
        "how": "manual clock; all tasks due at the same mock instant; one POST /_mock/clock/advance "
               "past it; lag from the wall time just before the advance request to the attempt's "
               "sent_real_at (request written) and to the receiver's arrival time",
        "mock_cpu_ms_per_callback": round(cpu_used * 1000 / count, 3),
        "sent_lag_ms": {"p50": round(percentile(lags, 50), 1), "p99": round(percentile(lags, 99), 1),
                        "max": round(max(lags), 1)},
        "arrival_lag_ms": {"p50": round(percentile(received, 50), 1),
                           "p99": round(percentile(received, 99), 1),
                           "max": round(max(received), 1)} if received else None,
    }


async def _create_many(base: str, bodies: list[bytes], concurrency: int) -> list[int]:
    slots = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        async def one(body: bytes) -> int:
            async with slots:
                response = await client.post(POST_PATH, content=body,
                                             headers={**HEADERS, "Content-Type": "application/json"})
                return response.status_code
        return await asyncio.gather(*(one(b) for b in bodies))


def rows(results: dict[str, Any]) -> list[str]:
    lines = []
    for key, scheme, _share, target in BURSTS:
        for prefix in ("", "baseline_"):
            cb = results.get(prefix + key)
            if not cb:
                continue
            who = f" — mock at {cb['ref']}" if prefix else ""
            if not cb.get("measured"):
                lines.append(f"| Callback lag over {scheme}{who} | {cb['reason']} | | | | not measured |")
                continue
            sent, arrived = cb["sent_lag_ms"], cb.get("arrival_lag_ms") or {}
            verdict = "info" if target is None or prefix else mark(
                sent["p99"] <= target and cb["exactly_once"])
            lines.append(
                f"| Callback lag due→sent, {cb['tasks']:,} due at once to one {scheme.upper()} "
                f"receiver{who}: p50 / p99 (max) | {sent['p50']:.1f} / {sent['p99']:.1f} ms "
                f"({sent['max']:.1f}); received p99 "
                f"{arrived.get('p99', float('nan')):.1f} ms; {cb['delivered']}/{cb['tasks']} delivered, "
                f"{'each exactly once' if cb['exactly_once'] else 'NOT exactly once'}; mock CPU "
                f"{cb['mock_cpu_ms_per_callback']:.2f} ms per callback | | | "
                f"{f'p99 ≤ {target:g} ms, exactly once' if target else '(scaling)'} | {verdict} |")
    return lines
