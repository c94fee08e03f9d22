"""What every measurement of `make bench` shares: paths and constants, child processes
(each in its own session, stopped by its group id, also on errors and SIGTERM), free ports,
the tools (wrk, Prism, py-spy), wrk runs with CPU accounting, and small statistics."""

from __future__ import annotations

import argparse
import atexit
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import httpx

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
TMP = BENCH / ".tmp"
PROFILES = BENCH / "profiles"
SPEC = ROOT / "spec" / "evolink-video.yaml"
BODY_FIXTURE = ROOT / "fixtures" / "requests" / "kling-o3-text-to-video.full.json"
MINIMAL_BODY_FIXTURE = ROOT / "fixtures" / "requests" / "kling-o3-text-to-video.minimal.json"
WRK_LUA = BENCH / "wrk.lua"
VENV_BIN = Path(sys.executable).parent
MOCK_BIN = VENV_BIN / "evolink-mock"

# 5.16.0 (latest when this was written) crashes with -m on Node 20: it reads
# require("node:cluster").default.isPrimary, which is undefined in CommonJS. 5.14.2 is the
# newest release whose -m (multiprocess) works here.
PRISM_VERSION = "5.14.2"
PRISM_DIR = BENCH / ".prism"
PRISM_BIN = PRISM_DIR / "node_modules" / ".bin" / "prism"

TOKEN = "bench-key"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
GET_PATH = "/v1/tasks/{task_id}"
WORKERS = "workers"          # the `serve --workers N` target of the Prism comparison
POST_PATH = "/v1/videos/generations"

TARGET_RATIO = 2.0        # mock req/s >= 2x Prism's
TARGET_P99_MS = 15.0
TARGET_RSS_MB = 200.0
NO_SLOWER_TOLERANCE = 0.95   # "no slower": 100k-task req/s within 5 % of the handful's


def log(message: str) -> None:
    print(message, flush=True)


# --- processes ---------------------------------------------------------------------------

class Proc:
    """A child in its own session, so it and its children stop together by its group id."""

    running: ClassVar[list[Proc]] = []
    server_env: ClassVar[dict[str, str]] = {}   # set by --stack for every Python server we start

    def __init__(self, name: str, cmd: list[str], *, env: dict[str, str] | None = None,
                 stdout: Any = None) -> None:
        self.name = name
        TMP.mkdir(parents=True, exist_ok=True)
        self.log_path = TMP / f"{name}.log"
        self._log = open(self.log_path, "wb")   # noqa: SIM115 - the child writes to it until stop()
        self.popen = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})},
                                      stdout=stdout if stdout is not None else self._log,
                                      stderr=self._log, start_new_session=True)
        Proc.running.append(self)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
            except ProcessLookupError:
                pass
        self._log.close()
        if self in Proc.running:
            Proc.running.remove(self)

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def stop_all() -> None:
    for proc in list(Proc.running):
        proc.stop()


atexit.register(stop_all)
# SIGTERM (e.g. `kill` of make) unwinds like Ctrl-C, so the children above are stopped too.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def wait_until(check: Callable[[], bool], timeout: float, what: str, proc: Proc | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.popen.poll() is not None:
            raise SystemExit(f"{what}: the process exited early. Its log:\n{proc.tail()}")
        try:
            if check():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"{what}: not ready after {timeout:g} s"
                     + (f". Its log:\n{proc.tail()}" if proc else ""))


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of one process, in kB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def start_mock(name: str, port: int, *extra: str, env: dict[str, str] | None = None) -> Proc:
    """``env`` adds to the server environment (e.g. PYTHONPATH of another source tree: the
    console script's own directory, not the cwd, heads sys.path, so that tree is imported)."""
    proc = Proc(name, [str(MOCK_BIN), "serve", "--clock", "manual", "--log-format", "off",
                       "--host", "127.0.0.1", "--port", str(port), *extra],
                env={**Proc.server_env, **(env or {})})
    wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/_mock/health", timeout=2).status_code == 200,
               30, f"mock on port {port}", proc)
    return proc


