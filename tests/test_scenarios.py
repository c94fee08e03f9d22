"""The scenario grammar, shared by magic prompts, the header and admin rules."""

from __future__ import annotations

import pytest

from mock_server.domain.lifecycle import FAILURE_MESSAGES
from mock_server.domain.scenarios import (
    Action,
    ScenarioError,
    apply_rules,
    parse_action,
    prompt_action,
    rule_from_dict,
)

CODES = tuple(FAILURE_MESSAGES)


def test_prompt_tags_parse_into_one_action() -> None:
    action = prompt_action("a cat [mock:fail=service_error] dancing [mock:delay=2.5,takes=30]", CODES)
    assert action == Action(fail="service_error", delay=2.5, takes=30.0)


def test_header_grammar_accepts_semicolons_and_spaces() -> None:
    assert parse_action(" http=429 ; retry_after=3 ", CODES) == Action(http=429, retry_after=3)


@pytest.mark.parametrize(("text", "complaint"), [
    ("fail=not_a_code", "task failure code"),
    ("http=418", "http must be one of"),
    ("delay=abc", "delay must be a number"),
    ("delay=61", "between 0 and 60"),
    ("colour=red", "unknown key 'colour'"),
    ("fail", "key=value"),
])
def test_bad_scenarios_say_what_is_wrong(text: str, complaint: str) -> None:
    with pytest.raises(ScenarioError, match=complaint):
        parse_action(text, CODES)


def test_times_rule_applies_to_the_next_n_matching_requests_only() -> None:
    rule = rule_from_dict({"operation": "createVideoGeneration", "times": 3,
                           "action": {"http": 429}}, "r1", CODES, seed=1)
    results = [apply_rules([rule], "createVideoGeneration", "m").http for _ in range(5)]
    assert results == [429, 429, 429, None, None]
    assert apply_rules([rule], "getTask", None) == Action()


def test_nth_rule_applies_to_exactly_that_request() -> None:
    rule = rule_from_dict({"nth": 5, "action": {"http": 500}}, "r1", CODES, seed=1)
    results = [apply_rules([rule], "getTask", None).http for _ in range(7)]
    assert results == [None, None, None, None, 500, None, None]


def test_probability_rule_is_reproducible_with_the_same_seed() -> None:
    def draw(seed: int) -> list[bool]:
        rule = rule_from_dict({"model": "kling-o3-text-to-video", "probability": 0.1,
                               "action": {"fail": "generation_timeout"}}, "r1", CODES, seed)
        return [apply_rules([rule], "createVideoGeneration", "kling-o3-text-to-video").fail
                is not None for _ in range(1000)]

    first = draw(42)
    assert first == draw(42)
    assert 60 <= sum(first) <= 140
    assert first != draw(43)


def test_model_filter_only_matches_that_model() -> None:
    rule = rule_from_dict({"model": "kling-o3-text-to-video", "action": {"fail": "service_error"}},
                          "r1", CODES, seed=1)
    assert apply_rules([rule], "createVideoGeneration", "grok-imagine-text-to-video") == Action()
    assert apply_rules([rule], "createVideoGeneration", "kling-o3-text-to-video").fail == "service_error"
