"""SSRF matrix helpers: trap listeners on loopback and a guard on outgoing connections.

``tests/test_hardening_ssrf.py`` drives the matrix (every hostile ``callback_url`` of
fixtures/contract/hostile-callback-urls.yaml); with ``HARDENING_REPORTS=1`` it writes
reports/ssrf.md. ``python -m hardening.ssrf`` runs exactly that.

* ``Trap``: a TCP listener on a loopback address and port a hostile URL points at; it
  records every connection (and the first bytes). None may ever be touched.
* ``ConnectGuard``: patches ``socket.socket.connect``/``connect_ex`` (in this process, where
  the mock runs in-process) to record every destination and to refuse any that is not
  loopback, so that a policy bug cannot send a packet to a private or public address from
  this machine; a refused destination is recorded as a violation.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import yaml

from .common import ROOT

FIXTURE = ROOT / "fixtures" / "contract" / "hostile-callback-urls.yaml"
LOOPBACK_NAMES = {"localhost": ["127.0.0.1", "::1"]}


def entry_url(entry: dict[str, Any]) -> str:
    if "url" in entry:
        return entry["url"]
    spec = entry["url_repeat"]
    return spec["prefix"] + spec["char"] * (spec["total_length"] - len(spec["prefix"]))


def load_fixture() -> dict[str, list[dict[str, Any]]]:
    return yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))


def local_targets(host: str, port: int) -> list[tuple[str, int]]:
    """The loopback (address, port) pairs a connection to ``host`` could end up on."""
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return [(address, port) for address in LOOPBACK_NAMES["localhost"]]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return []
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv6Address) and int(ip) >> 32 == 0 and int(ip) > 1:
        ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)    # IPv4-compatible ::a.b.c.d
    if ip.is_unspecified:   # 0.0.0.0 and :: connect to the local host on Linux
        return [("127.0.0.1", port), ("::1", port)]
    if ip.is_loopback:
        return [(str(ip), port)]
    return []


class Trap:
    """Accepts connections on one address/port and records them; answers nothing."""

    def __init__(self, address: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.address, self.port = address, port
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, port))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.connections: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"trap:{address}:{port}")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _peer = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                conn.settimeout(0.5)
                try:
                    data = conn.recv(256)
                except OSError:
                    data = b""
                self.connections.append(data)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()

    def __repr__(self) -> str:
        return f"Trap({self.address}:{self.port}, {len(self.connections)} connections)"


@dataclass
class Traps:
    traps: dict[tuple[str, int], Trap] = field(default_factory=dict)
    unavailable: dict[tuple[str, int], str] = field(default_factory=dict)

    def open(self, targets: Iterable[tuple[str, int]]) -> None:
        for target in targets:
            if target in self.traps or target in self.unavailable:
                continue
            try:
                self.traps[target] = Trap(*target)
            except OSError as exc:
                self.unavailable[target] = f"{type(exc).__name__}: {exc.strerror or exc}"

    def touched(self) -> dict[str, int]:
        return {f"{a}:{p}": len(t.connections) for (a, p), t in self.traps.items() if t.connections}

    def close(self) -> None:
        for trap in self.traps.values():
            trap.close()


class ConnectGuard:
    """Records every outgoing ``connect`` of this process; refuses non-loopback ones."""

    def __init__(self) -> None:
        self.destinations: list[tuple[str, int]] = []
        self.refused: list[tuple[str, int]] = []
        self._original: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _allowed(self, address: Any) -> bool:
        if not isinstance(address, tuple):
            return True   # AF_UNIX and friends: not network traffic
        host = str(address[0]).partition("%")[0]
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def __enter__(self) -> Self:
        guard = self
        original_connect = socket.socket.connect
        original_connect_ex = socket.socket.connect_ex
        self._original = {"connect": original_connect, "connect_ex": original_connect_ex}

        def check(sock: socket.socket, address: Any) -> None:
            if sock.family not in (socket.AF_INET, socket.AF_INET6):
                return
            target = (str(address[0]), int(address[1]))
            with guard._lock:
                guard.destinations.append(target)
                if not guard._allowed(address):
                    guard.refused.append(target)
                    raise ConnectionRefusedError(f"hardening guard: refused connect to {target}")

        def connect(sock: socket.socket, address: Any) -> Any:
            check(sock, address)
            return original_connect(sock, address)

        def connect_ex(sock: socket.socket, address: Any) -> Any:
            check(sock, address)
            return original_connect_ex(sock, address)

        # Patched on the class for the guard's lifetime; mypy refuses assigning to methods.
        socket.socket.connect = connect          # type: ignore[method-assign,assignment]
        socket.socket.connect_ex = connect_ex    # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        socket.socket.connect = self._original["connect"]          # type: ignore[method-assign]
        socket.socket.connect_ex = self._original["connect_ex"]    # type: ignore[method-assign]


def report_markdown(figures: dict[str, Any]) -> str:
    rows = "\n".join(f"| {name} | {value} |" for name, value in figures.items()
                     if not isinstance(value, (list, dict)))
    failures = figures.get("failures") or []
    traps = figures.get("traps") or []
    unavailable = figures.get("traps_unavailable") or {}
    return "\n".join([
        "# SSRF matrix",
        "",
        "Every hostile `callback_url` in fixtures/contract/hostile-callback-urls.yaml, against a "
        "running mock (real loopback HTTP), with trap listeners on the loopback addresses and "
        "ports the URLs point at and a guard on every outgoing connection of the process.",
        "",
        "| figure | value |",
        "|---|---|",
        rows,
        "",
        f"Trap listeners: {', '.join(traps) or 'none'}.",
        *([f"Could not listen on: {unavailable}."] if unavailable else []),
        "",
        *(["## Failures", "", *[f"- {f}" for f in failures], ""] if failures else []),
    ]) + "\n"


def main() -> int:
    """Run the SSRF tests with reports on."""
    env = {**os.environ, "HARDENING_REPORTS": "1"}
    return subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            str(Path("tests") / "test_hardening_ssrf.py")], cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())
