"""µs per request of the app alone, in process: no HTTP server, no sockets (bench/inprocess.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from ..runner import BENCH, ROOT, Context

NAME = "inprocess"


def run(ctx: Context) -> dict[str, Any]:
    """In a process of its own, so that nothing else of the bench shares its interpreter."""
    result = subprocess.run([sys.executable, str(BENCH / "inprocess.py"), "--body-file", str(ctx.body_file),
                             "--requests", str(ctx.args.inprocess_requests)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600,
                            check=False)
    if result.returncode != 0:
        raise SystemExit(f"bench/inprocess.py failed:\n{result.stdout[-3000:]}")
    app = json.loads(result.stdout.strip().splitlines()[-1])
    ctx.progress(f"the app alone, in process: GET {app['get_us']} µs, POST {app['post_us']} µs per request")
    return {"inprocess": app}


def _share_of_wall(app: dict[str, Any], vs: dict[str, Any] | None) -> str:
    """What part of the wall time per request under wrk (1 s / req/s, one core) the app is."""
    if not vs:
        return ""
    shares = [f"{app[key] / (1e6 / vs['endpoints'][endpoint]['mock']['rps']):.0%}"
              for endpoint, key in (("GET", "get_us"), ("POST", "post_us"))]
    return (f" = {shares[0]} · {shares[1]} of the time per request under wrk "
            "(the rest: uvicorn, loop, sockets)")


def rows(results: dict[str, Any]) -> list[str]:
    app = results.get("inprocess")
    if not app:
        return []
    return [f"| The app alone, in process (no HTTP server, no sockets): µs per request, GET · POST | "
            f"{app['get_us']:.1f} · {app['post_us']:.1f} µs{_share_of_wall(app, results.get('vs_prism'))} | "
            f"| | — | info |"]
