"""`make bench`: throughput, latency, memory, callback lag and Schemathesis speed of the mock,
with Stoplight Prism on the same spec as the yardstick. See bench/README.md.

Everything runs on loopback, every load is bounded in time, and every process this script
starts is stopped by its own process group id when it ends (also on errors and Ctrl-C).
Writes bench/results.json, bench/results.md and bench/profiles/*.txt.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import collections
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

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
TARGET_LAG_P99_MS = 50.0
NO_SLOWER_TOLERANCE = 0.95   # "no slower": 100k-task req/s within 5 % of the handful's


def log(message: str) -> None:
    print(message, flush=True)


# --- processes ---------------------------------------------------------------------------

class Proc:
    """A child in its own session, so it and its children stop together by its group id."""

    running: list["Proc"] = []
    server_env: dict[str, str] = {}   # set by --stack for every Python server we start

    def __init__(self, name: str, cmd: list[str], *, env: dict[str, str] | None = None,
                 stdout: Any = None) -> None:
        self.name = name
        TMP.mkdir(parents=True, exist_ok=True)
        self.log_path = TMP / f"{name}.log"
        self._log = open(self.log_path, "wb")
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
    raise SystemExit(f"{what}: not ready after {timeout:g} s" + (f". Its log:\n{proc.tail()}" if proc else ""))


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of one process, in kB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def start_mock(name: str, port: int, *extra: str) -> Proc:
    proc = Proc(name, [str(MOCK_BIN), "serve", "--clock", "manual", "--log-format", "off",
                       "--host", "127.0.0.1", "--port", str(port), *extra], env=Proc.server_env)
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


# --- tools -----------------------------------------------------------------------------

def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk not found: installing the Debian package (apt-get install -y wrk)")
        subprocess.run(["apt-get", "update", "-qq"], check=False, stdout=subprocess.DEVNULL)
        result = subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
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
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    if result.returncode != 0 or installed_prism_version() != PRISM_VERSION:
        raise SystemExit(f"npm install of Prism failed:\n{result.stdout[-3000:]}")


def http_stack(env: dict[str, str]) -> str:
    """What uvicorn's "auto" picks in this venv for a server started with ``env``."""
    probe = ("import importlib.util as u\n"
             "def has(m):\n"
             "    try:\n        return u.find_spec(m) is not None\n"
             "    except ImportError:\n        return False\n"
             "print(('httptools' if has('httptools') else 'h11') + ' + ' + ('uvloop' if has('uvloop') else 'asyncio'))")
    result = subprocess.run([sys.executable, "-c", probe], env={**os.environ, **env}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return result.stdout.strip() or "?"


def tool_version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=20).stdout
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
    busy0, server0, wrk0, wall0 = (machine_busy_seconds(), group_cpu_seconds(server_pgid) if server_pgid else 0.0,
                                   children_cpu_seconds(), time.monotonic())
    result = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, timeout=seconds + 60)
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


# --- measurements ----------------------------------------------------------------------

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


def measure_vs_prism(args: argparse.Namespace, body_file: Path, body: bytes,
                     progress: Callable[[str], None]) -> dict[str, Any]:
    mock_port, prism_port = free_port(), free_port()
    procs = {"mock": start_mock("mock", mock_port)}
    targets = {"mock": f"http://127.0.0.1:{mock_port}"}
    if args.workers > 1:
        # The same mock as N processes: tasks, clock, rules and journal in a shared SQLite file.
        state = TMP / "bench-workers.sqlite"
        for leftover in TMP.glob(state.name + "*"):
            leftover.unlink()
        workers_port = free_port()
        procs[WORKERS] = start_mock(WORKERS, workers_port, "--workers", str(args.workers),
                                    "--state", str(state))
        targets[WORKERS] = f"http://127.0.0.1:{workers_port}"
    if not args.no_prism:
        procs["prism"] = start_prism(prism_port)
        targets["prism"] = f"http://127.0.0.1:{prism_port}"
    try:
        # Each mock serves a task it created; Prism answers any id matching the spec's pattern.
        task_ids = {name: create_task(base, body) for name, base in targets.items() if name != "prism"}
        task_ids.setdefault("prism", task_ids["mock"])
        for name, base in targets.items():
            check_ok(name, base, task_ids[name], body)
        endpoints = {
            "GET": ({name: GET_PATH.format(task_id=task_id) for name, task_id in task_ids.items()}, None),
            "POST": ({name: POST_PATH for name in targets}, body_file),
        }
        for endpoint, (paths, bfile) in endpoints.items():   # warm-up (Node's JIT, caches)
            for name, base in targets.items():
                run_wrk(base + paths[name], seconds=args.warmup, threads=args.threads,
                        connections=args.connections, body_file=bfile)
        progress(f"warm-up done ({args.warmup} s per target and endpoint, not reported)")
        rounds: dict[str, dict[str, list]] = {e: {t: [] for t in targets} for e in endpoints}
        for number in range(1, args.rounds + 1):
            for endpoint, (paths, bfile) in endpoints.items():
                for name, base in targets.items():
                    result = run_wrk(base + paths[name], seconds=args.duration, threads=args.threads,
                                     connections=args.connections, body_file=bfile,
                                     server_pgid=procs[name].pid)
                    rounds[endpoint][name].append(result)
                    progress(f"round {number}/{args.rounds} {endpoint:4} {name:7} {describe(result)}")
        mock_memory = memory_kb(procs["mock"].pid)
        prism_version = tool_version([str(PRISM_BIN), "--version"]) if "prism" in procs else None
    finally:
        for proc in procs.values():
            proc.stop()
    out: dict[str, Any] = {"task_ids_used": task_ids, "prism_version": prism_version,
                           "workers": args.workers if WORKERS in targets else 1,
                           "mock_rss_after_kb": mock_memory.get("VmRSS"), "endpoints": {}}
    for endpoint in endpoints:
        entry: dict[str, Any] = {"rounds": rounds[endpoint]}
        for name in targets:
            entry[name] = median_round(rounds[endpoint][name])
        for name, key in (("mock", ""), (WORKERS, "workers_")):
            if name in targets:
                entry[key + "ratio"], entry[key + "pass"] = _against_prism(entry, name, rounds[endpoint])
        out["endpoints"][endpoint] = entry
    return out


