"""bench/results.md: one table, a row or more per measurement, then the notes under it."""

from __future__ import annotations

import statistics
from typing import Any

from .measurements import MEASUREMENTS
from .runner import PRISM_VERSION


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
    for measurement in MEASUREMENTS:
        lines += measurement.rows(results)
    others = [r["other_cpu_cores"] for m in MEASUREMENTS if hasattr(m, "rounds")
              for r in m.rounds(results) if r.get("other_cpu_cores") is not None]
    if others:
        lines += ["", f"CPU used by other programs during the measured runs (noise on {meta['cpus']} cores): "
                      f"median {statistics.median(others):.2f}, max {max(others):.2f} cores."]
    prof = results.get("profiles")
    if prof:
        lines += ["", "Profiles (py-spy, flat): " + ", ".join(f"`{p['file']}`" for p in prof.values()) + "."]
    lines += ["", "All rounds and raw numbers: `bench/results.json`. How to read this: `bench/README.md`."]
    return "\n".join(lines) + "\n"