def start_prism(port: int) -> Proc:
    proc = Proc("prism", [str(PRISM_BIN), "mock", "-m", "-v", "error", "-h", "127.0.0.1",
                          "-p", str(port), str(SPEC)])
    probe = f"http://127.0.0.1:{port}/v1/tasks/task-unified-1757169743-7cvnl5zw"
    wait_until(lambda: httpx.get(probe, headers=HEADERS, timeout=2).status_code == 200,
               60, f"prism on port {port}", proc)
    return proc


def checkout(ref: str, paths: tuple[str, ...], label: str = "") -> Path:
    """These ``paths`` of this repository as they are at ``ref`` (git archive into bench/.tmp,
    kept for the next run), to run an older mock from there in the same run as this one."""
    commit = subprocess.run(["git", "rev-parse", "--short", ref], cwd=ROOT, text=True, check=True,
                            stdout=subprocess.PIPE).stdout.strip()
    target = TMP / f"ref-{commit}{label}"
    if not all((target / path).exists() for path in paths):
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", commit, *paths], cwd=ROOT, check=True,
                                 stdout=subprocess.PIPE).stdout
        archive_file = TMP / f"ref-{commit}{label}.tar"
        archive_file.write_bytes(archive)
        with tarfile.open(archive_file) as tar:
            tar.extractall(target, filter="data")
        archive_file.unlink()
    return target


# --- tools -----------------------------------------------------------------------------

def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk not found: installing the Debian package (apt-get install -y wrk)")
        subprocess.run(["apt-get", "update", "-qq"], check=False, stdout=subprocess.DEVNULL)
        result = subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
        found = shutil.which("wrk")
        if found:
            return found
        raise SystemExit(f"installing wrk failed:\n{result.stderr}")
    raise SystemExit("wrk is required: install it with `sudo apt-get install -y wrk` (Debian/Ubuntu) "
                     "or from https://github.com/wg/wrk, then run `make bench` again.")


def installed_prism_version() -> str | None:
    package = PRISM_DIR / "node_modules" / "@stoplight" / "prism-cli" / "package.json"
    try:
        return json.loads(package.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def ensure_prism() -> None:
    if installed_prism_version() == PRISM_VERSION and PRISM_BIN.exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is required to install Stoplight Prism for the comparison "
                         "(apt-get install -y npm), or run with --no-prism.")
    log(f"installing @stoplight/prism-cli@{PRISM_VERSION} into {PRISM_DIR.relative_to(ROOT)}/")
    PRISM_DIR.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error",
                             "--prefix", str(PRISM_DIR), f"@stoplight/prism-cli@{PRISM_VERSION}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600,
                            check=False)
    if result.returncode != 0 or installed_prism_version() != PRISM_VERSION:
        raise SystemExit(f"npm install of Prism failed:\n{result.stdout[-3000:]}")


def http_stack(env: dict[str, str]) -> str:
    """What uvicorn's "auto" picks in this venv for a server started with ``env``."""
    probe = ("import importlib.util as u\n"
             "def has(m):\n"
             "    try:\n        return u.find_spec(m) is not None\n"
             "    except ImportError:\n        return False\n"
             "print(('httptools' if has('httptools') else 'h11') + ' + ' + ('uvloop' if has('uvloop') else "
             "'asyncio'))")
    result = subprocess.run([sys.executable, "-c", probe], env={**os.environ, **env}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
    return result.stdout.strip() or "?"


def tool_version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=20, check=False).stdout
        return out.strip().splitlines()[0] if out.strip() else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


# --- wrk -------------------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / TICK