def _against_prism(entry: dict[str, Any], name: str,
                   rounds: dict[str, list]) -> tuple[float | None, bool | None]:
    """The req/s ratio to Prism, and whether it meets the target (ratio, p99, no errors)."""
    if "prism" not in entry or not entry["prism"]["rps"]:
        return None, None
    ratio = round(entry[name]["rps"] / entry["prism"]["rps"], 2)
    clean = not any(r["non_2xx"] or r["socket_errors"] for r in rounds[name] + rounds["prism"])
    return ratio, bool(ratio >= TARGET_RATIO and entry[name]["p99_ms"] <= TARGET_P99_MS and clean)


def start_preloaded(name: str, tasks: int, port: int, body_file: Path) -> tuple[Proc, dict[str, Any]]:
    proc = Proc(name, [sys.executable, str(BENCH / "serve_with_tasks.py"), "--tasks", str(tasks),
                       "--port", str(port), "--token", TOKEN, "--body", str(body_file),
                       "--gc-log", str(TMP / f"{name}.gc.json")],
                env=Proc.server_env, stdout=subprocess.PIPE)
    assert proc.popen.stdout is not None
    deadline = time.monotonic() + 600
    ready: dict[str, Any] | None = None
    # readline blocks; the child prints exactly one line when it is ready or dies (EOF).
    while ready is None and time.monotonic() < deadline:
        line = proc.popen.stdout.readline()
        if not line:
            raise SystemExit(f"{name} exited before it was ready:\n{proc.tail()}")
        try:
            ready = json.loads(line)
        except ValueError:
            continue
    if ready is None:
        raise SystemExit(f"{name} not ready in time")
    return proc, ready


