"""Scripted outcomes and faults: the magic prompt, the ``X-Mock-Scenario`` header and the
admin rules (``--scenario`` files too), counted across workers and replicas."""

from __future__ import annotations

from typing import Any

from ..domain.scenarios import (
    RETRYABLE_FAULTS,
    Action,
    Rule,
    ScenarioError,
    apply_rules,
    parse_action,
    prompt_action,
    rule_from_dict,
)
from ..errors import ApiError, invalid_request, scripted_fault
from ..store import RULE_NUMBERS
from .state import RULES_KEY, ServiceState

SCENARIO_HEADER = "X-Mock-Scenario"


class Scripting(ServiceState):
    async def scenario_for(self, operation_id: str, body: Any, header: str | None) -> Action:
        """The action for one request: magic prompt, then header, then admin rules."""
        action = Action()
        model = body.get("model") if isinstance(body, dict) else None
        prompt = body.get("prompt") if isinstance(body, dict) else None
        try:
            if isinstance(prompt, str):
                action = action.merged(prompt_action(prompt, self.failure_codes))
        except ScenarioError as exc:
            raise invalid_request(f"prompt scenario tag: {exc}", "prompt") from None
        try:
            if header:
                action = action.merged(parse_action(header, self.failure_codes))
        except ScenarioError as exc:
            raise invalid_request(f"{SCENARIO_HEADER}: {exc}", SCENARIO_HEADER) from None
        if self.rules:
            # Other workers count matches too; they hear of it only when a count moved.
            async with self._changing(announce=False):
                action = action.merged(await self._apply_rules(operation_id, model))
        return action

    async def _apply_rules(self, operation_id: str, model: str | None) -> Action:
        counting = [rule for rule in self.rules if rule.counts(operation_id, model)]
        if not counting:   # nothing to count: no store write
            return Action()
        action = apply_rules(counting, operation_id, model)
        # Counters moved. Used-up rules stay (marked exhausted) so they can still be read.
        await self._save_rules()
        await self._announce()
        return action

    def fault(self, operation_id: str, action: Action) -> ApiError | None:
        """The HTTP error an action asks for, if this operation documents that status."""
        if action.http is None or (operation_id, action.http) not in self.documented_statuses:
            return None
        headers = {}
        # 429 always says when to come back (1 s unless told); 502/503 only when scripted to.
        if action.http in RETRYABLE_FAULTS and (action.http == 429 or action.retry_after is not None):
            headers["Retry-After"] = str(action.retry_after if action.retry_after is not None else 1)
        return scripted_fault(self.error_codes, operation_id, action.http, headers)

    async def add_rule(self, data: dict[str, Any]) -> Rule:
        async with self._changing():
            try:
                rule = rule_from_dict(data, f"rule-{await self._next_rule_number()}", self.failure_codes,
                                      self.settings.seed)
            except ScenarioError as exc:
                raise invalid_request(str(exc), "action") from None
            self.rules.append(rule)
            await self._save_rules()
        return rule

    async def _next_rule_number(self) -> int:
        if not self.shared:
            return next(self._rule_ids)
        taken = [int(rule.id.rsplit("-", 1)[-1]) for rule in self.rules
                 if rule.id.rsplit("-", 1)[-1].isdigit()]
        return max([await self.shared_store.bump(RULE_NUMBERS), *(n + 1 for n in taken)])

    async def load_scenario_rules(self, rules: list[tuple[str, dict[str, Any]]]) -> None:
        """Rules from --scenario files as (file, rule), unless the state already holds rules
        (a restart, or another worker that loaded them first)."""
        self._scenario_rules = rules   # a restarting reset loads them again
        async with self._changing():
            if self.rules:
                return
            for source, rule in rules:
                try:
                    await self.add_rule(rule)
                except ApiError as exc:
                    raise ScenarioError(f"{source}: {exc.message}") from None

    async def clear_rules(self) -> None:
        async with self._changing():
            self.rules = []
            await self._save_rules()

    async def _save_rules(self) -> None:
        await self.store.put_value(RULES_KEY, [rule.to_dict() for rule in self.rules])
