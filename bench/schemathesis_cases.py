"""Schemathesis cases per second in process, as tests/test_schemathesis.py runs them.

Run by bench/run.py as ``python -m pytest bench/schemathesis_cases.py`` (the file is not
named test_*, so the normal test run never collects it). Same app settings and transport as
the test (manual clock, response validation on, one valid key, the app served on the calling
thread by ``contract_tests.inprocess``), positive and negative generation, every check
(``call_and_validate``), with the cross-field repairs of contract_tests. The example count per
operation is fixed by BENCH_ST_EXAMPLES and Hypothesis is derandomised, so the number of cases
is the same from run to run. Writes counts and times to BENCH_ST_OUT: where a case's time
went, as generation (everything between two cases: Hypothesis and Schemathesis drawing it),
the app (inside the ASGI call, the mock's own work) and the rest of the case (the transport,
Schemathesis's checks and our repairs).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings

from contract_tests.generation import prepare, vendor_generation
from contract_tests.inprocess import SameThreadASGI
from mock_server.app import create_app
from mock_server.settings import Settings

API_KEY = "schemathesis-key"
APP = create_app(Settings(clock="manual", validate_responses=True, seed=7, api_keys=(API_KEY,)))


class TimedApp:
    """The app, with the time spent inside its HTTP calls summed (one thread: no overlap)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seconds = 0.0
        self.requests = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.seconds += time.perf_counter() - start
            self.requests += 1


TIMED = TimedApp(APP)
SERVED = SameThreadASGI(TIMED)
SCHEMA = schemathesis.openapi.from_wsgi("/openapi.json", SERVED)
vendor_generation(SCHEMA)   # as tests/test_schemathesis.py
AUTH = {"Authorization": f"Bearer {API_KEY}"}
EXAMPLES = int(os.environ.get("BENCH_ST_EXAMPLES", "200"))

STATS: dict[str, Any] = {"cases": 0, "per_operation": Counter(), "per_phase": Counter(),
                         "first_start": None, "last_end": None, "call_seconds": 0.0,
                         "failures": 0}


@SCHEMA.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
          database=None, derandomize=True)
def test_generated_case(case: schemathesis.Case) -> None:
    start = time.perf_counter()
    if STATS["first_start"] is None:
        STATS["first_start"] = start
        # Requests before the first case (loading the schema) are not part of any case.
        TIMED.seconds, TIMED.requests = 0.0, 0
    try:
        prepare(case).call_and_validate(headers=AUTH)
    except Exception:
        STATS["failures"] += 1
        raise
    finally:
        end = time.perf_counter()
        STATS["last_end"] = end
        STATS["call_seconds"] += end - start
        STATS["cases"] += 1
        STATS["per_operation"][case.operation.label] += 1
        STATS["per_phase"][case.meta.phase.name.value if case.meta else "?"] += 1


def test_write_stats() -> None:
    """Runs last (file order): write what the generated tests counted."""
    SERVED.close()
    wall = (STATS["last_end"] or 0) - (STATS["first_start"] or 0)
    cases = STATS["cases"] or 1

    def per_case(seconds: float) -> float:
        return round(1000 * seconds / cases, 2)

    out = {
        "examples_per_operation": EXAMPLES,
        "cases": STATS["cases"],
        "per_operation": dict(STATS["per_operation"]),
        "per_phase": dict(STATS["per_phase"]),
        "failures": STATS["failures"],
        "requests": TIMED.requests,
        "seconds_first_to_last_case": round(wall, 3),
        "seconds_in_calls": round(STATS["call_seconds"], 3),
        "seconds_in_app": round(TIMED.seconds, 3),
        "ms_per_case": {
            "total": per_case(wall),
            "generation": per_case(wall - STATS["call_seconds"]),
            "transport_and_checks": per_case(STATS["call_seconds"] - TIMED.seconds),
            "app": per_case(TIMED.seconds),
        },
        "cases_per_second": round(STATS["cases"] / wall, 1) if wall > 0 else None,
    }
    target = os.environ.get("BENCH_ST_OUT")
    if target:
        Path(target).write_text(json.dumps(out, indent=2))
    print(json.dumps(out))