def gc_pauses(proc: Proc) -> dict[str, Any]:
    """Full-collection pauses since the last call (serve_with_tasks.py writes them on SIGUSR1)."""
    path = TMP / f"{proc.name}.gc.json"
    path.unlink(missing_ok=True)
    os.kill(proc.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            time.sleep(0.05)
    return {}


def measure_store_size(args: argparse.Namespace, body_file: Path,
                       progress: Callable[[str], None]) -> dict[str, Any]:
    small_port, large_port = free_port(), free_port()
    small, small_ready = start_preloaded("mock-small-store", args.small_tasks, small_port, body_file)
    try:
        progress(f"loading {args.tasks:,} tasks in process (MockService.create_task) ...")
        large, large_ready = start_preloaded("mock-large-store", args.tasks, large_port, body_file)
    except BaseException:
        small.stop()
        raise
    try:
        rss_loaded = memory_kb(large.pid)
        rss_small_loaded = memory_kb(small.pid)
        progress(f"{args.tasks:,} tasks stored in {large_ready['load_seconds']} s: RSS "
                 f"{rss_loaded['VmRSS'] / 1024:.1f} MB (with {args.small_tasks} tasks: "
                 f"{rss_small_loaded['VmRSS'] / 1024:.1f} MB)")
        targets = {
            "small": f"http://127.0.0.1:{small_port}{GET_PATH.format(task_id=small_ready['task_id'])}",
            "large": f"http://127.0.0.1:{large_port}{GET_PATH.format(task_id=large_ready['task_id'])}",
        }
        for url in targets.values():
            response = httpx.get(url, headers=HEADERS, timeout=10)
            if response.status_code != 200:
                raise SystemExit(f"GET {url} answered {response.status_code}: {response.text[:300]}")
            run_wrk(url, seconds=args.warmup, threads=args.threads, connections=args.connections)
        gc_pauses(small), gc_pauses(large)   # start counting from here
        rounds: dict[str, list] = {"small": [], "large": []}
        pgids = {"small": small.pid, "large": large.pid}
        for number in range(1, args.rounds + 1):
            for name, url in targets.items():
                result = run_wrk(url, seconds=args.duration, threads=args.threads,
                                 connections=args.connections, server_pgid=pgids[name])
                rounds[name].append(result)
                label = f"{args.tasks:,} tasks" if name == "large" else f"{args.small_tasks} tasks"
                progress(f"round {number}/{args.rounds} GET  {label:>13} {describe(result)}")
        rss_after = memory_kb(large.pid)
        rss_small_after = memory_kb(small.pid)
        gc_small, gc_large = gc_pauses(small), gc_pauses(large)
    finally:
        small.stop()
        large.stop()
    for label, stats in ((f"{args.small_tasks} tasks", gc_small), (f"{args.tasks:,} tasks", gc_large)):
        if stats:
            progress(f"GC during the GET rounds, {label}: {stats['gen2_collections']} full collections, "
                     f"max pause {stats['gen2_max_ms']} ms, total {stats['gen2_total_ms']} ms "
                     f"({stats['tracked_objects']:,} tracked objects)")
    # The same count with the smallest realistic body, for scale (RSS only, no load).
    minimal_file = TMP / "kling-minimal-body.json"
    minimal_file.write_text(json.dumps(json.loads(MINIMAL_BODY_FIXTURE.read_text())))
    minimal, minimal_ready = start_preloaded("mock-large-minimal", args.tasks, free_port(), minimal_file)
    try:
        rss_minimal = memory_kb(minimal.pid)
        progress(f"{args.tasks:,} tasks with the minimal kling body: RSS {rss_minimal['VmRSS'] / 1024:.1f} MB")
    finally:
        minimal.stop()
    small_med, large_med = median_round(rounds["small"]), median_round(rounds["large"])
    rss_mb = rss_after["VmRSS"] / 1024
    speed = large_med["rps"] / small_med["rps"] if small_med["rps"] else None
    return {
        "tasks": args.tasks,
        "small_tasks": args.small_tasks,
        "how": "in process: MockService.create_task with a freshly parsed body per task, then "
               "served by uvicorn with the CLI's config (bench/serve_with_tasks.py)",
        "load_seconds": large_ready["load_seconds"],
        "rss_loaded_mb": round(rss_loaded["VmRSS"] / 1024, 1),
        "rss_after_load_test_mb": round(rss_mb, 1),
        "peak_rss_mb": round(rss_after["VmHWM"] / 1024, 1),
        "small_rss_loaded_mb": round(rss_small_loaded["VmRSS"] / 1024, 1),
        "minimal_body_rss_loaded_mb": round(rss_minimal["VmRSS"] / 1024, 1),
        "small_rss_after_load_test_mb": round(rss_small_after["VmRSS"] / 1024, 1),
        "rss_pass": rss_after["VmHWM"] / 1024 <= TARGET_RSS_MB,
        "get_small": small_med,
        "get_large": large_med,
        "rounds": rounds,
        "gc_during_get_rounds": {"small": gc_small, "large": gc_large},
        "get_speed_ratio": round(speed, 3) if speed else None,
        "get_pass": bool(speed and speed >= NO_SLOWER_TOLERANCE
                         and large_med["p99_ms"] <= max(small_med["p99_ms"] * 1.2,
                                                        small_med["p99_ms"] + 1.0)),
    }


class Receiver:
    """A minimal HTTP/1.1 callback receiver on its own thread: answers 200, notes arrival times."""

    def __init__(self) -> None:
        self.port = free_port()
        self.arrivals: list[float] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self._run, name="callback-receiver", daemon=True)

    def __enter__(self) -> "Receiver":
        self._thread.start()
        if not self._ready.wait(10):
            raise SystemExit("callback receiver did not start")
        return self

    def __exit__(self, *exc: Any) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port, backlog=2048))
        self._ready.set()
        self._loop.run_forever()
        self._server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            self.arrivals.append(time.time())
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
                         b"Connection: close\r\n\r\nok")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()


async def _create_many(base: str, bodies: list[bytes], concurrency: int) -> list[int]:
    slots = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        async def one(body: bytes) -> int:
            async with slots:
                response = await client.post(POST_PATH, content=body,
                                             headers={**HEADERS, "Content-Type": "application/json"})
                return response.status_code
        return await asyncio.gather(*(one(b) for b in bodies))


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * q // 100)))
    return ordered[int(rank) - 1]


