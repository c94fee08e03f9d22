"""Shared pieces of the hardening runs: a mock in a subprocess, RSS sampling, reports.

Everything talks to loopback only. Every process started here is stopped by its own pid
(``MockProcess.stop``/``kill9``), also when the run fails.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import httpx

from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "reports"
LOOPBACK = "127.0.0.1"


def log(message: str) -> None:
    print(message, flush=True)


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    return int(raw) if raw.strip() else default


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    return float(raw) if raw.strip() else default


def rss_kb(pid: int) -> int | None:
    """Resident set size of a process, from /proc (None once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


@dataclass
class RssSeries:
    """(seconds since start, label, kB) samples of one process."""

    pid: int
    started: float = field(default_factory=time.monotonic)
    samples: list[tuple[float, str, int]] = field(default_factory=list)

    def sample(self, label: str = "") -> int | None:
        value = rss_kb(self.pid)
        if value is not None:
            self.samples.append((round(time.monotonic() - self.started, 2), label, value))
        return value

    def summary(self) -> dict[str, Any]:
        values = [kb for _t, _l, kb in self.samples]
        if not values:
            return {"samples": 0}
        return {
            "samples": len(values),
            "start_kb": values[0],
            "end_kb": values[-1],
            "max_kb": max(values),
            "min_kb": min(values),
            "slope_kb_per_min": round(slope([t for t, _l, _kb in self.samples], values) * 60, 1),
            "second_half_slope_kb_per_min": round(_half_slope(self.samples) * 60, 1),
        }


def _half_slope(samples: list[tuple[float, str, int]]) -> float:
    half = samples[len(samples) // 2:]
    return slope([t for t, _l, _kb in half], [kb for _t, _l, kb in half])


def slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ys over xs (0 with fewer than two distinct xs)."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    if var == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var


class RssSampler:
    """Samples a process's RSS every ``interval`` seconds on a thread, until stopped."""

    def __init__(self, series: RssSeries, interval: float) -> None:
        self.series = series
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="rss-sampler")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.series.sample("timer")

    def __enter__(self) -> Self:
        self.series.sample("start")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.series.sample("end")


class MockProcess:
    """``evolink-mock serve`` as a child process on a loopback port.

    stdout and stderr go to files (``log_dir``) so that tests can read what it logged.
    """

    def __init__(self, *args: str, port: int | None = None, log_dir: Path | None = None,
                 name: str = "mock", env: dict[str, str] | None = None,
                 admin_token: str | None = None) -> None:
        self.args = list(args)
        self.port = port or free_port()
        self.log_dir = log_dir or (REPORTS / ".logs")
        self.name = name
        self.env = env
        self.admin_token = admin_token
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def stdout_path(self) -> Path:
        return self.log_dir / f"{self.name}-{self.restarts}.stdout"

    @property
    def stderr_path(self) -> Path:
        return self.log_dir / f"{self.name}-{self.restarts}.stderr"

    def admin_headers(self) -> dict[str, str]:
        return {"X-Mock-Admin-Token": self.admin_token} if self.admin_token else {}

    def start(self, timeout: float = 20.0) -> Self:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "mock_server.cli", "serve", "--host", LOOPBACK,
                   "--port", str(self.port), *self.args]
        if self.admin_token:
            command += ["--admin-token", self.admin_token]
        env = {k: v for k, v in os.environ.items() if not k.startswith("EVOLINK_MOCK_")}
        env.update(self.env or {})
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=err,
                                            stdin=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the mock exited with {self.process.returncode}: "
                                   f"{self.stderr_path.read_text(errors='replace')[-2000:]}")
            try:
                response = httpx.get(f"{self.url}/_mock/health", headers=self.admin_headers(),
                                     timeout=1)
                if response.status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("the mock did not answer /_mock/health in time")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill9(self) -> None:
        """SIGKILL by pid, then reap it; the next ``start`` writes new log files."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.restarts += 1

    def stop(self) -> int | None:
        """SIGTERM by pid, SIGKILL if it does not stop; the exit code (None if never run)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def write_json(name: str, data: Any) -> Path:
    REPORTS.mkdir(parents=True, exist_ok=True)
    path = REPORTS / name
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    return path


def write_text(name: str, text: str) -> Path:
    REPORTS.mkdir(parents=True, exist_ok=True)
    path = REPORTS / name
    path.write_text(text)
    return path


def mb(kb: int | None) -> str:
    return "n/a" if kb is None else f"{kb / 1024:.1f} MB"


def run_markdown(title: str, result: str, report: dict[str, Any],
                 rows: list[tuple[str, Any]]) -> str:
    """A soak or crash run's report: its title, the one-line result, a figure/value table,
    then the problems (see :func:`problem_sections`)."""
    accounting = report["accounting"]
    return "\n".join([
        f"# {title}",
        "",
        f"Result: **{'PASS' if report['ok'] else 'FAIL'}**: {result}",
        "",
        "| figure | value |",
        "|---|---|",
        *(f"| {figure} | {value} |" for figure, value in rows),
        "",
        *problem_sections(report["unexpected_examples"],
                          accounting["problems"] + accounting["callbacks_lost_examples"]),
    ]) + "\n"


def load_parser(doc: str, clients_variable: str, clients: int, seed: int) -> argparse.ArgumentParser:
    """The flags of a run under simulated clients (soak, crash): how many clients, the mock's
    speed and the seed, each defaulting to a HARDENING_* variable."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=env_int(clients_variable, clients))
    parser.add_argument("--speed", type=float, default=env_float("HARDENING_SOAK_SPEED", 60))
    parser.add_argument("--seed", type=int, default=env_int("HARDENING_SEED", seed))
    return parser


def finish(name: str, report: dict[str, Any], markdown: Callable[[dict[str, Any]], str]) -> int:
    """Write reports/NAME.json and NAME.md, print the Markdown; exit status 1 unless ok."""
    text = markdown(report)
    write_json(f"{name}.json", report)
    write_text(f"{name}.md", text)
    print(text)
    return 0 if report["ok"] else 1


def problem_sections(unexpected: list[str], problems: list[str]) -> list[str]:
    """The report's closing Markdown sections, present only when there is something to list."""
    lines: list[str] = []
    for title, items in (("Unexpected", unexpected), ("Problems", problems)):
        if items:
            lines += [f"## {title}", "", *[f"- {item}" for item in items], ""]
    return lines
