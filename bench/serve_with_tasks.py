"""Serve the mock with N tasks already stored, for the store-size measurements of bench/run.py.

The tasks are created in this process through ``MockService.create_task`` -- the method the
POST handler calls -- with every body parsed afresh by ``validation.parse_json`` (as the API
parses each request), so each task owns its own request dict and strings just as it would
had it come over HTTP. Skipped compared with HTTP: routing, auth, validation and the request
journal (a bounded ring of 10,000 entries; the GET load that follows fills it anyway).

Then it serves exactly like ``evolink-mock serve --clock manual --log-format off`` does
(``mock_server.server.uvicorn_config``), and prints one JSON line to stdout when ready:
``{"ready": true, "task_id": ..., "tasks": N, "load_seconds": ...}``.
"""

from __future__ import annotations

import argparse
import gc
import json
import signal
import time
from pathlib import Path

import uvicorn

from mock_server.app import create_app
from mock_server.domain.scenarios import Action
from mock_server.server import freeze_after_full_collections, uvicorn_config
from mock_server.settings import Settings
from mock_server.store import resolved
from mock_server.validation import parse_json


class GcPauses:
    """Full (generation 2) collections and their pauses, written to a file on SIGUSR1 and reset.

    Python's cycle collector stops the event loop while it runs; py-spy cannot see it, and
    the pause grows with the number of live objects, i.e. with the tasks stored."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pauses: list[float] = []
        self._started = 0.0
        gc.callbacks.append(self._on_gc)
        signal.signal(signal.SIGUSR1, self._dump)

    def _on_gc(self, phase: str, info: dict) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._started)

    def _dump(self, *_: object) -> None:
        pauses, self.pauses = self.pauses, []
        self.path.write_text(json.dumps({
            "gen2_collections": len(pauses),
            "gen2_max_ms": round(max(pauses, default=0.0) * 1000, 1),
            "gen2_total_ms": round(sum(pauses) * 1000, 1),
            "tracked_objects": len(gc.get_objects()),
        }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", default="bench-key")
    parser.add_argument("--body", type=Path, required=True, help="JSON request body file")
    parser.add_argument("--gc-log", type=Path, help="write full-collection pauses here on SIGUSR1")
    args = parser.parse_args()
    if args.gc_log:
        GcPauses(args.gc_log)

    settings = Settings(clock="manual", log_format="off", host="127.0.0.1", port=args.port)
    app = create_app(settings)
    raw = args.body.read_bytes()
    started = time.perf_counter()
    ids = []
    for _ in range(args.tasks):
        # A new string per task, as str(request.base_url) gives the handler for every request.
        media_base = f"http://127.0.0.1:{args.port}"
        document = resolved(app.service.create_task(api_key=args.token, body=parse_json(raw),
                                                    media_base=media_base, action=Action()))
        ids.append(document["id"])
    load_seconds = time.perf_counter() - started
    # A task from the middle of the store: any id is a dict lookup, but say which one we used.
    task_id = ids[len(ids) // 2]
    del ids

    freeze_after_full_collections()  # as `evolink-mock serve` does
    server = uvicorn.Server(uvicorn_config(app, settings.host, settings.port))
    original_startup = server.startup

    async def startup(sockets=None):  # announce readiness once the socket listens
        await original_startup(sockets=sockets)
        print(json.dumps({"ready": True, "task_id": task_id, "tasks": args.tasks,
                          "load_seconds": round(load_seconds, 2)}), flush=True)

    server.startup = startup  # type: ignore[method-assign]
    server.run()


if __name__ == "__main__":
    main()