def measure_callbacks(args: argparse.Namespace, body: dict[str, Any], count: int) -> dict[str, Any]:
    with Receiver() as receiver:
        port = free_port()
        mock = start_mock("mock-callbacks", port, "--allow-callback-host", f"127.0.0.1:{receiver.port}")
        base = f"http://127.0.0.1:{port}"
        try:
            probe = httpx.get(base + "/_mock/deliveries", timeout=10)
            if probe.status_code != 200:
                return {"measured": False,
                        "reason": f"not measured: callbacks not available (GET /_mock/deliveries "
                                  f"answered {probe.status_code})"}
            bodies = [json.dumps({**body, "callback_url":
                                  f"http://127.0.0.1:{receiver.port}/cb/{i}"}).encode()
                      for i in range(count)]
            statuses = asyncio.run(_create_many(base, bodies, args.connections))
            if any(status != 200 for status in statuses):
                counts = collections.Counter(statuses)
                raise SystemExit(f"creating callback tasks: statuses {dict(counts)}")
            # A client whose connection is already open, so that nothing but the request itself
            # (no client set-up, no TCP handshake) lies between `advanced_at` and the advance.
            admin = httpx.Client(base_url=base, timeout=30)
            tasks = admin.get("/_mock/tasks", params={"limit": 1}).json()
            # Every task has the same plan, so they all turn terminal at the same mock instant.
            finish = max(t["plan"]["finishes_at"] for t in tasks["tasks"])
            seconds = max(1.0, finish - admin.get("/_mock/clock").json()["now"] + 60)
            time.sleep(0.5)   # let the create burst settle
            advanced_at = time.time()
            response = admin.post("/_mock/clock/advance", json={"seconds": seconds})
            admin.close()
            if response.status_code != 200:
                raise SystemExit(f"clock advance answered {response.status_code}: {response.text}")
            deadline = time.monotonic() + 60
            while len(receiver.arrivals) < count and time.monotonic() < deadline:
                time.sleep(0.05)
            deliveries: list[dict[str, Any]] = []
            while time.monotonic() < deadline:
                deliveries = httpx.get(base + "/_mock/deliveries", timeout=30).json()["deliveries"]
                if len(deliveries) >= count and all(d["state"] != "pending" for d in deliveries):
                    break
                time.sleep(0.2)
        finally:
            mock.stop()
    attempts = [d["attempts"][0] for d in deliveries if d["attempts"]]
    lags = [(a["sent_real_at"] - advanced_at) * 1000 for a in attempts]
    arrivals = [(t - advanced_at) * 1000 for t in receiver.arrivals]
    delivered = sum(1 for d in deliveries if d["state"] == "delivered")
    if not lags:
        return {"measured": False, "reason": "no delivery attempt was recorded within 60 s"}
    lag_p99 = percentile(lags, 99)
    return {
        "measured": True,
        "tasks": count,
        "deliveries": len(deliveries),
        "delivered": delivered,
        "received": len(receiver.arrivals),
        "how": "manual clock; all tasks due at the same mock instant; one POST /_mock/clock/advance "
               "past it; lag = attempt.sent_real_at - wall time just before the advance request",
        "sent_lag_ms": {"p50": round(percentile(lags, 50), 1), "p99": round(lag_p99, 1),
                        "max": round(max(lags), 1)},
        "arrival_lag_ms": {"p50": round(percentile(arrivals, 50), 1),
                           "p99": round(percentile(arrivals, 99), 1),
                           "max": round(max(arrivals), 1)} if arrivals else None,
        "pass": lag_p99 <= TARGET_LAG_P99_MS and delivered == count,
    }


