"""The one settings object. CLI flags and ``EVOLINK_MOCK_*`` environment variables map onto it.

Each field carries its flag, help text and parser as metadata, so the CLI, the environment
and the README table are generated from one list and cannot drift apart.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any, NoReturn

from .flag_values import (
    at_least_one,
    boolean,
    ca_bundle,
    callback_host,
    hours,
    not_negative,
    port,
    positive_number,
    readable_file,
    state,
    whole,
)
from .spec import load_spec

ENV_PREFIX = "EVOLINK_MOCK_"
# The sub-commands a setting is a flag of.
SERVE, PROXY, BOTH = ("serve",), ("proxy",), ("serve", "proxy")
# The vendor's documented base URL (the spec's `servers`), where the proxy forwards by default.
VENDOR_URL: str = load_spec()["servers"][0]["url"]


def setting(flag: str, help: str, *, default: Any = None, parse: Callable[[str], Any] = str,
         repeatable: bool = False, choices: tuple[str, ...] | None = None,
         is_flag: bool = False, commands: tuple[str, ...] = SERVE) -> Any:
    """Declare a setting: its CLI flag, help text, how to parse it from text and which
    sub-commands take it."""
    metadata = {"flag": flag, "help": help, "parse": parse, "repeatable": repeatable,
                "choices": choices, "is_flag": is_flag, "commands": commands}
    if repeatable:
        return field(default_factory=tuple, metadata=metadata)
    return field(default=default, metadata=metadata)


class SettingError(ValueError):
    """A setting given a value it cannot take; the message is one line naming the flag or
    environment variable, the value and what was expected (the CLI prints it, exit 2)."""


@dataclass(frozen=True)
class Settings:
    host: str = setting("--host", "Interface to listen on.", default="127.0.0.1", commands=BOTH)
    port: int = setting("--port", "TCP port to listen on.", default=8000, parse=port, commands=BOTH)
    spec: str | None = setting("--spec", "OpenAPI document to serve instead of the shipped "
                            "spec/evolink-video.yaml, e.g. a copy with more models (see "
                            "docs/add-a-model.md); its x-mock blocks are checked at start.",
                            parse=readable_file, commands=BOTH)
    speed: float = setting("--speed", "Mock seconds per real second for the scaled clock.",
                        default=10.0, parse=positive_number)
    clock: str = setting("--clock", "'scaled' (real time x --speed) or 'manual' "
                      "(moves only via POST /_mock/clock/advance).", default="scaled",
                      choices=("scaled", "manual"))
    seed: int | None = setting("--seed", "Seed for invented data (ids, messages, random rules).",
                            parse=whole)
    state: str | None = setting("--state", "SQLite file that keeps tasks, rules and the clock "
                             "across restarts (memory only when unset), or a PostgreSQL URL "
                             "(postgresql://USER@HOST[:PORT]/DB) shared by any number of replicas.",
                             parse=state)
    api_keys: tuple[str, ...] = setting("--api-key", "Accept only these bearer tokens "
                                     "(repeatable; env: comma-separated). Default: any non-empty token.",
                                     repeatable=True)
    credits: int | None = setting("--credits", "Credit balance per API key; creates beyond it get 402.",
                               parse=not_negative)
    scenarios: tuple[str, ...] = setting("--scenario", "Scenario YAML file with rules to load at start "
                                      "(repeatable).", repeatable=True, parse=readable_file)
    allow_callback_hosts: tuple[str, ...] = setting(
        "--allow-callback-host", "HOST[:PORT] allowed as a callback target over http or https even "
        "if internal, for local rehearsal (repeatable).", repeatable=True, parse=callback_host)
    callback_ca: str | None = setting("--callback-ca", "PEM CA bundle trusted for HTTPS callbacks.",
                                   parse=ca_bundle)
    public_url: str | None = setting("--public-url", "Base URL used in result links "
                                  "(default: the URL the request came in on).")
    admin_token: str | None = setting("--admin-token", "Require this X-Mock-Admin-Token on /_mock/ "
                                   "(otherwise the admin API answers loopback clients only).",
                                   commands=BOTH)
    log_format: str = setting("--log-format", "One log line per request: text, json, or off.",
                           default="text", choices=("text", "json", "off"), commands=BOTH)
    max_body_bytes: int = setting("--max-body-bytes", "Largest accepted request body; larger gets 413.",
                               default=1_048_576, parse=at_least_one, commands=BOTH)
    max_header_bytes: int = setting("--max-header-bytes", "Largest request line and headers together; "
                                 "larger gets 431 and the connection is closed.",
                                 default=16_384, parse=at_least_one, commands=BOTH)
    http_header_timeout: float = setting("--http-header-timeout", "Seconds a connection has to send "
                                      "a request's complete headers; then it is closed.",
                                      default=30.0, parse=positive_number, commands=BOTH)
    workers: int = setting("--workers", "Server processes. Above 1 they share --state (required then): "
                        "on SQLite worker 0 sends the callbacks, on PostgreSQL any of them.",
                        default=1, parse=at_least_one)
    retention: float = setting(
        "--retention", "Hours of mock time a task, its deliveries, idempotency keys and journal "
        "entries are kept; 0 keeps them forever.", default=48.0, parse=hours)
    callback_lease: float = setting(
        "--callback-lease", "PostgreSQL replicas: seconds a replica holds a callback attempt it "
        "claimed; a replica that dies is taken over after this.", default=30.0,
        parse=positive_number)
    unknown_fields: str = setting(
        "--unknown-fields", "Create-body fields a model does not take: 'reject' (400, so typos "
        "surface) or 'warn' (ignored, named in X-Mock-Warning and the journal, as the real API "
        "likely does).", default="reject", choices=("reject", "warn"))
    validate_responses: bool = setting("--validate-responses", "Check every response against the spec "
                                    "(on in our tests).", default=False, parse=boolean, is_flag=True)
    # evolink-mock proxy
    upstream: str = setting("--upstream", "proxy: the API to forward /v1/ to.", default=VENDOR_URL,
                         commands=PROXY)
    upstream_ca: str | None = setting("--upstream-ca", "proxy: PEM CA bundle trusted for the upstream "
                                   "in addition to the system's.", commands=PROXY)
    upstream_timeout: float = setting("--upstream-timeout", "proxy: seconds to wait for the upstream's "
                                   "answer before answering 504.", default=60.0, parse=positive_number,
                                   commands=PROXY)
    record: str | None = setting("--record", "proxy: write every exchange to this HAR 1.2 file as it "
                              "happens (keys redacted).", commands=PROXY)
    max_creates: int | None = setting("--max-creates", "proxy: forward at most this many creates; "
                                   "later ones get 402 from the proxy.", parse=not_negative, commands=PROXY)
    forward_invalid: bool = setting("--forward-invalid", "proxy: forward requests the spec refuses too "
                                 "(still reported as violations).", default=False, parse=boolean,
                                 is_flag=True, commands=PROXY)
    fail_on_violation: bool = setting("--fail-on-violation", "proxy: exit with status 1 if any "
                                   "request or answer broke the spec.", default=False, parse=boolean,
                                   is_flag=True, commands=PROXY)

    @property
    def manual_clock(self) -> bool:
        return self.clock == "manual"

    def problem(self) -> str | None:
        """What makes this combination unusable, if anything (the CLI refuses to start)."""
        if self.workers < 1:
            return "--workers must be at least 1"
        if self.workers > 1 and not self.state:
            return "--workers above 1 needs --state FILE: the workers share tasks, clock and rules through it"
        return None

    @property
    def retention_seconds(self) -> float | None:
        """Mock seconds to keep things for, or None to keep them forever."""
        return self.retention * 3600 if self.retention else None

    def proxy_problem(self) -> str | None:
        """The same for ``evolink-mock proxy`` (which ignores the serve-only settings)."""
        if not self.upstream.startswith(("http://", "https://")):
            return f"--upstream must be an http:// or https:// URL, got {self.upstream!r}"
        if self.max_creates is not None and self.max_creates < 0:
            return "--max-creates must be 0 or more"
        if self.upstream_timeout <= 0:
            return "--upstream-timeout must be more than 0 seconds"
        return None


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (exit 2), like every other configuration error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def argparse_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """A parser above as an argparse ``type`` for other commands' flags: argparse then says
    ``argument --flag: 'value': expected ...`` in one line."""
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None

    convert.__name__ = parse.__name__
    return convert


def _parsed(f: Any, raw: str, source: str) -> Any:
    """One value of field ``f`` from text; ``source`` names where the text came from
    (``--flag 'text'`` or ``VARIABLE='text'``) for the error message."""
    choices = f.metadata["choices"]
    if choices and raw not in choices:
        raise SettingError(f"{source}: expected one of {', '.join(choices)}")
    try:
        return f.metadata["parse"](raw)
    except ValueError as exc:
        raise SettingError(f"{source}: {exc}") from None


def from_env(environ: Mapping[str, str] | None = None, base: Settings | None = None) -> Settings:
    """Settings from ``EVOLINK_MOCK_*`` variables over ``base`` (defaults when None).

    Raises :class:`SettingError` naming the variable when a value cannot be used."""
    environ = os.environ if environ is None else environ
    changes: dict[str, Any] = {}
    for f in fields(Settings):
        name = env_name(f.name)
        raw = environ.get(name)
        if raw is None or raw == "":
            continue
        if f.metadata["repeatable"]:
            changes[f.name] = tuple(_parsed(f, part.strip(), f"{name}={raw!r}")
                                    for part in raw.split(",") if part.strip())
        else:
            changes[f.name] = _parsed(f, raw, f"{name}={raw!r}")
    return replace(base or Settings(), **changes)


def add_arguments(parser: argparse.ArgumentParser, command: str = "serve") -> None:
    """Add one flag per setting of ``command``; help text names the environment variable.

    Values stay text here and are parsed by :func:`from_args`, so a bad value from a flag
    gets the same one-line message as one from the environment."""
    for f in fields(Settings):
        meta = f.metadata
        if command not in meta["commands"]:
            continue
        default = "" if f.default is MISSING or f.default is None else f" (default: {f.default})"
        help_text = f"{meta['help']}{default} [env: {env_name(f.name)}]"
        if meta["is_flag"]:
            parser.add_argument(meta["flag"], dest=f.name, action="store_const", const=True,
                                default=None, help=help_text)
        elif meta["repeatable"]:
            parser.add_argument(meta["flag"], dest=f.name, action="append", default=None,
                                help=help_text)
        else:
            parser.add_argument(meta["flag"], dest=f.name, default=None, choices=meta["choices"],
                                help=help_text)


def from_args(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Settings:
    """Defaults, then environment, then flags: the usual precedence.

    Raises :class:`SettingError` naming the flag or variable when a value cannot be used."""
    settings = from_env(environ)
    changes = {}
    for f in fields(Settings):
        value = getattr(args, f.name, None)
        if value is None:
            continue
        flag = f.metadata["flag"]
        if f.metadata["is_flag"]:
            changes[f.name] = value
        elif f.metadata["repeatable"]:
            changes[f.name] = tuple(_parsed(f, item, f"{flag} {item!r}") for item in value)
        else:
            changes[f.name] = _parsed(f, value, f"{flag} {value!r}")
    return replace(settings, **changes)


def describe(command: str | None = None) -> list[tuple[str, str, str]]:
    """(flag, env var, help) rows, for the README and ``--help``: of one sub-command, or all."""
    return [(f.metadata["flag"], env_name(f.name), f.metadata["help"]) for f in fields(Settings)
            if command is None or command in f.metadata["commands"]]
