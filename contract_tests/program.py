"""The user's client program, run as ``evolink-contract client -- COMMAND`` runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping


def run_program(command: tuple[str, ...], timeout: float, env: Mapping[str, str]) -> str | None:
    """Run ``command`` with our environment plus ``env``, for at most ``timeout`` seconds;
    what went wrong with it, if anything."""
    full_env = {**os.environ, "PATH": child_path(os.environ.get("PATH")), **env}
    try:
        code = subprocess.run(command, env=full_env, timeout=timeout, check=False).returncode
    except subprocess.TimeoutExpired:
        return f"still running after {timeout:g} s; killed"
    except OSError as exc:
        return f"could not start {command[0]!r}: {exc.strerror or exc}"
    return f"exited with status {code}" if code else None


def child_path(path: str | None) -> str:
    """The kit's interpreter directory first: ``python`` in the command is then the one with
    the kit's dependencies (httpx...), as when the kit's virtualenv is activated."""
    kit_bin = os.path.dirname(sys.executable)
    rest = [entry for entry in (path or os.defpath).split(os.pathsep) if entry and entry != kit_bin]
    return os.pathsep.join([kit_bin, *rest])
