"""Where the mock's time goes under wrk load: py-spy profiles, flat, grouped by pipeline stage."""

from __future__ import annotations

import collections
import re
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.processes import free_port

from ..runner import (
    GET_PATH,
    POST_PATH,
    PROFILES,
    ROOT,
    TMP,
    Context,
    create_task,
    ensure_py_spy,
    run_wrk,
    start_mock,
)

NAME = "profile"


def run(ctx: Context) -> dict[str, Any]:
    return {"profiles": profile_mock(ctx, TMP / "profiles" if ctx.quick else PROFILES)}


# Each pipeline stage and where its code lives: a path prefix, or "prefix:function" for one
# function of a file whose other functions belong to another stage.
STAGES: dict[str, tuple[str, ...]] = {
    "asyncio loop + socket send/recv syscalls": ("asyncio/", "selectors.py"),
    "uvicorn HTTP protocol (h11 or httptools: parse, write)": ("uvicorn/", "h11/"),
    "app wrappers (MockApp, NoSlashRedirects)": ("mock_server/app.py:__call__",
                                                 "mock_server/routing.py:NoSlashRedirects.__call__",
                                                 "mock_server/routing.py:ConcretePathsFirst.__call__"),
    "JournalMiddleware": ("mock_server/recording.py",),
    "ConnexionMiddleware plumbing": ("connexion/middleware/main.py",
                                     "connexion/middleware/abstract.py"),
    "exception middleware": ("connexion/middleware/exceptions.py",
                             "starlette/middleware/exceptions.py", "starlette/_exception_handler.py",
                             "connexion/middleware/server_error.py"),
    "swagger-ui middleware (its router)": ("connexion/middleware/swagger_ui.py",
                                           "mock_server/middleware.py:DocsOnlySwaggerUI.__call__"),
    "routing": ("connexion/middleware/routing.py", "starlette/routing.py"),
    "security (bearer)": ("connexion/middleware/security.py", "connexion/security.py",
                          "mock_server/auth.py"),
    "request validation: per-request setup": ("connexion/middleware/request_validation.py",
                                              "mock_server/middleware.py"),
    "request validation: parameters": ("connexion/validators/parameter.py",
                                       "connexion/uri_parsing.py",
                                       "mock_server/validation/adapters.py:validate_request",
                                       "mock_server/validation/adapters.py:_check"),
    "request validation: body": ("connexion/validators/abstract.py",
                                 *(f"mock_server/validation/adapters.py:{name}"
                                   for name in ("wrap_receive", "stream", "_parse", "_validate"))),
    "response validation": ("connexion/middleware/response_validation.py",),
    "connexion context/lifespan": ("connexion/middleware/context.py",
                                   "connexion/middleware/lifespan.py"),
    "OperationDispatcher": ("mock_server/app.py", "mock_server/routing.py"),
    "handler + service + domain": ("mock_server/api/", "mock_server/service/",
                                   "mock_server/domain/", "mock_server/store/",
                                   "mock_server/callbacks/"),
    "response object": ("starlette/responses.py",),
}
# (path prefix, function or None for any, stage), one function's rows first: they are the
# exceptions to their file's stage.
_PLACES = sorted(((prefix, function or None, stage) for stage, places in STAGES.items()
                  for prefix, _, function in (place.partition(":") for place in places)),
                 key=lambda place: place[1] is None)
FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def parse_frame(frame: str) -> tuple[str, str]:
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip(), ""
    return match.group("func"), match.group("file")


def stage_of(func: str, path: str) -> str | None:
    name = func.rsplit(".", 1)[-1]   # "body_validator_class.<locals>.SpecBodyValidator._parse" -> "_parse"
    for prefix, function, stage in _PLACES:
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
    for frames, samples in stacks:
        names = [f"{func} ({path})" for func, path in frames]
        if names:
            self_time[names[-1]] += samples
            by_file[frames[-1][1]] += samples
        for name in set(names):
            inclusive[name] += samples
        stage = "other (startup, idle bookkeeping)"
        for func, path in frames:
            found = stage_of(func, path)
            if found:
                stage = found
        by_stage[stage] += samples

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


def profile_mock(ctx: Context, profiles: Path) -> dict[str, Any]:
    args, body_file, body, progress = ctx.args, ctx.body_file, ctx.body, ctx.progress
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
            title = (f"{endpoint} {path if endpoint == 'POST' else GET_PATH} on the mock, "
                     f"wrk -t{args.threads} -c{args.connections}")
            spy_summary = next((ln.split("py-spy> ", 1)[-1] for ln in err.splitlines()
                                if "Samples:" in ln), "")
            note = (f"(py-spy: {spy_summary}; errors are samples lost to --nonblocking.)"
                    if spy_summary else "")
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


def rows(results: dict[str, Any]) -> list[str]:
    return []   # listed under the table (report.py)
