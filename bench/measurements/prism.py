"""Throughput and latency against Stoplight Prism on the same spec: GET and POST, one
process and `serve --workers N`, alternating rounds of wrk (bench/README.md)."""

from __future__ import annotations

from typing import Any

from tests.processes import free_port

from ..runner import (
    GET_PATH,
    POST_PATH,
    PRISM_BIN,
    TARGET_P99_MS,
    TARGET_RATIO,
    TMP,
    WORKERS,
    Context,
    check_ok,
    create_task,
    describe,
    mark,
    median_round,
    memory_kb,
    run_wrk,
    start_mock,
    start_prism,
    tool_version,
)

NAME = "prism"


def run(ctx: Context) -> dict[str, Any]:
    return {"vs_prism": measure_vs_prism(ctx)}


def measure_vs_prism(ctx: Context) -> dict[str, Any]:
    args, body_file, body, progress = ctx.args, ctx.body_file, ctx.body, ctx.progress
    mock_port, prism_port = free_port(), free_port()
    procs = {"mock": start_mock("mock", mock_port)}
    targets = {"mock": f"http://127.0.0.1:{mock_port}"}
    if args.workers > 1:
        # The same mock as N processes: tasks, clock, rules and journal in a shared SQLite file.
        state = TMP / "bench-workers.sqlite"
        for leftover in TMP.glob(state.name + "*"):
            leftover.unlink()
        workers_port = free_port()
        procs[WORKERS] = start_mock(WORKERS, workers_port, "--workers", str(args.workers),
                                    "--state", str(state))
        targets[WORKERS] = f"http://127.0.0.1:{workers_port}"
    if not args.no_prism:
        procs["prism"] = start_prism(prism_port)
        targets["prism"] = f"http://127.0.0.1:{prism_port}"
    try:
        # Each mock serves a task it created; Prism answers any id matching the spec's pattern.
        task_ids = {name: create_task(base, body) for name, base in targets.items() if name != "prism"}
        task_ids.setdefault("prism", task_ids["mock"])
        for name, base in targets.items():
            check_ok(name, base, task_ids[name], body)
        endpoints = {
            "GET": ({name: GET_PATH.format(task_id=task_id) for name, task_id in task_ids.items()}, None),
            "POST": (dict.fromkeys(targets, POST_PATH), body_file),
        }
        for paths, bfile in endpoints.values():   # warm-up (Node's JIT, caches)
            for name, base in targets.items():
                run_wrk(base + paths[name], seconds=args.warmup, threads=args.threads,
                        connections=args.connections, body_file=bfile)
        progress(f"warm-up done ({args.warmup} s per target and endpoint, not reported)")
        rounds: dict[str, dict[str, list]] = {e: {t: [] for t in targets} for e in endpoints}
        for number in range(1, args.rounds + 1):
            for endpoint, (paths, bfile) in endpoints.items():
                for name, base in targets.items():
                    result = run_wrk(base + paths[name], seconds=args.duration, threads=args.threads,
                                     connections=args.connections, body_file=bfile,
                                     server_pgid=procs[name].pid)
                    rounds[endpoint][name].append(result)
                    progress(f"round {number}/{args.rounds} {endpoint:4} {name:7} {describe(result)}")
        mock_memory = memory_kb(procs["mock"].pid)
        prism_version = tool_version([str(PRISM_BIN), "--version"]) if "prism" in procs else None
    finally:
        for proc in procs.values():
            proc.stop()
    out: dict[str, Any] = {"task_ids_used": task_ids, "prism_version": prism_version,
                           "workers": args.workers if WORKERS in targets else 1,
                           "mock_rss_after_kb": mock_memory.get("VmRSS"), "endpoints": {}}
    for endpoint in endpoints:
        entry: dict[str, Any] = {"rounds": rounds[endpoint]}
        for name in targets:
            entry[name] = median_round(rounds[endpoint][name])
        for name, key in (("mock", ""), (WORKERS, "workers_")):
            if name in targets:
                entry[key + "ratio"], entry[key + "pass"] = _against_prism(entry, name, rounds[endpoint])
        out["endpoints"][endpoint] = entry
    return out


def _against_prism(entry: dict[str, Any], name: str,
                   rounds: dict[str, list]) -> tuple[float | None, bool | None]:
    """The req/s ratio to Prism, and whether it meets the target (ratio, p99, no errors)."""
    if "prism" not in entry or not entry["prism"]["rps"]:
        return None, None
    ratio = round(entry[name]["rps"] / entry["prism"]["rps"], 2)
    clean = not any(r["non_2xx"] or r["socket_errors"] for r in rounds[name] + rounds["prism"])
    return ratio, bool(ratio >= TARGET_RATIO and entry[name]["p99_ms"] <= TARGET_P99_MS and clean)




def rows(results: dict[str, Any]) -> list[str]:
    vs = results.get("vs_prism")
    lines: list[str] = []
    if not vs:
        return lines
    for name, key, how in (("mock", "", "one process"),
                           (WORKERS, "workers_", f"--workers {vs.get('workers')}, shared SQLite state")):
        for endpoint, label in (("GET", "GET /v1/tasks/{id}"),
                                ("POST", "POST /v1/videos/generations (kling, validated)")):
            entry = vs["endpoints"][endpoint]
            if name not in entry:
                continue
            mock, prism = entry[name], entry.get("prism")
            ratio = f"{entry[key + 'ratio']:.2f}×" if entry.get(key + "ratio") else "n/a"
            lines.append(
                f"| {label}, {how}: req/s · p50 / p99 | {mock['rps']:,.0f} · {mock['p50_ms']:.1f} / "
                f"{mock['p99_ms']:.1f} ms | "
                + (f"{prism['rps']:,.0f} · {prism['p50_ms']:.1f} / {prism['p99_ms']:.1f} ms"
                   if prism else "not run")
                + f" | {ratio} | ≥ {TARGET_RATIO:g}× Prism, p99 ≤ {TARGET_P99_MS:g} ms | "
                  f"{mark(entry[key + 'pass'])} |")
    return lines


def rounds(results: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for entry in (results.get("vs_prism") or {}).get("endpoints", {}).values():
        for per_target in entry["rounds"].values():
            found += per_target
    return found
