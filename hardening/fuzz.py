"""Deep fuzz: Schemathesis over HTTP against a running mock, then raw malformed input.

    python -m hardening.fuzz [--cases 10000] [--rss-every 250] [--seed 1]

Starts ``evolink-mock serve`` as a subprocess on a free loopback port (``--api-key``,
``--admin-token``, ``--log-format off``), then:

1. Schemathesis generates cases (coverage, examples and fuzzing phases; positive and
   negative data) for every operation of both specs, ``/openapi.json`` and
   ``/_mock/openapi.json``, in rounds with fresh seeds until ``--cases`` requests have been
   sent. Every answer goes through every Schemathesis check. Positive vendor cases are
   repaired by ``contract_tests.generation.prepare`` (rules OpenAPI cannot state).
2. ``hardening.raw`` sends hand-made malformed requests over raw sockets, to this server and
   to a second one with ``--state`` (SQLite).

The server's RSS is read from /proc every ``--rss-every`` cases. Writes reports/fuzz.json
and reports/fuzz.md. Exit status 0 when there were no 500s, no out-of-spec answers, no
failed raw case and the server never died.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hypothesis
import requests
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, CheckFunction, load_all_checks
from schemathesis.core.failures import FailureGroup
from schemathesis.engine import Status
from schemathesis.generation.hypothesis.builder import HypothesisTestConfig, HypothesisTestMode, create_test

from contract_tests.generation import operations, prepare

from . import raw
from .common import MockProcess, RssSeries, env_int, log, mb, write_json, write_text

API_KEY = "hardening-fuzz-key-4f1c"
ADMIN_TOKEN = "hardening-fuzz-admin-9d2e"
REQUEST_TIMEOUT = 30.0
# Checks whose failure means the answer is not what the spec documents.
SPEC_CHECKS = {"not_a_server_error", "status_code_conformance", "content_type_conformance",
               "response_schema_conformance", "response_headers_conformance"}
MAX_EXAMPLES_PER_FAILURE = 3
VENDOR, ADMIN = "vendor", "admin"


def all_checks() -> list[CheckFunction]:
    load_all_checks()
    return [check for check in CHECKS.get_all() if not isinstance(check, type)]   # functions only


class SchemaFuzz:
    """Sends Schemathesis cases for one spec to a live server and tallies every check."""

    def __init__(self, name: str, spec_url: str, base_url: str, headers: dict[str, str],
                 repair: bool, on_case: Callable[[], None]) -> None:
        self.name = name
        self.base_url = base_url
        self.headers = headers
        self.repair = repair
        self.on_case = on_case
        self.session = requests.Session()
        self.schema = schemathesis.openapi.from_url(spec_url, headers=headers)
        self.schema.config.update(base_url=base_url)
        self.schema.config.generation.update(modes=[GenerationMode.POSITIVE,
                                                    GenerationMode.NEGATIVE])
        self.schema.hook(self._after_validate())
        self.checks = all_checks()
        self.cases = 0
        self.per_operation: Counter[str] = Counter()
        self.per_mode: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.server_errors = 0
        self.out_of_spec = 0
        self.transport_errors: Counter[str] = Counter()
        self.check_runs: Counter[str] = Counter()
        self.check_failures: Counter[str] = Counter()
        self.not_judged: Counter[str] = Counter()
        self.failures: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._current: list[tuple[str, bool, str]] = []

    @property
    def operations(self) -> list[Any]:
        return operations(self.schema)

    def _after_validate(self) -> Any:
        def after_validate(context: Any, case: Any, response: Any, results: list[Any]) -> None:
            for result in results:
                failed = result.status != Status.SUCCESS and result.failure is not None
                message = ""
                if failed:
                    failure = result.failure
                    message = f"{failure.title}: {failure.message}".strip()
                self._current.append((result.name, failed, message))

        after_validate.__name__ = "after_validate"
        return after_validate

    def send(self, case: Any) -> None:
        if self.repair:
            prepare(case)
        label = case.operation.label
        mode = case.meta.generation.mode.value if case.meta is not None else "unknown"
        self.cases += 1
        self.per_operation[label] += 1
        self.per_mode[mode] += 1
        try:
            response = case.call(base_url=self.base_url, session=self.session,
                                 headers=self.headers, timeout=REQUEST_TIMEOUT)
        except requests.RequestException as exc:
            self.transport_errors[type(exc).__name__] += 1
            self._remember(label, "transport", type(exc).__name__, str(exc)[:300], case, None)
            self.on_case()
            return
        self.statuses[response.status_code] += 1
        if response.status_code >= 500:
            self.server_errors += 1
        self._current = []
        try:
            case.validate_response(response, checks=self.checks, headers=self.headers,
                                   transport_kwargs={"base_url": self.base_url,
                                                     "session": self.session,
                                                     "headers": self.headers})
        except FailureGroup:
            pass   # each failure was recorded by the after_validate hook
        except Exception as exc:   # noqa: BLE001 - a check crashing is a finding about us, not the server
            self.check_failures["<check error>"] += 1
            self._remember(label, "<check error>", type(exc).__name__, repr(exc)[:300], case,
                           response)
        spec_failed = False
        # A negative case whose unknown query parameter is null or an empty list is sent
        # without it (the HTTP client drops None values): the request was valid after all.
        dropped = isinstance(case.query, dict) and any(v is None or v == [] for v in case.query.values())
        for check, failed, message in self._current:
            self.check_runs[check] += 1
            if failed and check == "negative_data_rejection" and dropped:
                self.not_judged[check] += 1
                continue
            if failed:
                self.check_failures[check] += 1
                spec_failed |= check in SPEC_CHECKS
                self._remember(label, check, str(response.status_code), message, case, response)
        self.out_of_spec += spec_failed
        self.on_case()

    def _remember(self, label: str, check: str, status: str, message: str, case: Any,
                  response: Any) -> None:
        key = (label, check, message.splitlines()[0][:160] if message else status)
        entry = self.failures.setdefault(key, {"operation": label, "check": check,
                                               "status": status, "message": message[:2000],
                                               "count": 0, "examples": []})
        entry["count"] += 1
        if len(entry["examples"]) < MAX_EXAMPLES_PER_FAILURE:
            body = None
            if response is not None:
                body = response.text[:500]
            sent = getattr(getattr(response, "request", None), "url", None)
            entry["examples"].append({"curl": self.curl(case), "response": body,
                                      "generated_query": repr(case.query)[:500],
                                      "sent_url": str(sent)[:500] if sent else None})

    def curl(self, case: Any) -> str:
        try:
            return case.as_curl_command(headers=self.headers, base_url=self.base_url)
        except Exception as exc:   # noqa: BLE001 - a report must not fail on a curl line
            return f"<no curl: {exc!r}>"

    def round(self, examples_per_operation: int, seed: int) -> int:
        """One pass over every operation; returns the cases sent."""
        start = self.cases
        for operation in self.operations:
            def send(case: Any) -> None:
                self.send(case)

            settings = hypothesis.settings(
                max_examples=examples_per_operation, deadline=None, database=None,
                suppress_health_check=list(hypothesis.HealthCheck), derandomize=False)
            test = create_test(operation=operation, test_func=send, config=HypothesisTestConfig(
                project=self.schema.config, modes=list(HypothesisTestMode), settings=settings,
                seed=seed))
            try:
                test()
            except Exception as exc:   # noqa: BLE001 - Hypothesis errors end this operation only
                self.check_failures["<generation error>"] += 1
                self.failures.setdefault((operation.label, "<generation error>", repr(exc)[:160]), {
                    "operation": operation.label, "check": "<generation error>", "status": "",
                    "message": repr(exc)[:2000], "count": 1, "examples": []})
        return self.cases - start

    def summary(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "per_operation": dict(sorted(self.per_operation.items())),
            "per_generation_mode": dict(self.per_mode),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "server_errors_5xx": self.server_errors,
            "out_of_spec_responses": self.out_of_spec,
            "transport_errors": dict(self.transport_errors),
            "check_runs": dict(sorted(self.check_runs.items())),
            "check_failures": dict(sorted(self.check_failures.items())),
            "not_judged_null_query_dropped": dict(self.not_judged),
            "failures": sorted(self.failures.values(), key=lambda f: -f["count"]),
        }


def run_schemathesis(mock: MockProcess, total_cases: int, rss: RssSeries, rss_every: int,
                     seed: int, max_rounds: int = 12,
                     progress: Callable[[str], None] = log) -> dict[str, SchemaFuzz]:
    """Both specs, in rounds, until ``total_cases`` have been sent (or ``max_rounds``)."""
    counter = {"n": 0}

    def on_case() -> None:
        counter["n"] += 1
        if counter["n"] % rss_every == 0:
            rss.sample(f"case {counter['n']}")
        if counter["n"] % max(rss_every * 8, 1) == 0:
            progress(f"  fuzz: {counter['n']} cases, server RSS {mb(rss.samples[-1][2])}")

    vendor = SchemaFuzz(VENDOR, f"{mock.url}/openapi.json", mock.url,
                        {"Authorization": f"Bearer {API_KEY}"}, repair=True, on_case=on_case)
    admin = SchemaFuzz(ADMIN, f"{mock.url}/_mock/openapi.json", f"{mock.url}/_mock",
                       mock.admin_headers(), repair=False, on_case=on_case)
    fuzzes = {VENDOR: vendor, ADMIN: admin}
    # Vendor operations first in each round: admin rules added by the admin fuzz (http=500,
    # delay=60, ...) are cleared before the vendor API is fuzzed again.
    share = {VENDOR: 0.5, ADMIN: 0.5}
    for number in range(max_rounds):
        sent = vendor.cases + admin.cases
        if sent >= total_cases:
            break
        remaining = total_cases - sent
        for name, fuzz in fuzzes.items():
            target = int(remaining * share[name]) + 1
            operations = max(len(fuzz.operations), 1)
            per_operation = max(5, target // operations)
            _clear_rules(mock)
            fuzz.round(per_operation, seed + number)
        _clear_rules(mock)
        if vendor.cases + admin.cases == sent:
            break   # nothing new can be generated
    return fuzzes


def _clear_rules(mock: MockProcess) -> None:
    requests.delete(f"{mock.url}/_mock/rules", headers=mock.admin_headers(), timeout=10)


def fuzz_server_args() -> list[str]:
    return ["--api-key", API_KEY, "--log-format", "off", "--seed", "5"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=env_int("HARDENING_FUZZ_CASES", 10_000),
                        help="Schemathesis cases to send across both specs "
                             "[env HARDENING_FUZZ_CASES, default 10000]")
    parser.add_argument("--rss-every", type=int, default=env_int("HARDENING_RSS_EVERY", 250))
    parser.add_argument("--seed", type=int, default=env_int("HARDENING_SEED", 1))
    args = parser.parse_args(argv)
    report = run(args.cases, args.rss_every, args.seed)
    return 0 if report["ok"] else 1


def run(cases: int, rss_every: int, seed: int, progress: Callable[[str], None] = log) -> dict[str, Any]:
    started = time.monotonic()
    with MockProcess(*fuzz_server_args(), name="fuzz", admin_token=ADMIN_TOKEN) as mock:
        rss = RssSeries(mock.pid)
        rss.sample("start")
        fuzzes = run_schemathesis(mock, cases, rss, rss_every, seed, progress=progress)
        rss.sample("after schemathesis")
        progress(f"  fuzz: schemathesis done ({sum(f.cases for f in fuzzes.values())} cases), "
                 "raw malformed input next")
        raw_results = raw.run_all(mock.url, API_KEY, mock.admin_headers())
        rss.sample("after raw")
        alive = mock.alive()
        with tempfile.TemporaryDirectory() as tmp, MockProcess(
                *fuzz_server_args(), "--state", str(Path(tmp) / "fuzz.sqlite"),
                name="fuzz-state", admin_token=ADMIN_TOKEN) as state_mock:
            state_results = raw.run_all(state_mock.url, API_KEY, state_mock.admin_headers())
            state_alive = state_mock.alive()
        exit_code = mock.stop()
    report = build_report(fuzzes, raw_results, state_results, rss, alive and state_alive,
                          exit_code, time.monotonic() - started)
    write_json("fuzz.json", report)
    write_text("fuzz.md", markdown(report))
    return report


def build_report(fuzzes: dict[str, SchemaFuzz], raw_results: list[raw.Result],
                 state_results: list[raw.Result], rss: RssSeries, alive: bool,
                 exit_code: int | None, seconds: float) -> dict[str, Any]:
    specs = {name: fuzz.summary() for name, fuzz in fuzzes.items()}
    total = sum(s["cases"] for s in specs.values())
    server_errors = sum(s["server_errors_5xx"] for s in specs.values())
    out_of_spec = sum(s["out_of_spec_responses"] for s in specs.values())
    transport = sum(sum(s["transport_errors"].values()) for s in specs.values())
    other_failures: Counter[str] = Counter()
    for s in specs.values():
        for check, count in s["check_failures"].items():
            if check not in SPEC_CHECKS:
                other_failures[check] += count
    raw_all = [r.to_dict("memory") for r in raw_results] + [r.to_dict("state") for r in state_results]
    raw_failed = [r for r in raw_all if not r["ok"]]
    raw_500 = sum(1 for r in raw_all if (r["status"] or 0) >= 500)
    ok = (server_errors == 0 and out_of_spec == 0 and transport == 0 and not raw_failed
          and raw_500 == 0 and alive and not other_failures)
    return {
        "ok": ok,
        "seconds": round(seconds, 1),
        "schemathesis": {
            "cases": total,
            "server_errors_5xx": server_errors,
            "out_of_spec_responses": out_of_spec,
            "transport_errors": transport,
            "other_check_failures": dict(other_failures),
            "specs": specs,
        },
        "raw": {
            "cases": len(raw_all),
            "failed": len(raw_failed),
            "server_errors_5xx": raw_500,
            "failures": raw_failed,
            "results": raw_all,
        },
        "server_alive_throughout": alive,
        "server_exit_code_on_sigterm": exit_code,
        "rss": {**rss.summary(), "series": rss.samples},
    }


def markdown(report: dict[str, Any]) -> str:
    st = report["schemathesis"]
    rawr = report["raw"]
    rss = report["rss"]
    lines = [
        "# Deep fuzz",
        "",
        f"Result: **{'PASS' if report['ok'] else 'FAIL'}** in {report['seconds']} s.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| Schemathesis cases (both specs, positive + negative, all checks) | {st['cases']} |",
        f"| of which vendor API / admin API | {st['specs'][VENDOR]['cases']} / "
        f"{st['specs'][ADMIN]['cases']} |",
        f"| 5xx answers | {st['server_errors_5xx']} |",
        f"| answers outside the spec | {st['out_of_spec_responses']} |",
        f"| other check failures | {sum(st['other_check_failures'].values())} "
        f"{st['other_check_failures'] or ''} |",
        f"| transport errors | {st['transport_errors']} |",
        f"| raw malformed requests (memory + --state) | {rawr['cases']}, failed {rawr['failed']}, 5xx "
        f"{rawr['server_errors_5xx']} |",
        f"| server alive throughout | {report['server_alive_throughout']} |",
        f"| server RSS start / end / max | {mb(rss.get('start_kb'))} / {mb(rss.get('end_kb'))} / "
        f"{mb(rss.get('max_kb'))} |",
        f"| RSS slope (whole run / second half) | {rss.get('slope_kb_per_min')} / "
        f"{rss.get('second_half_slope_kb_per_min')} kB/min |",
        "",
        "## Statuses",
        "",
    ]
    for name in (VENDOR, ADMIN):
        spec = st["specs"][name]
        lines.append(f"- {name}: {json.dumps(spec['statuses'])}; per operation "
                     f"{json.dumps(spec['per_operation'])}")
    failures = [f for name in (VENDOR, ADMIN) for f in st["specs"][name]["failures"]]
    if failures:
        lines += ["", "## Check failures", ""]
        for failure in failures[:30]:
            lines.append(f"- **{failure['check']}** on {failure['operation']} "
                         f"(HTTP {failure['status']}, {failure['count']}x): "
                         f"{failure['message'].splitlines()[0][:300] if failure['message'] else ''}")
            for example in failure["examples"][:1]:
                lines.append(f"  - `{example['curl'][:600]}`")
    lines += ["", "## Raw malformed input", "", "| server | case | status | ok | note |",
              "|---|---|---|---|---|"]
    for result in rawr["results"]:
        lines.append(f"| {result['server']} | {result['name']} | {result['status']} | "
                     f"{'yes' if result['ok'] else '**no**'} | {result['note'][:160]} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