def group_cpu_seconds(pgid: int) -> float:
    """CPU time of every live process in one process group (a server and its workers)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            rest = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(rest) > 12 and int(rest[2]) == pgid:
            total += int(rest[11]) + int(rest[12])
    return total / TICK


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime

def run_wrk(url: str, *, seconds: int, threads: int, connections: int,
            body_file: Path | None = None, server_pgid: int | None = None) -> dict[str, Any]:
    """One wrk run. With ``server_pgid`` it also notes the server's CPU use and the CPU used
    by everything else on the machine meanwhile (other programs add noise on 2 cores)."""
    env = {**os.environ, "BENCH_METHOD": "POST" if body_file else "GET", "BENCH_TOKEN": TOKEN,
           "BENCH_BODY_FILE": str(body_file) if body_file else ""}
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
           "-s", str(WRK_LUA), url]
    busy0, server0, wrk0, wall0 = (machine_busy_seconds(),
                                   group_cpu_seconds(server_pgid) if server_pgid else 0.0,
                                   children_cpu_seconds(), time.monotonic())
    result = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, timeout=seconds + 60, check=False)
    wall = time.monotonic() - wall0
    busy = machine_busy_seconds() - busy0
    server_cpu = (group_cpu_seconds(server_pgid) - server0) if server_pgid else None
    wrk_cpu = children_cpu_seconds() - wrk0
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if result.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({' '.join(cmd)}):\n{result.stdout}")
    raw = json.loads(line[len("BENCH_JSON "):])
    errors = raw["errors"]
    return {
        "rps": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
        "p50_ms": round(raw["latency_us"]["p50"] / 1000, 2),
        "p90_ms": round(raw["latency_us"]["p90"] / 1000, 2),
        "p99_ms": round(raw["latency_us"]["p99"] / 1000, 2),
        "max_ms": round(raw["latency_us"]["max"] / 1000, 2),
        "requests": raw["requests"],
        "non_2xx": errors["status"],
        "socket_errors": errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        "server_cpu_cores": round(server_cpu / wall, 2) if server_cpu is not None else None,
        "wrk_cpu_cores": round(wrk_cpu / wall, 2),
        "other_cpu_cores": round(max(0.0, busy - wrk_cpu - (server_cpu or 0.0)) / wall, 2)
        if server_cpu is not None else None,
    }


def median_round(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median req/s (its own latencies come with it)."""
    ordered = sorted(rounds, key=lambda r: r["rps"])
    return ordered[(len(ordered) - 1) // 2]   # the lower median for an even count


def describe(result: dict[str, Any]) -> str:
    flags = ""
    if result["non_2xx"] or result["socket_errors"]:
        flags = f"  (!) non-2xx {result['non_2xx']}, socket errors {result['socket_errors']}"
    cpu = ""
    if result.get("server_cpu_cores") is not None:
        cpu = (f"  [cpu: server {result['server_cpu_cores']:.2f}, wrk {result['wrk_cpu_cores']:.2f}, "
               f"other {result['other_cpu_cores']:.2f} cores]")
    return (f"{result['rps']:8.0f} req/s  p50 {result['p50_ms']:6.2f} ms  "
            f"p99 {result['p99_ms']:6.2f} ms{cpu}{flags}")




def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * q // 100)))
    return ordered[int(rank) - 1]


def create_task(base: str, body: bytes, headers: dict[str, str] = HEADERS) -> str:
    response = httpx.post(base + POST_PATH, content=body,
                          headers={**headers, "Content-Type": "application/json"}, timeout=10)
    if response.status_code != 200:
        raise SystemExit(f"creating a task at {base} answered {response.status_code}: {response.text}")
    return response.json()["id"]


def check_ok(name: str, base: str, task_id: str, body: bytes) -> None:
    get = httpx.get(base + GET_PATH.format(task_id=task_id), headers=HEADERS, timeout=10)
    post = httpx.post(base + POST_PATH, content=body,
                      headers={**HEADERS, "Content-Type": "application/json"}, timeout=10)
    for what, response in (("GET", get), ("POST", post)):
        if response.status_code != 200:
            raise SystemExit(f"{name} {what} answered {response.status_code}, expected 200: "
                             f"{response.text[:500]}")


def ensure_py_spy() -> Path:
    binary = VENV_BIN / "py-spy"
    if not binary.exists():
        log("installing py-spy into the venv for the profiling step (not a project dependency)")
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "py-spy"], check=True)
    return binary



@dataclass
class Context:
    """What each measurement gets: the command-line knobs, the POST body (as a dict, as
    bytes and as a file for wrk) and a progress printer."""

    args: argparse.Namespace
    body_dict: dict[str, Any]
    body: bytes
    body_file: Path
    progress: Callable[[str], None]
    quick: bool = False


def mark(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")
