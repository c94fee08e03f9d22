"""Schemathesis cases per second in process, as tests/test_schemathesis.py runs them
(bench/schemathesis_cases.py, under pytest in a process of its own)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from ..runner import BENCH, ROOT, TMP, Context

NAME = "schemathesis"
TARGET_CASES_PER_SECOND = 200.0


def run(ctx: Context) -> dict[str, Any]:
    out_file = TMP / "schemathesis.json"
    out_file.unlink(missing_ok=True)
    env = {**os.environ, "BENCH_ST_EXAMPLES": str(ctx.args.st_examples), "BENCH_ST_OUT": str(out_file)}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pytest", str(BENCH / "schemathesis_cases.py"),
                             "-q", "-p", "no:cacheprovider", "-p", "no:xdist"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900,
                            check=False)
    wall = time.perf_counter() - started
    if not out_file.exists():
        raise SystemExit(f"schemathesis run wrote no stats:\n{result.stdout[-3000:]}")
    stats = json.loads(out_file.read_text())
    stats["pytest_wall_seconds"] = round(wall, 2)
    stats["pytest_exit_code"] = result.returncode
    stats["pass"] = bool(stats["cases_per_second"] and stats["cases_per_second"] >= TARGET_CASES_PER_SECOND
                         and not stats["failures"])
    ctx.progress(f"schemathesis: {stats['cases']} cases in {stats['seconds_first_to_last_case']} s = "
                 f"{stats['cases_per_second']} cases/s ({stats['failures']} failures)")
    return {"schemathesis": stats}


def rows(results: dict[str, Any]) -> list[str]:
    st = results.get("schemathesis")
    if not st:
        return []
    from ..runner import mark
    return [f"| Schemathesis in process (every check, response validation on) | "
            f"{st['cases_per_second']:,.0f} cases/s ({st['cases']} cases in "
            f"{st['seconds_first_to_last_case']:.1f} s, {st['failures']} failures) | | | "
            f"≥ {TARGET_CASES_PER_SECOND:g} cases/s | {mark(st.get('pass'))} |"]