def measure_inprocess(args: argparse.Namespace, body_file: Path) -> dict[str, Any]:
    """µs per request of the app alone (bench/inprocess.py), in a process of its own."""
    result = subprocess.run([sys.executable, str(BENCH / "inprocess.py"), "--body-file", str(body_file),
                             "--requests", str(args.inprocess_requests)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    if result.returncode != 0:
        raise SystemExit(f"bench/inprocess.py failed:\n{result.stdout[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure_schemathesis(args: argparse.Namespace) -> dict[str, Any]:
    out_file = TMP / "schemathesis.json"
    out_file.unlink(missing_ok=True)
    env = {**os.environ, "BENCH_ST_EXAMPLES": str(args.st_examples), "BENCH_ST_OUT": str(out_file)}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pytest", str(BENCH / "schemathesis_cases.py"),
                             "-q", "-p", "no:cacheprovider"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
    wall = time.perf_counter() - started
    if not out_file.exists():
        raise SystemExit(f"schemathesis run wrote no stats:\n{result.stdout[-3000:]}")
    stats = json.loads(out_file.read_text())
    stats["pytest_wall_seconds"] = round(wall, 2)
    stats["pytest_exit_code"] = result.returncode
    return stats


# --- profiling -------------------------------------------------------------------------

def ensure_py_spy() -> Path:
    binary = VENV_BIN / "py-spy"
    if not binary.exists():
        log("installing py-spy into the venv for the profiling step (not a project dependency)")
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "py-spy"], check=True)
    return binary


# Which stage of the request pipeline a frame belongs to. A sample goes to the deepest stage
# on its stack; frames matching nothing (stdlib helpers, data structures) are transparent.
STAGES: list[tuple[str, str | None, str]] = [
    # (path prefix, function or None for any, stage)
    ("asyncio/", None, "asyncio loop + socket send/recv syscalls"),
    ("selectors.py", None, "asyncio loop + socket send/recv syscalls"),
    ("uvicorn/", None, "uvicorn HTTP protocol (h11 or httptools: parse, write)"),
    ("h11/", None, "uvicorn HTTP protocol (h11 or httptools: parse, write)"),
    ("mock_server/app.py", "__call__", "app wrappers (MockApp, NoSlashRedirects)"),
    ("mock_server/journal.py", None, "JournalMiddleware"),
    ("connexion/middleware/main.py", None, "ConnexionMiddleware plumbing"),
    ("connexion/middleware/abstract.py", None, "ConnexionMiddleware plumbing"),
    ("connexion/middleware/exceptions.py", None, "exception middleware"),
    ("starlette/middleware/exceptions.py", None, "exception middleware"),
    ("starlette/_exception_handler.py", None, "exception middleware"),
    ("connexion/middleware/swagger_ui.py", None, "swagger-ui middleware (its router)"),
    ("mock_server/middleware.py", "DocsOnlySwaggerUI.__call__", "swagger-ui middleware (its router)"),
    ("connexion/middleware/routing.py", None, "routing"),
    ("starlette/routing.py", None, "routing"),
    ("connexion/middleware/security.py", None, "security (bearer)"),
    ("connexion/security.py", None, "security (bearer)"),
    ("mock_server/auth.py", None, "security (bearer)"),
    ("connexion/middleware/request_validation.py", None, "request validation: per-request setup"),
    ("mock_server/middleware.py", None, "request validation: per-request setup"),
    ("connexion/validators/parameter.py", None, "request validation: parameters"),
    ("connexion/uri_parsing.py", None, "request validation: parameters"),
    ("mock_server/validation.py", "validate_request", "request validation: parameters"),
    ("mock_server/validation.py", "_check", "request validation: parameters"),
    ("connexion/validators/abstract.py", None, "request validation: body"),
    ("mock_server/validation.py", "wrap_receive", "request validation: body"),
    ("mock_server/validation.py", "stream", "request validation: body"),
    ("mock_server/validation.py", "_parse", "request validation: body"),
    ("mock_server/validation.py", "_validate", "request validation: body"),
    ("connexion/middleware/response_validation.py", None, "response validation"),
    ("connexion/middleware/context.py", None, "connexion context/lifespan"),
    ("connexion/middleware/lifespan.py", None, "connexion context/lifespan"),
    ("connexion/middleware/server_error.py", None, "exception middleware"),
    ("mock_server/app.py", None, "OperationDispatcher"),
    ("mock_server/api/", None, "handler + service + domain"),
    ("mock_server/service.py", None, "handler + service + domain"),
    ("mock_server/domain/", None, "handler + service + domain"),
    ("mock_server/store/", None, "handler + service + domain"),
    ("mock_server/callbacks/", None, "handler + service + domain"),
    ("starlette/responses.py", None, "response object"),
]
FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def parse_frame(frame: str) -> tuple[str, str]:
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip(), ""
    return match.group("func"), match.group("file")


def stage_of(func: str, path: str) -> str | None:
    name = func.rsplit(".", 1)[-1]   # "body_validator_class.<locals>.SpecBodyValidator._parse" -> "_parse"
    for prefix, function, stage in STAGES:
        if (path.startswith(prefix) or f"/{prefix}" in path) and function in (None, name, func):
            return stage
    return None


def summarise_profile(raw: Path, title: str, seconds: int, rate: int,
                      note: str = "") -> tuple[str, list[tuple[str, float]]]:
    """Flat profile text from py-spy's collapsed stacks (``--format raw``), and the stage shares."""
    stacks: list[tuple[list[tuple[str, str]], int]] = []
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [parse_frame(f) for f in stack.split(";")]
        frames = [f for f in frames if f[1]]   # drop "process ..."/"thread ..." pseudo-frames
        stacks.append((frames, int(count)))
    total = sum(count for _, count in stacks) or 1
    self_time: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    by_file: collections.Counter[str] = collections.Counter()
    by_stage: collections.Counter[str] = collections.Counter()
    for frames, count in stacks:
        names = [f"{func} ({path})" for func, path in frames]
        if names:
            self_time[names[-1]] += count
            by_file[frames[-1][1]] += count
        for name in set(names):
            inclusive[name] += count
        stage = "other (startup, idle bookkeeping)"
        for func, path in frames:
            found = stage_of(func, path)
            if found:
                stage = found
        by_stage[stage] += count

    def pct(n: int) -> str:
        return f"{100 * n / total:5.1f}%"

    lines = [f"# {title}",
             f"# py-spy record --nonblocking --function --rate {rate}, {seconds} s under wrk load; "
             f"{total} samples of active (non-idle) CPU in the server process. {note}".rstrip(), "",
             "## Where the time goes: each sample attributed to the deepest pipeline stage on its stack",
             ""]
    lines += [f"{pct(n)}  {stage}" for stage, n in by_stage.most_common()]
    lines += ["", "## Top 40 functions by self time", ""]
    lines += [f"{pct(n)}  {name}" for name, n in self_time.most_common(40)]
    lines += ["", "## Top 30 files by self time", ""]
    lines += [f"{pct(n)}  {name}" for name, n in by_file.most_common(30)]
    lines += ["", "## Top 60 functions by inclusive time (self + callees)", ""]
    lines += [f"{pct(n)}  {name}" for name, n in inclusive.most_common(60)]
    stages = [(stage, round(100 * n / total, 1)) for stage, n in by_stage.most_common()]
    return "\n".join(lines) + "\n", stages


def profile_mock(args: argparse.Namespace, body_file: Path, body: bytes,
                 progress: Callable[[str], None], profiles: Path) -> dict[str, Any]:
    py_spy = ensure_py_spy()
    port = free_port()
    mock = start_mock("mock-profile", port)
    base = f"http://127.0.0.1:{port}"
    profiles.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {}
    try:
        task_id = create_task(base, body)
        for endpoint, path, bfile in (("GET", GET_PATH.format(task_id=task_id), None),
                                      ("POST", POST_PATH, body_file)):
            raw = TMP / f"profile-{endpoint.lower()}.raw"
            raw.unlink(missing_ok=True)
            spy = subprocess.Popen([str(py_spy), "record", "--pid", str(mock.pid), "--nonblocking",
                                    "--function", "--rate", str(args.profile_rate), "--format", "raw",
                                    "--duration", str(args.profile_seconds), "--output", str(raw)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            time.sleep(1)
            result = run_wrk(base + path, seconds=args.profile_seconds - 1, threads=args.threads,
                             connections=args.connections, body_file=bfile)
            try:
                _, err = spy.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                spy.kill()
                _, err = spy.communicate()
            if not raw.exists():
                progress(f"profile {endpoint}: py-spy wrote nothing ({err.strip()[-300:]})")
                continue
            title = f"{endpoint} {path if endpoint == 'POST' else GET_PATH} on the mock, wrk -t{args.threads} -c{args.connections}"
            spy_summary = next((ln.split("py-spy> ", 1)[-1] for ln in err.splitlines()
                                if "Samples:" in ln), "")
            note = f"(py-spy: {spy_summary}; errors are samples lost to --nonblocking.)" if spy_summary else ""
            text, stages = summarise_profile(raw, title, args.profile_seconds, args.profile_rate, note)
            target = profiles / f"{endpoint.lower()}.txt"
            target.write_text(text)
            out[endpoint] = {"file": str(target.relative_to(ROOT)), "rps_while_profiling": result["rps"],
                             "stages_pct": dict(stages)}
            progress(f"profile {endpoint}: {target.relative_to(ROOT)} ({result['rps']:.0f} req/s under "
                     f"py-spy); top: {'; '.join(f'{name} {share}%' for name, share in stages[:3])}")
    finally:
        mock.stop()
    return out


# --- report ----------------------------------------------------------------------------

def mark(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def _all_rounds(results: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for entry in (results.get("vs_prism") or {}).get("endpoints", {}).values():
        for rounds in entry["rounds"].values():
            found += rounds
    for rounds in (results.get("store") or {}).get("rounds", {}).values():
        found += rounds
    return found


def _share_of_wall(app: dict[str, Any], vs: dict[str, Any] | None) -> str:
    """What part of the wall time per request under wrk (1 s / req/s, one core) the app is."""
    if not vs:
        return ""
    shares = [f"{app[key] / (1e6 / vs['endpoints'][endpoint]['mock']['rps']):.0%}"
              for endpoint, key in (("GET", "get_us"), ("POST", "post_us"))]
    return f" = {shares[0]} · {shares[1]} of the time per request under wrk (the rest: uvicorn, loop, sockets)"


def render_markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    cfg = meta["config"]
    lines = [
        "# evolink-mock benchmark",
        "",
        f"{meta['date']} · commit {meta['commit']} · {meta['cpus']} CPUs · Python {meta['python']} · "
        f"{meta['wrk']} · Prism {PRISM_VERSION} (`prism mock -m`, Node {meta['node']}) · "
        f"mock on uvicorn with {meta['mock_http_stack']}",
        "",
        *([f"**Warning: {meta['warning']}.**", ""] if meta.get("warning") else []),
        f"wrk -t{cfg['threads']} -c{cfg['connections']}, {cfg['rounds']} alternating rounds of "
        f"{cfg['duration']} s per target and endpoint; each cell is the round with the median req/s.",
        "",
        "| Measurement | evolink-mock | Prism | Mock / Prism | Target | Result |",
        "|---|---|---|---|---|---|",
    ]
    vs = results.get("vs_prism")
    if vs:
        for name, key, how in (("mock", "", "one process"),
                               (WORKERS, "workers_", f"--workers {vs.get('workers')}, shared SQLite state")):
            for endpoint, label in (("GET", "GET /v1/tasks/{id}"),
                                    ("POST", "POST /v1/videos/generations (kling, validated)")):
                entry = vs["endpoints"][endpoint]
                if name not in entry:
                    continue
                mock, prism = entry[name], entry.get("prism")
                ratio = f"{entry[key + 'ratio']:.2f}×" if entry.get(key + "ratio") else "n/a"
                lines.append(
                    f"| {label}, {how}: req/s · p50 / p99 | {mock['rps']:,.0f} · {mock['p50_ms']:.1f} / {mock['p99_ms']:.1f} ms | "
                    + (f"{prism['rps']:,.0f} · {prism['p50_ms']:.1f} / {prism['p99_ms']:.1f} ms" if prism else "not run")
                    + f" | {ratio} | ≥ {TARGET_RATIO:g}× Prism, p99 ≤ {TARGET_P99_MS:g} ms | {mark(entry[key + 'pass'])} |")
    app = results.get("inprocess")
    if app:
        lines.append(f"| The app alone, in process (no HTTP server, no sockets): µs per request, GET · POST | "
                     f"{app['get_us']:.1f} · {app['post_us']:.1f} µs{_share_of_wall(app, vs)} | | | — | info |")
    store = results.get("store")
    if store:
        lines.append(
            f"| RSS with {store['tasks']:,} tasks (peak, after the GET load) | {store['peak_rss_mb']:.1f} MB "
            f"(loaded: {store['rss_loaded_mb']:.1f} MB; {store['small_tasks']} tasks: "
            f"{store['small_rss_after_load_test_mb']:.1f} MB; {store['tasks']:,} tasks with the minimal kling body: "
            f"{store['minimal_body_rss_loaded_mb']:.1f} MB) | | | ≤ {TARGET_RSS_MB:g} MB | {mark(store['rss_pass'])} |")
        small, large = store["get_small"], store["get_large"]
        lines.append(
            f"| GET with {store['tasks']:,} vs {store['small_tasks']} tasks: req/s · p50 / p99 | "
            f"{large['rps']:,.0f} · {large['p50_ms']:.1f} / {large['p99_ms']:.1f} ms vs "
            f"{small['rps']:,.0f} · {small['p50_ms']:.1f} / {small['p99_ms']:.1f} ms | | "
            f"{store['get_speed_ratio']:.2f}× (many / few) | no slower (≥ {NO_SLOWER_TOLERANCE:g}×) | {mark(store['get_pass'])} |")
    for key in ("callbacks", "callbacks_small_burst"):
        cb = results.get(key)
        if not cb:
            continue
        if cb.get("measured"):
            sent, arrived = cb["sent_lag_ms"], cb.get("arrival_lag_ms") or {}
            target = (f"p99 ≤ {TARGET_LAG_P99_MS:g} ms", mark(cb["pass"])) if key == "callbacks" else ("(scaling)", "info")
            lines.append(
                f"| Callback lag due→sent, {cb['tasks']:,} tasks due at once: p50 / p99 (max) | "
                f"{sent['p50']:.1f} / {sent['p99']:.1f} ms ({sent['max']:.1f}); received p99 "
                f"{arrived.get('p99', float('nan')):.1f} ms; {cb['delivered']}/{cb['tasks']} delivered | | | "
                f"{target[0]} | {target[1]} |")
        else:
            lines.append(f"| Callback lag | {cb['reason']} | | | p99 ≤ {TARGET_LAG_P99_MS:g} ms | not measured |")
    st = results.get("schemathesis")
    if st:
        lines.append(
            f"| Schemathesis in process (every check, response validation on) | "
            f"{st['cases_per_second']:,.0f} cases/s ({st['cases']} cases in "
            f"{st['seconds_first_to_last_case']:.1f} s, {st['failures']} failures) | | | — | info |")
    others = [r["other_cpu_cores"] for r in _all_rounds(results) if r.get("other_cpu_cores") is not None]
    if others:
        lines += ["", f"CPU used by other programs during the measured runs (noise on {meta['cpus']} cores): "
                      f"median {statistics.median(others):.2f}, max {max(others):.2f} cores."]
    prof = results.get("profiles")
    if prof:
        lines += ["", "Profiles (py-spy, flat): " + ", ".join(f"`{p['file']}`" for p in prof.values()) + "."]
    lines += ["", "All rounds and raw numbers: `bench/results.json`. How to read this: `bench/README.md`."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up seconds per target (default 3)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--tasks", type=int, default=100_000, help="tasks for the store-size run")
    parser.add_argument("--small-tasks", type=int, default=5)
    parser.add_argument("--callbacks", type=int, default=1000, help="tasks completing at once")
    parser.add_argument("--st-examples", type=int, default=200, help="Schemathesis max_examples")
    parser.add_argument("--profile-seconds", type=int, default=11)
    parser.add_argument("--profile-rate", type=int, default=250)
    parser.add_argument("--no-prism", action="store_true", help="skip the Prism comparison")
    parser.add_argument("--stack", choices=("auto", "h11"), default="auto",
                        help="auto: whatever uvicorn picks in this venv (httptools/uvloop if installed); "
                             "h11: hide httptools and uvloop from the mock (the pure-Python fallback stack)")
    parser.add_argument("--workers", type=int, default=2,
                        help="also measure `serve --workers N` (shared SQLite state); 1 skips it")
    parser.add_argument("--inprocess-requests", type=int, default=20_000,
                        help="requests per endpoint for the in-process (no HTTP server) timing")
    parser.add_argument("--only", default="prism,inprocess,store,callbacks,schemathesis,profile",
                        help="comma-separated subset of: prism,inprocess,store,callbacks,schemathesis,profile")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run (short, small); writes to bench/.tmp/ instead of bench/")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.rounds, args.warmup = 2, 1, 1
        args.tasks, args.callbacks, args.st_examples, args.profile_seconds = 5000, 100, 10, 4
        args.inprocess_requests = 2000
    only = set(args.only.split(","))
    if args.stack == "h11":
        Proc.server_env = {"PYTHONPATH": os.pathsep.join(
            filter(None, [str(BENCH / "stack_h11"), os.environ.get("PYTHONPATH", "")]))}
    stack_at_start = http_stack(Proc.server_env)
    out_dir = TMP if args.quick else BENCH
    TMP.mkdir(parents=True, exist_ok=True)

    started = time.monotonic()

    def progress(message: str) -> None:
        log(f"[{time.monotonic() - started:6.1f}s] {message}")

    ensure_wrk()
    if "prism" in only and not args.no_prism:
        ensure_prism()
    body_dict = json.loads(BODY_FIXTURE.read_text())
    body_dict.pop("callback_url", None)   # no task of this run may point anywhere but loopback
    body = json.dumps(body_dict).encode()
    body_file = TMP / "kling-body.json"
    body_file.write_bytes(body)

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.strip() or "?"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           text=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.strip()
    results: dict[str, Any] = {"meta": {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit + ("+dirty" if dirty else ""),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "wrk": tool_version(["wrk", "-v"]).split(" [")[0],
        "node": tool_version(["node", "--version"]),
        "prism": PRISM_VERSION,
        "config": {"duration": args.duration, "rounds": args.rounds, "warmup": args.warmup,
                   "threads": args.threads, "connections": args.connections, "stack": args.stack},
        "mock_http_stack": stack_at_start,
        "post_body": body_dict,
    }}
    log(f"bench: wrk -t{args.threads} -c{args.connections} -d{args.duration}s x {args.rounds} rounds; "
        f"mock's uvicorn stack: {stack_at_start}; results to {out_dir.relative_to(ROOT)}/")
    try:
        if "prism" in only:
            results["vs_prism"] = measure_vs_prism(args, body_file, body, progress)
        if "inprocess" in only:
            results["inprocess"] = app = measure_inprocess(args, body_file)
            progress(f"the app alone, in process: GET {app['get_us']} µs, POST {app['post_us']} µs per request")
        if "store" in only:
            results["store"] = measure_store_size(args, body_file, progress)
        if "callbacks" in only:
            # The target burst first, then a smaller one to show how the lag scales with it.
            for key, count in (("callbacks", args.callbacks), ("callbacks_small_burst", args.callbacks // 10)):
                results[key] = cb = measure_callbacks(args, body_dict, count)
                progress(f"callbacks, {count} due at once: " + (
                    f"{cb['delivered']}/{cb['tasks']} delivered, due→sent p50 {cb['sent_lag_ms']['p50']} ms "
                    f"p99 {cb['sent_lag_ms']['p99']} ms, received p99 {cb['arrival_lag_ms']['p99']} ms"
                    if cb.get("measured") else cb["reason"]))
                if not cb.get("measured"):
                    break
        if "schemathesis" in only:
            results["schemathesis"] = measure_schemathesis(args)
            st = results["schemathesis"]
            progress(f"schemathesis: {st['cases']} cases in {st['seconds_first_to_last_case']} s = "
                     f"{st['cases_per_second']} cases/s ({st['failures']} failures)")
        if "profile" in only:
            results["profiles"] = profile_mock(args, body_file, body, progress,
                                               TMP / "profiles" if args.quick else PROFILES)
    finally:
        stop_all()
    results["meta"]["total_seconds"] = round(time.monotonic() - started, 1)
    stack_at_end = http_stack(Proc.server_env)
    if stack_at_end != stack_at_start:
        results["meta"]["warning"] = (f"the venv changed during the run: the mock's uvicorn stack was "
                                      f"{stack_at_start} at the start and {stack_at_end} at the end; "
                                      f"servers started after the change ran on the other stack")
        log("WARNING: " + results["meta"]["warning"])
    (out_dir / ("quick-results.json" if args.quick else "results.json")).write_text(
        json.dumps(results, indent=2) + "\n")
    markdown = render_markdown(results)
    (out_dir / ("quick-results.md" if args.quick else "results.md")).write_text(markdown)
    log("")
    log(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
