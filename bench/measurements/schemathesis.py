"""Schemathesis cases per second in process, as tests/test_schemathesis.py runs them
(bench/schemathesis_cases.py, under pytest in a process of its own).

With ``--baseline-ref REF`` the same file as it was at REF runs too, from a ``git archive`` of
that commit (the mock, the contract kit, the spec and fixtures: the whole in-process stack of
that time), alternating with this tree for ``--rounds`` rounds each; every row is the round
with the median rate. The machine is shared and its load moves the rate by 2x within minutes
(56 vs 106 cases/s on two days), so only a ratio taken in one run means anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ..runner import BENCH, ROOT, TMP, Context, checkout, mark

NAME = "schemathesis"
TARGET_CASES_PER_SECOND = 200.0
# What the baseline needs to run bench/schemathesis_cases.py as it was.
BASELINE_PATHS = ("mock_server", "contract_tests", "spec", "fixtures", "bench/__init__.py",
                  "bench/schemathesis_cases.py", "pyproject.toml")


def run(ctx: Context) -> dict[str, Any]:
    trees: dict[str, Path] = {"schemathesis": ROOT}
    ref = ctx.args.baseline_ref
    if ref:
        trees["baseline_schemathesis"] = checkout(ref, BASELINE_PATHS, "-schemathesis")
    rounds = max(1, ctx.args.rounds) if ref else 1
    runs: dict[str, list[dict[str, Any]]] = {key: [] for key in trees}
    for round_no in range(rounds):
        for key, tree in trees.items():
            stats = run_once(ctx, tree)
            runs[key].append(stats)
            ctx.progress(f"schemathesis{f' (at {ref})' if tree != ROOT else ''}, round "
                         f"{round_no + 1}/{rounds}: {stats['cases']} cases in "
                         f"{stats['seconds_first_to_last_case']} s = {stats['cases_per_second']} "
                         f"cases/s, {stats.get('cases_per_cpu_second')} per CPU second, CPU ms per case "
                         f"{stats.get('cpu_ms_per_case')} ({stats['failures']} failures){split(stats)}")
    out: dict[str, Any] = {}
    for key, stats_list in runs.items():
        ordered = sorted(stats_list, key=lambda s: s["cases_per_second"] or 0)
        chosen = dict(ordered[len(ordered) // 2])
        chosen["rounds_cases_per_second"] = [s["cases_per_second"] for s in stats_list]
        if key != "schemathesis":
            chosen["ref"] = ref
        out[key] = chosen
    return out


def run_once(ctx: Context, tree: Path) -> dict[str, Any]:
    out_file, times_file = TMP / "schemathesis.json", TMP / "schemathesis-times.json"
    out_file.unlink(missing_ok=True)
    times_file.unlink(missing_ok=True)
    env = {**os.environ, "BENCH_ST_EXAMPLES": str(ctx.args.st_examples), "BENCH_ST_OUT": str(out_file),
           "BENCH_ST_TIMES_OUT": str(times_file)}
    # The archived tree's packages come first, ahead of this checkout's editable install; the
    # timing plugin is this tree's in both runs (bench/ on the path: `-p schemathesis_timing`).
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [*([str(tree)] if tree != ROOT else []), str(BENCH),
                                                      os.environ.get("PYTHONPATH", "")]))
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pytest", str(tree / "bench" / "schemathesis_cases.py"),
                             "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "schemathesis_timing"],
                            cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            timeout=900, check=False)
    wall = time.perf_counter() - started
    if not out_file.exists():
        raise SystemExit(f"schemathesis run in {tree} wrote no stats:\n{result.stdout[-3000:]}")
    stats: dict[str, Any] = json.loads(out_file.read_text())
    if times_file.exists():
        times = json.loads(times_file.read_text())
        stats["cpu_seconds_in_generated_tests"] = round(times["cpu_seconds"], 3)
        stats["wall_seconds_in_generated_tests"] = round(times["wall_seconds"], 3)
        stats["cases_per_cpu_second"] = round(stats["cases"] / times["cpu_seconds"], 1) \
            if times["cpu_seconds"] > 0 else None
        cases = stats["cases"] or 1
        # The same split for both trees, from the plugin: CPU in call_and_validate, and the rest.
        stats["cpu_ms_per_case"] = {
            "generation": round(1000 * (times["cpu_seconds"] - times["call_cpu_seconds"]) / cases, 2),
            "call_and_checks": round(1000 * times["call_cpu_seconds"] / cases, 2)}
    stats["pytest_wall_seconds"] = round(wall, 2)
    stats["pytest_exit_code"] = result.returncode
    stats["pass"] = bool(stats["cases_per_second"] and stats["cases_per_second"] >= TARGET_CASES_PER_SECOND
                         and not stats["failures"])
    return stats


def split(stats: dict[str, Any]) -> str:
    parts = stats.get("ms_per_case")
    if not parts:
        return ""
    return (f"; ms per case: generation {parts['generation']}, transport and checks "
            f"{parts['transport_and_checks']}, app {parts['app']}")


def rows(results: dict[str, Any]) -> list[str]:
    out = []
    for key, label in (("schemathesis", "Schemathesis in process (every check, response validation on)"),
                       ("baseline_schemathesis", "Schemathesis in process, the same at {ref}")):
        st = results.get(key)
        if not st:
            continue
        parts = st.get("ms_per_case")
        detail = (f"; ms per case: {parts['generation']:.1f} generating, {parts['transport_and_checks']:.1f} "
                  f"transport and checks, {parts['app']:.1f} in the mock" if parts else "")
        cpu = st.get("cases_per_cpu_second")
        detail += f"; {cpu:,.0f} cases per CPU second" if cpu else ""
        cpu_split = st.get("cpu_ms_per_case")
        detail += (f" (CPU ms per case: {cpu_split['generation']:.1f} generating, "
                   f"{cpu_split['call_and_checks']:.1f} call and checks)" if cpu_split else "")
        rates = st.get("rounds_cases_per_second") or []
        spread = f"; rounds {', '.join(f'{r:g}' for r in rates)}" if len(rates) > 1 else ""
        out.append(f"| {label.format(ref=st.get('ref'))} | "
                   f"{st['cases_per_second']:,.0f} cases/s ({st['cases']} cases in "
                   f"{st['seconds_first_to_last_case']:.1f} s, {st['failures']} failures"
                   f"{detail}{spread}) | | | "
                   f"≥ {TARGET_CASES_PER_SECOND:g} cases/s | {mark(st.get('pass'))} |")
    return out
