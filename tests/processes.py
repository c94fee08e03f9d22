"""The mock as a separate process (`evolink-mock serve ...`), for tests that restart or kill it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import httpx

from tests import clients


def free_port() -> int:
    """A loopback port free right now, for a process told its port on the command line (one
    home for the tests, bench/ and hardening/)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_serve(port: int, *args: str) -> subprocess.Popen:
    """``evolink-mock serve --port PORT ARGS...`` in a session of its own, once it answers."""
    return start_command("serve", port, *args, stdout=subprocess.DEVNULL)


def start_command(command: str, port: int, *args: str, **popen: Any) -> subprocess.Popen:
    """``evolink-mock COMMAND --port PORT ARGS...`` in a session of its own, once its
    ``/_mock/health`` answers; its stderr in the error if it never does."""
    process = subprocess.Popen(
        [sys.executable, "-m", "mock_server.cli", command, "--port", str(port), *args],
        stderr=subprocess.PIPE, start_new_session=True, **popen)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if clients.get(f"http://127.0.0.1:{port}/_mock/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.05)
    kill(process)
    error = process.stderr.read() if process.stderr else "no output"
    raise RuntimeError(error.decode() if isinstance(error, bytes) else error)


def kill(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """Signal the whole session (workers included) and reap the parent."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    process.wait(timeout=30)
