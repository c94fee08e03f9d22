"""Reading the ``--scenario`` files: YAML mappings with a ``rules`` list (fixtures/scenarios/)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

from .domain.scenarios import ScenarioError, rule_from_dict


def scenario_rules(paths: Iterable[str], failure_codes: tuple[str, ...],
                   seed: int | None) -> list[tuple[str, dict[str, Any]]]:
    """The rules of the files as (file, rule), each checked; what is wrong with a file is a
    ScenarioError naming it (the CLI prints it as one line)."""
    rules: list[tuple[str, dict[str, Any]]] = []
    for path in paths:
        source = f"--scenario {path!r}"
        try:
            with open(path, encoding="utf-8") as fh:
                document = yaml.safe_load(fh) or {}
        except OSError as exc:
            raise ScenarioError(f"{source}: cannot read it ({exc.strerror})") from None
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            where = getattr(exc, "problem_mark", None)
            line = f" at line {where.line + 1}" if where is not None else ""
            problem = getattr(exc, "problem", None) or type(exc).__name__
            raise ScenarioError(f"{source}: not valid YAML{line} ({problem})") from None
        listed = document.get("rules", []) if isinstance(document, dict) else None
        if not isinstance(listed, list) or not all(isinstance(r, dict) for r in listed):
            raise ScenarioError(f"{source}: expected a mapping with a 'rules' list of "
                                "rule mappings (see fixtures/scenarios/)")
        rules += [(source, rule) for rule in listed]
    for number, (source, rule) in enumerate(rules, 1):
        try:
            rule_from_dict(rule, f"rule-{number}", failure_codes, seed)
        except ScenarioError as exc:
            raise ScenarioError(f"{source}: {exc}") from None
    return rules
