"""The check runners' options objects as ``evolink-contract`` flags.

Each field of an options dataclass declares its flag, help text and parser with
:func:`option`, the way ``mock_server.settings`` declares ``evolink-mock``'s settings: the
CLI's flags, their help and their defaults are generated from the fields (:func:`add_flags`)
and read back into the same class (:func:`from_args`), so a default is written once, on the
field, and a library user constructing the object gets what the CLI gets.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import MISSING, Field, field, fields
from typing import Any, TypeVar

from mock_server.flag_values import ca_bundle
from mock_server.settings import argparse_type

Options = TypeVar("Options")


def option(flag: str, help: str, *, default: Any = MISSING,
           parse: Callable[[str], Any] | None = None, repeatable: bool = False,
           choices: tuple[str, ...] | None = None, metavar: str | None = None,
           env: str | None = None) -> Any:
    """Declare an options field and its flag. ``flag`` without a leading ``-`` is the
    command after ``--`` (the rest of the command line); ``parse`` is an argparse ``type``;
    ``env`` names a variable that gives the default when the flag is left out."""
    metadata = {"flag": flag, "help": help, "parse": parse, "repeatable": repeatable,
                "choices": choices, "metavar": metavar, "env": env}
    if repeatable:
        return field(default_factory=tuple, metadata=metadata)
    return field(default=default, metadata=metadata)


def callback_ca_option() -> Any:
    """``--callback-ca``, of every command that sends callbacks, possibly over HTTPS."""
    return option("--callback-ca", "PEM CA bundle trusted for HTTPS callbacks besides the "
                  "system's (see `evolink-mock certs`), as on `evolink-mock serve`",
                  default=None, metavar="FILE", parse=argparse_type(ca_bundle))


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


def _help(f: Field[Any]) -> str:
    meta = f.metadata
    if meta["env"]:
        return f"{meta['help']} (default: ${meta['env']})"
    if f.default is MISSING or f.default is None or meta["repeatable"]:
        return str(meta["help"])
    return f"{meta['help']} (default: {_shown(f.default)})"


def add_flags(parser: argparse.ArgumentParser, options: type) -> None:
    """One flag (or the trailing command) per field of the ``options`` dataclass."""
    for f in fields(options):
        meta = f.metadata
        if not meta["flag"].startswith("-"):
            parser.add_argument(f.name, nargs=argparse.REMAINDER, help=meta["help"])
            continue
        kwargs: dict[str, Any] = {"dest": f.name, "help": _help(f), "metavar": meta["metavar"],
                                  "choices": meta["choices"]}
        if meta["parse"] is not None:
            kwargs["type"] = meta["parse"]
        if meta["env"]:
            kwargs.update(default=os.environ.get(meta["env"]), required=meta["env"] not in os.environ)
        elif meta["repeatable"]:
            kwargs.update(action="append", default=[])
        elif f.default is MISSING:
            kwargs["required"] = True
        else:
            kwargs["default"] = f.default
        parser.add_argument(meta["flag"], **kwargs)


def from_args(options: Callable[..., Options], args: argparse.Namespace) -> Options:
    """The options object from what :func:`add_flags`'s flags read: lists become tuples and
    the trailing command loses its ``--``."""
    values: dict[str, Any] = {}
    for f in fields(options):   # type: ignore[arg-type]   # a dataclass, as add_flags takes
        value = getattr(args, f.name)
        if not f.metadata["flag"].startswith("-") and value[:1] == ["--"]:
            value = value[1:]
        values[f.name] = tuple(value) if isinstance(value, list) else value
    return options(**values)
