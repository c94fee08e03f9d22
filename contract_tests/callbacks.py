"""``evolink-contract callbacks``: rehearse a webhook handler with what the service sends it.

The documents are made by the mock's own lifecycle code from real tasks, so they are the
documents a task query would answer: a completed task, a failed task for every failure
code, the completed one again (deliveries are retried, so duplicates happen), and an older
``processing`` document after the completed one (deliveries can arrive out of order). Each
must be answered with a 2xx within the timeout the vendor gives receivers.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from mock_server.callbacks.sender import trust
from mock_server.domain import lifecycle
from mock_server.domain.defaults import apply_defaults
from mock_server.domain.ids import IdFactory, key_fingerprint
from mock_server.domain.plan import plan_task
from mock_server.domain.task import COMPLETED, Task

from .contract import FAILURE_CODES, MODELS, schema_problems
from .options import callback_ca_option, option
from .results import NotApplicable, Report, judge

CALLBACKS = "callbacks"
MODEL = "grok-imagine-text-to-video"
OWNER = key_fingerprint("evolink-contract-callbacks")
MEDIA_BASE = "https://media.example.com"
USER_AGENT = "evolink-contract-callbacks/1"


@dataclass(frozen=True)
class CallbackOptions:
    url: str = option("--to", "the handler's URL")
    timeout: float = option("--timeout", "seconds the handler has to answer; the default is "
                            "the vendor's",
                            default=10.0, parse=float)
    callback_ca: str | None = callback_ca_option()


def _task(ids: IdFactory, outcome: str, now: float) -> Task:
    """A task created long enough ago to have reached its outcome by ``now``."""
    model = MODELS[MODEL]
    request = apply_defaults(model.schema, {"model": MODEL, "prompt": "A lighthouse in a storm"})
    assert model.behaviour is not None, "the shipped spec gives every model an x-mock block"
    plan = plan_task(model.behaviour, request, outcome=outcome)
    created = now - plan.queue_seconds - plan.run_seconds - 1
    return plan.task(task_id=ids.task_id(created), owner=OWNER, model=MODEL, request=request,
                     created_at=created, media_base=MEDIA_BASE)


def rehearsal_documents(now: float | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(label, callback body) in the order they are sent."""
    now = time.time() if now is None else now
    ids = IdFactory()
    done = _task(ids, COMPLETED, now)
    completed = lifecycle.document(done, now)
    halfway = done.created_at + done.queue_seconds + done.run_seconds / 2
    return [
        ("completed", completed),
        *[(f"failed: {code}", lifecycle.document(_task(ids, code, now), now))
          for code in FAILURE_CODES],
        ("completed again (duplicate)", completed),
        ("processing after completed (out of order)", lifecycle.document(done, halfway)),
    ]


@dataclass(frozen=True)
class Delivery:
    url: str
    label: str
    document: dict[str, Any]
    status: int | None = None
    seconds: float = 0.0
    error: str | None = None
    ca_file: str | None = None   # the --callback-ca the rehearsal trusted, for the curl

    def curl(self) -> str:
        cacert = f"--cacert {shlex.quote(self.ca_file)} " if self.ca_file else ""
        return (f"curl -X POST {cacert}-H 'Content-Type: application/json' "
                f"-d {shlex.quote(json.dumps(self.document))} {shlex.quote(self.url)}")


def document_matches_spec(delivery: Delivery) -> list[tuple[str, Delivery]]:
    return [(problem, delivery) for problem in schema_problems("Task", delivery.document)]


def answered_2xx_in_time(delivery: Delivery) -> list[tuple[str, Delivery]]:
    if delivery.error is not None:
        return [(delivery.error, delivery)]
    if delivery.status is None:
        raise NotApplicable("not sent: the document does not match the spec")
    if not 200 <= delivery.status < 300:
        return [(f"answered HTTP {delivery.status}; the service retries non-2xx answers "
                 "and gives up after 3 retries", delivery)]
    return []


DELIVERY_CHECKS: list[Callable[[Delivery], list[tuple[str, Delivery]]]] = [
    document_matches_spec,
    answered_2xx_in_time,
]


def deliver(http: httpx.Client, delivery: Delivery, timeout: float) -> Delivery:
    """POST the document once; the answer (or why there was none) goes into a new Delivery."""
    started = time.perf_counter()
    try:
        answer = http.post(delivery.url, json=delivery.document)
        status, error = answer.status_code, None
    except httpx.TimeoutException:
        status, error = None, f"no answer within {timeout:g} s"
    except httpx.HTTPError as exc:
        status, error = None, f"{type(exc).__name__}: {exc}"
    return Delivery(delivery.url, delivery.label, delivery.document, status,
                    time.perf_counter() - started, error, delivery.ca_file)


def _describe(delivery: Delivery) -> tuple[str, str]:
    return f"POST {delivery.url} ({delivery.label})", delivery.curl()


def rehearse(options: CallbackOptions) -> Report:
    report = Report(CALLBACKS, options.url)
    report.summary.append(f"{'document':44} {'answer':>8} {'seconds':>8}")
    with httpx.Client(timeout=options.timeout, headers={"User-Agent": USER_AGENT},
                      follow_redirects=False, verify=trust(options.callback_ca)) as http:
        for label, document in rehearsal_documents():
            delivery = Delivery(options.url, label, document, ca_file=options.callback_ca)
            if not document_matches_spec(delivery):
                delivery = deliver(http, delivery, options.timeout)
            answer = delivery.error or str(delivery.status or "not sent")
            report.summary.append(f"{label:44} {answer:>8} {delivery.seconds:8.2f}")
            judge(report, CALLBACKS, label, DELIVERY_CHECKS, delivery, _describe)
    return report
