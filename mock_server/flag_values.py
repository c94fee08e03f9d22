"""How the text of a flag or environment variable becomes a setting's value: each reader
returns the value or raises ValueError saying what was expected (settings.py names the flag
or variable and the value), so both CLIs refuse bad values alike."""

from __future__ import annotations

import os
import ssl
from pathlib import Path


def boolean(text: str) -> bool:
    value = text.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true or false (1/0, yes/no, on/off)")


def whole(text: str, least: int | None = None, most: int | None = None) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError("expected a whole number") from None
    if (least is not None and value < least) or (most is not None and value > most):
        span = f"from {least} to {most}" if most is not None else f"at least {least}"
        raise ValueError(f"expected a whole number {span}")
    return value


def port(text: str) -> int:
    return whole(text, 0, 65535)


def at_least_one(text: str) -> int:
    return whole(text, 1)


def not_negative(text: str) -> int:
    return whole(text, 0)


def positive_number(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError("expected a number above 0, e.g. 10") from None
    if not 0 < value < float("inf"):
        raise ValueError("expected a number above 0, e.g. 10")
    return value


def readable_file(text: str) -> str:
    path = Path(text)
    if not path.exists():
        raise ValueError("expected an existing file; there is none")
    if not path.is_file() or not os.access(path, os.R_OK):
        raise ValueError("expected a readable file")
    return text


def ca_bundle(text: str) -> str:
    """A PEM CA bundle that TLS can load (checked now rather than at the first callback)."""
    readable_file(text)
    try:
        ssl.create_default_context().load_verify_locations(cafile=text)
    except (ssl.SSLError, ValueError):
        raise ValueError("expected a PEM file of CA certificates (see `evolink-mock certs`)") from None
    return text


def hours(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError("expected a number of hours, 0 to keep everything, e.g. 48") from None
    if not 0 <= value < float("inf"):
        raise ValueError("expected a number of hours, 0 to keep everything, e.g. 48")
    return value


def state(text: str) -> str:
    """A PostgreSQL URL (checked when serving starts: it needs the server), or a state file."""
    if text.startswith(("postgresql://", "postgres://")):
        return text
    return state_file(text)


def state_file(text: str) -> str:
    path = Path(text)
    if path.is_dir():
        raise ValueError("expected a file name, not a directory")
    directory = path.parent
    if not directory.is_dir():
        raise ValueError(f"expected a file in an existing directory; {str(directory)!r} does not exist")
    if not os.access(directory, os.W_OK):
        raise ValueError(f"expected a file in a writable directory; {str(directory)!r} is not writable")
    return text


def callback_host(text: str) -> str:
    from .callbacks.urls import parse_allowed_host  # the policy's own reading of HOST[:PORT]

    parse_allowed_host(text)
    return text.strip()
