"""The one settings object. CLI flags and ``EVOLINK_MOCK_*`` environment variables map onto it.

Each field carries its flag, help text and parser as metadata, so the CLI, the environment
and the README table are generated from one list and cannot drift apart.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any, Callable, Mapping

ENV_PREFIX = "EVOLINK_MOCK_"


def knob(flag: str, help: str, *, default: Any = None, parse: Callable[[str], Any] = str,
         repeatable: bool = False, choices: tuple[str, ...] | None = None,
         is_flag: bool = False) -> Any:
    """Declare a setting: its CLI flag, help text and how to parse it from text."""
    metadata = {"flag": flag, "help": help, "parse": parse, "repeatable": repeatable,
                "choices": choices, "is_flag": is_flag}
    if repeatable:
        return field(default_factory=tuple, metadata=metadata)
    return field(default=default, metadata=metadata)


def _bool(text: str) -> bool:
    return text.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    host: str = knob("--host", "Interface to listen on.", default="127.0.0.1")
    port: int = knob("--port", "TCP port to listen on.", default=8000, parse=int)
    spec: str | None = knob("--spec", "OpenAPI document to serve instead of the shipped "
                            "spec/evolink-video.yaml, e.g. a copy with more models (see "
                            "docs/add-a-model.md); its x-mock blocks are checked at start.")
    speed: float = knob("--speed", "Mock seconds per real second for the scaled clock.",
                        default=10.0, parse=float)
    clock: str = knob("--clock", "'scaled' (real time x --speed) or 'manual' "
                      "(moves only via POST /_mock/clock/advance).", default="scaled",
                      choices=("scaled", "manual"))
    seed: int | None = knob("--seed", "Seed for invented data (ids, messages, random rules).",
                            parse=int)
    state: str | None = knob("--state", "SQLite file that keeps tasks, rules and the clock "
                             "across restarts (memory only when unset), or a PostgreSQL URL "
                             "(postgresql://USER@HOST[:PORT]/DB) shared by any number of replicas.")
    api_keys: tuple[str, ...] = knob("--api-key", "Accept only these bearer tokens "
                                     "(repeatable; env: comma-separated). Default: any non-empty token.",
                                     repeatable=True)
    credits: int | None = knob("--credits", "Credit balance per API key; creates beyond it get 402.",
                               parse=int)
    scenarios: tuple[str, ...] = knob("--scenario", "Scenario YAML file with rules to load at start "
                                      "(repeatable).", repeatable=True)
    allow_callback_hosts: tuple[str, ...] = knob(
        "--allow-callback-host", "HOST[:PORT] allowed as a callback target over http or https even "
        "if internal, for local rehearsal (repeatable).", repeatable=True)
    callback_ca: str | None = knob("--callback-ca", "PEM CA bundle trusted for HTTPS callbacks.")
    public_url: str | None = knob("--public-url", "Base URL used in result links "
                                  "(default: the URL the request came in on).")
    admin_token: str | None = knob("--admin-token", "Require this X-Mock-Admin-Token on /_mock/ "
                                   "(otherwise the admin API answers loopback clients only).")
    log_format: str = knob("--log-format", "One log line per request: text, json, or off.",
                           default="text", choices=("text", "json", "off"))
    max_body_bytes: int = knob("--max-body-bytes", "Largest accepted request body; larger gets 413.",
                               default=1_048_576, parse=int)
    workers: int = knob("--workers", "Server processes. Above 1 they share --state (required then): "
                        "on SQLite worker 0 sends the callbacks, on PostgreSQL any of them.",
                        default=1, parse=int)
    retention: float | None = knob(
        "--retention", "Hours of mock time a task, its deliveries, idempotency keys and journal "
        "entries are kept; 0 keeps them forever.", default=48.0, parse=float)
    callback_lease: float = knob(
        "--callback-lease", "PostgreSQL replicas: seconds a replica holds a callback attempt it "
        "claimed; a replica that dies is taken over after this.", default=30.0, parse=float)
    validate_responses: bool = knob("--validate-responses", "Check every response against the spec "
                                    "(on in our tests).", default=False, parse=_bool, is_flag=True)

    @property
    def manual_clock(self) -> bool:
        return self.clock == "manual"

    def problem(self) -> str | None:
        """What makes this combination unusable, if anything (the CLI refuses to start)."""
        if self.workers < 1:
            return "--workers must be at least 1"
        if self.workers > 1 and not self.state:
            return "--workers above 1 needs --state FILE: the workers share tasks, clock and rules through it"
        if self.retention is not None and self.retention < 0:
            return "--retention must be 0 (keep forever) or a positive number of hours"
        if self.callback_lease <= 0:
            return "--callback-lease must be a positive number of seconds"
        return None

    @property
    def retention_seconds(self) -> float | None:
        """Mock seconds to keep things for, or None to keep them forever."""
        return self.retention * 3600 if self.retention else None


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def from_env(environ: Mapping[str, str] | None = None, base: Settings | None = None) -> Settings:
    """Settings from ``EVOLINK_MOCK_*`` variables over ``base`` (defaults when None)."""
    environ = os.environ if environ is None else environ
    changes: dict[str, Any] = {}
    for f in fields(Settings):
        raw = environ.get(env_name(f.name))
        if raw is None or raw == "":
            continue
        parse = f.metadata["parse"]
        if f.metadata["repeatable"]:
            changes[f.name] = tuple(parse(part.strip()) for part in raw.split(",") if part.strip())
        else:
            changes[f.name] = parse(raw)
    return replace(base or Settings(), **changes)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one flag per setting; help text names the matching environment variable."""
    for f in fields(Settings):
        meta = f.metadata
        default = "" if f.default is MISSING or f.default is None else f" (default: {f.default})"
        help_text = f"{meta['help']}{default} [env: {env_name(f.name)}]"
        if meta["is_flag"]:
            parser.add_argument(meta["flag"], dest=f.name, action="store_const", const=True,
                                default=None, help=help_text)
        elif meta["repeatable"]:
            parser.add_argument(meta["flag"], dest=f.name, action="append", type=meta["parse"],
                                default=None, help=help_text)
        else:
            parser.add_argument(meta["flag"], dest=f.name, type=meta["parse"], default=None,
                                choices=meta["choices"], help=help_text)


def from_args(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Settings:
    """Defaults, then environment, then flags: the usual precedence."""
    settings = from_env(environ)
    changes = {}
    for f in fields(Settings):
        value = getattr(args, f.name, None)
        if value is not None:
            changes[f.name] = tuple(value) if f.metadata["repeatable"] else value
    return replace(settings, **changes)


def describe() -> list[tuple[str, str, str]]:
    """(flag, env var, help) rows, for the README and ``--help``."""
    return [(f.metadata["flag"], env_name(f.name), f.metadata["help"]) for f in fields(Settings)]
