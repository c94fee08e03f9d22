"""Replicas on PostgreSQL: one replica against two (``serve --workers N --state postgresql://``,
so one port and the kernel spreading connections), each against one PostgreSQL on this box.

Rows: GET a task, POST a create (wrk), and a callback burst (N tasks due at one clock
advance, sent to bench/receiver.py); beside each, the CPU the replicas and PostgreSQL used
(cores: CPU seconds over wall seconds). PostgreSQL is started here as the suite starts it
(tests/postgres.py), so the bench needs Debian's postgresql package; without it the rows
say why they are missing.
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
from typing import Any

import httpx

from tests.processes import free_port

from ..runner import (
    GET_PATH,
    Context,
    Proc,
    create_task,
    group_cpu_seconds,
    mark,
    run_wrk,
    start_mock,
)
from .callbacks import _create_many, start_receiver

NAME = "replicas"
REPLICAS = (1, 2)


def run(ctx: Context) -> dict[str, Any]:
    from tests.postgres import PostgresServer, skip_reason

    reason = skip_reason()
    if reason is not None:
        ctx.progress(f"replicas: skipped, {reason}")
        return {"replicas": {"measured": False, "reason": reason}}
    postgres = PostgresServer()
    try:
        rows = {str(n): measure(ctx, postgres, n) for n in REPLICAS}
    finally:
        postgres.close()
    return {"replicas": {"measured": True, "rows": rows}}


def measure(ctx: Context, postgres: Any, replicas: int) -> dict[str, Any]:
    url = postgres.new_database()
    receiver_port, port = free_port(), free_port()
    receiver = start_receiver(receiver_port, None)
    mock = start_mock(f"mock-replicas-{replicas}", port, "--state", url, "--workers", str(replicas),
                      "--allow-callback-host", f"127.0.0.1:{receiver_port}")
    base = f"http://127.0.0.1:{port}"
    out: dict[str, Any] = {}
    try:
        task_id = create_task(base, ctx.body)
        for name, kwargs in (("get", {}), ("post", {"body_file": ctx.body_file})):
            target = base + (GET_PATH.format(task_id=task_id) if name == "get" else "/v1/videos/generations")
            pg_before = postgres.backend_cpu_seconds()
            started = time.monotonic()
            result = run_wrk(target, seconds=ctx.args.duration, threads=ctx.args.threads,
                             connections=ctx.args.connections, server_pgid=mock.pid, **kwargs)
            result["postgres_cpu_cores"] = round(
                (postgres.backend_cpu_seconds() - pg_before) / (time.monotonic() - started), 2)
            out[name] = result
            ctx.progress(f"{replicas} replica(s) {name.upper()}: {result['rps']:.0f} req/s, p99 "
                         f"{result['p99_ms']} ms, replicas {result['server_cpu_cores']} cores, "
                         f"PostgreSQL {result['postgres_cpu_cores']} cores")
        out["callbacks"] = burst(ctx, postgres, base, mock, receiver_port, replicas)
    finally:
        mock.stop()
        receiver.stop()
    return out


def burst(ctx: Context, postgres: Any, base: str, mock: Proc, receiver_port: int,
          replicas: int) -> dict[str, Any]:
    count = ctx.args.callbacks   # due at once, as in the one-process callback bursts
    bodies = [json.dumps({**ctx.body_dict, "callback_url": f"http://127.0.0.1:{receiver_port}/cb/{i}"})
              .encode() for i in range(count)]
    statuses = asyncio.run(_create_many(base, bodies, ctx.args.connections))
    if any(status != 200 for status in statuses):
        raise SystemExit(f"creating callback tasks: {dict(collections.Counter(statuses))}")
    with httpx.Client(base_url=base, timeout=60) as admin:
        finish = max(t["plan"]["finishes_at"]
                     for t in admin.get("/_mock/tasks", params={"limit": count}).json()["tasks"])
        seconds = finish - admin.get("/_mock/clock").json()["now"] + 60
        time.sleep(0.5)   # let the create burst settle
        pg_before, mock_before = postgres.backend_cpu_seconds(), group_cpu_seconds(mock.pid)
        started = time.monotonic()
        admin.post("/_mock/clock/advance", json={"seconds": seconds}).raise_for_status()
        deadline = started + 120
        delivered = 0
        while time.monotonic() < deadline:
            deliveries = admin.get("/_mock/deliveries").json()["deliveries"]
            delivered = sum(d["state"] == "delivered" for d in deliveries)
            if delivered >= count:
                break
            time.sleep(0.2)
        wall = time.monotonic() - started
    result = {
        "count": count, "delivered": delivered, "seconds": round(wall, 2),
        "per_second": round(delivered / wall, 1),
        "replica_cpu_cores": round((group_cpu_seconds(mock.pid) - mock_before) / wall, 2),
        "postgres_cpu_cores": round((postgres.backend_cpu_seconds() - pg_before) / wall, 2),
        "once": delivered == count and all(len(d["attempts"]) == 1 for d in deliveries),
    }
    ctx.progress(f"{replicas} replica(s) callback burst: {delivered}/{count} in {wall:.1f} s "
                 f"({result['per_second']}/s), replicas {result['replica_cpu_cores']} cores, "
                 f"PostgreSQL {result['postgres_cpu_cores']} cores")
    return result


def rows(results: dict[str, Any]) -> list[str]:
    """Lines of results.md's table: | Measurement | evolink-mock | Prism | ratio | Target | Result |"""
    replicas = results.get("replicas")
    if not replicas:
        return []
    if not replicas.get("measured"):
        return [f"| Replicas on PostgreSQL | {replicas['reason']} | | | | not measured |"]
    lines = []
    for n, row in replicas["rows"].items():
        for name in ("get", "post"):
            r = row[name]
            lines.append(f"| {n} replica{'s' if n != '1' else ''} on one PostgreSQL, {name.upper()} "
                         f"(wrk) | {r['rps']:,.0f} req/s, p99 {r['p99_ms']} ms; "
                         f"CPU: replicas {r['server_cpu_cores']}, PostgreSQL {r['postgres_cpu_cores']} "
                         f"cores | | | (scaling) | info |")
        c = row["callbacks"]
        lines.append(f"| {n} replica{'s' if n != '1' else ''} on one PostgreSQL, {c['count']:,} callbacks "
                     f"due at once | {c['delivered']:,}/{c['count']:,} in {c['seconds']} s "
                     f"({c['per_second']:,.0f}/s); CPU: replicas {c['replica_cpu_cores']}, PostgreSQL "
                     f"{c['postgres_cpu_cores']} cores | | | each once | {mark(c['once'])} |")
    return lines
