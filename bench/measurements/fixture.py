"""What the `evolink_mock` pytest fixture costs a test: setup + teardown against an empty body.

A generated suite runs in a pytest process of its own: N empty tests that take the fixture,
50 that take a fixture starting a new ``MockServer`` per test (what `evolink_mock` did before
it reused one server per session), and N that take nothing (pytest's own cost per test,
subtracted). A small plugin records each test's setup and teardown times.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from typing import Any

from ..runner import ROOT, TMP, Context, mark

NAME = "fixture"
TARGET_MEDIAN_MS = 10.0

SUITE = '''
import pytest
from contract_tests.mock import MockServer
from mock_server.settings import Settings

N = {count}
BEFORE = {before}

@pytest.fixture
def new_server_per_test():
    with MockServer(Settings(clock="manual")) as mock:
        yield mock

@pytest.mark.parametrize("n", range(N))
def test_nothing(n):
    pass

@pytest.mark.parametrize("n", range(N))
def test_with_evolink_mock(evolink_mock, n):
    pass

@pytest.mark.parametrize("n", range(BEFORE))
def test_with_new_server_per_test(new_server_per_test, n):
    pass
'''

PLUGIN = '''
import json, os
TIMES = {}

def pytest_runtest_logreport(report):
    if report.when in ("setup", "teardown"):
        group = report.nodeid.split("::")[1].split("[")[0]
        TIMES.setdefault(report.nodeid, [group, 0.0])[1] += report.duration

def pytest_sessionfinish(session):
    with open(os.environ["BENCH_FIXTURE_OUT"], "w") as fh:
        json.dump(list(TIMES.values()), fh)
'''


def run(ctx: Context) -> dict[str, Any]:
    count = ctx.args.fixture_tests
    work = TMP / "fixture-suite"
    work.mkdir(parents=True, exist_ok=True)
    # The old way starts a server per test (~0.2-1 s each): 50 of them give a steady median.
    (work / "test_fixture_cost.py").write_text(SUITE.format(count=count, before=min(count, 50)))
    (work / "fixture_timing.py").write_text(PLUGIN)
    out = work / "times.json"
    out.unlink(missing_ok=True)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "-p", "fixture_timing", "--rootdir", str(work), str(work / "test_fixture_cost.py")],
        cwd=work, env={**_env(work), "BENCH_FIXTURE_OUT": str(out)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1800, check=False)
    if result.returncode != 0 or not out.exists():
        raise SystemExit(f"the fixture suite failed:\n{result.stdout[-3000:]}")
    groups: dict[str, list[float]] = {}
    for group, seconds in json.loads(out.read_text()):
        groups.setdefault(group, []).append(seconds * 1000)
    base = statistics.median(groups["test_nothing"])

    def summary(group: str) -> dict[str, Any]:
        times = groups[group]
        return {"tests": len(times), "median_ms": round(statistics.median(times) - base, 2),
                "mean_ms": round(statistics.mean(times) - base, 2), "max_ms": round(max(times), 1),
                "total_s": round(sum(times) / 1000, 2)}

    fixture = {"tests": count, "pytest_own_median_ms": round(base, 3),
               "evolink_mock": summary("test_with_evolink_mock"),
               "new_server_per_test": summary("test_with_new_server_per_test"),
               "how": "setup + teardown per test, minus the median of an empty test without fixtures"}
    fixture["pass"] = fixture["evolink_mock"]["median_ms"] <= TARGET_MEDIAN_MS
    ctx.progress(f"fixture, {count} tests: evolink_mock {fixture['evolink_mock']['median_ms']} ms median "
                 f"per test; a new server per test {fixture['new_server_per_test']['median_ms']} ms")
    return {"fixture": fixture}


def _env(work: Any) -> dict[str, str]:
    import os
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(work), str(ROOT),
                                                                       os.environ.get("PYTHONPATH")]))}


def rows(results: dict[str, Any]) -> list[str]:
    fx = results.get("fixture")
    if not fx:
        return []
    ours, before = fx["evolink_mock"], fx["new_server_per_test"]
    return [f"| `evolink_mock` fixture, {fx['tests']} empty tests: setup + teardown per test, "
            f"median (mean) | "
            f"{ours['median_ms']:.2f} ms ({ours['mean_ms']:.2f}; first test, which starts the server: "
            f"{ours['max_ms']:.0f} ms) vs a new server per test: {before['median_ms']:.1f} ms "
            f"({before['mean_ms']:.1f}) | | {before['median_ms'] / max(ours['median_ms'], 0.01):.0f}× less | "
            f"≤ {TARGET_MEDIAN_MS:g} ms | {mark(fx['pass'])} |"]
