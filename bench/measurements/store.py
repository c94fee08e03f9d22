"""Memory with 100,000 tasks, and GET speed with many tasks against a handful."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.processes import free_port

from ..runner import (
    BENCH,
    GET_PATH,
    HEADERS,
    MINIMAL_BODY_FIXTURE,
    NO_SLOWER_TOLERANCE,
    TARGET_RSS_MB,
    TMP,
    TOKEN,
    Context,
    Proc,
    describe,
    mark,
    median_round,
    memory_kb,
    run_wrk,
)

NAME = "store"


def run(ctx: Context) -> dict[str, Any]:
    return {"store": measure_store_size(ctx)}


def start_preloaded(name: str, tasks: int, port: int, body_file: Path) -> tuple[Proc, dict[str, Any]]:
    proc = Proc(name, [sys.executable, str(BENCH / "serve_with_tasks.py"), "--tasks", str(tasks),
                       "--port", str(port), "--token", TOKEN, "--body", str(body_file),
                       "--gc-log", str(TMP / f"{name}.gc.json")],
                env=Proc.server_env, stdout=subprocess.PIPE)
    assert proc.popen.stdout is not None
    deadline = time.monotonic() + 600
    ready: dict[str, Any] | None = None
    # readline blocks; the child prints exactly one line when it is ready or dies (EOF).
    while ready is None and time.monotonic() < deadline:
        line = proc.popen.stdout.readline()
        if not line:
            raise SystemExit(f"{name} exited before it was ready:\n{proc.tail()}")
        try:
            ready = json.loads(line)
        except ValueError:
            continue
    if ready is None:
        raise SystemExit(f"{name} not ready in time")
    return proc, ready


def gc_pauses(proc: Proc) -> dict[str, Any]:
    """Full-collection pauses since the last call (serve_with_tasks.py writes them on SIGUSR1)."""
    path = TMP / f"{proc.name}.gc.json"
    path.unlink(missing_ok=True)
    os.kill(proc.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            time.sleep(0.05)
    return {}


def measure_store_size(ctx: Context) -> dict[str, Any]:
    args, body_file, progress = ctx.args, ctx.body_file, ctx.progress
    small_port, large_port = free_port(), free_port()
    small, small_ready = start_preloaded("mock-small-store", args.small_tasks, small_port, body_file)
    try:
        progress(f"loading {args.tasks:,} tasks in process (MockService.create_task) ...")
        large, large_ready = start_preloaded("mock-large-store", args.tasks, large_port, body_file)
    except BaseException:
        small.stop()
        raise
    try:
        rss_loaded = memory_kb(large.pid)
        rss_small_loaded = memory_kb(small.pid)
        progress(f"{args.tasks:,} tasks stored in {large_ready['load_seconds']} s: RSS "
                 f"{rss_loaded['VmRSS'] / 1024:.1f} MB (with {args.small_tasks} tasks: "
                 f"{rss_small_loaded['VmRSS'] / 1024:.1f} MB)")
        targets = {
            "small": f"http://127.0.0.1:{small_port}{GET_PATH.format(task_id=small_ready['task_id'])}",
            "large": f"http://127.0.0.1:{large_port}{GET_PATH.format(task_id=large_ready['task_id'])}",
        }
        for url in targets.values():
            response = httpx.get(url, headers=HEADERS, timeout=10)
            if response.status_code != 200:
                raise SystemExit(f"GET {url} answered {response.status_code}: {response.text[:300]}")
            run_wrk(url, seconds=args.warmup, threads=args.threads, connections=args.connections)
        gc_pauses(small), gc_pauses(large)   # start counting from here
        rounds: dict[str, list] = {"small": [], "large": []}
        pgids = {"small": small.pid, "large": large.pid}
        for number in range(1, args.rounds + 1):
            for name, url in targets.items():
                result = run_wrk(url, seconds=args.duration, threads=args.threads,
                                 connections=args.connections, server_pgid=pgids[name])
                rounds[name].append(result)
                label = f"{args.tasks:,} tasks" if name == "large" else f"{args.small_tasks} tasks"
                progress(f"round {number}/{args.rounds} GET  {label:>13} {describe(result)}")
        rss_after = memory_kb(large.pid)
        rss_small_after = memory_kb(small.pid)
        gc_small, gc_large = gc_pauses(small), gc_pauses(large)
    finally:
        small.stop()
        large.stop()
    for label, stats in ((f"{args.small_tasks} tasks", gc_small), (f"{args.tasks:,} tasks", gc_large)):
        if stats:
            progress(f"GC during the GET rounds, {label}: {stats['gen2_collections']} full collections, "
                     f"max pause {stats['gen2_max_ms']} ms, total {stats['gen2_total_ms']} ms "
                     f"({stats['tracked_objects']:,} tracked objects)")
    # The same count with the smallest realistic body, for scale (RSS only, no load).
    minimal_file = TMP / "kling-minimal-body.json"
    minimal_file.write_text(json.dumps(json.loads(MINIMAL_BODY_FIXTURE.read_text())))
    minimal, _minimal_ready = start_preloaded("mock-large-minimal", args.tasks, free_port(), minimal_file)
    try:
        rss_minimal = memory_kb(minimal.pid)
        progress(f"{args.tasks:,} tasks with the minimal kling body: "
                 f"RSS {rss_minimal['VmRSS'] / 1024:.1f} MB")
    finally:
        minimal.stop()
    small_med, large_med = median_round(rounds["small"]), median_round(rounds["large"])
    rss_mb = rss_after["VmRSS"] / 1024
    speed = large_med["rps"] / small_med["rps"] if small_med["rps"] else None
    return {
        "tasks": args.tasks,
        "small_tasks": args.small_tasks,
        "how": "in process: MockService.create_task with a freshly parsed body per task, then "
               "served by uvicorn with the CLI's config (bench/serve_with_tasks.py)",
        "load_seconds": large_ready["load_seconds"],
        "rss_loaded_mb": round(rss_loaded["VmRSS"] / 1024, 1),
        "rss_after_load_test_mb": round(rss_mb, 1),
        "peak_rss_mb": round(rss_after["VmHWM"] / 1024, 1),
        "small_rss_loaded_mb": round(rss_small_loaded["VmRSS"] / 1024, 1),
        "minimal_body_rss_loaded_mb": round(rss_minimal["VmRSS"] / 1024, 1),
        "small_rss_after_load_test_mb": round(rss_small_after["VmRSS"] / 1024, 1),
        "rss_pass": rss_after["VmHWM"] / 1024 <= TARGET_RSS_MB,
        "get_small": small_med,
        "get_large": large_med,
        "rounds": rounds,
        "gc_during_get_rounds": {"small": gc_small, "large": gc_large},
        "get_speed_ratio": round(speed, 3) if speed else None,
        "get_pass": bool(speed and speed >= NO_SLOWER_TOLERANCE
                         and large_med["p99_ms"] <= max(small_med["p99_ms"] * 1.2,
                                                        small_med["p99_ms"] + 1.0)),
    }




def rows(results: dict[str, Any]) -> list[str]:
    store = results.get("store")
    if not store:
        return []
    small, large = store["get_small"], store["get_large"]
    return [
        f"| RSS with {store['tasks']:,} tasks (peak, after the GET load) | {store['peak_rss_mb']:.1f} MB "
        f"(loaded: {store['rss_loaded_mb']:.1f} MB; {store['small_tasks']} tasks: "
        f"{store['small_rss_after_load_test_mb']:.1f} MB; {store['tasks']:,} tasks with the minimal kling "
        f"body: {store['minimal_body_rss_loaded_mb']:.1f} MB) | | | ≤ {TARGET_RSS_MB:g} MB | "
        f"{mark(store['rss_pass'])} |",
        f"| GET with {store['tasks']:,} vs {store['small_tasks']} tasks: req/s · p50 / p99 | "
        f"{large['rps']:,.0f} · {large['p50_ms']:.1f} / {large['p99_ms']:.1f} ms vs "
        f"{small['rps']:,.0f} · {small['p50_ms']:.1f} / {small['p99_ms']:.1f} ms | | "
        f"{store['get_speed_ratio']:.2f}× (many / few) | no slower (≥ {NO_SLOWER_TOLERANCE:g}×) | "
        f"{mark(store['get_pass'])} |",
    ]


def rounds(results: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for per_target in (results.get("store") or {}).get("rounds", {}).values():
        found += per_target
    return found
