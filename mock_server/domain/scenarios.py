"""Scripted outcomes and faults: one grammar for magic prompts, a header and admin rules.

Grammar: ``key=value`` pairs separated by ``,`` or ``;``. In a prompt they sit inside
``[mock:...]`` (several tags may appear); in the ``X-Mock-Scenario`` header they stand
alone; an admin rule carries them as its ``action`` object. Keys:

* ``fail=<task failure code>`` - the task fails with that code;
* ``http=<status>``            - the request is answered with that HTTP error;
* ``delay=<seconds>``          - extra latency before answering (real seconds);
* ``retry_after=<seconds>``    - the Retry-After header sent with ``http=429|502|503``;
* ``takes=<seconds>``          - the task takes that many mock seconds in total;
* ``drop=before|after``        - the connection is closed without an answer, before or
  after a create is committed (``after``: the task exists, the client does not know it).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

MAGIC_TAG = re.compile(r"\[mock:([^\]]*)\]")
HTTP_FAULTS = (400, 401, 402, 403, 404, 429, 500, 502, 503)
# Statuses a client is told to retry; they carry Retry-After (429 always, default 1 s).
RETRYABLE_FAULTS = (429, 502, 503)
DROP_POINTS = ("before", "after")
MAX_DELAY_SECONDS = 60.0
MAX_TAKES_SECONDS = 86400  # as the admin spec states; also refuses nan and inf
ANY_OPERATION = "any"
_NUMBER_KEYS = {"http": int, "retry_after": int, "delay": float, "takes": float}


class ScenarioError(ValueError):
    """A scenario that does not follow the grammar; the message says which part."""


@dataclass(frozen=True)
class Action:
    fail: str | None = None
    http: int | None = None
    delay: float | None = None
    retry_after: int | None = None
    takes: float | None = None
    drop: str | None = None

    def merged(self, other: Action) -> Action:
        """``other``'s keys win where both set one (later sources override earlier ones)."""
        values = {}
        for f in fields(Action):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            values[f.name] = theirs if theirs is not None else mine
        return Action(**values)

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}


def parse_action(text: str, failure_codes: Iterable[str]) -> Action:
    """Parse ``fail=x, delay=1.5`` into an :class:`Action`."""
    values: dict[str, Any] = {}
    for part in re.split(r"[,;]", text):
        if not part.strip():
            continue
        key, sep, value = (s.strip() for s in part.partition("="))
        if not sep or not value:
            raise ScenarioError(f"item {part.strip()!r} must look like key=value")
        convert = _NUMBER_KEYS.get(key, str)
        try:
            values[key] = convert(value)
        except ValueError:
            raise ScenarioError(f"{key} must be a number, got {value!r}") from None
    return action_from_dict(values, failure_codes)


def action_from_dict(values: dict[str, Any], failure_codes: Iterable[str]) -> Action:
    """Check an action's keys and values against the grammar."""
    known = {f.name for f in fields(Action)}
    unknown = set(values) - known
    if unknown:
        raise ScenarioError(f"unknown key {min(unknown)!r}; known keys: "
                            f"{', '.join(sorted(known))}")
    action = Action(**values)
    codes = set(failure_codes)
    if action.fail is not None and action.fail not in codes:
        raise ScenarioError(f"fail must be a task failure code, one of {sorted(codes)}")
    if action.http is not None and action.http not in HTTP_FAULTS:
        raise ScenarioError(f"http must be one of {list(HTTP_FAULTS)}")
    if action.delay is not None and not 0 <= action.delay <= MAX_DELAY_SECONDS:
        raise ScenarioError(f"delay must be between 0 and {MAX_DELAY_SECONDS:g} seconds")
    if action.takes is not None and not 0 <= action.takes <= MAX_TAKES_SECONDS:
        raise ScenarioError(f"takes must be between 0 and {MAX_TAKES_SECONDS} seconds")
    if action.retry_after is not None and action.retry_after < 0:
        raise ScenarioError("retry_after must not be negative")
    if action.drop is not None and action.drop not in DROP_POINTS:
        raise ScenarioError(f"drop must be one of {', '.join(DROP_POINTS)}")
    return action


def prompt_action(prompt: str, failure_codes: Iterable[str]) -> Action:
    """The action written into a prompt as one or more ``[mock:...]`` tags."""
    action = Action()
    for tag in MAGIC_TAG.findall(prompt):
        action = action.merged(parse_action(tag, failure_codes))
    return action


@dataclass
class Rule:
    """An admin rule: which requests it matches, how often it applies, what it does."""

    id: str
    action: Action
    operation: str = ANY_OPERATION
    model: str | None = None
    times: int | None = None
    nth: int | None = None
    probability: float | None = None
    matched: int = 0
    applied: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def matches(self, operation: str, model: str | None) -> bool:
        if self.operation not in (ANY_OPERATION, operation):
            return False
        return self.model is None or self.model == model

    def counts(self, operation: str, model: str | None) -> bool:
        """Whether a request would be counted by this rule: it matches and is not used up."""
        return not self.exhausted and self.matches(operation, model)

    @property
    def exhausted(self) -> bool:
        return (self.times is not None and self.applied >= self.times) or (
            self.nth is not None and self.matched >= self.nth)

    def consider(self) -> bool:
        """Count one matching request; True if the rule applies to it."""
        self.matched += 1
        if self.nth is not None and self.matched != self.nth:
            return False
        if self.probability is not None and self.rng.random() >= self.probability:
            return False
        self.applied += 1
        return True

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "operation": self.operation,
                                "action": self.action.to_dict(),
                                "matched": self.matched, "applied": self.applied,
                                "exhausted": self.exhausted}
        for key in ("model", "times", "nth", "probability"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data


RULE_KEYS = {"operation", "model", "times", "nth", "probability", "action", "id", "matched",
             "applied", "exhausted"}


def rule_from_dict(data: dict[str, Any], rule_id: str, failure_codes: Iterable[str],
                   seed: int | None) -> Rule:
    """A rule from its JSON form (admin API, scenario file or the store)."""
    unknown = set(data) - RULE_KEYS
    if unknown:
        raise ScenarioError(f"unknown rule key {min(unknown)!r}")
    if not isinstance(data.get("action"), dict) or not data["action"]:
        raise ScenarioError('a rule needs an action, e.g. {"http": 429}')
    rule = Rule(
        id=rule_id,
        action=action_from_dict(data["action"], failure_codes),
        operation=data.get("operation", ANY_OPERATION),
        model=data.get("model"),
        times=data.get("times"),
        nth=data.get("nth"),
        probability=data.get("probability"),
        matched=data.get("matched", 0),
        applied=data.get("applied", 0),
    )
    # Seeded per rule so that "10% of tasks fail" picks the same tasks on every run.
    rule.rng.seed(f"{seed}:{rule_id}")
    for _ in range(rule.matched):
        rule.rng.random()
    return rule


def apply_rules(rules: list[Rule], operation: str, model: str | None) -> Action:
    """The merged action of every rule that applies to this request (counting each)."""
    action = Action()
    for rule in rules:
        if rule.counts(operation, model) and rule.consider():
            action = action.merged(rule.action)
    return action
