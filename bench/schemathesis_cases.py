"""Schemathesis cases per second in process, as tests/test_schemathesis.py runs them.

Run by bench/run.py as ``python -m pytest bench/schemathesis_cases.py`` (the file is not
named test_*, so the normal test run never collects it). Same app settings as the test
(manual clock, response validation on, one valid key), positive and negative generation,
every check (``call_and_validate``), with the cross-field repairs of contract_tests. The
example count per operation is fixed by BENCH_ST_EXAMPLES and Hypothesis is derandomised,
so the number of cases is the same from run to run. Writes counts and times to BENCH_ST_OUT.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from contract_tests.generation import prepare, vendor_generation
from mock_server.app import create_app
from mock_server.settings import Settings

API_KEY = "schemathesis-key"
APP = create_app(Settings(clock="manual", validate_responses=True, seed=7, api_keys=(API_KEY,)))
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", APP)
vendor_generation(SCHEMA)   # as tests/test_schemathesis.py
AUTH = {"Authorization": f"Bearer {API_KEY}"}
EXAMPLES = int(os.environ.get("BENCH_ST_EXAMPLES", "200"))

STATS: dict = {"cases": 0, "per_operation": {}, "first_start": None, "last_end": None,
               "call_seconds": 0.0, "failures": 0}


@SCHEMA.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
          database=None, derandomize=True)
def test_generated_case(case: schemathesis.Case) -> None:
    start = time.perf_counter()
    if STATS["first_start"] is None:
        STATS["first_start"] = start
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
        label = case.operation.label
        STATS["per_operation"][label] = STATS["per_operation"].get(label, 0) + 1


def test_write_stats() -> None:
    """Runs last (file order): write what the generated tests counted."""
    wall = (STATS["last_end"] or 0) - (STATS["first_start"] or 0)
    out = {
        "examples_per_operation": EXAMPLES,
        "cases": STATS["cases"],
        "per_operation": STATS["per_operation"],
        "failures": STATS["failures"],
        "seconds_first_to_last_case": round(wall, 3),
        "seconds_in_calls": round(STATS["call_seconds"], 3),
        "cases_per_second": round(STATS["cases"] / wall, 1) if wall > 0 else None,
    }
    target = os.environ.get("BENCH_ST_OUT")
    if target:
        Path(target).write_text(json.dumps(out, indent=2))
    print(json.dumps(out))
