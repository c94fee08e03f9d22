"""A broken rule of the contract, found in a request or a response.

The request journal, the proxy's exit summary and ``evolink-contract har`` all speak of the
same thing: *where* (the request or the response), a JSON pointer into the message and the
rule broken. The pointer's first segment names the part of the message: ``/body/...`` for
the JSON body, ``/path/<name>``, ``/query/<name>`` and ``/header/<name>`` for parameters,
``/status`` and ``/method`` for the status line and the method; ``/path`` alone is the path
itself (not an operation of the spec).
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

REQUEST, RESPONSE = "request", "response"
# The scope extension where error handlers and the proxy leave what they found, for the
# journal to pick up (extensions are shared by every copy of the scope Connexion makes).
VIOLATIONS_EXTENSION = "evolink_mock.violations"


@dataclass(frozen=True)
class Violation:
    where: str          # REQUEST or RESPONSE
    pointer: str        # e.g. /body/duration
    rule: str           # a JSON Schema keyword (enum, type, required...), or our own rule name
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"where": self.where, "pointer": self.pointer, "rule": self.rule,
                "message": self.message}

    def __str__(self) -> str:
        return f"{self.where} {self.pointer or '/'} [{self.rule}] {self.message}"


def pointer(parts: Iterable[Any]) -> str:
    """RFC 6901: ``/a/0/b``, with ``~`` and ``/`` in names escaped."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def note(scope: MutableMapping[str, Any], violation: Violation) -> None:
    """Record ``violation`` on the request, for the journal."""
    extensions = scope.get("extensions")
    if extensions is not None:
        extensions.setdefault(VIOLATIONS_EXTENSION, []).append(violation.to_dict())
