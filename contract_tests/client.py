"""``evolink-contract client``: run a user's client program against the strict mock and judge it.

The program gets ``EVOLINK_BASE_URL`` and ``EVOLINK_API_KEY`` for a fresh mock whose clock
runs ``speed`` times faster than real time (a two-minute task takes two seconds at the
default 60). When it exits, the mock's request journal is the evidence: each check below
is a function of what the client sent, when, and what it was answered.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from mock_server.domain import lifecycle
from mock_server.domain.task import Task
from mock_server.journal import JournalEntry
from mock_server.server import RunningServer
from mock_server.settings import Settings, argparse_type, callback_host, readable_file
from mock_server.store import resolved

from .options import callback_ca_option, option
from .program import run_program
from .results import NotApplicable, Report, judge

CLIENT = "client"
API_KEY = "evolink-contract-client-key"
VALIDATION_STATUSES = frozenset({400, 401, 413, 415})
# The vendor's client (@evolinkai/evolink-media) never retries these: fix the request or key.
FINAL_STATUSES = frozenset({400, 401, 402, 403})
# Answers after which a create may or may not have been made: retry only with the same key.
UNKNOWN_OUTCOME_STATUSES = frozenset({500, 502, 503})
CREATE = "createVideoGeneration"


@dataclass(frozen=True)
class ClientOptions:
    command: tuple[str, ...] = option("command", "-- COMMAND [ARG ...]")
    scenarios: tuple[str, ...] = option("--scenario", "scenario YAML with scripted faults "
                                        "(repeatable)", repeatable=True, metavar="FILE",
                                        parse=argparse_type(readable_file))
    speed: float = option("--speed", "mock seconds per real second; at 60 a 2-minute task "
                          "takes 2 s", default=60.0, parse=float)
    min_poll_interval: float = option("--min-poll-interval", "least real seconds between two "
                                      "reads of one task", default=1.0, parse=float)
    timeout: float = option("--timeout", "longest run of the client command, in seconds",
                            default=300.0, parse=float)
    allow_callback_hosts: tuple[str, ...] = option(
        "--allow-callback-host", "let the mock send the client's callbacks to this (internal) "
        "host, over http or https (repeatable), as on `evolink-mock serve`", repeatable=True,
        metavar="HOST[:PORT]", parse=argparse_type(callback_host))
    callback_ca: str | None = callback_ca_option()
    # The mock's --unknown-fields while the client runs.
    unknown_fields: str = option("--unknown-fields", "the mock's handling of fields a model does "
                                 "not take: reject (400) or warn (accepted, as the real API "
                                 "likely does); either way the verdict fails a client that sends "
                                 "them", default="reject", choices=("reject", "warn"))


@dataclass(frozen=True)
class Session:
    """What the client did: its journal, the tasks it created, how its process ended."""
    options: ClientOptions
    entries: list[JournalEntry]
    tasks: list[Task]
    trouble: str | None              # why the command did not exit 0 (None when it did)


Violation = tuple[str, JournalEntry | None]
ClientCheck = Callable[[Session], list[Violation]]


def scripted(entry: JournalEntry) -> bool:
    """Scripted faults are the scenario's doing, not the client's."""
    return entry.scripted


def command_succeeds(session: Session) -> list[Violation]:
    return [(session.trouble, None)] if session.trouble else []


def requests_match_spec(session: Session) -> list[Violation]:
    """No request the spec refuses (400, 413, 415) and none to a path it does not have."""
    problems: list[Violation] = []
    for entry in session.entries:
        if scripted(entry) or entry.status == 401:
            continue
        if entry.operation is None:
            problems.append((f"{entry.method} {entry.path} is not an operation of the API", entry))
        elif entry.status in VALIDATION_STATUSES:
            param = f" (param {entry.error_param})" if entry.error_param else ""
            problems.append((f"refused: {entry.error_message}{param}", entry))
    return problems


def auth_on_every_call(session: Session) -> list[Violation]:
    problems: list[Violation] = []
    for entry in session.entries:
        if entry.key is None:
            problems.append(("no 'Authorization: Bearer <key>' header", entry))
        elif entry.status == 401 and not scripted(entry):
            problems.append((f"key refused: {entry.error_message}", entry))
    return problems


def _reads(session: Session) -> dict[str, list[JournalEntry]]:
    reads: dict[str, list[JournalEntry]] = defaultdict(list)
    for entry in session.entries:
        if entry.operation == "getTask":
            reads[entry.path.rsplit("/", 1)[-1]].append(entry)
    return reads


def polls_respect_floor(session: Session) -> list[Violation]:
    reads = _reads(session)
    if not reads:
        raise NotApplicable("the client read no task")
    floor = session.options.min_poll_interval
    problems: list[Violation] = []
    for entries in reads.values():
        for before, after in itertools.pairwise(entries):
            gap = after.real_at - before.real_at
            if gap < floor:
                problems.append((f"read {gap:.2f} s after the previous read of this task "
                                 f"(floor {floor:g} s)", after))
    return problems


def tasks_polled_to_terminal(session: Session) -> list[Violation]:
    if not session.tasks:
        raise NotApplicable("the client created no task")
    reads = _reads(session)
    problems: list[Violation] = []
    for task in session.tasks:
        seen = [entry for entry in reads.get(task.id, []) if entry.status == 200]
        if not seen:
            problems.append((f"task {task.id} was created but never read", None))
            continue
        state = lifecycle.snapshot(task, seen[-1].at)
        if not state.terminal:
            problems.append((f"task {task.id} was last seen {state.status} ({state.progress}%); "
                             "the client stopped polling before it finished", seen[-1]))
    return problems


def _in_order(session: Session) -> list[JournalEntry]:
    """Requests in the order they were sent (the journal has them in the order answered)."""
    return sorted(session.entries, key=lambda entry: (entry.real_at, entry.seq))


def _too_soon(session: Session, statuses: frozenset[int]) -> list[Violation]:
    """The request after each answer with one of ``statuses`` came before its Retry-After."""
    entries = _in_order(session)
    pairs = [(entry, after, entry.retry_after) for entry, after in itertools.pairwise(entries)
             if entry.status in statuses and entry.retry_after is not None]
    return [(f"next request {after.real_at - entry.real_at:.2f} s after a {entry.status} that said "
             f"Retry-After: {retry_after}", after)
            for entry, after, retry_after in pairs if after.real_at - entry.real_at < retry_after]


def backoff_after_429(session: Session) -> list[Violation]:
    if not any(entry.status == 429 for entry in session.entries):
        raise NotApplicable("no 429 was sent (script some with --scenario)")
    return _too_soon(session, frozenset({429}))


def backoff_after_502_503(session: Session) -> list[Violation]:
    """502/503 are retryable, but not sooner than the Retry-After they carry."""
    if not any(entry.status in (502, 503) and entry.retry_after is not None
               for entry in session.entries):
        raise NotApplicable("no 502/503 with Retry-After was sent (script http=503,retry_after=N)")
    return _too_soon(session, frozenset({502, 503}))


def _lost_answer(entry: JournalEntry, retry: JournalEntry) -> str | None:
    """Why the client could not know whether this create made a task, if it could not."""
    if entry.dropped:
        return f"its connection was dropped ({entry.dropped} the create was committed)"
    if entry.status in UNKNOWN_OUTCOME_STATUSES:
        return f"HTTP {entry.status}"
    if retry.real_at < entry.real_at + entry.latency_ms / 1000:
        return "a timeout (the retry was sent before the answer)"
    return None


def retries_reuse_idempotency_key(session: Session) -> list[Violation]:
    """A create whose answer was lost (dropped, timed out, 5xx) and that is sent again (the
    same body) must carry the same Idempotency-Key: otherwise a committed task is paid twice."""
    creates = [entry for entry in _in_order(session) if entry.operation == CREATE]
    retried = []
    for index, entry in enumerate(creates):
        retry = next((later for later in creates[index + 1:]
                      if later.body_hash == entry.body_hash and later.key == entry.key), None)
        if retry is None:
            continue
        why = _lost_answer(entry, retry)
        if why:
            retried.append((entry, retry, why))
    if not retried:
        raise NotApplicable("no create was retried after a lost answer (script drop=after, "
                            "http=502 or http=503 with --scenario)")
    problems: list[Violation] = []
    for entry, retry, why in retried:
        if entry.idempotency_key is not None and retry.idempotency_key == entry.idempotency_key:
            continue
        paid = entry.dropped == "after" or (entry.status == 200 and not entry.replayed)
        problems.append((f"{'duplicate paid task: ' if paid else ''}create #{entry.seq} was "
                         f"retried after {why} with Idempotency-Key "
                         f"{retry.idempotency_key or '(none)'} instead of "
                         f"{entry.idempotency_key or 'a key of its own'}", retry))
    return problems


def no_retry_after_refusals(session: Session) -> list[Violation]:
    """400, 401, 402 and 403 do not change by asking again: the same request (same path,
    body and API key) must not be sent after one."""
    entries = _in_order(session)
    refused = [entry for entry in entries if entry.status in FINAL_STATUSES]
    if not refused:
        raise NotApplicable("no request was refused with 400, 401, 402 or 403")
    problems: list[Violation] = []
    for index, entry in enumerate(entries):
        if entry.status not in FINAL_STATUSES:
            continue
        again = next((later for later in entries[index + 1:]
                      if (later.method, later.path, later.body_hash, later.key)
                      == (entry.method, entry.path, entry.body_hash, entry.key)), None)
        if again is not None:
            code = f" {entry.error_code}" if entry.error_code else ""
            problems.append((f"the same request was sent again after HTTP {entry.status}{code} "
                             f"(#{entry.seq}); it cannot succeed unchanged", again))
    return problems


def no_unknown_fields(session: Session) -> list[Violation]:
    """Fields a model does not take: refused by default; with --unknown-fields warn the mock
    accepts them (as the real API likely does) but they are still a client bug (a typo)."""
    return [(f"sent fields the model does not take ({entry.warning})", entry)
            for entry in session.entries if entry.warning]


CLIENT_CHECKS: list[ClientCheck] = [
    command_succeeds,
    requests_match_spec,
    auth_on_every_call,
    polls_respect_floor,
    tasks_polled_to_terminal,
    backoff_after_429,
    backoff_after_502_503,
    retries_reuse_idempotency_key,
    no_retry_after_refusals,
    no_unknown_fields,
]


def _describe(entry: JournalEntry | None) -> tuple[str, None]:
    if entry is None:
        return "(the client program)", None
    error = f" {entry.error_code}" if entry.error_code else ""
    answer = f"dropped ({entry.dropped})" if entry.dropped else str(entry.status)
    request_id = f" [{entry.request_id}]" if entry.request_id else ""
    return f"#{entry.seq} {entry.method} {entry.path} -> {answer}{error}{request_id}", None


def journal_summary(session: Session) -> list[str]:
    """How many requests of each operation got each status, and how many tasks were made."""
    counts = Counter((entry.operation or f"{entry.method} {entry.path}", entry.status)
                     for entry in session.entries)
    lines = [f"journal: {len(session.entries)} requests, {len(session.tasks)} tasks created"]
    for operation in dict.fromkeys(op for op, _ in counts):
        statuses = ", ".join(f"{status or 'no answer'} x{n}"
                             for (op, status), n in sorted(counts.items()) if op == operation)
        lines.append(f"  {operation}: {statuses}")
    return lines


def check_client(options: ClientOptions) -> Report:
    settings = Settings(clock="scaled", speed=options.speed, api_keys=(API_KEY,),
                        scenarios=options.scenarios,
                        allow_callback_hosts=options.allow_callback_hosts,
                        callback_ca=options.callback_ca, unknown_fields=options.unknown_fields)
    with RunningServer(settings) as server:
        trouble = run_program(options.command, options.timeout,
                              {"EVOLINK_BASE_URL": server.url, "EVOLINK_API_KEY": API_KEY})
        session = Session(options, resolved(server.service.journal.entries_matching()),
                          resolved(server.service.store.tasks()),
                          trouble)
    report = Report(CLIENT, " ".join(options.command))
    report.summary.extend(journal_summary(session))
    judge(report, CLIENT, "journal", CLIENT_CHECKS, session, _describe)
    return report
