"""A pytest plugin for the Schemathesis rate run: wall and CPU time (of the whole process, all
threads) spent inside the generated tests, and the part of it spent in
``Case.call_and_validate`` (sending a case and checking the answer; the rest is generating).

Loaded by bench/measurements/schemathesis.py into both runs, this tree's and the
``--baseline-ref`` tree's, so both are timed by the same code whatever their
bench/schemathesis_cases.py records. CPU time is the number to compare on a shared machine:
the wall time of one run moves 2x with the other programs' load, its CPU time much less.
Wrapping ``call_and_validate`` is the bench's own instrument, never done outside it.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest
import schemathesis

TIMES: dict[str, float] = {"wall_seconds": 0.0, "cpu_seconds": 0.0, "tests": 0,
                           "call_wall_seconds": 0.0, "call_cpu_seconds": 0.0, "calls": 0}


def _timed(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call_and_validate(self: Any, *args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return method(self, *args, **kwargs)
        finally:
            TIMES["call_wall_seconds"] += time.perf_counter() - wall
            TIMES["call_cpu_seconds"] += time.process_time() - cpu
            TIMES["calls"] += 1
    return call_and_validate


schemathesis.Case.call_and_validate = _timed(schemathesis.Case.call_and_validate)  # type: ignore[method-assign]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    if getattr(item, "originalname", "") != "test_generated_case":
        return (yield)
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        return (yield)
    finally:
        TIMES["wall_seconds"] += time.perf_counter() - wall
        TIMES["cpu_seconds"] += time.process_time() - cpu
        TIMES["tests"] += 1


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = os.environ.get("BENCH_ST_TIMES_OUT")
    if target:
        Path(target).write_text(json.dumps(TIMES))
